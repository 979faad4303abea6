// KVM_GET_API_VERSION, KVM_CHECK_EXTENSION and KVM_GET_SUPPORTED_CPUID of
// the kernel model (kvm-facts §1.3, §6 and §8).
#include "model-test-helpers.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>

namespace accel::kvm::test {
namespace {

TEST(KernelModelSystem, ApiVersionIs12)
{
    std::unique_ptr<System> system = open_model_system(KernelProfile::Model);

    EXPECT_EQ(MUST(system->api_version()), 12);
}

TEST(KernelModelSystem, NameIsTheProfileName)
{
    std::unique_ptr<System> system = open_model_system(KernelProfile::Model6_12);

    EXPECT_EQ(system->name(), "model-6.12");
}

struct CapCase {
    Cap cap;
    int64_t expected;
};

class KernelModelSystemCaps : public testing::TestWithParam<CapCase> {};

// Values measured on the development host (kvm-facts §8); KVM_CAP_IRQ_ROUTING
// answers with KVM_MAX_IRQ_ROUTES.
TEST_P(KernelModelSystemCaps, SystemFdAnswersAsTheKernel)
{
    std::unique_ptr<System> system = open_model_system(KernelProfile::Model);

    EXPECT_EQ(MUST(system->check_extension(GetParam().cap)), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(Table, KernelModelSystemCaps,
                         testing::Values(CapCase { Cap::Irqchip, 1 },
                                         CapCase { Cap::UserMemory, 1 },
                                         CapCase { Cap::IrqRouting, 4096 },
                                         CapCase { Cap::SignalMsi, 1 },
                                         CapCase { Cap::SplitIrqchip, 1 },
                                         CapCase { Cap::X2apicApi, 0xF },
                                         CapCase { Cap::MaxVcpus, 1024 },
                                         CapCase { Cap::MaxVcpuId, 4096 }));

struct ProfileCase {
    KernelProfile profile;
    int64_t x2apic_api;
};

class KernelModelProfileX2apicApi : public testing::TestWithParam<ProfileCase> {};

// Kernels without the SEOIB change know only bits 0 and 1 (kvm-facts §1.3).
TEST_P(KernelModelProfileX2apicApi, SystemFdReportsTheProfilesFlags)
{
    std::unique_ptr<System> system = open_model_system(GetParam().profile);

    EXPECT_EQ(MUST(system->check_extension(Cap::X2apicApi)), GetParam().x2apic_api);
}

TEST_P(KernelModelProfileX2apicApi, SplitVmFdReportsTheProfilesFlags)
{
    ModelHarness h(GetParam().profile);
    h.split();

    EXPECT_EQ(MUST(h.vm().check_extension(Cap::X2apicApi)), GetParam().x2apic_api);
}

INSTANTIATE_TEST_SUITE_P(Table, KernelModelProfileX2apicApi,
                         testing::Values(ProfileCase { KernelProfile::Model, 0xF },
                                         ProfileCase { KernelProfile::Model6_12, 0x3 },
                                         ProfileCase { KernelProfile::Model6_1, 0x3 }));

// kvm-facts §1.3: a VM fd hides ENABLE (bit 2) until the VM is split.
TEST(KernelModelVmCaps, FreshVmFdMasksEnable)
{
    ModelHarness h;

    EXPECT_EQ(MUST(h.vm().check_extension(Cap::X2apicApi)), 0xB);
}

TEST(KernelModelVmCaps, SplitVmFdReportsAllFlags)
{
    ModelHarness h;
    h.split();

    EXPECT_EQ(MUST(h.vm().check_extension(Cap::X2apicApi)), 0xF);
}

TEST(KernelModelVmCaps, InKernelIrqchipVmFdMasksEnable)
{
    ModelHarness h;
    h.kernel_irqchip();

    EXPECT_EQ(MUST(h.vm().check_extension(Cap::X2apicApi)), 0xB);
}

TEST(KernelModelVmCaps, OldProfileVmFdReportsTwoBitsBeforeSplit)
{
    ModelHarness h(KernelProfile::Model6_1);

    EXPECT_EQ(MUST(h.vm().check_extension(Cap::X2apicApi)), 0x3);
}

TEST(KernelModelSystem, SupportedCpuidHasX2apic)
{
    std::unique_ptr<System> system = open_model_system(KernelProfile::Model);

    std::vector<CpuidEntry> cpuid = MUST(system->get_supported_cpuid());

    auto leaf1 = std::find_if(cpuid.begin(), cpuid.end(),
                              [](const CpuidEntry &e) { return e.function == 1; });
    ASSERT_NE(leaf1, cpuid.end());
    EXPECT_NE(leaf1->ecx & CPUID_EXT_X2APIC, 0U);
}

TEST(KernelModelOptions, RaisedVcpuLimitIsReported)
{
    KernelModelOptions options;
    options.max_vcpus = 4096;
    std::unique_ptr<System> system = open_model_system(KernelProfile::Model, options);

    EXPECT_EQ(MUST(system->check_extension(Cap::MaxVcpus)), 4096);
}

TEST(KernelModelVcpus, CreatingBeyondMaxVcpusIsEinval)
{
    KernelModelOptions options;
    options.max_vcpus = 2;
    ModelHarness h(KernelProfile::Model, options);
    MUST(h.vm().create_vcpu(0));
    MUST(h.vm().create_vcpu(1));

    qapi::Result<std::unique_ptr<Vcpu>> third = h.vm().create_vcpu(2);

    ASSERT_FALSE(third.has_value());
    EXPECT_EQ(third.error().os_errno(), EINVAL);
}

TEST(KernelModelVcpus, IdAtMaxVcpuIdIsEinval)
{
    ModelHarness h;

    qapi::Result<std::unique_ptr<Vcpu>> vcpu = h.vm().create_vcpu(4096);

    ASSERT_FALSE(vcpu.has_value());
    EXPECT_EQ(vcpu.error().os_errno(), EINVAL);
}

TEST(KernelModelVcpus, DuplicateIdIsEexist)
{
    ModelHarness h;
    MUST(h.vm().create_vcpu(7));

    qapi::Result<std::unique_ptr<Vcpu>> again = h.vm().create_vcpu(7);

    ASSERT_FALSE(again.has_value());
    EXPECT_EQ(again.error().os_errno(), EEXIST);
}

TEST(KernelModelMemory, UnalignedSlotSizeIsEinval)
{
    std::unique_ptr<System> system = open_model_system(KernelProfile::Model);
    std::unique_ptr<Vm> vm = MUST(system->create_vm());
    auto ram = std::make_unique<GuestRam>();

    qapi::Result<void> result =
        vm->set_user_memory_region(0, 0, std::span(ram->bytes).first(100));

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().os_errno(), EINVAL);
}

TEST(KernelModelMemory, OverlappingSlotIsEexist)
{
    ModelHarness h;
    auto other = std::make_unique<GuestRam>();

    qapi::Result<void> result = h.vm().set_user_memory_region(1, 0x8000, other->bytes);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().os_errno(), EEXIST);
}

} // namespace
} // namespace accel::kvm::test
