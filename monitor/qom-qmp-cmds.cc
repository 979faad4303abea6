#include "monitor/qmp-cmds.h"

#include "hw/core/qdev.h"
#include "qom/property.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <string>

namespace monitor {

qapi::Result<std::vector<qapi::ObjectPropertyInfo>>
qom_list(const qom::Context &ctx, const qapi::QomListArgs &args)
{
    const qom::Object *obj = TRY(ctx.resolve_path_checked(args.path));
    std::vector<qapi::ObjectPropertyInfo> props;
    obj->for_each_property([&](const qom::ObjectProperty &p) {
        props.push_back(qapi::ObjectPropertyInfo { .name = p.name(),
                                                   .type = p.type() });
    });
    return props;
}

qapi::Result<qapi::QObject> qom_get(const qom::Context &ctx,
                                    const qapi::QomGetArgs &args)
{
    const qom::Object *obj = TRY(ctx.resolve_path_checked(args.path));
    return obj->get_property(args.property);
}

qapi::Result<void> qom_set(qom::Context &ctx, const qapi::QomSetArgs &args)
{
    qom::Object *obj = TRY(ctx.resolve_path_checked(args.path));
    return obj->set_property(args.property, args.value);
}

std::vector<qapi::ObjectTypeInfo>
qom_list_types(const qom::TypeRegistry &types,
               const qapi::QomListTypesArgs &args)
{
    const bool with_abstract = args.abstract.value_or(false);
    std::vector<qapi::ObjectTypeInfo> out;
    types.for_each_class([&](const qom::ObjectClass &oc) {
        if (args.implements && !oc.is_a(*args.implements)) {
            return;
        }
        if (oc.is_abstract() && !with_abstract) {
            return;
        }
        qapi::ObjectTypeInfo info { .name = std::string(oc.name()) };
        if (oc.is_abstract()) {
            info.abstract = true;
        }
        if (const qom::ObjectClass *parent = oc.parent()) {
            info.parent = std::string(parent->name());
        }
        out.push_back(std::move(info));
    });
    return out;
}

qapi::Result<std::vector<qapi::ObjectPropertyInfo>>
qom_list_properties(const qom::TypeRegistry &types,
                    const qapi::QomListPropertiesArgs &args)
{
    const qom::ObjectClass *oc = types.find_class(args.q_typename);
    if (!oc) {
        return qapi::Error(fmt::format("Class '{}' not found", args.q_typename),
                           qapi::ErrorClass::DeviceNotFound);
    }
    std::vector<qapi::ObjectPropertyInfo> props;
    oc->for_each_property([&](const qom::ObjectProperty &p) {
        qapi::ObjectPropertyInfo info { .name = p.name(), .type = p.type() };
        if (!p.description().empty()) {
            info.description = p.description();
        }
        info.default_value = p.default_value();
        props.push_back(std::move(info));
    });
    return props;
}

qapi::Result<std::vector<qapi::ObjectPropertyInfo>>
device_list_properties(const qom::TypeRegistry &types,
                       const qapi::DeviceListPropertiesArgs &args)
{
    const qom::ObjectClass *oc = types.find_class(args.q_typename);
    if (!oc) {
        return qapi::Error(fmt::format("Device '{}' not found", args.q_typename),
                           qapi::ErrorClass::DeviceNotFound);
    }
    if (oc->is_abstract() || !oc->is_a(qdev::TYPE_DEVICE)) {
        return qapi::Error(
            "Parameter 'typename' expects a non-abstract device type");
    }
    // What every device has, which QEMU leaves out of the listing.
    static constexpr std::string_view common[] = {
        "type", "realized", "hotplugged", "hotpluggable", "parent_bus"
    };
    std::vector<qapi::ObjectPropertyInfo> props = TRY(
        qom_list_properties(types, { .q_typename = args.q_typename }));
    std::erase_if(props, [](const qapi::ObjectPropertyInfo &p) {
        return std::find(std::begin(common), std::end(common), p.name) !=
               std::end(common);
    });
    return props;
}

} // namespace monitor
