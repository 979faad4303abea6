/*
 * The host KVM backend: the real /dev/kvm, one ioctl per interface method.
 *
 * This file is the only place in seoib that hands raw pointers to the
 * kernel.  Every ioctl carries a SAFETY comment stating what the kernel reads
 * and writes through its argument; the structures come from <linux/kvm.h>
 * and live on the stack or in buffers owned by the calling method, so they
 * outlive the call.
 */
#include "accel/kvm/kvm-backend-linux.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <mutex>
#include <new>
#include <optional>

// The SEOIB flags are new in Linux 7.0 (backported to 6.18.17); older uAPI
// headers lack them.  The values are fixed ABI
// (arch/x86/include/uapi/asm/kvm.h).
#ifndef KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST
#define KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST (1ULL << 2)
#endif
#ifndef KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST
#define KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST (1ULL << 3)
#endif

namespace accel::kvm {

namespace {

// The interface (kvm-backend.h) spells the same bits; a uAPI header that
// disagreed would mean a different ABI.
static_assert(KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST == 1ULL << 2);
static_assert(KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST == 1ULL << 3);
static_assert(sizeof(LapicState::regs) == sizeof(kvm_lapic_state::regs));
static_assert(static_cast<uint32_t>(RoutingEntry::Type::Irqchip) ==
              KVM_IRQ_ROUTING_IRQCHIP);
static_assert(static_cast<uint32_t>(RoutingEntry::Type::Msi) ==
              KVM_IRQ_ROUTING_MSI);

constexpr int KVM_API_VERSION_EXPECTED = 12;

/// An owned file descriptor, closed on destruction.
class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd)
        : m_fd(fd)
    {
    }
    UniqueFd(UniqueFd &&other) noexcept
        : m_fd(std::exchange(other.m_fd, -1))
    {
    }
    UniqueFd &operator=(UniqueFd &&other) noexcept
    {
        if (this != &other) {
            reset();
            m_fd = std::exchange(other.m_fd, -1);
        }
        return *this;
    }
    UniqueFd(const UniqueFd &) = delete;
    UniqueFd &operator=(const UniqueFd &) = delete;
    ~UniqueFd() { reset(); }

    int get() const { return m_fd; }

private:
    void reset()
    {
        if (m_fd >= 0) {
            ::close(m_fd);
            m_fd = -1;
        }
    }

    int m_fd { -1 };
};

std::string_view cap_name(Cap cap)
{
    switch (cap) {
    case Cap::Irqchip:
        return "KVM_CAP_IRQCHIP";
    case Cap::UserMemory:
        return "KVM_CAP_USER_MEMORY";
    case Cap::IrqRouting:
        return "KVM_CAP_IRQ_ROUTING";
    case Cap::SignalMsi:
        return "KVM_CAP_SIGNAL_MSI";
    case Cap::SplitIrqchip:
        return "KVM_CAP_SPLIT_IRQCHIP";
    case Cap::X2apicApi:
        return "KVM_CAP_X2APIC_API";
    case Cap::MaxVcpus:
        return "KVM_CAP_MAX_VCPUS";
    case Cap::MaxVcpuId:
        return "KVM_CAP_MAX_VCPU_ID";
    }
    return "KVM_CAP_?";
}

/// ioctl() with the error kept as a value.  `what` names the ioctl in the
/// message ("KVM_ENABLE_CAP(KVM_CAP_X2APIC_API): Invalid argument").  EINTR
/// is returned, not retried: for KVM_RUN it is a result.
template <typename Arg>
qapi::Result<int> kvm_ioctl(int fd, unsigned long request, Arg arg,
                            std::string_view what)
{
    int ret = ::ioctl(fd, request, arg);
    if (ret < 0) {
        return qapi::Error::from_errno(errno, what);
    }
    return ret;
}

/*
 * <linux/kvm.h> declares flexible arrays with __DECLARE_FLEX_ARRAY, which
 * wraps them in a struct holding an empty struct.  An empty struct has size 1
 * in C++ (0 in C), so the C++ view of kvm_cpuid2, kvm_msrs and
 * kvm_irq_routing puts the entries 4 bytes too far, and the ioctl numbers
 * built from their sizes encode 12 or 16 instead of 8: the kernel answers
 * such a number with EINVAL.  These are the C layouts of the fixed parts and
 * the ioctl numbers as the kernel defines them.
 */
struct CpuidHeader {
    uint32_t nent;
    uint32_t padding;
};
struct MsrsHeader {
    uint32_t nmsrs;
    uint32_t pad;
};
struct RoutingHeader {
    uint32_t nr;
    uint32_t flags;
};
static_assert(sizeof(CpuidHeader) == 8 && sizeof(MsrsHeader) == 8 &&
              sizeof(RoutingHeader) == 8);

constexpr unsigned long IOCTL_GET_SUPPORTED_CPUID =
    _IOWR(KVMIO, 0x05, CpuidHeader);
constexpr unsigned long IOCTL_SET_CPUID2 = _IOW(KVMIO, 0x90, CpuidHeader);
constexpr unsigned long IOCTL_GET_MSRS = _IOWR(KVMIO, 0x88, MsrsHeader);
constexpr unsigned long IOCTL_SET_MSRS = _IOW(KVMIO, 0x89, MsrsHeader);
constexpr unsigned long IOCTL_SET_GSI_ROUTING =
    _IOW(KVMIO, 0x6a, RoutingHeader);

/// A kernel structure that ends in a flexible array: the fixed header, then
/// `count` entries at the next offset aligned for an entry, in one zeroed
/// buffer that the kernel reads (and for some ioctls writes) in place.
template <typename Header, typename Entry>
class FlexArray {
public:
    explicit FlexArray(size_t count)
        : m_count(count)
        , m_storage(
              (ENTRIES_OFFSET + count * sizeof(Entry) + sizeof(uint64_t) - 1) /
              sizeof(uint64_t))
    {
        static_assert(alignof(Header) <= alignof(uint64_t));
        static_assert(alignof(Entry) <= alignof(uint64_t));
    }

    Header *header() { return reinterpret_cast<Header *>(m_storage.data()); }
    std::span<Entry> entries()
    {
        return { reinterpret_cast<Entry *>(
                     reinterpret_cast<std::byte *>(m_storage.data()) +
                     ENTRIES_OFFSET),
                 m_count };
    }

private:
    static constexpr size_t ENTRIES_OFFSET =
        (sizeof(Header) + alignof(Entry) - 1) / alignof(Entry) * alignof(Entry);

    size_t m_count;
    std::vector<uint64_t> m_storage;
};

Segment segment_from_kvm(const kvm_segment &s)
{
    return Segment {
        .base = s.base,
        .limit = s.limit,
        .selector = s.selector,
        .type = s.type,
        .present = s.present,
        .dpl = s.dpl,
        .db = s.db,
        .s = s.s,
        .l = s.l,
        .g = s.g,
    };
}

void segment_to_kvm(const Segment &from, kvm_segment &to)
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
}

/*
 * Bounded runs.  A per-vCPU POSIX timer targets the thread that runs the
 * vCPU; its signal's handler sets kvm_run.immediate_exit.  If the signal lands
 * while the thread is in KVM_RUN, the kernel leaves with EINTR; if it lands
 * just before the ioctl, immediate_exit makes KVM_RUN return EINTR at once
 * (Documentation/virt/kvm/api.rst, "immediate_exit"), so there is no window
 * in which a halted guest can outlive its bound.  This is how QEMU kicks a
 * vCPU too (kvm_cpu_kick).
 */
int watchdog_signal()
{
    return SIGRTMIN;
}

void watchdog_fired(int, siginfo_t *info, void *)
{
    auto *run = static_cast<kvm_run *>(info->si_value.sival_ptr);
    if (run != nullptr) {
        std::atomic_ref<uint8_t>(run->immediate_exit)
            .store(1, std::memory_order_relaxed);
    }
}

qapi::Result<void> install_watchdog_handler()
{
    static std::once_flag once;
    static int install_errno = 0;
    std::call_once(once, [] {
        struct sigaction action {};
        action.sa_sigaction = watchdog_fired;
        // No SA_RESTART: KVM_RUN must come back with EINTR.
        action.sa_flags = SA_SIGINFO;
        sigemptyset(&action.sa_mask);
        if (sigaction(watchdog_signal(), &action, nullptr) < 0) {
            install_errno = errno;
        }
    });
    if (install_errno != 0) {
        return qapi::Error::from_errno(install_errno, "sigaction(SIGRTMIN)");
    }
    return {};
}

/// A POSIX timer that signals one thread; deleted on destruction.
class ThreadTimer {
public:
    ThreadTimer() = default;
    ThreadTimer(const ThreadTimer &) = delete;
    ThreadTimer &operator=(const ThreadTimer &) = delete;
    ~ThreadTimer() { reset(); }

    /// Creates the timer for the calling thread; its signal carries `run`.
    qapi::Result<void> create_for_current_thread(kvm_run *run)
    {
        reset();
        TRY(install_watchdog_handler());
        sigset_t unblock;
        sigemptyset(&unblock);
        sigaddset(&unblock, watchdog_signal());
        int err = pthread_sigmask(SIG_UNBLOCK, &unblock, nullptr);
        if (err != 0) {
            return qapi::Error::from_errno(err, "pthread_sigmask(SIGRTMIN)");
        }
        sigevent event {};
        event.sigev_notify = SIGEV_THREAD_ID;
        event.sigev_signo = watchdog_signal();
        event.sigev_value.sival_ptr = run;
        // glibc 2.36 has no sigev_notify_thread_id spelling for this field.
        event._sigev_un._tid = gettid();
        timer_t timer;
        if (timer_create(CLOCK_MONOTONIC, &event, &timer) < 0) {
            return qapi::Error::from_errno(errno, "timer_create");
        }
        m_timer = timer;
        m_tid = gettid();
        return {};
    }

    bool targets_current_thread() const
    {
        return m_timer.has_value() && m_tid == gettid();
    }

    qapi::Result<void> arm(std::chrono::nanoseconds timeout)
    {
        itimerspec spec {};
        spec.it_value.tv_sec =
            static_cast<time_t>(timeout.count() / 1'000'000'000);
        spec.it_value.tv_nsec =
            static_cast<long>(timeout.count() % 1'000'000'000);
        if (timer_settime(*m_timer, 0, &spec, nullptr) < 0) {
            return qapi::Error::from_errno(errno, "timer_settime");
        }
        return {};
    }

    void disarm()
    {
        itimerspec spec {};
        // Cannot fail for a valid timer and a zero value.
        timer_settime(*m_timer, 0, &spec, nullptr);
    }

private:
    void reset()
    {
        if (m_timer.has_value()) {
            timer_delete(*m_timer);
            m_timer.reset();
        }
    }

    std::optional<timer_t> m_timer;
    pid_t m_tid { 0 };
};

/// The vCPU's shared kvm_run page, unmapped on destruction.
class RunMapping {
public:
    RunMapping(void *address, size_t size)
        : m_address(address)
        , m_size(size)
    {
    }
    RunMapping(const RunMapping &) = delete;
    RunMapping &operator=(const RunMapping &) = delete;
    ~RunMapping() { ::munmap(m_address, m_size); }

    kvm_run *run() const { return static_cast<kvm_run *>(m_address); }
    /// Bytes at `offset` into the mapping (the I/O data area).
    uint8_t *bytes_at(size_t offset) const
    {
        return static_cast<uint8_t *>(m_address) + offset;
    }
    size_t size() const { return m_size; }

private:
    void *m_address;
    size_t m_size;
};

class LinuxVcpu final : public Vcpu {
public:
    LinuxVcpu(uint32_t id, UniqueFd fd, std::unique_ptr<RunMapping> mapping,
              std::chrono::nanoseconds run_timeout)
        : m_id(id)
        , m_fd(std::move(fd))
        , m_mapping(std::move(mapping))
        , m_run_timeout(run_timeout)
    {
    }

    uint32_t id() const override { return m_id; }

    qapi::Result<void> set_cpuid(std::span<const CpuidEntry> entries) override
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

    qapi::Result<LapicState> get_lapic() override
    {
        kvm_lapic_state state {};
        // SAFETY: the kernel writes the 1 KiB register page into `state`.
        TRY(kvm_ioctl(m_fd.get(), KVM_GET_LAPIC, &state, "KVM_GET_LAPIC"));
        LapicState lapic;
        std::memcpy(lapic.regs.data(), state.regs, sizeof(state.regs));
        return lapic;
    }

    qapi::Result<void> set_lapic(const LapicState &lapic) override
    {
        kvm_lapic_state state {};
        std::memcpy(state.regs, lapic.regs.data(), sizeof(state.regs));
        // SAFETY: the kernel reads the 1 KiB register page from `state`.
        TRY(kvm_ioctl(m_fd.get(), KVM_SET_LAPIC, &state, "KVM_SET_LAPIC"));
        return {};
    }

    qapi::Result<size_t> set_msrs(std::span<const MsrEntry> entries) override
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

    qapi::Result<size_t> get_msrs(std::span<MsrEntry> entries) override
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

    qapi::Result<Regs> get_regs() override
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

    qapi::Result<void> set_regs(const Regs &regs) override
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

    qapi::Result<Sregs> get_sregs() override
    {
        kvm_sregs s = TRY(get_kvm_sregs());
        return Sregs {
            .cs = segment_from_kvm(s.cs),
            .ds = segment_from_kvm(s.ds),
            .es = segment_from_kvm(s.es),
            .fs = segment_from_kvm(s.fs),
            .gs = segment_from_kvm(s.gs),
            .ss = segment_from_kvm(s.ss),
            .cr0 = s.cr0,
            .cr3 = s.cr3,
            .cr4 = s.cr4,
            .efer = s.efer,
            .apic_base = s.apic_base,
        };
    }

    qapi::Result<void> set_sregs(const Sregs &sregs) override
    {
        // Read-modify-write: GDT/IDT/LDT/TR, CR2/CR8 and the fields of a
        // segment that Sregs does not carry (avl, unusable) keep the values
        // the kernel has.
        kvm_sregs s = TRY(get_kvm_sregs());
        segment_to_kvm(sregs.cs, s.cs);
        segment_to_kvm(sregs.ds, s.ds);
        segment_to_kvm(sregs.es, s.es);
        segment_to_kvm(sregs.fs, s.fs);
        segment_to_kvm(sregs.gs, s.gs);
        segment_to_kvm(sregs.ss, s.ss);
        s.cr0 = sregs.cr0;
        s.cr3 = sregs.cr3;
        s.cr4 = sregs.cr4;
        s.efer = sregs.efer;
        s.apic_base = sregs.apic_base;
        // SAFETY: the kernel reads struct kvm_sregs from `s`.
        TRY(kvm_ioctl(m_fd.get(), KVM_SET_SREGS, &s, "KVM_SET_SREGS"));
        return {};
    }

    qapi::Result<VcpuExit> run() override
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

    void complete_io_in(uint32_t value) override
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

private:
    struct PendingIn {
        size_t data_offset;
        size_t size;
    };

    qapi::Result<kvm_sregs> get_kvm_sregs()
    {
        kvm_sregs s {};
        // SAFETY: the kernel writes struct kvm_sregs into `s`.
        TRY(kvm_ioctl(m_fd.get(), KVM_GET_SREGS, &s, "KVM_GET_SREGS"));
        return s;
    }

    VcpuExit decode_exit(const kvm_run &run)
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

    uint32_t m_id;
    UniqueFd m_fd;
    std::unique_ptr<RunMapping> m_mapping;
    std::chrono::nanoseconds m_run_timeout;
    ThreadTimer m_watchdog;
    std::optional<PendingIn> m_pending_in;
};

class LinuxVm final : public Vm {
public:
    LinuxVm(UniqueFd fd, size_t vcpu_mmap_size,
            std::chrono::nanoseconds run_timeout)
        : m_fd(std::move(fd))
        , m_vcpu_mmap_size(vcpu_mmap_size)
        , m_run_timeout(run_timeout)
    {
    }

    qapi::Result<int64_t> check_extension(Cap cap) override
    {
        // SAFETY: the argument is the capability number, passed by value;
        // the kernel reads and writes no memory.
        int value = TRY(kvm_ioctl(
            m_fd.get(), KVM_CHECK_EXTENSION, static_cast<unsigned long>(cap),
            fmt::format("KVM_CHECK_EXTENSION({})", cap_name(cap))));
        return int64_t { value };
    }

    qapi::Result<void> enable_cap(Cap cap, std::array<uint64_t, 4> args,
                                  uint32_t flags) override
    {
        kvm_enable_cap request {};
        request.cap = static_cast<uint32_t>(cap);
        request.flags = flags;
        std::copy(args.begin(), args.end(), request.args);
        // SAFETY: the kernel reads struct kvm_enable_cap from `request` and
        // writes nothing back.
        TRY(kvm_ioctl(m_fd.get(), KVM_ENABLE_CAP, &request,
                      fmt::format("KVM_ENABLE_CAP({})", cap_name(cap))));
        return {};
    }

    qapi::Result<void> create_irqchip() override
    {
        // SAFETY: no argument; no memory is read or written.
        TRY(kvm_ioctl(m_fd.get(), KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP"));
        return {};
    }

    qapi::Result<void> set_tss_addr(uint64_t addr) override
    {
        // SAFETY: the guest physical address is passed by value; no memory
        // is read or written.
        TRY(kvm_ioctl(m_fd.get(), KVM_SET_TSS_ADDR,
                      static_cast<unsigned long>(addr), "KVM_SET_TSS_ADDR"));
        return {};
    }

    qapi::Result<void>
    set_user_memory_region(uint32_t slot, uint64_t guest_phys_addr,
                           std::span<std::byte> memory) override
    {
        kvm_userspace_memory_region region {
            .slot = slot,
            .flags = 0,
            .guest_phys_addr = guest_phys_addr,
            .memory_size = memory.size(),
            .userspace_addr = reinterpret_cast<uint64_t>(memory.data()),
        };
        // SAFETY: the kernel reads `region`.  From then on it maps the
        // caller's `memory` into the guest; the interface makes the caller
        // keep that memory alive for as long as the slot exists.
        TRY(kvm_ioctl(m_fd.get(), KVM_SET_USER_MEMORY_REGION, &region,
                      "KVM_SET_USER_MEMORY_REGION"));
        return {};
    }

    qapi::Result<std::unique_ptr<Vcpu>> create_vcpu(uint32_t id) override
    {
        // SAFETY: the vCPU id is passed by value; the kernel returns a new fd.
        int fd =
            TRY(kvm_ioctl(m_fd.get(), KVM_CREATE_VCPU,
                          static_cast<unsigned long>(id), "KVM_CREATE_VCPU"));
        UniqueFd vcpu_fd(fd);
        void *address =
            ::mmap(nullptr, m_vcpu_mmap_size, PROT_READ | PROT_WRITE,
                   MAP_SHARED, vcpu_fd.get(), 0);
        if (address == MAP_FAILED) {
            return qapi::Error::from_errno(errno, "mmap(kvm_run)");
        }
        auto mapping = std::make_unique<RunMapping>(address, m_vcpu_mmap_size);
        return std::unique_ptr<Vcpu>(std::make_unique<LinuxVcpu>(
            id, std::move(vcpu_fd), std::move(mapping), m_run_timeout));
    }

    qapi::Result<void>
    set_gsi_routing(std::span<const RoutingEntry> entries) override
    {
        FlexArray<RoutingHeader, kvm_irq_routing_entry> table(entries.size());
        table.header()->nr = static_cast<uint32_t>(entries.size());
        for (size_t i = 0; i < entries.size(); ++i) {
            kvm_irq_routing_entry &to = table.entries()[i];
            to.gsi = entries[i].gsi;
            to.type = static_cast<uint32_t>(entries[i].type);
            if (entries[i].type == RoutingEntry::Type::Msi) {
                to.u.msi.address_lo = entries[i].msi.address_lo;
                to.u.msi.address_hi = entries[i].msi.address_hi;
                to.u.msi.data = entries[i].msi.data;
            } else {
                to.u.irqchip.irqchip = entries[i].irqchip;
                to.u.irqchip.pin = entries[i].pin;
            }
        }
        // SAFETY: the kernel reads nr and then nr entries from `table`; it
        // copies the table and writes nothing back.
        TRY(kvm_ioctl(m_fd.get(), IOCTL_SET_GSI_ROUTING, table.header(),
                      "KVM_SET_GSI_ROUTING"));
        return {};
    }

    qapi::Result<int> irq_line(uint32_t gsi, bool level) override
    {
        kvm_irq_level line {};
        line.irq = gsi;
        line.level = level ? 1 : 0;
        // SAFETY: the kernel reads irq and level from `line` and writes the
        // delivery status into the same union.
        TRY(kvm_ioctl(m_fd.get(), KVM_IRQ_LINE_STATUS, &line,
                      "KVM_IRQ_LINE_STATUS"));
        return line.status;
    }

    qapi::Result<int> signal_msi(const MsiMessage &message) override
    {
        kvm_msi msi {};
        msi.address_lo = message.address_lo;
        msi.address_hi = message.address_hi;
        msi.data = message.data;
        // SAFETY: the kernel reads struct kvm_msi from `msi` and writes
        // nothing back.  The return value is the delivery count; the raw -1
        // of "no destination matched" surfaces as -1 with errno EPERM (-1 is
        // -EPERM), which kvm_ioctl turns into an Error like any failure.
        return kvm_ioctl(m_fd.get(), KVM_SIGNAL_MSI, &msi, "KVM_SIGNAL_MSI");
    }

private:
    UniqueFd m_fd;
    size_t m_vcpu_mmap_size;
    std::chrono::nanoseconds m_run_timeout;
};

class LinuxSystem final : public System {
public:
    LinuxSystem(UniqueFd fd, HostOptions options)
        : m_fd(std::move(fd))
        , m_options(options)
    {
    }

    std::string_view name() const override { return "host"; }

    qapi::Result<int> api_version() override
    {
        // SAFETY: no argument; no memory is read or written.
        return kvm_ioctl(m_fd.get(), KVM_GET_API_VERSION, 0,
                         "KVM_GET_API_VERSION");
    }

    qapi::Result<int64_t> check_extension(Cap cap) override
    {
        // SAFETY: the argument is the capability number, passed by value;
        // the kernel reads and writes no memory.
        int value = TRY(kvm_ioctl(
            m_fd.get(), KVM_CHECK_EXTENSION, static_cast<unsigned long>(cap),
            fmt::format("KVM_CHECK_EXTENSION({})", cap_name(cap))));
        return int64_t { value };
    }

    qapi::Result<std::unique_ptr<Vm>> create_vm() override
    {
        // SAFETY: no argument; no memory is read or written.
        int mmap_size = TRY(kvm_ioctl(m_fd.get(), KVM_GET_VCPU_MMAP_SIZE, 0,
                                      "KVM_GET_VCPU_MMAP_SIZE"));
        if (static_cast<size_t>(mmap_size) < sizeof(kvm_run)) {
            return qapi::Error::format(
                "KVM_GET_VCPU_MMAP_SIZE: {} is smaller than struct kvm_run",
                mmap_size);
        }
        // SAFETY: the machine type (0) is passed by value; the kernel
        // returns a new VM fd.
        int fd =
            TRY(kvm_ioctl(m_fd.get(), KVM_CREATE_VM, 0UL, "KVM_CREATE_VM"));
        return std::unique_ptr<Vm>(std::make_unique<LinuxVm>(
            UniqueFd(fd), static_cast<size_t>(mmap_size),
            m_options.run_timeout));
    }

    qapi::Result<std::vector<CpuidEntry>> get_supported_cpuid() override
    {
        // The kernel answers E2BIG until the buffer is large enough; it has
        // about 60 leaves today, so a few doublings at most.
        constexpr size_t MAX_CPUID_ENTRIES = 4096;
        for (size_t capacity = 128; capacity <= MAX_CPUID_ENTRIES;
             capacity *= 2) {
            FlexArray<CpuidHeader, kvm_cpuid_entry2> table(capacity);
            table.header()->nent = static_cast<uint32_t>(capacity);
            // SAFETY: the kernel reads nent, writes up to nent entries into
            // `table` and stores the number written in nent.
            auto result = kvm_ioctl(m_fd.get(), IOCTL_GET_SUPPORTED_CPUID,
                                    table.header(), "KVM_GET_SUPPORTED_CPUID");
            if (!result.has_value()) {
                if (result.error().os_errno() == E2BIG) {
                    continue;
                }
                return result.release_error();
            }
            std::vector<CpuidEntry> entries;
            size_t count = std::min<size_t>(table.header()->nent, capacity);
            entries.reserve(count);
            for (const kvm_cpuid_entry2 &from : table.entries().first(count)) {
                entries.push_back(CpuidEntry {
                    .function = from.function,
                    .index = from.index,
                    .flags = from.flags,
                    .eax = from.eax,
                    .ebx = from.ebx,
                    .ecx = from.ecx,
                    .edx = from.edx,
                });
            }
            return entries;
        }
        return qapi::Error::from_errno(E2BIG, "KVM_GET_SUPPORTED_CPUID");
    }

private:
    UniqueFd m_fd;
    HostOptions m_options;
};

} // namespace

qapi::Result<std::unique_ptr<System>>
open_host_system(std::string_view device, const HostOptions &options)
{
    std::string path(device);
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return qapi::Error::from_errno(errno, fmt::format("open({})", path));
    }
    auto system = std::make_unique<LinuxSystem>(UniqueFd(fd), options);
    int version = TRY(system->api_version());
    if (version != KVM_API_VERSION_EXPECTED) {
        return qapi::Error::format("KVM_GET_API_VERSION: {} (expected {})",
                                   version, KVM_API_VERSION_EXPECTED);
    }
    return std::unique_ptr<System>(std::move(system));
}

qapi::Result<std::unique_ptr<System>> open_host_system(std::string_view device)
{
    return open_host_system(device, HostOptions {});
}

} // namespace accel::kvm
