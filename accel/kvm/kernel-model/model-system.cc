/*
 * The kernel model's /dev/kvm: capability answers per kernel profile and
 * the CPUID it supports.
 */
#include "accel/kvm/kernel-model/kernel-model.h"
#include "accel/kvm/kernel-model/model-internal.h"
#include "accel/kvm/kernel-model/model-vcpu.h"
#include "accel/kvm/kernel-model/model-vm.h"

namespace accel::kvm {

namespace model {

namespace {

// CPUID.1: family 6; EDX FPU, TSC, MSR, APIC; ECX x2APIC and the
// hypervisor bit.  KVM always reports x2APIC because it emulates it.
constexpr uint32_t CPUID_1_EAX = 0x000506F0;
constexpr uint32_t CPUID_1_EDX = (1U << 0) | (1U << 4) | (1U << 5) | (1U << 9);
constexpr uint32_t CPUID_EXT_HYPERVISOR = 1U << 31;
// "GenuineIntel": SEOIB is an Intel SDM feature, exposed whatever the vendor.
constexpr uint32_t CPUID_VENDOR_EBX = 0x756E6547;
constexpr uint32_t CPUID_VENDOR_EDX = 0x49656E69;
constexpr uint32_t CPUID_VENDOR_ECX = 0x6C65746E;
// 36 physical address bits, 48 linear.
constexpr uint32_t CPUID_80000008_EAX = 0x3024;

class ModelSystem final : public System {
public:
    ModelSystem(KernelProfile profile, const KernelModelOptions &options)
        : m_profile(profile)
        , m_options(options)
    {
    }

    std::string_view name() const override { return kernel_profile_name(m_profile); }

    qapi::Result<int> api_version() override { return static_cast<int>(KVM_API_VERSION); }

    qapi::Result<int64_t> check_extension(Cap cap) override
    {
        return model_check_extension(m_profile, m_options, cap);
    }

    qapi::Result<std::unique_ptr<Vm>> create_vm() override
    {
        return std::unique_ptr<Vm>(std::make_unique<ModelVm>(m_profile, m_options));
    }

    qapi::Result<std::vector<CpuidEntry>> get_supported_cpuid() override
    {
        return std::vector<CpuidEntry> {
            { .function = 0, .eax = 1, .ebx = CPUID_VENDOR_EBX, .ecx = CPUID_VENDOR_ECX,
              .edx = CPUID_VENDOR_EDX },
            { .function = 1, .eax = CPUID_1_EAX, .ecx = CPUID_EXT_X2APIC | CPUID_EXT_HYPERVISOR,
              .edx = CPUID_1_EDX },
            { .function = 0x80000000, .eax = 0x80000008 },
            { .function = 0x80000008, .eax = CPUID_80000008_EAX },
        };
    }

    qapi::Result<std::vector<uint32_t>> get_msr_index_list() override
    {
        return std::vector<uint32_t>(std::begin(SavedMsrs::INDICES), std::end(SavedMsrs::INDICES));
    }

private:
    KernelProfile m_profile;
    KernelModelOptions m_options;
};

} // namespace

int64_t model_check_extension(KernelProfile profile, const KernelModelOptions &options, Cap cap)
{
    switch (cap) {
    case Cap::Irqchip:
    case Cap::UserMemory:
    case Cap::SignalMsi:
    case Cap::SplitIrqchip:
        return 1;
    case Cap::IrqRouting:
        // The generic code answers with the routing-table limit.
        return KVM_MAX_IRQ_ROUTES;
    case Cap::X2apicApi:
        // System scope shows the maximal support (kvm-facts §1.3).
        return profile == KernelProfile::Model ? X2APIC_API_VALID_FLAGS
                                               : X2APIC_API_VALID_FLAGS_OLD;
    case Cap::Xsave:
        return 1;
    case Cap::Xsave2:
        // The size of struct kvm_xsave: the 4 KiB image (x87, SSE, AVX).
        return static_cast<int64_t>(XsaveState::LEGACY_SIZE);
    case Cap::MaxVcpus:
        return options.max_vcpus;
    case Cap::MaxVcpuId:
        return options.max_vcpu_id;
    }
    // Capabilities the model does not know are absent, as on a kernel that
    // does not know them.
    return 0;
}

} // namespace model

std::unique_ptr<System> open_model_system(KernelProfile profile, const KernelModelOptions &options)
{
    return std::make_unique<model::ModelSystem>(profile, options);
}

std::unique_ptr<System> open_model_system(KernelProfile profile)
{
    return open_model_system(profile, KernelModelOptions {});
}

} // namespace accel::kvm
