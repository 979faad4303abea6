/*
 * pc_compat_X_Y and the PC family defaults: QEMU's x86 machine compat tables.
 *
 * pc_compat_X_Y (QEMU's hw/i386/pc.c) is the x86 half of what a version-X.Y
 * PC machine applies; hw_compat_X_Y (hw/core/machine-compat.h) is the other.
 * pc_q35_compat_defaults and pc_piix_compat_defaults (QEMU's pc_q35.c and
 * pc_piix.c) are applied first by every machine of their family, whatever
 * its version.  The contents are QEMU's at the 11.0 development snapshot
 * (10.2.50), with TYPE_X86_CPU resolved to "x86_64-cpu"; the reference they
 * are tested against is tests/data/qemu-compat-props.json.
 *
 * seoib_compat_10_2 is this project's own addition; see its comment.
 *
 * All arrays are constant-initialised data.  The order in which machines
 * apply them lives in hw/i386/pc-versions.h.
 */
#pragma once

#include "qom/compat-property.h"

#include <span>

namespace hw {

/// Applied first by every pc-q35-* machine.
extern const std::span<const qom::CompatProperty> pc_q35_compat_defaults;
/// Applied first by every pc-i440fx-* machine.
extern const std::span<const qom::CompatProperty> pc_piix_compat_defaults;

/// pc_compat_X_Y: entries in QEMU's order, applied first to last (so a later
/// entry for the same driver.property wins).  Some are empty, as upstream.
/// There is no pc_compat_2_7: the 2.7 machines are not provided.
extern const std::span<const qom::CompatProperty> pc_compat_10_2;
extern const std::span<const qom::CompatProperty> pc_compat_10_1;
extern const std::span<const qom::CompatProperty> pc_compat_10_0;
extern const std::span<const qom::CompatProperty> pc_compat_9_2;
extern const std::span<const qom::CompatProperty> pc_compat_9_1;
extern const std::span<const qom::CompatProperty> pc_compat_9_0;
extern const std::span<const qom::CompatProperty> pc_compat_8_2;
extern const std::span<const qom::CompatProperty> pc_compat_8_1;
extern const std::span<const qom::CompatProperty> pc_compat_8_0;
extern const std::span<const qom::CompatProperty> pc_compat_7_2;
extern const std::span<const qom::CompatProperty> pc_compat_7_1;
extern const std::span<const qom::CompatProperty> pc_compat_7_0;
extern const std::span<const qom::CompatProperty> pc_compat_6_2;
extern const std::span<const qom::CompatProperty> pc_compat_6_1;
extern const std::span<const qom::CompatProperty> pc_compat_6_0;
extern const std::span<const qom::CompatProperty> pc_compat_5_2;
extern const std::span<const qom::CompatProperty> pc_compat_5_1;
extern const std::span<const qom::CompatProperty> pc_compat_5_0;
extern const std::span<const qom::CompatProperty> pc_compat_4_2;
extern const std::span<const qom::CompatProperty> pc_compat_4_1;
extern const std::span<const qom::CompatProperty> pc_compat_4_0;
extern const std::span<const qom::CompatProperty> pc_compat_3_1;
extern const std::span<const qom::CompatProperty> pc_compat_3_0;
extern const std::span<const qom::CompatProperty> pc_compat_2_12;
extern const std::span<const qom::CompatProperty> pc_compat_2_11;
extern const std::span<const qom::CompatProperty> pc_compat_2_10;
extern const std::span<const qom::CompatProperty> pc_compat_2_9;
extern const std::span<const qom::CompatProperty> pc_compat_2_8;

/// Ours, not QEMU's: { "kvm-accel", "x-seoib-legacy", "on" }.  Machines of
/// version 10.2 and older apply it right after pc_compat_10_2, so that
/// seoib-policy=auto keeps KVM's quirked EOI broadcast on them.
extern const std::span<const qom::CompatProperty> seoib_compat_10_2;

} // namespace hw
