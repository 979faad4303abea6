#include "system/vl.h"

#include "system/error-report.h"
#include "accel/kvm/kvm-accel.h"
#include "hw/core/machine.h"
#include "hw/core/qdev.h"
#include "hw/i386/pc.h"
#include "hw/i386/x86-cpu.h"
#include "hw/intc/ioapic.h"
#include "hw/isa/isa-devices.h"
#include "migration/channel.h"
#include "monitor/qmp-cmds.h"
#include "qom/context.h"
#include "qom/type-registry.h"
#include "system/builtin-types.h"
#include "system/kernel-run.h"
#include "system/vm.h"
#include "trace/control.h"
#include "trace/trace-system.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <memory>
#include <csignal>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>

namespace sysemu {

namespace {

/// The options seoib-vm knows, with whether they take an argument.
struct OptionDef {
    std::string_view name;
    bool has_arg;
};

constexpr OptionDef option_defs[] = {
    { "machine", true }, { "M", true },        { "accel", true },
    { "enable-kvm", false }, { "global", true }, { "device", true },
    { "smp", true },     { "S", false },       { "nodefaults", false },
    { "display", true }, { "version", false }, { "h", false },
    { "help", false },   { "trace", true },    { "qmp", true },
    { "incoming", true }, { "loadvm", true },
    { "kernel", true },  { "append", true },   { "initrd", true },
    { "m", true },       { "serial", true },   { "cpu", true },
    { "no-reboot", false }, { "chardev", true },
    { "drive", true },   { "blockdev", true },
    { "vga", true },     { "no-user-config", false },
    { "name", true },    { "uuid", true },     { "pidfile", true },
    { "mon", true },     { "nographic", false }, { "daemonize", false },
    { "overcommit", true }, { "no-shutdown", false }, { "msg", true },
};

const OptionDef *find_option(std::string_view name)
{
    for (const OptionDef &d : option_defs) {
        if (d.name == name) {
            return &d;
        }
    }
    return nullptr;
}

qapi::Error at(const OptionText &where, qapi::Error e)
{
    e.prepend(where.text() + ": ");
    return e;
}

template <typename T>
qapi::Result<T> at(const OptionText &where, qapi::Result<T> r)
{
    if (!r) {
        return at(where, r.release_error());
    }
    return r;
}

} // namespace

qapi::Result<GlobalOption> parse_global(std::string_view arg)
{
    // QEMU's short form: "%63[^.=].%63[^=]" followed by '='.
    size_t dot = arg.find_first_of(".=");
    if (dot != std::string_view::npos && dot > 0 && dot <= 63 &&
        arg[dot] == '.') {
        size_t eq = arg.find('=', dot + 1);
        if (eq != std::string_view::npos && eq > dot + 1 &&
            eq - dot - 1 <= 63) {
            return GlobalOption { std::string(arg.substr(0, dot)),
                                  std::string(arg.substr(dot + 1, eq - dot - 1)),
                                  std::string(arg.substr(eq + 1)),
                                  {} };
        }
    }
    QemuOpts opts = TRY(qemu_opts_parse(arg, ""));
    static constexpr std::string_view keys[] = { "driver", "property",
                                                 "value" };
    TRY(qemu_opts_validate(opts, keys));
    auto driver = opts.get("driver");
    auto property = opts.get("property");
    auto value = opts.get("value");
    if (!driver || !property || !value) {
        return qapi::Error(
            "options 'driver', 'property', and 'value' are required");
    }
    return GlobalOption { *driver, *property, *value, {} };
}

namespace {

/// -drive: an image for snapshots only.  QEMU 7.2's texts.
qapi::Result<BlockImageOption> parse_drive(const QemuOpts &opts, size_t index)
{
    const std::string format = opts.get("format").value_or("qcow2");
    if (format != "qcow2") {
        return qapi::Error::format("Unknown driver '{}'", format);
    }
    static constexpr std::string_view keys[] = { "if", "file", "format", "id", "node-name" };
    for (const QemuOpt &o : opts.opts) {
        if (std::find(std::begin(keys), std::end(keys), o.name) == std::end(keys)) {
            return qapi::Error::format("Block format 'qcow2' does not support the option '{}'",
                                       o.name);
        }
    }
    const std::string interface = opts.get("if").value_or("ide");
    if (interface != "none") {
        return qapi::Error::format(
            "if={}: seoib-vm has no guest disk device; an image for snapshots "
            "takes if=none", interface);
    }
    auto file = opts.get("file");
    if (!file || file->empty()) {
        return qapi::Error("A block device must be specified for \"file\"");
    }
    // QEMU names an if=none drive without id= "none<N>".
    return BlockImageOption { opts.get("id").value_or(fmt::format("none{}", index)), *file };
}

/// -blockdev driver=qcow2,node-name=N,file.driver=file,file.filename=PATH,
/// or file=NODE naming an earlier -blockdev driver=file,node-name=NODE,
/// filename=PATH (libvirt's form).  A driver=file node returns nullopt:
/// it is kept in `file_nodes`.
qapi::Result<std::optional<BlockImageOption>>
parse_blockdev(const QemuOpts &opts, std::vector<std::pair<std::string, std::string>> &file_nodes)
{
    const std::string driver = opts.get("driver").value_or("");
    if (driver.empty()) {
        return qapi::Error("Parameter 'driver' is missing");
    }
    if (driver != "qcow2" && driver != "file") {
        return qapi::Error::format("Parameter 'driver' does not accept value '{}'", driver);
    }
    const std::string node_name = opts.get("node-name").value_or("");
    if (node_name.empty()) {
        return qapi::Error("'node-name' must be specified for the root node");
    }
    if (driver == "file") {
        static constexpr std::string_view keys[] = { "driver", "node-name", "filename" };
        TRY(qemu_opts_validate(opts, keys));
        auto filename = opts.get("filename");
        if (!filename) {
            return qapi::Error("Parameter 'filename' is missing");
        }
        file_nodes.emplace_back(node_name, *filename);
        return std::optional<BlockImageOption>();
    }
    static constexpr std::string_view keys[] = { "driver", "node-name", "file",
                                                 "file.driver", "file.filename" };
    TRY(qemu_opts_validate(opts, keys));
    if (auto node = opts.get("file")) {
        for (const auto &[name, filename] : file_nodes) {
            if (name == *node) {
                return std::optional(BlockImageOption { node_name, filename });
            }
        }
        return qapi::Error::format("Cannot find device='' nor node-name='{}'", *node);
    }
    if (opts.get("file.driver").value_or("file") != "file") {
        return qapi::Error::format("Parameter 'file.driver' does not accept value '{}'",
                                   *opts.get("file.driver"));
    }
    auto filename = opts.get("file.filename");
    if (!filename) {
        return qapi::Error("Parameter 'file' is missing");
    }
    return std::optional(BlockImageOption { node_name, *filename });
}

/// A -chardev socket's endpoint (its options but backend and id).
qapi::Result<monitor::QmpEndpoint> socket_chardev_endpoint(const QemuOpts &opts)
{
    std::vector<std::pair<std::string_view, std::string_view>> options;
    for (const QemuOpt &o : opts.opts) {
        if (o.name != "backend" && o.name != "id") {
            options.emplace_back(o.name, o.value);
        }
    }
    return monitor::parse_socket_chardev(options);
}

/// A -qmp argument's endpoint: the leading chardev text and the options.
qapi::Result<monitor::QmpEndpoint> qmp_option_endpoint(const QemuOpts &opts)
{
    std::string_view chardev;
    std::vector<std::pair<std::string_view, std::string_view>> options;
    for (const QemuOpt &o : opts.opts) {
        if (o.name == "chardev") {
            chardev = o.value;
        } else {
            options.emplace_back(o.name, o.value);
        }
    }
    return monitor::parse_qmp_endpoint(chardev, options);
}

/// -mon chardev=ID[,mode=control][,pretty=on|off], QEMU 7.2's checks and
/// texts, resolved against the -chardev options (QEMU creates every
/// chardev before any monitor, so the order on the line does not matter).
/// Returns the endpoint with its -chardev, where errors in opening it are
/// reported, as QEMU reports them.
qapi::Result<std::pair<monitor::QmpEndpoint, OptionText>>
mon_endpoint(const QemuOpts &opts,
             const std::vector<std::pair<QemuOpts, OptionText>> &chardevs)
{
    static constexpr std::string_view keys[] = { "chardev", "mode", "pretty" };
    TRY(qemu_opts_validate(opts, keys));
    const auto id = opts.get("chardev");
    if (!id) {
        return qapi::Error("Parameter 'chardev' is missing");
    }
    const std::string mode = opts.get("mode").value_or("readline");
    if (mode != "control" && mode != "readline") {
        return qapi::Error::format("Parameter 'mode' does not accept value '{}'",
                                   mode);
    }
    const std::string pretty = opts.get("pretty").value_or("off");
    if (pretty != "on" && pretty != "off") {
        return qapi::Error("Parameter 'pretty' expects 'on' or 'off'");
    }
    const QemuOpts *chardev = nullptr;
    const OptionText *chardev_where = nullptr;
    for (const auto &[c, where] : chardevs) {
        if (c.get("id") == id) {
            chardev = &c;
            chardev_where = &where;
        }
    }
    if (!chardev) {
        return qapi::Error::format("chardev \"{}\" not found", *id);
    }
    if (mode == "readline") {
        // QEMU's default mode is its human monitor, which seoib lacks.
        return qapi::Error("the human monitor (mode=readline) is not built "
                           "in seoib-vm; use mode=control");
    }
    const std::string backend = chardev->get("backend").value_or("");
    monitor::QmpEndpoint endpoint;
    if (backend == "socket") {
        endpoint = TRY(socket_chardev_endpoint(*chardev));
    } else if (backend != "stdio") {
        return qapi::Error::format("a monitor in seoib-vm needs a socket or "
                                   "stdio chardev, not '{}'",
                                   backend);
    }
    endpoint.pretty = pretty == "on";
    return std::pair(endpoint, *chardev_where);
}

/// -msg timestamp=on|off,guest-name=on|off, QEMU's keys and texts.
qapi::Result<void> parse_msg(std::string_view arg, CommandLine &cl)
{
    QemuOpts opts = TRY(qemu_opts_parse(arg, ""));
    static constexpr std::string_view keys[] = { "timestamp", "guest-name" };
    TRY(qemu_opts_validate(opts, keys));
    for (const QemuOpt &o : opts.opts) {
        if (o.value != "on" && o.value != "off") {
            return qapi::Error::format("Parameter '{}' expects 'on' or 'off'", o.name);
        }
        (o.name == "timestamp" ? cl.msg_timestamp : cl.msg_guest_name) = o.value == "on";
    }
    return {};
}

/// -overcommit mem-lock=on|off,cpu-pm=on|off, QEMU's keys and texts.
qapi::Result<void> parse_overcommit(const QemuOpts &opts, CommandLine &cl)
{
    static constexpr std::string_view keys[] = { "mem-lock", "cpu-pm" };
    TRY(qemu_opts_validate(opts, keys));
    for (const QemuOpt &o : opts.opts) {
        if (o.value != "on" && o.value != "off") {
            return qapi::Error::format("Parameter '{}' expects 'on' or 'off'",
                                       o.name);
        }
        if (o.name == "mem-lock") {
            cl.mem_lock = o.value == "on";
        } else if (o.value == "on") {
            // Guest-controlled idle (KVM_CAP_X86_DISABLE_EXITS) is not
            // built; refused rather than ignored.
            return qapi::Error("cpu-pm=on is not supported by seoib-vm");
        }
    }
    return {};
}

/// The -chardev backends seoib-vm has, QEMU 7.2's checks and texts.
qapi::Result<void>
check_chardev(const QemuOpts &opts,
              const std::vector<std::pair<QemuOpts, OptionText>> &earlier)
{
    const std::string backend = opts.get("backend").value_or("");
    const std::string id = opts.get("id").value_or("");
    if (backend != "stdio" && backend != "null" && backend != "file" &&
        backend != "socket") {
        return qapi::Error::format("'{}' is not a valid char driver name",
                                   backend);
    }
    if (id.empty()) {
        return qapi::Error("chardev: no id specified");
    }
    if (backend == "socket") {
        // Checked as the monitor will read it; fd= is checked when opened.
        TRY(socket_chardev_endpoint(opts));
    } else {
        static constexpr std::string_view keys[] = { "backend", "id", "path" };
        TRY(qemu_opts_validate(opts, keys));
    }
    if (backend == "file" && !opts.get("path")) {
        return qapi::Error("chardev: file: no filename given");
    }
    for (const auto &[other, where] : earlier) {
        if (other.get("id") == id) {
            return qapi::Error::format("Duplicate ID '{}' for chardev", id);
        }
    }
    return {};
}

} // namespace

qapi::Result<uint64_t> parse_memory_size(const QemuOpts &opts)
{
    if (opts.get("slots") && !opts.get("maxmem")) {
        return qapi::Error("slots specified but no max-size");
    }
    if (opts.get("maxmem")) {
        return qapi::Error("memory hotplug (maxmem) is not supported by "
                           "seoib-vm");
    }
    const std::string text = opts.get("size").value_or("0");
    auto bad = [] {
        return qapi::Error(
            "Parameter 'size' expects a non-negative number below 2^64\n"
            "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, "
            "tera-, peta-\nand exabytes, respectively.");
    };
    size_t used = 0;
    double number = 0;
    if (text.empty() || !(std::isdigit(static_cast<unsigned char>(text[0])) ||
                          text[0] == '.')) {
        return bad();
    }
    try {
        number = std::stod(text, &used);
    } catch (const std::exception &) {
        return bad();
    }
    uint64_t unit = 1ULL << 20;
    if (used < text.size()) {
        static constexpr std::string_view suffixes = "BKMGTPE";
        const char c = static_cast<char>(
            std::toupper(static_cast<unsigned char>(text[used])));
        const size_t power = suffixes.find(c);
        if (power == std::string_view::npos || used + 1 != text.size()) {
            return bad();
        }
        unit = 1ULL << (10 * power);
    }
    const double bytes = number * static_cast<double>(unit);
    if (!(bytes >= 0) || bytes >= 18446744073709551616.0) {
        return bad();
    }
    auto size = static_cast<uint64_t>(bytes);
    if (size == 0) {
        return DEFAULT_RAM_SIZE;
    }
    constexpr uint64_t RAM_ALIGN = 8192;
    if (size > UINT64_MAX - RAM_ALIGN) {
        return qapi::Error("ram size too large");
    }
    return (size + RAM_ALIGN - 1) / RAM_ALIGN * RAM_ALIGN;
}

namespace {

/// QEMU 7.2's DisplayOptions for "-display none": the members common to
/// every display, checked as its keyval visitor checks them.  Nothing of
/// them has an effect without a display.
qapi::Result<void> parse_display_none(const QemuOpts &opts,
                                      std::vector<std::string> &warnings)
{
    for (const QemuOpt &o : opts.opts) {
        if (o.name == "type") {
            continue;
        }
        if (o.name == "full-screen" || o.name == "show-cursor" ||
            o.name == "window-close") {
            TRY(qom::PropertyCodec<bool>::parse(o.name, o.value));
            if (o.name == "window-close") {
                warnings.emplace_back("window-close is only valid for GTK and "
                                      "SDL, ignoring option");
            }
        } else if (o.name == "gl") {
            static constexpr std::string_view modes[] = { "off", "on", "core",
                                                          "es" };
            if (std::find(std::begin(modes), std::end(modes), o.value) ==
                std::end(modes)) {
                return qapi::Error::format(
                    "Parameter 'gl' does not accept value '{}'", o.value);
            }
            if (o.value != "off") {
                return qapi::Error("OpenGL is not supported by the display");
            }
        } else {
            return qapi::Error::format("Parameter '{}' is unexpected", o.name);
        }
    }
    return {};
}

/// -machine accel=A:B:...: QEMU's fallback list, tried in order until one
/// initialises.  seoib-vm has one accelerator, kvm (on the host or the
/// kernel model, so it always initialises); every other name, tcg included,
/// is one this binary was not built with, as in a QEMU built without it.
qapi::Result<void> resolve_machine_accel(CommandLine &cl)
{
    std::optional<std::string> list = cl.machine.get("accel");
    if (!list) {
        return {};
    }
    if (cl.accel) {
        return qapi::Error("The -accel and \"-machine accel=\" options are "
                           "incompatible");
    }
    std::vector<std::string> invalid;
    bool found = false;
    for (size_t pos = 0; pos <= list->size() && !found;) {
        size_t end = std::min(list->find(':', pos), list->size());
        std::string name = list->substr(pos, end - pos);
        pos = end + 1;
        if (name == "kvm") {
            found = true;
        } else {
            invalid.push_back(fmt::format("invalid accelerator {}", name));
        }
    }
    if (!found) {
        std::string last = invalid.back();
        invalid.pop_back();
        // QEMU reports the others as it tries them, then fails on the last.
        std::string text;
        for (const std::string &w : invalid) {
            text += w + "\n" + std::string(PROGRAM_NAME) + ": ";
        }
        return qapi::Error(text + last);
    }
    for (std::string &w : invalid) {
        cl.warnings.push_back(std::move(w));
    }
    if (!invalid.empty()) {
        cl.warnings.push_back("falling back to KVM");
    }
    return {};
}

/// -daemonize leaves no terminal: QEMU refuses stdio with it.
qapi::Result<void> check_daemonize(const CommandLine &cl)
{
    if (!cl.daemonize) {
        return {};
    }
    for (const auto &[endpoint, where] : cl.qmp) {
        if (endpoint.kind == monitor::QmpEndpoint::Kind::Stdio) {
            return at(where, qapi::Error("cannot use stdio with -daemonize"));
        }
    }
    for (const auto &[opts, where] : cl.chardevs) {
        if (opts.get("backend") == "stdio") {
            return at(where, qapi::Error("cannot use stdio with -daemonize"));
        }
    }
    for (const auto &[spec, where] : cl.serials) {
        if (spec == "stdio") {
            return at(where, qapi::Error("cannot use stdio with -daemonize"));
        }
    }
    return {};
}

/// QEMU's qemu_uuid_parse: 8-4-4-4-12 hexadecimal digits.
bool is_uuid(std::string_view s)
{
    if (s.size() != 36) {
        return false;
    }
    for (size_t i = 0; i < s.size(); i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) {
            return false;
        }
    }
    return true;
}

} // namespace

qapi::Result<CommandLine>
parse_command_line(std::span<const std::string_view> args)
{
    CommandLine cl;
    std::vector<std::pair<QemuOpts, OptionText>> mons;
    for (size_t i = 0; i < args.size(); i++) {
        std::string_view typed = args[i];
        if (!typed.starts_with('-') || typed.size() < 2) {
            return qapi::Error::format("{}: invalid option", typed);
        }
        std::string_view name = typed.substr(typed.starts_with("--") ? 2 : 1);
        const OptionDef *def = find_option(name);
        if (!def) {
            return qapi::Error::format("{}: invalid option", typed);
        }
        OptionText where { std::string(typed), {} };
        std::string_view arg;
        if (def->has_arg) {
            if (i + 1 >= args.size()) {
                return qapi::Error::format("{}: requires an argument", typed);
            }
            arg = args[++i];
            where.arg = std::string(arg);
        }

        if (name == "machine" || name == "M") {
            QemuOpts opts = TRY(at(where, qemu_opts_parse(arg, "type")));
            for (QemuOpt &o : opts.opts) {
                cl.machine.opts.push_back(std::move(o));
            }
            cl.machine_where.push_back(where);
        } else if (name == "accel") {
            cl.accel = TRY(at(where, qemu_opts_parse(arg, "accel")));
            cl.accel_where = where;
        } else if (name == "enable-kvm") {
            cl.enable_kvm = true;
        } else if (name == "global") {
            GlobalOption g = TRY(at(where, parse_global(arg)));
            g.where = where;
            cl.globals.push_back(std::move(g));
        } else if (name == "device") {
            QemuOpts opts = TRY(at(where, qemu_opts_parse(arg, "driver")));
            cl.devices.emplace_back(std::move(opts), where);
        } else if (name == "smp") {
            cl.smp.emplace(TRY(at(where, qemu_opts_parse(arg, "cpus"))), where);
        } else if (name == "S") {
            cl.start_stopped = true;
        } else if (name == "nodefaults") {
            cl.nodefaults = true;
        } else if (name == "display") {
            QemuOpts opts = TRY(at(where, qemu_opts_parse(arg, "type")));
            std::string type = opts.get("type").value_or("");
            if (type != "none") {
                return qapi::Error::format("Display '{}' is not available.",
                                           type);
            }
            TRY(at(where, parse_display_none(opts, cl.warnings)));
        } else if (name == "version") {
            cl.show_version = true;
        } else if (name == "h" || name == "help") {
            cl.show_help = true;
        } else if (name == "trace") {
            QemuOpts opts = TRY(at(where, qemu_opts_parse(arg, "enable")));
            if (opts.has_help()) {
                cl.trace_help = true;
                continue;
            }
            static constexpr std::string_view keys[] = { "enable", "events", "file" };
            TRY(at(where, qemu_opts_validate(opts, keys)));
            for (const QemuOpt &o : opts.opts) {
                if (o.name == "enable" && o.value == "help") {
                    cl.trace_help = true;
                } else if (o.name == "enable") {
                    cl.trace_patterns.emplace_back(o.value, where);
                } else if (o.name == "file") {
                    cl.trace_file.emplace(o.value, where);
                } else {
                    std::ifstream file(o.value);
                    if (!file) {
                        return at(where, qapi::Error::format(
                                             "could not open events file '{}'",
                                             o.value));
                    }
                    for (std::string line; std::getline(file, line);) {
                        if (!line.empty() && line[0] != '#') {
                            cl.trace_patterns.emplace_back(line, where);
                        }
                    }
                }
            }
        } else if (name == "qmp") {
            QemuOpts opts = TRY(at(where, qemu_opts_parse(arg, "chardev")));
            cl.qmp.emplace_back(TRY(at(where, qmp_option_endpoint(opts))), where);
        } else if (name == "mon") {
            mons.emplace_back(TRY(at(where, qemu_opts_parse(arg, "chardev"))),
                              where);
        } else if (name == "nographic") {
            // QEMU's -nographic takes the display away and, with default
            // devices, puts the serial port and its monitor on stdio; seoib
            // creates no default devices, so only the display goes.
        } else if (name == "msg") {
            TRY(at(where, parse_msg(arg, cl)));
        } else if (name == "no-shutdown") {
            // QEMU's -no-shutdown pauses the VM when the guest shuts it
            // down.  seoib's guests end only as isa-debug-exit ends QEMU
            // (an exit with the guest's status, which -no-shutdown does not
            // change in QEMU either); quit and signals exit in both.
        } else if (name == "daemonize") {
            cl.daemonize = true;
        } else if (name == "overcommit") {
            QemuOpts opts = TRY(at(where, qemu_opts_parse(arg, "")));
            TRY(at(where, parse_overcommit(opts, cl)));
        } else if (name == "kernel") {
            cl.kernel.emplace(std::string(arg), where);
        } else if (name == "append") {
            cl.append.emplace(std::string(arg), where);
        } else if (name == "initrd") {
            cl.initrd.emplace(std::string(arg), where);
        } else if (name == "m") {
            QemuOpts opts = TRY(at(where, qemu_opts_parse(arg, "size")));
            static constexpr std::string_view keys[] = { "size", "slots",
                                                         "maxmem" };
            TRY(at(where, qemu_opts_validate(opts, keys)));
            TRY(at(where, parse_memory_size(opts)));
            cl.memory.emplace(std::move(opts), where);
        } else if (name == "chardev") {
            QemuOpts opts = TRY(at(where, qemu_opts_parse(arg, "backend")));
            TRY(at(where, check_chardev(opts, cl.chardevs)));
            cl.chardevs.emplace_back(std::move(opts), where);
        } else if (name == "serial") {
            cl.serials.emplace_back(std::string(arg), where);
        } else if (name == "cpu") {
            cl.cpu.emplace(std::string(arg), where);
        } else if (name == "no-reboot") {
            cl.no_reboot = true;
        } else if (name == "incoming") {
            cl.incoming.emplace(std::string(arg), where);
        } else if (name == "loadvm") {
            cl.loadvm.emplace(std::string(arg), where);
        } else if (name == "vga") {
            // No display and no VGA device in seoib: only "none" exists.
            if (arg != "none") {
                return qapi::Error::format("unknown vga type: {}", arg);
            }
        } else if (name == "no-user-config") {
            // QEMU then skips its user configuration files; seoib-vm reads
            // none, so there is nothing to skip.
        } else if (name == "name") {
            QemuOpts opts = TRY(at(where, qemu_opts_parse(arg, "guest")));
            static constexpr std::string_view keys[] = { "guest", "process",
                                                         "debug-threads" };
            TRY(at(where, qemu_opts_validate(opts, keys)));
            if (auto d = opts.get("debug-threads"); d && *d != "on" && *d != "off") {
                return at(where, qapi::Error("Parameter 'debug-threads' "
                                             "expects 'on' or 'off'"));
            }
            cl.name = opts.get("guest");
            cl.process_name = opts.get("process");
        } else if (name == "uuid") {
            if (!is_uuid(arg)) {
                return at(where, qapi::Error("failed to parse UUID string: "
                                             "wrong format"));
            }
            cl.uuid = std::string(arg);
        } else if (name == "pidfile") {
            cl.pidfile = std::string(arg);
        } else if (name == "drive") {
            QemuOpts opts = TRY(at(where, qemu_opts_parse(arg, "")));
            cl.drives.emplace_back(TRY(at(where, parse_drive(opts, cl.drives.size()))), where);
        } else if (name == "blockdev") {
            QemuOpts opts = TRY(at(where, qemu_opts_parse(arg, "")));
            auto image = TRY(at(where, parse_blockdev(opts, cl.file_nodes)));
            if (image) {
                cl.drives.emplace_back(std::move(*image), where);
            }
        }
    }
    for (const auto &[opts, where] : mons) {
        cl.qmp.push_back(TRY(at(where, mon_endpoint(opts, cl.chardevs))));
    }
    TRY(resolve_machine_accel(cl));
    TRY(check_daemonize(cl));
    return cl;
}

namespace {

// ---- help and listings ---------------------------------------------------

void print_usage()
{
    fmt::print(
        "seoib-vm version {}\n"
        "usage: seoib-vm [options]\n"
        "\n"
        "Standard options:\n"
        "-h or -help     display this help and exit\n"
        "-version        display version information and exit\n"
        "-machine [type=]name[,prop[=value][,...]]\n"
        "                selects emulated machine ('-machine help' for list)\n"
        "                kernel-irqchip=on|off|split controls the in-kernel "
        "irqchip\n"
        "-M              as -machine (accel=kvm[:tcg...]: the first that\n"
        "                initialises; seoib-vm has kvm only)\n"
        "-accel [accel=]kvm[,prop[=value][,...]]\n"
        "                kernel-irqchip=on|off|split, device=PATH,\n"
        "                kernel=auto|host|model|model-6.12|model-6.1,\n"
        "                seoib-policy=auto|quirked|respected|not-advertised\n"
        "                ('-accel kvm,help' for all)\n"
        "-enable-kvm     as -accel kvm\n"
        "-smp [[cpus=]n][,maxcpus=maxcpus][,sockets=sockets][,dies=dies]\n"
        "                [,cores=cores][,threads=threads]\n"
        "-global driver.prop=value\n"
        "-global driver=driver,property=property,value=value\n"
        "                set a default value of a driver's property\n"
        "-device driver[,prop[=value][,...]]\n"
        "                add device (use '-device driver,help' for properties)\n"
        "-S              freeze the guest at start-up (continue over QMP)\n"
        "-nodefaults     don't create default devices\n"
        "-no-user-config seoib-vm reads no configuration files (accepted)\n"
        "-vga none       no VGA card (the only one)\n"
        "-name [guest=]name[,process=name][,debug-threads=on|off]\n"
        "                the guest's name; process= names the process\n"
        "-uuid uuid      the machine's UUID\n"
        "-pidfile file   write the process ID to file once started; removed "
        "on exit\n"
        "-display none   no display (the only one)\n"
        "-nographic      no display (seoib-vm creates no default serial port)\n"
        "-daemonize      run in the background once started\n"
        "-no-shutdown    pause instead of exiting when the guest shuts down\n"
        "-msg [timestamp=on|off][,guest-name=on|off]\n"
        "                time (UTC) and guest name in front of each message\n"
        "-overcommit [mem-lock=on|off][,cpu-pm=off]\n"
        "                mem-lock=on locks all memory\n"
        "-qmp dev        QMP monitor, e.g. unix:PATH,server=on,wait=off\n"
        "-mon [chardev=]id,mode=control[,pretty=on|off]\n"
        "                QMP monitor on a -chardev (socket or stdio)\n"
        "-incoming uri   wait for an incoming migration\n"
        "-loadvm name    start from a snapshot\n"
        "-drive if=none,file=FILE,format=qcow2,id=NAME\n"
        "                an image for savevm/loadvm (no guest disk device)\n"
        "-blockdev driver=qcow2,node-name=NAME,file.driver=file,file.filename=FILE\n"
        "                the same, as a block node\n"
        "-kernel bzImage use 'bzImage' (a multiboot v1 kernel) as kernel image\n"
        "-append cmdline use 'cmdline' as kernel command line\n"
        "-initrd file    use 'file' as initial ram disk (multiboot modules:\n"
        "                'file1 args,file2 args')\n"
        "-m [size=]megs  guest RAM (default 128M; k, M, G, T suffixes)\n"
        "-cpu model[,+feature|-feature|feature=value]\n"
        "                qemu64 ('+x2apic', '-x2apic', '+tsc-deadline')\n"
        "-serial dev     COM port: stdio, null, file:PATH, chardev:ID, none\n"
        "-chardev stdio|null|file,id=id[,path=path]\n"
        "-chardev socket,id=id,path=path|fd=n[,server=on|off][,wait=on|off]\n"
        "-no-reboot      exit instead of rebooting\n"
        "-trace [[enable=]pattern][,events=file]\n"
        "                enable trace events ('-trace help' for the list)\n",
        SEOIB_VERSION);
}

/// QEMU's qdev_device_help() layout: "  name=<type>", padded to 24 columns,
/// " - description", " (default: value)".
void print_class_properties(const qom::ObjectClass &klass,
                            std::string_view header)
{
    std::vector<const qom::ObjectProperty *> props;
    klass.for_each_property([&](const qom::ObjectProperty &p) {
        if (p.writable() && p.name() != "realized") {
            props.push_back(&p);
        }
    });
    std::sort(props.begin(), props.end(),
              [](auto *a, auto *b) { return a->name() < b->name(); });
    fmt::print("{} options:\n", header);
    for (const qom::ObjectProperty *p : props) {
        std::string line = fmt::format("  {}=<{}>", p->name(), p->type());
        if (line.size() < 24) {
            line.append(24 - line.size(), ' ');
        }
        line += " - " + p->description();
        if (p->default_value()) {
            line += fmt::format(" (default: {})",
                                qapi::scalar_text(*p->default_value()).value_or(""));
        }
        fmt::print("{}\n", line);
    }
}

void print_machine_list(const qom::TypeRegistry &types)
{
    fmt::print("Supported machines are:\n");
    for (const hw::MachineClass *mc : hw::machine_classes(types)) {
        if (!mc->alias.empty()) {
            fmt::print("{:<20} {} (alias of {})\n", mc->alias, mc->desc,
                       mc->machine_name);
        }
        std::string flags;
        if (mc->is_default) {
            flags += " (default)";
        }
        if (!mc->deprecation_reason.empty()) {
            flags += " (deprecated)";
        }
        fmt::print("{:<20} {}{}\n", mc->machine_name, mc->desc, flags);
    }
}

/// QEMU's qdev_print_devinfos(): the user-creatable devices by category,
/// each 'name "T"[, bus B][, desc "D"]', sorted by name.
void print_device_list(const qom::TypeRegistry &types)
{
    static constexpr std::pair<qdev::DeviceCategory, std::string_view>
        categories[] = {
            { qdev::DeviceCategory::Bridge, "Controller/Bridge/Hub" },
            { qdev::DeviceCategory::Usb, "USB" },
            { qdev::DeviceCategory::Storage, "Storage" },
            { qdev::DeviceCategory::Network, "Network" },
            { qdev::DeviceCategory::Input, "Input" },
            { qdev::DeviceCategory::Display, "Display" },
            { qdev::DeviceCategory::Sound, "Sound" },
            { qdev::DeviceCategory::Misc, "Misc" },
            { qdev::DeviceCategory::Cpu, "CPU" },
            { qdev::DeviceCategory::Watchdog, "Watchdog" },
            { qdev::DeviceCategory::Uncategorized, "Uncategorized" },
        };
    std::vector<const qdev::DeviceClass *> devices;
    types.for_each_class([&](const qom::ObjectClass &oc) {
        if (oc.is_a(qdev::TYPE_DEVICE) && !oc.is_abstract()) {
            const auto &dc = static_cast<const qdev::DeviceClass &>(oc);
            if (dc.user_creatable) {
                devices.push_back(&dc);
            }
        }
    });
    std::sort(devices.begin(), devices.end(),
              [](auto *a, auto *b) { return a->name() < b->name(); });
    for (size_t i = 0; i < std::size(categories); i++) {
        if (i > 0) {
            fmt::print("\n");
        }
        fmt::print("{} devices:\n", categories[i].second);
        for (const qdev::DeviceClass *dc : devices) {
            if (dc->category != categories[i].first) {
                continue;
            }
            std::string line = fmt::format("name \"{}\"", dc->name());
            if (!dc->bus_type.empty()) {
                line += ", bus " + dc->bus_type;
            }
            if (!dc->desc.empty()) {
                line += fmt::format(", desc \"{}\"", dc->desc);
            }
            fmt::print("{}\n", line);
        }
    }
}

// ---- the run -------------------------------------------------------------

void report_error(const qapi::Error &e)
{
    error_report("{}", e.message());
}

/// -smp as QEMU 7.2 reads it: keyval into the SMPConfiguration visitor,
/// whose texts name the member as "smp.KEY".
qapi::Result<hw::SMPConfiguration> parse_smp(const QemuOpts &opts)
{
    hw::SMPConfiguration config;
    const std::pair<std::string_view, std::optional<int64_t> *> members[] = {
        { "cpus", &config.cpus },       { "maxcpus", &config.maxcpus },
        { "sockets", &config.sockets }, { "dies", &config.dies },
        { "cores", &config.cores },     { "threads", &config.threads },
    };
    for (const QemuOpt &o : opts.opts) {
        auto member = std::find_if(std::begin(members), std::end(members),
                                   [&](const auto &m) { return m.first == o.name; });
        if (member == std::end(members)) {
            return qapi::Error::format("Parameter 'smp.{}' is unexpected",
                                       o.name);
        }
        std::optional<int64_t> n = qom::detail::parse_i64(o.value);
        if (!n) {
            return qapi::Error::format("Parameter 'smp.{}' expects integer",
                                       o.name);
        }
        *member->second = *n;
    }
    return config;
}

/// -cpu MODEL,FEATURES as QEMU 7.2 reads it (x86_cpu_parse_featurestr):
/// the model must exist, each feature becomes a global property of the
/// model's type ("+f" f=on, "-f" f=off, "f" f=on, "f=v").
qapi::Result<void> register_cpu_globals(qom::Context &ctx,
                                        const std::string &arg,
                                        const OptionText &where)
{
    QemuOpts opts = TRY(qemu_opts_parse(arg, "model"));
    const std::string model = opts.get("model").value_or("");
    const std::string type = model + std::string(hw::x86::X86_CPU_TYPE_SUFFIX);
    const qom::ObjectClass *oc = ctx.types().find_class(type);
    if (!oc || oc->is_abstract()) {
        return qapi::Error::format("unable to find CPU model '{}'", model);
    }
    for (const QemuOpt &o : opts.opts) {
        if (o.name == "model") {
            continue;
        }
        std::string feature = o.name;
        std::string value = o.value;
        if (feature.starts_with('+') || feature.starts_with('-')) {
            value = feature[0] == '+' ? "on" : "off";
            feature = feature.substr(1);
        }
        ctx.globals().register_user(type, feature, value, where.text());
    }
    return {};
}

/// A -serial backend: what the UART's bytes go to.  "chardev:ID" names a
/// -chardev.  Errors are QEMU's.
qapi::Result<hw::isa::ISASerialState::CharSink>
serial_backend(const std::string &spec, const CommandLine &cl)
{
    if (spec.starts_with("chardev:")) {
        const std::string id = spec.substr(8);
        for (const auto &[opts, where] : cl.chardevs) {
            if (opts.get("id") == id) {
                const std::string backend = opts.get("backend").value_or("");
                if (backend == "socket") {
                    return qapi::Error("a COM port in seoib-vm needs a stdio, "
                                       "null or file chardev, not 'socket'");
                }
                return serial_backend(
                    backend == "file" ? "file:" + opts.get("path").value_or("")
                                      : backend,
                    cl);
            }
        }
        return qapi::Error::format("could not connect serial device to "
                                   "character backend '{}'",
                                   spec);
    }
    if (spec == "stdio") {
        return hw::isa::ISASerialState::CharSink(
            [](std::string_view bytes) {
                std::fwrite(bytes.data(), 1, bytes.size(), stdout);
                // A line at a time, so a run ended from outside (a test's
                // timeout) still shows how far the guest got.
                if (bytes.find('\n') != std::string_view::npos) {
                    std::fflush(stdout);
                }
            });
    }
    if (spec == "null") {
        return hw::isa::ISASerialState::CharSink([](std::string_view) {});
    }
    if (spec.starts_with("file:")) {
        const std::string path = spec.substr(5);
        std::shared_ptr<std::FILE> file(std::fopen(path.c_str(), "w"),
                                        [](std::FILE *f) {
                                            if (f) {
                                                std::fclose(f);
                                            }
                                        });
        if (!file) {
            return qapi::Error::format("Could not open '{}': {}", path,
                                       std::strerror(errno));
        }
        return hw::isa::ISASerialState::CharSink(
            [file](std::string_view bytes) {
                std::fwrite(bytes.data(), 1, bytes.size(), file.get());
                std::fflush(file.get());
            });
    }
    return qapi::Error::format("'{}' is not a valid char driver", spec);
}

/// QEMU's board-created ISA devices for a -kernel guest: the COM ports of
/// -serial (isa-serial, index 0.. in order), fw_cfg at /machine/fw_cfg and
/// the 8259s.
qapi::Result<void> create_isa_board_devices(qom::Context &ctx,
                                            hw::MachineState &machine,
                                            const CommandLine &cl)
{
    uint32_t index = 0;
    for (const auto &[spec, where] : cl.serials) {
        if (spec == "none") {
            continue;
        }
        auto sink = serial_backend(spec, cl);
        if (!sink) {
            return at(where, sink.release_error());
        }
        auto uart = TRY(ctx.new_object<hw::isa::ISASerialState>());
        TRY(at(where, uart->parse_property("index", std::to_string(index++))));
        uart->set_chardev_sink(sink.release_value());
        TRY(machine.unattached().add_child("device[*]", uart));
        TRY(at(where, uart->realize()));
    }
    if (!cl.kernel) {
        return {};
    }
    auto fw_cfg = TRY(ctx.new_object<hw::isa::FWCfgIoState>());
    TRY(machine.add_child("fw_cfg", fw_cfg));
    TRY(fw_cfg->realize());
    auto pic = TRY(ctx.new_object<hw::isa::I8259State>());
    TRY(machine.unattached().add_child("device[*]", pic));
    TRY(pic->realize());
    return {};
}

qapi::Result<void> create_devices(qom::Context &ctx, hw::MachineState &machine,
                                  const CommandLine &cl)
{
    for (const auto &[opts, where] : cl.devices) {
        std::string driver = opts.get("driver").value_or("");
        const qom::ObjectClass *oc = ctx.types().find_class(driver);
        if (!oc || !oc->is_a(qdev::TYPE_DEVICE) || oc->is_abstract()) {
            return at(where, qapi::Error::format(
                                 "'{}' is not a valid device model name",
                                 driver));
        }
        if (!static_cast<const qdev::DeviceClass *>(oc)->user_creatable) {
            return at(where, qapi::Error::format(
                                 "Parameter 'driver' expects a pluggable "
                                 "device type"));
        }
        qom::Ref<qom::Object> dev = TRY(at(where, ctx.new_object(driver)));
        auto &device = qom::cast<qdev::DeviceState>(*dev);
        std::string id = opts.get("id").value_or("");
        device.set_id(id);
        for (const QemuOpt &o : opts.opts) {
            if (o.name != "driver" && o.name != "id") {
                TRY(at(where, dev->parse_property(o.name, o.value)));
            }
        }
        std::string_view container = id.empty() ? "peripheral-anon"
                                                 : "peripheral";
        qom::Object *parent = machine.child(container);
        if (!parent) {
            TRY(machine.add_child(container,
                                  TRY(ctx.new_object(qom::TYPE_CONTAINER))));
            parent = machine.child(container);
        }
        TRY(at(where, parent->add_child(id.empty() ? "device[*]" : id, dev)));
        TRY(at(where, device.realize()));
    }
    return {};
}

} // namespace

qapi::Result<std::unique_ptr<Vm>>
build_vm(const CommandLine &cl, std::shared_ptr<const qom::TypeRegistry> types)
{
    auto owned_ctx = std::make_unique<qom::Context>(types);
    qom::Context &ctx = *owned_ctx;
    ctx.set_warning_sink([](std::string_view msg) {
        error_report("warning: {}", msg);
    });
    ctx.set_info_sink([](std::string_view msg) {
        error_report("{}", msg);
    });

    // 1. user globals, in command-line order, then -cpu's features (QEMU
    // registers those at board init, after every -global).
    for (const GlobalOption &g : cl.globals) {
        ctx.globals().register_user(g.driver, g.property, g.value,
                                    g.where.text());
    }
    if (cl.cpu) {
        TRY(register_cpu_globals(ctx, cl.cpu->first, cl.cpu->second));
    }

    // 2. the machine class.
    const hw::MachineClass *mc = nullptr;
    if (auto type = cl.machine.get("type")) {
        mc = hw::find_machine(ctx.types(), *type);
        if (!mc) {
            return qapi::Error("unsupported machine type\n"
                               "Use -machine help to list supported machines");
        }
    } else {
        mc = hw::find_default_machine(ctx.types());
        if (!mc) {
            return qapi::Error("No machine specified, and there is no default");
        }
    }
    if (!mc->deprecation_reason.empty()) {
        ctx.warn(fmt::format("Machine type '{}' is deprecated: {}",
                             mc->machine_name, mc->deprecation_reason));
    }

    // Legacy -machine options that are sugar for the accelerator (QEMU's
    // qemu_apply_legacy_machine_options): compat slot 2.
    std::vector<QemuOpt> machine_props;
    for (const QemuOpt &o : cl.machine.opts) {
        if (o.name == "type") {
            continue;
        }
        // QEMU takes the old underscore spelling too (kvm-unit-tests'
        // x86/run passes kernel_irqchip=split).
        if (o.name == "kernel-irqchip" || o.name == "kernel_irqchip") {
            ctx.globals().register_sugar(
                accel::kvm::TYPE_KVM_ACCEL, "kernel-irqchip", o.value,
                fmt::format("-machine {}={}", o.name, o.value));
        } else if (o.name == "accel") {
            // A fallback list; parse_command_line() checked it names kvm.
        } else {
            machine_props.push_back(o);
        }
    }

    // 3. the machine object; its compat list enters the machine slot first.
    qom::Ref<hw::MachineState> machine = TRY(hw::create_machine(ctx, *mc));
    // Entries on types seoib does not model stay in the list (query-machines
    // shows them) and can never apply; say so where someone looks.
    if (trace::event_enabled(TRACE_MACHINE_COMPAT_UNMODELLED)) {
        const auto list = mc->compat_list(ctx.types());
        for (uint32_t i : list->unmodelled()) {
            const qom::CompatProperty &e = list->props()[i];
            const std::string driver(e.driver), property(e.property),
                value(e.value), origin(list->origin(i));
            trace_machine_compat_unmodelled(mc->machine_name.c_str(),
                                            origin.c_str(), driver.c_str(),
                                            property.c_str(), value.c_str());
        }
    }
    for (const QemuOpt &o : machine_props) {
        TRY(machine->parse_property(o.name, o.value));
    }
    hw::CpuTopology smp;
    if (cl.smp) {
        hw::SMPConfiguration config = TRY(at(cl.smp->second, parse_smp(cl.smp->first)));
        smp = TRY(at(cl.smp->second, hw::machine_parse_smp_config(config, *mc)));
    }
    machine->set_smp(smp);

    // 4. the accelerator: compat slots, then the -accel options, which win.
    OptionText accel_where = cl.accel ? cl.accel_where
                                      : OptionText { "-accel", "kvm" };
    std::string accel_name = cl.accel ? cl.accel->get("accel").value_or("kvm")
                                      : "kvm";
    const accel::AccelClass *ac = accel::find_accel(ctx.types(), accel_name);
    if (!ac) {
        return at(accel_where,
                  qapi::Error::format("invalid accelerator {}", accel_name));
    }
    qom::Ref<accel::AccelState> accel =
        TRY(ctx.new_object<accel::AccelState>(ac->name()));
    TRY(at(accel_where, ctx.globals().apply_compat(*accel)));
    if (cl.accel) {
        for (const QemuOpt &o : cl.accel->opts) {
            if (o.name != "accel") {
                TRY(at(accel_where, accel->parse_property(o.name, o.value)));
            }
        }
    }
    if (cl.incoming || cl.loadvm) {
        // The SEOIB flags wait for the stream (design §4.5).
        if (auto *kvm = qom::dyn_cast<accel::kvm::KVMAccel>(accel.get())) {
            kvm->set_incoming();
        }
    }
    TRY(machine->add_child("accel", accel));
    machine->set_accelerator(*accel);
    TRY(at(accel_where, accel->init_machine(*machine)));

    // 5. the board (with the ISA devices a -kernel guest uses), then
    // -device.
    TRY(machine->init());
    TRY(create_isa_board_devices(ctx, *machine, cl));
    TRY(create_devices(ctx, *machine, cl));

    auto vm = std::make_unique<Vm>(std::move(owned_ctx), std::move(machine),
                                   std::move(accel));
    if (cl.memory && !cl.kernel) {
        TRY(at(cl.memory->second,
               vm->set_guest_ram_size(TRY(parse_memory_size(cl.memory->first)))));
    }
    // The built-in guest's device is part of the machine from here on, so
    // that its globals apply and an incoming stream finds it.  A machine
    // the guest cannot run on is still built: the main job says why.
    if (auto prepared = vm->prepare_guest(); !prepared) {
        trace_machine_guest_not_ready(prepared.error().message().c_str());
    }

    // 6. QEMU's qemu_machine_creation_done(): unused globals are reported.
    qdev::qdev_prop_check_globals(ctx);
    trace_machine_created(vm->machine().machine_class().machine_name.c_str());
    return vm;
}

namespace {

/// -pidfile: QEMU's qemu_write_pidfile.  The file is locked while seoib-vm
/// runs, so a second instance with the same file fails, and removed when
/// the object goes (the run ended, signals included: they end the run loop).
/// QEMU's os_daemonize() and os_setup_post(): detach() forks twice and
/// returns in the daemon only; the original process waits and exits 0 once
/// the daemon calls ready(), 1 if it exits first (its error went to the
/// standard error they share).
class Daemon {
public:
    static qapi::Result<Daemon> detach()
    {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) < 0) {
            return qapi::Error::from_errno(errno, "cannot daemonize");
        }
        std::fflush(nullptr);
        const pid_t child = ::fork();
        if (child < 0) {
            const int fork_errno = errno;
            ::close(fds[0]);
            ::close(fds[1]);
            return qapi::Error::from_errno(fork_errno, "cannot daemonize");
        }
        if (child > 0) {
            ::close(fds[1]);
            ::waitpid(child, nullptr, 0);
            char status = 1;
            ssize_t n;
            do {
                n = ::read(fds[0], &status, 1);
            } while (n < 0 && errno == EINTR);
            std::_Exit(n == 1 && status == 0 ? 0 : 1);
        }
        ::close(fds[0]);
        ::setsid();
        const pid_t daemon = ::fork();
        if (daemon < 0) {
            std::_Exit(1);
        }
        if (daemon > 0) {
            std::_Exit(0);
        }
        ::umask(027);
        std::signal(SIGTSTP, SIG_IGN);
        std::signal(SIGTTOU, SIG_IGN);
        std::signal(SIGTTIN, SIG_IGN);
        return Daemon(fds[1]);
    }

    Daemon(Daemon &&o) noexcept
        : m_fd(std::exchange(o.m_fd, -1))
    {
    }
    Daemon &operator=(Daemon &&) = delete;

    ~Daemon()
    {
        if (m_fd >= 0) {
            ::close(m_fd);
        }
    }

    /// The daemon serves: the terminal is let go and the parent exits 0.
    void ready()
    {
        if (m_fd < 0) {
            return;
        }
        if (::chdir("/") < 0) {
            // As QEMU, a daemon that cannot leave its directory stays.
        }
        std::fflush(nullptr);
        const int null = ::open("/dev/null", O_RDWR);
        if (null >= 0) {
            ::dup2(null, STDIN_FILENO);
            ::dup2(null, STDOUT_FILENO);
            ::dup2(null, STDERR_FILENO);
            if (null > STDERR_FILENO) {
                ::close(null);
            }
        }
        const char status = 0;
        while (::write(m_fd, &status, 1) < 0 && errno == EINTR) {
        }
        ::close(std::exchange(m_fd, -1));
    }

private:
    explicit Daemon(int fd)
        : m_fd(fd)
    {
    }

    int m_fd { -1 };
};

class PidFile {
public:
    static qapi::Result<PidFile> write(const std::string &path)
    {
        int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            return qapi::Error::from_errno(
                errno, fmt::format("cannot create PID file: Could not create "
                                   "'{}'",
                                   path));
        }
        // Removed by its full name: a daemon has left the directory by then.
        std::unique_ptr<char, decltype(&std::free)> full(::realpath(path.c_str(), nullptr),
                                                         &std::free);
        PidFile f(full ? std::string(full.get()) : path, fd);
        if (::lockf(fd, F_TLOCK, 0) < 0) {
            f.m_path.clear(); // another instance's file: leave it
            return qapi::Error::from_errno(errno, "Cannot lock pid file");
        }
        std::string pid = fmt::format("{}\n", ::getpid());
        if (::ftruncate(fd, 0) < 0 ||
            ::pwrite(fd, pid.data(), pid.size(), 0) != ssize_t(pid.size())) {
            return qapi::Error::from_errno(
                errno, fmt::format("cannot create PID file: Failed to write "
                                   "'{}'",
                                   path));
        }
        return f;
    }

    PidFile(PidFile &&o) noexcept
        : m_path(std::move(o.m_path))
        , m_fd(std::exchange(o.m_fd, -1))
    {
        o.m_path.clear();
    }
    PidFile &operator=(PidFile &&) = delete;

    ~PidFile()
    {
        if (!m_path.empty()) {
            ::unlink(m_path.c_str());
        }
        if (m_fd >= 0) {
            ::close(m_fd);
        }
    }

private:
    PidFile(std::string path, int fd)
        : m_path(std::move(path))
        , m_fd(fd)
    {
    }

    std::string m_path;
    int m_fd;
};

} // namespace

int vm_main(std::span<const std::string_view> args)
{
    auto parsed = parse_command_line(args);
    if (!parsed) {
        // QEMU reads -msg first, so that every error is stamped: so here,
        // for an error in a later option.
        CommandLine msg;
        for (size_t i = 0; i + 1 < args.size(); i++) {
            if (args[i] == "-msg" || args[i] == "--msg") {
                (void)parse_msg(args[i + 1], msg);
            }
        }
        set_message_options({ .timestamp = msg.msg_timestamp });
        report_error(parsed.error());
        return 1;
    }
    CommandLine &cl = parsed.value();
    set_message_options({ .timestamp = cl.msg_timestamp,
                          .guest_name = cl.msg_guest_name ? cl.name : std::nullopt });

    if (cl.show_help) {
        print_usage();
        return 0;
    }
    if (cl.show_version) {
        // QEMU's first line, with seoib where QEMU builds name their package.
        const auto &v = monitor::QEMU_VERSION_IMPLEMENTED;
        fmt::print("QEMU emulator version {}.{}.{} (seoib {})\n"
                   "seoib-vm {}: QEMU {}.{}'s command line, machine types and "
                   "QMP; not QEMU\n",
                   v.major, v.minor, v.micro, SEOIB_VERSION, SEOIB_VERSION,
                   v.major, v.minor);
        return 0;
    }
    if (cl.trace_help) {
        for (std::string_view name : trace::event_names()) {
            fmt::print("{}\n", name);
        }
        return 0;
    }

    std::shared_ptr<const qom::TypeRegistry> types = builtin_type_registry();

    // -machine help, -machine TYPE,help
    if (cl.machine.has_help() || cl.machine.get("type") == "help" ||
        cl.machine.get("type") == "?") {
        auto type = cl.machine.get("type");
        if (!type || *type == "help" || *type == "?") {
            print_machine_list(*types);
            return 0;
        }
        const hw::MachineClass *mc = hw::find_machine(*types, *type);
        if (!mc) {
            report_error(qapi::Error(
                "unsupported machine type\n"
                "Use -machine help to list supported machines"));
            return 1;
        }
        print_class_properties(*mc, mc->name());
        return 0;
    }
    // -accel help, -accel NAME,help
    if (cl.accel && (cl.accel->has_help() || cl.accel->get("accel") == "help" ||
                     cl.accel->get("accel") == "?")) {
        std::string name = cl.accel->get("accel").value_or("help");
        if (name == "help" || name == "?") {
            fmt::print("Accelerators supported in seoib-vm binary:\nkvm\n");
            return 0;
        }
        const accel::AccelClass *ac = accel::find_accel(*types, name);
        if (!ac) {
            report_error(at(cl.accel_where,
                            qapi::Error::format("invalid accelerator {}", name)));
            return 1;
        }
        print_class_properties(*ac, ac->name());
        return 0;
    }
    // -device help
    for (const auto &[opts, where] : cl.devices) {
        if (opts.get("driver") == "help" || opts.get("driver") == "?" ||
            (opts.has_help() && opts.get("driver").value_or("").empty())) {
            print_device_list(*types);
            return 0;
        }
    }
    // -device TYPE,help
    for (const auto &[opts, where] : cl.devices) {
        if (!opts.has_help()) {
            continue;
        }
        std::string driver = opts.get("driver").value_or("");
        const qom::ObjectClass *oc = types->find_class(driver);
        if (!oc || !oc->is_a(qdev::TYPE_DEVICE)) {
            report_error(at(where, qapi::Error::format(
                                       "Device '{}' not found", driver)));
            return 1;
        }
        print_class_properties(*oc, oc->name());
        return 0;
    }

    for (const std::string &warning : cl.warnings) {
        error_report("{}", warning);
    }
    if (cl.trace_file) {
        // QEMU's log backend writes to -trace file=PATH instead of stderr.
        std::FILE *f = std::fopen(cl.trace_file->first.c_str(), "w");
        if (f == nullptr) {
            report_error(at(cl.trace_file->second,
                            qapi::Error::from_errno(errno, fmt::format("could not open trace file '{}'",
                                                                       cl.trace_file->first))));
            return 1;
        }
        trace::set_sink([f](std::string_view line) {
            std::fwrite(line.data(), 1, line.size(), f);
            std::fflush(f);
        });
    }
    for (const auto &[pattern, where] : cl.trace_patterns) {
        if (trace::enable_events(pattern) == 0) {
            error_report("{}: warning: trace event '{}' does not exist", where.text(), pattern);
        }
    }
    if (cl.loadvm && cl.incoming) {
        report_error(qapi::Error("-loadvm and -incoming are mutually exclusive"));
        return 1;
    }
    if (cl.incoming && cl.incoming->first != "defer") {
        // A bad URI fails before anything is built, as in QEMU.
        if (auto uri = migration::parse_channel_uri(cl.incoming->first); !uri) {
            report_error(at(cl.incoming->second, uri.release_error()));
            return 1;
        }
    }
    if (!cl.kernel && (cl.append || cl.initrd)) {
        report_error(qapi::Error::format(
            "{} only allowed with -kernel option",
            cl.append ? "-append" : "-initrd"));
        return 1;
    }
    if (cl.accel && cl.enable_kvm &&
        cl.accel->get("accel").value_or("kvm") != "kvm") {
        report_error(qapi::Error("-enable-kvm and -accel conflict"));
        return 1;
    }

    if (cl.mem_lock && ::mlockall(MCL_CURRENT | MCL_FUTURE) < 0) {
        // QEMU's text for -overcommit mem-lock=on.
        report_error(qapi::Error::format("locking memory failed: {}",
                                         std::strerror(errno)));
        return 1;
    }
    // Before anything is built: a KVM VM belongs to the process that made
    // it, and the pid file names the daemon.
    std::optional<Daemon> daemon;
    if (cl.daemonize) {
        auto detached = Daemon::detach();
        if (!detached) {
            report_error(detached.error());
            return 1;
        }
        daemon.emplace(std::move(detached.value()));
    }

    auto vm = build_vm(cl, types);
    if (!vm) {
        report_error(vm.error());
        return 1;
    }
    if (cl.process_name) {
        // As QEMU: the name ps and top show (the kernel keeps 15 bytes).
        ::prctl(PR_SET_NAME, cl.process_name->c_str());
    }
    std::optional<PidFile> pidfile;
    if (cl.pidfile) {
        auto written = PidFile::write(*cl.pidfile);
        if (!written) {
            report_error(written.error());
            return 1;
        }
        pidfile.emplace(std::move(written.value()));
    }
    return run_vm(*vm.value(), cl, [&daemon] {
        if (daemon) {
            daemon->ready();
        }
    });
}

} // namespace sysemu
