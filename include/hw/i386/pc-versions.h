/*
 * The versioned PC machine types (pc-q35-X.Y, pc-i440fx-X.Y) as data.
 *
 * QEMU defines each of these with DEFINE_PC_VER_MACHINE in hw/i386/pc_q35.c
 * and pc_piix.c; the options functions chain from the newest version down,
 * each one appending its version's hw_compat and pc_compat arrays.  Here the
 * same facts are plain data and pure functions, for the QOM machine classes
 * to build on and for seoib-compat to compare:
 *
 *   - the machine list, with QEMU's names, aliases and flags;
 *   - pc_machine_compat_props(), the compat list a version applies;
 *   - QEMU's deprecation and deletion rule for versioned machines.
 *
 * The data is QEMU's 11.0 development snapshot (10.2.50); the reference it is
 * tested against is tests/data/qemu-compat-props.json.
 */
#pragma once

#include "qom/compat-property.h"

#include <compare>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hw {

/// A machine-type version, as in the name "pc-q35-4.0.1": major 4, minor 0,
/// micro 1.  Ordered numerically, so 4.0 < 4.0.1 < 4.1 < 10.0.
struct MachineVersion {
    int major;
    int minor;
    int micro = 0;

    /// "11.0", "4.0.1": the micro number only when it is not 0, as QEMU
    /// spells machine names.
    std::string to_string() const;

    friend constexpr auto operator<=>(const MachineVersion &,
                                      const MachineVersion &) = default;
};

/// The two PC chipsets QEMU versions.
enum class PCFamily {
    Q35,    ///< pc-q35-*: Q35 + ICH9
    I440FX, ///< pc-i440fx-*: i440FX + PIIX
};

/// QEMU's mc->desc for every pc-q35-* machine.
inline constexpr std::string_view PC_Q35_DESC =
    "Standard PC (Q35 + ICH9, 2009)";
/// QEMU's mc->desc for every pc-i440fx-* machine.
inline constexpr std::string_view PC_I440FX_DESC =
    "Standard PC (i440FX + PIIX, 1996)";

/// One versioned PC machine type: what DEFINE_PC_VER_MACHINE and the options
/// chain give its MachineClass, apart from the compat list (which
/// pc_machine_compat_props() computes from family and version).
struct PCMachineDefinition {
    /// mc->name, what -machine accepts: "pc-q35-11.0".
    std::string_view name;
    /// The QOM type: name + "-machine", "pc-q35-11.0-machine".
    std::string_view type_name;
    PCFamily family;
    MachineVersion version;
    /// mc->alias: "q35" or "pc" for the newest version of a family, else
    /// empty.  -machine accepts it in place of the name.
    std::string_view alias;
    /// mc->is_default: the machine used when -machine is not given.  True
    /// for pc-i440fx-11.0 only.
    bool is_default;
    /// mc->default_kernel_irqchip_split: what kernel-irqchip means when the
    /// user does not set it.  True for pc-q35-4.0 only.
    bool default_kernel_irqchip_split;
    /// mc->desc: PC_Q35_DESC or PC_I440FX_DESC.
    std::string_view desc;
};

/// Every versioned PC machine: the pc-q35-* machines newest first (11.0 …
/// 2.8, with 4.0.1 before 4.0), then the pc-i440fx-* machines newest first.
/// 59 entries, including those QEMU no longer registers
/// (machine_version_deleted_upstream()), because compat testing needs them.
/// The span refers to static data and stays valid for the whole program.
std::span<const PCMachineDefinition> pc_machine_definitions();

/// The compat list of the PC machine of @family and @version, in application
/// order (first to last, later entries win):
///   - the family defaults (pc_q35_compat_defaults or pc_piix_compat_defaults);
///   - then, for every compat version V >= @version, newest first,
///     hw_compat_V and then pc_compat_V, with seoib_compat_10_2 right after
///     pc_compat_10_2.
/// The micro number does not count: pc-q35-4.0.1 applies the 4.0 arrays as
/// pc-q35-4.0 does.  A version newer than every compat array gets the family
/// defaults only.  This is QEMU's mc->compat_props, as query-machines
/// reports it with compat-props=true, plus this project's seoib entry.
/// The entries' strings are static.
std::vector<qom::CompatProperty>
pc_machine_compat_props(PCFamily family, MachineVersion version);

/// QEMU's MACHINE_VER_DEPRECATION_MAJOR: versioned machines more than this
/// many years old are deprecated.
/// The table each entry of pc_machine_compat_props() comes from
/// ("pc_q35_compat_defaults", "hw_compat_9_2", "seoib_compat_10_2"), one
/// name per entry, in the same order.
std::vector<std::string>
pc_machine_compat_origins(PCFamily family, MachineVersion version);

inline constexpr int MACHINE_VER_DEPRECATION_MAJOR = 3;
/// QEMU's MACHINE_VER_DELETION_MAJOR: versioned machines more than this many
/// years old are no longer registered.
inline constexpr int MACHINE_VER_DELETION_MAJOR = 6;

/// The QEMU tree the tables here come from: the 11.0 development snapshot.
/// The deprecation rule is relative to it.
inline constexpr MachineVersion QEMU_SNAPSHOT_VERSION { 10, 2, 50 };

/// QEMU's mc->deprecation_reason for every deprecated versioned machine
/// (MACHINE_VER_DEPRECATION_MSG).
inline constexpr std::string_view MACHINE_VER_DEPRECATION_REASON =
    "machines more than 3 years old are subject to deletion after 6 years";

/// Whether QEMU @qemu_version marks machines of @version deprecated
/// (MACHINE_VER_DEPRECATION).  At the snapshot: 8.0 and older.
bool machine_version_deprecated(MachineVersion version,
    MachineVersion qemu_version = QEMU_SNAPSHOT_VERSION);

/// Whether QEMU @qemu_version no longer registers machines of @version
/// (MACHINE_VER_DELETION): their code is still in QEMU's source, but the
/// machine type does not exist at run time.  At the snapshot: 5.0 and older.
/// This project still provides them, deprecated, for compat testing.
bool machine_version_deleted_upstream(MachineVersion version,
    MachineVersion qemu_version = QEMU_SNAPSHOT_VERSION);

/// MACHINE_VER_DEPRECATION_REASON if machine_version_deprecated(@version,
/// @qemu_version), else empty (QEMU's NULL deprecation_reason).
std::string_view machine_version_deprecation_reason(MachineVersion version,
    MachineVersion qemu_version = QEMU_SNAPSHOT_VERSION);

} // namespace hw
