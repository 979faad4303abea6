/*
 * The x86 PC machines: x86-machine, generic-pc-machine, and the versioned
 * pc-q35-X.Y / pc-i440fx-X.Y types (data in hw/i386/pc-versions.h).
 *
 * Machine init (QEMU's pc_q35_init / pc_init1) runs these named steps, in
 * this order (docs/devel/machine-creation.rst):
 *   1. irqchip:        the accelerator's kernel-irqchip mode is known;
 *   2. ioapic-version: the version the IOAPIC *will* get is resolved from
 *                      the class default, the compat slots and the user's
 *                      -global, through the global-property registry,
 *                      before any vCPU exists;
 *   3. cpus:           the accelerator decides the SEOIB policy and sets
 *                      the x2APIC API flags, then one qemu64-x86_64-cpu
 *                      per vCPU is created at /machine/unattached/device[N]
 *                      and realized, which makes its KVM vCPU;
 *   4. host bridge:    /machine/q35 or /machine/i440fx;
 *   5. ioapic:         ioapic (or kvm-ioapic with kernel-irqchip=on) at
 *                      /machine/<bridge>/ioapic, realized, and checked
 *                      against step 2's answer.
 */
#pragma once

#include "hw/core/machine.h"
#include "hw/i386/pc-versions.h"
#include "qapi/qapi-types.h"
#include "qom/global-props.h"

#include <optional>
#include <string>
#include <vector>

namespace hw::intc {
class IOAPICCommonState;
}

namespace hw::x86 {

class X86CPU;

inline constexpr std::string_view TYPE_X86_MACHINE = "x86-machine";
inline constexpr std::string_view TYPE_PC_MACHINE = "generic-pc-machine";
inline constexpr std::string_view TYPE_Q35_HOST_DEVICE = "q35-pcihost";
inline constexpr std::string_view TYPE_I440FX_PCI_HOST_BRIDGE =
    "i440FX-pcihost";

/// The APIC ID of the CPU with index `index` (QEMU's
/// x86_apicid_from_cpu_idx()).
uint32_t x86_apic_id_from_cpu_index(const CpuTopology &topo, unsigned index);

/// What step 2 decided about the IOAPIC.
struct IOAPICPlan {
    /// ioapic (userspace) or kvm-ioapic (in-kernel).
    std::string type;
    uint8_t version { 0 };
    /// Where the version came from: class default, a compat table, a
    /// -global, or the in-kernel IOAPIC.
    std::string source;
};

class X86MachineState : public MachineState {
public:
    static constexpr std::string_view type_name = TYPE_X86_MACHINE;
    using Parent = MachineState;
    using Class = MachineClass;

    qapi::Result<void> init() override;

    /// Step 2's answer; set once init() has passed that step.
    const std::optional<IOAPICPlan> &ioapic_plan() const { return m_ioapic_plan; }
    /// The irqchip mode the machine is built for: the accelerator's
    /// kernel-irqchip, or off without an accelerator.
    qapi::OnOffSplit irqchip_mode() const { return m_irqchip; }
    /// The CPU devices step 3 created, in CPU index order (they live at
    /// /machine/unattached/device[N]).
    const std::vector<qom::Ref<X86CPU>> &cpus() const { return m_cpus; }
    /// The realized IOAPIC (step 5), or nullptr before.
    intc::IOAPICCommonState *ioapic() const { return m_ioapic; }

    /// Step 2 on its own: what IOAPIC a machine of this class, with these
    /// globals and this irqchip mode, will get.  The same registry walk as
    /// object creation; fails with the IOAPIC's realize error for a version
    /// other than 0x11 or 0x20.
    static qapi::Result<IOAPICPlan> plan_ioapic(qom::Context &ctx,
                                                qapi::OnOffSplit irqchip);

protected:
    /// The PCI host bridge's type and child name ("q35").
    virtual std::string_view host_bridge_type() const = 0;
    virtual std::string_view host_bridge_name() const = 0;

private:
    qapi::Result<void> resolve_irqchip();
    qapi::Result<void> resolve_ioapic_version();
    qapi::Result<void> init_cpus();
    qapi::Result<void> x86_cpu_new(unsigned index, uint32_t apic_id);
    qapi::Result<qom::Object *> create_host_bridge();
    qapi::Result<void> ioapic_init_gsi(qom::Object &parent);

    qapi::OnOffSplit m_irqchip { qapi::OnOffSplit::Off };
    std::optional<IOAPICPlan> m_ioapic_plan;
    std::vector<qom::Ref<X86CPU>> m_cpus;
    intc::IOAPICCommonState *m_ioapic { nullptr };
};

class PCMachineClass : public MachineClass {
public:
    PCFamily family { PCFamily::Q35 };
    MachineVersion version { 0, 0 };
};

class PCMachineState : public X86MachineState {
public:
    static constexpr std::string_view type_name = TYPE_PC_MACHINE;
    using Parent = X86MachineState;
    using Class = PCMachineClass;

    const PCMachineClass &pc_class() const
    {
        return static_cast<const PCMachineClass &>(object_class());
    }

protected:
    std::string_view host_bridge_type() const override;
    std::string_view host_bridge_name() const override;
};

/// Registers x86-machine, generic-pc-machine, every versioned PC machine
/// and the two host bridges.
void pc_register_types(qom::TypeRegistry &registry);

} // namespace hw::x86
