/*
 * CompatProperty: one line of a compat table (QEMU's GlobalProperty as
 * static data): "objects of type `driver` get `property` = `value`".
 *
 * Compat tables (hw_compat_X_Y, pc_compat_X_Y, the family defaults) are
 * constexpr arrays of these, reviewable line by line.
 */
#pragma once

#include <string_view>

namespace qom {

struct CompatProperty {
    std::string_view driver;
    std::string_view property;
    std::string_view value;
    /// Skip silently when the object lacks the property (QEMU's .optional).
    bool optional { false };
};

} // namespace qom
