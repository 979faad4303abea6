/*
 * A VM of the kernel model (the model's struct kvm): irqchip mode, the
 * x2APIC API state, the GSI routing table, memory slots, the vCPUs and the
 * APIC map, plus interrupt delivery (kvm_irq_delivery_to_apic).
 */
#pragma once

#include "accel/kvm/kernel-model/apic-map.h"
#include "accel/kvm/kernel-model/kernel-model.h"
#include "accel/kvm/kernel-model/model-internal.h"
#include "accel/kvm/kernel-model/model-ioapic.h"
#include "accel/kvm/kernel-model/model-vcpu.h"

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

namespace accel::kvm::model {

enum class IrqchipMode {
    None,
    Kernel, // KVM_CREATE_IRQCHIP: PIC, IOAPIC and LAPICs in the kernel
    Split,  // KVM_CAP_SPLIT_IRQCHIP: LAPICs only
};

/// enum kvm_suppress_eoi_broadcast_mode.  Kernels before the SEOIB change
/// behave as QUIRKED throughout.
enum class SeoibMode {
    Quirked,
    Enabled,
    Disabled,
};

/// KVM_CHECK_EXTENSION on /dev/kvm.  A VM fd answers the same, except for
/// KVM_CAP_X2APIC_API (ModelVm::check_extension).
int64_t model_check_extension(KernelProfile profile, const KernelModelOptions &options,
                              Cap cap);

class ModelVm final : public Vm {
public:
    ModelVm(KernelProfile profile, const KernelModelOptions &options);
    ~ModelVm() override;

    qapi::Result<int64_t> check_extension(Cap cap) override;
    qapi::Result<void> enable_cap(Cap cap, std::array<uint64_t, 4> args,
                                  uint32_t flags) override;
    qapi::Result<void> create_irqchip() override;
    qapi::Result<void> set_tss_addr(uint64_t addr) override;
    qapi::Result<void> set_user_memory_region(uint32_t slot,
                                              uint64_t guest_phys_addr,
                                              std::span<std::byte> memory,
                                              uint32_t flags) override;
    qapi::Result<DirtyBitmap> get_dirty_log(uint32_t slot) override;
    qapi::Result<std::unique_ptr<Vcpu>> create_vcpu(uint32_t id) override;
    qapi::Result<void> set_gsi_routing(std::span<const RoutingEntry> entries) override;
    qapi::Result<int> irq_line(uint32_t gsi, bool level) override;
    qapi::Result<int> signal_msi(const MsiMessage &msi) override;

    KernelProfile profile() const { return m_profile; }
    const KernelModelOptions &options() const { return m_options; }
    bool irqchip_in_kernel() const { return m_irqchip != IrqchipMode::None; }
    bool irqchip_split() const { return m_irqchip == IrqchipMode::Split; }
    bool ioapic_in_kernel() const { return m_irqchip == IrqchipMode::Kernel; }
    bool x2apic_format() const { return m_x2apic_format; }
    bool broadcast_quirk_disabled() const { return m_broadcast_quirk_disabled; }
    SeoibMode seoib_mode() const { return m_seoib_mode; }
    KernelIoapic *ioapic() { return m_ioapic.get(); }
    std::span<const std::unique_ptr<VcpuState>> vcpus() const { return m_vcpus; }

    /// Marks the APIC map stale (apic_map_dirty = DIRTY).
    void mark_apic_map_dirty() { m_apic_map_dirty = true; }
    /// kvm_recalculate_apic_map(): rebuilds the map if it is stale, then
    /// asks every vCPU to rescan its IOAPIC-handled vectors.
    void recalculate_apic_map();
    /// kvm_make_scan_ioapic_request().
    void request_scan_ioapic_all();
    /// kvm_irq_delivery_to_apic(): fast path, then slow path.  Returns -1
    /// if nothing matched (slow path only), otherwise the number of LAPICs
    /// that accepted.
    int deliver_irq(VcpuState *source, LapicIrq irq);
    /// kvm_scan_ioapic_routes(): level MSI routes on the reserved IOAPIC
    /// pins, for a split irqchip.
    void scan_ioapic_routes(VcpuState &vcpu) const;

    /// Guest RAM backing [gpa, gpa + size), or an empty span when the range
    /// is not entirely inside one memory slot.  ram() is for reading;
    /// ram_for_write() also marks the pages dirty in a logging slot, as
    /// the kernel's write fault does.
    std::span<const std::byte> ram(uint64_t gpa, size_t size) const;
    std::span<std::byte> ram_for_write(uint64_t gpa, size_t size);
    /// Work the kernel would have done asynchronously since the last run.
    void run_deferred_work();

private:
    struct MemorySlot {
        uint32_t slot { 0 };
        uint64_t gpa { 0 };
        std::span<std::byte> memory;
        uint32_t flags { 0 };
        /// KVM_MEM_LOG_DIRTY_PAGES: one bit per page written since the
        /// last KVM_GET_DIRTY_LOG.
        DirtyBitmap dirty;
    };
    /// The slot holding all of [gpa, gpa + size), or null; for const and
    /// mutable slot lists alike.
    template <typename Slots>
    static auto *find_slot(Slots &slots, uint64_t gpa, size_t size);

    bool deliver_fast(VcpuState *source, const LapicIrq &irq, int &result);
    bool broadcast_dest(const VcpuState *source, const LapicIrq &irq) const;
    int set_routing_entry(const RoutingEntry &entry, bool level);
    qapi::Result<void> replace_routing(std::vector<RoutingEntry> entries);

    KernelProfile m_profile;
    KernelModelOptions m_options;
    IrqchipMode m_irqchip { IrqchipMode::None };
    uint32_t m_nr_reserved_ioapic_pins { 0 };
    bool m_x2apic_format { false };
    bool m_broadcast_quirk_disabled { false };
    SeoibMode m_seoib_mode { SeoibMode::Quirked };

    std::vector<std::unique_ptr<VcpuState>> m_vcpus;
    std::unique_ptr<KernelIoapic> m_ioapic;
    ApicMap m_apic_map;
    bool m_apic_map_dirty { false };

    std::vector<RoutingEntry> m_routes;
    /// GSI -> indices into m_routes; its size is nr_rt_entries.
    std::vector<std::vector<uint32_t>> m_gsi_routes;
    std::vector<MemorySlot> m_slots;
};

} // namespace accel::kvm::model
