/*
 * Migration channels over POSIX sockets, files, pipes and inherited
 * descriptors.
 */
#include "migration/channel.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

namespace migration {

namespace {

bool starts_with(std::string_view s, std::string_view prefix)
{
    return s.substr(0, prefix.size()) == prefix;
}

qapi::Result<sockaddr_un> unix_address(const std::string &path)
{
    sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
        return qapi::Error::format("UNIX socket path '{}' is too long", path);
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

/// getaddrinfo() for HOST:PORT; the caller frees the list.
qapi::Result<addrinfo *> tcp_addresses(const ChannelUri &uri, bool passive)
{
    addrinfo hints {};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    addrinfo *list = nullptr;
    const char *host = uri.address.empty() ? nullptr : uri.address.c_str();
    int rc = ::getaddrinfo(host, uri.port.c_str(), &hints, &list);
    if (rc != 0) {
        return qapi::Error::format("address resolution failed for {}:{}: {}",
                                   uri.address, uri.port, ::gai_strerror(rc));
    }
    return list;
}

/// /bin/sh -c `command`, with our end of a pipe as the child's stdin
/// (`child_reads`) or stdout.
qapi::Result<Channel> spawn(const std::string &command, bool child_reads)
{
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        return qapi::Error::from_errno(errno, "pipe");
    }
    int child_end = child_reads ? fds[0] : fds[1];
    int our_end = child_reads ? fds[1] : fds[0];
    pid_t pid = ::fork();
    if (pid < 0) {
        int err = errno;
        ::close(fds[0]);
        ::close(fds[1]);
        return qapi::Error::from_errno(err, "fork");
    }
    if (pid == 0) {
        ::dup2(child_end, child_reads ? STDIN_FILENO : STDOUT_FILENO);
        ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char *>(nullptr));
        ::_exit(127);
    }
    ::close(child_end);
    return Channel(our_end, pid, false);
}

} // namespace

qapi::Result<ChannelUri> parse_channel_uri(std::string_view uri)
{
    ChannelUri parsed;
    auto rest = [&](std::string_view prefix) { return std::string(uri.substr(prefix.size())); };
    if (starts_with(uri, "unix:")) {
        parsed.kind = ChannelUri::Kind::Unix;
        parsed.address = rest("unix:");
    } else if (starts_with(uri, "file:")) {
        parsed.kind = ChannelUri::Kind::File;
        parsed.address = rest("file:");
    } else if (starts_with(uri, "exec:")) {
        parsed.kind = ChannelUri::Kind::Exec;
        parsed.address = rest("exec:");
    } else if (starts_with(uri, "fd:")) {
        parsed.kind = ChannelUri::Kind::Fd;
        parsed.address = rest("fd:");
    } else if (starts_with(uri, "tcp:")) {
        parsed.kind = ChannelUri::Kind::Tcp;
        std::string hostport = rest("tcp:");
        size_t colon = hostport.rfind(':');
        if (colon == std::string::npos || colon + 1 == hostport.size()) {
            return qapi::Error::format("error parsing address '{}'", hostport);
        }
        parsed.address = hostport.substr(0, colon);
        parsed.port = hostport.substr(colon + 1);
        if (parsed.address.size() >= 2 && parsed.address.front() == '[' &&
            parsed.address.back() == ']') {
            parsed.address = parsed.address.substr(1, parsed.address.size() - 2);
        }
    } else {
        return qapi::Error::format("unknown migration protocol: {}", uri);
    }
    if (parsed.address.empty() && parsed.kind != ChannelUri::Kind::Tcp) {
        return qapi::Error::format("unknown migration protocol: {}", uri);
    }
    return parsed;
}

Channel::Channel(Channel &&other) noexcept
    : m_fd(std::exchange(other.m_fd, -1))
    , m_child(std::exchange(other.m_child, -1))
    , m_bidirectional(other.m_bidirectional)
{
}

Channel &Channel::operator=(Channel &&other) noexcept
{
    if (this != &other) {
        release();
        m_fd = std::exchange(other.m_fd, -1);
        m_child = std::exchange(other.m_child, -1);
        m_bidirectional = other.m_bidirectional;
    }
    return *this;
}

Channel::~Channel()
{
    release();
}

void Channel::release()
{
    if (m_fd >= 0) {
        ::close(m_fd);
        m_fd = -1;
    }
    if (m_child > 0) {
        int status = 0;
        ::waitpid(m_child, &status, 0);
        m_child = -1;
    }
}

void Channel::finish_sending()
{
    if (m_fd < 0) {
        return;
    }
    if (m_bidirectional) {
        ::shutdown(m_fd, SHUT_WR);
    } else {
        ::close(m_fd);
        m_fd = -1;
    }
}

qapi::Result<void> Channel::close()
{
    if (m_fd >= 0) {
        ::close(m_fd);
        m_fd = -1;
    }
    if (m_child > 0) {
        int status = 0;
        pid_t child = std::exchange(m_child, -1);
        if (::waitpid(child, &status, 0) < 0) {
            return qapi::Error::from_errno(errno, "waitpid");
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            return qapi::Error::format("the exec: command failed (status {})",
                                       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        }
    }
    return {};
}

qapi::Result<Channel> open_outgoing(const ChannelUri &uri)
{
    switch (uri.kind) {
    case ChannelUri::Kind::Unix: {
        sockaddr_un addr = TRY(unix_address(uri.address));
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            return qapi::Error::from_errno(errno, "socket");
        }
        if (::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0) {
            int err = errno;
            ::close(fd);
            return qapi::Error::from_errno(err, fmt::format("Failed to connect to '{}'",
                                                            uri.address));
        }
        return Channel(fd, -1, true);
    }
    case ChannelUri::Kind::Tcp: {
        addrinfo *list = TRY(tcp_addresses(uri, false));
        int err = ECONNREFUSED;
        for (addrinfo *a = list; a != nullptr; a = a->ai_next) {
            int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
            if (fd < 0) {
                err = errno;
                continue;
            }
            if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
                ::freeaddrinfo(list);
                return Channel(fd, -1, true);
            }
            err = errno;
            ::close(fd);
        }
        ::freeaddrinfo(list);
        return qapi::Error::from_errno(
            err, fmt::format("Failed to connect to '{}:{}'", uri.address, uri.port));
    }
    case ChannelUri::Kind::File: {
        int fd = ::open(uri.address.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
            return qapi::Error::from_errno(
                errno, fmt::format("Could not open '{}'", uri.address));
        }
        return Channel(fd, -1, false);
    }
    case ChannelUri::Kind::Exec:
        return spawn(uri.address, true);
    case ChannelUri::Kind::Fd:
        return open_incoming(uri);
    }
    return qapi::Error("unknown migration protocol");
}

qapi::Result<Channel> open_incoming(const ChannelUri &uri)
{
    switch (uri.kind) {
    case ChannelUri::Kind::File: {
        int fd = ::open(uri.address.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            return qapi::Error::from_errno(
                errno, fmt::format("Could not open '{}'", uri.address));
        }
        return Channel(fd, -1, false);
    }
    case ChannelUri::Kind::Exec:
        return spawn(uri.address, false);
    case ChannelUri::Kind::Fd: {
        int fd = -1;
        const std::string &name = uri.address;
        auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), fd);
        if (ec != std::errc() || end != name.data() + name.size() || fd < 0) {
            // A name the monitor did not resolve (it has no such getfd).
            return qapi::Error::format("File descriptor named '{}' has not been found",
                                       name);
        }
        if (::fcntl(fd, F_GETFD) < 0) {
            return qapi::Error::from_errno(errno, fmt::format("fd:{}", fd));
        }
        int type = 0;
        socklen_t len = sizeof(type);
        bool socket = ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
        return Channel(::dup(fd), -1, socket && type == SOCK_STREAM);
    }
    case ChannelUri::Kind::Unix:
    case ChannelUri::Kind::Tcp:
        break;
    }
    return qapi::Error("a socket URI needs a listener");
}

qapi::Result<Listener> Listener::listen(const ChannelUri &uri)
{
    if (uri.kind == ChannelUri::Kind::Unix) {
        sockaddr_un addr = TRY(unix_address(uri.address));
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            return qapi::Error::from_errno(errno, "socket");
        }
        ::unlink(uri.address.c_str());
        if (::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0 ||
            ::listen(fd, 1) != 0) {
            int err = errno;
            ::close(fd);
            return qapi::Error::from_errno(
                err, fmt::format("Failed to bind socket to {}", uri.address));
        }
        return Listener(fd, uri.address);
    }
    if (uri.kind == ChannelUri::Kind::Tcp) {
        addrinfo *list = TRY(tcp_addresses(uri, true));
        int err = EADDRNOTAVAIL;
        for (addrinfo *a = list; a != nullptr; a = a->ai_next) {
            int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
            if (fd < 0) {
                err = errno;
                continue;
            }
            int on = 1;
            ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
            if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 1) == 0) {
                ::freeaddrinfo(list);
                return Listener(fd, "");
            }
            err = errno;
            ::close(fd);
        }
        ::freeaddrinfo(list);
        return qapi::Error::from_errno(
            err, fmt::format("Failed to bind socket to {}:{}", uri.address, uri.port));
    }
    return qapi::Error("only unix: and tcp: URIs listen");
}

Listener::Listener(Listener &&other) noexcept
    : m_fd(std::exchange(other.m_fd, -1))
    , m_unlink_path(std::move(other.m_unlink_path))
{
    other.m_unlink_path.clear();
}

Listener &Listener::operator=(Listener &&other) noexcept
{
    if (this != &other) {
        this->~Listener();
        m_fd = std::exchange(other.m_fd, -1);
        m_unlink_path = std::move(other.m_unlink_path);
        other.m_unlink_path.clear();
    }
    return *this;
}

Listener::~Listener()
{
    if (m_fd >= 0) {
        ::close(m_fd);
        m_fd = -1;
    }
    if (!m_unlink_path.empty()) {
        ::unlink(m_unlink_path.c_str());
        m_unlink_path.clear();
    }
}

qapi::Result<Channel> Listener::accept()
{
    for (;;) {
        int fd = ::accept4(m_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) {
            return Channel(fd, -1, true);
        }
        if (errno != EINTR) {
            return qapi::Error::from_errno(errno, "accept");
        }
    }
}

qapi::Result<void> send_return_path_shut(int fd, bool failed)
{
    const std::array<uint8_t, 8> message { 0, MIG_RP_MSG_SHUT, 0, 4, 0, 0, 0,
                                           static_cast<uint8_t>(failed ? 1 : 0) };
    size_t sent = 0;
    while (sent < message.size()) {
        ssize_t n = ::send(fd, message.data() + sent, message.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return qapi::Error::from_errno(errno, "return path");
        }
        sent += static_cast<size_t>(n);
    }
    return {};
}

qapi::Result<bool> receive_return_path_shut(int fd, std::chrono::milliseconds timeout)
{
    std::array<uint8_t, 8> message {};
    size_t got = 0;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (got < message.size()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            return qapi::Error("the destination did not answer on the return path");
        }
        pollfd p { .fd = fd, .events = POLLIN, .revents = 0 };
        int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready <= 0) {
            continue;
        }
        ssize_t n = ::recv(fd, message.data() + got, message.size() - got, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return qapi::Error("the destination closed the return path without an answer");
        }
        got += static_cast<size_t>(n);
    }
    uint16_t type = static_cast<uint16_t>(message[0] << 8 | message[1]);
    uint16_t len = static_cast<uint16_t>(message[2] << 8 | message[3]);
    if (type != MIG_RP_MSG_SHUT || len != 4) {
        return qapi::Error::format("unexpected return-path message type {} length {}", type,
                                   len);
    }
    return message[7] == 0;
}

} // namespace migration
