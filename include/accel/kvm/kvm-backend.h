/*
 * The KVM backend interface: one abstract class per file descriptor, with
 * one method per ioctl (as rust-vmm's kvm-ioctls splits them).
 *
 *   System  ~ /dev/kvm           (check extension, create VM, supported CPUID,
 *                                 MSR index list)
 *   Vm      ~ the VM fd          (enable cap, irqchip, routing, MSI, memory,
 *                                 dirty log)
 *   Vcpu    ~ a vCPU fd          (CPUID, LAPIC, MSRs, registers, events,
 *                                 MP state, xsave, run)
 *
 * Two implementations: the host backend (the real /dev/kvm, see
 * accel/kvm/linux/) and the kernel model (kernel-model/, a software model
 * of what the kernel does).  The conformance suite in tests/kvm/ runs on both
 * and must agree.  Nothing here knows about QOM.
 *
 * Every method returns a Result; a failed ioctl becomes an Error whose
 * os_errno() is the kernel's errno (the model reports the errno the kernel
 * would).  Lifetime: a Vm must outlive its Vcpus, a System its Vms.
 */
#pragma once

#include "qapi/result.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace accel::kvm {

/// KVM_CAP_* numbers (include/uapi/linux/kvm.h) that seoib asks about.
enum class Cap : uint32_t {
    Irqchip = 0,          // KVM_CAP_IRQCHIP
    UserMemory = 3,       // KVM_CAP_USER_MEMORY
    IrqRouting = 25,      // KVM_CAP_IRQ_ROUTING
    SignalMsi = 77,       // KVM_CAP_SIGNAL_MSI
    SplitIrqchip = 121,   // KVM_CAP_SPLIT_IRQCHIP
    X2apicApi = 129,      // KVM_CAP_X2APIC_API
    MaxVcpus = 66,        // KVM_CAP_MAX_VCPUS
    MaxVcpuId = 128,      // KVM_CAP_MAX_VCPU_ID
    Xsave = 55,           // KVM_CAP_XSAVE
    Xsave2 = 208,         // KVM_CAP_XSAVE2: the size of struct kvm_xsave
};

/// x2APIC API flags (KVM_ENABLE_CAP(KVM_CAP_X2APIC_API) args[0]).
inline constexpr uint64_t KVM_X2APIC_API_USE_32BIT_IDS = 1ULL << 0;
inline constexpr uint64_t KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK = 1ULL << 1;
inline constexpr uint64_t KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST = 1ULL << 2;
inline constexpr uint64_t KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST = 1ULL << 3;

/// KVM_EXIT_* reasons that have a typed exit below.
inline constexpr uint32_t KVM_EXIT_IO = 2;
inline constexpr uint32_t KVM_EXIT_HLT = 5;
inline constexpr uint32_t KVM_EXIT_MMIO = 6;
inline constexpr uint32_t KVM_EXIT_SHUTDOWN = 8;
inline constexpr uint32_t KVM_EXIT_FAIL_ENTRY = 9;
inline constexpr uint32_t KVM_EXIT_INTERNAL_ERROR = 17;
inline constexpr uint32_t KVM_EXIT_IOAPIC_EOI = 26;

/// Local APIC register offsets in the KVM_GET/SET_LAPIC page (apicdef.h).
inline constexpr uint32_t APIC_ID = 0x20;
inline constexpr uint32_t APIC_LVR = 0x30;
inline constexpr uint32_t APIC_TASKPRI = 0x80;
inline constexpr uint32_t APIC_EOI = 0xB0;
inline constexpr uint32_t APIC_LDR = 0xD0;
inline constexpr uint32_t APIC_DFR = 0xE0;
inline constexpr uint32_t APIC_SPIV = 0xF0;
inline constexpr uint32_t APIC_ISR = 0x100;
inline constexpr uint32_t APIC_TMR = 0x180;
inline constexpr uint32_t APIC_IRR = 0x200;
inline constexpr uint32_t APIC_ICR = 0x300;
inline constexpr uint32_t APIC_ICR2 = 0x310;

inline constexpr uint32_t APIC_LVR_DIRECTED_EOI = 1U << 24;
inline constexpr uint32_t APIC_SPIV_APIC_ENABLED = 1U << 8;
inline constexpr uint32_t APIC_SPIV_DIRECTED_EOI = 1U << 12;

/// MSRs the backends and guests use.
inline constexpr uint32_t MSR_IA32_APICBASE = 0x1B;
inline constexpr uint64_t MSR_IA32_APICBASE_BSP = 1ULL << 8;
inline constexpr uint64_t MSR_IA32_APICBASE_EXTD = 1ULL << 10; // x2APIC
inline constexpr uint64_t MSR_IA32_APICBASE_ENABLE = 1ULL << 11;
inline constexpr uint64_t APIC_DEFAULT_PHYS_BASE = 0xfee00000;
/// x2APIC MSR for an xAPIC register offset: 0x800 + (offset >> 4).
constexpr uint32_t x2apic_msr(uint32_t apic_offset)
{
    return 0x800 + (apic_offset >> 4);
}

/// CPUID.1:ECX bit 21.
inline constexpr uint32_t CPUID_EXT_X2APIC = 1U << 21;

/// One struct kvm_cpuid_entry2, without the padding.
struct CpuidEntry {
    uint32_t function { 0 };
    uint32_t index { 0 };
    uint32_t flags { 0 };
    uint32_t eax { 0 };
    uint32_t ebx { 0 };
    uint32_t ecx { 0 };
    uint32_t edx { 0 };
};

/// struct kvm_lapic_state: the 1 KiB APIC register page.
struct LapicState {
    std::array<uint8_t, 1024> regs {};

    /// Little-endian u32 at a register offset (must be < 1024, 4-aligned).
    uint32_t reg(uint32_t offset) const;
    void set_reg(uint32_t offset, uint32_t value);
    /// One bit of a 256-bit vector register (ISR/TMR/IRR) at its base.
    bool vector_bit(uint32_t base, uint8_t vector) const;
    void set_vector_bit(uint32_t base, uint8_t vector, bool value);

    friend bool operator==(const LapicState &, const LapicState &) = default;
};

struct MsrEntry {
    uint32_t index { 0 };
    uint64_t data { 0 };

    friend bool operator==(const MsrEntry &, const MsrEntry &) = default;
};

/// An MSI message as KVM_SIGNAL_MSI and MSI routes take it.
struct MsiMessage {
    uint32_t address_lo { 0 };
    uint32_t address_hi { 0 };
    uint32_t data { 0 };
};

/// One KVM_SET_GSI_ROUTING entry.  Only MSI and irqchip routes are used.
struct RoutingEntry {
    enum class Type : uint32_t { Irqchip = 1, Msi = 2 };
    uint32_t gsi { 0 };
    Type type { Type::Msi };
    MsiMessage msi {};          // Type::Msi
    uint32_t irqchip { 0 };     // Type::Irqchip: KVM_IRQCHIP_IOAPIC is 2
    uint32_t pin { 0 };
};

/// General-purpose registers (struct kvm_regs).
struct Regs {
    uint64_t rax { 0 }, rbx { 0 }, rcx { 0 }, rdx { 0 };
    uint64_t rsi { 0 }, rdi { 0 }, rsp { 0 }, rbp { 0 };
    uint64_t r8 { 0 }, r9 { 0 }, r10 { 0 }, r11 { 0 };
    uint64_t r12 { 0 }, r13 { 0 }, r14 { 0 }, r15 { 0 };
    uint64_t rip { 0 }, rflags { 0x2 };

    friend bool operator==(const Regs &, const Regs &) = default;
};

/// A segment register (struct kvm_segment).  The defaults are a fresh
/// vCPU's data segments.
struct Segment {
    uint64_t base { 0 };
    uint32_t limit { 0xffff };
    uint16_t selector { 0 };
    uint8_t type { 3 };
    uint8_t present { 1 }, dpl { 0 }, db { 0 }, s { 1 }, l { 0 }, g { 0 };
    uint8_t avl { 0 }, unusable { 0 };

    friend bool operator==(const Segment &, const Segment &) = default;
};

/// GDTR or IDTR (struct kvm_dtable).
struct DescriptorTable {
    uint64_t base { 0 };
    uint16_t limit { 0xffff };

    friend bool operator==(const DescriptorTable &, const DescriptorTable &) = default;
};

/// Special registers (struct kvm_sregs), all of them: KVM_SET_SREGS writes
/// every field, so callers read, modify and write.  The defaults are what
/// KVM_GET_SREGS reports for a vCPU that has not run (measured on the host,
/// docs/devel/kvm-backend.rst), except apic_base, which depends on the vCPU.
struct Sregs {
    Segment cs {}, ds {}, es {}, fs {}, gs {}, ss {};
    /// A busy 32-bit TSS and an LDT, both system segments.
    Segment tr { .type = 11, .s = 0 }, ldt { .type = 2, .s = 0 };
    DescriptorTable gdt {}, idt {};
    uint64_t cr0 { 0x60000010 }, cr2 { 0 }, cr3 { 0 }, cr4 { 0 }, cr8 { 0 };
    uint64_t efer { 0 };
    uint64_t apic_base { 0 };
    /// The external interrupt KVM has injected but the guest has not yet
    /// taken, as a bitmap of 256 vectors (at most one bit set).
    std::array<uint64_t, 4> interrupt_bitmap {};

    friend bool operator==(const Sregs &, const Sregs &) = default;
};

/// KVM_VCPUEVENT_VALID_*: which optional parts of VcpuEvents are valid
/// (on KVM_GET_VCPU_EVENTS) or to be set (on KVM_SET_VCPU_EVENTS).
inline constexpr uint32_t KVM_VCPUEVENT_VALID_NMI_PENDING = 0x01;
inline constexpr uint32_t KVM_VCPUEVENT_VALID_SIPI_VECTOR = 0x02;
inline constexpr uint32_t KVM_VCPUEVENT_VALID_SHADOW = 0x04;
inline constexpr uint32_t KVM_VCPUEVENT_VALID_SMM = 0x08;

/// Pending and injected events (struct kvm_vcpu_events, without the
/// exception payload and triple-fault extensions, which seoib does not
/// enable).
struct VcpuEvents {
    struct Exception {
        uint8_t injected { 0 }, nr { 0 }, has_error_code { 0 }, pending { 0 };
        uint32_t error_code { 0 };
        friend bool operator==(const Exception &, const Exception &) = default;
    } exception;
    struct Interrupt {
        uint8_t injected { 0 }, nr { 0 }, soft { 0 };
        /// KVM_X86_SHADOW_INT_MOV_SS (1) | KVM_X86_SHADOW_INT_STI (2).
        uint8_t shadow { 0 };
        friend bool operator==(const Interrupt &, const Interrupt &) = default;
    } interrupt;
    struct Nmi {
        uint8_t injected { 0 }, pending { 0 }, masked { 0 };
        friend bool operator==(const Nmi &, const Nmi &) = default;
    } nmi;
    uint32_t sipi_vector { 0 };
    uint32_t flags { 0 };
    struct Smi {
        uint8_t smm { 0 }, pending { 0 }, smm_inside_nmi { 0 }, latched_init { 0 };
        friend bool operator==(const Smi &, const Smi &) = default;
    } smi;

    friend bool operator==(const VcpuEvents &, const VcpuEvents &) = default;
};

/// KVM_MP_STATE_*, as the in-kernel LAPIC keeps it.
enum class MpState : uint32_t {
    Runnable = 0,
    Uninitialized = 1, // an AP that has not seen INIT
    InitReceived = 2,  // waiting for SIPI
    Halted = 3,
    SipiReceived = 4,
};

/// struct kvm_xsave: the guest's FPU, SSE and extended state in the
/// standard XSAVE layout (the legacy FXSAVE area, then the XSAVE header at
/// 512).  At least 4 KiB; larger where KVM_CAP_XSAVE2 says so.
struct XsaveState {
    static constexpr size_t LEGACY_SIZE = 4096;
    std::vector<uint8_t> region = std::vector<uint8_t>(LEGACY_SIZE);

    /// x87 control word (offset 0) and MXCSR (offset 24).
    uint16_t fcw() const;
    uint32_t mxcsr() const;

    friend bool operator==(const XsaveState &, const XsaveState &) = default;
};

/// KVM_SET_USER_MEMORY_REGION flags.
inline constexpr uint32_t KVM_MEM_LOG_DIRTY_PAGES = 1U << 0;
/// The dirty log's granule.
inline constexpr uint64_t KVM_DIRTY_LOG_PAGE_SIZE = 4096;

/// KVM_GET_DIRTY_LOG's answer: one bit per 4 KiB page of the slot, page 0 in
/// bit 0 of word 0.
struct DirtyBitmap {
    std::vector<uint64_t> words;

    bool test(uint64_t page) const
    {
        return page / 64 < words.size() && ((words[page / 64] >> (page % 64)) & 1) != 0;
    }
    size_t count() const;
};

/// Typed KVM_RUN exits.  IO data is copied out of the kvm_run page.
struct ExitIo {
    enum class Direction { In, Out };
    Direction direction { Direction::Out };
    uint16_t port { 0 };
    uint8_t size { 0 };   // 1, 2 or 4
    uint32_t value { 0 }; // Out: what the guest wrote; In: unused
};
struct ExitMmio {
    uint64_t address { 0 };
    uint8_t size { 0 };
    bool is_write { false };
    uint64_t value { 0 };
};
struct ExitHlt {};
struct ExitShutdown {};
struct ExitIoapicEoi {
    uint8_t vector { 0 };
};
struct ExitInternalError {
    uint32_t suberror { 0 };
};
struct ExitFailEntry {
    uint64_t reason { 0 };
};
/// Run was interrupted (EINTR) before the guest exited; run again.
struct ExitInterrupted {};
struct ExitUnknown {
    uint32_t reason { 0 };
};
using VcpuExit = std::variant<ExitIo, ExitMmio, ExitHlt, ExitShutdown,
                              ExitIoapicEoi, ExitInternalError, ExitFailEntry,
                              ExitInterrupted, ExitUnknown>;

/// A vCPU fd.
class Vcpu {
public:
    virtual ~Vcpu() = default;

    /// The id passed to KVM_CREATE_VCPU (the x2APIC ID).
    virtual uint32_t id() const = 0;

    virtual qapi::Result<void> set_cpuid(std::span<const CpuidEntry>) = 0;
    virtual qapi::Result<LapicState> get_lapic() = 0;
    virtual qapi::Result<void> set_lapic(const LapicState &) = 0;
    /// KVM_SET_MSRS: returns how many entries the kernel accepted.
    virtual qapi::Result<size_t> set_msrs(std::span<const MsrEntry>) = 0;
    /// KVM_GET_MSRS: fills data for each index; returns how many were read.
    virtual qapi::Result<size_t> get_msrs(std::span<MsrEntry>) = 0;
    virtual qapi::Result<Regs> get_regs() = 0;
    virtual qapi::Result<void> set_regs(const Regs &) = 0;
    virtual qapi::Result<Sregs> get_sregs() = 0;
    virtual qapi::Result<void> set_sregs(const Sregs &) = 0;
    virtual qapi::Result<VcpuEvents> get_vcpu_events() = 0;
    /// Sets what `flags` marks valid, and the exception, interrupt and
    /// NMI-injected state always.
    virtual qapi::Result<void> set_vcpu_events(const VcpuEvents &) = 0;
    virtual qapi::Result<MpState> get_mp_state() = 0;
    virtual qapi::Result<void> set_mp_state(MpState) = 0;
    virtual qapi::Result<XsaveState> get_xsave() = 0;
    virtual qapi::Result<void> set_xsave(const XsaveState &) = 0;

    /// KVM_RUN once.  After an ExitIo with Direction::In, call
    /// complete_io_in() with the value before the next run().
    virtual qapi::Result<VcpuExit> run() = 0;
    virtual void complete_io_in(uint32_t value) = 0;
    /// After an ExitMmio read, the value the guest reads (its low `size`
    /// bytes), before the next run().  The default drops it: the guest
    /// reads what the backend left (the kernel model interprets no MMIO
    /// reads that need it).
    virtual void complete_mmio_read(uint64_t value) { (void)value; }
};

/// A VM fd.
class Vm {
public:
    virtual ~Vm() = default;

    /// KVM_CHECK_EXTENSION on the VM fd.
    virtual qapi::Result<int64_t> check_extension(Cap) = 0;
    /// KVM_ENABLE_CAP on the VM fd.  args[0] is the common argument.
    virtual qapi::Result<void> enable_cap(Cap, std::array<uint64_t, 4> args,
                                          uint32_t flags = 0) = 0;
    /// KVM_CREATE_IRQCHIP (in-kernel PIC, IOAPIC and LAPICs).
    virtual qapi::Result<void> create_irqchip() = 0;
    /// KVM_SET_TSS_ADDR (harmless where not needed).
    virtual qapi::Result<void> set_tss_addr(uint64_t addr) = 0;
    /// KVM_SET_USER_MEMORY_REGION.  The caller keeps `memory` alive and
    /// mapped for as long as the slot exists.  Setting the same slot again
    /// with the same address and size changes only its flags (turning the
    /// dirty log on or off); an empty `memory` deletes the slot.
    virtual qapi::Result<void> set_user_memory_region(uint32_t slot,
                                                      uint64_t guest_phys_addr,
                                                      std::span<std::byte> memory,
                                                      uint32_t flags = 0) = 0;
    /// KVM_GET_DIRTY_LOG: the pages of `slot` the guest wrote since the last
    /// call (or since logging was turned on), and clears them.  ENOENT for a
    /// slot without KVM_MEM_LOG_DIRTY_PAGES, as the kernel answers.
    virtual qapi::Result<DirtyBitmap> get_dirty_log(uint32_t slot) = 0;
    /// KVM_CREATE_VCPU.
    virtual qapi::Result<std::unique_ptr<Vcpu>> create_vcpu(uint32_t id) = 0;
    /// KVM_SET_GSI_ROUTING: replaces the whole table.
    virtual qapi::Result<void> set_gsi_routing(std::span<const RoutingEntry>) = 0;
    /// KVM_IRQ_LINE; returns the kernel's status field.
    virtual qapi::Result<int> irq_line(uint32_t gsi, bool level) = 0;
    /// KVM_SIGNAL_MSI; returns the number of LAPICs that accepted (0 if
    /// blocked).  "No destination matched" is an Error with EPERM, as the
    /// kernel returns -1 from the ioctl.
    virtual qapi::Result<int> signal_msi(const MsiMessage &) = 0;
};

/// /dev/kvm.
class System {
public:
    virtual ~System() = default;

    /// "host" or the model profile name ("model", "model-6.12", ...).
    virtual std::string_view name() const = 0;
    /// KVM_GET_API_VERSION (12).
    virtual qapi::Result<int> api_version() = 0;
    /// KVM_CHECK_EXTENSION on the system fd.
    virtual qapi::Result<int64_t> check_extension(Cap) = 0;
    /// KVM_CREATE_VM with type 0.
    virtual qapi::Result<std::unique_ptr<Vm>> create_vm() = 0;
    /// KVM_GET_SUPPORTED_CPUID.
    virtual qapi::Result<std::vector<CpuidEntry>> get_supported_cpuid() = 0;
    /// KVM_GET_MSR_INDEX_LIST: the MSRs a VMM saves and restores.
    virtual qapi::Result<std::vector<uint32_t>> get_msr_index_list() = 0;
};

/// Kernel profiles of the model: what a given kernel did.
enum class KernelProfile {
    Model,     // "model": 6.18-like, SEOIB flags, seed-001 APIC map
    Model6_12, // "model-6.12": x2APIC API 0x3, no SEOIB flags
    Model6_1,  // "model-6.1": as 6.12, APIC map before the seed-001 change
};

/// Opens the real /dev/kvm (or `device`).  Fails with the open() errno.
qapi::Result<std::unique_ptr<System>> open_host_system(
    std::string_view device = "/dev/kvm");

/// Creates a kernel model with the given profile.
std::unique_ptr<System> open_model_system(KernelProfile profile);

/// "model", "model-6.12", "model-6.1" <-> profile.
qapi::Result<KernelProfile> parse_kernel_profile(std::string_view name);
std::string_view kernel_profile_name(KernelProfile profile);

} // namespace accel::kvm
