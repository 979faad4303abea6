/*
 * KVM_CAP_X2APIC_API: what KVM_CHECK_EXTENSION answers where, and which
 * KVM_ENABLE_CAP calls succeed (kvm_vm_ioctl_check_extension and
 * kvm_vm_ioctl_enable_cap in arch/x86/kvm/x86.c).  Kernels without the SEOIB
 * flags answer 0x3 everywhere and refuse bits 2 and 3 as unknown (EINVAL).
 */
#include "tests/kvm/kvm-harness.h"

#include <cerrno>

namespace kvm_test {
namespace {

constexpr uint64_t ENABLE = KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST;
constexpr uint64_t DISABLE = KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST;
constexpr uint64_t UNKNOWN_FLAG = 1ULL << 4;

class X2apicApi : public BackendTest {
protected:
    /// A VM with the given irqchip, no vCPU.
    std::unique_ptr<TestVm> create_vm(Irqchip irqchip)
    {
        auto test_vm = TestVm::create(system(), irqchip);
        if (!test_vm.has_value()) {
            ADD_FAILURE() << test_vm.error().message();
            return nullptr;
        }
        return test_vm.release_value();
    }

    qapi::Result<void> enable(Vm &vm, uint64_t flags)
    {
        return vm.enable_cap(Cap::X2apicApi, { flags, 0, 0, 0 });
    }

    qapi::Result<void> enable_split(Vm &vm)
    {
        return vm.enable_cap(Cap::SplitIrqchip,
                             { SPLIT_IRQCHIP_PINS, 0, 0, 0 });
    }

    /// EINVAL on a kernel that does not know the SEOIB flags, else 0.
    int errno_unless_seoib() const { return traits().seoib_flags ? 0 : EINVAL; }
};

TEST_P(X2apicApi, SystemScopeAnswersEveryFlag)
{
    auto caps = system().check_extension(Cap::X2apicApi);

    ASSERT_TRUE(caps.has_value()) << caps.error().message();
    EXPECT_EQ(caps.value(), traits().x2apic_api_caps());
}

TEST_P(X2apicApi, FreshVmHidesEnable)
{
    auto test_vm = create_vm(Irqchip::None);
    ASSERT_NE(test_vm, nullptr);

    auto caps = test_vm->vm().check_extension(Cap::X2apicApi);

    ASSERT_TRUE(caps.has_value()) << caps.error().message();
    EXPECT_EQ(caps.value(), traits().x2apic_api_caps() & ~ENABLE);
}

TEST_P(X2apicApi, SplitIrqchipVmAnswersEveryFlag)
{
    auto test_vm = create_vm(Irqchip::Split);
    ASSERT_NE(test_vm, nullptr);

    auto caps = test_vm->vm().check_extension(Cap::X2apicApi);

    ASSERT_TRUE(caps.has_value()) << caps.error().message();
    EXPECT_EQ(caps.value(), traits().x2apic_api_caps());
}

TEST_P(X2apicApi, KernelIrqchipVmHidesEnable)
{
    auto test_vm = create_vm(Irqchip::Kernel);
    ASSERT_NE(test_vm, nullptr);

    auto caps = test_vm->vm().check_extension(Cap::X2apicApi);

    ASSERT_TRUE(caps.has_value()) << caps.error().message();
    EXPECT_EQ(caps.value(), traits().x2apic_api_caps() & ~ENABLE);
}

TEST_P(X2apicApi, EnableBeforeSplitIsEinval)
{
    auto test_vm = create_vm(Irqchip::None);
    ASSERT_NE(test_vm, nullptr);

    EXPECT_EQ(errno_of(enable(test_vm->vm(), ENABLE)), EINVAL);
}

TEST_P(X2apicApi, RefusedEnableLeavesSplitPossible)
{
    auto test_vm = create_vm(Irqchip::None);
    ASSERT_NE(test_vm, nullptr);
    ASSERT_FALSE(enable(test_vm->vm(), ENABLE).has_value());

    EXPECT_EQ(errno_of(enable_split(test_vm->vm())), 0);
}

TEST_P(X2apicApi, EnableWithKernelIrqchipIsEinval)
{
    auto test_vm = create_vm(Irqchip::Kernel);
    ASSERT_NE(test_vm, nullptr);

    EXPECT_EQ(errno_of(enable(test_vm->vm(), ENABLE)), EINVAL);
}

TEST_P(X2apicApi, DisableBeforeSplitIsAccepted)
{
    auto test_vm = create_vm(Irqchip::None);
    ASSERT_NE(test_vm, nullptr);

    EXPECT_EQ(errno_of(enable(test_vm->vm(), DISABLE)), errno_unless_seoib());
}

TEST_P(X2apicApi, DisableBeforeSplitStillAllowsSplitThenEnable)
{
    auto test_vm = create_vm(Irqchip::None);
    ASSERT_NE(test_vm, nullptr);
    Vm &vm = test_vm->vm();
    ASSERT_EQ(errno_of(enable(vm, DISABLE)), errno_unless_seoib());
    ASSERT_OK(enable_split(vm));

    EXPECT_EQ(errno_of(enable(vm, ENABLE)), errno_unless_seoib());
}

TEST_P(X2apicApi, DisableWithKernelIrqchipIsAccepted)
{
    auto test_vm = create_vm(Irqchip::Kernel);
    ASSERT_NE(test_vm, nullptr);

    EXPECT_EQ(errno_of(enable(test_vm->vm(), DISABLE)), errno_unless_seoib());
}

TEST_P(X2apicApi, EnableTogetherWithDisableIsEinval)
{
    auto test_vm = create_vm(Irqchip::Split);
    ASSERT_NE(test_vm, nullptr);

    EXPECT_EQ(errno_of(enable(test_vm->vm(), ENABLE | DISABLE)), EINVAL);
}

TEST_P(X2apicApi, UnknownFlagIsEinval)
{
    auto test_vm = create_vm(Irqchip::Split);
    ASSERT_NE(test_vm, nullptr);

    EXPECT_EQ(errno_of(enable(test_vm->vm(), UNKNOWN_FLAG)), EINVAL);
}

TEST_P(X2apicApi, NonZeroCapFlagsFieldIsEinval)
{
    auto test_vm = create_vm(Irqchip::Split);
    ASSERT_NE(test_vm, nullptr);

    auto enabled = test_vm->vm().enable_cap(
        Cap::X2apicApi, { KVM_X2APIC_API_USE_32BIT_IDS, 0, 0, 0 }, 1);

    EXPECT_EQ(errno_of(enabled), EINVAL);
}

TEST_P(X2apicApi, ZeroFlagsAreANoOpThatSucceeds)
{
    auto test_vm = create_vm(Irqchip::Split);
    ASSERT_NE(test_vm, nullptr);

    EXPECT_EQ(errno_of(enable(test_vm->vm(), 0)), 0);
}

TEST_P(X2apicApi, EnableThenDisableIsAccepted)
{
    auto test_vm = create_vm(Irqchip::Split);
    ASSERT_NE(test_vm, nullptr);
    Vm &vm = test_vm->vm();
    ASSERT_EQ(errno_of(enable(vm, ENABLE)), errno_unless_seoib());

    EXPECT_EQ(errno_of(enable(vm, DISABLE)), errno_unless_seoib());
}

TEST_P(X2apicApi, EnableAgainAfterDisableIsAccepted)
{
    auto test_vm = create_vm(Irqchip::Split);
    ASSERT_NE(test_vm, nullptr);
    Vm &vm = test_vm->vm();
    ASSERT_EQ(errno_of(enable(vm, ENABLE)), errno_unless_seoib());
    ASSERT_EQ(errno_of(enable(vm, DISABLE)), errno_unless_seoib());

    EXPECT_EQ(errno_of(enable(vm, ENABLE)), errno_unless_seoib());
}

TEST_P(X2apicApi, Use32BitIdsAcceptedAfterVcpuExists)
{
    auto test_vm = create_vm(Irqchip::Split);
    ASSERT_NE(test_vm, nullptr);
    ASSERT_TRUE(test_vm->add_vcpu(0).has_value());

    EXPECT_EQ(errno_of(enable(test_vm->vm(), KVM_X2APIC_API_USE_32BIT_IDS)), 0);
}

TEST_P(X2apicApi, EnableAcceptedAfterVcpuExists)
{
    auto test_vm = create_vm(Irqchip::Split);
    ASSERT_NE(test_vm, nullptr);
    ASSERT_TRUE(test_vm->add_vcpu(0).has_value());

    EXPECT_EQ(errno_of(enable(test_vm->vm(), ENABLE)), errno_unless_seoib());
}

TEST_P(X2apicApi, SplitAfterVcpuExistsIsEexist)
{
    auto test_vm = create_vm(Irqchip::None);
    ASSERT_NE(test_vm, nullptr);
    ASSERT_TRUE(test_vm->add_vcpu(0).has_value());

    EXPECT_EQ(errno_of(enable_split(test_vm->vm())), EEXIST);
}

INSTANTIATE_TEST_SUITE_P(Backends, X2apicApi, ::testing::ValuesIn(ALL_BACKENDS),
                         backend_param_name);

} // namespace
} // namespace kvm_test
