/*
 * The ISA devices seoib models (see hw/isa/isa.h for the list and the
 * wiring).  Each is defined in its own .cc, in QEMU's directory for it.
 */
#pragma once

#include "hw/isa/isa.h"
#include "qom/property.h"

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hw::isa {

inline constexpr std::string_view TYPE_ISA_SERIAL = "isa-serial";
inline constexpr std::string_view TYPE_ISA_DEBUG_EXIT = "isa-debug-exit";
inline constexpr std::string_view TYPE_PC_TESTDEV = "pc-testdev";
inline constexpr std::string_view TYPE_FW_CFG_IO = "fw_cfg_io";
inline constexpr std::string_view TYPE_ISA_I8259 = "isa-i8259";

// ---- isa-serial: a 16550A UART (hw/char/serial-isa.cc) --------------------

/// The PC's COM ports (QEMU's isa_serial_io / isa_serial_irq).
inline constexpr std::array<uint16_t, 4> ISA_SERIAL_IOBASE { 0x3f8, 0x2f8,
                                                             0x3e8, 0x2e8 };
inline constexpr std::array<uint32_t, 4> ISA_SERIAL_IRQ { 4, 3, 4, 3 };
/// The 16550A's eight registers.
inline constexpr uint16_t SERIAL_IO_SIZE = 8;

/// The UART as the guest sees it: transmit always ready (THR empty), no
/// receive data, interrupts enabled in IER but never raised (kvm-unit-tests
/// and the other guests here poll LSR).  Bytes written to THR go to the
/// character backend.
class ISASerialState : public ISADevice {
public:
    static constexpr std::string_view type_name = TYPE_ISA_SERIAL;
    using Parent = ISADevice;
    using Class = qdev::DeviceClass;

    static void class_init(qdev::DeviceClass &dc);
    static void register_properties(qom::ObjectClass &oc);

    /// Receives every byte the guest transmits.
    using CharSink = std::function<void(std::string_view bytes)>;
    void set_chardev_sink(CharSink sink) { m_sink = std::move(sink); }

    uint16_t iobase() const { return static_cast<uint16_t>(m_iobase); }
    bool io_contains(uint16_t port) const override;
    uint64_t io_read(uint16_t port, unsigned size) override;
    void io_write(uint16_t port, uint64_t value, unsigned size) override;

protected:
    /// index -> iobase/irq as QEMU's serial_isa_realizefn(); refuses
    /// index >= 4 ("Max. supported number of ISA serial ports is 4.").
    qapi::Result<void> do_realize() override;

private:
    uint32_t m_index { UINT32_MAX };
    uint32_t m_iobase { UINT32_MAX };
    uint32_t m_irq { UINT32_MAX };
    uint32_t m_baudbase { 115200 };
    std::string m_chardev;
    CharSink m_sink;
    // Registers (16550A datasheet): IER, LCR, MCR, SCR, divisor latch.
    uint8_t m_ier { 0 }, m_lcr { 0 }, m_mcr { 0 }, m_scr { 0 };
    uint16_t m_divider { 12 };
};

// ---- isa-debug-exit (hw/misc/debugexit.cc) ---------------------------------

/// A write of N to any of its ports ends the VM with exit status
/// (N << 1) | 1 (QEMU's debug_exit_write).
class ISADebugExitState : public ISADevice {
public:
    static constexpr std::string_view type_name = TYPE_ISA_DEBUG_EXIT;
    using Parent = ISADevice;
    using Class = qdev::DeviceClass;

        static void register_properties(qom::ObjectClass &oc);

    bool io_contains(uint16_t port) const override;
    uint64_t io_read(uint16_t port, unsigned size) override;
    void io_write(uint16_t port, uint64_t value, unsigned size) override;

    /// The exit status the guest asked for, once it wrote.
    std::optional<int> exit_status() const { return m_exit_status; }

private:
    uint32_t m_iobase { 0x501 };
    uint32_t m_iosize { 0x02 };
    std::optional<int> m_exit_status;
};

// ---- pc-testdev (hw/misc/pc-testdev.cc) ------------------------------------

/// QEMU's pc-testdev ports: 0xe0-0xe3 a read/write register, 0xe4-0xe7
/// "flush" (accepted), 0x2000 + n (n < 24) a write sets ISA IRQ / GSI n to
/// the value's truth.
inline constexpr uint16_t PC_TESTDEV_IOPORT = 0xe0;
inline constexpr uint16_t PC_TESTDEV_FLUSHPAGE = 0xe4;
inline constexpr uint16_t PC_TESTDEV_IRQ_BASE = 0x2000;

class PCTestdevState : public ISADevice {
public:
    static constexpr std::string_view type_name = TYPE_PC_TESTDEV;
    using Parent = ISADevice;
    using Class = qdev::DeviceClass;

    
    bool io_contains(uint16_t port) const override;
    uint64_t io_read(uint16_t port, unsigned size) override;
    void io_write(uint16_t port, uint64_t value, unsigned size) override;

    /// The level the guest last set on line `irq`.
    bool irq_level(uint32_t irq) const { return m_levels.at(irq); }

private:
    uint32_t m_ioport_data { 0 };
    std::array<bool, ISA_NUM_IRQS> m_levels {};
};

// ---- fw_cfg_io (hw/nvram/fw_cfg.cc) ----------------------------------------

/// QEMU's fw_cfg keys (include/standard-headers/linux/qemu_fw_cfg.h).
inline constexpr uint16_t FW_CFG_SIGNATURE = 0x00;
inline constexpr uint16_t FW_CFG_ID = 0x01;
inline constexpr uint16_t FW_CFG_RAM_SIZE = 0x03;
inline constexpr uint16_t FW_CFG_NB_CPUS = 0x05;
inline constexpr uint16_t FW_CFG_MAX_CPUS = 0x0f;
inline constexpr uint16_t FW_CFG_FILE_DIR = 0x19;
/// The selector (16-bit write) and data (8-bit read) ports at iobase.
inline constexpr uint16_t FW_CFG_CTL_OFFSET = 0;
inline constexpr uint16_t FW_CFG_DATA_OFFSET = 1;

/// The firmware configuration device's traditional I/O interface (no DMA):
/// select a key, then read its bytes one by one; past the end, and for an
/// unknown key, reads return 0 (QEMU's fw_cfg_data_read).
class FWCfgIoState : public ISADevice {
public:
    static constexpr std::string_view type_name = TYPE_FW_CFG_IO;
    using Parent = ISADevice;
    using Class = qdev::DeviceClass;

    FWCfgIoState();

    static void class_init(qdev::DeviceClass &dc);
    static void register_properties(qom::ObjectClass &oc);

    /// Sets an item (QEMU's fw_cfg_add_bytes/_i16/_i32/_i64; integers are
    /// little-endian).  The board fills them before the guest runs.
    void add_bytes(uint16_t key, std::vector<uint8_t> data);
    void add_i16(uint16_t key, uint16_t value);
    void add_i32(uint16_t key, uint32_t value);
    void add_i64(uint16_t key, uint64_t value);

    bool io_contains(uint16_t port) const override;
    uint64_t io_read(uint16_t port, unsigned size) override;
    void io_write(uint16_t port, uint64_t value, unsigned size) override;

private:
    uint32_t m_iobase { 0x510 };
    // "x-file-slots": the file directory's size (QEMU's default 0x20;
    // pc_compat 2.8 sets 0x10).  Carried, not acted on: no files here.
    uint16_t m_file_slots { 0x20 };
    std::map<uint16_t, std::vector<uint8_t>> m_items;
    uint16_t m_selector { 0 };
    size_t m_offset { 0 };
};

// ---- isa-i8259 (hw/intc/i8259.cc) -----------------------------------------

/// The master and slave 8259 ports (0x20-0x21, 0xa0-0xa1) and the ELCR
/// (0x4d0-0x4d1), accepted as QEMU's PIC under split irqchip is: guests
/// mask it and route interrupts through the IOAPIC.  It keeps each
/// chip's IMR and the ELCR (read back as written) and never interrupts.
class I8259State : public ISADevice {
public:
    static constexpr std::string_view type_name = TYPE_ISA_I8259;
    using Parent = ISADevice;
    using Class = qdev::DeviceClass;

    static void class_init(qdev::DeviceClass &dc);

    bool io_contains(uint16_t port) const override;
    uint64_t io_read(uint16_t port, unsigned size) override;
    void io_write(uint16_t port, uint64_t value, unsigned size) override;

    uint8_t imr(unsigned chip) const { return m_chips.at(chip).imr; }

private:
    struct Chip {
        uint8_t imr { 0xff };
        uint8_t elcr { 0 };
        // Initialization words still expected after ICW1 (0, 2 or 3).
        uint8_t icw_left { 0 };
    };
    std::array<Chip, 2> m_chips {};
};

} // namespace hw::isa
