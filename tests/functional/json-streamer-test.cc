/*
 * JsonStreamer: where QMP messages end, and what a malformed or oversized
 * one costs.  Expected errors are QEMU 7.2's answers to the same input.
 */
#include "monitor/json-streamer.h"

#include "qapi/qjson.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace {

using monitor::JsonStreamer;
using monitor::JsonStreamLimits;

/// Each message as text: its JSON, or "error: " and the error.
std::vector<std::string> feed(JsonStreamer &streamer, std::string_view input)
{
    std::vector<std::string> out;
    streamer.feed(input, [&](qapi::Result<qapi::QObject> message) {
        out.push_back(message ? qapi::to_json(message.value())
                              : "error: " + message.error().message());
        return true;
    });
    return out;
}

std::vector<std::string> feed_all(std::string_view input,
                                  JsonStreamLimits limits = {})
{
    JsonStreamer streamer(limits);
    return feed(streamer, input);
}

struct StreamCase {
    const char *what;
    std::string input;
    std::vector<std::string> messages;
};

class JsonStreamerCases : public testing::TestWithParam<StreamCase> {};

TEST_P(JsonStreamerCases, CutsTheStreamAsQemuDoes)
{
    EXPECT_EQ(feed_all(GetParam().input), GetParam().messages)
        << GetParam().what;
}

const StreamCase STREAM_CASES[] = {
    { "one object", R"({"execute": "stop"})", { R"({"execute": "stop"})" } },
    { "two objects back to back", R"({"a": 1}{"b": 2})",
      { R"({"a": 1})", R"({"b": 2})" } },
    { "a bracket inside a string does not count", R"({"a": "}{"})",
      { R"({"a": "}{"})" } },
    { "an escaped quote does not end a string", R"({"a": "\"}"})",
      { R"({"a": "\"}"})" } },
    { "single-quoted strings", R"({'a': 'say "hi"'})",
      { R"({"a": "say \"hi\""})" } },
    { "top-level scalars are messages of their own", "1 2 \"x\" true ",
      { "1", "2", R"("x")", "true" } },
    { "whitespace inside a message separates tokens", "[1 2]",
      { "error: JSON parse error, expected separator in list" } },
    { "a stray closing brace is a message of its own", R"({"a": 1}})",
      { R"({"a": 1})", "error: JSON parse error, expecting value" } },
    { "a stray byte is reported and skipped to the next bracket",
      "@{\"a\": 1}",
      { "error: JSON parse error, stray '@'", R"({"a": 1})" } },
    { "a stray byte ends the message it is in", "{\"a\": @}\n{\"b\": 1}",
      { "error: JSON parse error, stray '@'",
        "error: JSON parse error, expecting value", R"({"b": 1})" } },
    { "a control character resynchronises mid-message",
      "{\"a\": \"x\x01 {\"b\": 1}",
      { "error: JSON parse error, stray '\"x\x01'", R"({"b": 1})" } },
    { "0xFF resynchronises", "\xff{\"b\": 1}",
      { "error: JSON parse error, stray '\xff'", R"({"b": 1})" } },
    { "a raw newline inside a string is stray", "{\"a\": \"x\n\"}\n",
      { "error: JSON parse error, stray '\"x\n'",
        "error: JSON parse error, expecting value" } },
    { "a leading zero is stray", "{\"id\": 01}",
      { "error: JSON parse error, stray '01'",
        "error: JSON parse error, expecting value" } },
    { "a minus sign without digits is stray", "{\"id\": -}",
      { "error: JSON parse error, stray '-}'" } },
    { "a number ends at a letter", "{\"id\": 1x}",
      { "error: JSON parse error, expected separator in dict" } },
    { "an unterminated message waits for more", "{\"a\": [1, 2", {} },
    { "a stray closing bracket after an array", "[]]",
      { "[]", "error: JSON parse error, expecting value" } },
};

INSTANTIATE_TEST_SUITE_P(Qemu, JsonStreamerCases,
                         testing::ValuesIn(STREAM_CASES));

TEST(JsonStreamer, MessageSpanningFeedsIsOneMessage)
{
    JsonStreamer streamer;
    EXPECT_EQ(feed(streamer, R"({"exec)"), std::vector<std::string> {});

    EXPECT_EQ(feed(streamer, R"(ute": "stop"} )"),
              std::vector<std::string> { R"({"execute": "stop"})" });
}

TEST(JsonStreamer, ByteAtATimeGivesTheSameMessages)
{
    const std::string input =
        "{\"a\": [1, -2.5e3, \"x\\u00e9\"]} 7 @ {'b': null}]";
    JsonStreamer streamer;
    std::vector<std::string> bytewise;
    for (char c : input) {
        for (std::string &m : feed(streamer, std::string_view(&c, 1))) {
            bytewise.push_back(std::move(m));
        }
    }

    EXPECT_EQ(bytewise, feed_all(input));
}

TEST(JsonStreamer, ConsumerCanStopAfterAMessageAndFeedTheRestLater)
{
    const std::string input = R"({"a": 1} {"b": 2} {"c": 3})";
    JsonStreamer streamer;
    std::vector<std::string> first;

    const size_t used =
        streamer.feed(input, [&](qapi::Result<qapi::QObject> message) {
            first.push_back(qapi::to_json(message.value()));
            return false;
        });
    const auto rest = feed(streamer, std::string_view(input).substr(used));

    EXPECT_EQ(first, std::vector<std::string> { R"({"a": 1})" });
    EXPECT_EQ(rest,
              (std::vector<std::string> { R"({"b": 2})", R"({"c": 3})" }));
}

TEST(JsonStreamer, ResetDropsThePartialMessage)
{
    JsonStreamer streamer;
    feed(streamer, R"({"a": "half)");

    streamer.reset();

    EXPECT_EQ(feed(streamer, R"({"b": 1})"),
              std::vector<std::string> { R"({"b": 1})" });
}

TEST(JsonStreamer, OversizedMessageGetsOneErrorAndTheNextOneWorks)
{
    const JsonStreamLimits limits { .max_message_size = 16 };

    const auto messages = feed_all(
        R"({"a": "a string longer than the limit", "b": [1, 2]} {"c": 1})",
        limits);

    EXPECT_EQ(messages,
              (std::vector<std::string> {
                  "error: JSON token size limit exceeded", R"({"c": 1})" }));
}

TEST(JsonStreamer, OversizedMessageIsNotKept)
{
    const JsonStreamLimits limits { .max_message_size = 16 };
    JsonStreamer streamer(limits);

    feed(streamer, "[\"" + std::string(1000, 'x'));

    EXPECT_LE(streamer.pending_bytes(), limits.max_message_size);
}

TEST(JsonStreamer, TooDeepMessageGetsOneErrorAndTheNextOneWorks)
{
    const JsonStreamLimits limits { .max_depth = 3 };

    const auto messages = feed_all("[[[[[1]]]]] [1]", limits);

    EXPECT_EQ(messages,
              (std::vector<std::string> {
                  "error: JSON nesting depth limit exceeded", "[1]" }));
}

TEST(JsonStreamer, TooManyTokensGetOneErrorAndTheNextOneWorks)
{
    const JsonStreamLimits limits { .max_tokens = 5 };

    const auto messages = feed_all("[1, 2, 3, 4] [1]", limits);

    EXPECT_EQ(messages,
              (std::vector<std::string> {
                  "error: JSON token count limit exceeded", "[1]" }));
}

TEST(JsonStreamer, RandomBytesNeverHoldMoreThanTheLimit)
{
    const JsonStreamLimits limits { .max_message_size = 256 };
    JsonStreamer streamer(limits);
    std::mt19937 rng(20260309); // fixed: the same bytes on every run
    // Mostly JSON punctuation, so that messages nest and strings open.
    const std::string alphabet = "{}[]\"':,0123456789-.eEtrufalsn \n\\\x01\xff";
    size_t largest = 0;
    for (int i = 0; i < 200000; i++) {
        const char c = alphabet[rng() % alphabet.size()];
        streamer.feed(std::string_view(&c, 1),
                      [](qapi::Result<qapi::QObject>) { return true; });
        largest = std::max(largest, streamer.pending_bytes());
    }

    EXPECT_LE(largest, limits.max_message_size);
}

} // namespace
