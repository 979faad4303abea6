/*
 * The QMP server: -qmp endpoints, their clients, and events, on GLib's
 * main loop (QEMU's monitor/qmp.c over a socket or stdio chardev).
 *
 * Each client has its own JsonStreamer and QmpSession.  Requests run one
 * after the other on the main loop, so commands never race with each other
 * or with the run state; replies go out in request order.  A client that
 * does not read its replies has no further request run, nor read, until it
 * catches up, and one that lets events pile up beyond a hard limit is
 * disconnected, so no client can make the monitor hold unbounded memory.
 *
 * Sockets are created owner-only (0600), a stale socket file (nobody
 * listening) is replaced, and the file is removed when the Monitor goes
 * away, unless another process has replaced it in the meantime.
 */
#pragma once

#include "monitor/json-streamer.h"
#include "monitor/vm-control.h"
#include "qapi/qapi-types.h"
#include "qapi/result.h"

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace monitor {

/// Where a QMP monitor talks: the chardev backends seoib has for one.
struct QmpEndpoint {
    enum class Kind {
        Stdio,
        /// A UNIX socket seoib-vm listens on (server=on).
        UnixServer,
        /// One connected socket: an inherited descriptor (fd=N) or a
        /// connection out to a listening client (path= without server=on),
        /// as QEMU's QEMUMachine uses.
        Socket,
    };

    Kind kind { Kind::Stdio };
    /// The socket's path (UnixServer; Socket when fd is -1).
    std::string path;
    /// The inherited connected socket (Socket).
    int fd { -1 };
    /// wait=on (QEMU's default for a server): start() blocks until the
    /// first client connects.
    bool wait { true };
    /// -mon pretty=on: replies and events indented, as QEMU prints them.
    bool pretty { false };
};

/// A -qmp argument after QemuOpts splitting (QEMU's qemu_chr_parse_compat):
/// `chardev` is the leading value ("unix:/run/vm.sock", "stdio"), `options`
/// the key=value pairs after it; "nowait" is accepted for wait=off.  Errors
/// are one line: an unsupported backend ("chardev backend 'tcp' is not
/// supported ..."), a missing path, a value that is not on/off, an unknown
/// key ("Invalid parameter 'x'").
qapi::Result<QmpEndpoint> parse_qmp_endpoint(
    std::string_view chardev,
    std::span<const std::pair<std::string_view, std::string_view>> options);

/// The options of "-chardev socket" (path, fd, server, wait, nowait), in
/// QEMU 7.2's checks and texts: exactly one of path and fd ("None or one of
/// 'path', 'fd' or 'host' option required."), a number for fd ("Unable to
/// parse FD number X"), on/off values.  An fd is checked when the monitor
/// opens it.
qapi::Result<QmpEndpoint> parse_socket_chardev(
    std::span<const std::pair<std::string_view, std::string_view>> options);

struct MonitorLimits {
    /// Per message; see JsonStreamLimits.
    JsonStreamLimits json {};
    /// Unread output from which a client's requests wait, unread and not
    /// run, until it takes its replies.
    size_t pause_output { size_t { 1 } << 20 };
    /// Unread output that disconnects the client; only events sent to a
    /// client that never reads get there.
    size_t max_output { size_t { 64 } << 20 };
};

class Monitor {
public:
    explicit Monitor(VmControl &vm, MonitorLimits limits = {});
    /// Disconnects every client and removes the socket files.
    ~Monitor();
    Monitor(const Monitor &) = delete;
    Monitor &operator=(const Monitor &) = delete;

    /// Opens `endpoint` now: a UNIX socket is bound and listening, or
    /// connected, when this returns; an inherited descriptor is the
    /// Monitor's from then on.  Errors: "UNIX socket path 'P' is too long",
    /// "Failed to bind socket to P: <strerror>" (also when a live server
    /// holds the path), "Failed to connect to 'P': <strerror>", "File
    /// descriptor 'N' is not a socket", "stdio is already used by another
    /// -qmp".
    qapi::Result<void> add_endpoint(const QmpEndpoint &endpoint);

    /// Starts serving on GLib's default main context: waits for the first
    /// client of each wait=on socket, in order, then greets the stdio
    /// client.  Every socket listens before any client is greeted, so a
    /// client that has read its greeting may connect to every other socket
    /// at once.
    qapi::Result<void> start();

    /// QEMU's monitor_qapi_event_emit(): sends `event`, with a timestamp,
    /// to every client in command mode.
    void emit_event(const qapi::QapiEvent &event);

    /// Stops running requests: input received after this, or not yet run,
    /// is dropped.  For quit and signals, before the exit.
    void stop_input();

    /// Writes what is queued to every client, waiting at most `budget` in
    /// all for clients that read slowly.  Before the exit.
    void flush(std::chrono::milliseconds budget);

    /// Whether a -qmp stdio monitor owns standard output.
    bool uses_stdout() const;
    /// Clients connected now (the stdio client counts while it is open).
    size_t client_count() const;

private:
    class Listener;
    class Client;
    friend class Listener;
    friend class Client;

    void add_client(int in_fd, int out_fd, bool is_socket, bool pretty);
    /// Drops a client after the callback that closed it has returned.
    void schedule_reap();
    void reap();

    VmControl &m_vm;
    MonitorLimits m_limits;
    std::vector<std::unique_ptr<Listener>> m_listeners;
    /// wait=on listeners, in order, until start() has their first client.
    std::vector<Listener *> m_waiting;
    std::vector<std::unique_ptr<Client>> m_clients;
    bool m_stdio { false };
    bool m_stdio_pretty { false };
    /// Connected sockets (QmpEndpoint::Kind::Socket) until start() makes
    /// them clients: descriptor and pretty.
    std::vector<std::pair<int, bool>> m_connected;
    bool m_started { false };
    bool m_input_stopped { false };
    unsigned m_reap_source { 0 };
};

} // namespace monitor
