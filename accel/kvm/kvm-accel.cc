#include "accel/kvm/kvm-accel.h"

#include "accel/kvm/kvm-backend.h"
#include "hw/core/machine.h"
#include "qom/property.h"
#include "qom/type-registry.h"

namespace accel::kvm {

namespace {
/// kernel=auto|host|model|model-PROFILE.
qapi::Result<void> check_kernel_choice(std::string_view kernel)
{
    if (kernel == "auto" || kernel == "host") {
        return {};
    }
    return parse_kernel_profile(kernel).transform([](KernelProfile) {
        return true;
    }).and_then([](bool) -> qapi::Result<void> { return {}; });
}
} // namespace

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
        "kernel", [](const KVMAccel &s) { return s.m_kernel; },
        [](KVMAccel &s, std::string v) -> qapi::Result<void> {
            TRY(check_kernel_choice(v));
            s.m_kernel = std::move(v);
            return {};
        },
        "Which kernel: host (/dev/kvm), model or model-PROFILE (the kernel "
        "model), auto (host when /dev/kvm opens, else model)"));
    oc.find_property("kernel")->set_default_value(qapi::QObject("auto"));
    oc.add_property(qom::make_property(
        qom::prop("seoib-policy", &KVMAccel::m_seoib_policy)
            .default_value(qapi::SeoibPolicy::Auto)
            .doc("x2APIC Suppress EOI Broadcast: auto, quirked, respected or "
                 "not-advertised")));
    oc.add_property(qom::make_property(
        qom::prop("x-seoib-legacy", &KVMAccel::m_seoib_legacy)
            .default_value(false)
            .doc("Machine compat: seoib-policy=auto means quirked")));
}

qapi::Result<void> KVMAccel::do_init_machine(hw::MachineState &machine)
{
    // QEMU's kvm_init resolves an unset kernel-irqchip to the machine's
    // default (split only on pc-q35-4.0 among the PC machines).
    m_irqchip = m_kernel_irqchip.value_or(
        machine.machine_class().default_kernel_irqchip_split
            ? qapi::OnOffSplit::Split
            : qapi::OnOffSplit::On);
    return {};
}

void kvm_accel_register_types(qom::TypeRegistry &registry)
{
    registry.add<KVMAccel>();
}

} // namespace accel::kvm
