/*
 * storm-mb's output: bytes to COM1's data register, nothing more (QEMU's
 * and seoib-vm's UARTs take them without any programming), and an exit
 * through isa-debug-exit.
 */
#ifndef STORM_MB_CONSOLE_H
#define STORM_MB_CONSOLE_H

#include <stdint.h>

/* A printf subset: %s, %u, %c, and %x / %Nx (32-bit, at least N hex
 * digits, zero-padded).  Every line starts with "storm-mb: "; `fmt` holds
 * the rest, without "\n". */
void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* isa-debug-exit at 0xf4: the VMM exits with status (code << 1) | 1. */
_Noreturn void debug_exit(uint8_t code);

#endif
