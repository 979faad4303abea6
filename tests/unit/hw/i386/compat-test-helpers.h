/*
 * Set-up helpers for the PC compat tests: turning the generated reference
 * data (compat-expected.h) and the product's tables into comparable rows,
 * and the last-wins fold QEMU applies a compat list with.
 */
#pragma once

#include "compat-expected.h"

#include "hw/i386/pc-versions.h"
#include "qom/compat-property.h"

#include <algorithm>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace compat_test {

/// driver, property, value, optional: what GoogleTest can compare and print.
using Row =
    std::tuple<std::string_view, std::string_view, std::string_view, bool>;

inline std::vector<Row> rows(std::span<const qom::CompatProperty> props)
{
    std::vector<Row> out;
    for (const qom::CompatProperty &p : props) {
        out.emplace_back(p.driver, p.property, p.value, p.optional);
    }
    return out;
}

/// The reference has no optional entries (QEMU's last ones went with
/// hw_compat_2_6), so every expected row says optional = false.
inline std::vector<Row> rows(std::span<const expected::Entry> entries)
{
    std::vector<Row> out;
    for (const expected::Entry &e : entries) {
        out.emplace_back(e.driver, e.property, e.value, false);
    }
    return out;
}

inline std::span<const expected::Entry>
expected_array(std::string_view name)
{
    for (const expected::Array &array : expected::arrays) {
        if (array.name == name) {
            return array.entries;
        }
    }
    return {};
}

/// The compat list the reference gives @machine (the concatenation of its
/// named arrays), plus this project's entry right after pc_compat_10_2.
inline std::vector<Row> expected_compat_rows(const expected::Machine &machine)
{
    std::vector<Row> out;
    for (std::string_view name : machine.compat) {
        std::vector<Row> array = rows(expected_array(name));
        out.insert(out.end(), array.begin(), array.end());
        if (name == "pc_compat_10_2") {
            out.emplace_back("kvm-accel", "x-seoib-legacy", "on", false);
        }
    }
    return out;
}

inline hw::PCFamily family(const expected::Machine &machine)
{
    return machine.q35 ? hw::PCFamily::Q35 : hw::PCFamily::I440FX;
}

inline hw::MachineVersion version(const expected::Machine &machine)
{
    return { machine.major, machine.minor, machine.micro };
}

/// The product's compat list for the reference machine @machine.
inline std::vector<qom::CompatProperty>
compat_props(const expected::Machine &machine)
{
    return hw::pc_machine_compat_props(family(machine), version(machine));
}

/// What driver.property ends up as after applying @props first to last, as
/// QEMU applies a compat list; nullopt when no entry sets it.
inline std::optional<std::string_view>
last_value(std::span<const qom::CompatProperty> props, std::string_view driver,
           std::string_view property)
{
    std::optional<std::string_view> value;
    for (const qom::CompatProperty &p : props) {
        if (p.driver == driver && p.property == property) {
            value = p.value;
        }
    }
    return value;
}

inline const hw::PCMachineDefinition *
product_machine(std::string_view name)
{
    for (const hw::PCMachineDefinition &def : hw::pc_machine_definitions()) {
        if (def.name == name) {
            return &def;
        }
    }
    return nullptr;
}

/// The reference machines whose version lies in [@oldest, @newest].
inline std::vector<expected::Machine>
machines_between(hw::MachineVersion oldest, hw::MachineVersion newest)
{
    std::vector<expected::Machine> out;
    for (const expected::Machine &machine : expected::machines) {
        if (version(machine) >= oldest && version(machine) <= newest) {
            out.push_back(machine);
        }
    }
    return out;
}

/// The reference machines @keep selects.
inline std::vector<expected::Machine>
machines_where(const std::function<bool(const expected::Machine &)> &keep)
{
    std::vector<expected::Machine> out;
    std::copy_if(std::begin(expected::machines), std::end(expected::machines),
                 std::back_inserter(out), keep);
    return out;
}

/// "pc-q35-4.0.1" -> "pc_q35_4_0_1": a GoogleTest parameter name.
inline std::string test_name(std::string_view machine_name)
{
    std::string name(machine_name);
    std::replace_if(
        name.begin(), name.end(),
        [](char c) { return c == '-' || c == '.'; }, '_');
    return name;
}

} // namespace compat_test
