/*
 * Global properties: QEMU's compat slots and the user's -global list.
 *
 * Four lists, applied in this order to a new object, last writer wins:
 *   slot 0  accelerator compat   (AccelClass::compat_props)
 *   slot 1  machine compat       (MachineClass::compat_props)
 *   slot 2  sugar                (legacy options: -machine kernel-irqchip=...)
 *   user    -global              (devices only)
 * An entry matches an object whose type is the entry's driver, has it as an
 * ancestor, or implements it as an interface.  Slots 0-2 reach every object
 * that asks for compat properties (devices, the accelerator); the user list
 * reaches devices only.
 *
 * Early resolution answers "what value would a new object of type T get for
 * property P" without creating the object.  It walks the very list object
 * creation walks (matching_entries()) and decodes values with the very codec
 * creation uses (ObjectProperty::decode), so both give the same value and the
 * same errors.  See docs/devel/properties.rst.
 */
#pragma once

#include "qom/compat-property.h"
#include "qom/object.h"
#include "qom/property.h"

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qom {

class TypeRegistry;

enum class GlobalSlot { AccelCompat, MachineCompat, Sugar, User };

/// A compat table bound to a type registry: its entries, the table each
/// came from, and an index from driver type to entries, so that matching a
/// new object costs a lookup per type in its lineage rather than a scan of
/// the table.  Immutable; a machine class builds its own once and every
/// Context of that machine shares it.
class CompatList {
public:
    /// `origins` names each entry's table (parallel to `props`), or holds
    /// one name for all of them.
    CompatList(const TypeRegistry &registry,
               std::span<const CompatProperty> props,
               std::span<const std::string> origins);
    CompatList(const TypeRegistry &registry,
               std::span<const CompatProperty> props,
               std::span<const std::string_view> origins);

    std::span<const CompatProperty> props() const { return m_props; }
    std::string_view origin(size_t index) const
    {
        return m_origins.size() == 1 ? m_origins[0] : m_origins[index];
    }
    /// Indices of the entries whose driver is exactly `type`, in order.
    std::span<const uint32_t> entries_for(const ObjectClass &type) const;
    /// Indices of the entries whose driver no registered type has: kept in
    /// the list, never applied.
    std::span<const uint32_t> unmodelled() const { return m_unmodelled; }

private:
    void build_index(const TypeRegistry &registry);

    std::vector<CompatProperty> m_props;
    std::vector<std::string> m_origins;
    std::vector<std::pair<const ObjectClass *, std::vector<uint32_t>>>
        m_by_driver;
    std::vector<uint32_t> m_unmodelled;
};

/// QEMU's GlobalProperty, plus where it came from: the sugar and user
/// lists, which own their strings.
struct GlobalProperty {
    std::string driver;
    std::string property;
    std::string value;
    bool optional { false };
    /// Set the first time the entry is applied to an object.
    bool used { false };
    /// What put it there: "-global ioapic.version=0x11", "hw_compat_2_8", ...
    std::string origin;
    /// The driver's class, or nullptr when no such type is registered.
    const ObjectClass *driver_class { nullptr };
};

/// Where a resolved value came from.
struct ValueSource {
    /// The slot of the deciding entry; none for the class default.
    std::optional<GlobalSlot> slot;
    /// The deciding entry's origin (empty for the class default).
    std::string origin;

    /// "default", "compat hw_compat_2_7", "-global ioapic.version=0x11".
    std::string describe() const;
};

template <typename T>
struct Resolved {
    T value;
    ValueSource source;
};

class GlobalProperties {
public:
    explicit GlobalProperties(const TypeRegistry &registry)
        : m_registry(registry)
    {
    }

    /// Slot 0.  `origin` names the table ("kvm-accel compat").
    void set_accel_compat(std::span<const CompatProperty> props,
                          std::string_view origin);
    /// Slot 1: the machine's compat list.
    void set_machine_compat(std::shared_ptr<const CompatList> list);
    /// Slot 1 from a table, each entry with the table it came from
    /// (parallel to `props`), or one name for all.
    void set_machine_compat(std::span<const CompatProperty> props,
                            std::span<const std::string_view> origins);
    /// Slot 2 (QEMU's object_register_sugar_prop).
    void register_sugar(std::string_view driver, std::string_view property,
                        std::string_view value, std::string_view origin);
    /// The user's -global (QEMU's qdev_prop_register_global), in command-line
    /// order.
    void register_user(std::string_view driver, std::string_view property,
                       std::string_view value, std::string_view origin);

    /// Every entry that applies to an object of class `klass`, in
    /// application order.  The one list both creation and early resolution
    /// walk.
    struct Match {
        GlobalSlot slot;
        std::string_view driver;
        std::string_view property;
        std::string_view value;
        bool optional;
        std::string_view origin;
        /// The sugar or user entry, whose `used` flag creation sets.
        GlobalProperty *entry;
    };
    std::vector<Match> matching_entries(const ObjectClass &klass,
                                        bool include_user);

    /// QEMU's object_apply_compat_props(): slots 0-2.
    qapi::Result<void> apply_compat(Object &obj);
    /// QEMU's qdev_prop_set_globals(): the user list.
    qapi::Result<void> apply_user(Object &obj);
    /// Slots 0-2, then the user list if `include_user`: what a device gets.
    qapi::Result<void> apply(Object &obj, bool include_user);

    /// Early resolution, untyped: the value an object of class `klass` will
    /// get for `property`, as the property's codec decodes it.
    qapi::Result<Resolved<qapi::QObject>> resolve(const ObjectClass &klass,
                                                  std::string_view property,
                                                  bool include_user);

    /// Early resolution, typed.
    template <PropertyValue T>
    qapi::Result<Resolved<T>> resolve(const ObjectClass &klass,
                                      PropertyKey<T> key, bool include_user)
    {
        Resolved<qapi::QObject> r =
            TRY(resolve(klass, key.name, include_user));
        T value = TRY(PropertyCodec<T>::from_qobject(key.name, r.value));
        return Resolved<T> { std::move(value), std::move(r.source) };
    }

    std::span<const GlobalProperty> user_globals() const { return m_user; }

private:
    GlobalProperty make_entry(std::string_view driver,
                              std::string_view property,
                              std::string_view value, bool optional,
                              std::string_view origin) const;
    qapi::Result<void> apply_matches(Object &obj,
                                     std::span<const Match> matches);

    const TypeRegistry &m_registry;
    std::shared_ptr<const CompatList> m_accel;
    std::shared_ptr<const CompatList> m_machine;
    std::vector<GlobalProperty> m_sugar;
    std::vector<GlobalProperty> m_user;
};

/// "can't apply global D.P=V: " (QEMU's prefix for a failing global).
std::string global_error_prefix(std::string_view driver,
                                std::string_view property,
                                std::string_view value);

} // namespace qom
