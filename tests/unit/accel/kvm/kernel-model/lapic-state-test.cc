// KVM_GET/SET_LAPIC fixups (kvm-facts §3.4) and the APIC base MSR.
#include "model-test-helpers.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <ostream>

namespace accel::kvm::test {
namespace {

constexpr uint32_t VCPU_ID = 3;
constexpr uint64_t XAPIC_BASE = APIC_DEFAULT_PHYS_BASE | MSR_IA32_APICBASE_ENABLE;
constexpr uint64_t X2APIC_BASE = XAPIC_BASE | MSR_IA32_APICBASE_EXTD;

struct IdCase {
    const char *name;
    uint64_t x2apic_api;
    uint32_t apic_id;
};

std::ostream &operator<<(std::ostream &os, const IdCase &c)
{
    return os << c.name;
}

class X2apicIdFormat : public testing::TestWithParam<IdCase> {};

TEST_P(X2apicIdFormat, GetLapicReportsIt)
{
    ModelHarness h;
    h.split();
    if (GetParam().x2apic_api != 0) {
        h.x2apic_api(GetParam().x2apic_api);
    }
    Vcpu &vcpu = h.add_vcpu(VCPU_ID);

    EXPECT_EQ(MUST(vcpu.get_lapic()).reg(APIC_ID), GetParam().apic_id);
}

INSTANTIATE_TEST_SUITE_P(Table, X2apicIdFormat,
                         testing::Values(IdCase { "Legacy", 0, VCPU_ID << 24 },
                                         IdCase { "ThirtyTwoBit", 0x1, VCPU_ID }),
                         [](const testing::TestParamInfo<IdCase> &info) { return info.param.name; });

TEST(SetLapic, AnotherX2apicIdIsEinvalWith32BitIds)
{
    ModelHarness h;
    h.split().x2apic_api(KVM_X2APIC_API_USE_32BIT_IDS);
    Vcpu &vcpu = h.add_vcpu(VCPU_ID);
    LapicState state = MUST(vcpu.get_lapic());
    state.set_reg(APIC_ID, 9);

    qapi::Result<void> result = vcpu.set_lapic(state);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().os_errno(), EINVAL);
}

TEST(SetLapic, AnotherX2apicIdIsIgnoredWithout32BitIds)
{
    ModelHarness h;
    h.split();
    Vcpu &vcpu = h.add_vcpu(VCPU_ID);

    set_lapic_regs(vcpu, { { APIC_ID, 9U << 24 } });

    EXPECT_EQ(MUST(vcpu.get_lapic()).reg(APIC_ID), VCPU_ID << 24);
}

// SPIV is written before the page is validated (kvm_apic_set_state()).
TEST(SetLapic, RefusedStateStillChangesSpiv)
{
    ModelHarness h;
    h.split().x2apic_api(KVM_X2APIC_API_USE_32BIT_IDS);
    Vcpu &vcpu = h.add_vcpu(VCPU_ID, { .spiv = 0xFF });
    LapicState state = MUST(vcpu.get_lapic());
    state.set_reg(APIC_ID, 9);
    state.set_reg(APIC_SPIV, SPIV_ENABLED);

    ASSERT_FALSE(vcpu.set_lapic(state).has_value());

    EXPECT_EQ(MUST(vcpu.get_lapic()).reg(APIC_SPIV), SPIV_ENABLED);
}

TEST(SetLapic, X2apicLdrIsDerivedFromTheId)
{
    ModelHarness h;
    h.split();
    Vcpu &vcpu = h.add_vcpu(VCPU_ID);

    set_lapic_regs(vcpu, { { APIC_LDR, 0xDEAD0000 } });

    // Cluster 0, member bit 3.
    EXPECT_EQ(MUST(vcpu.get_lapic()).reg(APIC_LDR), 1U << VCPU_ID);
}

TEST(SetLapic, XapicIdIsWritable)
{
    ModelHarness h;
    h.split();
    Vcpu &vcpu = h.add_vcpu(VCPU_ID, { .mode = ApicMode::Xapic });

    set_lapic_regs(vcpu, { { APIC_ID, 7U << 24 } });

    EXPECT_EQ(MUST(vcpu.get_lapic()).reg(APIC_ID), 7U << 24);
}

// The x2APIC ICR is one 64-bit register inside the kernel; userspace sees
// ICR and ICR2.
TEST(SetLapic, X2apicIcrRoundTrips)
{
    ModelHarness h;
    h.split();
    Vcpu &vcpu = h.add_vcpu(VCPU_ID);

    set_lapic_regs(vcpu, { { APIC_ICR, 0x4012 }, { APIC_ICR2, 5 } });

    LapicState state = MUST(vcpu.get_lapic());
    EXPECT_EQ(state.reg(APIC_ICR), 0x4012U);
    EXPECT_EQ(state.reg(APIC_ICR2), 5U);
}

TEST(GetLapic, WithoutIrqchipIsEinval)
{
    ModelHarness h;
    std::unique_ptr<Vcpu> vcpu = MUST(h.vm().create_vcpu(0));

    qapi::Result<LapicState> state = vcpu->get_lapic();

    ASSERT_FALSE(state.has_value());
    EXPECT_EQ(state.error().os_errno(), EINVAL);
}

TEST(ApicBase, X2apicBitIsReservedWithoutX2apicInCpuid)
{
    ModelHarness h;
    h.split();
    Vcpu &vcpu = h.add_vcpu(0, { .mode = ApicMode::Xapic, .x2apic_cpuid = false });
    std::array<MsrEntry, 1> msrs { MsrEntry { MSR_IA32_APICBASE, X2APIC_BASE } };

    EXPECT_EQ(MUST(vcpu.set_msrs(msrs)), 0U);
}

TEST(ApicBase, HostMayLeaveX2apicForXapic)
{
    ModelHarness h;
    h.split();
    Vcpu &vcpu = h.add_vcpu(1);
    std::array<MsrEntry, 1> msrs { MsrEntry { MSR_IA32_APICBASE, XAPIC_BASE } };

    EXPECT_EQ(MUST(vcpu.set_msrs(msrs)), 1U);
}

// SDM 11.12.5: x2APIC -> xAPIC is an illegal transition for the guest (#GP).
TEST(ApicBase, GuestCannotLeaveX2apicForXapic)
{
    constexpr uint8_t GP_PORT = 0x0D;
    ModelHarness h;
    h.split();
    Vcpu &vcpu = h.add_vcpu(1);
    // An AP starts uninitialised (waiting for INIT); make it runnable as a
    // VMM restoring a running vCPU would.
    MUST(vcpu.set_mp_state(MpState::Runnable));
    h.ram().load(CODE_BASE, GuestCode()
                                .wrmsr(MSR_IA32_APICBASE, static_cast<uint32_t>(XAPIC_BASE))
                                .out8(0x10)
                                .bytes());
    h.ram().load(HANDLER_BASE, GuestCode().out8(GP_PORT).spin().bytes());
    h.ram().set_ivt(13, HANDLER_BASE);

    EXPECT_EQ(io_port(run(vcpu)), GP_PORT);
}

TEST(SetMsrs, StopsAtTheFirstMsrItCannotSet)
{
    ModelHarness h;
    h.split();
    Vcpu &vcpu = h.add_vcpu(0);
    // MSR_TSC_AUX: the kernel refuses it without RDTSCP in the guest's
    // CPUID (measured on the host), and the model does not keep it.
    constexpr uint32_t MSR_TSC_AUX = 0xc0000103;
    std::array<MsrEntry, 3> msrs { MsrEntry { MSR_IA32_APICBASE, X2APIC_BASE | MSR_IA32_APICBASE_BSP },
                                   MsrEntry { MSR_TSC_AUX, 0 },
                                   MsrEntry { MSR_IA32_APICBASE, XAPIC_BASE } };

    EXPECT_EQ(MUST(vcpu.set_msrs(msrs)), 1U);
}

TEST(GetMsrs, ReadsX2apicRegisters)
{
    ModelHarness h;
    h.split();
    Vcpu &vcpu = h.add_vcpu(0);
    std::array<MsrEntry, 1> msrs { MsrEntry { x2apic_msr(APIC_LVR), 0 } };

    ASSERT_EQ(MUST(vcpu.get_msrs(msrs)), 1U);

    EXPECT_EQ(msrs[0].data, LVR_DIRECTED_EOI);
}

} // namespace
} // namespace accel::kvm::test
