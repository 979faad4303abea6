/*
 * The SEOIB policy engine: which x2APIC API flags a VM needs.
 *
 * A pure function of what is known after split irqchip is enabled and
 * before any vCPU exists (design §4.4):
 *
 *   kernel-irqchip  policy                result
 *   off             auto, quirked         nothing to do (no in-kernel LAPIC)
 *   off             respected, n-a        error: needs an in-kernel LAPIC
 *   on              auto, quirked         no flag (in-kernel IOAPIC: never
 *                                         advertised)
 *   on              not-advertised        DISABLE (accepted, no visible change)
 *   on              respected             error: KVM allows it only with split
 *   split           quirked               no flag
 *   split           auto, legacy machine  no flag (quirked)
 *   split           auto                  IOAPIC 0x20 -> respected (ENABLE),
 *                                         0x11 -> not-advertised (DISABLE)
 *   split           respected             ENABLE; error with an IOAPIC 0x11
 *   split           not-advertised        DISABLE
 *
 * A kernel whose KVM_CHECK_EXTENSION(KVM_CAP_X2APIC_API) on the VM fd lacks
 * the needed bit: an explicit respected/not-advertised is an error naming
 * the kernel requirement and seoib-policy=quirked; auto falls back to
 * quirked with a warning.  More than 255 APIC IDs add USE_32BIT_IDS and
 * DISABLE_BROADCAST_QUIRK, as QEMU sets them.
 */
#pragma once

#include "qapi/qapi-types.h"
#include "qapi/result.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace accel::kvm {

struct SeoibPolicyInput {
    /// kvm-accel.x-seoib-legacy (machine compat for machines <= 10.2).
    bool legacy_machine { false };
    qapi::SeoibPolicy requested { qapi::SeoibPolicy::Auto };
    /// Whether the user set seoib-policy (reported; auto behaves the same
    /// whether explicit or defaulted).
    bool explicit_request { false };
    qapi::OnOffSplit irqchip { qapi::OnOffSplit::On };
    /// The IOAPIC version resolved before realize (0x11 for the in-kernel
    /// IOAPIC).
    uint8_t ioapic_version { 0x20 };
    /// Where that version came from, for error texts ("-global ...").
    std::string ioapic_version_source;
    /// KVM_CHECK_EXTENSION(KVM_CAP_X2APIC_API) on the VM fd, after split
    /// irqchip was enabled.
    uint64_t kernel_x2apic_api { 0 };
    /// The machine needs APIC IDs above 255.
    bool need_32bit_apic_ids { false };
};

struct SeoibPolicyDecision {
    /// Never auto.
    qapi::SeoibPolicy effective { qapi::SeoibPolicy::Quirked };
    /// The x2APIC API flags to enable; 0 means no KVM_ENABLE_CAP at all.
    uint64_t flags { 0 };
    std::vector<std::string> warnings;
};

qapi::Result<SeoibPolicyDecision>
seoib_policy_decide(const SeoibPolicyInput &in);

/*
 * The policy of an incoming VM (migration or -loadvm; design §4.5), once
 * the stream has said what the source ran with: its x86-seoib-state
 * section, or none, which means quirked.
 *
 *   destination seoib-policy   result
 *   auto                       the source's policy
 *   the source's policy        the source's policy
 *   any other                  error naming both
 *
 * The source's policy must then hold on this destination: a kernel without
 * the flag it needs, an IOAPIC 0x11 receiving respected, or an irqchip that
 * cannot honour it is an error saying what to change.  Quirked holds
 * everywhere, so a quirked source migrates to any kernel.  `destination`
 * is the same input seoib_policy_decide() takes at start-up.
 */
qapi::Result<SeoibPolicyDecision>
seoib_policy_decide_incoming(const SeoibPolicyInput &destination,
                             std::optional<qapi::SeoibPolicy> source);

/*
 * Runtime snapshot load (loadvm, snapshot-load; design §4.5): whether a
 * running KVM VM whose x2APIC API flags are `vm_flags` can be switched to
 * `needed` on its own VM fd.  KVM's SEOIB mode leaves quirked for good but
 * toggles between respected and not-advertised, and USE_32BIT_IDS and
 * DISABLE_BROADCAST_QUIRK never clear (kvm-facts §1): so a VM with a SEOIB
 * flag set cannot go back to quirked, and one with bits 0-1 cannot lose
 * them.  False means a fresh KVM VM must be built for the snapshot.
 */
bool x2apic_api_flags_reachable(uint64_t vm_flags, uint64_t needed);

/// What a runtime snapshot load does with the snapshot's policy.
struct SnapshotLoadDecision {
    SeoibPolicyDecision decision;
    /// The running KVM VM cannot take decision.flags: build a fresh one.
    bool rebuild { false };
};

/*
 * The one rule for a snapshot loaded into a running VM (loadvm,
 * snapshot-load), used by seoib-vm and the C API alike:
 *
 *   VM seoib-policy            result
 *   auto (set or defaulted)    the snapshot's policy is adopted
 *   the snapshot's policy      adopted
 *   any other                  error naming both; the VM is untouched
 *
 * then the snapshot's policy must hold on this VM's kernel, irqchip and
 * IOAPIC, as for an incoming stream (seoib_policy_decide_incoming).  The
 * decision needs a fresh KVM VM when the running one's flags `vm_flags`
 * cannot reach its flags (x2apic_api_flags_reachable): a quirked snapshot
 * on a VM whose SEOIB flag is set.  Respected and not-advertised switch on
 * the running VM fd.
 */
qapi::Result<SnapshotLoadDecision>
seoib_policy_decide_snapshot_load(const SeoibPolicyInput &vm,
                                  std::optional<qapi::SeoibPolicy> snapshot,
                                  uint64_t vm_flags);

/// "ENABLE_SUPPRESS_EOI_BROADCAST|USE_32BIT_IDS"-style names of flags, or
/// "none".
std::string x2apic_api_flag_names(uint64_t flags);

} // namespace accel::kvm
