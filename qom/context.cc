#include "qom/context.h"

#include "qom/property.h"

#include <fmt/format.h>

#include <cstdio>

namespace qom {

Context::Context(std::shared_ptr<const TypeRegistry> registry)
    : m_registry(std::move(registry))
    , m_globals(*m_registry)
{
    assert(m_registry->is_finalized());
    m_root = MUST(new_object(TYPE_CONTAINER));
}

Context::~Context()
{
    // Tear the tree down from the root; objects still referenced elsewhere
    // survive detached.
    m_root.reset();
}

namespace {

/// The one place the library writes to stderr: a message whose host set
/// no sink of its own for it.
void report(const std::function<void(std::string_view)> &sink,
            std::string_view prefix, std::string_view message)
{
    if (sink) {
        sink(message);
        return;
    }
    std::fprintf(stderr, "%.*s%.*s\n", static_cast<int>(prefix.size()),
                 prefix.data(), static_cast<int>(message.size()),
                 message.data());
}

} // namespace

void Context::warn(std::string_view message) const
{
    report(m_warning_sink, "warning: ", message);
}

void Context::info(std::string_view message) const
{
    report(m_info_sink, "", message);
}

void Context::guest_error(std::string_view message) const
{
    report(m_guest_error_sink, "", message);
}

qapi::Result<Ref<Object>> Context::new_object(std::string_view type)
{
    const ObjectClass *klass = m_registry->find_class(type);
    if (!klass) {
        return qapi::Error::format("invalid object type: {}", type);
    }
    if (klass->is_abstract()) {
        return qapi::Error::format("Object type '{}' is abstract", type);
    }
    Ref<Object> obj = Ref<Object>::adopt(m_registry->instantiate(*klass));
    obj->m_class = klass;
    obj->m_context = this;

    // Class defaults first, so instance_init sees a fully defaulted object.
    klass->for_each_property(
        [&](const ObjectProperty &p) { p.apply_default(*obj); });

    std::vector<const TypeImpl *> chain;
    for (const TypeImpl *t = &klass->type(); t; t = t->parent) {
        chain.push_back(t);
    }
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        if ((*it)->instance_init) {
            (*it)->instance_init(*obj);
        }
    }
    // post_init runs after every instance_init, so properties added there
    // receive globals (QEMU's device_post_init comment).
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        if ((*it)->instance_post_init) {
            TRY((*it)->instance_post_init(*obj));
        }
    }
    return obj;
}

namespace {

std::vector<std::string_view> split_path(std::string_view path)
{
    std::vector<std::string_view> parts;
    size_t i = 0;
    while (i <= path.size()) {
        size_t j = path.find('/', i);
        if (j == std::string_view::npos) {
            j = path.size();
        }
        if (j > i) {
            parts.push_back(path.substr(i, j - i));
        }
        i = j + 1;
    }
    return parts;
}

/// Follows child and link properties from `from` (QEMU's
/// object_resolve_abs_path).
Object *resolve_abs(Object &from, std::span<const std::string_view> parts)
{
    Object *obj = &from;
    for (std::string_view part : parts) {
        if (Object *c = obj->child(part)) {
            obj = c;
        } else if (Object *l = obj->link_target(part)) {
            obj = l;
        } else {
            return nullptr;
        }
    }
    return obj;
}

/// QEMU's object_resolve_partial_path: the path may start anywhere in the
/// tree below `parent`; more than one distinct match is ambiguous.
Object *resolve_partial(Object &parent, std::span<const std::string_view> parts,
                        bool &ambiguous)
{
    Object *found = resolve_abs(parent, parts);
    parent.for_each_child([&](Object &child) {
        if (ambiguous) {
            return;
        }
        Object *o = resolve_partial(child, parts, ambiguous);
        if (!o) {
            return;
        }
        if (found && found != o) {
            ambiguous = true;
            return;
        }
        found = o;
    });
    return ambiguous ? nullptr : found;
}

} // namespace

Object *Context::resolve_path(std::string_view path, bool *ambiguous) const
{
    bool ambig = false;
    Object *result = nullptr;
    std::vector<std::string_view> parts = split_path(path);
    if (path.starts_with('/')) {
        result = resolve_abs(*m_root, parts);
    } else if (!parts.empty()) {
        result = resolve_partial(*m_root, parts, ambig);
    }
    if (ambiguous) {
        *ambiguous = ambig;
    }
    return result;
}

qapi::Result<Object *> Context::resolve_path_checked(std::string_view path) const
{
    bool ambiguous = false;
    Object *obj = resolve_path(path, &ambiguous);
    if (obj) {
        return obj;
    }
    if (ambiguous) {
        return qapi::Error::format("Path '{}' is ambiguous", path);
    }
    return qapi::Error(fmt::format("Device '{}' not found", path),
                       qapi::ErrorClass::DeviceNotFound);
}

std::shared_ptr<TypeRegistry> make_type_registry(
    const std::function<void(TypeRegistry &)> &register_more)
{
    auto registry = std::make_shared<TypeRegistry>();
    qom_register_types(*registry);
    if (register_more) {
        register_more(*registry);
    }
    MUST(registry->finalize());
    return registry;
}

} // namespace qom
