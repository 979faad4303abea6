// The in-kernel IOAPIC of KVM_CREATE_IRQCHIP (kvm-facts §2.5, §4).
//
// The guest programs the redirection entry of pin 4 through IOREGSEL/IOWIN
// and reports with out 0x10; later it takes the interrupt, EOIs its LAPIC
// and reports with out 0xE0 (interrupts stay off inside the handler).
#include "model-test-helpers.h"

#include <gtest/gtest.h>

namespace accel::kvm::test {
namespace {

constexpr uint8_t PIN = 4;
constexpr uint8_t VECTOR = 0x50;
constexpr uint32_t RTE_LEVEL = 1U << 15;
constexpr uint32_t IOREGSEL = IOAPIC_BASE;
constexpr uint32_t IOWIN = IOAPIC_BASE + 0x10;
constexpr uint8_t PROGRAMMED_PORT = 0x10;
constexpr uint8_t HANDLER_DONE_PORT = 0xE0;

GuestCode &program_rte(GuestCode &code, uint32_t low)
{
    return code.mov32(BX, IOREGSEL)
        .mov32(CX, IOWIN)
        .mov32(AX, 0x10 + 2 * PIN)
        .store32(BX, AX)
        .mov32(AX, low)
        .store32(CX, AX)
        .mov32(AX, 0x11 + 2 * PIN)
        .store32(BX, AX)
        .mov32(AX, 0) // destination APIC ID 0
        .store32(CX, AX);
}

// Programs pin 4 as level-triggered, then waits for interrupts.
void load_level_guest(ModelHarness &h)
{
    GuestCode code;
    program_rte(code, RTE_LEVEL | VECTOR).out8(PROGRAMMED_PORT).sti().hlt().spin();
    h.ram().load(CODE_BASE, code.bytes());
    h.ram().load(HANDLER_BASE,
                 GuestCode().wrmsr(MSR_X2APIC_EOI, 0).out8(HANDLER_DONE_PORT).iret().bytes());
    h.ram().set_ivt(VECTOR, HANDLER_BASE);
}

TEST(KernelIoapic, VersionRegisterReads0x11With24Pins)
{
    ModelHarness h;
    h.kernel_irqchip();
    Vcpu &vcpu = h.add_vcpu(0);
    h.ram().load(CODE_BASE, GuestCode()
                                .mov32(BX, IOREGSEL)
                                .mov32(AX, 1)
                                .store32(BX, AX)
                                .mov32(CX, IOWIN)
                                .load32(AX, CX)
                                .out32(0x10)
                                .bytes());

    VcpuExit exit = run(vcpu);

    const auto *io = std::get_if<ExitIo>(&exit);
    ASSERT_NE(io, nullptr);
    EXPECT_EQ(io->value, 0x00170011U);
}

TEST(KernelIoapic, IrqLineDeliversThroughTheRedirectionEntry)
{
    ModelHarness h;
    h.kernel_irqchip();
    Vcpu &vcpu = h.add_vcpu(0);
    load_level_guest(h);
    ASSERT_EQ(io_port(run(vcpu)), PROGRAMMED_PORT);

    int status = MUST(h.vm().irq_line(PIN, true));

    EXPECT_EQ(status, 1);
    EXPECT_TRUE(irr_has(vcpu, VECTOR));
}

// Remote IRR is set by the delivery; until an EOI clears it, the asserted
// line is not delivered again.
TEST(KernelIoapic, RemoteIrrBlocksAnotherDelivery)
{
    ModelHarness h;
    h.kernel_irqchip();
    Vcpu &vcpu = h.add_vcpu(0);
    load_level_guest(h);
    ASSERT_EQ(io_port(run(vcpu)), PROGRAMMED_PORT);
    MUST(h.vm().irq_line(PIN, true));

    EXPECT_EQ(MUST(h.vm().irq_line(PIN, true)), -1);
}

TEST(KernelIoapic, EoiReinjectsAStillAssertedLine)
{
    ModelHarness h;
    h.kernel_irqchip();
    Vcpu &vcpu = h.add_vcpu(0);
    load_level_guest(h);
    ASSERT_EQ(io_port(run(vcpu)), PROGRAMMED_PORT);
    MUST(h.vm().irq_line(PIN, true));

    ASSERT_EQ(io_port(run(vcpu)), HANDLER_DONE_PORT);

    EXPECT_TRUE(irr_has(vcpu, VECTOR));
}

// QUIRKED with an in-kernel IOAPIC honours SPIV bit 12 (set by the host,
// since the LVR hides it): the EOI leaves remote IRR set, nothing is
// re-injected.
TEST(KernelIoapic, QuirkedSpivBit12SuppressesTheEoi)
{
    ModelHarness h;
    h.kernel_irqchip();
    Vcpu &vcpu = h.add_vcpu(0, { .spiv = SPIV_ENABLED_SEOIB });
    load_level_guest(h);
    ASSERT_EQ(io_port(run(vcpu)), PROGRAMMED_PORT);
    MUST(h.vm().irq_line(PIN, true));

    ASSERT_EQ(io_port(run(vcpu)), HANDLER_DONE_PORT);

    EXPECT_FALSE(irr_has(vcpu, VECTOR));
}

TEST(KernelIoapic, DisableIgnoresSpivBit12)
{
    ModelHarness h;
    h.kernel_irqchip().x2apic_api(KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST);
    Vcpu &vcpu = h.add_vcpu(0, { .spiv = SPIV_ENABLED_SEOIB });
    load_level_guest(h);
    ASSERT_EQ(io_port(run(vcpu)), PROGRAMMED_PORT);
    MUST(h.vm().irq_line(PIN, true));

    ASSERT_EQ(io_port(run(vcpu)), HANDLER_DONE_PORT);

    EXPECT_TRUE(irr_has(vcpu, VECTOR));
}

// Version 0x11 has no EOI register: a write to offset 0x40 is ignored.
TEST(KernelIoapic, EoiRegisterWriteIsIgnored)
{
    ModelHarness h;
    h.kernel_irqchip();
    Vcpu &vcpu = h.add_vcpu(0);
    GuestCode code;
    program_rte(code, RTE_LEVEL | VECTOR)
        .out8(PROGRAMMED_PORT)
        .mov32(BX, IOAPIC_BASE + 0x40)
        .mov32(AX, VECTOR)
        .store32(BX, AX)
        .out8(0x12);
    h.ram().load(CODE_BASE, code.bytes());
    ASSERT_EQ(io_port(run(vcpu)), PROGRAMMED_PORT);
    MUST(h.vm().irq_line(PIN, true));
    ASSERT_EQ(io_port(run(vcpu)), 0x12);
    MUST(h.vm().irq_line(PIN, false));

    EXPECT_EQ(MUST(h.vm().irq_line(PIN, true)), -1);
}

// Linux and Xen clear remote IRR on an IOAPIC without EOI register by
// switching the pin to edge.
TEST(KernelIoapic, SwitchingToEdgeClearsRemoteIrr)
{
    ModelHarness h;
    h.kernel_irqchip();
    Vcpu &vcpu = h.add_vcpu(0);
    GuestCode code;
    program_rte(code, RTE_LEVEL | VECTOR).out8(PROGRAMMED_PORT);
    program_rte(code, VECTOR).out8(0x12);
    h.ram().load(CODE_BASE, code.bytes());
    ASSERT_EQ(io_port(run(vcpu)), PROGRAMMED_PORT);
    MUST(h.vm().irq_line(PIN, true));
    ASSERT_EQ(io_port(run(vcpu)), 0x12);
    MUST(h.vm().irq_line(PIN, false));

    EXPECT_EQ(MUST(h.vm().irq_line(PIN, true)), 1);
}

} // namespace
} // namespace accel::kvm::test
