/*
 * JSON <-> QObject (QEMU's qobject/qjson.c and json-parser.c).
 *
 * The parser accepts RFC 8259 JSON plus the extension of QEMU's parser that
 * QMP clients rely on: strings may be single-quoted.  Inside single quotes an
 * unescaped '"' is allowed, and \' is a valid escape in either kind of
 * string.  Numbers follow QEMU's QNum rules so that a uint64 property
 * round-trips exactly.
 */
#pragma once

#include "qapi/qobject.h"
#include "qapi/result.h"

#include <cstddef>
#include <string>
#include <string_view>

namespace qapi {

/// Resource limits for one parse.  Defaults are QEMU's json-streamer limits
/// (MAX_NESTING, MAX_TOKEN_SIZE, MAX_TOKEN_COUNT), which bound what a QMP
/// peer can make the monitor allocate.
struct JsonLimits {
    /// Deepest allowed nesting of arrays and objects; 1 allows "[1]" but
    /// not "[[1]]".  The parser recurses once per level, so this also
    /// bounds its stack use.
    size_t max_depth { 1024 };
    /// Longest accepted input, in bytes.
    size_t max_size { size_t { 64 } << 20 };
    /// Most tokens (punctuation, scalars) in one input.
    size_t max_tokens { size_t { 2 } << 20 };
};

/// Serialise `value` as JSON text.
///
/// Compact output separates members as QEMU does (`{"a": 1, "b": [1, 2]}`);
/// pretty output puts one member per line, indented by four spaces.
/// Strings are emitted as ASCII: non-ASCII characters become \uXXXX escapes
/// (surrogate pairs beyond the BMP) and bytes that are not valid UTF-8 become
/// U+FFFD.  Doubles use the shortest text that reads back to the same value
/// and always carry a '.' or an exponent, so a Double stays a Double across
/// a round trip; a non-finite double, which JSON cannot represent, is written
/// as null.  Dict members keep their order.
std::string to_json(const QObject &value, bool pretty = false);

/// Parse exactly one JSON value from `text`.
///
/// Integers become Int when they fit int64_t, UInt when non-negative and
/// fitting uint64_t, and Double otherwise; numbers with a fraction or an
/// exponent are Double.  A number too large for a double is an error.
/// Errors are GenericError with QEMU's texts, e.g. "JSON parse error,
/// expecting value", "JSON parse error, duplicate key", "JSON nesting depth
/// limit exceeded", "Expecting at most one JSON value".  Never aborts, for any
/// input bytes.
Result<QObject> from_json(std::string_view text, const JsonLimits &limits = {});

} // namespace qapi
