/*
 * isa-serial: the 16550A UART on the ISA bus (QEMU's hw/char/serial.c and
 * serial-isa.c), as much of it as a polling guest uses.
 *
 * Registers (offset from iobase; DLAB is LCR bit 7):
 *   0  RBR (read) / THR (write); DLL with DLAB
 *   1  IER; DLM with DLAB
 *   2  IIR (read: 0xc1, FIFOs on, no interrupt pending) / FCR (write)
 *   3  LCR   4  MCR   5  LSR (read: THR and transmitter empty)
 *   6  MSR (read: CTS, DSR, DCD asserted)   7  SCR
 */
#include "hw/isa/isa-devices.h"

#include "qom/property.h"

#include <fmt/format.h>

namespace hw::isa {

namespace {

constexpr uint16_t UART_RBR_THR = 0, UART_IER = 1, UART_IIR_FCR = 2,
                   UART_LCR = 3, UART_MCR = 4, UART_LSR = 5, UART_MSR = 6,
                   UART_SCR = 7;
constexpr uint8_t UART_LCR_DLAB = 0x80;
constexpr uint8_t UART_LSR_THRE = 0x20, UART_LSR_TEMT = 0x40;
constexpr uint8_t UART_IIR_NO_INT = 0x01, UART_IIR_FIFO_ENABLED = 0xc0;
constexpr uint8_t UART_MSR_DCD = 0x80, UART_MSR_DSR = 0x20, UART_MSR_CTS = 0x10;
constexpr uint32_t MAX_ISA_SERIAL_PORTS = 4;

} // namespace

void ISASerialState::class_init(qdev::DeviceClass &dc)
{
    dc.category = qdev::DeviceCategory::Input;
}

void ISASerialState::register_properties(qom::ObjectClass &oc)
{
    oc.add_property(qom::make_property(
        qom::prop("index", &ISASerialState::m_index).default_value(UINT32_MAX)));
    oc.add_property(qom::make_property(
        qom::prop("iobase", &ISASerialState::m_iobase)
            .default_value(UINT32_MAX)));
    oc.add_property(qom::make_property(
        qom::prop("irq", &ISASerialState::m_irq).default_value(UINT32_MAX)));
    oc.add_property(qom::make_property(
        qom::prop("baudbase", &ISASerialState::m_baudbase)
            .default_value(115200)));
    oc.add_property(qom::make_property(
        qom::prop("chardev", &ISASerialState::m_chardev)
            .doc("ID of a chardev to use as a backend")));
}

qapi::Result<void> ISASerialState::do_realize()
{
    // serial_isa_realizefn(): index picks the COM port's defaults.
    if (m_index == UINT32_MAX) {
        m_index = 0;
    }
    if (m_index >= MAX_ISA_SERIAL_PORTS) {
        return qapi::Error::format(
            "Max. supported number of ISA serial ports is {}.",
            MAX_ISA_SERIAL_PORTS);
    }
    if (m_iobase == UINT32_MAX) {
        m_iobase = ISA_SERIAL_IOBASE[m_index];
    }
    if (m_irq == UINT32_MAX) {
        m_irq = ISA_SERIAL_IRQ[m_index];
    }
    if (m_iobase > 0x10000 - SERIAL_IO_SIZE) {
        return qapi::Error::format("iobase {:#x} leaves no room for the UART",
                                   m_iobase);
    }
    if (m_irq >= ISA_NUM_IRQS) {
        return qapi::Error::format("isairq {} invalid", m_irq);
    }
    return {};
}

bool ISASerialState::io_contains(uint16_t port) const
{
    return port >= m_iobase && port - m_iobase < SERIAL_IO_SIZE;
}

uint64_t ISASerialState::io_read(uint16_t port, unsigned size)
{
    if (size != 1) {
        m_guest_errors.log("read of {} bytes at {:#x}", size, port);
    }
    const bool dlab = m_lcr & UART_LCR_DLAB;
    switch (port - m_iobase) {
    case UART_RBR_THR:
        return dlab ? (m_divider & 0xff) : 0;
    case UART_IER:
        return dlab ? (m_divider >> 8) : m_ier;
    case UART_IIR_FCR:
        return UART_IIR_FIFO_ENABLED | UART_IIR_NO_INT;
    case UART_LCR:
        return m_lcr;
    case UART_MCR:
        return m_mcr;
    case UART_LSR:
        return UART_LSR_THRE | UART_LSR_TEMT;
    case UART_MSR:
        return UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
    default:
        return m_scr;
    }
}

void ISASerialState::io_write(uint16_t port, uint64_t value, unsigned size)
{
    if (size != 1) {
        m_guest_errors.log("write of {} bytes at {:#x}", size, port);
    }
    const auto byte = static_cast<uint8_t>(value);
    const bool dlab = m_lcr & UART_LCR_DLAB;
    switch (port - m_iobase) {
    case UART_RBR_THR:
        if (dlab) {
            m_divider = static_cast<uint16_t>((m_divider & 0xff00) | byte);
        } else if (m_sink) {
            const char c = static_cast<char>(byte);
            m_sink(std::string_view(&c, 1));
        }
        break;
    case UART_IER:
        if (dlab) {
            m_divider = static_cast<uint16_t>((m_divider & 0xff) | byte << 8);
        } else {
            m_ier = byte & 0x0f;
        }
        break;
    case UART_IIR_FCR:
        break;
    case UART_LCR:
        m_lcr = byte;
        break;
    case UART_MCR:
        m_mcr = byte & 0x1f;
        break;
    case UART_SCR:
        m_scr = byte;
        break;
    default:
        // LSR and MSR are read-only; the 16550A ignores the write.
        break;
    }
}

} // namespace hw::isa
