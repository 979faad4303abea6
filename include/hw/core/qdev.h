/*
 * qdev: devices on top of QOM.
 *
 * A device is realized once (QEMU's dc->realize), after its properties are
 * set; from then on property writes fail, in one place (check_property_set).
 * Globals reach devices at creation: compat slots, then the user's -global
 * list (device_post_init).  After the machine is built,
 * qdev_prop_check_globals() warns about user globals that never applied.
 */
#pragma once

#include "migration/vmstate.h"
#include "qom/context.h"
#include "qom/object.h"
#include "qom/property.h"

#include <memory>
#include <string>
#include <string_view>

namespace qdev {

inline constexpr std::string_view TYPE_DEVICE = "device";
inline constexpr std::string_view TYPE_SYS_BUS_DEVICE = "sys-bus-device";

/// The groups -device help lists devices in (QEMU's DeviceCategory, in
/// its order).
enum class DeviceCategory {
    Bridge, Usb, Storage, Network, Input, Display, Sound, Misc, Cpu,
    Watchdog, Uncategorized,
};

/// Per-type device data (QEMU's DeviceClass).
class DeviceClass : public qom::ObjectClass {
public:
    /// One-line description for -device help.
    std::string desc;
    /// Where -device help lists it.
    DeviceCategory category { DeviceCategory::Uncategorized };
    /// The bus it plugs into, as -device help names it ("ISA"); empty for
    /// none.
    std::string bus_type;
    /// May be created and destroyed while the machine runs.  Unused user
    /// globals on hotpluggable types are not warned about.
    bool hotpluggable { true };
    /// May be created with -device / device_add.
    bool user_creatable { true };
};

class DeviceState : public qom::Object {
public:
    static constexpr std::string_view type_name = TYPE_DEVICE;
    using Parent = qom::Object;
    using Class = DeviceClass;

    const DeviceClass &device_class() const
    {
        return static_cast<const DeviceClass &>(object_class());
    }

    bool realized() const { return m_realized; }
    /// QEMU's qdev_realize(): runs the type's do_realize() once.
    /// Realizing twice is a no-op; a failure leaves the device unrealized.
    qapi::Result<void> realize();
    /// Undoes realize (QEMU's qdev_unrealize).
    void unrealize();

    /// The -device id, empty when anonymous (QEMU's dev->id: not a
    /// property; it also names the device under /machine/peripheral).
    const std::string &id() const { return m_id; }
    void set_id(std::string id) { m_id = std::move(id); }

    /// Refuses every write after realize, unless the property allows it:
    /// "Attempt to set property 'P' on device 'D' (type 'T') after it was
    /// realized".
    qapi::Result<void> check_property_set(
        const qom::ObjectProperty &prop) const override;

    static void register_properties(qom::ObjectClass &oc);

    /// QEMU's dc->vmsd, bound to this device: how its state migrates, or
    /// null when it has none.  The result refers to the device, which must
    /// outlive it.
    virtual std::unique_ptr<migration::VMStateInstance> vmstate() { return nullptr; }

protected:
    /// The device's realize step (QEMU's DeviceClass::realize).
    virtual qapi::Result<void> do_realize() { return {}; }
    virtual void do_unrealize() { }

private:
    bool m_realized { false };
    std::string m_id;
};

/// A device on the system bus (QEMU's SysBusDevice): not hotpluggable and
/// not user-creatable by default.
class SysBusDevice : public DeviceState {
public:
    static constexpr std::string_view type_name = TYPE_SYS_BUS_DEVICE;
    using Parent = DeviceState;
    using Class = DeviceClass;

    static void class_init(DeviceClass &dc);
};

/// Registers device and sys-bus-device.
void qdev_register_types(qom::TypeRegistry &registry);

/// QEMU's qdev_prop_check_globals(): warns once for each user global that
/// never applied: "global D.P has invalid class name" when D is no device
/// type, "global D.P=V not used" when D is a device that cannot be
/// hotplugged.  Returns whether it warned.
bool qdev_prop_check_globals(qom::Context &ctx);

} // namespace qdev
