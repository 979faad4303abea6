#include "hw/i386/pc.h"

#include "accel/kvm/kvm-accel.h"
#include "hw/i386/x86-cpu.h"
#include "hw/intc/ioapic.h"
#include "qom/context.h"
#include "qom/type-registry.h"
#include "trace/trace-hw_i386.h"

#include <fmt/format.h>

namespace hw::x86 {

// ---- the named init steps ----------------------------------------------------

qapi::Result<void> X86MachineState::init()
{
    TRY(resolve_irqchip());
    TRY(resolve_ioapic_version());
    TRY(init_cpus());
    qom::Object *bridge = TRY(create_host_bridge());
    TRY(ioapic_init_gsi(*bridge));
    return {};
}

qapi::Result<void> X86MachineState::resolve_irqchip()
{
    // Without an accelerator nothing is in the kernel: the userspace IOAPIC
    // serves, as under TCG.
    const auto *kvm = qom::dyn_cast<accel::kvm::KVMAccel>(accelerator());
    m_irqchip = kvm ? kvm->irqchip() : qapi::OnOffSplit::Off;
    return {};
}

qapi::Result<IOAPICPlan> X86MachineState::plan_ioapic(qom::Context &ctx,
                                                      qapi::OnOffSplit irqchip)
{
    if (irqchip == qapi::OnOffSplit::On) {
        // The in-kernel IOAPIC is what the guest sees; its stand-in has no
        // version property, so no global can change it.
        return IOAPICPlan { std::string(intc::TYPE_KVM_IOAPIC), 0x11,
                            "in-kernel IOAPIC (kernel-irqchip=on)" };
    }
    const qom::ObjectClass *klass = ctx.types().find_class(intc::TYPE_IOAPIC);
    assert(klass && "ioapic is registered");
    // The device's own creation path decides the value: class default,
    // accel compat, machine compat, sugar, then the user's -global, last
    // wins, each decoded by the version property's codec.
    qom::Resolved<uint8_t> r = TRY(
        ctx.globals().resolve(*klass, intc::IOAPIC_PROP_VERSION, true));
    qapi::Result<void> ok = intc::ioapic_check_version(r.value);
    if (!ok) {
        qapi::Error e = ok.release_error();
        // Name the -global that asked for it, as the command line would.
        if (r.source.slot == qom::GlobalSlot::User) {
            e.prepend(r.source.origin + ": ");
        }
        return e;
    }
    return IOAPICPlan { std::string(intc::TYPE_IOAPIC), r.value,
                        r.source.describe() };
}

qapi::Result<void> X86MachineState::resolve_ioapic_version()
{
    IOAPICPlan plan = TRY(plan_ioapic(context(), m_irqchip));
    trace_x86_ioapic_version_resolved(plan.version, plan.source.c_str());
    m_ioapic_plan = std::move(plan);
    return {};
}

uint32_t x86_apic_id_from_cpu_index(const CpuTopology &topo, unsigned index)
{
    // The topology is one machine_parse_smp_config() accepted: every level
    // at least 1 and their product at most the machine's max_cpus, so the
    // widths below add up to far less than 32 bits.
    // QEMU's x86_apicid_from_cpu_idx(): each level gets the bits its count
    // needs, so topologies that are not powers of two leave holes.
    auto bits = [](unsigned count) -> unsigned {
        return count <= 1 ? 0 : 32 - static_cast<unsigned>(__builtin_clz(count - 1));
    };
    const unsigned thread_bits = bits(topo.threads);
    const unsigned core_bits = bits(topo.cores);
    const unsigned die_bits = bits(topo.dies);
    const unsigned thread = index % topo.threads;
    const unsigned core = (index / topo.threads) % topo.cores;
    const unsigned die = (index / (topo.threads * topo.cores)) % topo.dies;
    const unsigned socket = index / (topo.threads * topo.cores * topo.dies);
    return (socket << (die_bits + core_bits + thread_bits)) |
           (die << (core_bits + thread_bits)) | (core << thread_bits) | thread;
}

qapi::Result<void> X86MachineState::init_cpus()
{
    const unsigned max = machine_class().max_cpus;
    if (smp().max_cpus > max) {
        return qapi::Error::format(
            "Invalid SMP CPUs {}. The max CPUs supported by machine '{}' is {}",
            smp().max_cpus, machine_class().machine_name, max);
    }
    // QEMU's x86_cpus_init(): the policy and the x2APIC API flags first,
    // since KVM computes each LVR when the vCPU's CPUID is set at realize.
    if (auto *kvm = qom::dyn_cast<accel::kvm::KVMAccel>(accelerator())) {
        TRY(kvm->prepare_vcpus({
            .ioapic_version = m_ioapic_plan->version,
            .ioapic_version_source = m_ioapic_plan->source,
            .apic_id_limit =
                x86_apic_id_from_cpu_index(smp(), smp().max_cpus - 1) + 1,
        }));
    }
    for (unsigned i = 0; i < smp().cpus; i++) {
        TRY(x86_cpu_new(i, x86_apic_id_from_cpu_index(smp(), i)));
    }
    return {};
}

qapi::Result<void> X86MachineState::x86_cpu_new(unsigned index,
                                                uint32_t apic_id)
{
    // QEMU's x86_cpu_new(): the machine's CPU type gets the globals at
    // creation, then the board's APIC ID, which no -global overrides.
    qom::Ref<X86CPU> cpu =
        TRY(context().new_object<X86CPU>(TYPE_QEMU64_X86_CPU));
    TRY(qom::property_set(*cpu, X86_CPU_PROP_APIC_ID, apic_id));
    cpu->set_cpu_index(static_cast<int>(index));
    cpu->set_accel_ops(qom::dyn_cast<accel::kvm::KVMAccel>(accelerator()));
    // qdev_realize() without a bus puts the device in /machine/unattached
    // before realizing it.
    TRY(unattached().add_child("device[*]", cpu));
    qapi::Result<void> realized = cpu->realize();
    if (!realized) {
        cpu->unparent();
        return realized.release_error();
    }
    m_cpus.push_back(std::move(cpu));
    return {};
}

qapi::Result<qom::Object *> X86MachineState::create_host_bridge()
{
    qom::Ref<qom::Object> bridge = TRY(context().new_object(host_bridge_type()));
    TRY(add_child(host_bridge_name(), bridge));
    auto &dev = qom::cast<qdev::DeviceState>(*bridge);
    TRY(dev.realize());
    return bridge.get();
}

qapi::Result<void> X86MachineState::ioapic_init_gsi(qom::Object &parent)
{
    const IOAPICPlan &plan = *m_ioapic_plan;
    qom::Ref<intc::IOAPICCommonState> ioapic =
        TRY(context().new_object<intc::IOAPICCommonState>(plan.type));
    auto *kvm = qom::dyn_cast<accel::kvm::KVMAccel>(accelerator());
    auto *userspace = qom::dyn_cast<intc::IOAPICState>(ioapic.get());
    if (kvm && userspace && m_irqchip == qapi::OnOffSplit::Split) {
        userspace->connect_kvm_split_irqchip(kvm->vm());
    }
    TRY(parent.add_child("ioapic", ioapic));
    qapi::Result<void> realized = ioapic->realize();
    if (!realized) {
        ioapic->unparent();
        return realized.release_error();
    }
    // Step 2 promised this version to the accelerator before any vCPU
    // existed; a difference would mean the early answer and object
    // creation took different paths.
    if (ioapic->version() != plan.version) {
        return qapi::Error::format(
            "IOAPIC version 0x{:x} differs from the version 0x{:x} resolved "
            "before the vCPUs were created",
            ioapic->version(), plan.version);
    }
    m_ioapic = ioapic.get();
    return {};
}

std::string_view PCMachineState::host_bridge_type() const
{
    return pc_class().family == PCFamily::Q35 ? TYPE_Q35_HOST_DEVICE
                                              : TYPE_I440FX_PCI_HOST_BRIDGE;
}

std::string_view PCMachineState::host_bridge_name() const
{
    return pc_class().family == PCFamily::Q35 ? "q35" : "i440fx";
}

// ---- host bridges ------------------------------------------------------------

namespace {

/// The PCI host bridges, as far as the machine and its compat tables need
/// them: a place in the tree (/machine/q35, /machine/i440fx) and the
/// properties compat entries set on them (QEMU's hw/pci-host/).
class PCIHostState : public qdev::SysBusDevice {
public:
    static constexpr std::string_view type_name = "pci-host-bridge";
    using Parent = qdev::SysBusDevice;
    using Class = qdev::DeviceClass;

    static void register_properties(qom::ObjectClass &oc)
    {
        oc.add_property(qom::make_property(
            qom::prop("x-config-reg-migration-enabled",
                      &PCIHostState::m_config_reg_migration)
                .default_value(true)
                .doc("compat: migrate the config address register (5.0 and "
                     "older machines: off)")));
    }

private:
    bool m_config_reg_migration {};
};

/// The 64-bit PCI hole fix both PC host bridges carry.
template <typename Self>
void add_pci_hole64_fix(qom::ObjectClass &oc, bool Self::*field)
{
    oc.add_property(qom::make_property(
        qom::prop("x-pci-hole64-fix", field)
            .default_value(true)
            .doc("compat: 64-bit PCI hole placement fix (2.10 and older "
                 "machines: off)")));
}

class Q35PCIHost : public PCIHostState {
public:
    static constexpr std::string_view type_name = TYPE_Q35_HOST_DEVICE;
    using Parent = PCIHostState;
    using Class = qdev::DeviceClass;
    static void class_init(qdev::DeviceClass &dc) { dc.desc = "Q35 host bridge"; }
    static void register_properties(qom::ObjectClass &oc)
    {
        add_pci_hole64_fix(oc, &Q35PCIHost::m_pci_hole64_fix);
    }

private:
    bool m_pci_hole64_fix {};
};

class I440FXState : public PCIHostState {
public:
    static constexpr std::string_view type_name = TYPE_I440FX_PCI_HOST_BRIDGE;
    using Parent = PCIHostState;
    using Class = qdev::DeviceClass;
    static void class_init(qdev::DeviceClass &dc)
    {
        dc.desc = "i440FX host bridge";
    }
    static void register_properties(qom::ObjectClass &oc)
    {
        add_pci_hole64_fix(oc, &I440FXState::m_pci_hole64_fix);
    }

private:
    bool m_pci_hole64_fix {};
};

/// QEMU's max_cpus per machine version (hw/i386/pc_q35.c, pc_piix.c).
unsigned pc_max_cpus(PCFamily family, MachineVersion v)
{
    if (family == PCFamily::I440FX) {
        return 255;
    }
    if (v <= MachineVersion { 8, 0 }) {
        return 288;
    }
    if (v <= MachineVersion { 8, 2 }) {
        return 1024;
    }
    return 4096;
}

} // namespace

void pc_register_types(qom::TypeRegistry &registry)
{
    registry.add<X86MachineState>({ .abstract = true });
    registry.add<PCMachineState>({ .abstract = true });

    registry.add<PCIHostState>({ .abstract = true });
    registry.add<Q35PCIHost>();
    registry.add<I440FXState>();

    for (const PCMachineDefinition &def : pc_machine_definitions()) {
        registry.add<PCMachineState>({
            .name = def.type_name,
            .parent = TYPE_PC_MACHINE,
            .class_init = [def](PCMachineClass &mc) {
                mc.machine_name = std::string(def.name);
                mc.desc = std::string(def.desc);
                mc.alias = std::string(def.alias);
                mc.is_default = def.is_default;
                mc.default_kernel_irqchip_split =
                    def.default_kernel_irqchip_split;
                mc.family = def.family;
                mc.version = def.version;
                mc.max_cpus = pc_max_cpus(def.family, def.version);
                // pc_machine_class_init and pc_compat_6_1's machine options.
                mc.smp_props.dies_supported = true;
                mc.smp_props.prefer_sockets =
                    def.version <= MachineVersion { 6, 1 };
                mc.deprecation_reason = std::string(
                    machine_version_deprecation_reason(def.version));
                mc.compat_props =
                    pc_machine_compat_props(def.family, def.version);
                mc.compat_origins =
                    pc_machine_compat_origins(def.family, def.version);
            },
        });
    }
}

} // namespace hw::x86
