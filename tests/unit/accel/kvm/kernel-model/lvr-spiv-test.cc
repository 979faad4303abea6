// The LVR's directed-EOI bit and SPIV bit 12 (kvm-facts §2.1, §2.2).
#include "model-test-helpers.h"

#include <gtest/gtest.h>

#include <ostream>

namespace accel::kvm::test {
namespace {

struct LvrCase {
    const char *name;
    KernelProfile profile;
    bool split;
    uint64_t x2apic_api;
    bool x2apic_cpuid;
    uint32_t lvr;
};

std::ostream &operator<<(std::ostream &os, const LvrCase &c)
{
    return os << c.name;
}

class LvrAfterSetCpuid : public testing::TestWithParam<LvrCase> {};

// Bit 24 = x2APIC in CPUID and advertise(mode, irqchip); kernels without the
// SEOIB change: x2APIC in CPUID and no in-kernel IOAPIC.
TEST_P(LvrAfterSetCpuid, MatchesTheKernel)
{
    const LvrCase &c = GetParam();
    ModelHarness h(c.profile);
    if (c.split) {
        h.split();
    } else {
        h.kernel_irqchip();
    }
    if (c.x2apic_api != 0) {
        h.x2apic_api(c.x2apic_api);
    }
    std::unique_ptr<Vcpu> vcpu = MUST(h.vm().create_vcpu(0));
    std::vector<CpuidEntry> cpuid = MUST(h.system().get_supported_cpuid());
    for (CpuidEntry &entry : cpuid) {
        if (entry.function == 1 && !c.x2apic_cpuid) {
            entry.ecx &= ~CPUID_EXT_X2APIC;
        }
    }

    MUST(vcpu->set_cpuid(cpuid));

    EXPECT_EQ(MUST(vcpu->get_lapic()).reg(APIC_LVR), c.lvr);
}

INSTANTIATE_TEST_SUITE_P(
    Table, LvrAfterSetCpuid,
    testing::Values(
        LvrCase { "SplitQuirked", KernelProfile::Model, true, 0, true, LVR_DIRECTED_EOI },
        LvrCase { "SplitEnable", KernelProfile::Model, true, 0x4, true, LVR_DIRECTED_EOI },
        LvrCase { "SplitDisable", KernelProfile::Model, true, 0x8, true, LVR_PLAIN },
        LvrCase { "Split32BitIdsOnly", KernelProfile::Model, true, 0x1, true, LVR_DIRECTED_EOI },
        LvrCase { "SplitWithoutX2apic", KernelProfile::Model, true, 0, false, LVR_PLAIN },
        LvrCase { "KernelQuirked", KernelProfile::Model, false, 0, true, LVR_PLAIN },
        LvrCase { "KernelDisable", KernelProfile::Model, false, 0x8, true, LVR_PLAIN },
        LvrCase { "Old612Split", KernelProfile::Model6_12, true, 0x3, true, LVR_DIRECTED_EOI },
        LvrCase { "Old612Kernel", KernelProfile::Model6_12, false, 0, true, LVR_PLAIN },
        LvrCase { "Old61SplitWithoutX2apic", KernelProfile::Model6_1, true, 0, false, LVR_PLAIN }),
    [](const testing::TestParamInfo<LvrCase> &info) { return info.param.name; });

TEST(Lvr, AtCreationHasNoDirectedEoi)
{
    ModelHarness h;
    h.split();

    std::unique_ptr<Vcpu> vcpu = MUST(h.vm().create_vcpu(0));

    EXPECT_EQ(MUST(vcpu->get_lapic()).reg(APIC_LVR), LVR_PLAIN);
}

TEST(Lvr, EnableCapDoesNotRecomputeIt)
{
    ModelHarness h;
    h.split();
    Vcpu &vcpu = h.add_vcpu(0);

    h.x2apic_api(KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST);

    EXPECT_EQ(MUST(vcpu.get_lapic()).reg(APIC_LVR), LVR_DIRECTED_EOI);
}

TEST(Lvr, SetLapicRecomputesItAfterAModeChange)
{
    ModelHarness h;
    h.split();
    Vcpu &vcpu = h.add_vcpu(0);
    h.x2apic_api(KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST);

    MUST(vcpu.set_lapic(MUST(vcpu.get_lapic())));

    EXPECT_EQ(MUST(vcpu.get_lapic()).reg(APIC_LVR), LVR_PLAIN);
}

TEST(Lvr, SetLapicReplacesTheUserspaceValue)
{
    ModelHarness h;
    h.split();
    Vcpu &vcpu = h.add_vcpu(0);
    LapicState state = MUST(vcpu.get_lapic());
    state.set_reg(APIC_LVR, 0);

    MUST(vcpu.set_lapic(state));

    EXPECT_EQ(MUST(vcpu.get_lapic()).reg(APIC_LVR), LVR_DIRECTED_EOI);
}

// INIT resets the LAPIC, which recomputes the LVR from the current mode.
TEST(Lvr, InitRecomputesIt)
{
    ModelHarness h;
    h.split();
    h.add_vcpu(0);
    Vcpu &ap = h.add_vcpu(1);
    h.x2apic_api(KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST);
    MUST(h.vm().signal_msi(MsiMessage { .address_lo = MSI_ADDRESS | 1 << 12, .data = DM_INIT }));

    (void)run(ap);

    EXPECT_EQ(MUST(ap.get_lapic()).reg(APIC_LVR), LVR_PLAIN);
}

struct SpivCase {
    const char *name;
    uint64_t x2apic_api;
    uint32_t read_back;
};

std::ostream &operator<<(std::ostream &os, const SpivCase &c)
{
    return os << c.name;
}

class GuestSpivWrite : public testing::TestWithParam<SpivCase> {};

// A guest WRMSR to SPIV keeps bit 12 only if the LVR offers it.
TEST_P(GuestSpivWrite, Bit12FollowsTheLvr)
{
    ModelHarness h;
    h.split();
    if (GetParam().x2apic_api != 0) {
        h.x2apic_api(GetParam().x2apic_api);
    }
    Vcpu &vcpu = h.add_vcpu(0);
    h.ram().load(CODE_BASE, GuestCode().wrmsr(MSR_X2APIC_SPIV, SPIV_ENABLED_SEOIB).out8(0x10).bytes());

    ASSERT_EQ(io_port(run(vcpu)), 0x10);

    EXPECT_EQ(MUST(vcpu.get_lapic()).reg(APIC_SPIV), GetParam().read_back);
}

INSTANTIATE_TEST_SUITE_P(
    Table, GuestSpivWrite,
    testing::Values(SpivCase { "Quirked", 0, SPIV_ENABLED_SEOIB },
                    SpivCase { "Enable", 0x4, SPIV_ENABLED_SEOIB },
                    SpivCase { "Disable", 0x8, SPIV_ENABLED }),
    [](const testing::TestParamInfo<SpivCase> &info) { return info.param.name; });

TEST(GuestSpivWrite, MaskFollowsTheCurrentLvrNotTheMode)
{
    ModelHarness h;
    h.split();
    Vcpu &vcpu = h.add_vcpu(0);
    // DISABLE after the LVR was computed: the LVR still offers bit 12.
    h.x2apic_api(KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST);
    h.ram().load(CODE_BASE, GuestCode().wrmsr(MSR_X2APIC_SPIV, SPIV_ENABLED_SEOIB).out8(0x10).bytes());

    ASSERT_EQ(io_port(run(vcpu)), 0x10);

    EXPECT_EQ(MUST(vcpu.get_lapic()).reg(APIC_SPIV), SPIV_ENABLED_SEOIB);
}

TEST(SetLapicSpiv, Bit12IsNotMasked)
{
    ModelHarness h;
    h.split().x2apic_api(KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST);

    Vcpu &vcpu = h.add_vcpu(0, { .spiv = SPIV_ENABLED_SEOIB });

    EXPECT_EQ(MUST(vcpu.get_lapic()).reg(APIC_SPIV), SPIV_ENABLED_SEOIB);
}

} // namespace
} // namespace accel::kvm::test
