#include "hw/isa/isa.h"

#include "hw/isa/isa-devices.h"
#include "qom/context.h"
#include "qom/type-registry.h"

#include <fmt/format.h>

namespace hw::isa {

ISADevice::ISADevice()
    : m_guest_errors([this](std::string_view msg) {
        context().guest_error(fmt::format("{}: guest error: {}",
                                          object_class().name(), msg));
    })
{
}

void ISADevice::class_init(qdev::DeviceClass &dc)
{
    dc.category = qdev::DeviceCategory::Misc;
    dc.bus_type = "ISA";
    // ISA devices are wired at start-up and never unplugged.
    dc.hotpluggable = false;
}

ISADevice *IsaBus::find(uint16_t port) const
{
    for (ISADevice *dev : m_devices) {
        if (dev->io_contains(port)) {
            return dev;
        }
    }
    return nullptr;
}

void isa_register_types(qom::TypeRegistry &registry)
{
    registry.add<ISADevice>({ .abstract = true });
    registry.add<ISASerialState>();
    registry.add<ISADebugExitState>();
    registry.add<PCTestdevState>();
    registry.add<FWCfgIoState>();
    registry.add<I8259State>();
}

} // namespace hw::isa
