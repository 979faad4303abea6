/*
 * End to end through the seoib-vm binary, on the real /dev/kvm and on the
 * kernel model: for pc-q35-11.0 and pc-q35-10.2 x {split, on} x {no global,
 * -global ioapic.version=0x11} x every policy, the effective policy and the
 * LVR the vCPU reads back (bit 24 set exactly when design §4.4 says).
 *
 * The expectation is written out from the design's table here, not taken
 * from the policy engine under test.
 */
#include "cli-runner.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <regex>
#include <string>

namespace {

enum class Backend { Host, Model };

struct Case {
    Backend backend;
    std::string machine;
    bool split;
    bool ioapic_0x11;
    std::string policy;
};

struct Expected {
    bool error;
    std::string effective;
    bool lvr_bit24;
};

/// Design §4.4, for a kernel with the SEOIB flags.
Expected expected(const Case &c)
{
    const bool legacy = c.machine == "pc-q35-10.2";
    // The guest-visible IOAPIC: kvm-ioapic (0x11) with kernel-irqchip=on.
    const bool ioapic_0x20 = c.split && !c.ioapic_0x11;
    std::string effective = c.policy;
    if (c.policy == "auto") {
        if (!c.split || legacy) {
            effective = "quirked";
        } else {
            effective = ioapic_0x20 ? "respected" : "not-advertised";
        }
    }
    if (effective == "respected" && (!c.split || !ioapic_0x20)) {
        return { true, "", false };
    }
    // LVR bit 24: respected advertises; quirked advertises only with split
    // (KVM's legacy behaviour); not-advertised never does.
    bool bit24 = effective == "respected" ||
                 (effective == "quirked" && c.split);
    return { false, effective, bit24 };
}

class SeoibVmEndToEnd : public ::testing::TestWithParam<Case> { };

TEST_P(SeoibVmEndToEnd, EffectivePolicyAndLvrFollowTheDesignTable)
{
    const Case &c = GetParam();
    if (c.backend == Backend::Host) {
        if (auto reason = cli_test::kvm_unavailable()) {
            GTEST_SKIP() << "/dev/kvm: " << *reason;
        }
    }
    std::vector<std::string> args = {
        "-nodefaults", "-display", "none", "-M", c.machine, "-accel",
        fmt::format("kvm,kernel={},kernel-irqchip={},seoib-policy={}",
                    c.backend == Backend::Host ? "host" : "model",
                    c.split ? "split" : "on", c.policy),
    };
    if (c.ioapic_0x11) {
        args.insert(args.end(), { "-global", "ioapic.version=0x11" });
    }
    cli_test::Run run = cli_test::run_seoib_vm(args);
    Expected want = expected(c);

    if (want.error) {
        EXPECT_EQ(run.status, 1) << run.out;
        EXPECT_NE(run.err.find("seoib-policy=respected"), std::string::npos)
            << run.err;
        return;
    }
    ASSERT_EQ(run.status, 0) << run.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(run.out, m,
                                  std::regex("requested.*, ([a-z-]+) in effect")))
        << run.out;
    EXPECT_EQ(m[1].str(), want.effective);
    ASSERT_TRUE(std::regex_search(run.out, m, std::regex("LVR 0x([0-9a-f]{8})")))
        << run.out;
    const unsigned long lvr = std::stoul(m[1].str(), nullptr, 16);
    EXPECT_EQ((lvr >> 24) & 1, want.lvr_bit24 ? 1U : 0U) << run.out;
    EXPECT_EQ(lvr & 0xffffff, 0x050014U);
}

std::vector<Case> cases()
{
    std::vector<Case> out;
    for (Backend b : { Backend::Host, Backend::Model }) {
        for (const char *m : { "pc-q35-11.0", "pc-q35-10.2" }) {
            for (bool split : { true, false }) {
                for (bool v11 : { false, true }) {
                    for (const char *p :
                         { "auto", "quirked", "respected", "not-advertised" }) {
                        out.push_back({ b, m, split, v11, p });
                    }
                }
            }
        }
    }
    return out;
}

INSTANTIATE_TEST_SUITE_P(
    Matrix, SeoibVmEndToEnd, ::testing::ValuesIn(cases()),
    [](const auto &info) {
        const Case &c = info.param;
        std::string n = fmt::format(
            "{}_{}_{}_{}_{}", c.backend == Backend::Host ? "host" : "model",
            c.machine, c.split ? "split" : "on",
            c.ioapic_0x11 ? "ioapic11" : "ioapic20", c.policy);
        for (char &ch : n) {
            if (ch == '-' || ch == '.') {
                ch = '_';
            }
        }
        return n;
    });

TEST(SeoibVmOldKernel, AutoFallsBackToQuirkedWithOneWarning)
{
    cli_test::Run run = cli_test::run_seoib_vm(
        { "-M", "q35", "-accel", "kvm,kernel=model-6.12,kernel-irqchip=split" });
    ASSERT_EQ(run.status, 0) << run.err;
    EXPECT_NE(run.out.find("quirked in effect"), std::string::npos);
    EXPECT_EQ(cli_test::count(run.err, "warning:"), 1U) << run.err;
    EXPECT_NE(run.err.find("falls back to quirked"), std::string::npos);
}

TEST(SeoibVmOldKernel, ExplicitPolicyFailsNamingTheWayOut)
{
    cli_test::Run run = cli_test::run_seoib_vm(
        { "-M", "q35", "-accel",
          "kvm,kernel=model-6.12,kernel-irqchip=split,seoib-policy=not-advertised" });
    EXPECT_EQ(run.status, 1);
    EXPECT_NE(run.err.find("use seoib-policy=quirked"), std::string::npos)
        << run.err;
}

TEST(SeoibVmSmp, MoreThan255ApicIdsSetTheIdFlags)
{
    cli_test::Run run = cli_test::run_seoib_vm(
        { "-M", "q35", "-smp", "1,maxcpus=288", "-accel",
          "kvm,kernel=model,kernel-irqchip=split" });
    ASSERT_EQ(run.status, 0) << run.err;
    EXPECT_NE(run.out.find("USE_32BIT_IDS|DISABLE_BROADCAST_QUIRK|"
                           "ENABLE_SUPPRESS_EOI_BROADCAST"),
              std::string::npos)
        << run.out;
}

TEST(SeoibVmSmp, MoreThan255ApicIdsNeedAnInKernelLapic)
{
    cli_test::Run run = cli_test::run_seoib_vm(
        { "-M", "q35", "-smp", "1,maxcpus=288", "-accel",
          "kvm,kernel=model,kernel-irqchip=off" });
    EXPECT_EQ(run.status, 1);
    EXPECT_NE(run.err.find("current -smp configuration requires kernel "
                           "irqchip and X2APIC API support."),
              std::string::npos)
        << run.err;
}

TEST(SeoibVmSmp, EveryVcpuReportsItsLvr)
{
    cli_test::Run run = cli_test::run_seoib_vm(
        { "-M", "q35", "-smp", "4", "-accel",
          "kvm,kernel=model,kernel-irqchip=split" });
    ASSERT_EQ(run.status, 0) << run.err;
    // One line per vCPU in the report (the guest's own line follows).
    for (int cpu = 0; cpu < 4; cpu++) {
        EXPECT_NE(run.out.find(fmt::format("APIC ID {}, LVR 0x01050014", cpu)),
                  std::string::npos)
            << run.out;
    }
    EXPECT_EQ(run.out.find("APIC ID 4,"), std::string::npos);
}

TEST(SeoibVmIrqchipOff, QuirkedAndNoLvrWithoutAnInKernelLapic)
{
    cli_test::Run run = cli_test::run_seoib_vm(
        { "-M", "q35", "-accel", "kvm,kernel=model,kernel-irqchip=off" });
    ASSERT_EQ(run.status, 0) << run.err;
    EXPECT_NE(run.out.find("quirked in effect"), std::string::npos);
    EXPECT_NE(run.out.find("no in-kernel LAPIC"), std::string::npos) << run.out;
}

TEST(SeoibVmIrqchipOff, ExplicitPolicyNeedsAnInKernelLapic)
{
    cli_test::Run run = cli_test::run_seoib_vm(
        { "-M", "q35", "-accel",
          "kvm,kernel=model,kernel-irqchip=off,seoib-policy=not-advertised" });
    EXPECT_EQ(run.status, 1);
    EXPECT_NE(run.err.find("requires an in-kernel LAPIC"), std::string::npos)
        << run.err;
}

TEST(SeoibVmBackend, KernelHostFailsClearlyWithoutKvmDevice)
{
    cli_test::Run run = cli_test::run_seoib_vm(
        { "-M", "q35", "-accel", "kvm,kernel=host,device=/nonexistent/kvm" });
    EXPECT_EQ(run.status, 1);
    EXPECT_NE(run.err.find("Could not access KVM kernel module"),
              std::string::npos)
        << run.err;
}

TEST(SeoibVmBackend, AutoFallsBackToTheModelWithANotice)
{
    cli_test::Run run = cli_test::run_seoib_vm(
        { "-M", "q35", "-accel", "kvm,device=/nonexistent/kvm" });
    ASSERT_EQ(run.status, 0) << run.err;
    EXPECT_NE(run.err.find("using the kernel model"), std::string::npos);
    EXPECT_NE(run.out.find("(kernel model)"), std::string::npos);
}

} // namespace
