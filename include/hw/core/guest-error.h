/*
 * Guest errors: a guest did something the hardware does not define.
 *
 * This is QEMU's qemu_log_mask(LOG_GUEST_ERROR, ...): the device logs what
 * happened and carries on.  A guest error is never fatal and never reaches an
 * assert, because a guest must not be able to stop the VMM by poking a
 * register.  A guest can also poke a register millions of times a second, so
 * output is rate-limited the way the kernel's printk_ratelimit() is: a burst
 * of messages per interval, then a count of what was suppressed when the
 * next interval opens.
 */
#pragma once

#include <fmt/core.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace hw {

/// How many messages a GuestErrorLog lets through, and how often.
struct GuestErrorRateLimit {
    /// Length of one window, in the clock's nanoseconds.
    uint64_t interval_ns { 5'000'000'000 };
    /// Messages written per window; the rest are counted.
    uint32_t burst { 10 };
};

/// A rate-limited log of guest errors, written to a sink the owner supplies.
///
/// Every call to log() is counted; at most `burst` messages per window reach
/// the sink.  When a window opens after messages were suppressed, the sink
/// first receives one line saying how many.  Without a clock there is a
/// single window that never closes: the first `burst` messages are written
/// and the rest are only counted.
///
/// Not thread-safe: a device model logs from the context that runs it.
class GuestErrorLog {
public:
    /// Receives one formatted message, without a trailing newline.
    using Sink = std::function<void(std::string_view)>;
    /// Returns the current time in nanoseconds; any monotonic clock will do.
    using Clock = std::function<uint64_t()>;

    explicit GuestErrorLog(Sink sink, Clock clock = {},
                           GuestErrorRateLimit limit = {})
        : m_sink(std::move(sink))
        , m_clock(std::move(clock))
        , m_limit(limit)
    {
    }

    GuestErrorLog(const GuestErrorLog &) = delete;
    GuestErrorLog &operator=(const GuestErrorLog &) = delete;

    /// Log one guest error.  The message is formatted only if it is written.
    template <typename... Args>
    void log(fmt::format_string<Args...> format, Args &&...args)
    {
        if (admit()) {
            emit(fmt::format(format, std::forward<Args>(args)...));
        }
    }

    /// Guest errors logged so far, written or not.
    uint64_t count() const { return m_count; }

    /// Guest errors logged so far that did not reach the sink.
    uint64_t suppressed() const { return m_suppressed; }

private:
    bool admit()
    {
        ++m_count;
        uint64_t now = m_clock ? m_clock() : 0;
        if (!m_window_open || now - m_window_start >= m_limit.interval_ns) {
            if (m_suppressed_in_window != 0) {
                emit(fmt::format("{} guest errors suppressed",
                                 m_suppressed_in_window));
            }
            m_window_open = true;
            m_window_start = now;
            m_written_in_window = 0;
            m_suppressed_in_window = 0;
        }
        if (m_written_in_window < m_limit.burst) {
            ++m_written_in_window;
            return true;
        }
        ++m_suppressed_in_window;
        ++m_suppressed;
        return false;
    }

    void emit(const std::string &message)
    {
        if (m_sink) {
            m_sink(message);
        }
    }

    Sink m_sink;
    Clock m_clock;
    GuestErrorRateLimit m_limit;
    bool m_window_open { false };
    uint64_t m_window_start { 0 };
    uint32_t m_written_in_window { 0 };
    uint64_t m_suppressed_in_window { 0 };
    uint64_t m_count { 0 };
    uint64_t m_suppressed { 0 };
};

} // namespace hw
