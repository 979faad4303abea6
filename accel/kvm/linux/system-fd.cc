/*
 * The host system fd (/dev/kvm): API version, capabilities, VM creation and
 * the supported CPUID; and open_host_system(), the host backend's entry.
 */
#include "accel/kvm/linux/system-fd.h"

#include "accel/kvm/kvm-backend-linux.h"
#include "accel/kvm/linux/vm-fd.h"

#include <fcntl.h>

#include <fmt/format.h>

#include <algorithm>
#include <string>

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

namespace host {

// The interface (kvm-backend.h) spells the same bits; a uAPI header that
// disagreed would mean a different ABI.
static_assert(KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST == 1ULL << 2);
static_assert(KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST == 1ULL << 3);

LinuxSystem::LinuxSystem(UniqueFd fd, HostOptions options)
    : m_fd(std::move(fd))
    , m_options(options)
{
}

qapi::Result<int> LinuxSystem::api_version()
{
    // SAFETY: no argument; no memory is read or written.
    return kvm_ioctl(m_fd.get(), KVM_GET_API_VERSION, 0,
                     "KVM_GET_API_VERSION");
}

qapi::Result<int64_t> LinuxSystem::check_extension(Cap cap)
{
    return host::check_extension(m_fd.get(), cap);
}

qapi::Result<std::unique_ptr<Vm>> LinuxSystem::create_vm()
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

qapi::Result<std::vector<CpuidEntry>> LinuxSystem::get_supported_cpuid()
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

qapi::Result<std::vector<uint32_t>> LinuxSystem::get_msr_index_list()
{
    // The first call, with room for none, answers E2BIG with the count.
    MsrListHeader probe { .nmsrs = 0 };
    // SAFETY: the kernel reads nmsrs (0), writes the real count into it
    // and, as it does not fit, no entry.
    auto sized = kvm_ioctl(m_fd.get(), IOCTL_GET_MSR_INDEX_LIST, &probe,
                           "KVM_GET_MSR_INDEX_LIST");
    if (sized.has_value() || sized.error().os_errno() != E2BIG) {
        if (!sized.has_value()) {
            return sized.release_error();
        }
        return std::vector<uint32_t> {};
    }
    FlexArray<MsrListHeader, uint32_t> list(probe.nmsrs);
    list.header()->nmsrs = probe.nmsrs;
    // SAFETY: the kernel reads nmsrs and writes up to nmsrs indices into
    // `list`, storing the number written in nmsrs.
    TRY(kvm_ioctl(m_fd.get(), IOCTL_GET_MSR_INDEX_LIST, list.header(),
                  "KVM_GET_MSR_INDEX_LIST"));
    auto written = list.entries().first(
        std::min<size_t>(list.header()->nmsrs, probe.nmsrs));
    return std::vector<uint32_t>(written.begin(), written.end());
}

} // namespace host

qapi::Result<std::unique_ptr<System>>
open_host_system(std::string_view device, const HostOptions &options)
{
    std::string path(device);
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return qapi::Error::from_errno(errno, fmt::format("open({})", path));
    }
    auto system = std::make_unique<host::LinuxSystem>(host::UniqueFd(fd), options);
    int version = TRY(system->api_version());
    if (version != host::KVM_API_VERSION_EXPECTED) {
        return qapi::Error::format("KVM_GET_API_VERSION: {} (expected {})",
                                   version, host::KVM_API_VERSION_EXPECTED);
    }
    return std::unique_ptr<System>(std::move(system));
}

qapi::Result<std::unique_ptr<System>> open_host_system(std::string_view device)
{
    return open_host_system(device, HostOptions {});
}

} // namespace accel::kvm
