/*
 * eoi-probe: report what the guest sees of the x2APIC LVR and SVR, then take
 * interrupts and EOI them the way a directed-EOI guest does.
 *
 * Real mode, loaded and entered at LOAD_ADDR (given to `as` with --defsym).
 * The host has put the LAPIC in x2APIC mode (APICBASE) and set DS=ES=SS
 * base 0 with a 4 GiB limit, so the 0x67-prefixed store below reaches the
 * IOAPIC at 0xfec00000.  Only the instruction subset listed in README.md
 * is used: the kernel model interprets this program too.
 *
 * Parameters (KVM_SET_REGS):
 *   EAX  value to write to the SVR (MSR 0x80F), 0 = leave the SVR alone
 *   EBX  interrupt vector to handle (32-255); the program installs its IVT entry
 *   ECX  non-zero: the handler also writes the vector to the IOAPIC EOI
 *        register (0xfec00040, IOAPIC version 0x20)
 *
 * Ports (all `out`, see README.md):
 *   0xE0  LVR as read by rdmsr 0x803 (32 bits)
 *   0xE1  SVR read back by rdmsr 0x80F after the optional write (32 bits)
 *   0xE2  handler entered (8 bits: the vector)
 *   0xE3  LAPIC EOI written (8 bits: the vector)
 *   0xE4  IOAPIC EOI written (8 bits: the vector)
 *   0xE5  idle: about to `sti; hlt` (16 bits: interrupts handled so far)
 */
    .code16
    .text

    .equ PORT_LVR, 0xe0
    .equ PORT_SVR, 0xe1
    .equ PORT_HANDLER_ENTERED, 0xe2
    .equ PORT_LAPIC_EOI_DONE, 0xe3
    .equ PORT_IOAPIC_EOI_DONE, 0xe4
    .equ PORT_IDLE, 0xe5

    .equ MSR_X2APIC_LVR, 0x803
    .equ MSR_X2APIC_EOI, 0x80b
    .equ MSR_X2APIC_SVR, 0x80f
    /* The IOAPIC EOI register: offset 0x40 of the default IOAPIC window. */
    .equ IOAPIC_EOI_REGISTER, 0xfec00040

    /* Absolute addresses of the variables at the end of the image. */
    .set VECTOR, vector_var - start + LOAD_ADDR
    .set IOAPIC_EOI_WANTED, ioapic_eoi_var - start + LOAD_ADDR
    .set HANDLED, handled_var - start + LOAD_ADDR

start:
    /* The handler needs its parameters after EBX and ECX are reused. */
    mov %bx, VECTOR
    mov %cx, IOAPIC_EOI_WANTED

    test %eax, %eax
    jz report
    /* KVM masks a guest SVR write with the current LVR: bit 12 (suppress
     * EOI broadcast) sticks only if LVR bit 24 advertises it, and is dropped
     * silently otherwise, which the read-back shows. */
    mov $MSR_X2APIC_SVR, %ecx
    xor %edx, %edx
    wrmsr

report:
    mov $MSR_X2APIC_LVR, %ecx
    rdmsr
    out %eax, $PORT_LVR
    mov $MSR_X2APIC_SVR, %ecx
    rdmsr
    out %eax, $PORT_SVR

    /* IVT entry vector*4 = handler offset, segment 0. */
    xor %esi, %esi
    mov %bx, %si
    add %esi, %esi
    add %esi, %esi
    mov $(handler - start + LOAD_ADDR), %eax
    mov %eax, (%esi)

    /* Report before every halt so the host knows the guest has nothing left
     * to do: a halted vCPU does not exit on its own while an in-kernel LAPIC
     * waits for an interrupt.  IF stays clear until `sti`, whose interrupt
     * shadow covers the `hlt`, so no interrupt slips in between. */
idle:
    cli
    mov HANDLED, %bx
    mov %bx, %ax
    out %ax, $PORT_IDLE
    sti
    hlt
    jmp idle

/* Directed-EOI order: LAPIC EOI first, then (when asked) the IOAPIC EOI.
 * Each step reports on its own port so the host sees how far the guest got
 * when an exit (KVM_EXIT_IOAPIC_EOI in particular) arrives. */
handler:
    push %eax
    push %ebx
    push %ecx
    push %edx
    push %edi

    mov VECTOR, %bx
    mov %bx, %ax
    out %al, $PORT_HANDLER_ENTERED
    mov HANDLED, %bx
    inc %bx
    mov %bx, HANDLED

    mov $MSR_X2APIC_EOI, %ecx
    xor %eax, %eax
    xor %edx, %edx
    wrmsr
    mov VECTOR, %bx
    mov %bx, %ax
    out %al, $PORT_LAPIC_EOI_DONE

    mov IOAPIC_EOI_WANTED, %bx
    test %bx, %bx
    jz handler_done
    xor %eax, %eax
    mov VECTOR, %bx
    mov %bx, %ax
    mov $IOAPIC_EOI_REGISTER, %edi
    mov %eax, (%edi)
    out %al, $PORT_IOAPIC_EOI_DONE

handler_done:
    pop %edi
    pop %edx
    pop %ecx
    pop %ebx
    pop %eax
    iret

    .balign 2
vector_var:
    .word 0
ioapic_eoi_var:
    .word 0
handled_var:
    .word 0
