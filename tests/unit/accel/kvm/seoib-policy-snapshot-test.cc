/*
 * Runtime snapshot load (design §4.5): which x2APIC API flag changes a
 * running KVM VM can take on its own VM fd (kvm-facts §1), and which need a
 * fresh KVM VM.
 */
#include "accel/kvm/seoib-policy.h"

#include "accel/kvm/kvm-backend.h"

#include <gtest/gtest.h>

namespace {

using accel::kvm::x2apic_api_flags_reachable;

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

} // namespace
