/*
 * The userspace IOAPIC on split irqchip: redirection entries become KVM MSI
 * routes and deliveries raise GSIs, observed on the kernel model's LAPIC.
 */
#include "hw/intc/ioapic-kvm-output.h"

#include "accel/kvm/kvm-backend.h"
#include "hw/intc/ioapic-core.h"

#include <gtest/gtest.h>

#include <optional>

namespace {

using namespace accel::kvm;
using hw::intc::IOAPICCore;
using hw::intc::KVMSplitIOAPICOutput;

class NoTimer final : public hw::TimerHost {
public:
    uint64_t now_ns() const override { return 0; }
    void arm(uint64_t) override { }
    void cancel() override { }
};

constexpr uint8_t VECTOR = 0x30;
constexpr unsigned PIN = 10;

class SplitIoapic : public ::testing::Test {
protected:
    void SetUp() override
    {
        system = open_model_system(KernelProfile::Model);
        vm = MUST(system->create_vm());
        MUST(vm->enable_cap(Cap::SplitIrqchip, { 24, 0, 0, 0 }));
        vcpu = MUST(vm->create_vcpu(0));
        // An x2APIC, software-enabled LAPIC accepts fixed interrupts.
        std::vector<CpuidEntry> cpuid = MUST(system->get_supported_cpuid());
        MUST(vcpu->set_cpuid(cpuid));
        const MsrEntry base[] = { { MSR_IA32_APICBASE,
                                    APIC_DEFAULT_PHYS_BASE |
                                        MSR_IA32_APICBASE_ENABLE |
                                        MSR_IA32_APICBASE_EXTD |
                                        MSR_IA32_APICBASE_BSP } };
        MUST(vcpu->set_msrs(base));
        LapicState lapic = MUST(vcpu->get_lapic());
        lapic.set_reg(APIC_SPIV, 0x1ff);
        MUST(vcpu->set_lapic(lapic));
        output.emplace(*vm);
        core.emplace(0x20, *output, timer, guest_errors);
    }

    void write_redirection(unsigned pin, uint64_t entry)
    {
        core->mmio_write(0x00, 0x10 + 2 * pin, 4);
        core->mmio_write(0x10, entry & 0xffffffff, 4);
        core->mmio_write(0x00, 0x10 + 2 * pin + 1, 4);
        core->mmio_write(0x10, entry >> 32, 4);
    }

    bool irr(uint8_t vector)
    {
        return MUST(vcpu->get_lapic()).vector_bit(APIC_IRR, vector);
    }

    std::unique_ptr<System> system;
    std::unique_ptr<Vm> vm;
    std::unique_ptr<Vcpu> vcpu;
    NoTimer timer;
    hw::GuestErrorLog guest_errors { [](std::string_view) {} };
    std::optional<KVMSplitIOAPICOutput> output;
    std::optional<IOAPICCore> core;
};

constexpr uint64_t LEVEL = 1ULL << 15;
constexpr uint64_t MASKED = 1ULL << 16;

TEST_F(SplitIoapic, UnmaskedEntryBecomesALevelMsiRoute)
{
    write_redirection(PIN, VECTOR | LEVEL);
    const RoutingEntry &r = output->routes()[PIN];
    EXPECT_EQ(r.gsi, PIN);
    EXPECT_EQ(r.type, RoutingEntry::Type::Msi);
    EXPECT_EQ(r.msi.address_lo, 0xfee00000U);
    EXPECT_EQ(r.msi.data, VECTOR | (1U << 15));
    EXPECT_EQ(output->errors(), 0U);
}

TEST_F(SplitIoapic, MaskedEntryKeepsItsLastRoute)
{
    write_redirection(PIN, VECTOR | LEVEL);
    write_redirection(PIN, (VECTOR + 1) | LEVEL | MASKED);
    EXPECT_EQ(output->routes()[PIN].msi.data, VECTOR | (1U << 15));
}

TEST_F(SplitIoapic, AssertedLevelLineReachesTheVcpusIrr)
{
    write_redirection(PIN, VECTOR | LEVEL);
    core->set_irq(PIN, true);
    EXPECT_TRUE(irr(VECTOR));
    EXPECT_EQ(output->errors(), 0U);
}

TEST_F(SplitIoapic, MaskedLineDeliversNothing)
{
    write_redirection(PIN, VECTOR | LEVEL | MASKED);
    core->set_irq(PIN, true);
    EXPECT_FALSE(irr(VECTOR));
}

TEST_F(SplitIoapic, EdgeEntryDeliversOnce)
{
    write_redirection(PIN, VECTOR);
    core->set_irq(PIN, true);
    EXPECT_TRUE(irr(VECTOR));
    EXPECT_EQ(output->routes()[PIN].msi.data, VECTOR);
}

} // namespace
