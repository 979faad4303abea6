/*
 * Migration end to end: two seoib-vm processes over a unix socket, the
 * source's built-in guest paused after 5 of its 16 events
 * (seoib-testdev.x-pause-after) and moved to the destination.
 *
 * The matrix of design §4.5, on the kernel model: source machine type
 * {pc-q35-11.0, pc-q35-10.2} x IOAPIC {0x20, 0x11} x source seoib-policy x
 * destination seoib-policy {auto, the source's, another} x destination
 * kernel {model, model-6.12}.  The outcome of each cell is computed in the
 * test from the design's rules, written out in expected_outcome():
 *   - the source's effective policy E: quirked on the legacy machine type
 *     under auto, else respected with IOAPIC 0x20 and not-advertised with
 *     0x11 (auto), or what was asked;
 *   - the destination takes the guest iff its policy is auto or E, and E is
 *     quirked or its kernel has the SEOIB flags;
 *   - taken: the guest finishes its 16 events there, and the LVR KVM gives
 *     it has bit 24 unless E is not-advertised;
 *   - refused: the destination exits 1 and the source, resumed, finishes its
 *     guest itself with every count intact.
 * Then the same move between the host and the model, when /dev/kvm is here,
 * and the stream's bad cases against a destination reading a file.
 */
#include "tests/functional/migration-matrix.h"
#include "tests/functional/guest-qmp.h"
#include "tests/functional/qmp-harness.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <ostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace migration_matrix;
using qapi::QObject;
using qmp_test::json;
using namespace qmp_test::guest;

constexpr int GUEST_EVENTS = 16;
constexpr int PAUSE_AFTER = 5;

std::vector<std::string> vm_args(const std::string &machine, int ioapic)
{
    char version[8];
    std::snprintf(version, sizeof(version), "0x%x", ioapic);
    return { "-M", machine, "-global", std::string("ioapic.version=") + version };
}

/// -accel kvm with `kernel` and the policy (none for auto).
std::string accel(const std::string &kernel, Policy policy)
{
    std::string options = "kvm,kernel=" + kernel + ",kernel-irqchip=split";
    if (policy != Policy::Auto) {
        options += std::string(",seoib-policy=") + policy_name(policy);
    }
    return options;
}

/// Polls query-migrate until the migration has ended (a bounded number of
/// times); its final status.
std::string wait_migration_end(qmp_test::QmpClient &qmp)
{
    std::string status;
    for (int i = 0; i < 2000; ++i) {
        QObject info = qmp.execute("query-migrate");
        status = info.get("return") ? text(info.get("return")->get("status")) : "";
        if (status != "setup" && status != "active") {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return status;
}

struct Moved {
    bool taken { false };
    std::optional<int64_t> destination_lvr;
    std::string migrate_status;
};

/// The source paused after PAUSE_AFTER events, the destination listening:
/// migrate, then look at both.
void migrate_once(const std::string &source_accel, const std::vector<std::string> &source_args,
                  const std::string &dest_accel, const std::vector<std::string> &dest_args,
                  Moved &moved)
{
    std::string dir = qmp_test::make_temp_dir();
    std::string sock = dir + "/mig.sock";
    std::vector<std::string> src_extra = source_args;
    src_extra.insert(src_extra.end(),
                     { "-global", "seoib-testdev.x-pause-after=" + std::to_string(PAUSE_AFTER) });
    qmp_test::VmProcess source({ .accel = source_accel, .start_stopped = true,
                                 .extra_args = src_extra });
    std::vector<std::string> dst_extra = dest_args;
    dst_extra.insert(dst_extra.end(), { "-incoming", "unix:" + sock });
    qmp_test::VmProcess dest({ .accel = dest_accel, .start_stopped = false,
                               .extra_args = dst_extra });
    qmp_test::QmpClient src = source.connect();
    src.negotiate();
    qmp_test::QmpClient dst = dest.connect();
    dst.negotiate();
    EXPECT_EQ(status_of(dst), "inmigrate");

    src.execute("cont");
    ASSERT_TRUE(wait_event(src, "STOP")) << "the source's guest never paused";
    EXPECT_EQ(qom_get(src, TESTDEV, "events-done"), QObject(int64_t { PAUSE_AFTER }));

    QObject reply = src.execute("migrate", json("{\"uri\": \"unix:" + sock + "\"}"));
    ASSERT_NE(reply.get("return"), nullptr) << qapi::to_json(reply);
    moved.migrate_status = wait_migration_end(src);
    moved.taken = moved.migrate_status == "completed";

    if (moved.taken) {
        EXPECT_EQ(status_of(src), "postmigrate");
        ASSERT_TRUE(wait_guest_finished(dst)) << "the guest did not finish on the destination";
        EXPECT_EQ(qom_get(dst, TESTDEV, "events-done"), QObject(int64_t { GUEST_EVENTS }));
        // One handler entry per event: no event lost, none stormed.
        QObject seoib = dst.execute("query-seoib");
        const QObject *vcpus = seoib.get("return") ? seoib.get("return")->get("vcpus") : nullptr;
        if (vcpus && vcpus->as_list() && !vcpus->as_list()->empty()) {
            const QObject *lvr = vcpus->as_list()->front().get("lvr");
            moved.destination_lvr = lvr ? lvr->as_int() : std::nullopt;
        }
    } else {
        // The destination said no and ended; the source keeps its guest.
        int wait_status = dest.wait();
        EXPECT_TRUE(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 1)
            << "destination wait status " << wait_status;
        EXPECT_EQ(status_of(src), "paused");
        src.execute("cont");
        ASSERT_TRUE(wait_guest_finished(src)) << "the source's guest did not finish";
        EXPECT_EQ(qom_get(src, TESTDEV, "events-done"), QObject(int64_t { GUEST_EVENTS }));
    }
    src.execute("quit");
    std::remove(sock.c_str());
    ::rmdir(dir.c_str());
}

class MigrationMatrix : public ::testing::TestWithParam<Cell> {};

TEST_P(MigrationMatrix, CellBehavesAsDesignSays)
{
    const Cell &c = GetParam();
    Outcome expected = expected_outcome(c);
    Moved moved;

    ASSERT_NO_FATAL_FAILURE(migrate_once(accel("model", c.source), vm_args(c.machine, c.ioapic),
                                         accel(c.kernel, c.destination),
                                         vm_args(c.machine, c.ioapic), moved));

    EXPECT_EQ(moved.taken, expected.taken) << "query-migrate: " << moved.migrate_status;
    if (expected.taken && moved.taken) {
        EXPECT_EQ(moved.destination_lvr, int64_t { expected.lvr });
    }
}

INSTANTIATE_TEST_SUITE_P(Design45, MigrationMatrix, ::testing::ValuesIn(matrix()),
                         [](const ::testing::TestParamInfo<Cell> &info) {
                             return cell_name(info.param);
                         });

TEST(MigrationIoapic, DestinationWithAnotherIoapicVersionRefuses)
{
    Moved moved;
    ASSERT_NO_FATAL_FAILURE(migrate_once(accel("model", Policy::Auto), vm_args("pc-q35-11.0", 0x11),
                                         accel("model", Policy::Auto),
                                         vm_args("pc-q35-11.0", 0x20), moved));

    EXPECT_FALSE(moved.taken);
}

// --- Between the host and the model ----------------------------------------

struct Move {
    const char *name;
    const char *from;
    const char *to;
};

class MigrationAcrossBackends : public ::testing::TestWithParam<Move> {};

TEST_P(MigrationAcrossBackends, GuestFinishesOnTheOtherBackend)
{
    if (!qmp_test::host_kvm_available()) {
        GTEST_SKIP() << "/dev/kvm cannot be opened here";
    }
    const Move &m = GetParam();
    Moved moved;

    ASSERT_NO_FATAL_FAILURE(migrate_once(accel(m.from, Policy::Auto), vm_args("pc-q35-11.0", 0x20),
                                         accel(m.to, Policy::Auto), vm_args("pc-q35-11.0", 0x20),
                                         moved));

    EXPECT_TRUE(moved.taken) << moved.migrate_status;
    EXPECT_EQ(moved.destination_lvr, int64_t { LVR_WITH_BIT24 });
}

INSTANTIATE_TEST_SUITE_P(Backends, MigrationAcrossBackends,
                         ::testing::Values(Move { "host_to_model", "host", "model" },
                                           Move { "model_to_host", "model", "host" },
                                           Move { "host_to_host", "host", "host" }),
                         [](const ::testing::TestParamInfo<Move> &info) {
                             return std::string(info.param.name);
                         });

TEST(MigrationRoundTrip, HostToModelAndBackFinishesWithTheSameCounts)
{
    if (!qmp_test::host_kvm_available()) {
        GTEST_SKIP() << "/dev/kvm cannot be opened here";
    }
    std::string dir = qmp_test::make_temp_dir();
    std::string there = dir + "/there.sock", back = dir + "/back.sock";
    auto args = [](int pause_after, const std::string &incoming) {
        std::vector<std::string> a = vm_args("pc-q35-11.0", 0x20);
        a.insert(a.end(),
                 { "-global", "seoib-testdev.x-pause-after=" + std::to_string(pause_after) });
        if (!incoming.empty()) {
            a.insert(a.end(), { "-incoming", "unix:" + incoming });
        }
        return a;
    };
    // The host runs events 1-5, the model 6-10, the host again 11-16.
    qmp_test::VmProcess first({ .accel = accel("host", Policy::Auto), .start_stopped = true,
                                .extra_args = args(5, "") });
    qmp_test::VmProcess model({ .accel = accel("model", Policy::Auto), .start_stopped = false,
                                .extra_args = args(10, there) });
    qmp_test::VmProcess last({ .accel = accel("host", Policy::Auto), .start_stopped = false,
                               .extra_args = args(0, back) });
    qmp_test::QmpClient a = first.connect(), b = model.connect(), c = last.connect();
    a.negotiate();
    b.negotiate();
    c.negotiate();

    a.execute("cont");
    ASSERT_TRUE(wait_event(a, "STOP"));
    a.execute("migrate", json("{\"uri\": \"unix:" + there + "\"}"));
    ASSERT_EQ(wait_migration_end(a), "completed");
    ASSERT_TRUE(wait_event(b, "STOP")) << "the model never reached event 10";
    EXPECT_EQ(qom_get(b, TESTDEV, "events-done"), QObject(int64_t { 10 }));
    b.execute("migrate", json("{\"uri\": \"unix:" + back + "\"}"));
    ASSERT_EQ(wait_migration_end(b), "completed");

    ASSERT_TRUE(wait_guest_finished(c));
    EXPECT_EQ(qom_get(c, TESTDEV, "events-done"), QObject(int64_t { GUEST_EVENTS }));
    // A run that never moved has one handler entry per event (respected).
    EXPECT_EQ(qom_get(c, TESTDEV, "handler-entries"), QObject(int64_t { GUEST_EVENTS }));
    QObject seoib = c.execute("query-seoib");
    ASSERT_NE(seoib.get("return"), nullptr);
    EXPECT_EQ(text(seoib.get("return")->get("effective")), "respected");
    for (qmp_test::QmpClient *q : { &a, &b, &c }) {
        q->execute("quit");
    }
    std::remove(there.c_str());
    std::remove(back.c_str());
    ::rmdir(dir.c_str());
}

// --- Live: pre-copy while the guest runs -----------------------------------

class LiveMigration : public ::testing::TestWithParam<Move> {};

TEST_P(LiveMigration, GuestKeepsRunningDuringPrecopyAndFinishesOnTheDestination)
{
    const Move &m = GetParam();
    if ((std::string(m.from) == "host" || std::string(m.to) == "host") &&
        !qmp_test::host_kvm_available()) {
        GTEST_SKIP() << "/dev/kvm cannot be opened here";
    }
    std::string dir = qmp_test::make_temp_dir();
    std::string sock = dir + "/mig.sock";
    qmp_test::VmProcess source({ .accel = accel(m.from, Policy::Auto), .start_stopped = true,
                                 .extra_args = vm_args("pc-q35-11.0", 0x20) });
    std::vector<std::string> dst_args = vm_args("pc-q35-11.0", 0x20);
    dst_args.insert(dst_args.end(), { "-incoming", "unix:" + sock });
    qmp_test::VmProcess dest({ .accel = accel(m.to, Policy::Auto), .start_stopped = false,
                               .extra_args = dst_args });
    qmp_test::QmpClient src = source.connect();
    src.negotiate();
    qmp_test::QmpClient dst = dest.connect();
    dst.negotiate();
    // A bandwidth that makes the first pass take several main-loop rounds,
    // each of which also runs one of the guest's events.
    src.execute("migrate-set-parameters",
                json(R"({"max-bandwidth": 17000000, "downtime-limit": 100})"));

    // Both in one write: the guest starts and the migration begins at once.
    src.send_raw("{\"execute\": \"cont\"}\n{\"execute\": \"migrate\", \"arguments\": "
                 "{\"uri\": \"unix:" + sock + "\"}}\n");
    ASSERT_TRUE(src.receive_response().has_value());
    ASSERT_TRUE(src.receive_response().has_value());
    ASSERT_TRUE(wait_event(src, "MIGRATION_PASS"));
    ASSERT_TRUE(wait_event(src, "STOP"));
    EXPECT_EQ(wait_migration_end(src), "completed");
    EXPECT_EQ(status_of(src), "postmigrate");

    // Part of the guest's work happened during pre-copy, the rest comes.
    std::optional<int64_t> at_switch = qom_get(src, TESTDEV, "events-done").as_int();
    ASSERT_TRUE(at_switch.has_value());
    EXPECT_GT(*at_switch, 0);
    EXPECT_LT(*at_switch, GUEST_EVENTS);
    ASSERT_TRUE(wait_guest_finished(dst));
    EXPECT_EQ(qom_get(dst, TESTDEV, "events-done"), QObject(int64_t { GUEST_EVENTS }));
    // One handler entry per event: none lost, none stormed.
    EXPECT_EQ(qom_get(dst, TESTDEV, "handler-entries"), QObject(int64_t { GUEST_EVENTS }));
    src.execute("quit");
    dst.execute("quit");
    std::remove(sock.c_str());
    ::rmdir(dir.c_str());
}

INSTANTIATE_TEST_SUITE_P(Backends, LiveMigration,
                         ::testing::Values(Move { "model_to_model", "model", "model" },
                                           Move { "host_to_model", "host", "model" },
                                           Move { "model_to_host", "model", "host" },
                                           Move { "host_to_host", "host", "host" }),
                         [](const ::testing::TestParamInfo<Move> &info) {
                             return std::string(info.param.name);
                         });

// --- Streams from a file ---------------------------------------------------

/// The run ended with status 1 and said `text` on stderr.
::testing::AssertionResult failed_saying(const qmp_test::ExitResult &r, std::string_view text)
{
    if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 1) {
        return ::testing::AssertionFailure() << "wait status " << r.status << ": " << r.stderr_text;
    }
    if (r.stderr_text.find(text) == std::string::npos) {
        return ::testing::AssertionFailure() << "no \"" << text << "\" in: " << r.stderr_text;
    }
    return ::testing::AssertionSuccess();
}

class MigrationFile : public ::testing::Test {
protected:
    void SetUp() override
    {
        m_dir = qmp_test::make_temp_dir();
        m_stream = m_dir + "/stream";
        qmp_test::VmProcess source({ .start_stopped = true,
                                     .extra_args = { "-global", "seoib-testdev.x-pause-after=5" } });
        qmp_test::QmpClient src = source.connect();
        src.negotiate();
        src.execute("cont");
        ASSERT_TRUE(wait_event(src, "STOP"));
        src.execute("migrate", json("{\"uri\": \"file:" + m_stream + "\"}"));
        ASSERT_EQ(wait_migration_end(src), "completed");
        src.execute("quit");
        std::ifstream in(m_stream, std::ios::binary);
        m_bytes.assign(std::istreambuf_iterator<char>(in), {});
        ASSERT_GT(m_bytes.size(), 1000U);
    }
    void TearDown() override
    {
        std::remove(m_stream.c_str());
        std::remove((m_dir + "/bad").c_str());
        ::rmdir(m_dir.c_str());
    }

    /// A destination without a monitor reading `bytes` from a file.
    qmp_test::ExitResult load(const std::string &bytes,
                              std::vector<std::string> extra = {})
    {
        std::string path = m_dir + "/bad";
        std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
        std::vector<std::string> args = { "-nodefaults", "-display", "none", "-M", "q35",
                                          "-accel", std::string(qmp_test::MODEL_ACCEL) };
        args.insert(args.end(), extra.begin(), extra.end());
        args.insert(args.end(), { "-incoming", "file:" + path });
        return qmp_test::run_vm_to_exit(args);
    }

    static bool exited_with(const qmp_test::ExitResult &r, int code)
    {
        return WIFEXITED(r.status) && WEXITSTATUS(r.status) == code;
    }

    std::string m_dir;
    std::string m_stream;
    std::string m_bytes;
};

TEST_F(MigrationFile, WholeStreamFromAFileFinishesTheGuest)
{
    qmp_test::ExitResult r = load(m_bytes);

    EXPECT_TRUE(exited_with(r, 0)) << r.stderr_text;
}

TEST_F(MigrationFile, WrongMagicIsAClearError)
{
    std::string bytes = m_bytes;
    bytes[0] = 'X';

    qmp_test::ExitResult r = load(bytes);

    EXPECT_TRUE(failed_saying(r, "seoib-vm: load of migration failed: "));
}

TEST_F(MigrationFile, OtherMachineTypeGivesQemusError)
{
    qmp_test::ExitResult r = load(m_bytes, { "-M", "pc-q35-10.2" });

    EXPECT_TRUE(
        failed_saying(r, "Machine type received is 'pc-q35-11.0' and local is 'pc-q35-10.2'"));
}

TEST_F(MigrationFile, TruncatedStreamsFailCleanly)
{
    // A spread of cut points through the header, the RAM and the devices.
    for (size_t cut : { size_t { 0 }, size_t { 3 }, size_t { 9 }, size_t { 40 },
                        m_bytes.size() / 3, m_bytes.size() / 2, m_bytes.size() - 200,
                        m_bytes.size() - 2 }) {
        qmp_test::ExitResult r = load(m_bytes.substr(0, cut));

        EXPECT_TRUE(failed_saying(r, "load of migration failed")) << "cut at " << cut;
    }
}

TEST_F(MigrationFile, ExplicitOtherPolicyNamesBoth)
{
    qmp_test::ExitResult r = load(m_bytes, { "-accel", accel("model", Policy::Quirked) });

    EXPECT_TRUE(failed_saying(r, "the source runs its guest with seoib-policy=respected but "
                                 "this VM has seoib-policy=quirked"));
}

// --- Descriptors passed over QMP (getfd, fd:NAME) ------------------------

TEST_F(MigrationFile, DescriptorPassedWithGetfdCarriesTheStream)
{
    std::string path = m_dir + "/via-fd";
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    {
        qmp_test::VmProcess source({ .start_stopped = true,
                                     .extra_args = { "-global", "seoib-testdev.x-pause-after=5" } });
        qmp_test::QmpClient src = source.connect();
        src.negotiate();
        src.execute("cont");
        ASSERT_TRUE(wait_event(src, "STOP"));
        src.send_with_fd(json(R"({"execute": "getfd", "arguments": {"fdname": "mig"}})"), fd);
        ::close(fd);
        EXPECT_EQ(error_desc(*src.receive_response()), "");
        EXPECT_EQ(error_desc(src.execute("migrate", json(R"({"uri": "fd:mig"})"))), "");
        ASSERT_EQ(wait_migration_end(src), "completed");
        // migrate took the descriptor: the name is gone.
        EXPECT_EQ(error_desc(src.execute("closefd", json(R"({"fdname": "mig"})"))),
                  "File descriptor named 'mig' not found");
        src.execute("quit");
    }
    std::ifstream in(path, std::ios::binary);
    std::string bytes(std::istreambuf_iterator<char>(in), {});
    std::remove(path.c_str());

    qmp_test::ExitResult r = load(bytes);

    EXPECT_TRUE(exited_with(r, 0)) << r.stderr_text;
}

TEST(MigrationFd, NamedDescriptorErrorsAreQemus)
{
    qmp_test::VmProcess vm({ .start_stopped = true });
    qmp_test::QmpClient qmp = vm.connect();
    qmp.negotiate();
    int pipe_fds[2];
    ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);

    EXPECT_EQ(error_desc(qmp.execute("migrate", json(R"({"uri": "fd:nosuch"})"))),
              "File descriptor named 'nosuch' has not been found");
    qmp.send_with_fd(json(R"({"execute": "getfd", "arguments": {"fdname": "1x"}})"),
                     pipe_fds[1]);
    EXPECT_EQ(error_desc(*qmp.receive_response()),
              "Parameter 'fdname' expects a name not starting with a digit");
    qmp.send_with_fd(json(R"({"execute": "getfd", "arguments": {"fdname": "w"}})"),
                     pipe_fds[1]);
    EXPECT_EQ(error_desc(*qmp.receive_response()), "");
    ::close(pipe_fds[1]);
    EXPECT_EQ(error_desc(qmp.execute("closefd", json(R"({"fdname": "w"})"))), "");
    // Every copy of the write end is closed now, the VM's included.
    char c;
    EXPECT_EQ(::read(pipe_fds[0], &c, 1), 0);
    EXPECT_EQ(*qmp.execute("query-status").get("return")->get("status")->as_string(),
              "prelaunch");
    ::close(pipe_fds[0]);
}

TEST(MigrationRunState, ContDuringInmigrateStartsTheGuestOnceLoaded)
{
    std::string dir = qmp_test::make_temp_dir();
    std::string sock = dir + "/mig.sock";
    qmp_test::VmProcess source({ .start_stopped = true,
                                 .extra_args = { "-global", "seoib-testdev.x-pause-after=5" } });
    // -S: without the cont below the guest would stay paused after the load.
    qmp_test::VmProcess dest({ .start_stopped = true, .extra_args = { "-incoming", "defer" } });
    qmp_test::QmpClient src = source.connect();
    src.negotiate();
    qmp_test::QmpClient dst = dest.connect();
    dst.negotiate();

    EXPECT_EQ(error_desc(dst.execute("cont")), "");
    EXPECT_EQ(status_of(dst), "inmigrate");
    EXPECT_EQ(error_desc(dst.execute("migrate-incoming", json("{\"uri\": \"unix:" + sock + "\"}"))),
              "");
    src.execute("cont");
    ASSERT_TRUE(wait_event(src, "STOP"));
    EXPECT_EQ(error_desc(src.execute("migrate", json("{\"uri\": \"unix:" + sock + "\"}"))), "");
    EXPECT_EQ(wait_migration_end(src), "completed");

    EXPECT_TRUE(wait_guest_finished(dst)) << "status " << status_of(dst);
    src.execute("quit");
    std::remove(sock.c_str());
    ::rmdir(dir.c_str());
}

TEST(MigrationRunState, MonitorServesWhileTheSourceAwaitsTheVerdict)
{
    // A destination that reads the whole stream and never answers on the
    // return path, until the test hangs up.
    std::string dir = qmp_test::make_temp_dir();
    std::string sock = dir + "/mig.sock";
    int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(listener, 0);
    sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock.c_str());
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(::listen(listener, 1), 0);
    qmp_test::VmProcess source({ .start_stopped = true });
    qmp_test::QmpClient src = source.connect();
    src.negotiate();

    EXPECT_EQ(error_desc(src.execute("migrate", json("{\"uri\": \"unix:" + sock + "\"}"))), "");
    int peer = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    ASSERT_GE(peer, 0);
    char buf[65536];
    while (::read(peer, buf, sizeof(buf)) > 0) {
        // The source shuts down its sending side when the stream is out.
    }

    EXPECT_EQ(status_of(src), "finish-migrate");
    EXPECT_EQ(error_desc(src.execute("cont")),
              "The guest cannot run while its migration completes; wait for the MIGRATION event");
    EXPECT_EQ(error_desc(src.execute("migrate_cancel")), "");
    ::close(peer);
    EXPECT_EQ(wait_migration_end(src), "failed");
    // Nothing lost: the source is back where it was, with its guest.
    EXPECT_EQ(status_of(src), "prelaunch");
    ::close(listener);
    std::remove(sock.c_str());
    ::rmdir(dir.c_str());
}

TEST(MigrationRate, MaxBandwidthIsARateInTime)
{
    // A lower bound only: the stream may take longer on a busy machine,
    // but sending it faster than max-bandwidth allows is a bug.
    // 256 MiB of zero pages: about 600 kB on the wire.
    constexpr int64_t BANDWIDTH = 1000 * 1000;  // bytes per second
    qmp_test::VmProcess vm({ .start_stopped = true, .extra_args = { "-m", "256M" } });
    qmp_test::QmpClient qmp = vm.connect();
    qmp.negotiate();
    EXPECT_EQ(error_desc(qmp.execute("migrate-set-parameters",
                                     json("{\"max-bandwidth\": " + std::to_string(BANDWIDTH) + "}"))),
              "");
    qmp.execute("migrate", json(R"({"uri": "exec:cat > /dev/null"})"));
    ASSERT_EQ(wait_migration_end(qmp), "completed");
    const QObject info = *qmp.execute("query-migrate").get("return");
    const int64_t sent = *info.get("ram")->get("transferred")->as_int();
    const int64_t total_ms = *info.get("total-time")->as_int();
    // The first 100 ms window may be used at once.
    const int64_t allowed = BANDWIDTH * total_ms / 1000 + BANDWIDTH / 10;
    ASSERT_GT(sent, BANDWIDTH / 10) << "too small a stream to see the limit";
    EXPECT_LE(sent, allowed) << sent << " bytes in " << total_ms << " ms";
}

TEST(MigrationUri, UnknownProtocolIsRefusedAtStartUp)
{
    qmp_test::ExitResult r = qmp_test::run_vm_to_exit(
        { "-M", "q35", "-accel", std::string(qmp_test::MODEL_ACCEL), "-incoming", "bogus:x" });

    EXPECT_TRUE(failed_saying(r, "unknown migration protocol: bogus:x"));
}

} // namespace
