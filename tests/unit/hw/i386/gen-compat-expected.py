#!/usr/bin/env python3
"""Turn tests/data/qemu-compat-props.json into a C++ header of expected data.

The product's compat tables and machine list are hand-written C++; the unit
tests compare them with this header, which is regenerated from the reference
data at build time.  Nothing here is linked into the library.

Usage: gen-compat-expected.py INPUT.json OUTPUT.h
"""

import json
import re
import sys

MACHINE_NAME = re.compile(r'^pc-(q35|i440fx)-(\d+)\.(\d+)(?:\.(\d+))?$')


def cxx_string(text):
    if not isinstance(text, str):
        raise SystemExit(f'expected a string, got {text!r}')
    return json.dumps(text)


def cxx_bool(value):
    return 'true' if value else 'false'


def cxx_optional_bool(value):
    return 'std::nullopt' if value is None else cxx_bool(value)


def emit_array(out, name, entries):
    """An inline constexpr Entry array; None when the array is empty."""
    if not entries:
        return None
    out.append(f'inline constexpr Entry {name}[] = {{')
    for entry in entries:
        if len(entry) != 3:
            raise SystemExit(f'{name}: entry {entry!r} is not a triple')
        driver, prop, value = (cxx_string(field) for field in entry)
        out.append(f'    {{ {driver}, {prop}, {value} }},')
    out.append('};')
    return name


def version_key(version):
    return version.replace('.', '_')


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    with open(sys.argv[1], encoding='utf-8') as f:
        data = json.load(f)

    out = [
        '// Generated from tests/data/qemu-compat-props.json by',
        '// tests/unit/hw/i386/gen-compat-expected.py.  Do not edit.',
        '#pragma once',
        '',
        '#include <optional>',
        '#include <span>',
        '#include <string_view>',
        '',
        'namespace expected {',
        '',
        f'inline constexpr std::string_view QEMU_COMMIT = '
        f'{cxx_string(data["qemu_commit"])};',
        '',
        'struct Entry {',
        '    std::string_view driver;',
        '    std::string_view property;',
        '    std::string_view value;',
        '};',
        '',
        'struct Array {',
        '    std::string_view name;',
        '    std::span<const Entry> entries;',
        '};',
        '',
        'struct Machine {',
        '    std::string_view name;',
        '    std::string_view qom_type;',
        '    bool q35;',
        '    int major;',
        '    int minor;',
        '    int micro;',
        '    std::string_view alias; // empty when the reference has null',
        '    bool is_default;',
        '    bool default_kernel_irqchip_split;',
        '    bool deprecated;',
        '    bool registered;',
        '    // null in the reference: the machine did not exist in 10.2.0',
        '    std::optional<bool> deprecated_in_10_2_0_release;',
        '    std::optional<bool> registered_in_10_2_0_release;',
        '    std::span<const std::string_view> compat;',
        '};',
        '',
    ]

    # Every named array, in the reference's order: family defaults, then
    # hw_compat and pc_compat newest first.
    arrays = []
    for name, entries in data['family_defaults'].items():
        arrays.append((name, emit_array(out, name, entries)))
    for kind in ('hw_compat', 'pc_compat'):
        for version, entries in data[kind].items():
            name = f'{kind}_{version_key(version)}'
            arrays.append((name, emit_array(out, name, entries)))
    out.append('')
    out.append('inline constexpr Array arrays[] = {')
    for name, symbol in arrays:
        out.append(f'    {{ {cxx_string(name)}, {symbol or "{}"} }},')
    out.append('};')
    out.append('')

    # Arrays removed upstream before the snapshot: no machine may use them.
    removed = [name for name in data['removed_before_snapshot']
               if name != 'note']
    out.append('inline constexpr std::string_view removed_arrays[] = {')
    for name in removed:
        out.append(f'    {cxx_string(name)},')
    out.append('};')
    out.append('')

    known = {name for name, _ in arrays}
    machines = []
    for machine in data['machines']:
        match = MACHINE_NAME.match(machine['name'])
        if not match:
            raise SystemExit(f'unexpected machine name {machine["name"]!r}')
        family, major, minor, micro = match.groups()
        for name in machine['compat']:
            if name not in known:
                raise SystemExit(f'{machine["name"]}: unknown array {name}')
        symbol = re.sub(r'[^A-Za-z0-9]', '_', machine['name']) + '_compat'
        out.append(f'inline constexpr std::string_view {symbol}[] = {{')
        for name in machine['compat']:
            out.append(f'    {cxx_string(name)},')
        out.append('};')
        machines.append((machine, family == 'q35', int(major), int(minor),
                         int(micro or 0), symbol))
    out.append('')

    out.append('inline constexpr Machine machines[] = {')
    for machine, q35, major, minor, micro, symbol in machines:
        alias = cxx_string(machine['alias']) if machine['alias'] else '{}'
        out.extend([
            '    {',
            f'        .name = {cxx_string(machine["name"])},',
            f'        .qom_type = {cxx_string(machine["qom_type"])},',
            f'        .q35 = {cxx_bool(q35)},',
            f'        .major = {major},',
            f'        .minor = {minor},',
            f'        .micro = {micro},',
            f'        .alias = {alias},',
            f'        .is_default = {cxx_bool(machine["is_default"])},',
            '        .default_kernel_irqchip_split = '
            f'{cxx_bool(machine["default_kernel_irqchip_split"])},',
            f'        .deprecated = {cxx_bool(machine["deprecated"])},',
            f'        .registered = {cxx_bool(machine["registered"])},',
            '        .deprecated_in_10_2_0_release = '
            f'{cxx_optional_bool(machine["deprecated_in_10_2_0_release"])},',
            '        .registered_in_10_2_0_release = '
            f'{cxx_optional_bool(machine["registered_in_10_2_0_release"])},',
            f'        .compat = {symbol},',
            '    },',
        ])
    out.append('};')
    out.append('')
    out.append('} // namespace expected')

    with open(sys.argv[2], 'w', encoding='utf-8') as f:
        f.write('\n'.join(out) + '\n')


if __name__ == '__main__':
    main()
