/*
 * The IOAPIC register model.
 *
 * References: Intel 82093AA I/O APIC datasheet (290566-001), the ICH9
 * datasheet's I/O APIC chapter for the version 0x20 EOI register, and the
 * behaviour of QEMU's hw/intc/ioapic.c and the kernel's virt/kvm/ioapic.c,
 * which agree on remote IRR and re-injection.
 */
#include "hw/intc/ioapic-core.h"

namespace hw::intc {

namespace {

// MSI address and data layout (Intel SDM vol. 3, "Message Signalled
// Interrupts"), as QEMU's include/hw/i386/apic-msidef.h names it.
constexpr uint64_t APIC_DEFAULT_ADDRESS = 0xfee00000;
constexpr unsigned MSI_ADDR_DEST_MODE_SHIFT = 2;
constexpr unsigned MSI_ADDR_DEST_IDX_SHIFT = 4;
constexpr unsigned MSI_DATA_DELIVERY_MODE_SHIFT = 8;
constexpr unsigned MSI_DATA_TRIGGER_SHIFT = 15;
constexpr uint32_t MSI_DATA_VECTOR_MASK = 0xff;

constexpr bool valid_access_size(unsigned size)
{
    return size == 1 || size == 2 || size == 4 || size == 8;
}

constexpr uint64_t truncate_to_size(uint64_t value, unsigned size)
{
    if (size >= 8) {
        return value;
    }
    return value & ((1ULL << (8 * size)) - 1);
}

/// The pin whose entry IOREGSEL selects, if it selects one.
std::optional<unsigned> redirection_pin(uint32_t ioregsel)
{
    if (ioregsel < IOAPIC_REG_REDTBL_BASE) {
        return std::nullopt;
    }
    unsigned pin = (ioregsel - IOAPIC_REG_REDTBL_BASE) >> 1;
    if (pin >= IOAPIC_NUM_PINS) {
        return std::nullopt;
    }
    return pin;
}

IOAPICRegs reset_regs()
{
    IOAPICRegs regs;
    regs.ioredtbl.fill(RedirEntry::reset_value().raw());
    return regs;
}

} // namespace

bool IOAPICMessage::level() const
{
    return (data >> MSI_DATA_TRIGGER_SHIFT) & 1;
}

uint8_t IOAPICMessage::vector() const
{
    return static_cast<uint8_t>(data & MSI_DATA_VECTOR_MASK);
}

IOAPICMessage ioapic_entry_message(RedirEntry entry)
{
    // Bits 63:48 go to address bits 19:4 whole, as QEMU does: the 8-bit
    // destination becomes the MSI destination ID (bits 19:12) and the
    // otherwise reserved bits 55:49 become KVM's extended destination ID
    // (address bits 11:5), which lets guests reach APIC IDs above 255.
    return IOAPICMessage {
        .address = APIC_DEFAULT_ADDRESS |
                   static_cast<uint64_t>(entry.dest_idx())
                       << MSI_ADDR_DEST_IDX_SHIFT |
                   static_cast<uint64_t>(entry.dest_mode())
                       << MSI_ADDR_DEST_MODE_SHIFT,
        .data = static_cast<uint32_t>(entry.vector()) |
                static_cast<uint32_t>(entry.delivery_mode())
                    << MSI_DATA_DELIVERY_MODE_SHIFT |
                static_cast<uint32_t>(entry.trigger_mode())
                    << MSI_DATA_TRIGGER_SHIFT,
    };
}

IOAPICCore::IOAPICCore(uint8_t version, IOAPICOutput &output,
                       TimerHost &timer, GuestErrorLog &guest_errors)
    : m_version(version)
    , m_output(output)
    , m_timer(timer)
    , m_guest_errors(guest_errors)
    , m_regs(reset_regs())
{
}

uint64_t IOAPICCore::mmio_read(uint64_t offset, unsigned size)
{
    if (!valid_access_size(size)) {
        m_guest_errors.log("ioapic: read of invalid size {} at {:#x} ignored",
                           size, offset);
        return 0;
    }
    uint64_t value = 0;
    switch (offset) {
    case IOAPIC_IOREGSEL:
        value = m_regs.ioregsel;
        break;
    case IOAPIC_IOWIN:
        // The datasheet allows only dword accesses to the window.
        if (size != 4) {
            m_guest_errors.log("ioapic: IOWIN read of size {} ignored", size);
            return 0;
        }
        value = read_iowin();
        break;
    default:
        m_guest_errors.log("ioapic: read of size {} at {:#x}, no register",
                           size, offset);
        return 0;
    }
    return truncate_to_size(value, size);
}

uint64_t IOAPICCore::read_iowin()
{
    switch (m_regs.ioregsel) {
    case IOAPIC_REG_ID:
    case IOAPIC_REG_ARB:
        // The arbitration ID is loaded from the APIC ID (82093AA §3.2.3);
        // with no APIC bus to arbitrate on, it stays equal to it.
        return static_cast<uint32_t>(m_regs.id) << IOAPIC_ID_SHIFT;
    case IOAPIC_REG_VER:
        return ioapic_ver_register(m_version);
    default:
        break;
    }
    if (auto pin = redirection_pin(m_regs.ioregsel)) {
        RedirEntry e = entry(*pin);
        return (m_regs.ioregsel & 1) ? e.high() : e.low();
    }
    m_guest_errors.log("ioapic: read of reserved register {:#x}",
                       m_regs.ioregsel);
    return 0;
}

void IOAPICCore::mmio_write(uint64_t offset, uint64_t value, unsigned size)
{
    if (!valid_access_size(size)) {
        m_guest_errors.log("ioapic: write of invalid size {} at {:#x} ignored",
                           size, offset);
        return;
    }
    switch (offset) {
    case IOAPIC_IOREGSEL:
        // Bits 31:8 are reserved; keeping only 7:0 also keeps the value
        // within the 8-bit field QEMU's VMState migrates.
        m_regs.ioregsel = static_cast<uint32_t>(value) & IOAPIC_IOREGSEL_MASK;
        break;
    case IOAPIC_IOWIN:
        if (size != 4) {
            m_guest_errors.log("ioapic: IOWIN write of size {} ignored", size);
            return;
        }
        write_iowin(static_cast<uint32_t>(value));
        break;
    case IOAPIC_EOI:
        // Versions below 0x20 have no EOI register; Linux knows this and
        // uses the edge-trigger trick instead (see write_redirection()).
        if (m_version != IOAPIC_VER_20) {
            m_guest_errors.log("ioapic: EOI register write, but version "
                               "{:#x} has no EOI register",
                               m_version);
            return;
        }
        if (size != 4) {
            m_guest_errors.log("ioapic: EOI register write of size {} "
                               "ignored",
                               size);
            return;
        }
        // QEMU compares the whole written value with the 8-bit vector
        // field, so a value with reserved bits set matches no entry.
        if (value > IOAPIC_VECTOR_MASK) {
            m_guest_errors.log("ioapic: EOI register write of {:#x} has "
                               "reserved bits set, ignored",
                               value);
            return;
        }
        eoi(static_cast<uint8_t>(value));
        break;
    default:
        m_guest_errors.log("ioapic: write of size {} at {:#x}, no register",
                           size, offset);
        break;
    }
}

void IOAPICCore::write_iowin(uint32_t value)
{
    switch (m_regs.ioregsel) {
    case IOAPIC_REG_ID:
        m_regs.id = (value >> IOAPIC_ID_SHIFT) & IOAPIC_ID_MASK;
        return;
    case IOAPIC_REG_VER:
    case IOAPIC_REG_ARB:
        // Read-only registers; writing them is harmless, so not logged.
        return;
    default:
        break;
    }
    if (auto pin = redirection_pin(m_regs.ioregsel)) {
        write_redirection(*pin, m_regs.ioregsel & 1, value);
        return;
    }
    m_guest_errors.log("ioapic: write of {:#x} to reserved register {:#x}",
                       value, m_regs.ioregsel);
}

void IOAPICCore::write_redirection(unsigned pin, bool high, uint32_t value)
{
    RedirEntry before = entry(pin);
    RedirEntry after =
        high ? before.with_guest_high(value) : before.with_guest_low(value);
    // An IOAPIC without an EOI register can only have remote IRR cleared by
    // an EOI broadcast.  Linux, when it must EOI such an IOAPIC itself
    // (io_apic.c, __eoi_ioapic_pin()), masks the entry and rewrites it as
    // edge-triggered and back; on real parts that clears remote IRR, and
    // QEMU and KVM model it the same way.
    if (!after.is_level()) {
        after = after.with_remote_irr(false);
    }
    set_entry(pin, after);
    m_successive_eois[pin] = 0;
    // The route must be current before service() below delivers through it
    // (a pin unmasked with its line asserted is delivered at once).
    if (ioapic_entry_message(before) != ioapic_entry_message(after) ||
        before.masked() != after.masked()) {
        publish_route(pin);
    }
    service();
}

void IOAPICCore::set_irq(unsigned pin, bool level)
{
    if (pin >= IOAPIC_NUM_PINS) {
        return;
    }
    uint32_t mask = 1U << pin;
    RedirEntry e = entry(pin);
    if (e.is_level()) {
        if (level) {
            m_regs.irr |= mask;
            if (!e.remote_irr()) {
                service();
            }
        } else {
            m_regs.irr &= ~mask;
        }
        return;
    }
    // Per the 82093AA manual, edge requests on a masked pin are ignored.
    if (level && !e.masked()) {
        m_regs.irr |= mask;
        service();
    }
}

void IOAPICCore::eoi_broadcast(uint8_t vector)
{
    eoi(vector);
}

void IOAPICCore::eoi(uint8_t vector)
{
    for (unsigned pin = 0; pin < IOAPIC_NUM_PINS; ++pin) {
        RedirEntry e = entry(pin);
        if (e.vector() != vector || !e.is_level() || !e.remote_irr()) {
            continue;
        }
        set_entry(pin, e.with_remote_irr(false));
        if (e.masked() || !(m_regs.irr & (1U << pin))) {
            m_successive_eois[pin] = 0;
            continue;
        }
        // The line is still asserted.  Real hardware takes a little while
        // to re-deliver; a guest that EOIs without quieting the device
        // would otherwise never run anything but its handler.  After enough
        // immediate re-injections in a row, give it 10 ms, as QEMU and the
        // kernel's in-kernel IOAPIC both do.
        if (++m_successive_eois[pin] >= SUCCESSIVE_IRQ_MAX_COUNT) {
            m_successive_eois[pin] = 0;
            delay_service();
        } else {
            service();
        }
    }
}

void IOAPICCore::delay_service()
{
    uint64_t deadline = m_timer.now_ns() + IOAPIC_DELAYED_SERVICE_NS;
    // Like QEMU's timer_mod_anticipate(): a pending earlier deadline stays.
    if (m_timer_deadline && *m_timer_deadline <= deadline) {
        return;
    }
    m_timer_deadline = deadline;
    m_timer.arm(deadline);
}

void IOAPICCore::timer_expired()
{
    m_timer_deadline.reset();
    service();
}

void IOAPICCore::service()
{
    for (unsigned pin = 0; pin < IOAPIC_NUM_PINS; ++pin) {
        uint32_t mask = 1U << pin;
        if (!(m_regs.irr & mask)) {
            continue;
        }
        RedirEntry e = entry(pin);
        if (e.masked()) {
            continue;
        }
        if (e.is_level()) {
            // One level interrupt in flight per pin: further assertions
            // coalesce until the EOI clears remote IRR.
            if (e.remote_irr()) {
                continue;
            }
            set_entry(pin, e.with_remote_irr(true));
        } else {
            m_regs.irr &= ~mask;
        }
        m_output.deliver(pin, ioapic_entry_message(e));
    }
}

void IOAPICCore::publish_route(unsigned pin)
{
    RedirEntry e = entry(pin);
    m_output.route_changed(pin, ioapic_entry_message(e), e.masked());
}

void IOAPICCore::reset()
{
    m_regs = reset_regs();
    m_successive_eois.fill(0);
    m_timer_deadline.reset();
    m_timer.cancel();
    for (unsigned pin = 0; pin < IOAPIC_NUM_PINS; ++pin) {
        publish_route(pin);
    }
}

void IOAPICCore::post_load()
{
    // The stream is input like any other: a corrupted or hostile one must
    // not give the guest register values the hardware cannot hold.
    m_regs.id &= IOAPIC_ID_MASK;
    m_regs.ioregsel &= IOAPIC_IOREGSEL_MASK;
    m_regs.irr &= (1U << IOAPIC_NUM_PINS) - 1;
    for (unsigned pin = 0; pin < IOAPIC_NUM_PINS; ++pin) {
        publish_route(pin);
    }
}

} // namespace hw::intc
