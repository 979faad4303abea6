/*
 * The host vCPU fd: CPUID, LAPIC, MSRs, registers, events, MP state, xsave
 * and KVM_RUN with typed exits decoded from the kvm_run page.
 */
#include "accel/kvm/linux/vcpu-fd.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <concepts>
#include <type_traits>

namespace accel::kvm::host {

namespace {

static_assert(sizeof(LapicState::regs) == sizeof(kvm_lapic_state::regs));

// Sregs and struct kvm_sregs hold the same fields under the same names;
// pair_sregs() is the one list of them, walked in either direction.
/// A register: uint64_t on our side, __u64 (unsigned long long) on theirs.
template <std::integral To, std::integral From>
void copy_field(To &to, From from)
{
    static_assert(sizeof(To) == sizeof(From));
    to = from;
}

template <typename To, typename From>
    requires(std::is_same_v<To, Segment> || std::is_same_v<To, kvm_segment>)
void copy_field(To &to, const From &from)
{
    to.base = from.base;
    to.limit = from.limit;
    to.selector = from.selector;
    to.type = from.type;
    to.present = from.present;
    to.dpl = from.dpl;
    to.db = from.db;
    to.s = from.s;
    to.l = from.l;
    to.g = from.g;
    to.avl = from.avl;
    to.unusable = from.unusable;
}

template <typename To, typename From>
    requires(std::is_same_v<To, DescriptorTable> || std::is_same_v<To, kvm_dtable>)
void copy_field(To &to, const From &from)
{
    to.base = from.base;
    to.limit = from.limit;
}

template <typename Ours, typename Theirs, typename Visit>
void pair_sregs(Ours &ours, Theirs &theirs, Visit visit)
{
    visit(ours.cs, theirs.cs);
    visit(ours.ds, theirs.ds);
    visit(ours.es, theirs.es);
    visit(ours.fs, theirs.fs);
    visit(ours.gs, theirs.gs);
    visit(ours.ss, theirs.ss);
    visit(ours.tr, theirs.tr);
    visit(ours.ldt, theirs.ldt);
    visit(ours.gdt, theirs.gdt);
    visit(ours.idt, theirs.idt);
    visit(ours.cr0, theirs.cr0);
    visit(ours.cr2, theirs.cr2);
    visit(ours.cr3, theirs.cr3);
    visit(ours.cr4, theirs.cr4);
    visit(ours.cr8, theirs.cr8);
    visit(ours.efer, theirs.efer);
    visit(ours.apic_base, theirs.apic_base);
    for (size_t i = 0; i < ours.interrupt_bitmap.size(); ++i) {
        visit(ours.interrupt_bitmap[i], theirs.interrupt_bitmap[i]);
    }
}

} // namespace

qapi::Result<std::unique_ptr<RunMapping>> RunMapping::map(int vcpu_fd,
                                                          size_t size)
{
    // SAFETY: maps the vCPU's kvm_run page; the kernel owns its contents
    // and the mapping is released in the destructor.
    void *address =
        ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
    if (address == MAP_FAILED) {
        return qapi::Error::from_errno(errno, "mmap(kvm_run)");
    }
    return std::make_unique<RunMapping>(address, size);
}

RunMapping::~RunMapping()
{
    ::munmap(m_address, m_size);
}

LinuxVcpu::LinuxVcpu(uint32_t id, UniqueFd fd,
                     std::unique_ptr<RunMapping> mapping,
                     std::chrono::nanoseconds run_timeout, size_t xsave_size)
    : m_id(id)
    , m_fd(std::move(fd))
    , m_mapping(std::move(mapping))
    , m_run_timeout(run_timeout)
    , m_xsave_size(xsave_size)
{
}

qapi::Result<void> LinuxVcpu::set_cpuid(std::span<const CpuidEntry> entries)
{
    FlexArray<CpuidHeader, kvm_cpuid_entry2> table(entries.size());
    table.header()->nent = static_cast<uint32_t>(entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
        kvm_cpuid_entry2 &to = table.entries()[i];
        to.function = entries[i].function;
        to.index = entries[i].index;
        to.flags = entries[i].flags;
        to.eax = entries[i].eax;
        to.ebx = entries[i].ebx;
        to.ecx = entries[i].ecx;
        to.edx = entries[i].edx;
    }
    // SAFETY: the kernel reads nent and then nent entries, all inside
    // `table`; it writes nothing back.
    TRY(kvm_ioctl(m_fd.get(), IOCTL_SET_CPUID2, table.header(),
                  "KVM_SET_CPUID2"));
    return {};
}

qapi::Result<LapicState> LinuxVcpu::get_lapic()
{
    kvm_lapic_state state {};
    // SAFETY: the kernel writes the 1 KiB register page into `state`.
    TRY(kvm_ioctl(m_fd.get(), KVM_GET_LAPIC, &state, "KVM_GET_LAPIC"));
    LapicState lapic;
    std::memcpy(lapic.regs.data(), state.regs, sizeof(state.regs));
    return lapic;
}

qapi::Result<void> LinuxVcpu::set_lapic(const LapicState &lapic)
{
    kvm_lapic_state state {};
    std::memcpy(state.regs, lapic.regs.data(), sizeof(state.regs));
    // SAFETY: the kernel reads the 1 KiB register page from `state`.
    TRY(kvm_ioctl(m_fd.get(), KVM_SET_LAPIC, &state, "KVM_SET_LAPIC"));
    return {};
}

qapi::Result<size_t> LinuxVcpu::set_msrs(std::span<const MsrEntry> entries)
{
    FlexArray<MsrsHeader, kvm_msr_entry> table(entries.size());
    table.header()->nmsrs = static_cast<uint32_t>(entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
        table.entries()[i].index = entries[i].index;
        table.entries()[i].data = entries[i].data;
    }
    // SAFETY: the kernel reads nmsrs and then nmsrs entries from
    // `table`; it returns how many it set and writes nothing.
    int count = TRY(kvm_ioctl(m_fd.get(), IOCTL_SET_MSRS, table.header(),
                              "KVM_SET_MSRS"));
    return static_cast<size_t>(count);
}

qapi::Result<size_t> LinuxVcpu::get_msrs(std::span<MsrEntry> entries)
{
    FlexArray<MsrsHeader, kvm_msr_entry> table(entries.size());
    table.header()->nmsrs = static_cast<uint32_t>(entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
        table.entries()[i].index = entries[i].index;
    }
    // SAFETY: the kernel reads nmsrs and the indices from `table` and
    // writes the data field of the first <return value> entries.
    int count = TRY(kvm_ioctl(m_fd.get(), IOCTL_GET_MSRS, table.header(),
                              "KVM_GET_MSRS"));
    for (size_t i = 0; i < static_cast<size_t>(count) && i < entries.size();
         ++i) {
        entries[i].data = table.entries()[i].data;
    }
    return static_cast<size_t>(count);
}

qapi::Result<Regs> LinuxVcpu::get_regs()
{
    kvm_regs r {};
    // SAFETY: the kernel writes struct kvm_regs into `r`.
    TRY(kvm_ioctl(m_fd.get(), KVM_GET_REGS, &r, "KVM_GET_REGS"));
    return Regs {
        .rax = r.rax,
        .rbx = r.rbx,
        .rcx = r.rcx,
        .rdx = r.rdx,
        .rsi = r.rsi,
        .rdi = r.rdi,
        .rsp = r.rsp,
        .rbp = r.rbp,
        .r8 = r.r8,
        .r9 = r.r9,
        .r10 = r.r10,
        .r11 = r.r11,
        .r12 = r.r12,
        .r13 = r.r13,
        .r14 = r.r14,
        .r15 = r.r15,
        .rip = r.rip,
        .rflags = r.rflags,
    };
}

qapi::Result<void> LinuxVcpu::set_regs(const Regs &regs)
{
    kvm_regs r {
        .rax = regs.rax,
        .rbx = regs.rbx,
        .rcx = regs.rcx,
        .rdx = regs.rdx,
        .rsi = regs.rsi,
        .rdi = regs.rdi,
        .rsp = regs.rsp,
        .rbp = regs.rbp,
        .r8 = regs.r8,
        .r9 = regs.r9,
        .r10 = regs.r10,
        .r11 = regs.r11,
        .r12 = regs.r12,
        .r13 = regs.r13,
        .r14 = regs.r14,
        .r15 = regs.r15,
        .rip = regs.rip,
        .rflags = regs.rflags,
    };
    // SAFETY: the kernel reads struct kvm_regs from `r`.
    TRY(kvm_ioctl(m_fd.get(), KVM_SET_REGS, &r, "KVM_SET_REGS"));
    return {};
}

qapi::Result<Sregs> LinuxVcpu::get_sregs()
{
    kvm_sregs s {};
    // SAFETY: the kernel writes struct kvm_sregs into `s`.
    TRY(kvm_ioctl(m_fd.get(), KVM_GET_SREGS, &s, "KVM_GET_SREGS"));
    Sregs sregs;
    pair_sregs(sregs, s, [](auto &ours, const auto &theirs) { copy_field(ours, theirs); });
    return sregs;
}

qapi::Result<void> LinuxVcpu::set_sregs(const Sregs &sregs)
{
    kvm_sregs s {};
    pair_sregs(sregs, s, [](const auto &ours, auto &theirs) { copy_field(theirs, ours); });
    // SAFETY: the kernel reads struct kvm_sregs from `s`.
    TRY(kvm_ioctl(m_fd.get(), KVM_SET_SREGS, &s, "KVM_SET_SREGS"));
    return {};
}

qapi::Result<VcpuEvents> LinuxVcpu::get_vcpu_events()
{
    kvm_vcpu_events e {};
    // SAFETY: the kernel writes struct kvm_vcpu_events into `e`.
    TRY(kvm_ioctl(m_fd.get(), KVM_GET_VCPU_EVENTS, &e, "KVM_GET_VCPU_EVENTS"));
    return VcpuEvents {
        .exception = { .injected = e.exception.injected,
                       .nr = e.exception.nr,
                       .has_error_code = e.exception.has_error_code,
                       .pending = e.exception.pending,
                       .error_code = e.exception.error_code },
        .interrupt = { .injected = e.interrupt.injected,
                       .nr = e.interrupt.nr,
                       .soft = e.interrupt.soft,
                       .shadow = e.interrupt.shadow },
        .nmi = { .injected = e.nmi.injected,
                 .pending = e.nmi.pending,
                 .masked = e.nmi.masked },
        .sipi_vector = e.sipi_vector,
        .flags = e.flags,
        .smi = { .smm = e.smi.smm,
                 .pending = e.smi.pending,
                 .smm_inside_nmi = e.smi.smm_inside_nmi,
                 .latched_init = e.smi.latched_init },
    };
}

qapi::Result<void> LinuxVcpu::set_vcpu_events(const VcpuEvents &events)
{
    kvm_vcpu_events e {};
    e.exception.injected = events.exception.injected;
    e.exception.nr = events.exception.nr;
    e.exception.has_error_code = events.exception.has_error_code;
    e.exception.pending = events.exception.pending;
    e.exception.error_code = events.exception.error_code;
    e.interrupt.injected = events.interrupt.injected;
    e.interrupt.nr = events.interrupt.nr;
    e.interrupt.soft = events.interrupt.soft;
    e.interrupt.shadow = events.interrupt.shadow;
    e.nmi.injected = events.nmi.injected;
    e.nmi.pending = events.nmi.pending;
    e.nmi.masked = events.nmi.masked;
    e.sipi_vector = events.sipi_vector;
    e.flags = events.flags;
    e.smi.smm = events.smi.smm;
    e.smi.pending = events.smi.pending;
    e.smi.smm_inside_nmi = events.smi.smm_inside_nmi;
    e.smi.latched_init = events.smi.latched_init;
    // SAFETY: the kernel reads struct kvm_vcpu_events from `e`.
    TRY(kvm_ioctl(m_fd.get(), KVM_SET_VCPU_EVENTS, &e, "KVM_SET_VCPU_EVENTS"));
    return {};
}

qapi::Result<MpState> LinuxVcpu::get_mp_state()
{
    kvm_mp_state mp {};
    // SAFETY: the kernel writes struct kvm_mp_state into `mp`.
    TRY(kvm_ioctl(m_fd.get(), KVM_GET_MP_STATE, &mp, "KVM_GET_MP_STATE"));
    return static_cast<MpState>(mp.mp_state);
}

qapi::Result<void> LinuxVcpu::set_mp_state(MpState state)
{
    kvm_mp_state mp { .mp_state = static_cast<uint32_t>(state) };
    // SAFETY: the kernel reads struct kvm_mp_state from `mp`.
    TRY(kvm_ioctl(m_fd.get(), KVM_SET_MP_STATE, &mp, "KVM_SET_MP_STATE"));
    return {};
}

qapi::Result<XsaveState> LinuxVcpu::get_xsave()
{
    // A whole number of u64s, at least m_xsave_size bytes, suitably aligned.
    std::vector<uint64_t> buffer((m_xsave_size + 7) / 8);
    if (m_xsave_size > XsaveState::LEGACY_SIZE) {
        // SAFETY: the kernel writes KVM_CAP_XSAVE2 bytes (m_xsave_size)
        // into `buffer`, which holds at least that many.
        TRY(kvm_ioctl(m_fd.get(), IOCTL_GET_XSAVE2, buffer.data(), "KVM_GET_XSAVE2"));
    } else {
        // SAFETY: the kernel writes struct kvm_xsave (4 KiB) into `buffer`.
        TRY(kvm_ioctl(m_fd.get(), IOCTL_GET_XSAVE, buffer.data(), "KVM_GET_XSAVE"));
    }
    XsaveState xsave;
    xsave.region.resize(m_xsave_size);
    std::memcpy(xsave.region.data(), buffer.data(), m_xsave_size);
    return xsave;
}

qapi::Result<void> LinuxVcpu::set_xsave(const XsaveState &xsave)
{
    // A shorter region (another host's 4 KiB) is padded with zeroes: the
    // XSAVE header's XSTATE_BV says which components it holds.
    if (xsave.region.size() > m_xsave_size) {
        return qapi::Error::format("KVM_SET_XSAVE: {} bytes of XSAVE state; this "
                                   "host's KVM takes at most {}",
                                   xsave.region.size(), m_xsave_size);
    }
    std::vector<uint64_t> buffer((m_xsave_size + 7) / 8);
    std::memcpy(buffer.data(), xsave.region.data(), xsave.region.size());
    // SAFETY: the kernel reads KVM_CAP_XSAVE2 bytes (at least 4 KiB) from
    // `buffer`, which holds that many.
    TRY(kvm_ioctl(m_fd.get(), IOCTL_SET_XSAVE, buffer.data(), "KVM_SET_XSAVE"));
    return {};
}

qapi::Result<VcpuExit> LinuxVcpu::run()
{
    kvm_run *run = m_mapping->run();
    bool bounded = m_run_timeout.count() > 0;
    if (bounded) {
        if (!m_watchdog.targets_current_thread()) {
            TRY(m_watchdog.create_for_current_thread(run));
        }
        std::atomic_ref<uint8_t>(run->immediate_exit)
            .store(0, std::memory_order_relaxed);
        TRY(m_watchdog.arm(m_run_timeout));
    }
    // SAFETY: KVM_RUN takes no argument; the kernel reads and writes the
    // kvm_run page mapped at m_mapping, which lives as long as this vCPU.
    int ret = ::ioctl(m_fd.get(), KVM_RUN, 0);
    int run_errno = errno;
    if (bounded) {
        m_watchdog.disarm();
    }
    if (ret < 0) {
        if (run_errno == EINTR) {
            return VcpuExit { ExitInterrupted {} };
        }
        return qapi::Error::from_errno(run_errno, "KVM_RUN");
    }
    return decode_exit(*run);
}

void LinuxVcpu::complete_io_in(uint32_t value)
{
    if (!m_pending_in.has_value()) {
        return;
    }
    const PendingIn in = *m_pending_in;
    m_pending_in.reset();
    if (in.data_offset + in.size > m_mapping->size()) {
        return;
    }
    // x86 is little-endian: the low `size` bytes of value are the data.
    std::memcpy(m_mapping->bytes_at(in.data_offset), &value, in.size);
}

void LinuxVcpu::complete_mmio_read(uint64_t value)
{
    if (!m_pending_mmio_read.has_value()) {
        return;
    }
    const size_t size = std::min(*m_pending_mmio_read, sizeof(value));
    m_pending_mmio_read.reset();
    // x86 is little-endian: the low `size` bytes of value are the data.
    std::memcpy(m_mapping->run()->mmio.data, &value, size);
}

VcpuExit LinuxVcpu::decode_exit(const kvm_run &run)
{
    switch (run.exit_reason) {
    case KVM_EXIT_IO: {
        ExitIo io {
            .direction = run.io.direction == KVM_EXIT_IO_IN
                             ? ExitIo::Direction::In
                             : ExitIo::Direction::Out,
            .port = run.io.port,
            .size = run.io.size,
        };
        size_t size = std::min<size_t>(run.io.size, sizeof(io.value));
        if (run.io.data_offset + size > m_mapping->size()) {
            return ExitUnknown { run.exit_reason };
        }
        if (io.direction == ExitIo::Direction::Out) {
            std::memcpy(&io.value, m_mapping->bytes_at(run.io.data_offset),
                        size);
        } else {
            m_pending_in = PendingIn { run.io.data_offset, size };
        }
        return io;
    }
    case KVM_EXIT_MMIO: {
        ExitMmio mmio {
            .address = run.mmio.phys_addr,
            .size = static_cast<uint8_t>(run.mmio.len),
            .is_write = run.mmio.is_write != 0,
        };
        if (mmio.is_write) {
            size_t size =
                std::min<size_t>(run.mmio.len, sizeof(mmio.value));
            std::memcpy(&mmio.value, run.mmio.data, size);
        } else {
            m_pending_mmio_read = run.mmio.len;
        }
        return mmio;
    }
    case KVM_EXIT_HLT:
        return ExitHlt {};
    case KVM_EXIT_SHUTDOWN:
        return ExitShutdown {};
    case KVM_EXIT_IOAPIC_EOI:
        return ExitIoapicEoi { run.eoi.vector };
    case KVM_EXIT_INTERNAL_ERROR:
        return ExitInternalError { run.internal.suberror };
    case KVM_EXIT_FAIL_ENTRY:
        return ExitFailEntry {
            run.fail_entry.hardware_entry_failure_reason
        };
    case KVM_EXIT_INTR:
        return ExitInterrupted {};
    default:
        return ExitUnknown { run.exit_reason };
    }
}

} // namespace accel::kvm::host

