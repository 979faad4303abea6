/*
 * The KVM conformance harness: opens each backend (the host's /dev/kvm and
 * the kernel model's profiles), builds small real-mode VMs over the backend
 * interface, and runs the guest payloads with every wait bounded.
 *
 * Everything here is set-up.  The behaviour under test and its assertion
 * stay in the test bodies.
 */
#pragma once

#include "accel/kvm/kvm-backend.h"
#include "hw/i386/guest-payloads.h"
#include "hw/i386/x86-boot.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace kvm_test {

using namespace accel::kvm;

/// The backends every conformance suite is instantiated over.
enum class Backend { Host, Model, Model6_12, Model6_1 };

inline constexpr Backend ALL_BACKENDS[] = {
    Backend::Host,
    Backend::Model,
    Backend::Model6_12,
    Backend::Model6_1,
};

/// "host", "model", "model-6.12", "model-6.1".
std::string_view backend_name(Backend backend);
/// backend_name() spelled as a GoogleTest parameter name ("model_6_12").
std::string backend_test_name(Backend backend);
void PrintTo(Backend backend, std::ostream *os);

/// What a kernel does, as far as the conformance tables need to know.
struct KernelTraits {
    /// KVM_X2APIC_{ENABLE,DISABLE}_SUPPRESS_EOI_BROADCAST exist (Linux 7.0,
    /// backported to 6.18.17): KVM_CAP_X2APIC_API answers 0xf, not 0x3.
    bool seoib_flags { true };
    /// The APIC map applies the hotplug hack (first xAPIC-ID alias wins)
    /// even without 32-bit IDs: kernels before "KVM: x86: Honor
    /// architectural behavior for aliased 8-bit APIC IDs".
    bool hotplug_hack_always { false };

    /// KVM_CHECK_EXTENSION(KVM_CAP_X2APIC_API) at system scope.
    uint64_t x2apic_api_caps() const { return seoib_flags ? 0xf : 0x3; }
    /// Whether KVM_ENABLE_CAP(KVM_CAP_X2APIC_API) knows every bit of `flags`.
    bool knows_x2apic_api_flags(uint64_t flags) const
    {
        return (flags & ~x2apic_api_caps()) == 0;
    }
};

/// The LVR KVM computes (kvm_apic_set_version): version 0x14, six LVT
/// entries, and bit 24 when Suppress EOI Broadcast is advertised.
inline constexpr uint32_t LVR_WITHOUT_SEOIB = 0x00050014;
inline constexpr uint32_t LVR_WITH_SEOIB =
    LVR_WITHOUT_SEOIB | APIC_LVR_DIRECTED_EOI;

/// GSIs 0..23 are the userspace IOAPIC's pins (KVM_CAP_SPLIT_IRQCHIP args[0]).
inline constexpr uint64_t SPLIT_IRQCHIP_PINS = 24;

/// An opened backend, or why it cannot be used here.
struct OpenedBackend {
    std::unique_ptr<System> system;
    KernelTraits traits;
    /// Non-empty when the backend is unavailable (no usable /dev/kvm).
    std::string skip_reason;
};

/// Opens `backend`.  Host runs are bounded by a watchdog, so a halted guest
/// comes back as ExitInterrupted as it does on the model.  A host that
/// cannot be opened gives a skip reason, not an error.
OpenedBackend open_backend(Backend backend);

/// A VcpuExit for a failure message ("out32 0x1ff to port 0xe1").
std::string describe_exit(const VcpuExit &exit);

/// The errno of a failed Result, 0 for a value: tables state "0 or EINVAL".
template <typename T>
int errno_of(const qapi::Result<T> &result)
{
    return result.has_value() ? 0 : result.error().os_errno();
}

/// Asserts that a Result holds a value, printing the error otherwise.
#define ASSERT_OK(expr)                                                        \
    do {                                                                       \
        auto _assert_ok_result = (expr);                                       \
        ASSERT_TRUE(_assert_ok_result.has_value())                             \
            << #expr ": " << _assert_ok_result.error().message();              \
    } while (0)

/// Interrupt controller set-up of a test VM.
enum class Irqchip { None, Split, Kernel };

/// A VM over any backend: irqchip mode, 64 KiB of RAM at GPA 0, vCPUs.
/// Members are ordered so vCPUs close before the VM and the VM before its
/// memory, as the interface requires.
class TestVm {
public:
    /// The least RAM every payload runs in; small, as a suite creates
    /// hundreds of these VMs.
    static constexpr size_t RAM_SIZE = hw::x86::PAYLOAD_RAM_MIN_SIZE;

    /// Creates the VM with `irqchip` and `ram_size` bytes of RAM at GPA 0
    /// (hw::x86::GuestRam); no vCPU yet.
    static qapi::Result<std::unique_ptr<TestVm>>
    create(System &system, Irqchip irqchip, size_t ram_size = RAM_SIZE);

    Vm &vm() { return *m_vm; }
    std::span<std::byte> ram() { return m_ram->bytes(); }

    /// KVM_CREATE_VCPU(id); the vCPU lives as long as this VM.
    qapi::Result<Vcpu *> add_vcpu(uint32_t id);

    /// Copies the payload's image to its load address.
    qapi::Result<void> load(const guest::GuestPayload &payload);

private:
    TestVm(System &system, std::unique_ptr<Vm> vm);

    System &m_system;
    std::unique_ptr<Vm> m_vm;
    std::unique_ptr<hw::x86::GuestRam> m_ram;
    std::vector<std::unique_ptr<Vcpu>> m_vcpus;
};

/// KVM_SET_CPUID2 with the supported CPUID, CPUID.1:ECX.x2APIC set or clear.
qapi::Result<void> set_cpuid(System &system, Vcpu &vcpu, bool x2apic);

/// hw::x86::set_apic_base() in x2APIC or xAPIC mode; a refused value is an
/// error.
qapi::Result<void> set_apic_base(Vcpu &vcpu, bool x2apic);

/// KVM_GET_LAPIC, change SPIV, KVM_SET_LAPIC.
qapi::Result<void> set_spiv(Vcpu &vcpu, uint32_t spiv);

/// hw::x86::set_entry_state() in real mode (unreal data segments, so
/// 0x67-prefixed accesses reach MMIO) at CS:IP 0:`entry`, SP = `stack_top`,
/// the parameter registers from `start`.
struct RealModeStart {
    uint64_t entry { 0 };
    uint64_t stack_top { hw::x86::BOOT_STACK_TOP };
    uint64_t rax { 0 }, rbx { 0 }, rcx { 0 }, rdx { 0 };
};
qapi::Result<void> enter_real_mode(Vcpu &vcpu, const RealModeStart &start);

/// A level-triggered, fixed, physical MSI route for a userspace IOAPIC pin.
RoutingEntry level_msi_route(uint32_t gsi, uint32_t dest_id, uint8_t vector);

/// An edge-triggered, fixed, physical-destination MSI.
MsiMessage fixed_msi(uint32_t dest_id, uint8_t vector);

/// What eoi-probe reported and which exits it caused.
struct ProbeLog {
    std::optional<uint32_t> lvr;
    std::optional<uint32_t> svr;
    int handler_entries { 0 };
    int lapic_eois { 0 };
    int ioapic_eois_reported { 0 };
    int idle_reports { 0 };
    /// What each idle report said: interrupts handled so far.
    std::vector<uint32_t> idle_counts;
    /// KVM_EXIT_IOAPIC_EOI exits and their vectors.
    std::vector<uint8_t> eoi_exit_vectors;
    /// 4-byte MMIO writes to the IOAPIC EOI register and their values.
    std::vector<uint64_t> ioapic_eoi_writes;
};

/// Runs eoi-probe until it has reported idle `idle_reports` times in total
/// and the vCPU then came back interrupted (halted with nothing to do).
/// Bounded by an exit count, never by time.  An exit eoi-probe never causes
/// (shutdown, internal error, unknown port or address) is an error.
qapi::Result<void> run_probe_until_idle(Vcpu &vcpu, ProbeLog &log,
                                        int idle_reports);

/// The backend of a suite's parameter: the parameter itself, or the first
/// element of a (backend, case) tuple.
inline Backend backend_of(Backend backend)
{
    return backend;
}
template <typename Case>
Backend backend_of(const std::tuple<Backend, Case> &param)
{
    return std::get<0>(param);
}

/// A suite parameterised over backends (Param = Backend) or over backends
/// and the rows of a table (Param = std::tuple<Backend, Case>).  SetUp opens
/// the backend or skips with the reason it is unavailable.
template <typename Param>
class BackendSuite : public ::testing::TestWithParam<Param> {
protected:
    void SetUp() override
    {
        m_backend = open_backend(backend_of(this->GetParam()));
        if (!m_backend.skip_reason.empty()) {
            GTEST_SKIP() << m_backend.skip_reason;
        }
    }

    System &system() { return *m_backend.system; }
    const KernelTraits &traits() const { return m_backend.traits; }

private:
    OpenedBackend m_backend;
};

using BackendTest = BackendSuite<Backend>;

/// Parameter names: "host", "model_6_12", or "host_QuirkedGuestSvr12" for a
/// table row (Case has a `name`).
inline std::string
backend_param_name(const ::testing::TestParamInfo<Backend> &info)
{
    return backend_test_name(info.param);
}
template <typename Case>
std::string backend_case_param_name(
    const ::testing::TestParamInfo<std::tuple<Backend, Case>> &info)
{
    return backend_test_name(std::get<0>(info.param)) + "_" +
           std::string(std::get<1>(info.param).name);
}

} // namespace kvm_test
