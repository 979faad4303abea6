/*
 * loadvm of a quirked snapshot into a VM whose SEOIB flag is set: the KVM
 * VM is rebuilt (design 4.5).  Every backend call of the new VM is made to
 * fail in turn, with the errnos the kernel documents; each time the load
 * fails with the ioctl's name, no descriptor is left behind, and the
 * running VM keeps its policy and runs its guest to the end.  On the
 * kernel model and, where /dev/kvm opens, on the host.
 */
#include "accel/kvm/kvm-accel.h"
#include "hw/misc/seoib-testdev.h"
#include "system/builtin-types.h"
#include "system/snapshot.h"
#include "system/vl.h"
#include "system/vm.h"
#include "tests/unit/block/qcow2-test-util.h"

#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using accel::kvm::FaultInjector;
using accel::kvm::KVMAccel;
using hw::misc::SeoibTestdevState;

constexpr uint64_t GUEST_EVENTS = 16;
constexpr uint64_t PAUSED_AT = 3;
constexpr int ERRNOS[] = { EINVAL, EFAULT, ENOMEM, EINTR, EAGAIN, EEXIST, E2BIG };

size_t open_fds()
{
    size_t n = 0;
    if (DIR *d = ::opendir("/proc/self/fd")) {
        while (::readdir(d) != nullptr) {
            n++;
        }
        ::closedir(d);
    }
    return n;
}

SeoibTestdevState *find_testdev(qom::Object &obj)
{
    if (auto *dev = qom::dyn_cast<SeoibTestdevState>(&obj)) {
        return dev;
    }
    SeoibTestdevState *found = nullptr;
    obj.for_each_child([&](qom::Object &child) {
        if (!found) {
            found = find_testdev(child);
        }
    });
    return found;
}

class SnapshotRebuild : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override
    {
        REQUIRE_QEMU_IMG();
        if (GetParam() == "host") {
            int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
            if (fd < 0) {
                GTEST_SKIP() << "/dev/kvm is not available";
            }
            ::close(fd);
        }
        m_null = std::fopen("/dev/null", "w");
        m_image = qcow2_test::create_image(m_dir, "disk.qcow2", "compat=1.1");
    }
    void TearDown() override
    {
        if (m_null) {
            std::fclose(m_null);
        }
    }

    /// A VM with the built-in guest, booted and run for PAUSED_AT events.
    std::unique_ptr<sysemu::Vm> paused_vm(const std::string &policy)
    {
        std::vector<std::string> args = { "-M", "q35", "-nodefaults", "-display", "none",
                                          "-accel",
                                          "kvm,kernel=" + GetParam() + ",kernel-irqchip=split" +
                                              (policy.empty() ? "" : ",seoib-policy=" + policy) };
        std::vector<std::string_view> views(args.begin(), args.end());
        auto cl = sysemu::parse_command_line(views);
        EXPECT_TRUE(cl.has_value()) << cl.error().message();
        auto vm = sysemu::build_vm(cl.value(), sysemu::builtin_type_registry());
        EXPECT_TRUE(vm.has_value()) << vm.error().message();
        if (!vm) {
            return nullptr;
        }
        EXPECT_TRUE(vm.value()->start_main_job(m_null, m_null, true));
        while (testdev(*vm.value()).counters().events_done < PAUSED_AT) {
            EXPECT_FALSE(vm.value()->main_job_step(m_null, m_null));
        }
        return vm.release_value();
    }

    static SeoibTestdevState &testdev(sysemu::Vm &vm) { return *find_testdev(vm.machine()); }
    static KVMAccel &kvm(sysemu::Vm &vm) { return *qom::dyn_cast<KVMAccel>(&vm.accel()); }

    sysemu::BlockImages images()
    {
        auto images = sysemu::BlockImages::open({ { "disk0", m_image } });
        EXPECT_TRUE(images.has_value()) << images.error().message();
        return images.release_value();
    }

    /// Runs the guest to its end; returns its counters.
    hw::misc::SeoibTestdevCounters finish(sysemu::Vm &vm)
    {
        while (!vm.main_job_step(m_null, stderr)) {
        }
        EXPECT_EQ(vm.main_job_status(), 0);
        return testdev(vm).counters();
    }

    qcow2_test::TempDir m_dir;
    std::string m_image;
    std::FILE *m_null { nullptr };
};

TEST_P(SnapshotRebuild, EveryFailureOfTheNewVmLeavesTheRunningOneRunning)
{
    {
        std::unique_ptr<sysemu::Vm> quirked = paused_vm("quirked");
        ASSERT_TRUE(quirked);
        sysemu::BlockImages held = images();
        ASSERT_TRUE(held.save(*quirked, "quirked").has_value());
    }
    bool loaded = false;
    for (uint64_t nth = 1; !loaded && nth < 200; nth++) {
        SCOPED_TRACE("backend call " + std::to_string(nth));
        const int error = ERRNOS[nth % std::size(ERRNOS)];
        std::unique_ptr<sysemu::Vm> vm = paused_vm("");
        ASSERT_TRUE(vm);
        ASSERT_EQ(kvm(*vm).seoib()->effective, qapi::SeoibPolicy::Respected);
        sysemu::BlockImages held = images();
        auto injector = std::make_shared<FaultInjector>();
        kvm(*vm).set_fault_injector(injector);
        const size_t fds = open_fds();
        injector->arm(nth, error);

        auto r = held.load(*vm, "quirked");
        const std::optional<accel::kvm::KvmCall> fired = injector->fired();
        injector->arm(0, 0);

        if (!fired) {
            // Past the last call: the load went through on a new KVM VM.
            ASSERT_TRUE(r.has_value()) << r.error().message();
            loaded = true;
            EXPECT_EQ(kvm(*vm).vm_rebuilds(), 1U);
            EXPECT_EQ(kvm(*vm).seoib()->effective, qapi::SeoibPolicy::Quirked);
            EXPECT_EQ(testdev(*vm).counters().events_done, 5U - 2U); // the snapshot's
            EXPECT_EQ(finish(*vm).events_done, GUEST_EVENTS);
            continue;
        }
        ASSERT_FALSE(r.has_value()) << "an injected failure of "
                                    << accel::kvm::kvm_call_name(*fired)
                                    << " went unnoticed";
        EXPECT_NE(r.error().message().find(accel::kvm::kvm_call_name(*fired)),
                  std::string::npos)
            << r.error().message();
        EXPECT_EQ(open_fds(), fds) << "the new VM's descriptors were not all closed";
        // Untouched: the VM's policy, its KVM VM, and its guest, which
        // carries on from where it was and ends without a storm.
        EXPECT_EQ(kvm(*vm).vm_rebuilds(), 0U);
        EXPECT_EQ(kvm(*vm).seoib()->effective, qapi::SeoibPolicy::Respected);
        EXPECT_EQ(testdev(*vm).counters().events_done, PAUSED_AT);
        hw::misc::SeoibTestdevCounters seen = finish(*vm);
        EXPECT_EQ(seen.events_done, GUEST_EVENTS);
        EXPECT_EQ(seen.handler_entries, GUEST_EVENTS);
    }
    EXPECT_TRUE(loaded) << "the load never succeeded";
    EXPECT_EQ(qcow2_test::check(m_image).status, 0) << qcow2_test::check(m_image).out;
}

INSTANTIATE_TEST_SUITE_P(Kernels, SnapshotRebuild, ::testing::Values("model", "host"),
                         [](const auto &info) { return info.param; });

} // namespace
