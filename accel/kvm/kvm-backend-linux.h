/*
 * The host KVM backend's options beyond the shared interface.
 *
 * Private to accel/kvm and to the tests that drive the host backend: code
 * elsewhere opens the host backend through open_host_system() in
 * accel/kvm/kvm-backend.h and never sees these.
 */
#pragma once

#include "accel/kvm/kvm-backend.h"

#include <chrono>

namespace accel::kvm {

/// How the host backend runs its vCPUs.
struct HostOptions {
    /// When non-zero, every Vcpu::run() returns at the latest this long
    /// after it entered KVM_RUN: a per-vCPU POSIX timer sends a real-time
    /// signal (SIGRTMIN) to the thread in KVM_RUN, whose handler sets
    /// kvm_run.immediate_exit, and run() reports ExitInterrupted.  A guest
    /// halted with nothing deliverable then behaves as it does on the
    /// kernel model.  The first bounded run on a thread installs the
    /// process-wide SIGRTMIN handler and unblocks SIGRTMIN in that thread.
    ///
    /// Zero (the default): KVM_RUN blocks as long as the kernel keeps the
    /// vCPU, e.g. a halted guest until an interrupt arrives.
    std::chrono::nanoseconds run_timeout { 0 };
};

/// Opens `device` (normally "/dev/kvm") with the given options.  Fails with
/// the open() errno, or when KVM_GET_API_VERSION is not 12.
qapi::Result<std::unique_ptr<System>>
open_host_system(std::string_view device, const HostOptions &options);

} // namespace accel::kvm
