/*
 * End-to-end QMP tests: a real seoib-vm process and QMP clients over its
 * UNIX socket.
 *
 * Readiness without sleeping: every VM is started with a second monitor on
 * stdio, and the monitor greets stdio only after every socket listens
 * (monitor::Monitor::start()), so once the stdio greeting has been read the
 * socket accepts connections.
 *
 * The path of seoib-vm comes from the SEOIB_VM environment variable, which
 * meson sets.
 */
#pragma once

#include "qapi/qjson.h"
#include "qapi/qobject.h"

#include <sys/types.h>

#include <deque>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace qapi {

/// Failed expectations print JSON.
inline void PrintTo(const QObject &value, std::ostream *os)
{
    *os << to_json(value);
}

} // namespace qapi

namespace qmp_test {

/// The accelerator options that run without /dev/kvm.
inline constexpr std::string_view MODEL_ACCEL =
    "kvm,kernel=model,kernel-irqchip=split";
/// The real KVM (tests using it skip when /dev/kvm cannot be opened).
inline constexpr std::string_view HOST_ACCEL =
    "kvm,kernel=host,kernel-irqchip=split";

/// Whether /dev/kvm can be opened.
bool host_kvm_available();

/// Parses JSON that the test itself wrote; a typo fails the test.
qapi::QObject json(std::string_view text);

/// One QMP connection.  Reads block; a test that waits for a message the
/// server never sends is ended by meson's timeout.
class QmpClient {
public:
    /// Connects to `path` and reads the greeting.
    explicit QmpClient(const std::string &path);
    /// Takes `connected_fd`, a socket whose other end is a monitor (as
    /// QEMUMachine passes one as fd=N), and reads the greeting.
    static QmpClient on_socket(int connected_fd);
    QmpClient(QmpClient &&other) noexcept;
    QmpClient &operator=(QmpClient &&) = delete;
    QmpClient(const QmpClient &) = delete;
    ~QmpClient();

    const qapi::QObject &greeting() const { return m_greeting; }

    /// Sends bytes as they are.
    void send_raw(std::string_view bytes);
    /// Sends one message.
    void send(const qapi::QObject &message);
    /// Sends one message with `fd` in its ancillary data (SCM_RIGHTS), as
    /// a client passes a descriptor for getfd.
    void send_with_fd(const qapi::QObject &message, int fd);
    /// The next message from the server, events included; nullopt when
    /// the server closed the connection.
    std::optional<qapi::QObject> receive();
    /// The next message that is not an event; events read on the way are
    /// kept in events().  nullopt when the connection closed first.
    std::optional<qapi::QObject> receive_response();
    /// Sends a command and returns its response.
    qapi::QObject execute(std::string_view command,
                          std::optional<qapi::QObject> arguments = {});
    /// qmp_capabilities; the test fails unless it succeeds.
    void negotiate();
    /// Events received so far and not yet taken.
    std::deque<qapi::QObject> &events() { return m_events; }
    /// Shuts down the sending side only; replies still arrive.
    void shutdown_sending();
    /// Closes the connection.
    void close();

private:
    QmpClient() = default;
    void read_greeting();

    int m_fd { -1 };
    std::string m_buffer;
    qapi::QObject m_greeting;
    std::deque<qapi::QObject> m_events;
};

struct VmOptions {
    std::string accel { MODEL_ACCEL };
    bool start_stopped { true };
    /// More command-line arguments, after the defaults.
    std::vector<std::string> extra_args {};
};

/// A seoib-vm with "-qmp unix:DIR/qmp.sock,server=on,wait=off -qmp stdio",
/// ready for clients when the constructor returns.  The destructor kills
/// it if it still runs and removes its directory.
class VmProcess {
public:
    explicit VmProcess(VmOptions options = {});
    ~VmProcess();
    VmProcess(const VmProcess &) = delete;
    VmProcess &operator=(const VmProcess &) = delete;

    const std::string &socket_path() const { return m_socket; }
    /// A new client on the socket, greeting read.
    QmpClient connect() const;
    /// Sends `signum` to the process.
    void signal(int signum) const;
    /// Waits for the process to exit; returns its wait status.
    int wait();
    /// The stdio monitor's greeting.
    const qapi::QObject &stdio_greeting() const { return m_stdio_greeting; }

private:
    std::string m_dir;
    std::string m_socket;
    pid_t m_pid { -1 };
    int m_stdin { -1 };
    int m_stdout { -1 };
    qapi::QObject m_stdio_greeting;
};

/// What a seoib-vm run that ends by itself leaves behind.
struct ExitResult {
    int status { -1 };
    std::string stderr_text;
};

/// Runs seoib-vm with `args` and stdin closed, to its exit.
ExitResult run_vm_to_exit(const std::vector<std::string> &args);

/// A fresh directory under /tmp; the caller removes it.
std::string make_temp_dir();

} // namespace qmp_test
