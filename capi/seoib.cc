/*
 * The C API (include/seoib/seoib.h): a thin layer over libseoib's C++.
 *
 * Every rule lives in the C++ library; this file only converts: C enums to
 * and from the QAPI ones, handles to the objects they stand for, and
 * qapi::Error to seoib_error.  Each entry point checks its pointers and
 * enum values before touching anything, and catches what C++ could throw
 * (allocation failure), so nothing but a seoib_error reaches C.
 */
#include "seoib/seoib.h"

#include "accel/kvm/kvm-accel.h"
#include "accel/kvm/seoib-policy.h"
#include "hw/core/machine.h"
#include "hw/i386/pc.h"
#include "hw/intc/ioapic.h"
#include "qapi/enum-lookup.h"
#include "qapi/qjson.h"
#include "qom/context.h"
#include "system/builtin-types.h"
#include "system/vl.h"
#include "system/vm-migration.h"

#include <fmt/format.h>

#include <cstring>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

struct seoib_error {
    std::string message;
    std::string hint;
    seoib_error_class cls { SEOIB_ERROR_CLASS_GENERIC_ERROR };
};

struct seoib_machine {
    const hw::MachineClass *mc { nullptr };
    /// NUL-terminated copies of the compat entries, built on first use
    /// (the C++ entries are string_views).
    struct Entry {
        std::string driver, property, value, origin;
        bool optional;
    };
    mutable std::once_flag compat_once;
    mutable std::vector<Entry> compat;
};

struct seoib_context {
    explicit seoib_context(std::shared_ptr<const qom::TypeRegistry> types)
        : ctx(types)
    {
    }
    /// The strings of a derived machine's own compat entries: the machine
    /// slot's CompatList views them, so they outlive `ctx` (declared first).
    std::deque<std::string> derived_compat_strings;
    qom::Context ctx;
    std::vector<std::unique_ptr<seoib_machine>> machines;
    const seoib_machine *machine { nullptr };
    struct UserGlobal {
        std::string driver, property, value, origin;
    };
    std::vector<UserGlobal> globals;
};

struct seoib_decision {
    accel::kvm::SeoibPolicyDecision d;
    uint8_t ioapic_version { 0 };
    std::string ioapic_origin;
    bool legacy { false };
    seoib_incoming_action action { SEOIB_INCOMING_ADOPT };
};

namespace {

using accel::kvm::SeoibPolicyInput;
using qapi::OnOffSplit;
using qapi::SeoibPolicy;

seoib_error *make_error(std::string message, std::string hint = {},
                        seoib_error_class cls = SEOIB_ERROR_CLASS_GENERIC_ERROR)
{
    // new may throw; the callers' guard() turns that into the static
    // out-of-memory error below.
    auto *e = new seoib_error;
    e->message = std::move(message);
    e->hint = std::move(hint);
    e->cls = cls;
    return e;
}

seoib_error_class class_of(qapi::ErrorClass cls)
{
    switch (cls) {
    case qapi::ErrorClass::GenericError:
        return SEOIB_ERROR_CLASS_GENERIC_ERROR;
    case qapi::ErrorClass::CommandNotFound:
        return SEOIB_ERROR_CLASS_COMMAND_NOT_FOUND;
    case qapi::ErrorClass::DeviceNotActive:
        return SEOIB_ERROR_CLASS_DEVICE_NOT_ACTIVE;
    case qapi::ErrorClass::DeviceNotFound:
        return SEOIB_ERROR_CLASS_DEVICE_NOT_FOUND;
    case qapi::ErrorClass::KVMMissingCap:
        return SEOIB_ERROR_CLASS_KVM_MISSING_CAP;
    }
    return SEOIB_ERROR_CLASS_GENERIC_ERROR;
}

/// The library's errors say what to do after the last "; " ("...; use
/// seoib-policy=quirked to run on this kernel"); that clause is the hint.
/// The message stays whole, as seoib-vm prints it.
std::string hint_of(const std::string &message)
{
    static constexpr std::string_view advice[] = { "use ", "start ",
                                                   "migrate " };
    const std::string_view msg(message);
    // A second line is QEMU's hint already ("...\nUse -machine help ...").
    if (size_t nl = msg.find('\n'); nl != std::string_view::npos) {
        return std::string(msg.substr(nl + 1));
    }
    if (size_t semi = msg.rfind("; "); semi != std::string_view::npos) {
        const std::string_view tail = msg.substr(semi + 2);
        for (std::string_view a : advice) {
            if (tail.starts_with(a)) {
                return std::string(tail);
            }
        }
    }
    return {};
}

seoib_error *from_qapi(const qapi::Error &e)
{
    return make_error(e.message(), hint_of(e.message()),
                      class_of(e.error_class()));
}

seoib_error *null_arg(const char *function, const char *arg)
{
    return make_error(fmt::format("{}: '{}' must not be NULL", function, arg));
}

/// Allocation failure cannot allocate its own error.
seoib_error oom_error { "out of memory", "", SEOIB_ERROR_CLASS_GENERIC_ERROR };

template <typename F>
seoib_error *guard(F &&f) noexcept
{
    try {
        return f();
    } catch (const std::bad_alloc &) {
        return &oom_error;
    } catch (const std::exception &e) {
        try {
            return make_error(fmt::format("internal error: {}", e.what()));
        } catch (...) {
            return &oom_error;
        }
    } catch (...) {
        return &oom_error;
    }
}

char *dup_string(std::string_view s)
{
    auto *out = new char[s.size() + 1];
    std::memcpy(out, s.data(), s.size());
    out[s.size()] = '\0';
    return out;
}

std::optional<SeoibPolicy> to_qapi(seoib_policy p)
{
    switch (p) {
    case SEOIB_POLICY_AUTO:
        return SeoibPolicy::Auto;
    case SEOIB_POLICY_QUIRKED:
        return SeoibPolicy::Quirked;
    case SEOIB_POLICY_RESPECTED:
        return SeoibPolicy::Respected;
    case SEOIB_POLICY_NOT_ADVERTISED:
        return SeoibPolicy::NotAdvertised;
    }
    return std::nullopt;
}

seoib_policy from_qapi(SeoibPolicy p)
{
    switch (p) {
    case SeoibPolicy::Auto:
        return SEOIB_POLICY_AUTO;
    case SeoibPolicy::Quirked:
        return SEOIB_POLICY_QUIRKED;
    case SeoibPolicy::Respected:
        return SEOIB_POLICY_RESPECTED;
    case SeoibPolicy::NotAdvertised:
        return SEOIB_POLICY_NOT_ADVERTISED;
    }
    return SEOIB_POLICY_QUIRKED;
}

std::optional<OnOffSplit> to_qapi(seoib_irqchip m)
{
    switch (m) {
    case SEOIB_IRQCHIP_OFF:
        return OnOffSplit::Off;
    case SEOIB_IRQCHIP_ON:
        return OnOffSplit::On;
    case SEOIB_IRQCHIP_SPLIT:
        return OnOffSplit::Split;
    }
    return std::nullopt;
}

seoib_irqchip from_qapi(OnOffSplit m)
{
    switch (m) {
    case OnOffSplit::Off:
        return SEOIB_IRQCHIP_OFF;
    case OnOffSplit::On:
        return SEOIB_IRQCHIP_ON;
    case OnOffSplit::Split:
        return SEOIB_IRQCHIP_SPLIT;
    }
    return SEOIB_IRQCHIP_ON;
}

seoib_error *bad_enum(const char *what, int value)
{
    return make_error(fmt::format("{} {} is out of range", what, value));
}

/// One registry for every context: building it is the expensive part, and
/// it is immutable once finalized.  A function-local static: created on
/// first use (not at load time), thread-safe.
std::shared_ptr<const qom::TypeRegistry> shared_registry()
{
    static const std::shared_ptr<const qom::TypeRegistry> registry =
        sysemu::builtin_type_registry();
    return registry;
}

/// What the policy engine takes, from the context (machine compat,
/// globals) and the caller's inputs, resolved as seoib-vm's machine init
/// resolves them.
/// Machine init step 2 (X86MachineState::plan_ioapic), then the IOAPIC
/// object created and dropped unrealized: a -global that matches it but
/// names a missing property (ioapic-common.version on kvm-ioapic) fails
/// at creation in QEMU and seoib-vm, and so here, with the same error.
qapi::Result<hw::x86::IOAPICPlan> plan_ioapic(seoib_context &c, OnOffSplit mode)
{
    hw::x86::IOAPICPlan plan =
        TRY(hw::x86::X86MachineState::plan_ioapic(c.ctx, mode));
    TRY(c.ctx.new_object(plan.type));
    return plan;
}

qapi::Result<SeoibPolicyInput> prepare_input(seoib_context &c,
                                             const seoib_policy_input &pi)
{
    if (c.machine == nullptr) {
        return qapi::Error("no machine type selected; call "
                           "seoib_context_set_machine() first");
    }
    SeoibPolicyInput in;
    in.requested = *to_qapi(pi.requested);
    in.explicit_request = pi.explicit_request;
    in.irqchip = *to_qapi(pi.irqchip);
    in.kernel_x2apic_api = pi.kernel_x2apic_api;
    // pc.cc: apic_id_limit = max APIC ID + 1, 32-bit IDs above 255.
    in.need_32bit_apic_ids = uint64_t(pi.max_apic_id) + 1 > 255;
    // x-seoib-legacy reaches the accelerator through compat only: user
    // globals never apply to it (design §4.2).
    const qom::ObjectClass *accel =
        c.ctx.types().find_class(accel::kvm::TYPE_KVM_ACCEL);
    if (accel == nullptr) {
        return qapi::Error("kvm-accel is not registered");
    }
    qom::Resolved<bool> legacy = TRY(c.ctx.globals().resolve(
        *accel, qom::PropertyKey<bool> { "x-seoib-legacy" }, false));
    in.legacy_machine = legacy.value;
    hw::x86::IOAPICPlan plan = TRY(plan_ioapic(c, in.irqchip));
    in.ioapic_version = plan.version;
    in.ioapic_version_source = plan.source;
    return in;
}

seoib_error *check_input(const char *fn, seoib_context *ctx,
                         const seoib_policy_input *in, seoib_decision **out)
{
    if (!ctx) {
        return null_arg(fn, "ctx");
    }
    if (!in) {
        return null_arg(fn, "in");
    }
    if (!out) {
        return null_arg(fn, "out");
    }
    if (!to_qapi(in->requested)) {
        return bad_enum("seoib_policy", in->requested);
    }
    if (!to_qapi(in->irqchip)) {
        return bad_enum("seoib_irqchip", in->irqchip);
    }
    return nullptr;
}

seoib_decision *make_decision(accel::kvm::SeoibPolicyDecision d,
                              const SeoibPolicyInput &in)
{
    auto *out = new seoib_decision;
    out->d = std::move(d);
    out->ioapic_version = in.ioapic_version;
    out->ioapic_origin = in.ioapic_version_source;
    out->legacy = in.legacy_machine;
    return out;
}

qapi::Result<std::optional<SeoibPolicy>> stream_source(bool has_section,
                                                       seoib_policy source)
{
    if (!has_section) {
        return std::optional<SeoibPolicy> {};
    }
    std::optional<SeoibPolicy> p = to_qapi(source);
    if (!p) {
        return qapi::Error::format("seoib_policy {} is out of range",
                                   static_cast<int>(source));
    }
    return p;
}

} // namespace

extern "C" {

uint32_t seoib_version(void)
{
    return SEOIB_API_VERSION;
}

const char *seoib_error_message(const seoib_error *err)
{
    return err ? err->message.c_str() : nullptr;
}

const char *seoib_error_hint(const seoib_error *err)
{
    return err ? err->hint.c_str() : nullptr;
}

seoib_error_class seoib_error_get_class(const seoib_error *err)
{
    return err ? err->cls : SEOIB_ERROR_CLASS_GENERIC_ERROR;
}

const char *seoib_error_class_name(seoib_error_class cls)
{
    switch (cls) {
    case SEOIB_ERROR_CLASS_GENERIC_ERROR:
        return "GenericError";
    case SEOIB_ERROR_CLASS_COMMAND_NOT_FOUND:
        return "CommandNotFound";
    case SEOIB_ERROR_CLASS_DEVICE_NOT_ACTIVE:
        return "DeviceNotActive";
    case SEOIB_ERROR_CLASS_DEVICE_NOT_FOUND:
        return "DeviceNotFound";
    case SEOIB_ERROR_CLASS_KVM_MISSING_CAP:
        return "KVMMissingCap";
    }
    return nullptr;
}

void seoib_error_free(seoib_error *err)
{
    if (err != &oom_error) {
        delete err;
    }
}

seoib_error *seoib_policy_from_string(const char *name, seoib_policy *out)
{
    return guard([&]() -> seoib_error * {
        if (!name) {
            return null_arg(__func__, "name");
        }
        if (!out) {
            return null_arg(__func__, "out");
        }
        auto p = qapi::enum_parse<SeoibPolicy>(name);
        if (!p) {
            // QAPI's text for an enum value it does not know.
            return make_error(
                fmt::format("Parameter 'seoib-policy' does not accept value '{}'",
                            name),
                "use auto, quirked, respected or not-advertised");
        }
        *out = from_qapi(*p);
        return nullptr;
    });
}

const char *seoib_policy_name(seoib_policy policy)
{
    auto p = to_qapi(policy);
    return p ? qapi::enum_name(*p).data() : nullptr;
}

seoib_error *seoib_irqchip_from_string(const char *name, seoib_irqchip *out)
{
    return guard([&]() -> seoib_error * {
        if (!name) {
            return null_arg(__func__, "name");
        }
        if (!out) {
            return null_arg(__func__, "out");
        }
        auto m = qapi::enum_parse<OnOffSplit>(name);
        if (!m) {
            return make_error(
                fmt::format(
                    "Parameter 'kernel-irqchip' does not accept value '{}'",
                    name),
                "use on, off or split");
        }
        *out = from_qapi(*m);
        return nullptr;
    });
}

const char *seoib_irqchip_name(seoib_irqchip mode)
{
    auto m = to_qapi(mode);
    return m ? qapi::enum_name(*m).data() : nullptr;
}

seoib_error *seoib_x2apic_api_flag_names(uint64_t flags, char **out)
{
    return guard([&]() -> seoib_error * {
        if (!out) {
            return null_arg(__func__, "out");
        }
        *out = dup_string(accel::kvm::x2apic_api_flag_names(flags));
        return nullptr;
    });
}

void seoib_string_free(char *str)
{
    delete[] str;
}

seoib_error *seoib_context_new(seoib_context **out)
{
    return guard([&]() -> seoib_error * {
        if (!out) {
            return null_arg(__func__, "out");
        }
        auto c = std::make_unique<seoib_context>(shared_registry());
        // The library never prints: the host reports what it returns.
        c->ctx.set_warning_sink([](std::string_view) {});
        c->ctx.set_info_sink([](std::string_view) {});
        c->ctx.set_guest_error_sink([](std::string_view) {});
        for (const hw::MachineClass *mc : hw::machine_classes(c->ctx.types())) {
            auto m = std::make_unique<seoib_machine>();
            m->mc = mc;
            c->machines.push_back(std::move(m));
        }
        *out = c.release();
        return nullptr;
    });
}

void seoib_context_free(seoib_context *ctx)
{
    delete ctx;
}

size_t seoib_machine_count(const seoib_context *ctx)
{
    return ctx ? ctx->machines.size() : 0;
}

seoib_error *seoib_machine_at(const seoib_context *ctx, size_t index,
                              const seoib_machine **out)
{
    return guard([&]() -> seoib_error * {
        if (!ctx) {
            return null_arg(__func__, "ctx");
        }
        if (!out) {
            return null_arg(__func__, "out");
        }
        if (index >= ctx->machines.size()) {
            return make_error(fmt::format("machine index {} is out of range "
                                          "(there are {})",
                                          index, ctx->machines.size()));
        }
        *out = ctx->machines[index].get();
        return nullptr;
    });
}

seoib_error *seoib_machine_find(const seoib_context *ctx, const char *name,
                                const seoib_machine **out)
{
    return guard([&]() -> seoib_error * {
        if (!ctx) {
            return null_arg(__func__, "ctx");
        }
        if (!name) {
            return null_arg(__func__, "name");
        }
        if (!out) {
            return null_arg(__func__, "out");
        }
        const hw::MachineClass *mc = hw::find_machine(ctx->ctx.types(), name);
        for (const auto &m : ctx->machines) {
            if (mc != nullptr && m->mc == mc) {
                *out = m.get();
                return nullptr;
            }
        }
        // vl.c's text for -machine with an unknown type.
        return make_error(fmt::format("unsupported machine type '{}'", name),
                          "Use -machine help to list supported machines");
    });
}

seoib_error *seoib_machine_default(const seoib_context *ctx,
                                   const seoib_machine **out)
{
    return guard([&]() -> seoib_error * {
        if (!ctx) {
            return null_arg(__func__, "ctx");
        }
        if (!out) {
            return null_arg(__func__, "out");
        }
        const hw::MachineClass *mc = hw::find_default_machine(ctx->ctx.types());
        for (const auto &m : ctx->machines) {
            if (mc != nullptr && m->mc == mc) {
                *out = m.get();
                return nullptr;
            }
        }
        return make_error("No machine specified, and there is no default");
    });
}

const char *seoib_machine_name(const seoib_machine *m)
{
    return m ? m->mc->machine_name.c_str() : nullptr;
}

const char *seoib_machine_alias(const seoib_machine *m)
{
    return m ? m->mc->alias.c_str() : nullptr;
}

const char *seoib_machine_description(const seoib_machine *m)
{
    return m ? m->mc->desc.c_str() : nullptr;
}

const char *seoib_machine_deprecation_reason(const seoib_machine *m)
{
    return m ? m->mc->deprecation_reason.c_str() : nullptr;
}

bool seoib_machine_is_default(const seoib_machine *m)
{
    return m && m->mc->is_default;
}

seoib_irqchip seoib_machine_default_irqchip(const seoib_machine *m)
{
    return m && m->mc->default_kernel_irqchip_split ? SEOIB_IRQCHIP_SPLIT
                                                    : SEOIB_IRQCHIP_ON;
}

size_t seoib_machine_compat_count(const seoib_machine *m)
{
    return m ? m->mc->compat_props.size() : 0;
}

seoib_error *seoib_machine_compat_at(const seoib_machine *m, size_t index,
                                     seoib_global_property *out)
{
    return guard([&]() -> seoib_error * {
        if (!m) {
            return null_arg(__func__, "m");
        }
        if (!out) {
            return null_arg(__func__, "out");
        }
        const auto &props = m->mc->compat_props;
        if (index >= props.size()) {
            return make_error(fmt::format(
                "compat entry {} of {} is out of range (it has {})", index,
                m->mc->machine_name, props.size()));
        }
        std::call_once(m->compat_once, [m, &props] {
            m->compat.reserve(props.size());
            for (size_t i = 0; i < props.size(); ++i) {
                m->compat.push_back(
                    { std::string(props[i].driver),
                      std::string(props[i].property),
                      std::string(props[i].value),
                      i < m->mc->compat_origins.size()
                          ? m->mc->compat_origins[i]
                          : std::string(),
                      props[i].optional });
            }
        });
        const seoib_machine::Entry &e = m->compat[index];
        *out = { e.driver.c_str(), e.property.c_str(), e.value.c_str(),
                 e.origin.c_str(), e.optional };
        return nullptr;
    });
}

/// The checks both ways of selecting the machine share: a handle of this
/// context, and no machine yet (a context is one VM).
seoib_error *check_machine_selectable(const char *fn, const seoib_context *ctx,
                                      const seoib_machine *m)
{
    if (!ctx) {
        return null_arg(fn, "ctx");
    }
    if (!m) {
        return null_arg(fn, "m");
    }
    bool ours = false;
    for (const auto &own : ctx->machines) {
        ours = ours || own.get() == m;
    }
    if (!ours) {
        return make_error("the machine handle belongs to another context");
    }
    if (ctx->machine) {
        return make_error(fmt::format(
            "the machine type is already {}; a context is one VM",
            ctx->machine->mc->machine_name));
    }
    return nullptr;
}

seoib_error *seoib_context_set_machine(seoib_context *ctx,
                                       const seoib_machine *m)
{
    return guard([&]() -> seoib_error * {
        if (seoib_error *e = check_machine_selectable(__func__, ctx, m)) {
            return e;
        }
        // qemu_create_machine(): the compat list enters the machine slot
        // before anything of the machine exists.
        ctx->ctx.globals().set_machine_compat(
            m->mc->compat_list(ctx->ctx.types()));
        ctx->machine = m;
        return nullptr;
    });
}

seoib_error *seoib_context_set_derived_machine(
    seoib_context *ctx, const seoib_machine *base, const char *table,
    const seoib_global_property *extra, size_t count)
{
    return guard([&]() -> seoib_error * {
        if (seoib_error *e = check_machine_selectable(__func__, ctx, base)) {
            return e;
        }
        if (!table || !*table) {
            return make_error(fmt::format(
                "{}: the fork's compat table needs a name", __func__));
        }
        if (count > 0 && !extra) {
            return null_arg(__func__, "extra");
        }
        for (size_t i = 0; i < count; i++) {
            if (!extra[i].driver || !extra[i].property || !extra[i].value) {
                return make_error(fmt::format(
                    "{}: entry {} of {} lacks a driver, property or value",
                    __func__, i, table));
            }
            if (!*extra[i].driver || !*extra[i].property) {
                return make_error(fmt::format(
                    "{}: entry {} of {} needs a driver and a property name",
                    __func__, i, table));
            }
        }
        // The base's entries, then the fork's: as a derived machine class
        // runs its parent's class_init before its own compat_props_add().
        const qom::CompatList &parent = *base->mc->compat_list(ctx->ctx.types());
        std::vector<qom::CompatProperty> props(parent.props().begin(),
                                               parent.props().end());
        std::vector<std::string> origins;
        for (size_t i = 0; i < props.size(); i++) {
            origins.emplace_back(parent.origin(i));
        }
        auto keep = [&](const char *s) -> std::string_view {
            return ctx->derived_compat_strings.emplace_back(s);
        };
        for (size_t i = 0; i < count; i++) {
            props.push_back({ keep(extra[i].driver), keep(extra[i].property),
                              keep(extra[i].value), extra[i].optional });
            origins.emplace_back(extra[i].origin && *extra[i].origin
                                     ? extra[i].origin
                                     : table);
        }
        ctx->ctx.globals().set_machine_compat(std::make_shared<qom::CompatList>(
            ctx->ctx.types(), props, std::span<const std::string>(origins)));
        ctx->machine = base;
        return nullptr;
    });
}

const seoib_machine *seoib_context_machine(const seoib_context *ctx)
{
    return ctx ? ctx->machine : nullptr;
}

seoib_error *seoib_context_add_global(seoib_context *ctx, const char *optarg)
{
    return guard([&]() -> seoib_error * {
        if (!ctx) {
            return null_arg(__func__, "ctx");
        }
        if (!optarg) {
            return null_arg(__func__, "optarg");
        }
        auto g = sysemu::parse_global(optarg);
        if (!g) {
            return from_qapi(g.error().clone().prepend(
                fmt::format("-global {}: ", optarg)));
        }
        std::string origin = fmt::format("-global {}", optarg);
        ctx->ctx.globals().register_user(g.value().driver, g.value().property, g.value().value,
                                         origin);
        ctx->globals.push_back({ g.value().driver, g.value().property, g.value().value, origin });
        return nullptr;
    });
}

seoib_error *seoib_context_add_global_property(seoib_context *ctx,
                                               const char *driver,
                                               const char *property,
                                               const char *value,
                                               const char *origin)
{
    return guard([&]() -> seoib_error * {
        if (!ctx) {
            return null_arg(__func__, "ctx");
        }
        if (!driver || !property || !value) {
            return null_arg(__func__, !driver     ? "driver"
                                      : !property ? "property"
                                                  : "value");
        }
        if (!*driver || !*property) {
            return make_error("a global property needs a driver and a "
                              "property name");
        }
        std::string o = origin ? std::string(origin)
                               : fmt::format("-global {}.{}={}", driver,
                                             property, value);
        ctx->ctx.globals().register_user(driver, property, value, o);
        ctx->globals.push_back({ driver, property, value, o });
        return nullptr;
    });
}

size_t seoib_context_global_count(const seoib_context *ctx)
{
    return ctx ? ctx->globals.size() : 0;
}

seoib_error *seoib_context_global_at(const seoib_context *ctx, size_t index,
                                     seoib_global_property *out)
{
    return guard([&]() -> seoib_error * {
        if (!ctx) {
            return null_arg(__func__, "ctx");
        }
        if (!out) {
            return null_arg(__func__, "out");
        }
        if (index >= ctx->globals.size()) {
            return make_error(fmt::format(
                "global index {} is out of range (there are {})", index,
                ctx->globals.size()));
        }
        const auto &g = ctx->globals[index];
        *out = { g.driver.c_str(), g.property.c_str(), g.value.c_str(),
                 g.origin.c_str(), false };
        return nullptr;
    });
}

seoib_error *seoib_context_resolve_property(seoib_context *ctx,
                                            const char *type,
                                            const char *property,
                                            bool include_user, char **value,
                                            char **origin,
                                            seoib_source *source)
{
    return guard([&]() -> seoib_error * {
        if (!ctx) {
            return null_arg(__func__, "ctx");
        }
        if (!type || !property) {
            return null_arg(__func__, !type ? "type" : "property");
        }
        if (!value || !origin) {
            return null_arg(__func__, !value ? "value" : "origin");
        }
        const qom::ObjectClass *klass = ctx->ctx.types().find_class(type);
        if (klass == nullptr) {
            // QEMU's text for a -global driver no type has.
            return make_error(fmt::format("Type '{}' not found", type), "",
                              SEOIB_ERROR_CLASS_DEVICE_NOT_FOUND);
        }
        auto r = ctx->ctx.globals().resolve(*klass, property, include_user);
        if (!r) {
            return from_qapi(r.error());
        }
        const std::string *s = r.value().value.as_string();
        std::string text = s ? *s : qapi::to_json(r.value().value);
        std::unique_ptr<char[]> v(dup_string(text));
        std::unique_ptr<char[]> o(dup_string(r.value().source.describe()));
        if (source) {
            *source = !r.value().source.slot ? SEOIB_SOURCE_DEFAULT : [&] {
                switch (*r.value().source.slot) {
                case qom::GlobalSlot::AccelCompat:
                    return SEOIB_SOURCE_ACCEL_COMPAT;
                case qom::GlobalSlot::MachineCompat:
                    return SEOIB_SOURCE_MACHINE_COMPAT;
                case qom::GlobalSlot::Sugar:
                    return SEOIB_SOURCE_SUGAR;
                case qom::GlobalSlot::User:
                    return SEOIB_SOURCE_USER;
                }
                return SEOIB_SOURCE_DEFAULT;
            }();
        }
        *value = v.release();
        *origin = o.release();
        return nullptr;
    });
}

seoib_error *seoib_context_resolve_ioapic_version(seoib_context *ctx,
                                                  seoib_irqchip irqchip,
                                                  uint8_t *version,
                                                  char **origin)
{
    return guard([&]() -> seoib_error * {
        if (!ctx) {
            return null_arg(__func__, "ctx");
        }
        if (!version) {
            return null_arg(__func__, "version");
        }
        auto mode = to_qapi(irqchip);
        if (!mode) {
            return bad_enum("seoib_irqchip", irqchip);
        }
        if (!ctx->machine) {
            return make_error("no machine type selected; call "
                              "seoib_context_set_machine() first");
        }
        auto plan = plan_ioapic(*ctx, *mode);
        if (!plan) {
            return from_qapi(plan.error());
        }
        if (origin) {
            *origin = dup_string(plan.value().source);
        }
        *version = plan.value().version;
        return nullptr;
    });
}

seoib_error *seoib_policy_decide(seoib_context *ctx,
                                 const seoib_policy_input *in,
                                 seoib_decision **out)
{
    return guard([&]() -> seoib_error * {
        if (seoib_error *e = check_input(__func__, ctx, in, out)) {
            return e;
        }
        auto input = prepare_input(*ctx, *in);
        if (!input) {
            return from_qapi(input.error());
        }
        auto d = accel::kvm::seoib_policy_decide(input.value());
        if (!d) {
            return from_qapi(d.error());
        }
        *out = make_decision(d.release_value(), input.value());
        return nullptr;
    });
}

void seoib_decision_free(seoib_decision *d)
{
    delete d;
}

seoib_policy seoib_decision_effective(const seoib_decision *d)
{
    return d ? from_qapi(d->d.effective) : SEOIB_POLICY_QUIRKED;
}

uint64_t seoib_decision_flags(const seoib_decision *d)
{
    return d ? d->d.flags : 0;
}

uint8_t seoib_decision_ioapic_version(const seoib_decision *d)
{
    return d ? d->ioapic_version : 0;
}

const char *seoib_decision_ioapic_origin(const seoib_decision *d)
{
    return d ? d->ioapic_origin.c_str() : nullptr;
}

bool seoib_decision_legacy_machine(const seoib_decision *d)
{
    return d && d->legacy;
}

size_t seoib_decision_warning_count(const seoib_decision *d)
{
    return d ? d->d.warnings.size() : 0;
}

const char *seoib_decision_warning(const seoib_decision *d, size_t index)
{
    if (!d || index >= d->d.warnings.size()) {
        return nullptr;
    }
    return d->d.warnings[index].c_str();
}

seoib_incoming_action seoib_decision_action(const seoib_decision *d)
{
    return d ? d->action : SEOIB_INCOMING_ADOPT;
}

bool seoib_section_needed(seoib_policy effective)
{
    return effective == SEOIB_POLICY_RESPECTED ||
           effective == SEOIB_POLICY_NOT_ADVERTISED;
}

seoib_error *seoib_section_encode(seoib_policy effective, uint8_t *buf,
                                  size_t size, size_t *written)
{
    return guard([&]() -> seoib_error * {
        if (!buf) {
            return null_arg(__func__, "buf");
        }
        if (!written) {
            return null_arg(__func__, "written");
        }
        auto p = to_qapi(effective);
        if (!p) {
            return bad_enum("seoib_policy", effective);
        }
        if (*p == SeoibPolicy::Auto) {
            return make_error(fmt::format(
                "{} carries the effective policy, which is never auto",
                sysemu::SEOIB_STATE_IDSTR));
        }
        sysemu::SeoibState s;
        s.policy = sysemu::seoib_policy_to_stream(*p);
        migration::MemoryWriter w;
        auto ok = sysemu::vmstate_seoib_state().save_state(w, s);
        if (!ok) {
            return from_qapi(ok.error());
        }
        const std::vector<uint8_t> &bytes = w.data();
        if (bytes.size() > size) {
            return make_error(fmt::format(
                "{} needs {} bytes, the buffer has {}",
                sysemu::SEOIB_STATE_IDSTR, bytes.size(), size));
        }
        std::memcpy(buf, bytes.data(), bytes.size());
        *written = bytes.size();
        return nullptr;
    });
}

seoib_error *seoib_section_decode(const uint8_t *buf, size_t size,
                                  uint32_t version_id, seoib_policy *out)
{
    return guard([&]() -> seoib_error * {
        if (!buf) {
            return null_arg(__func__, "buf");
        }
        if (!out) {
            return null_arg(__func__, "out");
        }
        migration::MemoryReader r(std::span<const uint8_t>(buf, size));
        sysemu::SeoibState s;
        auto ok = sysemu::vmstate_seoib_state().load_state(r, s, version_id);
        if (!ok) {
            return from_qapi(ok.error());
        }
        if (!r.at_end()) {
            return make_error(fmt::format(
                "{}: {} bytes after the payload", sysemu::SEOIB_STATE_IDSTR,
                size - r.offset()));
        }
        auto p = sysemu::seoib_policy_from_stream(s.policy);
        if (!p) {
            return make_error(fmt::format("{}: {} is not a SEOIB policy",
                                          sysemu::SEOIB_STATE_IDSTR, s.policy));
        }
        *out = from_qapi(*p);
        return nullptr;
    });
}

seoib_error *seoib_decide_incoming(seoib_context *ctx,
                                   const seoib_policy_input *in,
                                   bool has_section, seoib_policy source,
                                   seoib_decision **out)
{
    return guard([&]() -> seoib_error * {
        if (seoib_error *e = check_input(__func__, ctx, in, out)) {
            return e;
        }
        auto src = stream_source(has_section, source);
        if (!src) {
            return from_qapi(src.error());
        }
        auto input = prepare_input(*ctx, *in);
        if (!input) {
            return from_qapi(input.error());
        }
        auto d = accel::kvm::seoib_policy_decide_incoming(input.value(), src.value());
        if (!d) {
            return from_qapi(d.error());
        }
        *out = make_decision(d.release_value(), input.value());
        return nullptr;
    });
}

seoib_error *seoib_decide_snapshot_load(seoib_context *ctx,
                                        const seoib_policy_input *in,
                                        bool has_section, seoib_policy source,
                                        uint64_t vm_flags, seoib_decision **out)
{
    return guard([&]() -> seoib_error * {
        if (seoib_error *e = check_input(__func__, ctx, in, out)) {
            return e;
        }
        auto src = stream_source(has_section, source);
        if (!src) {
            return from_qapi(src.error());
        }
        auto input = prepare_input(*ctx, *in);
        if (!input) {
            return from_qapi(input.error());
        }
        // The rule seoib-vm's loadvm applies (seoib-policy.h).
        auto d = accel::kvm::seoib_policy_decide_snapshot_load(input.value(), src.value(),
                                                                vm_flags);
        if (!d) {
            return from_qapi(d.error());
        }
        const bool rebuild = d.value().rebuild;
        seoib_decision *dec = make_decision(std::move(d.value().decision), input.value());
        dec->action = rebuild ? SEOIB_INCOMING_REBUILD : SEOIB_INCOMING_ADOPT;
        *out = dec;
        return nullptr;
    });
}

} // extern "C"
