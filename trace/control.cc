/*
 * Trace points: run-time control and the log backend.
 */
#include "trace/control.h"

#include <fmt/core.h>

#include <array>
#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <utility>

#include <unistd.h>

namespace trace {

namespace {

// The sink and the lock that serialises lines.  A function-local static, so
// nothing runs at start-up and the first trace line builds it.
struct Output {
    std::mutex lock;
    Sink sink;
};

Output &output()
{
    static Output out;
    return out;
}

void write_line(std::string_view line)
{
    Output &out = output();
    std::lock_guard guard(out.lock);
    if (out.sink) {
        out.sink(line);
        return;
    }
    // One fwrite per line: stderr is unbuffered, so this is one write(2) and
    // lines from several threads (or processes) stay whole.
    std::fwrite(line.data(), 1, line.size(), stderr);
}

std::string vformat_printf(const char *format, va_list ap)
{
    // Most events fit the stack buffer; only longer ones format twice.
    std::array<char, 256> buffer;
    va_list again;
    va_copy(again, ap);
    int length = std::vsnprintf(buffer.data(), buffer.size(), format, ap);
    if (length < 0) {
        va_end(again);
        return {};
    }
    if (static_cast<size_t>(length) < buffer.size()) {
        va_end(again);
        return std::string(buffer.data(), static_cast<size_t>(length));
    }
    std::string text(static_cast<size_t>(length), '\0');
    std::vsnprintf(text.data(), text.size() + 1, format, again);
    va_end(again);
    return text;
}

LogStamp now()
{
    auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
    return LogStamp {
        .thread_id = gettid(),
        .since_epoch =
            std::chrono::duration_cast<std::chrono::microseconds>(since_epoch),
    };
}

} // namespace

namespace detail {

void log_event(EventId id, const char *format, ...)
{
    LogStamp stamp = now();
    va_list ap;
    va_start(ap, format);
    std::string args = vformat_printf(format, ap);
    va_end(ap);
    write_line(format_log_line(stamp, event_table()[id.index].name, args));
}

} // namespace detail

std::span<const EventInfo> events()
{
    return detail::event_table();
}

std::vector<std::string_view> event_names()
{
    std::vector<std::string_view> names;
    names.reserve(events().size());
    for (const EventInfo &event : events()) {
        names.push_back(event.name);
    }
    return names;
}

bool event_enabled(std::string_view name)
{
    std::span<const EventInfo> table = events();
    for (size_t i = 0; i < table.size(); i++) {
        if (table[i].name == name) {
            return event_enabled(EventId { static_cast<uint32_t>(i) });
        }
    }
    return false;
}

bool pattern_match(std::string_view pattern, std::string_view name)
{
    // Greedy matching with one backtrack point, the last '*': on a mismatch
    // that '*' absorbs one more character.  Linear in practice and never
    // recursive, whatever the pattern on the command line.
    size_t p = 0;
    size_t n = 0;
    size_t star = std::string_view::npos;
    size_t star_n = 0;
    while (n < name.size()) {
        if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            star_n = n;
        } else if (p < pattern.size() &&
                   (pattern[p] == '?' || pattern[p] == name[n])) {
            p++;
            n++;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            n = ++star_n;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') {
        p++;
    }
    return p == pattern.size();
}

size_t enable_events(std::string_view pattern, bool on)
{
    std::span<const EventInfo> table = events();
    size_t matched = 0;
    for (size_t i = 0; i < table.size(); i++) {
        // Compiled-out events do not count: "-trace" on one of them would
        // otherwise report success and then print nothing.
        if (!table[i].traceable || !pattern_match(pattern, table[i].name)) {
            continue;
        }
        detail::event_state[i].store(on, std::memory_order_relaxed);
        matched++;
    }
    return matched;
}

Sink set_sink(Sink sink)
{
    Output &out = output();
    std::lock_guard guard(out.lock);
    return std::exchange(out.sink, std::move(sink));
}

std::string format_log_line(const LogStamp &stamp, std::string_view name,
                            std::string_view args)
{
    using std::chrono::duration_cast;
    using std::chrono::seconds;
    auto whole_seconds = duration_cast<seconds>(stamp.since_epoch);
    auto microseconds = stamp.since_epoch - whole_seconds;
    return fmt::format("{}@{}.{:06}:{} {}\n", stamp.thread_id,
                       whole_seconds.count(), microseconds.count(), name,
                       args);
}

} // namespace trace
