#include "system/vm.h"

#include "accel/kvm/kvm-accel.h"
#include "hw/i386/pc.h"
#include "hw/intc/ioapic.h"

#include <fmt/format.h>

namespace sysemu {

Vm::Vm(std::unique_ptr<qom::Context> ctx, qom::Ref<hw::MachineState> machine,
       qom::Ref<accel::AccelState> accel)
    : m_ctx(std::move(ctx))
    , m_machine(std::move(machine))
    , m_accel(std::move(accel))
{
}

Vm::~Vm()
{
    // Objects go before the context that owns their tree.
    m_accel.reset();
    m_machine.reset();
    m_ctx.reset();
}

void Vm::print_report(std::FILE *out) const
{
    const auto *x86 = qom::dyn_cast<hw::x86::X86MachineState>(m_machine.get());
    const auto *kvm = qom::dyn_cast<accel::kvm::KVMAccel>(m_accel.get());
    fmt::print(out, "machine:         {} ({})\n",
               m_machine->machine_class().machine_name,
               m_machine->machine_class().desc);
    if (kvm) {
        fmt::print(out, "irqchip:         {}{}\n",
                   qapi::enum_name(kvm->irqchip()),
                   kvm->requested_irqchip() ? "" : " (machine default)");
    }
    if (x86 && x86->ioapic_plan()) {
        const auto &plan = *x86->ioapic_plan();
        fmt::print(out, "ioapic:          {} at {}, version 0x{:02x} ({})\n",
                   plan.type, x86->ioapic()->canonical_path(), plan.version,
                   plan.source);
    }
    if (kvm) {
        fmt::print(out, "seoib-policy:    {} (requested)\n",
                   qapi::enum_name(kvm->seoib_policy()));
    }
}

qapi::Result<qapi::SeoibInfo> Vm::query_seoib() const
{
    return qapi::Error("query-seoib is not available yet");
}

qapi::KvmInfo Vm::query_kvm() const
{
    const bool kvm = qom::dyn_cast<accel::kvm::KVMAccel>(m_accel.get());
    return qapi::KvmInfo { .enabled = kvm, .present = kvm };
}

} // namespace sysemu
