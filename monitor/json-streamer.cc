#include "monitor/json-streamer.h"

#include "qapi/qjson.h"

#include <fmt/format.h>

#include <utility>

namespace monitor {

namespace {

bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

bool is_whitespace(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/// Bytes a string may hold unescaped.  QEMU's lexer leaves UTF-8
/// validation to the parser but rejects control characters and the two
/// bytes that never occur in UTF-8, 0xFE and 0xFF, which clients send to
/// resynchronise.
bool is_string_byte(unsigned char c)
{
    return c >= 0x20 && c < 0xFE;
}

/// Where skipping after a lexical error stops: a bracket (a promising
/// place for a new message) or a byte a client sends on purpose to reset
/// the parser.  The tab is the one control character that is ordinary
/// whitespace in the middle of a message.
bool ends_recovery(unsigned char c)
{
    return c == '{' || c == '}' || c == '[' || c == ']' ||
           (c < 0x20 && c != '\t') || c >= 0xFE;
}

/// The part of an offending token an error quotes: all of it, as QEMU
/// does, unless it is long.
std::string excerpt(std::string_view token)
{
    constexpr size_t MAX_EXCERPT = 32;
    if (token.size() <= MAX_EXCERPT) {
        return std::string(token);
    }
    return "..." + std::string(token.substr(token.size() - MAX_EXCERPT));
}

} // namespace

JsonStreamer::JsonStreamer(JsonStreamLimits limits)
    : m_limits(limits)
{
}

size_t JsonStreamer::feed(std::string_view bytes, const Emit &emit)
{
    m_stop = false;
    for (size_t i = 0; i < bytes.size(); i++) {
        step(static_cast<unsigned char>(bytes[i]), emit);
        if (m_stop) {
            return i + 1;
        }
    }
    return bytes.size();
}

void JsonStreamer::emit_message(const Emit &emit,
                                qapi::Result<qapi::QObject> message)
{
    if (!emit(std::move(message))) {
        m_stop = true;
    }
}

void JsonStreamer::reset()
{
    clear_message();
    m_state = State::Start;
}

void JsonStreamer::clear_message()
{
    m_message.clear();
    m_token_start = 0;
    m_tokens = 0;
    m_braces = 0;
    m_brackets = 0;
    m_discarding = false;
}

void JsonStreamer::append(unsigned char byte, const Emit &emit)
{
    if (m_discarding) {
        return;
    }
    if (m_message.size() >= m_limits.max_message_size) {
        limit_exceeded("JSON token size limit exceeded", emit);
        return;
    }
    m_message.push_back(static_cast<char>(byte));
}

void JsonStreamer::limit_exceeded(std::string_view what, const Emit &emit)
{
    emit_message(emit, qapi::Error(std::string(what)));
    m_message.clear();
    m_message.shrink_to_fit();
    m_token_start = 0;
    m_discarding = true;
}

void JsonStreamer::lexical_error(unsigned char byte, const Emit &emit)
{
    std::string token;
    if (!m_discarding) {
        token = m_message.substr(m_token_start);
    }
    token.push_back(static_cast<char>(byte));
    clear_message();
    m_state = State::Recovery;
    emit_message(emit, qapi::Error::format("JSON parse error, stray '{}'",
                                           excerpt(token)));
}

void JsonStreamer::end_token(const Emit &emit)
{
    m_state = State::Start;
    if (!m_discarding) {
        if (++m_tokens > m_limits.max_tokens) {
            limit_exceeded("JSON token count limit exceeded", emit);
        } else if (m_braces + m_brackets >
                   static_cast<long>(m_limits.max_depth)) {
            limit_exceeded("JSON nesting depth limit exceeded", emit);
        }
    }
    if ((m_braces > 0 || m_brackets > 0) && m_braces >= 0 &&
        m_brackets >= 0) {
        return;
    }
    if (m_discarding) {
        clear_message();
        return;
    }
    // The parser re-lexes the text: one set of token rules, qapi's, decides
    // what the value is; this lexer only finds where it ends.
    qapi::JsonLimits limits;
    limits.max_depth = m_limits.max_depth;
    limits.max_size = m_limits.max_message_size;
    limits.max_tokens = m_limits.max_tokens;
    qapi::Result<qapi::QObject> value = qapi::from_json(m_message, limits);
    clear_message();
    emit_message(emit, std::move(value));
}

void JsonStreamer::start_token(unsigned char byte, const Emit &emit)
{
    if (is_whitespace(byte)) {
        // Inside a message, whitespace still separates tokens ("[1 2]").
        if (!m_message.empty()) {
            append(byte, emit);
        }
        return;
    }
    m_token_start = m_message.size();
    switch (byte) {
    case '{':
    case '}':
    case '[':
    case ']':
    case ':':
    case ',':
        append(byte, emit);
        m_braces += byte == '{' ? 1 : byte == '}' ? -1 : 0;
        m_brackets += byte == '[' ? 1 : byte == ']' ? -1 : 0;
        end_token(emit);
        return;
    case '"':
        append(byte, emit);
        m_state = State::DqString;
        return;
    case '\'':
        append(byte, emit);
        m_state = State::SqString;
        return;
    case '-':
        append(byte, emit);
        m_state = State::Minus;
        return;
    case '0':
        append(byte, emit);
        m_state = State::Zero;
        return;
    default:
        break;
    }
    if (is_digit(byte)) {
        append(byte, emit);
        m_state = State::Integer;
    } else if (byte >= 'a' && byte <= 'z') {
        append(byte, emit);
        m_state = State::Keyword;
    } else {
        lexical_error(byte, emit);
    }
}

void JsonStreamer::step(unsigned char byte, const Emit &emit)
{
    // A number or keyword ends at the first byte that cannot continue it;
    // that byte then starts whatever comes next.  Bytes outside ASCII
    // cannot follow a token directly.
    auto end_here = [&] {
        if (byte >= 0x80) {
            lexical_error(byte, emit);
            return;
        }
        end_token(emit);
        start_token(byte, emit);
    };
    auto go = [&](State next) {
        append(byte, emit);
        m_state = next;
    };

    switch (m_state) {
    case State::Recovery:
        if (ends_recovery(byte)) {
            m_state = State::Start;
            start_token(byte, emit);
        }
        return;
    case State::Start:
        start_token(byte, emit);
        return;
    case State::DqString:
    case State::SqString: {
        if (!is_string_byte(byte)) {
            lexical_error(byte, emit);
            return;
        }
        const bool dq = m_state == State::DqString;
        append(byte, emit);
        if (byte == '\\') {
            m_state = dq ? State::DqEscape : State::SqEscape;
        } else if (byte == (dq ? '"' : '\'')) {
            end_token(emit);
        }
        return;
    }
    case State::DqEscape:
    case State::SqEscape:
        // Which escapes are valid is the parser's business.
        if (!is_string_byte(byte)) {
            lexical_error(byte, emit);
            return;
        }
        go(m_state == State::DqEscape ? State::DqString : State::SqString);
        return;
    case State::Minus:
        if (byte == '0') {
            go(State::Zero);
        } else if (is_digit(byte)) {
            go(State::Integer);
        } else {
            lexical_error(byte, emit);
        }
        return;
    case State::Zero:
        // RFC 8259 allows no leading zeros, and QEMU's lexer no exponent
        // right after a zero integer part.
        if (is_digit(byte)) {
            lexical_error(byte, emit);
        } else if (byte == '.') {
            go(State::Point);
        } else {
            end_here();
        }
        return;
    case State::Integer:
        if (is_digit(byte)) {
            go(State::Integer);
        } else if (byte == '.') {
            go(State::Point);
        } else if (byte == 'e' || byte == 'E') {
            go(State::Exponent);
        } else {
            end_here();
        }
        return;
    case State::Point:
        if (is_digit(byte)) {
            go(State::Fraction);
        } else {
            lexical_error(byte, emit);
        }
        return;
    case State::Fraction:
        if (is_digit(byte)) {
            go(State::Fraction);
        } else if (byte == 'e' || byte == 'E') {
            go(State::Exponent);
        } else {
            end_here();
        }
        return;
    case State::Exponent:
        if (byte == '+' || byte == '-') {
            go(State::ExponentSign);
        } else if (is_digit(byte)) {
            go(State::ExponentDigits);
        } else {
            lexical_error(byte, emit);
        }
        return;
    case State::ExponentSign:
        if (is_digit(byte)) {
            go(State::ExponentDigits);
        } else {
            lexical_error(byte, emit);
        }
        return;
    case State::ExponentDigits:
        if (is_digit(byte)) {
            go(State::ExponentDigits);
        } else {
            end_here();
        }
        return;
    case State::Keyword:
        if (byte >= 'a' && byte <= 'z') {
            go(State::Keyword);
        } else {
            end_here();
        }
        return;
    }
}

} // namespace monitor
