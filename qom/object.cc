#include "qom/object.h"

#include "qom/context.h"
#include "qom/property.h"
#include "qom/type-registry.h"

#include <fmt/format.h>

#include <algorithm>

namespace qom {

// ---- child<> and link<> properties ----------------------------------------

/// `child<T>`: owns the child.  Reading it gives the child's canonical path,
/// as QEMU's object_get_child_property does; it cannot be written.
class ChildProperty final : public ObjectProperty {
public:
    ChildProperty(std::string name, Ref<Object> child)
        : ObjectProperty(name, fmt::format("child<{}>", child->qom_type()))
        , m_child(std::move(child))
    {
    }
    ~ChildProperty() override
    {
        m_child->m_parent = nullptr;
        m_child->m_name.clear();
    }

    bool is_child() const override { return true; }
    bool writable() const override { return false; }
    Object &child() const { return *m_child; }

    qapi::Result<qapi::QObject> get(const Object &) const override
    {
        return qapi::QObject(m_child->canonical_path());
    }
    qapi::Result<std::string> print(const Object &) const override
    {
        return m_child->canonical_path();
    }

private:
    Ref<Object> m_child;
};

/// `link<T>`: a typed, non-owning pointer across the tree.  It holds a
/// reference like QEMU's strong links, so the target outlives the link; it
/// is written with a path.
class LinkProperty final : public ObjectProperty {
public:
    LinkProperty(std::string name, std::string target_type, Object *target,
                 LinkCheck check)
        : ObjectProperty(name, fmt::format("link<{}>", target_type))
        , m_target_type(std::move(target_type))
        , m_target(target)
        , m_check(std::move(check))
    {
    }

    bool is_link() const override { return true; }
    Object *target() const { return m_target.get(); }

    qapi::Result<qapi::QObject> get(const Object &) const override
    {
        return qapi::QObject(m_target ? m_target->canonical_path()
                                      : std::string());
    }
    qapi::Result<std::string> print(const Object &) const override
    {
        return m_target ? m_target->canonical_path() : std::string();
    }
    qapi::Result<void> set(Object &obj, const qapi::QObject &v) const override
    {
        const std::string *path = v.as_string();
        if (!path) {
            return detail::invalid_type(name(), "string");
        }
        return parse(obj, *path);
    }
    qapi::Result<void> parse(Object &obj, std::string_view path) const override
    {
        Object *target = nullptr;
        if (!path.empty()) {
            bool ambiguous = false;
            target = obj.context().resolve_path(path, &ambiguous);
            if (!target) {
                if (ambiguous) {
                    return qapi::Error::format("Path '{}' is ambiguous", path);
                }
                return qapi::Error(fmt::format("Device '{}' not found", path),
                                   qapi::ErrorClass::DeviceNotFound);
            }
            if (!target->is_a(m_target_type)) {
                return qapi::Error::format(
                    "Invalid parameter type for '{}', expected: {}", name(),
                    m_target_type);
            }
        }
        if (m_check) {
            TRY(m_check(obj, name(), target));
        }
        m_target = Ref<Object>(target);
        return {};
    }

private:
    std::string m_target_type;
    // A link is an instance property, owned by one object; accessors are
    // const because class properties are shared, so the target is mutable.
    mutable Ref<Object> m_target;
    LinkCheck m_check;
};

// ---- ObjectClass ----------------------------------------------------------

ObjectClass::ObjectClass() = default;
ObjectClass::~ObjectClass() = default;

std::string_view ObjectClass::name() const
{
    return m_type->name;
}

const ObjectClass *ObjectClass::parent() const
{
    return m_type->parent ? m_type->parent->klass.get() : nullptr;
}

bool ObjectClass::is_abstract() const
{
    return m_type->abstract;
}

bool ObjectClass::is_interface() const
{
    return m_type->interface;
}

bool ObjectClass::is_a(std::string_view type) const
{
    const ObjectClass *other = m_type->registry->find_class(type);
    return other && is_a(*other);
}

bool ObjectClass::is_a(const ObjectClass &other) const
{
    const TypeImpl *t = other.m_type;
    return std::find(m_type->lineage.begin(), m_type->lineage.end(), t) !=
           m_type->lineage.end();
}

std::vector<std::string_view> ObjectClass::interfaces() const
{
    std::vector<std::string_view> out;
    for (const TypeImpl *t : m_type->lineage) {
        if (t->interface && t->name != TYPE_INTERFACE) {
            out.push_back(t->name);
        }
    }
    return out;
}

ObjectProperty &ObjectClass::add_property(std::unique_ptr<ObjectProperty> prop)
{
    // A duplicate class property is a registration bug.
    assert(std::none_of(m_properties.begin(), m_properties.end(),
                        [&](const auto &p) { return p->name() == prop->name(); }));
    m_properties.push_back(std::move(prop));
    return *m_properties.back();
}

const ObjectProperty *ObjectClass::find_property(std::string_view name) const
{
    for (const ObjectClass *c = this; c; c = c->parent()) {
        for (const auto &p : c->m_properties) {
            if (p->name() == name) {
                return p.get();
            }
        }
    }
    return nullptr;
}

ObjectProperty *ObjectClass::find_property(std::string_view name)
{
    return const_cast<ObjectProperty *>(
        static_cast<const ObjectClass *>(this)->find_property(name));
}

void ObjectClass::for_each_property(
    const std::function<void(const ObjectProperty &)> &fn) const
{
    if (const ObjectClass *p = parent()) {
        p->for_each_property(fn);
    }
    for (const auto &prop : m_properties) {
        fn(*prop);
    }
}

// ---- Object ----------------------------------------------------------------

Object::Object() = default;
Object::~Object() = default;

std::string_view Object::qom_type() const
{
    return m_class->name();
}

bool Object::is_a(std::string_view type) const
{
    return m_class->is_a(type);
}

void Object::unref()
{
    assert(m_refcount > 0);
    if (--m_refcount > 0) {
        return;
    }
    // instance_finalize runs leaf first, the reverse of instance_init.
    for (const TypeImpl *t = &m_class->type(); t; t = t->parent) {
        if (t->instance_finalize) {
            t->instance_finalize(*this);
        }
    }
    delete this;
}

bool Object::is_attached() const
{
    const Object *o = this;
    while (o->m_parent) {
        o = o->m_parent;
    }
    return m_context && o == &m_context->root();
}

std::string Object::canonical_path() const
{
    if (!is_attached()) {
        return {};
    }
    if (!m_parent) {
        return "/";
    }
    std::vector<const std::string *> names;
    for (const Object *o = this; o->m_parent; o = o->m_parent) {
        names.push_back(&o->m_name);
    }
    std::string path;
    for (auto it = names.rbegin(); it != names.rend(); ++it) {
        path += '/';
        path += **it;
    }
    return path;
}

qapi::Result<void> Object::add_child(std::string_view name, Ref<Object> child)
{
    assert(child);
    if (child->m_parent) {
        return qapi::Error::format("Object '{}' already has a parent",
                                   child->canonical_path());
    }
    std::string actual(name);
    // "device[*]" picks the first free index, as QEMU does.
    if (name.size() > 3 && name.ends_with("[*]")) {
        std::string_view stem = name.substr(0, name.size() - 3);
        for (int i = 0;; i++) {
            actual = fmt::format("{}[{}]", stem, i);
            if (!find_property(actual)) {
                break;
            }
        }
    }
    if (find_property(actual)) {
        return qapi::Error::format(
            "attempt to add duplicate property '{}' to object (type '{}')",
            actual, qom_type());
    }
    child->m_parent = this;
    child->m_name = actual;
    m_properties.push_back(
        std::make_unique<ChildProperty>(actual, std::move(child)));
    return {};
}

void Object::unparent()
{
    Object *parent = m_parent;
    if (!parent) {
        return;
    }
    // Keep this object alive until the end of the function: removing the
    // property drops the parent's reference.
    Ref<Object> self(this);
    auto &props = parent->m_properties;
    props.erase(std::remove_if(props.begin(), props.end(),
                               [&](const auto &p) {
                                   return p->is_child() &&
                                          &static_cast<ChildProperty &>(*p)
                                                  .child() == this;
                               }),
                props.end());
}

Object *Object::child(std::string_view name) const
{
    for (const auto &p : m_properties) {
        if (p->is_child() && p->name() == name) {
            return &static_cast<ChildProperty &>(*p).child();
        }
    }
    return nullptr;
}

void Object::for_each_child(const std::function<void(Object &)> &fn) const
{
    // Copy the list first: fn may add or remove children.
    std::vector<Ref<Object>> children;
    for (const auto &p : m_properties) {
        if (p->is_child()) {
            children.emplace_back(&static_cast<ChildProperty &>(*p).child());
        }
    }
    for (const auto &c : children) {
        fn(*c);
    }
}

qapi::Result<void> Object::add_link(std::string_view name,
                                    std::string_view target_type,
                                    Object *target, LinkCheck check)
{
    return add_property(std::make_unique<LinkProperty>(
        std::string(name), std::string(target_type), target,
        std::move(check)));
}

Object *Object::link_target(std::string_view name) const
{
    const ObjectProperty *p = find_property(name);
    if (!p || !p->is_link()) {
        return nullptr;
    }
    return static_cast<const LinkProperty *>(p)->target();
}

qapi::Result<void> Object::add_property(std::unique_ptr<ObjectProperty> prop)
{
    if (find_property(prop->name())) {
        return qapi::Error::format(
            "attempt to add duplicate property '{}' to object (type '{}')",
            prop->name(), qom_type());
    }
    m_properties.push_back(std::move(prop));
    return {};
}

const ObjectProperty *Object::find_property(std::string_view name) const
{
    for (const auto &p : m_properties) {
        if (p->name() == name) {
            return p.get();
        }
    }
    return m_class->find_property(name);
}

ObjectProperty *Object::find_property(std::string_view name)
{
    return const_cast<ObjectProperty *>(
        static_cast<const Object *>(this)->find_property(name));
}

void Object::for_each_property(
    const std::function<void(const ObjectProperty &)> &fn) const
{
    m_class->for_each_property(fn);
    for (const auto &p : m_properties) {
        fn(*p);
    }
}

namespace {
qapi::Error property_not_found(const Object &obj, std::string_view name)
{
    return qapi::Error::format("Property '{}.{}' not found", obj.qom_type(),
                               name);
}
} // namespace

qapi::Result<const ObjectProperty *>
Object::writable_property(std::string_view name) const
{
    const ObjectProperty *p = find_property(name);
    if (!p) {
        return property_not_found(*this, name);
    }
    if (!p->writable()) {
        return qapi::Error::format("Property '{}.{}' is not writable",
                                   qom_type(), name);
    }
    TRY(check_property_set(*p));
    return p;
}

qapi::Result<void> Object::parse_property(std::string_view name,
                                          std::string_view value)
{
    const ObjectProperty *p = TRY(writable_property(name));
    return p->parse(*this, value);
}

qapi::Result<std::string> Object::print_property(std::string_view name) const
{
    const ObjectProperty *p = find_property(name);
    if (!p) {
        return property_not_found(*this, name);
    }
    return p->print(*this);
}

qapi::Result<void> Object::set_property(std::string_view name,
                                        const qapi::QObject &value)
{
    const ObjectProperty *p = TRY(writable_property(name));
    return p->set(*this, value);
}

qapi::Result<qapi::QObject> Object::get_property(std::string_view name) const
{
    const ObjectProperty *p = find_property(name);
    if (!p) {
        return property_not_found(*this, name);
    }
    if (!p->readable()) {
        return qapi::Error::format("Property '{}.{}' is not readable",
                                   qom_type(), name);
    }
    return p->get(*this);
}

void Object::register_properties(ObjectClass &oc)
{
    oc.add_property(std::make_unique<AccessorProperty<Object, std::string>>(
        "type", [](const Object &o) { return std::string(o.qom_type()); },
        nullptr));
}

qapi::Result<void> Object::check_property_set(const ObjectProperty &) const
{
    return {};
}

} // namespace qom
