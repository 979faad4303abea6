/*
 * EOI exits and their suppression with a split irqchip, observed by running
 * eoi-probe: a level-triggered MSI route for a userspace IOAPIC pin is
 * injected once, the guest takes the interrupt and writes the LAPIC EOI, and
 * the test counts KVM_EXIT_IOAPIC_EOI exits and handler entries.  Counts
 * only, no timing.
 *
 * The kernel's rule (kvm_ioapic_send_eoi and
 * kvm_lapic_suppress_eoi_broadcast, arch/x86/kvm): an EOI of a vector that a
 * level MSI route on a reserved pin targets at this vCPU exits to userspace
 * unless SVR bit 12 is set and the VM chose ENABLE.  Quirked (no flag) and
 * DISABLE always exit; the TMR is not consulted.
 */
#include "tests/kvm/kvm-harness.h"

#include <cerrno>
#include <tuple>

namespace kvm_test {
namespace {

constexpr uint32_t PROBE_GSI = 10;
constexpr uint8_t PROBE_VECTOR = 0xa2;
constexpr uint32_t BSP_ID = 0;

// SVR values: APIC software-enabled (bit 8), spurious vector 0xff, and bit 12
// (Suppress EOI Broadcast) or not.
constexpr uint32_t SVR_ENABLED = APIC_SPIV_APIC_ENABLED | 0xff;
constexpr uint32_t SVR_ENABLED_SEOIB = SVR_ENABLED | APIC_SPIV_DIRECTED_EOI;

/// The SEOIB flag the VMM set before creating vCPUs.
enum class SeoibMode { Quirked, Enable, Disable };

uint64_t seoib_flags(SeoibMode mode)
{
    switch (mode) {
    case SeoibMode::Quirked:
        return 0;
    case SeoibMode::Enable:
        return KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST;
    case SeoibMode::Disable:
        return KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST;
    }
    return 0;
}

/// Who sets the SVR: the guest (wrmsr 0x80F, masked by the LVR) or the VMM
/// (KVM_SET_LAPIC, never masked).
enum class SvrWriter { Guest, SetLapic };

struct EoiOutcome {
    uint32_t lvr;
    uint32_t svr;
    int eoi_exits;
};

struct EoiCase {
    std::string_view name;
    SeoibMode mode;
    SvrWriter writer;
    uint32_t svr;
    /// On a kernel with the SEOIB flags.
    EoiOutcome with_flags;
    /// On a kernel without them: ENABLE/DISABLE are refused (EINVAL), so
    /// every mode behaves as quirked.
    EoiOutcome without_flags;
};

void PrintTo(const EoiCase &c, std::ostream *os)
{
    *os << c.name;
}

// clang-format off
constexpr EoiCase EOI_CASES[] = {
    // Quirked: advertised, never suppressed (the bug being fixed).
    { "QuirkedGuestSvr12", SeoibMode::Quirked, SvrWriter::Guest, SVR_ENABLED_SEOIB,
      { LVR_WITH_SEOIB, SVR_ENABLED_SEOIB, 1 }, { LVR_WITH_SEOIB, SVR_ENABLED_SEOIB, 1 } },
    { "QuirkedGuestNoSvr12", SeoibMode::Quirked, SvrWriter::Guest, SVR_ENABLED,
      { LVR_WITH_SEOIB, SVR_ENABLED, 1 }, { LVR_WITH_SEOIB, SVR_ENABLED, 1 } },
    { "QuirkedSetLapicSvr12", SeoibMode::Quirked, SvrWriter::SetLapic, SVR_ENABLED_SEOIB,
      { LVR_WITH_SEOIB, SVR_ENABLED_SEOIB, 1 }, { LVR_WITH_SEOIB, SVR_ENABLED_SEOIB, 1 } },
    // ENABLE: suppressed exactly when SVR bit 12 is set.
    { "EnableGuestSvr12", SeoibMode::Enable, SvrWriter::Guest, SVR_ENABLED_SEOIB,
      { LVR_WITH_SEOIB, SVR_ENABLED_SEOIB, 0 }, { LVR_WITH_SEOIB, SVR_ENABLED_SEOIB, 1 } },
    { "EnableGuestNoSvr12", SeoibMode::Enable, SvrWriter::Guest, SVR_ENABLED,
      { LVR_WITH_SEOIB, SVR_ENABLED, 1 }, { LVR_WITH_SEOIB, SVR_ENABLED, 1 } },
    { "EnableSetLapicSvr12", SeoibMode::Enable, SvrWriter::SetLapic, SVR_ENABLED_SEOIB,
      { LVR_WITH_SEOIB, SVR_ENABLED_SEOIB, 0 }, { LVR_WITH_SEOIB, SVR_ENABLED_SEOIB, 1 } },
    // DISABLE: not advertised, the guest's bit 12 is dropped, never suppressed
    // even when KVM_SET_LAPIC forces the bit.
    { "DisableGuestSvr12", SeoibMode::Disable, SvrWriter::Guest, SVR_ENABLED_SEOIB,
      { LVR_WITHOUT_SEOIB, SVR_ENABLED, 1 }, { LVR_WITH_SEOIB, SVR_ENABLED_SEOIB, 1 } },
    { "DisableGuestNoSvr12", SeoibMode::Disable, SvrWriter::Guest, SVR_ENABLED,
      { LVR_WITHOUT_SEOIB, SVR_ENABLED, 1 }, { LVR_WITH_SEOIB, SVR_ENABLED, 1 } },
    { "DisableSetLapicSvr12", SeoibMode::Disable, SvrWriter::SetLapic, SVR_ENABLED_SEOIB,
      { LVR_WITHOUT_SEOIB, SVR_ENABLED_SEOIB, 1 }, { LVR_WITH_SEOIB, SVR_ENABLED_SEOIB, 1 } },
};
// clang-format on

class EoiExit : public BackendSuite<std::tuple<Backend, EoiCase>> {
protected:
    const EoiCase &eoi_case() const { return std::get<1>(GetParam()); }

    const EoiOutcome &expected() const
    {
        return traits().seoib_flags ? eoi_case().with_flags
                                    : eoi_case().without_flags;
    }

    /// Boots eoi-probe in the case's configuration, lets it report and halt,
    /// injects the level pin once and lets it halt again.
    void run_case(ProbeLog &log, bool guest_writes_ioapic_eoi = false)
    {
        auto test_vm = TestVm::create(system(), Irqchip::Split);
        ASSERT_TRUE(test_vm.has_value()) << test_vm.error().message();
        Vm &vm = test_vm.value()->vm();

        uint64_t flags = seoib_flags(eoi_case().mode);
        if (flags != 0) {
            auto enabled = vm.enable_cap(Cap::X2apicApi, { flags, 0, 0, 0 });
            if (traits().seoib_flags) {
                ASSERT_TRUE(enabled.has_value()) << enabled.error().message();
            } else {
                ASSERT_FALSE(enabled.has_value());
                ASSERT_EQ(enabled.error().os_errno(), EINVAL);
            }
        }

        const guest::GuestPayload &probe = guest::eoi_probe_payload();
        ASSERT_TRUE(test_vm.value()->load(probe).has_value());
        auto vcpu = test_vm.value()->add_vcpu(BSP_ID);
        ASSERT_TRUE(vcpu.has_value()) << vcpu.error().message();
        Vcpu &cpu = *vcpu.value();
        auto step = set_cpuid(system(), cpu, true);
        ASSERT_TRUE(step.has_value()) << step.error().message();
        step = set_apic_base(cpu, true);
        ASSERT_TRUE(step.has_value()) << step.error().message();
        if (eoi_case().writer == SvrWriter::SetLapic) {
            step = set_spiv(cpu, eoi_case().svr);
            ASSERT_TRUE(step.has_value()) << step.error().message();
        }
        const RoutingEntry route =
            level_msi_route(PROBE_GSI, BSP_ID, PROBE_VECTOR);
        step = vm.set_gsi_routing(std::span(&route, 1));
        ASSERT_TRUE(step.has_value()) << step.error().message();

        step = enter_real_mode(cpu,
                               RealModeStart {
                                   .entry = probe.entry_point,
                                   .rax = eoi_case().writer == SvrWriter::Guest
                                              ? eoi_case().svr
                                              : 0,
                                   .rbx = PROBE_VECTOR,
                                   .rcx = guest_writes_ioapic_eoi ? 1U : 0U,
                               });
        ASSERT_TRUE(step.has_value()) << step.error().message();

        step = run_probe_until_idle(cpu, log, 1);
        ASSERT_TRUE(step.has_value()) << step.error().message();
        auto injected = vm.irq_line(PROBE_GSI, true);
        ASSERT_TRUE(injected.has_value()) << injected.error().message();
        step = run_probe_until_idle(cpu, log, 2);
        ASSERT_TRUE(step.has_value()) << step.error().message();
    }
};

TEST_P(EoiExit, GuestReadsLvrAndSvr)
{
    ProbeLog log;
    ASSERT_NO_FATAL_FAILURE(run_case(log));

    EXPECT_EQ(log.lvr, expected().lvr);
    EXPECT_EQ(log.svr, expected().svr);
}

TEST_P(EoiExit, LevelEoiExitsAsTableSays)
{
    ProbeLog log;
    ASSERT_NO_FATAL_FAILURE(run_case(log));

    EXPECT_EQ(log.eoi_exit_vectors,
              std::vector<uint8_t>(static_cast<size_t>(expected().eoi_exits),
                                   PROBE_VECTOR));
}

TEST_P(EoiExit, HandlerRunsOncePerInjection)
{
    ProbeLog log;
    ASSERT_NO_FATAL_FAILURE(run_case(log));

    EXPECT_EQ(log.handler_entries, 1);
    EXPECT_EQ(log.lapic_eois, 1);
}

TEST_P(EoiExit, DirectedEoiGuestWritesIoapicEoiRegisterOnce)
{
    ProbeLog log;
    ASSERT_NO_FATAL_FAILURE(run_case(log, true));

    EXPECT_EQ(log.ioapic_eoi_writes, std::vector<uint64_t> { PROBE_VECTOR });
}

INSTANTIATE_TEST_SUITE_P(Backends, EoiExit,
                         ::testing::Combine(::testing::ValuesIn(ALL_BACKENDS),
                                            ::testing::ValuesIn(EOI_CASES)),
                         backend_case_param_name<EoiCase>);

} // namespace
} // namespace kvm_test
