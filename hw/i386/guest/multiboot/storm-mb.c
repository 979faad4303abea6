/*
 * storm-mb: the SEOIB interrupt storm as a multiboot kernel, so that
 * seoib-vm and QEMU can run the same guest (docs/devel/guests.rst,
 * "storm-mb").
 *
 * It services level-triggered interrupts of one IOAPIC pin, driven through
 * pc-testdev's IRQ ports, the way real guests do.  Where the LVR advertises
 * Suppress EOI Broadcast (bit 24) it behaves like Windows: it sets SVR
 * bit 12, EOIs the LAPIC in the handler and services the device later
 * (a deferred procedure call), then EOIs the IOAPIC itself.  Otherwise it
 * services the device in the handler before the LAPIC EOI, so the
 * broadcast EOI finds the line low.
 *
 * A kernel that advertises the feature but ignores SVR bit 12 (KVM's
 * quirked split-irqchip mode, QEMU 7.2) still broadcasts the LAPIC EOI to
 * the userspace IOAPIC, which clears remote IRR while the line is high and
 * injects again: the handler is re-entered before the deferred service can
 * run -- the storm.  After STORM_BOUND entries in one event the guest
 * masks the pin, lowers the line and reports it.
 *
 * Command line (multiboot cmdline): events=N (16), eoi=auto|directed
 * (auto), pin=N (10).  Exit (isa-debug-exit): 0 no storm, 1 storm,
 * 2 timeout, 3 bad option or unexpected exception.
 */
#include "console.h"
#include "x86.h"

#include <stdbool.h>
#include <stdint.h>

enum {
    MULTIBOOT_BOOTLOADER_MAGIC = 0x2BADB002,
    MBI_FLAG_CMDLINE = 1 << 2,

    PIC_MASTER_DATA = 0x21,
    PIC_SLAVE_DATA = 0xa1,

    LAPIC_BASE = 0xfee00000,
    LAPIC_LVR = 0x30,
    LAPIC_TPR = 0x80,
    LAPIC_EOI = 0xb0,
    LAPIC_SVR = 0xf0,
    LAPIC_LVT_LINT0 = 0x350,
    LAPIC_LVT_LINT1 = 0x360,
    LVR_SUPPRESS_EOI_BROADCAST = 1 << 24,
    SVR_APIC_ENABLED = 1 << 8,
    SVR_DIRECTED_EOI = 1 << 12,
    LVT_MASKED = 1 << 16,

    IOAPIC_BASE = 0xfec00000,
    IOAPIC_IOREGSEL = 0x00,
    IOAPIC_IOWIN = 0x10,
    IOAPIC_EOI = 0x40,
    IOAPIC_REG_VERSION = 0x01,
    IOAPIC_REG_REDTBL = 0x10,
    IOAPIC_PINS = 24,
    /* Version 0x20 has the EOI register; 0x11 does not. */
    IOAPIC_VERSION_WITH_EOI = 0x20,
    REDIR_LEVEL_TRIGGERED = 1 << 15,
    REDIR_MASKED = 1 << 16,
    REDIR_DEST_SHIFT = 24, /* of the high dword: destination APIC ID */

    PC_TESTDEV_IRQ_BASE = 0x2000,

    DEVICE_VECTOR = 0x40,
    SPURIOUS_VECTOR = 0xff,
    EXCEPTION_VECTORS = 32,
    EXCEPTION_STUB_SIZE = 16,

    /* Handler entries in one event beyond which it is a storm. */
    STORM_BOUND = 64,
    /* The deferred service runs once the handler has been quiet for this
     * many VM exits (an interrupt can only arrive at an exit here), so a
     * re-injection has had every chance to show up first. */
    QUIET_EXITS = 64,
    /* No wait lasts longer than this many VM exits: the guest never hangs. */
    WAIT_BOUND = 100000,
};

enum exit_code {
    EXIT_NO_STORM = 0,
    EXIT_STORM = 1,
    EXIT_TIMEOUT = 2,
    EXIT_ERROR = 3,
};

enum eoi_mode { EOI_AUTO, EOI_DIRECTED };

struct options {
    unsigned events;
    enum eoi_mode eoi;
    unsigned pin;
};

/* The multiboot information structure, up to the command line. */
struct multiboot_info {
    uint32_t flags;
    uint32_t mem_lower;
    uint32_t mem_upper;
    uint32_t boot_device;
    uint32_t cmdline;
};

struct idt_gate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;
    uint16_t offset_mid;
    uint32_t offset_high;
    uint32_t reserved;
};

/* boot.S */
extern void device_interrupt_entry(void);
extern void spurious_interrupt_entry(void);
extern char exception_entries[];
volatile unsigned spurious_interrupts;

static struct idt_gate idt[256];

/* Set up once before interrupts are enabled, then read by the handler. */
static struct options options = { .events = 16, .eoi = EOI_AUTO, .pin = 10 };
static bool directed_eoi;
static uint8_t ioapic_version;

/* The event in progress, shared between the handler and the main loop. */
static volatile unsigned handler_entries;
static volatile bool storm_declared;
/* Set once the pin is routed: only then does finishing touch the IOAPIC. */
static bool pin_routed;

/* --- the command line --------------------------------------------------- */

static bool parse_unsigned(const char *s, const char *end, unsigned *out)
{
    unsigned value = 0;
    if (s == end) {
        return false;
    }
    for (; s < end; s++) {
        if (*s < '0' || *s > '9' || value > 100000000) {
            return false;
        }
        value = value * 10 + (unsigned)(*s - '0');
    }
    *out = value;
    return true;
}

static bool word_is(const char *s, const char *end, const char *word)
{
    for (; s < end; s++, word++) {
        if (*s != *word) {
            return false;
        }
    }
    return *word == '\0';
}

/* One "key=value" word; words without '=' (the kernel's file name, which
 * QEMU puts first) are not options. */
static bool apply_option(const char *word, const char *end)
{
    const char *eq = word;
    while (eq < end && *eq != '=') {
        eq++;
    }
    if (eq == end) {
        return true;
    }
    const char *value = eq + 1;
    if (word_is(word, eq, "events")) {
        return parse_unsigned(value, end, &options.events) &&
               options.events > 0;
    }
    if (word_is(word, eq, "pin")) {
        return parse_unsigned(value, end, &options.pin) &&
               options.pin < IOAPIC_PINS;
    }
    if (word_is(word, eq, "eoi")) {
        if (word_is(value, end, "auto")) {
            options.eoi = EOI_AUTO;
            return true;
        }
        if (word_is(value, end, "directed")) {
            options.eoi = EOI_DIRECTED;
            return true;
        }
    }
    return false;
}

static void report_bad_option(const char *word, const char *end)
{
    char copy[64];
    unsigned n = 0;
    while (word < end && n < sizeof(copy) - 1) {
        copy[n++] = *word++;
    }
    copy[n] = '\0';
    report("bad option '%s' (events=N, eoi=auto|directed, pin=0-23)", copy);
}

static bool parse_cmdline(const struct multiboot_info *mbi)
{
    if (!(mbi->flags & MBI_FLAG_CMDLINE)) {
        return true;
    }
    const char *p = (const char *)(uintptr_t)mbi->cmdline;
    for (;;) {
        while (*p == ' ') {
            p++;
        }
        if (!*p) {
            return true;
        }
        const char *end = p;
        while (*end && *end != ' ') {
            end++;
        }
        if (!apply_option(p, end)) {
            report_bad_option(p, end);
            return false;
        }
        p = end;
    }
}

/* --- interrupt descriptor table ----------------------------------------- */

static void set_gate(unsigned vector, uintptr_t handler)
{
    idt[vector] = (struct idt_gate){
        .offset_low = (uint16_t)handler,
        .selector = 0x08,  /* boot.S's 64-bit code segment */
        .type_attr = 0x8e, /* present, DPL 0, interrupt gate: IF cleared */
        .offset_mid = (uint16_t)(handler >> 16),
        .offset_high = (uint32_t)(handler >> 32),
    };
}

static void load_idt(void)
{
    for (unsigned v = 0; v < EXCEPTION_VECTORS; v++) {
        set_gate(v, (uintptr_t)exception_entries + v * EXCEPTION_STUB_SIZE);
    }
    set_gate(DEVICE_VECTOR, (uintptr_t)device_interrupt_entry);
    set_gate(SPURIOUS_VECTOR, (uintptr_t)spurious_interrupt_entry);
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } descriptor = { sizeof(idt) - 1, (uintptr_t)idt };
    __asm__ volatile("lidt %0" : : "m"(descriptor));
}

_Noreturn void on_exception(unsigned vector)
{
    report("unexpected exception %u", vector);
    report("result error");
    debug_exit(EXIT_ERROR);
}

/* --- 8259, LAPIC, IOAPIC, device ---------------------------------------- */

static void mask_pics(void)
{
    outb(PIC_MASTER_DATA, 0xff);
    outb(PIC_SLAVE_DATA, 0xff);
}

static uint32_t lapic_read(unsigned reg)
{
    return mmio_read32(LAPIC_BASE + reg);
}

static void lapic_write(unsigned reg, uint32_t value)
{
    mmio_write32(LAPIC_BASE + reg, value);
}

static void lapic_eoi(void)
{
    lapic_write(LAPIC_EOI, 0);
}

/* Enables the LAPIC (directed EOI or not) and returns the SVR read back. */
static uint32_t lapic_enable(bool with_directed_eoi)
{
    lapic_write(LAPIC_LVT_LINT0, LVT_MASKED);
    lapic_write(LAPIC_LVT_LINT1, LVT_MASKED);
    lapic_write(LAPIC_TPR, 0);
    uint32_t svr = SVR_APIC_ENABLED | SPURIOUS_VECTOR;
    if (with_directed_eoi) {
        svr |= SVR_DIRECTED_EOI;
    }
    lapic_write(LAPIC_SVR, svr);
    return lapic_read(LAPIC_SVR);
}

static uint32_t ioapic_read(unsigned reg)
{
    mmio_write32(IOAPIC_BASE + IOAPIC_IOREGSEL, reg);
    return mmio_read32(IOAPIC_BASE + IOAPIC_IOWIN);
}

static void ioapic_write(unsigned reg, uint32_t value)
{
    mmio_write32(IOAPIC_BASE + IOAPIC_IOREGSEL, reg);
    mmio_write32(IOAPIC_BASE + IOAPIC_IOWIN, value);
}

static unsigned redir_low(unsigned pin)
{
    return IOAPIC_REG_REDTBL + 2 * pin;
}

/* Fixed delivery, physical destination APIC 0, active high, level. */
static uint32_t device_entry_low(void)
{
    return DEVICE_VECTOR | REDIR_LEVEL_TRIGGERED;
}

static void ioapic_route_device_pin(void)
{
    ioapic_write(redir_low(options.pin), device_entry_low() | REDIR_MASKED);
    ioapic_write(redir_low(options.pin) + 1, 0u << REDIR_DEST_SHIFT);
    ioapic_write(redir_low(options.pin), device_entry_low());
}

static void ioapic_mask_device_pin(void)
{
    ioapic_write(redir_low(options.pin), device_entry_low() | REDIR_MASKED);
}

/*
 * The IOAPIC EOI of the directed discipline: the EOI register where the
 * IOAPIC has one; otherwise what Linux does for version 0x11: an
 * edge-triggered entry has no remote IRR, so switching the (masked) entry
 * to edge and back to level clears it.
 */
static void ioapic_eoi(void)
{
    if (ioapic_version >= IOAPIC_VERSION_WITH_EOI) {
        mmio_write32(IOAPIC_BASE + IOAPIC_EOI, DEVICE_VECTOR);
        return;
    }
    ioapic_write(redir_low(options.pin), DEVICE_VECTOR | REDIR_MASKED);
    ioapic_write(redir_low(options.pin), device_entry_low() | REDIR_MASKED);
    ioapic_write(redir_low(options.pin), device_entry_low());
}

/* pc-testdev: a byte written to 0x2000 + n sets ISA IRQ n (IOAPIC pin n). */
static void device_raise_line(void)
{
    outb(PC_TESTDEV_IRQ_BASE + options.pin, 1);
}

static void device_service(void)
{
    outb(PC_TESTDEV_IRQ_BASE + options.pin, 0);
}

/* --- the experiment ----------------------------------------------------- */

/* Called from boot.S's device_interrupt_entry, interrupts disabled. */
void on_device_interrupt(void)
{
    handler_entries++;
    if (handler_entries > STORM_BOUND && !storm_declared) {
        /* Stop the storm: no further delivery from this pin. */
        ioapic_mask_device_pin();
        device_service();
        storm_declared = true;
    }
    if (directed_eoi) {
        /* Windows' order: LAPIC EOI now, the device later (main loop). */
        lapic_eoi();
    } else {
        device_service();
        lapic_eoi();
    }
}

enum event_result { EVENT_DONE, EVENT_STORM, EVENT_TIMEOUT };

static bool wait_for_first_entry(void)
{
    for (unsigned i = 0; i < WAIT_BOUND; i++) {
        if (handler_entries) {
            return true;
        }
        cause_vm_exit();
    }
    return false;
}

/* Waits until the handler has not been entered for QUIET_EXITS exits. */
static enum event_result wait_until_quiet(void)
{
    unsigned seen = handler_entries;
    unsigned quiet = 0;
    for (unsigned i = 0; i < WAIT_BOUND; i++) {
        if (storm_declared) {
            return EVENT_STORM;
        }
        if (handler_entries != seen) {
            seen = handler_entries;
            quiet = 0;
        } else if (++quiet == QUIET_EXITS) {
            return EVENT_DONE;
        }
        cause_vm_exit();
    }
    return EVENT_TIMEOUT;
}

static enum event_result run_event(void)
{
    handler_entries = 0;
    device_raise_line();
    if (!wait_for_first_entry()) {
        return EVENT_TIMEOUT;
    }
    if (directed_eoi) {
        /* The deferred procedure call: it runs once the handler is quiet.
         * Under a kernel that broadcasts the LAPIC EOI that never happens:
         * the line is re-injected again and again. */
        enum event_result r = wait_until_quiet();
        if (r != EVENT_DONE) {
            return r;
        }
        device_service();
        ioapic_eoi();
    }
    /* Entries arriving late still belong to this event. */
    return wait_until_quiet();
}

static const char *discipline_text(void)
{
    if (!directed_eoi) {
        return "broadcast (device serviced in the handler, then LAPIC EOI)";
    }
    if (ioapic_version >= IOAPIC_VERSION_WITH_EOI) {
        return "directed (LAPIC EOI in the handler, device serviced later, "
               "IOAPIC EOI register)";
    }
    return "directed (LAPIC EOI in the handler, device serviced later, "
           "remote IRR cleared by an edge/level switch)";
}

static void setup_interrupt_controllers(void)
{
    mask_pics();

    uint32_t lvr = lapic_read(LAPIC_LVR);
    bool advertised = lvr & LVR_SUPPRESS_EOI_BROADCAST;
    report("lvr 0x%8x: bit 24 %s", lvr,
           advertised ? "set (suppress EOI broadcast advertised)"
                      : "clear (suppress EOI broadcast not advertised)");
    directed_eoi = options.eoi == EOI_DIRECTED || advertised;

    uint32_t svr = lapic_enable(directed_eoi);
    if (directed_eoi) {
        report("svr 0x%8x: bit 12 %s", svr,
               svr & SVR_DIRECTED_EOI ? "set (directed EOI accepted)"
                                      : "clear (the write of bit 12 was dropped)");
    }

    ioapic_version = (uint8_t)ioapic_read(IOAPIC_REG_VERSION);
    report("ioapic version 0x%2x", ioapic_version);
    ioapic_route_device_pin();
    pin_routed = true;
    report("discipline %s", discipline_text());
}

_Noreturn static void finish(enum exit_code code, const char *result)
{
    disable_interrupts();
    if (pin_routed) {
        ioapic_mask_device_pin();
        device_service();
    }
    report("result %s", result);
    debug_exit(code);
}

_Noreturn void storm_main(uint32_t magic, uint32_t mbi_address)
{
    const struct multiboot_info *mbi =
        (const struct multiboot_info *)(uintptr_t)mbi_address;

    load_idt();
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC) {
        report("not started by a multiboot loader (EAX 0x%x)", magic);
        finish(EXIT_ERROR, "error");
    }
    if (!parse_cmdline(mbi)) {
        finish(EXIT_ERROR, "error");
    }
    report("options events=%u eoi=%s pin=%u vector=0x%2x", options.events,
           options.eoi == EOI_DIRECTED ? "directed" : "auto", options.pin,
           DEVICE_VECTOR);
    setup_interrupt_controllers();
    enable_interrupts();

    unsigned total = 0;
    unsigned max = 0;
    unsigned done = 0;
    enum event_result r = EVENT_DONE;
    while (done < options.events && r == EVENT_DONE) {
        r = run_event();
        total += handler_entries;
        if (handler_entries > max) {
            max = handler_entries;
        }
        if (r == EVENT_DONE) {
            done++;
        }
    }

    if (r == EVENT_STORM) {
        report("storm in event %u: %u handler entries before the device was "
               "serviced; pin %u masked",
               done + 1, handler_entries, options.pin);
    } else if (r == EVENT_TIMEOUT) {
        report("timeout in event %u: %s", done + 1,
               handler_entries ? "the handler kept being entered"
                               : "the handler was never entered");
    }
    report("entries per event: max %u, total %u, events done %u of %u%s",
           max, total, done, options.events,
           spurious_interrupts ? " (spurious interrupts seen)" : "");
    if (r == EVENT_STORM) {
        finish(EXIT_STORM, "storm");
    }
    if (r == EVENT_TIMEOUT) {
        finish(EXIT_TIMEOUT, "timeout");
    }
    finish(EXIT_NO_STORM, "no-storm");
}
