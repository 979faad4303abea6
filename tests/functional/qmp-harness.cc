#include "tests/functional/qmp-harness.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <utility>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

namespace qmp_test {

namespace {

// Set-up failures throw: GoogleTest reports them as a failure of the test
// that hit them, and nothing after them runs on a half-built fixture.
[[noreturn]] void fail(const std::string &what)
{
    throw std::runtime_error(what);
}

[[noreturn]] void fail_errno(const std::string &what)
{
    fail(what + ": " + std::strerror(errno));
}

std::string vm_binary()
{
    const char *path = std::getenv("SEOIB_VM");
    if (!path || !*path) {
        fail("SEOIB_VM is not set (meson sets it to the seoib-vm binary)");
    }
    return path;
}

void write_all(int fd, std::string_view bytes)
{
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK) {
            const ssize_t w = ::write(fd, bytes.data(), bytes.size());
            if (w < 0) {
                fail_errno("write");
            }
            bytes.remove_prefix(static_cast<size_t>(w));
            continue;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            fail_errno("send");
        }
        bytes.remove_prefix(static_cast<size_t>(n));
    }
}

/// Reads one CRLF-terminated line from `fd` into `line`, keeping what
/// follows in `buffer`; false at end of file.
bool read_line(int fd, std::string &buffer, std::string &line)
{
    while (true) {
        const size_t eol = buffer.find('\n');
        if (eol != std::string::npos) {
            line = buffer.substr(0, eol);
            buffer.erase(0, eol + 1);
            if (!line.empty() && line.back() == '\r') {
                line.pop_back();
            }
            return true;
        }
        char chunk[64 << 10];
        const ssize_t n = ::read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == ECONNRESET) {
            return false;
        }
        if (n < 0) {
            fail_errno("read");
        }
        if (n == 0) {
            return false;
        }
        buffer.append(chunk, static_cast<size_t>(n));
    }
}

qapi::QObject parse_line(const std::string &line)
{
    auto value = qapi::from_json(line);
    if (!value) {
        fail("the server sent invalid JSON (" + value.error().message() +
             "): " + line);
    }
    return value.release_value();
}

pid_t spawn(const std::vector<std::string> &args, int stdin_fd, int stdout_fd,
            int stderr_fd)
{
    std::vector<char *> argv;
    for (const std::string &a : args) {
        argv.push_back(const_cast<char *>(a.c_str()));
    }
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
        fail_errno("fork");
    }
    if (pid == 0) {
        // Only async-signal-safe calls until exec.  The VM dies with the
        // test, even when the test crashes before its destructors run.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) {
            ::_exit(127);
        }
        ::dup2(stdin_fd, STDIN_FILENO);
        ::dup2(stdout_fd, STDOUT_FILENO);
        if (stderr_fd >= 0) {
            ::dup2(stderr_fd, STDERR_FILENO);
        }
        ::execve(argv[0], argv.data(), environ);
        ::_exit(127);
    }
    return pid;
}

struct Pipe {
    int read_end { -1 };
    int write_end { -1 };
};

Pipe make_pipe()
{
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) {
        fail_errno("pipe2");
    }
    return Pipe { fds[0], fds[1] };
}

} // namespace

bool host_kvm_available()
{
    const int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    ::close(fd);
    return true;
}

qapi::QObject json(std::string_view text)
{
    auto value = qapi::from_json(text);
    if (!value) {
        fail("bad JSON in the test: " + value.error().message());
    }
    return value.release_value();
}

std::string make_temp_dir()
{
    std::string dir = "/tmp/seoib-qmp-XXXXXX";
    if (!::mkdtemp(dir.data())) {
        fail_errno("mkdtemp");
    }
    return dir;
}

// ---- QmpClient --------------------------------------------------------------

QmpClient::QmpClient(const std::string &path)
{
    m_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (m_fd < 0) {
        fail_errno("socket");
    }
    sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) {
        fail("socket path too long: " + path);
    }
    std::memcpy(addr.sun_path, path.data(), path.size());
    const void *p = &addr;
    if (::connect(m_fd, static_cast<const sockaddr *>(p), sizeof(addr)) < 0) {
        fail_errno("connect " + path);
    }
    read_greeting();
}

QmpClient QmpClient::on_socket(int connected_fd)
{
    QmpClient client;
    client.m_fd = connected_fd;
    client.read_greeting();
    return client;
}

void QmpClient::read_greeting()
{
    std::optional<qapi::QObject> greeting = receive();
    if (!greeting) {
        fail("the server closed the connection before its greeting");
    }
    m_greeting = std::move(*greeting);
}

QmpClient::QmpClient(QmpClient &&other) noexcept
    : m_fd(std::exchange(other.m_fd, -1))
    , m_buffer(std::move(other.m_buffer))
    , m_greeting(std::move(other.m_greeting))
    , m_events(std::move(other.m_events))
{
}

QmpClient::~QmpClient()
{
    close();
}

void QmpClient::close()
{
    if (m_fd >= 0) {
        ::close(std::exchange(m_fd, -1));
    }
}

void QmpClient::shutdown_sending()
{
    if (::shutdown(m_fd, SHUT_WR) < 0) {
        fail_errno("shutdown");
    }
}

void QmpClient::send_raw(std::string_view bytes)
{
    write_all(m_fd, bytes);
}

void QmpClient::send(const qapi::QObject &message)
{
    send_raw(qapi::to_json(message) + "\n");
}

void QmpClient::send_with_fd(const qapi::QObject &message, int fd)
{
    std::string bytes = qapi::to_json(message) + "\n";
    struct iovec iov = { bytes.data(), bytes.size() };
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(fd));
    // One message fits a socket's buffer; a short send would split the
    // descriptor from the rest of the request.
    if (::sendmsg(m_fd, &msg, 0) != static_cast<ssize_t>(bytes.size())) {
        fail(std::string("sendmsg: ") + std::strerror(errno));
    }
}

std::optional<qapi::QObject> QmpClient::receive()
{
    std::string line;
    if (!read_line(m_fd, m_buffer, line)) {
        return std::nullopt;
    }
    return parse_line(line);
}

std::optional<qapi::QObject> QmpClient::receive_response()
{
    while (true) {
        std::optional<qapi::QObject> message = receive();
        if (!message || !message->get("event")) {
            return message;
        }
        m_events.push_back(std::move(*message));
    }
}

qapi::QObject QmpClient::execute(std::string_view command,
                                 std::optional<qapi::QObject> arguments)
{
    qapi::QObject request = qapi::QObject::dict();
    request.set("execute", qapi::QObject(command));
    if (arguments) {
        request.set("arguments", std::move(*arguments));
    }
    send(request);
    std::optional<qapi::QObject> response = receive_response();
    if (!response) {
        fail("the server closed the connection instead of answering " +
             std::string(command));
    }
    return std::move(*response);
}

void QmpClient::negotiate()
{
    const qapi::QObject response = execute("qmp_capabilities");
    if (!(response == json(R"({"return": {}})"))) {
        fail("qmp_capabilities failed: " + qapi::to_json(response));
    }
}

// ---- VmProcess --------------------------------------------------------------

VmProcess::VmProcess(VmOptions options)
    : m_dir(make_temp_dir())
    , m_socket(m_dir + "/qmp.sock")
{
    std::vector<std::string> args = { vm_binary(), "-M", "q35", "-accel",
                                      options.accel };
    if (options.start_stopped) {
        args.push_back("-S");
    }
    args.insert(args.end(),
                { "-qmp", "unix:" + m_socket + ",server=on,wait=off", "-qmp",
                  "stdio" });
    args.insert(args.end(), options.extra_args.begin(),
                options.extra_args.end());

    Pipe in = make_pipe();
    Pipe out = make_pipe();
    m_pid = spawn(args, in.read_end, out.write_end, -1);
    ::close(in.read_end);
    ::close(out.write_end);
    m_stdin = in.write_end;
    m_stdout = out.read_end;

    std::string buffer;
    std::string line;
    if (!read_line(m_stdout, buffer, line)) {
        fail("seoib-vm exited before greeting its stdio monitor");
    }
    m_stdio_greeting = parse_line(line);
}

VmProcess::~VmProcess()
{
    if (m_pid > 0) {
        ::kill(m_pid, SIGKILL);
        int status = 0;
        ::waitpid(m_pid, &status, 0);
    }
    if (m_stdin >= 0) {
        ::close(m_stdin);
    }
    if (m_stdout >= 0) {
        ::close(m_stdout);
    }
    ::unlink(m_socket.c_str());
    ::rmdir(m_dir.c_str());
}

QmpClient VmProcess::connect() const
{
    return QmpClient(m_socket);
}

void VmProcess::signal(int signum) const
{
    if (::kill(m_pid, signum) < 0) {
        fail_errno("kill");
    }
}

int VmProcess::wait()
{
    int status = 0;
    while (::waitpid(m_pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fail_errno("waitpid");
        }
    }
    m_pid = -1;
    return status;
}

ExitResult run_vm_to_exit(const std::vector<std::string> &args)
{
    std::vector<std::string> argv = { vm_binary() };
    argv.insert(argv.end(), args.begin(), args.end());
    const int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0) {
        fail_errno("open /dev/null");
    }
    Pipe err = make_pipe();
    const pid_t pid = spawn(argv, devnull, devnull, err.write_end);
    ::close(devnull);
    ::close(err.write_end);

    ExitResult result;
    char chunk[4096];
    ssize_t n;
    while ((n = ::read(err.read_end, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            fail_errno("read stderr");
        }
        result.stderr_text.append(chunk, static_cast<size_t>(n));
    }
    ::close(err.read_end);
    while (::waitpid(pid, &result.status, 0) < 0) {
        if (errno != EINTR) {
            fail_errno("waitpid");
        }
    }
    return result;
}

} // namespace qmp_test
