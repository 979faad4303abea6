#include "accel/kvm/kvm-forwarding.h"

#include <utility>

namespace accel::kvm {

std::string_view kvm_call_name(KvmCall call)
{
    switch (call) {
    case KvmCall::GetApiVersion:
        return "KVM_GET_API_VERSION";
    case KvmCall::SystemCheckExtension:
    case KvmCall::CheckExtension:
        return "KVM_CHECK_EXTENSION";
    case KvmCall::CreateVm:
        return "KVM_CREATE_VM";
    case KvmCall::GetSupportedCpuid:
        return "KVM_GET_SUPPORTED_CPUID";
    case KvmCall::GetMsrIndexList:
        return "KVM_GET_MSR_INDEX_LIST";
    case KvmCall::EnableCap:
        return "KVM_ENABLE_CAP";
    case KvmCall::CreateIrqchip:
        return "KVM_CREATE_IRQCHIP";
    case KvmCall::SetTssAddr:
        return "KVM_SET_TSS_ADDR";
    case KvmCall::SetUserMemoryRegion:
        return "KVM_SET_USER_MEMORY_REGION";
    case KvmCall::GetDirtyLog:
        return "KVM_GET_DIRTY_LOG";
    case KvmCall::CreateVcpu:
        return "KVM_CREATE_VCPU";
    case KvmCall::SetGsiRouting:
        return "KVM_SET_GSI_ROUTING";
    case KvmCall::IrqLine:
        return "KVM_IRQ_LINE";
    case KvmCall::SignalMsi:
        return "KVM_SIGNAL_MSI";
    case KvmCall::SetCpuid2:
        return "KVM_SET_CPUID2";
    case KvmCall::GetLapic:
        return "KVM_GET_LAPIC";
    case KvmCall::SetLapic:
        return "KVM_SET_LAPIC";
    case KvmCall::SetMsrs:
        return "KVM_SET_MSRS";
    case KvmCall::GetMsrs:
        return "KVM_GET_MSRS";
    case KvmCall::GetRegs:
        return "KVM_GET_REGS";
    case KvmCall::SetRegs:
        return "KVM_SET_REGS";
    case KvmCall::GetSregs:
        return "KVM_GET_SREGS";
    case KvmCall::SetSregs:
        return "KVM_SET_SREGS";
    case KvmCall::GetVcpuEvents:
        return "KVM_GET_VCPU_EVENTS";
    case KvmCall::SetVcpuEvents:
        return "KVM_SET_VCPU_EVENTS";
    case KvmCall::GetMpState:
        return "KVM_GET_MP_STATE";
    case KvmCall::SetMpState:
        return "KVM_SET_MP_STATE";
    case KvmCall::GetXsave:
        return "KVM_GET_XSAVE";
    case KvmCall::SetXsave:
        return "KVM_SET_XSAVE";
    case KvmCall::Run:
        return "KVM_RUN";
    }
    return "KVM_?";
}

// ---- ForwardingVcpu ----------------------------------------------------

ForwardingVcpu::ForwardingVcpu(std::unique_ptr<Vcpu> inner)
    : m_inner(std::move(inner))
{
}

uint32_t ForwardingVcpu::id() const
{
    return m_inner->id();
}

qapi::Result<void> ForwardingVcpu::set_cpuid(std::span<const CpuidEntry> entries)
{
    TRY(before(KvmCall::SetCpuid2));
    return m_inner->set_cpuid(entries);
}

qapi::Result<LapicState> ForwardingVcpu::get_lapic()
{
    TRY(before(KvmCall::GetLapic));
    return m_inner->get_lapic();
}

qapi::Result<void> ForwardingVcpu::set_lapic(const LapicState &lapic)
{
    TRY(before(KvmCall::SetLapic));
    return m_inner->set_lapic(lapic);
}

qapi::Result<size_t> ForwardingVcpu::set_msrs(std::span<const MsrEntry> msrs)
{
    TRY(before(KvmCall::SetMsrs));
    return m_inner->set_msrs(msrs);
}

qapi::Result<size_t> ForwardingVcpu::get_msrs(std::span<MsrEntry> msrs)
{
    TRY(before(KvmCall::GetMsrs));
    return m_inner->get_msrs(msrs);
}

qapi::Result<Regs> ForwardingVcpu::get_regs()
{
    TRY(before(KvmCall::GetRegs));
    return m_inner->get_regs();
}

qapi::Result<void> ForwardingVcpu::set_regs(const Regs &regs)
{
    TRY(before(KvmCall::SetRegs));
    return m_inner->set_regs(regs);
}

qapi::Result<Sregs> ForwardingVcpu::get_sregs()
{
    TRY(before(KvmCall::GetSregs));
    return m_inner->get_sregs();
}

qapi::Result<void> ForwardingVcpu::set_sregs(const Sregs &sregs)
{
    TRY(before(KvmCall::SetSregs));
    return m_inner->set_sregs(sregs);
}

qapi::Result<VcpuEvents> ForwardingVcpu::get_vcpu_events()
{
    TRY(before(KvmCall::GetVcpuEvents));
    return m_inner->get_vcpu_events();
}

qapi::Result<void> ForwardingVcpu::set_vcpu_events(const VcpuEvents &events)
{
    TRY(before(KvmCall::SetVcpuEvents));
    return m_inner->set_vcpu_events(events);
}

qapi::Result<MpState> ForwardingVcpu::get_mp_state()
{
    TRY(before(KvmCall::GetMpState));
    return m_inner->get_mp_state();
}

qapi::Result<void> ForwardingVcpu::set_mp_state(MpState state)
{
    TRY(before(KvmCall::SetMpState));
    return m_inner->set_mp_state(state);
}

qapi::Result<XsaveState> ForwardingVcpu::get_xsave()
{
    TRY(before(KvmCall::GetXsave));
    return m_inner->get_xsave();
}

qapi::Result<void> ForwardingVcpu::set_xsave(const XsaveState &xsave)
{
    TRY(before(KvmCall::SetXsave));
    return m_inner->set_xsave(xsave);
}

qapi::Result<VcpuExit> ForwardingVcpu::run()
{
    TRY(before(KvmCall::Run));
    return m_inner->run();
}

void ForwardingVcpu::complete_io_in(uint32_t value)
{
    m_inner->complete_io_in(value);
}

void ForwardingVcpu::complete_mmio_read(uint64_t value)
{
    m_inner->complete_mmio_read(value);
}

// ---- ForwardingVm ------------------------------------------------------

ForwardingVm::ForwardingVm(std::unique_ptr<Vm> inner)
    : m_inner(std::move(inner))
{
}

qapi::Result<int64_t> ForwardingVm::check_extension(Cap cap)
{
    TRY(before(KvmCall::CheckExtension));
    return m_inner->check_extension(cap);
}

qapi::Result<void> ForwardingVm::enable_cap(Cap cap, std::array<uint64_t, 4> args, uint32_t flags)
{
    TRY(before(KvmCall::EnableCap));
    return m_inner->enable_cap(cap, args, flags);
}

qapi::Result<void> ForwardingVm::create_irqchip()
{
    TRY(before(KvmCall::CreateIrqchip));
    return m_inner->create_irqchip();
}

qapi::Result<void> ForwardingVm::set_tss_addr(uint64_t addr)
{
    TRY(before(KvmCall::SetTssAddr));
    return m_inner->set_tss_addr(addr);
}

qapi::Result<void> ForwardingVm::set_user_memory_region(uint32_t slot, uint64_t guest_phys_addr,
                                                        std::span<std::byte> memory,
                                                        uint32_t flags)
{
    TRY(before(KvmCall::SetUserMemoryRegion));
    return m_inner->set_user_memory_region(slot, guest_phys_addr, memory, flags);
}

qapi::Result<DirtyBitmap> ForwardingVm::get_dirty_log(uint32_t slot)
{
    TRY(before(KvmCall::GetDirtyLog));
    return m_inner->get_dirty_log(slot);
}

qapi::Result<std::unique_ptr<Vcpu>> ForwardingVm::create_vcpu(uint32_t id)
{
    TRY(before(KvmCall::CreateVcpu));
    return wrap_vcpu(TRY(m_inner->create_vcpu(id)));
}

qapi::Result<void> ForwardingVm::set_gsi_routing(std::span<const RoutingEntry> routes)
{
    TRY(before(KvmCall::SetGsiRouting));
    return m_inner->set_gsi_routing(routes);
}

qapi::Result<int> ForwardingVm::irq_line(uint32_t gsi, bool level)
{
    TRY(before(KvmCall::IrqLine));
    return m_inner->irq_line(gsi, level);
}

qapi::Result<int> ForwardingVm::signal_msi(const MsiMessage &msg)
{
    TRY(before(KvmCall::SignalMsi));
    return m_inner->signal_msi(msg);
}

// ---- ForwardingSystem --------------------------------------------------

ForwardingSystem::ForwardingSystem(std::unique_ptr<System> inner)
    : m_inner(std::move(inner))
{
}

std::string_view ForwardingSystem::name() const
{
    return m_inner->name();
}

qapi::Result<int> ForwardingSystem::api_version()
{
    TRY(before(KvmCall::GetApiVersion));
    return m_inner->api_version();
}

qapi::Result<int64_t> ForwardingSystem::check_extension(Cap cap)
{
    TRY(before(KvmCall::SystemCheckExtension));
    return m_inner->check_extension(cap);
}

qapi::Result<std::unique_ptr<Vm>> ForwardingSystem::create_vm()
{
    TRY(before(KvmCall::CreateVm));
    return wrap_vm(TRY(m_inner->create_vm()));
}

qapi::Result<std::vector<CpuidEntry>> ForwardingSystem::get_supported_cpuid()
{
    TRY(before(KvmCall::GetSupportedCpuid));
    return m_inner->get_supported_cpuid();
}

qapi::Result<std::vector<uint32_t>> ForwardingSystem::get_msr_index_list()
{
    TRY(before(KvmCall::GetMsrIndexList));
    return m_inner->get_msr_index_list();
}

// ---- ReplaceableVcpu / ReplaceableVm -----------------------------------

std::unique_ptr<Vcpu> ReplaceableVcpu::replace(std::unique_ptr<Vcpu> fresh) noexcept
{
    return std::exchange(m_inner, std::move(fresh));
}

qapi::Result<void> ReplaceableVm::set_tss_addr(uint64_t addr)
{
    TRY(ForwardingVm::set_tss_addr(addr));
    m_tss_addr = addr;
    return {};
}

qapi::Result<void> ReplaceableVm::set_user_memory_region(uint32_t slot, uint64_t guest_phys_addr,
                                                         std::span<std::byte> memory,
                                                         uint32_t flags)
{
    TRY(ForwardingVm::set_user_memory_region(slot, guest_phys_addr, memory, flags));
    if (memory.empty()) {
        m_slots.erase(slot);
    } else {
        m_slots[slot] = Slot { guest_phys_addr, memory, flags };
    }
    return {};
}

qapi::Result<void> ReplaceableVm::set_gsi_routing(std::span<const RoutingEntry> routes)
{
    TRY(ForwardingVm::set_gsi_routing(routes));
    m_routes.assign(routes.begin(), routes.end());
    m_routes_set = true;
    return {};
}

qapi::Result<void> ReplaceableVm::copy_configuration_to(Vm &fresh) const
{
    if (m_tss_addr) {
        TRY(fresh.set_tss_addr(*m_tss_addr));
    }
    for (const auto &[slot, s] : m_slots) {
        TRY(fresh.set_user_memory_region(slot, s.guest_phys_addr, s.memory, s.flags));
    }
    if (m_routes_set) {
        TRY(fresh.set_gsi_routing(m_routes));
    }
    return {};
}

std::unique_ptr<Vm> ReplaceableVm::replace(std::unique_ptr<Vm> fresh) noexcept
{
    return std::exchange(m_inner, std::move(fresh));
}

// ---- fault injection ---------------------------------------------------

void FaultInjector::arm(uint64_t nth, int os_errno, std::optional<KvmCall> only)
{
    m_nth = nth;
    m_errno = os_errno;
    m_only = only;
    m_calls = 0;
    m_fired.reset();
}

qapi::Result<void> FaultInjector::on_call(KvmCall call)
{
    if (m_nth == 0 || (m_only && *m_only != call)) {
        return {};
    }
    if (++m_calls < m_nth) {
        return {};
    }
    m_nth = 0;
    m_fired = call;
    qapi::Error e = qapi::Error::from_errno(m_errno, kvm_call_name(call));
    return e;
}

namespace {

class FaultInjectingVcpu final : public ForwardingVcpu {
public:
    FaultInjectingVcpu(std::unique_ptr<Vcpu> inner, std::shared_ptr<FaultInjector> injector)
        : ForwardingVcpu(std::move(inner))
        , m_injector(std::move(injector))
    {
    }

protected:
    qapi::Result<void> before(KvmCall call) override { return m_injector->on_call(call); }

private:
    std::shared_ptr<FaultInjector> m_injector;
};

class FaultInjectingVm final : public ForwardingVm {
public:
    FaultInjectingVm(std::unique_ptr<Vm> inner, std::shared_ptr<FaultInjector> injector)
        : ForwardingVm(std::move(inner))
        , m_injector(std::move(injector))
    {
    }

protected:
    qapi::Result<void> before(KvmCall call) override { return m_injector->on_call(call); }
    std::unique_ptr<Vcpu> wrap_vcpu(std::unique_ptr<Vcpu> vcpu) override
    {
        return std::make_unique<FaultInjectingVcpu>(std::move(vcpu), m_injector);
    }

private:
    std::shared_ptr<FaultInjector> m_injector;
};

} // namespace

FaultInjectingSystem::FaultInjectingSystem(std::unique_ptr<System> inner,
                                           std::shared_ptr<FaultInjector> injector)
    : ForwardingSystem(std::move(inner))
    , m_injector(std::move(injector))
{
}

qapi::Result<void> FaultInjectingSystem::before(KvmCall call)
{
    return m_injector->on_call(call);
}

std::unique_ptr<Vm> FaultInjectingSystem::wrap_vm(std::unique_ptr<Vm> vm)
{
    return std::make_unique<FaultInjectingVm>(std::move(vm), m_injector);
}

} // namespace accel::kvm
