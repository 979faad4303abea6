#include "hw/misc/seoib-testdev.h"

#include "qom/type-registry.h"

#include <fmt/format.h>


namespace hw::misc {

namespace {

uint64_t truncate_to_size(uint64_t value, unsigned size)
{
    return size >= 8 ? value : value & ((uint64_t { 1 } << (size * 8)) - 1);
}

bool valid_access_size(unsigned size)
{
    return size == 1 || size == 2 || size == 4;
}

} // namespace

SeoibTestdevState::SeoibTestdevState()
    : m_guest_errors([this](std::string_view msg) {
        context().guest_error(fmt::format("seoib-testdev: guest error: {}", msg));
    })
{
}

void SeoibTestdevState::class_init(qdev::DeviceClass &dc)
{
    dc.desc = "Test device with a level-triggered IOAPIC interrupt line";
    dc.category = qdev::DeviceCategory::Misc;
    // A test device is added on the command line (-device seoib-testdev),
    // as QEMU's pc-testdev is.
    dc.user_creatable = true;
    // Its port window and interrupt line are fixed for the guest's life,
    // as an ISA device's are: it can be added at start-up, never unplugged.
    dc.hotpluggable = false;
}

void SeoibTestdevState::register_properties(qom::ObjectClass &oc)
{
    oc.add_property(qom::make_property(
        qom::prop("pin", &SeoibTestdevState::m_pin)
            .default_value(SEOIB_TESTDEV_DEFAULT_PIN)
            .doc("IOAPIC input of the interrupt line (0-23)")));
    oc.add_property(qom::make_property(
        qom::prop("iobase", &SeoibTestdevState::m_iobase)
            .default_value(SEOIB_TESTDEV_DEFAULT_IOBASE)
            .doc("first port of the 16-byte I/O window")));
}

qapi::Result<void> SeoibTestdevState::do_realize()
{
    if (m_pin >= SEOIB_TESTDEV_NUM_PINS) {
        return qapi::Error::format(
            "pin {} is not an IOAPIC input (0-{})", m_pin,
            SEOIB_TESTDEV_NUM_PINS - 1);
    }
    if (m_iobase > 0x10000 - SEOIB_TESTDEV_IO_SIZE) {
        return qapi::Error::format(
            "iobase {:#x} leaves no room for the {}-byte I/O window",
            m_iobase, SEOIB_TESTDEV_IO_SIZE);
    }
    return {};
}

bool SeoibTestdevState::io_contains(uint64_t port) const
{
    return port >= m_iobase && port - m_iobase < SEOIB_TESTDEV_IO_SIZE;
}

void SeoibTestdevState::connect_irq(IrqHandler handler)
{
    m_irq = std::move(handler);
}

void SeoibTestdevState::set_level(bool level)
{
    if (level == m_level) {
        return;
    }
    m_level = level;
    if (m_irq) {
        m_irq(level);
    }
}

uint64_t SeoibTestdevState::io_read(uint64_t offset, unsigned size)
{
    if (!valid_access_size(size) || offset >= SEOIB_TESTDEV_IO_SIZE) {
        m_guest_errors.log("read of {} bytes at offset {:#x}", size, offset);
        return 0;
    }
    return offset == SEOIB_TESTDEV_STATUS && m_level ? 1 : 0;
}

void SeoibTestdevState::io_write(uint64_t offset, uint64_t value,
                                 unsigned size)
{
    if (!valid_access_size(size) || offset >= SEOIB_TESTDEV_IO_SIZE) {
        m_guest_errors.log("write of {} bytes at offset {:#x}", size, offset);
        return;
    }
    value = truncate_to_size(value, size);
    switch (offset) {
    case SEOIB_TESTDEV_RAISE:
        ++m_counters.events;
        set_level(true);
        break;
    case SEOIB_TESTDEV_LOWER:
        set_level(false);
        break;
    case SEOIB_TESTDEV_SERVICE:
        ++m_counters.services;
        set_level(false);
        break;
    case SEOIB_TESTDEV_HANDLER:
        ++m_counters.handler_entries;
        break;
    case SEOIB_TESTDEV_LAPIC_EOI:
        ++m_counters.lapic_eois;
        break;
    case SEOIB_TESTDEV_IOAPIC_EOI:
        ++m_counters.ioapic_eois;
        break;
    case SEOIB_TESTDEV_EVENT_DONE:
        ++m_counters.events_done;
        break;
    case SEOIB_TESTDEV_FINISHED:
        m_counters.finished = true;
        break;
    case SEOIB_TESTDEV_LVR:
        m_counters.lvr = static_cast<uint32_t>(value);
        break;
    case SEOIB_TESTDEV_SVR:
        m_counters.svr = static_cast<uint32_t>(value);
        break;
    default:
        m_guest_errors.log("write of {:#x} inside a report register at "
                           "offset {:#x}",
                           value, offset);
        break;
    }
}

void SeoibTestdevState::reset()
{
    set_level(false);
    m_counters = {};
}

void hw_misc_register_types(qom::TypeRegistry &registry)
{
    registry.add<SeoibTestdevState>();
}

} // namespace hw::misc
