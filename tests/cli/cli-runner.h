/*
 * Runs the built seoib-vm as a child process for end-to-end tests: stdout
 * and stderr captured apart, the exit status, and a wall-clock bound so a
 * hung child fails the test instead of hanging it.
 */
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cli_test {

struct Run {
    int status { -1 }; // exit status; -1 if killed or not started
    std::string out;
    std::string err;
};

/// Runs SEOIB_VM_PATH (set by meson) with `args`; kills it after
/// `timeout_ms`.
Run run_seoib_vm(const std::vector<std::string> &args, int timeout_ms = 20000);

/// Why /dev/kvm cannot be used here, or nullopt when it can.
std::optional<std::string> kvm_unavailable();

/// How often `needle` occurs in `haystack`.
size_t count(std::string_view haystack, std::string_view needle);

} // namespace cli_test
