/*
 * Bounded KVM_RUN: a per-vCPU POSIX timer that kicks the thread in KVM_RUN.
 *
 * The timer targets the thread that runs the vCPU; its signal's handler sets
 * kvm_run.immediate_exit.  If the signal lands while the thread is in
 * KVM_RUN, the kernel leaves with EINTR; if it lands just before the ioctl,
 * immediate_exit makes KVM_RUN return EINTR at once
 * (Documentation/virt/kvm/api.rst, "immediate_exit"), so there is no window
 * in which a halted guest can outlive its bound.  This is how QEMU kicks a
 * vCPU too (kvm_cpu_kick).
 *
 * Private to accel/kvm/linux/.
 */
#pragma once

#include "qapi/result.h"

#include <linux/kvm.h>
#include <sys/types.h>

#include <chrono>
#include <ctime>
#include <optional>

namespace accel::kvm::host {

/// A POSIX timer whose signal sets one kvm_run page's immediate_exit, aimed
/// at one thread; deleted on destruction.
class RunWatchdog {
public:
    RunWatchdog() = default;
    RunWatchdog(const RunWatchdog &) = delete;
    RunWatchdog &operator=(const RunWatchdog &) = delete;
    ~RunWatchdog() { reset(); }

    /// Creates the timer for the calling thread; its signal carries `run`.
    /// The first call in the process installs the SIGRTMIN handler; every
    /// call unblocks SIGRTMIN in the calling thread.
    qapi::Result<void> create_for_current_thread(kvm_run *run);

    bool targets_current_thread() const;

    qapi::Result<void> arm(std::chrono::nanoseconds timeout);
    void disarm();

private:
    void reset();

    std::optional<timer_t> m_timer;
    pid_t m_tid { 0 };
};

} // namespace accel::kvm::host
