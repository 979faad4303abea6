/*
 * Byte streams of the migration format.
 */
#include "migration/qemu-file.h"

#include <cerrno>
#include <cstring>
#include <limits>
#include <unistd.h>

namespace migration {

void StreamWriter::put_byte(uint8_t v)
{
    put_buffer(std::span<const uint8_t>(&v, 1));
}

void StreamWriter::put_be16(uint16_t v)
{
    const uint8_t b[2] = { uint8_t(v >> 8), uint8_t(v) };
    put_buffer(b);
}

void StreamWriter::put_be32(uint32_t v)
{
    const uint8_t b[4] = { uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8),
                           uint8_t(v) };
    put_buffer(b);
}

void StreamWriter::put_be64(uint64_t v)
{
    put_be32(uint32_t(v >> 32));
    put_be32(uint32_t(v));
}

void StreamWriter::put_buffer(std::span<const uint8_t> bytes)
{
    if (m_error) {
        return;
    }
    m_buf.insert(m_buf.end(), bytes.begin(), bytes.end());
    m_transferred += bytes.size();
    if (m_buf.size() >= m_flush_threshold) {
        // A failed write is kept in m_error; put_* cannot report it.
        (void)flush();
    }
}

void StreamWriter::put_buffer(std::string_view bytes)
{
    // char and uint8_t share a representation; the cast goes through void
    // so that no reinterpret_cast is needed (style 7.14).
    put_buffer(std::span<const uint8_t>(
        static_cast<const uint8_t *>(static_cast<const void *>(bytes.data())),
        bytes.size()));
}

void StreamWriter::put_counted_string(std::string_view s)
{
    if (s.size() > std::numeric_limits<uint8_t>::max()) {
        set_error(qapi::Error::format(
            "name '{}' is longer than 255 bytes, the stream cannot carry it",
            s));
        return;
    }
    put_byte(uint8_t(s.size()));
    put_buffer(s);
}

void StreamWriter::put_zeros(size_t n)
{
    static constexpr uint8_t zeros[256] = {};
    while (n > 0) {
        size_t chunk = std::min(n, sizeof(zeros));
        put_buffer(std::span<const uint8_t>(zeros, chunk));
        n -= chunk;
    }
}

qapi::Result<void> StreamWriter::flush()
{
    if (!m_error && !m_buf.empty()) {
        auto r = write_out(m_buf);
        if (!r) {
            m_error = r.release_error();
        }
    }
    return check();
}

void StreamWriter::set_error(qapi::Error error)
{
    if (!m_error) {
        m_error = std::move(error);
    }
}

qapi::Result<void> StreamWriter::check() const
{
    if (m_error) {
        return m_error->clone();
    }
    return {};
}

// Memory keeps everything in m_buf: it never reaches the threshold.
MemoryWriter::MemoryWriter()
    : StreamWriter(std::numeric_limits<size_t>::max())
{
}

qapi::Result<void> MemoryWriter::write_out(std::span<const uint8_t>)
{
    return {};
}

FdWriter::FdWriter(int fd)
    : StreamWriter(BUFFER_SIZE)
    , m_fd(fd)
{
    m_buf.reserve(BUFFER_SIZE);
}

qapi::Result<void> FdWriter::write_out(std::span<const uint8_t> bytes)
{
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(m_fd, bytes.data() + done, bytes.size() - done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return qapi::Error::from_errno(errno, "migration stream write");
        }
        done += size_t(n);
    }
    m_buf.clear();
    return {};
}

bool StreamReader::need(size_t n)
{
    if (m_error) {
        return false;
    }
    if (m_window.size() - m_pos >= n || fill(n)) {
        return true;
    }
    set_error(qapi::Error::format("stream truncated at offset {}", offset()));
    return false;
}

uint8_t StreamReader::get_byte()
{
    uint8_t b = 0;
    get_buffer(std::span<uint8_t>(&b, 1));
    return b;
}

uint16_t StreamReader::get_be16()
{
    uint8_t b[2];
    get_buffer(b);
    return uint16_t((b[0] << 8) | b[1]);
}

uint32_t StreamReader::get_be32()
{
    uint8_t b[4];
    get_buffer(b);
    return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) |
           (uint32_t(b[2]) << 8) | uint32_t(b[3]);
}

uint64_t StreamReader::get_be64()
{
    uint64_t hi = get_be32();
    return (hi << 32) | get_be32();
}

bool StreamReader::get_buffer(std::span<uint8_t> out)
{
    // Large buffers (RAM pages) come in pieces so that the fd reader's
    // window need not grow to the size of the request.
    size_t done = 0;
    while (done < out.size()) {
        size_t chunk = std::min(out.size() - done, size_t { 4096 });
        if (!need(chunk)) {
            std::memset(out.data(), 0, out.size());
            return false;
        }
        std::memcpy(out.data() + done, m_window.data() + m_pos, chunk);
        m_pos += chunk;
        done += chunk;
    }
    return true;
}

std::optional<std::string> StreamReader::get_counted_string()
{
    uint8_t len = get_byte();
    std::string s(len, '\0');
    if (!get_buffer(std::span<uint8_t>(
            static_cast<uint8_t *>(static_cast<void *>(s.data())), s.size()))) {
        return std::nullopt;
    }
    return s;
}

void StreamReader::skip(size_t n)
{
    while (n > 0) {
        size_t chunk = std::min(n, size_t { 4096 });
        if (!need(chunk)) {
            return;
        }
        m_pos += chunk;
        n -= chunk;
    }
}

std::optional<uint8_t> StreamReader::peek_byte(size_t offset)
{
    auto b = peek_buffer(offset, 1);
    if (!b) {
        return std::nullopt;
    }
    return (*b)[0];
}

std::optional<std::vector<uint8_t>> StreamReader::peek_buffer(size_t offset,
                                                              size_t len)
{
    assert(offset + len <= MAX_PEEK);
    if (m_error) {
        return std::nullopt;
    }
    if (m_window.size() - m_pos < offset + len && !fill(offset + len)) {
        return std::nullopt;
    }
    auto first = m_window.begin() + ptrdiff_t(m_pos + offset);
    return std::vector<uint8_t>(first, first + ptrdiff_t(len));
}

bool StreamReader::at_end()
{
    return !m_error && m_window.size() == m_pos && !fill(1);
}

void StreamReader::set_error(qapi::Error error)
{
    if (!m_error) {
        m_error = std::move(error);
    }
}

qapi::Result<void> StreamReader::check() const
{
    if (m_error) {
        return m_error->clone();
    }
    return {};
}

MemoryReader::MemoryReader(std::span<const uint8_t> data)
{
    m_window = data;
}

bool MemoryReader::fill(size_t)
{
    return false;
}

FdReader::FdReader(int fd)
    : m_fd(fd)
{
    m_buf.reserve(BUFFER_SIZE);
}

bool FdReader::fill(size_t n)
{
    // Keep the unread tail, then read until n bytes are there or the
    // descriptor reports the end.
    size_t unread = m_window.size() - m_pos;
    std::memmove(m_buf.data(), m_buf.data() + m_pos, unread);
    m_base += m_pos;
    m_pos = 0;
    size_t want = std::max(n, BUFFER_SIZE);
    m_buf.resize(want);
    size_t have = unread;
    while (have < n) {
        ssize_t got = ::read(m_fd, m_buf.data() + have, want - have);
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            set_error(qapi::Error::from_errno(errno, "migration stream read"));
            break;
        }
        if (got == 0) {
            break;
        }
        have += size_t(got);
    }
    m_window = std::span<const uint8_t>(m_buf.data(), have);
    return have >= n;
}

} // namespace migration
