/*
 * Owned descriptors and the ioctls every descriptor class shares.
 */
#include "accel/kvm/linux/kvm-ioctl.h"

#include <unistd.h>

#include <fmt/format.h>

namespace accel::kvm::host {

UniqueFd &UniqueFd::operator=(UniqueFd &&other) noexcept
{
    if (this != &other) {
        reset();
        m_fd = std::exchange(other.m_fd, -1);
    }
    return *this;
}

void UniqueFd::reset()
{
    if (m_fd >= 0) {
        ::close(m_fd);
        m_fd = -1;
    }
}

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
    case Cap::Xsave:
        return "KVM_CAP_XSAVE";
    case Cap::Xsave2:
        return "KVM_CAP_XSAVE2";
    }
    return "KVM_CAP_?";
}

qapi::Result<int64_t> check_extension(int fd, Cap cap)
{
    // SAFETY: the argument is the capability number, passed by value; the
    // kernel reads and writes no memory.
    int value = TRY(kvm_ioctl(
        fd, KVM_CHECK_EXTENSION, static_cast<unsigned long>(cap),
        fmt::format("KVM_CHECK_EXTENSION({})", cap_name(cap))));
    return int64_t { value };
}

} // namespace accel::kvm::host
