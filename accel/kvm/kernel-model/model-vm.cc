#include "accel/kvm/kernel-model/model-vm.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

namespace accel::kvm::model {

namespace {

bool profile_has_seoib_flags(KernelProfile profile)
{
    return profile == KernelProfile::Model;
}

// kvm_setup_default_irq_routing(): GSI 0-15 reach both the PIC and the
// IOAPIC, GSI 16-23 the IOAPIC only.
std::vector<RoutingEntry> default_irqchip_routing()
{
    std::vector<RoutingEntry> routes;
    for (uint32_t gsi = 0; gsi < KVM_IOAPIC_NUM_PINS; ++gsi) {
        routes.push_back({ .gsi = gsi, .type = RoutingEntry::Type::Irqchip,
                           .irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi });
        if (gsi < PIC_NUM_PINS) {
            bool master = gsi < PIC_NUM_PINS / 2;
            routes.push_back({ .gsi = gsi, .type = RoutingEntry::Type::Irqchip,
                               .irqchip = master ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
                               .pin = master ? gsi : gsi - PIC_NUM_PINS / 2 });
        }
    }
    return routes;
}

// kvm_set_routing_entry(): the per-entry checks of KVM_SET_GSI_ROUTING.
bool routing_entry_valid(const RoutingEntry &entry, bool split, bool x2apic_format)
{
    switch (entry.type) {
    case RoutingEntry::Type::Irqchip:
        if (split) {
            return false;
        }
        switch (entry.irqchip) {
        case KVM_IRQCHIP_PIC_MASTER:
        case KVM_IRQCHIP_PIC_SLAVE:
            return entry.pin < PIC_NUM_PINS / 2;
        case KVM_IRQCHIP_IOAPIC:
            return entry.pin < KVM_IOAPIC_NUM_PINS;
        default:
            return false;
        }
    case RoutingEntry::Type::Msi:
        return !msi_invalid(entry.msi, x2apic_format);
    }
    return false;
}

} // namespace

LapicIrq decode_msi(const MsiMessage &msi, bool x2apic_format)
{
    LapicIrq irq;
    irq.dest_id = (msi.address_lo >> MSI_ADDR_DEST_ID_SHIFT) & 0xFF;
    if (x2apic_format) {
        irq.dest_id |= msi.address_hi & 0xFFFFFF00;
    }
    irq.vector = static_cast<uint8_t>(msi.data);
    irq.logical = (msi.address_lo & MSI_ADDR_DEST_MODE_LOGICAL) != 0;
    irq.msi_redir_hint = (msi.address_lo & MSI_ADDR_REDIRECTION_HINT) != 0;
    irq.trig_level = (msi.data & MSI_DATA_LEVEL_TRIGGER) != 0;
    irq.delivery_mode = msi.data & APIC_MODE_MASK;
    // An MSI is always an assert; data bit 14 is ignored.
    irq.level = true;
    irq.shorthand = APIC_DEST_NOSHORT;
    return irq;
}

qapi::Error kernel_error(int errno_value, std::string_view ioctl_name)
{
    return qapi::Error::from_errno(errno_value, ioctl_name);
}

ModelVm::ModelVm(KernelProfile profile, const KernelModelOptions &options)
    : m_profile(profile)
    , m_options(options)
{
}

ModelVm::~ModelVm() = default;

qapi::Result<int64_t> ModelVm::check_extension(Cap cap)
{
    if (cap == Cap::X2apicApi && profile_has_seoib_flags(m_profile) && !irqchip_split()) {
        // On a VM fd, ENABLE is only reported once the VM is split, so that
        // KVM could later allow it with the in-kernel IOAPIC without new
        // uAPI (kvm-facts §1.3).
        return static_cast<int64_t>(X2APIC_API_VALID_FLAGS & ~KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST);
    }
    return model_check_extension(m_profile, m_options, cap);
}

qapi::Result<void> ModelVm::enable_cap(Cap cap, std::array<uint64_t, 4> args, uint32_t flags)
{
    if (flags != 0) {
        return kernel_error(EINVAL, "KVM_ENABLE_CAP");
    }
    switch (cap) {
    case Cap::SplitIrqchip:
        if (args[0] > KVM_MAX_IRQ_ROUTES) {
            return kernel_error(EINVAL, "KVM_ENABLE_CAP");
        }
        if (irqchip_in_kernel() || !m_vcpus.empty()) {
            return kernel_error(EEXIST, "KVM_ENABLE_CAP");
        }
        m_irqchip = IrqchipMode::Split;
        m_nr_reserved_ioapic_pins = static_cast<uint32_t>(args[0]);
        return {};
    case Cap::X2apicApi: {
        // Every check comes before any change, so a refused call changes
        // nothing; there is no vCPU-count check (kvm-facts §1.4).
        uint64_t valid = profile_has_seoib_flags(m_profile) ? X2APIC_API_VALID_FLAGS
                                                            : X2APIC_API_VALID_FLAGS_OLD;
        uint64_t requested = args[0];
        bool enable = (requested & KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST) != 0;
        bool disable = (requested & KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST) != 0;
        if ((requested & ~valid) != 0 || (enable && disable) || (enable && !irqchip_split())) {
            return kernel_error(EINVAL, "KVM_ENABLE_CAP");
        }
        // Bits 0 and 1 are sticky; the SEOIB mode is last-writer-wins and
        // never returns to QUIRKED.  The APIC map is not recalculated: the
        // hotplug-hack choice takes effect at the next recalculation.
        if ((requested & KVM_X2APIC_API_USE_32BIT_IDS) != 0) {
            m_x2apic_format = true;
        }
        if ((requested & KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK) != 0) {
            m_broadcast_quirk_disabled = true;
        }
        if (enable) {
            m_seoib_mode = SeoibMode::Enabled;
        }
        if (disable) {
            m_seoib_mode = SeoibMode::Disabled;
        }
        return {};
    }
    default:
        return kernel_error(EINVAL, "KVM_ENABLE_CAP");
    }
}

qapi::Result<void> ModelVm::create_irqchip()
{
    if (irqchip_in_kernel()) {
        return kernel_error(EEXIST, "KVM_CREATE_IRQCHIP");
    }
    // EINVAL, not EEXIST, once vCPUs exist: the KVM_CREATE_IRQCHIP case of
    // kvm_arch_vm_ioctl() (x86.c) sets r = -EINVAL before its
    // created_vcpus check, and the development host answers EINVAL.
    if (!m_vcpus.empty()) {
        return kernel_error(EINVAL, "KVM_CREATE_IRQCHIP");
    }
    m_ioapic = std::make_unique<KernelIoapic>(*this);
    m_irqchip = IrqchipMode::Kernel;
    MUST(replace_routing(default_irqchip_routing()));
    return {};
}

qapi::Result<void> ModelVm::set_tss_addr(uint64_t addr)
{
    // The three-page TSS must fit below 4 GiB.
    if (addr > 0xFFFFFFFFULL - 3 * KVM_PAGE_SIZE + 1) {
        return kernel_error(EINVAL, "KVM_SET_TSS_ADDR");
    }
    return {};
}

qapi::Result<void> ModelVm::set_user_memory_region(uint32_t slot, uint64_t guest_phys_addr,
                                                   std::span<std::byte> memory, uint32_t flags)
{
    // check_memory_region_flags(): KVM_MEM_READONLY is not modelled.
    if ((flags & ~KVM_MEM_LOG_DIRTY_PAGES) != 0) {
        return kernel_error(EINVAL, "KVM_SET_USER_MEMORY_REGION");
    }
    uint64_t size = memory.size();
    // The userspace address must be page-aligned too; only its value is
    // needed for that, not the memory behind it.
    uint64_t host_addr = std::bit_cast<uintptr_t>(memory.data());
    if (slot >= KVM_USER_MEM_SLOTS || (size % KVM_PAGE_SIZE) != 0 ||
        (guest_phys_addr % KVM_PAGE_SIZE) != 0 || (host_addr % KVM_PAGE_SIZE) != 0 ||
        guest_phys_addr + size < guest_phys_addr) {
        return kernel_error(EINVAL, "KVM_SET_USER_MEMORY_REGION");
    }
    auto existing = std::find_if(m_slots.begin(), m_slots.end(),
                                 [slot](const MemorySlot &s) { return s.slot == slot; });
    if (size == 0) {
        if (existing == m_slots.end()) {
            return kernel_error(EINVAL, "KVM_SET_USER_MEMORY_REGION");
        }
        m_slots.erase(existing);
        return {};
    }
    // An existing slot may move, but not change size or backing memory.
    if (existing != m_slots.end() &&
        (existing->memory.size() != size || existing->memory.data() != memory.data())) {
        return kernel_error(EINVAL, "KVM_SET_USER_MEMORY_REGION");
    }
    for (const MemorySlot &other : m_slots) {
        if (other.slot == slot) {
            continue;
        }
        uint64_t other_end = other.gpa + other.memory.size();
        if (guest_phys_addr < other_end && other.gpa < guest_phys_addr + size) {
            return kernel_error(EEXIST, "KVM_SET_USER_MEMORY_REGION");
        }
    }
    MemorySlot *target = nullptr;
    if (existing != m_slots.end()) {
        existing->gpa = guest_phys_addr;
        target = &*existing;
    } else {
        target = &m_slots.emplace_back(MemorySlot { .slot = slot, .gpa = guest_phys_addr, .memory = memory });
    }
    // Turning the log on starts from a clean bitmap; turning it off drops it.
    bool was_logging = (target->flags & KVM_MEM_LOG_DIRTY_PAGES) != 0;
    bool logging = (flags & KVM_MEM_LOG_DIRTY_PAGES) != 0;
    target->flags = flags;
    if (logging && !was_logging) {
        uint64_t pages = size / KVM_DIRTY_LOG_PAGE_SIZE;
        target->dirty.words.assign((pages + 63) / 64, 0);
    } else if (!logging) {
        target->dirty.words.clear();
    }
    return {};
}

qapi::Result<DirtyBitmap> ModelVm::get_dirty_log(uint32_t slot)
{
    // kvm_get_dirty_log(): ENOENT for a slot that does not log.
    auto found = std::find_if(m_slots.begin(), m_slots.end(),
                              [slot](const MemorySlot &s) { return s.slot == slot; });
    if (found == m_slots.end() || (found->flags & KVM_MEM_LOG_DIRTY_PAGES) == 0) {
        return kernel_error(ENOENT, "KVM_GET_DIRTY_LOG");
    }
    DirtyBitmap taken = found->dirty;
    std::fill(found->dirty.words.begin(), found->dirty.words.end(), 0);
    return taken;
}

qapi::Result<std::unique_ptr<Vcpu>> ModelVm::create_vcpu(uint32_t id)
{
    if (id >= m_options.max_vcpu_id || m_vcpus.size() >= m_options.max_vcpus) {
        return kernel_error(EINVAL, "KVM_CREATE_VCPU");
    }
    // The kernel creates (and resets) the vCPU before it notices a
    // duplicate id, so the RESET's map recalculation happens either way.
    auto state = std::make_unique<VcpuState>(*this, id, static_cast<uint32_t>(m_vcpus.size()));
    bool duplicate = std::any_of(m_vcpus.begin(), m_vcpus.end(),
                                 [id](const auto &vcpu) { return vcpu->id() == id; });
    if (duplicate) {
        return kernel_error(EEXIST, "KVM_CREATE_VCPU");
    }
    m_vcpus.push_back(std::move(state));
    return std::unique_ptr<Vcpu>(std::make_unique<ModelVcpu>(*m_vcpus.back()));
}

qapi::Result<void> ModelVm::replace_routing(std::vector<RoutingEntry> entries)
{
    uint32_t nr_rt_entries = 0;
    for (const RoutingEntry &entry : entries) {
        if (entry.gsi >= KVM_MAX_IRQ_ROUTES) {
            return kernel_error(EINVAL, "KVM_SET_GSI_ROUTING");
        }
        nr_rt_entries = std::max(nr_rt_entries, entry.gsi + 1);
    }
    std::vector<std::vector<uint32_t>> gsi_routes(nr_rt_entries);
    for (uint32_t i = 0; i < entries.size(); ++i) {
        const RoutingEntry &entry = entries[i];
        if (!routing_entry_valid(entry, irqchip_split(), m_x2apic_format)) {
            return kernel_error(EINVAL, "KVM_SET_GSI_ROUTING");
        }
        // A GSI may feed several irqchips, but only one route of any other
        // kind and each irqchip once (setup_routing_entry()).
        for (uint32_t other : gsi_routes[entry.gsi]) {
            const RoutingEntry &existing = entries[other];
            if (existing.type != RoutingEntry::Type::Irqchip ||
                entry.type != RoutingEntry::Type::Irqchip || existing.irqchip == entry.irqchip) {
                return kernel_error(EINVAL, "KVM_SET_GSI_ROUTING");
            }
        }
        gsi_routes[entry.gsi].push_back(i);
    }
    m_routes = std::move(entries);
    m_gsi_routes = std::move(gsi_routes);
    return {};
}

qapi::Result<void> ModelVm::set_gsi_routing(std::span<const RoutingEntry> entries)
{
    if (!irqchip_in_kernel() || entries.size() > KVM_MAX_IRQ_ROUTES) {
        return kernel_error(EINVAL, "KVM_SET_GSI_ROUTING");
    }
    TRY(replace_routing(std::vector<RoutingEntry>(entries.begin(), entries.end())));
    // kvm_arch_irq_routing_update(): with a split irqchip the routes decide
    // which EOIs exit, so every vCPU rescans.
    if (irqchip_split()) {
        request_scan_ioapic_all();
    }
    return {};
}

int ModelVm::set_routing_entry(const RoutingEntry &entry, bool level)
{
    if (entry.type == RoutingEntry::Type::Msi) {
        // kvm_set_msi(): 32-bit IDs enabled after the route was set make it
        // invalid; a de-assert of an MSI does nothing.
        if (msi_invalid(entry.msi, m_x2apic_format)) {
            return -EINVAL;
        }
        if (!level) {
            return -1;
        }
        return deliver_irq(nullptr, decode_msi(entry.msi, m_x2apic_format));
    }
    if (entry.irqchip == KVM_IRQCHIP_IOAPIC && m_ioapic) {
        return m_ioapic->set_irq(entry.pin, level);
    }
    // The model has no PIC: its routes contribute nothing to the status.
    return -1;
}

qapi::Result<int> ModelVm::irq_line(uint32_t gsi, bool level)
{
    if (!irqchip_in_kernel()) {
        return kernel_error(ENXIO, "KVM_IRQ_LINE");
    }
    // kvm_set_irq(): sum of the non-negative results of every route of the
    // GSI, -1 when there is none.
    int status = -1;
    if (gsi < m_gsi_routes.size()) {
        for (uint32_t index : m_gsi_routes[gsi]) {
            int r = set_routing_entry(m_routes[index], level);
            if (r < 0) {
                continue;
            }
            status = r + (status < 0 ? 0 : status);
        }
    }
    return status;
}

qapi::Result<int> ModelVm::signal_msi(const MsiMessage &msi)
{
    if (!irqchip_in_kernel() || msi_invalid(msi, m_x2apic_format)) {
        return kernel_error(EINVAL, "KVM_SIGNAL_MSI");
    }
    int result = deliver_irq(nullptr, decode_msi(msi, m_x2apic_format));
    // The ioctl returns the delivery result as is; -1 ("no destination")
    // reaches userspace as errno EPERM (measured on the development host).
    if (result < 0) {
        return kernel_error(EPERM, "KVM_SIGNAL_MSI");
    }
    return result;
}

void ModelVm::recalculate_apic_map()
{
    if (!m_apic_map_dirty) {
        return;
    }
    m_apic_map_dirty = false;
    // Seed 001 applies the hotplug hack only with 32-bit IDs; the 6.1
    // profile predates it and always applies the hack.
    bool hotplug_hack = m_x2apic_format || m_profile == KernelProfile::Model6_1;
    m_apic_map.recalculate(m_vcpus, hotplug_hack);
    request_scan_ioapic_all();
}

void ModelVm::request_scan_ioapic_all()
{
    for (const auto &vcpu : m_vcpus) {
        vcpu->request_scan_ioapic();
    }
}

bool ModelVm::broadcast_dest(const VcpuState *source, const LapicIrq &irq) const
{
    if (m_broadcast_quirk_disabled) {
        // 0xFF is cluster 0, CPUs 0-7 for x2APIC logical destinations.
        return (irq.dest_id == APIC_BROADCAST && m_apic_map.logical_mode() != LogicalMode::X2apic) ||
               irq.dest_id == X2APIC_BROADCAST;
    }
    bool x2apic_ipi = source != nullptr && source->lapic()->x2apic_mode();
    return irq.dest_id == (x2apic_ipi ? X2APIC_BROADCAST : APIC_BROADCAST);
}

bool ModelVm::deliver_fast(VcpuState *source, const LapicIrq &irq, int &result)
{
    result = -1;
    if (irq.shorthand == APIC_DEST_SELF) {
        result = source != nullptr ? source->lapic()->accept_irq(irq) : 0;
        return true;
    }
    if (irq.shorthand != APIC_DEST_NOSHORT || !m_apic_map.valid() || broadcast_dest(source, irq)) {
        return false;
    }
    if (!irq.logical) {
        // One array lookup; an ID beyond the map or an empty slot drops the
        // interrupt with 0.
        result = 0;
        if (VcpuState *target = m_apic_map.physical(irq.dest_id)) {
            result += target->lapic()->accept_irq(irq);
        }
        return true;
    }
    std::optional<MapDestination> dest = m_apic_map.logical(irq.dest_id);
    if (!dest) {
        return false;
    }
    uint32_t mask = dest->mask;
    if (lowest_priority(irq) && mask != 0) {
        // Vector hashing (KVM's default): the (vector mod n)-th member of
        // the n addressed.  A disabled member drops the interrupt.
        uint32_t nth = irq.vector % static_cast<uint32_t>(std::popcount(mask));
        uint32_t member = static_cast<uint32_t>(std::countr_zero(mask));
        for (uint32_t i = 0; i < nth; ++i) {
            mask &= mask - 1;
            member = static_cast<uint32_t>(std::countr_zero(mask));
        }
        mask = dest->cluster[member] != nullptr ? (1U << member) : 0;
    }
    result = 0;
    for (uint32_t bits = mask; bits != 0; bits &= bits - 1) {
        uint32_t member = static_cast<uint32_t>(std::countr_zero(bits));
        if (VcpuState *target = dest->cluster[member]) {
            result += target->lapic()->accept_irq(irq);
        }
    }
    return true;
}

int ModelVm::deliver_irq(VcpuState *source, LapicIrq irq)
{
    int result = -1;
    if (deliver_fast(source, irq, result)) {
        return result;
    }
    if (!irq.logical && irq.dest_id == APIC_BROADCAST && lowest_priority(irq)) {
        irq.delivery_mode = APIC_DM_FIXED;
    }
    // The slow path: every present APIC is matched, and every match gets
    // the interrupt; -1 survives only if nothing matched.
    std::vector<VcpuState *> candidates;
    for (const auto &vcpu : m_vcpus) {
        if (!vcpu->apic_present() ||
            !apic_match_dest(*vcpu, source, irq.shorthand, irq.dest_id, irq.logical,
                             m_broadcast_quirk_disabled)) {
            continue;
        }
        if (!lowest_priority(irq)) {
            result = std::max(result, 0) + vcpu->lapic()->accept_irq(irq);
        } else if (vcpu->lapic()->sw_enabled()) {
            candidates.push_back(vcpu.get());
        }
    }
    if (!candidates.empty()) {
        result = candidates[irq.vector % candidates.size()]->lapic()->accept_irq(irq);
    }
    return result;
}

void ModelVm::scan_ioapic_routes(VcpuState &vcpu) const
{
    uint32_t pins = std::min(static_cast<uint32_t>(m_gsi_routes.size()), m_nr_reserved_ioapic_pins);
    for (uint32_t gsi = 0; gsi < pins; ++gsi) {
        for (uint32_t index : m_gsi_routes[gsi]) {
            const RoutingEntry &entry = m_routes[index];
            if (entry.type != RoutingEntry::Type::Msi) {
                continue;
            }
            // Only level-triggered routes need their EOI (MSI data bit 15).
            LapicIrq irq = decode_msi(entry.msi, m_x2apic_format);
            if (!irq.trig_level) {
                continue;
            }
            vcpu.scan_ioapic_irq(irq.dest_id, irq.logical, irq.vector);
        }
    }
}

template <typename Slots>
auto *ModelVm::find_slot(Slots &slots, uint64_t gpa, size_t size)
{
    for (auto &slot : slots) {
        uint64_t end = slot.gpa + slot.memory.size();
        if (gpa >= slot.gpa && gpa < end && size <= end - gpa) {
            return &slot;
        }
    }
    return static_cast<decltype(&slots.front())>(nullptr);
}

std::span<const std::byte> ModelVm::ram(uint64_t gpa, size_t size) const
{
    const MemorySlot *slot = find_slot(m_slots, gpa, size);
    if (slot == nullptr) {
        return {};
    }
    return slot->memory.subspan(gpa - slot->gpa, size);
}

std::span<std::byte> ModelVm::ram_for_write(uint64_t gpa, size_t size)
{
    MemorySlot *slot = find_slot(m_slots, gpa, size);
    if (slot == nullptr) {
        return {};
    }
    uint64_t offset = gpa - slot->gpa;
    if ((slot->flags & KVM_MEM_LOG_DIRTY_PAGES) != 0 && size > 0) {
        for (uint64_t page = offset / KVM_DIRTY_LOG_PAGE_SIZE;
             page <= (offset + size - 1) / KVM_DIRTY_LOG_PAGE_SIZE; ++page) {
            slot->dirty.words[page / 64] |= 1ULL << (page % 64);
        }
    }
    return slot->memory.subspan(offset, size);
}

void ModelVm::run_deferred_work()
{
    if (m_ioapic) {
        m_ioapic->run_delayed_injection();
    }
}

} // namespace accel::kvm::model
