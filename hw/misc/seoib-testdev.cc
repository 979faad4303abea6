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
    oc.add_property(qom::make_property(
        qom::prop("x-pause-after", &SeoibTestdevState::m_pause_after)
            .default_value(uint32_t { 0 })
            .doc("pause the VM once the guest has finished this many events "
                 "(0: never); for stopping a guest at a known point")));
    // What the guest reported, for a monitor (read-only).
    oc.add_property(std::make_unique<qom::AccessorProperty<SeoibTestdevState, uint64_t>>(
        "events-done",
        [](const SeoibTestdevState &s) { return s.m_counters.events_done; }, nullptr,
        "device events the guest has finished"));
    oc.add_property(std::make_unique<qom::AccessorProperty<SeoibTestdevState, uint64_t>>(
        "handler-entries",
        [](const SeoibTestdevState &s) { return s.m_counters.handler_entries; }, nullptr,
        "times the guest's interrupt handler ran"));
    oc.add_property(std::make_unique<qom::AccessorProperty<SeoibTestdevState, bool>>(
        "finished", [](const SeoibTestdevState &s) { return s.m_counters.finished; }, nullptr,
        "the guest has done all its events"));
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

std::unique_ptr<migration::VMStateInstance> SeoibTestdevState::vmstate()
{
    using migration::member;
    using C = SeoibTestdevCounters;
    // The line level travels as it is: the IOAPIC's IRR, migrated too,
    // already holds what the line did to it, so nothing is replayed.
    auto vmsd =
        migration::vmstate<SeoibTestdevState>("seoib-testdev")
            .version(1)
            .minimum_version(1)
            .pre_save([](SeoibTestdevState &s) -> qapi::Result<void> {
                s.m_migrated = Migrated {
                    .level = s.m_level,
                    .counters = s.m_counters,
                    .has_lvr = s.m_counters.lvr.has_value(),
                    .has_svr = s.m_counters.svr.has_value(),
                    .lvr = s.m_counters.lvr.value_or(0),
                    .svr = s.m_counters.svr.value_or(0),
                };
                return {};
            })
            .field("level", member(&SeoibTestdevState::m_migrated, &Migrated::level))
            .field("events", member(&SeoibTestdevState::m_migrated, &Migrated::counters, &C::events))
            .field("services",
                   member(&SeoibTestdevState::m_migrated, &Migrated::counters, &C::services))
            .field("handler_entries", member(&SeoibTestdevState::m_migrated, &Migrated::counters,
                                             &C::handler_entries))
            .field("lapic_eois",
                   member(&SeoibTestdevState::m_migrated, &Migrated::counters, &C::lapic_eois))
            .field("ioapic_eois",
                   member(&SeoibTestdevState::m_migrated, &Migrated::counters, &C::ioapic_eois))
            .field("events_done",
                   member(&SeoibTestdevState::m_migrated, &Migrated::counters, &C::events_done))
            .field("finished",
                   member(&SeoibTestdevState::m_migrated, &Migrated::counters, &C::finished))
            .field("has_lvr", member(&SeoibTestdevState::m_migrated, &Migrated::has_lvr))
            .field("lvr", member(&SeoibTestdevState::m_migrated, &Migrated::lvr))
            .field("has_svr", member(&SeoibTestdevState::m_migrated, &Migrated::has_svr))
            .field("svr", member(&SeoibTestdevState::m_migrated, &Migrated::svr))
            .post_load([](SeoibTestdevState &s, int) -> qapi::Result<void> {
                const Migrated &m = s.m_migrated;
                s.m_level = m.level;
                s.m_counters = m.counters;
                s.m_counters.lvr = m.has_lvr ? std::optional(m.lvr) : std::nullopt;
                s.m_counters.svr = m.has_svr ? std::optional(m.svr) : std::nullopt;
                return {};
            })
            .build();
    return migration::bind_vmstate(std::move(vmsd), *this);
}

void hw_misc_register_types(qom::TypeRegistry &registry)
{
    registry.add<SeoibTestdevState>();
}

} // namespace hw::misc
