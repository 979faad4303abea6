#include "accel/kvm/kernel-model/apic-map.h"

#include "accel/kvm/kernel-model/model-lapic.h"
#include "accel/kvm/kernel-model/model-vcpu.h"

#include <algorithm>
#include <bit>

namespace accel::kvm::model {

namespace {

// The broadcast address of a target APIC in its current mode.
uint32_t broadcast_address(const Lapic &apic)
{
    return apic.x2apic_mode() ? X2APIC_BROADCAST : APIC_BROADCAST;
}

bool match_physical(const Lapic &apic, uint32_t mda)
{
    if (mda == broadcast_address(apic)) {
        return true;
    }
    // KVM's hotplug hack in the matcher (independent of 32-bit IDs): a
    // destination that cannot be an xAPIC ID is compared with the x2APIC
    // ID even for a target still in xAPIC mode.
    if (apic.x2apic_mode() || mda > 0xFF) {
        return mda == apic.x2apic_id();
    }
    return mda == apic.xapic_id();
}

bool match_logical(const Lapic &apic, uint32_t mda)
{
    if (mda == broadcast_address(apic)) {
        return true;
    }
    uint32_t ldr = apic.reg(APIC_LDR);
    if (apic.x2apic_mode()) {
        // Same cluster (bits 31:16) and a common bit in the member mask.
        return (ldr >> 16) == (mda >> 16) && (ldr & mda & 0xFFFF) != 0;
    }
    uint32_t logical_id = ldr >> 24;
    switch (apic.reg(APIC_DFR)) {
    case APIC_DFR_FLAT:
        return (logical_id & mda) != 0;
    case APIC_DFR_CLUSTER:
        return (logical_id >> 4) == (mda >> 4) && (logical_id & mda & 0xF) != 0;
    default:
        return false;
    }
}

} // namespace

bool apic_match_dest(const VcpuState &target, const VcpuState *source,
                     uint32_t shorthand, uint32_t dest_id, bool logical,
                     bool broadcast_quirk_disabled)
{
    const Lapic &apic = *target.lapic();
    // kvm_apic_mda(): the broadcast quirk turns an IOAPIC/MSI 0xFF into the
    // x2APIC broadcast for x2APIC targets (kvm-facts §3.3).  IPIs (with a
    // source) are never rewritten.
    uint32_t mda = dest_id;
    if (!broadcast_quirk_disabled && source == nullptr && dest_id == APIC_BROADCAST &&
        apic.x2apic_mode()) {
        mda = X2APIC_BROADCAST;
    }
    switch (shorthand) {
    case APIC_DEST_NOSHORT:
        return logical ? match_logical(apic, mda) : match_physical(apic, mda);
    case APIC_DEST_SELF:
        return &target == source;
    case APIC_DEST_ALLINC:
        return true;
    case APIC_DEST_ALLBUT:
        return &target != source;
    default:
        return false;
    }
}

void ApicMap::recalculate(std::span<const std::unique_ptr<VcpuState>> vcpus,
                          bool hotplug_hack)
{
    // Enough room for every xAPIC ID, and for the highest x2APIC ID (the
    // vCPU id) of any present APIC.
    uint32_t max_id = 0xFF;
    for (const auto &vcpu : vcpus) {
        if (vcpu->apic_present()) {
            max_id = std::max(max_id, vcpu->id());
        }
    }
    m_max_apic_id = max_id;
    m_phys_map.assign(static_cast<size_t>(max_id) + 1, nullptr);
    m_xapic_flat_map.fill(nullptr);
    for (auto &cluster : m_xapic_cluster_map) {
        cluster.fill(nullptr);
    }
    m_logical_mode = LogicalMode::SwDisabled;
    m_valid = true;

    for (const auto &vcpu : vcpus) {
        if (!vcpu->apic_present()) {
            continue;
        }
        const Lapic &apic = *vcpu->lapic();
        uint32_t x2apic_id = vcpu->id();
        uint8_t xapic_id = apic.xapic_id();
        if (hotplug_hack) {
            // With 32-bit IDs (and on every kernel before the seed-001
            // change) an x2APIC-mode vCPU, or one whose ID does not fit 8
            // bits, owns its x2APIC-ID slot outright; an xAPIC-mode vCPU
            // takes its xAPIC-ID slot only if nobody earlier in vcpu_idx
            // order did.  Aliases are silently ignored.
            if (apic.x2apic_mode() || x2apic_id > 0xFF) {
                m_phys_map[x2apic_id] = vcpu.get();
            }
            if (!apic.x2apic_mode() && m_phys_map[xapic_id] == nullptr) {
                m_phys_map[xapic_id] = vcpu.get();
            }
        } else {
            // Architectural: an aliased physical ID must reach every vCPU
            // that has it, which the 1:1 map cannot express, so the whole
            // optimized map is dropped and delivery takes the slow path.
            uint32_t physical_id = apic.x2apic_mode() ? x2apic_id : xapic_id;
            if (m_phys_map[physical_id] != nullptr) {
                m_valid = false;
                return;
            }
            m_phys_map[physical_id] = vcpu.get();
        }
        recalculate_logical(*vcpu);
    }
}

void ApicMap::recalculate_logical(VcpuState &vcpu)
{
    const Lapic &apic = *vcpu.lapic();
    if (m_logical_mode == LogicalMode::MapDisabled || !apic.sw_enabled()) {
        return;
    }
    uint32_t ldr = apic.reg(APIC_LDR);
    if (ldr == 0) {
        return;
    }
    LogicalMode mode;
    if (apic.x2apic_mode()) {
        mode = LogicalMode::X2apic;
    } else {
        ldr >>= 24;
        mode = apic.reg(APIC_DFR) == APIC_DFR_FLAT ? LogicalMode::XapicFlat
                                                    : LogicalMode::XapicCluster;
    }
    // All software-enabled APICs must agree on the logical mode.
    if (m_logical_mode == LogicalMode::SwDisabled) {
        m_logical_mode = mode;
    } else if (m_logical_mode != mode) {
        m_logical_mode = LogicalMode::MapDisabled;
        return;
    }
    // x2APIC logical IDs are derived from the x2APIC ID, so clusters are
    // found by reversing the LDR into the physical map: nothing to store.
    if (mode == LogicalMode::X2apic) {
        return;
    }
    std::span<VcpuState *> cluster;
    uint32_t mask;
    if (mode == LogicalMode::XapicFlat) {
        cluster = m_xapic_flat_map;
        mask = ldr & 0xFF;
    } else {
        cluster = m_xapic_cluster_map[(ldr >> 4) & 0xF];
        mask = ldr & 0xF;
    }
    if (mask == 0) {
        return;
    }
    // An xAPIC logical ID must name exactly one member, and only once.
    uint32_t member = static_cast<uint32_t>(std::countr_zero(mask));
    if (!std::has_single_bit(mask) || cluster[member] != nullptr) {
        m_logical_mode = LogicalMode::MapDisabled;
        return;
    }
    cluster[member] = &vcpu;
}

VcpuState *ApicMap::physical(uint32_t dest_id) const
{
    if (dest_id > m_max_apic_id) {
        return nullptr;
    }
    return m_phys_map[dest_id];
}

std::optional<MapDestination> ApicMap::logical(uint32_t dest_id) const
{
    switch (m_logical_mode) {
    case LogicalMode::SwDisabled:
        // Nothing to deliver to, but the lookup itself succeeds.
        return MapDestination { std::span<VcpuState *const>(m_xapic_flat_map), 0 };
    case LogicalMode::X2apic: {
        uint32_t offset = (dest_id >> 16) * 16;
        if (offset > m_max_apic_id) {
            return MapDestination {};
        }
        uint32_t cluster_size = std::min(m_max_apic_id - offset + 1, 16U);
        return MapDestination {
            std::span<VcpuState *const>(m_phys_map).subspan(offset, cluster_size),
            dest_id & (0xFFFFU >> (16 - cluster_size)),
        };
    }
    case LogicalMode::XapicFlat:
        return MapDestination { std::span<VcpuState *const>(m_xapic_flat_map),
                                dest_id & 0xFF };
    case LogicalMode::XapicCluster:
        return MapDestination {
            std::span<VcpuState *const>(m_xapic_cluster_map[(dest_id >> 4) & 0xF]),
            dest_id & 0xF,
        };
    case LogicalMode::MapDisabled:
        break;
    }
    return std::nullopt;
}

} // namespace accel::kvm::model
