/*
 * The in-kernel local APIC of one vCPU (the model's struct kvm_lapic).
 *
 * The register page is kept exactly as KVM keeps it, so KVM_GET_LAPIC and
 * KVM_SET_LAPIC copy it with the same fixups (kvm-facts §3.4).  Guest
 * accesses arrive through the x2APIC MSRs (0x800-0x8FF) or the xAPIC MMIO
 * page; both end in write()/read(), which follow kvm_lapic_reg_write() and
 * kvm_lapic_reg_read().  The timer is not modelled: TMICT is stored, the
 * current count reads 0 and the timer never fires.
 */
#pragma once

#include "accel/kvm/kernel-model/model-internal.h"

#include <cstdint>
#include <optional>

namespace accel::kvm::model {

class Lapic {
public:
    explicit Lapic(VcpuState &vcpu);

    /// kvm_lapic_reset(): RESET (init = false) or INIT.  The APIC base MSR
    /// is the vCPU's and is reset by the caller.
    void reset(bool init);
    /// kvm_apic_set_version(): recomputes the LVR, including bit 24.
    void update_version();

    uint32_t reg(uint32_t offset) const { return m_page.reg(offset); }
    bool vector_bit(uint32_t base, uint8_t vector) const
    {
        return m_page.vector_bit(base, vector);
    }

    bool hw_enabled() const;
    bool sw_enabled() const { return m_sw_enabled; }
    /// Both enables: what FIXED/LOWEST delivery needs.
    bool enabled() const { return hw_enabled() && sw_enabled(); }
    bool x2apic_mode() const;
    uint8_t xapic_id() const { return static_cast<uint8_t>(reg(APIC_ID) >> 24); }
    /// KVM's x2APIC ID is read-only and equals the vCPU id.
    uint32_t x2apic_id() const;

    /// kvm_lapic_reg_write() for a 32-bit register.  False when the write
    /// faults (#GP for an x2APIC MSR access).
    bool write(uint32_t offset, uint32_t value);
    /// kvm_lapic_reg_read() of a whole register.  Empty when not readable.
    std::optional<uint32_t> read(uint32_t offset);

    /// WRMSR/RDMSR of an x2APIC MSR.  False/empty means #GP.
    bool msr_write(uint32_t msr, uint64_t data);
    std::optional<uint64_t> msr_read(uint32_t msr);

    /// Accesses to the xAPIC MMIO page (apic_mmio_write/read).  Disabled
    /// and x2APIC-mode APICs swallow them (KVM_X86_QUIRK_LAPIC_MMIO_HOLE).
    void mmio_write(uint32_t offset, uint8_t size, uint32_t value);
    uint32_t mmio_read(uint32_t offset, uint8_t size);

    /// __apic_accept_irq(): 1 if accepted, 0 if not.
    int accept_irq(const LapicIrq &irq);

    /// kvm_apic_has_interrupt(): the vector that would be delivered now,
    /// or -1.
    int deliverable_interrupt();
    /// kvm_apic_ack_interrupt(): IRR -> ISR.
    void ack_interrupt(uint8_t vector);
    /// kvm_apic_pending_eoi(): vector is in IRR or ISR.
    bool pending_eoi(uint8_t vector) const;
    /// kvm_lapic_suppress_eoi_broadcast() (kvm-facts §2.3).
    bool suppress_eoi_broadcast() const;

    /// KVM_GET_LAPIC / KVM_SET_LAPIC (kvm_apic_get_state/set_state).
    LapicState get_state() const;
    qapi::Result<void> set_state(const LapicState &state);

    /// The xAPIC ID at RESET/enable (8 bits of the vCPU id), and the x2APIC
    /// ID and derived LDR when x2APIC mode is entered.
    void set_xapic_id(uint8_t id);
    void set_x2apic_id();

    /// INIT/SIPI pending from an IPI, taken by the vCPU's run loop.
    bool take_pending_init();
    std::optional<uint8_t> take_pending_sipi();
    /// KVM_SET_MP_STATE(SIPI_RECEIVED): a SIPI with `vector` is pending.
    void queue_sipi(uint8_t vector)
    {
        m_sipi_vector = vector;
        m_pending_sipi = true;
    }
    bool has_pending_init_or_sipi() const { return m_pending_init || m_pending_sipi; }

private:
    void set_reg(uint32_t offset, uint32_t value) { m_page.set_reg(offset, value); }
    void set_spiv(uint32_t value);
    void set_ldr(uint32_t value);
    void set_dfr(uint32_t value);
    void update_ppr();
    int highest_vector(uint32_t base) const;
    void set_eoi();
    bool x2apic_icr_write(uint64_t data);
    void send_ipi(uint32_t icr_low, uint32_t icr_high);
    bool fixup_state(LapicState &state, bool set) const;
    void mark_map_dirty();

    VcpuState &m_vcpu;
    LapicState m_page;
    bool m_sw_enabled { false };
    bool m_pending_init { false };
    bool m_pending_sipi { false };
    uint8_t m_sipi_vector { 0 };
};

} // namespace accel::kvm::model
