/*
 * The QOM and machine commands as functions: over a small object tree of
 * test types, and over seoib's machine types.
 */
#include "monitor/qmp-cmds.h"

#include "tests/functional/qmp-harness.h"

#include "hw/core/machine.h"
#include "qom/property.h"
#include "system/builtin-types.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <string>
#include <vector>

namespace {

using qapi::QObject;
using qmp_test::json;

class Widget : public qom::Object {
public:
    static constexpr std::string_view type_name = "test-widget";
    using Parent = qom::Object;
    using Class = qom::ObjectClass;

    static void register_properties(qom::ObjectClass &oc)
    {
        oc.add_property(qom::make_property(
            qom::prop("size", &Widget::m_size).default_value(7).doc(
                "how big")));
        oc.add_property(
            qom::make_property(qom::prop("label", &Widget::m_label)));
    }

    qapi::Result<void>
    check_property_set(const qom::ObjectProperty &) const override
    {
        if (frozen) {
            return qapi::Error("test-widget is frozen");
        }
        return {};
    }

    bool frozen { false };
    uint32_t m_size { 0 };
    std::string m_label;
};

class Gadget : public Widget {
public:
    static constexpr std::string_view type_name = "test-gadget";
    using Parent = Widget;
    using Class = qom::ObjectClass;
};

void register_test_types(qom::TypeRegistry &r)
{
    r.add<Widget>({ .abstract = true });
    r.add<Gadget>();
}

std::vector<std::string> names_of(const std::vector<qapi::ObjectTypeInfo> &v)
{
    std::vector<std::string> out;
    for (const auto &t : v) {
        out.push_back(t.name);
    }
    return out;
}

/// /box/w, /box/inner/leaf and /other/leaf, all test-gadgets.
class QomCommandsTest : public testing::Test {
protected:
    QomCommandsTest()
        : ctx(qom::make_type_registry(register_test_types))
    {
        MUST(ctx.root().add_child("box", add("test-gadget")));
        MUST(box().add_child("w", add("test-gadget")));
        MUST(box().add_child("inner", add("test-gadget")));
        MUST(box().child("inner")->add_child("leaf", add("test-gadget")));
        MUST(ctx.root().add_child("other", add("test-gadget")));
        MUST(ctx.root().child("other")->add_child("leaf", add("test-gadget")));
    }

    qom::Ref<qom::Object> add(std::string_view type)
    {
        return MUST(ctx.new_object(type));
    }
    qom::Object &box() { return *ctx.root().child("box"); }
    Gadget &widget() { return static_cast<Gadget &>(*box().child("w")); }

    qom::Context ctx;
};

TEST_F(QomCommandsTest, QomListGivesNameAndTypeOfEveryProperty)
{
    auto props = monitor::qom_list(ctx, { .path = "/box" });

    ASSERT_TRUE(props);
    EXPECT_EQ(qapi::to_qobject(props.value()),
              json(R"([{"name": "type", "type": "string"},
                       {"name": "size", "type": "uint32"},
                       {"name": "label", "type": "str"},
                       {"name": "w", "type": "child<test-gadget>"},
                       {"name": "inner", "type": "child<test-gadget>"}])"));
}

TEST_F(QomCommandsTest, MissingPathIsDeviceNotFound)
{
    auto props = monitor::qom_list(ctx, { .path = "/box/nothing" });

    ASSERT_FALSE(props);
    EXPECT_EQ(props.error().error_class(), qapi::ErrorClass::DeviceNotFound);
    EXPECT_EQ(props.error().message(), "Device '/box/nothing' not found");
}

TEST_F(QomCommandsTest, AmbiguousPartialPathIsAnError)
{
    auto value = monitor::qom_get(ctx, { .path = "leaf", .property = "size" });

    ASSERT_FALSE(value);
    EXPECT_EQ(value.error().message(), "Path 'leaf' is ambiguous");
}

TEST_F(QomCommandsTest, UniquePartialPathResolves)
{
    auto value =
        monitor::qom_get(ctx, { .path = "inner/leaf", .property = "size" });

    ASSERT_TRUE(value);
    EXPECT_EQ(value.value(), QObject(7));
}

TEST_F(QomCommandsTest, QomGetOfChildIsItsCanonicalPath)
{
    auto value = monitor::qom_get(ctx, { .path = "/box", .property = "inner" });

    ASSERT_TRUE(value);
    EXPECT_EQ(value.value(), QObject("/box/inner"));
}

TEST_F(QomCommandsTest, QomGetOfMissingPropertyNamesTheType)
{
    auto value = monitor::qom_get(ctx, { .path = "/box", .property = "nope" });

    ASSERT_FALSE(value);
    EXPECT_EQ(value.error().message(), "Property 'test-gadget.nope' not found");
}

TEST_F(QomCommandsTest, QomSetWritesTheProperty)
{
    auto set = monitor::qom_set(
        ctx, { .path = "/box/w", .property = "size", .value = QObject(9) });

    ASSERT_TRUE(set);
    EXPECT_EQ(widget().m_size, 9U);
}

TEST_F(QomCommandsTest, QomSetOfWrongTypeLeavesTheValue)
{
    auto set = monitor::qom_set(
        ctx, { .path = "/box/w", .property = "size", .value = QObject("x") });

    EXPECT_FALSE(set);
    EXPECT_EQ(widget().m_size, 7U);
}

TEST_F(QomCommandsTest, QomSetGoesThroughTheObjectsWriteGate)
{
    widget().frozen = true;

    auto set = monitor::qom_set(
        ctx, { .path = "/box/w", .property = "size", .value = QObject(9) });

    ASSERT_FALSE(set);
    EXPECT_EQ(set.error().message(), "test-widget is frozen");
    EXPECT_EQ(widget().m_size, 7U);
}

TEST_F(QomCommandsTest, QomListTypesLeavesOutAbstractTypesByDefault)
{
    auto types =
        monitor::qom_list_types(ctx.types(), { .implements = "test-widget" });

    EXPECT_EQ(qapi::to_qobject(types),
              json(R"([{"name": "test-gadget", "parent": "test-widget"}])"));
}

TEST_F(QomCommandsTest, QomListTypesWithAbstractMarksThem)
{
    auto types = monitor::qom_list_types(
        ctx.types(), { .implements = "test-widget", .abstract = true });

    EXPECT_EQ(qapi::to_qobject(types),
              json(R"([{"name": "test-widget", "abstract": true,
                        "parent": "object"},
                       {"name": "test-gadget", "parent": "test-widget"}])"));
}

TEST_F(QomCommandsTest, QomListTypesOfUnknownTypeIsEmpty)
{
    auto types = monitor::qom_list_types(ctx.types(), { .implements = "nope" });

    EXPECT_TRUE(types.empty());
}

TEST_F(QomCommandsTest, QomListTypesWithoutFilterListsEveryConcreteType)
{
    auto types = monitor::qom_list_types(ctx.types(), {});

    EXPECT_EQ(names_of(types),
              (std::vector<std::string> { "container", "test-gadget" }));
}

TEST_F(QomCommandsTest, QomListPropertiesGivesClassPropertiesWithDefaults)
{
    auto props = monitor::qom_list_properties(
        ctx.types(), { .q_typename = "test-gadget" });

    ASSERT_TRUE(props);
    EXPECT_EQ(qapi::to_qobject(props.value()),
              json(R"([{"name": "type", "type": "string"},
                       {"name": "size", "type": "uint32",
                        "description": "how big", "default-value": 7},
                       {"name": "label", "type": "str"}])"));
}

TEST_F(QomCommandsTest, QomListPropertiesOfUnknownTypeIsDeviceNotFound)
{
    auto props =
        monitor::qom_list_properties(ctx.types(), { .q_typename = "nope" });

    ASSERT_FALSE(props);
    EXPECT_EQ(props.error().error_class(), qapi::ErrorClass::DeviceNotFound);
    EXPECT_EQ(props.error().message(), "Class 'nope' not found");
}

// ---- query-machines over seoib's machine types ------------------------------

class QueryMachinesTest : public testing::Test {
protected:
    std::shared_ptr<const qom::TypeRegistry> types =
        sysemu::builtin_type_registry();
};

TEST_F(QueryMachinesTest, ListsEveryMachineClassInOrder)
{
    auto machines = monitor::query_machines(*types, {});

    std::vector<std::string> expected;
    for (const hw::MachineClass *mc : hw::machine_classes(*types)) {
        expected.push_back(mc->machine_name);
    }
    std::vector<std::string> names;
    for (const auto &m : machines) {
        names.push_back(m.name);
    }
    EXPECT_EQ(names, expected);
}

TEST_F(QueryMachinesTest, OnlyTheDefaultMachineHasIsDefault)
{
    auto machines = monitor::query_machines(*types, {});

    std::vector<std::string> defaults;
    for (const auto &m : machines) {
        if (m.is_default) {
            EXPECT_TRUE(*m.is_default);
            defaults.push_back(m.name);
        }
    }
    EXPECT_EQ(defaults, std::vector<std::string> {
                            hw::find_default_machine(*types)->machine_name });
}

TEST_F(QueryMachinesTest, AliasNamesTheMachine)
{
    auto machines = monitor::query_machines(*types, {});

    const hw::MachineClass *q35 = hw::find_machine(*types, "q35");
    ASSERT_NE(q35, nullptr);
    auto it = std::find_if(machines.begin(), machines.end(),
                           [](const auto &m) { return m.alias == "q35"; });
    ASSERT_NE(it, machines.end());
    EXPECT_EQ(it->name, q35->machine_name);
}

TEST_F(QueryMachinesTest, CompatPropsOnlyWhenAsked)
{
    auto machines = monitor::query_machines(*types, {});

    EXPECT_TRUE(std::none_of(machines.begin(), machines.end(),
                             [](const auto &m) { return m.compat_props; }));
}

TEST_F(QueryMachinesTest, CompatPropsAreTheMachinesListInOrder)
{
    auto machines = monitor::query_machines(*types, { .compat_props = true });

    const auto classes = hw::machine_classes(*types);
    ASSERT_EQ(machines.size(), classes.size());
    for (size_t i = 0; i < classes.size(); i++) {
        std::vector<qapi::CompatProperty> expected;
        for (const qom::CompatProperty &p : classes[i]->compat_props) {
            expected.push_back({ std::string(p.driver),
                                 std::string(p.property),
                                 std::string(p.value) });
        }
        EXPECT_EQ(machines[i].compat_props, expected) << machines[i].name;
    }
}

// ---- device-list-properties over seoib's device types -----------------------

std::vector<std::string> property_names(
    const std::vector<qapi::ObjectPropertyInfo> &props)
{
    std::vector<std::string> names;
    for (const auto &p : props) {
        names.push_back(p.name);
    }
    return names;
}

TEST(DeviceListProperties, LeavesOutWhatEveryDeviceHas)
{
    auto types = sysemu::builtin_type_registry();
    auto all = monitor::qom_list_properties(*types, { .q_typename = "ioapic" });
    auto device =
        monitor::device_list_properties(*types, { .q_typename = "ioapic" });

    ASSERT_TRUE(all);
    ASSERT_TRUE(device);
    // qom-list-properties has the common ones; QEMU 7.2's
    // device-list-properties ioapic answers version alone, default 32.
    EXPECT_NE(std::find_if(all.value().begin(), all.value().end(),
                           [](const auto &p) { return p.name == "realized"; }),
              all.value().end());
    ASSERT_EQ(property_names(device.value()),
              (std::vector<std::string> { "version" }));
    EXPECT_EQ(qapi::to_qobject(*device.value()[0].default_value), json("32"));
}

TEST(DeviceListProperties, IsaDebugExitHasQemusPropertiesAndDefaults)
{
    auto types = sysemu::builtin_type_registry();
    auto props = monitor::device_list_properties(
        *types, { .q_typename = "isa-debug-exit" });

    ASSERT_TRUE(props);
    // As QEMU 7.2 answers (in another order: QEMU walks a hash table).
    ASSERT_EQ(property_names(props.value()),
              (std::vector<std::string> { "iobase", "iosize" }));
    EXPECT_EQ(qapi::to_qobject(*props.value()[0].default_value), json("1281"));
    EXPECT_EQ(qapi::to_qobject(*props.value()[1].default_value), json("2"));
}

TEST(DeviceListProperties, RefusesAbstractTypesAndNonDevicesAsQemu)
{
    auto types = sysemu::builtin_type_registry();
    for (const char *name : { "x86_64-cpu", "device", "kvm-accel", "machine" }) {
        auto props =
            monitor::device_list_properties(*types, { .q_typename = name });
        ASSERT_FALSE(props) << name;
        EXPECT_EQ(props.error().error_class(), qapi::ErrorClass::GenericError);
        EXPECT_EQ(props.error().message(),
                  "Parameter 'typename' expects a non-abstract device type");
    }
    auto missing =
        monitor::device_list_properties(*types, { .q_typename = "nope" });
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().error_class(), qapi::ErrorClass::DeviceNotFound);
    EXPECT_EQ(missing.error().message(), "Device 'nope' not found");
}

} // namespace
