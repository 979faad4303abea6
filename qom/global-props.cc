#include "qom/global-props.h"

#include "qom/type-registry.h"

#include <fmt/format.h>

#include <cassert>

namespace qom {

std::string global_error_prefix(const GlobalProperty &g)
{
    return fmt::format("can't apply global {}.{}={}: ", g.driver, g.property,
                       g.value);
}

std::string ValueSource::describe() const
{
    switch (kind) {
    case Kind::ClassDefault:
        return "default";
    case Kind::AccelCompat:
    case Kind::MachineCompat:
        return fmt::format("compat {}", origin);
    case Kind::Sugar:
    case Kind::User:
        return origin;
    }
    return origin;
}

GlobalProperty GlobalProperties::make_entry(std::string_view driver,
                                            std::string_view property,
                                            std::string_view value,
                                            bool optional,
                                            std::string_view origin) const
{
    GlobalProperty g;
    g.driver = std::string(driver);
    g.property = std::string(property);
    g.value = std::string(value);
    g.optional = optional;
    g.origin = std::string(origin);
    // Resolved once here so that matching an object is a pointer walk; a
    // driver nobody registered simply never matches, as in QEMU.
    g.driver_class = m_registry.find_class(driver);
    return g;
}

void GlobalProperties::set_accel_compat(std::span<const CompatProperty> props,
                                        std::string_view origin)
{
    assert(m_accel.empty() && "accelerator compat is set at most once");
    for (const CompatProperty &p : props) {
        m_accel.push_back(
            make_entry(p.driver, p.property, p.value, p.optional, origin));
    }
}

void GlobalProperties::set_machine_compat(
    std::span<const CompatProperty> props,
    std::span<const std::string_view> origins)
{
    assert(m_machine.empty() && "machine compat is set at most once");
    assert(origins.size() == props.size() || origins.size() == 1);
    for (size_t i = 0; i < props.size(); i++) {
        const CompatProperty &p = props[i];
        std::string_view origin = origins.size() == 1 ? origins[0] : origins[i];
        m_machine.push_back(
            make_entry(p.driver, p.property, p.value, p.optional, origin));
    }
}

void GlobalProperties::register_sugar(std::string_view driver,
                                      std::string_view property,
                                      std::string_view value,
                                      std::string_view origin)
{
    m_sugar.push_back(make_entry(driver, property, value, false, origin));
}

void GlobalProperties::register_user(std::string_view driver,
                                     std::string_view property,
                                     std::string_view value,
                                     std::string_view origin)
{
    m_user.push_back(make_entry(driver, property, value, false, origin));
}

std::span<const GlobalProperty> GlobalProperties::slot(GlobalSlot s) const
{
    switch (s) {
    case GlobalSlot::AccelCompat:
        return m_accel;
    case GlobalSlot::MachineCompat:
        return m_machine;
    case GlobalSlot::Sugar:
        return m_sugar;
    case GlobalSlot::User:
        return m_user;
    }
    return {};
}

std::vector<GlobalProperties::Match>
GlobalProperties::matching_entries(const ObjectClass &klass, bool include_user)
{
    std::vector<Match> out;
    auto scan = [&](GlobalSlot slot, std::vector<GlobalProperty> &list) {
        for (GlobalProperty &g : list) {
            if (g.driver_class && klass.is_a(*g.driver_class)) {
                out.push_back({ slot, &g });
            }
        }
    };
    scan(GlobalSlot::AccelCompat, m_accel);
    scan(GlobalSlot::MachineCompat, m_machine);
    scan(GlobalSlot::Sugar, m_sugar);
    if (include_user) {
        scan(GlobalSlot::User, m_user);
    }
    return out;
}

qapi::Result<void> GlobalProperties::apply_matches(Object &obj,
                                                   std::span<const Match> matches)
{
    for (const Match &m : matches) {
        GlobalProperty &g = *m.entry;
        const ObjectProperty *prop = obj.find_property(g.property);
        if (!prop && g.optional) {
            continue;
        }
        // QEMU marks a global used before trying to parse it.
        g.used = true;
        qapi::Result<void> r = obj.parse_property(g.property, g.value);
        if (!r) {
            qapi::Error e = r.release_error();
            e.prepend(global_error_prefix(g));
            return e;
        }
    }
    return {};
}

qapi::Result<void> GlobalProperties::apply_compat(Object &obj)
{
    std::vector<Match> matches = matching_entries(obj.object_class(), false);
    return apply_matches(obj, matches);
}

qapi::Result<void> GlobalProperties::apply_user(Object &obj)
{
    std::vector<Match> matches;
    for (const Match &m : matching_entries(obj.object_class(), true)) {
        if (m.slot == GlobalSlot::User) {
            matches.push_back(m);
        }
    }
    return apply_matches(obj, matches);
}

qapi::Result<void> GlobalProperties::apply(Object &obj, bool include_user)
{
    std::vector<Match> matches =
        matching_entries(obj.object_class(), include_user);
    return apply_matches(obj, matches);
}

namespace {
ValueSource::Kind source_kind(GlobalSlot slot)
{
    switch (slot) {
    case GlobalSlot::AccelCompat:
        return ValueSource::Kind::AccelCompat;
    case GlobalSlot::MachineCompat:
        return ValueSource::Kind::MachineCompat;
    case GlobalSlot::Sugar:
        return ValueSource::Kind::Sugar;
    case GlobalSlot::User:
        return ValueSource::Kind::User;
    }
    return ValueSource::Kind::ClassDefault;
}
} // namespace

qapi::Result<Resolved<qapi::QObject>>
GlobalProperties::resolve(const ObjectClass &klass, std::string_view property,
                          bool include_user)
{
    const ObjectProperty *prop = klass.find_property(property);
    if (!prop) {
        return qapi::Error::format("Property '{}.{}' not found", klass.name(),
                                   property);
    }
    Resolved<qapi::QObject> r { prop->default_value().value_or(qapi::QObject()),
                                ValueSource {} };
    // The same walk as apply_matches(), restricted to one property: every
    // matching entry in order, each decoded by the property's own codec,
    // so a value that creation would reject is rejected here with the same
    // text, and the last entry wins.
    for (const Match &m : matching_entries(klass, include_user)) {
        const GlobalProperty &g = *m.entry;
        if (g.property != property) {
            continue;
        }
        qapi::Result<qapi::QObject> v = prop->decode(g.value);
        if (!v) {
            qapi::Error e = v.release_error();
            e.prepend(global_error_prefix(g));
            return e;
        }
        r.value = v.release_value();
        r.source = ValueSource { source_kind(m.slot), g.origin };
    }
    return r;
}

} // namespace qom
