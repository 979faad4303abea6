/*
 * The built-in guest on both backends: kvm-facts §8's per-event table.
 *
 * A one-vCPU q35 machine with kernel-irqchip=split, the userspace IOAPIC
 * (version 0x20 or 0x11) and seoib-testdev on pin 10, built through
 * seoib-vm's command line.  The storm payload behaves as a real guest: it
 * uses directed EOI (SVR bit 12, LAPIC EOI, service the device, IOAPIC EOI
 * when bit 12 stuck) only where LVR bit 24 advertises it, and otherwise
 * services the device before its LAPIC EOI; or it forces directed EOI, for
 * KVM's SVR masking.  For each SEOIB policy, IOAPIC version and EOI mode the
 * test checks what the guest reads (LVR, SVR) and, per device event, how
 * often its handler ran, how many LAPIC EOIs exited to the IOAPIC and how
 * often the still-asserted line was re-injected.  A real guest storms
 * exactly where the policy is quirked.  Counts only, never time.
 *
 * The host cases need /dev/kvm and skip with the reason without it.
 */
#include "accel/kvm/kvm-backend.h"
#include "hw/misc/seoib-testdev.h"
#include "system/builtin-types.h"
#include "system/guest-run.h"
#include "system/vl.h"
#include "system/vm.h"

#include <gtest/gtest.h>

#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace {

using sysemu::GuestEventCounts;
using sysemu::GuestRunOptions;
using sysemu::GuestRunReport;

// Enough events that a count which holds for every one of them is not a
// coincidence of the first.
constexpr unsigned EVENTS = 8;

// kvm_apic_set_version(): version 0x14, six LVT entries, bit 24 when
// Suppress EOI Broadcast is advertised (kvm-facts §2.1).
constexpr uint32_t LVR_WITH_SEOIB = 0x01050014;
constexpr uint32_t LVR_WITHOUT_SEOIB = 0x00050014;
// What the payload writes: APIC enabled, spurious vector 0xff, bit 12.
constexpr uint32_t SVR_PLAIN = 0x1ff;
constexpr uint32_t SVR_SEOIB = 0x11ff;

using sysemu::GuestEoiMode;

struct StormCase {
    const char *name;
    const char *policy;
    const char *ioapic_version;
    GuestEoiMode mode;
    uint32_t lvr;
    uint32_t svr_read_back;
    // Per device event.
    unsigned handler_entries;
    unsigned eoi_exits;
    unsigned reinjections;
    unsigned ioapic_eois;
};

constexpr GuestEoiMode REAL = GuestEoiMode::AsAdvertised;
constexpr GuestEoiMode FORCED = GuestEoiMode::ForceDirected;

// kvm-facts §8: only a respected request for suppression (ENABLE + SVR
// bit 12) keeps the LAPIC EOI of a directed-EOI guest from clearing remote
// IRR while the device still asserts its line.  A guest without directed EOI
// services the device first, so its broadcast EOI (one exit) finds the line
// low.  A guest whose SVR bit 12 stuck writes the IOAPIC EOI register in
// every handler run (a no-op on version 0x11, which has none: the quirked
// broadcast is what ends the event there).  seoib-policy=auto is respected
// with 0x20 and not-advertised with 0x11; respected refuses 0x11.
const StormCase STORM_CASES[] = {
    // name, policy, IOAPIC version, EOI mode, LVR, SVR read back,
    // handler entries, EOI exits, re-injections, IOAPIC EOIs
    { "AutoV20", "auto", "0x20", REAL, LVR_WITH_SEOIB, SVR_SEOIB, 1, 0, 0,
      1 },
    { "AutoV11", "auto", "0x11", REAL, LVR_WITHOUT_SEOIB, SVR_PLAIN, 1, 1,
      0, 0 },
    { "QuirkedV20", "quirked", "0x20", REAL, LVR_WITH_SEOIB, SVR_SEOIB, 2, 2,
      1, 2 },
    { "QuirkedV11", "quirked", "0x11", REAL, LVR_WITH_SEOIB, SVR_SEOIB, 2, 2,
      1, 2 },
    { "RespectedV20", "respected", "0x20", REAL, LVR_WITH_SEOIB, SVR_SEOIB, 1,
      0, 0, 1 },
    { "NotAdvertisedV20", "not-advertised", "0x20", REAL, LVR_WITHOUT_SEOIB,
      SVR_PLAIN, 1, 1, 0, 0 },
    { "NotAdvertisedV11", "not-advertised", "0x11", REAL, LVR_WITHOUT_SEOIB,
      SVR_PLAIN, 1, 1, 0, 0 },
    // Directed EOI forced where the LVR does not advertise it: SVR bit 12
    // is dropped, the LAPIC EOI still goes first and is broadcast.
    { "QuirkedForced", "quirked", "0x20", FORCED, LVR_WITH_SEOIB, SVR_SEOIB,
      2, 2, 1, 2 },
    { "RespectedForced", "respected", "0x20", FORCED, LVR_WITH_SEOIB,
      SVR_SEOIB, 1, 0, 0, 1 },
    { "NotAdvertisedForced", "not-advertised", "0x20", FORCED,
      LVR_WITHOUT_SEOIB, SVR_PLAIN, 2, 2, 1, 0 },
};

void PrintTo(const StormCase &c, std::ostream *os)
{
    *os << c.name;
}

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

qapi::Result<std::unique_ptr<sysemu::Vm>>
build_storm_vm(std::string_view kernel, std::string_view irqchip,
               std::string_view policy, std::string_view ioapic_version)
{
    std::string accel = "kvm,kernel=" + std::string(kernel) +
                        ",kernel-irqchip=" + std::string(irqchip) +
                        ",seoib-policy=" + std::string(policy);
    const std::string version_global =
        "ioapic.version=" + std::string(ioapic_version);
    std::vector<std::string_view> args {
        "-machine", "q35", "-accel", accel, "-device",
        "seoib-testdev,pin=10", "-display", "none",
    };
    // The in-kernel IOAPIC (kernel-irqchip=on) has no version to choose.
    if (!ioapic_version.empty()) {
        args.insert(args.end(), { "-global", version_global });
    }
    sysemu::CommandLine cl = TRY(sysemu::parse_command_line(args));
    return sysemu::build_vm(cl, guest_types());
}

/// The host cases need /dev/kvm; the model always runs.
std::string skip_reason(std::string_view kernel)
{
    if (kernel != "host") {
        return {};
    }
    auto host = accel::kvm::open_host_system();
    return host ? std::string()
                : "no usable /dev/kvm: " + host.error().message();
}

class GuestStorm
    : public ::testing::TestWithParam<std::tuple<std::string_view, StormCase>> {
protected:
    void SetUp() override
    {
        std::string reason = skip_reason(kernel());
        if (!reason.empty()) {
            GTEST_SKIP() << reason;
        }
    }

    std::string_view kernel() const { return std::get<0>(GetParam()); }
    const StormCase &row() const { return std::get<1>(GetParam()); }

    /// This host's KVM completes an EOI at delivery (kvm-facts, host
    /// particularities): a guest that services the device first may then
    /// be delivered the line once more in an event, seen as an early EOI,
    /// each costing one more handler entry, service and EOI exit.  Stock
    /// KVM and the model have none.
    static unsigned early(const GuestRunReport &report)
    {
        return report.totals().early_eoi_reinjections;
    }

    GuestRunReport run_guest()
    {
        auto vm = build_storm_vm(kernel(), "split", row().policy,
                                 row().ioapic_version);
        EXPECT_TRUE(vm.has_value()) << vm.error().message();
        if (!vm) {
            return {};
        }
        GuestRunOptions opts;
        opts.events = EVENTS;
        opts.eoi_mode = row().mode;
        auto report = sysemu::run_builtin_guest(*vm.value(), opts);
        EXPECT_TRUE(report.has_value()) << report.error().message();
        return report ? report.release_value() : GuestRunReport {};
    }
};

TEST_P(GuestStorm, GuestSeesLvrAndSvrOfThePolicy)
{
    GuestRunReport report = run_guest();

    EXPECT_EQ(report.lvr, row().lvr);
    EXPECT_EQ(report.svr, row().svr_read_back);
}

TEST_P(GuestStorm, EveryEventCountsTheSame)
{
    GuestRunReport report = run_guest();

    EXPECT_EQ(report.events.size(), EVENTS);
    EXPECT_TRUE(report.uniform());
}

TEST_P(GuestStorm, HandlerEntriesPerEventMatchTheTable)
{
    GuestRunReport report = run_guest();

    EXPECT_EQ(report.totals().handler_entries,
              EVENTS * row().handler_entries + early(report));
}

TEST_P(GuestStorm, EoiExitsPerEventMatchTheTable)
{
    GuestRunReport report = run_guest();

    EXPECT_EQ(report.totals().eoi_exits,
              EVENTS * row().eoi_exits + early(report));
}

TEST_P(GuestStorm, ReinjectionsPerEventMatchTheTable)
{
    GuestRunReport report = run_guest();

    EXPECT_EQ(report.totals().reinjections,
              EVENTS * row().reinjections + early(report));
    EXPECT_EQ(report.storm, row().reinjections != 0);
}

// An early EOI is the kernel's timing, seen only by a guest that services
// the device first, at most once per event; never on the model.
TEST_P(GuestStorm, EarlyEoiAtMostOncePerEventAndOnlyWithoutDirectedEoi)
{
    GuestRunReport report = run_guest();

    const unsigned early = report.totals().early_eoi_reinjections;
    EXPECT_LE(early, EVENTS);
    EXPECT_TRUE(early == 0 || !report.directed_eoi) << early;
    EXPECT_TRUE(early == 0 || kernel() == "host") << early;
}

// The rule, stated on its own: a guest that follows the LVR storms
// exactly where the policy is quirked (and it then uses directed EOI).
TEST_P(GuestStorm, RealGuestStormsExactlyWhereQuirked)
{
    if (row().mode != GuestEoiMode::AsAdvertised) {
        GTEST_SKIP() << "forced directed EOI is not a real guest";
    }
    GuestRunReport report = run_guest();

    const bool quirked = std::string_view(row().policy) == "quirked";
    EXPECT_EQ(report.storm, quirked);
    EXPECT_EQ(report.directed_eoi, report.lvr == LVR_WITH_SEOIB);
}

TEST_P(GuestStorm, HandlerServicesTheDeviceEachTimeItRuns)
{
    GuestRunReport report = run_guest();

    EXPECT_EQ(report.totals().services,
              EVENTS * row().handler_entries + early(report));
}

TEST_P(GuestStorm, IoapicEoiWrittenOnlyWhereSvr12Stuck)
{
    GuestRunReport report = run_guest();

    EXPECT_EQ(report.totals().ioapic_eois, EVENTS * row().ioapic_eois);
}

INSTANTIATE_TEST_SUITE_P(
    Table, GuestStorm,
    ::testing::Combine(::testing::Values(std::string_view("host"),
                                         std::string_view("model")),
                       ::testing::ValuesIn(STORM_CASES)),
    [](const auto &info) {
        return std::string(std::get<0>(info.param)) + "_" +
               std::get<1>(info.param).name;
    });

class GuestInKernelIoapic : public ::testing::TestWithParam<std::string_view> {
protected:
    void SetUp() override
    {
        std::string reason = skip_reason(GetParam());
        if (!reason.empty()) {
            GTEST_SKIP() << reason;
        }
    }
};

// kernel-irqchip=on: the in-kernel IOAPIC (version 0x11) hides SEOIB, a
// forced SVR bit 12 is dropped, and the kernel clears remote IRR at the
// LAPIC EOI and re-delivers the still-asserted line without any exit.
TEST_P(GuestInKernelIoapic, LapicEoiReinjectsInsideTheKernel)
{
    auto vm = build_storm_vm(GetParam(), "on", "auto", "");
    ASSERT_TRUE(vm.has_value()) << vm.error().message();
    GuestRunOptions opts;
    opts.events = EVENTS;
    opts.eoi_mode = GuestEoiMode::ForceDirected;

    auto report = sysemu::run_builtin_guest(*vm.value(), opts);

    ASSERT_TRUE(report.has_value()) << report.error().message();
    EXPECT_EQ(report.value().svr, SVR_PLAIN);
    EXPECT_EQ(report.value().totals().handler_entries, 2 * EVENTS);
    EXPECT_EQ(report.value().totals().eoi_exits, 0U);
}

// A real guest sees LVR bit 24 clear, services the device first and is
// interrupted once per event.
TEST_P(GuestInKernelIoapic, RealGuestServicesFirstAndDoesNotStorm)
{
    auto vm = build_storm_vm(GetParam(), "on", "auto", "");
    ASSERT_TRUE(vm.has_value()) << vm.error().message();
    GuestRunOptions opts;
    opts.events = EVENTS;

    auto report = sysemu::run_builtin_guest(*vm.value(), opts);

    ASSERT_TRUE(report.has_value()) << report.error().message();
    EXPECT_FALSE(report.value().directed_eoi);
    EXPECT_EQ(report.value().totals().handler_entries,
              EVENTS + report.value().totals().early_eoi_reinjections);
    EXPECT_FALSE(report.value().storm);
}

INSTANTIATE_TEST_SUITE_P(Backends, GuestInKernelIoapic,
                         ::testing::Values(std::string_view("host"),
                                           std::string_view("model")),
                         [](const auto &info) {
                             return std::string(info.param);
                         });

} // namespace
