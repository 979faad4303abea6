/*
 * SVR bit 12 (Suppress EOI Broadcast): a guest write keeps it only while the
 * LVR advertises it (bit 24), KVM_SET_LAPIC keeps it regardless (the kernel
 * masks guest SVR writes in kvm_lapic_reg_write but copies the page as is on
 * KVM_SET_LAPIC).  An in-kernel irqchip never advertises the feature, on
 * every kernel, so it is the configuration used here; the split-irqchip
 * DISABLE case is in the EOI table.
 */
#include "tests/kvm/kvm-harness.h"

namespace kvm_test {
namespace {

constexpr uint32_t SVR_ENABLED = APIC_SPIV_APIC_ENABLED | 0xff;
constexpr uint32_t SVR_ENABLED_SEOIB = SVR_ENABLED | APIC_SPIV_DIRECTED_EOI;
constexpr uint8_t UNUSED_VECTOR = 0x50;

class Svr : public BackendTest {
protected:
    /// A VM with an in-kernel irqchip and one x2APIC-mode vCPU loaded with
    /// eoi-probe; the LVR lacks bit 24.
    void create_vm()
    {
        auto test_vm = TestVm::create(system(), Irqchip::Kernel);
        ASSERT_TRUE(test_vm.has_value()) << test_vm.error().message();
        m_vm = test_vm.release_value();
        ASSERT_OK(m_vm->load(guest::eoi_probe_payload()));
        auto vcpu = m_vm->add_vcpu(0);
        ASSERT_TRUE(vcpu.has_value()) << vcpu.error().message();
        m_vcpu = vcpu.value();
        ASSERT_OK(set_cpuid(system(), *m_vcpu, true));
        ASSERT_OK(set_apic_base(*m_vcpu, true));
    }

    /// Runs eoi-probe up to its first idle report, the guest writing `svr`
    /// (0: no write).
    void run_probe(uint32_t svr, ProbeLog &log)
    {
        ASSERT_OK(enter_real_mode(
            *m_vcpu, RealModeStart {
                         .entry = guest::eoi_probe_payload().entry_point,
                         .rax = svr,
                         .rbx = UNUSED_VECTOR,
                     }));
        ASSERT_OK(run_probe_until_idle(*m_vcpu, log, 1));
    }

    std::unique_ptr<TestVm> m_vm;
    Vcpu *m_vcpu { nullptr };
};

TEST_P(Svr, GuestWriteDropsBit12WithoutLvrBit24)
{
    ASSERT_NO_FATAL_FAILURE(create_vm());
    ProbeLog log;

    ASSERT_NO_FATAL_FAILURE(run_probe(SVR_ENABLED_SEOIB, log));

    EXPECT_EQ(log.svr, SVR_ENABLED);
}

TEST_P(Svr, SetLapicKeepsBit12WithoutLvrBit24)
{
    ASSERT_NO_FATAL_FAILURE(create_vm());

    ASSERT_OK(set_spiv(*m_vcpu, SVR_ENABLED_SEOIB));

    auto lapic = m_vcpu->get_lapic();
    ASSERT_TRUE(lapic.has_value()) << lapic.error().message();
    EXPECT_EQ(lapic.value().reg(APIC_SPIV), SVR_ENABLED_SEOIB);
}

TEST_P(Svr, GuestReadsBit12SetThroughSetLapic)
{
    ASSERT_NO_FATAL_FAILURE(create_vm());
    ASSERT_OK(set_spiv(*m_vcpu, SVR_ENABLED_SEOIB));
    ProbeLog log;

    ASSERT_NO_FATAL_FAILURE(run_probe(0, log));

    EXPECT_EQ(log.svr, SVR_ENABLED_SEOIB);
}

INSTANTIATE_TEST_SUITE_P(Backends, Svr, ::testing::ValuesIn(ALL_BACKENDS),
                         backend_param_name);

} // namespace
} // namespace kvm_test
