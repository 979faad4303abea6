/*
 * The host system fd (/dev/kvm).
 *
 * Private to accel/kvm/linux/: the rest of seoib opens it through
 * open_host_system() (kvm-backend.h, kvm-backend-linux.h) and sees a System.
 */
#pragma once

#include "accel/kvm/kvm-backend-linux.h"
#include "accel/kvm/linux/kvm-ioctl.h"

namespace accel::kvm::host {

class LinuxSystem final : public System {
public:
    LinuxSystem(UniqueFd fd, HostOptions options);

    std::string_view name() const override { return "host"; }
    qapi::Result<int> api_version() override;
    qapi::Result<int64_t> check_extension(Cap cap) override;
    qapi::Result<std::unique_ptr<Vm>> create_vm() override;
    qapi::Result<std::vector<CpuidEntry>> get_supported_cpuid() override;
    qapi::Result<std::vector<uint32_t>> get_msr_index_list() override;

private:
    UniqueFd m_fd;
    HostOptions m_options;
};

} // namespace accel::kvm::host
