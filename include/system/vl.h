/*
 * seoib-vm's command line, in QEMU's syntax (QEMU's system/vl.c).
 *
 * parse_command_line() only parses: it checks the syntax of every option and
 * returns what was asked.  vm_main() then runs QEMU's creation order
 * (docs/devel/machine-creation.rst): user globals are registered, the
 * machine is picked and created (its compat list entering the machine
 * slot), the accelerator is created and initialised, the board is built, and
 * unused globals are reported.
 *
 * Errors are one line, "seoib-vm: LOCATION: MESSAGE", exit status 1, where
 * LOCATION is the option as typed when the error belongs to one option.
 */
#pragma once

#include "monitor/monitor.h"
#include "system/snapshot.h"
#include "qapi/result.h"
#include "qom/type-registry.h"
#include "system/qemu-opts.h"

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sysemu {

/// The program name used in messages.
inline constexpr std::string_view PROGRAM_NAME = "seoib-vm";

/// An option with its argument, as typed ("-global ioapic.version=0x11").
struct OptionText {
    std::string option; // "-global"
    std::string arg;    // "ioapic.version=0x11"

    std::string text() const
    {
        return arg.empty() ? option : option + " " + arg;
    }
};

struct GlobalOption {
    std::string driver;
    std::string property;
    std::string value;
    OptionText where;
};

struct CommandLine {
    /// -machine / -M (merged in order; later keys win).
    QemuOpts machine;
    std::vector<OptionText> machine_where;
    /// -accel (QEMU allows several for fallback; seoib has one accelerator).
    std::optional<QemuOpts> accel;
    OptionText accel_where;
    /// -enable-kvm.
    bool enable_kvm { false };
    std::vector<GlobalOption> globals;
    std::vector<std::pair<QemuOpts, OptionText>> devices;
    std::optional<std::pair<QemuOpts, OptionText>> smp;
    std::vector<std::pair<std::string, OptionText>> trace_patterns;
    /// -trace file=PATH: where trace lines go instead of stderr.
    std::optional<std::pair<std::string, OptionText>> trace_file;
    /// The QMP monitors of -qmp and -mon mode=control, in order, with the
    /// chardev each talks on.
    std::vector<std::pair<monitor::QmpEndpoint, OptionText>> qmp;
    std::optional<std::pair<std::string, OptionText>> incoming;
    std::optional<std::pair<std::string, OptionText>> loadvm;
    /// -drive if=none,format=qcow2 and -blockdev driver=qcow2: the images
    /// snapshots go to (no guest disk device uses them).
    std::vector<std::pair<BlockImageOption, OptionText>> drives;
    /// -blockdev driver=file nodes, by node-name, for a qcow2 node's
    /// file=NODE.
    std::vector<std::pair<std::string, std::string>> file_nodes;
    /// -kernel, -append, -initrd (with where they were typed).
    std::optional<std::pair<std::string, OptionText>> kernel;
    std::optional<std::pair<std::string, OptionText>> append;
    std::optional<std::pair<std::string, OptionText>> initrd;
    /// -m, as QEMU's "[size=]megs[,slots=n,maxmem=size]".
    std::optional<std::pair<QemuOpts, OptionText>> memory;
    /// -serial, one COM port each, in order ("stdio", "null",
    /// "file:PATH", "none").
    std::vector<std::pair<std::string, OptionText>> serials;
    /// -chardev BACKEND,id=ID[,...]: stdio, null and file, for -serial
    /// chardev:ID, and socket (path=, fd=, server=, wait=), for -mon;
    /// checked when parsed.
    std::vector<std::pair<QemuOpts, OptionText>> chardevs;
    /// -cpu MODEL[,+feature|-feature|feature=value...].
    std::optional<std::pair<std::string, OptionText>> cpu;
    /// -name [guest=]NAME[,process=NAME]; -uuid; -pidfile.
    std::optional<std::string> name;
    std::optional<std::string> process_name;
    std::optional<std::string> uuid;
    std::optional<std::string> pidfile;
    /// -daemonize: QEMU's os_daemonize (the parent exits once the daemon
    /// is serving, or has failed).
    bool daemonize { false };
    /// -msg timestamp=on, guest-name=on.
    bool msg_timestamp { false };
    bool msg_guest_name { false };
    /// -overcommit mem-lock=on: all memory locked (mlockall).
    bool mem_lock { false };
    bool no_reboot { false };     // --no-reboot
    bool start_stopped { false }; // -S
    bool nodefaults { false };
    bool show_help { false };
    bool show_version { false };
    bool trace_help { false };
    /// What the parse accepted with a warning, printed once before the
    /// machine is built (QEMU's texts, without the option's location).
    std::vector<std::string> warnings;
};

/// QEMU's option parsing; the error text carries the location.
qapi::Result<CommandLine>
parse_command_line(std::span<const std::string_view> args);

/// -m's size as QEMU reads it (qemu_strtosz_MiB: a number, optionally
/// fractional, with an optional k/M/G/T/P/E suffix, MiB without one; 0
/// means the default; rounded up to 8 KiB).  Errors are QEMU's texts.
qapi::Result<uint64_t> parse_memory_size(const QemuOpts &opts);

/// -global ARG in either form ("D.P=V" or "driver=D,property=P,value=V").
qapi::Result<GlobalOption> parse_global(std::string_view arg);

class Vm;

/// QEMU's creation order, from "user globals registered" to "machine
/// creation done" (no run phase): what seoib-vm does before it runs, for
/// tests, benchmarks and embedders.  `types` must hold the built-in types.
qapi::Result<std::unique_ptr<Vm>>
build_vm(const CommandLine &cl, std::shared_ptr<const qom::TypeRegistry> types);

/// seoib-vm itself; returns the exit status.
int vm_main(std::span<const std::string_view> args);

} // namespace sysemu
