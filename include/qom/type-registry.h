/*
 * The type registry: every QOM type, registered explicitly.
 *
 * No static constructors register anything: each area exports a
 * `*_register_types(TypeRegistry &)` function and the embedding host calls
 * them (system/builtin-types.cc does it for seoib's programs).  After
 * registration, finalize() resolves parents and interfaces and initialises
 * every class; the registry is then immutable and may be shared by many
 * Contexts (one per machine configuration).
 *
 * Class initialisation is chained parent-first: the class object of type T
 * is a T::Class on which every ancestor's class_init runs, root first, then
 * T's own.  Class properties are declared once, by the C++ type that
 * introduces them (T::register_properties), and subtypes see them through
 * lookup; several QOM types sharing one C++ type (machine versions) therefore
 * share its properties.
 */
#pragma once

#include "qom/object.h"

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace qom {

/// Everything the registry knows about one type.
struct TypeImpl {
    std::string name;
    std::string parent_name;
    bool abstract { false };
    bool interface { false };
    std::vector<std::string> interface_names;

    std::function<Object *()> instance_new;
    std::function<std::unique_ptr<ObjectClass>()> class_new;
    std::function<void(ObjectClass &)> class_init;
    std::function<void(ObjectClass &)> register_properties;
    std::function<void(Object &)> instance_init;
    /// Runs after every instance_init (QEMU's instance_post_init); may fail,
    /// e.g. when a global property does not apply.
    std::function<qapi::Result<void>(Object &)> instance_post_init;
    std::function<void(Object &)> instance_finalize;

    // Filled in by finalize().
    const TypeImpl *parent { nullptr };
    const TypeRegistry *registry { nullptr };
    /// This type, its ancestors and every interface they implement.
    std::vector<const TypeImpl *> lineage;
    std::unique_ptr<ObjectClass> klass;
};

/// Registration options for add<T>().  Empty names default to the C++ type's.
template <typename T>
struct TypeOptions {
    std::string_view name {};
    std::string_view parent {};
    bool abstract { false };
    std::vector<std::string_view> interfaces {};
    std::function<void(typename T::Class &)> class_init {};
    std::function<void(T &)> instance_init {};
    std::function<qapi::Result<void>(T &)> instance_post_init {};
    std::function<void(T &)> instance_finalize {};
};

template <typename T>
concept HasRegisterProperties =
    requires(ObjectClass &oc) { T::register_properties(oc); };

template <typename T>
concept HasClassInit =
    requires(typename T::Class &oc) { T::class_init(oc); };

namespace detail {
/// Whether T declares register_properties itself rather than inheriting
/// its parent's static member (which would declare the parent's properties
/// twice).
template <typename T>
bool declares_register_properties()
{
    if constexpr (!HasRegisterProperties<T>) {
        return false;
    } else if constexpr (std::is_same_v<T, typename T::Parent> ||
                         !HasRegisterProperties<typename T::Parent>) {
        return true;
    } else {
        return &T::register_properties != &T::Parent::register_properties;
    }
}

/// Likewise for class_init: an inherited one already runs in the chain.
template <typename T>
bool declares_class_init()
{
    if constexpr (!HasClassInit<T>) {
        return false;
    } else if constexpr (std::is_same_v<T, typename T::Parent> ||
                         !HasClassInit<typename T::Parent>) {
        return true;
    } else if constexpr (std::is_same_v<decltype(&T::class_init),
                                        decltype(&T::Parent::class_init)>) {
        return &T::class_init != &T::Parent::class_init;
    } else {
        return true;
    }
}
} // namespace detail

class TypeRegistry {
public:
    TypeRegistry() = default;
    TypeRegistry(const TypeRegistry &) = delete;
    TypeRegistry &operator=(const TypeRegistry &) = delete;

    /// Registers a type whose instances are Ts.  With no name, the type is
    /// T::type_name, its class_init is T::class_init (when T has one) and
    /// it declares T::register_properties (when T has one).
    template <ObjectType T>
    void add(TypeOptions<T> opts = {});

    /// Registers an interface type.
    template <InterfaceType I>
    void add_interface(std::string_view parent = TYPE_INTERFACE)
    {
        TypeImpl t;
        t.name = std::string(I::interface_name);
        t.parent_name = std::string(parent);
        t.abstract = true;
        t.interface = true;
        t.class_new = [] { return std::make_unique<ObjectClass>(); };
        add_type(std::move(t));
    }

    /// Registers a fully described type.  A duplicate name is our bug.
    void add_type(TypeImpl type);

    /// Resolves parents and interfaces and initialises every class.  Fails
    /// (naming the type) on a missing parent or interface or a cycle.
    qapi::Result<void> finalize();
    bool is_finalized() const { return m_finalized; }

    /// The class of a registered type, or nullptr.
    const ObjectClass *find_class(std::string_view name) const;
    /// Every class, in registration order.
    void for_each_class(
        const std::function<void(const ObjectClass &)> &fn) const;

    /// A new, uninitialised instance of a concrete type; Context::new_object
    /// runs the init hooks.
    Object *instantiate(const ObjectClass &klass) const;

private:
    const TypeImpl *find(std::string_view name) const;
    qapi::Result<void> initialize(TypeImpl &type, int depth);

    struct StringHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const
        {
            return std::hash<std::string_view> {}(s);
        }
    };
    std::vector<std::unique_ptr<TypeImpl>> m_types;
    std::unordered_map<std::string, TypeImpl *, StringHash, std::equal_to<>>
        m_by_name;
    bool m_finalized { false };
};

template <ObjectType T>
void TypeRegistry::add(TypeOptions<T> opts)
{
    static_assert(std::derived_from<typename T::Class,
                                    typename T::Parent::Class>,
                  "a type's class must derive from its parent's class");
    const bool canonical = opts.name.empty() || opts.name == T::type_name;

    TypeImpl t;
    t.name = std::string(opts.name.empty() ? T::type_name : opts.name);
    if (!opts.parent.empty()) {
        t.parent_name = std::string(opts.parent);
    } else if constexpr (!std::is_same_v<T, Object>) {
        t.parent_name = std::string(T::Parent::type_name);
    }
    t.abstract = opts.abstract || std::is_abstract_v<T>;
    for (std::string_view i : opts.interfaces) {
        t.interface_names.emplace_back(i);
    }
    if constexpr (std::is_default_constructible_v<T> &&
                  !std::is_abstract_v<T>) {
        if (!t.abstract) {
            t.instance_new = []() -> Object * { return new T(); };
        }
    }
    t.class_new = [] { return std::make_unique<typename T::Class>(); };

    if (opts.class_init) {
        t.class_init = [f = std::move(opts.class_init)](ObjectClass &oc) {
            f(static_cast<typename T::Class &>(oc));
        };
    } else if constexpr (HasClassInit<T>) {
        if (canonical && detail::declares_class_init<T>()) {
            t.class_init = [](ObjectClass &oc) {
                T::class_init(static_cast<typename T::Class &>(oc));
            };
        }
    }
    if constexpr (HasRegisterProperties<T>) {
        if (canonical && detail::declares_register_properties<T>()) {
            t.register_properties = [](ObjectClass &oc) {
                T::register_properties(oc);
            };
        }
    }
    if (opts.instance_init) {
        t.instance_init = [f = std::move(opts.instance_init)](Object &o) {
            f(static_cast<T &>(o));
        };
    }
    if (opts.instance_post_init) {
        t.instance_post_init =
            [f = std::move(opts.instance_post_init)](Object &o) {
                return f(static_cast<T &>(o));
            };
    }
    if (opts.instance_finalize) {
        t.instance_finalize =
            [f = std::move(opts.instance_finalize)](Object &o) {
                f(static_cast<T &>(o));
            };
    }
    add_type(std::move(t));
}

/// Registers object, interface and container.
void qom_register_types(TypeRegistry &registry);

} // namespace qom
