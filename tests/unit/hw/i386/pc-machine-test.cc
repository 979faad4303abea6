/*
 * The PC machine classes built from the compat data, and the IOAPIC version
 * resolved before realize (issue: machine types, design §4.2-4.3).
 */
#include "hw/i386/pc.h"

#include "hw/core/qdev.h"
#include "hw/intc/ioapic.h"
#include "qom/context.h"
#include "system/builtin-types.h"
#include "system/vl.h"
#include "system/vm.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <set>
#include <string>
#include <vector>

namespace {

using hw::x86::X86MachineState;

std::shared_ptr<const qom::TypeRegistry> builtin()
{
    static std::shared_ptr<const qom::TypeRegistry> types =
        sysemu::builtin_type_registry();
    return types;
}

std::vector<std::string> machine_names()
{
    std::vector<std::string> names;
    for (const hw::MachineClass *mc : hw::machine_classes(*builtin())) {
        names.push_back(mc->machine_name);
    }
    return names;
}

qapi::Result<std::unique_ptr<sysemu::Vm>>
build(std::vector<std::string> args,
      std::shared_ptr<const qom::TypeRegistry> types = builtin())
{
    std::vector<std::string_view> views(args.begin(), args.end());
    sysemu::CommandLine cl = TRY(sysemu::parse_command_line(views));
    return sysemu::build_vm(cl, types);
}

TEST(PCMachineTypes, EveryReferenceMachineIsRegistered)
{
    EXPECT_EQ(machine_names().size(), hw::pc_machine_definitions().size());
    EXPECT_EQ(hw::find_machine(*builtin(), "q35")->machine_name, "pc-q35-11.0");
    EXPECT_EQ(hw::find_machine(*builtin(), "pc")->machine_name,
              "pc-i440fx-11.0");
    EXPECT_EQ(hw::find_default_machine(*builtin())->machine_name,
              "pc-i440fx-11.0");
    EXPECT_EQ(hw::find_machine(*builtin(), "pc-q35-2.7"), nullptr);
}

class EveryMachine : public ::testing::TestWithParam<std::string> {
protected:
    const hw::MachineClass &mc() const
    {
        return *hw::find_machine(*builtin(), GetParam());
    }
};

TEST_P(EveryMachine, ClassCarriesItsVersionsCompatListInOrder)
{
    const auto &pc = static_cast<const hw::x86::PCMachineClass &>(mc());
    std::vector<qom::CompatProperty> expected =
        hw::pc_machine_compat_props(pc.family, pc.version);
    ASSERT_EQ(pc.compat_props.size(), expected.size());
    ASSERT_EQ(pc.compat_origins.size(), expected.size());
    for (size_t i = 0; i < expected.size(); i++) {
        EXPECT_EQ(pc.compat_props[i].driver, expected[i].driver);
        EXPECT_EQ(pc.compat_props[i].property, expected[i].property);
        EXPECT_EQ(pc.compat_props[i].value, expected[i].value);
    }
}

// style.md §7.5: a typo in a compat table is a test failure, not an abort
// at device creation.  Entries whose driver seoib does not model are kept
// (compat testing reports them); entries on modelled types must resolve.
TEST_P(EveryMachine, EveryEntryOnAModelledTypeNamesAPropertyAndParses)
{
    for (const qom::CompatProperty &e : mc().compat_props) {
        const qom::ObjectClass *klass = builtin()->find_class(e.driver);
        if (!klass) {
            continue;
        }
        SCOPED_TRACE(fmt::format("{}.{}={}", e.driver, e.property, e.value));
        const qom::ObjectProperty *prop = klass->find_property(e.property);
        ASSERT_TRUE(prop || e.optional);
        if (prop) {
            EXPECT_TRUE(prop->decode(e.value).has_value());
        }
    }
}

TEST_P(EveryMachine, DeprecatedExactlyAsQemuComputes)
{
    const auto &pc = static_cast<const hw::x86::PCMachineClass &>(mc());
    EXPECT_EQ(!mc().deprecation_reason.empty(),
              hw::machine_version_deprecated(pc.version));
}

INSTANTIATE_TEST_SUITE_P(PC, EveryMachine, ::testing::ValuesIn(machine_names()),
                         [](const auto &info) {
                             std::string n = info.param;
                             for (char &c : n) {
                                 if (c == '-' || c == '.') {
                                     c = '_';
                                 }
                             }
                             return n;
                         });

TEST(PCMachineTypes, UnmodelledDriversAreKeptNotDropped)
{
    const hw::MachineClass &mc = *hw::find_machine(*builtin(), "pc-q35-2.8");
    std::set<std::string_view> unmodelled;
    for (const qom::CompatProperty &e : mc.compat_props) {
        if (!builtin()->find_class(e.driver)) {
            unmodelled.insert(e.driver);
        }
    }
    EXPECT_TRUE(unmodelled.contains("virtio-pci"));
    // CPU models other than qemu64 are not modelled; x86_64-cpu is.
    EXPECT_TRUE(unmodelled.contains("Haswell-x86_64-cpu"));
    EXPECT_FALSE(unmodelled.contains("x86_64-cpu"));
    EXPECT_FALSE(unmodelled.contains("q35-pcihost"));
    EXPECT_FALSE(unmodelled.contains("kvm-accel"));

    // The machine's compat list records the same entries as unmodelled.
    auto list = mc.compat_list(*builtin());
    std::set<std::string_view> recorded;
    for (uint32_t i : list->unmodelled()) {
        recorded.insert(list->props()[i].driver);
    }
    EXPECT_EQ(recorded, unmodelled);
}

// ---- precedence through the real compat tables ------------------------------

/// Stand-ins for devices seoib does not model, registered only here, so the
/// real tables' precedence can be observed through object creation.
class PCIBridgeStandIn : public qdev::DeviceState {
public:
    static constexpr std::string_view type_name = "pci-bridge";
    using Parent = qdev::DeviceState;
    using Class = qdev::DeviceClass;
    static void register_properties(qom::ObjectClass &oc)
    {
        oc.add_property(qom::make_property(
            qom::prop("shpc", &PCIBridgeStandIn::shpc).default_value(false)));
    }
    bool shpc {};
};

class VirtioIommuStandIn : public qdev::DeviceState {
public:
    static constexpr std::string_view type_name = "virtio-iommu-pci";
    using Parent = qdev::DeviceState;
    using Class = qdev::DeviceClass;
    static void register_properties(qom::ObjectClass &oc)
    {
        oc.add_property(qom::make_property(
            qom::prop("aw-bits", &VirtioIommuStandIn::aw_bits).default_value(0)));
        oc.add_property(qom::make_property(
            qom::prop("granule", &VirtioIommuStandIn::granule)));
    }
    uint8_t aw_bits {};
    std::string granule;
};

std::shared_ptr<const qom::TypeRegistry> with_stand_ins()
{
    auto r = std::make_shared<qom::TypeRegistry>();
    sysemu::register_builtin_types(*r);
    r->add<PCIBridgeStandIn>();
    r->add<VirtioIommuStandIn>();
    MUST(r->finalize());
    return r;
}

/// A VM that must build; a failure is reported and gives nullptr.
std::unique_ptr<sysemu::Vm>
build_ok(std::vector<std::string> args,
         std::shared_ptr<const qom::TypeRegistry> types = builtin())
{
    auto r = build(std::move(args), std::move(types));
    if (!r) {
        ADD_FAILURE() << r.error().message();
        return nullptr;
    }
    return std::move(r.value());
}

template <typename T>
T created_value(sysemu::Vm &vm, std::string_view type, std::string_view prop)
{
    auto o = vm.context().new_object(type);
    if (!o) {
        ADD_FAILURE() << o.error().message();
        return T {};
    }
    auto v = qom::property_get(*o.value(), qom::PropertyKey<T> { prop });
    if (!v) {
        ADD_FAILURE() << v.error().message();
        return T {};
    }
    return v.value();
}

TEST(PCCompatPrecedence, VersionedEntryOverridesFamilyDefault)
{
    // pc_q35_compat_defaults sets aw-bits 39; hw_compat_8_2 sets 64.
    auto types = with_stand_ins();
    auto v82 = build_ok({ "-M", "pc-q35-8.2", "-accel", "kvm,kernel=model" }, types);
    ASSERT_TRUE(v82);
    auto v90 = build_ok({ "-M", "pc-q35-9.0", "-accel", "kvm,kernel=model" }, types);
    ASSERT_TRUE(v90);
    EXPECT_EQ(created_value<uint8_t>(*v82, "virtio-iommu-pci", "aw-bits"), 64);
    EXPECT_EQ(created_value<uint8_t>(*v90, "virtio-iommu-pci", "aw-bits"), 39);
}

TEST(PCCompatPrecedence, OlderVersionsEntryOverridesNewerOne)
{
    // hw_compat_2_9 sets shpc off, hw_compat_2_8 sets it on: 2.8 ends on.
    auto types = with_stand_ins();
    auto v28 = build_ok({ "-M", "pc-i440fx-2.8", "-accel", "kvm,kernel=model" }, types);
    ASSERT_TRUE(v28);
    auto v29 = build_ok({ "-M", "pc-i440fx-2.9", "-accel", "kvm,kernel=model" }, types);
    ASSERT_TRUE(v29);
    EXPECT_TRUE(created_value<bool>(*v28, "pci-bridge", "shpc"));
    EXPECT_FALSE(created_value<bool>(*v29, "pci-bridge", "shpc"));
}

TEST(PCCompatPrecedence, UserGlobalOverridesCompat)
{
    auto types = with_stand_ins();
    auto vm = build_ok({ "-M", "pc-i440fx-2.8", "-accel", "kvm,kernel=model",
                           "-global", "pci-bridge.shpc=off" },
                         types);
    ASSERT_TRUE(vm);
    EXPECT_FALSE(created_value<bool>(*vm, "pci-bridge", "shpc"));
}

TEST(PCCompatPrecedence, SeoibLegacyEntryReachesTheAcceleratorUpTo10_2)
{
    auto v102 = build_ok({ "-M", "pc-q35-10.2", "-accel", "kvm,kernel=model" });
    ASSERT_TRUE(v102);
    auto v110 = build_ok({ "-M", "pc-q35-11.0", "-accel", "kvm,kernel=model" });
    ASSERT_TRUE(v110);
    EXPECT_EQ(v102->accel().get_property("x-seoib-legacy").value(),
              qapi::QObject(true));
    EXPECT_EQ(v110->accel().get_property("x-seoib-legacy").value(),
              qapi::QObject(false));
}

TEST(PCCompatPrecedence, UserGlobalNeverReachesTheAccelerator)
{
    auto vm = build_ok({ "-M", "pc-q35-10.2", "-accel", "kvm,kernel=model",
                           "-global", "kvm-accel.x-seoib-legacy=off" });
    ASSERT_TRUE(vm);
    EXPECT_EQ(vm->accel().get_property("x-seoib-legacy").value(),
              qapi::QObject(true));
}

TEST(PCCompatPrecedence, GlobalOnIoapicCommonReachesIoapic)
{
    auto vm = build_ok({ "-M", "q35", "-accel", "kvm,kernel=model,kernel-irqchip=split",
                           "-global", "ioapic-common.version=0x11" });
    ASSERT_TRUE(vm);
    auto &m = qom::cast<X86MachineState>(vm->machine());
    EXPECT_EQ(m.ioapic()->version(), 0x11);
    EXPECT_EQ(m.ioapic()->qom_type(), "ioapic");
}

TEST(PCCompatPrecedence, GlobalOnIoapicCommonFailsOnKvmIoapicAsQemu)
{
    auto vm = build({ "-M", "q35", "-accel", "kvm,kernel=model,kernel-irqchip=on",
                      "-global", "ioapic-common.version=0x11" });
    ASSERT_FALSE(vm.has_value());
    EXPECT_EQ(vm.error().message(),
              "can't apply global ioapic-common.version=0x11: Property "
              "'kvm-ioapic.version' not found");
}

TEST(PCMachineInit, IoapicSitsUnderTheHostBridge)
{
    auto q35 = build_ok({ "-M", "q35", "-accel", "kvm,kernel=model,kernel-irqchip=split" });
    ASSERT_TRUE(q35);
    auto pc = build_ok({ "-M", "pc", "-accel", "kvm,kernel=model,kernel-irqchip=split" });
    ASSERT_TRUE(pc);
    EXPECT_NE(q35->context().resolve_path("/machine/q35/ioapic"), nullptr);
    EXPECT_NE(pc->context().resolve_path("/machine/i440fx/ioapic"), nullptr);
    EXPECT_NE(q35->context().resolve_path("/machine/unattached"), nullptr);
}

TEST(PCMachineInit, OnlyPcQ35_4_0DefaultsToSplit)
{
    auto v40 = build_ok({ "-M", "pc-q35-4.0", "-accel", "kvm,kernel=model" });
    ASSERT_TRUE(v40);
    auto v401 = build_ok({ "-M", "pc-q35-4.0.1", "-accel", "kvm,kernel=model" });
    ASSERT_TRUE(v401);
    EXPECT_EQ(qom::cast<X86MachineState>(v40->machine()).irqchip_mode(),
              qapi::OnOffSplit::Split);
    EXPECT_EQ(qom::cast<X86MachineState>(v401->machine()).irqchip_mode(),
              qapi::OnOffSplit::On);
}

TEST(PCMachineInit, AccelKernelIrqchipBeatsMachineOption)
{
    auto vm = build_ok({ "-M", "q35,kernel-irqchip=on", "-accel",
                           "kvm,kernel=model,kernel-irqchip=split" });
    ASSERT_TRUE(vm);
    EXPECT_EQ(qom::cast<X86MachineState>(vm->machine()).irqchip_mode(),
              qapi::OnOffSplit::Split);
}

TEST(PCMachineInit, MachineOptionKernelIrqchipIsSugarForTheAccelerator)
{
    auto vm = build_ok({ "-M", "q35,kernel-irqchip=split", "-accel",
                           "kvm,kernel=model" });
    ASSERT_TRUE(vm);
    EXPECT_EQ(qom::cast<X86MachineState>(vm->machine()).irqchip_mode(),
              qapi::OnOffSplit::Split);
}

// ---- early resolution equals the realized IOAPIC ----------------------------

struct GlobalsCase {
    const char *name;
    std::vector<std::string> args;
    uint8_t split_version;
};

const GlobalsCase globals_cases[] = {
    { "none", {}, 0x20 },
    { "hex", { "-global", "ioapic.version=0x11" }, 0x11 },
    { "decimal", { "-global", "ioapic.version=17" }, 0x11 },
    { "octal", { "-global", "ioapic.version=021" }, 0x11 },
    { "long", { "-global", "driver=ioapic,property=version,value=0x11" }, 0x11 },
    { "last_wins",
      { "-global", "ioapic.version=0x11", "-global", "ioapic.version=0x20" },
      0x20 },
    { "on_ioapic_common", { "-global", "ioapic-common.version=0x11" }, 0x11 },
};

struct EarlyCase {
    std::string machine;
    const GlobalsCase *globals;
    bool split;
};

std::vector<EarlyCase> early_cases()
{
    std::vector<EarlyCase> out;
    for (const std::string &m : machine_names()) {
        for (const GlobalsCase &g : globals_cases) {
            out.push_back({ m, &g, true });
            out.push_back({ m, &g, false });
        }
    }
    return out;
}

class EarlyEqualsRealized : public ::testing::TestWithParam<EarlyCase> { };

TEST_P(EarlyEqualsRealized, ForEveryMachineGlobalsAndIrqchip)
{
    const EarlyCase &c = GetParam();
    std::vector<std::string> args = {
        "-M", c.machine, "-accel",
        std::string("kvm,kernel=model,kernel-irqchip=") + (c.split ? "split" : "on")
    };
    args.insert(args.end(), c.globals->args.begin(), c.globals->args.end());
    auto vm = build(args);
    if (!c.split && std::string_view(c.globals->name) == "on_ioapic_common") {
        // kvm-ioapic has no version property: QEMU fails the same way.
        ASSERT_FALSE(vm.has_value());
        return;
    }
    ASSERT_TRUE(vm.has_value()) << vm.error().message();
    auto &m = qom::cast<X86MachineState>(vm.value()->machine());
    ASSERT_TRUE(m.ioapic_plan().has_value());
    EXPECT_EQ(m.ioapic_plan()->version, m.ioapic()->version());
    EXPECT_EQ(m.ioapic()->version(), c.split ? c.globals->split_version : 0x11);
    EXPECT_EQ(m.ioapic()->qom_type(), c.split ? "ioapic" : "kvm-ioapic");
}

INSTANTIATE_TEST_SUITE_P(
    AllMachines, EarlyEqualsRealized, ::testing::ValuesIn(early_cases()),
    [](const auto &info) {
        std::string n = fmt::format("{}_{}_{}", info.param.machine,
                                    info.param.globals->name,
                                    info.param.split ? "split" : "on");
        for (char &ch : n) {
            if (ch == '-' || ch == '.') {
                ch = '_';
            }
        }
        return n;
    });

TEST(PCMachineInit, EarlySourceNamesTheDecidingGlobal)
{
    auto vm = build_ok({ "-M", "q35", "-accel", "kvm,kernel=model,kernel-irqchip=split",
                           "-global", "ioapic.version=0x20", "-global",
                           "ioapic.version=0x11" });
    ASSERT_TRUE(vm);
    auto &m = qom::cast<X86MachineState>(vm->machine());
    EXPECT_EQ(m.ioapic_plan()->source, "-global ioapic.version=0x11");
}

TEST(PCMachineInit, BadVersionFailsBeforeAnyVcpuWithTheRealizeText)
{
    auto vm = build({ "-M", "q35", "-accel", "kvm,kernel=model,kernel-irqchip=split",
                      "-global", "ioapic.version=0x12" });
    ASSERT_FALSE(vm.has_value());
    EXPECT_EQ(vm.error().message(),
              "-global ioapic.version=0x12: IOAPIC only supports version 0x11 "
              "or 0x20 (default: 0x20).");
}

} // namespace
