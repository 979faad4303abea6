#include "hw/i386/pc-versions.h"

#include "hw/core/machine-compat.h"
#include "hw/i386/pc-compat.h"

#include <fmt/format.h>

namespace hw {

std::string MachineVersion::to_string() const
{
    if (micro != 0) {
        return fmt::format("{}.{}.{}", major, minor, micro);
    }
    return fmt::format("{}.{}", major, minor);
}

namespace {

using CompatTable = std::span<const qom::CompatProperty>;

constexpr PCMachineDefinition q35(std::string_view name,
                                  std::string_view type_name,
                                  MachineVersion version)
{
    return { name, type_name, PCFamily::Q35, version, {}, false, false,
             PC_Q35_DESC };
}

constexpr PCMachineDefinition i440fx(std::string_view name,
                                     std::string_view type_name,
                                     MachineVersion version)
{
    return { name, type_name, PCFamily::I440FX, version, {}, false, false,
             PC_I440FX_DESC };
}

// QEMU's DEFINE_Q35_MACHINE_AS_LATEST and DEFINE_I440FX_MACHINE_AS_LATEST:
// the newest version of a family carries the family's short name.
constexpr PCMachineDefinition as_latest(PCMachineDefinition machine,
                                        std::string_view alias)
{
    machine.alias = alias;
    return machine;
}

constexpr PCMachineDefinition as_default(PCMachineDefinition machine)
{
    machine.is_default = true;
    return machine;
}

constexpr PCMachineDefinition
with_kernel_irqchip_split(PCMachineDefinition machine)
{
    machine.default_kernel_irqchip_split = true;
    return machine;
}

// Every name is spelled out so that a grep for a machine type finds it.
constexpr PCMachineDefinition pc_machines[] = {
    as_latest(q35("pc-q35-11.0", "pc-q35-11.0-machine", { 11, 0 }), "q35"),
    q35("pc-q35-10.2", "pc-q35-10.2-machine", { 10, 2 }),
    q35("pc-q35-10.1", "pc-q35-10.1-machine", { 10, 1 }),
    q35("pc-q35-10.0", "pc-q35-10.0-machine", { 10, 0 }),
    q35("pc-q35-9.2", "pc-q35-9.2-machine", { 9, 2 }),
    q35("pc-q35-9.1", "pc-q35-9.1-machine", { 9, 1 }),
    q35("pc-q35-9.0", "pc-q35-9.0-machine", { 9, 0 }),
    q35("pc-q35-8.2", "pc-q35-8.2-machine", { 8, 2 }),
    q35("pc-q35-8.1", "pc-q35-8.1-machine", { 8, 1 }),
    q35("pc-q35-8.0", "pc-q35-8.0-machine", { 8, 0 }),
    q35("pc-q35-7.2", "pc-q35-7.2-machine", { 7, 2 }),
    q35("pc-q35-7.1", "pc-q35-7.1-machine", { 7, 1 }),
    q35("pc-q35-7.0", "pc-q35-7.0-machine", { 7, 0 }),
    q35("pc-q35-6.2", "pc-q35-6.2-machine", { 6, 2 }),
    q35("pc-q35-6.1", "pc-q35-6.1-machine", { 6, 1 }),
    q35("pc-q35-6.0", "pc-q35-6.0-machine", { 6, 0 }),
    q35("pc-q35-5.2", "pc-q35-5.2-machine", { 5, 2 }),
    q35("pc-q35-5.1", "pc-q35-5.1-machine", { 5, 1 }),
    q35("pc-q35-5.0", "pc-q35-5.0-machine", { 5, 0 }),
    q35("pc-q35-4.2", "pc-q35-4.2-machine", { 4, 2 }),
    q35("pc-q35-4.1", "pc-q35-4.1-machine", { 4, 1 }),
    // QEMU 4.0 made kernel-irqchip=split the q35 default.  4.0.1 went back
    // to an in-kernel irqchip through a new machine, pc-q35-4.0.1
    // (DEFINE_Q35_MACHINE_BUGFIX, with the 4.0 compat arrays), and left
    // pc-q35-4.0 split so that guests started on it keep their irqchip.
    q35("pc-q35-4.0.1", "pc-q35-4.0.1-machine", { 4, 0, 1 }),
    with_kernel_irqchip_split(
        q35("pc-q35-4.0", "pc-q35-4.0-machine", { 4, 0 })),
    q35("pc-q35-3.1", "pc-q35-3.1-machine", { 3, 1 }),
    q35("pc-q35-3.0", "pc-q35-3.0-machine", { 3, 0 }),
    q35("pc-q35-2.12", "pc-q35-2.12-machine", { 2, 12 }),
    q35("pc-q35-2.11", "pc-q35-2.11-machine", { 2, 11 }),
    q35("pc-q35-2.10", "pc-q35-2.10-machine", { 2, 10 }),
    q35("pc-q35-2.9", "pc-q35-2.9-machine", { 2, 9 }),
    q35("pc-q35-2.8", "pc-q35-2.8-machine", { 2, 8 }),

    // The only machine marked is_default: what runs without -machine.
    as_default(as_latest(
        i440fx("pc-i440fx-11.0", "pc-i440fx-11.0-machine", { 11, 0 }), "pc")),
    i440fx("pc-i440fx-10.2", "pc-i440fx-10.2-machine", { 10, 2 }),
    i440fx("pc-i440fx-10.1", "pc-i440fx-10.1-machine", { 10, 1 }),
    i440fx("pc-i440fx-10.0", "pc-i440fx-10.0-machine", { 10, 0 }),
    i440fx("pc-i440fx-9.2", "pc-i440fx-9.2-machine", { 9, 2 }),
    i440fx("pc-i440fx-9.1", "pc-i440fx-9.1-machine", { 9, 1 }),
    i440fx("pc-i440fx-9.0", "pc-i440fx-9.0-machine", { 9, 0 }),
    i440fx("pc-i440fx-8.2", "pc-i440fx-8.2-machine", { 8, 2 }),
    i440fx("pc-i440fx-8.1", "pc-i440fx-8.1-machine", { 8, 1 }),
    i440fx("pc-i440fx-8.0", "pc-i440fx-8.0-machine", { 8, 0 }),
    i440fx("pc-i440fx-7.2", "pc-i440fx-7.2-machine", { 7, 2 }),
    i440fx("pc-i440fx-7.1", "pc-i440fx-7.1-machine", { 7, 1 }),
    i440fx("pc-i440fx-7.0", "pc-i440fx-7.0-machine", { 7, 0 }),
    i440fx("pc-i440fx-6.2", "pc-i440fx-6.2-machine", { 6, 2 }),
    i440fx("pc-i440fx-6.1", "pc-i440fx-6.1-machine", { 6, 1 }),
    i440fx("pc-i440fx-6.0", "pc-i440fx-6.0-machine", { 6, 0 }),
    i440fx("pc-i440fx-5.2", "pc-i440fx-5.2-machine", { 5, 2 }),
    i440fx("pc-i440fx-5.1", "pc-i440fx-5.1-machine", { 5, 1 }),
    i440fx("pc-i440fx-5.0", "pc-i440fx-5.0-machine", { 5, 0 }),
    i440fx("pc-i440fx-4.2", "pc-i440fx-4.2-machine", { 4, 2 }),
    i440fx("pc-i440fx-4.1", "pc-i440fx-4.1-machine", { 4, 1 }),
    i440fx("pc-i440fx-4.0", "pc-i440fx-4.0-machine", { 4, 0 }),
    i440fx("pc-i440fx-3.1", "pc-i440fx-3.1-machine", { 3, 1 }),
    i440fx("pc-i440fx-3.0", "pc-i440fx-3.0-machine", { 3, 0 }),
    i440fx("pc-i440fx-2.12", "pc-i440fx-2.12-machine", { 2, 12 }),
    i440fx("pc-i440fx-2.11", "pc-i440fx-2.11-machine", { 2, 11 }),
    i440fx("pc-i440fx-2.10", "pc-i440fx-2.10-machine", { 2, 10 }),
    i440fx("pc-i440fx-2.9", "pc-i440fx-2.9-machine", { 2, 9 }),
    i440fx("pc-i440fx-2.8", "pc-i440fx-2.8-machine", { 2, 8 }),
};

// One row per compat version, newest first: QEMU's options-function chain
// written as a table.  A machine of version X applies every row whose
// version is >= X, top to bottom, each row's arrays in column order.
//
// The tables are referred to by address: their spans are constinit but not
// constexpr, and an address is a constant where a span's value is not, so
// this table needs no initialisation at run time either.
struct CompatVersion {
    MachineVersion version;
    const CompatTable *hw_compat;
    const CompatTable *pc_compat;
    // This project's own entries for the version, applied after QEMU's.
    const CompatTable *extra = nullptr;
    std::string_view extra_name = {};
};

constexpr CompatVersion pc_compat_versions[] = {
    { { 10, 2 }, &hw_compat_10_2, &pc_compat_10_2, &seoib_compat_10_2,
      "seoib_compat_10_2" },
    { { 10, 1 }, &hw_compat_10_1, &pc_compat_10_1 },
    { { 10, 0 }, &hw_compat_10_0, &pc_compat_10_0 },
    { { 9, 2 }, &hw_compat_9_2, &pc_compat_9_2 },
    { { 9, 1 }, &hw_compat_9_1, &pc_compat_9_1 },
    { { 9, 0 }, &hw_compat_9_0, &pc_compat_9_0 },
    { { 8, 2 }, &hw_compat_8_2, &pc_compat_8_2 },
    { { 8, 1 }, &hw_compat_8_1, &pc_compat_8_1 },
    { { 8, 0 }, &hw_compat_8_0, &pc_compat_8_0 },
    { { 7, 2 }, &hw_compat_7_2, &pc_compat_7_2 },
    { { 7, 1 }, &hw_compat_7_1, &pc_compat_7_1 },
    { { 7, 0 }, &hw_compat_7_0, &pc_compat_7_0 },
    { { 6, 2 }, &hw_compat_6_2, &pc_compat_6_2 },
    { { 6, 1 }, &hw_compat_6_1, &pc_compat_6_1 },
    { { 6, 0 }, &hw_compat_6_0, &pc_compat_6_0 },
    { { 5, 2 }, &hw_compat_5_2, &pc_compat_5_2 },
    { { 5, 1 }, &hw_compat_5_1, &pc_compat_5_1 },
    { { 5, 0 }, &hw_compat_5_0, &pc_compat_5_0 },
    { { 4, 2 }, &hw_compat_4_2, &pc_compat_4_2 },
    { { 4, 1 }, &hw_compat_4_1, &pc_compat_4_1 },
    { { 4, 0 }, &hw_compat_4_0, &pc_compat_4_0 },
    { { 3, 1 }, &hw_compat_3_1, &pc_compat_3_1 },
    { { 3, 0 }, &hw_compat_3_0, &pc_compat_3_0 },
    { { 2, 12 }, &hw_compat_2_12, &pc_compat_2_12 },
    { { 2, 11 }, &hw_compat_2_11, &pc_compat_2_11 },
    { { 2, 10 }, &hw_compat_2_10, &pc_compat_2_10 },
    { { 2, 9 }, &hw_compat_2_9, &pc_compat_2_9 },
    { { 2, 8 }, &hw_compat_2_8, &pc_compat_2_8 },
};

void append(std::vector<qom::CompatProperty> &list, const CompatTable *table)
{
    if (table != nullptr) {
        list.insert(list.end(), table->begin(), table->end());
    }
}

// QEMU compares a machine's age with the version its tree will be released
// as: a release (micro < 50) with itself; an x.0 or x.1 development tree
// (x.0.50, x.1.90) with the next minor; an x.2 development tree with
// (x+1).0, because x.2 is the last release of a year (boards.h,
// _MACHINE_VER_IS_EXPIRED_IMPL).
MachineVersion release_version(MachineVersion qemu_version)
{
    if (qemu_version.micro < 50) {
        return { qemu_version.major, qemu_version.minor };
    }
    if (qemu_version.minor < 2) {
        return { qemu_version.major, qemu_version.minor + 1 };
    }
    return { qemu_version.major + 1, 0 };
}

// A machine expires @cutoff_years years after its release: a major number
// is a year, so X.Y expires in the (X + cutoff).Y release.  The micro
// number of the machine does not count.
bool machine_version_expired(MachineVersion version, int cutoff_years,
                             MachineVersion qemu_version)
{
    const MachineVersion release = release_version(qemu_version);
    const int years = release.major - version.major;
    return years > cutoff_years ||
           (years == cutoff_years && release.minor >= version.minor);
}

} // namespace

std::span<const PCMachineDefinition> pc_machine_definitions()
{
    return pc_machines;
}

std::vector<qom::CompatProperty>
pc_machine_compat_props(PCFamily family, MachineVersion version)
{
    const MachineVersion compat_version { version.major, version.minor };
    std::vector<qom::CompatProperty> list;

    switch (family) {
    case PCFamily::Q35:
        append(list, &pc_q35_compat_defaults);
        break;
    case PCFamily::I440FX:
        append(list, &pc_piix_compat_defaults);
        break;
    }
    for (const CompatVersion &row : pc_compat_versions) {
        if (row.version < compat_version) {
            break;
        }
        append(list, row.hw_compat);
        append(list, row.pc_compat);
        append(list, row.extra);
    }
    return list;
}

std::vector<std::string>
pc_machine_compat_origins(PCFamily family, MachineVersion version)
{
    const MachineVersion compat_version { version.major, version.minor };
    std::vector<std::string> names;
    auto add = [&](const CompatTable *table, std::string_view name) {
        if (table != nullptr) {
            names.insert(names.end(), table->size(), std::string(name));
        }
    };
    switch (family) {
    case PCFamily::Q35:
        add(&pc_q35_compat_defaults, "pc_q35_compat_defaults");
        break;
    case PCFamily::I440FX:
        add(&pc_piix_compat_defaults, "pc_piix_compat_defaults");
        break;
    }
    for (const CompatVersion &row : pc_compat_versions) {
        if (row.version < compat_version) {
            break;
        }
        const int major = row.version.major;
        const int minor = row.version.minor;
        add(row.hw_compat, fmt::format("hw_compat_{}_{}", major, minor));
        add(row.pc_compat, fmt::format("pc_compat_{}_{}", major, minor));
        add(row.extra, row.extra_name);
    }
    return names;
}

bool machine_version_deprecated(MachineVersion version,
                                MachineVersion qemu_version)
{
    return machine_version_expired(version, MACHINE_VER_DEPRECATION_MAJOR,
                                   qemu_version);
}

bool machine_version_deleted_upstream(MachineVersion version,
                                      MachineVersion qemu_version)
{
    return machine_version_expired(version, MACHINE_VER_DELETION_MAJOR,
                                   qemu_version);
}

std::string_view machine_version_deprecation_reason(MachineVersion version,
                                                    MachineVersion qemu_version)
{
    if (machine_version_deprecated(version, qemu_version)) {
        return MACHINE_VER_DEPRECATION_REASON;
    }
    return {};
}

} // namespace hw
