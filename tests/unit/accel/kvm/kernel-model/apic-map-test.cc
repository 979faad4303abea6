// The APIC map and interrupt delivery (kvm-facts §3, seed 001).
#include "model-test-helpers.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <ostream>

namespace accel::kvm::test {
namespace {

constexpr uint8_t VECTOR = 0x31;
constexpr uint32_t LOGICAL_FLAT = 0xFFFFFFFF;
constexpr uint32_t LOGICAL_CLUSTER = 0x0FFFFFFF;
constexpr VcpuSetup XAPIC { .mode = ApicMode::Xapic };

MsiMessage logical_msi(uint32_t dest, uint8_t vector, uint32_t delivery = 0)
{
    return MsiMessage { .address_lo = MSI_ADDRESS | MSI_LOGICAL | (dest & 0xFF) << 12,
                        .data = vector | delivery };
}

/// A physical MSI to a 32-bit destination (address_hi carries bits 31:8).
MsiMessage x2apic_msi(uint32_t dest, uint8_t vector)
{
    return MsiMessage { .address_lo = MSI_ADDRESS | (dest & 0xFF) << 12,
                        .address_hi = dest & 0xFFFFFF00,
                        .data = vector };
}

struct AliasCase {
    const char *name;
    KernelProfile profile;
    uint64_t x2apic_api;
    int accepted;
    bool second_gets_it;
};

std::ostream &operator<<(std::ostream &os, const AliasCase &c)
{
    return os << c.name;
}

class AliasedXapicIds : public testing::TestWithParam<AliasCase> {};

// Two xAPIC vCPUs given the same APIC ID: without 32-bit IDs the map is
// disabled and both receive the interrupt; with them (or before seed 001)
// the first in vCPU order wins.
TEST_P(AliasedXapicIds, DeliverAsTheKernelDoes)
{
    ModelHarness h(GetParam().profile);
    h.split();
    if (GetParam().x2apic_api != 0) {
        h.x2apic_api(GetParam().x2apic_api);
    }
    Vcpu &first = h.add_vcpu(0, XAPIC);
    Vcpu &second = h.add_vcpu(1, XAPIC);
    set_lapic_regs(first, { { APIC_ID, 5U << 24 } });
    set_lapic_regs(second, { { APIC_ID, 5U << 24 } });

    int accepted = MUST(h.vm().signal_msi(fixed_msi(5, VECTOR)));

    EXPECT_EQ(accepted, GetParam().accepted);
    EXPECT_TRUE(irr_has(first, VECTOR));
    EXPECT_EQ(irr_has(second, VECTOR), GetParam().second_gets_it);
}

INSTANTIATE_TEST_SUITE_P(
    Table, AliasedXapicIds,
    testing::Values(AliasCase { "Architectural", KernelProfile::Model, 0, 2, true },
                    AliasCase { "With32BitIds", KernelProfile::Model, 0x1, 1, false },
                    AliasCase { "Kernel612Architectural", KernelProfile::Model6_12, 0, 2, true },
                    AliasCase { "Kernel61HotplugHackAlways", KernelProfile::Model6_1, 0, 1, false }),
    [](const testing::TestParamInfo<AliasCase> &info) { return info.param.name; });

// After RESET the xAPIC ID is the low 8 bits of the vCPU id, so vCPU 256
// aliases vCPU 0 (kvm-facts §3.1).
TEST(ApicMap, Vcpu256AliasesVcpu0InXapicMode)
{
    ModelHarness h;
    h.split();
    h.add_vcpu(0, XAPIC);
    h.add_vcpu(256, XAPIC);

    EXPECT_EQ(MUST(h.vm().signal_msi(fixed_msi(0, VECTOR))), 2);
}

// The hotplug hack: with 32-bit IDs an xAPIC-mode vCPU whose id does not fit
// 8 bits is reachable by its x2APIC ID.
TEST(ApicMap, HotplugHackReachesXapicVcpuByX2apicId)
{
    ModelHarness h;
    h.split().x2apic_api(KVM_X2APIC_API_USE_32BIT_IDS);
    h.add_vcpu(0, XAPIC);
    Vcpu &hotplugged = h.add_vcpu(300, XAPIC);

    int accepted = MUST(h.vm().signal_msi(x2apic_msi(300, VECTOR)));

    EXPECT_EQ(accepted, 1);
    EXPECT_TRUE(irr_has(hotplugged, VECTOR));
}

TEST(ApicMap, NoMatchOnTheSlowPathIsEperm)
{
    ModelHarness h;
    h.split();
    Vcpu &first = h.add_vcpu(0, XAPIC);
    Vcpu &second = h.add_vcpu(1, XAPIC);
    set_lapic_regs(first, { { APIC_ID, 5U << 24 } });
    set_lapic_regs(second, { { APIC_ID, 5U << 24 } });

    qapi::Result<int> result = h.vm().signal_msi(fixed_msi(7, VECTOR));

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().os_errno(), EPERM);
}

TEST(ApicMap, NoMatchOnTheFastPathIsZero)
{
    ModelHarness h;
    h.split();
    h.add_vcpu(0);
    h.add_vcpu(1);

    EXPECT_EQ(MUST(h.vm().signal_msi(fixed_msi(7, VECTOR))), 0);
}

// FIXED delivery needs a software-enabled APIC; a match that does not
// accept counts 0.
TEST(ApicMap, SoftwareDisabledTargetDoesNotAccept)
{
    ModelHarness h;
    h.split();
    Vcpu &vcpu = h.add_vcpu(0, { .spiv = 0xFF });

    int accepted = MUST(h.vm().signal_msi(fixed_msi(0, VECTOR)));

    EXPECT_EQ(accepted, 0);
    EXPECT_FALSE(irr_has(vcpu, VECTOR));
}

// The map is rebuilt at RESET before the new vCPU is added, so it only
// appears at the next recalculation (measured on the development host: an
// NMI to a fresh vCPU is accepted by nobody).
TEST(ApicMap, NewVcpuIsMissingUntilTheNextRecalculation)
{
    ModelHarness h;
    h.split();
    MUST(h.vm().create_vcpu(0));
    MUST(h.vm().create_vcpu(1));

    int accepted = MUST(h.vm().signal_msi(MsiMessage { .address_lo = MSI_ADDRESS | 1 << 12,
                                                       .data = DM_NMI }));

    EXPECT_EQ(accepted, 0);
}

TEST(ApicMap, SetLapicAddsTheNewVcpu)
{
    ModelHarness h;
    h.split();
    MUST(h.vm().create_vcpu(0));
    std::unique_ptr<Vcpu> newest = MUST(h.vm().create_vcpu(1));
    MUST(newest->set_lapic(MUST(newest->get_lapic())));

    int accepted = MUST(h.vm().signal_msi(MsiMessage { .address_lo = MSI_ADDRESS | 1 << 12,
                                                       .data = DM_NMI }));

    EXPECT_EQ(accepted, 1);
}

TEST(ApicMap, LogicalFlatDeliversToEveryAddressedMember)
{
    ModelHarness h;
    h.split();
    Vcpu &first = h.add_vcpu(0, XAPIC);
    Vcpu &second = h.add_vcpu(1, XAPIC);
    set_lapic_regs(first, { { APIC_LDR, 0x01U << 24 }, { APIC_DFR, LOGICAL_FLAT } });
    set_lapic_regs(second, { { APIC_LDR, 0x02U << 24 }, { APIC_DFR, LOGICAL_FLAT } });

    EXPECT_EQ(MUST(h.vm().signal_msi(logical_msi(0x03, VECTOR))), 2);
}

// The same flat logical bit on two APICs disables the logical map; the slow
// path delivers to both.
TEST(ApicMap, AliasedLogicalIdReachesBothApics)
{
    ModelHarness h;
    h.split();
    Vcpu &first = h.add_vcpu(0, XAPIC);
    Vcpu &second = h.add_vcpu(1, XAPIC);
    set_lapic_regs(first, { { APIC_LDR, 0x01U << 24 }, { APIC_DFR, LOGICAL_FLAT } });
    set_lapic_regs(second, { { APIC_LDR, 0x01U << 24 }, { APIC_DFR, LOGICAL_FLAT } });

    EXPECT_EQ(MUST(h.vm().signal_msi(logical_msi(0x01, VECTOR))), 2);
}

TEST(ApicMap, LogicalClusterDeliversWithinTheCluster)
{
    ModelHarness h;
    h.split();
    Vcpu &first = h.add_vcpu(0, XAPIC);
    Vcpu &second = h.add_vcpu(1, XAPIC);
    set_lapic_regs(first, { { APIC_LDR, 0x11U << 24 }, { APIC_DFR, LOGICAL_CLUSTER } });
    set_lapic_regs(second, { { APIC_LDR, 0x12U << 24 }, { APIC_DFR, LOGICAL_CLUSTER } });

    EXPECT_EQ(MUST(h.vm().signal_msi(logical_msi(0x13, VECTOR))), 2);
}

TEST(ApicMap, LogicalClusterOtherClusterIsDropped)
{
    ModelHarness h;
    h.split();
    Vcpu &first = h.add_vcpu(0, XAPIC);
    set_lapic_regs(first, { { APIC_LDR, 0x11U << 24 }, { APIC_DFR, LOGICAL_CLUSTER } });

    EXPECT_EQ(MUST(h.vm().signal_msi(logical_msi(0x21, VECTOR))), 0);
}

// x2APIC logical IDs: cluster = id >> 4, member bit = id & 0xF.
TEST(ApicMap, X2apicLogicalDeliversToTheClusterMembers)
{
    ModelHarness h;
    h.split();
    for (uint32_t id = 0; id < 4; ++id) {
        h.add_vcpu(id);
    }

    int accepted = MUST(h.vm().signal_msi(logical_msi(0b0101, VECTOR)));

    EXPECT_EQ(accepted, 2);
    EXPECT_TRUE(irr_has(h.vcpu(2), VECTOR));
}

// kvm-facts §3.3: an MSI to 0xFF reaches x2APIC vCPUs as a broadcast.
TEST(ApicMap, BroadcastQuirkMakesMsiTo0xFFABroadcast)
{
    ModelHarness h;
    h.split();
    h.add_vcpu(0);
    h.add_vcpu(1);

    EXPECT_EQ(MUST(h.vm().signal_msi(fixed_msi(0xFF, VECTOR))), 2);
}

TEST(ApicMap, WithoutTheBroadcastQuirkPhysical0xFFIsAnId)
{
    ModelHarness h;
    h.split().x2apic_api(KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK);
    h.add_vcpu(0);
    h.add_vcpu(1);

    EXPECT_EQ(MUST(h.vm().signal_msi(fixed_msi(0xFF, VECTOR))), 0);
}

TEST(ApicMap, WithoutTheBroadcastQuirkLogical0xFFIsCluster0)
{
    ModelHarness h;
    h.split().x2apic_api(KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK);
    h.add_vcpu(0);
    h.add_vcpu(1);
    h.add_vcpu(16);

    EXPECT_EQ(MUST(h.vm().signal_msi(logical_msi(0xFF, VECTOR))), 2);
}

// Vector hashing: of the n addressed, member (vector mod n) gets it.
TEST(ApicMap, LowestPriorityPicksByVectorHashing)
{
    constexpr uint8_t HASHED_VECTOR = 0x41; // 65 mod 3 = 2: the third member
    ModelHarness h;
    h.split();
    for (uint32_t id = 0; id < 3; ++id) {
        Vcpu &vcpu = h.add_vcpu(id, XAPIC);
        set_lapic_regs(vcpu, { { APIC_LDR, (1U << id) << 24 }, { APIC_DFR, LOGICAL_FLAT } });
    }

    int accepted = MUST(h.vm().signal_msi(logical_msi(0x07, HASHED_VECTOR, DM_LOWEST)));

    EXPECT_EQ(accepted, 1);
    EXPECT_TRUE(irr_has(h.vcpu(2), HASHED_VECTOR));
}

TEST(ApicMap, X2apicIcrWriteSendsAnIpi)
{
    constexpr uint8_t IPI_VECTOR = 0x55;
    ModelHarness h;
    h.split();
    Vcpu &sender = h.add_vcpu(0);
    Vcpu &target = h.add_vcpu(1);
    // ICR: destination 1 in bits 63:32, fixed, physical.
    h.ram().load(CODE_BASE, GuestCode().wrmsr(MSR_X2APIC_ICR, IPI_VECTOR, 1).out8(0x10).bytes());

    ASSERT_EQ(io_port(run(sender)), 0x10);

    EXPECT_TRUE(irr_has(target, IPI_VECTOR));
}

TEST(ApicMap, SelfIpiSetsOwnIrr)
{
    constexpr uint8_t IPI_VECTOR = 0x56;
    ModelHarness h;
    h.split();
    Vcpu &vcpu = h.add_vcpu(0);
    h.ram().load(CODE_BASE, GuestCode().wrmsr(MSR_X2APIC_SELF_IPI, IPI_VECTOR).out8(0x10).bytes());

    ASSERT_EQ(io_port(run(vcpu)), 0x10);

    EXPECT_TRUE(irr_has(vcpu, IPI_VECTOR));
}

} // namespace
} // namespace accel::kvm::test
