/*
 * JsonStreamer: cuts a QMP byte stream into JSON messages (QEMU's
 * qobject/json-lexer.c and json-streamer.c, as a peer sees them).
 *
 * QMP has no framing: a message ends where its top-level value ends.  The
 * streamer lexes the input with the token rules of QEMU's lexer (RFC 8259
 * plus single-quoted strings and the \' escape), counts brackets, and hands
 * each complete top-level value to qapi::from_json.  A scalar at the top
 * level is a message of its own ("1 2" is two messages).
 *
 * A lexical error (a byte no token can start with or contain, such as '@',
 * a control character or 0xFF) ends the message being received: the client
 * gets "JSON parse error, stray '...'" and the streamer skips input until a
 * bracket or a control character, which is how a QMP client forces the
 * parser back into a known-good state (docs/interop/qmp-spec.rst).
 *
 * A message that exceeds a limit gets one error and the rest of it is
 * skipped up to its end, so one oversized request costs one reply and
 * bounded memory; the stream then goes on.
 */
#pragma once

#include "qapi/qobject.h"
#include "qapi/result.h"

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace monitor {

/// What one message may cost.  The defaults are the monitor's: QEMU's
/// nesting and token limits with a 1 MiB message (QEMU allows 64 MiB).
struct JsonStreamLimits {
    /// Longest message, in bytes.  Longer: "JSON token size limit exceeded".
    size_t max_message_size { size_t { 1 } << 20 };
    /// Deepest nesting of arrays and objects together.  Deeper: "JSON
    /// nesting depth limit exceeded".
    size_t max_depth { 1024 };
    /// Most tokens in one message.  More: "JSON token count limit exceeded".
    size_t max_tokens { size_t { 2 } << 20 };
};

class JsonStreamer {
public:
    /// Receives each message as it completes: its value, or the error to
    /// report for it (always GenericError, with QEMU's text).  Returns
    /// false to stop feeding after this message.
    using Emit = std::function<bool(qapi::Result<qapi::QObject>)>;

    explicit JsonStreamer(JsonStreamLimits limits = {});

    /// Consumes `bytes`, calling `emit` once per message completed by them,
    /// in input order.  A message may span any number of calls.  Returns
    /// how many bytes were consumed: all of them, unless `emit` asked to
    /// stop; the rest is to be fed again later.  Never aborts, whatever the
    /// bytes.
    size_t feed(std::string_view bytes, const Emit &emit);

    /// Forgets a partially received message (the peer went away).
    void reset();

    /// Bytes held for the message being received.
    size_t pending_bytes() const { return m_message.size(); }

private:
    enum class State {
        Start,
        DqString,
        DqEscape,
        SqString,
        SqEscape,
        Minus,          // "-"
        Zero,           // "0", "-0"
        Integer,        // "12"
        Point,          // "1."
        Fraction,       // "1.5"
        Exponent,       // "1e", "1.5E"
        ExponentSign,   // "1e+"
        ExponentDigits, // "1e5"
        Keyword,        // "true", and any other run of a-z
        Recovery,       // skipping input after a lexical error
    };

    /// Runs one byte through the lexer; a byte that ends a number or a
    /// keyword is looked at again in State::Start.
    void step(unsigned char byte, const Emit &emit);
    void start_token(unsigned char byte, const Emit &emit);
    /// A token is complete: apply the limits, and emit the message when
    /// its brackets are balanced.
    void end_token(const Emit &emit);
    void append(unsigned char byte, const Emit &emit);
    void lexical_error(unsigned char byte, const Emit &emit);
    /// Reports a limit and skips the rest of the message.
    void limit_exceeded(std::string_view what, const Emit &emit);
    void clear_message();
    void emit_message(const Emit &emit, qapi::Result<qapi::QObject> message);

    JsonStreamLimits m_limits;
    State m_state { State::Start };
    std::string m_message;
    /// Where the current token starts in m_message, for error texts.
    size_t m_token_start { 0 };
    size_t m_tokens { 0 };
    // Counted apart, as QEMU does, so that "{]" ends the message at once.
    long m_braces { 0 };
    long m_brackets { 0 };
    /// The message broke a limit: lex to its end without keeping it.
    bool m_discarding { false };
    /// The consumer asked to stop feeding.
    bool m_stop { false };
};

} // namespace monitor
