/*
 * KVM_RUN as the backends report it: port I/O in both directions, with the
 * value of an `in` supplied before the next run, and a halted guest coming
 * back as ExitInterrupted once its run is bounded (the host's watchdog, the
 * model's "nothing deliverable").
 */
#include "tests/kvm/kvm-harness.h"

namespace kvm_test {
namespace {

constexpr uint32_t ECHO_VALUE = 0x12345678;
constexpr uint8_t UNUSED_VECTOR = 0x50;
constexpr uint32_t SVR_ENABLED = APIC_SPIV_APIC_ENABLED | 0xff;

class Run : public BackendTest {
protected:
    /// A split-irqchip VM with one vCPU in x2APIC mode at the entry of
    /// `payload`.
    void create_vm(const guest::GuestPayload &payload,
                   const RealModeStart &start)
    {
        auto test_vm = TestVm::create(system(), Irqchip::Split);
        ASSERT_TRUE(test_vm.has_value()) << test_vm.error().message();
        m_vm = test_vm.release_value();
        ASSERT_OK(m_vm->load(payload));
        auto vcpu = m_vm->add_vcpu(0);
        ASSERT_TRUE(vcpu.has_value()) << vcpu.error().message();
        m_vcpu = vcpu.value();
        ASSERT_OK(set_cpuid(system(), *m_vcpu, true));
        ASSERT_OK(set_apic_base(*m_vcpu, true));
        ASSERT_OK(enter_real_mode(*m_vcpu, start));
    }

    VcpuExit run()
    {
        auto exit = m_vcpu->run();
        if (!exit.has_value()) {
            ADD_FAILURE() << exit.error().message();
            return ExitUnknown {};
        }
        return exit.release_value();
    }

    std::unique_ptr<TestVm> m_vm;
    Vcpu *m_vcpu { nullptr };
};

TEST_P(Run, InExitReportsPortAndSize)
{
    ASSERT_NO_FATAL_FAILURE(
        create_vm(guest::io_echo_payload(),
                  { .entry = guest::io_echo_payload().entry_point }));

    VcpuExit exit = run();

    const auto *io = std::get_if<ExitIo>(&exit);
    ASSERT_NE(io, nullptr) << describe_exit(exit);
    EXPECT_EQ(io->direction, ExitIo::Direction::In);
    EXPECT_EQ(io->port, guest::io_echo::PORT_IN);
    EXPECT_EQ(io->size, 4);
}

TEST_P(Run, CompletedInValueReachesGuest)
{
    ASSERT_NO_FATAL_FAILURE(
        create_vm(guest::io_echo_payload(),
                  { .entry = guest::io_echo_payload().entry_point }));
    VcpuExit in = run();
    ASSERT_TRUE(std::holds_alternative<ExitIo>(in)) << describe_exit(in);

    m_vcpu->complete_io_in(ECHO_VALUE);
    VcpuExit out = run();

    const auto *io = std::get_if<ExitIo>(&out);
    ASSERT_NE(io, nullptr) << describe_exit(out);
    EXPECT_EQ(io->direction, ExitIo::Direction::Out);
    EXPECT_EQ(io->port, guest::io_echo::PORT_OUT);
    EXPECT_EQ(io->value, ECHO_VALUE + 1);
}

TEST_P(Run, HaltedGuestComesBackInterrupted)
{
    ASSERT_NO_FATAL_FAILURE(
        create_vm(guest::eoi_probe_payload(),
                  RealModeStart {
                      .entry = guest::eoi_probe_payload().entry_point,
                      .rax = SVR_ENABLED,
                      .rbx = UNUSED_VECTOR,
                  }));
    ProbeLog log;
    ASSERT_OK(run_probe_until_idle(*m_vcpu, log, 1));

    VcpuExit exit = run();

    EXPECT_TRUE(std::holds_alternative<ExitInterrupted>(exit))
        << describe_exit(exit);
}

INSTANTIATE_TEST_SUITE_P(Backends, Run, ::testing::ValuesIn(ALL_BACKENDS),
                         backend_param_name);

} // namespace
} // namespace kvm_test
