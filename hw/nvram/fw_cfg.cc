/*
 * fw_cfg_io: QEMU's firmware configuration device, traditional interface
 * (hw/nvram/fw_cfg.c, docs/specs/fw_cfg.rst): a 16-bit selector write at
 * iobase, then byte reads at iobase + 1.  The board fills the items the
 * guests read (kvm-unit-tests: FW_CFG_NB_CPUS; also the signature, ID,
 * RAM size and CPU limits QEMU always provides).  No DMA interface: the ID
 * item says so (bit 1 clear), and no files (FW_CFG_FILE_DIR counts 0).
 */
#include "hw/isa/isa-devices.h"

namespace hw::isa {

namespace {
// FW_CFG_VERSION: the traditional interface only.
constexpr uint32_t FW_CFG_VERSION = 0x01;
} // namespace

FWCfgIoState::FWCfgIoState()
{
    add_bytes(FW_CFG_SIGNATURE, { 'Q', 'E', 'M', 'U' });
    add_i32(FW_CFG_ID, FW_CFG_VERSION);
    // The directory's count is big-endian (struct FWCfgFiles).
    add_bytes(FW_CFG_FILE_DIR, { 0, 0, 0, 0 });
}

void FWCfgIoState::class_init(qdev::DeviceClass &dc)
{
    // Part of the board (QEMU creates it in pc_memory_init).
    dc.user_creatable = false;
}

void FWCfgIoState::register_properties(qom::ObjectClass &oc)
{
    oc.add_property(qom::make_property(
        qom::prop("iobase", &FWCfgIoState::m_iobase).default_value(0x510)));
    oc.add_property(qom::make_property(
        qom::prop("x-file-slots", &FWCfgIoState::m_file_slots)
            .default_value(0x20)));
}

void FWCfgIoState::add_bytes(uint16_t key, std::vector<uint8_t> data)
{
    m_items[key] = std::move(data);
}

void FWCfgIoState::add_i16(uint16_t key, uint16_t value)
{
    add_bytes(key, { static_cast<uint8_t>(value),
                     static_cast<uint8_t>(value >> 8) });
}

void FWCfgIoState::add_i32(uint16_t key, uint32_t value)
{
    std::vector<uint8_t> b(4);
    for (int i = 0; i < 4; i++) {
        b[i] = static_cast<uint8_t>(value >> (8 * i));
    }
    add_bytes(key, std::move(b));
}

void FWCfgIoState::add_i64(uint16_t key, uint64_t value)
{
    std::vector<uint8_t> b(8);
    for (int i = 0; i < 8; i++) {
        b[i] = static_cast<uint8_t>(value >> (8 * i));
    }
    add_bytes(key, std::move(b));
}

bool FWCfgIoState::io_contains(uint16_t port) const
{
    return port == m_iobase + FW_CFG_CTL_OFFSET ||
           port == m_iobase + FW_CFG_DATA_OFFSET;
}

uint64_t FWCfgIoState::io_read(uint16_t port, unsigned size)
{
    if (port != m_iobase + FW_CFG_DATA_OFFSET) {
        return 0;
    }
    // Wider reads return consecutive bytes, the first in the low byte.
    uint64_t value = 0;
    auto item = m_items.find(m_selector);
    for (unsigned i = 0; i < size; i++) {
        uint64_t byte = 0;
        if (item != m_items.end() && m_offset < item->second.size()) {
            byte = item->second[m_offset++];
        }
        value |= byte << (8 * i);
    }
    return value;
}

void FWCfgIoState::io_write(uint16_t port, uint64_t value, unsigned size)
{
    if (port == m_iobase + FW_CFG_CTL_OFFSET) {
        // Bit 14 would select writing, which QEMU has dropped.
        m_selector = static_cast<uint16_t>(value & 0x3fff);
        m_offset = 0;
        return;
    }
    m_guest_errors.log("write of {} bytes to the data port (read-only)",
                       size);
}

} // namespace hw::isa
