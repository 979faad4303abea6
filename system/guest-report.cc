#include "system/guest-report.h"

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
        "EOI exits {}, re-injections {}, exits {}",
        e.handler_entries, e.lapic_eois, e.services, e.ioapic_eois,
        e.eoi_exits, e.reinjections, e.exits);
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
    // The payload keeps Windows' directed-EOI order (LAPIC EOI before the
    // device is serviced) whether or not SVR bit 12 stuck; say which case a
    // storm is.
    const bool seoib_stuck = report.svr & 0x1000;
    std::string why;
    if (report.storm) {
        why = seoib_stuck
                  ? " -- the guest asked to suppress EOI broadcasts and KVM "
                    "broadcast anyway"
                  : " -- suppression was not available (SVR bit 12 did not "
                    "stick); a guest that sees LVR bit 24 clear services "
                    "the device before its EOI";
    }
    fmt::print(out, "guest: {}{}{}\n",
               report.storm ? "interrupt storm: the line was re-injected "
                              "before the guest serviced the device"
                            : "no storm: every line was serviced before it "
                              "was delivered again",
               report.reinjections_inferred
                   ? " (in-kernel IOAPIC: re-injections inferred)"
                   : "",
               why);
}

} // namespace sysemu
