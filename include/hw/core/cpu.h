/*
 * The CPU device base (QEMU's CPUState, type "cpu", hw/core/cpu-common.c).
 *
 * A CPU is a device: the board creates one per vCPU under
 * /machine/unattached/device[N], sets its properties and realizes it.  At
 * realize the accelerator initialises it (QEMU's qemu_init_vcpu() ->
 * kvm_init_vcpu()) and keeps what it needs per vCPU in an AccelCPUState.
 *
 * The accelerator sits below the CPU models in seoib's layers (accel <-
 * hw/i386), so it knows a CPU only through this base: its index, its arch
 * ID and its realize.  The accelerator's side of the contract is
 * AccelCPUOps, which it implements and the board hands to each CPU.
 */
#pragma once

#include "hw/core/qdev.h"
#include "qapi/result.h"

#include <cstdint>
#include <string_view>

namespace hw {

inline constexpr std::string_view TYPE_CPU = "cpu";

class AccelCPUOps;
class CPUState;

/// What an accelerator keeps per vCPU (QEMU's AccelCPUState): for KVM the
/// vCPU file descriptor and what was read back from it.
///
/// The accelerator owns it.  Its CPU points to it from realize until
/// unrealize; whichever of the two goes first breaks the link, so neither
/// ever sees the other dangling.
class AccelCPUState {
public:
    AccelCPUState(CPUState &cpu, const AccelCPUOps &owner)
        : m_cpu(&cpu)
        , m_owner(&owner)
    {
    }
    AccelCPUState(const AccelCPUState &) = delete;
    AccelCPUState &operator=(const AccelCPUState &) = delete;
    virtual ~AccelCPUState();

    /// The CPU this state belongs to; nullptr once the CPU was destroyed.
    CPUState *cpu() const { return m_cpu; }
    /// The accelerator that made it.
    const AccelCPUOps &owner() const { return *m_owner; }

private:
    friend class CPUState;
    CPUState *m_cpu;
    const AccelCPUOps *m_owner;
};

/// The accelerator's half of CPU realize (QEMU's AccelOpsClass and
/// kvm_init_vcpu / kvm_destroy_vcpu).
class AccelCPUOps {
public:
    /// Creates and configures the vCPU that runs `cpu`, at the end of the
    /// CPU's realize.  The returned state stays owned by the accelerator.
    /// Fails (and the CPU stays unrealized) when the accelerator cannot run
    /// it.
    virtual qapi::Result<AccelCPUState *> init_vcpu(CPUState &cpu) = 0;
    /// Releases what init_vcpu() made, at unrealize.
    virtual void destroy_vcpu(CPUState &cpu) = 0;

protected:
    ~AccelCPUOps() = default;
};

class CPUState : public qdev::DeviceState {
public:
    static constexpr std::string_view type_name = TYPE_CPU;
    using Parent = qdev::DeviceState;
    using Class = qdev::DeviceClass;

    ~CPUState() override;

    static void class_init(qdev::DeviceClass &dc);

    /// QEMU's cs->cpu_index: the CPU's place in creation order, given by
    /// the board before realize (QEMU's pre_plug).
    int cpu_index() const { return m_cpu_index; }
    void set_cpu_index(int index) { m_cpu_index = index; }

    /// QEMU's CPUClass::get_arch_id(): the ID the accelerator creates the
    /// vCPU with (the APIC ID on x86).
    virtual uint64_t arch_id() const = 0;

    /// The accelerator that initialises this CPU at realize (QEMU's current
    /// accelerator); set by the board before realize.  Without one the CPU
    /// is a device only, with no vCPU behind it.
    void set_accel_ops(AccelCPUOps *ops) { m_accel_ops = ops; }
    /// The accelerator's state for this CPU: set once realized on an
    /// accelerator, nullptr otherwise.
    AccelCPUState *accel_state() const { return m_accel_state; }

protected:
    /// Realizes the CPU on its accelerator.  CPU models validate their
    /// properties first and then call this (QEMU's parent_realize chain
    /// ending in qemu_init_vcpu()).
    qapi::Result<void> do_realize() override;
    void do_unrealize() override;

private:
    friend class AccelCPUState;
    int m_cpu_index { -1 };
    AccelCPUOps *m_accel_ops { nullptr };
    AccelCPUState *m_accel_state { nullptr };
};

/// Registers "cpu" (abstract).
void cpu_register_types(qom::TypeRegistry &registry);

} // namespace hw
