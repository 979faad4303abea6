/*
 * One vCPU of the kernel model (the model's struct kvm_vcpu), and the Vcpu
 * handle returned by ModelVm::create_vcpu().
 *
 * The VM owns the VcpuState; the handle only points at it.  As with a real
 * vCPU fd, destroying the handle does not remove the vCPU from the VM.
 */
#pragma once

#include "accel/kvm/kernel-model/model-internal.h"
#include "accel/kvm/kernel-model/model-lapic.h"

#include <array>
#include <bitset>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace accel::kvm::model {

/// Register file the interpreter works on.  GPRs are indexed by their x86
/// encoding (0 = AX, 1 = CX, 2 = DX, 3 = BX, 4 = SP, 5 = BP, 6 = SI, 7 = DI).
struct CpuRegisters {
    std::array<uint64_t, 16> gpr {};
    uint64_t rip { 0 };
    uint64_t rflags { 0x2 };
    Segment cs {}, ds {}, es {}, fs {}, gs {}, ss {};
    /// Held for KVM_GET/SET_SREGS; the interpreter runs real-mode code and
    /// never consults them.
    Segment tr { .type = 11, .s = 0 }, ldt { .type = 2, .s = 0 };
    DescriptorTable gdt {}, idt {};
    uint64_t cr0 { 0 }, cr2 { 0 }, cr3 { 0 }, cr4 { 0 }, efer { 0 };
    /// CR8 without an in-kernel LAPIC; with one, CR8 is the TPR.
    uint64_t cr8 { 0 };
};

/// MSRs the model keeps as plain values (KVM_GET_MSR_INDEX_LIST of the
/// model): what a VMM saves and restores for a vCPU, with the write checks
/// the kernel applies to host-initiated writes (measured on the host,
/// docs/devel/kvm-backend.rst).
struct SavedMsrs {
    static constexpr uint32_t INDICES[] = {
        0x10,       // MSR_IA32_TSC (kept, not counting)
        0x174,      // MSR_IA32_SYSENTER_CS
        0x175,      // MSR_IA32_SYSENTER_ESP (canonicalised)
        0x176,      // MSR_IA32_SYSENTER_EIP (canonicalised)
        0x1a0,      // MSR_IA32_MISC_ENABLE
        0x277,      // MSR_IA32_CR_PAT
        0xc0000081, // MSR_STAR
        0xc0000082, // MSR_LSTAR (canonical only)
        0xc0000083, // MSR_CSTAR (canonical only)
        0xc0000084, // MSR_SYSCALL_MASK
        0xc0000102, // MSR_KERNEL_GS_BASE (canonical only)
    };
    std::array<uint64_t, std::size(INDICES)> values {};

    /// The slot of `index`, or empty when the MSR is not one of these.
    static std::optional<size_t> slot(uint32_t index);
    /// RESET values: PAT's power-on value, fast strings enabled.
    void reset();
    /// False when the kernel would refuse the value.
    bool set(size_t slot, uint64_t value);
};

/// What the next run() finishes before executing guest code: KVM's
/// complete_userspace_io callbacks.
struct PendingCompletion {
    enum class Kind { None, PioIn, MmioRead };
    Kind kind { Kind::None };
    /// Linear RIP of the exiting instruction; if userspace moved RIP, the
    /// completion is dropped (complete_fast_pio_in).
    uint64_t exit_linear_rip { 0 };
    uint64_t next_rip { 0 };
    uint8_t size { 0 };
    /// MmioRead: the destination GPR.
    uint8_t reg { 0 };
};

class VcpuState {
public:
    VcpuState(ModelVm &vm, uint32_t id, uint32_t index);

    ModelVm &vm() const { return m_vm; }
    uint32_t id() const { return m_id; }
    /// Position in creation order (vcpu_idx), the order every "for each
    /// vCPU" loop of the kernel uses.
    uint32_t index() const { return m_index; }

    Lapic *lapic() { return m_lapic.get(); }
    const Lapic *lapic() const { return m_lapic.get(); }
    /// kvm_apic_present(): in-kernel LAPIC and hardware-enabled.
    bool apic_present() const;
    uint64_t apic_base() const { return m_apic_base; }
    /// kvm_apic_set_base(): false when the value is refused.
    bool set_apic_base(uint64_t value, bool host_initiated);
    /// x2APIC in the guest CPUID given to KVM_SET_CPUID2.
    bool guest_has_x2apic() const { return m_guest_x2apic; }
    /// This vCPU's id is the VM's BSP id (0), checked at RESET.
    bool is_reset_bsp() const { return m_id == 0; }

    /// KVM_REQ_SCAN_IOAPIC.
    void request_scan_ioapic() { m_scan_requested = true; }
    /// kvm_ioapic_send_eoi(): the EOI of `vector` left the LAPIC.
    void ioapic_send_eoi(uint8_t vector);
    /// kvm_scan_ioapic_irq() for one route or redirection entry.
    void scan_ioapic_irq(uint32_t dest_id, bool logical, uint8_t vector);
    /// Wakes a halted vCPU for a REMRD "kick".
    void set_pv_unhalted() { m_pv_unhalted = true; }
    void queue_nmi() { m_nmi_pending = true; }

    // The ioctls (see Vcpu in kvm-backend.h).
    qapi::Result<void> set_cpuid(std::span<const CpuidEntry> entries);
    qapi::Result<LapicState> get_lapic();
    qapi::Result<void> set_lapic(const LapicState &state);
    qapi::Result<size_t> set_msrs(std::span<const MsrEntry> entries);
    qapi::Result<size_t> get_msrs(std::span<MsrEntry> entries);
    Regs get_regs() const;
    void set_regs(const Regs &regs);
    Sregs get_sregs() const;
    qapi::Result<void> set_sregs(const Sregs &sregs);
    VcpuEvents get_vcpu_events() const;
    qapi::Result<void> set_vcpu_events(const VcpuEvents &events);
    MpState get_mp_state();
    qapi::Result<void> set_mp_state(MpState state);
    XsaveState get_xsave() const { return m_xsave; }
    qapi::Result<void> set_xsave(const XsaveState &xsave);
    qapi::Result<VcpuExit> run();
    void complete_io_in(uint32_t value) { m_io_in_value = value; }

    // For the interpreter.
    CpuRegisters cpu;
    PendingCompletion completion;
    bool sti_shadow { false };
    bool nmi_masked { false };
    MpState mp_state { MpState::Runnable };
    /// WRMSR/RDMSR as the guest executes them: false means #GP.
    bool guest_wrmsr(uint32_t index, uint64_t data);
    std::optional<uint64_t> guest_rdmsr(uint32_t index);
    /// MMIO handled by an in-kernel device (the LAPIC page, then the
    /// IOAPIC).  False when no device claims the address.
    bool kernel_mmio_write(uint64_t gpa, uint8_t size, uint32_t value);
    std::optional<uint32_t> kernel_mmio_read(uint64_t gpa, uint8_t size);
    /// MSR_IA32_APICBASE, the x2APIC range and SavedMsrs; others are not
    /// modelled.
    static bool msr_modelled(uint32_t index);

private:
    void reset(bool init);
    void apply_apic_base(uint64_t value);
    void scan_ioapic();
    void complete_userspace_io();
    std::optional<VcpuExit> process_requests();
    void accept_events();
    bool has_events();
    std::optional<VcpuExit> inject_pending_event();
    bool set_msr(uint32_t index, uint64_t data, bool host_initiated);
    std::optional<uint64_t> get_msr(uint32_t index);
    uint32_t maxphyaddr() const;

    ModelVm &m_vm;
    uint32_t m_id;
    uint32_t m_index;
    std::unique_ptr<Lapic> m_lapic;
    uint64_t m_apic_base { 0 };
    std::vector<CpuidEntry> m_cpuid;
    bool m_guest_x2apic { false };
    bool m_has_run { false };

    std::bitset<256> m_ioapic_handled_vectors;
    int m_highest_stale_pending_ioapic_eoi { -1 };
    bool m_scan_requested { false };
    bool m_eoi_exit_requested { false };
    uint8_t m_pending_ioapic_eoi { 0 };

    bool m_nmi_pending { false };
    bool m_pv_unhalted { false };
    /// An event KVM_SET_VCPU_EVENTS (or KVM_SET_SREGS' interrupt bitmap)
    /// left injected: delivered before anything else at the next run.
    std::optional<uint8_t> m_injected_interrupt;
    std::optional<uint8_t> m_injected_exception;
    uint32_t m_sipi_vector { 0 };
    SavedMsrs m_saved_msrs;
    XsaveState m_xsave;
    uint32_t m_io_in_value { 0 };
};

/// The Vcpu handle: forwards each ioctl to the VM-owned state.
class ModelVcpu final : public Vcpu {
public:
    explicit ModelVcpu(VcpuState &state)
        : m_state(state)
    {
    }

    uint32_t id() const override { return m_state.id(); }
    qapi::Result<void> set_cpuid(std::span<const CpuidEntry> entries) override;
    qapi::Result<LapicState> get_lapic() override;
    qapi::Result<void> set_lapic(const LapicState &state) override;
    qapi::Result<size_t> set_msrs(std::span<const MsrEntry> entries) override;
    qapi::Result<size_t> get_msrs(std::span<MsrEntry> entries) override;
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

private:
    VcpuState &m_state;
};

} // namespace accel::kvm::model
