#include "system/builtin-types.h"

#include "accel/accel.h"
#include "accel/kvm/kvm-accel.h"
#include "hw/core/cpu.h"
#include "hw/core/machine.h"
#include "hw/core/qdev.h"
#include "hw/i386/pc.h"
#include "hw/i386/x86-cpu.h"
#include "hw/intc/ioapic.h"
#include "hw/isa/isa.h"
#include "hw/misc/seoib-testdev.h"

namespace sysemu {

void register_builtin_types(qom::TypeRegistry &registry)
{
    // Layer order: qom, hw/core, accel, hw.
    qom::qom_register_types(registry);
    qdev::qdev_register_types(registry);
    hw::cpu_register_types(registry);
    hw::machine_register_types(registry);
    accel::accel_register_types(registry);
    accel::kvm::kvm_accel_register_types(registry);
    hw::intc::ioapic_register_types(registry);
    hw::misc::hw_misc_register_types(registry);
    hw::isa::isa_register_types(registry);
    hw::x86::x86_cpu_register_types(registry);
    hw::x86::pc_register_types(registry);
}

std::shared_ptr<const qom::TypeRegistry> builtin_type_registry()
{
    auto registry = std::make_shared<qom::TypeRegistry>();
    register_builtin_types(*registry);
    // A registration error is a bug in the tables above, caught by every
    // test that builds a registry.
    MUST(registry->finalize());
    return registry;
}

} // namespace sysemu
