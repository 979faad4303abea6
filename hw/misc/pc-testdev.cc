/*
 * pc-testdev (QEMU's hw/misc/pc-testdev.c): the ports kvm-unit-tests drives.
 *   0xe0-0xe3    a 32-bit register: reads return what was last written
 *   0xe4-0xe7    "flush page": accepted (QEMU remaps a page; seoib has no
 *                guest page cache to flush)
 *   0x2000+n     n < 24: a write sets ISA IRQ n (GSI n) to (value != 0);
 *                ioapic.flat asserts and deasserts its test lines here
 * QEMU's 0xe8 (MMIO window) and 0x2400 (memory test) are not modelled.
 */
#include "hw/isa/isa-devices.h"

namespace hw::isa {

bool PCTestdevState::io_contains(uint16_t port) const
{
    return (port >= PC_TESTDEV_IOPORT && port < PC_TESTDEV_FLUSHPAGE + 4) ||
           (port >= PC_TESTDEV_IRQ_BASE &&
            port < PC_TESTDEV_IRQ_BASE + ISA_NUM_IRQS);
}

uint64_t PCTestdevState::io_read(uint16_t port, unsigned size)
{
    if (port >= PC_TESTDEV_IOPORT && port < PC_TESTDEV_FLUSHPAGE) {
        const unsigned shift = 8 * (port - PC_TESTDEV_IOPORT);
        const uint64_t mask = size >= 4 ? 0xffffffff : (1ULL << (8 * size)) - 1;
        return (m_ioport_data >> shift) & mask;
    }
    if (port >= PC_TESTDEV_IRQ_BASE) {
        return m_levels[port - PC_TESTDEV_IRQ_BASE] ? 1 : 0;
    }
    return 0;
}

void PCTestdevState::io_write(uint16_t port, uint64_t value, unsigned size)
{
    if (port >= PC_TESTDEV_IOPORT && port < PC_TESTDEV_FLUSHPAGE) {
        if (port != PC_TESTDEV_IOPORT || size != 4) {
            m_guest_errors.log("write of {} bytes at {:#x}", size, port);
        }
        m_ioport_data = static_cast<uint32_t>(value);
        return;
    }
    if (port >= PC_TESTDEV_IRQ_BASE) {
        const uint32_t irq = port - PC_TESTDEV_IRQ_BASE;
        m_levels[irq] = value != 0;
        set_isa_irq(irq, value != 0);
    }
}

} // namespace hw::isa
