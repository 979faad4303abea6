#include "accel/kvm/kvm-accel.h"

#include "accel/kvm/kvm-backend.h"
#include "accel/kvm/kvm-backend-linux.h"
#include "hw/core/machine.h"
#include "qom/context.h"
#include "qom/property.h"
#include "qom/type-registry.h"
#include "trace/trace-accel_kvm.h"

#include <fmt/format.h>

namespace accel::kvm {

qapi::Result<KernelChoice> KernelChoice::parse(std::string_view name)
{
    if (name == "auto") {
        return KernelChoice { Kind::Auto };
    }
    if (name == "host") {
        return KernelChoice { Kind::Host };
    }
    return KernelChoice { Kind::Model, TRY(parse_kernel_profile(name)) };
}

std::string_view KernelChoice::name() const
{
    switch (kind) {
    case Kind::Auto:
        return "auto";
    case Kind::Host:
        return "host";
    case Kind::Model:
        break;
    }
    return kernel_profile_name(profile);
}

void KVMAccel::class_init(AccelClass &ac)
{
    ac.accel_name = "kvm";
}

void KVMAccel::register_properties(qom::ObjectClass &oc)
{
    using qapi::OnOffSplit;
    oc.add_property(std::make_unique<qom::AccessorProperty<KVMAccel, OnOffSplit>>(
        "kernel-irqchip",
        [](const KVMAccel &s) {
            return s.initialized() ? s.m_irqchip
                                   : s.m_kernel_irqchip.value_or(OnOffSplit::On);
        },
        [](KVMAccel &s, OnOffSplit v) -> qapi::Result<void> {
            s.m_kernel_irqchip = v;
            return {};
        },
        "Configure KVM in-kernel irqchip (default: the machine's)"));
    oc.add_property(qom::make_property(
        qom::prop("device", &KVMAccel::m_device)
            .doc("Path to the device node to use (default: /dev/kvm)")));
    oc.add_property(std::make_unique<qom::AccessorProperty<KVMAccel, std::string>>(
        "kernel",
        [](const KVMAccel &s) { return std::string(s.m_kernel.name()); },
        [](KVMAccel &s, std::string v) -> qapi::Result<void> {
            s.m_kernel = TRY(KernelChoice::parse(v));
            return {};
        },
        "Which kernel: host (/dev/kvm), model or model-PROFILE (the kernel "
        "model), auto (host when /dev/kvm opens, else model)"));
    oc.find_property("kernel")->set_default_value(qapi::QObject("auto"));
    auto policy = std::make_unique<
        qom::AccessorProperty<KVMAccel, qapi::SeoibPolicy>>(
        "seoib-policy", [](const KVMAccel &s) { return s.m_seoib_policy; },
        [](KVMAccel &s, qapi::SeoibPolicy v) -> qapi::Result<void> {
            s.m_seoib_policy = v;
            s.m_seoib_policy_explicit = true;
            return {};
        },
        "x2APIC Suppress EOI Broadcast: auto, quirked, respected or "
        "not-advertised");
    policy->set_default_value(qapi::QObject("auto"));
    oc.add_property(std::move(policy));
    // Read-only results of the policy decision (machine init, cpus step).
    oc.add_property(std::make_unique<
                    qom::AccessorProperty<KVMAccel, qapi::SeoibPolicy>>(
        "seoib-effective-policy",
        [](const KVMAccel &s) {
            return s.m_seoib ? s.m_seoib->effective : qapi::SeoibPolicy::Auto;
        },
        nullptr,
        "The SEOIB policy in force (auto until the vCPUs are created)"));
    oc.add_property(std::make_unique<qom::AccessorProperty<KVMAccel, uint64_t>>(
        "x2apic-api-flags",
        [](const KVMAccel &s) -> uint64_t {
            return s.m_seoib ? s.m_seoib->flags : 0;
        },
        nullptr, "The KVM_CAP_X2APIC_API flags seoib enabled"));
    oc.add_property(std::make_unique<qom::AccessorProperty<KVMAccel, uint64_t>>(
        "kernel-x2apic-api",
        [](const KVMAccel &s) { return s.m_x2apic_api_vm; }, nullptr,
        "KVM_CHECK_EXTENSION(KVM_CAP_X2APIC_API) on the VM fd"));
    oc.add_property(qom::make_property(
        qom::prop("x-seoib-legacy", &KVMAccel::m_seoib_legacy)
            .default_value(false)
            .doc("Machine compat: seoib-policy=auto means quirked")));
}

KVMAccel::~KVMAccel()
{
    m_vcpus.clear();
    m_vm.reset();
}

qapi::Result<void> KVMAccel::open_backend()
{
    if (m_kernel.kind == KernelChoice::Kind::Model) {
        m_system = open_model_system(m_kernel.profile);
    } else {
        // Every KVM_RUN is bounded, so a guest halted forever (a lost
        // interrupt) comes back to the run loop as ExitInterrupted, as on
        // the model; the run loop bounds how often it retries.
        auto host = open_host_system(
            device(), HostOptions { .run_timeout = std::chrono::milliseconds(10) });
        if (host) {
            m_system = host.release_value();
            m_on_host = true;
        } else if (m_kernel.kind == KernelChoice::Kind::Host) {
            qapi::Error e = host.release_error();
            e.prepend("Could not access KVM kernel module: ");
            return e;
        } else {
            // kernel=auto: the model stands in, and says so once.
            context().info(fmt::format(
                "{}: {}; using the kernel model (kernel=model)", device(),
                host.error().message()));
            m_system = open_model_system(KernelProfile::Model);
        }
    }
    int version = TRY(m_system->api_version());
    if (version != 12) {
        return qapi::Error::format("kvm version {} is not supported", version);
    }
    m_x2apic_api_system = static_cast<uint64_t>(
        TRY(m_system->check_extension(Cap::X2apicApi)));
    m_vm = std::make_unique<ReplaceableVm>(TRY(m_system->create_vm()));
    return {};
}

void KVMAccel::set_fault_injector(std::shared_ptr<FaultInjector> injector)
{
    assert(m_system);
    m_system = std::make_unique<FaultInjectingSystem>(std::move(m_system), std::move(injector));
}

qapi::Result<uint64_t> KVMAccel::create_irqchip(Vm &vm) const
{
    switch (m_irqchip) {
    case qapi::OnOffSplit::Off:
        break;
    case qapi::OnOffSplit::On: {
        qapi::Result<void> r = vm.create_irqchip();
        trace_kvm_create_irqchip(r.has_value() ? 0 : r.error().os_errno());
        if (!r) {
            return r.release_error().prepend("Could not create the in-kernel "
                                             "irqchip: ");
        }
        break;
    }
    case qapi::OnOffSplit::Split: {
        if (TRY(vm.check_extension(Cap::SplitIrqchip)) <= 0) {
            return qapi::Error("Split IRQ chip mode not supported.");
        }
        // 24 reserved pins: GSIs 0-23 are the userspace IOAPIC's, and
        // their level MSI routes decide which EOIs exit (kvm-facts §2.4).
        qapi::Result<void> r =
            vm.enable_cap(Cap::SplitIrqchip, { 24, 0, 0, 0 });
        trace_kvm_enable_cap(static_cast<uint32_t>(Cap::SplitIrqchip), 24,
                             r.has_value() ? 0 : -r.error().os_errno());
        if (!r) {
            return r.release_error().prepend(
                "Could not enable split irqchip mode: ");
        }
        break;
    }
    }
    // Asked after split is enabled: before, the VM fd masks ENABLE.
    return static_cast<uint64_t>(TRY(vm.check_extension(Cap::X2apicApi)));
}

qapi::Result<void> KVMAccel::do_init_machine(hw::MachineState &machine)
{
    // QEMU's kvm_init resolves an unset kernel-irqchip to the machine's
    // default (split only on pc-q35-4.0 among the PC machines).
    m_irqchip = m_kernel_irqchip.value_or(
        machine.machine_class().default_kernel_irqchip_split
            ? qapi::OnOffSplit::Split
            : qapi::OnOffSplit::On);
    TRY(open_backend());
    m_x2apic_api_vm = TRY(create_irqchip(*m_vm));
    return {};
}

qapi::Result<void> KVMAccel::prepare_vcpus(const VcpuPlan &plan)
{
    assert(initialized() && !m_seoib && m_vcpus.empty());
    SeoibPolicyInput in;
    in.legacy_machine = m_seoib_legacy;
    in.requested = m_seoib_policy;
    in.explicit_request = m_seoib_policy_explicit;
    in.irqchip = m_irqchip;
    in.ioapic_version = plan.ioapic_version;
    in.ioapic_version_source = plan.ioapic_version_source;
    in.kernel_x2apic_api = m_x2apic_api_vm;
    in.need_32bit_apic_ids = plan.apic_id_limit > 255;
    m_policy_input = in;
    if (m_incoming) {
        // The source's policy decides (design §4.5); until the stream says
        // it, the VM is quirked and no flag is set, so any policy can still
        // be applied.  The 32-bit-ID flags do not depend on the policy.
        SeoibPolicyInput ids_only = in;
        ids_only.requested = qapi::SeoibPolicy::Quirked;
        SeoibPolicyDecision waiting = TRY(seoib_policy_decide(ids_only));
        TRY(enable_x2apic_api(*m_vm, waiting.flags));
        m_policy_pending = true;
        trace_kvm_seoib_policy(qapi::enum_name(m_seoib_policy).data(), "pending",
                               waiting.flags);
        m_supported_cpuid = TRY(m_system->get_supported_cpuid());
        m_seoib = std::move(waiting);
        return {};
    }
    SeoibPolicyDecision decision = TRY(seoib_policy_decide(in));
    for (const std::string &w : decision.warnings) {
        context().warn(w);
    }

    // The flags must be in place before KVM_SET_CPUID2: that is where KVM
    // computes the LVR the guest will read (kvm-facts §2.1).
    TRY(enable_x2apic_api(*m_vm, decision.flags));
    trace_kvm_seoib_policy(qapi::enum_name(m_seoib_policy).data(),
                           qapi::enum_name(decision.effective).data(),
                           decision.flags);
    m_supported_cpuid = TRY(m_system->get_supported_cpuid());
    m_seoib = std::move(decision);
    return {};
}

qapi::Result<void> KVMAccel::enable_x2apic_api(Vm &vm, uint64_t flags)
{
    if (flags == 0) {
        return {};
    }
    qapi::Result<void> r = vm.enable_cap(Cap::X2apicApi, { flags, 0, 0, 0 });
    trace_kvm_enable_cap(static_cast<uint32_t>(Cap::X2apicApi), flags,
                         r.has_value() ? 0 : -r.error().os_errno());
    if (!r) {
        return r.release_error().prepend(fmt::format(
            "Could not set the x2APIC API flags {}: ", x2apic_api_flag_names(flags)));
    }
    return {};
}

qapi::Result<void> KVMAccel::apply_incoming_policy(std::optional<qapi::SeoibPolicy> source)
{
    if (!m_policy_pending) {
        return qapi::Error("the SEOIB policy was decided at start-up; only a VM "
                           "started with -incoming takes the source's");
    }
    SeoibPolicyDecision decision = TRY(seoib_policy_decide_incoming(m_policy_input, source));
    TRY(enable_x2apic_api(*m_vm, decision.flags & ~m_seoib->flags));
    trace_kvm_seoib_policy(qapi::enum_name(m_seoib_policy).data(),
                           qapi::enum_name(decision.effective).data(), decision.flags);
    m_seoib = std::move(decision);
    m_policy_pending = false;
    m_incoming = false;
    return {};
}

qapi::Result<void> KVMAccel::load_into_running_vm(std::optional<qapi::SeoibPolicy> source,
                                                  std::span<const LoadedVcpu> vcpus)
{
    if (m_policy_pending) {
        return qapi::Error("the SEOIB policy of this VM is not decided yet");
    }
    const uint64_t vm_flags = m_seoib ? m_seoib->flags : 0;
    SnapshotLoadDecision d =
        TRY(seoib_policy_decide_snapshot_load(m_policy_input, source, vm_flags));
    if (vcpus.size() != m_vcpus.size()) {
        return qapi::Error::format("the stream has the state of {} vCPUs; this VM has {}",
                                   vcpus.size(), m_vcpus.size());
    }
    for (const LoadedVcpu &v : vcpus) {
        if (v.cpu == nullptr || v.state == nullptr || find_vcpu(*v.cpu) == nullptr) {
            return qapi::Error("a loaded vCPU state has no KVM vCPU of this VM");
        }
    }
    if (d.rebuild) {
        return rebuild_vm(d.decision, vcpus);
    }
    // The VM fd takes the flags: respected and not-advertised switch on it,
    // and a quirked VM leaves quirked (kvm-facts 1.4).  KVM_SET_LAPIC below
    // then recomputes each LVR from them.
    if (d.decision.flags != vm_flags) {
        TRY(enable_x2apic_api(*m_vm, d.decision.flags));
        trace_kvm_seoib_policy(qapi::enum_name(m_seoib_policy).data(),
                               qapi::enum_name(d.decision.effective).data(), d.decision.flags);
        m_seoib = d.decision;
    }
    for (const LoadedVcpu &v : vcpus) {
        auto put = put_vcpu_state(*v.cpu, *v.state);
        if (!put) {
            return put.release_error().prepend(fmt::format("CPU {}: ", v.cpu->cpu_index()));
        }
    }
    return {};
}

qapi::Result<void> KVMAccel::rebuild_vm(const SeoibPolicyDecision &decision,
                                        std::span<const LoadedVcpu> vcpus)
{
    auto failed = [](qapi::Error e) -> qapi::Error {
        return std::move(e).prepend("Could not build a new KVM VM for the snapshot's SEOIB policy "
                         "(the running VM is unchanged): ");
    };
    // The new VM and its vCPUs live here until they are swapped in; on any
    // error they are destroyed (vCPUs first) and nothing else changed.
    struct Fresh {
        std::unique_ptr<Vm> vm;
        std::vector<std::unique_ptr<Vcpu>> vcpus;
        std::vector<std::optional<uint32_t>> lvrs;
        ~Fresh() { vcpus.clear(); }
    } fresh;
    auto build = [&]() -> qapi::Result<uint64_t> {
        fresh.vm = TRY(m_system->create_vm());
        const uint64_t x2apic_api = TRY(create_irqchip(*fresh.vm));
        TRY(enable_x2apic_api(*fresh.vm, decision.flags));
        TRY(m_vm->copy_configuration_to(*fresh.vm));
        for (const auto &state : m_vcpus) {
            const hw::CPUState &cpu = *state->cpu();
            const auto *arch = dynamic_cast<const KVMArchCPU *>(&cpu);
            const KvmVcpuState *loaded = nullptr;
            for (const LoadedVcpu &v : vcpus) {
                loaded = v.cpu == &cpu ? v.state : loaded;
            }
            if (arch == nullptr || loaded == nullptr) {
                return qapi::Error::format("CPU {} has no loaded state", cpu.cpu_index());
            }
            std::unique_ptr<Vcpu> vcpu = TRY(fresh.vm->create_vcpu(state->vcpu->id()));
            TRY(vcpu->set_cpuid(arch->kvm_cpuid(m_supported_cpuid)));
            auto lvr = put_state(*vcpu, *loaded);
            if (!lvr) {
                return lvr.release_error().prepend(fmt::format("CPU {}: ", cpu.cpu_index()));
            }
            fresh.vcpus.push_back(std::move(vcpu));
            fresh.lvrs.push_back(lvr.value());
        }
        return x2apic_api;
    };
    qapi::Result<uint64_t> built = build();
    if (!built) {
        return failed(built.release_error());
    }

    // Every step succeeded: the swap cannot fail.  The old vCPU fds close
    // before the old VM fd, as the backends require.
    std::vector<std::unique_ptr<Vcpu>> old_vcpus;
    for (size_t i = 0; i < m_vcpus.size(); i++) {
        old_vcpus.push_back(m_vcpus[i]->vcpu->replace(std::move(fresh.vcpus[i])));
        m_vcpus[i]->lvr = fresh.lvrs[i];
        if (fresh.lvrs[i]) {
            trace_kvm_vcpu_lvr(m_vcpus[i]->cpu()->cpu_index(), *fresh.lvrs[i]);
        }
    }
    std::unique_ptr<Vm> old_vm = m_vm->replace(std::move(fresh.vm));
    old_vcpus.clear();
    old_vm.reset();
    m_x2apic_api_vm = built.value();
    m_seoib = decision;
    m_vm_rebuilds++;
    trace_kvm_vm_rebuilt(qapi::enum_name(decision.effective).data(), decision.flags,
                         static_cast<unsigned>(m_vcpus.size()));
    return {};
}

KVMCPUState *KVMAccel::find_vcpu(const hw::CPUState &cpu)
{
    for (const auto &state : m_vcpus) {
        if (state->cpu() == &cpu) {
            return state.get();
        }
    }
    return nullptr;
}

qapi::Result<KvmVcpuState> KVMAccel::get_vcpu_state(const hw::CPUState &cpu)
{
    KVMCPUState *state = find_vcpu(cpu);
    if (state == nullptr) {
        return qapi::Error::format("CPU {} has no KVM vCPU", cpu.cpu_index());
    }
    if (!m_msr_index_list) {
        m_msr_index_list = TRY(m_system->get_msr_index_list());
    }
    return kvm_get_vcpu_state(*state->vcpu, *m_msr_index_list);
}

qapi::Result<void> KVMAccel::put_vcpu_state(const hw::CPUState &cpu,
                                            const KvmVcpuState &vcpu_state)
{
    KVMCPUState *state = find_vcpu(cpu);
    if (state == nullptr) {
        return qapi::Error::format("CPU {} has no KVM vCPU", cpu.cpu_index());
    }
    state->lvr = TRY(put_state(*state->vcpu, vcpu_state));
    if (state->lvr) {
        trace_kvm_vcpu_lvr(cpu.cpu_index(), *state->lvr);
    }
    return {};
}

qapi::Result<std::optional<uint32_t>> KVMAccel::put_state(Vcpu &vcpu,
                                                          const KvmVcpuState &state) const
{
    const bool lapic = m_irqchip != qapi::OnOffSplit::Off;
    TRY(kvm_put_vcpu_state(vcpu, state, lapic));
    if (!lapic) {
        return std::optional<uint32_t>();
    }
    // KVM_SET_LAPIC recomputed the LVR from the flags now in force.
    return std::optional<uint32_t>(TRY(vcpu.get_lapic()).reg(APIC_LVR));
}

qapi::Result<hw::AccelCPUState *> KVMAccel::init_vcpu(hw::CPUState &cpu)
{
    if (!m_seoib) {
        return qapi::Error::format(
            "CPU {} cannot be created before the SEOIB policy is decided: "
            "KVM computes its LVR from the x2APIC API flags",
            cpu.cpu_index());
    }
    // The target half lives with the CPU model; see KVMArchCPU.
    const auto *arch = dynamic_cast<const KVMArchCPU *>(&cpu);
    if (!arch) {
        return qapi::Error::format("CPU type '{}' cannot run on KVM",
                                   cpu.qom_type());
    }
    const uint64_t arch_id = cpu.arch_id();
    if (arch_id > UINT32_MAX) {
        return qapi::Error::format("vCPU ID {} is out of range", arch_id);
    }
    trace_kvm_init_vcpu(cpu.cpu_index(), arch_id);
    auto state = std::make_unique<KVMCPUState>(cpu, *this);
    state->vcpu = std::make_unique<ReplaceableVcpu>(
        TRY(m_vm->create_vcpu(static_cast<uint32_t>(arch_id))));
    TRY(state->vcpu->set_cpuid(arch->kvm_cpuid(m_supported_cpuid)));
    // Without an in-kernel LAPIC there is no LVR to read (KVM_GET_LAPIC
    // fails with EINVAL).
    if (m_irqchip != qapi::OnOffSplit::Off) {
        LapicState lapic = TRY(state->vcpu->get_lapic());
        state->lvr = lapic.reg(APIC_LVR);
        trace_kvm_vcpu_lvr(cpu.cpu_index(), *state->lvr);
    }
    m_vcpus.push_back(std::move(state));
    return m_vcpus.back().get();
}

void KVMAccel::destroy_vcpu(hw::CPUState &cpu)
{
    std::erase_if(m_vcpus, [&](const std::unique_ptr<KVMCPUState> &s) {
        return s->cpu() == &cpu;
    });
}

const KVMCPUState *KVMAccel::vcpu_state(const hw::CPUState &cpu) const
{
    const hw::AccelCPUState *state = cpu.accel_state();
    if (!state || &state->owner() != static_cast<const hw::AccelCPUOps *>(this)) {
        return nullptr;
    }
    return static_cast<const KVMCPUState *>(state);
}

void kvm_accel_register_types(qom::TypeRegistry &registry)
{
    registry.add<KVMAccel>();
}

} // namespace accel::kvm
