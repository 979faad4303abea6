#include "hw/core/cpu.h"

#include "qom/type-registry.h"

namespace hw {

AccelCPUState::~AccelCPUState()
{
    if (m_cpu) {
        m_cpu->m_accel_state = nullptr;
    }
}

CPUState::~CPUState()
{
    if (m_accel_state) {
        m_accel_state->m_cpu = nullptr;
    }
}

void CPUState::class_init(qdev::DeviceClass &dc)
{
    // seoib has no CPU hotplug yet (QEMU's device_add of a CPU goes
    // through the machine's pre_plug, which fills in what the board sets
    // here), so -device cannot create one.
    dc.user_creatable = false;
    // Nor can one be unplugged: unrealizing a CPU would drop its vCPU and
    // let its apic-id and CPUID features be rewritten behind the SEOIB
    // policy (qom-set realized false, then the properties, then realize).
    // QEMU's CPUs are hotpluggable through the machine's hotplug handler,
    // which seoib does not have yet.
    dc.hotpluggable = false;
}

qapi::Result<void> CPUState::do_realize()
{
    if (m_accel_ops) {
        m_accel_state = TRY(m_accel_ops->init_vcpu(*this));
    }
    return {};
}

void CPUState::do_unrealize()
{
    if (m_accel_ops && m_accel_state) {
        m_accel_ops->destroy_vcpu(*this);
    }
    m_accel_state = nullptr;
}

void cpu_register_types(qom::TypeRegistry &registry)
{
    registry.add<CPUState>({ .abstract = true });
}

} // namespace hw
