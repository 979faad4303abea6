/*
 * The optimized APIC map (struct kvm_apic_map) and the destination
 * matchers, as kvm-facts §3 describes them.
 *
 * The map is a set of arrays rebuilt from scratch whenever an APIC ID, LDR,
 * DFR, software enable or APIC base changes, so a rebuild is linear in the
 * number of vCPUs (plus the highest x2APIC ID) and a fast-path lookup is an
 * array index.  Delivery itself (fast path, then slow path) is
 * ModelVm::deliver_irq().
 */
#pragma once

#include "accel/kvm/kernel-model/model-internal.h"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace accel::kvm::model {

/// How logical destinations are looked up (enum kvm_apic_logical_mode).
enum class LogicalMode {
    SwDisabled,   // no software-enabled APIC with a non-zero LDR yet
    XapicFlat,
    XapicCluster,
    X2apic,
    MapDisabled,  // mixed modes or aliased logical IDs: slow path only
};

/// The destinations the map resolves an interrupt to: `cluster[i]` for each
/// bit i of `mask` (null slots are skipped).
struct MapDestination {
    std::span<VcpuState *const> cluster;
    uint32_t mask { 0 };
};

class ApicMap {
public:
    /// kvm_recalculate_apic_map().  `hotplug_hack` is KVM's x2APIC hotplug
    /// hack (32-bit IDs enabled, or a kernel before the seed-001 change);
    /// without it an aliased physical ID disables the whole map.
    void recalculate(std::span<const std::unique_ptr<VcpuState>> vcpus,
                     bool hotplug_hack);

    /// False when an aliased physical ID disabled the optimized map
    /// (kvm->arch.apic_map == NULL).
    bool valid() const { return m_valid; }
    uint32_t max_apic_id() const { return m_max_apic_id; }
    LogicalMode logical_mode() const { return m_logical_mode; }

    /// The physical-map slot for `dest_id`, or null.
    VcpuState *physical(uint32_t dest_id) const;
    /// kvm_apic_map_get_logical_dest(); empty when the logical map is
    /// disabled.
    std::optional<MapDestination> logical(uint32_t dest_id) const;

private:
    void recalculate_logical(VcpuState &vcpu);

    bool m_valid { false };
    uint32_t m_max_apic_id { 0 };
    LogicalMode m_logical_mode { LogicalMode::SwDisabled };
    std::vector<VcpuState *> m_phys_map;
    std::array<VcpuState *, 8> m_xapic_flat_map {};
    std::array<std::array<VcpuState *, 4>, 16> m_xapic_cluster_map {};
};

/// kvm_apic_match_dest(): the slow-path matcher.  `source` is the sending
/// vCPU for IPIs and null for IOAPIC/MSI interrupts.
bool apic_match_dest(const VcpuState &target, const VcpuState *source,
                     uint32_t shorthand, uint32_t dest_id, bool logical,
                     bool broadcast_quirk_disabled);

} // namespace accel::kvm::model
