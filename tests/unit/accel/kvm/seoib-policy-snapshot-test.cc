/*
 * Runtime snapshot load (design §4.5): which x2APIC API flag changes a
 * running KVM VM can take on its own VM fd (kvm-facts §1), and which need a
 * fresh KVM VM.
 */
#include "accel/kvm/seoib-policy.h"

#include "accel/kvm/kvm-backend.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace {

using accel::kvm::seoib_policy_decide_snapshot_load;
using accel::kvm::SeoibPolicyInput;
using accel::kvm::x2apic_api_flags_reachable;
using qapi::SeoibPolicy;

constexpr uint64_t NONE = 0;
constexpr uint64_t ENABLE = accel::kvm::KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST;
constexpr uint64_t DISABLE = accel::kvm::KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST;
constexpr uint64_t IDS = accel::kvm::KVM_X2APIC_API_USE_32BIT_IDS |
                         accel::kvm::KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK;

TEST(SeoibSnapshot, QuirkedVmTakesAnyPolicy)
{
    EXPECT_TRUE(x2apic_api_flags_reachable(NONE, NONE));
    EXPECT_TRUE(x2apic_api_flags_reachable(NONE, ENABLE));
    EXPECT_TRUE(x2apic_api_flags_reachable(NONE, DISABLE));
}

TEST(SeoibSnapshot, RespectedAndNotAdvertisedToggle)
{
    EXPECT_TRUE(x2apic_api_flags_reachable(ENABLE, DISABLE));
    EXPECT_TRUE(x2apic_api_flags_reachable(DISABLE, ENABLE));
}

TEST(SeoibSnapshot, NoWayBackToQuirked)
{
    EXPECT_FALSE(x2apic_api_flags_reachable(ENABLE, NONE));
    EXPECT_FALSE(x2apic_api_flags_reachable(DISABLE, NONE));
}

TEST(SeoibSnapshot, ThirtyTwoBitIdsNeverClear)
{
    EXPECT_FALSE(x2apic_api_flags_reachable(IDS | ENABLE, ENABLE));
    EXPECT_TRUE(x2apic_api_flags_reachable(IDS | ENABLE, IDS | DISABLE));
}

/// A pc-q35-11.0 VM with split irqchip on a kernel with both flags.
SeoibPolicyInput split_vm(SeoibPolicy requested, uint8_t ioapic = 0x20)
{
    SeoibPolicyInput in;
    in.requested = requested;
    in.explicit_request = requested != SeoibPolicy::Auto;
    in.irqchip = qapi::OnOffSplit::Split;
    in.ioapic_version = ioapic;
    in.ioapic_version_source = "default";
    in.kernel_x2apic_api = 0xf;
    return in;
}

TEST(SeoibSnapshotLoad, AutoAdoptsEverySnapshotPolicy)
{
    // The auto VM runs respected (ENABLE set).
    struct Case {
        std::optional<SeoibPolicy> snapshot;
        SeoibPolicy effective;
        uint64_t flags;
        bool rebuild;
    };
    const Case cases[] = {
        { std::nullopt, SeoibPolicy::Quirked, NONE, true },
        { SeoibPolicy::Respected, SeoibPolicy::Respected, ENABLE, false },
        { SeoibPolicy::NotAdvertised, SeoibPolicy::NotAdvertised, DISABLE, false },
    };
    for (const Case &c : cases) {
        auto d = seoib_policy_decide_snapshot_load(split_vm(SeoibPolicy::Auto), c.snapshot, ENABLE);
        ASSERT_TRUE(d.has_value()) << d.error().message();
        EXPECT_EQ(d.value().decision.effective, c.effective);
        EXPECT_EQ(d.value().decision.flags, c.flags);
        EXPECT_EQ(d.value().rebuild, c.rebuild);
    }
}

TEST(SeoibSnapshotLoad, QuirkedVmTakesAnySnapshotOnItsOwnFd)
{
    for (SeoibPolicy p : { SeoibPolicy::Respected, SeoibPolicy::NotAdvertised }) {
        auto d = seoib_policy_decide_snapshot_load(split_vm(SeoibPolicy::Auto), p, NONE);
        ASSERT_TRUE(d.has_value()) << d.error().message();
        EXPECT_FALSE(d.value().rebuild);
    }
}

TEST(SeoibSnapshotLoad, AnExplicitOtherPolicyIsRefusedNamingBoth)
{
    auto d = seoib_policy_decide_snapshot_load(split_vm(SeoibPolicy::NotAdvertised),
                                               SeoibPolicy::Respected, DISABLE);
    ASSERT_FALSE(d.has_value());
    EXPECT_NE(d.error().message().find("seoib-policy=respected"), std::string::npos)
        << d.error().message();
    EXPECT_NE(d.error().message().find("seoib-policy=not-advertised"), std::string::npos)
        << d.error().message();
    // The same explicit policy is taken.
    EXPECT_TRUE(seoib_policy_decide_snapshot_load(split_vm(SeoibPolicy::NotAdvertised),
                                                  SeoibPolicy::NotAdvertised, DISABLE)
                    .has_value());
}

TEST(SeoibSnapshotLoad, ASnapshotThisVmCannotHonourIsRefused)
{
    // Respected needs the EOI register of IOAPIC 0x20.
    auto d = seoib_policy_decide_snapshot_load(split_vm(SeoibPolicy::Auto, 0x11),
                                               SeoibPolicy::Respected, DISABLE);
    ASSERT_FALSE(d.has_value());
    EXPECT_NE(d.error().message().find("0x11"), std::string::npos) << d.error().message();
}

} // namespace
