/*
 * hw_compat_X_Y: QEMU's target-independent machine compat tables.
 *
 * Each array holds the global properties that keep machines of version X.Y
 * (and, through the version chain, every older machine) behaving as they did
 * when X.Y was released.  The contents are QEMU's hw/core/machine.c at the
 * 11.0 development snapshot (10.2.50), with TYPE_* names resolved as
 * qemu-system-x86_64 resolves them; tests/data/qemu-compat-props.json is the
 * reference they are tested against.
 *
 * The 2.7 and older arrays were removed upstream together with their
 * machines; 2.8 is the oldest version there is.
 *
 * The arrays are constant-initialised data: reading them needs no set-up and
 * runs no code at load time.  Which machines apply which arrays, and in what
 * order, is hw/i386/pc-versions.h's business.
 */
#pragma once

#include "qom/compat-property.h"

#include <span>

namespace hw {

/// hw_compat_X_Y: entries in QEMU's order, applied first to last (so a later
/// entry for the same driver.property wins).  Some are empty, as upstream.
extern const std::span<const qom::CompatProperty> hw_compat_10_2;
extern const std::span<const qom::CompatProperty> hw_compat_10_1;
extern const std::span<const qom::CompatProperty> hw_compat_10_0;
extern const std::span<const qom::CompatProperty> hw_compat_9_2;
extern const std::span<const qom::CompatProperty> hw_compat_9_1;
extern const std::span<const qom::CompatProperty> hw_compat_9_0;
extern const std::span<const qom::CompatProperty> hw_compat_8_2;
extern const std::span<const qom::CompatProperty> hw_compat_8_1;
extern const std::span<const qom::CompatProperty> hw_compat_8_0;
extern const std::span<const qom::CompatProperty> hw_compat_7_2;
extern const std::span<const qom::CompatProperty> hw_compat_7_1;
extern const std::span<const qom::CompatProperty> hw_compat_7_0;
extern const std::span<const qom::CompatProperty> hw_compat_6_2;
extern const std::span<const qom::CompatProperty> hw_compat_6_1;
extern const std::span<const qom::CompatProperty> hw_compat_6_0;
extern const std::span<const qom::CompatProperty> hw_compat_5_2;
extern const std::span<const qom::CompatProperty> hw_compat_5_1;
extern const std::span<const qom::CompatProperty> hw_compat_5_0;
extern const std::span<const qom::CompatProperty> hw_compat_4_2;
extern const std::span<const qom::CompatProperty> hw_compat_4_1;
extern const std::span<const qom::CompatProperty> hw_compat_4_0;
extern const std::span<const qom::CompatProperty> hw_compat_3_1;
extern const std::span<const qom::CompatProperty> hw_compat_3_0;
extern const std::span<const qom::CompatProperty> hw_compat_2_12;
extern const std::span<const qom::CompatProperty> hw_compat_2_11;
extern const std::span<const qom::CompatProperty> hw_compat_2_10;
extern const std::span<const qom::CompatProperty> hw_compat_2_9;
extern const std::span<const qom::CompatProperty> hw_compat_2_8;

} // namespace hw
