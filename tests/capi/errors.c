/*
 * Every error path of the C API returns an error value, never crashes:
 * NULL handles and pointers, bad strings, unknown machines, types and
 * properties, out-of-range indices and enum values, truncated and hostile
 * section payloads.  Built with -fsanitize=address,undefined by
 * tests/capi/capi-test.sh, so a leak, an overflow or undefined behaviour
 * fails it too.  The error texts are not checked here (they are the C++
 * library's, tested there); only that an error comes back, with a message,
 * a hint that is a string, and a class that has a QMP name.
 */
#include <seoib/seoib.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
static int checked;

/* `err` must be an error; frees it. */
static void expect_error(seoib_error *err, const char *what)
{
    checked++;
    if (!err) {
        fprintf(stderr, "FAIL: %s returned no error\n", what);
        failures++;
        return;
    }
    if (!seoib_error_message(err) || !*seoib_error_message(err) ||
        !seoib_error_hint(err) ||
        !seoib_error_class_name(seoib_error_get_class(err))) {
        fprintf(stderr, "FAIL: %s: incomplete error\n", what);
        failures++;
    }
    seoib_error_free(err);
}

static void expect_ok(seoib_error *err, const char *what)
{
    if (err) {
        fprintf(stderr, "FAIL: %s: %s\n", what, seoib_error_message(err));
        failures++;
        seoib_error_free(err);
    }
}

#define ERR(call) expect_error((call), #call)
#define OK(call) expect_ok((call), #call)

int main(void)
{
    seoib_context *ctx = NULL, *other = NULL;
    const seoib_machine *m = NULL, *q35 = NULL, *foreign = NULL;
    seoib_decision *d = NULL;
    seoib_global_property gp;
    seoib_policy pol = SEOIB_POLICY_AUTO;
    seoib_irqchip chip = SEOIB_IRQCHIP_ON;
    seoib_policy_input in;
    uint8_t buf[16], version = 0;
    size_t written = 0;
    char *s1 = NULL, *s2 = NULL;
    const seoib_policy bad_policy = (seoib_policy)42;
    const seoib_irqchip bad_chip = (seoib_irqchip)-1;

    memset(&in, 0, sizeof in);
    in.requested = SEOIB_POLICY_AUTO;
    in.irqchip = SEOIB_IRQCHIP_SPLIT;
    in.kernel_x2apic_api = 0xf;

    /* Errors and enums. */
    seoib_error_free(NULL);
    if (seoib_error_message(NULL) || seoib_error_hint(NULL) ||
        seoib_error_class_name((seoib_error_class)99) ||
        seoib_policy_name(bad_policy) || seoib_irqchip_name(bad_chip)) {
        fprintf(stderr, "FAIL: NULL/out-of-range accessors\n");
        failures++;
    }
    ERR(seoib_policy_from_string(NULL, &pol));
    ERR(seoib_policy_from_string("auto", NULL));
    ERR(seoib_policy_from_string("respectd", &pol));
    ERR(seoib_policy_from_string("", &pol));
    ERR(seoib_irqchip_from_string(NULL, &chip));
    ERR(seoib_irqchip_from_string("splitt", &chip));
    ERR(seoib_x2apic_api_flag_names(0x4, NULL));
    seoib_string_free(NULL);

    /* The context and machines. */
    ERR(seoib_context_new(NULL));
    seoib_context_free(NULL);
    OK(seoib_context_new(&ctx));
    OK(seoib_context_new(&other));
    if (seoib_machine_count(NULL) != 0 || seoib_machine_name(NULL) ||
        seoib_machine_alias(NULL) || seoib_machine_description(NULL) ||
        seoib_machine_deprecation_reason(NULL) ||
        seoib_machine_is_default(NULL) ||
        seoib_machine_compat_count(NULL) != 0 ||
        seoib_context_machine(NULL) || seoib_context_global_count(NULL)) {
        fprintf(stderr, "FAIL: NULL machine accessors\n");
        failures++;
    }
    ERR(seoib_machine_at(NULL, 0, &m));
    ERR(seoib_machine_at(ctx, 0, NULL));
    ERR(seoib_machine_at(ctx, seoib_machine_count(ctx), &m));
    ERR(seoib_machine_at(ctx, (size_t)-1, &m));
    ERR(seoib_machine_find(NULL, "q35", &m));
    ERR(seoib_machine_find(ctx, NULL, &m));
    ERR(seoib_machine_find(ctx, "q35", NULL));
    ERR(seoib_machine_find(ctx, "pc-q35-99.9", &m));
    ERR(seoib_machine_find(ctx, "", &m));
    ERR(seoib_machine_default(NULL, &m));
    ERR(seoib_machine_default(ctx, NULL));
    OK(seoib_machine_find(ctx, "q35", &q35));
    OK(seoib_machine_find(other, "q35", &foreign));
    ERR(seoib_machine_compat_at(NULL, 0, &gp));
    ERR(seoib_machine_compat_at(q35, 0, NULL));
    ERR(seoib_machine_compat_at(q35, seoib_machine_compat_count(q35), &gp));
    OK(seoib_machine_find(ctx, "pc-i440fx-2.8", &m));
    OK(seoib_machine_compat_at(m, seoib_machine_compat_count(m) - 1, &gp));

    /* Before a machine is selected. */
    ERR(seoib_context_resolve_ioapic_version(ctx, SEOIB_IRQCHIP_SPLIT,
                                             &version, NULL));
    ERR(seoib_policy_decide(ctx, &in, &d));

    ERR(seoib_context_set_machine(NULL, q35));
    ERR(seoib_context_set_machine(ctx, NULL));
    ERR(seoib_context_set_machine(ctx, foreign));
    OK(seoib_context_set_machine(ctx, q35));
    ERR(seoib_context_set_machine(ctx, q35));

    /* A fork's derived machine type. */
    {
        seoib_context *c3 = NULL;
        const seoib_machine *mm = NULL;
        seoib_global_property fork[1] = { { "kvm-accel", "x-seoib-legacy",
                                            "off", NULL, false } };
        seoib_global_property holey[1] = { { "kvm-accel", NULL, "off", NULL,
                                             false } };
        seoib_global_property unnamed[1] = { { "", "x-seoib-legacy", "off",
                                               NULL, false } };
        OK(seoib_context_new(&c3));
        OK(seoib_machine_find(c3, "pc-q35-7.2", &mm));
        ERR(seoib_context_set_derived_machine(NULL, mm, "fork", fork, 1));
        ERR(seoib_context_set_derived_machine(c3, NULL, "fork", fork, 1));
        ERR(seoib_context_set_derived_machine(c3, q35, "fork", fork, 1));
        ERR(seoib_context_set_derived_machine(c3, mm, NULL, fork, 1));
        ERR(seoib_context_set_derived_machine(c3, mm, "", fork, 1));
        ERR(seoib_context_set_derived_machine(c3, mm, "fork", NULL, 1));
        ERR(seoib_context_set_derived_machine(c3, mm, "fork", holey, 1));
        ERR(seoib_context_set_derived_machine(c3, mm, "fork", unnamed, 1));
        OK(seoib_context_set_derived_machine(c3, mm, "fork", fork, 1));
        ERR(seoib_context_set_derived_machine(c3, mm, "fork", fork, 1));
        ERR(seoib_context_set_machine(c3, mm));
        seoib_context_free(c3);
        OK(seoib_context_new(&c3));
        OK(seoib_machine_find(c3, "pc-q35-7.2", &mm));
        OK(seoib_context_set_derived_machine(c3, mm, "fork", NULL, 0));
        seoib_context_free(c3);
    }

    /* -global. */
    ERR(seoib_context_add_global(NULL, "ioapic.version=0x11"));
    ERR(seoib_context_add_global(ctx, NULL));
    ERR(seoib_context_add_global(ctx, "ioapic"));
    ERR(seoib_context_add_global(ctx, "driver=ioapic,property=version"));
    ERR(seoib_context_add_global(ctx, "driver=ioapic,propertyy=version,value=1"));
    ERR(seoib_context_add_global_property(NULL, "ioapic", "version", "1", NULL));
    ERR(seoib_context_add_global_property(ctx, NULL, "version", "1", NULL));
    ERR(seoib_context_add_global_property(ctx, "ioapic", NULL, "1", NULL));
    ERR(seoib_context_add_global_property(ctx, "ioapic", "version", NULL, NULL));
    ERR(seoib_context_add_global_property(ctx, "", "version", "1", NULL));
    ERR(seoib_context_global_at(NULL, 0, &gp));
    ERR(seoib_context_global_at(ctx, 0, NULL));
    ERR(seoib_context_global_at(ctx, 0, &gp));

    /* Early resolution. */
    ERR(seoib_context_resolve_property(NULL, "ioapic", "version", true, &s1,
                                       &s2, NULL));
    ERR(seoib_context_resolve_property(ctx, NULL, "version", true, &s1, &s2,
                                       NULL));
    ERR(seoib_context_resolve_property(ctx, "ioapic", NULL, true, &s1, &s2,
                                       NULL));
    ERR(seoib_context_resolve_property(ctx, "ioapic", "version", true, NULL,
                                       &s2, NULL));
    ERR(seoib_context_resolve_property(ctx, "ioapic", "version", true, &s1,
                                       NULL, NULL));
    ERR(seoib_context_resolve_property(ctx, "no-such-device", "version", true,
                                       &s1, &s2, NULL));
    ERR(seoib_context_resolve_property(ctx, "ioapic", "no-such-prop", true,
                                       &s1, &s2, NULL));
    ERR(seoib_context_resolve_ioapic_version(NULL, SEOIB_IRQCHIP_SPLIT,
                                             &version, NULL));
    ERR(seoib_context_resolve_ioapic_version(ctx, SEOIB_IRQCHIP_SPLIT, NULL,
                                             NULL));
    ERR(seoib_context_resolve_ioapic_version(ctx, bad_chip, &version, NULL));
    /* A value the property's codec refuses, and one realize refuses. */
    {
        seoib_context *c3 = NULL;
        const seoib_machine *mm = NULL;
        OK(seoib_context_new(&c3));
        OK(seoib_machine_find(c3, "q35", &mm));
        OK(seoib_context_set_machine(c3, mm));
        OK(seoib_context_add_global(c3, "ioapic.version=0x12"));
        ERR(seoib_context_resolve_ioapic_version(c3, SEOIB_IRQCHIP_SPLIT,
                                                 &version, NULL));
        ERR(seoib_policy_decide(c3, &in, &d));
        seoib_context_free(c3);
        OK(seoib_context_new(&c3));
        OK(seoib_machine_find(c3, "q35", &mm));
        OK(seoib_context_set_machine(c3, mm));
        OK(seoib_context_add_global(c3, "ioapic.version=banana"));
        ERR(seoib_context_resolve_property(c3, "ioapic", "version", true, &s1,
                                           &s2, NULL));
        OK(seoib_context_add_global(c3, "ioapic.version=0x1ff"));
        ERR(seoib_context_resolve_ioapic_version(c3, SEOIB_IRQCHIP_SPLIT,
                                                 &version, NULL));
        seoib_context_free(c3);
    }

    /* The decision. */
    ERR(seoib_policy_decide(NULL, &in, &d));
    ERR(seoib_policy_decide(ctx, NULL, &d));
    ERR(seoib_policy_decide(ctx, &in, NULL));
    in.requested = bad_policy;
    ERR(seoib_policy_decide(ctx, &in, &d));
    in.requested = SEOIB_POLICY_AUTO;
    in.irqchip = bad_chip;
    ERR(seoib_policy_decide(ctx, &in, &d));
    in.irqchip = SEOIB_IRQCHIP_OFF;
    in.requested = SEOIB_POLICY_RESPECTED;
    ERR(seoib_policy_decide(ctx, &in, &d));
    in.irqchip = SEOIB_IRQCHIP_SPLIT;
    in.kernel_x2apic_api = 0x3;
    ERR(seoib_policy_decide(ctx, &in, &d));
    in.kernel_x2apic_api = 0xf;
    in.max_apic_id = UINT32_MAX;
    in.irqchip = SEOIB_IRQCHIP_OFF;
    in.requested = SEOIB_POLICY_AUTO;
    ERR(seoib_policy_decide(ctx, &in, &d));
    in.max_apic_id = 0;
    in.irqchip = SEOIB_IRQCHIP_SPLIT;
    OK(seoib_policy_decide(ctx, &in, &d));
    if (seoib_decision_warning(d, 0) || seoib_decision_warning(d, (size_t)-1) ||
        seoib_decision_warning(NULL, 0) || seoib_decision_flags(NULL) ||
        seoib_decision_ioapic_origin(NULL)) {
        fprintf(stderr, "FAIL: out-of-range decision accessors\n");
        failures++;
    }
    seoib_decision_free(d);
    seoib_decision_free(NULL);

    /* The section. */
    ERR(seoib_section_encode(SEOIB_POLICY_RESPECTED, NULL, sizeof buf, &written));
    ERR(seoib_section_encode(SEOIB_POLICY_RESPECTED, buf, sizeof buf, NULL));
    ERR(seoib_section_encode(SEOIB_POLICY_RESPECTED, buf, 0, &written));
    ERR(seoib_section_encode(SEOIB_POLICY_AUTO, buf, sizeof buf, &written));
    ERR(seoib_section_encode(bad_policy, buf, sizeof buf, &written));
    OK(seoib_section_encode(SEOIB_POLICY_RESPECTED, buf, sizeof buf, &written));
    ERR(seoib_section_decode(NULL, written, SEOIB_SECTION_VERSION, &pol));
    ERR(seoib_section_decode(buf, written, SEOIB_SECTION_VERSION, NULL));
    ERR(seoib_section_decode(buf, 0, SEOIB_SECTION_VERSION, &pol));
    ERR(seoib_section_decode(buf, written + 1, SEOIB_SECTION_VERSION, &pol));
    ERR(seoib_section_decode(buf, written, SEOIB_SECTION_VERSION + 1, &pol));
    ERR(seoib_section_decode(buf, written, 0, &pol));
    ERR(seoib_section_decode(buf, written, UINT32_MAX, &pol));
    buf[0] = 0xff;
    ERR(seoib_section_decode(buf, written, SEOIB_SECTION_VERSION, &pol));

    /* Incoming and snapshot load. */
    ERR(seoib_decide_incoming(NULL, &in, true, SEOIB_POLICY_RESPECTED, &d));
    ERR(seoib_decide_incoming(ctx, NULL, true, SEOIB_POLICY_RESPECTED, &d));
    ERR(seoib_decide_incoming(ctx, &in, true, SEOIB_POLICY_RESPECTED, NULL));
    ERR(seoib_decide_incoming(ctx, &in, true, bad_policy, &d));
    ERR(seoib_decide_incoming(ctx, &in, true, SEOIB_POLICY_AUTO, &d));
    in.requested = SEOIB_POLICY_QUIRKED;
    ERR(seoib_decide_incoming(ctx, &in, true, SEOIB_POLICY_RESPECTED, &d));
    in.requested = SEOIB_POLICY_AUTO;
    in.kernel_x2apic_api = 0x3;
    ERR(seoib_decide_incoming(ctx, &in, true, SEOIB_POLICY_NOT_ADVERTISED, &d));
    ERR(seoib_decide_snapshot_load(NULL, &in, true, SEOIB_POLICY_RESPECTED,
                                   0, &d));
    ERR(seoib_decide_snapshot_load(ctx, &in, true, bad_policy, 0, &d));
    ERR(seoib_decide_snapshot_load(ctx, &in, true, SEOIB_POLICY_RESPECTED, 0,
                                   NULL));
    ERR(seoib_decide_snapshot_load(ctx, &in, true, SEOIB_POLICY_RESPECTED, 0,
                                   &d));

    seoib_context_free(ctx);
    seoib_context_free(other);
    printf("%d error paths, %d failures\n", checked, failures);
    return failures ? 1 : 0;
}
