/*
 * The object model: types, classes, interfaces, casts, lifetime, the tree.
 */
#include "qom/context.h"
#include "qom/property.h"
#include "qom/type-registry.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using qom::Context;
using qom::Object;
using qom::ObjectClass;
using qom::Ref;

struct Shape {
    static constexpr std::string_view interface_name = "test-shape";
    virtual ~Shape() = default;
    virtual int corners() const = 0;
};

class AnimalClass : public ObjectClass {
public:
    std::vector<std::string> init_order;
    std::string sound;
};

class Animal : public Object {
public:
    static constexpr std::string_view type_name = "test-animal";
    using Parent = Object;
    using Class = AnimalClass;

    static void class_init(AnimalClass &c)
    {
        c.init_order.push_back("animal");
        c.sound = "...";
    }
    static void register_properties(ObjectClass &oc)
    {
        oc.add_property(qom::make_property(
            qom::prop("legs", &Animal::m_legs).default_value(4).doc("legs")));
    }

    std::vector<std::string> *log { nullptr };
    uint32_t m_legs { 0 };
};

class Dog : public Animal, public Shape {
public:
    static constexpr std::string_view type_name = "test-dog";
    using Parent = Animal;
    using Class = AnimalClass;

    static void class_init(AnimalClass &c)
    {
        c.init_order.push_back("dog");
        c.sound = "woof";
    }
    int corners() const override { return 0; }
};

std::vector<std::string> g_finalized; // per-test, cleared in the fixture

void register_test_types(qom::TypeRegistry &r)
{
    r.add_interface<Shape>();
    r.add<Animal>({ .abstract = true,
                    .instance_init = [](Animal &a) { a.m_legs += 100; },
                    .instance_finalize =
                        [](Animal &) { g_finalized.push_back("animal"); } });
    r.add<Dog>({ .interfaces = { Shape::interface_name },
                 .instance_finalize =
                     [](Dog &) { g_finalized.push_back("dog"); } });
    // A second QOM type sharing Dog's C++ type, as machine versions do.
    r.add<Dog>({ .name = "test-puppy",
                 .parent = "test-dog",
                 .class_init = [](AnimalClass &c) {
                     c.init_order.push_back("puppy");
                 } });
}

class ObjectModel : public ::testing::Test {
protected:
    void SetUp() override { g_finalized.clear(); }
    std::shared_ptr<qom::TypeRegistry> registry {
        qom::make_type_registry(register_test_types)
    };
    Context ctx { registry };
};

TEST_F(ObjectModel, ClassInitRunsParentFirst)
{
    const auto *c =
        static_cast<const AnimalClass *>(registry->find_class("test-puppy"));
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->init_order,
              (std::vector<std::string> { "animal", "dog", "puppy" }));
    EXPECT_EQ(c->sound, "woof");
}

TEST_F(ObjectModel, AbstractTypeCannotBeInstantiated)
{
    auto r = ctx.new_object("test-animal");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().message(), "Object type 'test-animal' is abstract");
}

TEST_F(ObjectModel, UnknownTypeIsAnError)
{
    auto r = ctx.new_object("no-such-type");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().message(), "invalid object type: no-such-type");
}

TEST_F(ObjectModel, InterfaceIsInheritedBySubtypes)
{
    const ObjectClass *puppy = registry->find_class("test-puppy");
    EXPECT_TRUE(puppy->is_a("test-shape"));
    EXPECT_TRUE(puppy->is_a("test-animal"));
    EXPECT_TRUE(puppy->is_a("object"));
    EXPECT_FALSE(registry->find_class("test-animal")->is_a("test-shape"));
    EXPECT_EQ(puppy->interfaces(), std::vector<std::string_view> { "test-shape" });
}

TEST_F(ObjectModel, ClassPropertyIsInheritedAndDefaultedBeforeInstanceInit)
{
    Ref<Object> dog = MUST(ctx.new_object("test-puppy"));
    // Default 4 applied first, then instance_init added 100.
    EXPECT_EQ(qom::property_get(*dog, qom::PropertyKey<uint32_t> { "legs" })
                  .value(),
              104U);
}

TEST_F(ObjectModel, CheckedCastsAcceptSubtypesAndInterfaces)
{
    Ref<Object> obj = MUST(ctx.new_object("test-puppy"));
    EXPECT_NE(qom::dyn_cast<Dog>(obj.get()), nullptr);
    EXPECT_NE(qom::dyn_cast<Animal>(obj.get()), nullptr);
    ASSERT_NE(qom::dyn_cast<Shape>(obj.get()), nullptr);
    EXPECT_EQ(qom::cast<Shape>(*obj).corners(), 0);
    EXPECT_EQ(qom::dyn_cast<qom::Container>(obj.get()), nullptr);
}

TEST_F(ObjectModel, FinalizeRunsLeafFirstWhenLastReferenceDrops)
{
    Ref<Object> obj = MUST(ctx.new_object("test-dog"));
    Ref<Object> second = obj;
    obj.reset();
    EXPECT_TRUE(g_finalized.empty());
    second.reset();
    EXPECT_EQ(g_finalized, (std::vector<std::string> { "dog", "animal" }));
}

TEST_F(ObjectModel, ChildGetsCanonicalPathAndParentOwnsIt)
{
    Ref<Object> machine = MUST(ctx.new_object("container"));
    ASSERT_TRUE(ctx.root().add_child("machine", machine).has_value());
    Ref<Object> dog = MUST(ctx.new_object("test-dog"));
    ASSERT_TRUE(machine->add_child("dog", dog).has_value());
    dog.reset();
    EXPECT_TRUE(g_finalized.empty());
    Object *found = ctx.resolve_path("/machine/dog");
    ASSERT_NE(found, nullptr);
    EXPECT_EQ(found->canonical_path(), "/machine/dog");
    EXPECT_EQ(machine->get_property("dog").value(),
              qapi::QObject("/machine/dog"));
    EXPECT_EQ(machine->find_property("dog")->type(), "child<test-dog>");
}

TEST_F(ObjectModel, UnparentReleasesTheChild)
{
    Ref<Object> dog = MUST(ctx.new_object("test-dog"));
    ASSERT_TRUE(ctx.root().add_child("dog", dog).has_value());
    Object *raw = dog.get();
    dog.reset();
    raw->unparent();
    EXPECT_EQ(g_finalized, (std::vector<std::string> { "dog", "animal" }));
    EXPECT_EQ(ctx.resolve_path("/dog"), nullptr);
}

TEST_F(ObjectModel, StarNameTakesFirstFreeIndex)
{
    for (int i = 0; i < 3; i++) {
        ASSERT_TRUE(ctx.root()
                        .add_child("device[*]", MUST(ctx.new_object("test-dog")))
                        .has_value());
    }
    EXPECT_NE(ctx.resolve_path("/device[2]"), nullptr);
    EXPECT_EQ(ctx.resolve_path("/device[3]"), nullptr);
}

TEST_F(ObjectModel, DuplicateChildNameIsRefused)
{
    ASSERT_TRUE(
        ctx.root().add_child("a", MUST(ctx.new_object("test-dog"))).has_value());
    auto r = ctx.root().add_child("a", MUST(ctx.new_object("test-dog")));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().message(), "attempt to add duplicate property 'a' to "
                                   "object (type 'container')");
}

TEST_F(ObjectModel, ObjectWithParentCannotBeAddedTwice)
{
    Ref<Object> dog = MUST(ctx.new_object("test-dog"));
    ASSERT_TRUE(ctx.root().add_child("a", dog).has_value());
    EXPECT_FALSE(ctx.root().add_child("b", dog).has_value());
}

class ObjectTree : public ObjectModel {
protected:
    // /machine/q35/ioapic-like layout:
    //   /machine/bridge/dog   /machine/unattached/device[0]   /other/dog
    void SetUp() override
    {
        ObjectModel::SetUp();
        machine = add("machine", ctx.root(), "container");
        bridge = add("bridge", *machine, "container");
        dog = add("dog", *bridge, "test-dog");
        add("device[*]", *add("unattached", *machine, "container"), "test-puppy");
        other = add("other", ctx.root(), "container");
    }
    Object *add(std::string_view name, Object &parent, std::string_view type)
    {
        Ref<Object> o = MUST(ctx.new_object(type));
        MUST(parent.add_child(name, o));
        return parent.child(name.ends_with("[*]") ? "device[0]" : name);
    }
    Object *machine {}, *bridge {}, *dog {}, *other {};
};

TEST_F(ObjectTree, UniqueLeafNameResolvesPartially)
{
    EXPECT_EQ(ctx.resolve_path("dog"), dog);
    EXPECT_EQ(ctx.resolve_path("bridge/dog"), dog);
}

TEST_F(ObjectTree, AmbiguousPartialPathReportsAmbiguity)
{
    add("dog", *other, "test-dog");
    bool ambiguous = false;
    EXPECT_EQ(ctx.resolve_path("dog", &ambiguous), nullptr);
    EXPECT_TRUE(ambiguous);
    auto r = ctx.resolve_path_checked("dog");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().message(), "Path 'dog' is ambiguous");
}

TEST_F(ObjectTree, MissingPathIsDeviceNotFound)
{
    auto r = ctx.resolve_path_checked("/machine/nothing");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().error_class(), qapi::ErrorClass::DeviceNotFound);
    EXPECT_EQ(r.error().message(), "Device '/machine/nothing' not found");
}

TEST_F(ObjectTree, AbsolutePathFollowsLinks)
{
    ASSERT_TRUE(other->add_link("pet", "test-animal", dog).has_value());
    EXPECT_EQ(ctx.resolve_path("/other/pet"), dog);
    EXPECT_EQ(other->get_property("pet").value(),
              qapi::QObject("/machine/bridge/dog"));
}

TEST_F(ObjectTree, LinkIsTypedAndSetByPath)
{
    ASSERT_TRUE(other->add_link("pet", "test-dog").has_value());
    auto bad = other->parse_property("pet", "/machine/bridge");
    ASSERT_FALSE(bad.has_value());
    EXPECT_EQ(bad.error().message(),
              "Invalid parameter type for 'pet', expected: test-dog");
    ASSERT_TRUE(other->parse_property("pet", "/machine/bridge/dog").has_value());
    EXPECT_EQ(other->link_target("pet"), dog);
}

TEST_F(ObjectTree, LinkCheckHookCanRefuse)
{
    auto refuse = [](const Object &, std::string_view name,
                     const Object *) -> qapi::Result<void> {
        return qapi::Error::format("link '{}' is frozen", name);
    };
    ASSERT_TRUE(other->add_link("pet", "test-dog", nullptr, refuse).has_value());
    auto r = other->parse_property("pet", "/machine/bridge/dog");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().message(), "link 'pet' is frozen");
    EXPECT_EQ(other->link_target("pet"), nullptr);
}

TEST_F(ObjectTree, PropertyIterationListsClassThenInstanceProperties)
{
    std::vector<std::string> names;
    machine->for_each_property(
        [&](const qom::ObjectProperty &p) { names.push_back(p.name()); });
    EXPECT_EQ(names,
              (std::vector<std::string> { "type", "bridge", "unattached" }));
    names.clear();
    dog->for_each_property(
        [&](const qom::ObjectProperty &p) { names.push_back(p.name()); });
    EXPECT_EQ(names, (std::vector<std::string> { "type", "legs" }));
    EXPECT_EQ(dog->get_property("type").value(), qapi::QObject("test-dog"));
}

TEST_F(ObjectTree, GetAndSetByPathAndName)
{
    Object *o = MUST(ctx.resolve_path_checked("/machine/bridge/dog"));
    ASSERT_TRUE(o->set_property("legs", qapi::QObject(3)).has_value());
    EXPECT_EQ(o->get_property("legs").value(), qapi::QObject(3));
    EXPECT_EQ(o->print_property("legs").value(), "3");
    auto missing = o->get_property("tail");
    ASSERT_FALSE(missing.has_value());
    EXPECT_EQ(missing.error().message(), "Property 'test-dog.tail' not found");
}

TEST(TypeRegistry, MissingParentIsReportedAtFinalize)
{
    qom::TypeRegistry r;
    qom::qom_register_types(r);
    qom::TypeImpl orphan;
    orphan.name = "orphan";
    orphan.parent_name = "nowhere";
    orphan.class_new = [] { return std::make_unique<ObjectClass>(); };
    r.add_type(std::move(orphan));
    auto result = r.finalize();
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(),
              "type 'orphan': parent type 'nowhere' not found");
}

TEST(TypeRegistry, ContextsShareOneRegistry)
{
    auto registry = qom::make_type_registry(register_test_types);
    Context a(registry);
    Context b(registry);
    MUST(a.root().add_child("x", MUST(a.new_object("test-dog"))));
    EXPECT_NE(a.resolve_path("/x"), nullptr);
    EXPECT_EQ(b.resolve_path("/x"), nullptr);
}

} // namespace
