/*
 * The QMP monitor of a real seoib-vm, end to end: the protocol and its
 * errors, several clients, the run state, the socket file, and -qmp
 * errors on the command line.  Expected texts are QEMU 7.2's.
 */
#include "tests/functional/qmp-harness.h"

#include <gtest/gtest.h>

#include <deque>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include <csignal>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using qapi::QObject;
using qmp_test::json;
using qmp_test::QmpClient;
using qmp_test::VmProcess;

const QObject RETURN_EMPTY = json(R"({"return": {}})");
const QObject PRELAUNCH =
    json(R"({"return": {"running": false, "status": "prelaunch"}})");

QObject error_of(std::string_view cls, std::string_view desc)
{
    QObject error = QObject::dict();
    error.set("class", QObject(cls));
    error.set("desc", QObject(desc));
    QObject response = QObject::dict();
    response.set("error", std::move(error));
    return response;
}

/// The event's name; "" for a message that is not an event.
std::string event_name(const std::optional<QObject> &message)
{
    const QObject *name = message ? message->get("event") : nullptr;
    return name && name->as_string() ? *name->as_string() : "";
}

std::vector<std::string> event_names(const std::deque<QObject> &events)
{
    std::vector<std::string> names;
    for (const QObject &e : events) {
        names.push_back(event_name(e));
    }
    return names;
}

bool exited_with(int status, int code)
{
    return WIFEXITED(status) && WEXITSTATUS(status) == code;
}

// ---- greeting and negotiation -----------------------------------------------

TEST(QmpProtocol, GreetingHasQemusShapeAndNoCapabilities)
{
    VmProcess vm;

    QmpClient client = vm.connect();

    EXPECT_EQ(client.greeting(),
              json(R"({"QMP": {"version": {"qemu": {"major": 11, "minor": 0,
                       "micro": 0}, "package": "seoib 0.1.0"},
                       "capabilities": []}})"));
}

TEST(QmpProtocol, StdioMonitorGreetsAsTheSocketDoes)
{
    VmProcess vm;

    QmpClient client = vm.connect();

    EXPECT_EQ(vm.stdio_greeting(), client.greeting());
}

// -name and -uuid reach query-name and query-uuid as QEMU 7.2 reports
// them (the UUID in lower case); without them, {} and all zeros (the
// examples in the schema).
TEST(QmpProtocol, NameAndUuidFromTheCommandLine)
{
    VmProcess vm({ .extra_args = { "-name", "guest=web-1,process=seoib-web",
                                   "-uuid",
                                   "12345678-ABCD-1234-1234-123456789ABC" } });
    QmpClient client = vm.connect();
    client.negotiate();

    EXPECT_EQ(client.execute("query-name"), json(R"({"return": {"name": "web-1"}})"));
    EXPECT_EQ(client.execute("query-uuid"),
              json(R"({"return": {"UUID": "12345678-abcd-1234-1234-123456789abc"}})"));
    EXPECT_EQ(client.execute("query-target"), json(R"({"return": {"arch": "x86_64"}})"));
}

TEST(QmpProtocol, CommandBeforeNegotiationIsCommandNotFound)
{
    VmProcess vm;
    QmpClient client = vm.connect();

    const QObject response = client.execute("query-status");

    EXPECT_EQ(response,
              error_of("CommandNotFound", "Expecting capabilities negotiation "
                                          "with 'qmp_capabilities'"));
}

TEST(QmpProtocol, IdIsEchoedWithTheResponse)
{
    VmProcess vm;
    QmpClient client = vm.connect();
    client.negotiate();

    client.send(
        json(R"({"execute": "query-status", "id": ["any", {"v": 1}]})"));

    EXPECT_EQ(client.receive_response(),
              json(R"({"return": {"running": false, "status": "prelaunch"},
                       "id": ["any", {"v": 1}]})"));
}

// ---- errors -----------------------------------------------------------------

struct ErrorCase {
    const char *input;
    const char *error_class;
    const char *desc;
};

class QmpErrors : public testing::TestWithParam<ErrorCase> {};

TEST_P(QmpErrors, BadInputGetsQemusErrorAndTheConnectionGoesOn)
{
    VmProcess vm;
    QmpClient client = vm.connect();
    client.negotiate();

    client.send_raw(std::string(GetParam().input) + "\n");
    const auto response = client.receive_response();
    const QObject status = client.execute("query-status");

    EXPECT_EQ(response, error_of(GetParam().error_class, GetParam().desc))
        << GetParam().input;
    EXPECT_EQ(status, PRELAUNCH);
}

const ErrorCase ERROR_CASES[] = {
    { R"({"execute": "nosuch"})", "CommandNotFound",
      "The command nosuch has not been found" },
    { R"({"execute": "qom-get", "arguments": {"path": "/machine"}})",
      "GenericError", "Parameter 'property' is missing" },
    { R"({"execute": "qom-get", "arguments": {"path": 1, "property": "x"}})",
      "GenericError", "Invalid parameter type for 'path', expected: string" },
    { R"({"execute": "query-status", "arguments": {"x": 1}})", "GenericError",
      "Parameter 'x' is unexpected" },
    { R"({"execute": foo})", "GenericError",
      "JSON parse error, invalid keyword 'foo'" },
    { R"({"execute" "stop"})", "GenericError",
      "JSON parse error, missing : in object pair" },
    // QEMU then skips to the next bracket or control character: here the
    // newline, so that this input costs one error.
    { R"({"execute": "stop", @)", "GenericError",
      "JSON parse error, stray '@'" },
    { "[1]", "GenericError", "QMP input must be a JSON object" },
    { R"({"arguments": {}})", "GenericError",
      "QMP input lacks member 'execute'" },
    { R"({"execute": 1})", "GenericError",
      "QMP input member 'execute' must be a string" },
    { R"({"execute": "stop", "arguments": []})", "GenericError",
      "QMP input member 'arguments' must be an object" },
    { R"({"execute": "stop", "foo": 1})", "GenericError",
      "QMP input member 'foo' is unexpected" },
    { R"({"execute": "qom-get",
          "arguments": {"path": "/machine/nope", "property": "x"}})",
      "DeviceNotFound", "Device '/machine/nope' not found" },
    { R"({"execute": "qom-get",
          "arguments": {"path": "/machine/q35/ioapic", "property": "nope"}})",
      "GenericError", "Property 'ioapic.nope' not found" },
    { R"({"execute": "qom-set", "arguments": {"path": "/machine/q35/ioapic",
          "property": "version", "value": 17}})",
      "GenericError",
      "Attempt to set property 'version' on anonymous device (type 'ioapic') "
      "after it was realized" },
    { R"({"execute": "qom-set", "arguments": {"path": "/machine/accel",
          "property": "seoib-policy", "value": "quirked"}})",
      "GenericError",
      "Cannot set properties after the accelerator has been initialized" },
    { R"({"execute": "qom-list-properties", "arguments": {"typename": "x"}})",
      "DeviceNotFound", "Class 'x' not found" },
    { R"({"execute": "device-list-properties", "arguments": {"typename": "x"}})",
      "DeviceNotFound", "Device 'x' not found" },
    { R"({"execute": "device-list-properties",
          "arguments": {"typename": "kvm-accel"}})",
      "GenericError", "Parameter 'typename' expects a non-abstract device type" },
    { R"({"execute": "device-list-properties",
          "arguments": {"typename": "device"}})",
      "GenericError", "Parameter 'typename' expects a non-abstract device type" },
};

INSTANTIATE_TEST_SUITE_P(Qemu, QmpErrors, testing::ValuesIn(ERROR_CASES));

TEST(QmpProtocol, OversizedMessageGetsAnErrorAndTheConnectionGoesOn)
{
    VmProcess vm;
    QmpClient client = vm.connect();
    client.negotiate();
    // Over the monitor's 1 MiB message limit.
    const std::string huge(size_t { 2 } << 20, 'x');

    client.send_raw(R"({"execute": "qom-get", "arguments": {"path": ")" +
                    huge + R"(", "property": "x"}})" + "\n");
    const auto response = client.receive_response();
    const QObject status = client.execute("query-status");

    EXPECT_EQ(response,
              error_of("GenericError", "JSON token size limit exceeded"));
    EXPECT_EQ(status, PRELAUNCH);
}

TEST(QmpProtocol, TooDeepMessageGetsAnErrorAndTheConnectionGoesOn)
{
    VmProcess vm;
    QmpClient client = vm.connect();
    client.negotiate();

    client.send_raw(std::string(5000, '[') + std::string(5000, ']') + "\n");
    const auto response = client.receive_response();
    const QObject status = client.execute("query-status");

    EXPECT_EQ(response,
              error_of("GenericError", "JSON nesting depth limit exceeded"));
    EXPECT_EQ(status, PRELAUNCH);
}

TEST(QmpProtocol, ControlCharacterResetsAnUnfinishedMessage)
{
    VmProcess vm;
    QmpClient client = vm.connect();
    client.negotiate();
    client.send_raw(R"({"execute": "query-status", "arguments": {)" "\n");

    client.send_raw("\x01");
    const auto reset = client.receive_response();
    const QObject status = client.execute("query-status");

    EXPECT_EQ(reset,
              error_of("GenericError", "JSON parse error, stray '\x01'"));
    EXPECT_EQ(status, PRELAUNCH);
}

TEST(QmpProtocol, ClientLeavingMidMessageHarmsNoOne)
{
    VmProcess vm;
    QmpClient stays = vm.connect();
    stays.negotiate();
    QmpClient leaves = vm.connect();
    leaves.negotiate();

    leaves.send_raw(R"({"execute": "qom-get", "arguments": {"path": "/mach)");
    leaves.close();
    const QObject status = stays.execute("query-status");
    QmpClient newcomer = vm.connect();
    newcomer.negotiate();

    EXPECT_EQ(status, PRELAUNCH);
    EXPECT_EQ(newcomer.execute("query-status"), PRELAUNCH);
}

TEST(QmpProtocol, ClientThatReadsLateStillGetsEveryReply)
{
    VmProcess vm;
    QmpClient client = vm.connect();
    client.negotiate();
    // About 100 MB of replies, more than the monitor holds for one client:
    // it has to stop running requests until the client reads.
    constexpr int REQUESTS = 250;
    std::string requests;
    for (int i = 0; i < REQUESTS; i++) {
        requests += R"({"execute": "query-machines",)"
                    R"( "arguments": {"compat-props": true}, "id": )" +
                    std::to_string(i) + "}\n";
    }

    client.send_raw(requests);
    std::vector<int> ids;
    for (int i = 0; i < REQUESTS; i++) {
        const auto reply = client.receive_response();
        const QObject *id = reply ? reply->get("id") : nullptr;
        ids.push_back(id && id->as_int() ? static_cast<int>(*id->as_int())
                                         : -1);
    }

    std::vector<int> expected(REQUESTS);
    std::iota(expected.begin(), expected.end(), 0);
    EXPECT_EQ(ids, expected);
}

TEST(QmpProtocol, ClientThatStopsSendingGetsItsRepliesThenTheEnd)
{
    VmProcess vm;
    QmpClient client = vm.connect();
    client.negotiate();
    constexpr int REQUESTS = 40; // about 16 MB of replies
    std::string requests;
    for (int i = 0; i < REQUESTS; i++) {
        requests += R"({"execute": "query-machines",)"
                    R"( "arguments": {"compat-props": true}})"
                    "\n";
    }

    client.send_raw(requests);
    client.shutdown_sending();
    int replies = 0;
    while (auto reply = client.receive_response()) {
        replies += reply->get("return") ? 1 : 0;
    }

    EXPECT_EQ(replies, REQUESTS);
}

// ---- several clients --------------------------------------------------------

TEST(QmpProtocol, TwoClientsAreServedAtOnce)
{
    VmProcess vm;
    QmpClient a = vm.connect();
    QmpClient b = vm.connect();
    a.negotiate();
    b.negotiate();

    // Both requests are in flight before either response is read.
    a.send(json(R"({"execute": "qom-get", "id": "a", "arguments":
                    {"path": "/machine/q35/ioapic", "property": "version"}})"));
    b.send(json(R"({"execute": "query-status", "id": "b"})"));

    EXPECT_EQ(a.receive_response(), json(R"({"return": 32, "id": "a"})"));
    EXPECT_EQ(b.receive_response(),
              json(R"({"return": {"running": false, "status": "prelaunch"},
                       "id": "b"})"));
}

TEST(QmpProtocol, EventsReachEveryClientInCommandMode)
{
    VmProcess vm;
    QmpClient a = vm.connect();
    QmpClient b = vm.connect();
    a.negotiate();
    b.negotiate();

    a.execute("cont");
    const auto seen_by_b = b.receive();

    EXPECT_EQ(event_name(seen_by_b), "RESUME");
}

TEST(QmpProtocol, NoEventsDuringNegotiation)
{
    VmProcess vm;
    QmpClient a = vm.connect();
    QmpClient negotiating = vm.connect();
    a.negotiate();
    a.execute("cont"); // RESUME, while the other client negotiates

    negotiating.send(json(R"({"execute": "qmp_capabilities"})"));

    // Had RESUME been sent to it, it would come before this response.
    EXPECT_EQ(negotiating.receive(), RETURN_EMPTY);
}

// ---- run state --------------------------------------------------------------

TEST(QmpRunState, StoppedStartThenContThenQuit)
{
    VmProcess vm({ .start_stopped = true });
    QmpClient client = vm.connect();
    client.negotiate();

    const QObject before = client.execute("query-status");
    const QObject cont = client.execute("cont");
    const QObject after = client.execute("query-status");
    const QObject quit = client.execute("quit");
    const auto shutdown = client.receive();
    const auto end = client.receive();
    const int status = vm.wait();

    EXPECT_EQ(before,
              json(R"({"return": {"running": false, "status": "prelaunch"}})"));
    EXPECT_EQ(cont, RETURN_EMPTY);
    EXPECT_EQ(event_names(client.events()),
              std::vector<std::string> { "RESUME" });
    EXPECT_EQ(after,
              json(R"({"return": {"running": true, "status": "running"}})"));
    EXPECT_EQ(quit, RETURN_EMPTY);
    EXPECT_EQ(event_name(shutdown), "SHUTDOWN");
    const QObject *data = shutdown ? shutdown->get("data") : nullptr;
    EXPECT_EQ(data ? *data : QObject(),
              json(R"({"guest": false, "reason": "host-qmp-quit"})"));
    EXPECT_FALSE(end) << "the connection closes after SHUTDOWN";
    EXPECT_TRUE(exited_with(status, 0));
}

TEST(QmpRunState, WithoutMinusSTheVmRuns)
{
    VmProcess vm({ .start_stopped = false });
    QmpClient client = vm.connect();
    client.negotiate();

    EXPECT_EQ(client.execute("query-status"),
              json(R"({"return": {"running": true, "status": "running"}})"));
}

TEST(QmpRunState, StopPausesARunningVmOnce)
{
    VmProcess vm({ .start_stopped = false });
    QmpClient client = vm.connect();
    client.negotiate();

    client.execute("stop");
    client.execute("stop");
    const QObject status = client.execute("query-status");

    EXPECT_EQ(event_names(client.events()),
              std::vector<std::string> { "STOP" })
        << "the second stop changes nothing";
    EXPECT_EQ(status,
              json(R"({"return": {"running": false, "status": "paused"}})"));
}

TEST(QmpRunState, StopDuringPrelaunchStaysInPrelaunch)
{
    VmProcess vm({ .start_stopped = true });
    QmpClient client = vm.connect();
    client.negotiate();

    client.execute("stop");
    const QObject status = client.execute("query-status");

    EXPECT_TRUE(client.events().empty());
    EXPECT_EQ(status,
              json(R"({"return": {"running": false, "status": "prelaunch"}})"));
}

TEST(QmpRunState, QuitSendsShutdownToEveryClient)
{
    VmProcess vm;
    QmpClient a = vm.connect();
    QmpClient b = vm.connect();
    a.negotiate();
    b.negotiate();

    a.execute("quit");
    const auto seen_by_b = b.receive();

    EXPECT_EQ(event_name(seen_by_b), "SHUTDOWN");
}

TEST(QmpRunState, TerminationSignalSendsShutdownAndExitsCleanly)
{
    VmProcess vm;
    QmpClient client = vm.connect();
    client.negotiate();

    vm.signal(SIGTERM);
    const auto shutdown = client.receive();
    const int status = vm.wait();

    const QObject *data = shutdown ? shutdown->get("data") : nullptr;
    EXPECT_EQ(data ? *data : QObject(),
              json(R"({"guest": false, "reason": "host-signal"})"));
    EXPECT_TRUE(exited_with(status, 0));
    EXPECT_NE(::access(vm.socket_path().c_str(), F_OK), 0);
}

// ---- the socket file --------------------------------------------------------

TEST(QmpSocket, IsOwnerOnly)
{
    VmProcess vm;

    struct stat st;
    ASSERT_EQ(::stat(vm.socket_path().c_str(), &st), 0);

    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600U);
}

TEST(QmpSocket, IsRemovedOnExit)
{
    VmProcess vm;
    QmpClient client = vm.connect();
    client.negotiate();

    client.execute("quit");
    vm.wait();

    EXPECT_NE(::access(vm.socket_path().c_str(), F_OK), 0);
}

TEST(QmpSocket, StaleSocketFileIsReplaced)
{
    const std::string dir = qmp_test::make_temp_dir();
    const std::string path = dir + "/stale.sock";
    {
        // A socket file whose server has gone: bound, never listening.
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr {};
        addr.sun_family = AF_UNIX;
        path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
        const void *p = &addr;
        ASSERT_EQ(::bind(fd, static_cast<const sockaddr *>(p), sizeof(addr)),
                  0);
        ::close(fd);
    }

    VmProcess vm({ .extra_args = { "-qmp",
                                   "unix:" + path + ",server=on,wait=off" } });
    QmpClient client(path);
    client.negotiate();

    EXPECT_EQ(client.execute("query-status"), PRELAUNCH);
    client.execute("quit");
    vm.wait();
    ::rmdir(dir.c_str());
}

// ---- -qmp on the command line -----------------------------------------------

struct CliCase {
    std::string qmp;
    std::string message;
};

class QmpCommandLine : public testing::TestWithParam<CliCase> {};

TEST_P(QmpCommandLine, BadQmpOptionExitsWithOneLine)
{
    const auto result = qmp_test::run_vm_to_exit(
        { "-M", "q35", "-accel", std::string(qmp_test::MODEL_ACCEL), "-S",
          "-qmp", GetParam().qmp });

    EXPECT_TRUE(exited_with(result.status, 1));
    EXPECT_EQ(result.stderr_text, "seoib-vm: -qmp " + GetParam().qmp + ": " +
                                      GetParam().message + "\n");
}

const CliCase CLI_CASES[] = {
    { "unix:/nonexistent/dir/qmp.sock,server=on,wait=off",
      "Failed to bind socket to /nonexistent/dir/qmp.sock: No such file or "
      "directory" },
    // Without server=on QEMU connects out (QEMU 7.2's text).
    { "unix:/nonexistent/dir/client.sock",
      "Failed to connect to '/nonexistent/dir/client.sock': No such file or "
      "directory" },
    { "tcp:localhost:4444,server=on,wait=off",
      "chardev backend 'tcp' is not supported; use "
      "unix:PATH,server=on,wait=off or stdio" },
    { "unix:/tmp/seoib-qmp-x.sock,server=on,bogus=1",
      "Invalid parameter 'bogus'" },
    { "unix:/tmp/seoib-qmp-x.sock,server=maybe",
      "Parameter 'server' expects 'on' or 'off'" },
};

INSTANTIATE_TEST_SUITE_P(Errors, QmpCommandLine, testing::ValuesIn(CLI_CASES));

TEST(QmpSocket, LiveServerIsNotTakenOver)
{
    VmProcess first;

    const auto second = qmp_test::run_vm_to_exit(
        { "-M", "q35", "-accel", std::string(qmp_test::MODEL_ACCEL), "-S",
          "-qmp", "unix:" + first.socket_path() + ",server=on,wait=off" });
    QmpClient client = first.connect();

    EXPECT_TRUE(exited_with(second.status, 1));
    EXPECT_NE(second.stderr_text.find("Address already in use"),
              std::string::npos)
        << second.stderr_text;
    EXPECT_EQ(client.execute("qmp_capabilities"), RETURN_EMPTY);
}

} // namespace
