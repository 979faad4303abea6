/*
 * The SEOIB policy engine: every cell of design §4.4's table, on each
 * kernel's x2APIC API answer, with more than 255 APIC IDs, and each error.
 */
#include "accel/kvm/seoib-policy.h"

#include "accel/kvm/kvm-backend.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace {

using accel::kvm::SeoibPolicyInput;
using accel::kvm::seoib_policy_decide;
using qapi::OnOffSplit;
using qapi::SeoibPolicy;

constexpr uint64_t ENABLE = accel::kvm::KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST;
constexpr uint64_t DISABLE =
    accel::kvm::KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST;
constexpr uint64_t IDS = accel::kvm::KVM_X2APIC_API_USE_32BIT_IDS |
                         accel::kvm::KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK;

// KVM_CHECK_EXTENSION(KVM_CAP_X2APIC_API) on the VM fd (kvm-facts §1.3):
constexpr uint64_t NEW_SPLIT = 0xf;     // 6.18.17+, split irqchip enabled
constexpr uint64_t NEW_NOT_SPLIT = 0xb; // 6.18.17+, ENABLE masked
constexpr uint64_t OLD_KERNEL = 0x3;    // 6.12 and older

/// The kernel's answer on a VM with this irqchip mode.
uint64_t new_kernel(OnOffSplit irqchip)
{
    return irqchip == OnOffSplit::Split ? NEW_SPLIT : NEW_NOT_SPLIT;
}

struct Cell {
    const char *name;
    OnOffSplit irqchip;
    SeoibPolicy requested;
    bool legacy;
    uint8_t ioapic;
    // Expected on a kernel with the flags:
    std::optional<SeoibPolicy> effective; // nullopt: error
    uint64_t flags;
};

const Cell table[] = {
    { "off_auto", OnOffSplit::Off, SeoibPolicy::Auto, false, 0x20,
      SeoibPolicy::Quirked, 0 },
    { "off_quirked", OnOffSplit::Off, SeoibPolicy::Quirked, false, 0x20,
      SeoibPolicy::Quirked, 0 },
    { "off_respected", OnOffSplit::Off, SeoibPolicy::Respected, false, 0x20,
      std::nullopt, 0 },
    { "off_not_advertised", OnOffSplit::Off, SeoibPolicy::NotAdvertised,
      false, 0x20, std::nullopt, 0 },
    { "on_auto", OnOffSplit::On, SeoibPolicy::Auto, false, 0x11,
      SeoibPolicy::Quirked, 0 },
    { "on_quirked", OnOffSplit::On, SeoibPolicy::Quirked, false, 0x11,
      SeoibPolicy::Quirked, 0 },
    { "on_not_advertised", OnOffSplit::On, SeoibPolicy::NotAdvertised, false,
      0x11, SeoibPolicy::NotAdvertised, DISABLE },
    { "on_respected", OnOffSplit::On, SeoibPolicy::Respected, false, 0x11,
      std::nullopt, 0 },
    { "split_quirked", OnOffSplit::Split, SeoibPolicy::Quirked, false, 0x20,
      SeoibPolicy::Quirked, 0 },
    { "split_auto_legacy", OnOffSplit::Split, SeoibPolicy::Auto, true, 0x20,
      SeoibPolicy::Quirked, 0 },
    { "split_auto_legacy_0x11", OnOffSplit::Split, SeoibPolicy::Auto, true,
      0x11, SeoibPolicy::Quirked, 0 },
    { "split_auto_0x20", OnOffSplit::Split, SeoibPolicy::Auto, false, 0x20,
      SeoibPolicy::Respected, ENABLE },
    { "split_auto_0x11", OnOffSplit::Split, SeoibPolicy::Auto, false, 0x11,
      SeoibPolicy::NotAdvertised, DISABLE },
    { "split_respected", OnOffSplit::Split, SeoibPolicy::Respected, false,
      0x20, SeoibPolicy::Respected, ENABLE },
    { "split_respected_legacy", OnOffSplit::Split, SeoibPolicy::Respected,
      true, 0x20, SeoibPolicy::Respected, ENABLE },
    { "split_respected_0x11", OnOffSplit::Split, SeoibPolicy::Respected,
      false, 0x11, std::nullopt, 0 },
    { "split_not_advertised", OnOffSplit::Split, SeoibPolicy::NotAdvertised,
      false, 0x20, SeoibPolicy::NotAdvertised, DISABLE },
    { "split_not_advertised_0x11", OnOffSplit::Split,
      SeoibPolicy::NotAdvertised, false, 0x11, SeoibPolicy::NotAdvertised,
      DISABLE },
};

SeoibPolicyInput input(const Cell &c, uint64_t answer, bool ids = false)
{
    SeoibPolicyInput in;
    in.irqchip = c.irqchip;
    in.requested = c.requested;
    in.explicit_request = c.requested != SeoibPolicy::Auto;
    in.legacy_machine = c.legacy;
    in.ioapic_version = c.ioapic;
    in.ioapic_version_source = "-global ioapic.version=0x11";
    in.kernel_x2apic_api = answer;
    in.need_32bit_apic_ids = ids;
    return in;
}

class DesignTable : public ::testing::TestWithParam<Cell> { };

TEST_P(DesignTable, NewKernelGivesTheCellsPolicyAndFlags)
{
    const Cell &c = GetParam();
    auto d = seoib_policy_decide(input(c, new_kernel(c.irqchip)));
    ASSERT_EQ(d.has_value(), c.effective.has_value());
    if (d.has_value()) {
        EXPECT_EQ(d.value().effective, *c.effective);
        EXPECT_EQ(d.value().flags, c.flags);
        EXPECT_TRUE(d.value().warnings.empty());
    }
}

TEST_P(DesignTable, OldKernelKeepsQuirkedForAutoAndRefusesExplicitFlags)
{
    const Cell &c = GetParam();
    auto d = seoib_policy_decide(input(c, OLD_KERNEL));
    const bool needs_flag = c.effective && c.flags != 0;
    if (!c.effective) {
        // Configuration errors come before the kernel question.
        EXPECT_FALSE(d.has_value());
    } else if (needs_flag && c.requested != SeoibPolicy::Auto) {
        ASSERT_FALSE(d.has_value());
        EXPECT_EQ(d.error().error_class(), qapi::ErrorClass::KVMMissingCap);
        EXPECT_NE(d.error().message().find("seoib-policy=quirked"),
                  std::string::npos);
    } else {
        ASSERT_TRUE(d.has_value());
        EXPECT_EQ(d.value().effective, SeoibPolicy::Quirked);
        EXPECT_EQ(d.value().flags, 0U);
        EXPECT_EQ(d.value().warnings.size(), needs_flag ? 1U : 0U);
    }
}

TEST_P(DesignTable, MoreThan255ApicIdsAddsQemusIdFlags)
{
    const Cell &c = GetParam();
    auto d = seoib_policy_decide(input(c, new_kernel(c.irqchip), true));
    if (c.irqchip == OnOffSplit::Off) {
        ASSERT_FALSE(d.has_value());
        EXPECT_EQ(d.error().message(), "current -smp configuration requires "
                                       "kernel irqchip and X2APIC API support.");
        return;
    }
    ASSERT_EQ(d.has_value(), c.effective.has_value());
    if (d.has_value()) {
        EXPECT_EQ(d.value().flags, c.flags | IDS);
    }
}

INSTANTIATE_TEST_SUITE_P(Seoib, DesignTable, ::testing::ValuesIn(table),
                         [](const auto &info) { return info.param.name; });

TEST(SeoibPolicyErrors, RespectedWithoutSplitNamesTheRequirement)
{
    auto d = seoib_policy_decide(input(table[7], NEW_NOT_SPLIT));
    ASSERT_FALSE(d.has_value());
    EXPECT_EQ(d.error().message(),
              "seoib-policy=respected requires kernel-irqchip=split: KVM "
              "honours directed EOI only with a userspace IOAPIC "
              "(kernel-irqchip is on)");
}

TEST(SeoibPolicyErrors, RespectedWithIoapic0x11NamesTheVersionAndItsSource)
{
    auto d = seoib_policy_decide(input(table[15], NEW_SPLIT));
    ASSERT_FALSE(d.has_value());
    EXPECT_EQ(d.error().message(),
              "seoib-policy=respected needs an IOAPIC with an EOI register "
              "(version 0x20), but the IOAPIC is version 0x11 (-global "
              "ioapic.version=0x11); use seoib-policy=not-advertised or auto");
}

TEST(SeoibPolicyErrors, NotAdvertisedWithoutInKernelLapic)
{
    auto d = seoib_policy_decide(input(table[3], 0));
    ASSERT_FALSE(d.has_value());
    EXPECT_EQ(d.error().message(),
              "seoib-policy=not-advertised requires an in-kernel LAPIC "
              "(kernel-irqchip=on or split)");
}

TEST(SeoibPolicyErrors, OldKernelErrorNamesKernelVersionAndWayOut)
{
    auto d = seoib_policy_decide(input(table[13], OLD_KERNEL));
    ASSERT_FALSE(d.has_value());
    EXPECT_EQ(d.error().message(),
              "seoib-policy=respected needs ENABLE_SUPPRESS_EOI_BROADCAST from "
              "KVM, which this kernel lacks (KVM_CAP_X2APIC_API reports 0x3; "
              "the flag needs Linux 7.0 or 6.18.17 and later); use "
              "seoib-policy=quirked to run on this kernel");
}

TEST(SeoibPolicyErrors, AutoFallbackWarnsOnce)
{
    auto d = seoib_policy_decide(input(table[11], OLD_KERNEL));
    ASSERT_TRUE(d.has_value());
    ASSERT_EQ(d.value().warnings.size(), 1U);
    EXPECT_NE(d.value().warnings[0].find("falls back to quirked"),
              std::string::npos);
}

TEST(SeoibPolicy, EnableIsRefusedWhereTheVmFdMasksIt)
{
    // A VM fd probed before split irqchip reports 0xb: ENABLE is not there.
    Cell c = table[13];
    auto d = seoib_policy_decide(input(c, NEW_NOT_SPLIT));
    EXPECT_FALSE(d.has_value());
}

TEST(SeoibPolicy, FlagNamesAreReadable)
{
    EXPECT_EQ(accel::kvm::x2apic_api_flag_names(0), "none");
    EXPECT_EQ(accel::kvm::x2apic_api_flag_names(IDS | ENABLE),
              "USE_32BIT_IDS|DISABLE_BROADCAST_QUIRK|"
              "ENABLE_SUPPRESS_EOI_BROADCAST");
}

} // namespace
