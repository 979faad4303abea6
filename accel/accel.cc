#include "accel/accel.h"

#include "qom/type-registry.h"

#include <string>

namespace accel {

qapi::Result<void> AccelState::init_machine(hw::MachineState &machine)
{
    TRY(do_init_machine(machine));
    m_initialized = true;
    return {};
}

qapi::Result<void>
AccelState::check_property_set(const qom::ObjectProperty &) const
{
    if (m_initialized) {
        return qapi::Error(
            "Cannot set properties after the accelerator has been initialized");
    }
    return {};
}

void accel_register_types(qom::TypeRegistry &registry)
{
    registry.add<AccelState>({ .abstract = true });
}

const AccelClass *find_accel(const qom::TypeRegistry &registry,
                             std::string_view name)
{
    const qom::ObjectClass *oc = registry.find_class(
        std::string(name) + std::string(ACCEL_CLASS_SUFFIX));
    if (!oc || oc->is_abstract() || !oc->is_a(TYPE_ACCEL)) {
        return nullptr;
    }
    return static_cast<const AccelClass *>(oc);
}

} // namespace accel
