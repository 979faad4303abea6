/*
 * Backend objects that stand in front of other backend objects: each call
 * goes to an inner System, Vm or Vcpu, after a hook that may refuse it.
 *
 * Two uses, one mechanism:
 *   ReplaceableVm, ReplaceableVcpu   what the accelerator hands out: the
 *       references every device and run loop keeps stay valid when a
 *       snapshot load puts a freshly built KVM VM behind them (design 4.5);
 *       the VM keeps its memory slots and GSI routes in userspace, as
 *       QEMU's KVMState does, so a new VM fd can be given the same ones.
 *   FaultInjectingSystem             fails the N-th backend call from the
 *       moment it is armed with a chosen errno, for tests that walk every
 *       failure of a sequence (the VMs and vCPUs it creates are counted
 *       too; objects created before it are not).
 */
#pragma once

#include "accel/kvm/kvm-backend.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace accel::kvm {

/// A backend call, by the ioctl it makes.
enum class KvmCall : uint8_t {
    // System
    GetApiVersion,
    SystemCheckExtension,
    CreateVm,
    GetSupportedCpuid,
    GetMsrIndexList,
    // Vm
    CheckExtension,
    EnableCap,
    CreateIrqchip,
    SetTssAddr,
    SetUserMemoryRegion,
    GetDirtyLog,
    CreateVcpu,
    SetGsiRouting,
    IrqLine,
    SignalMsi,
    // Vcpu
    SetCpuid2,
    GetLapic,
    SetLapic,
    SetMsrs,
    GetMsrs,
    GetRegs,
    SetRegs,
    GetSregs,
    SetSregs,
    GetVcpuEvents,
    SetVcpuEvents,
    GetMpState,
    SetMpState,
    GetXsave,
    SetXsave,
    Run,
};

/// "KVM_CREATE_VCPU", "KVM_SET_LAPIC", ...
std::string_view kvm_call_name(KvmCall call);

class ForwardingVcpu : public Vcpu {
public:
    explicit ForwardingVcpu(std::unique_ptr<Vcpu> inner);

    uint32_t id() const override;
    qapi::Result<void> set_cpuid(std::span<const CpuidEntry> entries) override;
    qapi::Result<LapicState> get_lapic() override;
    qapi::Result<void> set_lapic(const LapicState &lapic) override;
    qapi::Result<size_t> set_msrs(std::span<const MsrEntry> msrs) override;
    qapi::Result<size_t> get_msrs(std::span<MsrEntry> msrs) override;
    qapi::Result<Regs> get_regs() override;
    qapi::Result<void> set_regs(const Regs &regs) override;
    qapi::Result<Sregs> get_sregs() override;
    qapi::Result<void> set_sregs(const Sregs &sregs) override;
    qapi::Result<VcpuEvents> get_vcpu_events() override;
    qapi::Result<void> set_vcpu_events(const VcpuEvents &events) override;
    qapi::Result<MpState> get_mp_state() override;
    qapi::Result<void> set_mp_state(MpState state) override;
    qapi::Result<XsaveState> get_xsave() override;
    qapi::Result<void> set_xsave(const XsaveState &xsave) override;
    qapi::Result<VcpuExit> run() override;
    void complete_io_in(uint32_t value) override;
    void complete_mmio_read(uint64_t value) override;

protected:
    /// Called before each call that reaches the kernel; an error is the
    /// call's answer and the inner object is not asked.
    virtual qapi::Result<void> before(KvmCall) { return {}; }

    std::unique_ptr<Vcpu> m_inner;
};

class ForwardingVm : public Vm {
public:
    explicit ForwardingVm(std::unique_ptr<Vm> inner);

    qapi::Result<int64_t> check_extension(Cap cap) override;
    qapi::Result<void> enable_cap(Cap cap, std::array<uint64_t, 4> args,
                                  uint32_t flags = 0) override;
    qapi::Result<void> create_irqchip() override;
    qapi::Result<void> set_tss_addr(uint64_t addr) override;
    qapi::Result<void> set_user_memory_region(uint32_t slot, uint64_t guest_phys_addr,
                                              std::span<std::byte> memory,
                                              uint32_t flags = 0) override;
    qapi::Result<DirtyBitmap> get_dirty_log(uint32_t slot) override;
    qapi::Result<std::unique_ptr<Vcpu>> create_vcpu(uint32_t id) override;
    qapi::Result<void> set_gsi_routing(std::span<const RoutingEntry> routes) override;
    qapi::Result<int> irq_line(uint32_t gsi, bool level) override;
    qapi::Result<int> signal_msi(const MsiMessage &msg) override;

protected:
    virtual qapi::Result<void> before(KvmCall) { return {}; }
    /// What create_vcpu() hands out for a vCPU of the inner VM.
    virtual std::unique_ptr<Vcpu> wrap_vcpu(std::unique_ptr<Vcpu> vcpu) { return vcpu; }

    std::unique_ptr<Vm> m_inner;
};

class ForwardingSystem : public System {
public:
    explicit ForwardingSystem(std::unique_ptr<System> inner);

    std::string_view name() const override;
    qapi::Result<int> api_version() override;
    qapi::Result<int64_t> check_extension(Cap cap) override;
    qapi::Result<std::unique_ptr<Vm>> create_vm() override;
    qapi::Result<std::vector<CpuidEntry>> get_supported_cpuid() override;
    qapi::Result<std::vector<uint32_t>> get_msr_index_list() override;

protected:
    virtual qapi::Result<void> before(KvmCall) { return {}; }
    virtual std::unique_ptr<Vm> wrap_vm(std::unique_ptr<Vm> vm) { return vm; }

    std::unique_ptr<System> m_inner;
};

// ---- replaceable VM and vCPUs (snapshot load onto a new KVM VM) --------

class ReplaceableVcpu final : public ForwardingVcpu {
public:
    using ForwardingVcpu::ForwardingVcpu;

    /// Puts `fresh` (a vCPU of the VM that replaces this one's) behind the
    /// handle and returns the one it replaces.  `fresh` must have the
    /// same id.
    std::unique_ptr<Vcpu> replace(std::unique_ptr<Vcpu> fresh) noexcept;
};

class ReplaceableVm final : public ForwardingVm {
public:
    using ForwardingVm::ForwardingVm;

    qapi::Result<void> set_tss_addr(uint64_t addr) override;
    qapi::Result<void> set_user_memory_region(uint32_t slot, uint64_t guest_phys_addr,
                                              std::span<std::byte> memory,
                                              uint32_t flags = 0) override;
    qapi::Result<void> set_gsi_routing(std::span<const RoutingEntry> routes) override;

    /// Gives `fresh` what this VM was given outside the accelerator: its
    /// memory slots (flags included), the GSI routing table and the TSS
    /// address.  The irqchip, the x2APIC API flags and the vCPUs are the
    /// accelerator's to set.
    qapi::Result<void> copy_configuration_to(Vm &fresh) const;

    /// Puts `fresh` behind the handle and returns the VM fd it replaces.
    /// The caller destroys the old VM's vCPUs before the old VM.
    std::unique_ptr<Vm> replace(std::unique_ptr<Vm> fresh) noexcept;

private:
    struct Slot {
        uint64_t guest_phys_addr { 0 };
        std::span<std::byte> memory;
        uint32_t flags { 0 };
    };
    std::map<uint32_t, Slot> m_slots;
    std::vector<RoutingEntry> m_routes;
    bool m_routes_set { false };
    std::optional<uint64_t> m_tss_addr;
};

// ---- fault injection ---------------------------------------------------

/// Which call fails, shared by a FaultInjectingSystem and everything it
/// creates.
class FaultInjector {
public:
    /// From now on, the `nth` counted call (1-based) fails with `os_errno`
    /// -- only calls of `only`'s kind when given -- and then the injector
    /// disarms itself.  nth = 0 disarms.
    void arm(uint64_t nth, int os_errno, std::optional<KvmCall> only = std::nullopt);
    /// Calls counted since arm() (of the chosen kind, when one was given).
    uint64_t calls() const { return m_calls; }
    /// The call that was made to fail, once it has been.
    std::optional<KvmCall> fired() const { return m_fired; }

    /// The hook the injecting objects call.
    qapi::Result<void> on_call(KvmCall call);

private:
    uint64_t m_nth { 0 };
    int m_errno { 0 };
    std::optional<KvmCall> m_only;
    uint64_t m_calls { 0 };
    std::optional<KvmCall> m_fired;
};

/// A System whose calls, and those of the VMs and vCPUs it creates, pass
/// through `injector`.
class FaultInjectingSystem final : public ForwardingSystem {
public:
    FaultInjectingSystem(std::unique_ptr<System> inner, std::shared_ptr<FaultInjector> injector);

protected:
    qapi::Result<void> before(KvmCall call) override;
    std::unique_ptr<Vm> wrap_vm(std::unique_ptr<Vm> vm) override;

private:
    std::shared_ptr<FaultInjector> m_injector;
};

} // namespace accel::kvm
