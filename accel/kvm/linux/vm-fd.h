/*
 * A host VM fd.
 *
 * Private to accel/kvm/linux/: the rest of seoib sees a Vm.
 */
#pragma once

#include "accel/kvm/linux/kvm-ioctl.h"

#include <chrono>
#include <map>

namespace accel::kvm::host {

class LinuxVm final : public Vm {
public:
    /// `vcpu_mmap_size` is KVM_GET_VCPU_MMAP_SIZE; every vCPU's KVM_RUN is
    /// bounded by `run_timeout` when it is non-zero (HostOptions).
    LinuxVm(UniqueFd fd, size_t vcpu_mmap_size,
            std::chrono::nanoseconds run_timeout);

    qapi::Result<int64_t> check_extension(Cap cap) override;
    qapi::Result<void> enable_cap(Cap cap, std::array<uint64_t, 4> args,
                                  uint32_t flags) override;
    qapi::Result<void> create_irqchip() override;
    qapi::Result<void> set_tss_addr(uint64_t addr) override;
    qapi::Result<void>
    set_user_memory_region(uint32_t slot, uint64_t guest_phys_addr,
                           std::span<std::byte> memory, uint32_t flags) override;
    qapi::Result<DirtyBitmap> get_dirty_log(uint32_t slot) override;
    qapi::Result<std::unique_ptr<Vcpu>> create_vcpu(uint32_t id) override;
    qapi::Result<void>
    set_gsi_routing(std::span<const RoutingEntry> entries) override;
    qapi::Result<int> irq_line(uint32_t gsi, bool level) override;
    qapi::Result<int> signal_msi(const MsiMessage &message) override;

private:
    UniqueFd m_fd;
    /// Each slot's size in bytes: KVM_GET_DIRTY_LOG's bitmap has a bit per
    /// page of it, and the caller must size the buffer.
    std::map<uint32_t, uint64_t> m_slot_sizes;
    size_t m_vcpu_mmap_size;
    std::chrono::nanoseconds m_run_timeout;
};

} // namespace accel::kvm::host
