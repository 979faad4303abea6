/*
 * ISA devices: the PC's port-I/O devices that multiboot guests such as
 * kvm-unit-tests use (QEMU's ISADevice, hw/isa/isa-bus.c).
 *
 * An ISA device claims port ranges and may drive ISA IRQ lines; on a PC
 * with an IOAPIC, ISA IRQ n is GSI n (the board wires them: to the
 * userspace IOAPIC's pin n with kernel-irqchip=split, to KVM_IRQ_LINE with
 * kernel-irqchip=on).  The run loop hands every port access to the device
 * whose range contains it (IsaBus below); an access no device claims reads
 * as all ones and is otherwise ignored, as on a PC.
 *
 * The devices (one per .cc, QEMU's type names):
 *   isa-serial       hw/char/serial-isa.cc   16550A UART (COM1 at 0x3f8)
 *   isa-debug-exit   hw/misc/debugexit.cc    write N: exit with (N << 1) | 1
 *   pc-testdev       hw/misc/pc-testdev.cc   kvm-unit-tests' test ports
 *   fw_cfg_io        hw/nvram/fw_cfg.cc      firmware configuration, 0x510
 *   isa-i8259        hw/intc/i8259.cc        the 8259 ports, accepted
 */
#pragma once

#include "hw/core/guest-error.h"
#include "hw/core/qdev.h"

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

namespace hw::isa {

inline constexpr std::string_view TYPE_ISA_DEVICE = "isa-device";
/// ISA IRQ lines: 0-15 on the 8259s; the IOAPIC's first 24 GSIs.
inline constexpr uint32_t ISA_NUM_IRQS = 24;

/// Abstract base of the port-I/O devices.
class ISADevice : public qdev::DeviceState {
public:
    static constexpr std::string_view type_name = TYPE_ISA_DEVICE;
    using Parent = qdev::DeviceState;
    using Class = qdev::DeviceClass;

    ISADevice();

    /// Category Misc, bus "ISA", user-creatable, not hotpluggable.
    static void class_init(qdev::DeviceClass &dc);

    /// Whether `port` is one of the device's ports.
    virtual bool io_contains(uint16_t port) const = 0;
    /// A guest `in` of `size` bytes (1, 2 or 4) at a port it contains.
    /// Never fails: what a device does not define is a guest error.
    virtual uint64_t io_read(uint16_t port, unsigned size) = 0;
    /// A guest `out`; never fails, as io_read().
    virtual void io_write(uint16_t port, uint64_t value, unsigned size) = 0;

    /// Receives (ISA IRQ, level) when the device changes a line.
    using IrqHandler = std::function<void(uint32_t irq, bool level)>;
    /// Wires the device's ISA IRQ lines (QEMU's isa_get_irq); empty
    /// disconnects.
    void connect_irqs(IrqHandler handler) { m_irq = std::move(handler); }

    GuestErrorLog &guest_errors() { return m_guest_errors; }

protected:
    void set_isa_irq(uint32_t irq, bool level)
    {
        if (m_irq) {
            m_irq(irq, level);
        }
    }

    GuestErrorLog m_guest_errors;

private:
    IrqHandler m_irq;
};

/// The ports of a machine's ISA devices, for the run loop.
class IsaBus {
public:
    /// Adds a realized device; the bus does not own it.
    void add(ISADevice &dev) { m_devices.push_back(&dev); }
    /// The device that claims `port`, or nullptr (first added wins).
    ISADevice *find(uint16_t port) const;
    const std::vector<ISADevice *> &devices() const { return m_devices; }

private:
    std::vector<ISADevice *> m_devices;
};

/// Registers isa-device and every ISA device type above.
void isa_register_types(qom::TypeRegistry &registry);

} // namespace hw::isa
