/*
 * What only the host backend does: opening the device, error texts that name
 * the ioctl, and the run watchdog following the thread that runs the vCPU.
 * Skipped where /dev/kvm cannot be opened.
 */
#include "accel/kvm/kvm-backend-linux.h"
#include "tests/kvm/kvm-harness.h"

#include <cerrno>
#include <thread>

namespace kvm_test {
namespace {

constexpr uint8_t UNUSED_VECTOR = 0x50;
constexpr uint32_t SVR_ENABLED = APIC_SPIV_APIC_ENABLED | 0xff;

class HostBackend : public ::testing::Test {
protected:
    void SetUp() override
    {
        m_backend = open_backend(Backend::Host);
        if (!m_backend.skip_reason.empty()) {
            GTEST_SKIP() << m_backend.skip_reason;
        }
    }

    System &system() { return *m_backend.system; }

private:
    OpenedBackend m_backend;
};

TEST(HostBackendOpen, MissingDeviceFailsWithEnoent)
{
    auto system = open_host_system("/nonexistent/kvm");

    ASSERT_FALSE(system.has_value());
    EXPECT_EQ(system.error().os_errno(), ENOENT);
    EXPECT_EQ(system.error().message(),
              "open(/nonexistent/kvm): No such file or directory");
}

TEST_F(HostBackend, NameIsHost)
{
    EXPECT_EQ(system().name(), "host");
}

TEST_F(HostBackend, ApiVersionIs12)
{
    auto version = system().api_version();

    ASSERT_TRUE(version.has_value()) << version.error().message();
    EXPECT_EQ(version.value(), 12);
}

TEST_F(HostBackend, FailedEnableCapNamesIoctlAndCap)
{
    auto test_vm = TestVm::create(system(), Irqchip::Split);
    ASSERT_TRUE(test_vm.has_value()) << test_vm.error().message();

    auto enabled = test_vm.value()->vm().enable_cap(Cap::X2apicApi,
                                                    { 1ULL << 4, 0, 0, 0 });

    ASSERT_FALSE(enabled.has_value());
    EXPECT_EQ(enabled.error().message(),
              "KVM_ENABLE_CAP(KVM_CAP_X2APIC_API): Invalid argument");
}

TEST_F(HostBackend, SignalMsiWithoutDestinationNamesIoctl)
{
    auto test_vm = TestVm::create(system(), Irqchip::Split);
    ASSERT_TRUE(test_vm.has_value()) << test_vm.error().message();
    // No vCPU, hence no APIC map: the slow path matches nothing.

    auto delivered =
        test_vm.value()->vm().signal_msi(fixed_msi(0, UNUSED_VECTOR));

    ASSERT_FALSE(delivered.has_value());
    EXPECT_EQ(delivered.error().message(),
              "KVM_SIGNAL_MSI: Operation not permitted");
}

TEST_F(HostBackend, SupportedCpuidHasX2apic)
{
    auto cpuid = system().get_supported_cpuid();

    ASSERT_TRUE(cpuid.has_value()) << cpuid.error().message();
    auto leaf1 = std::find_if(
        cpuid.value().begin(), cpuid.value().end(),
        [](const CpuidEntry &entry) { return entry.function == 1; });
    ASSERT_NE(leaf1, cpuid.value().end());
    EXPECT_NE(leaf1->ecx & CPUID_EXT_X2APIC, 0U);
}

TEST_F(HostBackend, SetMsrsThenGetMsrsRoundTripsApicBase)
{
    auto test_vm = TestVm::create(system(), Irqchip::Split);
    ASSERT_TRUE(test_vm.has_value()) << test_vm.error().message();
    auto vcpu = test_vm.value()->add_vcpu(0);
    ASSERT_TRUE(vcpu.has_value()) << vcpu.error().message();
    ASSERT_OK(set_cpuid(system(), *vcpu.value(), true));
    ASSERT_OK(set_apic_base(*vcpu.value(), true));
    MsrEntry apic_base { MSR_IA32_APICBASE, 0 };

    auto read = vcpu.value()->get_msrs(std::span(&apic_base, 1));

    ASSERT_TRUE(read.has_value()) << read.error().message();
    EXPECT_EQ(read.value(), 1U);
    EXPECT_EQ(apic_base.data,
              APIC_DEFAULT_PHYS_BASE | MSR_IA32_APICBASE_ENABLE |
                  MSR_IA32_APICBASE_EXTD | MSR_IA32_APICBASE_BSP);
}

TEST_F(HostBackend, SetSregsKeepsApicBaseFromGetSregs)
{
    auto test_vm = TestVm::create(system(), Irqchip::Split);
    ASSERT_TRUE(test_vm.has_value()) << test_vm.error().message();
    auto vcpu = test_vm.value()->add_vcpu(0);
    ASSERT_TRUE(vcpu.has_value()) << vcpu.error().message();
    ASSERT_OK(set_cpuid(system(), *vcpu.value(), true));
    ASSERT_OK(set_apic_base(*vcpu.value(), true));

    ASSERT_OK(
        enter_real_mode(*vcpu.value(), RealModeStart { .entry = 0x1000 }));

    auto sregs = vcpu.value()->get_sregs();
    ASSERT_TRUE(sregs.has_value()) << sregs.error().message();
    EXPECT_EQ(sregs.value().apic_base,
              APIC_DEFAULT_PHYS_BASE | MSR_IA32_APICBASE_ENABLE |
                  MSR_IA32_APICBASE_EXTD | MSR_IA32_APICBASE_BSP);
    EXPECT_EQ(sregs.value().ds.limit, 0xffffffffU);
}

// The watchdog timer signals one thread; a vCPU run from another thread
// must get a timer of its own or its halted run would never come back.
TEST_F(HostBackend, RunFromAnotherThreadIsStillBounded)
{
    auto test_vm = TestVm::create(system(), Irqchip::Split);
    ASSERT_TRUE(test_vm.has_value()) << test_vm.error().message();
    ASSERT_OK(test_vm.value()->load(guest::eoi_probe_payload()));
    auto vcpu = test_vm.value()->add_vcpu(0);
    ASSERT_TRUE(vcpu.has_value()) << vcpu.error().message();
    Vcpu &cpu = *vcpu.value();
    ASSERT_OK(set_cpuid(system(), cpu, true));
    ASSERT_OK(set_apic_base(cpu, true));
    ASSERT_OK(enter_real_mode(
        cpu, RealModeStart {
                 .entry = guest::eoi_probe_payload().entry_point,
                 .rax = SVR_ENABLED,
                 .rbx = UNUSED_VECTOR,
             }));
    ProbeLog log;
    ASSERT_OK(run_probe_until_idle(cpu, log, 1));

    bool interrupted = false;
    std::thread other([&] {
        auto exit = cpu.run();
        interrupted = exit.has_value() &&
                      std::holds_alternative<ExitInterrupted>(exit.value());
    });
    other.join();

    EXPECT_TRUE(interrupted);
}

} // namespace
} // namespace kvm_test
