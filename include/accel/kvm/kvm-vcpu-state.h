/*
 * A vCPU's whole KVM state, as a VMM reads it to migrate or snapshot the
 * vCPU and writes it back on the destination: QEMU's
 * kvm_arch_get_registers() / kvm_arch_put_registers() over the backend
 * interface, so it works the same on the host and on the kernel model.
 *
 * Not included: CPUID (the destination's configuration sets it when the
 * vCPU is created) and the policy flags (set on the VM before any vCPU
 * state is put; see docs/devel/migration.rst).
 */
#pragma once

#include "accel/kvm/kvm-backend.h"

#include <cstdint>
#include <span>
#include <vector>

namespace accel::kvm {

/// The MSRs seoib saves and restores for a vCPU, where the source's
/// KVM_GET_MSR_INDEX_LIST has them: the SYSENTER/SYSCALL set, PAT, TSC,
/// MISC_ENABLE and KERNEL_GS_BASE.  MSR_IA32_APICBASE travels in Sregs and
/// the x2APIC registers in the LAPIC page.
inline constexpr uint32_t VCPU_STATE_MSRS[] = {
    0x10,       // MSR_IA32_TSC
    0x174,      // MSR_IA32_SYSENTER_CS
    0x175,      // MSR_IA32_SYSENTER_ESP
    0x176,      // MSR_IA32_SYSENTER_EIP
    0x1a0,      // MSR_IA32_MISC_ENABLE
    0x277,      // MSR_IA32_CR_PAT
    0xc0000081, // MSR_STAR
    0xc0000082, // MSR_LSTAR
    0xc0000083, // MSR_CSTAR
    0xc0000084, // MSR_SYSCALL_MASK
    0xc0000102, // MSR_KERNEL_GS_BASE
};

struct KvmVcpuState {
    Regs regs {};
    Sregs sregs {};
    XsaveState xsave {};
    std::vector<MsrEntry> msrs;
    LapicState lapic {};
    VcpuEvents events {};
    MpState mp_state { MpState::Runnable };

    friend bool operator==(const KvmVcpuState &, const KvmVcpuState &) = default;
};

/// Reads every part of the state.  `msr_index_list` is the backend's
/// KVM_GET_MSR_INDEX_LIST: of VCPU_STATE_MSRS, only those it lists are read.
/// Without an in-kernel LAPIC the LAPIC page stays zero.
qapi::Result<KvmVcpuState> kvm_get_vcpu_state(Vcpu &vcpu,
                                              std::span<const uint32_t> msr_index_list);

/// Writes `state` in the order QEMU puts registers: regs, xsave, sregs (the
/// APIC base, so the LAPIC mode is right before its page is written),
/// MSRs, the LAPIC page, events, MP state.  The first refused part ends
/// the put with an error naming it; an MSR the vCPU refuses is an error.
qapi::Result<void> kvm_put_vcpu_state(Vcpu &vcpu, const KvmVcpuState &state,
                                      bool lapic_in_kernel);

} // namespace accel::kvm
