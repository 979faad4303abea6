#include "system/error-report.h"

#include "system/vl.h"

#include <fmt/format.h>

#include <cstdio>
#include <ctime>

namespace sysemu {

namespace {

MessageOptions g_options;

/// QEMU's real_time_iso8601(): UTC with microseconds.
std::string utc_now_iso8601()
{
    timespec ts {};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    std::tm tm {};
    ::gmtime_r(&ts.tv_sec, &tm);
    char date[32];
    std::strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    return fmt::format("{}.{:06}Z", date, ts.tv_nsec / 1000);
}

} // namespace

void set_message_options(MessageOptions options)
{
    g_options = std::move(options);
}

void error_report(std::string_view text)
{
    std::string line;
    if (g_options.timestamp) {
        line += utc_now_iso8601() + " ";
    }
    if (g_options.guest_name) {
        line += *g_options.guest_name + " ";
    }
    line += fmt::format("{}: {}\n", PROGRAM_NAME, text);
    // One write, so lines from the main loop and a vCPU never interleave.
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

} // namespace sysemu
