/*
 * seoib-compat: machine-type compat testing on the library (design §2).
 *
 *   seoib-compat list
 *   seoib-compat show MACHINE
 *   seoib-compat compare M1 M2 ... | --all  [--driver GLOB] [--property GLOB]
 *   seoib-compat migrate-matrix M1 ... | --all
 *   --format text|csv|json   (text: an aligned table that fits the terminal)
 *
 * compare prints what QEMU's scripts/compare-machine-types.py prints -- one
 * row per driver.property whose value differs between the machines, class
 * defaults resolved -- and the rows no peer has: the accelerator's
 * properties, the effective seoib-policy for each kernel profile x irqchip x
 * IOAPIC version and the LVR's bit 24 there.  Those come from building the
 * VM in process with the library (build_vm), not from a second copy of the
 * rules.
 *
 * Errors are one line, "seoib-compat: MESSAGE", exit status 1; nothing is
 * printed on stdout before every row is computed.
 */
#include "accel/kvm/kvm-accel.h"
#include "hw/core/machine.h"
#include "hw/i386/pc.h"
#include "hw/i386/x86-cpu.h"
#include "qapi/enum-lookup.h"
#include "qapi/qjson.h"
#include "system/builtin-types.h"
#include "migration/qemu-file.h"
#include "system/vl.h"
#include "system/vm-migration.h"
#include "system/vm.h"

#include <fmt/format.h>

#include <functional>

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::string_view PROGRAM = "seoib-compat";

enum class Format { Text, Csv, Json, Html };

struct Table {
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;
};

int fail(const std::string &message)
{
    fmt::print(stderr, "{}: {}\n", PROGRAM, message);
    return 1;
}

std::string format_qobject(const qapi::QObject &v)
{
    return qapi::scalar_text(v).value_or(qapi::to_json(v));
}

/// Values as QEMU's script compares them: on/yes/true are one value, and
/// 0x20 is 32.
std::string normalised(const std::string &v)
{
    if (v == "on" || v == "true" || v == "yes") {
        return "true";
    }
    if (v == "off" || v == "false" || v == "no") {
        return "false";
    }
    if (!v.empty()) {
        char *end = nullptr;
        long long n = std::strtoll(v.c_str(), &end, 0);
        if (end && *end == '\0') {
            return std::to_string(n);
        }
    }
    return v;
}

size_t terminal_width()
{
    if (const char *c = std::getenv("COLUMNS")) {
        if (int n = std::atoi(c); n > 20) {
            return static_cast<size_t>(n);
        }
    }
    winsize ws {};
    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) {
        return ws.ws_col;
    }
    return 160;
}

std::string csv_field(const std::string &s)
{
    if (s.find_first_of(",\"\n") == std::string::npos) {
        return s;
    }
    std::string out = "\"";
    for (char c : s) {
        out += c == '"' ? std::string("\"\"") : std::string(1, c);
    }
    return out + "\"";
}

std::string json_string(const std::string &s)
{
    return qapi::to_json(qapi::QObject(s));
}

/// Text: the first column repeated in every block, as many of the other
/// columns per block as fit the terminal.
void print_text(const Table &t)
{
    const size_t ncols = t.header.size();
    std::vector<size_t> width(ncols, 0);
    for (size_t c = 0; c < ncols; ++c) {
        width[c] = t.header[c].size();
        for (const auto &r : t.rows) {
            width[c] = std::max(width[c], r[c].size());
        }
    }
    const size_t term = terminal_width();
    size_t c = 1;
    do {
        size_t used = width[0];
        size_t end = c;
        while (end < ncols && (end == c || used + 2 + width[end] <= term)) {
            used += 2 + width[end];
            ++end;
        }
        auto line = [&](const std::vector<std::string> &cells) {
            std::string s = fmt::format("{:<{}}", cells[0], width[0]);
            for (size_t i = c; i < end; ++i) {
                s += fmt::format("  {:<{}}", cells[i], width[i]);
            }
            while (!s.empty() && s.back() == ' ') {
                s.pop_back();
            }
            fmt::print("{}\n", s);
        };
        if (c > 1) {
            fmt::print("\n");
        }
        line(t.header);
        for (const auto &r : t.rows) {
            line(r);
        }
        c = end;
    } while (c < ncols);
}

std::string html_escape(const std::string &s)
{
    std::string out;
    for (char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        default: out += c;
        }
    }
    return out;
}

/// One self-contained page (no scripts, no external resources): each cell
/// coloured by its value -- the same value the same hue along a row, so a
/// difference shows as a change of colour -- ok green and refused red, the
/// whole text on hover; long texts are cut in the cell.
void print_html(const Table &t)
{
    fmt::print("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>seoib-compat</title>\n"
               "<style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}"
               "td,th{{border:1px solid #999;padding:2px 6px;font-size:12px;white-space:nowrap}}"
               "th{{background:#eee}}td.ok{{background:#9e9}}td.refused{{background:#e99}}</style>\n"
               "</head><body>\n<table>\n<tr>");
    for (const auto &h : t.header) {
        fmt::print("<th>{}</th>", html_escape(h));
    }
    fmt::print("</tr>\n");
    for (const auto &r : t.rows) {
        fmt::print("<tr><th>{}</th>", html_escape(r[0]));
        for (size_t c = 1; c < r.size(); ++c) {
            const std::string &v = r[c];
            std::string shown = v.size() > 24 ? v.substr(0, 21) + "..." : v;
            if (v == "ok") {
                fmt::print("<td class=\"ok\" title=\"ok\">ok</td>");
            } else if (v.rfind("refused", 0) == 0 || v.rfind("source refuses", 0) == 0) {
                fmt::print("<td class=\"refused\" title=\"{}\">refused</td>", html_escape(v));
            } else {
                unsigned hue = static_cast<unsigned>(std::hash<std::string> {}(normalised(v)) % 360);
                fmt::print("<td style=\"background:hsl({},60%,80%)\" title=\"{}\">{}</td>", hue,
                           html_escape(v), html_escape(shown));
            }
        }
        fmt::print("</tr>\n");
    }
    fmt::print("</table>\n</body></html>\n");
}

void print_table(const Table &t, Format f)
{
    switch (f) {
    case Format::Text:
        print_text(t);
        return;
    case Format::Csv:
        for (const auto *r : { &t.header }) {
            std::vector<std::string> fields;
            for (const auto &s : *r) {
                fields.push_back(csv_field(s));
            }
            fmt::print("{}\n", fmt::join(fields, ","));
        }
        for (const auto &r : t.rows) {
            std::vector<std::string> fields;
            for (const auto &s : r) {
                fields.push_back(csv_field(s));
            }
            fmt::print("{}\n", fmt::join(fields, ","));
        }
        return;
    case Format::Html:
        print_html(t);
        return;
    case Format::Json:
        return; // each subcommand writes its own JSON
    }
}

/// The machine's chain folded: driver.property -> (value, origin, the
/// origins of the entries it overrides).
struct ChainValue {
    std::string driver, property, value, origin;
    std::vector<std::string> overrides;
};

std::vector<ChainValue> fold_chain(const hw::MachineClass &mc)
{
    std::vector<ChainValue> out;
    std::map<std::pair<std::string, std::string>, size_t> at;
    for (size_t i = 0; i < mc.compat_props.size(); ++i) {
        const qom::CompatProperty &e = mc.compat_props[i];
        std::string origin = i < mc.compat_origins.size() ? mc.compat_origins[i] : "";
        auto key = std::make_pair(std::string(e.driver), std::string(e.property));
        if (auto it = at.find(key); it != at.end()) {
            ChainValue &v = out[it->second];
            v.overrides.push_back(v.origin);
            v.value = std::string(e.value);
            v.origin = origin;
        } else {
            at[key] = out.size();
            out.push_back({ key.first, key.second, std::string(e.value), origin, {} });
        }
    }
    return out;
}

/// The class default of driver.property, or nullopt when seoib has no such
/// type or property (or it has no default).
std::optional<std::string> class_default(const qom::TypeRegistry &types, const std::string &driver,
                                         const std::string &property)
{
    const qom::ObjectClass *oc = types.find_class(driver);
    if (!oc) {
        return std::nullopt;
    }
    const qom::ObjectProperty *p = oc->find_property(property);
    if (!p || !p->default_value()) {
        return std::nullopt;
    }
    return format_qobject(*p->default_value());
}

bool seoib_legacy(const hw::MachineClass &mc)
{
    for (const ChainValue &v : fold_chain(mc)) {
        if (v.driver == accel::kvm::TYPE_KVM_ACCEL && v.property == "x-seoib-legacy") {
            return normalised(v.value) == "true";
        }
    }
    return false;
}

bool host_kvm_present()
{
    int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    ::close(fd);
    return true;
}

/// What a VM of this configuration runs with, built in process.
struct PolicyCell {
    std::string policy; // effective, or "error: ..." / "-"
    std::string bit24;
};

PolicyCell build_and_read(const std::shared_ptr<const qom::TypeRegistry> &types,
                          const std::string &machine, const std::string &kernel,
                          const std::string &irqchip, const std::string &ioapic)
{
    std::vector<std::string> args = { "-M",     machine, "-nodefaults", "-display", "none",
                                      "-accel", "kvm,kernel=" + kernel + ",kernel-irqchip=" + irqchip };
    if (irqchip == "split") {
        args.insert(args.end(), { "-global", "ioapic.version=" + ioapic });
    }
    std::vector<std::string_view> views(args.begin(), args.end());
    auto cl = sysemu::parse_command_line(views);
    if (!cl) {
        return { "error: " + cl.error().message(), "-" };
    }
    auto vm = sysemu::build_vm(cl.value(), types);
    if (!vm) {
        return { "error: " + vm.error().message(), "-" };
    }
    const auto *kvm = qom::dyn_cast<accel::kvm::KVMAccel>(&vm.value()->accel());
    const auto *x86 = qom::dyn_cast<hw::x86::X86MachineState>(&vm.value()->machine());
    PolicyCell cell { "-", "-" };
    if (kvm && kvm->seoib()) {
        cell.policy = std::string(qapi::enum_name(kvm->seoib()->effective));
    }
    if (kvm && x86 && !x86->cpus().empty()) {
        const accel::kvm::KVMCPUState *v = kvm->vcpu_state(*x86->cpus().front());
        if (v && v->lvr) {
            cell.bit24 = (*v->lvr & accel::kvm::APIC_LVR_DIRECTED_EOI) ? "1" : "0";
        }
    }
    return cell;
}

/// Runs `fn` with stderr going nowhere: build_vm warns about deprecated
/// machine types and unused globals, which is noise here.
template <typename F>
void quietly(F &&fn)
{
    std::fflush(stderr);
    int saved = ::dup(STDERR_FILENO);
    int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (saved >= 0 && null >= 0) {
        ::dup2(null, STDERR_FILENO);
    }
    fn();
    std::fflush(stderr);
    if (saved >= 0) {
        ::dup2(saved, STDERR_FILENO);
        ::close(saved);
    }
    if (null >= 0) {
        ::close(null);
    }
}

struct Options {
    Format format { Format::Text };
    std::vector<std::string> positional;
    bool all { false };
    std::string driver_glob { "*" };
    std::string property_glob { "*" };
};

int cmd_list(const qom::TypeRegistry &types, const Options &o)
{
    Table t { { "name", "alias", "default", "deprecated", "max-cpus", "irqchip", "seoib-legacy" },
              {} };
    for (const hw::MachineClass *mc : hw::machine_classes(types)) {
        t.rows.push_back({ mc->machine_name, mc->alias.empty() ? "-" : mc->alias,
                           mc->is_default ? "yes" : "no",
                           mc->deprecation_reason.empty() ? "no" : "yes",
                           std::to_string(mc->max_cpus),
                           mc->default_kernel_irqchip_split ? "split" : "on",
                           seoib_legacy(*mc) ? "yes" : "no" });
    }
    if (o.format != Format::Json) {
        print_table(t, o.format);
        return 0;
    }
    std::vector<std::string> items;
    for (const auto &r : t.rows) {
        items.push_back(fmt::format(
            "{{\"name\": {}, \"alias\": {}, \"default\": {}, \"deprecated\": {}, "
            "\"max-cpus\": {}, \"irqchip\": {}, \"seoib-legacy\": {}}}",
            json_string(r[0]), r[1] == "-" ? "null" : json_string(r[1]),
            r[2] == "yes" ? "true" : "false", r[3] == "yes" ? "true" : "false", r[4],
            json_string(r[5]), r[6] == "yes" ? "true" : "false"));
    }
    fmt::print("{{\"machines\": [\n  {}\n]}}\n", fmt::join(items, ",\n  "));
    return 0;
}

const hw::MachineClass *machine_or_error(const qom::TypeRegistry &types, const std::string &name)
{
    const hw::MachineClass *mc = hw::find_machine(types, name);
    if (!mc) {
        fail(fmt::format("unknown machine type '{}' (seoib-compat list shows them)", name));
    }
    return mc;
}

bool matches(const Options &o, const std::string &driver, const std::string &property)
{
    return fnmatch(o.driver_glob.c_str(), driver.c_str(), 0) == 0 &&
           fnmatch(o.property_glob.c_str(), property.c_str(), 0) == 0;
}

int cmd_show(const qom::TypeRegistry &types, const Options &o)
{
    if (o.positional.size() != 1) {
        return fail("show takes one machine type");
    }
    const hw::MachineClass *mc = machine_or_error(types, o.positional[0]);
    if (!mc) {
        return 1;
    }
    Table t { { "driver.property", "value", "from", "overrides" }, {} };
    for (const ChainValue &v : fold_chain(*mc)) {
        if (matches(o, v.driver, v.property)) {
            t.rows.push_back({ v.driver + "." + v.property, v.value, v.origin,
                               v.overrides.empty() ? "-" : fmt::format("{}", fmt::join(v.overrides, " ")) });
        }
    }
    if (o.format != Format::Json) {
        print_table(t, o.format);
        return 0;
    }
    std::vector<std::string> items;
    for (const auto &r : t.rows) {
        std::vector<std::string> ov;
        if (r[3] != "-") {
            size_t start = 0;
            while (start < r[3].size()) {
                size_t sp = r[3].find(' ', start);
                ov.push_back(json_string(r[3].substr(start, sp - start)));
                start = sp == std::string::npos ? r[3].size() : sp + 1;
            }
        }
        items.push_back(fmt::format("{{\"name\": {}, \"value\": {}, \"from\": {}, \"overrides\": [{}]}}",
                                    json_string(r[0]), json_string(r[1]), json_string(r[2]),
                                    fmt::join(ov, ", ")));
    }
    fmt::print("{{\"machine\": {}, \"properties\": [\n  {}\n]}}\n", json_string(mc->machine_name),
               fmt::join(items, ",\n  "));
    return 0;
}

int cmd_compare(const std::shared_ptr<const qom::TypeRegistry> &types_ptr, const Options &o)
{
    const qom::TypeRegistry &types = *types_ptr;
    std::vector<const hw::MachineClass *> machines;
    if (o.all) {
        machines = hw::machine_classes(types);
    } else {
        for (const std::string &name : o.positional) {
            const hw::MachineClass *mc = machine_or_error(types, name);
            if (!mc) {
                return 1;
            }
            machines.push_back(mc);
        }
    }
    if (machines.size() < 2) {
        return fail("compare needs at least two machine types, or --all");
    }
    // An exact driver name (no wildcard) must be one seoib or the tables know.
    if (o.driver_glob.find_first_of("*?[") == std::string::npos) {
        bool known = types.find_class(o.driver_glob) != nullptr;
        for (const auto *mc : machines) {
            for (const auto &e : mc->compat_props) {
                known = known || e.driver == o.driver_glob;
            }
        }
        if (!known) {
            return fail(fmt::format("unknown driver '{}'", o.driver_glob));
        }
    }

    // Rows: every driver.property any chain sets, plus the accelerator's
    // class properties.
    std::vector<std::map<std::pair<std::string, std::string>, std::string>> chain(machines.size());
    std::set<std::pair<std::string, std::string>> keys;
    for (size_t m = 0; m < machines.size(); ++m) {
        for (const ChainValue &v : fold_chain(*machines[m])) {
            chain[m][{ v.driver, v.property }] = v.value;
            keys.insert({ v.driver, v.property });
        }
    }
    if (const qom::ObjectClass *kvm = types.find_class(accel::kvm::TYPE_KVM_ACCEL)) {
        kvm->for_each_property([&](const qom::ObjectProperty &p) {
            if (p.writable() && p.default_value()) {
                keys.insert({ std::string(accel::kvm::TYPE_KVM_ACCEL), p.name() });
            }
        });
    }
    if (o.property_glob.find_first_of("*?[") == std::string::npos) {
        bool known = std::any_of(keys.begin(), keys.end(),
                                 [&](const auto &k) { return k.second == o.property_glob; });
        if (!known) {
            return fail(fmt::format("unknown property '{}'", o.property_glob));
        }
    }

    Table t;
    t.header.push_back("driver.property");
    for (const auto *mc : machines) {
        t.header.push_back(mc->machine_name);
    }
    std::vector<std::string> kinds;
    for (const auto &[driver, property] : keys) {
        if (!matches(o, driver, property)) {
            continue;
        }
        std::vector<std::string> row { driver + "." + property };
        std::set<std::string> distinct;
        for (size_t m = 0; m < machines.size(); ++m) {
            std::string value;
            if (auto it = chain[m].find({ driver, property }); it != chain[m].end()) {
                value = it->second;
            } else if (driver == accel::kvm::TYPE_KVM_ACCEL && property == "kernel-irqchip") {
                value = machines[m]->default_kernel_irqchip_split ? "split" : "on";
            } else {
                value = class_default(types, driver, property).value_or("-");
            }
            distinct.insert(normalised(value));
            row.push_back(value);
        }
        if (distinct.size() > 1) {
            t.rows.push_back(std::move(row));
            kinds.push_back(driver == accel::kvm::TYPE_KVM_ACCEL ? "accel" : "compat");
        }
    }

    // The rows no peer has: what the VM runs with, built in process.
    if (fnmatch(o.driver_glob.c_str(), "seoib", 0) == 0) {
        std::vector<std::string> kernels;
        if (host_kvm_present()) {
            kernels.push_back("host");
        }
        kernels.insert(kernels.end(), { "model", "model-6.12", "model-6.1" });
        struct Config {
            std::string kernel, irqchip, ioapic;
        };
        std::vector<Config> configs;
        for (const auto &k : kernels) {
            configs.push_back({ k, "on", "0x11" });
            for (const char *v : { "0x20", "0x11" }) {
                configs.push_back({ k, "split", v });
            }
        }
        std::vector<std::vector<std::string>> policy_rows, bit_rows;
        for (const Config &c : configs) {
            std::string tag = fmt::format("[kernel={},irqchip={},ioapic={}]", c.kernel, c.irqchip,
                                          c.ioapic);
            policy_rows.push_back({ "seoib.policy" + tag });
            bit_rows.push_back({ "seoib.lvr-bit24" + tag });
        }
        quietly([&] {
            for (const auto *mc : machines) {
                for (size_t i = 0; i < configs.size(); ++i) {
                    PolicyCell cell = build_and_read(types_ptr, mc->machine_name, configs[i].kernel,
                                                     configs[i].irqchip, configs[i].ioapic);
                    policy_rows[i].push_back(cell.policy);
                    bit_rows[i].push_back(cell.bit24);
                }
            }
        });
        for (auto *rows : { &policy_rows, &bit_rows }) {
            for (auto &r : *rows) {
                std::string name = r[0].substr(r[0].find('.') + 1);
                name = name.substr(0, name.find('['));
                if (fnmatch(o.property_glob.c_str(), name.c_str(), 0) != 0) {
                    continue;
                }
                std::set<std::string> distinct(r.begin() + 1, r.end());
                if (distinct.size() > 1) {
                    t.rows.push_back(r);
                    kinds.push_back("seoib");
                }
            }
        }
    }

    if (o.format != Format::Json) {
        print_table(t, o.format);
        return 0;
    }
    std::vector<std::string> names, rows;
    for (const auto *mc : machines) {
        names.push_back(json_string(mc->machine_name));
    }
    for (size_t i = 0; i < t.rows.size(); ++i) {
        std::vector<std::string> values;
        for (size_t c = 1; c < t.rows[i].size(); ++c) {
            values.push_back(json_string(t.rows[i][c]));
        }
        rows.push_back(fmt::format("{{\"name\": {}, \"kind\": {}, \"values\": [{}]}}",
                                   json_string(t.rows[i][0]), json_string(kinds[i]),
                                   fmt::join(values, ", ")));
    }
    fmt::print("{{\"machines\": [{}], \"rows\": [\n  {}\n]}}\n", fmt::join(names, ", "),
               fmt::join(rows, ",\n  "));
    return 0;
}

/// One VM of a migration: -M machine, the IOAPIC version, -accel kvm on
/// `kernel` with split irqchip and `policy` (none for auto).
qapi::Result<std::unique_ptr<sysemu::Vm>>
build_for_migration(const std::shared_ptr<const qom::TypeRegistry> &types, const std::string &machine,
                    const std::string &ioapic, const std::string &kernel, const std::string &policy,
                    bool incoming)
{
    std::string accel = "kvm,kernel=" + kernel + ",kernel-irqchip=split";
    if (policy != "auto") {
        accel += ",seoib-policy=" + policy;
    }
    // A small guest: the built-in one runs its 16 events in 64 KiB, and the
    // matrix's time is mostly RAM copied in and out.
    std::vector<std::string> args = { "-M",     machine, "-nodefaults", "-display", "none",
                                      "-m",     "64k",   "-accel",      accel,
                                      "-global", "ioapic.version=" + ioapic };
    if (incoming) {
        args.insert(args.end(), { "-incoming", "defer" });
    }
    std::vector<std::string_view> views(args.begin(), args.end());
    auto cl = TRY(sysemu::parse_command_line(views));
    return sysemu::build_vm(cl, types);
}

/// The first vCPU's LVR, when KVM has one.
std::optional<uint32_t> first_lvr(const sysemu::Vm &vm)
{
    const auto *kvm = qom::dyn_cast<accel::kvm::KVMAccel>(&vm.accel());
    const auto *x86 = qom::dyn_cast<hw::x86::X86MachineState>(&vm.machine());
    if (!kvm || !x86 || x86->cpus().empty()) {
        return std::nullopt;
    }
    const accel::kvm::KVMCPUState *v = kvm->vcpu_state(*x86->cpus().front());
    return v ? v->lvr : std::nullopt;
}

/// The source's stream: the real save (QEMU's qemu_savevm_state) into
/// memory, after the built-in guest was booted.
qapi::Result<std::vector<uint8_t>> save_source(sysemu::Vm &vm)
{
    std::FILE *null = std::fopen("/dev/null", "w");
    bool boot = vm.start_main_job(null, null, true);
    std::fclose(null);
    (void)boot; // a machine the guest cannot run on still migrates
    migration::MemoryWriter w;
    auto save = TRY(sysemu::OutgoingMigration::start(vm, w, UINT64_MAX));
    while (!TRY(save->iterate())) {
    }
    TRY(save->complete());
    TRY(w.flush());
    return w.take();
}

int cmd_migrate_matrix(const std::shared_ptr<const qom::TypeRegistry> &types, const Options &o)
{
    std::vector<const hw::MachineClass *> machines;
    if (o.all) {
        machines = hw::machine_classes(*types);
    } else {
        for (const std::string &name : o.positional) {
            const hw::MachineClass *mc = machine_or_error(*types, name);
            if (!mc) {
                return 1;
            }
            machines.push_back(mc);
        }
    }
    if (machines.empty()) {
        return fail("migrate-matrix needs machine types, or --all");
    }
    const std::vector<std::string> kernels = { "model", "model-6.12", "model-6.1" };
    const std::vector<std::string> policies = { "auto", "quirked", "respected", "not-advertised" };
    Table t { { "machine", "ioapic", "source-kernel", "source-policy", "effective",
                "destination-kernel", "destination-policy", "result", "lvr" },
              {} };
    quietly([&] {
        for (const auto *mc : machines) {
            for (const char *ioapic : { "0x20", "0x11" }) {
                for (const auto &skernel : kernels) {
                    for (const auto &spolicy : policies) {
                        auto src = build_for_migration(types, mc->machine_name, ioapic, skernel,
                                                       spolicy, false);
                        std::vector<std::string> base { mc->machine_name, ioapic, skernel, spolicy };
                        if (!src) {
                            t.rows.push_back(base);
                            t.rows.back().insert(t.rows.back().end(),
                                                 { "-", "-", "-", "source refuses: " + src.error().message(), "-" });
                            continue;
                        }
                        const auto *kvm = qom::dyn_cast<accel::kvm::KVMAccel>(&src.value()->accel());
                        std::string effective = kvm && kvm->seoib()
                            ? std::string(qapi::enum_name(kvm->seoib()->effective)) : "-";
                        auto stream = save_source(*src.value());
                        for (const auto &dkernel : kernels) {
                            for (const auto &dpolicy : policies) {
                                std::vector<std::string> row = base;
                                row.insert(row.end(), { effective, dkernel, dpolicy });
                                if (!stream) {
                                    row.insert(row.end(), { "save failed: " + stream.error().message(), "-" });
                                    t.rows.push_back(std::move(row));
                                    continue;
                                }
                                auto dst = build_for_migration(types, mc->machine_name, ioapic, dkernel,
                                                               dpolicy, true);
                                qapi::Result<sysemu::VmLoadResult> loaded =
                                    dst ? [&]() -> qapi::Result<sysemu::VmLoadResult> {
                                        migration::MemoryReader r(stream.value());
                                        return sysemu::load_vm_state(*dst.value(), r);
                                    }()
                                        : qapi::Result<sysemu::VmLoadResult>(qapi::Error(dst.error().message()));
                                if (loaded) {
                                    auto lvr = first_lvr(*dst.value());
                                    row.insert(row.end(), { "ok", lvr ? fmt::format("0x{:08x}", *lvr) : "-" });
                                } else {
                                    row.insert(row.end(), { "refused: " + loaded.error().message(), "-" });
                                }
                                t.rows.push_back(std::move(row));
                            }
                        }
                    }
                }
            }
        }
    });
    if (o.format != Format::Json) {
        print_table(t, o.format);
        return 0;
    }
    std::vector<std::string> cells;
    for (const auto &r : t.rows) {
        std::vector<std::string> fields;
        for (size_t c = 0; c < t.header.size(); ++c) {
            fields.push_back(fmt::format("{}: {}", json_string(t.header[c]), json_string(r[c])));
        }
        cells.push_back("{" + fmt::format("{}", fmt::join(fields, ", ")) + "}");
    }
    fmt::print("{{\"cells\": [\n  {}\n]}}\n", fmt::join(cells, ",\n  "));
    return 0;
}

void usage()
{
    fmt::print("usage: seoib-compat [--format text|csv|json] COMMAND\n"
               "  list                      machine types\n"
               "  show MACHINE              the compat chain's properties and their tables\n"
               "  compare M1 M2 ... | --all [--driver GLOB] [--property GLOB]\n"
               "                            what differs, class defaults resolved, and the\n"
               "                            effective seoib-policy per kernel/irqchip/IOAPIC\n");
}

} // namespace

int main(int argc, char **argv)
{
    Options o;
    std::string command;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&](const std::string &opt) -> std::optional<std::string> {
            if (a == opt && i + 1 < argc) {
                return std::string(argv[++i]);
            }
            if (a.rfind(opt + "=", 0) == 0) {
                return a.substr(opt.size() + 1);
            }
            return std::nullopt;
        };
        if (a == "-h" || a == "--help") {
            usage();
            return 0;
        } else if (auto v = value("--format")) {
            if (*v == "text") {
                o.format = Format::Text;
            } else if (*v == "csv") {
                o.format = Format::Csv;
            } else if (*v == "json") {
                o.format = Format::Json;
            } else if (*v == "html") {
                o.format = Format::Html;
            } else {
                return fail(fmt::format("unknown format '{}' (text, csv, json, html)", *v));
            }
        } else if (auto v = value("--driver")) {
            o.driver_glob = *v;
        } else if (auto v = value("--property")) {
            o.property_glob = *v;
        } else if (a == "--all") {
            o.all = true;
        } else if (a.rfind("--", 0) == 0) {
            return fail(fmt::format("unknown option '{}'", a));
        } else if (command.empty()) {
            command = a;
        } else {
            o.positional.push_back(a);
        }
    }
    std::shared_ptr<const qom::TypeRegistry> types = sysemu::builtin_type_registry();
    if (command == "list") {
        return cmd_list(*types, o);
    }
    if (command == "show") {
        return cmd_show(*types, o);
    }
    if (command == "compare") {
        return cmd_compare(types, o);
    }
    if (command == "migrate-matrix") {
        return cmd_migrate_matrix(types, o);
    }
    if (command.empty()) {
        usage();
        return 1;
    }
    return fail(fmt::format("unknown command '{}' (list, show, compare)", command));
}
