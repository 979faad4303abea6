/*
 * The built-in guest: seoib-vm's demonstration that Suppress EOI Broadcast
 * is honoured, on the real kernel or on the kernel model.
 *
 * run_builtin_guest() runs the `storm` payload (hw/i386/guest/storm.S) on
 * vCPU 0 of a built VM.  The guest enables its x2APIC, reads the LVR,
 * programs the IOAPIC redirection entry of the seoib-testdev device's pin
 * itself (through the IOAPIC's MMIO window, as an OS does), then services
 * device events as a real guest does: where LVR bit 24 advertises Suppress
 * EOI Broadcast it sets SVR bit 12 and uses the directed-EOI discipline of
 * Windows with VBS (LAPIC EOI first, then the device, then -- only if SVR
 * bit 12 stuck -- the IOAPIC EOI register); otherwise it services the
 * device before the LAPIC EOI.  GuestEoiMode::ForceDirected keeps the
 * directed discipline whatever the LVR says, for the tests of the kernel's
 * SVR masking.
 *
 * The host side is a run loop over the typed exits: port I/O goes to the
 * test device, MMIO in the IOAPIC window to the userspace IOAPIC, and
 * KVM_EXIT_IOAPIC_EOI to the IOAPIC's EOI broadcast.  It counts, per device
 * event, the handler entries, the EOI exits and the re-injections of a line
 * that was still asserted (kvm-facts §8): under a kernel that advertises
 * SEOIB but ignores it, a guest that EOIs its LAPIC before servicing the
 * device is interrupted a second time for the same event.
 *
 * Every wait is bounded by exit counts, never by time; nothing the guest
 * does can abort the host.
 */
#pragma once

#include "qapi/qapi-types.h"
#include "qapi/result.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace accel::kvm {
class Vcpu;
}
namespace hw::intc {
class IOAPICState;
}
namespace hw::misc {
class SeoibTestdevState;
}

namespace sysemu {

class Vm;

/// How the guest ends its interrupts.
enum class GuestEoiMode {
    /// As a real guest: directed EOI (SVR bit 12, LAPIC EOI, device, IOAPIC
    /// EOI) only where LVR bit 24 is set; otherwise the device is serviced
    /// before the LAPIC EOI.
    AsAdvertised,
    /// Always ask for SVR bit 12 and EOI the LAPIC before servicing the
    /// device; the IOAPIC EOI follows only where bit 12 stuck.
    ForceDirected,
};

/// What the guest does and how long the host lets it.
struct GuestRunOptions {
    /// Device events the guest services.
    unsigned events { 16 };
    /// Whether the guest uses directed EOI as the LVR says, or always.
    GuestEoiMode eoi_mode { GuestEoiMode::AsAdvertised };
    /// The vector the guest programs into its pin's redirection entry.
    uint8_t vector { 0x40 };
    /// Exits allowed before the first event (SVR, IOAPIC programming).
    unsigned max_setup_exits { 64 };
    /// Exits allowed per event; an event normally takes 6 to 14.
    unsigned max_exits_per_event { 64 };
    /// Runs that may come back with the guest halted and nothing to deliver
    /// (ExitInterrupted) before the run is given up.  The payload halts
    /// only with an interrupt pending, so this happens only when delivery
    /// is broken.
    unsigned max_idle_runs { 16 };
};

/// What happened for one device event.
struct GuestEventCounts {
    /// Times the guest's handler ran.
    unsigned handler_entries { 0 };
    /// LAPIC EOIs the guest wrote.
    unsigned lapic_eois { 0 };
    /// Times the guest serviced the device.
    unsigned services { 0 };
    /// IOAPIC EOI register writes the guest made (only with SVR bit 12).
    unsigned ioapic_eois { 0 };
    /// KVM_EXIT_IOAPIC_EOI exits: LAPIC EOIs broadcast to the userspace
    /// IOAPIC.
    unsigned eoi_exits { 0 };
    /// Deliveries of the still-asserted line after an EOI cleared remote
    /// IRR, i.e. before the guest serviced the device: the storm.
    unsigned reinjections { 0 };
    /// Of those, the ones that followed an EOI the kernel completed before
    /// the guest wrote it (at delivery), in a guest that services the
    /// device first: the host's timing, not a storm.  Stock KVM has none;
    /// the nested kvm_pvm host has one per event (kvm-facts).
    unsigned early_eoi_reinjections { 0 };
    /// VM exits from the event's request to its end (ExitInterrupted runs
    /// are not exits of the guest and are not counted).
    unsigned exits { 0 };

    friend bool operator==(const GuestEventCounts &,
                           const GuestEventCounts &) = default;
};

/// The payload the built-in guest runs (hw/i386/guest/storm.S).
inline constexpr std::string_view BUILTIN_GUEST_PAYLOAD = "storm";

/// The result of a run of the built-in guest.
struct GuestRunReport {
    /// "host" or the kernel model's profile.
    std::string backend;
    qapi::OnOffSplit irqchip { qapi::OnOffSplit::Split };
    /// The effective SEOIB policy the accelerator applied.
    std::optional<qapi::SeoibPolicy> policy;
    /// The IOAPIC the guest programmed: version, and the path of the
    /// seoib-testdev whose line it serviced.
    uint8_t ioapic_version { 0 };
    std::string device_path;
    uint32_t pin { 0 };
    uint8_t vector { 0 };

    /// The LVR as the guest read it.
    uint32_t lvr { 0 };
    /// The guest used directed EOI (asked for SVR bit 12, EOIed its LAPIC
    /// before servicing the device).
    bool directed_eoi { false };
    /// The SVR the guest wrote and what it read back.
    uint32_t svr_written { 0 };
    uint32_t svr { 0 };

    /// One entry per device event, in order.
    std::vector<GuestEventCounts> events;
    /// Events the guest had finished before it came to this VM by
    /// migration (not in `events`: they were counted on the source).
    uint64_t events_before_migration { 0 };
    /// Exits before the first event.
    unsigned setup_exits { 0 };
    /// Every exit of the run, setup and events.
    uint64_t exits { 0 };
    /// With the in-kernel IOAPIC (kernel-irqchip=on) re-injections happen
    /// inside the kernel: they are inferred as handler entries after the
    /// first of an event, and EOI exits do not exist.
    bool reinjections_inferred { false };
    /// A line was re-injected before the guest serviced the device, after
    /// an EOI the guest wrote (early EOI re-injections do not count).
    bool storm { false };

    /// Time spent in KVM_RUN (Vcpu::run) and from the first run to the
    /// guest's last report.  For benchmarks; tests assert counts only.
    std::chrono::nanoseconds time_in_run { 0 };
    std::chrono::nanoseconds elapsed { 0 };

    /// The sum over every event.
    GuestEventCounts totals() const;
    /// Whether every event counted the same.
    bool uniform() const;
};

/// The built-in guest of one VM, run a device event at a time so that the
/// monitor (and a migration) is served between events.
///
/// create() checks the configuration and connects the device's line;
/// boot() loads the payload into the VM's guest RAM and puts vCPU 0 at its
/// entry (not needed when the guest's state came in by migration);
/// run_slice() runs until the next event ends or the guest finishes.
class BuiltinGuest {
public:
    static qapi::Result<std::unique_ptr<BuiltinGuest>>
    create(Vm &vm, const GuestRunOptions &opts);
    ~BuiltinGuest();
    BuiltinGuest(const BuiltinGuest &) = delete;
    BuiltinGuest &operator=(const BuiltinGuest &) = delete;

    qapi::Result<void> boot();
    /// True when the guest has finished; errors as run_builtin_guest().
    qapi::Result<bool> run_slice();
    bool finished() const;
    /// The device asks for a pause here (seoib-testdev.x-pause-after).
    bool pause_due() const;
    /// What the run saw so far (complete once finished).
    const GuestRunReport &report() const;

private:
    struct Parts;
    BuiltinGuest(Vm &vm, accel::kvm::Vcpu &vcpu,
                 hw::misc::SeoibTestdevState &dev, hw::intc::IOAPICState *ioapic,
                 uint32_t dest_apic_id, const GuestRunOptions &opts);

    Vm &m_vm;
    accel::kvm::Vcpu &m_vcpu;
    hw::misc::SeoibTestdevState &m_dev;
    uint32_t m_dest_apic_id;
    std::unique_ptr<Parts> m_parts;
};

/// Runs the built-in guest on vCPU 0 of `vm` and reports what it saw.
///
/// Needs the kvm accelerator with an in-kernel LAPIC (kernel-irqchip=split,
/// or on) and an x86 machine.  Uses the machine's seoib-testdev device if
/// there is exactly one (-device seoib-testdev,pin=N), else creates one with
/// the default properties under /machine/unattached.  Uses the VM's guest
/// RAM (Vm::guest_ram(): 1 MiB in memory slot 0 at GPA 0), puts vCPU 0 in x2APIC mode (APICBASE), real mode at the payload's entry,
/// and resets the device.
///
/// Errors: the configuration cannot run the guest; a KVM call failed; the
/// guest ended (shutdown, internal error, failed entry) or exceeded its
/// exit budget, with how many events it completed.  Never aborts.
qapi::Result<GuestRunReport> run_builtin_guest(Vm &vm,
                                               const GuestRunOptions &opts);


} // namespace sysemu
