#include "qom/global-props.h"

#include "qom/type-registry.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>

namespace qom {

std::string global_error_prefix(std::string_view driver,
                                std::string_view property,
                                std::string_view value)
{
    return fmt::format("can't apply global {}.{}={}: ", driver, property,
                       value);
}

CompatList::CompatList(const TypeRegistry &registry,
                       std::span<const CompatProperty> props,
                       std::span<const std::string> origins)
    : m_props(props.begin(), props.end())
    , m_origins(origins.begin(), origins.end())
{
    assert(m_origins.size() == m_props.size() || m_origins.size() == 1);
    build_index(registry);
}

CompatList::CompatList(const TypeRegistry &registry,
                       std::span<const CompatProperty> props,
                       std::span<const std::string_view> origins)
    : m_props(props.begin(), props.end())
{
    for (std::string_view o : origins) {
        m_origins.emplace_back(o);
    }
    assert(m_origins.size() == m_props.size() || m_origins.size() == 1);
    build_index(registry);
}

void CompatList::build_index(const TypeRegistry &registry)
{
    // A driver nobody registered never matches, as in QEMU: such entries
    // stay in the list (compat testing reports them) but not in the index.
    for (uint32_t i = 0; i < m_props.size(); i++) {
        const ObjectClass *klass = registry.find_class(m_props[i].driver);
        if (!klass) {
            m_unmodelled.push_back(i);
            continue;
        }
        auto it = std::find_if(m_by_driver.begin(), m_by_driver.end(),
                               [&](const auto &e) { return e.first == klass; });
        if (it == m_by_driver.end()) {
            m_by_driver.push_back({ klass, {} });
            it = m_by_driver.end() - 1;
        }
        it->second.push_back(i);
    }
}

std::span<const uint32_t> CompatList::entries_for(const ObjectClass &type) const
{
    for (const auto &[klass, entries] : m_by_driver) {
        if (klass == &type) {
            return entries;
        }
    }
    return {};
}

std::string ValueSource::describe() const
{
    if (!slot) {
        return "default";
    }
    switch (*slot) {
    case GlobalSlot::AccelCompat:
    case GlobalSlot::MachineCompat:
        return fmt::format("compat {}", origin);
    case GlobalSlot::Sugar:
    case GlobalSlot::User:
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
    assert(!m_accel && "accelerator compat is set at most once");
    const std::string_view origins[] = { origin };
    m_accel = std::make_shared<CompatList>(m_registry, props,
                                           std::span<const std::string_view>(origins));
}

void GlobalProperties::set_machine_compat(std::shared_ptr<const CompatList> list)
{
    assert(!m_machine && "machine compat is set at most once");
    m_machine = std::move(list);
}

void GlobalProperties::set_machine_compat(
    std::span<const CompatProperty> props,
    std::span<const std::string_view> origins)
{
    set_machine_compat(std::make_shared<CompatList>(m_registry, props, origins));
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

std::vector<GlobalProperties::Match>
GlobalProperties::matching_entries(const ObjectClass &klass, bool include_user)
{
    std::vector<Match> out;
    auto from_list = [&](GlobalSlot slot, const CompatList *list) {
        if (!list) {
            return;
        }
        // Entries naming this type, an ancestor or an interface, back in
        // table order: registration order beats specificity.
        std::vector<uint32_t> hits;
        for (const TypeImpl *t : klass.type().lineage) {
            std::span<const uint32_t> e = list->entries_for(*t->klass);
            hits.insert(hits.end(), e.begin(), e.end());
        }
        std::sort(hits.begin(), hits.end());
        for (uint32_t i : hits) {
            const CompatProperty &p = list->props()[i];
            out.push_back({ slot, p.driver, p.property, p.value, p.optional,
                            list->origin(i), nullptr });
        }
    };
    auto scan = [&](GlobalSlot slot, std::vector<GlobalProperty> &list) {
        for (GlobalProperty &g : list) {
            if (g.driver_class && klass.is_a(*g.driver_class)) {
                out.push_back({ slot, g.driver, g.property, g.value, g.optional,
                                g.origin, &g });
            }
        }
    };
    from_list(GlobalSlot::AccelCompat, m_accel.get());
    from_list(GlobalSlot::MachineCompat, m_machine.get());
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
        const ObjectProperty *prop = obj.find_property(m.property);
        if (!prop && m.optional) {
            continue;
        }
        // QEMU marks a global used before trying to parse it.
        if (m.entry) {
            m.entry->used = true;
        }
        qapi::Result<void> r = obj.parse_property(m.property, m.value);
        if (!r) {
            qapi::Error e = r.release_error();
            e.prepend(global_error_prefix(m.driver, m.property, m.value));
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
        if (m.property != property) {
            continue;
        }
        qapi::Result<qapi::QObject> v = prop->decode(m.value);
        if (!v) {
            qapi::Error e = v.release_error();
            e.prepend(global_error_prefix(m.driver, m.property, m.value));
            return e;
        }
        r.value = v.release_value();
        r.source = ValueSource { m.slot, std::string(m.origin) };
    }
    return r;
}

} // namespace qom
