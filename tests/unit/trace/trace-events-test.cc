/*
 * The project's trace events: every trace-events file listed in
 * trace/meson.build generates a header that compiles next to the others, and
 * its events are in the one table.
 */
#include "trace/trace-accel_kvm.h"
#include "trace/trace-hw_i386.h"
#include "trace/trace-hw_intc.h"
#include "trace/trace-migration.h"
#include "trace/trace-monitor.h"
#include "trace/trace-system.h"

#include "trace/control.h"

#include <gtest/gtest.h>

#include <ranges>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace {

TEST(TraceEvents, EveryTraceEventsDirectoryHasEventsInTheTable)
{
    auto of_events = trace::events() |
                     std::views::transform(&trace::EventInfo::directory);
    const std::set<std::string_view> directories(of_events.begin(),
                                                 of_events.end());

    const std::set<std::string_view> expected {
        "accel/kvm", "hw/i386", "hw/intc", "migration", "monitor", "system",
    };
    EXPECT_EQ(directories, expected);
}

TEST(TraceEvents, ProjectEventsStartDisabled)
{
    EXPECT_FALSE(trace::event_enabled(TRACE_KVM_SEOIB_POLICY));
}

TEST(TraceEvents, PatternWithQuestionMarkFindsKvmEnableCap)
{
    const size_t matched = trace::enable_events("kvm_?nable_cap");
    trace::enable_events("*", false);

    EXPECT_EQ(matched, 1u);
}

TEST(TraceEvents, ProjectEventWritesItsLine)
{
    std::vector<std::string> lines;
    trace::Sink previous = trace::set_sink(
        [&lines](std::string_view line) { lines.emplace_back(line); });
    trace::enable_events("kvm_seoib_policy");

    trace_kvm_seoib_policy("auto", "respected", 0xc);

    trace::enable_events("*", false);
    trace::set_sink(std::move(previous));
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_TRUE(lines[0].ends_with(
        ":kvm_seoib_policy seoib-policy auto, effective respected, "
        "x2APIC API flags 0xc\n"))
        << lines[0];
}

} // namespace
