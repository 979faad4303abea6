/*
 * IOAPIC registers: offsets, indirect indices, redirection-entry layout and
 * the migrated register state.
 *
 * Private to hw/intc: the register model (ioapic-core) and the qdev devices
 * that wrap it include this; nothing outside the directory should.
 * Names follow QEMU's hw/intc/ioapic_internal.h so that a reader can put the
 * two side by side.  The layout is the Intel 82093AA datasheet's (IOAPIC
 * version 0x11) plus the EOI register of the PCI 2.2 IOAPICs (version 0x20,
 * e.g. the ICH9 I/O APIC).
 */
#pragma once

#include <array>
#include <cstdint>

namespace hw::intc {

/// Pins (redirection-table entries) of one IOAPIC.
inline constexpr unsigned IOAPIC_NUM_PINS = 24;

// Direct registers, byte offsets in the 0x100-byte MMIO window.
/// Size of the MMIO window.
inline constexpr uint64_t IOAPIC_MMIO_SIZE = 0x100;
/// I/O register select: index of the indirect register IOWIN reaches.
inline constexpr uint64_t IOAPIC_IOREGSEL = 0x00;
/// I/O window: the indirect register chosen by IOREGSEL (32-bit only).
inline constexpr uint64_t IOAPIC_IOWIN = 0x10;
/// EOI register: write a vector to end a level interrupt (version 0x20 only).
inline constexpr uint64_t IOAPIC_EOI = 0x40;

/// IOREGSEL bits 7:0 select the register; bits 31:8 are reserved.
inline constexpr uint32_t IOAPIC_IOREGSEL_MASK = 0xff;

// Indirect registers, selected through IOREGSEL.
inline constexpr uint32_t IOAPIC_REG_ID = 0x00;
inline constexpr uint32_t IOAPIC_REG_VER = 0x01;
inline constexpr uint32_t IOAPIC_REG_ARB = 0x02;
/// Entry n occupies indices 0x10 + 2n (low dword) and 0x11 + 2n (high).
inline constexpr uint32_t IOAPIC_REG_REDTBL_BASE = 0x10;

/// ID and ARB carry a 4-bit APIC bus ID in bits 27:24.
inline constexpr unsigned IOAPIC_ID_SHIFT = 24;
inline constexpr uint8_t IOAPIC_ID_MASK = 0xf;
/// VER bits 23:16: maximum redirection entry (pins - 1).
inline constexpr unsigned IOAPIC_VER_ENTRIES_SHIFT = 16;

/// 82093AA-compatible IOAPIC: no EOI register.
inline constexpr uint8_t IOAPIC_VER_11 = 0x11;
/// PCI 2.2 IOAPIC: has the EOI register at IOAPIC_EOI.
inline constexpr uint8_t IOAPIC_VER_20 = 0x20;
/// The `ioapic` device's default version (QEMU's IOAPIC_VER_DEF).
inline constexpr uint8_t IOAPIC_VER_DEF = IOAPIC_VER_20;

/// The versions the userspace IOAPIC implements.
constexpr bool ioapic_version_supported(uint8_t version)
{
    return version == IOAPIC_VER_11 || version == IOAPIC_VER_20;
}

/// The VER register's value for an IOAPIC of this version.
constexpr uint32_t ioapic_ver_register(uint8_t version)
{
    return version | (IOAPIC_NUM_PINS - 1) << IOAPIC_VER_ENTRIES_SHIFT;
}

/// Successive EOI re-injections of a still-asserted level pin after which
/// the next one is delayed (QEMU's SUCCESSIVE_IRQ_MAX_COUNT).
inline constexpr uint32_t SUCCESSIVE_IRQ_MAX_COUNT = 10000;
/// The delay of a throttled re-injection: 10 ms of virtual time.
inline constexpr uint64_t IOAPIC_DELAYED_SERVICE_NS = 10'000'000;

/*
 * Redirection-table entry (82093AA datasheet §3.2.4, IOREDTBL[23:0]):
 *
 *   bits   field             access  meaning
 *   63:56  destination       RW      APIC ID (physical) or logical set
 *   55:48  extended dest     RW      reserved on the 82093AA; QEMU passes it
 *                                    to MSI address bits 11:4, which carries
 *                                    the KVM extended destination ID
 *   47:17  reserved          RW      stored, ignored
 *   16     mask              RW      1 = masked
 *   15     trigger mode      RW      0 = edge, 1 = level
 *   14     remote IRR        RO      level only: set on delivery, cleared by
 *                                    the EOI for the entry's vector
 *   13     polarity          RW      0 = active high, 1 = active low
 *   12     delivery status   RO      1 = send pending; always 0 here, since
 *                                    delivery is immediate
 *   11     destination mode  RW      0 = physical, 1 = logical
 *   10:8   delivery mode     RW      see IOAPIC_DM_*
 *   7:0    vector            RW
 *
 * Reset value: masked, everything else 0.
 */
inline constexpr unsigned IOAPIC_LVT_DEST_SHIFT = 56;
inline constexpr unsigned IOAPIC_LVT_DEST_IDX_SHIFT = 48;
inline constexpr unsigned IOAPIC_LVT_MASKED_SHIFT = 16;
inline constexpr unsigned IOAPIC_LVT_TRIGGER_MODE_SHIFT = 15;
inline constexpr unsigned IOAPIC_LVT_REMOTE_IRR_SHIFT = 14;
inline constexpr unsigned IOAPIC_LVT_POLARITY_SHIFT = 13;
inline constexpr unsigned IOAPIC_LVT_DELIV_STATUS_SHIFT = 12;
inline constexpr unsigned IOAPIC_LVT_DEST_MODE_SHIFT = 11;
inline constexpr unsigned IOAPIC_LVT_DELIV_MODE_SHIFT = 8;

inline constexpr uint64_t IOAPIC_LVT_MASKED = 1ULL << IOAPIC_LVT_MASKED_SHIFT;
inline constexpr uint64_t IOAPIC_LVT_TRIGGER_MODE =
    1ULL << IOAPIC_LVT_TRIGGER_MODE_SHIFT;
inline constexpr uint64_t IOAPIC_LVT_REMOTE_IRR =
    1ULL << IOAPIC_LVT_REMOTE_IRR_SHIFT;
inline constexpr uint64_t IOAPIC_LVT_POLARITY = 1ULL
                                                << IOAPIC_LVT_POLARITY_SHIFT;
inline constexpr uint64_t IOAPIC_LVT_DELIV_STATUS =
    1ULL << IOAPIC_LVT_DELIV_STATUS_SHIFT;
inline constexpr uint64_t IOAPIC_LVT_DEST_MODE = 1ULL
                                                 << IOAPIC_LVT_DEST_MODE_SHIFT;
inline constexpr uint64_t IOAPIC_VECTOR_MASK = 0xff;
inline constexpr uint64_t IOAPIC_DM_MASK = 0x7;

/// Bits a guest write cannot change.
inline constexpr uint64_t IOAPIC_RO_BITS =
    IOAPIC_LVT_REMOTE_IRR | IOAPIC_LVT_DELIV_STATUS;
/// Bits a guest write sets.
inline constexpr uint64_t IOAPIC_RW_BITS = ~IOAPIC_RO_BITS;

// Delivery modes (bits 10:8); 011 and 110 are reserved.
inline constexpr uint8_t IOAPIC_DM_FIXED = 0x0;
inline constexpr uint8_t IOAPIC_DM_LOWEST_PRIORITY = 0x1;
inline constexpr uint8_t IOAPIC_DM_SMI = 0x2;
inline constexpr uint8_t IOAPIC_DM_NMI = 0x4;
inline constexpr uint8_t IOAPIC_DM_INIT = 0x5;
inline constexpr uint8_t IOAPIC_DM_EXTINT = 0x7;

inline constexpr uint8_t IOAPIC_TRIGGER_EDGE = 0;
inline constexpr uint8_t IOAPIC_TRIGGER_LEVEL = 1;

inline constexpr uint8_t IOAPIC_DEST_MODE_PHYSICAL = 0;
inline constexpr uint8_t IOAPIC_DEST_MODE_LOGICAL = 1;

/// One redirection-table entry as a value.
///
/// Storage is the raw 64-bit register, as migrated.  Accessors decode the
/// fields of the table above; with_*() return a modified copy.  The only way
/// a guest value enters an entry is with_guest_low()/with_guest_high(),
/// which keep the read-only bits.
class RedirEntry {
public:
    constexpr RedirEntry() = default;
    constexpr explicit RedirEntry(uint64_t raw)
        : m_raw(raw)
    {
    }

    /// The entry a reset leaves: masked, all other bits clear.
    static constexpr RedirEntry reset_value()
    {
        return RedirEntry(IOAPIC_LVT_MASKED);
    }

    constexpr uint64_t raw() const { return m_raw; }
    constexpr uint32_t low() const { return static_cast<uint32_t>(m_raw); }
    constexpr uint32_t high() const
    {
        return static_cast<uint32_t>(m_raw >> 32);
    }

    constexpr uint8_t vector() const
    {
        return static_cast<uint8_t>(m_raw & IOAPIC_VECTOR_MASK);
    }
    constexpr uint8_t delivery_mode() const
    {
        return static_cast<uint8_t>((m_raw >> IOAPIC_LVT_DELIV_MODE_SHIFT) &
                                    IOAPIC_DM_MASK);
    }
    /// IOAPIC_DEST_MODE_PHYSICAL or IOAPIC_DEST_MODE_LOGICAL.
    constexpr uint8_t dest_mode() const
    {
        return bit(IOAPIC_LVT_DEST_MODE_SHIFT);
    }
    constexpr bool delivery_status() const
    {
        return bit(IOAPIC_LVT_DELIV_STATUS_SHIFT) != 0;
    }
    /// 0 = active high, 1 = active low.
    constexpr uint8_t polarity() const
    {
        return bit(IOAPIC_LVT_POLARITY_SHIFT);
    }
    constexpr bool remote_irr() const
    {
        return bit(IOAPIC_LVT_REMOTE_IRR_SHIFT) != 0;
    }
    /// IOAPIC_TRIGGER_EDGE or IOAPIC_TRIGGER_LEVEL.
    constexpr uint8_t trigger_mode() const
    {
        return bit(IOAPIC_LVT_TRIGGER_MODE_SHIFT);
    }
    constexpr bool is_level() const
    {
        return trigger_mode() == IOAPIC_TRIGGER_LEVEL;
    }
    constexpr bool masked() const
    {
        return bit(IOAPIC_LVT_MASKED_SHIFT) != 0;
    }
    /// The 8-bit destination (bits 63:56).
    constexpr uint8_t dest() const
    {
        return static_cast<uint8_t>(m_raw >> IOAPIC_LVT_DEST_SHIFT);
    }
    /// Destination plus extended destination (bits 63:48), as QEMU turns
    /// it into an MSI address.
    constexpr uint16_t dest_idx() const
    {
        return static_cast<uint16_t>(m_raw >> IOAPIC_LVT_DEST_IDX_SHIFT);
    }

    constexpr RedirEntry with_vector(uint8_t vector) const
    {
        return RedirEntry((m_raw & ~IOAPIC_VECTOR_MASK) | vector);
    }
    constexpr RedirEntry with_delivery_mode(uint8_t mode) const
    {
        return with_field(IOAPIC_LVT_DELIV_MODE_SHIFT, IOAPIC_DM_MASK, mode);
    }
    constexpr RedirEntry with_dest_mode(uint8_t mode) const
    {
        return with_field(IOAPIC_LVT_DEST_MODE_SHIFT, 1, mode);
    }
    constexpr RedirEntry with_polarity(uint8_t polarity) const
    {
        return with_field(IOAPIC_LVT_POLARITY_SHIFT, 1, polarity);
    }
    constexpr RedirEntry with_remote_irr(bool set) const
    {
        return with_field(IOAPIC_LVT_REMOTE_IRR_SHIFT, 1, set);
    }
    constexpr RedirEntry with_trigger_mode(uint8_t mode) const
    {
        return with_field(IOAPIC_LVT_TRIGGER_MODE_SHIFT, 1, mode);
    }
    constexpr RedirEntry with_masked(bool masked) const
    {
        return with_field(IOAPIC_LVT_MASKED_SHIFT, 1, masked);
    }
    constexpr RedirEntry with_dest(uint8_t dest) const
    {
        return with_field(IOAPIC_LVT_DEST_SHIFT, 0xff, dest);
    }

    /// The entry after a guest writes the low dword through IOWIN.
    constexpr RedirEntry with_guest_low(uint32_t value) const
    {
        return with_guest_bits((m_raw & 0xffffffff00000000ULL) | value);
    }
    /// The entry after a guest writes the high dword through IOWIN.
    constexpr RedirEntry with_guest_high(uint32_t value) const
    {
        return with_guest_bits((m_raw & 0xffffffffULL) |
                               static_cast<uint64_t>(value) << 32);
    }

    friend constexpr bool operator==(RedirEntry, RedirEntry) = default;

private:
    constexpr uint8_t bit(unsigned shift) const
    {
        return static_cast<uint8_t>((m_raw >> shift) & 1);
    }
    constexpr RedirEntry with_field(unsigned shift, uint64_t mask,
                                    uint64_t value) const
    {
        return RedirEntry((m_raw & ~(mask << shift)) |
                          (value & mask) << shift);
    }
    // The one place where the read-only bits are protected from the guest.
    constexpr RedirEntry with_guest_bits(uint64_t written) const
    {
        return RedirEntry((written & IOAPIC_RW_BITS) |
                          (m_raw & IOAPIC_RO_BITS));
    }

    uint64_t m_raw { 0 };
};

/// The IOAPIC's migrated register state: QEMU's VMState "ioapic" fields.
///
/// `version` is deliberately absent: it is a property, set by the machine
/// type and globals on both sides of a migration, not guest state.
struct IOAPICRegs {
    /// APIC bus ID, 4 bits (ID register bits 27:24).
    uint8_t id { 0 };
    /// Selected indirect register; only bits 7:0 are ever set.
    uint32_t ioregsel { 0 };
    /// Input pins currently requesting service, bit n for pin n.
    uint32_t irr { 0 };
    /// Raw redirection entries; decode with RedirEntry.
    std::array<uint64_t, IOAPIC_NUM_PINS> ioredtbl {};
};

} // namespace hw::intc
