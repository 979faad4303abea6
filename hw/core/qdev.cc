#include "hw/core/qdev.h"

#include "qom/type-registry.h"

#include <fmt/format.h>

namespace qdev {

qapi::Result<void> DeviceState::realize()
{
    if (m_realized) {
        return {};
    }
    TRY(do_realize());
    m_realized = true;
    return {};
}

void DeviceState::unrealize()
{
    if (!m_realized) {
        return;
    }
    do_unrealize();
    m_realized = false;
}

qapi::Result<void>
DeviceState::check_property_set(const qom::ObjectProperty &prop) const
{
    if (!m_realized || prop.settable_after_realize()) {
        return {};
    }
    if (!m_id.empty()) {
        return qapi::Error::format("Attempt to set property '{}' on device "
                                   "'{}' (type '{}') after it was realized",
                                   prop.name(), m_id, qom_type());
    }
    return qapi::Error::format("Attempt to set property '{}' on anonymous "
                               "device (type '{}') after it was realized",
                               prop.name(), qom_type());
}

void DeviceState::register_properties(qom::ObjectClass &oc)
{
    // "realized" is how QOM clients (qom-set) realize a device; writing it
    // is allowed at any time, that is its purpose.  Unrealizing is
    // unplugging, though: a device that cannot be hotplugged stays as it
    // was realized, or its properties could be changed behind what was
    // decided from them (the IOAPIC's version behind the SEOIB policy).
    // QEMU 7.2 refuses this only for devices that were hotplugged, and lets
    // a 0x20 IOAPIC be unrealized, set to 0x11 and realized again.
    auto realized = std::make_unique<qom::AccessorProperty<DeviceState, bool>>(
        "realized", [](const DeviceState &d) { return d.realized(); },
        [](DeviceState &d, bool on) -> qapi::Result<void> {
            if (on) {
                return d.realize();
            }
            if (d.realized() && !d.device_class().hotpluggable) {
                return qapi::Error::format(
                    "Device '{}' does not support hotplugging", d.qom_type());
            }
            d.unrealize();
            return {};
        });
    realized->set_settable_after_realize(true);
    oc.add_property(std::move(realized));
}

void SysBusDevice::class_init(DeviceClass &dc)
{
    dc.hotpluggable = false;
    dc.user_creatable = false;
}

void qdev_register_types(qom::TypeRegistry &registry)
{
    registry.add<DeviceState>({
        .abstract = true,
        // QEMU's device_post_init: compat first, then the user's globals,
        // so the user's take precedence.
        .instance_post_init = [](DeviceState &dev) -> qapi::Result<void> {
            return dev.context().globals().apply(dev, true);
        },
    });
    registry.add<SysBusDevice>({ .abstract = true });
}

bool qdev_prop_check_globals(qom::Context &ctx)
{
    bool warned = false;
    for (const qom::GlobalProperty &g : ctx.globals().user_globals()) {
        if (g.used) {
            continue;
        }
        const qom::ObjectClass *klass = ctx.types().find_class(g.driver);
        if (!klass || !klass->is_a(TYPE_DEVICE)) {
            ctx.warn(fmt::format("global {}.{} has invalid class name",
                                 g.driver, g.property));
            warned = true;
            continue;
        }
        const auto &dc = static_cast<const DeviceClass &>(*klass);
        if (!dc.hotpluggable) {
            ctx.warn(fmt::format("global {}.{}={} not used", g.driver,
                                 g.property, g.value));
            warned = true;
        }
    }
    return warned;
}

} // namespace qdev
