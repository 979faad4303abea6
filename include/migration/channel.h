/*
 * Migration channels: where a stream goes and comes from, named by QEMU's
 * URIs.
 *
 *   unix:PATH            a unix stream socket (the destination listens)
 *   tcp:HOST:PORT        a TCP socket (the destination listens)
 *   file:PATH            a file (written by the source, read by -incoming)
 *   exec:CMD             /bin/sh -c CMD, fed the stream on its standard
 *                        input (source) or read from its standard output
 *                        (destination)
 *   fd:N                 a descriptor the process inherited
 *
 * Socket channels carry QEMU's return path back to the source: the
 * destination's MIG_RP_MSG_SHUT, so that the source learns whether the
 * destination took the guest and can resume its own if not.
 */
#pragma once

#include "qapi/result.h"

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace migration {

struct ChannelUri {
    enum class Kind { Unix, Tcp, File, Exec, Fd };
    Kind kind { Kind::Unix };
    /// The path, host, command or descriptor number.
    std::string address;
    /// Tcp only.
    std::string port;

    /// Sockets can carry the return path.
    bool bidirectional() const { return kind == Kind::Unix || kind == Kind::Tcp; }
};

/// QEMU's URI forms; anything else is "unknown migration protocol: URI".
qapi::Result<ChannelUri> parse_channel_uri(std::string_view uri);

/// An open channel: a descriptor, and the child of an exec: channel.
class Channel {
public:
    Channel() = default;
    Channel(int fd, pid_t child, bool bidirectional)
        : m_fd(fd)
        , m_child(child)
        , m_bidirectional(bidirectional)
    {
    }
    Channel(Channel &&other) noexcept;
    Channel &operator=(Channel &&other) noexcept;
    Channel(const Channel &) = delete;
    Channel &operator=(const Channel &) = delete;
    /// Closes the descriptor and reaps an exec: child.
    ~Channel();

    int fd() const { return m_fd; }
    bool bidirectional() const { return m_bidirectional; }
    /// Stop sending (shutdown(SHUT_WR) on a socket, close otherwise), so
    /// the reader sees the end of the stream; a socket stays open for the
    /// return path.
    void finish_sending();
    /// For exec: channels, waits for the command and fails if it did.
    qapi::Result<void> close();

private:
    void release();

    int m_fd { -1 };
    pid_t m_child { -1 };
    bool m_bidirectional { false };
};

/// The source's end: connect, create the file, or start the command.
qapi::Result<Channel> open_outgoing(const ChannelUri &uri);

/// The destination's end of a socket URI: listening until accept().
class Listener {
public:
    static qapi::Result<Listener> listen(const ChannelUri &uri);
    Listener(Listener &&other) noexcept;
    Listener &operator=(Listener &&other) noexcept;
    Listener(const Listener &) = delete;
    Listener &operator=(const Listener &) = delete;
    ~Listener();

    int fd() const { return m_fd; }
    /// Blocks for one connection.
    qapi::Result<Channel> accept();

private:
    Listener(int fd, std::string unlink_path)
        : m_fd(fd)
        , m_unlink_path(std::move(unlink_path))
    {
    }
    int m_fd { -1 };
    std::string m_unlink_path;
};

/// The destination's end of a file:, exec: or fd: URI, open at once.
qapi::Result<Channel> open_incoming(const ChannelUri &uri);

// QEMU's return path (migration/migration.c): be16 type, be16 length,
// payload.  MIG_RP_MSG_SHUT carries a be32: 0 when the destination took
// the guest, 1 when it did not.
inline constexpr uint16_t MIG_RP_MSG_SHUT = 1;

/// The destination's last word to the source.
qapi::Result<void> send_return_path_shut(int fd, bool failed);
/// The source waits for it, at most `timeout`: true when the destination
/// took the guest.  No answer in time, or the channel closing, is an error.
qapi::Result<bool> receive_return_path_shut(int fd, std::chrono::milliseconds timeout);

} // namespace migration
