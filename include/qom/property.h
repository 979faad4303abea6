/*
 * Properties: typed inside, strings only at the edges.
 *
 * Three layers (docs/devel/properties.rst):
 *   1. PropertyCodec<T>: one codec per value type, parsing and formatting the
 *      string form QEMU accepts (-global, -device, compat tables) and
 *      converting to and from QObject (qom-get/qom-set).
 *   2. FieldProperty: a class property bound to a member through a member
 *      pointer, with a default and a description; declared with prop().
 *   3. PropertyKey<T>: typed access from C++ code.
 *
 * Every write goes through Object::check_property_set() first, so "cannot
 * set after realize" is enforced once, in the engine.
 */
#pragma once

#include "qapi/enum-lookup.h"
#include "qapi/qobject.h"
#include "qapi/result.h"
#include "qom/object.h"

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace qom {

// ---- layer 1: codecs -----------------------------------------------------

/// Specialised for bool, the fixed-width integers, std::string and every
/// QAPI enum.  `name` is the property name, for QEMU's error texts.
template <typename T>
struct PropertyCodec;

template <typename T>
concept PropertyValue = requires(const T &v, std::string_view s,
                                 const qapi::QObject &q) {
    { PropertyCodec<T>::type_name() } -> std::convertible_to<std::string_view>;
    { PropertyCodec<T>::parse(s, s) } -> std::same_as<qapi::Result<T>>;
    { PropertyCodec<T>::format(v) } -> std::same_as<std::string>;
    { PropertyCodec<T>::to_qobject(v) } -> std::same_as<qapi::QObject>;
    { PropertyCodec<T>::from_qobject(s, q) } -> std::same_as<qapi::Result<T>>;
};

namespace detail {
/// QEMU's qemu_strtou64/qemu_strtoi64 with base 0: decimal, 0x/0X hex,
/// leading-zero octal, optional sign (a '-' wraps for unsigned, as QEMU).
std::optional<uint64_t> parse_u64(std::string_view s);
std::optional<int64_t> parse_i64(std::string_view s);
qapi::Error expects(std::string_view name, std::string_view what);
qapi::Error invalid_type(std::string_view name, std::string_view expected);

/// An integer type's names: QAPI's ("uint8") for introspection, and the C
/// type QEMU's visitors put in range errors ("uint8_t").
struct IntNames {
    std::string_view qapi;
    std::string_view c;
};

template <typename T>
constexpr IntNames int_names()
{
    if constexpr (std::is_same_v<T, uint8_t>) {
        return { "uint8", "uint8_t" };
    } else if constexpr (std::is_same_v<T, uint16_t>) {
        return { "uint16", "uint16_t" };
    } else if constexpr (std::is_same_v<T, uint32_t>) {
        return { "uint32", "uint32_t" };
    } else if constexpr (std::is_same_v<T, uint64_t>) {
        return { "uint64", "uint64_t" };
    } else if constexpr (std::is_same_v<T, int8_t>) {
        return { "int8", "int8_t" };
    } else if constexpr (std::is_same_v<T, int16_t>) {
        return { "int16", "int16_t" };
    } else if constexpr (std::is_same_v<T, int32_t>) {
        return { "int32", "int32_t" };
    } else {
        static_assert(std::is_same_v<T, int64_t>);
        return { "int", "int64_t" };
    }
}
} // namespace detail

template <>
struct PropertyCodec<bool> {
    static std::string_view type_name() { return "bool"; }
    /// on/yes/true/y and off/no/false/n, as QEMU's qapi_bool_parse().
    static qapi::Result<bool> parse(std::string_view name, std::string_view s);
    static std::string format(bool v) { return v ? "true" : "false"; }
    static qapi::QObject to_qobject(bool v) { return qapi::QObject(v); }
    static qapi::Result<bool> from_qobject(std::string_view name,
                                           const qapi::QObject &q);
};

template <typename T>
    requires(std::is_integral_v<T> && !std::is_same_v<T, bool> &&
             sizeof(T) <= 8)
struct PropertyCodec<T> {
    static std::string_view type_name() { return detail::int_names<T>().qapi; }

    /// QEMU's string input visitor: parse as 64-bit ("expects uint64" /
    /// "expects int64" when that fails), then range-check the width
    /// ("expects uint8_t").
    static qapi::Result<T> parse(std::string_view name, std::string_view s)
    {
        if constexpr (std::is_unsigned_v<T>) {
            std::optional<uint64_t> v = detail::parse_u64(s);
            if (!v) {
                return detail::expects(name, "uint64");
            }
            if (*v > std::numeric_limits<T>::max()) {
                return detail::expects(name, detail::int_names<T>().c);
            }
            return static_cast<T>(*v);
        } else {
            std::optional<int64_t> v = detail::parse_i64(s);
            if (!v) {
                return detail::expects(name, "int64");
            }
            if (*v < std::numeric_limits<T>::min() ||
                *v > std::numeric_limits<T>::max()) {
                return detail::expects(name, detail::int_names<T>().c);
            }
            return static_cast<T>(*v);
        }
    }
    static std::string format(T v) { return std::to_string(v); }
    static qapi::QObject to_qobject(T v)
    {
        if constexpr (std::is_unsigned_v<T>) {
            return qapi::QObject(static_cast<uint64_t>(v));
        } else {
            return qapi::QObject(static_cast<int64_t>(v));
        }
    }
    static qapi::Result<T> from_qobject(std::string_view name,
                                        const qapi::QObject &q)
    {
        if (!q.is_number() || !q.as_double() ||
            (!q.as_int() && !q.as_uint())) {
            return detail::invalid_type(name, "integer");
        }
        if constexpr (std::is_unsigned_v<T>) {
            std::optional<uint64_t> v = q.as_uint();
            if (!v || *v > std::numeric_limits<T>::max()) {
                return detail::expects(name, detail::int_names<T>().c);
            }
            return static_cast<T>(*v);
        } else {
            std::optional<int64_t> v = q.as_int();
            if (!v || *v < std::numeric_limits<T>::min() ||
                *v > std::numeric_limits<T>::max()) {
                return detail::expects(name, detail::int_names<T>().c);
            }
            return static_cast<T>(*v);
        }
    }
};

template <>
struct PropertyCodec<std::string> {
    static std::string_view type_name() { return "str"; }
    static qapi::Result<std::string> parse(std::string_view,
                                           std::string_view s)
    {
        return std::string(s);
    }
    static std::string format(const std::string &v) { return v; }
    static qapi::QObject to_qobject(const std::string &v)
    {
        return qapi::QObject(v);
    }
    static qapi::Result<std::string> from_qobject(std::string_view name,
                                                  const qapi::QObject &q);
};

template <qapi::QapiEnum E>
struct PropertyCodec<E> {
    static std::string_view type_name()
    {
        return qapi::EnumLookup<E>::type_name;
    }
    static qapi::Result<E> parse(std::string_view name, std::string_view s)
    {
        if (std::optional<E> v = qapi::enum_parse<E>(s)) {
            return *v;
        }
        return qapi::Error::format("Parameter '{}' does not accept value '{}'",
                                   name, s);
    }
    static std::string format(E v) { return std::string(qapi::enum_name(v)); }
    static qapi::QObject to_qobject(E v)
    {
        return qapi::QObject(qapi::enum_name(v));
    }
    static qapi::Result<E> from_qobject(std::string_view name,
                                        const qapi::QObject &q)
    {
        const std::string *s = q.as_string();
        if (!s) {
            return detail::invalid_type(name, "string");
        }
        return parse(name, *s);
    }
};

// ---- the property object --------------------------------------------------

/// One property of a class or an instance (QEMU's ObjectProperty).
class ObjectProperty {
public:
    ObjectProperty(std::string name, std::string type)
        : m_name(std::move(name))
        , m_type(std::move(type))
    {
    }
    virtual ~ObjectProperty();

    const std::string &name() const { return m_name; }
    /// QEMU's property type string: "uint8", "bool", "str", "string",
    /// "OnOffSplit", "child<ioapic>", "link<ioapic>".
    const std::string &type() const { return m_type; }
    const std::string &description() const { return m_description; }
    void set_description(std::string d) { m_description = std::move(d); }

protected:
    void set_type(std::string type) { m_type = std::move(type); }

public:
    /// The class default as qom-list-properties reports it.
    const std::optional<qapi::QObject> &default_value() const
    {
        return m_default;
    }
    void set_default_value(qapi::QObject v) { m_default = std::move(v); }
    /// Properties such as "realized" may be written after realize.
    bool settable_after_realize() const { return m_settable_after_realize; }
    void set_settable_after_realize(bool v) { m_settable_after_realize = v; }

    virtual bool is_child() const { return false; }
    virtual bool is_link() const { return false; }
    virtual bool readable() const { return true; }
    virtual bool writable() const { return true; }

    /// Stores the class default into a new instance (before instance_init).
    virtual void apply_default(Object &) const { }

    // Accessors.  Callers go through Object, which applies the write gate.
    virtual qapi::Result<qapi::QObject> get(const Object &obj) const;
    virtual qapi::Result<void> set(Object &obj, const qapi::QObject &v) const;
    virtual qapi::Result<void> parse(Object &obj, std::string_view s) const;
    virtual qapi::Result<std::string> print(const Object &obj) const;
    /// The value parse() would store, computed without an object; early
    /// resolution of globals uses it so that it and object creation share
    /// one code path.
    virtual qapi::Result<qapi::QObject> decode(std::string_view s) const;

private:
    std::string m_name;
    std::string m_type;
    std::string m_description;
    std::optional<qapi::QObject> m_default;
    bool m_settable_after_realize { false };
};

/// A property with a C++ value type.  The string and QObject forms go
/// through PropertyCodec<T>; subclasses only say where the value lives.
template <PropertyValue T>
class TypedProperty : public ObjectProperty {
public:
    using Codec = PropertyCodec<T>;

    explicit TypedProperty(std::string name)
        : ObjectProperty(std::move(name), std::string(Codec::type_name()))
    {
    }

    virtual qapi::Result<T> get_value(const Object &obj) const = 0;
    virtual qapi::Result<void> set_value(Object &obj, T value) const = 0;

    /// The string form to a T: what parse() stores and decode() reports.
    qapi::Result<T> parse_value(std::string_view s) const
    {
        return Codec::parse(this->name(), s);
    }

    qapi::Result<qapi::QObject> get(const Object &obj) const override
    {
        T v = TRY(get_value(obj));
        return Codec::to_qobject(v);
    }
    qapi::Result<void> set(Object &obj, const qapi::QObject &v) const override
    {
        T value = TRY(Codec::from_qobject(this->name(), v));
        return set_value(obj, std::move(value));
    }
    qapi::Result<void> parse(Object &obj, std::string_view s) const override
    {
        T value = TRY(parse_value(s));
        return set_value(obj, std::move(value));
    }
    qapi::Result<std::string> print(const Object &obj) const override
    {
        T v = TRY(get_value(obj));
        return Codec::format(v);
    }
    qapi::Result<qapi::QObject> decode(std::string_view s) const override
    {
        T value = TRY(parse_value(s));
        return Codec::to_qobject(value);
    }
};

/// A property bound to a data member: `prop("version", &IOAPICCommonState::m_version)`.
template <typename O, PropertyValue T>
    requires std::derived_from<O, Object>
class FieldProperty final : public TypedProperty<T> {
public:
    using Codec = PropertyCodec<T>;

    FieldProperty(std::string name, T O::*field)
        : TypedProperty<T>(std::move(name))
        , m_field(field)
    {
    }

    FieldProperty &&default_value(T v) &&
    {
        m_default = v;
        this->set_default_value(Codec::to_qobject(v));
        return std::move(*this);
    }
    FieldProperty &&doc(std::string d) &&
    {
        this->set_description(std::move(d));
        return std::move(*this);
    }

    void apply_default(Object &obj) const override
    {
        if (m_default) {
            static_cast<O &>(obj).*m_field = *m_default;
        }
    }
    qapi::Result<T> get_value(const Object &obj) const override
    {
        return static_cast<const O &>(obj).*m_field;
    }
    qapi::Result<void> set_value(Object &obj, T value) const override
    {
        static_cast<O &>(obj).*m_field = std::move(value);
        return {};
    }

private:
    T O::*m_field;
    std::optional<T> m_default;
};

/// Declares a field property; finish with .default_value() and .doc(), then
/// hand it to ObjectClass::add_property via qom::make_property().
template <typename O, PropertyValue T>
FieldProperty<O, T> prop(std::string name, T O::*field)
{
    return FieldProperty<O, T>(std::move(name), field);
}

template <typename P>
std::unique_ptr<ObjectProperty> make_property(P &&p)
{
    return std::make_unique<std::remove_cvref_t<P>>(std::forward<P>(p));
}

/// A property implemented by getter/setter functions on the object type
/// (QEMU's object_class_property_add with accessors).  A missing setter
/// makes it read-only.
template <typename O, PropertyValue T>
    requires std::derived_from<O, Object>
class AccessorProperty final : public TypedProperty<T> {
public:
    using Getter = std::function<T(const O &)>;
    using Setter = std::function<qapi::Result<void>(O &, T)>;

    AccessorProperty(std::string name, Getter getter, Setter setter,
                     std::string description = {})
        : TypedProperty<T>(std::move(name))
        , m_getter(std::move(getter))
        , m_setter(std::move(setter))
    {
        this->set_description(std::move(description));
        if constexpr (std::is_same_v<T, std::string>) {
            // QEMU names the two string kinds apart: a QOM accessor
            // (object_property_add_str: "type", a machine's "kernel") is
            // "string", a qdev field (DEFINE_PROP_STRING) "str".
            this->set_type("string");
        }
    }

    bool readable() const override { return bool(m_getter); }
    bool writable() const override { return bool(m_setter); }

    qapi::Result<T> get_value(const Object &obj) const override
    {
        if (!m_getter) {
            return qapi::Error::format("Property '{}.{}' is not readable",
                                       obj.qom_type(), this->name());
        }
        return m_getter(static_cast<const O &>(obj));
    }
    qapi::Result<void> set_value(Object &obj, T value) const override
    {
        if (!m_setter) {
            return qapi::Error::format("Property '{}.{}' is not writable",
                                       obj.qom_type(), this->name());
        }
        return m_setter(static_cast<O &>(obj), std::move(value));
    }

private:
    Getter m_getter;
    Setter m_setter;
};

// ---- layer 3: typed access -------------------------------------------------

/// A property name with its C++ value type: `PropertyKey<uint8_t>{"version"}`.
template <PropertyValue T>
struct PropertyKey {
    std::string_view name;
};

/// Typed get; the property must exist with value type T (our bug otherwise).
template <PropertyValue T>
qapi::Result<T> property_get(const Object &obj, PropertyKey<T> key)
{
    const ObjectProperty *p = obj.find_property(key.name);
    if (!p) {
        return qapi::Error::format("Property '{}.{}' not found",
                                   obj.qom_type(), key.name);
    }
    const auto *typed = dynamic_cast<const TypedProperty<T> *>(p);
    assert(typed && "PropertyKey type does not match the property");
    return typed->get_value(obj);
}

/// Typed set, through the same write gate as every other write.
template <PropertyValue T>
qapi::Result<void> property_set(Object &obj, PropertyKey<T> key, T value)
{
    const ObjectProperty *p = TRY(obj.writable_property(key.name));
    const auto *typed = dynamic_cast<const TypedProperty<T> *>(p);
    assert(typed && "PropertyKey type does not match the property");
    return typed->set_value(obj, std::move(value));
}

/// The value a QObject produced by decode() stands for, as a T.
template <PropertyValue T>
qapi::Result<T> property_value_from_qobject(std::string_view name,
                                            const qapi::QObject &q)
{
    return PropertyCodec<T>::from_qobject(name, q);
}

} // namespace qom
