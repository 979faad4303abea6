/*
 * Reading and writing a vCPU's whole state over the backend interface.
 */
#include "accel/kvm/kvm-vcpu-state.h"

#include <fmt/format.h>

#include <algorithm>

namespace accel::kvm {

qapi::Result<KvmVcpuState> kvm_get_vcpu_state(Vcpu &vcpu,
                                              std::span<const uint32_t> msr_index_list)
{
    KvmVcpuState state;
    state.regs = TRY(vcpu.get_regs());
    state.sregs = TRY(vcpu.get_sregs());
    state.xsave = TRY(vcpu.get_xsave());
    for (uint32_t index : VCPU_STATE_MSRS) {
        if (std::find(msr_index_list.begin(), msr_index_list.end(), index) !=
            msr_index_list.end()) {
            state.msrs.push_back(MsrEntry { .index = index, .data = 0 });
        }
    }
    size_t read = TRY(vcpu.get_msrs(state.msrs));
    if (read != state.msrs.size()) {
        return qapi::Error::format("KVM_GET_MSRS: MSR 0x{:x} could not be read",
                                   state.msrs[read].index);
    }
    // No LAPIC page without an in-kernel LAPIC (KVM_GET_LAPIC: ENXIO).
    auto lapic = vcpu.get_lapic();
    if (lapic.has_value()) {
        state.lapic = lapic.release_value();
    }
    state.events = TRY(vcpu.get_vcpu_events());
    state.mp_state = TRY(vcpu.get_mp_state());
    return state;
}

qapi::Result<void> kvm_put_vcpu_state(Vcpu &vcpu, const KvmVcpuState &state,
                                      bool lapic_in_kernel)
{
    TRY(vcpu.set_regs(state.regs));
    TRY(vcpu.set_xsave(state.xsave));
    TRY(vcpu.set_sregs(state.sregs));
    size_t written = TRY(vcpu.set_msrs(state.msrs));
    if (written != state.msrs.size()) {
        return qapi::Error::format(
            "KVM_SET_MSRS: MSR 0x{:x} (value 0x{:x}) was refused",
            state.msrs[written].index, state.msrs[written].data);
    }
    if (lapic_in_kernel) {
        TRY(vcpu.set_lapic(state.lapic));
    }
    TRY(vcpu.set_vcpu_events(state.events));
    TRY(vcpu.set_mp_state(state.mp_state));
    return {};
}

} // namespace accel::kvm
