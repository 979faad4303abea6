#include "system/qemu-opts.h"

#include <algorithm>

namespace sysemu {

std::optional<std::string> QemuOpts::get(std::string_view name) const
{
    for (auto it = opts.rbegin(); it != opts.rend(); ++it) {
        if (it->name == name) {
            return it->value;
        }
    }
    return std::nullopt;
}

bool QemuOpts::has_help() const
{
    return std::any_of(opts.begin(), opts.end(), [](const QemuOpt &o) {
        return o.bare && (o.name == "help" || o.name == "?");
    });
}

namespace {

/// Reads up to the next single ',' (",," is an escaped comma).
std::string read_element(std::string_view s, size_t &pos)
{
    std::string out;
    while (pos < s.size()) {
        char c = s[pos];
        if (c == ',') {
            if (pos + 1 < s.size() && s[pos + 1] == ',') {
                out += ',';
                pos += 2;
                continue;
            }
            pos++;
            return out;
        }
        out += c;
        pos++;
    }
    return out;
}

} // namespace

qapi::Result<QemuOpts> qemu_opts_parse(std::string_view params,
                                       std::string_view implied_key)
{
    QemuOpts result;
    size_t pos = 0;
    bool first = true;
    while (pos < params.size()) {
        std::string element = read_element(params, pos);
        size_t eq = element.find('=');
        QemuOpt opt;
        if (eq == std::string::npos) {
            if (first && !implied_key.empty() && element != "help" &&
                element != "?") {
                opt.name = std::string(implied_key);
                opt.value = element;
            } else {
                opt.name = element;
                opt.value = "on";
                opt.bare = true;
            }
        } else {
            opt.name = element.substr(0, eq);
            opt.value = element.substr(eq + 1);
        }
        if (opt.name.empty()) {
            return qapi::Error::format("Invalid parameter '{}'", opt.name);
        }
        result.opts.push_back(std::move(opt));
        first = false;
    }
    return result;
}

qapi::Result<void> qemu_opts_validate(const QemuOpts &opts,
                                      std::span<const std::string_view> allowed)
{
    for (const QemuOpt &o : opts.opts) {
        if (std::find(allowed.begin(), allowed.end(), o.name) ==
            allowed.end()) {
            return qapi::Error::format("Invalid parameter '{}'", o.name);
        }
    }
    return {};
}

} // namespace sysemu
