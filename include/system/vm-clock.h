/*
 * The VM clock: QEMU's QEMU_CLOCK_VIRTUAL under KVM, host time that
 * advances while the VM runs and stands still while it is stopped.  A
 * snapshot records it (qcow2's vm_clock_nsec, the "VM CLOCK" column of
 * `info snapshots` and `qemu-img snapshot -l`) and loading the snapshot
 * sets it back, as QEMU's "timer" section does.
 */
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace sysemu {

class VmClock {
public:
    using Clock = std::chrono::steady_clock;

    /// The VM starts running: the clock advances from `now`.
    void resume(Clock::time_point now = Clock::now())
    {
        if (!m_since) {
            m_since = now;
        }
    }
    /// The VM stops: the clock stands at what it read at `now`.
    void pause(Clock::time_point now = Clock::now())
    {
        m_base_ns = ns(now);
        m_since.reset();
    }
    /// Nanoseconds the VM has run.
    uint64_t ns(Clock::time_point now = Clock::now()) const
    {
        if (!m_since || now < *m_since) {
            return m_base_ns;
        }
        const auto ran = std::chrono::duration_cast<std::chrono::nanoseconds>(now - *m_since);
        return m_base_ns + static_cast<uint64_t>(ran.count());
    }
    /// The clock reads `value` at `now` (a loaded snapshot's clock).
    void set_ns(uint64_t value, Clock::time_point now = Clock::now())
    {
        m_base_ns = value;
        if (m_since) {
            m_since = now;
        }
    }
    bool running() const { return m_since.has_value(); }

private:
    uint64_t m_base_ns { 0 };
    std::optional<Clock::time_point> m_since;
};

} // namespace sysemu
