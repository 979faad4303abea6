/*
 * A one-shot timer on the guest's virtual clock, seen from a device model.
 *
 * QEMU devices arm a QEMUTimer on QEMU_CLOCK_VIRTUAL and get a callback
 * through a void *opaque.  Here a device model is handed a TimerHost: the
 * owner of the model (a qdev device, a test) implements it on whatever clock
 * it runs, and when the deadline passes it calls the model's own typed
 * expiry method (e.g. IOAPICCore::timer_expired()).  There is no global
 * clock and no callback registration, so a test drives time by hand and
 * never sleeps.
 */
#pragma once

#include <cstdint>

namespace hw {

/// Nanoseconds per second, for deadlines written as fractions of a second
/// (QEMU's NANOSECONDS_PER_SECOND).
inline constexpr uint64_t NANOSECONDS_PER_SECOND = 1'000'000'000;

/// One one-shot timer on the virtual clock, owned by the device's host.
///
/// The clock is the guest's virtual time: it does not advance while the
/// guest is stopped, so deadlines survive a pause as QEMU_CLOCK_VIRTUAL ones
/// do.  The model that holds a TimerHost does not own it; the host outlives
/// the model.
///
/// Contract for implementations:
/// - arm() replaces any pending deadline (QEMU's timer_mod()); a deadline at
///   or before now_ns() fires at the host's next opportunity, never from
///   inside arm() itself;
/// - when the deadline passes, the host calls the model's expiry method once
///   and the timer is no longer pending;
/// - cancel() drops a pending deadline (timer_del()); cancelling an idle
///   timer does nothing.
class TimerHost {
public:
    virtual ~TimerHost() = default;

    /// The current virtual time in nanoseconds.  Monotonic.
    virtual uint64_t now_ns() const = 0;

    /// Fire once at deadline_ns, replacing any pending deadline.
    virtual void arm(uint64_t deadline_ns) = 0;

    /// Drop the pending deadline, if any.
    virtual void cancel() = 0;
};

} // namespace hw
