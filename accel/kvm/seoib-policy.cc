#include "accel/kvm/seoib-policy.h"

#include "accel/kvm/kvm-backend.h"

#include <fmt/format.h>

namespace accel::kvm {

namespace {

using qapi::OnOffSplit;
using qapi::SeoibPolicy;

// The kernels that have the two flags: Linux 7.0, backported to 6.18.17.
constexpr std::string_view KERNEL_REQUIREMENT =
    "Linux 7.0 or 6.18.17 and later";

qapi::Error missing_kernel_flag(SeoibPolicy policy, uint64_t flag,
                                uint64_t answer)
{
    return qapi::Error(
        fmt::format("seoib-policy={} needs {} from KVM, which this kernel "
                    "lacks (KVM_CAP_X2APIC_API reports 0x{:x}; the flag needs "
                    "{}); use seoib-policy=quirked to run on this kernel",
                    qapi::enum_name(policy), x2apic_api_flag_names(flag), answer,
                    KERNEL_REQUIREMENT),
        qapi::ErrorClass::KVMMissingCap);
}

/// The policy auto stands for, before asking the kernel.
SeoibPolicy resolve_auto(const SeoibPolicyInput &in)
{
    if (in.irqchip != OnOffSplit::Split || in.legacy_machine) {
        return SeoibPolicy::Quirked;
    }
    return in.ioapic_version >= 0x20 ? SeoibPolicy::Respected
                                     : SeoibPolicy::NotAdvertised;
}

} // namespace

qapi::Result<SeoibPolicyDecision>
seoib_policy_decide_incoming(const SeoibPolicyInput &destination,
                             std::optional<SeoibPolicy> source)
{
    const SeoibPolicy sent = source.value_or(SeoibPolicy::Quirked);
    const std::string_view sent_name = qapi::enum_name(sent);
    if (sent == SeoibPolicy::Auto) {
        // The stream carries the effective policy, which is never auto.
        return qapi::Error("the migration stream gives seoib-policy=auto, "
                           "which is not an effective policy");
    }
    if (destination.requested != SeoibPolicy::Auto && destination.requested != sent) {
        return qapi::Error(fmt::format(
            "the source runs its guest with seoib-policy={} but this VM has "
            "seoib-policy={}; start the destination with seoib-policy={} or "
            "auto",
            sent_name, qapi::enum_name(destination.requested), sent_name));
    }
    // What the source's policy needs here, said as what to change on the
    // destination: start-up's advice (choose another policy) would break
    // the guest the source is running.
    if (sent == SeoibPolicy::Respected && destination.irqchip != OnOffSplit::Split) {
        return qapi::Error(fmt::format(
            "the source's seoib-policy=respected requires kernel-irqchip=split "
            "(this VM has kernel-irqchip={}); start the destination with "
            "kernel-irqchip=split",
            qapi::enum_name(destination.irqchip)));
    }
    if (sent == SeoibPolicy::NotAdvertised && destination.irqchip == OnOffSplit::Off) {
        return qapi::Error("the source's seoib-policy=not-advertised requires an "
                           "in-kernel LAPIC; start the destination with "
                           "kernel-irqchip=split or on");
    }
    if (sent == SeoibPolicy::Respected && destination.ioapic_version < 0x20) {
        return qapi::Error(fmt::format(
            "the source's seoib-policy=respected needs an IOAPIC with an EOI "
            "register (version 0x20), but this VM's IOAPIC is version 0x{:02x} "
            "({}); start the destination with the source's IOAPIC version",
            destination.ioapic_version, destination.ioapic_version_source));
    }
    if (sent != SeoibPolicy::Quirked && destination.irqchip != OnOffSplit::Off) {
        const uint64_t flag = sent == SeoibPolicy::Respected
                                  ? KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST
                                  : KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST;
        if (!(destination.kernel_x2apic_api & flag)) {
            return qapi::Error(
                fmt::format("the source's seoib-policy={} needs {} from KVM, "
                            "which this kernel lacks (KVM_CAP_X2APIC_API "
                            "reports 0x{:x}; {} has it); migrate to a host "
                            "with such a kernel",
                            sent_name, x2apic_api_flag_names(flag),
                            destination.kernel_x2apic_api, KERNEL_REQUIREMENT),
                qapi::ErrorClass::KVMMissingCap);
        }
    }
    SeoibPolicyInput adopted = destination;
    adopted.requested = sent;
    adopted.explicit_request = true;
    auto decided = seoib_policy_decide(adopted);
    if (!decided) {
        return decided.release_error().prepend(
            "this destination cannot run the source's guest as the source does: ");
    }
    return decided;
}

bool x2apic_api_flags_reachable(uint64_t vm_flags, uint64_t needed)
{
    constexpr uint64_t seoib = KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST |
                               KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST;
    constexpr uint64_t sticky = KVM_X2APIC_API_USE_32BIT_IDS |
                                KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK;
    if ((vm_flags & sticky) & ~needed) {
        return false;
    }
    return !(vm_flags & seoib) || (needed & seoib);
}

qapi::Result<SnapshotLoadDecision>
seoib_policy_decide_snapshot_load(const SeoibPolicyInput &vm,
                                  std::optional<SeoibPolicy> snapshot, uint64_t vm_flags)
{
    const SeoibPolicy taken = snapshot.value_or(SeoibPolicy::Quirked);
    if (vm.requested != SeoibPolicy::Auto && vm.requested != taken) {
        return qapi::Error(fmt::format(
            "the snapshot's guest ran with seoib-policy={} but this VM has "
            "seoib-policy={}; loading it would change the APIC its guest sees: "
            "start seoib-vm with seoib-policy={} or auto to load it",
            qapi::enum_name(taken), qapi::enum_name(vm.requested), qapi::enum_name(taken)));
    }
    SnapshotLoadDecision out;
    out.decision = TRY(seoib_policy_decide_incoming(vm, snapshot));
    out.rebuild = !x2apic_api_flags_reachable(vm_flags, out.decision.flags);
    return out;
}

std::string x2apic_api_flag_names(uint64_t flags)
{
    static constexpr std::pair<uint64_t, std::string_view> names[] = {
        { KVM_X2APIC_API_USE_32BIT_IDS, "USE_32BIT_IDS" },
        { KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK, "DISABLE_BROADCAST_QUIRK" },
        { KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST,
          "ENABLE_SUPPRESS_EOI_BROADCAST" },
        { KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST,
          "DISABLE_SUPPRESS_EOI_BROADCAST" },
    };
    std::string out;
    for (const auto &[bit, name] : names) {
        if (flags & bit) {
            if (!out.empty()) {
                out += '|';
            }
            out += name;
        }
    }
    return out.empty() ? "none" : out;
}

qapi::Result<SeoibPolicyDecision> seoib_policy_decide(const SeoibPolicyInput &in)
{
    SeoibPolicyDecision d;
    const bool in_kernel_lapic = in.irqchip != OnOffSplit::Off;

    if (in.need_32bit_apic_ids) {
        // QEMU's x86_cpus_init() text for the same condition.
        constexpr uint64_t ids = KVM_X2APIC_API_USE_32BIT_IDS |
                                 KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK;
        if (!in_kernel_lapic || (in.kernel_x2apic_api & ids) != ids) {
            return qapi::Error("current -smp configuration requires kernel "
                               "irqchip and X2APIC API support.");
        }
        d.flags |= ids;
    }

    SeoibPolicy policy = in.requested;
    if (policy == SeoibPolicy::Auto) {
        policy = resolve_auto(in);
    }

    switch (policy) {
    case SeoibPolicy::Auto:
    case SeoibPolicy::Quirked:
        d.effective = SeoibPolicy::Quirked;
        return d;
    case SeoibPolicy::Respected:
        if (in.irqchip != OnOffSplit::Split) {
            return qapi::Error(fmt::format(
                "seoib-policy=respected requires kernel-irqchip=split: KVM "
                "honours directed EOI only with a userspace IOAPIC "
                "(kernel-irqchip is {})",
                qapi::enum_name(in.irqchip)));
        }
        if (in.ioapic_version < 0x20) {
            return qapi::Error(fmt::format(
                "seoib-policy=respected needs an IOAPIC with an EOI register "
                "(version 0x20), but the IOAPIC is version 0x{:02x} ({}); use "
                "seoib-policy=not-advertised or auto",
                in.ioapic_version, in.ioapic_version_source));
        }
        break;
    case SeoibPolicy::NotAdvertised:
        if (!in_kernel_lapic) {
            return qapi::Error(
                "seoib-policy=not-advertised requires an in-kernel LAPIC "
                "(kernel-irqchip=on or split)");
        }
        break;
    }

    const uint64_t flag = policy == SeoibPolicy::Respected
                              ? KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST
                              : KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST;
    if (!(in.kernel_x2apic_api & flag)) {
        if (in.requested != SeoibPolicy::Auto) {
            return missing_kernel_flag(policy, flag, in.kernel_x2apic_api);
        }
        d.warnings.push_back(fmt::format(
            "KVM lacks {} (KVM_CAP_X2APIC_API reports 0x{:x}; {} has it): "
            "seoib-policy=auto falls back to quirked, and the guest is told "
            "it may suppress EOI broadcasts that KVM still sends",
            x2apic_api_flag_names(flag), in.kernel_x2apic_api,
            KERNEL_REQUIREMENT));
        d.effective = SeoibPolicy::Quirked;
        return d;
    }
    d.effective = policy;
    d.flags |= flag;
    return d;
}

} // namespace accel::kvm
