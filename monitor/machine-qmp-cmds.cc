#include "monitor/qmp-cmds.h"

#include "hw/core/machine.h"

#include <string>

namespace monitor {

std::vector<qapi::MachineInfo>
query_machines(const qom::TypeRegistry &types,
               const qapi::QueryMachinesArgs &args)
{
    std::vector<qapi::MachineInfo> out;
    for (const hw::MachineClass *mc : hw::machine_classes(types)) {
        qapi::MachineInfo info {
            .name = mc->machine_name,
            .cpu_max = mc->max_cpus,
            // seoib-vm has no -device for vCPUs and no -numa: it answers
            // for itself rather than repeating QEMU's values.
            .hotpluggable_cpus = false,
            .numa_mem_supported = false,
            .deprecated = !mc->deprecation_reason.empty(),
            // QEMU's machine_query_machines() tests for the property too.
            .acpi = mc->find_property("acpi") != nullptr,
        };
        if (!mc->alias.empty()) {
            info.alias = mc->alias;
        }
        if (mc->is_default) {
            info.is_default = true;
        }
        if (args.compat_props.value_or(false)) {
            std::vector<qapi::CompatProperty> compat;
            compat.reserve(mc->compat_props.size());
            for (const qom::CompatProperty &p : mc->compat_props) {
                compat.push_back(qapi::CompatProperty {
                    .qom_type = std::string(p.driver),
                    .property = std::string(p.property),
                    .value = std::string(p.value),
                });
            }
            info.compat_props = std::move(compat);
        }
        out.push_back(std::move(info));
    }
    return out;
}

} // namespace monitor
