/*
 * Bad command lines never crash: random and mutated arguments go through
 * the option parser, -global's two forms, QemuOpts, and -- when they parse
 * -- QEMU's whole creation order on the kernel model.  Every outcome is a
 * value (a VM or an Error with a message).
 */
#include "system/builtin-types.h"
#include "system/qemu-opts.h"
#include "system/vl.h"
#include "system/vm.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace {

const char *const fragments[] = {
    "-M", "-machine", "-accel", "-global", "-smp", "-device", "-trace", "-S",
    "-display", "q35", "pc", "pc-q35-2.8", "help", "?", "kvm", "kernel=model",
    "kernel-irqchip=split", "kernel-irqchip=on", "kernel-irqchip=", "seoib-policy=respected",
    "ioapic.version=0x11", "ioapic.version=", "ioapic.", ".version=1", "=",
    "driver=ioapic,property=version,value=17", "driver=,property=,value=",
    ",,", ",", "a,,b=c,,", "4,maxcpus=288", "0", "-1", "99999999999999999999",
    "ioapic-common.version=0x20", "nosuch.x=1", "kvm-accel.x=1", "none",
    "\xff\xfe", "", "ioapic,help", "ioapic", "kvm,device=/nonexistent",
};

std::string random_piece(std::mt19937 &rng)
{
    std::uniform_int_distribution<size_t> pick(0, std::size(fragments) - 1);
    std::string s = fragments[pick(rng)];
    // Sometimes glue two pieces or flip a byte.
    if (rng() % 4 == 0) {
        s += fragments[pick(rng)];
    }
    if (!s.empty() && rng() % 8 == 0) {
        s[rng() % s.size()] = static_cast<char>(rng() % 256);
    }
    return s;
}

TEST(CliRobustness, RandomArgumentsNeverCrashTheParsers)
{
    std::mt19937 rng(20261121);
    for (int i = 0; i < 20000; i++) {
        std::string arg = random_piece(rng);
        auto g = sysemu::parse_global(arg);
        auto o = sysemu::qemu_opts_parse(arg, (rng() % 2) ? "type" : "");
        if (!g) {
            EXPECT_FALSE(g.error().message().empty());
        }
        if (!o) {
            EXPECT_FALSE(o.error().message().empty());
        }
    }
}

TEST(CliRobustness, RandomCommandLinesEitherBuildOrFailWithAMessage)
{
    auto types = sysemu::builtin_type_registry();
    std::mt19937 rng(7);
    int built = 0;
    int refused = 0;
    for (int i = 0; i < 1500; i++) {
        std::vector<std::string> args;
        const size_t n = rng() % 7;
        for (size_t k = 0; k < n; k++) {
            args.push_back(random_piece(rng));
        }
        // Never touch the host's /dev/kvm from a fuzz loop.
        args.insert(args.end(), { "-accel", "kvm,kernel=model" });
        std::vector<std::string_view> views(args.begin(), args.end());
        auto cl = sysemu::parse_command_line(views);
        if (!cl) {
            EXPECT_FALSE(cl.error().message().empty());
            refused++;
            continue;
        }
        auto vm = sysemu::build_vm(cl.value(), types);
        if (vm) {
            built++;
        } else {
            EXPECT_FALSE(vm.error().message().empty());
            refused++;
        }
    }
    std::printf("built %d, refused %d\n", built, refused);
    // Both outcomes must have been exercised for the test to mean anything.
    EXPECT_GT(built, 0);
    EXPECT_GT(refused, 0);
}

} // namespace
