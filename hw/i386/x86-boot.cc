#include "hw/i386/x86-boot.h"

#include <fmt/format.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <cerrno>

#include <sys/mman.h>

namespace hw::x86 {

using namespace accel::kvm;

namespace {

constexpr size_t GUEST_PAGE_SIZE = 4096;

// Segment access types (SDM Vol. 3, 3.4.5.1).
constexpr uint8_t SEGMENT_CODE_READ_ACCESSED = 0xb;
constexpr uint8_t SEGMENT_DATA_WRITE_ACCESSED = 0x3;

constexpr uint64_t CR0_PE = 1;
constexpr uint64_t CR0_PG = 1ULL << 31;
// Bit 1 of RFLAGS is reserved-one; IF stays clear until the guest's `sti`.
constexpr uint64_t RFLAGS_AT_ENTRY = 0x2;

/// DS, ES, FS, GS and SS all `data`.
void set_data_segments(Sregs &sregs, const Segment &data)
{
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
}

void set_real_mode_segments(Sregs &sregs)
{
    sregs.cs = Segment { .base = 0,
                         .limit = 0xffff,
                         .selector = 0,
                         .type = SEGMENT_CODE_READ_ACCESSED };
    // "Unreal mode": a 4 GiB data limit (hence 4 KiB granularity) lets the
    // payloads' 0x67-prefixed stores reach the IOAPIC at 0xfec00000
    // without leaving real mode.
    const Segment flat_data { .base = 0,
                              .limit = 0xffffffff,
                              .selector = 0,
                              .type = SEGMENT_DATA_WRITE_ACCESSED,
                              .g = 1 };
    set_data_segments(sregs, flat_data);
    sregs.cr0 &= ~CR0_PE;
}

void set_protected32_segments(Sregs &sregs)
{
    // Multiboot specification 3.2: flat 4 GiB segments, "the exact values
    // are undefined"; QEMU's multiboot ROM leaves these selectors (0x08
    // code, 0x10 data, as its register dump shows).
    sregs.cs = Segment { .base = 0,
                         .limit = 0xffffffff,
                         .selector = 0x08,
                         .type = SEGMENT_CODE_READ_ACCESSED,
                         .db = 1,
                         .g = 1 };
    const Segment flat_data { .base = 0,
                              .limit = 0xffffffff,
                              .selector = 0x10,
                              .type = SEGMENT_DATA_WRITE_ACCESSED,
                              .db = 1,
                              .g = 1 };
    set_data_segments(sregs, flat_data);
    sregs.cr0 = (sregs.cr0 | CR0_PE) & ~CR0_PG;
    sregs.cr4 = 0;
    sregs.efer = 0;
}

} // namespace

GuestRam::GuestRam(Vm &vm, std::byte *mapping, size_t mapping_size,
                   std::byte *memory, size_t size, uint32_t slot,
                   uint64_t gpa)
    : m_vm(vm)
    , m_mapping(mapping)
    , m_mapping_size(mapping_size)
    , m_memory(memory)
    , m_size(size)
    , m_slot(slot)
    , m_gpa(gpa)
{
}

qapi::Result<std::unique_ptr<GuestRam>>
GuestRam::create(Vm &vm, size_t size, uint32_t slot, uint64_t gpa)
{
    if (size == 0 || size % GUEST_PAGE_SIZE != 0) {
        return qapi::Error::format(
            "guest RAM: {} bytes is not a whole number of pages", size);
    }
    // Anonymous memory: page-aligned, zero, and only backed where the guest
    // touches it, so a 128 MiB guest costs what it uses.  As QEMU does, the
    // RAM starts on a 2 MiB boundary and asks for transparent huge pages:
    // reading memory the guest never touched (a migration's zero-page scan)
    // then maps the huge zero page, one fault per 2 MiB instead of 512.
    constexpr size_t HUGE_PAGE = size_t { 2 } << 20;
    size_t mapping_size = size + HUGE_PAGE;
    void *mapped = ::mmap(nullptr, mapping_size, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mapped == MAP_FAILED) {
        return qapi::Error::from_errno(errno,
                                       "cannot set up guest memory 'pc.ram'");
    }
    auto *mapping = static_cast<std::byte *>(mapped);
    auto *memory = reinterpret_cast<std::byte *>(
        (reinterpret_cast<uintptr_t>(mapping) + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1));
    // Advice only: without THP the RAM works the same, just slower to scan.
    (void)::madvise(memory, size, MADV_HUGEPAGE);
    std::unique_ptr<GuestRam> ram(new GuestRam(
        vm, mapping, mapping_size, memory, size, slot, gpa));
    qapi::Result<void> r = vm.set_user_memory_region(slot, gpa, ram->bytes());
    if (!r) {
        return r.release_error().prepend("guest RAM: ");
    }
    ram->m_registered = true;
    return ram;
}

GuestRam::~GuestRam()
{
    if (m_registered) {
        qapi::Result<void> r =
            m_vm.set_user_memory_region(m_slot, m_gpa, bytes().first(0));
        if (!r) {
            // The VM keeps a slot over freed memory; it can only fault.
            fmt::print(stderr, "guest RAM: cannot remove slot {}: {}\n",
                       m_slot, r.error().message());
        }
    }
    ::munmap(m_mapping, m_mapping_size);
}

qapi::Result<void> load_payload(GuestRam &ram,
                                const guest::GuestPayload &payload)
{
    std::span<std::byte> memory = ram.bytes();
    if (payload.load_address > memory.size() ||
        payload.image.size() > memory.size() - payload.load_address) {
        return qapi::Error::format(
            "{} does not fit in {} bytes of RAM at {:#x}", payload.name,
            memory.size(), payload.load_address);
    }
    std::memcpy(memory.data() + payload.load_address, payload.image.data(),
                payload.image.size());
    return {};
}

uint64_t apic_base(uint32_t vcpu_id, ApicMode mode)
{
    uint64_t base = APIC_DEFAULT_PHYS_BASE | MSR_IA32_APICBASE_ENABLE;
    if (mode == ApicMode::X2apic) {
        base |= MSR_IA32_APICBASE_EXTD;
    }
    if (vcpu_id == 0) {
        base |= MSR_IA32_APICBASE_BSP;
    }
    return base;
}

qapi::Result<bool> set_apic_base(Vcpu &vcpu, ApicMode mode)
{
    const std::array<MsrEntry, 1> msrs { MsrEntry {
        MSR_IA32_APICBASE, apic_base(vcpu.id(), mode) } };
    return TRY(vcpu.set_msrs(msrs)) == msrs.size();
}

qapi::Result<void> set_entry_state(Vcpu &vcpu, const CpuEntry &entry)
{
    Sregs sregs = TRY(vcpu.get_sregs());
    switch (entry.mode) {
    case EntryMode::Real:
        set_real_mode_segments(sregs);
        break;
    case EntryMode::Protected32:
        set_protected32_segments(sregs);
        break;
    }
    TRY(vcpu.set_sregs(sregs));

    Regs regs {};
    regs.rip = entry.ip;
    regs.rsp = entry.sp;
    regs.rax = entry.rax;
    regs.rbx = entry.rbx;
    regs.rcx = entry.rcx;
    regs.rdx = entry.rdx;
    regs.rsi = entry.rsi;
    regs.rdi = entry.rdi;
    regs.rflags = RFLAGS_AT_ENTRY;
    return vcpu.set_regs(regs);
}

} // namespace hw::x86
