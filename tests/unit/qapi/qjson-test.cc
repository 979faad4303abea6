#include "qapi/qjson.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <string_view>

namespace {

using qapi::from_json;
using qapi::JsonLimits;
using qapi::QObject;
using qapi::to_json;

std::string parse_error_text(std::string_view text,
                             const JsonLimits &limits = {})
{
    auto result = from_json(text, limits);
    if (result.has_value()) {
        return "(parsed: " + to_json(result.value()) + ")";
    }
    return result.error().message();
}

std::string nested_arrays(size_t depth)
{
    return std::string(depth, '[') + std::string(depth, ']');
}

// ---------------------------------------------------------------------------
// Round trips: compact text that reads back and writes out unchanged.

class JsonRoundTrip : public testing::TestWithParam<std::string_view> {};

TEST_P(JsonRoundTrip, CompactTextIsReproducedExactly)
{
    auto parsed = from_json(GetParam());

    ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
    EXPECT_EQ(to_json(parsed.value()), GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    Documents, JsonRoundTrip,
    testing::Values("null", "true", "false", "0", "-1", "42", "\"\"",
                    "\"text\"", "[]", "{}", "[1, 2, 3]",
                    "{\"a\": 1, \"b\": [true, null]}",
                    // Member order is kept, not sorted.
                    "{\"z\": 1, \"a\": 2, \"m\": 3}",
                    "{\"execute\": \"qom-get\", \"arguments\": {\"path\": "
                    "\"/machine/q35/ioapic\", \"property\": \"version\"}}",
                    "[[[]], {\"x\": {}}]", "0.5", "-2.25", "1.0", "1e+300",
                    "18446744073709551615", "-9223372036854775808",
                    "\"\\u00E9\\uD83D\\uDE00\"",
                    "\"tab\\there\\nnewline\\\\ \\\"quoted\\\"\""));

// ---------------------------------------------------------------------------
// Numbers follow QEMU's QNum rules.

struct NumberCase {
    std::string_view text;
    QObject::Kind kind;
    QObject value;
};

void PrintTo(const NumberCase &c, std::ostream *os)
{
    *os << '`' << c.text << '`';
}

class JsonNumber : public testing::TestWithParam<NumberCase> {};

TEST_P(JsonNumber, ParsesToQEMUsRepresentation)
{
    auto parsed = from_json(GetParam().text);

    ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
    EXPECT_EQ(parsed.value().kind(), GetParam().kind);
    EXPECT_EQ(parsed.value(), GetParam().value);
}

constexpr uint64_t INT64_MAX_PLUS_ONE = uint64_t { 1 } << 63;

INSTANTIATE_TEST_SUITE_P(
    Rules, JsonNumber,
    testing::Values(
        NumberCase { "0", QObject::Kind::Int, QObject(int64_t { 0 }) },
        NumberCase { "-0", QObject::Kind::Int, QObject(int64_t { 0 }) },
        NumberCase { "17104916", QObject::Kind::Int,
                     QObject(int64_t { 17104916 }) },
        NumberCase { "9223372036854775807", QObject::Kind::Int,
                     QObject(std::numeric_limits<int64_t>::max()) },
        NumberCase { "-9223372036854775808", QObject::Kind::Int,
                     QObject(std::numeric_limits<int64_t>::min()) },
        // Beyond int64 but non-negative: uint64, exactly.
        NumberCase { "9223372036854775808", QObject::Kind::UInt,
                     QObject(INT64_MAX_PLUS_ONE) },
        NumberCase { "18446744073709551615", QObject::Kind::UInt,
                     QObject(std::numeric_limits<uint64_t>::max()) },
        // Beyond uint64, or negative beyond int64: double.
        NumberCase { "18446744073709551616", QObject::Kind::Double,
                     QObject(18446744073709551616.0) },
        NumberCase { "-9223372036854775809", QObject::Kind::Double,
                     QObject(-9223372036854775809.0) },
        // A fraction or an exponent makes a double even when integral.
        NumberCase { "1.0", QObject::Kind::Double, QObject(1.0) },
        NumberCase { "1e3", QObject::Kind::Double, QObject(1000.0) },
        NumberCase { "1E+2", QObject::Kind::Double, QObject(100.0) },
        NumberCase { "-2.5e-1", QObject::Kind::Double, QObject(-0.25) },
        // Underflow rounds to zero; it is not an error.
        NumberCase { "1e-400", QObject::Kind::Double, QObject(0.0) }));

TEST(Json, NumberTooLargeForADoubleIsAnError)
{
    EXPECT_EQ(parse_error_text("1e400"),
              "JSON parse error, number '1e400' out of range");
}

struct OutputCase {
    QObject value;
    std::string_view json;
};

void PrintTo(const OutputCase &c, std::ostream *os)
{
    *os << '`' << c.json << '`';
}

class JsonOutput : public testing::TestWithParam<OutputCase> {};

TEST_P(JsonOutput, WritesExpectedText)
{
    EXPECT_EQ(to_json(GetParam().value), GetParam().json);
}

INSTANTIATE_TEST_SUITE_P(
    Doubles, JsonOutput,
    testing::Values(
        // Shortest text that reads back to the same double.
        OutputCase { QObject(0.1), "0.1" },
        // Integral doubles keep a fraction so they stay doubles.
        OutputCase { QObject(2.0), "2.0" },
        OutputCase { QObject(-0.0), "-0.0" },
        OutputCase { QObject(1e300), "1e+300" },
        // JSON has no NaN or infinity.
        OutputCase { QObject(std::numeric_limits<double>::quiet_NaN()),
                     "null" },
        OutputCase { QObject(std::numeric_limits<double>::infinity()), "null" },
        OutputCase { QObject(std::numeric_limits<uint64_t>::max()),
                     "18446744073709551615" }));

INSTANTIATE_TEST_SUITE_P(
    Strings, JsonOutput,
    testing::Values(
        OutputCase { QObject("\x01"), "\"\\u0001\"" },
        OutputCase { QObject("\x7f"), "\"\\u007F\"" },
        OutputCase { QObject(std::string("a\0b", 3)), "\"a\\u0000b\"" },
        OutputCase { QObject("/"), "\"/\"" },
        // Non-ASCII is escaped; beyond the BMP as a surrogate pair.
        OutputCase { QObject("\xc3\xa9"), "\"\\u00E9\"" },
        OutputCase { QObject("\xf0\x9f\x98\x80"), "\"\\uD83D\\uDE00\"" },
        // Bytes that are not UTF-8 become U+FFFD rather than bad output.
        OutputCase { QObject("\xff"), "\"\\uFFFD\"" },
        OutputCase { QObject("\xc3"), "\"\\uFFFD\"" }));

// QEMU 7.2's layout (-mon pretty=on), empty containers included:
// {"return": {}} is "{\n    \"return\": {\n    }\n}" there.
TEST(Json, PrettyOutputIndentsByFourSpaces)
{
    QObject value = QObject::dict();
    value.set("return", QObject(QObject::List { QObject(1), QObject::dict(),
                                                QObject(QObject::List {}) }));

    EXPECT_EQ(to_json(value, true), "{\n"
                                    "    \"return\": [\n"
                                    "        1,\n"
                                    "        {\n"
                                    "        },\n"
                                    "        [\n"
                                    "        ]\n"
                                    "    ]\n"
                                    "}");
}

// ---------------------------------------------------------------------------
// Strings: escapes, \u, surrogates, single quotes, UTF-8 validation.

struct StringCase {
    std::string_view json;
    std::string_view decoded;
};

void PrintTo(const StringCase &c, std::ostream *os)
{
    *os << '`' << c.json << '`';
}

class JsonString : public testing::TestWithParam<StringCase> {};

TEST_P(JsonString, DecodesToUtf8)
{
    auto parsed = from_json(GetParam().json);

    ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
    ASSERT_TRUE(parsed.value().is_string());
    EXPECT_EQ(*parsed.value().as_string(), GetParam().decoded);
}

INSTANTIATE_TEST_SUITE_P(
    Escapes, JsonString,
    testing::Values(StringCase { R"("\"\\\/")", "\"\\/" },
                    StringCase { R"("\b\f\n\r\t")", "\b\f\n\r\t" },
                    StringCase { R"("\u0041\u00e9\u20AC")",
                                 "A\xc3\xa9\xe2\x82\xac" },
                    StringCase { R"("\uD83D\uDE00")", "\xf0\x9f\x98\x80" },
                    StringCase { R"("\u0000")", std::string_view("\0", 1) },
                    // Raw UTF-8 passes through unchanged.
                    StringCase { "\"\xc3\xa9\xf0\x9f\x98\x80\"",
                                 "\xc3\xa9\xf0\x9f\x98\x80" },
                    // DEL is not a control character for RFC 8259.
                    StringCase { "\"\x7f\"", "\x7f" }));

INSTANTIATE_TEST_SUITE_P(SingleQuotes, JsonString,
                         testing::Values(StringCase { "'abc'", "abc" },
                                         StringCase { R"('say "hi"')",
                                                      "say \"hi\"" },
                                         StringCase { R"('it\'s')", "it's" },
                                         StringCase { R"("it\'s")", "it's" }));

TEST(Json, SingleQuotedKeysAndValuesFormACommand)
{
    auto parsed = from_json("{'execute': 'qmp_capabilities'}");

    ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
    EXPECT_EQ(to_json(parsed.value()), "{\"execute\": \"qmp_capabilities\"}");
}

// ---------------------------------------------------------------------------
// Errors, in QEMU's words.

struct ErrorCase {
    std::string_view json;
    std::string_view message;
};

void PrintTo(const ErrorCase &c, std::ostream *os)
{
    *os << '`' << c.json << '`';
}

class JsonError : public testing::TestWithParam<ErrorCase> {};

TEST_P(JsonError, IsRejectedWithMessage)
{
    EXPECT_EQ(parse_error_text(GetParam().json), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Syntax, JsonError,
    testing::Values(
        ErrorCase { "", "JSON parse error, expecting value" },
        ErrorCase { "  \n\t", "JSON parse error, expecting value" },
        ErrorCase { "[1,", "JSON parse error, premature EOI" },
        ErrorCase { "{", "JSON parse error, premature EOI" },
        ErrorCase { "{\"a\"", "JSON parse error, premature EOI" },
        ErrorCase { "\"abc", "JSON parse error, premature EOI" },
        ErrorCase { "]", "JSON parse error, expecting value" },
        ErrorCase { "[,]", "JSON parse error, expecting value" },
        ErrorCase { "[1,]", "JSON parse error, expecting value" },
        ErrorCase { "{\"a\":}", "JSON parse error, expecting value" },
        ErrorCase { "{\"a\": 1,}",
                    "JSON parse error, key is not a string in object" },
        ErrorCase { "{1: 2}",
                    "JSON parse error, key is not a string in object" },
        ErrorCase { "{\"a\" 1}", "JSON parse error, missing : in object pair" },
        ErrorCase { "{\"a\": 1 \"b\": 2}",
                    "JSON parse error, expected separator in dict" },
        ErrorCase { "[1 2]", "JSON parse error, expected separator in list" },
        ErrorCase { "{\"a\": 1, \"a\": 2}", "JSON parse error, duplicate key" },
        ErrorCase { "tru", "JSON parse error, invalid keyword 'tru'" },
        ErrorCase { "NULL", "JSON parse error, stray 'N'" },
        ErrorCase { "@", "JSON parse error, stray '@'" },
        ErrorCase { "1 2", "Expecting at most one JSON value" },
        ErrorCase { "{} x", "Expecting at most one JSON value" },
        ErrorCase { "[] @", "Expecting at most one JSON value" }));

INSTANTIATE_TEST_SUITE_P(
    Numbers, JsonError,
    testing::Values(
        // "01" lexes as "0" then "1", as in QEMU's lexer.
        ErrorCase { "01", "Expecting at most one JSON value" },
        ErrorCase { "[01]", "JSON parse error, expected separator in list" },
        ErrorCase { "-", "JSON parse error, stray '-'" },
        ErrorCase { "+1", "JSON parse error, stray '+'" },
        ErrorCase { ".5", "JSON parse error, stray '.'" },
        ErrorCase { "1.", "JSON parse error, stray '1.'" },
        ErrorCase { "1.x", "JSON parse error, stray '1.x'" },
        ErrorCase { "1e", "JSON parse error, stray '1e'" },
        ErrorCase { "1e+", "JSON parse error, stray '1e+'" },
        ErrorCase { "0x10", "Expecting at most one JSON value" }));

INSTANTIATE_TEST_SUITE_P(
    Strings, JsonError,
    testing::Values(
        ErrorCase { R"("\x")",
                    "JSON parse error, invalid escape sequence in string" },
        ErrorCase {
            R"("\uD800")",
            "JSON parse error, \\uD800 is not a valid Unicode character" },
        ErrorCase {
            R"("\uDC00")",
            "JSON parse error, \\uDC00 is not a valid Unicode character" },
        ErrorCase { R"("\uD800\u0041")", "JSON parse error, \\uD800\\u0041 is "
                                         "not a valid Unicode character" },
        ErrorCase {
            R"("\u12")",
            "JSON parse error, \\u12 is not a valid Unicode character" },
        ErrorCase {
            R"("\uZZZZ")",
            "JSON parse error, \\uZZZZ is not a valid Unicode character" },
        // RFC 8259 §7: control characters must be escaped.
        ErrorCase { "\"a\nb\"", "JSON parse error, stray '\\x0a'" },
        ErrorCase { std::string_view("\"a\0b\"", 5),
                    "JSON parse error, stray '\\x00'" },
        ErrorCase { "\"\xff\"",
                    "JSON parse error, invalid UTF-8 sequence in string" },
        // Overlong NUL, an encoded surrogate, a truncated sequence.
        ErrorCase { "\"\xc0\x80\"",
                    "JSON parse error, invalid UTF-8 sequence in string" },
        ErrorCase { "\"\xed\xa0\x80\"",
                    "JSON parse error, invalid UTF-8 sequence in string" },
        ErrorCase { "\"\xe2\x82\"",
                    "JSON parse error, invalid UTF-8 sequence in string" },
        // Outside strings, non-ASCII is stray.
        ErrorCase { "\xc3\xa9", "JSON parse error, stray '\\xc3'" }));

// ---------------------------------------------------------------------------
// Limits

TEST(Json, NestingAtTheDefaultLimitIsAccepted)
{
    EXPECT_TRUE(from_json(nested_arrays(1024)).has_value());
}

TEST(Json, NestingBeyondTheDefaultLimitIsRejected)
{
    EXPECT_EQ(parse_error_text(nested_arrays(1025)),
              "JSON nesting depth limit exceeded");
}

TEST(Json, ObjectsCountTowardsTheNestingLimit)
{
    const JsonLimits limits { .max_depth = 2 };

    EXPECT_EQ(parse_error_text("[{\"a\": {}}]", limits),
              "JSON nesting depth limit exceeded");
}

TEST(Json, InputLongerThanTheSizeLimitIsRejected)
{
    const JsonLimits limits { .max_size = 8 };

    EXPECT_EQ(parse_error_text("\"123456789\"", limits),
              "JSON token size limit exceeded");
}

TEST(Json, InputWithMoreTokensThanTheLimitIsRejected)
{
    const JsonLimits limits { .max_tokens = 4 };

    // [ 1 , 2 ] is five tokens.
    EXPECT_EQ(parse_error_text("[1, 2]", limits),
              "JSON token count limit exceeded");
}

TEST(Json, DuplicateKeyInALargeObjectIsFound)
{
    std::string text = "{";
    for (int i = 0; i < 1000; i++) {
        text += "\"k" + std::to_string(i) + "\": 0, ";
    }
    text += "\"k500\": 1}";

    EXPECT_EQ(parse_error_text(text), "JSON parse error, duplicate key");
}

// ---------------------------------------------------------------------------
// Robustness: arbitrary input never aborts, and whatever parses round-trips.

std::string random_input(std::mt19937 &rng)
{
    // Mostly JSON's own characters, so the parser gets past the first byte,
    // plus arbitrary bytes.
    static constexpr std::string_view ALPHABET =
        "{}[]:,\"'\\u0123456789abcdefnrtl.eE+- \n";
    std::uniform_int_distribution<size_t> length(0, 48);
    std::uniform_int_distribution<size_t> pick(0, ALPHABET.size() + 7);
    std::uniform_int_distribution<int> byte(0, 255);
    std::string out;
    const size_t n = length(rng);
    for (size_t i = 0; i < n; i++) {
        const size_t p = pick(rng);
        out += p < ALPHABET.size() ? ALPHABET[p] : static_cast<char>(byte(rng));
    }
    return out;
}

TEST(Json, RandomInputNeverAbortsAndParsedValuesRoundTrip)
{
    std::mt19937 rng(20260309);
    size_t parsed = 0;

    for (int i = 0; i < 200000; i++) {
        const std::string input = random_input(rng);
        auto result = from_json(input);
        if (result.has_value()) {
            parsed++;
            auto again = from_json(to_json(result.value()));
            ASSERT_TRUE(again.has_value()) << input;
            ASSERT_EQ(again.value(), result.value()) << input;
        }
    }

    // The generator must reach valid documents too, or the round trip
    // above checks nothing.
    EXPECT_GT(parsed, 100u);
}

TEST(Json, MutatedCommandsNeverAbort)
{
    const std::string command =
        "{\"execute\": \"qom-set\", \"arguments\": {\"path\": \"/machine\", "
        "\"property\": \"x\", \"value\": [1, -2.5e3, \"\\u00e9\", null, "
        "true]}}";
    std::mt19937 rng(11);
    std::uniform_int_distribution<size_t> where(0, command.size() - 1);
    std::uniform_int_distribution<int> byte(0, 255);

    for (int i = 0; i < 50000; i++) {
        std::string input = command;
        input[where(rng)] = static_cast<char>(byte(rng));
        input.resize(where(rng) + 1);
        auto result = from_json(input);
        if (result.has_value()) {
            ASSERT_TRUE(from_json(to_json(result.value())).has_value())
                << input;
        }
    }
}

} // namespace
