/*
 * The guest CPU of the kernel model: a real-mode ("unreal mode")
 * interpreter for exactly the instruction subset of the guest payload
 * contract (docs: the guest instruction subset), plus real-mode interrupt
 * and exception delivery through the IVT.
 *
 * Anything outside the subset ends the run with ExitInternalError
 * {KVM_INTERNAL_ERROR_EMULATION}; nothing a guest does can abort the model.
 * Stack and IVT accesses must hit guest RAM; only `mov` may touch MMIO.
 */
#pragma once

#include "accel/kvm/kernel-model/model-internal.h"

#include <cstdint>
#include <optional>

namespace accel::kvm::model {

/// Executes one instruction at CS:IP.  Returns the exit to userspace, if
/// the instruction causes one; faults are delivered to the guest.
std::optional<VcpuExit> execute_instruction(VcpuState &vcpu);

/// Delivers an external interrupt or NMI through the real-mode IVT: pushes
/// FLAGS, CS, IP, clears IF/TF/AC and jumps to the vector's handler.
/// Returns an exit when the delivery itself fails (a shutdown).
std::optional<VcpuExit> deliver_interrupt(VcpuState &vcpu, uint8_t vector);

} // namespace accel::kvm::model
