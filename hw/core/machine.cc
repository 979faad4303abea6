#include "hw/core/machine.h"

#include "qom/context.h"
#include "qom/type-registry.h"

namespace hw {

std::shared_ptr<const qom::CompatList>
MachineClass::compat_list(const qom::TypeRegistry &registry) const
{
    std::call_once(m_compat_list_once, [&] {
        std::vector<std::string> origins = compat_origins;
        if (origins.size() != compat_props.size()) {
            origins.assign(1, machine_name);
        }
        m_compat_list = std::make_shared<qom::CompatList>(
            registry, compat_props, std::span<const std::string>(origins));
    });
    return m_compat_list;
}

void MachineState::register_properties(qom::ObjectClass &)
{
    // Machine options that are not sugar for other objects are added here
    // as seoib grows them; kernel-irqchip is sugar for kvm-accel (vl).
}

void machine_register_types(qom::TypeRegistry &registry)
{
    registry.add<MachineState>({ .abstract = true });
}

std::vector<const MachineClass *>
machine_classes(const qom::TypeRegistry &registry)
{
    std::vector<const MachineClass *> out;
    registry.for_each_class([&](const qom::ObjectClass &oc) {
        if (!oc.is_abstract() && oc.is_a(TYPE_MACHINE)) {
            out.push_back(static_cast<const MachineClass *>(&oc));
        }
    });
    return out;
}

const MachineClass *find_machine(const qom::TypeRegistry &registry,
                                 std::string_view name)
{
    for (const MachineClass *mc : machine_classes(registry)) {
        if (mc->machine_name == name || (!mc->alias.empty() && mc->alias == name)) {
            return mc;
        }
    }
    return nullptr;
}

const MachineClass *find_default_machine(const qom::TypeRegistry &registry)
{
    for (const MachineClass *mc : machine_classes(registry)) {
        if (mc->is_default) {
            return mc;
        }
    }
    return nullptr;
}

qapi::Result<qom::Ref<MachineState>>
create_machine(qom::Context &ctx, const MachineClass &mc)
{
    ctx.globals().set_machine_compat(mc.compat_list(ctx.types()));

    qom::Ref<MachineState> machine =
        TRY(ctx.new_object<MachineState>(mc.name()));
    TRY(ctx.root().add_child("machine", machine));
    TRY(machine->add_child("unattached",
                           TRY(ctx.new_object(qom::TYPE_CONTAINER))));
    return machine;
}

} // namespace hw
