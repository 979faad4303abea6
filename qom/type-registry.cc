#include "qom/type-registry.h"

#include "qom/property.h"

#include <algorithm>

namespace qom {

void TypeRegistry::add_type(TypeImpl type)
{
    assert(!m_finalized && "types are registered before finalize()");
    assert(!m_by_name.contains(type.name) && "duplicate type registration");
    auto owned = std::make_unique<TypeImpl>(std::move(type));
    owned->registry = this;
    m_by_name.emplace(owned->name, owned.get());
    m_types.push_back(std::move(owned));
}

const TypeImpl *TypeRegistry::find(std::string_view name) const
{
    auto it = m_by_name.find(name);
    return it == m_by_name.end() ? nullptr : it->second;
}

const ObjectClass *TypeRegistry::find_class(std::string_view name) const
{
    const TypeImpl *t = find(name);
    return t ? t->klass.get() : nullptr;
}

void TypeRegistry::for_each_class(
    const std::function<void(const ObjectClass &)> &fn) const
{
    for (const auto &t : m_types) {
        if (t->klass) {
            fn(*t->klass);
        }
    }
}

Object *TypeRegistry::instantiate(const ObjectClass &klass) const
{
    const TypeImpl &t = klass.type();
    assert(t.instance_new && !t.abstract);
    return t.instance_new();
}

qapi::Result<void> TypeRegistry::initialize(TypeImpl &type, int depth)
{
    if (type.klass) {
        return {};
    }
    // A cycle in the parent chain would recurse forever.
    if (depth > 64) {
        return qapi::Error::format("type '{}': parent chain too deep",
                                   type.name);
    }
    if (!type.parent_name.empty()) {
        TypeImpl *parent = m_by_name.contains(type.parent_name)
                               ? m_by_name.find(type.parent_name)->second
                               : nullptr;
        if (!parent) {
            return qapi::Error::format("type '{}': parent type '{}' not found",
                                       type.name, type.parent_name);
        }
        TRY(initialize(*parent, depth + 1));
        type.parent = parent;
    }

    // Lineage: self, then the parent's lineage, then our own interfaces
    // and theirs.
    type.lineage.push_back(&type);
    if (type.parent) {
        for (const TypeImpl *t : type.parent->lineage) {
            type.lineage.push_back(t);
        }
    }
    for (const std::string &iname : type.interface_names) {
        TypeImpl *iface = m_by_name.contains(iname)
                              ? m_by_name.find(iname)->second
                              : nullptr;
        if (!iface || !iface->interface) {
            return qapi::Error::format("type '{}': interface '{}' not found",
                                       type.name, iname);
        }
        TRY(initialize(*iface, depth + 1));
        for (const TypeImpl *t : iface->lineage) {
            if (std::find(type.lineage.begin(), type.lineage.end(), t) ==
                type.lineage.end()) {
                type.lineage.push_back(t);
            }
        }
    }

    std::unique_ptr<ObjectClass> klass = type.class_new();
    klass->m_type = &type;
    // Class initialisation chained parent-first: every ancestor's
    // class_init runs on this class object, root first, then our own.
    std::vector<const TypeImpl *> chain;
    for (const TypeImpl *t = &type; t; t = t->parent) {
        chain.push_back(t);
    }
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        if ((*it)->class_init) {
            (*it)->class_init(*klass);
        }
    }
    if (type.register_properties) {
        type.register_properties(*klass);
    }
    type.klass = std::move(klass);
    return {};
}

qapi::Result<void> TypeRegistry::finalize()
{
    for (const auto &t : m_types) {
        TRY(initialize(*t, 0));
    }
    m_finalized = true;
    return {};
}

namespace {
/// The interface root: interfaces are its subtypes.
struct InterfaceRoot {
    static constexpr std::string_view interface_name = TYPE_INTERFACE;
};
} // namespace

void qom_register_types(TypeRegistry &registry)
{
    registry.add<Object>({ .abstract = true });
    registry.add_interface<InterfaceRoot>("");
    registry.add<Container>();
}

} // namespace qom
