/*
 * The x86 CPU device (QEMU's X86CPU, target/i386/cpu.c): the abstract
 * "x86_64-cpu" and its CPU models, "MODEL-x86_64-cpu".
 *
 * seoib models one CPU model, qemu64 (QEMU 7.2's default for pc and q35),
 * and of its properties those the project acts on:
 *   apic-id   uint32  the vCPU's APIC ID; the board sets it (default
 *                     0xffffffff: unassigned, and realize refuses it)
 *   x2apic    bool    CPUID.1:ECX.x2APIC; with it KVM may advertise Suppress
 *                     EOI Broadcast in the LVR (default on, as QEMU under
 *                     KVM with an in-kernel LAPIC)
 *   tsc-deadline bool CPUID.1:ECX.TSC-deadline as KVM supports it; off
 *                     clears it (-cpu qemu64,-tsc-deadline)
 * plus every property a machine compat table sets on these types, carried
 * (qom-get, -global) but not acted on: seoib computes no CPUID for them.
 *
 * The CPU is the accelerator's KVMArchCPU: it builds the CPUID its vCPU
 * gets (QEMU's cpu_x86_cpuid() as far as seoib needs it).
 */
#pragma once

#include "accel/kvm/kvm-accel.h"
#include "accel/kvm/kvm-vcpu-state.h"
#include "hw/core/cpu.h"
#include "qom/property.h"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hw::x86 {

inline constexpr std::string_view TYPE_X86_CPU = "x86_64-cpu";
/// QEMU's X86_CPU_TYPE_SUFFIX: a model's type is MODEL + the suffix.
inline constexpr std::string_view X86_CPU_TYPE_SUFFIX = "-x86_64-cpu";
inline constexpr std::string_view TYPE_QEMU64_X86_CPU = "qemu64-x86_64-cpu";

/// QEMU's UNASSIGNED_APIC_ID: the apic-id default.
inline constexpr uint32_t UNASSIGNED_APIC_ID = UINT32_MAX;

inline constexpr qom::PropertyKey<uint32_t> X86_CPU_PROP_APIC_ID { "apic-id" };
inline constexpr qom::PropertyKey<bool> X86_CPU_PROP_X2APIC { "x2apic" };

class X86CPU : public CPUState, public accel::kvm::KVMArchCPU {
public:
    static constexpr std::string_view type_name = TYPE_X86_CPU;
    using Parent = CPUState;
    using Class = qdev::DeviceClass;

    X86CPU();

    static void register_properties(qom::ObjectClass &oc);

    uint32_t apic_id() const { return m_apic_id; }
    bool x2apic() const { return m_x2apic; }

    /// The APIC ID (QEMU's x86_cpu_get_arch_id()).
    uint64_t arch_id() const override { return m_apic_id; }

    /// KVM's supported CPUID with the model's x2APIC choice and this CPU's
    /// APIC ID in CPUID.1:EBX[31:24] and leaves 0xB/0x1F EDX.
    std::vector<accel::kvm::CpuidEntry>
    kvm_cpuid(std::vector<accel::kvm::CpuidEntry> supported) const override;

    /// The vCPU's KVM state as the last save read it or the last load
    /// brought it (QEMU's CPUX86State, for migration): the accelerator
    /// fills it before a save and puts it into KVM after a load.
    accel::kvm::KvmVcpuState &migrated_env() { return m_migrated.env; }
    /// A stream loaded this vCPU's "cpu" section since the last call.
    bool take_loaded_env() { return std::exchange(m_migrated.loaded, false); }

    /// "cpu" v1 (hw/i386/x86-cpu-vmstate.cc).
    std::unique_ptr<migration::VMStateInstance> vmstate() override;

protected:
    /// QEMU's x86_cpu_realizefn(): the APIC ID must be assigned, then the
    /// accelerator initialises the vCPU.
    qapi::Result<void> do_realize() override;

private:
    struct CompatFlag;
    static const std::array<CompatFlag, 16> compat_flags;

    uint32_t m_apic_id { UNASSIGNED_APIC_ID };
    bool m_x2apic { true };
    bool m_tsc_deadline { true };
    std::string m_model_id;
    int64_t m_family {};
    int64_t m_model {};
    int64_t m_stepping {};
    uint32_t m_guest_phys_bits {};
    uint32_t m_hv_version_id_build {};
    uint16_t m_hv_version_id_major {};
    uint16_t m_hv_version_id_minor {};
    int32_t m_hv_max_vps {};
    std::array<bool, 16> m_compat_flag_values {};

    struct Migrated {
        accel::kvm::KvmVcpuState env;
        uint32_t xsave_len { 0 };
        uint32_t nr_msrs { 0 };
        bool loaded { false };
    } m_migrated;
};

/// Registers x86_64-cpu (abstract) and qemu64-x86_64-cpu.
void x86_cpu_register_types(qom::TypeRegistry &registry);

} // namespace hw::x86
