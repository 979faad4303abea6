#include "accel/kvm/kernel-model/model-vcpu.h"

#include "accel/kvm/kernel-model/apic-map.h"
#include "accel/kvm/kernel-model/interpreter.h"
#include "accel/kvm/kernel-model/model-ioapic.h"
#include "accel/kvm/kernel-model/model-vm.h"

#include <algorithm>
#include <cerrno>

namespace accel::kvm::model {

namespace {

constexpr uint64_t RFLAGS_FIXED = 1ULL << 1;
constexpr uint64_t RFLAGS_IF = 1ULL << 9;
constexpr uint64_t CR0_PE = 1ULL << 0;
constexpr uint64_t CR0_ET = 1ULL << 4;
constexpr uint64_t CR0_NW = 1ULL << 29;
constexpr uint64_t CR0_CD = 1ULL << 30;
constexpr uint64_t CR0_PG = 1ULL << 31;
constexpr uint64_t CR4_PAE = 1ULL << 5;
constexpr uint64_t EFER_LME = 1ULL << 8;
constexpr uint64_t EFER_LMA = 1ULL << 10;
constexpr uint32_t KVM_MAX_CPUID_ENTRIES = 256;
/// Family/model/stepping in RDX after RESET when the CPUID has no leaf 1.
constexpr uint64_t RESET_RDX = 0x600;
/// MAXPHYADDR when the CPUID has no leaf 0x80000008.
constexpr uint32_t DEFAULT_MAXPHYADDR = 36;
/// APIC base bits 0-7 and 9 are reserved (SDM figure 11-5).
constexpr uint64_t APIC_BASE_RESERVED_LOW = 0x2FF;
constexpr uint32_t X2APIC_MSR_FIRST = 0x800;
constexpr uint32_t X2APIC_MSR_LAST = 0x8FF;
constexpr uint32_t MSR_IA32_SYSENTER_ESP = 0x175;
constexpr uint32_t MSR_IA32_SYSENTER_EIP = 0x176;
constexpr uint32_t MSR_IA32_MISC_ENABLE = 0x1a0;
constexpr uint32_t MSR_IA32_CR_PAT = 0x277;
constexpr uint32_t MSR_LSTAR = 0xc0000082;
constexpr uint32_t MSR_CSTAR = 0xc0000083;
constexpr uint32_t MSR_KERNEL_GS_BASE = 0xc0000102;
constexpr uint64_t PAT_POWER_ON = 0x0007040600070406ULL;
constexpr uint64_t MISC_ENABLE_FAST_STRING = 1ULL << 0;
/// Linear addresses are 48 bits (no LA57).
constexpr unsigned VIRTUAL_ADDRESS_BITS = 48;

/// The MSRs of KVM_SET_VCPU_EVENTS' flags the model understands: it has
/// no SMM, no exception payloads and no triple-fault event.
constexpr uint32_t VCPU_EVENTS_KNOWN_FLAGS = KVM_VCPUEVENT_VALID_NMI_PENDING |
                                             KVM_VCPUEVENT_VALID_SIPI_VECTOR |
                                             KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM;
constexpr uint8_t KVM_X86_SHADOW_INT_STI = 0x02;
constexpr uint8_t NMI_VECTOR = 2;

// The XSAVE image: FCW at 0, MXCSR at 24, MXCSR_MASK at 28, the XSAVE
// header (XSTATE_BV, XCOMP_BV, reserved) at 512.
constexpr size_t XSAVE_FCW = 0;
constexpr size_t XSAVE_MXCSR = 24;
constexpr size_t XSAVE_MXCSR_MASK = 28;
constexpr size_t XSAVE_HEADER = 512;
constexpr size_t XSAVE_HEADER_SIZE = 64;
constexpr uint16_t FCW_RESET = 0x037F;
constexpr uint32_t MXCSR_RESET = 0x1F80;
constexpr uint32_t MXCSR_MASK = 0xFFFF;
/// x87, SSE and AVX: the state components the model accepts.
constexpr uint64_t XSTATE_X87 = 1U << 0;
constexpr uint64_t XSTATE_SSE = 1U << 1;
constexpr uint64_t XSTATE_AVX = 1U << 2;
constexpr uint64_t XSTATE_SUPPORTED = XSTATE_X87 | XSTATE_SSE | XSTATE_AVX;
// Each component's bytes: the x87 control/status words and pointers
// (0-23) and ST0-ST7 (32-159); XMM0-15 (160-415); the upper YMM halves in
// the standard format's AVX area (576-831).
constexpr size_t XSAVE_X87_FIRST = 32;
constexpr size_t XSAVE_X87_END = 160;
constexpr size_t XSAVE_XMM_FIRST = 160;
constexpr size_t XSAVE_XMM_END = 416;
constexpr size_t XSAVE_YMMH_FIRST = 576;
constexpr size_t XSAVE_YMMH_END = 832;

uint64_t load_u64(std::span<const uint8_t> bytes)
{
    uint64_t value = 0;
    for (size_t i = 0; i < sizeof(value); ++i) {
        value |= static_cast<uint64_t>(bytes[i]) << (8 * i);
    }
    return value;
}

void store_le(std::span<uint8_t> bytes, uint64_t value)
{
    for (uint8_t &byte : bytes) {
        byte = static_cast<uint8_t>(value);
        value >>= 8;
    }
}

bool is_canonical(uint64_t address)
{
    auto shift = 64 - VIRTUAL_ADDRESS_BITS;
    return static_cast<uint64_t>(static_cast<int64_t>(address << shift) >> shift) == address;
}

uint64_t canonicalise(uint64_t address)
{
    auto shift = 64 - VIRTUAL_ADDRESS_BITS;
    return static_cast<uint64_t>(static_cast<int64_t>(address << shift) >> shift);
}

XsaveState reset_xsave()
{
    XsaveState xsave;
    std::span<uint8_t> region(xsave.region);
    store_le(region.subspan(XSAVE_FCW, 2), FCW_RESET);
    store_le(region.subspan(XSAVE_MXCSR, 4), MXCSR_RESET);
    store_le(region.subspan(XSAVE_MXCSR_MASK, 4), MXCSR_MASK);
    return xsave;
}

enum class ApicMode { Disabled, Invalid, Xapic, X2apic };

ApicMode apic_mode(uint64_t apic_base)
{
    bool enable = (apic_base & MSR_IA32_APICBASE_ENABLE) != 0;
    bool extd = (apic_base & MSR_IA32_APICBASE_EXTD) != 0;
    if (enable) {
        return extd ? ApicMode::X2apic : ApicMode::Xapic;
    }
    return extd ? ApicMode::Invalid : ApicMode::Disabled;
}

Segment real_mode_segment(uint16_t selector, uint64_t base, uint8_t type)
{
    Segment segment;
    segment.base = base;
    segment.limit = 0xFFFF;
    segment.selector = selector;
    segment.type = type;
    return segment;
}

constexpr uint8_t SEGMENT_TYPE_DATA = 0x3;
constexpr uint8_t SEGMENT_TYPE_CODE = 0xB;

const CpuidEntry *find_cpuid(std::span<const CpuidEntry> entries, uint32_t function)
{
    auto it = std::find_if(entries.begin(), entries.end(), [function](const CpuidEntry &e) {
        return e.function == function && e.index == 0;
    });
    return it == entries.end() ? nullptr : &*it;
}

bool same_cpuid(std::span<const CpuidEntry> a, std::span<const CpuidEntry> b)
{
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](const CpuidEntry &x, const CpuidEntry &y) {
                          return x.function == y.function && x.index == y.index &&
                                 x.flags == y.flags && x.eax == y.eax && x.ebx == y.ebx &&
                                 x.ecx == y.ecx && x.edx == y.edx;
                      });
}

} // namespace

VcpuState::VcpuState(ModelVm &vm, uint32_t id, uint32_t index)
    : m_vm(vm)
    , m_id(id)
    , m_index(index)
{
    if (vm.irqchip_in_kernel()) {
        m_lapic = std::make_unique<Lapic>(*this);
        // kvm_create_lapic() stuffs the enable bit so that RESET, below,
        // finds an enabled APIC.
        m_apic_base = MSR_IA32_APICBASE_ENABLE;
    }
    // NOTE: the vCPU is not in the VM's list yet, so the map rebuilt by
    // this RESET does not contain it.  The kernel behaves the same: a new
    // vCPU only appears in the optimized map at the next recalculation
    // (e.g. KVM_SET_LAPIC), as measured on the development host.
    reset(false);
    m_xsave = reset_xsave();
    m_saved_msrs.reset();
    // kvm_arch_vcpu_create(): with an in-kernel LAPIC only the BSP starts
    // runnable; an AP waits for INIT.
    if (m_lapic && !is_reset_bsp()) {
        mp_state = MpState::Uninitialized;
    }
}

std::optional<size_t> SavedMsrs::slot(uint32_t index)
{
    for (size_t i = 0; i < std::size(INDICES); ++i) {
        if (INDICES[i] == index) {
            return i;
        }
    }
    return std::nullopt;
}

void SavedMsrs::reset()
{
    values.fill(0);
    values[*slot(MSR_IA32_CR_PAT)] = PAT_POWER_ON;
    values[*slot(MSR_IA32_MISC_ENABLE)] = MISC_ENABLE_FAST_STRING;
}

bool SavedMsrs::set(size_t index, uint64_t value)
{
    switch (INDICES[index]) {
    case MSR_IA32_SYSENTER_ESP:
    case MSR_IA32_SYSENTER_EIP:
        value = canonicalise(value);
        break;
    case MSR_LSTAR:
    case MSR_CSTAR:
    case MSR_KERNEL_GS_BASE:
        if (!is_canonical(value)) {
            return false;
        }
        break;
    default:
        break;
    }
    values[index] = value;
    return true;
}

bool VcpuState::apic_present() const
{
    return m_lapic != nullptr && (m_apic_base & MSR_IA32_APICBASE_ENABLE) != 0;
}

uint32_t VcpuState::maxphyaddr() const
{
    const CpuidEntry *leaf = find_cpuid(m_cpuid, 0x80000008);
    return leaf != nullptr ? (leaf->eax & 0xFF) : DEFAULT_MAXPHYADDR;
}

void VcpuState::reset(bool init)
{
    if (!init) {
        uint64_t base = APIC_DEFAULT_PHYS_BASE | MSR_IA32_APICBASE_ENABLE;
        if (is_reset_bsp()) {
            base |= MSR_IA32_APICBASE_BSP;
        }
        apply_apic_base(base);
    }
    if (m_lapic) {
        m_lapic->reset(init);
    }

    uint64_t old_cr0 = cpu.cr0;
    const CpuidEntry *leaf1 = find_cpuid(m_cpuid, 1);
    cpu = CpuRegisters {};
    cpu.gpr[2] = leaf1 != nullptr ? leaf1->eax : RESET_RDX;
    cpu.rip = 0xFFF0;
    cpu.rflags = RFLAGS_FIXED;
    cpu.cs = real_mode_segment(0xF000, 0xFFFF0000, SEGMENT_TYPE_CODE);
    cpu.ds = cpu.es = cpu.fs = cpu.gs = cpu.ss = real_mode_segment(0, 0, SEGMENT_TYPE_DATA);
    // INIT keeps the cache-control bits (SDM table 9-1).
    cpu.cr0 = CR0_ET | (init ? (old_cr0 & (CR0_NW | CR0_CD)) : (CR0_NW | CR0_CD));
    sti_shadow = false;
    nmi_masked = false;
    m_nmi_pending = false;
    m_injected_interrupt.reset();
    m_injected_exception.reset();
    m_pv_unhalted = false;
    mp_state = MpState::Runnable;
}

void VcpuState::apply_apic_base(uint64_t value)
{
    uint64_t old = m_apic_base;
    m_apic_base = value;
    if (!m_lapic) {
        return;
    }
    uint64_t changed = old ^ value;
    if ((changed & MSR_IA32_APICBASE_ENABLE) != 0) {
        if ((value & MSR_IA32_APICBASE_ENABLE) != 0) {
            m_lapic->set_xapic_id(static_cast<uint8_t>(m_id));
        } else {
            m_vm.mark_apic_map_dirty();
        }
    }
    if ((changed & MSR_IA32_APICBASE_EXTD) != 0) {
        if ((value & MSR_IA32_APICBASE_EXTD) != 0) {
            m_lapic->set_x2apic_id();
        } else if ((value & MSR_IA32_APICBASE_ENABLE) != 0) {
            m_lapic->set_xapic_id(static_cast<uint8_t>(m_id));
        }
    }
}

bool VcpuState::set_apic_base(uint64_t value, bool host_initiated)
{
    if (value == m_apic_base) {
        return true;
    }
    ApicMode old_mode = apic_mode(m_apic_base);
    ApicMode new_mode = apic_mode(value);
    // Address bits above MAXPHYADDR are reserved, and so is the x2APIC
    // enable bit unless the guest CPUID has x2APIC.
    uint64_t reserved = APIC_BASE_RESERVED_LOW;
    uint32_t phys_bits = maxphyaddr();
    if (phys_bits < 64) {
        reserved |= ~0ULL << phys_bits;
    }
    if (!m_guest_x2apic) {
        reserved |= MSR_IA32_APICBASE_EXTD;
    }
    if ((value & reserved) != 0 || new_mode == ApicMode::Invalid) {
        return false;
    }
    // SDM 11.12.5: x2APIC -> xAPIC and disabled -> x2APIC are illegal
    // transitions for the guest; the host may stuff any valid state.
    if (!host_initiated) {
        if (old_mode == ApicMode::X2apic && new_mode == ApicMode::Xapic) {
            return false;
        }
        if (old_mode == ApicMode::Disabled && new_mode == ApicMode::X2apic) {
            return false;
        }
    }
    apply_apic_base(value);
    m_vm.recalculate_apic_map();
    return true;
}

void VcpuState::ioapic_send_eoi(uint8_t vector)
{
    if (!m_ioapic_handled_vectors.test(vector)) {
        return;
    }
    // The EOI of a vector that was only pending from an older routing:
    // rescan, as the vector probably no longer needs intercepting.
    if (m_highest_stale_pending_ioapic_eoi == vector) {
        request_scan_ioapic();
    }
    if (m_vm.irqchip_split()) {
        // The SEOIB change: an EOI the guest asked to suppress, and that
        // the VM honours, does not reach the userspace IOAPIC (kvm-facts
        // §2.4).  The TMR is not consulted.
        if (m_lapic->suppress_eoi_broadcast()) {
            return;
        }
        m_pending_ioapic_eoi = vector;
        m_eoi_exit_requested = true;
        return;
    }
    if (KernelIoapic *ioapic = m_vm.ioapic()) {
        ioapic->update_eoi(*this, vector, m_lapic->vector_bit(APIC_TMR, vector));
    }
}

void VcpuState::scan_ioapic_irq(uint32_t dest_id, bool logical, uint8_t vector)
{
    if (apic_match_dest(*this, nullptr, APIC_DEST_NOSHORT, dest_id, logical,
                        m_vm.broadcast_quirk_disabled())) {
        m_ioapic_handled_vectors.set(vector);
        return;
    }
    // Not (or no longer) a destination, but the vector is still pending or
    // in service here: its EOI must still be seen, once.
    if (m_lapic->pending_eoi(vector)) {
        m_ioapic_handled_vectors.set(vector);
        m_highest_stale_pending_ioapic_eoi =
            std::max(m_highest_stale_pending_ioapic_eoi, static_cast<int>(vector));
    }
}

void VcpuState::scan_ioapic()
{
    if (!apic_present()) {
        return;
    }
    m_ioapic_handled_vectors.reset();
    m_highest_stale_pending_ioapic_eoi = -1;
    if (m_vm.irqchip_split()) {
        m_vm.scan_ioapic_routes(*this);
    } else if (const KernelIoapic *ioapic = m_vm.ioapic()) {
        ioapic->scan_entry(*this);
    }
}

qapi::Result<void> VcpuState::set_cpuid(std::span<const CpuidEntry> entries)
{
    if (entries.size() > KVM_MAX_CPUID_ENTRIES) {
        return kernel_error(E2BIG, "KVM_SET_CPUID2");
    }
    // Once the vCPU has run, KVM only accepts the CPUID it already has.
    if (m_has_run) {
        if (!same_cpuid(entries, m_cpuid)) {
            return kernel_error(EINVAL, "KVM_SET_CPUID2");
        }
        return {};
    }
    m_cpuid.assign(entries.begin(), entries.end());
    const CpuidEntry *leaf1 = find_cpuid(m_cpuid, 1);
    m_guest_x2apic = leaf1 != nullptr && (leaf1->ecx & CPUID_EXT_X2APIC) != 0;
    // kvm_vcpu_after_set_cpuid() recomputes the LVR inside its leaf-1
    // block only.
    if (leaf1 != nullptr && m_lapic) {
        m_lapic->update_version();
    }
    return {};
}

qapi::Result<LapicState> VcpuState::get_lapic()
{
    if (!m_lapic) {
        return kernel_error(EINVAL, "KVM_GET_LAPIC");
    }
    return m_lapic->get_state();
}

qapi::Result<void> VcpuState::set_lapic(const LapicState &state)
{
    if (!m_lapic) {
        return kernel_error(EINVAL, "KVM_SET_LAPIC");
    }
    return m_lapic->set_state(state);
}

bool VcpuState::msr_modelled(uint32_t index)
{
    return index == MSR_IA32_APICBASE ||
           (index >= X2APIC_MSR_FIRST && index <= X2APIC_MSR_LAST) ||
           SavedMsrs::slot(index).has_value();
}

bool VcpuState::set_msr(uint32_t index, uint64_t data, bool host_initiated)
{
    if (index == MSR_IA32_APICBASE) {
        return set_apic_base(data, host_initiated);
    }
    if (index >= X2APIC_MSR_FIRST && index <= X2APIC_MSR_LAST) {
        return m_lapic && m_lapic->msr_write(index, data);
    }
    if (std::optional<size_t> slot = SavedMsrs::slot(index)) {
        return m_saved_msrs.set(*slot, data);
    }
    return false;
}

std::optional<uint64_t> VcpuState::get_msr(uint32_t index)
{
    if (index == MSR_IA32_APICBASE) {
        return m_apic_base;
    }
    if (index >= X2APIC_MSR_FIRST && index <= X2APIC_MSR_LAST) {
        if (!m_lapic) {
            return std::nullopt;
        }
        return m_lapic->msr_read(index);
    }
    if (std::optional<size_t> slot = SavedMsrs::slot(index)) {
        return m_saved_msrs.values[*slot];
    }
    return std::nullopt;
}

bool VcpuState::guest_wrmsr(uint32_t index, uint64_t data)
{
    return set_msr(index, data, false);
}

std::optional<uint64_t> VcpuState::guest_rdmsr(uint32_t index)
{
    return get_msr(index);
}

qapi::Result<size_t> VcpuState::set_msrs(std::span<const MsrEntry> entries)
{
    // KVM_SET_MSRS stops at the first MSR it cannot set and reports how
    // many it did.
    size_t done = 0;
    for (const MsrEntry &entry : entries) {
        if (!set_msr(entry.index, entry.data, true)) {
            break;
        }
        ++done;
    }
    return done;
}

qapi::Result<size_t> VcpuState::get_msrs(std::span<MsrEntry> entries)
{
    size_t done = 0;
    for (MsrEntry &entry : entries) {
        std::optional<uint64_t> value = get_msr(entry.index);
        if (!value) {
            break;
        }
        entry.data = *value;
        ++done;
    }
    return done;
}

bool VcpuState::kernel_mmio_write(uint64_t gpa, uint8_t size, uint32_t value)
{
    uint64_t apic_page = m_apic_base & ~(KVM_PAGE_SIZE - 1);
    if (m_lapic && gpa >= apic_page && gpa < apic_page + KVM_PAGE_SIZE) {
        m_lapic->mmio_write(static_cast<uint32_t>(gpa - apic_page), size, value);
        return true;
    }
    KernelIoapic *ioapic = m_vm.ioapic();
    if (ioapic != nullptr && ioapic->in_range(gpa)) {
        ioapic->mmio_write(gpa, size, value);
        return true;
    }
    return false;
}

std::optional<uint32_t> VcpuState::kernel_mmio_read(uint64_t gpa, uint8_t size)
{
    uint64_t apic_page = m_apic_base & ~(KVM_PAGE_SIZE - 1);
    if (m_lapic && gpa >= apic_page && gpa < apic_page + KVM_PAGE_SIZE) {
        return m_lapic->mmio_read(static_cast<uint32_t>(gpa - apic_page), size);
    }
    KernelIoapic *ioapic = m_vm.ioapic();
    if (ioapic != nullptr && ioapic->in_range(gpa)) {
        return ioapic->mmio_read(gpa, size);
    }
    return std::nullopt;
}

Regs VcpuState::get_regs() const
{
    Regs regs;
    regs.rax = cpu.gpr[0];
    regs.rcx = cpu.gpr[1];
    regs.rdx = cpu.gpr[2];
    regs.rbx = cpu.gpr[3];
    regs.rsp = cpu.gpr[4];
    regs.rbp = cpu.gpr[5];
    regs.rsi = cpu.gpr[6];
    regs.rdi = cpu.gpr[7];
    regs.r8 = cpu.gpr[8];
    regs.r9 = cpu.gpr[9];
    regs.r10 = cpu.gpr[10];
    regs.r11 = cpu.gpr[11];
    regs.r12 = cpu.gpr[12];
    regs.r13 = cpu.gpr[13];
    regs.r14 = cpu.gpr[14];
    regs.r15 = cpu.gpr[15];
    regs.rip = cpu.rip;
    regs.rflags = cpu.rflags;
    return regs;
}

void VcpuState::set_regs(const Regs &regs)
{
    cpu.gpr = { regs.rax, regs.rcx, regs.rdx, regs.rbx, regs.rsp, regs.rbp,
                regs.rsi, regs.rdi, regs.r8, regs.r9, regs.r10, regs.r11,
                regs.r12, regs.r13, regs.r14, regs.r15 };
    cpu.rip = regs.rip;
    // Bit 1 of RFLAGS always reads as 1.
    cpu.rflags = regs.rflags | RFLAGS_FIXED;
}

Sregs VcpuState::get_sregs() const
{
    Sregs sregs;
    sregs.cs = cpu.cs;
    sregs.ds = cpu.ds;
    sregs.es = cpu.es;
    sregs.fs = cpu.fs;
    sregs.gs = cpu.gs;
    sregs.ss = cpu.ss;
    sregs.tr = cpu.tr;
    sregs.ldt = cpu.ldt;
    sregs.gdt = cpu.gdt;
    sregs.idt = cpu.idt;
    sregs.cr0 = cpu.cr0;
    sregs.cr2 = cpu.cr2;
    sregs.cr3 = cpu.cr3;
    sregs.cr4 = cpu.cr4;
    // kvm_get_cr8(): the TPR's priority class when the LAPIC is in-kernel.
    sregs.cr8 = m_lapic ? (m_lapic->reg(APIC_TASKPRI) >> 4) & 0xF : cpu.cr8;
    sregs.efer = cpu.efer;
    sregs.apic_base = m_apic_base;
    // An injected external interrupt not yet taken shows in the bitmap.
    if (m_injected_interrupt) {
        sregs.interrupt_bitmap[*m_injected_interrupt / 64] |= 1ULL << (*m_injected_interrupt % 64);
    }
    return sregs;
}

qapi::Result<void> VcpuState::set_sregs(const Sregs &sregs)
{
    // kvm_is_valid_sregs(): long mode needs paging with PAE; otherwise LMA
    // and a 64-bit CS are invalid.  CR0: no bits above 31, NW needs CD, PG
    // needs PE.
    bool valid = true;
    if ((sregs.efer & EFER_LME) != 0 && (sregs.cr0 & CR0_PG) != 0) {
        valid = (sregs.cr4 & CR4_PAE) != 0 && (sregs.efer & EFER_LMA) != 0;
    } else {
        valid = (sregs.efer & EFER_LMA) == 0 && sregs.cs.l == 0;
    }
    if ((sregs.cr0 >> 32) != 0 || (sregs.cr4 >> 32) != 0) {
        valid = false;
    }
    if ((sregs.cr0 & CR0_NW) != 0 && (sregs.cr0 & CR0_CD) == 0) {
        valid = false;
    }
    if ((sregs.cr0 & CR0_PG) != 0 && (sregs.cr0 & CR0_PE) == 0) {
        valid = false;
    }
    if (!valid) {
        return kernel_error(EINVAL, "KVM_SET_SREGS");
    }
    // The APIC base goes through the same checks as a host MSR write.
    if (!set_apic_base(sregs.apic_base, true)) {
        return kernel_error(EINVAL, "KVM_SET_SREGS");
    }
    cpu.cs = sregs.cs;
    cpu.ds = sregs.ds;
    cpu.es = sregs.es;
    cpu.fs = sregs.fs;
    cpu.gs = sregs.gs;
    cpu.ss = sregs.ss;
    cpu.tr = sregs.tr;
    cpu.ldt = sregs.ldt;
    cpu.gdt = sregs.gdt;
    cpu.idt = sregs.idt;
    cpu.cr0 = sregs.cr0;
    cpu.cr2 = sregs.cr2;
    cpu.cr3 = sregs.cr3;
    cpu.cr4 = sregs.cr4;
    cpu.efer = sregs.efer;
    // kvm_set_cr8(): the TPR, when the LAPIC is in-kernel.
    if (m_lapic) {
        m_lapic->write(APIC_TASKPRI, static_cast<uint32_t>((sregs.cr8 & 0xF) << 4));
    } else {
        cpu.cr8 = sregs.cr8;
    }
    // __set_sregs(): the first vector of the bitmap becomes the injected
    // interrupt (kvm_queue_interrupt).
    m_injected_interrupt.reset();
    for (unsigned vector = 0; vector < 256; ++vector) {
        if ((sregs.interrupt_bitmap[vector / 64] >> (vector % 64)) & 1) {
            m_injected_interrupt = static_cast<uint8_t>(vector);
            break;
        }
    }
    return {};
}

VcpuEvents VcpuState::get_vcpu_events() const
{
    // kvm_vcpu_ioctl_x86_get_vcpu_events(): NMI-pending, shadow and SMM are
    // always reported valid; the SIPI vector is reported but not flagged.
    VcpuEvents events;
    if (m_injected_exception) {
        events.exception.injected = 1;
        events.exception.nr = *m_injected_exception;
    }
    if (m_injected_interrupt) {
        events.interrupt.injected = 1;
        events.interrupt.nr = *m_injected_interrupt;
    }
    events.interrupt.shadow = sti_shadow ? KVM_X86_SHADOW_INT_STI : 0;
    events.nmi.pending = m_nmi_pending ? 1 : 0;
    events.nmi.masked = nmi_masked ? 1 : 0;
    events.sipi_vector = m_sipi_vector;
    events.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW |
                   KVM_VCPUEVENT_VALID_SMM;
    return events;
}

qapi::Result<void> VcpuState::set_vcpu_events(const VcpuEvents &events)
{
    // kvm_vcpu_ioctl_x86_set_vcpu_events(): unknown flags, and an injected
    // exception that is not an exception vector (or is the NMI), are
    // EINVAL.  The model has no SMM: entering it is refused the same way.
    if ((events.flags & ~VCPU_EVENTS_KNOWN_FLAGS) != 0) {
        return kernel_error(EINVAL, "KVM_SET_VCPU_EVENTS");
    }
    if ((events.exception.injected || events.exception.pending) &&
        (events.exception.nr > 31 || events.exception.nr == NMI_VECTOR)) {
        return kernel_error(EINVAL, "KVM_SET_VCPU_EVENTS");
    }
    if ((events.flags & KVM_VCPUEVENT_VALID_SMM) != 0 &&
        (events.smi.smm || events.smi.pending)) {
        return kernel_error(EINVAL, "KVM_SET_VCPU_EVENTS");
    }
    // A pending exception is delivered like an injected one: the model
    // has no exception payloads to tell them apart.
    m_injected_exception.reset();
    if (events.exception.injected || events.exception.pending) {
        m_injected_exception = events.exception.nr;
    }
    m_injected_interrupt.reset();
    if (events.interrupt.injected) {
        m_injected_interrupt = events.interrupt.nr;
    }
    if ((events.flags & KVM_VCPUEVENT_VALID_SHADOW) != 0) {
        sti_shadow = events.interrupt.shadow != 0;
    }
    if ((events.flags & KVM_VCPUEVENT_VALID_NMI_PENDING) != 0) {
        m_nmi_pending = events.nmi.pending != 0;
    }
    nmi_masked = events.nmi.masked != 0;
    if ((events.flags & KVM_VCPUEVENT_VALID_SIPI_VECTOR) != 0) {
        m_sipi_vector = events.sipi_vector;
    }
    return {};
}

MpState VcpuState::get_mp_state()
{
    // kvm_arch_vcpu_ioctl_get_mpstate(): pending INIT/SIPI are accepted
    // first, and a halted vCPU with a PV unhalt pending reads as runnable.
    if (m_lapic) {
        accept_events();
    }
    if (mp_state == MpState::Halted && m_pv_unhalted) {
        return MpState::Runnable;
    }
    return mp_state;
}

qapi::Result<void> VcpuState::set_mp_state(MpState state)
{
    // kvm_arch_vcpu_ioctl_set_mpstate(): every state but RUNNABLE needs
    // the in-kernel LAPIC; SIPI_RECEIVED becomes INIT_RECEIVED with the
    // SIPI (of the events' sipi_vector) pending.
    switch (state) {
    case MpState::Runnable:
        break;
    case MpState::Uninitialized:
    case MpState::Halted:
    case MpState::InitReceived:
    case MpState::SipiReceived:
        if (!m_lapic) {
            return kernel_error(EINVAL, "KVM_SET_MP_STATE");
        }
        break;
    default:
        return kernel_error(EINVAL, "KVM_SET_MP_STATE");
    }
    if (state == MpState::SipiReceived) {
        mp_state = MpState::InitReceived;
        m_lapic->queue_sipi(static_cast<uint8_t>(m_sipi_vector));
    } else {
        mp_state = state;
    }
    return {};
}

qapi::Result<void> VcpuState::set_xsave(const XsaveState &xsave)
{
    // fpu_copy_uabi_to_guest_fpstate(): an XSTATE_BV with components the
    // vCPU cannot have, a non-zero reserved header or MXCSR bits outside
    // MXCSR_MASK are EINVAL.  The model's image is the 4 KiB one.
    if (xsave.region.size() > XsaveState::LEGACY_SIZE || xsave.region.size() < XSAVE_HEADER + XSAVE_HEADER_SIZE) {
        return kernel_error(EINVAL, "KVM_SET_XSAVE");
    }
    std::span<const uint8_t> region(xsave.region);
    uint64_t xstate_bv = load_u64(region.subspan(XSAVE_HEADER, 8));
    bool reserved_clear = std::all_of(region.begin() + XSAVE_HEADER + 8,
                                      region.begin() + XSAVE_HEADER + XSAVE_HEADER_SIZE,
                                      [](uint8_t byte) { return byte == 0; });
    uint32_t mxcsr = static_cast<uint32_t>(load_u64(region.subspan(XSAVE_MXCSR, 8)));
    bool takes_mxcsr = (xstate_bv & (XSTATE_SSE | XSTATE_AVX)) != 0;
    if ((xstate_bv & ~XSTATE_SUPPORTED) != 0 || !reserved_clear ||
        (takes_mxcsr && (mxcsr & ~MXCSR_MASK) != 0)) {
        return kernel_error(EINVAL, "KVM_SET_XSAVE");
    }
    // copy_uabi_to_xstate(): a component whose XSTATE_BV bit is clear is
    // in its init state, and so it reads back.
    XsaveState image = reset_xsave();
    std::span<uint8_t> into(image.region);
    std::copy(region.begin() + XSAVE_HEADER, region.begin() + XSAVE_HEADER + 8,
              into.begin() + XSAVE_HEADER);
    if ((xstate_bv & XSTATE_X87) != 0) {
        std::copy(region.begin() + XSAVE_X87_FIRST, region.begin() + XSAVE_X87_END,
                  into.begin() + XSAVE_X87_FIRST);
        std::copy(region.begin() + XSAVE_FCW, region.begin() + XSAVE_FCW + 24, into.begin());
    }
    if (takes_mxcsr) {
        std::copy(region.begin() + XSAVE_MXCSR, region.begin() + XSAVE_MXCSR + 4,
                  into.begin() + XSAVE_MXCSR);
    }
    if ((xstate_bv & XSTATE_SSE) != 0) {
        std::copy(region.begin() + XSAVE_XMM_FIRST, region.begin() + XSAVE_XMM_END,
                  into.begin() + XSAVE_XMM_FIRST);
    }
    if ((xstate_bv & XSTATE_AVX) != 0 && region.size() >= XSAVE_YMMH_END) {
        std::copy(region.begin() + XSAVE_YMMH_FIRST, region.begin() + XSAVE_YMMH_END,
                  into.begin() + XSAVE_YMMH_FIRST);
    }
    m_xsave = std::move(image);
    return {};
}

void VcpuState::complete_userspace_io()
{
    PendingCompletion pending = completion;
    completion = {};
    // Like complete_fast_pio_in(): if userspace moved RIP since the exit,
    // the instruction is not completed.
    if (pending.kind == PendingCompletion::Kind::None ||
        cpu.cs.base + cpu.rip != pending.exit_linear_rip) {
        return;
    }
    uint32_t value = pending.kind == PendingCompletion::Kind::PioIn ? m_io_in_value : 0;
    uint8_t reg = pending.kind == PendingCompletion::Kind::PioIn ? 0 : pending.reg;
    if (pending.size == 4) {
        cpu.gpr[reg] = value;
    } else {
        uint64_t mask = pending.size == 1 ? 0xFF : 0xFFFF;
        cpu.gpr[reg] = (cpu.gpr[reg] & ~mask) | (value & mask);
    }
    cpu.rip = pending.next_rip;
}

std::optional<VcpuExit> VcpuState::process_requests()
{
    // Same order as vcpu_enter_guest(): the EOI exit is checked against the
    // handled set before a pending rescan replaces it.
    if (m_eoi_exit_requested) {
        m_eoi_exit_requested = false;
        if (m_ioapic_handled_vectors.test(m_pending_ioapic_eoi)) {
            return ExitIoapicEoi { m_pending_ioapic_eoi };
        }
    }
    if (m_scan_requested) {
        m_scan_requested = false;
        scan_ioapic();
    }
    return std::nullopt;
}

void VcpuState::accept_events()
{
    if (!m_lapic || !m_lapic->has_pending_init_or_sipi()) {
        return;
    }
    if (m_lapic->take_pending_init()) {
        reset(true);
        // The BSP restarts at the reset vector; APs wait for a SIPI.
        mp_state = (m_apic_base & MSR_IA32_APICBASE_BSP) != 0 ? MpState::Runnable
                                                              : MpState::InitReceived;
    }
    std::optional<uint8_t> sipi = m_lapic->take_pending_sipi();
    if (sipi && mp_state == MpState::InitReceived) {
        cpu.cs = real_mode_segment(static_cast<uint16_t>(*sipi << 8),
                                   static_cast<uint64_t>(*sipi) << 12, SEGMENT_TYPE_CODE);
        cpu.rip = 0;
        mp_state = MpState::Runnable;
    }
}

bool VcpuState::has_events()
{
    if (m_injected_exception || m_injected_interrupt) {
        return true;
    }
    if (m_nmi_pending && !nmi_masked) {
        return true;
    }
    if (m_pv_unhalted) {
        return true;
    }
    if (!m_lapic) {
        return false;
    }
    if (m_lapic->has_pending_init_or_sipi()) {
        return true;
    }
    return (cpu.rflags & RFLAGS_IF) != 0 && m_lapic->deliverable_interrupt() >= 0;
}

std::optional<VcpuExit> VcpuState::inject_pending_event()
{
    // Events KVM_SET_VCPU_EVENTS left injected go first: they were already
    // taken from the LAPIC (or raised) on the source.
    if (m_injected_exception) {
        uint8_t vector = *std::exchange(m_injected_exception, std::nullopt);
        return deliver_interrupt(*this, vector);
    }
    if (m_injected_interrupt) {
        uint8_t vector = *std::exchange(m_injected_interrupt, std::nullopt);
        return deliver_interrupt(*this, vector);
    }
    if (m_nmi_pending && !nmi_masked) {
        m_nmi_pending = false;
        // NMIs stay blocked until the handler's IRET.
        nmi_masked = true;
        return deliver_interrupt(*this, 2);
    }
    if ((cpu.rflags & RFLAGS_IF) == 0 || sti_shadow || !m_lapic) {
        return std::nullopt;
    }
    int vector = m_lapic->deliverable_interrupt();
    if (vector < 0) {
        return std::nullopt;
    }
    m_lapic->ack_interrupt(static_cast<uint8_t>(vector));
    return deliver_interrupt(*this, static_cast<uint8_t>(vector));
}

qapi::Result<VcpuExit> VcpuState::run()
{
    m_has_run = true;
    complete_userspace_io();
    m_vm.run_deferred_work();

    uint64_t budget = m_vm.options().run_budget;
    uint64_t executed = 0;
    for (;;) {
        if (std::optional<VcpuExit> exit = process_requests()) {
            return *exit;
        }
        accept_events();
        // A vCPU waiting for a SIPI, or halted with nothing to wake it,
        // would block in the kernel; the model cannot, so the run ends as
        // an interrupted one does.
        if (mp_state == MpState::InitReceived || mp_state == MpState::Uninitialized) {
            return VcpuExit { ExitInterrupted {} };
        }
        if (mp_state == MpState::Halted) {
            if (!has_events()) {
                return VcpuExit { ExitInterrupted {} };
            }
            mp_state = MpState::Runnable;
            m_pv_unhalted = false;
        }
        if (std::optional<VcpuExit> exit = inject_pending_event()) {
            return *exit;
        }
        if (executed == budget) {
            return VcpuExit { ExitInterrupted {} };
        }
        ++executed;
        if (std::optional<VcpuExit> exit = execute_instruction(*this)) {
            return *exit;
        }
    }
}

qapi::Result<void> ModelVcpu::set_cpuid(std::span<const CpuidEntry> entries)
{
    return m_state.set_cpuid(entries);
}

qapi::Result<LapicState> ModelVcpu::get_lapic()
{
    return m_state.get_lapic();
}

qapi::Result<void> ModelVcpu::set_lapic(const LapicState &state)
{
    return m_state.set_lapic(state);
}

qapi::Result<size_t> ModelVcpu::set_msrs(std::span<const MsrEntry> entries)
{
    return m_state.set_msrs(entries);
}

qapi::Result<size_t> ModelVcpu::get_msrs(std::span<MsrEntry> entries)
{
    return m_state.get_msrs(entries);
}

qapi::Result<Regs> ModelVcpu::get_regs()
{
    return m_state.get_regs();
}

qapi::Result<void> ModelVcpu::set_regs(const Regs &regs)
{
    m_state.set_regs(regs);
    return {};
}

qapi::Result<Sregs> ModelVcpu::get_sregs()
{
    return m_state.get_sregs();
}

qapi::Result<void> ModelVcpu::set_sregs(const Sregs &sregs)
{
    return m_state.set_sregs(sregs);
}

qapi::Result<VcpuEvents> ModelVcpu::get_vcpu_events()
{
    return m_state.get_vcpu_events();
}

qapi::Result<void> ModelVcpu::set_vcpu_events(const VcpuEvents &events)
{
    return m_state.set_vcpu_events(events);
}

qapi::Result<MpState> ModelVcpu::get_mp_state()
{
    return m_state.get_mp_state();
}

qapi::Result<void> ModelVcpu::set_mp_state(MpState state)
{
    return m_state.set_mp_state(state);
}

qapi::Result<XsaveState> ModelVcpu::get_xsave()
{
    return m_state.get_xsave();
}

qapi::Result<void> ModelVcpu::set_xsave(const XsaveState &xsave)
{
    return m_state.set_xsave(xsave);
}

qapi::Result<VcpuExit> ModelVcpu::run()
{
    return m_state.run();
}

void ModelVcpu::complete_io_in(uint32_t value)
{
    m_state.complete_io_in(value);
}

} // namespace accel::kvm::model
