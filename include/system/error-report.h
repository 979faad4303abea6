/*
 * seoib-vm's messages on standard error (QEMU's util/error-report.c).
 *
 * Every message is one line, "seoib-vm: TEXT".  -msg timestamp=on puts the
 * UTC time in front ("2026-12-04T20:49:21.007980Z seoib-vm: ..."), and
 * -msg guest-name=on the -name guest name, as QEMU does, so that a log
 * collected by libvirt (which passes -msg timestamp=on) reads the same.
 */
#pragma once

#include <fmt/format.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace sysemu {

struct MessageOptions {
    bool timestamp { false };
    /// The guest name to show (-msg guest-name=on with -name).
    std::optional<std::string> guest_name;
};

/// Set once, from the command line, before anything is built.
void set_message_options(MessageOptions options);

/// QEMU's error_report(): "seoib-vm: TEXT".
void error_report(std::string_view text);

template <typename... Args>
void error_report(fmt::format_string<Args...> format, Args &&...args)
{
    error_report(std::string_view(fmt::format(format, std::forward<Args>(args)...)));
}

} // namespace sysemu
