/*
 * The policy of an incoming VM (design §4.5): every combination of the
 * source's policy (its x86-seoib-state section, or none), the
 * destination's seoib-policy, the destination's kernel and its IOAPIC, with
 * the outcome written out per cell.
 */
#include "accel/kvm/seoib-policy.h"

#include "accel/kvm/kvm-backend.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace {

using accel::kvm::SeoibPolicyInput;
using accel::kvm::seoib_policy_decide_incoming;
using qapi::OnOffSplit;
using qapi::SeoibPolicy;

constexpr uint64_t ENABLE = accel::kvm::KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST;
constexpr uint64_t DISABLE = accel::kvm::KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST;

/// KVM_CAP_X2APIC_API on a split VM: a kernel with the flags, and 6.12.
constexpr uint64_t NEW_KERNEL = 0xf;
constexpr uint64_t OLD_KERNEL = 0x3;

constexpr std::optional<SeoibPolicy> NO_SECTION = std::nullopt;

/// What the cell expects: the effective policy and flags, or an error
/// containing `error`.
struct Outcome {
    std::optional<SeoibPolicy> effective;
    uint64_t flags { 0 };
    const char *error { nullptr };
};

struct Cell {
    const char *name;
    std::optional<SeoibPolicy> source;
    SeoibPolicy destination;
    uint64_t kernel;
    uint8_t ioapic;
    Outcome outcome;
};

constexpr Outcome quirked { SeoibPolicy::Quirked, 0 };
constexpr Outcome respected { SeoibPolicy::Respected, ENABLE };
constexpr Outcome not_advertised { SeoibPolicy::NotAdvertised, DISABLE };
constexpr Outcome differs { std::nullopt, 0, "but this VM has seoib-policy=" };
constexpr Outcome no_flag { std::nullopt, 0, "which this kernel lacks" };
constexpr Outcome needs_0x20 { std::nullopt, 0, "needs an IOAPIC with an EOI register" };

// clang-format off
const Cell table[] = {
    // A quirked source (no section) goes anywhere auto or quirked is asked.
    { "quirked_to_auto_new", NO_SECTION, SeoibPolicy::Auto, NEW_KERNEL, 0x20, quirked },
    { "quirked_to_auto_old", NO_SECTION, SeoibPolicy::Auto, OLD_KERNEL, 0x20, quirked },
    { "quirked_to_auto_0x11", NO_SECTION, SeoibPolicy::Auto, NEW_KERNEL, 0x11, quirked },
    { "quirked_to_quirked_old", NO_SECTION, SeoibPolicy::Quirked, OLD_KERNEL, 0x20, quirked },
    { "quirked_to_respected", NO_SECTION, SeoibPolicy::Respected, NEW_KERNEL, 0x20, differs },
    { "quirked_to_not_advertised", NO_SECTION, SeoibPolicy::NotAdvertised, NEW_KERNEL, 0x11, differs },
    // Respected: adopted by auto, kept by respected, needs the flag and 0x20.
    { "respected_to_auto_new", SeoibPolicy::Respected, SeoibPolicy::Auto, NEW_KERNEL, 0x20, respected },
    { "respected_to_respected", SeoibPolicy::Respected, SeoibPolicy::Respected, NEW_KERNEL, 0x20, respected },
    { "respected_to_quirked", SeoibPolicy::Respected, SeoibPolicy::Quirked, NEW_KERNEL, 0x20, differs },
    { "respected_to_not_advertised", SeoibPolicy::Respected, SeoibPolicy::NotAdvertised, NEW_KERNEL, 0x20, differs },
    { "respected_to_auto_old", SeoibPolicy::Respected, SeoibPolicy::Auto, OLD_KERNEL, 0x20, no_flag },
    { "respected_to_auto_0x11", SeoibPolicy::Respected, SeoibPolicy::Auto, NEW_KERNEL, 0x11, needs_0x20 },
    // Not advertised: adopted by auto with either IOAPIC, needs DISABLE.
    { "not_advertised_to_auto_0x11", SeoibPolicy::NotAdvertised, SeoibPolicy::Auto, NEW_KERNEL, 0x11, not_advertised },
    { "not_advertised_to_auto_0x20", SeoibPolicy::NotAdvertised, SeoibPolicy::Auto, NEW_KERNEL, 0x20, not_advertised },
    { "not_advertised_to_same", SeoibPolicy::NotAdvertised, SeoibPolicy::NotAdvertised, NEW_KERNEL, 0x11, not_advertised },
    { "not_advertised_to_respected", SeoibPolicy::NotAdvertised, SeoibPolicy::Respected, NEW_KERNEL, 0x20, differs },
    { "not_advertised_to_auto_old", SeoibPolicy::NotAdvertised, SeoibPolicy::Auto, OLD_KERNEL, 0x11, no_flag },
    // A stream that claims auto is not a policy anyone ran with.
    { "auto_in_stream", SeoibPolicy::Auto, SeoibPolicy::Auto, NEW_KERNEL, 0x20,
      { std::nullopt, 0, "not an effective policy" } },
};
// clang-format on

class IncomingPolicy : public ::testing::TestWithParam<Cell> {};

TEST_P(IncomingPolicy, CellBehavesAsDesignSays)
{
    const Cell &cell = GetParam();
    SeoibPolicyInput destination;
    destination.requested = cell.destination;
    destination.explicit_request = cell.destination != SeoibPolicy::Auto;
    destination.irqchip = OnOffSplit::Split;
    destination.ioapic_version = cell.ioapic;
    destination.ioapic_version_source = "-global ioapic.version";
    destination.kernel_x2apic_api = cell.kernel;

    auto decided = seoib_policy_decide_incoming(destination, cell.source);

    if (cell.outcome.effective) {
        ASSERT_TRUE(decided.has_value()) << decided.error().message();
        EXPECT_EQ(decided.value().effective, *cell.outcome.effective);
        EXPECT_EQ(decided.value().flags, cell.outcome.flags);
        EXPECT_TRUE(decided.value().warnings.empty());
    } else {
        ASSERT_FALSE(decided.has_value());
        EXPECT_NE(decided.error().message().find(cell.outcome.error), std::string::npos)
            << decided.error().message();
    }
}

INSTANTIATE_TEST_SUITE_P(Design45, IncomingPolicy, ::testing::ValuesIn(table),
                         [](const ::testing::TestParamInfo<Cell> &info) {
                             return std::string(info.param.name);
                         });

TEST(IncomingPolicyErrors, DifferingPolicyNamesBoth)
{
    SeoibPolicyInput destination;
    destination.requested = SeoibPolicy::Quirked;
    destination.irqchip = OnOffSplit::Split;
    destination.kernel_x2apic_api = NEW_KERNEL;

    auto decided = seoib_policy_decide_incoming(destination, SeoibPolicy::Respected);

    ASSERT_FALSE(decided.has_value());
    EXPECT_EQ(decided.error().message(),
              "the source runs its guest with seoib-policy=respected but this VM "
              "has seoib-policy=quirked; start the destination with "
              "seoib-policy=respected or auto");
}

TEST(IncomingPolicyErrors, MissingFlagSaysWhatToChange)
{
    SeoibPolicyInput destination;
    destination.irqchip = OnOffSplit::Split;
    destination.kernel_x2apic_api = OLD_KERNEL;

    auto decided = seoib_policy_decide_incoming(destination, SeoibPolicy::Respected);

    ASSERT_FALSE(decided.has_value());
    EXPECT_EQ(decided.error().error_class(), qapi::ErrorClass::KVMMissingCap);
    EXPECT_NE(decided.error().message().find("migrate to a host with such a kernel"),
              std::string::npos);
}

TEST(IncomingPolicyErrors, RespectedNeedsSplitIrqchip)
{
    SeoibPolicyInput destination;
    destination.irqchip = OnOffSplit::On;
    destination.ioapic_version = 0x11;
    destination.kernel_x2apic_api = 0xb;

    auto decided = seoib_policy_decide_incoming(destination, SeoibPolicy::Respected);

    ASSERT_FALSE(decided.has_value());
    EXPECT_NE(decided.error().message().find("requires kernel-irqchip=split"),
              std::string::npos);
}

} // namespace
