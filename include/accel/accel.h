/*
 * Accelerators (QEMU's AccelState / AccelClass, type "accel").
 *
 * An accelerator object is created after the machine object and before the
 * board is built.  It receives the compat slots (machine compat entries may
 * name it) but never the user's -global list, as in QEMU.  Once initialised
 * its properties are frozen.
 */
#pragma once

#include "qom/object.h"

#include <string>

namespace hw {
class MachineState;
}

namespace accel {

inline constexpr std::string_view TYPE_ACCEL = "accel";
inline constexpr std::string_view ACCEL_CLASS_SUFFIX = "-accel";

class AccelClass : public qom::ObjectClass {
public:
    /// The -accel name ("kvm").
    std::string accel_name;
};

class AccelState : public qom::Object {
public:
    static constexpr std::string_view type_name = TYPE_ACCEL;
    using Parent = qom::Object;
    using Class = AccelClass;

    const AccelClass &accel_class() const
    {
        return static_cast<const AccelClass &>(object_class());
    }

    bool initialized() const { return m_initialized; }

    /// QEMU's accel_init_machine(): opens the hypervisor and creates the VM
    /// for `machine`.  Properties cannot change afterwards.
    qapi::Result<void> init_machine(hw::MachineState &machine);

    /// "Cannot set properties after the accelerator has been initialized".
    qapi::Result<void> check_property_set(
        const qom::ObjectProperty &prop) const override;

protected:
    virtual qapi::Result<void> do_init_machine(hw::MachineState &machine) = 0;

private:
    bool m_initialized { false };
};

/// Registers "accel".
void accel_register_types(qom::TypeRegistry &registry);

/// The class for "-accel NAME": type NAME-accel; nullptr when unknown.
const AccelClass *find_accel(const qom::TypeRegistry &registry,
                             std::string_view name);

} // namespace accel
