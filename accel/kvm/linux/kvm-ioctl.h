/*
 * The host backend's plumbing: owned file descriptors, ioctl() with the
 * errno kept as a value, and the kernel structures whose C layout the C++
 * view of <linux/kvm.h> gets wrong.
 *
 * Private to accel/kvm/linux/.  This directory is the only place in seoib
 * that hands raw pointers to the kernel; every ioctl carries a SAFETY comment
 * stating what the kernel reads and writes through its argument.
 */
#pragma once

#include "accel/kvm/kvm-backend.h"

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace accel::kvm::host {

inline constexpr int KVM_API_VERSION_EXPECTED = 12;

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
    UniqueFd &operator=(UniqueFd &&other) noexcept;
    UniqueFd(const UniqueFd &) = delete;
    UniqueFd &operator=(const UniqueFd &) = delete;
    ~UniqueFd() { reset(); }

    int get() const { return m_fd; }

private:
    void reset();

    int m_fd { -1 };
};

/// "KVM_CAP_X2APIC_API" for messages.
std::string_view cap_name(Cap cap);

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

/// KVM_CHECK_EXTENSION on a system or VM fd.
qapi::Result<int64_t> check_extension(int fd, Cap cap);

/*
 * <linux/kvm.h> declares flexible arrays with __DECLARE_FLEX_ARRAY, which
 * wraps them in a struct holding an empty struct.  An empty struct has size 1
 * in C++ (0 in C), so the C++ view of kvm_cpuid2, kvm_msrs, kvm_msr_list and
 * kvm_irq_routing puts the entries 4 bytes too far, and the ioctl numbers
 * built from their sizes encode 12 or 16 instead of 8 (4 for kvm_msr_list):
 * the kernel answers such a number with EINVAL.  These are the C layouts of
 * the fixed parts and the ioctl numbers as the kernel defines them.
 */
struct CpuidHeader {
    uint32_t nent;
    uint32_t padding;
};
struct MsrsHeader {
    uint32_t nmsrs;
    uint32_t pad;
};
struct MsrListHeader {
    uint32_t nmsrs;
};
struct RoutingHeader {
    uint32_t nr;
    uint32_t flags;
};
/// struct kvm_xsave's fixed 4 KiB: its C++ view may count the flexible
/// `extra` array, which would change the ioctl numbers below.
struct XsaveRegion {
    uint32_t region[1024];
};
static_assert(sizeof(CpuidHeader) == 8 && sizeof(MsrsHeader) == 8 &&
              sizeof(RoutingHeader) == 8 && sizeof(MsrListHeader) == 4);

inline constexpr unsigned long IOCTL_GET_SUPPORTED_CPUID =
    _IOWR(KVMIO, 0x05, CpuidHeader);
inline constexpr unsigned long IOCTL_SET_CPUID2 =
    _IOW(KVMIO, 0x90, CpuidHeader);
inline constexpr unsigned long IOCTL_GET_MSRS = _IOWR(KVMIO, 0x88, MsrsHeader);
inline constexpr unsigned long IOCTL_SET_MSRS = _IOW(KVMIO, 0x89, MsrsHeader);
inline constexpr unsigned long IOCTL_SET_GSI_ROUTING =
    _IOW(KVMIO, 0x6a, RoutingHeader);
inline constexpr unsigned long IOCTL_GET_XSAVE = _IOR(KVMIO, 0xa4, XsaveRegion);
inline constexpr unsigned long IOCTL_SET_XSAVE = _IOW(KVMIO, 0xa5, XsaveRegion);
inline constexpr unsigned long IOCTL_GET_XSAVE2 = _IOR(KVMIO, 0xcf, XsaveRegion);
inline constexpr unsigned long IOCTL_GET_MSR_INDEX_LIST =
    _IOWR(KVMIO, 0x02, MsrListHeader);

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

} // namespace accel::kvm::host
