#include "accel/kvm/kernel-model/model-lapic.h"

#include "accel/kvm/kernel-model/model-vcpu.h"
#include "accel/kvm/kernel-model/model-vm.h"

#include <array>
#include <bit>
#include <cerrno>

namespace accel::kvm::model {

namespace {

constexpr uint32_t LVT_MASK = APIC_LVT_MASKED | APIC_SEND_PENDING | APIC_VECTOR_MASK;
constexpr uint32_t LINT_MASK = LVT_MASK | APIC_MODE_MASK | APIC_INPUT_POLARITY |
                               APIC_LVT_REMOTE_IRR | APIC_LVT_LEVEL_TRIGGER;

// Writable bits of each LVT entry in LVT order: timer, thermal, performance
// counter, LINT0, LINT1, error.  The timer has one-shot and periodic modes
// only; TSC-deadline mode needs CPUID.1:ECX[24], which the model does not
// report.
constexpr std::array<uint32_t, APIC_NR_LVT_ENTRIES> LVT_WRITABLE {
    LVT_MASK | APIC_LVT_TIMER_PERIODIC,
    LVT_MASK | APIC_MODE_MASK,
    LVT_MASK | APIC_MODE_MASK,
    LINT_MASK,
    LINT_MASK,
    LVT_MASK,
};

constexpr uint32_t lvt_offset(uint32_t index)
{
    return APIC_LVTT + 0x10 * index;
}

constexpr uint64_t reg_bit(uint32_t offset)
{
    return 1ULL << (offset >> 4);
}

// kvm_lapic_readable_reg_mask(): EOI and SELF_IPI are write-only; ARBPRI,
// DFR and ICR2 do not exist in x2APIC mode.
uint64_t readable_registers(bool x2apic)
{
    uint64_t mask = reg_bit(APIC_ID) | reg_bit(APIC_LVR) | reg_bit(APIC_TASKPRI) |
                    reg_bit(APIC_PROCPRI) | reg_bit(APIC_LDR) | reg_bit(APIC_SPIV) |
                    reg_bit(APIC_ESR) | reg_bit(APIC_ICR) | reg_bit(APIC_TMICT) |
                    reg_bit(APIC_TMCCT) | reg_bit(APIC_TDCR);
    for (uint32_t i = 0; i < APIC_NR_LVT_ENTRIES; ++i) {
        mask |= reg_bit(lvt_offset(i));
    }
    for (uint32_t i = 0; i < 8; ++i) {
        mask |= reg_bit(APIC_ISR + 0x10 * i) | reg_bit(APIC_TMR + 0x10 * i) |
                reg_bit(APIC_IRR + 0x10 * i);
    }
    if (!x2apic) {
        mask |= reg_bit(APIC_ARBPRI) | reg_bit(APIC_DFR) | reg_bit(APIC_ICR2);
    }
    return mask;
}

constexpr uint32_t x2apic_ldr(uint32_t id)
{
    return ((id >> 4) << 16) | (1U << (id & 0xF));
}

// kvm_lapic_advertise_suppress_eoi_broadcast() (kvm-facts §2.1).  Kernels
// before the SEOIB change never leave QUIRKED, where the answer is the old
// "no in-kernel IOAPIC" rule.
bool advertise_suppress_eoi_broadcast(const ModelVm &vm)
{
    switch (vm.seoib_mode()) {
    case SeoibMode::Enabled:
        return true;
    case SeoibMode::Disabled:
        return false;
    case SeoibMode::Quirked:
        break;
    }
    return !vm.ioapic_in_kernel();
}

} // namespace

Lapic::Lapic(VcpuState &vcpu)
    : m_vcpu(vcpu)
{
}

bool Lapic::hw_enabled() const
{
    return (m_vcpu.apic_base() & MSR_IA32_APICBASE_ENABLE) != 0;
}

bool Lapic::x2apic_mode() const
{
    return (m_vcpu.apic_base() & MSR_IA32_APICBASE_EXTD) != 0;
}

uint32_t Lapic::x2apic_id() const
{
    return m_vcpu.id();
}

void Lapic::mark_map_dirty()
{
    m_vcpu.vm().mark_apic_map_dirty();
}

void Lapic::reset(bool init)
{
    // The xAPIC ID is only set at RESET; INIT keeps a guest-written one.
    if (!init) {
        set_xapic_id(static_cast<uint8_t>(m_vcpu.id()));
    }
    update_version();

    for (uint32_t i = 0; i < APIC_NR_LVT_ENTRIES; ++i) {
        set_reg(lvt_offset(i), APIC_LVT_MASKED);
    }
    // KVM_X86_QUIRK_LINT0_REENABLED (on by default): the BSP comes out of
    // reset with LINT0 unmasked as ExtINT, as BIOSes expect.
    if (m_vcpu.is_reset_bsp()) {
        set_reg(APIC_LVT0, APIC_DM_EXTINT);
    }

    set_dfr(APIC_DFR_FLAT);
    set_spiv(0xFF);
    set_reg(APIC_TASKPRI, 0);
    if (!x2apic_mode()) {
        set_ldr(0);
    }
    set_reg(APIC_ESR, 0);
    set_reg(APIC_ICR, 0);
    if (x2apic_mode()) {
        set_reg(APIC_ICR_HIGH_INTERNAL, 0);
    } else {
        set_reg(APIC_ICR2, 0);
    }
    set_reg(APIC_TDCR, 0);
    set_reg(APIC_TMICT, 0);
    for (uint32_t i = 0; i < 8; ++i) {
        set_reg(APIC_IRR + 0x10 * i, 0);
        set_reg(APIC_ISR + 0x10 * i, 0);
        set_reg(APIC_TMR + 0x10 * i, 0);
    }
    update_ppr();
    m_vcpu.vm().recalculate_apic_map();
}

void Lapic::update_version()
{
    uint32_t lvr = APIC_LVT_DEFAULT;
    // Bit 24 needs x2APIC in the guest CPUID and a VM that advertises
    // SEOIB.  It is computed here only, so a mode change by
    // KVM_ENABLE_CAP shows at the next RESET/INIT, KVM_SET_CPUID2 or
    // KVM_SET_LAPIC (kvm-facts §2.1).
    if (m_vcpu.guest_has_x2apic() && advertise_suppress_eoi_broadcast(m_vcpu.vm())) {
        lvr |= APIC_LVR_DIRECTED_EOI;
    }
    set_reg(APIC_LVR, lvr);
}

void Lapic::set_spiv(uint32_t value)
{
    set_reg(APIC_SPIV, value);
    bool enabled = (value & APIC_SPIV_APIC_ENABLED) != 0;
    if (enabled != m_sw_enabled) {
        m_sw_enabled = enabled;
        mark_map_dirty();
    }
}

void Lapic::set_xapic_id(uint8_t id)
{
    set_reg(APIC_ID, static_cast<uint32_t>(id) << 24);
    mark_map_dirty();
}

void Lapic::set_x2apic_id()
{
    set_reg(APIC_ID, x2apic_id());
    set_reg(APIC_LDR, x2apic_ldr(x2apic_id()));
    mark_map_dirty();
}

void Lapic::set_ldr(uint32_t value)
{
    set_reg(APIC_LDR, value);
    mark_map_dirty();
}

void Lapic::set_dfr(uint32_t value)
{
    set_reg(APIC_DFR, value);
    mark_map_dirty();
}

int Lapic::highest_vector(uint32_t base) const
{
    for (int i = 7; i >= 0; --i) {
        uint32_t word = reg(base + 0x10 * static_cast<uint32_t>(i));
        if (word != 0) {
            return i * 32 + 31 - std::countl_zero(word);
        }
    }
    return -1;
}

void Lapic::update_ppr()
{
    uint32_t tpr = reg(APIC_TASKPRI);
    int isr = highest_vector(APIC_ISR);
    uint32_t isrv = isr < 0 ? 0 : static_cast<uint32_t>(isr);
    uint32_t ppr = (tpr & 0xF0) >= (isrv & 0xF0) ? (tpr & 0xFF) : (isrv & 0xF0);
    set_reg(APIC_PROCPRI, ppr);
}

bool Lapic::write(uint32_t offset, uint32_t value)
{
    bool ok = true;
    switch (offset) {
    case APIC_ID:
        if (x2apic_mode()) {
            ok = false;
        } else {
            set_xapic_id(static_cast<uint8_t>(value >> 24));
        }
        break;
    case APIC_TASKPRI:
        set_reg(APIC_TASKPRI, value & 0xFF);
        update_ppr();
        break;
    case APIC_EOI:
        set_eoi();
        break;
    case APIC_LDR:
        if (x2apic_mode()) {
            ok = false;
        } else {
            set_ldr(value & APIC_LDR_MASK);
        }
        break;
    case APIC_DFR:
        if (x2apic_mode()) {
            ok = false;
        } else {
            set_dfr(value | APIC_DFR_CLUSTER);
        }
        break;
    case APIC_SPIV: {
        // Bit 12 is writable only while the LVR advertises it: the guest
        // cannot ask for suppression it was not offered (kvm-facts §2.2).
        uint32_t writable = APIC_SPIV_WRITABLE;
        if ((reg(APIC_LVR) & APIC_LVR_DIRECTED_EOI) != 0) {
            writable |= APIC_SPIV_DIRECTED_EOI;
        }
        set_spiv(value & writable);
        if ((value & APIC_SPIV_APIC_ENABLED) == 0) {
            for (uint32_t i = 0; i < APIC_NR_LVT_ENTRIES; ++i) {
                set_reg(lvt_offset(i), reg(lvt_offset(i)) | APIC_LVT_MASKED);
            }
        }
        break;
    }
    case APIC_ICR:
        // The xAPIC ICR: delivery is instantaneous, so BUSY never sticks.
        value &= ~APIC_ICR_BUSY;
        send_ipi(value, reg(APIC_ICR2));
        set_reg(APIC_ICR, value);
        break;
    case APIC_ICR2:
        if (x2apic_mode()) {
            ok = false;
        } else {
            set_reg(APIC_ICR2, value & 0xFF000000);
        }
        break;
    case APIC_LVTT:
    case APIC_LVTTHMR:
    case APIC_LVTPC:
    case APIC_LVT0:
    case APIC_LVT1:
    case APIC_LVTERR: {
        uint32_t index = (offset - APIC_LVTT) >> 4;
        if (!m_sw_enabled) {
            value |= APIC_LVT_MASKED;
        }
        set_reg(offset, value & LVT_WRITABLE[index]);
        break;
    }
    case APIC_TMICT:
        set_reg(APIC_TMICT, value);
        break;
    case APIC_TDCR:
        set_reg(APIC_TDCR, value & 0xB);
        break;
    case APIC_ESR:
        ok = !(x2apic_mode() && value != 0);
        break;
    case APIC_SELF_IPI:
        // x2APIC only; bits 31:8 are reserved.
        if (!x2apic_mode() || (value & ~APIC_VECTOR_MASK) != 0) {
            ok = false;
        } else {
            send_ipi(APIC_DEST_SELF | value, 0);
        }
        break;
    default:
        // Read-only, reserved, and LVTCMCI without CMCI.
        ok = false;
        break;
    }
    m_vcpu.vm().recalculate_apic_map();
    return ok;
}

std::optional<uint32_t> Lapic::read(uint32_t offset)
{
    if (offset > APIC_SELF_IPI || (offset & 0xF) != 0 ||
        (readable_registers(x2apic_mode()) & reg_bit(offset)) == 0) {
        return std::nullopt;
    }
    switch (offset) {
    case APIC_ARBPRI:
    case APIC_TMCCT:
        return 0;
    case APIC_PROCPRI:
        update_ppr();
        return reg(APIC_PROCPRI);
    default:
        return reg(offset);
    }
}

bool Lapic::msr_write(uint32_t msr, uint64_t data)
{
    if (!x2apic_mode()) {
        return false;
    }
    uint32_t offset = (msr - x2apic_msr(0)) << 4;
    if (offset == APIC_ICR) {
        return x2apic_icr_write(data);
    }
    // Bits 63:32 are reserved in every x2APIC register but the ICR.
    if ((data >> 32) != 0) {
        return false;
    }
    return write(offset, static_cast<uint32_t>(data));
}

std::optional<uint64_t> Lapic::msr_read(uint32_t msr)
{
    if (!x2apic_mode()) {
        return std::nullopt;
    }
    uint32_t offset = (msr - x2apic_msr(0)) << 4;
    if (offset == APIC_ICR) {
        return static_cast<uint64_t>(reg(APIC_ICR)) |
               static_cast<uint64_t>(reg(APIC_ICR_HIGH_INTERNAL)) << 32;
    }
    return read(offset);
}

void Lapic::mmio_write(uint32_t offset, uint8_t size, uint32_t value)
{
    if (!hw_enabled() || x2apic_mode()) {
        return;
    }
    // SDM 11.4.1: registers are 128-bit aligned and accessed as 32 bits;
    // anything else is dropped.
    if (size != 4 || (offset & 0xF) != 0) {
        return;
    }
    (void)write(offset & 0xFF0, value);
}

uint32_t Lapic::mmio_read(uint32_t offset, uint8_t size)
{
    uint32_t size_mask = size >= 4 ? 0xFFFFFFFF : (1U << (size * 8)) - 1;
    if (!hw_enabled() || x2apic_mode()) {
        return size_mask;
    }
    uint32_t alignment = offset & 0xF;
    if (alignment + size > 4) {
        return 0;
    }
    std::optional<uint32_t> value = read(offset & ~0xFU);
    if (!value) {
        return 0;
    }
    return (*value >> (alignment * 8)) & size_mask;
}

bool Lapic::x2apic_icr_write(uint64_t data)
{
    if ((data & X2APIC_ICR_RESERVED_BITS) != 0) {
        return false;
    }
    data &= ~static_cast<uint64_t>(APIC_ICR_BUSY);
    send_ipi(static_cast<uint32_t>(data), static_cast<uint32_t>(data >> 32));
    set_reg(APIC_ICR, static_cast<uint32_t>(data));
    set_reg(APIC_ICR_HIGH_INTERNAL, static_cast<uint32_t>(data >> 32));
    return true;
}

void Lapic::send_ipi(uint32_t icr_low, uint32_t icr_high)
{
    LapicIrq irq;
    irq.vector = static_cast<uint8_t>(icr_low & APIC_VECTOR_MASK);
    irq.delivery_mode = icr_low & APIC_MODE_MASK;
    irq.logical = (icr_low & APIC_DEST_LOGICAL) != 0;
    irq.level = (icr_low & APIC_INT_ASSERT) != 0;
    irq.trig_level = (icr_low & APIC_INT_LEVELTRIG) != 0;
    irq.shorthand = icr_low & APIC_SHORT_MASK;
    irq.dest_id = x2apic_mode() ? icr_high : icr_high >> 24;
    (void)m_vcpu.vm().deliver_irq(&m_vcpu, irq);
}

int Lapic::accept_irq(const LapicIrq &irq)
{
    switch (irq.delivery_mode) {
    case APIC_DM_LOWEST:
    case APIC_DM_FIXED:
        // A level-triggered de-assert message carries no interrupt.
        if (irq.trig_level && !irq.level) {
            return 0;
        }
        if (!enabled()) {
            return 0;
        }
        m_page.set_vector_bit(APIC_TMR, irq.vector, irq.trig_level);
        m_page.set_vector_bit(APIC_IRR, irq.vector, true);
        return 1;
    case APIC_DM_REMRD:
        m_vcpu.set_pv_unhalted();
        return 1;
    case APIC_DM_SMI:
        // KVM accepts an SMI when it supports SMM (the default build); the
        // model has no SMM, so the SMI is accepted and has no effect.
        return 1;
    case APIC_DM_NMI:
        m_vcpu.queue_nmi();
        return 1;
    case APIC_DM_INIT:
        if (!irq.trig_level || irq.level) {
            // A new INIT supersedes any SIPI not yet taken.
            m_pending_init = true;
            m_pending_sipi = false;
            return 1;
        }
        return 0;
    case APIC_DM_STARTUP:
        m_sipi_vector = irq.vector;
        m_pending_sipi = true;
        return 1;
    default:
        // ExtINT only comes from LINT0 and the PIC, neither modelled.
        return 0;
    }
}

int Lapic::deliverable_interrupt()
{
    if (!m_vcpu.apic_present()) {
        return -1;
    }
    update_ppr();
    int irr = highest_vector(APIC_IRR);
    if (irr < 0 || (static_cast<uint32_t>(irr) & 0xF0) <= reg(APIC_PROCPRI)) {
        return -1;
    }
    return irr;
}

void Lapic::ack_interrupt(uint8_t vector)
{
    m_page.set_vector_bit(APIC_IRR, vector, false);
    m_page.set_vector_bit(APIC_ISR, vector, true);
    update_ppr();
}

bool Lapic::pending_eoi(uint8_t vector) const
{
    return vector_bit(APIC_ISR, vector) || vector_bit(APIC_IRR, vector);
}

bool Lapic::suppress_eoi_broadcast() const
{
    if ((reg(APIC_SPIV) & APIC_SPIV_DIRECTED_EOI) == 0) {
        return false;
    }
    // Evaluated at EOI time from the current SPIV and mode; the LVR, the
    // APIC mode and the TMR do not matter (kvm-facts §2.3).
    switch (m_vcpu.vm().seoib_mode()) {
    case SeoibMode::Enabled:
        return true;
    case SeoibMode::Disabled:
        return false;
    case SeoibMode::Quirked:
        break;
    }
    return m_vcpu.vm().ioapic_in_kernel();
}

void Lapic::set_eoi()
{
    int vector = highest_vector(APIC_ISR);
    // An EOI with nothing in service (e.g. a guest probing the timer) is
    // allowed and does nothing.
    if (vector < 0) {
        return;
    }
    m_page.set_vector_bit(APIC_ISR, static_cast<uint8_t>(vector), false);
    update_ppr();
    m_vcpu.ioapic_send_eoi(static_cast<uint8_t>(vector));
}

bool Lapic::fixup_state(LapicState &state, bool set) const
{
    if (!x2apic_mode()) {
        return true;
    }
    uint32_t id = x2apic_id();
    if (m_vcpu.vm().x2apic_format()) {
        // With 32-bit IDs the x2APIC ID is read-only: SET must carry it
        // unchanged (kvm-facts §3.4).
        if (state.reg(APIC_ID) != id) {
            return false;
        }
    } else {
        // Legacy format: GET reports the ID in bits 31:24, SET ignores the
        // value userspace passes.
        state.set_reg(APIC_ID, set ? id : id << 24);
    }
    if (set) {
        state.set_reg(APIC_LDR, x2apic_ldr(id));
        // Userspace sees ICR and ICR2; the x2APIC ICR is one 64-bit
        // register inside the kernel.
        state.set_reg(APIC_ICR_HIGH_INTERNAL, state.reg(APIC_ICR2));
    } else {
        state.set_reg(APIC_ICR2, state.reg(APIC_ICR_HIGH_INTERNAL));
    }
    return true;
}

LapicState Lapic::get_state() const
{
    LapicState state = m_page;
    state.set_reg(APIC_TMCCT, 0);
    (void)fixup_state(state, false);
    return state;
}

qapi::Result<void> Lapic::set_state(const LapicState &state)
{
    LapicState incoming = state;
    // The kernel sets SPIV before it validates the page, so a refused
    // KVM_SET_LAPIC still changes SPIV.
    set_spiv(incoming.reg(APIC_SPIV));
    if (!fixup_state(incoming, true)) {
        m_vcpu.vm().recalculate_apic_map();
        return kernel_error(EINVAL, "KVM_SET_LAPIC");
    }
    m_page = incoming;
    mark_map_dirty();
    m_vcpu.vm().recalculate_apic_map();
    // Whatever LVR userspace passed is replaced by the computed one.
    update_version();
    update_ppr();
    return {};
}

bool Lapic::take_pending_init()
{
    bool pending = m_pending_init;
    m_pending_init = false;
    return pending;
}

std::optional<uint8_t> Lapic::take_pending_sipi()
{
    if (!m_pending_sipi) {
        return std::nullopt;
    }
    m_pending_sipi = false;
    return m_sipi_vector;
}

} // namespace accel::kvm::model
