/*
 * The built-in guest and its test device, on the kernel model.
 *
 * SeoibTestdev: the device's register window, line and counters, driven
 * directly.  GuestRun: run_builtin_guest() on machines built through
 * seoib-vm's command line with -accel kvm,kernel=model: which device it
 * uses, what it refuses, how the run is bounded, and the per-event counts
 * of the two policies that matter (the full table over host and model is
 * tests/kvm/guest-storm-test.cc).
 */
#include "hw/misc/seoib-testdev.h"
#include "qom/context.h"
#include "system/builtin-types.h"
#include "system/guest-report.h"
#include "system/guest-run.h"
#include "system/vl.h"
#include "system/vm.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

using hw::misc::SeoibTestdevCounters;
using hw::misc::SeoibTestdevState;
using sysemu::GuestRunOptions;
using sysemu::GuestRunReport;

/// The built-in types, with seoib-testdev registered where
/// system/builtin-types.cc does not register hw/misc yet.
std::shared_ptr<const qom::TypeRegistry> guest_types()
{
    std::shared_ptr<const qom::TypeRegistry> builtin =
        sysemu::builtin_type_registry();
    if (builtin->find_class(hw::misc::TYPE_SEOIB_TESTDEV) != nullptr) {
        return builtin;
    }
    auto registry = std::make_shared<qom::TypeRegistry>();
    sysemu::register_builtin_types(*registry);
    hw::misc::hw_misc_register_types(*registry);
    MUST(registry->finalize());
    return registry;
}

// ---- the device -----------------------------------------------------------

class SeoibTestdev : public ::testing::Test {
protected:
    void SetUp() override
    {
        auto dev = m_ctx.new_object<SeoibTestdevState>();
        ASSERT_TRUE(dev.has_value()) << dev.error().message();
        m_dev = dev.release_value();
        m_dev->connect_irq([this](bool level) { m_levels.push_back(level); });
    }

    SeoibTestdevState &dev() { return *m_dev; }
    const std::vector<bool> &levels() const { return m_levels; }

private:
    qom::Context m_ctx { guest_types() };
    qom::Ref<SeoibTestdevState> m_dev;
    std::vector<bool> m_levels;
};

TEST_F(SeoibTestdev, DefaultsToPin10AndPort0x2000)
{
    EXPECT_EQ(dev().pin(), 10U);
    EXPECT_EQ(dev().iobase(), 0x2000);
}

TEST_F(SeoibTestdev, IoWindowIsSixteenPortsAtIobase)
{
    EXPECT_FALSE(dev().io_contains(0x1fff));
    EXPECT_TRUE(dev().io_contains(0x2000));
    EXPECT_TRUE(dev().io_contains(0x200f));
    EXPECT_FALSE(dev().io_contains(0x2010));
}

TEST_F(SeoibTestdev, RaiseAssertsTheLineAndCountsAnEvent)
{
    dev().io_write(hw::misc::SEOIB_TESTDEV_RAISE, 0, 1);

    EXPECT_TRUE(dev().irq_level());
    EXPECT_EQ(levels(), std::vector<bool> { true });
    EXPECT_EQ(dev().counters().events, 1U);
}

TEST_F(SeoibTestdev, RaiseWhileAssertedIsNoNewEdge)
{
    dev().io_write(hw::misc::SEOIB_TESTDEV_RAISE, 0, 1);
    dev().io_write(hw::misc::SEOIB_TESTDEV_RAISE, 0, 1);

    EXPECT_EQ(levels(), std::vector<bool> { true });
    EXPECT_EQ(dev().counters().events, 2U);
}

TEST_F(SeoibTestdev, ServiceDeassertsTheLineAndCountsAService)
{
    dev().io_write(hw::misc::SEOIB_TESTDEV_RAISE, 0, 1);
    dev().io_write(hw::misc::SEOIB_TESTDEV_SERVICE, 0, 1);

    EXPECT_FALSE(dev().irq_level());
    EXPECT_EQ(levels(), (std::vector<bool> { true, false }));
    EXPECT_EQ(dev().counters().services, 1U);
}

TEST_F(SeoibTestdev, LowerDeassertsTheLineWithoutAService)
{
    dev().io_write(hw::misc::SEOIB_TESTDEV_RAISE, 0, 1);
    dev().io_write(hw::misc::SEOIB_TESTDEV_LOWER, 0, 1);

    EXPECT_FALSE(dev().irq_level());
    EXPECT_EQ(dev().counters().services, 0U);
}

TEST_F(SeoibTestdev, StatusReadsTheLineLevel)
{
    dev().io_write(hw::misc::SEOIB_TESTDEV_RAISE, 0, 1);

    EXPECT_EQ(dev().io_read(hw::misc::SEOIB_TESTDEV_STATUS, 1), 1U);
}

struct ReportCase {
    const char *name;
    uint16_t offset;
    uint64_t SeoibTestdevCounters::*counter;
};

class SeoibTestdevReport : public SeoibTestdev,
                           public ::testing::WithParamInterface<ReportCase> {
};

TEST_P(SeoibTestdevReport, WriteCountsOneStep)
{
    dev().io_write(GetParam().offset, 0x40, 1);

    EXPECT_EQ(dev().counters().*GetParam().counter, 1U);
}

INSTANTIATE_TEST_SUITE_P(
    Registers, SeoibTestdevReport,
    ::testing::Values(
        ReportCase { "Handler", hw::misc::SEOIB_TESTDEV_HANDLER,
                     &SeoibTestdevCounters::handler_entries },
        ReportCase { "LapicEoi", hw::misc::SEOIB_TESTDEV_LAPIC_EOI,
                     &SeoibTestdevCounters::lapic_eois },
        ReportCase { "IoapicEoi", hw::misc::SEOIB_TESTDEV_IOAPIC_EOI,
                     &SeoibTestdevCounters::ioapic_eois },
        ReportCase { "EventDone", hw::misc::SEOIB_TESTDEV_EVENT_DONE,
                     &SeoibTestdevCounters::events_done }),
    [](const auto &info) { return std::string(info.param.name); });

TEST_F(SeoibTestdev, FinishedIsRemembered)
{
    dev().io_write(hw::misc::SEOIB_TESTDEV_FINISHED, 3, 2);

    EXPECT_TRUE(dev().counters().finished);
}

TEST_F(SeoibTestdev, LvrAndSvrReportsKeepTheValues)
{
    dev().io_write(hw::misc::SEOIB_TESTDEV_LVR, 0x01050014, 4);
    dev().io_write(hw::misc::SEOIB_TESTDEV_SVR, 0x11ff, 4);

    EXPECT_EQ(dev().counters().lvr, 0x01050014U);
    EXPECT_EQ(dev().counters().svr, 0x11ffU);
}

TEST_F(SeoibTestdev, ReportIsTruncatedToTheAccessSize)
{
    dev().io_write(hw::misc::SEOIB_TESTDEV_SVR, 0x11ff, 1);

    EXPECT_EQ(dev().counters().svr, 0xffU);
}

TEST_F(SeoibTestdev, WriteInsideAReportRegisterIsAGuestError)
{
    dev().io_write(hw::misc::SEOIB_TESTDEV_LVR + 1, 0x1234, 1);

    EXPECT_EQ(dev().guest_errors().count(), 1U);
    EXPECT_EQ(dev().counters(), SeoibTestdevCounters {});
}

TEST_F(SeoibTestdev, OddAccessSizeIsAGuestError)
{
    dev().io_write(hw::misc::SEOIB_TESTDEV_RAISE, 0, 3);

    EXPECT_EQ(dev().guest_errors().count(), 1U);
    EXPECT_FALSE(dev().irq_level());
}

TEST_F(SeoibTestdev, AccessBeyondTheWindowIsAGuestError)
{
    EXPECT_EQ(dev().io_read(hw::misc::SEOIB_TESTDEV_IO_SIZE, 4), 0U);

    EXPECT_EQ(dev().guest_errors().count(), 1U);
}

TEST_F(SeoibTestdev, ResetDeassertsTheLineAndClearsTheCounters)
{
    dev().io_write(hw::misc::SEOIB_TESTDEV_RAISE, 0, 1);

    dev().reset();

    EXPECT_EQ(levels(), (std::vector<bool> { true, false }));
    EXPECT_EQ(dev().counters(), SeoibTestdevCounters {});
}

TEST_F(SeoibTestdev, RealizeRefusesAPinTheIoapicDoesNotHave)
{
    ASSERT_TRUE(
        qom::property_set(dev(), hw::misc::SEOIB_TESTDEV_PROP_PIN, 24U)
            .has_value());

    auto realized = dev().realize();

    ASSERT_FALSE(realized.has_value());
    EXPECT_EQ(realized.error().message(),
              "pin 24 is not an IOAPIC input (0-23)");
}

// ---- the run ----------------------------------------------------------------

/// A machine on the kernel model, built as seoib-vm builds it.
std::unique_ptr<sysemu::Vm> build_model_vm(std::vector<std::string> extra,
                                           std::string accel_options)
{
    std::vector<std::string> args { "-machine", "q35", "-accel",
                                    "kvm,kernel=model," + accel_options };
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<std::string_view> views(args.begin(), args.end());
    auto cl = sysemu::parse_command_line(views);
    EXPECT_TRUE(cl.has_value()) << cl.error().message();
    if (!cl) {
        return nullptr;
    }
    auto vm = sysemu::build_vm(cl.value(), guest_types());
    EXPECT_TRUE(vm.has_value()) << vm.error().message();
    return vm ? vm.release_value() : nullptr;
}

constexpr std::string_view SPLIT_RESPECTED =
    "kernel-irqchip=split,seoib-policy=respected";
constexpr std::string_view SPLIT_QUIRKED =
    "kernel-irqchip=split,seoib-policy=quirked";

GuestRunOptions events(unsigned n)
{
    GuestRunOptions opts;
    opts.events = n;
    return opts;
}

TEST(GuestRun, RespectedSuppressionTakesOneInterruptPerEvent)
{
    auto vm = build_model_vm({}, std::string(SPLIT_RESPECTED));
    ASSERT_NE(vm, nullptr);

    auto report = sysemu::run_builtin_guest(*vm, events(4));

    ASSERT_TRUE(report.has_value()) << report.error().message();
    EXPECT_EQ(report.value().events.front(),
              (sysemu::GuestEventCounts { .handler_entries = 1,
                                          .lapic_eois = 1,
                                          .services = 1,
                                          .ioapic_eois = 1,
                                          .eoi_exits = 0,
                                          .reinjections = 0,
                                          .exits = 7 }));
    EXPECT_FALSE(report.value().storm);
}

TEST(GuestRun, QuirkedSuppressionStorms)
{
    auto vm = build_model_vm({}, std::string(SPLIT_QUIRKED));
    ASSERT_NE(vm, nullptr);

    auto report = sysemu::run_builtin_guest(*vm, events(4));

    ASSERT_TRUE(report.has_value()) << report.error().message();
    EXPECT_EQ(report.value().events.front().reinjections, 1U);
    EXPECT_TRUE(report.value().storm);
}

TEST(GuestRun, ReportsEveryEventAskedFor)
{
    auto vm = build_model_vm({}, std::string(SPLIT_RESPECTED));
    ASSERT_NE(vm, nullptr);

    auto report = sysemu::run_builtin_guest(*vm, events(5));

    ASSERT_TRUE(report.has_value()) << report.error().message();
    EXPECT_EQ(report.value().events.size(), 5U);
}

TEST(GuestRun, ZeroEventsOnlyRunTheSetup)
{
    auto vm = build_model_vm({}, std::string(SPLIT_RESPECTED));
    ASSERT_NE(vm, nullptr);

    auto report = sysemu::run_builtin_guest(*vm, events(0));

    ASSERT_TRUE(report.has_value()) << report.error().message();
    EXPECT_TRUE(report.value().events.empty());
    EXPECT_EQ(report.value().lvr, 0x01050014U);
}

TEST(GuestRun, SetupIsTheSvrReportsAndTheRedirectionEntry)
{
    auto vm = build_model_vm({}, std::string(SPLIT_RESPECTED));
    ASSERT_NE(vm, nullptr);

    auto report = sysemu::run_builtin_guest(*vm, events(1));

    // LVR and SVR reports, then IOREGSEL/IOWIN twice (high, low dword).
    ASSERT_TRUE(report.has_value()) << report.error().message();
    EXPECT_EQ(report.value().setup_exits, 6U);
}

TEST(GuestRun, DrivesTheUsersDevice)
{
    auto vm = build_model_vm({ "-device", "seoib-testdev,pin=5" },
                             std::string(SPLIT_RESPECTED));
    ASSERT_NE(vm, nullptr);

    auto report = sysemu::run_builtin_guest(*vm, events(2));

    ASSERT_TRUE(report.has_value()) << report.error().message();
    EXPECT_EQ(report.value().pin, 5U);
    EXPECT_EQ(report.value().device_path,
              "/machine/peripheral-anon/device[0]");
}

TEST(GuestRun, CreatesADeviceWhenTheMachineHasNone)
{
    auto vm = build_model_vm({}, std::string(SPLIT_RESPECTED));
    ASSERT_NE(vm, nullptr);

    auto report = sysemu::run_builtin_guest(*vm, events(1));

    ASSERT_TRUE(report.has_value()) << report.error().message();
    // device[0] is the CPU, created first as in QEMU.
    EXPECT_EQ(report.value().device_path, "/machine/unattached/device[1]");
}

TEST(GuestRun, RefusesTwoDevices)
{
    auto vm = build_model_vm({ "-device", "seoib-testdev,pin=5", "-device",
                               "seoib-testdev,pin=6,iobase=0x2010" },
                             std::string(SPLIT_RESPECTED));
    ASSERT_NE(vm, nullptr);

    auto report = sysemu::run_builtin_guest(*vm, events(1));

    ASSERT_FALSE(report.has_value());
    EXPECT_EQ(report.error().message(),
              "the built-in guest drives one seoib-testdev device; the "
              "machine has 2");
}

TEST(GuestRun, RefusesAnExceptionVector)
{
    auto vm = build_model_vm({}, std::string(SPLIT_RESPECTED));
    ASSERT_NE(vm, nullptr);
    GuestRunOptions opts = events(1);
    opts.vector = 0x1f;

    auto report = sysemu::run_builtin_guest(*vm, opts);

    ASSERT_FALSE(report.has_value());
    EXPECT_EQ(report.error().message(),
              "vector 0x1f is an exception vector; use 0x20-0xff");
}

TEST(GuestRun, InKernelIoapicReinjectsAndIsInferred)
{
    auto vm = build_model_vm({}, "kernel-irqchip=on");
    ASSERT_NE(vm, nullptr);
    GuestRunOptions opts = events(3);
    opts.eoi_mode = sysemu::GuestEoiMode::ForceDirected;

    auto report = sysemu::run_builtin_guest(*vm, opts);

    // No LVR bit 24 with the in-kernel IOAPIC, so the forced SVR bit 12 is
    // dropped and the kernel's IOAPIC re-delivers at the LAPIC EOI, without
    // an exit.
    ASSERT_TRUE(report.has_value()) << report.error().message();
    EXPECT_TRUE(report.value().reinjections_inferred);
    EXPECT_EQ(report.value().totals().handler_entries, 6U);
    EXPECT_EQ(report.value().totals().eoi_exits, 0U);
    EXPECT_EQ(report.value().totals().reinjections, 3U);
}

TEST(GuestRun, GuestWithoutDirectedEoiServicesTheDeviceFirst)
{
    auto vm = build_model_vm({ "-global", "ioapic.version=0x11" },
                             "kernel-irqchip=split");
    ASSERT_NE(vm, nullptr);

    auto report = sysemu::run_builtin_guest(*vm, events(4));

    // seoib-policy=auto with a 0x11 IOAPIC: LVR bit 24 clear, so the guest
    // leaves SVR bit 12 alone and its one broadcast EOI finds the line low.
    ASSERT_TRUE(report.has_value()) << report.error().message();
    EXPECT_FALSE(report.value().directed_eoi);
    EXPECT_EQ(report.value().svr_written, 0x1ffU);
    EXPECT_EQ(report.value().events.front(),
              (sysemu::GuestEventCounts { .handler_entries = 1,
                                          .lapic_eois = 1,
                                          .services = 1,
                                          .ioapic_eois = 0,
                                          .eoi_exits = 1,
                                          .reinjections = 0,
                                          .exits = 6 }));
    EXPECT_FALSE(report.value().storm);
}

TEST(GuestRun, ForcedDirectedEoiWithoutSeoibStorms)
{
    auto vm = build_model_vm({ "-global", "ioapic.version=0x11" },
                             "kernel-irqchip=split");
    ASSERT_NE(vm, nullptr);
    GuestRunOptions opts = events(4);
    opts.eoi_mode = sysemu::GuestEoiMode::ForceDirected;

    auto report = sysemu::run_builtin_guest(*vm, opts);

    ASSERT_TRUE(report.has_value()) << report.error().message();
    EXPECT_TRUE(report.value().directed_eoi);
    EXPECT_EQ(report.value().svr, 0x1ffU);
    EXPECT_TRUE(report.value().storm);
}

TEST(GuestRun, RunsAgainOnTheSameVm)
{
    auto vm = build_model_vm({}, std::string(SPLIT_QUIRKED));
    ASSERT_NE(vm, nullptr);
    auto first = sysemu::run_builtin_guest(*vm, events(3));
    ASSERT_TRUE(first.has_value()) << first.error().message();

    auto second = sysemu::run_builtin_guest(*vm, events(3));

    ASSERT_TRUE(second.has_value()) << second.error().message();
    EXPECT_EQ(second.value().events, first.value().events);
}

TEST(GuestRun, ExitBudgetBoundsTheRun)
{
    auto vm = build_model_vm({}, std::string(SPLIT_QUIRKED));
    ASSERT_NE(vm, nullptr);
    GuestRunOptions opts = events(4);
    opts.max_setup_exits = 6;
    opts.max_exits_per_event = 2;

    auto report = sysemu::run_builtin_guest(*vm, opts);

    ASSERT_FALSE(report.has_value());
    EXPECT_EQ(report.error().message(),
              "the built-in guest did not finish within 14 exits (0 of 4 "
              "events done)");
}

TEST(GuestRun, PrintsOneLineForEventsThatCountTheSame)
{
    auto vm = build_model_vm({}, std::string(SPLIT_RESPECTED));
    ASSERT_NE(vm, nullptr);
    auto report = sysemu::run_builtin_guest(*vm, events(2));
    ASSERT_TRUE(report.has_value()) << report.error().message();
    char *text = nullptr;
    size_t size = 0;
    std::FILE *out = open_memstream(&text, &size);
    ASSERT_NE(out, nullptr);

    sysemu::print_guest_run_report(out, report.value());

    std::fclose(out);
    std::string printed(text, size);
    std::free(text);
    EXPECT_NE(printed.find("guest: 2 events, each: handler entries 1, LAPIC "
                           "EOIs 1, services 1, IOAPIC EOIs 1, EOI exits 0, "
                           "re-injections 0, exits 7\n"),
              std::string::npos)
        << printed;
}

} // namespace
