/*
 * Booting an x86 guest over the KVM backend interface: its RAM, the CPU
 * state it is entered in, and the loading of a payload image.  seoib-vm's
 * built-in guest and the KVM conformance suite boot through this one module,
 * so the guest sees the same machine state on the host and on the model.
 *
 * It knows the backend interface and the payload table, nothing of QOM:
 * callers create the VM and its vCPUs (KVMAccel, or a test) and hand them in.
 *
 * The layout of the built-in payloads (hw/i386/guest/README.md):
 *
 *   0x00000 - 0x003ff   real-mode IVT (the payloads install their vectors)
 *   0x01000 -           payload image, at its load address; entry = first byte
 *           - 0x07fff   stack, growing down from BOOT_STACK_TOP
 *   up to 1 MiB         RAM, one memory slot at GPA 0
 *
 * Entry modes (EntryMode):
 *   Real         CS:IP = 0:ip, CS limit 64 KiB; DS/ES/FS/GS/SS base 0 with a
 *                4 GiB limit ("unreal mode"), so 0x67-prefixed accesses
 *                reach MMIO such as the IOAPIC at 0xfec00000.
 *   Protected32  the multiboot machine state (specification 3.2): CR0.PE
 *                set, paging off; CS a flat 32-bit code segment (selector
 *                0x08), DS/ES/FS/GS/SS flat 32-bit data (selector 0x10),
 *                base 0 and limit 4 GiB.  The GDTR is left as it is: a
 *                multiboot kernel loads its own GDT before it reloads a
 *                segment register.
 * RFLAGS is 0x2 (interrupts off until the guest's `sti`) and the
 * six parameter registers are set from the CpuEntry, the others zeroed.
 */
#pragma once

#include "accel/kvm/kvm-backend.h"
#include "hw/i386/guest-payloads.h"
#include "qapi/result.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace hw::x86 {

/// RAM of the built-in guest: the whole real-mode address space.
inline constexpr size_t BOOT_RAM_SIZE = 1024 * 1024;
/// The least RAM every payload runs in: images and stack sit below 64 KiB
/// (embed-payloads.py refuses a payload that does not).
inline constexpr size_t PAYLOAD_RAM_MIN_SIZE = 64 * 1024;
/// Where the payloads' stack starts (SP), below their images' end.
inline constexpr uint64_t BOOT_STACK_TOP = 0x8000;
/// KVM memory slot of the boot RAM.
inline constexpr uint32_t BOOT_RAM_SLOT = 0;

/// Page-aligned, zeroed guest RAM at GPA 0, registered as a KVM memory
/// slot of `vm`.  The slot is removed before the memory is freed, as KVM
/// requires, so `vm` must outlive it.
class GuestRam {
public:
    GuestRam(const GuestRam &) = delete;
    GuestRam &operator=(const GuestRam &) = delete;
    ~GuestRam();

    /// Allocates `size` bytes (a multiple of the page size; zeroed pages
    /// mapped on first touch) and maps them as memory slot `slot` at GPA
    /// `gpa` (KVM_SET_USER_MEMORY_REGION).  Errors: the size, the host
    /// refusing the memory ("cannot set up guest memory 'pc.ram'", as
    /// QEMU), the ioctl.
    static qapi::Result<std::unique_ptr<GuestRam>>
    create(accel::kvm::Vm &vm, size_t size = BOOT_RAM_SIZE,
           uint32_t slot = BOOT_RAM_SLOT, uint64_t gpa = 0);

    std::span<std::byte> bytes() { return { m_memory, m_size }; }

    uint64_t gpa() const { return m_gpa; }

private:
    GuestRam(accel::kvm::Vm &vm, std::byte *mapping, size_t mapping_size,
             std::byte *memory, size_t size, uint32_t slot, uint64_t gpa);

    accel::kvm::Vm &m_vm;
    // The mmap()ed range, larger than the RAM so the RAM can start on a
    // huge-page boundary.
    std::byte *m_mapping;
    size_t m_mapping_size;
    std::byte *m_memory;
    size_t m_size;
    uint32_t m_slot;
    uint64_t m_gpa;
    bool m_registered { false };
};

/// Copies the payload's image to its load address.  Errors: it does not
/// fit in `ram`.
qapi::Result<void> load_payload(GuestRam &ram,
                                const guest::GuestPayload &payload);

/// What MSR_IA32_APICBASE enables: the LAPIC at the default base in xAPIC
/// or in x2APIC mode.
enum class ApicMode { Xapic, X2apic };

/// The MSR_IA32_APICBASE value set_apic_base() writes: enabled at
/// APIC_DEFAULT_PHYS_BASE in `mode`, BSP for vCPU 0.
uint64_t apic_base(uint32_t vcpu_id, ApicMode mode);

/// Writes apic_base(vcpu.id(), mode) with KVM_SET_MSRS.  Returns false when
/// KVM refused the value (x2APIC mode needs CPUID.1:ECX.x2APIC in the
/// vCPU's CPUID); the caller words that error, as only it knows why its
/// guest needs the mode.  Errors: the ioctl failed.
qapi::Result<bool> set_apic_base(accel::kvm::Vcpu &vcpu, ApicMode mode);

/// The CPU modes a guest is entered in (see the top of this file).
enum class EntryMode { Real, Protected32 };

/// Where and how a vCPU starts: the mode, IP and SP, and the registers a
/// payload or a boot protocol takes its parameters in.
struct CpuEntry {
    EntryMode mode { EntryMode::Real };
    uint64_t ip { 0 };
    uint64_t sp { BOOT_STACK_TOP };
    uint64_t rax { 0 }, rbx { 0 }, rcx { 0 }, rdx { 0 }, rsi { 0 }, rdi { 0 };
};

/// Puts the vCPU in `entry`'s state: KVM_GET_SREGS, the segments and CR0
/// of the mode, KVM_SET_SREGS (the other special registers, the APIC base
/// among them, keep their values), then KVM_SET_REGS.
qapi::Result<void> set_entry_state(accel::kvm::Vcpu &vcpu,
                                   const CpuEntry &entry);

} // namespace hw::x86
