// KVM_EXIT_IOAPIC_EOI with a split irqchip (kvm-facts §2.4, §7 item 5).
//
// The guest enables its APIC (SPIV from the test), waits with sti; hlt and
// its handler EOIs the LAPIC, then reports with out 0xE0.  So the first exit
// is either the EOI exit or that out.
#include "model-test-helpers.h"

#include <gtest/gtest.h>

#include <ostream>

namespace accel::kvm::test {
namespace {

constexpr uint8_t VECTOR = 0xA2;
constexpr uint32_t GSI = 5;
constexpr uint8_t HANDLER_DONE_PORT = 0xE0;
// mov ecx, imm32; mov eax, imm32; mov edx, imm32; wrmsr
constexpr uint64_t WRMSR_LENGTH = 3 * 6 + 2;

void load_eoi_guest(ModelHarness &h, uint32_t guest_spiv)
{
    h.ram().load(CODE_BASE,
                 GuestCode().wrmsr(MSR_X2APIC_SPIV, guest_spiv).sti().hlt().out8(0xE1).spin().bytes());
    h.ram().load(HANDLER_BASE,
                 GuestCode().wrmsr(MSR_X2APIC_EOI, 0).out8(HANDLER_DONE_PORT).iret().bytes());
    h.ram().set_ivt(VECTOR, HANDLER_BASE);
}

struct ModeCase {
    const char *name;
    uint64_t x2apic_api;
    uint32_t guest_spiv;
    bool exits;
};

std::ostream &operator<<(std::ostream &os, const ModeCase &c)
{
    return os << c.name;
}

class SplitEoiExit : public testing::TestWithParam<ModeCase> {};

// The table of kvm-facts §2.4: only ENABLE with SPIV bit 12 suppresses.
TEST_P(SplitEoiExit, FollowsModeAndSpiv)
{
    ModelHarness h;
    h.split();
    if (GetParam().x2apic_api != 0) {
        h.x2apic_api(GetParam().x2apic_api);
    }
    Vcpu &vcpu = h.add_vcpu(0);
    load_eoi_guest(h, GetParam().guest_spiv);
    MUST(h.vm().set_gsi_routing(std::vector { msi_route(GSI, 0, VECTOR, true) }));
    MUST(h.vm().irq_line(GSI, true));

    VcpuExit exit = run(vcpu);

    if (GetParam().exits) {
        EXPECT_EQ(eoi_vector(exit), VECTOR);
    } else {
        EXPECT_EQ(io_port(exit), HANDLER_DONE_PORT);
    }
}

INSTANTIATE_TEST_SUITE_P(
    Table, SplitEoiExit,
    testing::Values(ModeCase { "QuirkedWithSeoib", 0, SPIV_ENABLED_SEOIB, true },
                    ModeCase { "QuirkedWithoutSeoib", 0, SPIV_ENABLED, true },
                    ModeCase { "EnableWithSeoib", 0x4, SPIV_ENABLED_SEOIB, false },
                    ModeCase { "EnableWithoutSeoib", 0x4, SPIV_ENABLED, true },
                    ModeCase { "DisableWithSeoib", 0x8, SPIV_ENABLED_SEOIB, true },
                    ModeCase { "DisableWithoutSeoib", 0x8, SPIV_ENABLED, true }),
    [](const testing::TestParamInfo<ModeCase> &info) { return info.param.name; });

TEST(SplitEoiExit, ArrivesAfterTheEoiWrite)
{
    ModelHarness h;
    h.split();
    Vcpu &vcpu = h.add_vcpu(0);
    load_eoi_guest(h, SPIV_ENABLED);
    MUST(h.vm().set_gsi_routing(std::vector { msi_route(GSI, 0, VECTOR, true) }));
    MUST(h.vm().irq_line(GSI, true));

    ASSERT_EQ(eoi_vector(run(vcpu)), VECTOR);

    EXPECT_EQ(MUST(vcpu.get_regs()).rip, HANDLER_BASE + WRMSR_LENGTH);
}

TEST(SplitEoiExit, EdgeRouteDoesNotExit)
{
    ModelHarness h;
    h.split();
    Vcpu &vcpu = h.add_vcpu(0);
    load_eoi_guest(h, SPIV_ENABLED);
    MUST(h.vm().set_gsi_routing(std::vector { msi_route(GSI, 0, VECTOR, false) }));
    MUST(h.vm().irq_line(GSI, true));

    EXPECT_EQ(io_port(run(vcpu)), HANDLER_DONE_PORT);
}

// Only GSIs below KVM_CAP_SPLIT_IRQCHIP's args[0] are IOAPIC pins.
TEST(SplitEoiExit, RouteBeyondTheReservedPinsDoesNotExit)
{
    ModelHarness h;
    h.split(4);
    Vcpu &vcpu = h.add_vcpu(0);
    load_eoi_guest(h, SPIV_ENABLED);
    MUST(h.vm().set_gsi_routing(std::vector { msi_route(4, 0, VECTOR, true) }));
    MUST(h.vm().irq_line(4, true));

    EXPECT_EQ(io_port(run(vcpu)), HANDLER_DONE_PORT);
}

// The route names vCPU 1; vCPU 0 scanned before the vector was pending, so
// its EOI of the same vector is not intercepted.
TEST(SplitEoiExit, RouteToAnotherVcpuDoesNotExit)
{
    ModelHarness h;
    h.split();
    Vcpu &vcpu = h.add_vcpu(0);
    h.add_vcpu(1);
    load_eoi_guest(h, SPIV_ENABLED);
    MUST(h.vm().set_gsi_routing(std::vector { msi_route(GSI, 1, VECTOR, true) }));
    ASSERT_TRUE(std::holds_alternative<ExitInterrupted>(run(vcpu)));
    MUST(h.vm().signal_msi(fixed_msi(0, VECTOR)));

    EXPECT_EQ(io_port(run(vcpu)), HANDLER_DONE_PORT);
}

// A vector pending in IRR when the scan runs is handled as stale even though
// the route does not name this vCPU.
TEST(SplitEoiExit, StalePendingVectorExits)
{
    ModelHarness h;
    h.split();
    Vcpu &vcpu = h.add_vcpu(0);
    h.add_vcpu(1);
    load_eoi_guest(h, SPIV_ENABLED);
    MUST(h.vm().set_gsi_routing(std::vector { msi_route(GSI, 1, VECTOR, true) }));
    MUST(h.vm().signal_msi(fixed_msi(0, VECTOR)));

    EXPECT_EQ(eoi_vector(run(vcpu)), VECTOR);
}

// The TMR is not consulted: an edge MSI of a vector that a level route uses
// still exits at its EOI.
TEST(SplitEoiExit, EdgeDeliveryOfARoutedVectorExits)
{
    ModelHarness h;
    h.split();
    Vcpu &vcpu = h.add_vcpu(0);
    load_eoi_guest(h, SPIV_ENABLED);
    MUST(h.vm().set_gsi_routing(std::vector { msi_route(GSI, 0, VECTOR, true) }));
    MUST(h.vm().signal_msi(fixed_msi(0, VECTOR)));

    EXPECT_EQ(eoi_vector(run(vcpu)), VECTOR);
}

TEST(SplitEoiExit, RoutingUpdateRescans)
{
    ModelHarness h;
    h.split();
    Vcpu &vcpu = h.add_vcpu(0);
    load_eoi_guest(h, SPIV_ENABLED);
    ASSERT_TRUE(std::holds_alternative<ExitInterrupted>(run(vcpu)));
    MUST(h.vm().set_gsi_routing(std::vector { msi_route(GSI, 0, VECTOR, true) }));
    MUST(h.vm().signal_msi(fixed_msi(0, VECTOR)));

    EXPECT_EQ(eoi_vector(run(vcpu)), VECTOR);
}

TEST(SplitEoiExit, DisableIgnoresSpivBit12ForcedBySetLapic)
{
    ModelHarness h;
    h.split().x2apic_api(KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST);
    Vcpu &vcpu = h.add_vcpu(0, { .spiv = SPIV_ENABLED_SEOIB });
    h.ram().load(CODE_BASE, GuestCode().sti().hlt().spin().bytes());
    h.ram().load(HANDLER_BASE, GuestCode().wrmsr(MSR_X2APIC_EOI, 0).out8(0xE0).iret().bytes());
    h.ram().set_ivt(VECTOR, HANDLER_BASE);
    MUST(h.vm().set_gsi_routing(std::vector { msi_route(GSI, 0, VECTOR, true) }));
    MUST(h.vm().irq_line(GSI, true));

    EXPECT_EQ(eoi_vector(run(vcpu)), VECTOR);
}

// Kernels before the SEOIB change never suppress with a split irqchip.
TEST(SplitEoiExit, OldKernelExitsDespiteSpivBit12)
{
    ModelHarness h(KernelProfile::Model6_12);
    h.split();
    Vcpu &vcpu = h.add_vcpu(0, { .spiv = SPIV_ENABLED_SEOIB });
    load_eoi_guest(h, SPIV_ENABLED_SEOIB);
    MUST(h.vm().set_gsi_routing(std::vector { msi_route(GSI, 0, VECTOR, true) }));
    MUST(h.vm().irq_line(GSI, true));

    EXPECT_EQ(eoi_vector(run(vcpu)), VECTOR);
}

// After a suppressed EOI the guest owes the IOAPIC an EOI; the model only
// reports the MMIO write, which a userspace IOAPIC (version 0x20) handles.
TEST(SplitEoiExit, SuppressedGuestWritesTheIoapicEoiRegister)
{
    ModelHarness h;
    h.split().x2apic_api(KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST);
    Vcpu &vcpu = h.add_vcpu(0);
    h.ram().load(CODE_BASE,
                 GuestCode().wrmsr(MSR_X2APIC_SPIV, SPIV_ENABLED_SEOIB).sti().hlt().spin().bytes());
    h.ram().load(HANDLER_BASE, GuestCode()
                                   .wrmsr(MSR_X2APIC_EOI, 0)
                                   .mov32(BX, IOAPIC_BASE + 0x40)
                                   .mov32(AX, VECTOR)
                                   .store32(BX, AX)
                                   .iret()
                                   .bytes());
    h.ram().set_ivt(VECTOR, HANDLER_BASE);
    MUST(h.vm().set_gsi_routing(std::vector { msi_route(GSI, 0, VECTOR, true) }));
    MUST(h.vm().irq_line(GSI, true));

    VcpuExit exit = run(vcpu);

    const auto *mmio = std::get_if<ExitMmio>(&exit);
    ASSERT_NE(mmio, nullptr);
    EXPECT_EQ(mmio->address, IOAPIC_BASE + 0x40);
    EXPECT_EQ(mmio->value, VECTOR);
}

} // namespace
} // namespace accel::kvm::test
