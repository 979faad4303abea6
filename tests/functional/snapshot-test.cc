/*
 * savevm / loadvm / delvm / info snapshots and -loadvm, end to end: a
 * seoib-vm over QMP's human-monitor-command, with Debian's qemu-img as the
 * independent judge of every image (docs/devel/snapshots.rst).
 */
#include "tests/functional/guest-qmp.h"
#include "tests/functional/qmp-harness.h"

#include "qapi/qjson.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

namespace {

using qapi::QObject;
using qmp_test::json;
using namespace qmp_test::guest;

constexpr int GUEST_EVENTS = 16;
constexpr int PAUSE_AFTER = 5;

/// A shell command's exit status and standard output.
struct Shell {
    int status { -1 };
    std::string out;
};

Shell shell(const std::string &command)
{
    Shell r;
    std::FILE *p = ::popen((command + " 2>&1").c_str(), "r");
    if (!p) {
        return r;
    }
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) {
        r.out.append(buf, n);
    }
    int status = ::pclose(p);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

bool have_qemu_img()
{
    return shell("command -v qemu-img").status == 0;
}

std::string hmp(qmp_test::QmpClient &qmp, const std::string &line)
{
    QObject reply = qmp.execute("human-monitor-command",
                                json("{\"command-line\": \"" + line + "\"}"));
    const QObject *ret = reply.get("return");
    EXPECT_NE(ret, nullptr) << qapi::to_json(reply);
    return text(ret);
}

int64_t events_done(qmp_test::QmpClient &qmp)
{
    return qom_get(qmp, TESTDEV, "events-done").as_int().value_or(-1);
}

std::string effective_policy(qmp_test::QmpClient &qmp)
{
    QObject reply = qmp.execute("query-seoib");
    return reply.get("return") ? text(reply.get("return")->get("effective")) : "";
}

class Snapshot : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (!have_qemu_img()) {
            GTEST_SKIP() << "qemu-img is not installed (scripts/install-deps.sh installs qemu-utils)";
        }
        m_dir = qmp_test::make_temp_dir();
        m_image = m_dir + "/disk.qcow2";
        ASSERT_EQ(shell("qemu-img create -q -f qcow2 " + m_image + " 64M").status, 0);
    }
    void TearDown() override
    {
        std::remove(m_image.c_str());
        std::remove((m_dir + "/not-qcow2").c_str());
        ::rmdir(m_dir.c_str());
    }

    /// The image as -drive, then `more` arguments.
    std::vector<std::string> drive(std::vector<std::string> more = {}) const
    {
        std::vector<std::string> args = { "-drive",
                                          "if=none,file=" + m_image + ",format=qcow2,id=disk0" };
        args.insert(args.end(), more.begin(), more.end());
        return args;
    }

    /// A VM paused after PAUSE_AFTER events, with `extra` arguments.
    qmp_test::VmProcess paused_vm(std::vector<std::string> extra = {},
                                  std::string accel = std::string(qmp_test::MODEL_ACCEL)) const
    {
        std::vector<std::string> args =
            drive({ "-global", "seoib-testdev.x-pause-after=" + std::to_string(PAUSE_AFTER) });
        args.insert(args.end(), extra.begin(), extra.end());
        return qmp_test::VmProcess({ .accel = accel, .start_stopped = true, .extra_args = args });
    }

    /// The image checked by qemu-img: no corruption, no leak.
    ::testing::AssertionResult image_is_clean() const
    {
        Shell r = shell("qemu-img check " + m_image);
        if (r.status != 0) {
            return ::testing::AssertionFailure() << "qemu-img check: " << r.status << "\n" << r.out;
        }
        return ::testing::AssertionSuccess();
    }

    /// `qemu-img snapshot -l`, sharing the image a running VM holds (-U).
    std::string qemu_img_list() const { return shell("qemu-img snapshot -l -U " + m_image).out; }

    /// Takes snapshot `tag` of a guest paused after PAUSE_AFTER events.
    void take_snapshot(const std::string &tag, std::vector<std::string> extra = {},
                       std::string accel = std::string(qmp_test::MODEL_ACCEL))
    {
        qmp_test::VmProcess vm = paused_vm(extra, accel);
        qmp_test::QmpClient qmp = vm.connect();
        qmp.negotiate();
        qmp.execute("cont");
        ASSERT_TRUE(wait_event(qmp, "STOP"));
        ASSERT_EQ(hmp(qmp, "savevm " + tag), "");
        qmp.execute("quit");
        vm.wait();
    }

    std::string m_dir;
    std::string m_image;
};

void round_trip(qmp_test::VmProcess &vm)
{
    qmp_test::QmpClient qmp = vm.connect();
    qmp.negotiate();
    EXPECT_EQ(hmp(qmp, "info snapshots"), "There is no snapshot available.\r\n");
    qmp.execute("cont");
    ASSERT_TRUE(wait_event(qmp, "STOP")) << "the guest never paused";
    ASSERT_EQ(events_done(qmp), PAUSE_AFTER);

    EXPECT_EQ(hmp(qmp, "savevm s1"), "");
    EXPECT_NE(hmp(qmp, "info snapshots").find(" s1 "), std::string::npos);
    // The guest runs to its end, then goes back to the snapshot.
    qmp.execute("cont");
    ASSERT_TRUE(wait_guest_finished(qmp));
    EXPECT_EQ(events_done(qmp), GUEST_EVENTS);
    // A stopped VM stays stopped across loadvm (a running one runs on).
    qmp.execute("stop");
    EXPECT_EQ(hmp(qmp, "loadvm s1"), "");
    EXPECT_EQ(events_done(qmp), PAUSE_AFTER);
    EXPECT_EQ(status_of(qmp), "paused");
    qmp.execute("cont");
    ASSERT_TRUE(wait_guest_finished(qmp)) << "the guest did not finish after loadvm";
    EXPECT_EQ(events_done(qmp), GUEST_EVENTS);
    // One handler entry per event: the load lost no event and stormed none.
    EXPECT_EQ(qom_get(qmp, TESTDEV, "handler-entries"), QObject(int64_t { GUEST_EVENTS }));
    qmp.execute("quit");
}

TEST_F(Snapshot, SaveAndLoadOnTheModelFinishTheGuestWithItsCounts)
{
    qmp_test::VmProcess vm = paused_vm();
    round_trip(vm);
    vm.wait();

    EXPECT_TRUE(image_is_clean());
    std::string list = qemu_img_list();
    EXPECT_NE(list.find(" s1 "), std::string::npos) << list;
    EXPECT_EQ(list.find(" 0 B "), std::string::npos) << "the snapshot has no VM state:\n" << list;
}

/// The VM clock of each snapshot, by tag, as qemu-img reads it.
std::map<std::string, uint64_t> vm_clocks(const std::string &image)
{
    Shell r = shell("qemu-img info -U --output=json " + image);
    std::map<std::string, uint64_t> clocks;
    auto info = qapi::from_json(r.out);
    if (!info || !info.value().get("snapshots")) {
        ADD_FAILURE() << "qemu-img info: " << r.out;
        return clocks;
    }
    for (const QObject &sn : *info.value().get("snapshots")->as_list()) {
        clocks[*sn.get("name")->as_string()] = *sn.get("vm-clock-nsec")->as_uint();
    }
    return clocks;
}

// QEMU's virtual clock: it advances only while the VM runs, each snapshot
// records it, and loadvm sets it back to the snapshot's.
TEST_F(Snapshot, VmClockRunsWhileTheVmRunsAndLoadvmSetsItBack)
{
    qmp_test::VmProcess vm = paused_vm();
    qmp_test::QmpClient qmp = vm.connect();
    qmp.negotiate();
    ASSERT_EQ(hmp(qmp, "savevm never-ran"), "");
    const auto started = std::chrono::steady_clock::now();
    qmp.execute("cont");
    ASSERT_TRUE(wait_event(qmp, "STOP"));
    const auto ran_at_most = std::chrono::steady_clock::now() - started;
    ASSERT_EQ(hmp(qmp, "savevm ran"), "");
    ::usleep(20000); // stopped: the clock stands still
    ASSERT_EQ(hmp(qmp, "savevm ran-then-stood"), "");
    ASSERT_EQ(hmp(qmp, "loadvm never-ran"), "");
    ASSERT_EQ(hmp(qmp, "savevm back-to-zero"), "");
    ASSERT_EQ(hmp(qmp, "loadvm ran"), "");
    ASSERT_EQ(hmp(qmp, "savevm back-to-ran"), "");
    const std::string info = hmp(qmp, "info snapshots");
    qmp.execute("quit");
    vm.wait();

    std::map<std::string, uint64_t> clock = vm_clocks(m_image);
    ASSERT_EQ(clock.size(), 5u);
    EXPECT_EQ(clock["never-ran"], 0u);
    EXPECT_GT(clock["ran"], 0u);
    EXPECT_LE(clock["ran"], uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         ran_at_most).count()));
    EXPECT_EQ(clock["ran-then-stood"], clock["ran"]);
    EXPECT_EQ(clock["back-to-zero"], 0u);
    EXPECT_EQ(clock["back-to-ran"], clock["ran"]);
    // `info snapshots` shows it in QEMU's HH:MM:SS.mmm column.
    const uint64_t ms = clock["ran"] / 1000000;
    EXPECT_NE(info.find(fmt::format("{:02}:{:02}:{:02}.{:03}", ms / 3600000, ms / 60000 % 60,
                                    ms / 1000 % 60, ms % 1000)),
              std::string::npos)
        << info;
    EXPECT_TRUE(image_is_clean());
}

TEST_F(Snapshot, SaveAndLoadOnHostKvm)
{
    if (!qmp_test::host_kvm_available()) {
        GTEST_SKIP() << "/dev/kvm is not available";
    }
    qmp_test::VmProcess vm = paused_vm({}, std::string(qmp_test::HOST_ACCEL));
    round_trip(vm);
    vm.wait();

    EXPECT_TRUE(image_is_clean());
}

TEST_F(Snapshot, LoadvmAtStartUpContinuesTheGuest)
{
    take_snapshot("s1");

    qmp_test::VmProcess vm({ .start_stopped = false,
                             .extra_args = drive({ "-loadvm", "s1" }) });
    qmp_test::QmpClient qmp = vm.connect();
    qmp.negotiate();
    ASSERT_TRUE(wait_guest_finished(qmp));
    EXPECT_EQ(events_done(qmp), GUEST_EVENTS);
    EXPECT_EQ(qom_get(qmp, TESTDEV, "handler-entries"), QObject(int64_t { GUEST_EVENTS }));
    qmp.execute("quit");
    vm.wait();
    EXPECT_TRUE(image_is_clean());
}

TEST_F(Snapshot, LoadvmWithoutMonitorUnderDashSEndsAfterTheLoad)
{
    take_snapshot("s1");
    std::vector<std::string> args = drive({ "-nodefaults", "-display", "none", "-M", "q35",
                                            "-accel", std::string(qmp_test::MODEL_ACCEL), "-S",
                                            "-loadvm", "s1" });

    qmp_test::ExitResult r = qmp_test::run_vm_to_exit(args);

    EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.stderr_text;
    EXPECT_TRUE(image_is_clean());
}

TEST_F(Snapshot, LoadvmAtStartUpAdoptsTheSnapshotsPolicy)
{
    // Taken with quirked; an auto VM on the same machine type would
    // otherwise be respected.
    take_snapshot("quirked", { "-accel", "kvm,kernel=model,kernel-irqchip=split,seoib-policy=quirked" });

    qmp_test::VmProcess vm({ .start_stopped = true,
                             .extra_args = drive({ "-loadvm", "quirked" }) });
    qmp_test::QmpClient qmp = vm.connect();
    qmp.negotiate();

    EXPECT_EQ(effective_policy(qmp), "quirked");
    EXPECT_EQ(events_done(qmp), PAUSE_AFTER);
    qmp.execute("quit");
}

/// The first vCPU's LVR as query-seoib reports it.
int64_t first_lvr(qmp_test::QmpClient &qmp)
{
    QObject reply = qmp.execute("query-seoib");
    const QObject *vcpus = reply.get("return") ? reply.get("return")->get("vcpus") : nullptr;
    if (!vcpus || !vcpus->as_list() || vcpus->as_list()->empty()) {
        return -1;
    }
    return vcpus->as_list()->front().get("lvr")->as_int().value_or(-1);
}

std::string read_file(const std::string &path)
{
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

constexpr int64_t LVR_DIRECTED_EOI = int64_t { 1 } << 24;

/// Design 4.5's runtime loadvm: snapshot policy x the running VM's policy
/// (explicit, or auto, which is respected on pc-q35-11.0 with IOAPIC 0x20).
TEST_F(Snapshot, LoadvmAcrossPoliciesAdoptsRebuildsOrRefuses)
{
    const std::string split = "kvm,kernel=model,kernel-irqchip=split";
    const std::string snapshots[] = { "quirked", "respected", "not-advertised" };
    for (const std::string &p : snapshots) {
        take_snapshot(p, { "-accel", split + ",seoib-policy=" + p });
    }
    struct Running {
        std::string policy; // as given, "" for none
        std::string effective;
    };
    const Running running[] = { { "", "respected" },
                                { "auto", "respected" },
                                { "quirked", "quirked" },
                                { "respected", "respected" },
                                { "not-advertised", "not-advertised" } };
    for (const Running &r : running) {
        for (const std::string &snap : snapshots) {
            const bool explicit_other = !r.policy.empty() && r.policy != "auto" && r.policy != snap;
            // KVM's SEOIB mode never goes back to quirked on one VM fd.
            const bool rebuild = !explicit_other && snap == "quirked" && r.effective != "quirked";
            SCOPED_TRACE("seoib-policy=" + (r.policy.empty() ? "(none)" : r.policy) + " loadvm " +
                         snap);
            const std::string trace = m_dir + "/trace";
            std::string accel = split + (r.policy.empty() ? "" : ",seoib-policy=" + r.policy);
            qmp_test::VmProcess vm({ .start_stopped = true,
                                     .extra_args = drive({ "-accel", accel, "-global",
                                                           "seoib-testdev.x-pause-after=3",
                                                           "-trace",
                                                           "enable=kvm_vm_rebuilt,file=" + trace }) });
            qmp_test::QmpClient qmp = vm.connect();
            qmp.negotiate();
            qmp.execute("cont");
            ASSERT_TRUE(wait_event(qmp, "STOP"));
            ASSERT_EQ(effective_policy(qmp), r.effective);
            const int64_t lvr_before = first_lvr(qmp);

            std::string out = hmp(qmp, "loadvm " + snap);

            if (explicit_other) {
                // Refused, naming both; the VM is untouched and runs on.
                EXPECT_EQ(out.rfind("Error: ", 0), 0U) << out;
                EXPECT_NE(out.find("seoib-policy=" + snap), std::string::npos) << out;
                EXPECT_NE(out.find("seoib-policy=" + r.policy), std::string::npos) << out;
                EXPECT_EQ(events_done(qmp), 3);
                EXPECT_EQ(effective_policy(qmp), r.effective);
                EXPECT_EQ(first_lvr(qmp), lvr_before);
            } else {
                EXPECT_EQ(out, "");
                EXPECT_EQ(events_done(qmp), PAUSE_AFTER);
                EXPECT_EQ(effective_policy(qmp), snap);
                // LVR bit 24 as the snapshot's guest had it.
                EXPECT_EQ((first_lvr(qmp) & LVR_DIRECTED_EOI) != 0, snap != "not-advertised")
                    << first_lvr(qmp);
            }
            qmp.execute("cont");
            ASSERT_TRUE(wait_guest_finished(qmp));
            EXPECT_EQ(events_done(qmp), GUEST_EVENTS);
            if (explicit_other ? r.effective != "quirked" : snap != "quirked") {
                // No storm: one handler entry per event.
                EXPECT_EQ(qom_get(qmp, TESTDEV, "handler-entries"),
                          QObject(int64_t { GUEST_EVENTS }));
            }
            qmp.execute("quit");
            vm.wait();
            const std::string traced = read_file(trace);
            EXPECT_EQ(traced.find("kvm_vm_rebuilt") != std::string::npos, rebuild) << traced;
            std::remove(trace.c_str());
        }
    }
    EXPECT_TRUE(image_is_clean());
}

TEST_F(Snapshot, QuirkedSnapshotOnHostKvmRebuildsTheVm)
{
    if (!qmp_test::host_kvm_available()) {
        GTEST_SKIP() << "/dev/kvm is not available";
    }
    const std::string split = "kvm,kernel=host,kernel-irqchip=split";
    take_snapshot("quirked", { "-accel", split + ",seoib-policy=quirked" },
                  std::string(qmp_test::HOST_ACCEL));
    const std::string trace = m_dir + "/trace";
    qmp_test::VmProcess vm = paused_vm({ "-trace", "enable=kvm_vm_rebuilt,file=" + trace },
                                       std::string(qmp_test::HOST_ACCEL));
    qmp_test::QmpClient qmp = vm.connect();
    qmp.negotiate();
    qmp.execute("cont");
    ASSERT_TRUE(wait_event(qmp, "STOP"));
    ASSERT_EQ(effective_policy(qmp), "respected");

    EXPECT_EQ(hmp(qmp, "loadvm quirked"), "");

    EXPECT_EQ(effective_policy(qmp), "quirked");
    EXPECT_NE(first_lvr(qmp) & LVR_DIRECTED_EOI, 0);
    EXPECT_EQ(qom_get(qmp, "/machine/accel", "x2apic-api-flags"), QObject(int64_t { 0 }));
    qmp.execute("cont");
    ASSERT_TRUE(wait_guest_finished(qmp));
    EXPECT_EQ(events_done(qmp), GUEST_EVENTS);
    qmp.execute("quit");
    vm.wait();
    EXPECT_NE(read_file(trace).find("kvm_vm_rebuilt"), std::string::npos);
    std::remove(trace.c_str());
    EXPECT_TRUE(image_is_clean());
}

TEST_F(Snapshot, QemuImgAndSeoibDeleteEachOthersSnapshots)
{
    take_snapshot("ours");
    ASSERT_EQ(shell("qemu-img snapshot -c theirs " + m_image).status, 0);
    {
        qmp_test::VmProcess vm = paused_vm();
        qmp_test::QmpClient qmp = vm.connect();
        qmp.negotiate();
        std::string info = hmp(qmp, "info snapshots");
        EXPECT_NE(info.find(" ours "), std::string::npos) << info;
        EXPECT_NE(info.find(" theirs "), std::string::npos) << info;
        EXPECT_EQ(hmp(qmp, "delvm theirs"), "");
        // A disk-only snapshot cannot be loaded as a VM.
        qmp.execute("quit");
        vm.wait();
    }
    EXPECT_TRUE(image_is_clean());
    ASSERT_EQ(shell("qemu-img snapshot -d ours " + m_image).status, 0);
    EXPECT_TRUE(image_is_clean());
    std::string list = qemu_img_list();
    EXPECT_EQ(list.find("ours"), std::string::npos) << list;
    EXPECT_EQ(list.find("theirs"), std::string::npos) << list;
}

/// The statuses of JOB_STATUS_CHANGE events for `id`, up to "concluded"
/// (or "null", the end of a dismissed job).
std::vector<std::string> job_statuses(qmp_test::QmpClient &qmp, const std::string &id)
{
    std::vector<std::string> seen;
    auto take = [&](const QObject &msg) {
        if (text(msg.get("event")) == "JOB_STATUS_CHANGE" &&
            text(msg.get("data")->get("id")) == id) {
            seen.push_back(text(msg.get("data")->get("status")));
            return true;
        }
        return false;
    };
    for (auto it = qmp.events().begin(); it != qmp.events().end();) {
        it = take(*it) ? qmp.events().erase(it) : it + 1;
    }
    auto ended = [&] {
        return !seen.empty() && (seen.back() == "concluded" || seen.back() == "null");
    };
    for (int i = 0; i < 100 && !ended(); ++i) {
        std::optional<QObject> msg = qmp.receive();
        if (!msg) {
            break;
        }
        if (!take(*msg)) {
            qmp.events().push_back(*msg);
        }
    }
    return seen;
}

TEST_F(Snapshot, QmpJobsSaveLoadAndDeleteAsQemu)
{
    qmp_test::VmProcess vm = [&] {
        std::vector<std::string> args = {
            "-blockdev", "driver=qcow2,node-name=n0,file.driver=file,file.filename=" + m_image,
            "-global", "seoib-testdev.x-pause-after=" + std::to_string(PAUSE_AFTER) };
        return qmp_test::VmProcess({ .start_stopped = true, .extra_args = args });
    }();
    qmp_test::QmpClient qmp = vm.connect();
    qmp.negotiate();
    qmp.execute("cont");
    ASSERT_TRUE(wait_event(qmp, "STOP"));
    const std::vector<std::string> ok = { "created", "running", "waiting", "pending",
                                          "concluded" };
    const std::vector<std::string> failed = { "created", "running", "aborting", "concluded" };

    EXPECT_EQ(error_desc(qmp.execute("snapshot-save", json(R"({"job-id": "j1", "tag": "t1",
        "vmstate": "n0", "devices": ["n0"]})"))), "");
    EXPECT_EQ(job_statuses(qmp, "j1"), ok);
    QObject jobs = qmp.execute("query-jobs");
    EXPECT_EQ(jobs, json(R"({"return": [{"id": "j1", "type": "snapshot-save",
        "status": "concluded", "current-progress": 1, "total-progress": 1}]})"));
    EXPECT_NE(qemu_img_list().find(" t1 "), std::string::npos);
    EXPECT_EQ(error_desc(qmp.execute("snapshot-save", json(R"({"job-id": "j1", "tag": "t2",
        "vmstate": "n0", "devices": ["n0"]})"))), "Job ID 'j1' already in use");
    EXPECT_EQ(error_desc(qmp.execute("job-finalize", json(R"({"id": "j1"})"))),
              "Job 'j1' in state 'concluded' cannot accept command verb 'finalize'");
    EXPECT_EQ(error_desc(qmp.execute("job-dismiss", json(R"({"id": "j1"})"))), "");
    EXPECT_EQ(job_statuses(qmp, "j1"), std::vector<std::string> { "null" });
    EXPECT_EQ(error_desc(qmp.execute("job-dismiss", json(R"({"id": "j1"})"))), "Job not found");

    // The guest runs on, then goes back to the snapshot by a job.
    qmp.execute("cont");
    ASSERT_TRUE(wait_guest_finished(qmp));
    qmp.execute("stop");
    EXPECT_EQ(error_desc(qmp.execute("snapshot-load", json(R"({"job-id": "j2", "tag": "t1",
        "vmstate": "n0", "devices": ["n0"]})"))), "");
    EXPECT_EQ(job_statuses(qmp, "j2"), ok);
    EXPECT_EQ(events_done(qmp), PAUSE_AFTER);

    EXPECT_EQ(error_desc(qmp.execute("snapshot-load", json(R"({"job-id": "j3", "tag": "nosuch",
        "vmstate": "n0", "devices": ["n0"]})"))), "");
    EXPECT_EQ(job_statuses(qmp, "j3"), failed);
    EXPECT_EQ(text(qmp.execute("query-jobs").get("return")->as_list()->front().get("error")),
              "Snapshot 'nosuch' does not exist in one or more devices");
    EXPECT_EQ(error_desc(qmp.execute("snapshot-save", json(R"({"job-id": "j4", "tag": "t",
        "vmstate": "nosuch", "devices": []})"))), "");
    EXPECT_EQ(job_statuses(qmp, "j4"), failed);
    EXPECT_EQ(text(qmp.execute("query-jobs").get("return")->as_list()->front().get("error")),
              "No block device node 'nosuch'");
    EXPECT_EQ(error_desc(qmp.execute("snapshot-delete", json(R"({"job-id": "j5", "tag": "t1",
        "devices": ["n0"]})"))), "");
    EXPECT_EQ(job_statuses(qmp, "j5"), ok);

    qmp.execute("cont");
    ASSERT_TRUE(wait_guest_finished(qmp));
    EXPECT_EQ(events_done(qmp), GUEST_EVENTS);
    qmp.execute("quit");
    vm.wait();
    EXPECT_TRUE(image_is_clean());
    EXPECT_EQ(qemu_img_list().find(" t1 "), std::string::npos);
}

TEST_F(Snapshot, HmpErrorsAreQemus)
{
    ASSERT_EQ(shell("qemu-img snapshot -c diskonly " + m_image).status, 0);
    qmp_test::VmProcess vm = paused_vm();
    qmp_test::QmpClient qmp = vm.connect();
    qmp.negotiate();

    EXPECT_EQ(hmp(qmp, "loadvm nosuch"),
              "Error: Snapshot 'nosuch' does not exist in one or more devices\r\n");
    EXPECT_EQ(hmp(qmp, "loadvm diskonly"),
              "Error: This is a disk-only snapshot. Revert to it offline using qemu-img\r\n");
    EXPECT_EQ(hmp(qmp, "loadvm"),
              "loadvm: string expected\r\nTry \"help loadvm\" for more information\r\n");
    EXPECT_EQ(hmp(qmp, "savevm a b"),
              "savevm: extraneous characters at the end of line\r\n"
              "Try \"help savevm\" for more information\r\n");
    EXPECT_EQ(hmp(qmp, "delvm nosuch"), "");
    EXPECT_EQ(hmp(qmp, "bogus x"), "unknown command: 'bogus'\r\n");
    EXPECT_EQ(hmp(qmp, "info bogus"), "unknown command: 'info bogus'\r\n");
    EXPECT_EQ(status_of(qmp), "prelaunch");
    qmp.execute("quit");
    vm.wait();
    EXPECT_TRUE(image_is_clean());
}

TEST_F(Snapshot, BadImagesAndTagsFailAtStartUp)
{
    std::string not_qcow2 = m_dir + "/not-qcow2";
    std::ofstream(not_qcow2) << "just text\n";
    const std::string model(qmp_test::MODEL_ACCEL);
    struct Case {
        std::vector<std::string> args;
        std::string error;
    };
    const std::vector<Case> cases = {
        { { "-drive", "if=none,file=" + not_qcow2 + ",format=qcow2,id=d" }, "Could not open" },
        { { "-drive", "if=none,file=" + m_image + ",format=raw,id=d" }, "Unknown driver 'raw'" },
        { { "-drive", "file=" + m_image + ",format=qcow2" }, "if=ide" },
        { { "-drive", "if=none,format=qcow2,id=d" },
          "A block device must be specified for \"file\"" },
        { { "-blockdev", "driver=qcow2,file.driver=file,file.filename=" + m_image },
          "'node-name' must be specified for the root node" },
        { { "-drive", "if=none,file=" + m_image + ",format=qcow2,id=d", "-loadvm", "nosuch" },
          "-loadvm nosuch: Snapshot 'nosuch' does not exist in one or more devices" },
        { { "-loadvm", "s1" }, "no block device can store vmstate for snapshot" },
    };
    for (const Case &c : cases) {
        std::vector<std::string> args = { "-nodefaults", "-display", "none", "-M", "q35",
                                          "-accel", model };
        args.insert(args.end(), c.args.begin(), c.args.end());
        qmp_test::ExitResult r = qmp_test::run_vm_to_exit(args);
        EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1)
            << c.args.back() << ": status " << r.status << " " << r.stderr_text;
        EXPECT_NE(r.stderr_text.find(c.error), std::string::npos)
            << c.args.back() << ": " << r.stderr_text;
    }
    EXPECT_TRUE(image_is_clean());
}

TEST_F(Snapshot, BlockdevInBothLibvirtFormsTakesSnapshots)
{
    const std::vector<std::vector<std::string>> forms = {
        { "-blockdev", "driver=qcow2,node-name=n0,file.driver=file,file.filename=" + m_image },
        { "-blockdev", "driver=file,node-name=f0,filename=" + m_image, "-blockdev",
          "driver=qcow2,node-name=n0,file=f0" },
    };
    int n = 0;
    for (const auto &form : forms) {
        qmp_test::VmProcess vm({ .start_stopped = true, .extra_args = form });
        qmp_test::QmpClient qmp = vm.connect();
        qmp.negotiate();
        EXPECT_EQ(hmp(qmp, "savevm form" + std::to_string(n)), "");
        qmp.execute("quit");
        vm.wait();
        EXPECT_NE(qemu_img_list().find("form" + std::to_string(n)), std::string::npos);
        n++;
    }
    EXPECT_TRUE(image_is_clean());
}

} // namespace
