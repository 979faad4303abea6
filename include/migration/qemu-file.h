/*
 * Byte streams of the migration format (QEMU's QEMUFile idea).
 *
 * A StreamWriter puts big-endian integers, buffers and counted strings into
 * a sink: memory (MemoryWriter) or a file descriptor (FdWriter, buffered).
 * A StreamReader gets them back from memory (MemoryReader) or a file
 * descriptor (FdReader).  Any descriptor works: a file, a pipe to or from
 * "exec:" commands, a unix or tcp socket.
 *
 * Errors are sticky, as QEMU's qemu_file_get_error(): the first failure
 * (a write the kernel refused, a read past the end of the stream) is kept,
 * and every later call does nothing (writers) or returns zeros (readers)
 * without moving.  Callers check error() at the points where they can say
 * what they were reading; a reader never reads out of bounds.
 */
#pragma once

#include "qapi/result.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace migration {

/// Where written bytes go.  put_* never fail; a failed sink write is
/// remembered and returned by error() and flush().
class StreamWriter {
public:
    virtual ~StreamWriter() = default;
    StreamWriter(const StreamWriter &) = delete;
    StreamWriter &operator=(const StreamWriter &) = delete;

    void put_byte(uint8_t v);
    void put_be16(uint16_t v);
    void put_be32(uint32_t v);
    void put_be64(uint64_t v);
    void put_buffer(std::span<const uint8_t> bytes);
    void put_buffer(std::string_view bytes);
    /// A one-byte length and the bytes (QEMU's idstr encoding).  Longer
    /// than 255 bytes is a sticky error: the format cannot carry it.
    void put_counted_string(std::string_view s);
    /// `n` zero bytes.
    void put_zeros(size_t n);

    /// Bytes accepted so far, flushed or not (QEMU's qemu_file_transferred).
    uint64_t transferred() const { return m_transferred; }

    /// Push buffered bytes to the sink; the sticky error if any.
    qapi::Result<void> flush();
    /// The sticky error, or nullptr.
    const qapi::Error *error() const { return m_error ? &*m_error : nullptr; }
    /// Record an error (the first one wins).
    void set_error(qapi::Error error);
    /// The sticky error as a Result, for TRY.
    qapi::Result<void> check() const;

protected:
    /// `flush_threshold`: buffered bytes that trigger a write to the sink.
    explicit StreamWriter(size_t flush_threshold)
        : m_flush_threshold(flush_threshold)
    {
    }
    /// Write all of `bytes` to the sink.
    virtual qapi::Result<void> write_out(std::span<const uint8_t> bytes) = 0;

    std::vector<uint8_t> m_buf;

private:
    size_t m_flush_threshold;
    uint64_t m_transferred { 0 };
    std::optional<qapi::Error> m_error;
};

/// A writer into memory; data() is everything written.
class MemoryWriter final : public StreamWriter {
public:
    MemoryWriter();
    const std::vector<uint8_t> &data() const { return m_buf; }
    std::vector<uint8_t> take() { return std::move(m_buf); }

protected:
    qapi::Result<void> write_out(std::span<const uint8_t> bytes) override;
};

/// A buffered writer to a file descriptor the caller owns (a file, a pipe,
/// a socket).  Call flush() at the end; the destructor does not.
class FdWriter final : public StreamWriter {
public:
    /// QEMU's IO_BUF_SIZE.
    static constexpr size_t BUFFER_SIZE = 32768;
    explicit FdWriter(int fd);

protected:
    qapi::Result<void> write_out(std::span<const uint8_t> bytes) override;

private:
    int m_fd;
};

/// Where read bytes come from.  Reads past the end set the sticky error
/// "stream truncated at offset N" and return zeros.
class StreamReader {
public:
    virtual ~StreamReader() = default;
    StreamReader(const StreamReader &) = delete;
    StreamReader &operator=(const StreamReader &) = delete;

    uint8_t get_byte();
    uint16_t get_be16();
    uint32_t get_be32();
    uint64_t get_be64();
    /// Fill all of `out`; on error `out` is zeroed and false returned.
    bool get_buffer(std::span<uint8_t> out);
    /// A one-byte length and that many bytes; nullopt on error.
    std::optional<std::string> get_counted_string();
    /// Drop `n` bytes.
    void skip(size_t n);

    /// The byte `offset` bytes ahead, without consuming; nullopt at the
    /// end of the stream (not an error: peeking is asking).
    std::optional<uint8_t> peek_byte(size_t offset = 0);
    /// `len` bytes starting `offset` bytes ahead, or nullopt if the stream
    /// ends first.  len + offset must not exceed MAX_PEEK.
    std::optional<std::vector<uint8_t>> peek_buffer(size_t offset, size_t len);
    static constexpr size_t MAX_PEEK = 512;

    /// True when no byte is left (never sets the error).
    bool at_end();

    /// Offset of the next byte from the start of the stream.
    uint64_t offset() const { return m_base + m_pos; }

    const qapi::Error *error() const { return m_error ? &*m_error : nullptr; }
    /// Record an error (the first one wins).
    void set_error(qapi::Error error);
    /// The sticky error as a Result, for TRY.
    qapi::Result<void> check() const;

protected:
    StreamReader() = default;
    /// Make `m_window` hold at least `n` unread bytes if the source has
    /// them; false at the end of the source (or on a read error, which
    /// is recorded).
    virtual bool fill(size_t n) = 0;

    std::span<const uint8_t> m_window;
    size_t m_pos { 0 };
    /// Offset of m_window[0] in the stream.
    uint64_t m_base { 0 };

private:
    /// Ensure `n` unread bytes or record truncation.
    bool need(size_t n);

    std::optional<qapi::Error> m_error;
};

/// A reader over memory the caller keeps alive.
class MemoryReader final : public StreamReader {
public:
    explicit MemoryReader(std::span<const uint8_t> data);

protected:
    bool fill(size_t n) override;
};

/// A buffered reader from a file descriptor the caller owns.
class FdReader final : public StreamReader {
public:
    static constexpr size_t BUFFER_SIZE = 32768;
    explicit FdReader(int fd);

protected:
    bool fill(size_t n) override;

private:
    int m_fd;
    std::vector<uint8_t> m_buf;
};

} // namespace migration
