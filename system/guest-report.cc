#include "system/guest-report.h"

#include "accel/kvm/kvm-backend.h"
#include "qapi/enum-lookup.h"

#include <fmt/format.h>

#include <map>
#include <string>

namespace sysemu {

namespace {

std::string event_line(const GuestEventCounts &e)
{
    return fmt::format(
        "handler entries {}, LAPIC EOIs {}, services {}, IOAPIC EOIs {}, "
        "EOI exits {}, re-injections {}{}, exits {}",
        e.handler_entries, e.lapic_eois, e.services, e.ioapic_eois,
        e.eoi_exits, e.reinjections,
        e.early_eoi_reinjections
            ? fmt::format(" ({} after an early EOI)", e.early_eoi_reinjections)
            : "",
        e.exits);
}

} // namespace

void print_guest_run_report(std::FILE *out, const GuestRunReport &report)
{
    fmt::print(out,
               "guest: payload {} on {}, kernel-irqchip={}, seoib-policy={}; "
               "IOAPIC version {:#x}, {} on pin {}, vector {:#x}\n",
               BUILTIN_GUEST_PAYLOAD, report.backend,
               qapi::enum_name(report.irqchip),
               report.policy ? qapi::enum_name(*report.policy) : "none",
               report.ioapic_version, report.device_path, report.pin,
               report.vector);
    fmt::print(out, "guest: LVR {:#010x}, SVR written {:#x}, read back {:#x}\n",
               report.lvr, report.svr_written, report.svr);
    if (report.events_before_migration != 0) {
        fmt::print(out, "guest: came in by migration after {} events; what follows is "
                        "counted here\n",
                   report.events_before_migration);
    }
    const bool advertised = report.lvr & accel::kvm::APIC_LVR_DIRECTED_EOI;
    fmt::print(out, "guest: {}\n",
               report.directed_eoi
                   ? (advertised ? "directed EOI (LVR bit 24 set): LAPIC EOI, "
                                   "device, IOAPIC EOI"
                                 : "directed EOI forced (LVR bit 24 clear): "
                                   "LAPIC EOI before the device")
                   : "no directed EOI (LVR bit 24 clear): the device is "
                     "serviced before the LAPIC EOI");
    if (report.events.empty()) {
        fmt::print(out, "guest: no device events\n");
    } else if (report.uniform()) {
        fmt::print(out, "guest: {} events, each: {}\n", report.events.size(),
                   event_line(report.events.front()));
    } else {
        // Group identical events so a long run stays readable.
        std::map<std::string, unsigned> groups;
        for (const GuestEventCounts &e : report.events) {
            ++groups[event_line(e)];
        }
        fmt::print(out, "guest: {} events:\n", report.events.size());
        for (const auto &[line, count] : groups) {
            fmt::print(out, "guest:   {} x {}\n", count, line);
        }
    }
    const bool seoib_stuck = report.svr & accel::kvm::APIC_SPIV_DIRECTED_EOI;
    std::string why;
    if (report.storm && report.directed_eoi) {
        why = seoib_stuck
                  ? " -- the guest asked to suppress EOI broadcasts and KVM "
                    "broadcast anyway"
                  : " -- the guest EOIed its LAPIC first although "
                    "suppression was not available (SVR bit 12 did not "
                    "stick)";
    }
    if (!report.storm && report.totals().early_eoi_reinjections > 0) {
        fmt::print(out, "guest: the kernel completed EOIs at delivery, before "
                        "the guest's EOI write, so the line came back once "
                        "before the device was serviced: this host's "
                        "timing, not a storm\n");
    }
    fmt::print(out, "guest: {}{}{}\n",
               report.storm ? "interrupt storm: the line was re-injected "
                              "before the guest serviced the device"
                 : report.totals().early_eoi_reinjections > 0
                       ? "no storm: no line came back after an EOI the guest "
                         "wrote before servicing the device"
                       : "no storm: every line was serviced before it "
                         "was delivered again",
               report.reinjections_inferred
                   ? " (in-kernel IOAPIC: re-injections inferred)"
                   : "",
               why);
}

} // namespace sysemu
