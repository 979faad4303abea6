/*
 * A host vCPU fd and its mmap'ed kvm_run page.
 *
 * Private to accel/kvm/linux/: the rest of seoib sees a Vcpu.
 */
#pragma once

#include "accel/kvm/linux/kvm-ioctl.h"
#include "accel/kvm/linux/run-watchdog.h"

#include <chrono>
#include <memory>
#include <optional>

namespace accel::kvm::host {

/// The vCPU's shared kvm_run page, unmapped on destruction.
class RunMapping {
public:
    /// mmap()s `size` bytes of `vcpu_fd` (KVM_GET_VCPU_MMAP_SIZE).
    static qapi::Result<std::unique_ptr<RunMapping>> map(int vcpu_fd,
                                                         size_t size);

    /// Takes over a mapping made by map().
    RunMapping(void *address, size_t size)
        : m_address(address)
        , m_size(size)
    {
    }
    RunMapping(const RunMapping &) = delete;
    RunMapping &operator=(const RunMapping &) = delete;
    ~RunMapping();

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
              std::chrono::nanoseconds run_timeout, size_t xsave_size);

    uint32_t id() const override { return m_id; }

    qapi::Result<void> set_cpuid(std::span<const CpuidEntry> entries) override;
    qapi::Result<LapicState> get_lapic() override;
    qapi::Result<void> set_lapic(const LapicState &lapic) override;
    qapi::Result<size_t> set_msrs(std::span<const MsrEntry> entries) override;
    qapi::Result<size_t> get_msrs(std::span<MsrEntry> entries) override;
    qapi::Result<Regs> get_regs() override;
    qapi::Result<void> set_regs(const Regs &regs) override;
    qapi::Result<Sregs> get_sregs() override;
    qapi::Result<void> set_sregs(const Sregs &sregs) override;
    qapi::Result<VcpuEvents> get_vcpu_events() override;
    qapi::Result<void> set_vcpu_events(const VcpuEvents &events) override;
    qapi::Result<MpState> get_mp_state() override;
    qapi::Result<void> set_mp_state(MpState state) override;
    qapi::Result<XsaveState> get_xsave() override;
    qapi::Result<void> set_xsave(const XsaveState &xsave) override;
    qapi::Result<VcpuExit> run() override;
    void complete_io_in(uint32_t value) override;
    void complete_mmio_read(uint64_t value) override;

private:
    struct PendingIn {
        size_t data_offset;
        size_t size;
    };

    VcpuExit decode_exit(const kvm_run &run);

    uint32_t m_id;
    UniqueFd m_fd;
    std::unique_ptr<RunMapping> m_mapping;
    std::chrono::nanoseconds m_run_timeout;
    RunWatchdog m_watchdog;
    std::optional<PendingIn> m_pending_in;
    size_t m_xsave_size;
    /// The length of an MMIO read waiting for complete_mmio_read().
    std::optional<size_t> m_pending_mmio_read;
};

} // namespace accel::kvm::host
