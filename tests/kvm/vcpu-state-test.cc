/*
 * The state ioctls a VMM migrates a vCPU with (KVM_GET/SET_SREGS with every
 * field, KVM_GET/SET_VCPU_EVENTS, KVM_GET/SET_MP_STATE, KVM_GET/SET_XSAVE,
 * the MSRs of KVM_GET_MSR_INDEX_LIST) and the dirty log, on every backend:
 * what a fresh vCPU reports, what a round trip keeps, what the kernel
 * refuses, and a running guest moved between backends carrying on as if it
 * had not moved.
 */
#include "accel/kvm/kvm-vcpu-state.h"
#include "tests/kvm/kvm-harness.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <tuple>

namespace kvm_test {
namespace {

constexpr uint32_t BSP_ID = 0;
constexpr uint32_t AP_ID = 1;
constexpr uint64_t BSP_APIC_BASE =
    APIC_DEFAULT_PHYS_BASE | MSR_IA32_APICBASE_ENABLE | MSR_IA32_APICBASE_BSP;

// XSAVE image offsets (SDM vol. 1, 13.4): FCW, MXCSR, XMM0, XSTATE_BV.
constexpr size_t XSAVE_FCW = 0;
constexpr size_t XSAVE_MXCSR = 24;
constexpr size_t XSAVE_XMM0 = 160;
constexpr size_t XSAVE_XSTATE_BV = 512;
constexpr uint64_t XSTATE_X87 = 1U << 0;
constexpr uint64_t XSTATE_SSE = 1U << 1;

template <typename T>
T must(qapi::Result<T> result)
{
    EXPECT_TRUE(result.has_value()) << result.error().message();
    if (!result.has_value()) {
        return T {};
    }
    return result.release_value();
}

class VcpuStateTest : public BackendTest {
protected:
    /// A VM with `irqchip` and vCPU `id`, CPUID set (x2APIC on).
    Vcpu &create(Irqchip irqchip, uint32_t id = BSP_ID)
    {
        auto test_vm = TestVm::create(system(), irqchip);
        EXPECT_TRUE(test_vm.has_value()) << test_vm.error().message();
        m_vm = test_vm.release_value();
        m_vcpu = must(m_vm->add_vcpu(id));
        EXPECT_TRUE(set_cpuid(system(), *m_vcpu, true).has_value());
        return *m_vcpu;
    }

    std::unique_ptr<TestVm> m_vm;
    Vcpu *m_vcpu { nullptr };
};

// --- A vCPU that has not run ------------------------------------------------

TEST_P(VcpuStateTest, FreshSregsAreTheResetState)
{
    Vcpu &vcpu = create(Irqchip::Split);

    Sregs expected {};
    expected.cs = Segment { .base = 0xffff0000, .selector = 0xf000, .type = 11 };
    expected.apic_base = BSP_APIC_BASE;
    EXPECT_EQ(must(vcpu.get_sregs()), expected);
}

TEST_P(VcpuStateTest, FreshEventsReportWhatIsValid)
{
    Vcpu &vcpu = create(Irqchip::Split);

    VcpuEvents expected {};
    expected.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW |
                     KVM_VCPUEVENT_VALID_SMM;
    EXPECT_EQ(must(vcpu.get_vcpu_events()), expected);
}

TEST_P(VcpuStateTest, BspStartsRunnableAndApUninitialised)
{
    Vcpu &bsp = create(Irqchip::Split);
    Vcpu &ap = *must(m_vm->add_vcpu(AP_ID));

    EXPECT_EQ(must(bsp.get_mp_state()), MpState::Runnable);
    EXPECT_EQ(must(ap.get_mp_state()), MpState::Uninitialized);
}

TEST_P(VcpuStateTest, FreshXsaveHasTheResetFpu)
{
    Vcpu &vcpu = create(Irqchip::Split);

    XsaveState xsave = must(vcpu.get_xsave());
    ASSERT_GE(xsave.region.size(), XsaveState::LEGACY_SIZE);
    EXPECT_EQ(xsave.fcw(), 0x037f);
    EXPECT_EQ(xsave.mxcsr(), 0x1f80U);
}

TEST_P(VcpuStateTest, MsrIndexListHasEveryMigratedMsr)
{
    std::vector<uint32_t> list = must(system().get_msr_index_list());

    for (uint32_t index : VCPU_STATE_MSRS) {
        EXPECT_NE(std::find(list.begin(), list.end(), index), list.end())
            << "MSR 0x" << std::hex << index;
    }
}

// --- Round trips and refusals ---------------------------------------------

TEST_P(VcpuStateTest, SregsRoundTripEveryField)
{
    Vcpu &vcpu = create(Irqchip::Split);
    Sregs sregs = must(vcpu.get_sregs());
    sregs.ds = Segment { .base = 0x12340, .limit = 0xfffff, .selector = 0x1234,
                         .type = 3, .g = 1, .avl = 1 };
    sregs.ss.base = 0x20000;
    sregs.ss.selector = 0x2000;
    sregs.tr = Segment { .base = 0x7000, .limit = 0x67, .selector = 0x28, .type = 11, .s = 0 };
    sregs.ldt = Segment { .base = 0x6000, .limit = 0x1f, .selector = 0x30, .type = 2, .s = 0 };
    sregs.gdt = DescriptorTable { .base = 0x5000, .limit = 0x3f };
    sregs.idt = DescriptorTable { .base = 0x4000, .limit = 0x7ff };
    sregs.cr2 = 0xdead000;
    sregs.cr3 = 0x9000;
    sregs.cr8 = 0x5;

    ASSERT_OK(vcpu.set_sregs(sregs));

    EXPECT_EQ(must(vcpu.get_sregs()), sregs);
}

TEST_P(VcpuStateTest, Cr8IsTheLapicTaskPriority)
{
    Vcpu &vcpu = create(Irqchip::Split);
    Sregs sregs = must(vcpu.get_sregs());
    sregs.cr8 = 0x9;

    ASSERT_OK(vcpu.set_sregs(sregs));

    EXPECT_EQ(must(vcpu.get_lapic()).reg(APIC_TASKPRI), 0x90U);
}

TEST_P(VcpuStateTest, InterruptBitmapBecomesTheInjectedInterrupt)
{
    constexpr uint8_t VECTOR = 0x41;
    Vcpu &vcpu = create(Irqchip::Split);
    Sregs sregs = must(vcpu.get_sregs());
    sregs.interrupt_bitmap[VECTOR / 64] = 1ULL << (VECTOR % 64);

    ASSERT_OK(vcpu.set_sregs(sregs));

    VcpuEvents events = must(vcpu.get_vcpu_events());
    EXPECT_EQ(events.interrupt.injected, 1);
    EXPECT_EQ(events.interrupt.nr, VECTOR);
    EXPECT_EQ(must(vcpu.get_sregs()).interrupt_bitmap, sregs.interrupt_bitmap);
}

TEST_P(VcpuStateTest, EventsRoundTrip)
{
    Vcpu &vcpu = create(Irqchip::Split);
    VcpuEvents events = must(vcpu.get_vcpu_events());
    events.nmi.pending = 1;
    events.nmi.masked = 1;
    events.interrupt.shadow = 2; // KVM_X86_SHADOW_INT_STI
    events.interrupt.injected = 1;
    events.interrupt.nr = 0x30;

    ASSERT_OK(vcpu.set_vcpu_events(events));

    EXPECT_EQ(must(vcpu.get_vcpu_events()), events);
}

TEST_P(VcpuStateTest, EventsWithUnknownFlagsAreRefused)
{
    Vcpu &vcpu = create(Irqchip::Split);
    VcpuEvents events = must(vcpu.get_vcpu_events());
    events.flags |= 0x80;

    EXPECT_EQ(errno_of(vcpu.set_vcpu_events(events)), EINVAL);
}

TEST_P(VcpuStateTest, InjectedNmiVectorExceptionIsRefused)
{
    Vcpu &vcpu = create(Irqchip::Split);
    VcpuEvents events = must(vcpu.get_vcpu_events());
    events.exception.injected = 1;
    events.exception.nr = 2;

    EXPECT_EQ(errno_of(vcpu.set_vcpu_events(events)), EINVAL);
}

TEST_P(VcpuStateTest, MpStateRoundTrip)
{
    Vcpu &vcpu = create(Irqchip::Split);

    for (MpState state : { MpState::Halted, MpState::InitReceived, MpState::Runnable }) {
        ASSERT_OK(vcpu.set_mp_state(state));
        EXPECT_EQ(must(vcpu.get_mp_state()), state);
    }
}

TEST_P(VcpuStateTest, SipiReceivedStartsTheApAtItsVector)
{
    constexpr uint32_t SIPI_VECTOR = 0x12;
    create(Irqchip::Split);
    Vcpu &ap = *must(m_vm->add_vcpu(AP_ID));
    VcpuEvents events = must(ap.get_vcpu_events());
    events.sipi_vector = SIPI_VECTOR;
    events.flags |= KVM_VCPUEVENT_VALID_SIPI_VECTOR;
    ASSERT_OK(ap.set_vcpu_events(events));

    ASSERT_OK(ap.set_mp_state(MpState::SipiReceived));

    EXPECT_EQ(must(ap.get_mp_state()), MpState::Runnable);
    Sregs sregs = must(ap.get_sregs());
    EXPECT_EQ(sregs.cs.selector, SIPI_VECTOR << 8);
    EXPECT_EQ(sregs.cs.base, uint64_t { SIPI_VECTOR } << 12);
    EXPECT_EQ(must(ap.get_regs()).rip, 0U);
}

TEST_P(VcpuStateTest, MpStateOtherThanRunnableNeedsTheLapic)
{
    Vcpu &vcpu = create(Irqchip::None);

    EXPECT_EQ(errno_of(vcpu.set_mp_state(MpState::Halted)), EINVAL);
    EXPECT_EQ(errno_of(vcpu.set_mp_state(MpState::Runnable)), 0);
}

TEST_P(VcpuStateTest, UnknownMpStateIsRefused)
{
    Vcpu &vcpu = create(Irqchip::Split);

    // KVM_MP_STATE_OPERATING: an s390 state.
    EXPECT_EQ(errno_of(vcpu.set_mp_state(static_cast<MpState>(7))), EINVAL);
}

TEST_P(VcpuStateTest, XsaveRoundTripKeepsFpuAndSseState)
{
    Vcpu &vcpu = create(Irqchip::Split);
    XsaveState xsave = must(vcpu.get_xsave());
    xsave.region[XSAVE_FCW] = 0x7f;
    xsave.region[XSAVE_FCW + 1] = 0x02;
    xsave.region[XSAVE_MXCSR] = 0xa0;
    for (size_t i = 0; i < 16; ++i) {
        xsave.region[XSAVE_XMM0 + i] = static_cast<uint8_t>(0x10 + i);
    }
    // Components whose XSTATE_BV bit is clear are in their init state.
    xsave.region[XSAVE_XSTATE_BV] |= XSTATE_X87 | XSTATE_SSE;

    ASSERT_OK(vcpu.set_xsave(xsave));

    XsaveState back = must(vcpu.get_xsave());
    EXPECT_EQ(back.fcw(), 0x027f);
    EXPECT_EQ(back.mxcsr(), 0x1fa0U);
    EXPECT_TRUE(std::equal(back.region.begin() + XSAVE_XMM0,
                           back.region.begin() + XSAVE_XMM0 + 16,
                           xsave.region.begin() + XSAVE_XMM0));
}

TEST_P(VcpuStateTest, XsaveComponentsNotInXstateBvReadAsInitState)
{
    Vcpu &vcpu = create(Irqchip::Split);
    XsaveState xsave = must(vcpu.get_xsave());
    xsave.region[XSAVE_FCW] = 0x7f;
    xsave.region[XSAVE_FCW + 1] = 0x02;
    xsave.region[XSAVE_XMM0] = 0x55;
    xsave.region[XSAVE_XSTATE_BV] = 0;

    ASSERT_OK(vcpu.set_xsave(xsave));

    XsaveState back = must(vcpu.get_xsave());
    EXPECT_EQ(back.fcw(), 0x037f);
    EXPECT_EQ(back.region[XSAVE_XMM0], 0);
}

TEST_P(VcpuStateTest, XsaveWithReservedMxcsrBitsIsRefused)
{
    Vcpu &vcpu = create(Irqchip::Split);
    XsaveState xsave = must(vcpu.get_xsave());
    xsave.region[XSAVE_MXCSR + 3] = 0x80;
    // MXCSR is only taken (and checked) with the SSE component present.
    xsave.region[XSAVE_XSTATE_BV] |= XSTATE_SSE;

    EXPECT_EQ(errno_of(vcpu.set_xsave(xsave)), EINVAL);
}

TEST_P(VcpuStateTest, MigratedMsrsRoundTrip)
{
    constexpr uint32_t MSR_IA32_TSC = 0x10;
    Vcpu &vcpu = create(Irqchip::Split);
    std::vector<MsrEntry> msrs;
    for (uint32_t index : VCPU_STATE_MSRS) {
        msrs.push_back(MsrEntry { .index = index, .data = 0x1000 + msrs.size() * 0x10 });
    }

    ASSERT_EQ(must(vcpu.set_msrs(msrs)), msrs.size());

    std::vector<MsrEntry> back = msrs;
    ASSERT_EQ(must(vcpu.get_msrs(back)), msrs.size());
    for (size_t i = 0; i < msrs.size(); ++i) {
        if (msrs[i].index == MSR_IA32_TSC) {
            // The host's TSC counts on from the value set.
            EXPECT_GE(back[i].data, msrs[i].data);
        } else {
            EXPECT_EQ(back[i].data, msrs[i].data) << "MSR 0x" << std::hex << msrs[i].index;
        }
    }
}

TEST_P(VcpuStateTest, SysenterEspIsCanonicalised)
{
    constexpr uint32_t MSR_IA32_SYSENTER_ESP = 0x175;
    Vcpu &vcpu = create(Irqchip::Split);
    std::array<MsrEntry, 1> msr { MsrEntry { MSR_IA32_SYSENTER_ESP, 0x0000800000000000 } };
    ASSERT_EQ(must(vcpu.set_msrs(msr)), 1U);

    ASSERT_EQ(must(vcpu.get_msrs(msr)), 1U);

    EXPECT_EQ(msr[0].data, 0xffff800000000000U);
}

TEST_P(VcpuStateTest, NonCanonicalLstarIsRefused)
{
    constexpr uint32_t MSR_LSTAR = 0xc0000082;
    Vcpu &vcpu = create(Irqchip::Split);
    std::array<MsrEntry, 1> msr { MsrEntry { MSR_LSTAR, 0x0000800000000000 } };

    EXPECT_EQ(must(vcpu.set_msrs(msr)), 0U);
}

INSTANTIATE_TEST_SUITE_P(Backends, VcpuStateTest, ::testing::ValuesIn(ALL_BACKENDS),
                         backend_param_name);

// --- The dirty log ---------------------------------------------------------

// Real mode at 0x1000: mov [0x3000], ax; mov [0x5000], ax; out 0x10, al;
// hlt; jmp hlt.  It writes one word into pages 3 and 5 and reports.
constexpr uint64_t WRITER_ENTRY = 0x1000;
constexpr uint16_t WRITER_PORT = 0x10;
constexpr uint8_t WRITER_CODE[] = { 0x89, 0x06, 0x00, 0x30, 0x89, 0x06, 0x00, 0x50,
                                    0xe6, 0x10, 0xf4, 0xeb, 0xfd };

class DirtyLog : public VcpuStateTest {
protected:
    void start_writer()
    {
        Vcpu &vcpu = create(Irqchip::Split);
        std::memcpy(m_vm->ram().data() + WRITER_ENTRY, WRITER_CODE, sizeof(WRITER_CODE));
        ASSERT_OK(enter_real_mode(vcpu, { .entry = WRITER_ENTRY }));
    }

    qapi::Result<void> log_pages(bool on)
    {
        return m_vm->vm().set_user_memory_region(hw::x86::BOOT_RAM_SLOT, 0, m_vm->ram(),
                                                 on ? KVM_MEM_LOG_DIRTY_PAGES : 0);
    }

    void run_to_report()
    {
        auto exit = m_vcpu->run();
        ASSERT_TRUE(exit.has_value()) << exit.error().message();
        const auto *io = std::get_if<ExitIo>(&exit.value());
        ASSERT_NE(io, nullptr) << describe_exit(exit.value());
        ASSERT_EQ(io->port, WRITER_PORT);
    }
};

TEST_P(DirtyLog, SlotWithoutLoggingHasNoLog)
{
    ASSERT_NO_FATAL_FAILURE(start_writer());

    EXPECT_EQ(errno_of(m_vm->vm().get_dirty_log(hw::x86::BOOT_RAM_SLOT)), ENOENT);
}

TEST_P(DirtyLog, GuestWritesMarkTheirPages)
{
    ASSERT_NO_FATAL_FAILURE(start_writer());
    ASSERT_OK(log_pages(true));

    ASSERT_NO_FATAL_FAILURE(run_to_report());

    DirtyBitmap dirty = must(m_vm->vm().get_dirty_log(hw::x86::BOOT_RAM_SLOT));
    EXPECT_EQ(dirty.words.size(), 1U); // 16 pages
    EXPECT_TRUE(dirty.test(3));
    EXPECT_TRUE(dirty.test(5));
    EXPECT_EQ(dirty.count(), 2U);
}

TEST_P(DirtyLog, ReadingTheLogClearsIt)
{
    ASSERT_NO_FATAL_FAILURE(start_writer());
    ASSERT_OK(log_pages(true));
    ASSERT_NO_FATAL_FAILURE(run_to_report());
    ASSERT_OK(m_vm->vm().get_dirty_log(hw::x86::BOOT_RAM_SLOT));

    EXPECT_EQ(must(m_vm->vm().get_dirty_log(hw::x86::BOOT_RAM_SLOT)).count(), 0U);
}

TEST_P(DirtyLog, TheVmmsOwnWritesAreNotLogged)
{
    ASSERT_NO_FATAL_FAILURE(start_writer());
    ASSERT_OK(log_pages(true));

    m_vm->ram()[0x7000] = std::byte { 1 };

    EXPECT_EQ(must(m_vm->vm().get_dirty_log(hw::x86::BOOT_RAM_SLOT)).count(), 0U);
}

TEST_P(DirtyLog, TurningLoggingOffDropsTheLog)
{
    ASSERT_NO_FATAL_FAILURE(start_writer());
    ASSERT_OK(log_pages(true));
    ASSERT_OK(log_pages(false));

    EXPECT_EQ(errno_of(m_vm->vm().get_dirty_log(hw::x86::BOOT_RAM_SLOT)), ENOENT);
}

INSTANTIATE_TEST_SUITE_P(Backends, DirtyLog, ::testing::ValuesIn(ALL_BACKENDS),
                         backend_param_name);

// --- A guest moved between backends ----------------------------------------

constexpr uint32_t PROBE_GSI = 10;
constexpr uint8_t PROBE_VECTOR = 0xa2;

/// eoi-probe on a split-irqchip VM: one vCPU in x2APIC mode, the level
/// route of PROBE_GSI.  `start` boots it; a destination only creates.
struct ProbeVm {
    OpenedBackend backend;
    std::unique_ptr<TestVm> vm;
    Vcpu *vcpu { nullptr };
};

void create_probe_vm(Backend which, ProbeVm &out, bool start)
{
    out.backend = open_backend(which);
    if (!out.backend.skip_reason.empty()) {
        GTEST_SKIP() << out.backend.skip_reason;
    }
    System &system = *out.backend.system;
    auto vm = TestVm::create(system, Irqchip::Split);
    ASSERT_TRUE(vm.has_value()) << vm.error().message();
    out.vm = vm.release_value();
    auto vcpu = out.vm->add_vcpu(BSP_ID);
    ASSERT_TRUE(vcpu.has_value()) << vcpu.error().message();
    out.vcpu = vcpu.value();
    ASSERT_OK(set_cpuid(system, *out.vcpu, true));
    const RoutingEntry route = level_msi_route(PROBE_GSI, BSP_ID, PROBE_VECTOR);
    ASSERT_OK(out.vm->vm().set_gsi_routing(std::span(&route, 1)));
    if (!start) {
        return;
    }
    const guest::GuestPayload &probe = guest::eoi_probe_payload();
    ASSERT_OK(out.vm->load(probe));
    ASSERT_OK(set_apic_base(*out.vcpu, true));
    // The guest software-enables its APIC (SVR 0x1ff) and handles PROBE_VECTOR.
    ASSERT_OK(enter_real_mode(*out.vcpu, RealModeStart { .entry = probe.entry_point,
                                                         .rax = APIC_SPIV_APIC_ENABLED | 0xff,
                                                         .rbx = PROBE_VECTOR }));
}

/// Injects the level pin once and runs until the next idle report.
void service_one_event(ProbeVm &vm, ProbeLog &log)
{
    ASSERT_OK(vm.vm->vm().irq_line(PROBE_GSI, true));
    ASSERT_OK(vm.vm->vm().irq_line(PROBE_GSI, false));
    auto ran = run_probe_until_idle(*vm.vcpu, log, log.idle_reports + 1);
    ASSERT_TRUE(ran.has_value()) << ran.error().message()
        << ": handler entries " << log.handler_entries << ", idle reports " << log.idle_reports
        << ", lvr " << log.lvr.value_or(0) << ", svr " << log.svr.value_or(0);
}

class MoveBetweenBackends
    : public ::testing::TestWithParam<std::tuple<Backend, Backend>> {};

TEST_P(MoveBetweenBackends, GuestCarriesOnWhereItStopped)
{
    auto [from, to] = GetParam();
    ProbeVm source;
    ASSERT_NO_FATAL_FAILURE(create_probe_vm(from, source, true));
    if (IsSkipped()) {
        return;
    }
    ProbeLog source_log;
    ASSERT_OK(run_probe_until_idle(*source.vcpu, source_log, 1));
    ASSERT_NO_FATAL_FAILURE(service_one_event(source, source_log));
    ASSERT_NO_FATAL_FAILURE(service_one_event(source, source_log));

    // Stop-and-copy: the vCPU's state and guest RAM.
    std::vector<uint32_t> msr_list = must(source.backend.system->get_msr_index_list());
    KvmVcpuState state = must(kvm_get_vcpu_state(*source.vcpu, msr_list));
    ProbeVm dest;
    ASSERT_NO_FATAL_FAILURE(create_probe_vm(to, dest, false));
    if (IsSkipped()) {
        return;
    }
    ASSERT_EQ(dest.vm->ram().size(), source.vm->ram().size());
    std::copy(source.vm->ram().begin(), source.vm->ram().end(), dest.vm->ram().begin());
    ASSERT_OK(kvm_put_vcpu_state(*dest.vcpu, state, true));

    // The destination reads back what was put (the TSC counts on).
    KvmVcpuState loaded = must(kvm_get_vcpu_state(*dest.vcpu, msr_list));
    EXPECT_EQ(loaded.regs, state.regs);
    EXPECT_EQ(loaded.sregs, state.sregs);
    EXPECT_EQ(loaded.lapic.reg(APIC_SPIV), state.lapic.reg(APIC_SPIV));
    EXPECT_EQ(loaded.mp_state, state.mp_state);

    // Two more events, on the destination and on the source: the guest's
    // count goes on from 2 on both, with the same exits.
    ProbeLog dest_log;
    ProbeLog continued_log;
    for (int i = 0; i < 2; ++i) {
        ASSERT_NO_FATAL_FAILURE(service_one_event(dest, dest_log));
        ASSERT_NO_FATAL_FAILURE(service_one_event(source, continued_log));
    }
    EXPECT_EQ(dest_log.idle_counts, (std::vector<uint32_t> { 3, 4 }));
    EXPECT_EQ(dest_log.idle_counts, continued_log.idle_counts);
    EXPECT_EQ(dest_log.handler_entries, 2);
    EXPECT_EQ(dest_log.lapic_eois, continued_log.lapic_eois);
    EXPECT_EQ(dest_log.eoi_exit_vectors, continued_log.eoi_exit_vectors);
}

std::string move_name(const ::testing::TestParamInfo<std::tuple<Backend, Backend>> &info)
{
    return backend_test_name(std::get<0>(info.param)) + "_to_" +
           backend_test_name(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(
    Backends, MoveBetweenBackends,
    ::testing::Values(std::tuple { Backend::Host, Backend::Model },
                      std::tuple { Backend::Model, Backend::Host },
                      std::tuple { Backend::Host, Backend::Host },
                      std::tuple { Backend::Model, Backend::Model },
                      std::tuple { Backend::Model, Backend::Model6_12 }),
    move_name);

} // namespace
} // namespace kvm_test
