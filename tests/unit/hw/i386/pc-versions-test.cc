#include "hw/i386/pc-versions.h"

#include "compat-test-helpers.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

namespace expected {

// Name the machine in failure messages instead of dumping its bytes.
void PrintTo(const Machine &machine, std::ostream *os)
{
    *os << machine.name;
}

} // namespace expected

namespace {

using compat_test::compat_props;
using compat_test::last_value;
using compat_test::product_machine;
using hw::MachineVersion;

std::string param_name(const testing::TestParamInfo<expected::Machine> &info)
{
    return compat_test::test_name(info.param.name);
}

// MachineVersion

TEST(MachineVersion, ToStringOmitsZeroMicro)
{
    EXPECT_EQ((MachineVersion { 11, 0 }).to_string(), "11.0");
}

TEST(MachineVersion, ToStringKeepsNonZeroMicro)
{
    EXPECT_EQ((MachineVersion { 4, 0, 1 }).to_string(), "4.0.1");
}

TEST(MachineVersion, MajorOrdersNumerically)
{
    EXPECT_LT((MachineVersion { 9, 2 }), (MachineVersion { 10, 0 }));
}

TEST(MachineVersion, MinorOrdersNumerically)
{
    EXPECT_LT((MachineVersion { 2, 9 }), (MachineVersion { 2, 10 }));
}

TEST(MachineVersion, BugfixReleaseSortsBetweenItsMinorAndTheNext)
{
    EXPECT_LT((MachineVersion { 4, 0 }), (MachineVersion { 4, 0, 1 }));
    EXPECT_LT((MachineVersion { 4, 0, 1 }), (MachineVersion { 4, 1 }));
}

TEST(MachineVersion, EqualWhenAllPartsAreEqual)
{
    EXPECT_EQ((MachineVersion { 4, 0, 1 }), (MachineVersion { 4, 0, 1 }));
}

// The machine list

std::vector<std::string_view> product_machine_names()
{
    std::vector<std::string_view> names;
    for (const hw::PCMachineDefinition &def : hw::pc_machine_definitions()) {
        names.push_back(def.name);
    }
    return names;
}

std::vector<std::string_view> reference_machine_names()
{
    std::vector<std::string_view> names;
    for (const expected::Machine &machine : expected::machines) {
        names.push_back(machine.name);
    }
    return names;
}

TEST(PCMachineDefinitions, NamesAreTheReferenceMachinesInOrder)
{
    EXPECT_EQ(product_machine_names(), reference_machine_names());
}

class PCMachine : public testing::TestWithParam<expected::Machine> {
protected:
    void SetUp() override
    {
        m_def = product_machine(GetParam().name);
        ASSERT_NE(m_def, nullptr) << "no product machine " << GetParam().name;
    }

    const hw::PCMachineDefinition &def() const { return *m_def; }

private:
    const hw::PCMachineDefinition *m_def { nullptr };
};

TEST_P(PCMachine, TypeNameMatchesReference)
{
    EXPECT_EQ(def().type_name, GetParam().qom_type);
}

TEST_P(PCMachine, FamilyMatchesName)
{
    EXPECT_EQ(def().family, compat_test::family(GetParam()));
}

TEST_P(PCMachine, VersionMatchesName)
{
    EXPECT_EQ(def().version, compat_test::version(GetParam()));
}

TEST_P(PCMachine, AliasMatchesReference)
{
    EXPECT_EQ(def().alias, GetParam().alias);
}

TEST_P(PCMachine, IsDefaultMatchesReference)
{
    EXPECT_EQ(def().is_default, GetParam().is_default);
}

TEST_P(PCMachine, KernelIrqchipSplitDefaultMatchesReference)
{
    EXPECT_EQ(def().default_kernel_irqchip_split,
              GetParam().default_kernel_irqchip_split);
}

TEST_P(PCMachine, DeprecatedMatchesReference)
{
    EXPECT_EQ(hw::machine_version_deprecated(def().version),
              GetParam().deprecated);
}

TEST_P(PCMachine, DeletedUpstreamExactlyWhenReferenceUnregistered)
{
    EXPECT_EQ(hw::machine_version_deleted_upstream(def().version),
              !GetParam().registered);
}

TEST_P(PCMachine, CompatListIsReferenceListWithSeoibEntry)
{
    EXPECT_EQ(compat_test::rows(
                  hw::pc_machine_compat_props(def().family, def().version)),
              compat_test::expected_compat_rows(GetParam()));
}

// Each entry names the table it came from, so reports can say which compat
// array decided a value.
TEST_P(PCMachine, CompatOriginsNameEachEntrysTable)
{
    std::vector<std::string> expected;
    for (std::string_view name : GetParam().compat) {
        expected.insert(expected.end(),
                        compat_test::expected_array(name).size(),
                        std::string(name));
        if (name == "pc_compat_10_2") {
            expected.emplace_back("seoib_compat_10_2");
        }
    }
    EXPECT_EQ(hw::pc_machine_compat_origins(def().family, def().version),
              expected);
}

// No compat array left that selects the 0x11 IOAPIC (hw_compat_2_7 had the
// only one), so every machine gets the 0x20 IOAPIC unless the user asks.
TEST_P(PCMachine, CompatListLeavesIoapicVersionAlone)
{
    EXPECT_EQ(last_value(compat_props(GetParam()), "ioapic", "version"),
              std::nullopt);
}

INSTANTIATE_TEST_SUITE_P(Reference, PCMachine,
                         testing::ValuesIn(expected::machines), param_name);

// The flags QEMU's v10.2.0 release computed, from the same rule.
using PCMachineIn1020Release = testing::TestWithParam<expected::Machine>;

const MachineVersion QEMU_10_2_0 { 10, 2, 0 };

TEST_P(PCMachineIn1020Release, DeprecatedMatchesReference)
{
    EXPECT_EQ(hw::machine_version_deprecated(compat_test::version(GetParam()),
                                             QEMU_10_2_0),
              GetParam().deprecated_in_10_2_0_release);
}

TEST_P(PCMachineIn1020Release, DeletedUpstreamExactlyWhenReferenceUnregistered)
{
    EXPECT_EQ(hw::machine_version_deleted_upstream(
                  compat_test::version(GetParam()), QEMU_10_2_0),
              !GetParam().registered_in_10_2_0_release.value());
}

// The 11.0 machines did not exist in 10.2.0.
INSTANTIATE_TEST_SUITE_P(
    Reference, PCMachineIn1020Release,
    testing::ValuesIn(compat_test::machines_where(
        [](const expected::Machine &machine) {
            return machine.deprecated_in_10_2_0_release.has_value() &&
                   machine.registered_in_10_2_0_release.has_value();
        })),
    param_name);

class Q35Machine : public PCMachine {};

TEST_P(Q35Machine, DescriptionIsTheQ35One)
{
    EXPECT_EQ(def().desc, "Standard PC (Q35 + ICH9, 2009)");
}

INSTANTIATE_TEST_SUITE_P(
    Reference, Q35Machine,
    testing::ValuesIn(compat_test::machines_where(
        [](const expected::Machine &machine) { return machine.q35; })),
    param_name);

class I440fxMachine : public PCMachine {};

TEST_P(I440fxMachine, DescriptionIsTheI440fxOne)
{
    EXPECT_EQ(def().desc, "Standard PC (i440FX + PIIX, 1996)");
}

INSTANTIATE_TEST_SUITE_P(
    Reference, I440fxMachine,
    testing::ValuesIn(compat_test::machines_where(
        [](const expected::Machine &machine) { return !machine.q35; })),
    param_name);

// Deprecation rule, at the boundaries

TEST(MachineVersionDeprecation, SnapshotDeprecatesEightZero)
{
    EXPECT_TRUE(hw::machine_version_deprecated({ 8, 0 }));
}

TEST(MachineVersionDeprecation, SnapshotKeepsEightOne)
{
    EXPECT_FALSE(hw::machine_version_deprecated({ 8, 1 }));
}

TEST(MachineVersionDeprecation, SnapshotDeletesFiveZero)
{
    EXPECT_TRUE(hw::machine_version_deleted_upstream({ 5, 0 }));
}

TEST(MachineVersionDeprecation, SnapshotKeepsFiveOne)
{
    EXPECT_FALSE(hw::machine_version_deleted_upstream({ 5, 1 }));
}

TEST(MachineVersionDeprecation, MicroDoesNotDelayDeletion)
{
    EXPECT_TRUE(hw::machine_version_deleted_upstream({ 4, 0, 1 }));
}

// An x.0 or x.1 development tree measures age against the next minor: at
// 10.0.50 (to become 10.1) 7.1 is deprecated and 7.2 is not.
TEST(MachineVersionDeprecation, MinorDevelopmentTreeLooksAtNextMinor)
{
    const MachineVersion qemu_10_0_50 { 10, 0, 50 };

    EXPECT_TRUE(hw::machine_version_deprecated({ 7, 1 }, qemu_10_0_50));
    EXPECT_FALSE(hw::machine_version_deprecated({ 7, 2 }, qemu_10_0_50));
}

TEST(MachineVersionDeprecation, DeprecatedMachineGivesQemuReason)
{
    EXPECT_EQ(hw::machine_version_deprecation_reason({ 8, 0 }),
              "machines more than 3 years old are subject to deletion after "
              "6 years");
}

TEST(MachineVersionDeprecation, CurrentMachineGivesNoReason)
{
    EXPECT_EQ(hw::machine_version_deprecation_reason({ 8, 1 }), "");
}

// Precedence: the compat list is applied first to last, so an older
// version's entry overrides a newer one's (QEMU's chain).

using ShpcOn = testing::TestWithParam<expected::Machine>;

// hw_compat_2_9 turns pci-bridge.shpc off, hw_compat_2_8 back on.
TEST_P(ShpcOn, PciBridgeShpcEndsOn)
{
    EXPECT_EQ(last_value(compat_props(GetParam()), "pci-bridge", "shpc"),
              "on");
}

INSTANTIATE_TEST_SUITE_P(
    TwoEight, ShpcOn,
    testing::ValuesIn(compat_test::machines_between({ 2, 8 }, { 2, 8 })),
    param_name);

using ShpcOff = testing::TestWithParam<expected::Machine>;

TEST_P(ShpcOff, PciBridgeShpcEndsOff)
{
    EXPECT_EQ(last_value(compat_props(GetParam()), "pci-bridge", "shpc"),
              "off");
}

INSTANTIATE_TEST_SUITE_P(
    TwoNine, ShpcOff,
    testing::ValuesIn(compat_test::machines_between({ 2, 9 }, { 2, 9 })),
    param_name);

using ShpcUnset = testing::TestWithParam<expected::Machine>;

TEST_P(ShpcUnset, PciBridgeShpcKeepsDeviceDefault)
{
    EXPECT_EQ(last_value(compat_props(GetParam()), "pci-bridge", "shpc"),
              std::nullopt);
}

INSTANTIATE_TEST_SUITE_P(
    TwoTenAndNewer, ShpcUnset,
    testing::ValuesIn(compat_test::machines_between({ 2, 10 }, { 11, 0 })),
    param_name);

using Tseg16 = testing::TestWithParam<expected::Machine>;

// pc_compat_10_1 sets 16 MiB for every machine up to 10.1 ...
TEST_P(Tseg16, ExtendedTsegIsSixteenMegabytes)
{
    EXPECT_EQ(last_value(compat_props(GetParam()), "mch",
                         "extended-tseg-mbytes"),
              "16");
}

INSTANTIATE_TEST_SUITE_P(
    TwoTenToTenOne, Tseg16,
    testing::ValuesIn(compat_test::machines_between({ 2, 10 }, { 10, 1 })),
    param_name);

using Tseg0 = testing::TestWithParam<expected::Machine>;

// ... and pc_compat_2_9, applied later, takes it back to 0.
TEST_P(Tseg0, ExtendedTsegIsZero)
{
    EXPECT_EQ(last_value(compat_props(GetParam()), "mch",
                         "extended-tseg-mbytes"),
              "0");
}

INSTANTIATE_TEST_SUITE_P(
    TwoNineAndOlder, Tseg0,
    testing::ValuesIn(compat_test::machines_between({ 2, 8 }, { 2, 9 })),
    param_name);

using TsegUnset = testing::TestWithParam<expected::Machine>;

TEST_P(TsegUnset, ExtendedTsegKeepsDeviceDefault)
{
    EXPECT_EQ(last_value(compat_props(GetParam()), "mch",
                         "extended-tseg-mbytes"),
              std::nullopt);
}

INSTANTIATE_TEST_SUITE_P(
    TenTwoAndNewer, TsegUnset,
    testing::ValuesIn(compat_test::machines_between({ 10, 2 }, { 11, 0 })),
    param_name);

// The project's own entry: machines up to 10.2 keep quirked SEOIB.

using SeoibLegacy = testing::TestWithParam<expected::Machine>;

TEST_P(SeoibLegacy, KvmAccelSeoibLegacyIsOn)
{
    EXPECT_EQ(last_value(compat_props(GetParam()), "kvm-accel",
                         "x-seoib-legacy"),
              "on");
}

INSTANTIATE_TEST_SUITE_P(
    TenTwoAndOlder, SeoibLegacy,
    testing::ValuesIn(compat_test::machines_between({ 2, 8 }, { 10, 2 })),
    param_name);

using SeoibCurrent = testing::TestWithParam<expected::Machine>;

TEST_P(SeoibCurrent, KvmAccelSeoibLegacyIsUnset)
{
    EXPECT_EQ(last_value(compat_props(GetParam()), "kvm-accel",
                         "x-seoib-legacy"),
              std::nullopt);
}

INSTANTIATE_TEST_SUITE_P(
    ElevenZeroAndNewer, SeoibCurrent,
    testing::ValuesIn(compat_test::machines_between({ 11, 0 }, { 11, 0 })),
    param_name);

// pc_machine_compat_props() beyond the machine list

TEST(PCMachineCompatProps, BugfixMachineAppliesItsMinorsArrays)
{
    EXPECT_EQ(
        compat_test::rows(
            hw::pc_machine_compat_props(hw::PCFamily::Q35, { 4, 0, 1 })),
        compat_test::rows(
            hw::pc_machine_compat_props(hw::PCFamily::Q35, { 4, 0 })));
}

TEST(PCMachineCompatProps, VersionNewerThanEveryArrayGetsFamilyDefaultsOnly)
{
    EXPECT_EQ(compat_test::rows(hw::pc_machine_compat_props(
                  hw::PCFamily::I440FX, { 12, 0 })),
              compat_test::rows(expected::pc_piix_compat_defaults));
}

} // namespace
