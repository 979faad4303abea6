/*
 * Level-triggered interrupt round trips of the built-in guest (design §5):
 * device event -> IOAPIC -> LAPIC -> guest handler -> EOIs -> device
 * serviced, per second, on the real /dev/kvm and on the kernel model.
 *
 * Each round trip needs VM exits: the guest's request to the device, its
 * service write, and then either a KVM_EXIT_IOAPIC_EOI (broadcast EOI) or
 * an IOAPIC EOI register write (directed EOI), doubled when the line is
 * re-injected.  That is the floor.  The payload also reports each handler
 * step to the device, which costs more exits.  So every case reports, from
 * the same run:
 *
 *   exits_per_event        exits the event actually took
 *   floor_exits_per_event  the exits the interrupt itself needs
 *   us_per_exit            time in KVM_RUN / exits (one exit round trip)
 *   us_per_event           the event's wall time
 *   vs_floor               us_per_event / (floor_exits_per_event * us_per_exit)
 *
 * The rate is round trips per second (items_per_second), timed from the
 * guest's first instruction to its last report; VM and RAM set-up are not
 * counted.  No assertion on time: this is a measurement.
 */
#include "accel/kvm/kvm-backend.h"
#include "hw/misc/seoib-testdev.h"
#include "system/builtin-types.h"
#include "system/guest-run.h"
#include "system/vl.h"
#include "system/vm.h"

#include <benchmark/benchmark.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

// Events per run: enough that the guest's set-up exits (SVR, IOAPIC
// programming) are noise.
constexpr unsigned EVENTS_PER_RUN = 256;

std::shared_ptr<const qom::TypeRegistry> guest_types()
{
    std::shared_ptr<const qom::TypeRegistry> builtin =
        sysemu::builtin_type_registry();
    if (builtin->find_class(hw::misc::TYPE_SEOIB_TESTDEV) != nullptr) {
        return builtin;
    }
    // Until system/builtin-types.cc registers hw/misc.
    auto registry = std::make_shared<qom::TypeRegistry>();
    sysemu::register_builtin_types(*registry);
    hw::misc::hw_misc_register_types(*registry);
    MUST(registry->finalize());
    return registry;
}

qapi::Result<std::unique_ptr<sysemu::Vm>> build_vm(std::string_view kernel,
                                                   std::string_view policy)
{
    std::string accel = "kvm,kernel=" + std::string(kernel) +
                        ",kernel-irqchip=split,seoib-policy=" +
                        std::string(policy);
    const std::vector<std::string_view> args { "-machine", "q35", "-accel",
                                               accel };
    sysemu::CommandLine cl = TRY(sysemu::parse_command_line(args));
    return sysemu::build_vm(cl, guest_types());
}

double micros(std::chrono::nanoseconds ns)
{
    return std::chrono::duration<double, std::micro>(ns).count();
}

void BM_GuestIrqRoundTrip(benchmark::State &state, const char *kernel,
                          const char *policy, bool svr12)
{
    if (std::string_view(kernel) == "host") {
        auto host = accel::kvm::open_host_system();
        if (!host) {
            state.SkipWithError(
                ("no usable /dev/kvm: " + host.error().message()).c_str());
            return;
        }
    }
    auto vm = build_vm(kernel, policy);
    if (!vm) {
        state.SkipWithError(vm.error().message().c_str());
        return;
    }
    sysemu::GuestRunOptions opts;
    opts.events = EVENTS_PER_RUN;
    opts.eoi_mode = svr12 ? sysemu::GuestEoiMode::ForceDirected
                          : sysemu::GuestEoiMode::AsAdvertised;

    uint64_t events = 0;
    uint64_t exits = 0;
    uint64_t event_exits = 0;
    uint64_t floor_exits = 0;
    std::chrono::nanoseconds in_run { 0 };
    std::chrono::nanoseconds elapsed { 0 };
    bool storm = false;
    for (auto _ : state) {
        auto report = sysemu::run_builtin_guest(*vm.value(), opts);
        if (!report) {
            state.SkipWithError(report.error().message().c_str());
            return;
        }
        const sysemu::GuestRunReport &r = report.value();
        const sysemu::GuestEventCounts totals = r.totals();
        events += r.events.size();
        exits += r.exits;
        event_exits += totals.exits;
        // The request, the services, and each EOI that reaches the IOAPIC
        // (a broadcast exit or a write to its EOI register).
        floor_exits += r.events.size() + totals.services + totals.eoi_exits +
                       totals.ioapic_eois;
        in_run += r.time_in_run;
        elapsed += r.elapsed;
        storm = storm || r.storm;
        state.SetIterationTime(
            std::chrono::duration<double>(r.elapsed).count());
    }
    if (events == 0 || exits == 0) {
        return;
    }
    const double us_per_exit = micros(in_run) / static_cast<double>(exits);
    const double floor_per_event =
        static_cast<double>(floor_exits) / static_cast<double>(events);
    const double us_per_event = micros(elapsed) / static_cast<double>(events);
    state.SetItemsProcessed(static_cast<int64_t>(events));
    state.counters["exits_per_event"] =
        static_cast<double>(event_exits) / static_cast<double>(events);
    state.counters["floor_exits_per_event"] = floor_per_event;
    state.counters["us_per_exit"] = us_per_exit;
    state.counters["us_per_event"] = us_per_event;
    state.counters["vs_floor"] = us_per_event / (floor_per_event * us_per_exit);
    state.counters["storm"] = storm ? 1 : 0;
}

// The storm (quirked: SEOIB advertised, the guest's request ignored), the
// fix (respected: the guest EOIs the IOAPIC itself), and what an IOAPIC of
// version 0x11 gets (not-advertised: every EOI is broadcast, the guest's
// request is dropped).
BENCHMARK_CAPTURE(BM_GuestIrqRoundTrip, host_quirked_svr12,
                  "host", "quirked", true)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_GuestIrqRoundTrip, host_respected_svr12,
                  "host", "respected", true)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_GuestIrqRoundTrip, host_not_advertised_svr12,
                  "host", "not-advertised", true)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_GuestIrqRoundTrip, model_quirked_svr12,
                  "model", "quirked", true)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_GuestIrqRoundTrip, model_respected_svr12,
                  "model", "respected", true)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_GuestIrqRoundTrip, model_not_advertised_svr12,
                  "model", "not-advertised", true)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
