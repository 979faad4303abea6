/*
 * seoib.h: the C API of libseoib (design §4.8).
 *
 * What a QEMU fork needs to get x2APIC Suppress-EOI-Broadcast right with a
 * split irqchip, at QEMU's own call sites (docs/interop/c-api.rst):
 *
 *   vl.c          seoib_context_new, seoib_context_set_machine (QEMU's
 *                 qemu_create_machine), seoib_context_add_global (-global),
 *                 seoib_policy_from_string (-accel kvm,seoib-policy=)
 *   x86-common.c  seoib_context_resolve_ioapic_version (x86_cpus_init,
 *                 before any vCPU), seoib_policy_decide
 *   kvm.c         seoib_decision_flags -> KVM_ENABLE_CAP(KVM_CAP_X2APIC_API)
 *   ioapic.c      seoib_context_resolve_property (realize: check the early
 *                 answer)
 *   VMState       seoib_section_encode / seoib_section_decode,
 *                 seoib_decide_incoming, seoib_decide_snapshot_load
 *
 * Conventions:
 *   - Every function that can fail returns a seoib_error * (NULL on
 *     success) that the caller owns and frees with seoib_error_free().
 *     Output parameters are written only on success.
 *   - No C++ type, exception or abort crosses this header: NULL handles,
 *     bad strings and out-of-range values are errors, never crashes.
 *   - Strings are NUL-terminated UTF-8.  A "const char *" returned by an
 *     accessor is borrowed from its handle and lives as long as it.
 *   - Thread safety: distinct handles may be used from distinct threads at
 *     once; one handle must not be used from two threads at once.
 *     Functions taking no handle are safe from any thread.
 *
 * Compiles as C11 (gcc -std=c11 -Wall -Wextra -pedantic) and as C++.
 */
#ifndef SEOIB_SEOIB_H
#define SEOIB_SEOIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SEOIB_BUILDING_LIBRARY) && defined(__GNUC__)
#define SEOIB_EXPORT __attribute__((visibility("default")))
#else
#define SEOIB_EXPORT
#endif

/* Enums are int-sized in C; C++ sees the same type with int as its fixed
 * underlying type, so that any int a C caller passes is a valid value in
 * the library (which refuses the ones outside the enum) rather than
 * undefined behaviour. */
#ifdef __cplusplus
#define SEOIB_ENUM(name) enum name : int
#else
#define SEOIB_ENUM(name) enum name
#endif

/* The API version this header describes: major * 10000 + minor * 100 +
 * patch.  Additions raise the minor; an incompatible change raises the
 * major and the library's soname together. */
#define SEOIB_API_VERSION 10100

/* The name and version of the migration section seoib_section_encode()
 * writes (QEMU's VMStateDescription name and version_id). */
#define SEOIB_SECTION_NAME "x86-seoib-state"
#define SEOIB_SECTION_VERSION 1

/* KVM_CAP_X2APIC_API flags (linux/kvm.h), for systems whose headers
 * predate the SEOIB ones. */
#define SEOIB_X2APIC_API_USE_32BIT_IDS 0x1u
#define SEOIB_X2APIC_API_DISABLE_BROADCAST_QUIRK 0x2u
#define SEOIB_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST 0x4u
#define SEOIB_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST 0x8u

/* -accel kvm,seoib-policy=... */
typedef SEOIB_ENUM(seoib_policy) {
    SEOIB_POLICY_AUTO = 0,
    SEOIB_POLICY_QUIRKED = 1,
    SEOIB_POLICY_RESPECTED = 2,
    SEOIB_POLICY_NOT_ADVERTISED = 3
} seoib_policy;

/* kernel-irqchip=on|off|split (QEMU's OnOffSplit). */
typedef SEOIB_ENUM(seoib_irqchip) {
    SEOIB_IRQCHIP_OFF = 0,
    SEOIB_IRQCHIP_ON = 1,
    SEOIB_IRQCHIP_SPLIT = 2
} seoib_irqchip;

/* QMP error classes (QEMU's qapi/error.json). */
typedef SEOIB_ENUM(seoib_error_class) {
    SEOIB_ERROR_CLASS_GENERIC_ERROR = 0,
    SEOIB_ERROR_CLASS_COMMAND_NOT_FOUND = 1,
    SEOIB_ERROR_CLASS_DEVICE_NOT_ACTIVE = 2,
    SEOIB_ERROR_CLASS_DEVICE_NOT_FOUND = 3,
    SEOIB_ERROR_CLASS_KVM_MISSING_CAP = 4
} seoib_error_class;

/* Where a global-property entry, or a resolved value, came from. */
typedef SEOIB_ENUM(seoib_source) {
    SEOIB_SOURCE_DEFAULT = 0,        /* the class default */
    SEOIB_SOURCE_ACCEL_COMPAT = 1,   /* accelerator compat */
    SEOIB_SOURCE_MACHINE_COMPAT = 2, /* a machine compat table */
    SEOIB_SOURCE_SUGAR = 3,          /* a legacy -machine option */
    SEOIB_SOURCE_USER = 4            /* a -global */
} seoib_source;

/* What to do with an incoming stream or a snapshot being loaded. */
typedef SEOIB_ENUM(seoib_incoming_action) {
    /* Set the decision's flags on the running VM fd, then put the vCPUs. */
    SEOIB_INCOMING_ADOPT = 0,
    /* The VM fd cannot take the flags (KVM's are one-way): build a fresh
     * KVM VM with them, load into it, swap it in on success. */
    SEOIB_INCOMING_REBUILD = 1
} seoib_incoming_action;

typedef struct seoib_error seoib_error;
typedef struct seoib_context seoib_context;
typedef struct seoib_machine seoib_machine;
typedef struct seoib_decision seoib_decision;

/* One global-property entry (QEMU's GlobalProperty), with its origin.
 * Every string is borrowed from the handle it was read from. */
typedef struct seoib_global_property {
    const char *driver;
    const char *property;
    const char *value;
    /* "hw_compat_10_1", "pc_compat_2_8", "-global ioapic.version=0x11" */
    const char *origin;
    bool optional;
} seoib_global_property;

/* The policy decision's inputs, as QEMU has them in x86_cpus_init(). */
typedef struct seoib_policy_input {
    /* -accel kvm,seoib-policy= (SEOIB_POLICY_AUTO when not given). */
    seoib_policy requested;
    /* Whether the user gave seoib-policy (reported; auto decides the same
     * either way). */
    bool explicit_request;
    /* The resolved kernel-irqchip mode (seoib_machine_default_irqchip()
     * when the user gave none). */
    seoib_irqchip irqchip;
    /* KVM_CHECK_EXTENSION(KVM_CAP_X2APIC_API) on the VM fd, asked after
     * KVM_CAP_SPLIT_IRQCHIP was enabled. */
    uint64_t kernel_x2apic_api;
    /* The highest APIC ID of the machine (x86_cpu_apic_id_from_index of
     * max_cpus - 1); above 254 adds USE_32BIT_IDS|DISABLE_BROADCAST_QUIRK. */
    uint32_t max_apic_id;
} seoib_policy_input;

/* ---- version --------------------------------------------------------- */

/* The library's SEOIB_API_VERSION, for a run-time check against the
 * header's.  Thread-safe. */
SEOIB_EXPORT uint32_t seoib_version(void);

/* ---- errors ---------------------------------------------------------- */

/* The error's message, without a trailing newline; borrowed from `err`.
 * NULL for a NULL `err`. */
SEOIB_EXPORT const char *seoib_error_message(const seoib_error *err);
/* What the user can do about it (QEMU's error_append_hint), or "" when
 * there is no hint; borrowed from `err`.  NULL for a NULL `err`. */
SEOIB_EXPORT const char *seoib_error_hint(const seoib_error *err);
/* The QMP error class; GenericError for a NULL `err`. */
SEOIB_EXPORT seoib_error_class seoib_error_get_class(const seoib_error *err);
/* The QMP name of the class ("GenericError", "KVMMissingCap"). Static
 * storage; NULL for a value outside the enum.  Thread-safe. */
SEOIB_EXPORT const char *seoib_error_class_name(seoib_error_class cls);
/* Frees `err` and its strings.  NULL is a no-op. */
SEOIB_EXPORT void seoib_error_free(seoib_error *err);

/* ---- enums as QEMU spells them ---------------------------------------- */

/* Parses "auto", "quirked", "respected", "not-advertised" (vl.c/kvm.c:
 * the -accel kvm,seoib-policy= value) into *out. */
SEOIB_EXPORT seoib_error *seoib_policy_from_string(const char *name,
                                                   seoib_policy *out);
/* The QAPI name of a policy; static storage; NULL outside the enum. */
SEOIB_EXPORT const char *seoib_policy_name(seoib_policy policy);
/* Parses "on", "off", "split" (-accel kvm,kernel-irqchip=) into *out. */
SEOIB_EXPORT seoib_error *seoib_irqchip_from_string(const char *name,
                                                    seoib_irqchip *out);
/* "on", "off", "split"; static storage; NULL outside the enum. */
SEOIB_EXPORT const char *seoib_irqchip_name(seoib_irqchip mode);
/* "ENABLE_SUPPRESS_EOI_BROADCAST|USE_32BIT_IDS", or "none", for a set of
 * KVM_CAP_X2APIC_API flags, as seoib-vm and its traces print them.  The
 * caller frees *out with seoib_string_free(). */
SEOIB_EXPORT seoib_error *seoib_x2apic_api_flag_names(uint64_t flags,
                                                      char **out);
/* Frees a string this library returned as owned.  NULL is a no-op. */
SEOIB_EXPORT void seoib_string_free(char *str);

/* ---- the context: QEMU's process-wide state, as a handle -------------- */

/* A new context (vl.c, at start-up): the type registry with every type
 * libseoib has, empty global-property slots, no machine.  The caller frees
 * it with seoib_context_free().  One context per VM; contexts share the
 * (immutable) type registry and may live in different threads. */
SEOIB_EXPORT seoib_error *seoib_context_new(seoib_context **out);
/* Frees `ctx` and every handle borrowed from it.  NULL is a no-op. */
SEOIB_EXPORT void seoib_context_free(seoib_context *ctx);

/* ---- machine types and compat tables ---------------------------------- */

/* The number of machine types (pc-q35-X.Y, pc-i440fx-X.Y), in -machine
 * help order; 0 for a NULL `ctx`. */
SEOIB_EXPORT size_t seoib_machine_count(const seoib_context *ctx);
/* The index-th machine type; borrowed from `ctx`.  Errors for a NULL
 * `ctx` or an index >= seoib_machine_count(). */
SEOIB_EXPORT seoib_error *seoib_machine_at(const seoib_context *ctx,
                                           size_t index,
                                           const seoib_machine **out);
/* The machine type by name or alias ("q35", "pc", "pc-q35-10.2"), as
 * QEMU's find_machine(); borrowed from `ctx`.  Errors for an unknown name. */
SEOIB_EXPORT seoib_error *seoib_machine_find(const seoib_context *ctx,
                                             const char *name,
                                             const seoib_machine **out);
/* The default machine (-machine without a type: "pc"). */
SEOIB_EXPORT seoib_error *seoib_machine_default(const seoib_context *ctx,
                                                const seoib_machine **out);
/* The -machine name ("pc-q35-11.0"); NULL for a NULL `m`. */
SEOIB_EXPORT const char *seoib_machine_name(const seoib_machine *m);
/* "q35", "pc" or ""; NULL for a NULL `m`. */
SEOIB_EXPORT const char *seoib_machine_alias(const seoib_machine *m);
/* The description -machine help prints; NULL for a NULL `m`. */
SEOIB_EXPORT const char *seoib_machine_description(const seoib_machine *m);
/* The deprecation reason, or "" when not deprecated; NULL for NULL `m`. */
SEOIB_EXPORT const char *seoib_machine_deprecation_reason(
    const seoib_machine *m);
/* Whether this is the default machine; false for a NULL `m`. */
SEOIB_EXPORT bool seoib_machine_is_default(const seoib_machine *m);
/* What kernel-irqchip means on this machine when the user did not say
 * (split on pc-q35-4.0, on elsewhere); ON for a NULL `m`. */
SEOIB_EXPORT seoib_irqchip seoib_machine_default_irqchip(
    const seoib_machine *m);
/* The number of compat entries (every hw_compat/pc_compat table the
 * version applies, in application order); 0 for a NULL `m`. */
SEOIB_EXPORT size_t seoib_machine_compat_count(const seoib_machine *m);
/* The index-th compat entry, with the table it came from; strings
 * borrowed from `m`.  Errors for a NULL `m`/`out` or index out of range. */
SEOIB_EXPORT seoib_error *seoib_machine_compat_at(const seoib_machine *m,
                                                  size_t index,
                                                  seoib_global_property *out);

/* ---- the machine and -global ------------------------------------------ */

/* Selects the machine type of the VM (vl.c: qemu_create_machine): its
 * compat list enters the machine slot.  Once per context: a second call
 * is an error. */
SEOIB_EXPORT seoib_error *seoib_context_set_machine(seoib_context *ctx,
                                                    const seoib_machine *m);
/* Selects a fork's own machine type derived from `base` (added in
 * SEOIB_API_VERSION 10100).  A downstream QEMU that fixes SEOIB without
 * changing the guest ABI of its released machine types adds a new one
 * (contrib/qemu: "pc-q35-7.2-seoib"), whose class_init runs its parent's and
 * then compat_props_add() with a table of its own, typically
 * { "kvm-accel", "x-seoib-legacy", "off" } so that auto resolves from the
 * IOAPIC version as on 11.0.  The machine slot gets `base`'s compat list
 * followed by the `count` entries of `extra` (applied after, so they win),
 * each named by its `origin`, or by `table` when that is NULL or "".  The
 * strings are copied.  Once per context, as seoib_context_set_machine();
 * seoib_context_machine() then returns `base`.  Errors: NULL handles, an
 * empty `table`, an entry without driver, property or value. */
SEOIB_EXPORT seoib_error *seoib_context_set_derived_machine(
    seoib_context *ctx, const seoib_machine *base, const char *table,
    const seoib_global_property *extra, size_t count);
/* The machine selected, or NULL. */
SEOIB_EXPORT const seoib_machine *seoib_context_machine(
    const seoib_context *ctx);
/* Adds a -global (vl.c: qemu_add_globals), in either QEMU form:
 * "driver.prop=value" or "driver=D,property=P,value=V" (",," escapes a
 * comma).  `optarg` is the option's argument.  Errors are QEMU's syntax
 * errors; values are only checked when resolved. */
SEOIB_EXPORT seoib_error *seoib_context_add_global(seoib_context *ctx,
                                                   const char *optarg);
/* Adds a -global as QEMU's GlobalProperty triplet
 * (qdev_prop_register_global); `origin` names it in messages, NULL for
 * "-global D.P=V". */
SEOIB_EXPORT seoib_error *seoib_context_add_global_property(
    seoib_context *ctx, const char *driver, const char *property,
    const char *value, const char *origin);
/* The number of user globals added so far; 0 for a NULL `ctx`. */
SEOIB_EXPORT size_t seoib_context_global_count(const seoib_context *ctx);
/* The index-th user global; strings borrowed from `ctx` until the next
 * add. */
SEOIB_EXPORT seoib_error *seoib_context_global_at(const seoib_context *ctx,
                                                  size_t index,
                                                  seoib_global_property *out);

/* ---- early resolution ------------------------------------------------- */

/* The value a new object of type `type` would get for `property` from the
 * class default, the compat slots and the user's -global (user globals
 * only when `include_user`: QEMU never applies them to an accelerator),
 * without creating it: the same walk and codec object creation uses.
 * `*value` is the value as the property formats it ("17" for version
 * 0x11), `*origin` where it came from ("default", "compat hw_compat_2_7",
 * "-global ioapic.version=0x11"); the caller frees both with
 * seoib_string_free().  `source` may be NULL.  Errors: unknown type or
 * property, a value the property's codec refuses. */
SEOIB_EXPORT seoib_error *seoib_context_resolve_property(
    seoib_context *ctx, const char *type, const char *property,
    bool include_user, char **value, char **origin, seoib_source *source);
/* The IOAPIC version the machine's IOAPIC will get (x86-common.c, before
 * any vCPU), as seoib's machine init step 2 resolves it: with
 * kernel-irqchip=on the in-kernel IOAPIC (0x11); otherwise ioapic.version
 * from default, compat and -global, checked as the IOAPIC's realize checks
 * it (0x11 or 0x20).  Needs a machine.  `origin` (may be NULL) receives
 * where it came from, freed with seoib_string_free(). */
SEOIB_EXPORT seoib_error *seoib_context_resolve_ioapic_version(
    seoib_context *ctx, seoib_irqchip irqchip, uint8_t *version,
    char **origin);

/* ---- the policy decision ---------------------------------------------- */

/* The SEOIB policy of a VM starting up (x86-common.c: x86_cpus_init,
 * after split irqchip is enabled and before any vCPU), from the machine
 * selected in `ctx` (its x-seoib-legacy compat), its globals (the IOAPIC
 * version) and `in`.  On success *out is a decision the caller frees with
 * seoib_decision_free(); kvm.c then calls KVM_ENABLE_CAP(
 * KVM_CAP_X2APIC_API, seoib_decision_flags()) when the flags are not 0.
 * Errors carry seoib-vm's messages, a hint and the QMP class
 * (KVMMissingCap for a kernel without the flag). */
SEOIB_EXPORT seoib_error *seoib_policy_decide(seoib_context *ctx,
                                              const seoib_policy_input *in,
                                              seoib_decision **out);
/* Frees a decision.  NULL is a no-op. */
SEOIB_EXPORT void seoib_decision_free(seoib_decision *d);
/* The effective policy (never auto); QUIRKED for a NULL `d`. */
SEOIB_EXPORT seoib_policy seoib_decision_effective(const seoib_decision *d);
/* The KVM_CAP_X2APIC_API flags to enable; 0 means no KVM_ENABLE_CAP. */
SEOIB_EXPORT uint64_t seoib_decision_flags(const seoib_decision *d);
/* The IOAPIC version the decision used, and where it came from (borrowed
 * from `d`). */
SEOIB_EXPORT uint8_t seoib_decision_ioapic_version(const seoib_decision *d);
SEOIB_EXPORT const char *seoib_decision_ioapic_origin(const seoib_decision *d);
/* Whether the machine type keeps KVM's legacy behaviour under auto
 * (kvm-accel.x-seoib-legacy from its compat table). */
SEOIB_EXPORT bool seoib_decision_legacy_machine(const seoib_decision *d);
/* Warnings to print once (warn_report), e.g. auto falling back to quirked
 * on an old kernel. */
SEOIB_EXPORT size_t seoib_decision_warning_count(const seoib_decision *d);
/* The index-th warning, borrowed from `d`; NULL out of range. */
SEOIB_EXPORT const char *seoib_decision_warning(const seoib_decision *d,
                                                size_t index);
/* What to do with the VM fd (incoming decisions); ADOPT at start-up. */
SEOIB_EXPORT seoib_incoming_action seoib_decision_action(
    const seoib_decision *d);

/* ---- migration: the x86-seoib-state section ---------------------------- */

/* Whether the section is sent (its VMState "needed"): only when the
 * effective policy is not quirked, so a quirked VM migrates to any QEMU. */
SEOIB_EXPORT bool seoib_section_needed(seoib_policy effective);
/* The section's payload at SEOIB_SECTION_VERSION for `effective` (what
 * the VMState fields write, without section header and footer) into `buf`
 * of `size` bytes; *written receives its length.  Errors for auto, a
 * value outside the enum, or a buffer too small. */
SEOIB_EXPORT seoib_error *seoib_section_encode(seoib_policy effective,
                                               uint8_t *buf, size_t size,
                                               size_t *written);
/* Reads a payload written at `version_id` into *out.  Errors for a
 * version seoib does not read, a truncated or longer payload, a byte that
 * is no policy. */
SEOIB_EXPORT seoib_error *seoib_section_decode(const uint8_t *buf,
                                               size_t size,
                                               uint32_t version_id,
                                               seoib_policy *out);

/* ---- incoming migration and snapshot load ----------------------------- */

/* The policy of an incoming VM (-incoming, -loadvm at start-up) once the
 * stream is in: `has_section` and `source` say what its x86-seoib-state
 * section gave (none means quirked); `in` is this destination as
 * seoib_policy_decide() takes it.  Auto adopts the source's policy; an
 * explicit different one, or a destination that cannot honour it, is an
 * error saying what to change (refuse: fail the migration, the source
 * keeps running).  *out's action is ADOPT. */
SEOIB_EXPORT seoib_error *seoib_decide_incoming(seoib_context *ctx,
                                                const seoib_policy_input *in,
                                                bool has_section,
                                                seoib_policy source,
                                                seoib_decision **out);
/* A runtime snapshot load (loadvm, snapshot-load): the snapshot's policy
 * is adopted when `in`'s seoib-policy is auto or the snapshot's; any other
 * explicit policy is an error naming both (refuse: the VM stays as it
 * is).  `vm_flags` are the KVM_CAP_X2APIC_API flags already set on the
 * running VM fd.  *out's action is ADOPT when that fd can take the
 * snapshot's flags (KVM_ENABLE_CAP with *out's flags), REBUILD when it
 * cannot (KVM's flags never return to quirked: build a new KVM VM with
 * them); an error when this host cannot run the snapshot at all. */
SEOIB_EXPORT seoib_error *seoib_decide_snapshot_load(
    seoib_context *ctx, const seoib_policy_input *in, bool has_section,
    seoib_policy source, uint64_t vm_flags, seoib_decision **out);

#ifdef __cplusplus
}
#endif

#endif /* SEOIB_SEOIB_H */
