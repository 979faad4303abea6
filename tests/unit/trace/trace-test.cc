/*
 * Trace points: generated functions, -trace patterns and the log line format,
 * against the events of tests/unit/trace/trace-events.
 */
#include "trace-tests_unit_trace.h"

#include "trace/control.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace {

using namespace std::chrono_literals;

// The enabled flags and the sink are process-wide, so every test starts with
// all events off and its own capturing sink, and puts the old sink back.
class Trace : public ::testing::Test {
protected:
    void SetUp() override
    {
        trace::enable_events("*", false);
        m_previous_sink = trace::set_sink(
            [this](std::string_view line) { lines.emplace_back(line); });
    }

    void TearDown() override
    {
        trace::set_sink(std::move(m_previous_sink));
        trace::enable_events("*", false);
    }

    std::vector<std::string> lines;

private:
    trace::Sink m_previous_sink;
};

// "TID@SECONDS.MICROSECONDS:" is checked on its own by LineStartsWith*; the
// other tests compare what follows it.
std::string without_stamp(const std::string &line)
{
    return line.substr(line.find(':') + 1);
}

// The emitted traceable events of trace-events, in file order.
std::vector<std::string_view> enabled_events()
{
    std::vector<std::string_view> names = trace::event_names();
    std::erase_if(names, [](std::string_view name) {
        return !trace::event_enabled(name);
    });
    return names;
}

TEST_F(Trace, EnabledEventIsFormattedWithItsFormat)
{
    trace::enable_events("ioapic_set_irq");

    trace_ioapic_set_irq(5, 1);

    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(without_stamp(lines[0]), "ioapic_set_irq vector 5 level 1\n");
}

TEST_F(Trace, PriMacrosFormatAsInttypesSays)
{
    trace::enable_events("ioapic_mem_write");

    trace_ioapic_mem_write(0x10, 0x01, 4, 0xfee00000'00000123);

    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(without_stamp(lines[0]),
              "ioapic_mem_write addr 0x10 regsel 0x01 size 4 "
              "val 0xfee0000000000123\n");
}

TEST_F(Trace, StringArgumentsAreWrittenAsGiven)
{
    trace::enable_events("kvm_seoib_policy");

    trace_kvm_seoib_policy("auto", "respected", 0xc);

    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(without_stamp(lines[0]),
              "kvm_seoib_policy seoib-policy auto, effective respected, "
              "x2APIC API flags 0xc\n");
}

TEST_F(Trace, EventWithoutArgumentsWritesItsNameAndASpace)
{
    trace::enable_events("vm_stopped");

    trace_vm_stopped();

    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(without_stamp(lines[0]), "vm_stopped \n");
}

TEST_F(Trace, LongArgumentIsWrittenWhole)
{
    // Longer than the formatting buffer on the stack.
    const std::string requested(1000, 'x');
    trace::enable_events("kvm_seoib_policy");

    trace_kvm_seoib_policy(requested.c_str(), "quirked", 0);

    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(without_stamp(lines[0]),
              "kvm_seoib_policy seoib-policy " + requested +
                  ", effective quirked, x2APIC API flags 0x0\n");
}

TEST_F(Trace, DisabledEventWritesNothing)
{
    trace::enable_events("ioapic_eoi_broadcast");

    trace_ioapic_set_irq(5, 1);

    EXPECT_TRUE(lines.empty());
}

TEST_F(Trace, EventDisabledAgainWritesNothing)
{
    trace::enable_events("ioapic_set_irq");
    trace::enable_events("ioapic_set_irq", false);

    trace_ioapic_set_irq(5, 1);

    EXPECT_TRUE(lines.empty());
}

TEST_F(Trace, CompiledOutEventIsNotEnabledByAnyPattern)
{
    trace::enable_events("*");

    trace_test_compiled_out(1);

    EXPECT_TRUE(lines.empty());
}

TEST_F(Trace, CompiledOutEventCountsAsNoMatch)
{
    EXPECT_EQ(trace::enable_events("test_compiled_out"), 0u);
}

TEST_F(Trace, GeneratedIdReportsTheEventState)
{
    trace::enable_events("ioapic_set_irq");

    EXPECT_TRUE(trace::event_enabled(TRACE_IOAPIC_SET_IRQ));
}

TEST_F(Trace, EventEnabledByNameFollowsEnableEvents)
{
    trace::enable_events("kvm_enable_cap");

    EXPECT_TRUE(trace::event_enabled("kvm_enable_cap"));
}

TEST_F(Trace, UnknownNameIsNotEnabled)
{
    trace::enable_events("*");

    EXPECT_FALSE(trace::event_enabled("no_such_event"));
}

TEST_F(Trace, EventNamesListEveryEventInFileOrder)
{
    const std::vector<std::string_view> expected {
        "ioapic_set_irq", "ioapic_eoi_broadcast", "ioapic_mem_write",
        "kvm_seoib_policy", "kvm_enable_cap", "vm_stopped",
        "test_compiled_out",
    };

    EXPECT_EQ(trace::event_names(), expected);
}

TEST_F(Trace, EventsKnowTheDirectoryOfTheirFile)
{
    EXPECT_EQ(trace::events()[0].directory, "tests/unit/trace");
}

TEST_F(Trace, LineStartsWithThreadIdAndWallClockTime)
{
    trace::enable_events("ioapic_set_irq");
    const auto before = std::chrono::floor<std::chrono::microseconds>(
        std::chrono::system_clock::now().time_since_epoch());

    trace_ioapic_set_irq(5, 1);

    const auto after = std::chrono::system_clock::now().time_since_epoch();
    ASSERT_EQ(lines.size(), 1u);
    std::smatch m;
    ASSERT_TRUE(std::regex_match(
        lines[0], m,
        std::regex(R"((\d+)@(\d+)\.(\d{6}):ioapic_set_irq vector 5 level 1\n)")))
        << lines[0];
    // GoogleTest runs tests on the main thread, whose id is the PID.
    EXPECT_EQ(std::stoll(m[1]), getpid());
    const auto stamp = std::chrono::seconds(std::stoll(m[2])) +
                       std::chrono::microseconds(std::stoll(m[3]));
    EXPECT_LE(before, stamp);
    EXPECT_LE(stamp, after);
}

TEST_F(Trace, EventsFromManyThreadsArriveAsWholeLines)
{
    // vCPU threads trace concurrently; the sink sees one line per call.
    constexpr int THREADS = 4;
    constexpr int EVENTS_PER_THREAD = 250;
    trace::enable_events("ioapic_set_irq");

    std::vector<std::jthread> threads;
    for (int t = 0; t < THREADS; t++) {
        threads.emplace_back([] {
            for (int i = 0; i < EVENTS_PER_THREAD; i++) {
                trace_ioapic_set_irq(7, 1);
            }
        });
    }
    threads.clear();

    ASSERT_EQ(lines.size(), size_t { THREADS * EVENTS_PER_THREAD });
    EXPECT_TRUE(std::all_of(lines.begin(), lines.end(), [](const auto &l) {
        return without_stamp(l) == "ioapic_set_irq vector 7 level 1\n";
    }));
}

TEST_F(Trace, SetSinkReturnsThePreviousSink)
{
    std::vector<std::string> other;
    trace::Sink capture = trace::set_sink(
        [&other](std::string_view line) { other.emplace_back(line); });
    trace::set_sink(std::move(capture));
    trace::enable_events("vm_stopped");

    trace_vm_stopped();

    EXPECT_EQ(lines.size(), 1u);
}

TEST_F(Trace, EmptySinkWritesToStderr)
{
    trace::Sink capture = trace::set_sink({});
    trace::enable_events("vm_stopped");
    testing::internal::CaptureStderr();

    trace_vm_stopped();

    std::string written = testing::internal::GetCapturedStderr();
    trace::set_sink(std::move(capture));
    EXPECT_EQ(without_stamp(written), "vm_stopped \n");
}

// -trace PATTERN over the table of trace-events.
struct PatternCase {
    std::string_view pattern;
    std::vector<std::string_view> enabled;
};

void PrintTo(const PatternCase &c, std::ostream *os)
{
    *os << '"' << c.pattern << '"';
}

class TracePattern : public Trace,
                     public ::testing::WithParamInterface<PatternCase> {};

TEST_P(TracePattern, ReturnsHowManyEventsMatched)
{
    EXPECT_EQ(trace::enable_events(GetParam().pattern),
              GetParam().enabled.size());
}

TEST_P(TracePattern, EnablesExactlyTheMatchingEvents)
{
    trace::enable_events(GetParam().pattern);

    EXPECT_EQ(enabled_events(), GetParam().enabled);
}

INSTANTIATE_TEST_SUITE_P(
    Patterns, TracePattern,
    ::testing::Values(
        PatternCase { "ioapic_*",
                      { "ioapic_set_irq", "ioapic_eoi_broadcast",
                        "ioapic_mem_write" } },
        // "seoib" has "eoi" in it.
        PatternCase { "*eoi*", { "ioapic_eoi_broadcast", "kvm_seoib_policy" } },
        PatternCase { "kvm_?nable_cap", { "kvm_enable_cap" } },
        PatternCase { "kvm_enable_cap", { "kvm_enable_cap" } },
        PatternCase { "?m_stopped", { "vm_stopped" } },
        PatternCase { "*",
                      { "ioapic_set_irq", "ioapic_eoi_broadcast",
                        "ioapic_mem_write", "kvm_seoib_policy",
                        "kvm_enable_cap", "vm_stopped" } },
        // A name must match whole, and case matters, as in QEMU.
        PatternCase { "kvm_enable", {} },
        PatternCase { "IOAPIC_*", {} },
        PatternCase { "no_such_event", {} },
        PatternCase { "test_compiled_*", {} }));

// The glob itself.
struct GlobCase {
    std::string_view pattern;
    std::string_view name;
    bool matches;
};

void PrintTo(const GlobCase &c, std::ostream *os)
{
    *os << '"' << c.pattern << "\" vs \"" << c.name << '"';
}

class TraceGlob : public ::testing::TestWithParam<GlobCase> {};

TEST_P(TraceGlob, MatchesAsShellGlobWithStarAndQuestionMark)
{
    EXPECT_EQ(trace::pattern_match(GetParam().pattern, GetParam().name),
              GetParam().matches);
}

INSTANTIATE_TEST_SUITE_P(
    Globs, TraceGlob,
    ::testing::Values(GlobCase { "", "", true },
                      GlobCase { "", "a", false },
                      GlobCase { "*", "", true },
                      GlobCase { "**", "abc", true },
                      GlobCase { "?", "", false },
                      GlobCase { "?", "a", true },
                      GlobCase { "a?c", "abbc", false },
                      GlobCase { "a*b", "ab", true },
                      GlobCase { "a*b", "abxb", true },
                      GlobCase { "a*b", "abxc", false },
                      GlobCase { "a*b*c", "axxbyyc", true },
                      GlobCase { "*_irq", "ioapic_set_irq", true },
                      GlobCase { "ioapic_set_ir", "ioapic_set_irq", false },
                      GlobCase { "ioapic_set_irq", "ioapic_set_ir", false },
                      GlobCase { "*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaa", false }));

TEST(TraceLogLine, IsThreadIdAtSecondsDotMicrosecondsColonNameArgs)
{
    const trace::LogStamp stamp { .thread_id = 719585,
                                  .since_epoch = 1608130130441188us };

    EXPECT_EQ(trace::format_log_line(stamp, "ioapic_set_irq", "vector 5 level 1"),
              "719585@1608130130.441188:ioapic_set_irq vector 5 level 1\n");
}

TEST(TraceLogLine, MicrosecondsArePaddedToSixDigits)
{
    const trace::LogStamp stamp { .thread_id = 7, .since_epoch = 5'000'005us };

    EXPECT_EQ(trace::format_log_line(stamp, "vm_stopped", ""),
              "7@5.000005:vm_stopped \n");
}

} // namespace
