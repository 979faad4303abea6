/*
 * qom::Context: everything QEMU keeps in process-wide state, owned by one
 * object the embedding host creates: the (shared, immutable) type registry,
 * the global-property slots, the object root and the warning sink.
 *
 * Tests make a fresh Context per test; a benchmark may make thousands that
 * share one TypeRegistry.
 */
#pragma once

#include "qom/global-props.h"
#include "qom/object.h"
#include "qom/type-registry.h"

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace qom {

class Context {
public:
    /// `registry` must be finalized.
    explicit Context(std::shared_ptr<const TypeRegistry> registry);
    ~Context();
    Context(const Context &) = delete;
    Context &operator=(const Context &) = delete;

    const TypeRegistry &types() const { return *m_registry; }
    GlobalProperties &globals() { return m_globals; }
    const GlobalProperties &globals() const { return m_globals; }

    /// The "/" container.
    Object &root() const { return *m_root; }

    /// QEMU's object_new(): class defaults, every instance_init (parent
    /// first), then every instance_post_init (parent first; devices apply
    /// global properties there).  Fails for unknown or abstract types and
    /// when a post-init step fails; nothing is attached to the tree.
    qapi::Result<Ref<Object>> new_object(std::string_view type);

    template <ObjectType T>
    qapi::Result<Ref<T>> new_object(std::string_view type = T::type_name)
    {
        Ref<Object> obj = TRY(new_object(type));
        if (!obj->is_a(T::type_name)) {
            return qapi::Error::format("Object type '{}' is not a '{}'", type,
                                       T::type_name);
        }
        return Ref<T>(static_cast<T *>(obj.get()));
    }

    /// QEMU's object_resolve_path(): an absolute path ("/machine/q35/ioapic")
    /// follows child and link properties from the root; a partial path
    /// ("ioapic", "q35/ioapic") matches wherever it is unique in the tree.
    /// Returns nullptr when nothing or (partial) more than one object
    /// matches; `ambiguous` tells which.
    Object *resolve_path(std::string_view path,
                         bool *ambiguous = nullptr) const;
    /// As resolve_path, with QMP's errors: DeviceNotFound "Device 'P' not
    /// found" or "Path 'P' is ambiguous".
    qapi::Result<Object *> resolve_path_checked(std::string_view path) const;
    template <ObjectType T>
    qapi::Result<T *> resolve(std::string_view path) const
    {
        Object *o = TRY(resolve_path_checked(path));
        T *t = dyn_cast<T>(o);
        if (!t) {
            return qapi::Error::format("Path '{}' is not a '{}'", path,
                                       T::type_name);
        }
        return t;
    }

    /// Reports a warning once ("warning: " is added by the sink).
    void warn(std::string_view message) const;
    /// Where warnings go; the default prints "warning: MSG" to stderr.
    void set_warning_sink(std::function<void(std::string_view)> sink)
    {
        m_warning_sink = std::move(sink);
    }
    /// Reports an informational message (QEMU's info_report()), e.g. which
    /// kernel backend stands in; the default prints "MSG" to stderr.
    void info(std::string_view message) const;
    void set_info_sink(std::function<void(std::string_view)> sink)
    {
        m_info_sink = std::move(sink);
    }
    /// Reports something a guest did wrong (QEMU's
    /// qemu_log_mask(LOG_GUEST_ERROR)); `message` names the device.  The
    /// default prints "MSG" to stderr.  Devices rate-limit before this.
    void guest_error(std::string_view message) const;
    void set_guest_error_sink(std::function<void(std::string_view)> sink)
    {
        m_guest_error_sink = std::move(sink);
    }

private:
    std::shared_ptr<const TypeRegistry> m_registry;
    GlobalProperties m_globals;
    Ref<Object> m_root;
    std::function<void(std::string_view)> m_warning_sink;
    std::function<void(std::string_view)> m_info_sink;
    std::function<void(std::string_view)> m_guest_error_sink;
};

/// A finalized registry with the qom types only (tests build on it).
std::shared_ptr<TypeRegistry> make_type_registry(
    const std::function<void(TypeRegistry &)> &register_more = {});

} // namespace qom
