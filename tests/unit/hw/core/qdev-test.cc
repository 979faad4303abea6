/*
 * Devices and global properties: QEMU's semantics (qemu-facts §4), tested
 * the way QEMU's tests/unit/test-qdev-global-props.c does, but with a fresh
 * Context per test instead of subprocesses.
 */
#include "hw/core/qdev.h"

#include "qom/context.h"
#include "qom/type-registry.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using qdev::DeviceState;
using qom::Ref;

enum class Mode { Slow, Fast };

} // namespace

template <>
struct qapi::EnumLookup<Mode> {
    static constexpr std::string_view type_name = "TestMode";
    static constexpr std::array<std::string_view, 2> names = { "slow", "fast" };
};

namespace {

struct Resettable {
    static constexpr std::string_view interface_name = "test-resettable";
    virtual ~Resettable() = default;
};

/// QEMU's "static_prop_type": an abstract parent with two properties.
class StaticPropDevice : public DeviceState {
public:
    static constexpr std::string_view type_name = "test-static-parent";
    using Parent = DeviceState;
    using Class = qdev::DeviceClass;

    static void register_properties(qom::ObjectClass &oc)
    {
        oc.add_property(qom::make_property(
            qom::prop("prop1", &StaticPropDevice::prop1).default_value(1)));
        oc.add_property(qom::make_property(
            qom::prop("prop2", &StaticPropDevice::prop2).default_value(2)));
        oc.add_property(qom::make_property(
            qom::prop("mode", &StaticPropDevice::mode).default_value(Mode::Slow)));
    }
    static void class_init(qdev::DeviceClass &dc) { dc.hotpluggable = false; }

    uint32_t prop1 { 0 };
    uint32_t prop2 { 0 };
    Mode mode { Mode::Slow };
    int realize_count { 0 };

protected:
    qapi::Result<void> do_realize() override
    {
        realize_count++;
        return {};
    }
};

class StaticPropSub : public StaticPropDevice, public Resettable {
public:
    static constexpr std::string_view type_name = "test-static-sub";
    using Parent = StaticPropDevice;
    using Class = qdev::DeviceClass;
};

class HotplugDevice : public DeviceState {
public:
    static constexpr std::string_view type_name = "test-hotplug";
    using Parent = DeviceState;
    using Class = qdev::DeviceClass;
    static void register_properties(qom::ObjectClass &oc)
    {
        oc.add_property(qom::make_property(
            qom::prop("prop1", &HotplugDevice::prop1).default_value(0)));
    }
    uint32_t prop1 { 0 };
};

/// Adds a property at instance_init (QEMU's dynamic_prop_type).
class DynamicPropDevice : public DeviceState {
public:
    static constexpr std::string_view type_name = "test-dynamic";
    using Parent = DeviceState;
    using Class = qdev::DeviceClass;
    uint32_t dyn { 0 };
};

class PlainObject : public qom::Object {
public:
    static constexpr std::string_view type_name = "test-plain-object";
    using Parent = qom::Object;
    using Class = qom::ObjectClass;
    static void register_properties(qom::ObjectClass &oc)
    {
        oc.add_property(qom::make_property(
            qom::prop("prop1", &PlainObject::prop1).default_value(0)));
    }
    uint32_t prop1 { 0 };
};

void register_types(qom::TypeRegistry &r)
{
    qdev::qdev_register_types(r);
    r.add_interface<Resettable>();
    r.add<StaticPropDevice>({ .abstract = true });
    r.add<StaticPropSub>({ .interfaces = { Resettable::interface_name } });
    r.add<HotplugDevice>();
    r.add<DynamicPropDevice>({
        .instance_init = [](DynamicPropDevice &d) {
            MUST(d.add_property(qom::make_property(
                qom::prop("dyn", &DynamicPropDevice::dyn))));
        },
    });
    r.add<PlainObject>();
}

class GlobalProps : public ::testing::Test {
protected:
    void SetUp() override
    {
        ctx.set_warning_sink(
            [this](std::string_view w) { warnings.emplace_back(w); });
    }
    void user(std::string_view driver, std::string_view prop,
              std::string_view value)
    {
        ctx.globals().register_user(driver, prop, value,
                                    std::string("-global ") +
                                        std::string(driver) + "." +
                                        std::string(prop) + "=" +
                                        std::string(value));
    }
    Ref<StaticPropSub> new_sub()
    {
        return MUST(ctx.new_object<StaticPropSub>());
    }

    std::shared_ptr<qom::TypeRegistry> registry {
        qom::make_type_registry(register_types)
    };
    qom::Context ctx { registry };
    std::vector<std::string> warnings;
};

TEST_F(GlobalProps, ClassDefaultsApplyWithoutGlobals)
{
    auto dev = new_sub();
    EXPECT_EQ(dev->prop1, 1U);
    EXPECT_EQ(dev->prop2, 2U);
}

TEST_F(GlobalProps, GlobalOnAbstractParentAppliesToSubtype)
{
    user("test-static-parent", "prop1", "200");
    EXPECT_EQ(new_sub()->prop1, 200U);
}

TEST_F(GlobalProps, GlobalOnInterfaceAppliesToImplementer)
{
    user("test-resettable", "prop2", "7");
    EXPECT_EQ(new_sub()->prop2, 7U);
}

TEST_F(GlobalProps, RegistrationOrderBeatsSpecificity)
{
    user("test-static-parent", "prop1", "101");
    user("test-static-sub", "prop1", "102");
    user("test-static-sub", "prop2", "103");
    user("test-static-parent", "prop2", "104");
    auto dev = new_sub();
    EXPECT_EQ(dev->prop1, 102U);
    EXPECT_EQ(dev->prop2, 104U);
}

TEST_F(GlobalProps, GlobalsReachPropertiesAddedAtInstanceInit)
{
    user("test-dynamic", "dyn", "55");
    auto dev = MUST(ctx.new_object<DynamicPropDevice>());
    EXPECT_EQ(dev->dyn, 55U);
}

TEST_F(GlobalProps, PrecedenceDefaultAccelMachineSugarUserExplicit)
{
    static constexpr qom::CompatProperty accel[] = {
        { "test-static-sub", "prop1", "10" }, { "test-static-sub", "prop2", "10" }
    };
    static constexpr qom::CompatProperty machine[] = {
        { "test-static-sub", "prop1", "20" }
    };
    static constexpr std::string_view origin[] = { "test_compat" };
    ctx.globals().set_accel_compat(accel, "accel compat");
    ctx.globals().set_machine_compat(machine, origin);
    ctx.globals().register_sugar("test-static-sub", "prop2", "30", "-machine x");
    user("test-static-sub", "prop1", "40");
    auto dev = new_sub();
    EXPECT_EQ(dev->prop1, 40U); // user beats machine compat
    EXPECT_EQ(dev->prop2, 30U); // sugar beats accel compat
    ASSERT_TRUE(dev->parse_property("prop1", "50").has_value());
    EXPECT_EQ(dev->prop1, 50U); // explicit beats every global
}

TEST_F(GlobalProps, BadEnumValueFailsCreationAndAttachesNothing)
{
    user("test-static-sub", "mode", "medium");
    auto r = ctx.new_object("test-static-sub");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().message(),
              "can't apply global test-static-sub.mode=medium: Parameter "
              "'mode' does not accept value 'medium'");
    int children = 0;
    ctx.root().for_each_child([&](qom::Object &) { children++; });
    EXPECT_EQ(children, 0);
}

TEST_F(GlobalProps, MissingPropertyOnMatchingDeviceIsFatalAtCreation)
{
    user("test-static-sub", "nonexistent", "1");
    auto r = ctx.new_object("test-static-sub");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().message(),
              "can't apply global test-static-sub.nonexistent=1: Property "
              "'test-static-sub.nonexistent' not found");
}

TEST_F(GlobalProps, OptionalCompatEntryWithoutPropertyIsSkipped)
{
    static constexpr qom::CompatProperty machine[] = {
        { "test-static-sub", "nonexistent", "1", true },
        { "test-static-sub", "prop1", "9" },
    };
    static constexpr std::string_view origin[] = { "test_compat" };
    ctx.globals().set_machine_compat(machine, origin);
    EXPECT_EQ(new_sub()->prop1, 9U);
}

TEST_F(GlobalProps, UserGlobalsNeverReachNonDevices)
{
    user("test-plain-object", "prop1", "5");
    auto obj = MUST(ctx.new_object<PlainObject>());
    EXPECT_EQ(obj->prop1, 0U);
    // Non-device objects may ask for compat, and get only compat.
    ASSERT_TRUE(ctx.globals().apply_compat(*obj).has_value());
    EXPECT_EQ(obj->prop1, 0U);
}

TEST_F(GlobalProps, MachineCompatReachesNonDevicesThatAskForIt)
{
    static constexpr qom::CompatProperty machine[] = {
        { "test-plain-object", "prop1", "6" }
    };
    static constexpr std::string_view origin[] = { "test_compat" };
    ctx.globals().set_machine_compat(machine, origin);
    auto obj = MUST(ctx.new_object<PlainObject>());
    ASSERT_TRUE(ctx.globals().apply_compat(*obj).has_value());
    EXPECT_EQ(obj->prop1, 6U);
}

TEST_F(GlobalProps, UnknownTypeAndUnusedGlobalsWarnExactlyOnceEach)
{
    user("nosuchdevice", "x", "1");
    user("test-plain-object", "prop1", "1"); // not a device
    user("test-static-sub", "prop1", "3");   // unused, not hotpluggable
    user("test-hotplug", "prop1", "4");      // unused, hotpluggable
    user("test-static-sub", "prop2", "5");   // used
    EXPECT_TRUE(qdev::qdev_prop_check_globals(ctx));
    EXPECT_EQ(warnings, (std::vector<std::string> {
                            "global nosuchdevice.x has invalid class name",
                            "global test-plain-object.prop1 has invalid class "
                            "name",
                            "global test-static-sub.prop1=3 not used",
                            "global test-static-sub.prop2=5 not used",
                        }));
}

TEST_F(GlobalProps, UsedGlobalsDoNotWarn)
{
    user("test-static-sub", "prop1", "3");
    user("test-hotplug", "prop1", "4");
    new_sub();
    EXPECT_FALSE(qdev::qdev_prop_check_globals(ctx));
    EXPECT_TRUE(warnings.empty());
}

TEST_F(GlobalProps, EarlierBadValueOverriddenByLaterOneIsStillCheckedAtParse)
{
    // QEMU applies every entry in order: a value the codec rejects fails
    // even if a later entry would override it.
    user("test-static-sub", "prop1", "abc");
    user("test-static-sub", "prop1", "7");
    EXPECT_FALSE(ctx.new_object("test-static-sub").has_value());
}

// ---- realize -------------------------------------------------------------

TEST_F(GlobalProps, SetAfterRealizeFailsForAnonymousDevice)
{
    auto dev = new_sub();
    ASSERT_TRUE(dev->realize().has_value());
    auto r = dev->parse_property("prop1", "5");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().message(),
              "Attempt to set property 'prop1' on anonymous device (type "
              "'test-static-sub') after it was realized");
    EXPECT_EQ(dev->prop1, 1U);
}

TEST_F(GlobalProps, SetAfterRealizeFailsWithDeviceId)
{
    auto dev = new_sub();
    dev->set_id("nic0");
    ASSERT_TRUE(dev->realize().has_value());
    auto qmp = dev->set_property("prop1", qapi::QObject(5));
    ASSERT_FALSE(qmp.has_value());
    EXPECT_EQ(qmp.error().message(),
              "Attempt to set property 'prop1' on device 'nic0' (type "
              "'test-static-sub') after it was realized");
    auto typed = qom::property_set(*dev, qom::PropertyKey<uint32_t> { "prop1" },
                                   5U);
    EXPECT_FALSE(typed.has_value());
}

TEST_F(GlobalProps, RealizedPropertyRealizesOnce)
{
    auto dev = new_sub();
    ASSERT_TRUE(dev->set_property("realized", qapi::QObject(true)).has_value());
    ASSERT_TRUE(dev->set_property("realized", qapi::QObject(true)).has_value());
    EXPECT_EQ(dev->realize_count, 1);
    EXPECT_EQ(dev->get_property("realized").value(), qapi::QObject(true));
}

TEST_F(GlobalProps, DeviceThatCannotBeHotpluggedStaysRealized)
{
    auto dev = new_sub();
    ASSERT_TRUE(dev->realize().has_value());
    auto r = dev->set_property("realized", qapi::QObject(false));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().message(),
              "Device 'test-static-sub' does not support hotplugging");
    EXPECT_TRUE(dev->realized());
    EXPECT_FALSE(dev->set_property("prop1", qapi::QObject(5)).has_value());
    EXPECT_EQ(dev->prop1, 1U);
}

TEST_F(GlobalProps, HotpluggableDeviceCanBeUnrealized)
{
    auto dev = MUST(ctx.new_object<HotplugDevice>());
    ASSERT_TRUE(dev->realize().has_value());
    ASSERT_TRUE(dev->set_property("realized", qapi::QObject(false)).has_value());
    EXPECT_FALSE(dev->realized());
}

TEST_F(GlobalProps, SysBusDevicesAreNotHotpluggable)
{
    const auto *dc = static_cast<const qdev::DeviceClass *>(
        registry->find_class(qdev::TYPE_SYS_BUS_DEVICE));
    EXPECT_FALSE(dc->hotpluggable);
    EXPECT_FALSE(dc->user_creatable);
}

// ---- early resolution ----------------------------------------------------

struct EarlyCase {
    const char *name;
    std::vector<std::pair<std::string, std::string>> globals; // driver, value
    bool fails;
};

class EarlyResolution : public GlobalProps,
                        public ::testing::WithParamInterface<EarlyCase> { };

TEST_P(EarlyResolution, EqualsWhatCreationGives)
{
    const EarlyCase &c = GetParam();
    static constexpr qom::CompatProperty machine[] = {
        { "test-static-parent", "prop1", "0x30" }
    };
    static constexpr std::string_view origin[] = { "test_compat" };
    ctx.globals().set_machine_compat(machine, origin);
    for (const auto &[driver, value] : c.globals) {
        user(driver, "prop1", value);
    }
    const qom::ObjectClass &klass = *registry->find_class("test-static-sub");

    auto early = ctx.globals().resolve(klass, qom::PropertyKey<uint32_t> { "prop1" },
                                       true);
    auto created = ctx.new_object<StaticPropSub>();

    ASSERT_EQ(early.has_value(), created.has_value());
    EXPECT_EQ(early.has_value(), !c.fails);
    if (early.has_value()) {
        EXPECT_EQ(early.value().value, created.value()->prop1);
    } else {
        EXPECT_EQ(early.error().message(), created.error().message());
    }
}

INSTANTIATE_TEST_SUITE_P(
    Table, EarlyResolution,
    ::testing::Values(
        EarlyCase { "CompatOnly", {}, false },
        EarlyCase { "Hex", { { "test-static-sub", "0x11" } }, false },
        EarlyCase { "Decimal", { { "test-static-sub", "17" } }, false },
        EarlyCase { "Octal", { { "test-static-sub", "021" } }, false },
        EarlyCase { "OnParent", { { "test-static-parent", "5" } }, false },
        EarlyCase { "OnInterface", { { "test-resettable", "6" } }, false },
        EarlyCase { "LastWins",
                    { { "test-static-sub", "1" }, { "test-static-sub", "2" } },
                    false },
        EarlyCase { "ParentAfterSub",
                    { { "test-static-sub", "1" }, { "test-static-parent", "9" } },
                    false },
        EarlyCase { "OtherTypeIgnored", { { "test-hotplug", "9" } }, false },
        EarlyCase { "BadValue", { { "test-static-sub", "abc" } }, true },
        EarlyCase { "OutOfRange", { { "test-static-sub", "0x100000000" } },
                    true },
        EarlyCase { "BadThenGood",
                    { { "test-static-sub", "x" }, { "test-static-sub", "3" } },
                    true }),
    [](const auto &info) { return std::string(info.param.name); });

TEST_F(GlobalProps, EarlyResolutionNamesTheDecidingEntry)
{
    user("test-static-sub", "prop1", "0x11");
    user("test-static-parent", "prop2", "5");
    const qom::ObjectClass &klass = *registry->find_class("test-static-sub");
    auto r = MUST(ctx.globals().resolve(
        klass, qom::PropertyKey<uint32_t> { "prop1" }, true));
    EXPECT_EQ(r.value, 0x11U);
    EXPECT_EQ(r.source.slot, qom::GlobalSlot::User);
    EXPECT_EQ(r.source.describe(), "-global test-static-sub.prop1=0x11");
}

TEST_F(GlobalProps, EarlyResolutionDoesNotMarkGlobalsUsed)
{
    user("test-static-sub", "prop1", "3");
    const qom::ObjectClass &klass = *registry->find_class("test-static-sub");
    ASSERT_TRUE(ctx.globals()
                    .resolve(klass, qom::PropertyKey<uint32_t> { "prop1" }, true)
                    .has_value());
    EXPECT_FALSE(ctx.globals().user_globals()[0].used);
}

} // namespace
