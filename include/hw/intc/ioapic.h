/*
 * The IOAPIC devices, as QEMU has them:
 *
 *   ioapic-common   abstract SysBusDevice, no properties
 *   ioapic          the userspace IOAPIC (split or no in-kernel irqchip);
 *                   property "version": 0x11 (no EOI register) or 0x20
 *   kvm-ioapic      the in-kernel IOAPIC's stand-in (kernel-irqchip=on);
 *                   fixed version 0x11, property "gsi_base"
 *
 * kvm-ioapic's parent is ioapic-common, not ioapic, so "-global
 * ioapic.version=..." never reaches it.  The register behaviour lives in
 * IOAPICCore (hw/intc/ioapic-core.h); the device owns one and gives it an
 * output, a timer and a guest-error log.
 */
#pragma once

#include "hw/core/guest-error.h"
#include "hw/core/qdev.h"
#include "hw/core/timer.h"

#include <cstdint>
#include <memory>
#include <optional>

namespace accel::kvm {
class Vm;
}

namespace hw::intc {

class IOAPICCore;
class IOAPICOutput;

inline constexpr std::string_view TYPE_IOAPIC_COMMON = "ioapic-common";
inline constexpr std::string_view TYPE_IOAPIC = "ioapic";
inline constexpr std::string_view TYPE_KVM_IOAPIC = "kvm-ioapic";

inline constexpr uint64_t IO_APIC_DEFAULT_ADDRESS = 0xfec00000;

/// The typed key of ioapic's "version" property.
inline constexpr qom::PropertyKey<uint8_t> IOAPIC_PROP_VERSION { "version" };

/// The realize-time check of an IOAPIC version, also used by the machine's
/// early step so that a bad -global fails before any vCPU exists, with the
/// same text: "IOAPIC only supports version 0x11 or 0x20 (default: 0x20)."
qapi::Result<void> ioapic_check_version(uint8_t version);

class IOAPICCommonState : public qdev::SysBusDevice {
public:
    static constexpr std::string_view type_name = TYPE_IOAPIC_COMMON;
    using Parent = qdev::SysBusDevice;
    using Class = qdev::DeviceClass;

    ~IOAPICCommonState() override;

    /// The version the guest sees (valid after realize).
    virtual uint8_t version() const = 0;
};

/// The userspace IOAPIC.
class IOAPICState : public IOAPICCommonState {
public:
    static constexpr std::string_view type_name = TYPE_IOAPIC;
    using Parent = IOAPICCommonState;
    using Class = qdev::DeviceClass;

    IOAPICState();
    ~IOAPICState() override;

    static void class_init(qdev::DeviceClass &dc);
    static void register_properties(qom::ObjectClass &oc);

    uint8_t version() const override { return m_version; }

    /// Where messages go (KVM routes in split mode).  Until one is set they
    /// are dropped.  The output must outlive the device.
    void set_output(IOAPICOutput &output);
    /// Split irqchip: the IOAPIC's output becomes KVM MSI routes on GSIs
    /// 0-23, kept in step with the redirection table.  Before realize; `vm`
    /// must outlive the device.
    void connect_kvm_split_irqchip(accel::kvm::Vm &vm);

    /// The clock for the storm throttle (default: the host's monotonic
    /// clock, polled by run_timers()).
    void set_timer_host(TimerHost &timer);

    /// The MMIO window at IO_APIC_DEFAULT_ADDRESS (0x100 bytes).  Valid
    /// after realize; guest errors are logged, never fatal.
    uint64_t mmio_read(uint64_t offset, unsigned size);
    void mmio_write(uint64_t offset, uint64_t value, unsigned size);
    /// Input pin `pin` (0..23) changes level.
    void set_irq(unsigned pin, bool level);
    /// A LAPIC broadcast EOI (KVM_EXIT_IOAPIC_EOI).
    void eoi_broadcast(uint8_t vector);
    /// Fires the throttle timer if its deadline has passed on the default
    /// clock; the run loop calls it.
    void run_timers();

    /// The register engine (valid after realize), for migration and tests.
    IOAPICCore &core();

    /// QEMU's "ioapic" v3 (id, ioregsel, unused, irr, ioredtbl), and the
    /// subsection "ioapic/version": the version the guest saw, checked
    /// against this IOAPIC's on load.  Valid after realize.
    std::unique_ptr<migration::VMStateInstance> vmstate() override;
    GuestErrorLog &guest_errors() { return m_guest_errors; }

protected:
    qapi::Result<void> do_realize() override;

private:
    class DefaultOutput;
    class MonotonicTimer;

    uint8_t m_version {}; // property "version", default 0x20
    std::unique_ptr<DefaultOutput> m_default_output;
    std::unique_ptr<IOAPICOutput> m_kvm_output;
    std::unique_ptr<MonotonicTimer> m_default_timer;
    IOAPICOutput *m_output;
    TimerHost *m_timer;
    GuestErrorLog m_guest_errors;
    std::unique_ptr<IOAPICCore> m_core;
    /// The stream's view of the registers: QEMU's field widths.
    struct Migrated {
        uint8_t id { 0 };
        uint8_t ioregsel { 0 };
        uint32_t irr { 0 };
        std::array<uint64_t, 24> ioredtbl {};
        uint8_t version { 0 };
    } m_migrated;
};

/// The in-kernel IOAPIC's stand-in: state lives in KVM.
class KVMIOAPICState : public IOAPICCommonState {
public:
    static constexpr std::string_view type_name = TYPE_KVM_IOAPIC;
    using Parent = IOAPICCommonState;
    using Class = qdev::DeviceClass;

    static void register_properties(qom::ObjectClass &oc);

    /// KVM's in-kernel IOAPIC is version 0x11 (kvm-facts §2.5).
    uint8_t version() const override { return 0x11; }
    uint32_t gsi_base() const { return m_gsi_base; }

private:
    uint32_t m_gsi_base { 0 };
};

void ioapic_register_types(qom::TypeRegistry &registry);

} // namespace hw::intc
