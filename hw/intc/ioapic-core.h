/*
 * The IOAPIC register model: what the guest sees through the MMIO window,
 * what the input pins do, and when an interrupt message leaves the chip.
 *
 * This is the behaviour of QEMU's userspace IOAPIC (hw/intc/ioapic.c)
 * without QOM: the `ioapic` qdev device owns an IOAPICCore and hands it an
 * output, a timer and a guest-error log.  The same core serves the split
 * irqchip (the output programs KVM MSI routes and raises GSIs) and tests (the
 * output records what was sent).
 *
 * Pins, not GSIs: the core numbers its inputs 0..23.  The board maps GSIs to
 * pins; on PC machines GSI 0 (the PIT) is wired to pin 2, as ACPI's interrupt
 * source override says and QEMU's ioapic_set_irq() does, and every other
 * GSI n < 24 to pin n.
 */
#pragma once

#include "hw/core/guest-error.h"
#include "hw/core/timer.h"
#include "hw/intc/ioapic-internal.h"

#include <array>
#include <cstdint>
#include <optional>

namespace hw::intc {

/// An interrupt message in MSI format, as the IOAPIC sends it to the LAPICs.
///
/// address = 0xfee00000 | dest_idx << 4 | dest_mode << 2, where dest_idx is
/// entry bits 63:48, so the 8-bit destination lands in address bits 19:12;
/// data = vector | delivery_mode << 8 | trigger_mode << 15.
struct IOAPICMessage {
    uint64_t address { 0 };
    uint32_t data { 0 };

    /// True for a level-triggered message (data bit 15).
    bool level() const;
    /// The vector (data bits 7:0).
    uint8_t vector() const;

    friend bool operator==(const IOAPICMessage &,
                           const IOAPICMessage &) = default;
};

/// The MSI-format message a redirection entry describes.
///
/// For delivery mode ExtINT the vector really comes from the 8259 at
/// delivery time; the core has no PIC, so the message carries the entry's
/// vector field and the output decides (see IOAPICOutput).
IOAPICMessage ioapic_entry_message(RedirEntry entry);

/// Where the IOAPIC's interrupts go.  Implemented by the device's owner:
/// a KVM split-irqchip sink, an MSI writer into the machine's address space,
/// or a recorder in tests.
///
/// Both methods are called from inside the core's entry points and must not
/// call back into the same IOAPICCore: an output whose delivery leads to an
/// EOI (a model LAPIC, say) must queue that EOI and run it after the call
/// returns.
class IOAPICOutput {
public:
    virtual ~IOAPICOutput() = default;

    /// Send one interrupt from `pin`.  For a level message the core has
    /// already set the pin's remote IRR.  A split-irqchip sink raises GSI
    /// `pin` (and lowers it again for an edge message) through the route it
    /// was given by route_changed().
    virtual void deliver(unsigned pin, const IOAPICMessage &msg) = 0;

    /// The route of `pin` is now `msg`, or the pin is masked.  Called after
    /// a guest write changes a redirection entry's message or mask, and for
    /// every pin by reset() and post_load().  A KVM sink updates the pin's
    /// MSI route (QEMU updates unmasked pins only and leaves masked routes
    /// stale).
    virtual void route_changed(unsigned pin, const IOAPICMessage &msg,
                               bool masked) = 0;
};

/// The register model of one IOAPIC with IOAPIC_NUM_PINS pins.
///
/// Lifecycle: construct, then reset() (device reset) before the guest runs;
/// on incoming migration, fill regs() and call post_load().  The output,
/// timer host and guest-error log are borrowed and must outlive the core.
///
/// Nothing a guest does through mmio_read()/mmio_write() can abort: wrong
/// offsets, sizes and reserved registers are logged as guest errors and
/// ignored.  Not thread-safe: the owner serialises all calls, as QEMU's BQL
/// does.
class IOAPICCore {
public:
    /// `version` is the `ioapic` device's property, validated by its realize
    /// (see ioapic_version_supported()).  The EOI register exists only for
    /// IOAPIC_VER_20; any other value behaves as a version without it.
    /// The registers start in their reset state; nothing is sent to
    /// `output` until an entry point is called.
    IOAPICCore(uint8_t version, IOAPICOutput &output, TimerHost &timer,
               GuestErrorLog &guest_errors);

    IOAPICCore(const IOAPICCore &) = delete;
    IOAPICCore &operator=(const IOAPICCore &) = delete;

    uint8_t version() const { return m_version; }

    /// A guest read of `size` bytes at `offset` in the MMIO window.
    ///
    /// IOREGSEL reads at any size; IOWIN only as 4 bytes.  ID and ARB read
    /// the ID in bits 27:24, VER reads ioapic_ver_register(version()),
    /// redirection indices read the entry's low or high dword.  Anything else
    /// reads 0 and is logged as a guest error.  The result is truncated to
    /// `size` bytes.
    uint64_t mmio_read(uint64_t offset, unsigned size);

    /// A guest write of `size` bytes at `offset` in the MMIO window.
    ///
    /// IOREGSEL keeps bits 7:0.  IOWIN (4 bytes only): ID keeps 4 bits, VER
    /// and ARB ignore the write, redirection dwords keep the read-only bits;
    /// an entry written as edge-triggered loses its remote IRR; then pending
    /// inputs are serviced.  EOI (4 bytes, version 0x20 only) ends the level
    /// interrupts of the written vector on this IOAPIC, like eoi_broadcast().
    /// Anything else is logged as a guest error and ignored.
    ///
    /// NOTE: QEMU applies an EOI-register write to every IOAPIC of the
    /// machine; this core applies it to itself only, as the ICH's IOAPIC
    /// does.  A machine with several IOAPICs that wants QEMU's behaviour
    /// passes the write on to the others' eoi_broadcast().
    void mmio_write(uint64_t offset, uint64_t value, unsigned size);

    /// The input line of `pin` is now `level` (true = asserted).
    ///
    /// Level-triggered pins: IRR follows the line; an assertion is delivered
    /// at once unless remote IRR is set, in which case it waits for the EOI.
    /// Edge-triggered pins: every call with `level` true is one edge and is
    /// delivered, unless the pin is masked, in which case it is dropped
    /// (82093AA behaviour); `level` false does nothing.  The polarity bit
    /// is not applied: `level` is the line already normalised to
    /// "asserted", as QEMU's qemu_irq is.  Pins >= IOAPIC_NUM_PINS are
    /// ignored.
    void set_irq(unsigned pin, bool level);

    /// A LAPIC broadcast an EOI for `vector` (a TCG LAPIC without directed
    /// EOI, or KVM_EXIT_IOAPIC_EOI in split-irqchip mode).
    ///
    /// Every level-triggered pin with this vector and remote IRR set has it
    /// cleared.  If the line is still asserted and the pin unmasked, the
    /// interrupt is delivered again at once, except that the
    /// SUCCESSIVE_IRQ_MAX_COUNT-th successive such re-delivery of a pin is
    /// instead delayed by IOAPIC_DELAYED_SERVICE_NS on the timer host.  A
    /// pin whose line was no longer asserted starts counting again.
    void eoi_broadcast(uint8_t vector);

    /// The timer host's deadline passed: service pending inputs.
    void timer_expired();

    /// Device reset: ID 0, IOREGSEL 0, IRR 0, every entry masked; the storm
    /// counters are cleared, the timer is cancelled, and every pin's
    /// (masked) route is published.
    void reset();

    /// The migrated registers, for the device's VMState.
    const IOAPICRegs &regs() const { return m_regs; }
    /// Writable registers, for loading a migration stream; call post_load()
    /// once they are filled.
    IOAPICRegs &regs() { return m_regs; }

    /// After regs() was loaded from a stream: bring fields the stream may
    /// carry out of range back to the hardware's widths (ID 4 bits, IOREGSEL
    /// 8 bits, IRR one bit per pin) and publish every pin's route.  Nothing
    /// is delivered: a level interrupt in flight keeps its remote IRR and
    /// waits for its EOI, as on the source.
    void post_load();

private:
    uint64_t read_iowin();
    void write_iowin(uint32_t value);
    void write_redirection(unsigned pin, bool high, uint32_t value);
    void eoi(uint8_t vector);
    void service();
    void delay_service();
    void publish_route(unsigned pin);

    RedirEntry entry(unsigned pin) const
    {
        return RedirEntry(m_regs.ioredtbl[pin]);
    }
    void set_entry(unsigned pin, RedirEntry entry)
    {
        m_regs.ioredtbl[pin] = entry.raw();
    }

    uint8_t m_version;
    IOAPICOutput &m_output;
    TimerHost &m_timer;
    GuestErrorLog &m_guest_errors;
    IOAPICRegs m_regs;
    /// Successive EOI re-injections per pin (QEMU's irq_eoi[]); not migrated.
    std::array<uint32_t, IOAPIC_NUM_PINS> m_successive_eois {};
    /// The pending deadline of the timer host, if armed.
    std::optional<uint64_t> m_timer_deadline;
};

} // namespace hw::intc
