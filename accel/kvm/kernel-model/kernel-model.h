/*
 * The kernel model's own knobs, beyond the backend interface.
 *
 * open_model_system(KernelProfile) (kvm-backend.h) gives a model with the
 * limits of the kernels it models.  Benchmarks need more vCPUs than
 * KVM_CAP_MAX_VCPUS allows, and tests sometimes want a smaller instruction
 * budget per run(); they use the overload here.  Product code has no reason
 * to.
 *
 * The model is single-threaded: one System, its Vms and their Vcpus must be
 * used from one thread at a time.  Each System owns all of its state; there
 * is nothing process-global.
 */
#pragma once

#include "accel/kvm/kvm-backend.h"

#include <cstdint>
#include <memory>

namespace accel::kvm {

/// Model-only limits.  The defaults are what the modelled kernels report.
struct KernelModelOptions {
    /// KVM_CAP_MAX_VCPUS: KVM_CREATE_VCPU fails with EINVAL once a VM has
    /// this many vCPUs.  The kernel's KVM_MAX_VCPUS is 1024.
    uint32_t max_vcpus { 1024 };
    /// KVM_CAP_MAX_VCPU_ID: vCPU ids must be below this (KVM_MAX_VCPU_IDS).
    uint32_t max_vcpu_id { 4096 };
    /// Guest instructions one Vcpu::run() executes before it gives up and
    /// returns ExitInterrupted, as a host run returns when its watchdog
    /// signal arrives.
    uint64_t run_budget { 1'000'000 };
};

/// Creates a kernel model with the given profile and limits.  Never fails.
std::unique_ptr<System> open_model_system(KernelProfile profile,
                                          const KernelModelOptions &options);

} // namespace accel::kvm
