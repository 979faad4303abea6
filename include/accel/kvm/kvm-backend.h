/*
 * The KVM backend interface: one abstract class per file descriptor, with
 * one method per ioctl (as rust-vmm's kvm-ioctls splits them).
 *
 *   System  ~ /dev/kvm           (check extension, create VM, supported CPUID)
 *   Vm      ~ the VM fd          (enable cap, irqchip, routing, MSI, memory)
 *   Vcpu    ~ a vCPU fd          (CPUID, LAPIC, MSRs, registers, run)
 *
 * Two implementations: the host backend (the real /dev/kvm, see
 * kvm-backend-linux.cc) and the kernel model (kernel-model/, a software model
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
};

struct MsrEntry {
    uint32_t index { 0 };
    uint64_t data { 0 };
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
};

/// A segment register (struct kvm_segment, the parts seoib uses).
struct Segment {
    uint64_t base { 0 };
    uint32_t limit { 0xffff };
    uint16_t selector { 0 };
    uint8_t type { 3 };
    uint8_t present { 1 }, dpl { 0 }, db { 0 }, s { 1 }, l { 0 }, g { 0 };
};

/// Special registers (struct kvm_sregs, the parts seoib uses).  Backends
/// read-modify-write the rest, so fields not listed keep the kernel's value.
struct Sregs {
    Segment cs {}, ds {}, es {}, fs {}, gs {}, ss {};
    uint64_t cr0 { 0x60000010 }, cr3 { 0 }, cr4 { 0 }, efer { 0 };
    uint64_t apic_base { 0 };
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
    /// mapped for as long as the slot exists.
    virtual qapi::Result<void> set_user_memory_region(uint32_t slot,
                                                      uint64_t guest_phys_addr,
                                                      std::span<std::byte> memory) = 0;
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
