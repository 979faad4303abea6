/*
 * The LVR the kernel computes (kvm_apic_set_version in arch/x86/kvm/lapic.c):
 * bit 24 (Suppress EOI Broadcast supported) iff the vCPU's CPUID has x2APIC
 * and the SEOIB mode advertises it (ENABLE; DISABLE never; quirked only with
 * a userspace IOAPIC).  It is recomputed at vCPU reset, KVM_SET_CPUID2 and
 * KVM_SET_LAPIC, never by KVM_ENABLE_CAP.  Read with KVM_GET_LAPIC; no vCPU
 * runs here.
 */
#include "tests/kvm/kvm-harness.h"

#include <cerrno>
#include <tuple>

namespace kvm_test {
namespace {

constexpr uint64_t NO_FLAGS = 0;
constexpr uint64_t ENABLE = KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST;
constexpr uint64_t DISABLE = KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST;

struct LvrCase {
    std::string_view name;
    Irqchip irqchip;
    /// KVM_CAP_X2APIC_API flags set before the vCPU is created.
    uint64_t x2apic_api;
    bool cpuid_x2apic;
    /// LVR after KVM_SET_CPUID2 on a kernel with the SEOIB flags.
    uint32_t with_flags;
    /// Without them (bits 2 and 3 are refused, the mode stays quirked).
    uint32_t without_flags;
};

void PrintTo(const LvrCase &c, std::ostream *os)
{
    *os << c.name;
}

// clang-format off
constexpr LvrCase LVR_CASES[] = {
    { "SplitQuirked", Irqchip::Split, NO_FLAGS, true, LVR_WITH_SEOIB, LVR_WITH_SEOIB },
    { "SplitEnable", Irqchip::Split, ENABLE, true, LVR_WITH_SEOIB, LVR_WITH_SEOIB },
    { "Split32BitIdsOnly", Irqchip::Split, KVM_X2APIC_API_USE_32BIT_IDS, true,
      LVR_WITH_SEOIB, LVR_WITH_SEOIB },
    { "SplitDisable", Irqchip::Split, DISABLE, true, LVR_WITHOUT_SEOIB, LVR_WITH_SEOIB },
    { "SplitWithoutX2apic", Irqchip::Split, NO_FLAGS, false, LVR_WITHOUT_SEOIB,
      LVR_WITHOUT_SEOIB },
    { "KernelIrqchipQuirked", Irqchip::Kernel, NO_FLAGS, true, LVR_WITHOUT_SEOIB,
      LVR_WITHOUT_SEOIB },
    { "KernelIrqchipDisable", Irqchip::Kernel, DISABLE, true, LVR_WITHOUT_SEOIB,
      LVR_WITHOUT_SEOIB },
};
// clang-format on

/// A VM with one vCPU; `x2apic_api` flags are set before the vCPU exists.
/// Flags the kernel does not know must be refused with EINVAL.
struct OneVcpuVm {
    std::unique_ptr<TestVm> test_vm;
    Vcpu *vcpu { nullptr };
};

void create_one_vcpu_vm(System &system, const KernelTraits &traits,
                        Irqchip irqchip, uint64_t x2apic_api, OneVcpuVm &out)
{
    auto test_vm = TestVm::create(system, irqchip);
    ASSERT_TRUE(test_vm.has_value()) << test_vm.error().message();
    out.test_vm = test_vm.release_value();
    if (x2apic_api != 0) {
        auto enabled = out.test_vm->vm().enable_cap(Cap::X2apicApi,
                                                    { x2apic_api, 0, 0, 0 });
        ASSERT_EQ(errno_of(enabled),
                  traits.knows_x2apic_api_flags(x2apic_api) ? 0 : EINVAL);
    }
    auto vcpu = out.test_vm->add_vcpu(0);
    ASSERT_TRUE(vcpu.has_value()) << vcpu.error().message();
    out.vcpu = vcpu.value();
}

uint32_t read_lvr(Vcpu &vcpu)
{
    auto lapic = vcpu.get_lapic();
    if (!lapic.has_value()) {
        ADD_FAILURE() << lapic.error().message();
        return 0;
    }
    return lapic.value().reg(APIC_LVR);
}

class LvrAfterSetCpuid : public BackendSuite<std::tuple<Backend, LvrCase>> {
protected:
    const LvrCase &lvr_case() const { return std::get<1>(GetParam()); }
};

TEST_P(LvrAfterSetCpuid, MatchesAdvertisedMode)
{
    OneVcpuVm vm;
    ASSERT_NO_FATAL_FAILURE(create_one_vcpu_vm(
        system(), traits(), lvr_case().irqchip, lvr_case().x2apic_api, vm));

    ASSERT_OK(set_cpuid(system(), *vm.vcpu, lvr_case().cpuid_x2apic));

    EXPECT_EQ(read_lvr(*vm.vcpu), traits().seoib_flags
                                      ? lvr_case().with_flags
                                      : lvr_case().without_flags);
}

INSTANTIATE_TEST_SUITE_P(Backends, LvrAfterSetCpuid,
                         ::testing::Combine(::testing::ValuesIn(ALL_BACKENDS),
                                            ::testing::ValuesIn(LVR_CASES)),
                         backend_case_param_name<LvrCase>);

using Lvr = BackendTest;

TEST_P(Lvr, AtVcpuCreationLacksBit24)
{
    OneVcpuVm vm;
    // Before KVM_SET_CPUID2 the guest has no x2APIC, so nothing is advertised
    // even in the mode that advertises most.
    ASSERT_NO_FATAL_FAILURE(
        create_one_vcpu_vm(system(), traits(), Irqchip::Split, NO_FLAGS, vm));

    EXPECT_EQ(read_lvr(*vm.vcpu), LVR_WITHOUT_SEOIB);
}

TEST_P(Lvr, DisableAfterSetCpuidLeavesLvrUnchanged)
{
    OneVcpuVm vm;
    ASSERT_NO_FATAL_FAILURE(
        create_one_vcpu_vm(system(), traits(), Irqchip::Split, NO_FLAGS, vm));
    ASSERT_OK(set_cpuid(system(), *vm.vcpu, true));

    auto disabled =
        vm.test_vm->vm().enable_cap(Cap::X2apicApi, { DISABLE, 0, 0, 0 });

    ASSERT_EQ(errno_of(disabled), traits().seoib_flags ? 0 : EINVAL);
    EXPECT_EQ(read_lvr(*vm.vcpu), LVR_WITH_SEOIB);
}

TEST_P(Lvr, SetLapicAfterDisableRecomputesLvr)
{
    OneVcpuVm vm;
    ASSERT_NO_FATAL_FAILURE(
        create_one_vcpu_vm(system(), traits(), Irqchip::Split, NO_FLAGS, vm));
    ASSERT_OK(set_cpuid(system(), *vm.vcpu, true));
    auto disabled =
        vm.test_vm->vm().enable_cap(Cap::X2apicApi, { DISABLE, 0, 0, 0 });
    ASSERT_EQ(errno_of(disabled), traits().seoib_flags ? 0 : EINVAL);
    auto lapic = vm.vcpu->get_lapic();
    ASSERT_TRUE(lapic.has_value()) << lapic.error().message();

    ASSERT_OK(vm.vcpu->set_lapic(lapic.value()));

    EXPECT_EQ(read_lvr(*vm.vcpu),
              traits().seoib_flags ? LVR_WITHOUT_SEOIB : LVR_WITH_SEOIB);
}

TEST_P(Lvr, SetLapicWithZeroedLvrWritesBackComputedLvr)
{
    OneVcpuVm vm;
    ASSERT_NO_FATAL_FAILURE(
        create_one_vcpu_vm(system(), traits(), Irqchip::Split, NO_FLAGS, vm));
    ASSERT_OK(set_cpuid(system(), *vm.vcpu, true));
    auto lapic = vm.vcpu->get_lapic();
    ASSERT_TRUE(lapic.has_value()) << lapic.error().message();
    lapic.value().set_reg(APIC_LVR, 0);

    ASSERT_OK(vm.vcpu->set_lapic(lapic.value()));

    EXPECT_EQ(read_lvr(*vm.vcpu), LVR_WITH_SEOIB);
}

INSTANTIATE_TEST_SUITE_P(Backends, Lvr, ::testing::ValuesIn(ALL_BACKENDS),
                         backend_param_name);

} // namespace
} // namespace kvm_test
