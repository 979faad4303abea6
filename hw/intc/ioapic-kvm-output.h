/*
 * The userspace IOAPIC's output in split-irqchip mode: KVM MSI routes.
 *
 * As QEMU's split mode does (hw/intc/ioapic.c, kvm_arch_init_irq_routing):
 * GSIs 0-23 are the IOAPIC's pins, each an MSI route built from its
 * redirection entry; a delivery raises the GSI with KVM_IRQ_LINE (and
 * lowers it again for edge entries).  The routes matter beyond delivery:
 * their level bits decide which LAPIC EOIs exit to userspace
 * (kvm-facts §2.4), so they are kept in step with the redirection table.
 */
#pragma once

#include "accel/kvm/kvm-backend.h"
#include "hw/intc/ioapic-core.h"

#include <array>
#include <cstdint>

namespace hw::intc {

inline constexpr unsigned IOAPIC_KVM_PINS = 24;

class KVMSplitIOAPICOutput final : public IOAPICOutput {
public:
    /// `vm` must have split irqchip with at least 24 reserved pins and
    /// outlive this object.
    explicit KVMSplitIOAPICOutput(accel::kvm::Vm &vm);

    void deliver(unsigned pin, const IOAPICMessage &msg) override;
    void route_changed(unsigned pin, const IOAPICMessage &msg,
                       bool masked) override;

    /// The route table as last committed to KVM.
    const std::array<accel::kvm::RoutingEntry, IOAPIC_KVM_PINS> &routes() const
    {
        return m_routes;
    }
    /// KVM calls that failed (they are logged, never fatal: a guest's
    /// redirection write must not kill the VM).
    unsigned errors() const { return m_errors; }

private:
    void commit();

    accel::kvm::Vm &m_vm;
    std::array<accel::kvm::RoutingEntry, IOAPIC_KVM_PINS> m_routes {};
    unsigned m_errors { 0 };
};

} // namespace hw::intc
