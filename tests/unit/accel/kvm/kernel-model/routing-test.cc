// KVM_SET_GSI_ROUTING, KVM_IRQ_LINE and KVM_SIGNAL_MSI on a split irqchip
// (kvm-facts §3.4, §6 steps 10-11).
#include "model-test-helpers.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <ostream>

namespace accel::kvm::test {
namespace {

constexpr uint8_t VECTOR = 0x40;
constexpr uint32_t GSI = 3;

TEST(IrqLine, DeliversTheMsiRoute)
{
    ModelHarness h;
    h.split();
    Vcpu &vcpu = h.add_vcpu(0);
    MUST(h.vm().set_gsi_routing(std::vector { msi_route(GSI, 0, VECTOR, true) }));

    int status = MUST(h.vm().irq_line(GSI, true));

    EXPECT_EQ(status, 1);
    EXPECT_TRUE(irr_has(vcpu, VECTOR));
}

// Line state is the userspace IOAPIC's business: a de-assert of an MSI
// route does nothing (status -1).
TEST(IrqLine, LevelZeroOnAnMsiRouteIsANoOp)
{
    ModelHarness h;
    h.split();
    Vcpu &vcpu = h.add_vcpu(0);
    MUST(h.vm().set_gsi_routing(std::vector { msi_route(GSI, 0, VECTOR, true) }));

    int status = MUST(h.vm().irq_line(GSI, false));

    EXPECT_EQ(status, -1);
    EXPECT_FALSE(irr_has(vcpu, VECTOR));
}

TEST(IrqLine, GsiWithoutARouteReportsMinusOne)
{
    ModelHarness h;
    h.split();
    h.add_vcpu(0);

    EXPECT_EQ(MUST(h.vm().irq_line(GSI, true)), -1);
}

TEST(IrqLine, WithoutIrqchipIsEnxio)
{
    ModelHarness h;

    qapi::Result<int> result = h.vm().irq_line(GSI, true);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().os_errno(), ENXIO);
}

struct RoutingCase {
    const char *name;
    bool split;
    uint64_t x2apic_api;
    std::vector<RoutingEntry> entries;
};

std::ostream &operator<<(std::ostream &os, const RoutingCase &c)
{
    return os << c.name;
}

class SetGsiRoutingRefused : public testing::TestWithParam<RoutingCase> {};

TEST_P(SetGsiRoutingRefused, IsEinval)
{
    ModelHarness h;
    if (GetParam().split) {
        h.split();
    }
    if (GetParam().x2apic_api != 0) {
        h.x2apic_api(GetParam().x2apic_api);
    }

    qapi::Result<void> result = h.vm().set_gsi_routing(GetParam().entries);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().os_errno(), EINVAL);
}

RoutingEntry address_hi_route(uint32_t address_hi)
{
    RoutingEntry entry = msi_route(GSI, 0, VECTOR, true);
    entry.msi.address_hi = address_hi;
    return entry;
}

RoutingEntry ioapic_route(uint32_t gsi, uint32_t pin)
{
    return RoutingEntry { .gsi = gsi, .type = RoutingEntry::Type::Irqchip, .irqchip = 2, .pin = pin };
}

INSTANTIATE_TEST_SUITE_P(
    Table, SetGsiRoutingRefused,
    testing::Values(
        RoutingCase { "WithoutIrqchip", false, 0, { msi_route(GSI, 0, VECTOR, true) } },
        RoutingCase { "IrqchipRouteOnSplit", true, 0, { ioapic_route(GSI, GSI) } },
        // With 32-bit IDs, address_hi[7:0] must be zero (kvm_msi_route_invalid).
        RoutingCase { "AddressHiLowBitsWith32BitIds", true, 0x1, { address_hi_route(0x1) } },
        RoutingCase { "TwoMsiRoutesOnOneGsi", true, 0,
                      { msi_route(GSI, 0, VECTOR, true), msi_route(GSI, 1, VECTOR, true) } },
        RoutingCase { "GsiBeyondTheLimit", true, 0, { msi_route(4096, 0, VECTOR, true) } }),
    [](const testing::TestParamInfo<RoutingCase> &info) { return info.param.name; });

TEST(SetGsiRouting, AddressHiLowBitsAcceptedWithout32BitIds)
{
    ModelHarness h;
    h.split();

    qapi::Result<void> result = h.vm().set_gsi_routing(std::vector { address_hi_route(0x1) });

    EXPECT_TRUE(result.has_value());
}

TEST(SetGsiRouting, IoapicPinBeyond23IsEinval)
{
    ModelHarness h;
    h.kernel_irqchip();

    qapi::Result<void> result = h.vm().set_gsi_routing(std::vector { ioapic_route(GSI, 24) });

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().os_errno(), EINVAL);
}

TEST(SignalMsi, ReturnsTheNumberOfAcceptingApics)
{
    ModelHarness h;
    h.split();
    Vcpu &vcpu = h.add_vcpu(0);

    int accepted = MUST(h.vm().signal_msi(fixed_msi(0, VECTOR)));

    EXPECT_EQ(accepted, 1);
    EXPECT_TRUE(irr_has(vcpu, VECTOR));
}

TEST(SignalMsi, WithoutIrqchipIsEinval)
{
    ModelHarness h;

    qapi::Result<int> result = h.vm().signal_msi(fixed_msi(0, VECTOR));

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().os_errno(), EINVAL);
}

TEST(SignalMsi, AddressHiLowBitsWith32BitIdsIsEinval)
{
    ModelHarness h;
    h.split().x2apic_api(KVM_X2APIC_API_USE_32BIT_IDS);
    h.add_vcpu(0);
    MsiMessage msi = fixed_msi(0, VECTOR);
    msi.address_hi = 0x1;

    qapi::Result<int> result = h.vm().signal_msi(msi);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().os_errno(), EINVAL);
}

TEST(SignalMsi, LevelMsiSetsTheTmr)
{
    ModelHarness h;
    h.split();
    Vcpu &vcpu = h.add_vcpu(0);
    MsiMessage msi = fixed_msi(0, VECTOR);
    msi.data |= MSI_LEVEL;

    MUST(h.vm().signal_msi(msi));

    EXPECT_TRUE(MUST(vcpu.get_lapic()).vector_bit(APIC_TMR, VECTOR));
}

} // namespace
} // namespace accel::kvm::test
