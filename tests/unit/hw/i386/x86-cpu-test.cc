/*
 * vCPUs as QOM devices: QEMU's types and paths, the APIC IDs the board
 * gives them, -global on the CPU type, and the accelerator initialising
 * each one only after the SEOIB policy is decided.
 *
 * Expected values were measured on QEMU 7.2 (qemu-system-x86_64 -M q35
 * -accel kvm -nodefaults -S, qom-list / qom-get over QMP).  QEMU 7.2 also
 * puts a kvmvapic at /machine/unattached/device[1] when the first CPU's
 * APIC is realized, so its second CPU is device[2]; seoib models no
 * kvmvapic and its CPU N is device[N].
 */
#include "hw/i386/x86-cpu.h"

#include "accel/kvm/kvm-accel.h"
#include "accel/kvm/kvm-backend.h"
#include "hw/core/machine.h"
#include "hw/i386/pc.h"
#include "qom/context.h"
#include "system/builtin-types.h"
#include "system/vl.h"
#include "system/vm.h"
#include "trace/control.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

namespace {

using hw::x86::X86CPU;

std::shared_ptr<const qom::TypeRegistry> builtin()
{
    static std::shared_ptr<const qom::TypeRegistry> types =
        sysemu::builtin_type_registry();
    return types;
}

std::unique_ptr<sysemu::Vm> build(std::vector<std::string> args)
{
    std::vector<std::string_view> views(args.begin(), args.end());
    auto cl = sysemu::parse_command_line(views);
    if (!cl) {
        ADD_FAILURE() << cl.error().message();
        return nullptr;
    }
    auto vm = sysemu::build_vm(cl.value(), builtin());
    if (!vm) {
        ADD_FAILURE() << vm.error().message();
        return nullptr;
    }
    return std::move(vm.value());
}

/// -accel kvm on the kernel model with split irqchip, plus `more`.
std::unique_ptr<sysemu::Vm> build_model(std::vector<std::string> more = {})
{
    std::vector<std::string> args = { "-M", "q35", "-accel",
                                      "kvm,kernel=model,kernel-irqchip=split" };
    args.insert(args.end(), more.begin(), more.end());
    return build(args);
}

const X86CPU &cpu_at(const sysemu::Vm &vm, const std::string &path)
{
    return *MUST(vm.context().resolve<X86CPU>(path));
}

std::vector<uint32_t> apic_ids(const sysemu::Vm &vm)
{
    std::vector<uint32_t> ids;
    for (const auto &cpu :
         qom::cast<hw::x86::X86MachineState>(vm.machine()).cpus()) {
        ids.push_back(MUST(qom::property_get(*cpu, hw::x86::X86_CPU_PROP_APIC_ID)));
    }
    return ids;
}

bool host_kvm_available()
{
    int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    ::close(fd);
    return true;
}

// ---- types and paths -------------------------------------------------------

TEST(X86CPUTypes, Qemu64IsAnX86_64CpuUnderCpuUnderDevice)
{
    const qom::ObjectClass *qemu64 =
        builtin()->find_class(hw::x86::TYPE_QEMU64_X86_CPU);
    ASSERT_NE(qemu64, nullptr);
    // QEMU 7.2's qom-list-types: qemu64-x86_64-cpu -> x86_64-cpu (abstract)
    // -> cpu (abstract) -> device.
    EXPECT_FALSE(qemu64->is_abstract());
    EXPECT_EQ(qemu64->parent()->name(), "x86_64-cpu");
    EXPECT_TRUE(qemu64->parent()->is_abstract());
    EXPECT_EQ(qemu64->parent()->parent()->name(), "cpu");
    EXPECT_TRUE(qemu64->parent()->parent()->is_abstract());
    EXPECT_EQ(qemu64->parent()->parent()->parent()->name(), "device");
}

TEST(X86CPUTree, FirstCpuIsUnattachedDevice0OfTypeQemu64)
{
    auto vm = build_model();
    ASSERT_TRUE(vm);

    const X86CPU &cpu = cpu_at(*vm, "/machine/unattached/device[0]");

    EXPECT_EQ(cpu.qom_type(), "qemu64-x86_64-cpu");
    EXPECT_TRUE(cpu.realized());
    EXPECT_EQ(cpu.cpu_index(), 0);
}

TEST(X86CPUTree, EveryCpuIsAnUnattachedDeviceInIndexOrder)
{
    auto vm = build_model({ "-smp", "3" });
    ASSERT_TRUE(vm);

    const X86CPU &third = cpu_at(*vm, "/machine/unattached/device[2]");

    EXPECT_EQ(third.qom_type(), "qemu64-x86_64-cpu");
    EXPECT_EQ(third.cpu_index(), 2);
}

TEST(X86CPUTree, CpuWithoutAnInKernelLapicHasAVcpuButNoLvr)
{
    auto vm = build({ "-M", "pc", "-accel",
                      "kvm,kernel=model,kernel-irqchip=off" });
    ASSERT_TRUE(vm);

    const X86CPU &cpu = cpu_at(*vm, "/machine/unattached/device[0]");

    const auto &kvm = qom::cast<accel::kvm::KVMAccel>(vm->accel());
    ASSERT_NE(kvm.vcpu_state(cpu), nullptr);
    // No in-kernel LAPIC: no LVR to read.
    EXPECT_FALSE(kvm.vcpu_state(cpu)->lvr.has_value());
}

TEST(X86CPUTree, QomGetReadsQemusPropertyNamesAndTypes)
{
    auto vm = build_model();
    ASSERT_TRUE(vm);
    const X86CPU &cpu = cpu_at(*vm, "/machine/unattached/device[0]");

    // As QEMU 7.2 answers qom-get on /machine/unattached/device[0].
    EXPECT_EQ(MUST(cpu.get_property("apic-id")), qapi::QObject(0));
    EXPECT_EQ(MUST(cpu.get_property("x2apic")), qapi::QObject(true));
    EXPECT_EQ(MUST(cpu.get_property("type")),
              qapi::QObject("qemu64-x86_64-cpu"));
    EXPECT_EQ(MUST(cpu.get_property("model-id")),
              qapi::QObject("QEMU Virtual CPU version 2.5+"));
    EXPECT_EQ(cpu.find_property("apic-id")->type(), "uint32");
}

TEST(X86CPUTree, CpuMinusTscDeadlineClearsTheCpuidBit)
{
    auto vm = build_model({ "-cpu", "qemu64,-tsc-deadline" });
    ASSERT_TRUE(vm);
    const X86CPU &cpu = cpu_at(*vm, "/machine/unattached/device[0]");
    // CPUID.1:ECX with TSC-deadline (bit 24) and x2APIC (bit 21) supported.
    const std::vector<accel::kvm::CpuidEntry> supported {
        { .function = 1, .ecx = (1U << 24) | (1U << 21) }
    };

    auto cpuid = cpu.kvm_cpuid(supported);

    EXPECT_EQ(cpuid.front().ecx, 1U << 21);
}

TEST(X86CPUTree, TscDeadlineStaysAsKvmSupportsIt)
{
    auto vm = build_model({ "-cpu", "qemu64,+x2apic,+tsc-deadline" });
    ASSERT_TRUE(vm);
    const X86CPU &cpu = cpu_at(*vm, "/machine/unattached/device[0]");
    const std::vector<accel::kvm::CpuidEntry> supported {
        { .function = 1, .ecx = 1U << 24 }
    };

    auto cpuid = cpu.kvm_cpuid(supported);

    EXPECT_EQ(cpuid.front().ecx, (1U << 24) | (1U << 21));
}

// ---- APIC IDs per topology (QEMU 7.2's qom-get apic-id, CPU by CPU) --------

TEST(X86CPUApicId, TwoSocketsOfTwoCoresAreDense)
{
    auto vm = build_model({ "-smp", "4,sockets=2,cores=2" });
    ASSERT_TRUE(vm);
    EXPECT_EQ(apic_ids(*vm), (std::vector<uint32_t> { 0, 1, 2, 3 }));
}

TEST(X86CPUApicId, ThreeCoresPerSocketLeaveAHoleBeforeTheNextSocket)
{
    // Three cores need two bits of core ID, so socket 1 starts at 4.
    auto vm = build_model({ "-smp", "6,sockets=2,cores=3" });
    ASSERT_TRUE(vm);
    EXPECT_EQ(apic_ids(*vm), (std::vector<uint32_t> { 0, 1, 2, 4, 5, 6 }));
}

TEST(X86CPUApicId, ThreadsAreTheLowBits)
{
    auto vm = build_model({ "-smp", "4,sockets=1,cores=2,threads=2" });
    ASSERT_TRUE(vm);
    EXPECT_EQ(apic_ids(*vm), (std::vector<uint32_t> { 0, 1, 2, 3 }));
}

TEST(X86CPUApicId, EachVcpuIsCreatedWithItsCpusApicId)
{
    auto vm = build_model({ "-smp", "6,sockets=2,cores=3" });
    ASSERT_TRUE(vm);
    const auto &kvm = qom::cast<accel::kvm::KVMAccel>(vm->accel());

    const X86CPU &last = cpu_at(*vm, "/machine/unattached/device[5]");

    ASSERT_NE(kvm.vcpu_state(last), nullptr);
    EXPECT_EQ(kvm.vcpu_state(last)->vcpu->id(), 6U);
}

// ---- -global on the CPU type ------------------------------------------------

TEST(X86CPUGlobal, X2apicOffReachesTheCpu)
{
    auto vm = build_model({ "-global", "qemu64-x86_64-cpu.x2apic=off" });
    ASSERT_TRUE(vm);
    EXPECT_FALSE(cpu_at(*vm, "/machine/unattached/device[0]").x2apic());
}

TEST(X86CPUGlobal, X2apicOffOnTheAbstractParentReachesTheCpu)
{
    // QEMU 7.2: -global x86_64-cpu.x2apic=off and cpu.x2apic=off both apply.
    auto vm = build_model({ "-global", "x86_64-cpu.x2apic=off" });
    ASSERT_TRUE(vm);
    EXPECT_FALSE(cpu_at(*vm, "/machine/unattached/device[0]").x2apic());
}

TEST(X86CPUGlobal, X2apicOffKeepsThePolicyButKvmStopsAdvertising)
{
    // The policy is the VM's (the x2APIC API flags are per VM), so it is
    // decided as without the global; KVM sets LVR bit 24 only for a guest
    // with x2APIC in CPUID (kvm-facts §2.1), so this CPU does not see it.
    auto vm = build_model({ "-global", "qemu64-x86_64-cpu.x2apic=off" });
    ASSERT_TRUE(vm);
    const auto &kvm = qom::cast<accel::kvm::KVMAccel>(vm->accel());
    const X86CPU &cpu = cpu_at(*vm, "/machine/unattached/device[0]");

    EXPECT_EQ(kvm.seoib()->effective, qapi::SeoibPolicy::Respected);
    EXPECT_EQ(*kvm.vcpu_state(cpu)->lvr & accel::kvm::APIC_LVR_DIRECTED_EOI,
              0U);
}

TEST(X86CPUGlobal, X2apicOnByDefaultGetsTheAdvertisedLvr)
{
    auto vm = build_model();
    ASSERT_TRUE(vm);
    const auto &kvm = qom::cast<accel::kvm::KVMAccel>(vm->accel());
    const X86CPU &cpu = cpu_at(*vm, "/machine/unattached/device[0]");

    EXPECT_NE(*kvm.vcpu_state(cpu)->lvr & accel::kvm::APIC_LVR_DIRECTED_EOI,
              0U);
}

TEST(X86CPUGlobal, ApicIdGlobalIsOverriddenByTheBoard)
{
    // QEMU 7.2: x86_cpu_new() sets apic-id after the globals applied, so
    // -global qemu64-x86_64-cpu.apic-id=5 leaves CPU 0 at APIC ID 0.
    auto vm = build_model({ "-global", "qemu64-x86_64-cpu.apic-id=5" });
    ASSERT_TRUE(vm);
    EXPECT_EQ(cpu_at(*vm, "/machine/unattached/device[0]").apic_id(), 0U);
}

TEST(X86CPUGlobal, BadX2apicValueFailsWithQemusText)
{
    std::vector<std::string> args = { "-M", "q35", "-accel",
                                      "kvm,kernel=model,kernel-irqchip=split",
                                      "-global",
                                      "qemu64-x86_64-cpu.x2apic=bogus" };
    std::vector<std::string_view> views(args.begin(), args.end());
    auto cl = MUST(sysemu::parse_command_line(views));

    auto vm = sysemu::build_vm(cl, builtin());

    ASSERT_FALSE(vm.has_value());
    EXPECT_NE(vm.error().message().find(
                  "Parameter 'x2apic' expects 'on' or 'off'"),
              std::string::npos)
        << vm.error().message();
}

// ---- creation order, on both backends ---------------------------------------

class CpuCreationOrder : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override
    {
        if (GetParam() == "host" && !host_kvm_available()) {
            GTEST_SKIP() << "/dev/kvm is not available";
        }
    }
    std::string accel_options() const
    {
        return "kvm,kernel-irqchip=split,kernel=" + GetParam();
    }
    /// A q35 machine and an initialised kvm-accel (split irqchip) whose
    /// policy is not decided yet: no board, no CPUs.
    qom::Ref<accel::kvm::KVMAccel> init_accel()
    {
        m_machine = MUST(
            hw::create_machine(m_ctx, *hw::find_machine(m_ctx.types(), "q35")));
        auto kvm = MUST(m_ctx.new_object<accel::kvm::KVMAccel>());
        MUST(kvm->parse_property("kernel", GetParam()));
        MUST(kvm->parse_property("kernel-irqchip", "split"));
        MUST(kvm->init_machine(*m_machine));
        return kvm;
    }
    qom::Ref<X86CPU> new_cpu(uint32_t apic_id, accel::kvm::KVMAccel &kvm)
    {
        auto cpu = MUST(m_ctx.new_object<X86CPU>(hw::x86::TYPE_QEMU64_X86_CPU));
        MUST(qom::property_set(*cpu, hw::x86::X86_CPU_PROP_APIC_ID, apic_id));
        cpu->set_accel_ops(&kvm);
        return cpu;
    }

    qom::Context m_ctx { builtin() };
    qom::Ref<hw::MachineState> m_machine;
};

TEST_P(CpuCreationOrder, X2apicApiFlagsAreSetBeforeTheFirstVcpu)
{
    std::vector<std::string> lines;
    trace::Sink previous = trace::set_sink(
        [&](std::string_view line) { lines.emplace_back(line); });
    trace::enable_events("kvm_enable_cap");
    trace::enable_events("kvm_init_vcpu");

    auto vm = build({ "-M", "q35", "-accel", accel_options(), "-smp", "2" });

    trace::enable_events("kvm_enable_cap", false);
    trace::enable_events("kvm_init_vcpu", false);
    trace::set_sink(std::move(previous));
    ASSERT_TRUE(vm);
    // KVM_CAP_X2APIC_API is 129.
    auto flags = std::find_if(lines.begin(), lines.end(), [](const auto &l) {
        return l.find(":kvm_enable_cap cap 129 ") != std::string::npos;
    });
    auto first_vcpu = std::find_if(lines.begin(), lines.end(), [](const auto &l) {
        return l.find(":kvm_init_vcpu ") != std::string::npos;
    });
    ASSERT_NE(flags, lines.end());
    ASSERT_NE(first_vcpu, lines.end());
    EXPECT_LT(flags - lines.begin(), first_vcpu - lines.begin());
}

TEST_P(CpuCreationOrder, CpuRealizedBeforeThePolicyIsRefused)
{
    auto kvm = init_accel();
    auto cpu = new_cpu(0, *kvm);

    auto realized = cpu->realize();

    ASSERT_FALSE(realized.has_value());
    EXPECT_NE(realized.error().message().find("before the SEOIB policy"),
              std::string::npos)
        << realized.error().message();
    EXPECT_FALSE(cpu->realized());
    EXPECT_EQ(cpu->accel_state(), nullptr);
}

TEST_P(CpuCreationOrder, CpuRealizedAfterThePolicyOwnsItsVcpu)
{
    auto kvm = init_accel();
    MUST(kvm->prepare_vcpus({ .ioapic_version = 0x20 }));
    auto cpu = new_cpu(3, *kvm);

    MUST(cpu->realize());

    ASSERT_NE(kvm->vcpu_state(*cpu), nullptr);
    EXPECT_EQ(kvm->vcpu_state(*cpu)->vcpu->id(), 3U);
    EXPECT_NE(*kvm->vcpu_state(*cpu)->lvr & accel::kvm::APIC_LVR_DIRECTED_EOI,
              0U);
}

TEST_P(CpuCreationOrder, UnrealizeReleasesTheVcpu)
{
    auto kvm = init_accel();
    MUST(kvm->prepare_vcpus({}));
    auto cpu = new_cpu(0, *kvm);
    MUST(cpu->realize());

    cpu->unrealize();

    EXPECT_EQ(cpu->accel_state(), nullptr);
    EXPECT_EQ(kvm->vcpu_state(*cpu), nullptr);
}

INSTANTIATE_TEST_SUITE_P(Backends, CpuCreationOrder,
                         ::testing::Values("model", "host"),
                         [](const auto &info) { return info.param; });

} // namespace
