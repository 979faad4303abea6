/*
 * Port I/O, MMIO and interrupt-flag helpers for storm-mb (long mode,
 * identity-mapped, so physical addresses are pointers).
 */
#ifndef STORM_MB_X86_H
#define STORM_MB_X86_H

#include <stdint.h>

static inline void outb(uint16_t port, uint8_t value)
{
    __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t value;
    __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}

static inline uint32_t mmio_read32(uintptr_t addr)
{
    return *(volatile uint32_t *)addr;
}

static inline void mmio_write32(uintptr_t addr, uint32_t value)
{
    *(volatile uint32_t *)addr = value;
}

/*
 * Leave the guest for the host once.  This host delivers pending
 * interrupts only at a VM exit, so every wait loop calls this: port 0x80
 * (the POST port) is harmless to read on both QEMU and seoib-vm and is
 * handled in userspace, where a re-injection would come from.
 */
static inline void cause_vm_exit(void)
{
    (void)inb(0x80);
}

static inline void enable_interrupts(void)
{
    __asm__ volatile("sti" ::: "memory");
}

static inline void disable_interrupts(void)
{
    __asm__ volatile("cli" ::: "memory");
}

#endif
