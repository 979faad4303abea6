#include "accel/kvm/kernel-model/model-ioapic.h"

#include "accel/kvm/kernel-model/model-vcpu.h"
#include "accel/kvm/kernel-model/model-vm.h"

namespace accel::kvm::model {

KernelIoapic::KernelIoapic(ModelVm &vm)
    : m_vm(vm)
{
}

bool KernelIoapic::in_range(uint64_t gpa) const
{
    return gpa >= IOAPIC_DEFAULT_BASE_ADDRESS &&
           gpa < IOAPIC_DEFAULT_BASE_ADDRESS + IOAPIC_MEM_LENGTH;
}

void KernelIoapic::mmio_write(uint64_t gpa, uint8_t size, uint32_t value)
{
    uint32_t data = value;
    if (size == 2) {
        data &= 0xFFFF;
    } else if (size == 1) {
        data &= 0xFF;
    }
    // Only the index and data windows are decoded; like the kernel's, this
    // IOAPIC (version 0x11) has no EOI register at 0x40.
    switch (gpa & 0xFF) {
    case IOAPIC_REG_SELECT:
        m_ioregsel = static_cast<uint8_t>(data);
        break;
    case IOAPIC_REG_WINDOW:
        write_indirect(data);
        break;
    default:
        break;
    }
}

uint32_t KernelIoapic::mmio_read(uint64_t gpa, uint8_t size) const
{
    uint32_t result = 0;
    switch (gpa & 0xFF) {
    case IOAPIC_REG_SELECT:
        result = m_ioregsel;
        break;
    case IOAPIC_REG_WINDOW:
        result = read_indirect();
        break;
    default:
        break;
    }
    if (size < 4) {
        result &= (1U << (size * 8)) - 1;
    }
    return result;
}

uint32_t KernelIoapic::read_indirect() const
{
    switch (m_ioregsel) {
    case IOAPIC_REG_VERSION:
        return ((KVM_IOAPIC_NUM_PINS - 1) << 16) | IOAPIC_VERSION_ID;
    case IOAPIC_REG_APIC_ID:
    case IOAPIC_REG_ARB_ID:
        return static_cast<uint32_t>(m_id & 0xF) << 24;
    default:
        break;
    }
    // Registers that are not redirection entries read as all ones.
    uint32_t index = (static_cast<uint32_t>(m_ioregsel) - 0x10) >> 1;
    uint64_t entry = ~0ULL;
    if (m_ioregsel >= 0x10 && index < KVM_IOAPIC_NUM_PINS) {
        entry = m_redirtbl[index].bits();
    }
    return static_cast<uint32_t>((m_ioregsel & 1) != 0 ? entry >> 32 : entry);
}

void KernelIoapic::write_indirect(uint32_t value)
{
    switch (m_ioregsel) {
    case IOAPIC_REG_VERSION:
    case IOAPIC_REG_ARB_ID:
        return;
    case IOAPIC_REG_APIC_ID:
        m_id = static_cast<uint8_t>((value >> 24) & 0xF);
        return;
    default:
        break;
    }
    uint32_t index = (static_cast<uint32_t>(m_ioregsel) - 0x10) >> 1;
    if (m_ioregsel < 0x10 || index >= KVM_IOAPIC_NUM_PINS) {
        return;
    }
    RedirEntry old = m_redirtbl[index];
    uint64_t bits = old.bits();
    if ((m_ioregsel & 1) != 0) {
        bits = (bits & 0xFFFFFFFFULL) | static_cast<uint64_t>(value) << 32;
    } else {
        bits = (bits & ~0xFFFFFFFFULL) | value;
    }
    // Remote IRR and delivery status are read-only.
    RedirEntry entry = RedirEntry(bits)
                           .with(RedirEntry::REMOTE_IRR, old.remote_irr())
                           .with(RedirEntry::DELIVERY_STATUS,
                                 (old.bits() & RedirEntry::DELIVERY_STATUS) != 0);
    // Linux and Xen end a level interrupt on an IOAPIC without an EOI
    // register by switching the pin to edge, expecting remote IRR to clear.
    if (!entry.level_trigger()) {
        entry = entry.with(RedirEntry::REMOTE_IRR, false);
    }
    m_redirtbl[index] = entry;
    // No irqfd resampler exists in the model, so a pending level interrupt
    // is injected as soon as the entry allows it.
    if (entry.level_trigger() && (m_irr & (1U << index)) != 0 && !entry.masked() &&
        !entry.remote_irr()) {
        (void)service(index);
    }
    m_vm.request_scan_ioapic_all();
}

int KernelIoapic::service(uint32_t pin)
{
    RedirEntry entry = m_redirtbl[pin];
    if (entry.masked() || (entry.level_trigger() && entry.remote_irr())) {
        return -1;
    }
    LapicIrq irq;
    irq.vector = entry.vector();
    irq.delivery_mode = entry.delivery_mode();
    irq.logical = entry.logical();
    irq.trig_level = entry.level_trigger();
    irq.dest_id = entry.dest_id();
    int result = m_vm.deliver_irq(nullptr, irq);
    // Remote IRR is set whenever delivery returned non-zero, including -1
    // for "no destination" (kvm-facts §4, remote IRR).
    if (result != 0 && entry.level_trigger()) {
        m_redirtbl[pin] = entry.with(RedirEntry::REMOTE_IRR, true);
    }
    return result;
}

int KernelIoapic::set_irq(uint32_t pin, bool level)
{
    uint32_t mask = 1U << pin;
    if (!level) {
        m_irr &= ~mask;
        return 1;
    }
    uint32_t old_irr = m_irr;
    m_irr |= mask;
    // An edge that is already pending is coalesced.
    if (!m_redirtbl[pin].level_trigger() && old_irr == m_irr) {
        return 0;
    }
    return service(pin);
}

void KernelIoapic::update_eoi(VcpuState &vcpu, uint8_t vector, bool level_trigger)
{
    for (uint32_t pin = 0; pin < KVM_IOAPIC_NUM_PINS; ++pin) {
        RedirEntry entry = m_redirtbl[pin];
        if (entry.vector() != vector) {
            continue;
        }
        // A suppressed EOI leaves remote IRR set: the guest asked to EOI the
        // IOAPIC itself, which this IOAPIC cannot take (kvm-facts §2.5).
        if (!level_trigger || vcpu.lapic()->suppress_eoi_broadcast()) {
            continue;
        }
        m_redirtbl[pin] = entry.with(RedirEntry::REMOTE_IRR, false);
        if (!entry.masked() && (m_irr & (1U << pin)) != 0) {
            // Real hardware does not re-deliver at once during the EOI
            // broadcast; after a storm of successive re-injections the
            // kernel delays the next one so a broken guest makes progress.
            if (++m_irq_eoi[pin] == IOAPIC_SUCCESSIVE_IRQ_MAX_COUNT) {
                m_irq_eoi[pin] = 0;
                m_delayed_injection = true;
            } else {
                (void)service(pin);
            }
        } else {
            m_irq_eoi[pin] = 0;
        }
    }
}

void KernelIoapic::scan_entry(VcpuState &vcpu) const
{
    for (uint32_t pin = 0; pin < KVM_IOAPIC_NUM_PINS; ++pin) {
        RedirEntry entry = m_redirtbl[pin];
        if (entry.level_trigger() || pin == RTC_GSI) {
            vcpu.scan_ioapic_irq(entry.dest_id(), entry.logical(), entry.vector());
        }
    }
}

void KernelIoapic::run_delayed_injection()
{
    if (!m_delayed_injection) {
        return;
    }
    m_delayed_injection = false;
    for (uint32_t pin = 0; pin < KVM_IOAPIC_NUM_PINS; ++pin) {
        RedirEntry entry = m_redirtbl[pin];
        if (entry.level_trigger() && (m_irr & (1U << pin)) != 0 && !entry.remote_irr()) {
            (void)service(pin);
        }
    }
}

} // namespace accel::kvm::model
