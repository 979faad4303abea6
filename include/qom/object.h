/*
 * The QEMU Object Model, in C++.
 *
 * Types have a parent, may be abstract, and implement interfaces.  Each
 * registered type has one runtime class object (ObjectClass or a subclass
 * such as DeviceClass or MachineClass) holding per-type data and the class
 * properties; several QOM types may share one C++ instance type (every
 * pc-q35-X.Y-machine is a PCMachineState) and differ only in class data.
 *
 * Instances are reference counted (Ref<T>, QEMU's object_ref/unref) and live
 * in a tree of `child<>` properties under the context's root; `link<>`
 * properties point across the tree without owning it.
 *
 * See docs/devel/qom.rst.
 */
#pragma once

#include "qapi/qobject.h"
#include "qapi/result.h"

#include <cassert>
#include <concepts>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace qom {

class Context;
class Object;
class ObjectClass;
class ObjectProperty;
class TypeRegistry;
struct TypeImpl;

inline constexpr std::string_view TYPE_OBJECT = "object";
inline constexpr std::string_view TYPE_INTERFACE = "interface";
inline constexpr std::string_view TYPE_CONTAINER = "container";

/// An instance type: names its QOM type and its C++ parent, and derives from
/// it.  A missing or wrong parent is a compile error.
template <typename T>
concept ObjectType = requires {
    { T::type_name } -> std::convertible_to<std::string_view>;
    typename T::Parent;
    typename T::Class;
} && std::derived_from<T, typename T::Parent>;

/// An interface type: data-free, names its QOM type, not an Object.
template <typename T>
concept InterfaceType = requires {
    { T::interface_name } -> std::convertible_to<std::string_view>;
};

/// The runtime class of a QOM type: per-type data and class properties.
class ObjectClass {
public:
    ObjectClass();
    ObjectClass(const ObjectClass &) = delete;
    ObjectClass &operator=(const ObjectClass &) = delete;
    virtual ~ObjectClass();

    /// The QOM type name ("pc-q35-11.0-machine").
    std::string_view name() const;
    /// The parent type's class, nullptr for "object" and interfaces' root.
    const ObjectClass *parent() const;
    bool is_abstract() const;
    bool is_interface() const;
    /// QEMU's object_class_dynamic_cast(): this type, an ancestor, or an
    /// interface this type or an ancestor implements.
    bool is_a(std::string_view type) const;
    bool is_a(const ObjectClass &other) const;
    /// Interfaces this type implements, including inherited ones.
    std::vector<std::string_view> interfaces() const;

    /// Class properties.  Declared once by the type that introduces them;
    /// subtypes see them through find_property().
    ObjectProperty &add_property(std::unique_ptr<ObjectProperty> prop);
    /// This class's property or the nearest ancestor's.
    const ObjectProperty *find_property(std::string_view name) const;
    ObjectProperty *find_property(std::string_view name);
    /// Every class property visible on this class, ancestors' first.
    void for_each_property(
        const std::function<void(const ObjectProperty &)> &fn) const;

    const TypeImpl &type() const { return *m_type; }

private:
    friend class TypeRegistry;
    const TypeImpl *m_type { nullptr };
    std::vector<std::unique_ptr<ObjectProperty>> m_properties;
};

/// Intrusive strong reference (QEMU's object_ref/object_unref).
template <typename T>
class Ref {
public:
    Ref() = default;
    Ref(std::nullptr_t) { }
    /// Takes a new reference on `p` (which may be null).
    explicit Ref(T *p)
        : m_ptr(p)
    {
        if (m_ptr) {
            m_ptr->ref();
        }
    }
    Ref(const Ref &other)
        : Ref(other.m_ptr)
    {
    }
    Ref(Ref &&other) noexcept
        : m_ptr(std::exchange(other.m_ptr, nullptr))
    {
    }
    template <typename U>
        requires std::convertible_to<U *, T *>
    Ref(const Ref<U> &other)
        : Ref(other.get())
    {
    }
    template <typename U>
        requires std::convertible_to<U *, T *>
    Ref(Ref<U> &&other) noexcept
        : m_ptr(other.leak())
    {
    }
    ~Ref() { reset(); }

    Ref &operator=(Ref other) noexcept
    {
        std::swap(m_ptr, other.m_ptr);
        return *this;
    }

    /// Adopts an existing reference without taking a new one.
    static Ref adopt(T *p)
    {
        Ref r;
        r.m_ptr = p;
        return r;
    }
    /// Gives up ownership of the reference without dropping it.
    T *leak() { return std::exchange(m_ptr, nullptr); }

    void reset()
    {
        if (T *p = std::exchange(m_ptr, nullptr)) {
            p->unref();
        }
    }

    T *get() const { return m_ptr; }
    T *operator->() const { return m_ptr; }
    T &operator*() const { return *m_ptr; }
    explicit operator bool() const { return m_ptr != nullptr; }

private:
    T *m_ptr { nullptr };
};

/// Checks a new link target before a link property accepts it (QEMU's
/// qdev_prop_allow_set_link_before_realize and friends).
using LinkCheck =
    std::function<qapi::Result<void>(const Object &owner, std::string_view name,
                                     const Object *target)>;

/// The base of every QOM instance.
class Object {
public:
    static constexpr std::string_view type_name = TYPE_OBJECT;
    using Parent = Object; // the root names itself; ObjectType needs one
    using Class = ObjectClass;

    Object(const Object &) = delete;
    Object &operator=(const Object &) = delete;
    virtual ~Object();

    /// QEMU's object_get_class().
    const ObjectClass &object_class() const { return *m_class; }
    /// QEMU's object_get_typename().
    std::string_view qom_type() const;
    /// QEMU's object_dynamic_cast() test.
    bool is_a(std::string_view type) const;
    Context &context() const { return *m_context; }

    void ref() { m_refcount++; }
    void unref();
    int refcount() const { return m_refcount; }

    // ---- the object tree -------------------------------------------------

    /// The owning parent, nullptr for the root and detached objects.
    Object *parent() const { return m_parent; }
    /// The name of the child property that holds this object.
    const std::string &name_in_parent() const { return m_name; }
    /// "/machine/q35/ioapic"; "/" for the root; empty when detached.
    std::string canonical_path() const;
    bool is_attached() const;

    /// Adds `child` as property `child<T> name` (QEMU's
    /// object_property_add_child).  Fails if the name is taken or the child
    /// already has a parent.
    qapi::Result<void> add_child(std::string_view name, Ref<Object> child);
    /// Detaches this object from its parent (QEMU's object_unparent).
    void unparent();
    /// The child held by property `name`, or nullptr.
    Object *child(std::string_view name) const;
    void for_each_child(const std::function<void(Object &)> &fn) const;

    /// Adds a `link<target_type>` property holding `target` (may be null).
    qapi::Result<void> add_link(std::string_view name,
                                std::string_view target_type,
                                Object *target = nullptr,
                                LinkCheck check = {});
    /// The object a link property currently points to, or nullptr.
    Object *link_target(std::string_view name) const;

    // ---- properties --------------------------------------------------------

    /// Adds an instance (dynamic) property.  Used for child/link properties
    /// and for properties that exist only per instance; those are invisible
    /// to class introspection (qom-list-properties), as in QEMU.
    qapi::Result<void> add_property(std::unique_ptr<ObjectProperty> prop);
    /// An instance property, else the class's (QEMU's object_property_find).
    const ObjectProperty *find_property(std::string_view name) const;
    ObjectProperty *find_property(std::string_view name);
    /// Every property: the class's (ancestors first), then the instance's.
    void for_each_property(
        const std::function<void(const ObjectProperty &)> &fn) const;

    /// QEMU's object_property_parse(): set from the string form used by the
    /// command line, -global and compat tables.
    qapi::Result<void> parse_property(std::string_view name,
                                      std::string_view value);
    /// QEMU's object_property_print().
    qapi::Result<std::string> print_property(std::string_view name) const;
    /// qom-set: set from a QObject (QEMU's qobject input visitor rules).
    qapi::Result<void> set_property(std::string_view name,
                                    const qapi::QObject &value);
    /// qom-get.
    qapi::Result<qapi::QObject> get_property(std::string_view name) const;

    /// Declares "type" (read-only, the QOM type name), which every object
    /// has in QEMU.
    static void register_properties(ObjectClass &oc);

    /// The single gate every property write passes (string, QObject, typed).
    /// Devices refuse writes after realize, the accelerator after init.
    virtual qapi::Result<void> check_property_set(
        const ObjectProperty &prop) const;

    /// The property a write named `name` goes to: it exists, is writable,
    /// and the object allows writes now (check_property_set).  Every write
    /// path -- string, QObject, typed -- starts here.
    qapi::Result<const ObjectProperty *>
    writable_property(std::string_view name) const;

protected:
    Object();

private:
    friend class Context;
    friend class TypeRegistry;
    friend class ChildProperty;

    const ObjectClass *m_class { nullptr };
    Context *m_context { nullptr };
    Object *m_parent { nullptr };
    std::string m_name;
    std::vector<std::unique_ptr<ObjectProperty>> m_properties;
    int m_refcount { 1 };
};

/// QEMU's OBJECT_CHECK / IOAPIC_COMMON(obj): the object must be a T.
/// A failure is our bug (asserts).
template <typename T>
T &cast(Object &obj)
{
    if constexpr (InterfaceType<T>) {
        assert(obj.is_a(T::interface_name));
        T *p = dynamic_cast<T *>(&obj);
        assert(p);
        return *p;
    } else {
        static_assert(ObjectType<T>);
        assert(obj.is_a(T::type_name));
        return static_cast<T &>(obj);
    }
}

template <typename T>
const T &cast(const Object &obj)
{
    return cast<T>(const_cast<Object &>(obj));
}

/// QEMU's object_dynamic_cast(): nullptr when the object is not a T.
template <typename T>
T *dyn_cast(Object *obj)
{
    if (!obj) {
        return nullptr;
    }
    if constexpr (InterfaceType<T>) {
        if (!obj->is_a(T::interface_name)) {
            return nullptr;
        }
        return dynamic_cast<T *>(obj);
    } else {
        static_assert(ObjectType<T>);
        if (!obj->is_a(T::type_name)) {
            return nullptr;
        }
        return static_cast<T *>(obj);
    }
}

template <typename T>
const T *dyn_cast(const Object *obj)
{
    return dyn_cast<T>(const_cast<Object *>(obj));
}

/// A container object ("container"): /machine/unattached and friends.
class Container : public Object {
public:
    static constexpr std::string_view type_name = TYPE_CONTAINER;
    using Parent = Object;
    using Class = ObjectClass;
};

} // namespace qom
