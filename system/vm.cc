#include "system/vm.h"

#include "accel/kvm/kvm-accel.h"
#include "hw/i386/pc.h"
#include "hw/i386/x86-cpu.h"
#include "hw/intc/ioapic.h"
#include "accel/kvm/seoib-policy.h"
#include "system/guest-report.h"
#include "system/guest-run.h"

#include <fmt/format.h>

namespace sysemu {

namespace {
/// The vCPUs of a machine that is not an x86 one.
const std::vector<qom::Ref<hw::x86::X86CPU>> no_cpus;
} // namespace

Vm::Vm(std::unique_ptr<qom::Context> ctx, qom::Ref<hw::MachineState> machine,
       qom::Ref<accel::AccelState> accel)
    : m_ctx(std::move(ctx))
    , m_machine(std::move(machine))
    , m_accel(std::move(accel))
{
}

Vm::~Vm()
{
    // Guest RAM leaves its KVM memory slot before the VM goes; objects go
    // before the context that owns their tree.
    m_guest.reset();
    m_guest_ram.reset();
    m_accel.reset();
    m_machine.reset();
    m_ctx.reset();
}

void Vm::print_report(std::FILE *out) const
{
    const auto *x86 = qom::dyn_cast<hw::x86::X86MachineState>(m_machine.get());
    const auto *kvm = qom::dyn_cast<accel::kvm::KVMAccel>(m_accel.get());
    const hw::MachineClass &mc = m_machine->machine_class();
    fmt::print(out, "machine:          {} ({}){}\n", mc.machine_name, mc.desc,
               kvm && kvm->seoib_legacy() ? ", legacy SEOIB (x-seoib-legacy)"
                                          : "");
    if (kvm) {
        fmt::print(out, "kvm:              {}{}, KVM_CAP_X2APIC_API 0x{:x} "
                        "(system), 0x{:x} (VM)\n",
                   kvm->backend_name(),
                   kvm->on_host() ? std::string(" (") + kvm->device() + ")"
                                  : std::string(" (kernel model)"),
                   kvm->kernel_x2apic_api_system(), kvm->kernel_x2apic_api());
        fmt::print(out, "irqchip:          {}{}\n",
                   qapi::enum_name(kvm->irqchip()),
                   kvm->requested_irqchip() ? "" : " (machine default)");
    }
    if (x86 && x86->ioapic_plan()) {
        const auto &plan = *x86->ioapic_plan();
        fmt::print(out, "ioapic:           {} at {}, version 0x{:02x} ({})\n",
                   plan.type, x86->ioapic()->canonical_path(), plan.version,
                   plan.source);
    }
    if (kvm && kvm->seoib()) {
        fmt::print(out, "seoib-policy:     {} requested{}, {} in effect\n",
                   qapi::enum_name(kvm->seoib_policy()),
                   kvm->seoib_policy_explicit() ? "" : " (default)",
                   qapi::enum_name(kvm->seoib()->effective));
        fmt::print(out, "x2apic-api flags: 0x{:x} ({})\n", kvm->seoib()->flags,
                   accel::kvm::x2apic_api_flag_names(kvm->seoib()->flags));
        for (const auto &cpu : x86 ? x86->cpus() : no_cpus) {
            const accel::kvm::KVMCPUState *v = kvm->vcpu_state(*cpu);
            if (!v) {
                continue;
            }
            if (!v->lvr) {
                fmt::print(out, "vcpu {:<4}        APIC ID {}, no in-kernel "
                                "LAPIC (kernel-irqchip=off)\n",
                           cpu->cpu_index(), cpu->apic_id());
                continue;
            }
            const bool seoib = *v->lvr & accel::kvm::APIC_LVR_DIRECTED_EOI;
            fmt::print(out,
                       "vcpu {:<4}        APIC ID {}, LVR 0x{:08x}: suppress "
                       "EOI broadcast {}\n",
                       cpu->cpu_index(), cpu->apic_id(), *v->lvr,
                       seoib ? "advertised (bit 24 set)"
                             : "not advertised (bit 24 clear)");
        }
    }
}

qapi::Result<void> Vm::prepare_guest()
{
    const auto *kvm = qom::dyn_cast<accel::kvm::KVMAccel>(m_accel.get());
    if (m_guest || !kvm || kvm->irqchip() == qapi::OnOffSplit::Off) {
        return {};
    }
    m_guest = TRY(BuiltinGuest::create(*this, GuestRunOptions {}));
    return {};
}

bool Vm::start_main_job(std::FILE *out, std::FILE *err, bool boot)
{
    m_job_status = 0;
    print_report(out);
    const auto *kvm = qom::dyn_cast<accel::kvm::KVMAccel>(m_accel.get());
    if (!kvm || kvm->irqchip() == qapi::OnOffSplit::Off) {
        fmt::print(out, "guest:            not run (it needs an in-kernel "
                        "LAPIC: kernel-irqchip=on or split)\n");
        return false;
    }
    qapi::Result<void> ready = prepare_guest();
    if (ready && boot) {
        ready = m_guest->boot();
    }
    if (!ready) {
        fmt::print(err, "seoib-vm: built-in guest: {}\n", ready.error().message());
        m_guest.reset();
        m_job_status = 1;
        return false;
    }
    return true;
}

bool Vm::main_job_step(std::FILE *out, std::FILE *err)
{
    if (!m_guest) {
        return true;
    }
    auto finished = m_guest->run_slice();
    if (finished && !finished.value()) {
        return false;
    }
    if (!finished) {
        fmt::print(err, "seoib-vm: built-in guest: {}\n", finished.error().message());
        m_job_status = 1;
    } else {
        print_guest_run_report(out, m_guest->report());
    }
    m_guest.reset();
    return true;
}

int Vm::run_main_job(std::FILE *out, std::FILE *err)
{
    if (start_main_job(out, err, true)) {
        while (!main_job_step(out, err)) {
        }
    }
    return m_job_status;
}

qapi::Result<hw::x86::GuestRam *> Vm::guest_ram()
{
    if (!m_guest_ram) {
        auto *kvm = qom::dyn_cast<accel::kvm::KVMAccel>(m_accel.get());
        if (kvm == nullptr) {
            return qapi::Error("guest RAM needs the kvm accelerator");
        }
        m_guest_ram = TRY(hw::x86::GuestRam::create(kvm->vm(), m_guest_ram_size));
    }
    return m_guest_ram.get();
}

qapi::Result<void> Vm::set_guest_ram_size(uint64_t size)
{
    // One slot at GPA 0 must end below the PCI hole of a q35 (2 GiB there:
    // QEMU's below-4G RAM of a q35 with more than 2.75 GiB).
    constexpr uint64_t MAX_BUILTIN_RAM = 2ULL << 30;
    if (size == 0 || size % 4096 != 0 || size > MAX_BUILTIN_RAM) {
        return qapi::Error::format("the built-in guest's RAM must be a whole number of "
                                   "4 KiB pages up to 2 GiB (-m {})",
                                   size);
    }
    if (m_guest_ram) {
        return qapi::Error("the guest RAM exists already");
    }
    m_guest_ram_size = size;
    return {};
}

qapi::Result<qapi::SeoibInfo> Vm::query_seoib() const
{
    const auto *x86 = qom::dyn_cast<hw::x86::X86MachineState>(m_machine.get());
    const auto *kvm = qom::dyn_cast<accel::kvm::KVMAccel>(m_accel.get());
    if (!kvm || !kvm->seoib()) {
        return qapi::Error("KVM is not in use",
                           qapi::ErrorClass::KVMMissingCap);
    }
    qapi::SeoibInfo info;
    info.requested = kvm->seoib_policy();
    info.effective = kvm->seoib()->effective;
    info.irqchip = kvm->irqchip();
    if (x86 && x86->ioapic_plan()) {
        info.ioapic_version = x86->ioapic_plan()->version;
        info.ioapic_version_source = x86->ioapic_plan()->source;
    }
    info.x2apic_api_flags = static_cast<int64_t>(kvm->seoib()->flags);
    info.kernel_x2apic_api = static_cast<int64_t>(kvm->kernel_x2apic_api());
    info.legacy = kvm->seoib_legacy();
    for (const auto &cpu : x86 ? x86->cpus() : no_cpus) {
        const accel::kvm::KVMCPUState *v = kvm->vcpu_state(*cpu);
        if (v && v->lvr) {
            info.vcpus.push_back(qapi::SeoibVcpuInfo {
                .cpu_index = cpu->cpu_index(), .lvr = *v->lvr });
        }
    }
    return info;
}

qapi::KvmInfo Vm::query_kvm() const
{
    const auto *kvm = qom::dyn_cast<accel::kvm::KVMAccel>(m_accel.get());
    // "present": the real /dev/kvm is in use; the kernel model is not KVM.
    return qapi::KvmInfo { .enabled = kvm != nullptr,
                           .present = kvm && kvm->on_host() };
}

} // namespace sysemu
