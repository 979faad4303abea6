#include "hw/i386/x86-cpu.h"

#include "qom/type-registry.h"

namespace hw::x86 {

/// A boolean a machine compat table sets on x86_64-cpu: carried so that
/// old machine types apply, qom-get and -global reach it, with QEMU's
/// name and default; seoib builds no CPUID from it.
struct X86CPU::CompatFlag {
    std::string_view name;
    bool default_value;
    std::string_view since; // the compat table that sets it
};

const std::array<X86CPU::CompatFlag, 16> X86CPU::compat_flags { {
    { "tcg-cpuid", true, "pc_compat_2_8" },
    { "vmware-cpuid-freq", true, "pc_compat_2_8" },
    { "x-migrate-smi-count", true, "pc_compat_2_11" },
    { "legacy-cache", true, "pc_compat_2_12" },
    { "topoext", false, "pc_compat_2_12" },
    { "x-hv-synic-kvm-only", false, "pc_compat_3_0" },
    { "x-intel-pt-auto-level", true, "pc_compat_3_1" },
    { "kvm-msi-ext-dest-id", false, "pc_compat_5_1" },
    { "x-vendor-cpuid-only", true, "pc_compat_6_0" },
    { "legacy-multi-node", false, "pc_compat_9_0" },
    { "x-amd-topoext-features-only", true, "pc_compat_9_0" },
    { "x-l1-cache-per-thread", true, "pc_compat_9_0" },
    { "x-consistent-cache", true, "pc_compat_10_0" },
    { "x-vendor-cpuid-only-v2", true, "pc_compat_10_0" },
    { "x-arch-cap-always-on", false, "pc_compat_10_0" },
    { "x-pdcm-on-even-without-pmu", false, "pc_compat_10_0" },
} };

X86CPU::X86CPU()
{
    for (size_t i = 0; i < compat_flags.size(); i++) {
        m_compat_flag_values[i] = compat_flags[i].default_value;
    }
}

void X86CPU::register_properties(qom::ObjectClass &oc)
{
    oc.add_property(qom::make_property(
        qom::prop(std::string(X86_CPU_PROP_APIC_ID.name), &X86CPU::m_apic_id)
            .default_value(UNASSIGNED_APIC_ID)
            .doc("The APIC ID; the board assigns it from the CPU index")));
    oc.add_property(qom::make_property(
        qom::prop(std::string(X86_CPU_PROP_X2APIC.name), &X86CPU::m_x2apic)
            .default_value(true)
            .doc("CPUID.1:ECX.x2APIC; KVM advertises Suppress EOI Broadcast "
                 "only to x2APIC guests")));
    oc.add_property(qom::make_property(
        qom::prop("tsc-deadline", &X86CPU::m_tsc_deadline)
            .default_value(true)
            .doc("CPUID.1:ECX.TSC-deadline, where KVM supports it "
                 "(kvm-unit-tests' apic asks for +tsc-deadline)")));
    // The CPU model's identity.  qemu64 is the only model, so its values
    // are the defaults (QEMU's x86_cpu_load_model() sets them per model).
    oc.add_property(qom::make_property(
        qom::prop("model-id", &X86CPU::m_model_id)
            .default_value("QEMU Virtual CPU version 2.5+")
            .doc("CPUID model string")));
    oc.add_property(qom::make_property(
        qom::prop("family", &X86CPU::m_family).default_value(15).doc(
            "CPUID family (pc_compat_6_0 sets qemu64's to 6)")));
    oc.add_property(qom::make_property(
        qom::prop("model", &X86CPU::m_model).default_value(107).doc(
            "CPUID model (pc_compat_6_0 sets qemu64's to 6)")));
    oc.add_property(qom::make_property(
        qom::prop("stepping", &X86CPU::m_stepping).default_value(1).doc(
            "CPUID stepping (pc_compat_6_0 sets qemu64's to 3)")));
    // Carried for the compat tables, not acted on.
    oc.add_property(qom::make_property(
        qom::prop("guest-phys-bits", &X86CPU::m_guest_phys_bits)
            .default_value(UINT32_MAX)
            .doc("compat (pc_compat_9_0); not acted on")));
    oc.add_property(qom::make_property(
        qom::prop("hv-version-id-build", &X86CPU::m_hv_version_id_build)
            .default_value(0x3839)
            .doc("compat (pc_compat_6_1); not acted on")));
    oc.add_property(qom::make_property(
        qom::prop("hv-version-id-major", &X86CPU::m_hv_version_id_major)
            .default_value(0x000A)
            .doc("compat (pc_compat_6_1); not acted on")));
    oc.add_property(qom::make_property(
        qom::prop("hv-version-id-minor", &X86CPU::m_hv_version_id_minor)
            .default_value(0x0000)
            .doc("compat (pc_compat_6_1); not acted on")));
    oc.add_property(qom::make_property(
        qom::prop("x-hv-max-vps", &X86CPU::m_hv_max_vps)
            .default_value(-1)
            .doc("compat (pc_compat_2_10); not acted on")));
    for (size_t i = 0; i < compat_flags.size(); i++) {
        const CompatFlag &flag = compat_flags[i];
        auto p = std::make_unique<qom::AccessorProperty<X86CPU, bool>>(
            std::string(flag.name),
            [i](const X86CPU &cpu) { return cpu.m_compat_flag_values[i]; },
            [i](X86CPU &cpu, bool on) -> qapi::Result<void> {
                cpu.m_compat_flag_values[i] = on;
                return {};
            },
            "compat (" + std::string(flag.since) + "); not acted on");
        p->set_default_value(qapi::QObject(flag.default_value));
        oc.add_property(std::move(p));
    }
}

namespace {
// CPUID.1:ECX bit 24 (SDM Vol. 2A, CPUID).
constexpr uint32_t CPUID_EXT_TSC_DEADLINE_TIMER = 1U << 24;
} // namespace

std::vector<accel::kvm::CpuidEntry>
X86CPU::kvm_cpuid(std::vector<accel::kvm::CpuidEntry> supported) const
{
    for (accel::kvm::CpuidEntry &e : supported) {
        if (e.function == 1) {
            e.ecx = m_x2apic ? e.ecx | accel::kvm::CPUID_EXT_X2APIC
                             : e.ecx & ~accel::kvm::CPUID_EXT_X2APIC;
            // Only cleared: the bit stays what KVM supports otherwise.
            if (!m_tsc_deadline) {
                e.ecx &= ~CPUID_EXT_TSC_DEADLINE_TIMER;
            }
            // The initial APIC ID, as QEMU's cpu_x86_cpuid() reports it.
            e.ebx = (e.ebx & 0x00ffffff) | (m_apic_id << 24);
        } else if (e.function == 0xb || e.function == 0x1f) {
            // The x2APIC ID of the topology leaves.
            e.edx = m_apic_id;
        }
    }
    return supported;
}

qapi::Result<void> X86CPU::do_realize()
{
    if (m_apic_id == UNASSIGNED_APIC_ID) {
        return qapi::Error("apic-id property was not initialized properly");
    }
    return CPUState::do_realize();
}

void x86_cpu_register_types(qom::TypeRegistry &registry)
{
    registry.add<X86CPU>({ .abstract = true });
    registry.add<X86CPU>({
        .name = TYPE_QEMU64_X86_CPU,
        .parent = TYPE_X86_CPU,
        .class_init = [](qdev::DeviceClass &dc) {
            dc.desc = "QEMU Virtual CPU version 2.5+";
        },
    });
}

} // namespace hw::x86
