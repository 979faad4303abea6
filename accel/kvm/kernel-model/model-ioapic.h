/*
 * The in-kernel IOAPIC that KVM_CREATE_IRQCHIP provides (kernel ioapic.c),
 * kept to what the model needs: 24 pins fed by KVM_IRQ_LINE, the
 * IOREGSEL/IOWIN window, remote IRR and the EOI broadcast from the LAPICs.
 *
 * It reports version 0x11 and, like the kernel's, decodes no EOI register:
 * a guest can only end a level-triggered interrupt through the LAPIC EOI
 * broadcast (or by flipping the pin to edge), which is why KVM refuses
 * ENABLE_SUPPRESS_EOI_BROADCAST without a split irqchip (kvm-facts §2.5).
 *
 * Redirection table entry (82093AA datasheet, 3.2.4):
 *
 *   bits  7:0   vector
 *   bits 10:8   delivery mode
 *   bit  11     destination mode (1 = logical)
 *   bit  12     delivery status (read-only)
 *   bit  13     pin polarity
 *   bit  14     remote IRR (read-only)
 *   bit  15     trigger mode (1 = level)
 *   bit  16     mask
 *   bits 63:56  destination
 */
#pragma once

#include "accel/kvm/kernel-model/model-internal.h"

#include <array>
#include <bitset>
#include <cstdint>

namespace accel::kvm::model {

inline constexpr uint64_t IOAPIC_DEFAULT_BASE_ADDRESS = 0xFEC00000;
inline constexpr uint64_t IOAPIC_MEM_LENGTH = 0x100;
inline constexpr uint32_t IOAPIC_VERSION_ID = 0x11;
inline constexpr uint32_t IOAPIC_REG_SELECT = 0x00;
inline constexpr uint32_t IOAPIC_REG_WINDOW = 0x10;
inline constexpr uint32_t IOAPIC_REG_APIC_ID = 0x00;
inline constexpr uint32_t IOAPIC_REG_VERSION = 0x01;
inline constexpr uint32_t IOAPIC_REG_ARB_ID = 0x02;
/// The pin the kernel tracks RTC EOIs for; it is scanned even when edge.
inline constexpr uint32_t RTC_GSI = 8;
/// EOIs that immediately re-inject a still-asserted line before the
/// kernel delays the next injection (IOAPIC_SUCCESSIVE_IRQ_MAX_COUNT).
inline constexpr uint32_t IOAPIC_SUCCESSIVE_IRQ_MAX_COUNT = 10000;

/// One redirection table entry over its raw 64 bits.
class RedirEntry {
public:
    static constexpr uint64_t DELIVERY_STATUS = 1ULL << 12;
    static constexpr uint64_t REMOTE_IRR = 1ULL << 14;
    static constexpr uint64_t LEVEL_TRIGGER = 1ULL << 15;
    static constexpr uint64_t MASKED = 1ULL << 16;

    constexpr RedirEntry() = default;
    constexpr explicit RedirEntry(uint64_t bits)
        : m_bits(bits)
    {
    }

    constexpr uint64_t bits() const { return m_bits; }
    constexpr uint8_t vector() const { return static_cast<uint8_t>(m_bits); }
    constexpr uint32_t delivery_mode() const { return static_cast<uint32_t>(m_bits) & APIC_MODE_MASK; }
    constexpr bool logical() const { return (m_bits & (1ULL << 11)) != 0; }
    constexpr bool level_trigger() const { return (m_bits & LEVEL_TRIGGER) != 0; }
    constexpr bool remote_irr() const { return (m_bits & REMOTE_IRR) != 0; }
    constexpr bool masked() const { return (m_bits & MASKED) != 0; }
    constexpr uint8_t dest_id() const { return static_cast<uint8_t>(m_bits >> 56); }

    constexpr RedirEntry with(uint64_t flag, bool value) const
    {
        return RedirEntry(value ? (m_bits | flag) : (m_bits & ~flag));
    }

private:
    uint64_t m_bits { MASKED };
};

class KernelIoapic {
public:
    explicit KernelIoapic(ModelVm &vm);

    bool in_range(uint64_t gpa) const;
    void mmio_write(uint64_t gpa, uint8_t size, uint32_t value);
    uint32_t mmio_read(uint64_t gpa, uint8_t size) const;

    /// kvm_ioapic_set_irq() for one pin: the KVM_IRQ_LINE status.
    int set_irq(uint32_t pin, bool level);
    /// kvm_ioapic_update_eoi(): an EOI of `vector` from `vcpu`'s LAPIC
    /// that was not suppressed or handled elsewhere.
    void update_eoi(VcpuState &vcpu, uint8_t vector, bool level_trigger);
    /// kvm_ioapic_scan_entry(): level entries (and the RTC pin) whose
    /// destination matches `vcpu`.
    void scan_entry(VcpuState &vcpu) const;
    /// The delayed re-injection after an interrupt storm, which the kernel
    /// runs from a work item 10 ms later and the model runs at the next
    /// KVM_RUN of any vCPU.
    void run_delayed_injection();

private:
    int service(uint32_t pin);
    void write_indirect(uint32_t value);
    uint32_t read_indirect() const;

    ModelVm &m_vm;
    std::array<RedirEntry, KVM_IOAPIC_NUM_PINS> m_redirtbl {};
    std::array<uint32_t, KVM_IOAPIC_NUM_PINS> m_irq_eoi {};
    uint32_t m_irr { 0 };
    uint8_t m_ioregsel { 0 };
    uint8_t m_id { 0 };
    bool m_delayed_injection { false };
};

} // namespace accel::kvm::model
