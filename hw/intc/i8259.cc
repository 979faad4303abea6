/*
 * isa-i8259: the two 8259A PICs' ports, accepted as QEMU accepts them
 * under split irqchip.  kvm-unit-tests masks the PICs (OCW1 0xff) and uses
 * the IOAPIC; seoib's PIC never raises an interrupt.  Per the 8259A
 * datasheet: a write with bit 4 set at the even port is ICW1 (ICW2, ICW3
 * and, when ICW1 bit 0 asks, ICW4 follow at the odd port); otherwise the odd
 * port takes OCW1, the IMR, which reads back.
 */
#include "hw/isa/isa-devices.h"

namespace hw::isa {

namespace {
constexpr uint16_t PIC_MASTER = 0x20, PIC_SLAVE = 0xa0, PIC_ELCR = 0x4d0;
constexpr uint8_t ICW1_INIT = 0x10, ICW1_IC4 = 0x01;
} // namespace

void I8259State::class_init(qdev::DeviceClass &dc)
{
    dc.category = qdev::DeviceCategory::Uncategorized;
    // Part of the board's southbridge.
    dc.user_creatable = false;
}

bool I8259State::io_contains(uint16_t port) const
{
    return port == PIC_MASTER || port == PIC_MASTER + 1 ||
           port == PIC_SLAVE || port == PIC_SLAVE + 1 || port == PIC_ELCR ||
           port == PIC_ELCR + 1;
}

uint64_t I8259State::io_read(uint16_t port, unsigned size)
{
    (void)size;
    if (port == PIC_ELCR || port == PIC_ELCR + 1) {
        return m_chips[port - PIC_ELCR].elcr;
    }
    const Chip &chip = m_chips[port >= PIC_SLAVE ? 1 : 0];
    // The even port reads IRR or ISR: nothing is ever pending.
    return (port & 1) ? chip.imr : 0;
}

void I8259State::io_write(uint16_t port, uint64_t value, unsigned size)
{
    (void)size;
    const auto byte = static_cast<uint8_t>(value);
    if (port == PIC_ELCR || port == PIC_ELCR + 1) {
        m_chips[port - PIC_ELCR].elcr = byte;
        return;
    }
    Chip &chip = m_chips[port >= PIC_SLAVE ? 1 : 0];
    if (!(port & 1)) {
        if (byte & ICW1_INIT) {
            chip.imr = 0;
            chip.icw_left = (byte & ICW1_IC4) ? 3 : 2;
        }
        return;
    }
    if (chip.icw_left > 0) {
        --chip.icw_left;
        return;
    }
    chip.imr = byte;
}

} // namespace hw::isa
