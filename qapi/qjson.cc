#include "qapi/qjson.h"

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <locale.h>
#include <optional>
#include <utility>
#include <vector>

namespace qapi {

namespace {

constexpr int32_t INVALID_CODEPOINT = -1;

bool is_surrogate(int32_t cp)
{
    return cp >= 0xD800 && cp <= 0xDFFF;
}

// Decode one UTF-8 sequence at s[pos], advancing pos.  Overlong forms,
// encoded surrogates and code points above U+10FFFF are invalid (RFC 3629
// §3); an invalid sequence consumes one byte so that callers always make
// progress.
int32_t decode_utf8(std::string_view s, size_t &pos)
{
    const auto lead = static_cast<unsigned char>(s[pos]);
    if (lead < 0x80) {
        pos++;
        return lead;
    }
    size_t len;
    int32_t cp;
    int32_t min;
    if ((lead & 0xE0) == 0xC0) {
        len = 2;
        cp = lead & 0x1F;
        min = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
        len = 3;
        cp = lead & 0x0F;
        min = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
        len = 4;
        cp = lead & 0x07;
        min = 0x10000;
    } else {
        pos++;
        return INVALID_CODEPOINT;
    }
    if (s.size() - pos < len) {
        pos++;
        return INVALID_CODEPOINT;
    }
    for (size_t i = 1; i < len; i++) {
        const auto cont = static_cast<unsigned char>(s[pos + i]);
        if ((cont & 0xC0) != 0x80) {
            pos++;
            return INVALID_CODEPOINT;
        }
        cp = (cp << 6) | (cont & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || is_surrogate(cp)) {
        pos++;
        return INVALID_CODEPOINT;
    }
    pos += len;
    return cp;
}

void append_utf8(std::string &out, int32_t cp)
{
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// ---------------------------------------------------------------------------
// Output

void append_json_string(std::string &out, std::string_view s)
{
    out += '"';
    size_t pos = 0;
    while (pos < s.size()) {
        int32_t cp = decode_utf8(s, pos);
        switch (cp) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\b':
            out += "\\b";
            break;
        case '\f':
            out += "\\f";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            // ASCII-only output, as QEMU writes it: a peer that mangles
            // 8-bit text still gets the right characters.
            if (cp == INVALID_CODEPOINT) {
                cp = 0xFFFD;
            }
            if (cp > 0xFFFF) {
                const int32_t v = cp - 0x10000;
                fmt::format_to(std::back_inserter(out), "\\u{:04X}\\u{:04X}",
                               0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
            } else if (cp < 0x20 || cp >= 0x7F) {
                fmt::format_to(std::back_inserter(out), "\\u{:04X}", cp);
            } else {
                out += static_cast<char>(cp);
            }
        }
    }
    out += '"';
}

void append_double(std::string &out, double d)
{
    if (!std::isfinite(d)) {
        out += "null";
        return;
    }
    std::array<char, 32> buf;
    const auto res = std::to_chars(buf.data(), buf.data() + buf.size(), d);
    const std::string_view text(buf.data(),
                                static_cast<size_t>(res.ptr - buf.data()));
    out += text;
    // "1" would read back as an Int; keep the Double a Double.
    if (text.find_first_of(".e") == std::string_view::npos) {
        out += ".0";
    }
}

void append_newline(std::string &out, bool pretty, int indent)
{
    if (pretty) {
        out += '\n';
        out.append(static_cast<size_t>(indent) * 4, ' ');
    }
}

void append_json(std::string &out, const QObject &value, bool pretty,
                 int indent)
{
    switch (value.kind()) {
    case QObject::Kind::Null:
        out += "null";
        return;
    case QObject::Kind::Bool:
        out += *value.as_bool() ? "true" : "false";
        return;
    case QObject::Kind::Int:
        fmt::format_to(std::back_inserter(out), "{}", *value.as_int());
        return;
    case QObject::Kind::UInt:
        fmt::format_to(std::back_inserter(out), "{}", *value.as_uint());
        return;
    case QObject::Kind::Double:
        append_double(out, *value.as_double());
        return;
    case QObject::Kind::String:
        append_json_string(out, *value.as_string());
        return;
    case QObject::Kind::List: {
        const auto &list = *value.as_list();
        out += '[';
        if (list.empty()) {
            // QEMU's JSON writer breaks the line of an empty one too.
            append_newline(out, pretty, indent);
            out += ']';
            return;
        }
        for (size_t i = 0; i < list.size(); i++) {
            if (i) {
                out += pretty ? "," : ", ";
            }
            append_newline(out, pretty, indent + 1);
            append_json(out, list[i], pretty, indent + 1);
        }
        append_newline(out, pretty, indent);
        out += ']';
        return;
    }
    case QObject::Kind::Dict: {
        const auto &dict = *value.as_dict();
        out += '{';
        if (dict.empty()) {
            append_newline(out, pretty, indent);
            out += '}';
            return;
        }
        for (size_t i = 0; i < dict.size(); i++) {
            if (i) {
                out += pretty ? "," : ", ";
            }
            append_newline(out, pretty, indent + 1);
            append_json_string(out, dict[i].first);
            out += ": ";
            append_json(out, dict[i].second, pretty, indent + 1);
        }
        append_newline(out, pretty, indent);
        out += '}';
        return;
    }
    }
}

// ---------------------------------------------------------------------------
// Input

enum class TokenType {
    LCurly,
    RCurly,
    LSquare,
    RSquare,
    Colon,
    Comma,
    String,
    Integer,
    Float,
    Keyword,
    End,
};

struct Token {
    TokenType type;
    std::string_view text;
};

bool has_duplicate_keys(const QObject::Dict &dict)
{
    // Small objects (every QMP command) are checked pairwise; big ones by
    // sorting, so that a hostile peer cannot make the check quadratic.
    constexpr size_t PAIRWISE_MAX = 16;
    if (dict.size() <= PAIRWISE_MAX) {
        for (size_t i = 0; i < dict.size(); i++) {
            for (size_t j = i + 1; j < dict.size(); j++) {
                if (dict[i].first == dict[j].first) {
                    return true;
                }
            }
        }
        return false;
    }
    std::vector<std::string_view> keys;
    keys.reserve(dict.size());
    for (const auto &member : dict) {
        keys.push_back(member.first);
    }
    std::sort(keys.begin(), keys.end());
    return std::adjacent_find(keys.begin(), keys.end()) != keys.end();
}

Error parse_error(std::string_view what)
{
    return Error(fmt::format("JSON parse error, {}", what));
}

bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool is_hex_digit(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hex_value(char c)
{
    if (is_digit(c)) {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return c - 'A' + 10;
}

// The part of the input a lexical error is about, made printable and short
// enough for an error message.
std::string printable_excerpt(std::string_view text)
{
    constexpr size_t MAX_EXCERPT = 32;
    std::string out;
    if (text.size() > MAX_EXCERPT) {
        out = "...";
        text = text.substr(text.size() - MAX_EXCERPT);
    }
    for (char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte >= 0x7F) {
            out += fmt::format("\\x{:02x}", byte);
        } else {
            out += c;
        }
    }
    return out;
}

class JsonParser {
public:
    JsonParser(std::string_view text, const JsonLimits &limits)
        : m_text(text)
        , m_limits(limits)
    {
    }

    Result<QObject> parse_document()
    {
        if (m_text.size() > m_limits.max_size) {
            return Error("JSON token size limit exceeded");
        }
        Token first = TRY(peek());
        if (first.type == TokenType::End) {
            return parse_error("expecting value");
        }
        QObject value = TRY(parse_value(0));
        auto trailing = next();
        if (!trailing.has_value() || trailing.value().type != TokenType::End) {
            return Error("Expecting at most one JSON value");
        }
        return value;
    }

private:
    Result<Token> peek()
    {
        if (!m_peeked) {
            m_peeked = TRY(lex());
        }
        return *m_peeked;
    }

    Result<Token> next()
    {
        Token token = TRY(peek());
        m_peeked.reset();
        return token;
    }

    Error stray(size_t begin, size_t end)
    {
        return parse_error(
            fmt::format("stray '{}'",
                        printable_excerpt(m_text.substr(begin, end - begin))));
    }

    Result<Token> lex()
    {
        while (m_pos < m_text.size()) {
            const char c = m_text[m_pos];
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
                break;
            }
            m_pos++;
        }
        if (m_pos == m_text.size()) {
            return Token { TokenType::End, {} };
        }
        if (++m_tokens > m_limits.max_tokens) {
            return Error("JSON token count limit exceeded");
        }
        const size_t begin = m_pos;
        const char c = m_text[m_pos];
        switch (c) {
        case '{':
            return punctuation(TokenType::LCurly);
        case '}':
            return punctuation(TokenType::RCurly);
        case '[':
            return punctuation(TokenType::LSquare);
        case ']':
            return punctuation(TokenType::RSquare);
        case ':':
            return punctuation(TokenType::Colon);
        case ',':
            return punctuation(TokenType::Comma);
        case '"':
        case '\'':
            return lex_string(c);
        default:
            break;
        }
        if (c == '-' || is_digit(c)) {
            return lex_number();
        }
        if (c >= 'a' && c <= 'z') {
            while (m_pos < m_text.size() && m_text[m_pos] >= 'a' &&
                   m_text[m_pos] <= 'z') {
                m_pos++;
            }
            return Token { TokenType::Keyword,
                           m_text.substr(begin, m_pos - begin) };
        }
        return stray(begin, begin + 1);
    }

    Token punctuation(TokenType type)
    {
        return Token { type, m_text.substr(m_pos++, 1) };
    }

    // Finds the end of a string token; escapes are only skipped here and
    // interpreted by decode_string().
    Result<Token> lex_string(char quote)
    {
        const size_t begin = m_pos++;
        while (m_pos < m_text.size()) {
            const char c = m_text[m_pos];
            if (c == quote) {
                m_pos++;
                return Token { TokenType::String,
                               m_text.substr(begin, m_pos - begin) };
            }
            // RFC 8259 §7: control characters must be escaped.
            if (static_cast<unsigned char>(c) < 0x20) {
                return stray(m_pos, m_pos + 1);
            }
            m_pos += (c == '\\' && m_pos + 1 < m_text.size()) ? 2 : 1;
        }
        return parse_error("premature EOI");
    }

    // RFC 8259 §6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
    Result<Token> lex_number()
    {
        const size_t begin = m_pos;
        auto digits = [&] {
            const size_t start = m_pos;
            while (m_pos < m_text.size() && is_digit(m_text[m_pos])) {
                m_pos++;
            }
            return m_pos - start;
        };
        auto bad = [&] {
            return stray(begin, std::min(m_pos + 1, m_text.size()));
        };
        if (m_text[m_pos] == '-') {
            m_pos++;
        }
        if (m_pos < m_text.size() && m_text[m_pos] == '0') {
            m_pos++;
        } else if (digits() == 0) {
            return bad();
        }
        bool is_float = false;
        if (m_pos < m_text.size() && m_text[m_pos] == '.') {
            is_float = true;
            m_pos++;
            if (digits() == 0) {
                return bad();
            }
        }
        if (m_pos < m_text.size() &&
            (m_text[m_pos] == 'e' || m_text[m_pos] == 'E')) {
            is_float = true;
            m_pos++;
            if (m_pos < m_text.size() &&
                (m_text[m_pos] == '+' || m_text[m_pos] == '-')) {
                m_pos++;
            }
            if (digits() == 0) {
                return bad();
            }
        }
        return Token { is_float ? TokenType::Float : TokenType::Integer,
                       m_text.substr(begin, m_pos - begin) };
    }

    Result<QObject> parse_value(size_t depth)
    {
        Token token = TRY(next());
        switch (token.type) {
        case TokenType::LCurly:
            return parse_object(depth + 1);
        case TokenType::LSquare:
            return parse_array(depth + 1);
        case TokenType::String:
            return QObject(TRY(decode_string(token.text)));
        case TokenType::Integer:
            return decode_integer(token.text);
        case TokenType::Float:
            return decode_float(token.text);
        case TokenType::Keyword:
            if (token.text == "true") {
                return QObject(true);
            }
            if (token.text == "false") {
                return QObject(false);
            }
            if (token.text == "null") {
                return QObject();
            }
            return parse_error(fmt::format("invalid keyword '{}'", token.text));
        case TokenType::End:
            return parse_error("premature EOI");
        default:
            return parse_error("expecting value");
        }
    }

    Result<QObject> parse_object(size_t depth)
    {
        if (depth > m_limits.max_depth) {
            return Error("JSON nesting depth limit exceeded");
        }
        QObject::Dict dict;
        Token token = TRY(peek());
        if (token.type == TokenType::RCurly) {
            m_peeked.reset();
            return QObject(std::move(dict));
        }
        for (;;) {
            Token key = TRY(next());
            if (key.type == TokenType::End) {
                return parse_error("premature EOI");
            }
            if (key.type != TokenType::String) {
                return parse_error("key is not a string in object");
            }
            std::string name = TRY(decode_string(key.text));
            Token colon = TRY(next());
            if (colon.type == TokenType::End) {
                return parse_error("premature EOI");
            }
            if (colon.type != TokenType::Colon) {
                return parse_error("missing : in object pair");
            }
            QObject value = TRY(parse_value(depth));
            dict.emplace_back(std::move(name), std::move(value));
            Token separator = TRY(next());
            if (separator.type == TokenType::RCurly) {
                // RFC 8259 §4 leaves duplicates to the implementation; QEMU
                // rejects them, and a QMP command must not see two values
                // for one argument.
                if (has_duplicate_keys(dict)) {
                    return parse_error("duplicate key");
                }
                return QObject(std::move(dict));
            }
            if (separator.type == TokenType::End) {
                return parse_error("premature EOI");
            }
            if (separator.type != TokenType::Comma) {
                return parse_error("expected separator in dict");
            }
        }
    }

    Result<QObject> parse_array(size_t depth)
    {
        if (depth > m_limits.max_depth) {
            return Error("JSON nesting depth limit exceeded");
        }
        QObject::List list;
        Token token = TRY(peek());
        if (token.type == TokenType::RSquare) {
            m_peeked.reset();
            return QObject(std::move(list));
        }
        for (;;) {
            list.push_back(TRY(parse_value(depth)));
            Token separator = TRY(next());
            if (separator.type == TokenType::RSquare) {
                return QObject(std::move(list));
            }
            if (separator.type == TokenType::End) {
                return parse_error("premature EOI");
            }
            if (separator.type != TokenType::Comma) {
                return parse_error("expected separator in list");
            }
        }
    }

    // Reads the four hex digits of a \u escape at text[pos]; -1 if they are
    // not there.
    static int32_t read_hex4(std::string_view text, size_t pos)
    {
        if (text.size() < pos + 4) {
            return INVALID_CODEPOINT;
        }
        int32_t cp = 0;
        for (size_t i = 0; i < 4; i++) {
            if (!is_hex_digit(text[pos + i])) {
                return INVALID_CODEPOINT;
            }
            cp = (cp << 4) | hex_value(text[pos + i]);
        }
        return cp;
    }

    static Result<std::string> decode_string(std::string_view token)
    {
        // The lexer guarantees the quotes at both ends.
        const std::string_view body = token.substr(1, token.size() - 2);
        std::string out;
        out.reserve(body.size());
        size_t pos = 0;
        while (pos < body.size()) {
            if (body[pos] != '\\') {
                const int32_t cp = decode_utf8(body, pos);
                if (cp == INVALID_CODEPOINT) {
                    return parse_error("invalid UTF-8 sequence in string");
                }
                append_utf8(out, cp);
                continue;
            }
            const size_t escape = pos;
            const char kind = pos + 1 < body.size() ? body[pos + 1] : '\0';
            pos += 2;
            switch (kind) {
            case '"':
            case '\'':
            case '\\':
            case '/':
                out += kind;
                continue;
            case 'b':
                out += '\b';
                continue;
            case 'f':
                out += '\f';
                continue;
            case 'n':
                out += '\n';
                continue;
            case 'r':
                out += '\r';
                continue;
            case 't':
                out += '\t';
                continue;
            case 'u':
                break;
            default:
                return parse_error("invalid escape sequence in string");
            }
            int32_t cp = read_hex4(body, pos);
            if (cp != INVALID_CODEPOINT) {
                pos += 4;
            }
            // RFC 8259 §7: a character beyond the BMP is escaped as a
            // UTF-16 surrogate pair.
            if (cp >= 0xD800 && cp <= 0xDBFF && body.substr(pos, 2) == "\\u") {
                const int32_t trailing = read_hex4(body, pos + 2);
                if (trailing >= 0xDC00 && trailing <= 0xDFFF) {
                    cp = 0x10000 + ((cp & 0x3FF) << 10) + (trailing & 0x3FF);
                } else {
                    cp = INVALID_CODEPOINT;
                }
                pos = std::min(pos + 6, body.size());
            }
            if (cp == INVALID_CODEPOINT || is_surrogate(cp)) {
                const size_t end =
                    std::min(std::max(pos, escape + 6), body.size());
                return parse_error(fmt::format(
                    "{} is not a valid Unicode character",
                    printable_excerpt(body.substr(escape, end - escape))));
            }
            append_utf8(out, cp);
        }
        return out;
    }

    static Result<QObject> decode_integer(std::string_view text)
    {
        // QEMU's QNum rules: int64 if it fits, else uint64 if non-negative
        // and it fits, else double.
        const char *first = text.data();
        const char *last = text.data() + text.size();
        int64_t i = 0;
        auto res = std::from_chars(first, last, i);
        if (res.ec == std::errc {} && res.ptr == last) {
            return QObject(i);
        }
        if (text[0] != '-') {
            uint64_t u = 0;
            res = std::from_chars(first, last, u);
            if (res.ec == std::errc {} && res.ptr == last) {
                return QObject(u);
            }
        }
        return decode_float(text);
    }

    static Result<QObject> decode_float(std::string_view text)
    {
        // strtod_l with the C locale: the decimal point must not depend on
        // whatever locale the embedding program set.
        static const locale_t c_locale = newlocale(LC_ALL_MASK, "C", nullptr);
        if (!c_locale) {
            return Error::from_errno(errno, "newlocale");
        }
        const std::string copy(text);
        const double d = strtod_l(copy.c_str(), nullptr, c_locale);
        if (std::isinf(d)) {
            return parse_error(fmt::format("number '{}' out of range",
                                           printable_excerpt(text)));
        }
        return QObject(d);
    }

    std::string_view m_text;
    const JsonLimits &m_limits;
    size_t m_pos { 0 };
    size_t m_tokens { 0 };
    std::optional<Token> m_peeked;
};

} // namespace

std::string to_json(const QObject &value, bool pretty)
{
    std::string out;
    append_json(out, value, pretty, 0);
    return out;
}

Result<QObject> from_json(std::string_view text, const JsonLimits &limits)
{
    return JsonParser(text, limits).parse_document();
}

} // namespace qapi
