/*
 * A QEMU fork's use of libseoib, built as a user builds it (installed,
 * found with pkg-config), checked against seoib-vm.
 *
 * For every machine type x every -global set of the machine-type tests
 * (tests/unit/hw/i386/pc-machine-test.cc) x kernel-irqchip split/on, and
 * for a policy matrix (explicit policies x irqchip on/off/split x a kernel
 * with and one without the SEOIB flags), it walks the RFC's sequence --
 * vl.c: context, machine, -global; x86-common.c: IOAPIC version, policy
 * decision -- and runs seoib-vm with the same command line on the kernel
 * model.  Both must agree: the IOAPIC version and its source, the
 * effective policy, the KVM_ENABLE_CAP flags and their names, the
 * warnings; or both fail, seoib-vm printing the library's message.
 * Nothing expected is written here: seoib-vm's report is the reference.
 *
 * Usage: rfc-sequence SEOIB-VM
 */
#define _POSIX_C_SOURCE 200809L

#include <seoib/seoib.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *seoib_vm;
static int failures;
static int cases;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);               \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            failures++;                                                        \
        }                                                                      \
    } while (0)

/* The -global sets of the machine-type tests. */
struct globals_case {
    const char *name;
    const char *args[2];
    int triplet; /* also given through seoib_context_add_global_property */
};
static const struct globals_case globals_cases[] = {
    { "none", { NULL, NULL }, 0 },
    { "hex", { "ioapic.version=0x11", NULL }, 0 },
    { "decimal", { "ioapic.version=17", NULL }, 0 },
    { "octal", { "ioapic.version=021", NULL }, 0 },
    { "long", { "driver=ioapic,property=version,value=0x11", NULL }, 0 },
    { "last_wins", { "ioapic.version=0x11", "ioapic.version=0x20" }, 0 },
    { "on_ioapic_common", { "ioapic-common.version=0x11", NULL }, 0 },
    { "triplet", { "ioapic.version=0x11", NULL }, 1 },
};

struct run {
    char out[16384]; /* stdout: the report */
    char err[16384]; /* stderr: errors, warnings, guest errors */
    int status;
};

static char err_path[64];

static void run_vm(const char *args, struct run *r)
{
    char cmd[4096];
    FILE *p, *e;
    size_t n = 0;
    snprintf(cmd, sizeof cmd, "%s -nodefaults -display none %s 2>%s",
             seoib_vm, args, err_path);
    p = popen(cmd, "r");
    if (!p) {
        perror("popen");
        exit(2);
    }
    n = fread(r->out, 1, sizeof r->out - 1, p);
    r->out[n] = '\0';
    r->status = pclose(p);
    e = fopen(err_path, "r");
    n = e ? fread(r->err, 1, sizeof r->err - 1, e) : 0;
    r->err[n] = '\0';
    if (e) {
        fclose(e);
    }
}

/* The rest of the report line starting with `key`, or NULL. */
static const char *field(const char *out, const char *key, char *buf,
                         size_t size)
{
    const char *at = out;
    const char *end;
    size_t len;
    /* At the start of a line: "guest error: ioapic: ..." is no report. */
    while ((at = strstr(at, key)) && at != out && at[-1] != '\n') {
        at++;
    }
    if (!at) {
        return NULL;
    }
    at += strlen(key);
    while (*at == ' ') {
        at++;
    }
    end = strchr(at, '\n');
    len = end ? (size_t)(end - at) : strlen(at);
    if (len >= size) {
        len = size - 1;
    }
    memcpy(buf, at, len);
    buf[len] = '\0';
    return buf;
}

/* KVM_CAP_X2APIC_API on the VM fd, as seoib-vm reports it for this kernel
 * profile and irqchip ("..., 0xb (VM)"). */
static unsigned long long kernel_answer(const char *kernel,
                                        const char *irqchip)
{
    char args[256], line[512];
    struct run r;
    const char *vm;
    snprintf(args, sizeof args,
             "-M q35 -accel kvm,kernel=%s,kernel-irqchip=%s,seoib-policy=quirked",
             kernel, irqchip);
    run_vm(args, &r);
    if (!field(r.out, "kvm:", line, sizeof line) ||
        !(vm = strstr(line, "(system), "))) {
        fprintf(stderr, "no kvm line from seoib-vm %s:\n%s%s\n", args, r.out,
                r.err);
        exit(2);
    }
    return strtoull(vm + strlen("(system), "), NULL, 16);
}

static void fail_error(const char *what, seoib_error *err)
{
    fprintf(stderr, "unexpected error from %s: %s\n", what,
            seoib_error_message(err));
    seoib_error_free(err);
    exit(2);
}

static seoib_irqchip irqchip_of(const char *name)
{
    seoib_irqchip m = SEOIB_IRQCHIP_ON;
    seoib_error *err = seoib_irqchip_from_string(name, &m);
    if (err) {
        fail_error("seoib_irqchip_from_string", err);
    }
    return m;
}

/*
 * The VMState subsection's side of the same VM: the section is sent only
 * when the policy is not quirked; what is encoded decodes to the same
 * policy; a destination like this one (auto) adopts it, and one started
 * with the same explicit policy too; a snapshot of it loads into this VM
 * without a new KVM VM, and a quirked snapshot into a VM that set a SEOIB
 * flag needs one.  Every expectation comes from the start-up decision.
 */
static void check_migration(seoib_context *ctx, const seoib_policy_input *in,
                            const seoib_decision *d, const char *args)
{
    seoib_policy eff = seoib_decision_effective(d), back = SEOIB_POLICY_AUTO;
    seoib_policy_input dst = *in;
    seoib_decision *inc = NULL;
    seoib_error *err;
    uint8_t buf[8];
    size_t n = 0;
    bool sent = seoib_section_needed(eff);

    CHECK(sent == (eff != SEOIB_POLICY_QUIRKED), "%s: section needed", args);
    if ((err = seoib_section_encode(eff, buf, sizeof buf, &n))) {
        fail_error("seoib_section_encode", err);
    }
    if ((err = seoib_section_decode(buf, n, SEOIB_SECTION_VERSION, &back))) {
        fail_error("seoib_section_decode", err);
    }
    CHECK(back == eff, "%s: section round trip %s -> %s", args,
          seoib_policy_name(eff), seoib_policy_name(back));

    dst.requested = SEOIB_POLICY_AUTO;
    dst.explicit_request = false;
    err = seoib_decide_incoming(ctx, &dst, sent, back, &inc);
    CHECK(err == NULL, "%s: incoming (auto) refused: %s", args,
          seoib_error_message(err));
    if (!err) {
        CHECK(seoib_decision_effective(inc) == eff &&
                  seoib_decision_flags(inc) == seoib_decision_flags(d) &&
                  seoib_decision_action(inc) == SEOIB_INCOMING_ADOPT,
              "%s: incoming (auto) does not adopt %s", args,
              seoib_policy_name(eff));
        seoib_decision_free(inc);
    }
    seoib_error_free(err);
    dst.requested = eff;
    dst.explicit_request = true;
    err = seoib_decide_incoming(ctx, &dst, sent, back, &inc);
    CHECK(err == NULL, "%s: incoming (%s) refused: %s", args,
          seoib_policy_name(eff), seoib_error_message(err));
    seoib_decision_free(inc);
    seoib_error_free(err);

    err = seoib_decide_snapshot_load(ctx, in, sent, back,
                                     seoib_decision_flags(d), &inc);
    CHECK(err == NULL && seoib_decision_action(inc) == SEOIB_INCOMING_ADOPT,
          "%s: own snapshot: %s", args,
          err ? seoib_error_message(err) : "rebuild");
    seoib_decision_free(inc);
    seoib_error_free(err);
    if (seoib_decision_flags(d) &
        (SEOIB_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST |
         SEOIB_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST)) {
        /* An auto VM adopts the quirked snapshot on a new KVM VM. */
        dst.requested = SEOIB_POLICY_AUTO;
        dst.explicit_request = false;
        err = seoib_decide_snapshot_load(ctx, &dst, false, SEOIB_POLICY_QUIRKED,
                                         seoib_decision_flags(d), &inc);
        CHECK(err == NULL && seoib_decision_action(inc) == SEOIB_INCOMING_REBUILD &&
                  seoib_decision_effective(inc) == SEOIB_POLICY_QUIRKED,
              "%s: quirked snapshot on a VM with %s set: %s", args,
              seoib_policy_name(eff), err ? seoib_error_message(err) : "adopted");
        seoib_decision_free(inc);
        seoib_error_free(err);
        /* One started with its policy explicit refuses it, naming both. */
        inc = NULL;
        dst.requested = eff;
        dst.explicit_request = true;
        err = seoib_decide_snapshot_load(ctx, &dst, false, SEOIB_POLICY_QUIRKED,
                                         seoib_decision_flags(d), &inc);
        CHECK(err != NULL && inc == NULL &&
                  strstr(seoib_error_message(err), "seoib-policy=quirked") != NULL &&
                  strstr(seoib_error_message(err), seoib_policy_name(eff)) != NULL,
              "%s: quirked snapshot on an explicit %s VM: %s", args,
              seoib_policy_name(eff), err ? seoib_error_message(err) : "taken");
        seoib_decision_free(inc);
        seoib_error_free(err);
    }
}

/*
 * One configuration: the library's answer, then seoib-vm's, compared.
 * `policy` NULL: seoib-policy not given.
 */
static void check_case(const char *machine, const struct globals_case *g,
                       const char *kernel, const char *irqchip,
                       const char *policy, unsigned long long answer)
{
    char args[2048], line[1024], want[1024];
    seoib_context *ctx = NULL;
    const seoib_machine *m = NULL;
    seoib_decision *d = NULL;
    seoib_error *err = NULL;
    seoib_policy_input in;
    struct run r;
    size_t i;
    int ok;

    cases++;
    /* vl.c: the context, the machine (qemu_create_machine), -global. */
    if ((err = seoib_context_new(&ctx))) {
        fail_error("seoib_context_new", err);
    }
    if ((err = seoib_machine_find(ctx, machine, &m))) {
        fail_error("seoib_machine_find", err);
    }
    if ((err = seoib_context_set_machine(ctx, m))) {
        fail_error("seoib_context_set_machine", err);
    }
    snprintf(args, sizeof args, "-M %s -accel kvm,kernel=%s,kernel-irqchip=%s%s%s",
             machine, kernel, irqchip, policy ? ",seoib-policy=" : "",
             policy ? policy : "");
    for (i = 0; i < 2 && g->args[i]; i++) {
        if (g->triplet) {
            err = seoib_context_add_global_property(ctx, "ioapic", "version",
                                                    "0x11", NULL);
        } else {
            err = seoib_context_add_global(ctx, g->args[i]);
        }
        if (err) {
            fail_error("seoib_context_add_global", err);
        }
        strcat(args, " -global ");
        strcat(args, g->args[i]);
    }

    /* x86-common.c, x86_cpus_init(): the decision before any vCPU. */
    memset(&in, 0, sizeof in);
    in.requested = SEOIB_POLICY_AUTO;
    if (policy && (err = seoib_policy_from_string(policy, &in.requested))) {
        fail_error("seoib_policy_from_string", err);
    }
    in.explicit_request = policy != NULL;
    in.irqchip = irqchip_of(irqchip);
    in.kernel_x2apic_api = answer;
    in.max_apic_id = 0;
    err = seoib_policy_decide(ctx, &in, &d);

    run_vm(args, &r);
    ok = WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0;
    if (err) {
        CHECK(!ok, "%s: library fails (%s) but seoib-vm runs:\n%s", args,
              seoib_error_message(err), r.out);
        CHECK(strstr(r.err, seoib_error_message(err)) != NULL,
              "%s: seoib-vm's error\n%s\ndoes not say the library's\n%s",
              args, r.err, seoib_error_message(err));
        seoib_error_free(err);
        seoib_context_free(ctx);
        return;
    }
    CHECK(ok, "%s: library decides but seoib-vm fails:\n%s", args, r.err);
    if (!ok) {
        seoib_decision_free(d);
        seoib_context_free(ctx);
        return;
    }

    /* "ioapic:  ioapic at /machine/q35/ioapic, version 0x11 (SOURCE)" */
    snprintf(want, sizeof want, "version 0x%02x (%s)",
             seoib_decision_ioapic_version(d), seoib_decision_ioapic_origin(d));
    CHECK(field(r.out, "ioapic:", line, sizeof line) && strstr(line, want) &&
              strcmp(line + strlen(line) - strlen(want), want) == 0,
          "%s: ioapic: seoib-vm '%s', library '%s'", args, line, want);
    /* "seoib-policy:  auto requested (default), not-advertised in effect" */
    snprintf(want, sizeof want, "%s in effect",
             seoib_policy_name(seoib_decision_effective(d)));
    CHECK(field(r.out, "seoib-policy:", line, sizeof line) && strstr(line, want),
          "%s: seoib-policy: seoib-vm '%s', library '%s'", args, line, want);
    /* "x2apic-api flags: 0x8 (DISABLE_SUPPRESS_EOI_BROADCAST)" */
    {
        char *names = NULL;
        if ((err = seoib_x2apic_api_flag_names(seoib_decision_flags(d), &names))) {
            fail_error("seoib_x2apic_api_flag_names", err);
        }
        snprintf(want, sizeof want, "0x%llx (%s)",
                 (unsigned long long)seoib_decision_flags(d), names);
        seoib_string_free(names);
    }
    CHECK(field(r.out, "x2apic-api flags:", line, sizeof line) &&
              strcmp(line, want) == 0,
          "%s: flags: seoib-vm '%s', library '%s'", args, line, want);
    /* The legacy machines say so on the machine line. */
    CHECK(field(r.out, "machine:", line, sizeof line) &&
              (strstr(line, "legacy SEOIB") != NULL) ==
                  seoib_decision_legacy_machine(d),
          "%s: legacy: seoib-vm '%s', library %d", args, line,
          seoib_decision_legacy_machine(d));
    for (i = 0; i < seoib_decision_warning_count(d); i++) {
        CHECK(strstr(r.err, seoib_decision_warning(d, i)) != NULL,
              "%s: seoib-vm did not warn '%s'", args,
              seoib_decision_warning(d, i));
    }
    CHECK(seoib_decision_warning_count(d) > 0 ||
              strstr(r.err, "warning: KVM lacks") == NULL,
          "%s: seoib-vm warns about the kernel, the library does not", args);
    check_migration(ctx, &in, d, args);
    seoib_decision_free(d);
    seoib_context_free(ctx);
}

/* The machine list against -machine help: every name and alias. */
/* A decision for `machine` (derived from it with `fork` when not NULL),
 * optionally with -global ioapic.version=0x11, on kernel answer `answer`. */
static seoib_decision *decide_on(const char *machine,
                                 const seoib_global_property *fork,
                                 int ioapic_0x11, unsigned long long answer)
{
    seoib_context *ctx = NULL;
    const seoib_machine *m = NULL;
    seoib_decision *d = NULL;
    seoib_policy_input in;
    seoib_error *err;

    if ((err = seoib_context_new(&ctx)) ||
        (err = seoib_machine_find(ctx, machine, &m)) ||
        (err = fork ? seoib_context_set_derived_machine(ctx, m, "fork_seoib",
                                                        fork, 1)
                    : seoib_context_set_machine(ctx, m)) ||
        (ioapic_0x11 &&
         (err = seoib_context_add_global(ctx, "ioapic.version=0x11")))) {
        fail_error("the derived machine's set-up", err);
    }
    memset(&in, 0, sizeof in);
    in.requested = SEOIB_POLICY_AUTO;
    in.irqchip = SEOIB_IRQCHIP_SPLIT;
    in.kernel_x2apic_api = answer;
    if ((err = seoib_policy_decide(ctx, &in, &d))) {
        fail_error("seoib_policy_decide", err);
    }
    seoib_context_free(ctx);
    return d;
}

/*
 * contrib/qemu's fork machine "pc-q35-7.2-seoib": pc-q35-7.2 plus
 * { kvm-accel, x-seoib-legacy, off }.  Under auto it decides as 11.0 does
 * (the gate opened), where its base stays quirked (its guest ABI kept).
 */
static void check_derived_machine(unsigned long long answer)
{
    static const seoib_global_property fork = { "kvm-accel", "x-seoib-legacy",
                                                "off", NULL, false };
    int g;

    for (g = 0; g < 2; g++) {
        seoib_decision *derived = decide_on("pc-q35-7.2", &fork, g, answer);
        seoib_decision *base = decide_on("pc-q35-7.2", NULL, g, answer);
        seoib_decision *latest = decide_on("pc-q35-11.0", NULL, g, answer);
        cases++;
        CHECK(seoib_decision_effective(derived) ==
                      seoib_decision_effective(latest) &&
                  seoib_decision_flags(derived) == seoib_decision_flags(latest),
              "derived pc-q35-7.2%s: %s 0x%llx, pc-q35-11.0 %s 0x%llx",
              g ? " ioapic 0x11" : "",
              seoib_policy_name(seoib_decision_effective(derived)),
              (unsigned long long)seoib_decision_flags(derived),
              seoib_policy_name(seoib_decision_effective(latest)),
              (unsigned long long)seoib_decision_flags(latest));
        CHECK(!seoib_decision_legacy_machine(derived) &&
                  seoib_decision_legacy_machine(base),
              "derived pc-q35-7.2: legacy %d, its base %d",
              seoib_decision_legacy_machine(derived),
              seoib_decision_legacy_machine(base));
        CHECK(seoib_decision_effective(base) == SEOIB_POLICY_QUIRKED &&
                  seoib_decision_effective(derived) != SEOIB_POLICY_QUIRKED,
              "pc-q35-7.2: base %s, derived %s",
              seoib_policy_name(seoib_decision_effective(base)),
              seoib_policy_name(seoib_decision_effective(derived)));
        seoib_decision_free(derived);
        seoib_decision_free(base);
        seoib_decision_free(latest);
    }
}

static void check_machines(const seoib_context *ctx)
{
    struct run r;
    char *line, *save = NULL;
    size_t listed = 0, i;
    run_vm("-machine help", &r);
    for (line = strtok_r(r.out, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char name[128];
        const seoib_machine *m = NULL;
        const char *alias_of = strstr(line, "(alias of ");
        seoib_error *err;
        if (strncmp(line, "Supported machines", 18) == 0 ||
            sscanf(line, "%127s", name) != 1) {
            continue;
        }
        err = seoib_machine_find(ctx, name, &m);
        CHECK(err == NULL, "-machine help lists %s, the library does not know it",
              name);
        if (err) {
            seoib_error_free(err);
            continue;
        }
        if (alias_of) {
            char target[128];
            sscanf(alias_of, "(alias of %127[^)])", target);
            CHECK(strcmp(seoib_machine_name(m), target) == 0 &&
                      strcmp(seoib_machine_alias(m), name) == 0,
                  "%s: alias of %s in seoib-vm, of %s in the library", name,
                  target, seoib_machine_name(m));
        } else {
            listed++;
            CHECK(strcmp(seoib_machine_name(m), name) == 0, "%s is %s", name,
                  seoib_machine_name(m));
            CHECK((strstr(line, "(default)") != NULL) == seoib_machine_is_default(m),
                  "%s: default differs", name);
            CHECK(strstr(line, seoib_machine_description(m)) != NULL,
                  "%s: description '%s' not in '%s'", name,
                  seoib_machine_description(m), line);
        }
    }
    CHECK(listed == seoib_machine_count(ctx),
          "-machine help lists %zu machine types, the library %zu", listed,
          seoib_machine_count(ctx));
    for (i = 0; i < seoib_machine_count(ctx); i++) {
        const seoib_machine *m = NULL;
        seoib_error *err = seoib_machine_at(ctx, i, &m);
        CHECK(err == NULL && m != NULL, "seoib_machine_at(%zu)", i);
        seoib_error_free(err);
    }
}

int main(int argc, char **argv)
{
    static const char *const policies[] = { NULL, "auto", "quirked",
                                            "respected", "not-advertised" };
    static const char *const policy_machines[] = { "q35", "pc-q35-10.2",
                                                   "pc-q35-4.0", "pc" };
    static const char *const kernels[] = { "model", "model-6.12" };
    static const char *const irqchips[] = { "split", "on", "off" };
    unsigned long long answers[2][3];
    seoib_context *ctx = NULL;
    seoib_error *err;
    size_t i, k, q, p, g;

    if (argc != 2) {
        fprintf(stderr, "usage: %s SEOIB-VM\n", argv[0]);
        return 2;
    }
    seoib_vm = argv[1];
    {
        int fd;
        snprintf(err_path, sizeof err_path, "/tmp/rfc-sequence.XXXXXX");
        fd = mkstemp(err_path);
        if (fd < 0) {
            perror("mkstemp");
            return 2;
        }
        close(fd);
    }
    if (seoib_version() != SEOIB_API_VERSION) {
        fprintf(stderr, "header %d, library %u\n", SEOIB_API_VERSION,
                (unsigned)seoib_version());
        return 1;
    }
    for (k = 0; k < 2; k++) {
        for (q = 0; q < 3; q++) {
            answers[k][q] = kernel_answer(kernels[k], irqchips[q]);
        }
    }
    if ((err = seoib_context_new(&ctx))) {
        fail_error("seoib_context_new", err);
    }
    check_machines(ctx);
    check_derived_machine(answers[0][0]);

    /* Every machine type x every -global set x split/on. */
    for (i = 0; i < seoib_machine_count(ctx); i++) {
        const seoib_machine *m = NULL;
        if ((err = seoib_machine_at(ctx, i, &m))) {
            fail_error("seoib_machine_at", err);
        }
        for (g = 0; g < sizeof globals_cases / sizeof globals_cases[0]; g++) {
            for (q = 0; q < 2; q++) {
                check_case(seoib_machine_name(m), &globals_cases[g], "model",
                           irqchips[q], NULL, answers[0][q]);
            }
        }
    }
    /* The policies, on a kernel with the flags and one without. */
    for (i = 0; i < sizeof policy_machines / sizeof policy_machines[0]; i++) {
        for (k = 0; k < 2; k++) {
            for (q = 0; q < 3; q++) {
                for (p = 0; p < sizeof policies / sizeof policies[0]; p++) {
                    for (g = 0; g < 2; g++) {
                        check_case(policy_machines[i], &globals_cases[g],
                                   kernels[k], irqchips[q], policies[p],
                                   answers[k][q]);
                    }
                }
            }
        }
    }
    seoib_context_free(ctx);
    unlink(err_path);
    printf("%d configurations, %d failures\n", cases, failures);
    return failures ? 1 : 0;
}
