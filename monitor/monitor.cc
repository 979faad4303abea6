#include "monitor/monitor.h"

#include "monitor/qmp-session.h"
#include "qapi/qjson.h"
#include "trace/trace-monitor.h"

#include <glib-unix.h>
#include <glib.h>

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

namespace monitor {

// ---- -qmp parsing ----------------------------------------------------------

namespace {

/// QEMU's qapi_bool_parse().
std::optional<bool> parse_on_off(std::string_view s)
{
    if (s == "on" || s == "yes" || s == "true" || s == "y") {
        return true;
    }
    if (s == "off" || s == "no" || s == "false" || s == "n") {
        return false;
    }
    return std::nullopt;
}

} // namespace

qapi::Result<QmpEndpoint> parse_qmp_endpoint(
    std::string_view chardev,
    std::span<const std::pair<std::string_view, std::string_view>> options)
{
    if (chardev == "stdio") {
        if (!options.empty()) {
            return qapi::Error::format("Invalid parameter '{}'",
                                       options.front().first);
        }
        return QmpEndpoint {};
    }
    if (!chardev.starts_with("unix:")) {
        const std::string_view backend = chardev.substr(0, chardev.find(':'));
        return qapi::Error::format(
            "chardev backend '{}' is not supported; use "
            "unix:PATH,server=on,wait=off or stdio",
            backend);
    }
    if (chardev.size() == 5) {
        return qapi::Error("a socket path is required after 'unix:'");
    }
    // QEMU's legacy syntax is a socket chardev with the path in front.
    std::vector<std::pair<std::string_view, std::string_view>> socket_options {
        { "path", chardev.substr(5) }
    };
    socket_options.insert(socket_options.end(), options.begin(), options.end());
    return parse_socket_chardev(socket_options);
}

qapi::Result<QmpEndpoint> parse_socket_chardev(
    std::span<const std::pair<std::string_view, std::string_view>> options)
{
    QmpEndpoint endpoint;
    std::optional<std::string_view> path;
    std::optional<std::string_view> fd;
    bool server = false;
    for (const auto &[key, value] : options) {
        if (key == "nowait") {
            endpoint.wait = false;
        } else if (key == "path") {
            path = value;
        } else if (key == "fd") {
            fd = value;
        } else if (key == "server" || key == "wait") {
            std::optional<bool> on = parse_on_off(value);
            if (!on) {
                return qapi::Error::format(
                    "Parameter '{}' expects 'on' or 'off'", key);
            }
            (key == "server" ? server : endpoint.wait) = *on;
        } else {
            return qapi::Error::format("Invalid parameter '{}'", key);
        }
    }
    if (path && fd) {
        return qapi::Error(
            "None or one of 'path', 'fd' or 'host' option required.");
    }
    if (path) {
        endpoint.path = std::string(*path);
    } else {
        // QEMU reads a missing fd as an empty number.
        const std::string_view text = fd.value_or("");
        const char *end = text.data() + text.size();
        auto [ptr, ec] = std::from_chars(text.data(), end, endpoint.fd);
        if (text.empty() || ec != std::errc() || ptr != end || endpoint.fd < 0) {
            return qapi::Error::format("Unable to parse FD number {}", text);
        }
    }
    endpoint.kind = server ? QmpEndpoint::Kind::UnixServer
                           : QmpEndpoint::Kind::Socket;
    return endpoint;
}

namespace {

/// The address of a UNIX socket file.
qapi::Result<sockaddr_un> unix_address(const std::string &path)
{
    sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) {
        return qapi::Error::format("UNIX socket path '{}' is too long", path);
    }
    std::memcpy(addr.sun_path, path.data(), path.size());
    return addr;
}

// sockaddr_un is one of the sockaddr family the socket API takes by pointer
// to the common header; the cast is the API's contract.
const sockaddr *sockaddr_ptr(const sockaddr_un &addr)
{
    const void *p = &addr;
    return static_cast<const sockaddr *>(p);
}

/// Takes an inherited descriptor for the main loop: it must be a socket;
/// it becomes non-blocking and is not passed on to children.
qapi::Result<void> adopt_socket_fd(int fd)
{
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
        return qapi::Error::format("File descriptor '{}' is not a socket", fd);
    }
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
        ::fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        return qapi::Error::from_errno(errno, "Failed to set up the socket");
    }
    return {};
}

/// A connection out to a client listening at `path` (QEMU's socket
/// chardev without server=on).
qapi::Result<int> connect_unix(const std::string &path)
{
    const sockaddr_un addr = TRY(unix_address(path));
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return qapi::Error::from_errno(errno, "Failed to create socket");
    }
    if (::connect(fd, sockaddr_ptr(addr), sizeof(addr)) < 0) {
        const int connect_errno = errno;
        ::close(fd);
        return qapi::Error::from_errno(
            connect_errno, fmt::format("Failed to connect to '{}'", path));
    }
    if (auto r = adopt_socket_fd(fd); !r) {
        ::close(fd);
        return r.release_error();
    }
    return fd;
}

} // namespace

// ---- listening sockets ----------------------------------------------------

/// One UNIX socket in the listening state, and the file that names it.
class Monitor::Listener {
public:
    Listener(Monitor &monitor, const QmpEndpoint &endpoint)
        : m_monitor(monitor)
        , m_path(endpoint.path)
        , m_adopted_fd(endpoint.fd)
        , m_pretty(endpoint.pretty)
    {
    }

    ~Listener()
    {
        if (m_watch) {
            g_source_remove(m_watch);
        }
        if (m_fd >= 0) {
            ::close(m_fd);
        }
        // Only our own socket goes: another process may have replaced the
        // file since (it removed ours first).
        struct stat st;
        if (m_bound && ::lstat(m_path.c_str(), &st) == 0 &&
            st.st_dev == m_dev && st.st_ino == m_ino) {
            ::unlink(m_path.c_str());
        }
    }

    qapi::Result<void> open()
    {
        if (m_adopted_fd >= 0) {
            // fd=N,server=on: a socket the parent bound (libvirt does).
            TRY(adopt_socket_fd(m_adopted_fd));
            m_fd = m_adopted_fd;
            if (::listen(m_fd, SOMAXCONN) < 0) {
                return qapi::Error::from_errno(errno,
                                               "Failed to listen on socket");
            }
            return {};
        }
        const sockaddr_un addr = TRY(unix_address(m_path));
        TRY(remove_stale(addr));

        m_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (m_fd < 0) {
            return qapi::Error::from_errno(errno, "Failed to create socket");
        }
        // The umask makes the file owner-only from its creation; the chmod
        // covers file systems that ignore it.
        const mode_t old_mask = ::umask(0177);
        const int rc = ::bind(m_fd, sockaddr_ptr(addr), sizeof(addr));
        const int bind_errno = errno;
        ::umask(old_mask);
        if (rc < 0) {
            return qapi::Error::from_errno(
                bind_errno, fmt::format("Failed to bind socket to {}", m_path));
        }
        struct stat st;
        if (::lstat(m_path.c_str(), &st) == 0) {
            m_bound = true;
            m_dev = st.st_dev;
            m_ino = st.st_ino;
        }
        if (::chmod(m_path.c_str(), 0600) < 0) {
            return qapi::Error::from_errno(
                errno, fmt::format("Failed to restrict {} to its owner",
                                   m_path));
        }
        if (::listen(m_fd, SOMAXCONN) < 0) {
            return qapi::Error::from_errno(errno,
                                           "Failed to listen on socket");
        }
        return {};
    }

    /// Blocks until a client connects and adds it (wait=on).
    qapi::Result<void> accept_first()
    {
        pollfd pfd { .fd = m_fd, .events = POLLIN, .revents = 0 };
        while (true) {
            if (::poll(&pfd, 1, -1) < 0 && errno != EINTR) {
                return qapi::Error::from_errno(errno, "poll");
            }
            if (accept_pending() > 0) {
                return {};
            }
        }
    }

    void watch()
    {
        m_watch = g_unix_fd_add(m_fd, G_IO_IN, &Listener::on_readable, this);
    }

private:
    /// A socket file nobody listens on is left over from a process that
    /// did not clean up; QEMU replaces it.  A live one is not ours to take.
    qapi::Result<void> remove_stale(const sockaddr_un &addr)
    {
        struct stat st;
        if (::lstat(m_path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
            return {};
        }
        const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe < 0) {
            return qapi::Error::from_errno(errno, "Failed to create socket");
        }
        const bool live =
            ::connect(probe, sockaddr_ptr(addr), sizeof(addr)) == 0;
        const int connect_errno = errno;
        ::close(probe);
        if (live) {
            return qapi::Error::from_errno(
                EADDRINUSE, fmt::format("Failed to bind socket to {}", m_path));
        }
        if (connect_errno == ECONNREFUSED) {
            ::unlink(m_path.c_str());
        }
        return {};
    }

    /// Accepts every pending connection; returns how many.
    size_t accept_pending()
    {
        size_t accepted = 0;
        while (true) {
            const int fd = ::accept4(m_fd, nullptr, nullptr,
                                     SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                // EAGAIN: none left.  Anything else (ECONNABORTED, EMFILE)
                // concerns one connection; the listener goes on.
                if (errno == EINTR) {
                    continue;
                }
                return accepted;
            }
            m_monitor.add_client(fd, fd, true, m_pretty);
            accepted++;
        }
    }

    static gboolean on_readable(gint, GIOCondition, gpointer data)
    {
        static_cast<Listener *>(data)->accept_pending();
        return G_SOURCE_CONTINUE;
    }

    Monitor &m_monitor;
    std::string m_path;
    int m_adopted_fd { -1 };
    bool m_pretty { false };
    int m_fd { -1 };
    unsigned m_watch { 0 };
    bool m_bound { false };
    dev_t m_dev {};
    ino_t m_ino {};
};

// ---- clients ---------------------------------------------------------------

/// One QMP connection: a socket, or stdin and stdout.
class Monitor::Client {
public:
    Client(Monitor &monitor, int in_fd, int out_fd, bool is_socket, bool pretty)
        : m_monitor(monitor)
        , m_in_fd(in_fd)
        , m_out_fd(out_fd)
        , m_is_socket(is_socket)
        , m_pretty(pretty)
        , m_streamer(monitor.m_limits.json)
        , m_session(monitor.m_vm)
    {
    }

    ~Client() { close(); }

    bool closed() const { return m_closed; }
    bool command_mode() const { return m_session.command_mode(); }
    size_t pending() const { return m_out.size() - m_out_sent; }

    void greet() { send_message(m_session.greeting()); }

    /// Queues one message, in this client's layout: -mon pretty=on
    /// indents it and, as QEMU's monitor output does, ends each of its
    /// lines with CRLF.
    void send_message(const qapi::QObject &message)
    {
        if (!m_pretty) {
            send(qapi::to_json(message));
            return;
        }
        std::string text;
        for (char c : qapi::to_json(message, true)) {
            if (c == '\n') {
                text += '\r';
            }
            text += c;
        }
        send(text);
    }

    /// Queues one message and writes what the peer takes now.
    void send(std::string_view json)
    {
        if (m_closed) {
            return;
        }
        m_out.append(json);
        // qmp-spec.rst: every server message ends with CRLF.
        m_out.append("\r\n");
        flush_output();
        if (!m_closed && pending() > m_monitor.m_limits.max_output) {
            close();
        }
        update_watches();
    }

    /// Writes without blocking (a socket) or completely (stdout, which
    /// belongs to the whole process and stays in blocking mode).
    void flush_output()
    {
        while (!m_closed && pending() > 0) {
            const char *data = m_out.data() + m_out_sent;
            const ssize_t n =
                m_is_socket ? ::send(m_out_fd, data, pending(), MSG_NOSIGNAL)
                            : ::write(m_out_fd, data, pending());
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                if (errno != EAGAIN && errno != EWOULDBLOCK) {
                    close();
                }
                break;
            }
            m_out_sent += static_cast<size_t>(n);
        }
        if (m_out_sent == m_out.size()) {
            m_out.clear();
            m_out_sent = 0;
        } else if (m_out_sent > (size_t { 64 } << 10)) {
            m_out.erase(0, m_out_sent);
            m_out_sent = 0;
        }
    }

    /// Blocks up to `timeout_ms` for the peer to take more output.
    void wait_writable(int timeout_ms) const
    {
        pollfd pfd { .fd = m_out_fd, .events = POLLOUT, .revents = 0 };
        ::poll(&pfd, 1, timeout_ms);
    }

    /// Adds or removes the fd watches to match what the client needs now.
    void update_watches()
    {
        const bool want_read = !m_closed && !m_eof &&
                               !m_monitor.m_input_stopped &&
                               m_backlog.empty() && !output_full();
        const bool want_write = !m_closed && m_is_socket && pending() > 0;
        if (want_read && !m_read_watch) {
            m_read_watch = g_unix_fd_add(m_in_fd,
                                         GIOCondition(G_IO_IN | G_IO_HUP |
                                                      G_IO_ERR),
                                         &Client::on_readable, this);
        } else if (!want_read && m_read_watch) {
            g_source_remove(std::exchange(m_read_watch, 0));
        }
        if (want_write && !m_write_watch) {
            m_write_watch = g_unix_fd_add(
                m_out_fd, GIOCondition(G_IO_OUT | G_IO_HUP | G_IO_ERR),
                &Client::on_writable, this);
        } else if (!want_write && m_write_watch) {
            g_source_remove(std::exchange(m_write_watch, 0));
        }
    }

    void close()
    {
        if (m_closed) {
            return;
        }
        m_closed = true;
        update_watches();
        if (m_is_socket) {
            ::close(m_in_fd);
        }
        m_streamer.reset();
        m_backlog.clear();
        m_out.clear();
        m_out_sent = 0;
        m_monitor.schedule_reap();
    }

    /// Runs the requests read but not yet run, until the replies waiting
    /// for the peer reach the pause limit.
    void run_backlog()
    {
        if (m_closed || m_monitor.m_input_stopped) {
            m_backlog.clear();
            return;
        }
        const size_t used = m_streamer.feed(
            m_backlog, [this](qapi::Result<qapi::QObject> message) {
                if (m_closed || m_monitor.m_input_stopped) {
                    return false;
                }
                send_message(m_session.handle(std::move(message)));
                return !output_full();
            });
        if (m_closed || m_monitor.m_input_stopped) {
            m_backlog.clear();
        } else {
            m_backlog.erase(0, used);
        }
    }

private:
    /// A socket whose peer sent its last byte closes once its replies are
    /// out.
    void close_if_done()
    {
        if (m_is_socket && m_eof && m_backlog.empty() && pending() == 0) {
            close();
        }
    }

    bool output_full() const
    {
        return pending() >= m_monitor.m_limits.pause_output;
    }

    void read_input()
    {
        char buf[64 << 10];
        const ssize_t n = m_is_socket ? receive(buf, sizeof(buf))
                                      : ::read(m_in_fd, buf, sizeof(buf));
        if (n < 0) {
            if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
                close();
            }
            return;
        }
        if (n == 0) {
            // A peer that leaves mid-message takes the partial message with
            // it.  One that only shut down its sending side still gets the
            // replies on their way; standard input at its end leaves stdout
            // open for events, as QEMU's stdio monitor does.
            m_streamer.reset();
            m_eof = true;
            close_if_done();
            return;
        }
        m_backlog.append(buf, static_cast<size_t>(n));
        run_backlog();
    }

    /// recvmsg() on a socket: the bytes, and the descriptors that came
    /// with them (SCM_RIGHTS), which the next getfd can keep.
    ssize_t receive(char *buf, size_t size)
    {
        constexpr size_t MAX_FDS = 16;
        alignas(struct cmsghdr) char control[CMSG_SPACE(MAX_FDS * sizeof(int))];
        struct iovec iov = { buf, size };
        struct msghdr msg = {};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        const ssize_t n = ::recvmsg(m_in_fd, &msg, MSG_CMSG_CLOEXEC);
        if (n < 0) {
            return n;
        }
        std::vector<int> fds;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
                continue;
            }
            const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count; i++) {
                int fd;
                std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
                fds.push_back(fd);
            }
        }
        if (!fds.empty()) {
            m_session.fds().received(std::move(fds));
        }
        return n;
    }

    static gboolean on_readable(gint, GIOCondition, gpointer data)
    {
        auto *client = static_cast<Client *>(data);
        client->read_input();
        client->update_watches();
        return client->m_read_watch ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
    }

    static gboolean on_writable(gint, GIOCondition, gpointer data)
    {
        auto *client = static_cast<Client *>(data);
        client->flush_output();
        if (!client->output_full()) {
            client->run_backlog();
        }
        client->close_if_done();
        client->update_watches();
        return client->m_write_watch ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
    }

    Monitor &m_monitor;
    int m_in_fd;
    int m_out_fd;
    bool m_is_socket;
    bool m_pretty;
    JsonStreamer m_streamer;
    QmpSession m_session;
    /// Requests read and not yet run: at most one read's worth, kept while
    /// the peer is slow to take its replies.
    std::string m_backlog;
    std::string m_out;
    size_t m_out_sent { 0 };
    unsigned m_read_watch { 0 };
    unsigned m_write_watch { 0 };
    bool m_eof { false };
    bool m_closed { false };
};

// ---- the monitor -----------------------------------------------------------

Monitor::Monitor(VmControl &vm, MonitorLimits limits)
    : m_vm(vm)
    , m_limits(limits)
{
}

Monitor::~Monitor()
{
    m_clients.clear();
    m_listeners.clear();
    for (const auto &[fd, pretty] : m_connected) {
        ::close(fd);
    }
    if (m_reap_source) {
        g_source_remove(m_reap_source);
    }
}

qapi::Result<void> Monitor::add_endpoint(const QmpEndpoint &endpoint)
{
    switch (endpoint.kind) {
    case QmpEndpoint::Kind::Stdio:
        if (m_stdio) {
            return qapi::Error("stdio is already used by another -qmp");
        }
        m_stdio = true;
        m_stdio_pretty = endpoint.pretty;
        return {};
    case QmpEndpoint::Kind::Socket: {
        int fd = endpoint.fd;
        if (fd >= 0) {
            TRY(adopt_socket_fd(fd));
        } else {
            fd = TRY(connect_unix(endpoint.path));
        }
        m_connected.emplace_back(fd, endpoint.pretty);
        return {};
    }
    case QmpEndpoint::Kind::UnixServer:
        break;
    }
    auto listener = std::make_unique<Listener>(*this, endpoint);
    TRY(listener->open());
    if (endpoint.wait) {
        m_waiting.push_back(listener.get());
    }
    m_listeners.push_back(std::move(listener));
    return {};
}

qapi::Result<void> Monitor::start()
{
    m_started = true;
    for (Listener *listener : m_waiting) {
        TRY(listener->accept_first());
    }
    m_waiting.clear();
    for (const auto &[fd, pretty] : std::exchange(m_connected, {})) {
        add_client(fd, fd, true, pretty);
    }
    if (m_stdio) {
        add_client(STDIN_FILENO, STDOUT_FILENO, false, m_stdio_pretty);
    }
    for (auto &listener : m_listeners) {
        listener->watch();
    }
    return {};
}

void Monitor::add_client(int in_fd, int out_fd, bool is_socket, bool pretty)
{
    m_clients.push_back(
        std::make_unique<Client>(*this, in_fd, out_fd, is_socket, pretty));
    Client &client = *m_clients.back();
    client.greet();
    client.update_watches();
}

void Monitor::emit_event(const qapi::QapiEvent &event)
{
    trace_qmp_event(std::string(event.name).c_str());
    const qapi::QObject message = qmp_event_message(event);
    for (auto &client : m_clients) {
        // qmp-spec.rst: no events during capabilities negotiation.
        if (!client->closed() && client->command_mode()) {
            client->send_message(message);
        }
    }
}

void Monitor::stop_input()
{
    m_input_stopped = true;
    for (auto &client : m_clients) {
        client->update_watches();
    }
}

void Monitor::flush(std::chrono::milliseconds budget)
{
    const auto deadline = std::chrono::steady_clock::now() + budget;
    for (auto &client : m_clients) {
        client->flush_output();
        while (!client->closed() && client->pending() > 0) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                return;
            }
            client->wait_writable(static_cast<int>(left.count()));
            client->flush_output();
        }
    }
}

bool Monitor::uses_stdout() const
{
    return m_stdio;
}

size_t Monitor::client_count() const
{
    size_t n = 0;
    for (const auto &client : m_clients) {
        n += client->closed() ? 0 : 1;
    }
    return n;
}

void Monitor::schedule_reap()
{
    if (!m_reap_source) {
        m_reap_source = g_idle_add(
            [](gpointer data) -> gboolean {
                auto *monitor = static_cast<Monitor *>(data);
                monitor->m_reap_source = 0;
                monitor->reap();
                return G_SOURCE_REMOVE;
            },
            this);
    }
}

void Monitor::reap()
{
    std::erase_if(m_clients,
                  [](const std::unique_ptr<Client> &c) { return c->closed(); });
}

} // namespace monitor
