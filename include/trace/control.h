/*
 * Trace points: run-time control and the log backend.
 *
 * Events are declared in QEMU's trace-events format, one file per directory
 * (hw/intc/trace-events, ...), and scripts/tracetool.py turns them into a
 * header per directory with one inline function per event:
 *
 *     #include "trace/trace-hw_intc.h"
 *     trace_ioapic_set_irq(pin, level);
 *
 * A disabled event costs one relaxed load and one predictable branch.  An
 * enabled one is formatted with its printf format and written, as QEMU's
 * "log" backend writes it, as one line to the sink (stderr by default):
 *
 *     TID@SECONDS.MICROSECONDS:name formatted-args
 *
 * Process-wide state: the table of enabled flags, and the sink it writes
 * to.  Trace points are called from code that has no context object at hand
 * (device models, vCPU threads, the kernel model), which is also why QEMU
 * keeps its event state global.  This is the one process-wide table in
 * seoib; everything else in this header is a pure function.  The flags are
 * atomics because vCPU threads trace while the monitor turns events on and
 * off.
 */
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace trace {

/// One event: its index in the generated event table.  Generated headers
/// define one per event as TRACE_<NAME>, e.g. TRACE_IOAPIC_SET_IRQ.
struct EventId {
    uint32_t index;
};

/// What the event table knows about one event.
struct EventInfo {
    /// The event name, as in its trace-events file ("ioapic_set_irq").
    std::string_view name;
    /// The directory of its trace-events file ("hw/intc").
    std::string_view directory;
    /// False for events with the "disable" property: they are compiled out
    /// and can never be enabled.
    bool traceable;
};

namespace detail {

/// One flag per event, indexed by EventId; defined by the generated table.
extern std::atomic<bool> event_state[];

/// The generated event table, in trace-events order.
std::span<const EventInfo> event_table();

/// Format one enabled event and write its line to the sink.  Called only by
/// the generated trace_<name>() functions.
[[gnu::cold, gnu::format(printf, 2, 3)]] void log_event(EventId id,
                                                       const char *format,
                                                       ...);

} // namespace detail

/// Every event in the program, in trace-events order, including the
/// compiled-out ones ("-trace help" lists them all).
std::span<const EventInfo> events();

/// The names of every event, in the order of events().
std::vector<std::string_view> event_names();

/// Whether an event is enabled: QEMU's trace_event_get_state_backends(),
/// for guarding work that only computes a trace argument.
inline bool event_enabled(EventId id)
{
    // Relaxed: the flag publishes no data, and a thread that sees a change a
    // little late only emits or misses an event around the switch.
    return detail::event_state[id.index].load(std::memory_order_relaxed);
}

/// Whether the event called `name` is enabled; false for an unknown name.
bool event_enabled(std::string_view name);

/// Whether `name` matches a -trace pattern: '*' matches any run of
/// characters (including none), '?' exactly one, anything else itself.
bool pattern_match(std::string_view pattern, std::string_view name);

/// Enable (or with on=false disable) every traceable event whose name matches
/// `pattern` (see pattern_match()), as QEMU's "-trace PATTERN" and the
/// monitor's "trace-event PATTERN on|off" do.  Returns how many events
/// matched; 0 means the pattern names nothing that can be traced.
size_t enable_events(std::string_view pattern, bool on = true);

/// Receives one complete trace line, ending in '\n'.
///
/// Called with the trace output lock held, so lines never interleave and a
/// sink need not be thread-safe; for the same reason a sink must not emit
/// trace events itself.
using Sink = std::function<void(std::string_view line)>;

/// Send trace lines to `sink` instead; an empty sink restores stderr.
/// Returns the previous sink (empty when it was stderr), so a caller can put
/// it back.  Waits for a line being written to the old sink.
Sink set_sink(Sink sink);

/// When and where a trace line was emitted.
struct LogStamp {
    /// The emitting thread's id (gettid(); the PID on the main thread).
    int64_t thread_id;
    /// Wall-clock time since the Unix epoch.
    std::chrono::microseconds since_epoch;
};

/// One line of QEMU's log backend: "TID@SECONDS.MICROSECONDS:name args\n",
/// the microseconds zero-padded to six digits.
std::string format_log_line(const LogStamp &stamp, std::string_view name,
                            std::string_view args);

} // namespace trace
