/*
 * The kvm accelerator object, "kvm-accel" (QEMU's KVMState).
 *
 * Properties, as QEMU names them where QEMU has them:
 *   kernel-irqchip  on|off|split; unset means the machine's default
 *   device          the KVM device node (default /dev/kvm)
 * and seoib's own:
 *   kernel          auto|host|model|model-PROFILE: the real kernel or the
 *                   kernel model (accel/kvm/kernel-model/)
 *   seoib-policy    auto|quirked|respected|not-advertised
 *   x-seoib-legacy  set by machine compat for machines <= 10.2, so that
 *                   seoib-policy=auto means quirked there
 * All are frozen once the accelerator is initialised.
 */
#pragma once

#include "accel/accel.h"
#include "accel/kvm/kvm-backend.h"
#include "accel/kvm/kvm-forwarding.h"
#include "accel/kvm/kvm-vcpu-state.h"
#include "accel/kvm/seoib-policy.h"
#include "hw/core/cpu.h"
#include "qapi/qapi-types.h"

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace accel::kvm {

inline constexpr std::string_view TYPE_KVM_ACCEL = "kvm-accel";

/// kernel=auto|host|model|model-PROFILE, parsed once where the property is
/// set.
struct KernelChoice {
    enum class Kind {
        Auto,  // the host's /dev/kvm when it opens, else the model
        Host,  // the host's /dev/kvm or an error
        Model, // the kernel model with `profile`
    };
    Kind kind { Kind::Auto };
    KernelProfile profile { KernelProfile::Model };

    static qapi::Result<KernelChoice> parse(std::string_view name);
    std::string_view name() const;
};

/// The target half of kvm_init_vcpu() (QEMU's kvm_arch_init_vcpu() in
/// target/i386/kvm/kvm.c): a CPU model that runs on KVM says which CPUID
/// its vCPU gets.  CPU models sit above the accelerator (hw/i386), so they
/// implement this; the accelerator finds it on the hw::CPUState it
/// initialises.
class KVMArchCPU {
public:
    /// The CPUID entries for KVM_SET_CPUID2, from what KVM supports
    /// (KVM_GET_SUPPORTED_CPUID) and the model's own features and IDs.
    virtual std::vector<CpuidEntry>
    kvm_cpuid(std::vector<CpuidEntry> supported) const = 0;

protected:
    ~KVMArchCPU() = default;
};

/// What the accelerator keeps per vCPU (QEMU's AccelCPUState for KVM).
class KVMCPUState final : public hw::AccelCPUState {
public:
    using hw::AccelCPUState::AccelCPUState;

    /// The vCPU fd, created with the CPU's arch ID; a snapshot load that
    /// builds a new KVM VM puts that VM's vCPU behind the same handle.
    std::unique_ptr<ReplaceableVcpu> vcpu;
    /// What KVM_GET_LAPIC read back after CPUID was set; none without an
    /// in-kernel LAPIC.
    std::optional<uint32_t> lvr;
};

class KVMAccel : public AccelState, public hw::AccelCPUOps {
public:
    static constexpr std::string_view type_name = TYPE_KVM_ACCEL;
    using Parent = AccelState;
    using Class = AccelClass;

    static void class_init(AccelClass &ac);
    static void register_properties(qom::ObjectClass &oc);

    /// The kernel-irqchip the user asked for, if any.
    std::optional<qapi::OnOffSplit> requested_irqchip() const
    {
        return m_kernel_irqchip;
    }
    /// The irqchip mode in force: the request, else the machine's default.
    /// Valid after init_machine().
    qapi::OnOffSplit irqchip() const { return m_irqchip; }
    qapi::SeoibPolicy seoib_policy() const { return m_seoib_policy; }
    /// Whether anyone set seoib-policy (else it is the default, auto).
    bool seoib_policy_explicit() const { return m_seoib_policy_explicit; }
    bool seoib_legacy() const { return m_seoib_legacy; }
    KernelChoice kernel() const { return m_kernel; }
    std::string device() const
    {
        return m_device.empty() ? std::string("/dev/kvm") : m_device;
    }

    // ---- after init_machine() -------------------------------------------

    /// The backend in use: "host" or a model profile ("model-6.12").
    std::string_view backend_name() const { return m_system->name(); }
    bool on_host() const { return m_on_host; }
    System &system() const { return *m_system; }
    Vm &vm() const { return *m_vm; }
    /// KVM_CHECK_EXTENSION(KVM_CAP_X2APIC_API) on the system fd and on the
    /// VM fd after the irqchip was set up.
    uint64_t kernel_x2apic_api_system() const { return m_x2apic_api_system; }
    uint64_t kernel_x2apic_api() const { return m_x2apic_api_vm; }

    /// What the machine knows before its first vCPU exists.
    struct VcpuPlan {
        /// The IOAPIC version the guest will see, resolved before realize.
        uint8_t ioapic_version { 0x20 };
        std::string ioapic_version_source;
        /// The highest APIC ID any possible vCPU (up to maxcpus) gets, + 1.
        uint32_t apic_id_limit { 1 };
    };

    /// QEMU's x86_cpus_init() on KVM, before its CPU loop (where the SEOIB
    /// RFC sets the flags): decides the SEOIB policy and sets the x2APIC
    /// API flags.  Must run once, before the first init_vcpu(): KVM
    /// computes the LVR when a vCPU's CPUID is set.
    qapi::Result<void> prepare_vcpus(const VcpuPlan &plan);

    const std::optional<SeoibPolicyDecision> &seoib() const { return m_seoib; }

    // ---- incoming migration (design §4.5) --------------------------------

    /// The VM will be loaded from a stream (-incoming, -loadvm): before
    /// init_machine().  prepare_vcpus() then decides nothing and sets no
    /// flag; the policy waits for apply_incoming_policy().
    void set_incoming() { m_incoming = true; }
    /// Whether the policy still waits for the stream.
    bool policy_pending() const { return m_policy_pending; }
    /// The stream said what the source ran with (its x86-seoib-state, or
    /// none: quirked): decide (seoib_policy_decide_incoming) and set the
    /// flags.  Must come before any vCPU state is put, since KVM_SET_LAPIC
    /// recomputes the LVR from the flags.  On error nothing was set.
    qapi::Result<void> apply_incoming_policy(std::optional<qapi::SeoibPolicy> source);
    /// A vCPU's state as a stream brought it.
    struct LoadedVcpu {
        const hw::CPUState *cpu { nullptr };
        const KvmVcpuState *state { nullptr };
    };
    /// A snapshot loaded into this running VM (loadvm): adopts its policy
    /// (`source`, nullopt for quirked; seoib_policy_decide_snapshot_load)
    /// and puts each vCPU's state.  Where the KVM VM fd can take the
    /// snapshot's flags they are set on it; where it cannot (a quirked
    /// snapshot on a VM whose SEOIB flag is set) a fresh KVM VM is built --
    /// irqchip, the snapshot's flags, the memory slots and GSI routes the
    /// VM has, every vCPU with its CPUID and loaded state -- and swapped in
    /// behind the handles everyone holds only once every step succeeded;
    /// then the old VM's fds are closed.  On a refusal or any failure of
    /// the new VM the running KVM VM is untouched.
    qapi::Result<void> load_into_running_vm(std::optional<qapi::SeoibPolicy> source,
                                            std::span<const LoadedVcpu> vcpus);
    /// How many times a snapshot load built a new KVM VM.
    unsigned vm_rebuilds() const { return m_vm_rebuilds; }

    /// From now on the system fd's calls, and those of every KVM VM and
    /// vCPU created afterwards (a rebuild's), go through `injector`; the
    /// VM that exists already does not.  For fault-injection tests.
    void set_fault_injector(std::shared_ptr<FaultInjector> injector);

    /// QEMU's cpu_synchronize_state() for a save: the vCPU's whole KVM
    /// state.
    qapi::Result<KvmVcpuState> get_vcpu_state(const hw::CPUState &cpu);
    /// QEMU's cpu_synchronize_post_init() after a load: writes `state`
    /// into the vCPU and reads back the LVR KVM recomputed.
    qapi::Result<void> put_vcpu_state(const hw::CPUState &cpu, const KvmVcpuState &state);

    /// QEMU's kvm_init_vcpu(), at the CPU's realize: KVM_CREATE_VCPU with
    /// the CPU's arch ID, KVM_SET_CPUID2 with what the CPU model asks for
    /// (KVMArchCPU), then KVM_GET_LAPIC to read the LVR KVM computed.
    /// Fails before prepare_vcpus() and for CPUs that are no KVMArchCPU.
    qapi::Result<hw::AccelCPUState *> init_vcpu(hw::CPUState &cpu) override;
    void destroy_vcpu(hw::CPUState &cpu) override;

    /// The KVM side of a CPU this accelerator initialised, else nullptr.
    const KVMCPUState *vcpu_state(const hw::CPUState &cpu) const;

    ~KVMAccel() override;

protected:
    qapi::Result<void> do_init_machine(hw::MachineState &machine) override;

private:
    qapi::Result<void> open_backend();
    /// KVM_ENABLE_CAP(KVM_CAP_X2APIC_API, flags) on `vm`; nothing for 0.
    static qapi::Result<void> enable_x2apic_api(Vm &vm, uint64_t flags);
    KVMCPUState *find_vcpu(const hw::CPUState &cpu);
    /// The irqchip mode on a new VM fd; returns what
    /// KVM_CHECK_EXTENSION(KVM_CAP_X2APIC_API) answers on it afterwards.
    qapi::Result<uint64_t> create_irqchip(Vm &vm) const;
    /// Writes a vCPU's whole state; returns the LVR KVM recomputed (none
    /// without an in-kernel LAPIC).
    qapi::Result<std::optional<uint32_t>> put_state(Vcpu &vcpu, const KvmVcpuState &state) const;
    /// load_into_running_vm() onto a fresh KVM VM.
    qapi::Result<void> rebuild_vm(const SeoibPolicyDecision &decision,
                                  std::span<const LoadedVcpu> vcpus);

    std::optional<qapi::OnOffSplit> m_kernel_irqchip;
    qapi::OnOffSplit m_irqchip { qapi::OnOffSplit::On };
    std::string m_device;
    KernelChoice m_kernel;
    qapi::SeoibPolicy m_seoib_policy { qapi::SeoibPolicy::Auto };
    bool m_seoib_policy_explicit { false };
    bool m_seoib_legacy { false };

    std::unique_ptr<System> m_system;
    std::unique_ptr<ReplaceableVm> m_vm;
    unsigned m_vm_rebuilds { 0 };
    bool m_on_host { false };
    uint64_t m_x2apic_api_system { 0 };
    uint64_t m_x2apic_api_vm { 0 };
    std::optional<SeoibPolicyDecision> m_seoib;
    bool m_incoming { false };
    bool m_policy_pending { false };
    /// What prepare_vcpus() knew, for the incoming decision.
    SeoibPolicyInput m_policy_input;
    std::optional<std::vector<uint32_t>> m_msr_index_list;
    /// KVM_GET_SUPPORTED_CPUID, asked once by prepare_vcpus().
    std::vector<CpuidEntry> m_supported_cpuid;
    // Vcpus must go before the Vm that created them (kvm-backend.h), so the
    // accelerator owns them rather than the CPU devices.
    std::vector<std::unique_ptr<KVMCPUState>> m_vcpus;
};

void kvm_accel_register_types(qom::TypeRegistry &registry);

} // namespace accel::kvm
