#include "hw/intc/ioapic-kvm-output.h"

#include "trace/trace-hw_intc.h"

namespace hw::intc {

KVMSplitIOAPICOutput::KVMSplitIOAPICOutput(accel::kvm::Vm &vm)
    : m_vm(vm)
{
    for (unsigned pin = 0; pin < IOAPIC_KVM_PINS; pin++) {
        m_routes[pin].gsi = pin;
        m_routes[pin].type = accel::kvm::RoutingEntry::Type::Msi;
    }
}

void KVMSplitIOAPICOutput::route_changed(unsigned pin, const IOAPICMessage &msg,
                                         bool masked)
{
    // A masked entry keeps its last route, as QEMU's
    // ioapic_update_kvm_routes() does: nothing is delivered through it, and
    // an unmask reprograms it before the first delivery.
    if (pin >= IOAPIC_KVM_PINS || masked) {
        return;
    }
    accel::kvm::RoutingEntry &r = m_routes[pin];
    const accel::kvm::MsiMessage next {
        .address_lo = static_cast<uint32_t>(msg.address),
        .address_hi = static_cast<uint32_t>(msg.address >> 32),
        .data = msg.data,
    };
    if (r.msi.address_lo == next.address_lo &&
        r.msi.address_hi == next.address_hi && r.msi.data == next.data) {
        return;
    }
    r.msi = next;
    commit();
}

void KVMSplitIOAPICOutput::commit()
{
    qapi::Result<void> r = m_vm.set_gsi_routing(m_routes);
    if (!r) {
        m_errors++;
        trace_ioapic_kvm_error("KVM_SET_GSI_ROUTING", r.error().os_errno());
    }
}

void KVMSplitIOAPICOutput::deliver(unsigned pin, const IOAPICMessage &msg)
{
    if (pin >= IOAPIC_KVM_PINS) {
        return;
    }
    // The route already carries the message; the line only triggers it.
    // KVM ignores level 0 on an MSI route, and QEMU lowers edge lines the
    // same way.
    qapi::Result<int> r = m_vm.irq_line(pin, true);
    if (r && !msg.level()) {
        r = m_vm.irq_line(pin, false);
    }
    if (!r) {
        m_errors++;
        trace_ioapic_kvm_error("KVM_IRQ_LINE", r.error().os_errno());
    }
}

} // namespace hw::intc
