// KVM_ENABLE_CAP(KVM_CAP_X2APIC_API), KVM_CAP_SPLIT_IRQCHIP and
// KVM_CREATE_IRQCHIP ordering rules (kvm-facts §1.4, §7).
#include "model-test-helpers.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <ostream>

namespace accel::kvm::test {
namespace {

enum class Irqchip { None, Split, Kernel };

void set_up_irqchip(ModelHarness &h, Irqchip irqchip)
{
    if (irqchip == Irqchip::Split) {
        h.split();
    } else if (irqchip == Irqchip::Kernel) {
        h.kernel_irqchip();
    }
}

// The APIC ID KVM_GET_LAPIC reports for x2APIC vCPU 3: 3 with 32-bit IDs,
// 3 << 24 without (kvm-facts §3.4).
uint32_t reported_x2apic_id(ModelHarness &h)
{
    Vcpu &vcpu = h.add_vcpu(3);
    return MUST(vcpu.get_lapic()).reg(APIC_ID);
}

// The LVR after KVM_SET_LAPIC recomputed it (kvm-facts §2.1).
uint32_t refreshed_lvr(Vcpu &vcpu)
{
    MUST(vcpu.set_lapic(MUST(vcpu.get_lapic())));
    return MUST(vcpu.get_lapic()).reg(APIC_LVR);
}

struct EnableCase {
    const char *name;
    KernelProfile profile;
    Irqchip irqchip;
    uint64_t args;
    uint32_t flags;
};

std::ostream &operator<<(std::ostream &os, const EnableCase &c)
{
    return os << c.name;
}

class X2apicApiRefused : public testing::TestWithParam<EnableCase> {};

TEST_P(X2apicApiRefused, IsEinval)
{
    ModelHarness h(GetParam().profile);
    set_up_irqchip(h, GetParam().irqchip);

    qapi::Result<void> result =
        h.vm().enable_cap(Cap::X2apicApi, { GetParam().args, 0, 0, 0 }, GetParam().flags);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().os_errno(), EINVAL);
}

// Every row also asks for 32-bit IDs: a refused call must not apply them.
TEST_P(X2apicApiRefused, ChangesNothing)
{
    ModelHarness h(GetParam().profile);
    set_up_irqchip(h, GetParam().irqchip == Irqchip::None ? Irqchip::Split : GetParam().irqchip);
    (void)h.vm().enable_cap(Cap::X2apicApi,
                            { GetParam().args | KVM_X2APIC_API_USE_32BIT_IDS, 0, 0, 0 },
                            GetParam().flags);

    EXPECT_EQ(reported_x2apic_id(h), 3U << 24);
}

INSTANTIATE_TEST_SUITE_P(
    Table, X2apicApiRefused,
    testing::Values(EnableCase { "NonZeroFlags", KernelProfile::Model, Irqchip::Split, 0x1, 1 },
                    EnableCase { "UnknownBit", KernelProfile::Model, Irqchip::Split, 0x10, 0 },
                    EnableCase { "EnableAndDisable", KernelProfile::Model, Irqchip::Split, 0xC, 0 },
                    EnableCase { "OldKernelEnable", KernelProfile::Model6_12, Irqchip::Split, 0x4, 0 },
                    EnableCase { "OldKernelDisable", KernelProfile::Model6_1, Irqchip::Split, 0x8, 0 }),
    [](const testing::TestParamInfo<EnableCase> &info) { return info.param.name; });

class X2apicApiEnableWithoutSplit : public testing::TestWithParam<Irqchip> {};

TEST_P(X2apicApiEnableWithoutSplit, IsEinval)
{
    ModelHarness h;
    set_up_irqchip(h, GetParam());

    qapi::Result<void> result = h.vm().enable_cap(Cap::X2apicApi, { 0x4, 0, 0, 0 });

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().os_errno(), EINVAL);
}

INSTANTIATE_TEST_SUITE_P(Table, X2apicApiEnableWithoutSplit,
                         testing::Values(Irqchip::None, Irqchip::Kernel));

class X2apicApiAccepted : public testing::TestWithParam<EnableCase> {};

TEST_P(X2apicApiAccepted, Succeeds)
{
    ModelHarness h(GetParam().profile);
    set_up_irqchip(h, GetParam().irqchip);

    qapi::Result<void> result = h.vm().enable_cap(Cap::X2apicApi, { GetParam().args, 0, 0, 0 });

    EXPECT_TRUE(result.has_value());
}

INSTANTIATE_TEST_SUITE_P(
    Table, X2apicApiAccepted,
    testing::Values(EnableCase { "DisableWithoutIrqchip", KernelProfile::Model, Irqchip::None, 0x8, 0 },
                    EnableCase { "DisableWithKernelIrqchip", KernelProfile::Model, Irqchip::Kernel, 0x8, 0 },
                    EnableCase { "EnableWhenSplit", KernelProfile::Model, Irqchip::Split, 0x7, 0 },
                    EnableCase { "OldFlagsWithoutIrqchip", KernelProfile::Model, Irqchip::None, 0x3, 0 },
                    EnableCase { "NothingIsANoOp", KernelProfile::Model, Irqchip::Split, 0x0, 0 },
                    EnableCase { "OldKernelOldFlags", KernelProfile::Model6_12, Irqchip::Split, 0x3, 0 }),
    [](const testing::TestParamInfo<EnableCase> &info) { return info.param.name; });

TEST(X2apicApi, Use32BitIdsIsSticky)
{
    ModelHarness h;
    h.split().x2apic_api(KVM_X2APIC_API_USE_32BIT_IDS).x2apic_api(0);

    EXPECT_EQ(reported_x2apic_id(h), 3U);
}

TEST(X2apicApi, EnableAfterVcpusExistSucceeds)
{
    ModelHarness h;
    h.split();
    h.add_vcpu(0);

    qapi::Result<void> result = h.vm().enable_cap(
        Cap::X2apicApi, { KVM_X2APIC_API_USE_32BIT_IDS | KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST, 0, 0, 0 });

    EXPECT_TRUE(result.has_value());
}

struct ModeSequence {
    const char *name;
    std::vector<uint64_t> writes;
    uint32_t lvr;
};

std::ostream &operator<<(std::ostream &os, const ModeSequence &s)
{
    return os << s.name;
}

class X2apicApiModeSwitch : public testing::TestWithParam<ModeSequence> {};

// The last of ENABLE/DISABLE wins, and nothing returns to QUIRKED (where a
// split VM would advertise): observed through the recomputed LVR.
TEST_P(X2apicApiModeSwitch, LastWriterDecidesTheLvr)
{
    ModelHarness h;
    h.split();
    for (uint64_t flags : GetParam().writes) {
        h.x2apic_api(flags);
    }
    Vcpu &vcpu = h.add_vcpu(0);

    EXPECT_EQ(refreshed_lvr(vcpu), GetParam().lvr);
}

INSTANTIATE_TEST_SUITE_P(
    Table, X2apicApiModeSwitch,
    testing::Values(ModeSequence { "EnableThenDisable", { 0x4, 0x8 }, LVR_PLAIN },
                    ModeSequence { "DisableThenEnable", { 0x8, 0x4 }, LVR_DIRECTED_EOI },
                    ModeSequence { "EnableDisableEnable", { 0x4, 0x8, 0x4 }, LVR_DIRECTED_EOI },
                    ModeSequence { "DisableThenOldFlagsOnly", { 0x8, 0x3 }, LVR_PLAIN },
                    ModeSequence { "DisableThenNothing", { 0x8, 0x0 }, LVR_PLAIN }),
    [](const testing::TestParamInfo<ModeSequence> &info) { return info.param.name; });

TEST(X2apicApi, UnknownCapIsEinval)
{
    ModelHarness h;

    qapi::Result<void> result = h.vm().enable_cap(Cap::Irqchip, { 1, 0, 0, 0 });

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().os_errno(), EINVAL);
}

TEST(SplitIrqchip, MoreReservedPinsThanRoutesIsEinval)
{
    ModelHarness h;

    qapi::Result<void> result = h.vm().enable_cap(Cap::SplitIrqchip, { 4097, 0, 0, 0 });

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().os_errno(), EINVAL);
}

TEST(SplitIrqchip, AllRoutesReservedIsAccepted)
{
    ModelHarness h;

    qapi::Result<void> result = h.vm().enable_cap(Cap::SplitIrqchip, { 4096, 0, 0, 0 });

    EXPECT_TRUE(result.has_value());
}

struct OrderCase {
    const char *name;
    Irqchip before;
    bool vcpu_before;
    int split_errno;
    int create_errno;
};

std::ostream &operator<<(std::ostream &os, const OrderCase &c)
{
    return os << c.name;
}

class IrqchipOrdering : public testing::TestWithParam<OrderCase> {};

TEST_P(IrqchipOrdering, SplitIrqchipErrno)
{
    ModelHarness h;
    set_up_irqchip(h, GetParam().before);
    if (GetParam().vcpu_before) {
        MUST(h.vm().create_vcpu(0));
    }

    qapi::Result<void> result = h.vm().enable_cap(Cap::SplitIrqchip, { 24, 0, 0, 0 });

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().os_errno(), GetParam().split_errno);
}

// The kernel checks "irqchip already in kernel" (EEXIST) before "vCPUs
// exist", which KVM_CREATE_IRQCHIP reports as EINVAL (x86.c, measured on the
// development host).
TEST_P(IrqchipOrdering, CreateIrqchipErrno)
{
    ModelHarness h;
    set_up_irqchip(h, GetParam().before);
    if (GetParam().vcpu_before) {
        MUST(h.vm().create_vcpu(0));
    }

    qapi::Result<void> result = h.vm().create_irqchip();

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().os_errno(), GetParam().create_errno);
}

INSTANTIATE_TEST_SUITE_P(
    Table, IrqchipOrdering,
    testing::Values(OrderCase { "AfterSplit", Irqchip::Split, false, EEXIST, EEXIST },
                    OrderCase { "AfterCreateIrqchip", Irqchip::Kernel, false, EEXIST, EEXIST },
                    OrderCase { "WithVcpus", Irqchip::None, true, EEXIST, EINVAL }),
    [](const testing::TestParamInfo<OrderCase> &info) { return info.param.name; });

} // namespace
} // namespace accel::kvm::test
