/* storm-mb's serial output and debug exit (console.h). */
#include "console.h"
#include "x86.h"

#include <stdarg.h>

enum {
    COM1_DATA = 0x3f8,
    DEBUG_EXIT_PORT = 0xf4,
};

static void put_char(char c)
{
    outb(COM1_DATA, (uint8_t)c);
}

static void put_string(const char *s)
{
    while (*s) {
        put_char(*s++);
    }
}

static void put_unsigned(unsigned value)
{
    char digits[12];
    int n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    while (n) {
        put_char(digits[--n]);
    }
}

/* At least `width` digits, zero-padded. */
static void put_hex(uint32_t value, int width)
{
    int digits = 8;
    while (digits > 1 && digits > width && !(value >> (4 * (digits - 1)))) {
        digits--;
    }
    for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4) {
        put_char("0123456789abcdef"[(value >> shift) & 0xf]);
    }
}

void report(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    put_string("storm-mb: ");
    for (const char *p = fmt; *p; p++) {
        if (*p != '%' || !p[1]) {
            put_char(*p);
            continue;
        }
        int width = 0;
        while (p[1] >= '0' && p[1] <= '9') {
            width = width * 10 + (*++p - '0');
        }
        switch (*++p) {
        case 's':
            put_string(va_arg(ap, const char *));
            break;
        case 'u':
            put_unsigned(va_arg(ap, unsigned));
            break;
        case 'x':
            put_hex(va_arg(ap, unsigned), width);
            break;
        case 'c':
            put_char((char)va_arg(ap, int));
            break;
        default:
            put_char(*p);
            break;
        }
    }
    put_char('\n');
    va_end(ap);
}

_Noreturn void debug_exit(uint8_t code)
{
    outb(DEBUG_EXIT_PORT, code);
    /* Without isa-debug-exit the write vanishes: stop here. */
    for (;;) {
        disable_interrupts();
        __asm__ volatile("hlt");
    }
}
