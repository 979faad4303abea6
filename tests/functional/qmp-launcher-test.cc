/*
 * seoib-vm started as QEMU's own launchers start QEMU, with no wrapper:
 *
 * - QEMU's QEMUMachine (python/qemu/machine): "-display none -vga none
 *   -chardev socket,id=mon,fd=3 -mon chardev=mon,mode=control", the other
 *   end of a socket pair in the launcher's hands; older QEMUMachines listen
 *   on a socket and pass "path=" for seoib-vm to connect to.
 * - libvirt's domains: a socket libvirt bound and listens on, passed as
 *   "-chardev socket,id=charmonitor,fd=N,server=on,wait=off".
 * - libvirt's capability probe: "-S -no-user-config -nodefaults -nographic
 *   -machine ...,accel=kvm:tcg -qmp unix:PATH,server=on,wait=off -pidfile
 *   PATH -daemonize"; the launcher's process must exit only once the daemon
 *   serves, or with the daemon's error.
 *
 * seoib-vm has no "-machine none" yet; the probe runs with q35.
 */
#include "qmp-harness.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <csignal>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using qmp_test::json;
using qmp_test::QmpClient;

const qapi::QObject RETURN_EMPTY = json(R"({"return": {}})");

std::string vm_binary()
{
    const char *path = std::getenv("SEOIB_VM");
    return path ? path : "";
}

/// Starts seoib-vm with `args` and `fd3` as its descriptor 3 (QEMUMachine's
/// way of handing over the monitor); stdin and stdout are /dev/null.
pid_t spawn_with_fd3(const std::vector<std::string> &args, int fd3)
{
    std::vector<std::string> argv = { vm_binary() };
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char *> cargv;
    for (std::string &a : argv) {
        cargv.push_back(a.data());
    }
    cargv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int null = ::open("/dev/null", O_RDWR);
        ::dup2(null, STDIN_FILENO);
        ::dup2(null, STDOUT_FILENO);
        if (fd3 == 3) {
            // dup2 onto itself would keep close-on-exec.
            ::fcntl(3, F_SETFD, 0);
        } else if (fd3 >= 0) {
            ::dup2(fd3, 3);
        }
        ::execv(cargv[0], cargv.data());
        ::_exit(127);
    }
    return pid;
}

int wait_exit(pid_t pid)
{
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return status;
}

bool exited_with(int status, int code)
{
    return WIFEXITED(status) && WEXITSTATUS(status) == code;
}

const std::vector<std::string> QEMU_MACHINE_ARGS = {
    "-display", "none", "-vga", "none", "-M", "q35", "-accel",
    std::string(qmp_test::MODEL_ACCEL), "-S",
};

/// The run states a launcher walks a VM through, and its exit on quit.
void drive_to_quit(QmpClient &client, pid_t pid)
{
    const qapi::QObject *qmp = client.greeting().get("QMP");
    ASSERT_NE(qmp, nullptr) << qapi::to_json(client.greeting());
    ASSERT_NE(qmp->get("version"), nullptr);
    client.negotiate();
    EXPECT_EQ(client.execute("query-status"),
              json(R"({"return": {"running": false, "status": "prelaunch"}})"));
    EXPECT_EQ(client.execute("cont"), RETURN_EMPTY);
    EXPECT_EQ(client.execute("query-status"),
              json(R"({"return": {"running": true, "status": "running"}})"));
    EXPECT_EQ(client.execute("quit"), RETURN_EMPTY);
    bool shutdown_seen = false;
    while (std::optional<qapi::QObject> message = client.receive()) {
        const qapi::QObject *event = message->get("event");
        shutdown_seen |= event != nullptr && *event == qapi::QObject("SHUTDOWN");
    }
    EXPECT_TRUE(shutdown_seen);
    EXPECT_TRUE(exited_with(wait_exit(pid), 0));
}

TEST(QemuMachineLaunch, MonitorOnInheritedFd3)
{
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    std::vector<std::string> args = QEMU_MACHINE_ARGS;
    for (const char *a : { "-chardev", "socket,id=mon,fd=3", "-mon",
                           "chardev=mon,mode=control" }) {
        args.emplace_back(a);
    }
    const pid_t pid = spawn_with_fd3(args, pair[1]);
    ::close(pair[1]);
    QmpClient client = QmpClient::on_socket(pair[0]);
    drive_to_quit(client, pid);
}

/// Reads raw bytes from `fd` until they end with `end` (or EOF).
std::string read_until(int fd, std::string_view end)
{
    std::string text;
    char c;
    while (!text.ends_with(end) && ::read(fd, &c, 1) == 1) {
        text += c;
    }
    return text;
}

// -mon pretty=on, byte for byte as QEMU 7.2 prints it: four-space indents,
// an empty object broken over two lines, CRLF after every line.
TEST(QemuMachineLaunch, PrettyMonitorIsQemusLayout)
{
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    std::vector<std::string> args = QEMU_MACHINE_ARGS;
    for (const char *a : { "-chardev", "socket,id=mon,fd=3", "-mon",
                           "chardev=mon,mode=control,pretty=on" }) {
        args.emplace_back(a);
    }
    const pid_t pid = spawn_with_fd3(args, pair[1]);
    ::close(pair[1]);
    const std::string greeting = read_until(pair[0], "\r\n}\r\n");
    EXPECT_TRUE(greeting.starts_with("{\r\n    \"QMP\": {\r\n        \"version\": {"))
        << greeting;
    const std::string_view request = "{\"execute\": \"qmp_capabilities\"}\n";
    ASSERT_EQ(::write(pair[0], request.data(), request.size()),
              ssize_t(request.size()));
    EXPECT_EQ(read_until(pair[0], "\r\n}\r\n"),
              "{\r\n    \"return\": {\r\n    }\r\n}\r\n");
    ::kill(pid, SIGTERM);
    EXPECT_TRUE(exited_with(wait_exit(pid), 0));
    ::close(pair[0]);
}

// An older QEMUMachine listens itself and passes the path: seoib-vm
// connects out (a socket chardev without server=on).
TEST(QemuMachineLaunch, MonitorConnectsToTheLaunchersSocket)
{
    const std::string dir = qmp_test::make_temp_dir();
    const std::string path = dir + "/launcher.sock";
    const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(listener, 0);
    sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    const void *p = &addr;
    ASSERT_EQ(::bind(listener, static_cast<const sockaddr *>(p), sizeof(addr)), 0);
    ASSERT_EQ(::listen(listener, 1), 0);

    std::vector<std::string> args = QEMU_MACHINE_ARGS;
    args.emplace_back("-chardev");
    args.push_back("socket,id=mon,path=" + path);
    args.emplace_back("-mon");
    args.emplace_back("chardev=mon,mode=control");
    const pid_t pid = spawn_with_fd3(args, -1);
    const int connection = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    ASSERT_GE(connection, 0);
    QmpClient client = QmpClient::on_socket(connection);
    drive_to_quit(client, pid);
    ::close(listener);
    ::unlink(path.c_str());
    ::rmdir(dir.c_str());
}

// libvirt binds and listens itself and passes the listening socket:
// "-chardev socket,id=charmonitor,fd=N,server=on,wait=off".
TEST(LibvirtLaunch, MonitorOnAnInheritedListeningSocket)
{
    const std::string dir = qmp_test::make_temp_dir();
    const std::string path = dir + "/monitor.sock";
    const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(listener, 0);
    sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    const void *p = &addr;
    ASSERT_EQ(::bind(listener, static_cast<const sockaddr *>(p), sizeof(addr)), 0);
    ASSERT_EQ(::listen(listener, 1), 0);

    std::vector<std::string> args = QEMU_MACHINE_ARGS;
    for (const char *a : { "-chardev", "socket,id=charmonitor,fd=3,server=on,wait=off",
                           "-mon", "chardev=charmonitor,mode=control" }) {
        args.emplace_back(a);
    }
    const pid_t pid = spawn_with_fd3(args, listener);
    ::close(listener);
    // The connection is queued on the socket until seoib-vm accepts it.
    QmpClient client(path);
    drive_to_quit(client, pid);
    // The file is the launcher's: seoib-vm did not bind it, so it stays.
    struct stat st;
    EXPECT_EQ(::stat(path.c_str(), &st), 0);
    ::unlink(path.c_str());
    ::rmdir(dir.c_str());
}

/// libvirt's probe line.  kvm is /dev/kvm where it opens and the kernel
/// model elsewhere, so this runs on any machine.
std::vector<std::string> libvirt_probe(const std::string &socket,
                                       const std::string &pidfile)
{
    return { "-S", "-no-user-config", "-nodefaults", "-nographic",
             "-machine", "q35,accel=kvm:tcg,kernel-irqchip=split",
             "-qmp", "unix:" + socket + ",server=on,wait=off",
             "-pidfile", pidfile, "-daemonize" };
}

pid_t read_pid(const std::string &path)
{
    std::ifstream in(path);
    pid_t pid = -1;
    in >> pid;
    return in ? pid : -1;
}

bool process_alive(pid_t pid)
{
    return ::kill(pid, 0) == 0;
}

TEST(LibvirtProbeLaunch, DaemonServesOnceTheLauncherHasExited)
{
    const std::string dir = qmp_test::make_temp_dir();
    const std::string socket = dir + "/qmp.monitor";
    const std::string pidfile = dir + "/qmp.pid";

    const qmp_test::ExitResult launch =
        qmp_test::run_vm_to_exit(libvirt_probe(socket, pidfile));
    ASSERT_TRUE(exited_with(launch.status, 0)) << launch.stderr_text;
    // Ready means ready: the pid file and the socket exist when the
    // launcher is gone, with no waiting.
    const pid_t daemon = read_pid(pidfile);
    ASSERT_GT(daemon, 0) << "no pid in " << pidfile;
    EXPECT_TRUE(process_alive(daemon));
    EXPECT_NE(daemon, ::getpid());

    {
        QmpClient client(socket);
        client.negotiate();
        EXPECT_EQ(client.execute("query-status"),
                  json(R"({"return": {"running": false, "status": "prelaunch"}})"));
        EXPECT_EQ(client.execute("quit"), RETURN_EMPTY);
        while (client.receive()) {
        }
    }
    // The daemon is not our child: wait for it to go by its pid.
    for (int i = 0; i < 400 && process_alive(daemon); i++) {
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    EXPECT_FALSE(process_alive(daemon));
    struct stat st;
    EXPECT_NE(::stat(pidfile.c_str(), &st), 0) << "pid file left behind";
    EXPECT_NE(::stat(socket.c_str(), &st), 0) << "socket left behind";
    ::rmdir(dir.c_str());
}

TEST(LibvirtProbeLaunch, LauncherFailsWithTheDaemonsError)
{
    const std::string dir = qmp_test::make_temp_dir();
    const std::string pidfile = dir + "/qmp.pid";
    const qmp_test::ExitResult launch = qmp_test::run_vm_to_exit(
        libvirt_probe("/nonexistent/dir/qmp.monitor", pidfile));
    EXPECT_TRUE(exited_with(launch.status, 1));
    EXPECT_EQ(launch.stderr_text,
              "seoib-vm: -qmp unix:/nonexistent/dir/qmp.monitor,server=on,"
              "wait=off: Failed to bind socket to /nonexistent/dir/qmp.monitor: "
              "No such file or directory\n");
    struct stat st;
    EXPECT_NE(::stat(pidfile.c_str(), &st), 0) << "pid file left behind";
    ::rmdir(dir.c_str());
}

} // namespace
