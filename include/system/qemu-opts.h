/*
 * QEMU's option strings: "TYPE,key=value,flag,key2=a,,b" (QemuOpts).
 *
 * A comma inside a value is written ",,".  The first element may be a bare
 * value for the option's implied key (-machine q35, -accel kvm, -smp 4);
 * later bare elements are booleans set to "on" ("help" and "?" ask for
 * help).  Values stay strings: the consumer parses them with the codec of
 * the property they set.
 */
#pragma once

#include "qapi/result.h"

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sysemu {

struct QemuOpt {
    std::string name;
    std::string value;
    /// Written without "=" ("help", "x2apic"): a boolean switched on.
    bool bare { false };
};

struct QemuOpts {
    std::vector<QemuOpt> opts;

    /// The last value given for `name` (later options win, as in QEMU).
    std::optional<std::string> get(std::string_view name) const;
    bool has_help() const;
};

/// Parses `params`.  `implied_key` names the key of a leading bare value
/// (empty: none).  Fails on an empty key ("Invalid parameter ''").
qapi::Result<QemuOpts> qemu_opts_parse(std::string_view params,
                                       std::string_view implied_key);

/// Every option name must be one of `allowed`: "Invalid parameter 'x'".
qapi::Result<void> qemu_opts_validate(const QemuOpts &opts,
                                      std::span<const std::string_view> allowed);

} // namespace sysemu
