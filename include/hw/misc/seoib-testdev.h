/*
 * seoib-testdev: a test device with one level-triggered interrupt line, in
 * the spirit of QEMU's pc-testdev.
 *
 * The guest drives it through a 16-byte I/O port window at `iobase`: it
 * asks the device for an event (the device asserts its line, wired to IOAPIC
 * input `pin`), services it (the line goes low again), and reports each
 * step of its interrupt handler, so the host can count, per device event,
 * how often the handler ran and which EOIs the guest wrote.  The built-in
 * guest (hw/i386/guest/storm.S, run by system/guest-run.h) is its user.
 *
 * Register window (offsets from `iobase`; every register is write-only
 * except STATUS, any access size is accepted and the value is truncated to
 * it):
 *
 * | offset | name       | write                                            |
 * |--------|------------|--------------------------------------------------|
 * | 0x0    | RAISE      | a device event: the line is asserted             |
 * | 0x1    | LOWER      | the line is deasserted, nothing is counted       |
 * | 0x2    | SERVICE    | the guest serviced the device: line deasserted   |
 * | 0x3    | HANDLER    | the guest's handler was entered (the vector)     |
 * | 0x4    | LAPIC_EOI  | the guest wrote the LAPIC EOI (the vector)       |
 * | 0x5    | IOAPIC_EOI | the guest wrote the IOAPIC EOI register          |
 * | 0x6    | EVENT_DONE | nothing is pending any more (events completed)   |
 * | 0x7    | FINISHED   | the guest has done every event it was asked for  |
 * | 0x8    | LVR        | the LVR as the guest reads it (32 bits)          |
 * | 0xC    | SVR        | the SVR as the guest reads it back (32 bits)     |
 *
 * Reading offset 0x0 (STATUS) returns the line level in bit 0; other reads
 * return 0.  Writes at offsets 0x9-0xB and 0xD-0xF (inside a report
 * register) are guest errors, logged and ignored.
 */
#pragma once

#include "hw/core/guest-error.h"
#include "hw/core/qdev.h"
#include "qom/property.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

namespace hw::misc {

inline constexpr std::string_view TYPE_SEOIB_TESTDEV = "seoib-testdev";

/// Register offsets in the I/O window (see the table above).
inline constexpr uint16_t SEOIB_TESTDEV_STATUS = 0x0;
inline constexpr uint16_t SEOIB_TESTDEV_RAISE = 0x0;
inline constexpr uint16_t SEOIB_TESTDEV_LOWER = 0x1;
inline constexpr uint16_t SEOIB_TESTDEV_SERVICE = 0x2;
inline constexpr uint16_t SEOIB_TESTDEV_HANDLER = 0x3;
inline constexpr uint16_t SEOIB_TESTDEV_LAPIC_EOI = 0x4;
inline constexpr uint16_t SEOIB_TESTDEV_IOAPIC_EOI = 0x5;
inline constexpr uint16_t SEOIB_TESTDEV_EVENT_DONE = 0x6;
inline constexpr uint16_t SEOIB_TESTDEV_FINISHED = 0x7;
inline constexpr uint16_t SEOIB_TESTDEV_LVR = 0x8;
inline constexpr uint16_t SEOIB_TESTDEV_SVR = 0xc;
/// Size of the I/O window.
inline constexpr uint16_t SEOIB_TESTDEV_IO_SIZE = 0x10;

/// Property defaults: QEMU's pc-testdev has its IRQ window at port 0x2000;
/// IOAPIC input 10 is free on every PC machine.
inline constexpr uint16_t SEOIB_TESTDEV_DEFAULT_IOBASE = 0x2000;
inline constexpr uint32_t SEOIB_TESTDEV_DEFAULT_PIN = 10;
/// The PC IOAPIC's inputs are 0..23.
inline constexpr uint32_t SEOIB_TESTDEV_NUM_PINS = 24;

/// Typed keys of the device's properties.
inline constexpr qom::PropertyKey<uint32_t> SEOIB_TESTDEV_PROP_PIN { "pin" };
inline constexpr qom::PropertyKey<uint16_t> SEOIB_TESTDEV_PROP_IOBASE {
    "iobase"
};

/// What the device has seen since its last reset.
struct SeoibTestdevCounters {
    /// RAISE writes: device events.
    uint64_t events { 0 };
    /// SERVICE writes.
    uint64_t services { 0 };
    uint64_t handler_entries { 0 };
    uint64_t lapic_eois { 0 };
    uint64_t ioapic_eois { 0 };
    /// EVENT_DONE writes.
    uint64_t events_done { 0 };
    /// Whether the guest wrote FINISHED.
    bool finished { false };
    /// The last values the guest reported, if it did.
    std::optional<uint32_t> lvr;
    std::optional<uint32_t> svr;

    friend bool operator==(const SeoibTestdevCounters &,
                           const SeoibTestdevCounters &) = default;
};

class SeoibTestdevState : public qdev::SysBusDevice {
public:
    static constexpr std::string_view type_name = TYPE_SEOIB_TESTDEV;
    using Parent = qdev::SysBusDevice;
    using Class = qdev::DeviceClass;

    SeoibTestdevState();

    static void class_init(qdev::DeviceClass &dc);
    static void register_properties(qom::ObjectClass &oc);

    /// The IOAPIC input the line is wired to (property "pin", 0..23).
    uint32_t pin() const { return m_pin; }
    /// The first port of the I/O window (property "iobase").
    uint16_t iobase() const { return m_iobase; }
    /// Whether `port` falls in the I/O window.
    bool io_contains(uint64_t port) const;

    /// Receives the line's new level each time it changes (QEMU's qemu_irq
    /// for the one output line).
    using IrqHandler = std::function<void(bool level)>;
    /// Wires the line; an empty handler disconnects it.  The current level
    /// is not replayed: the board connects before the guest runs, or
    /// resets the device after connecting.
    void connect_irq(IrqHandler handler);
    /// The line level: true while asserted.
    bool irq_level() const { return m_level; }

    /// A guest read of `size` bytes at `offset` in the I/O window.  Never
    /// fails: see the register table.
    uint64_t io_read(uint64_t offset, unsigned size);
    /// A guest write of `size` bytes at `offset` in the I/O window.  Never
    /// fails: anything undefined is logged as a guest error and ignored.
    void io_write(uint64_t offset, uint64_t value, unsigned size);

    /// Device reset: line deasserted (the handler hears it if it was
    /// asserted) and every counter cleared.
    void reset();

    const SeoibTestdevCounters &counters() const { return m_counters; }
    /// The guest has just finished event number x-pause-after: the run
    /// phase pauses the VM there (a point a test or a migration can rely
    /// on).
    bool pause_due() const
    {
        return m_pause_after != 0 && m_counters.events_done == m_pause_after &&
               !m_counters.finished;
    }
    GuestErrorLog &guest_errors() { return m_guest_errors; }

protected:
    /// Checks that `pin` is an IOAPIC input.
    qapi::Result<void> do_realize() override;

public:
    /// "seoib-testdev" v1: the line level and what the guest reported.
    std::unique_ptr<migration::VMStateInstance> vmstate() override;

private:
    /// What migrates, with the optional reports made explicit.
    struct Migrated {
        bool level { false };
        SeoibTestdevCounters counters;
        bool has_lvr { false }, has_svr { false };
        uint32_t lvr { 0 }, svr { 0 };
    };

    void set_level(bool level);

    uint32_t m_pin {};    // property "pin", default 10
    uint16_t m_iobase {}; // property "iobase", default 0x2000
    uint32_t m_pause_after {}; // property "x-pause-after", default 0
    bool m_level { false };
    IrqHandler m_irq;
    SeoibTestdevCounters m_counters;
    GuestErrorLog m_guest_errors;
    Migrated m_migrated;
};

/// Registers seoib-testdev.
void hw_misc_register_types(qom::TypeRegistry &registry);

} // namespace hw::misc
