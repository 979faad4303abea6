/*
 * storm: service level-triggered interrupts from the seoib-testdev device
 * through the IOAPIC as a real guest does.
 *
 * The guest reads the x2APIC LVR first.  Where bit 24 advertises Suppress
 * EOI Broadcast it uses directed EOI, the discipline Windows uses (VBS /
 * Credential Guard): set SVR bit 12, EOI the LAPIC first, then service the
 * device, then EOI the IOAPIC directly.  Where bit 24 is clear it services
 * the device before the LAPIC EOI, as every guest without directed EOI does,
 * so the broadcast EOI finds the line already low.
 *
 * Under a kernel that advertises SEOIB but ignores SVR bit 12 (KVM's
 * "quirked" split-irqchip mode) the LAPIC EOI of a directed-EOI guest still
 * reaches the userspace IOAPIC, which clears remote IRR while the device
 * still asserts its line and injects the interrupt again: the storm this
 * project fixes.  A mode parameter forces directed EOI whatever the LVR
 * says, for the tests of KVM's SVR masking.
 *
 * Real mode, loaded and entered at LOAD_ADDR (given to `as` with --defsym).
 * The host has put the LAPIC in x2APIC mode (APICBASE) and set DS=ES=SS
 * base 0 with a 4 GiB limit, so the 0x67-prefixed stores reach the IOAPIC
 * at 0xfec00000.  Only the instruction subset of hw/i386/guest/README.md is
 * used: the kernel model interprets this program too.  In particular there
 * are no shifts and no `and`: bit masks are built with `add r, r`.
 *
 * Parameters (KVM_SET_REGS):
 *   EAX  number of device events to service
 *   EBX  interrupt vector (32-255); the program installs its IVT entry
 *   ECX  EOI mode: 0 = directed EOI only where LVR bit 24 is set (a real
 *        guest); non-zero = always set SVR bit 12 and EOI the LAPIC first
 *   EDX  IOAPIC pin of the device's line (0-23)
 *   ESI  the device's I/O base
 *   EDI  destination APIC ID (physical) for the redirection entry
 *
 * The program itself enables the LAPIC (SVR), masks LINT0, programs the
 * pin's IOAPIC redirection entry (level-triggered, active high, fixed,
 * physical, the vector) as an OS does, and reports to the device at every
 * step the host needs to see, each an `out` to IOBASE + offset
 * (include/hw/misc/seoib-testdev.h):
 *   0x0  RAISE            ask the device for an event: it asserts its line
 *   0x2  SERVICE          service the device: it deasserts its line
 *   0x3  HANDLER          8 bits, the vector: the handler was entered
 *   0x4  LAPIC_EOI        8 bits: the LAPIC EOI (wrmsr 0x80B) was written
 *   0x5  IOAPIC_EOI       8 bits: the IOAPIC EOI register was written
 *   0x6  EVENT_DONE       16 bits: events completed so far
 *   0x7  FINISHED         16 bits: all events done (repeated for ever)
 *   0x8  LVR              32 bits: the LVR (rdmsr 0x803)
 *   0xC  SVR              32 bits: the SVR read back after the write
 *
 * An event is over when its vector is no longer pending in the IRR (read
 * with rdmsr before every halt): the guest only halts with an interrupt to
 * wake it, so it never depends on a host watchdog, and a re-injected
 * interrupt is taken within the event that caused it.
 *
 * Memory used besides the image: the IVT entry of the vector and the stack
 * below SP (6 bytes of interrupt frame, 20 of saved registers, 2 of return
 * address).
 */
    .code16
    .text

    .equ TESTDEV_RAISE, 0x0
    .equ TESTDEV_SERVICE, 0x2
    .equ TESTDEV_HANDLER, 0x3
    .equ TESTDEV_LAPIC_EOI, 0x4
    .equ TESTDEV_IOAPIC_EOI, 0x5
    .equ TESTDEV_EVENT_DONE, 0x6
    .equ TESTDEV_FINISHED, 0x7
    .equ TESTDEV_LVR, 0x8
    .equ TESTDEV_SVR, 0xc

    .equ MSR_X2APIC_LVR, 0x803
    .equ LVR_DIRECTED_EOI, 0x1000000
    .equ MSR_X2APIC_EOI, 0x80b
    .equ MSR_X2APIC_SVR, 0x80f
    .equ MSR_X2APIC_LVT_LINT0, 0x835
    .equ LVT_MASKED, 0x10000
    .equ MSR_X2APIC_IRR0, 0x820
    /* SVR: APIC software enable (bit 8), spurious vector 0xff. */
    .equ SVR_ENABLED, 0x1ff
    .equ SVR_SUPPRESS_EOI_BROADCAST, 0x1000

    /* 82093AA: IOREGSEL, IOWIN; the EOI register exists from version 0x20. */
    .equ IOAPIC_IOREGSEL, 0xfec00000
    .equ IOAPIC_IOWIN, 0xfec00010
    .equ IOAPIC_EOI, 0xfec00040
    .equ IOAPIC_REDTBL, 0x10
    .equ IOAPIC_LEVEL_TRIGGERED, 0x8000
    /* The physical destination is entry bits 63:56. */
    .equ IOAPIC_DEST_SHIFT, 24

    /* Absolute addresses of the variables at the end of the image. */
    .set EVENTS_WANTED, events_wanted_var - start + LOAD_ADDR
    .set EVENTS_DONE, events_done_var - start + LOAD_ADDR
    .set IRR_MASK, irr_mask_var - start + LOAD_ADDR
    .set DEST, dest_var - start + LOAD_ADDR
    .set VECTOR, vector_var - start + LOAD_ADDR
    .set PIN, pin_var - start + LOAD_ADDR
    .set IOBASE, iobase_var - start + LOAD_ADDR
    .set SEOIB_IN_FORCE, seoib_var - start + LOAD_ADDR
    .set IRR_MSR, irr_msr_var - start + LOAD_ADDR
    .set DIRECTED, directed_var - start + LOAD_ADDR

start:
    mov %bx, VECTOR
    mov %dx, PIN
    mov %si, IOBASE
    mov %edi, DEST
    mov %eax, %ebx
    mov %ebx, EVENTS_WANTED

    /* Directed EOI where the LVR advertises it (bit 24), or always when
     * the host forces it (ECX non-zero). */
    xor %ebx, %ebx
    test %ecx, %ecx
    jnz directed_known
    mov $MSR_X2APIC_LVR, %ecx
    rdmsr
    mov $LVR_DIRECTED_EOI, %ecx
    test %ecx, %eax
    jz directed_off
directed_known:
    inc %bx
directed_off:
    mov %bx, DIRECTED

    /* KVM masks a guest SVR write with the current LVR: bit 12 sticks only
     * if LVR bit 24 advertises it (kvm-facts 2.2), which the read-back
     * below shows. */
    mov $SVR_ENABLED, %eax
    test %bx, %bx
    jz write_svr
    mov $(SVR_ENABLED | SVR_SUPPRESS_EOI_BROADCAST), %eax
write_svr:
    mov $MSR_X2APIC_SVR, %ecx
    xor %edx, %edx
    wrmsr

    /* KVM resets the BSP's LINT0 to ExtINT (KVM_X86_QUIRK_LINT0_REENABLED),
     * and with the in-kernel irqchip the device's GSI also drives the
     * unprogrammed 8259, whose vector would land on an empty IVT entry.
     * Interrupts come from the IOAPIC only, as under an APIC OS. */
    mov $MSR_X2APIC_LVT_LINT0, %ecx
    mov $LVT_MASKED, %eax
    wrmsr

    mov $MSR_X2APIC_LVR, %ecx
    rdmsr
    mov IOBASE, %dx
    add $TESTDEV_LVR, %dx
    out %eax, %dx
    mov $MSR_X2APIC_SVR, %ecx
    rdmsr
    mov IOBASE, %dx
    add $TESTDEV_SVR, %dx
    out %eax, %dx

    /* A guest that asked for directed EOI and got it must EOI the IOAPIC
     * itself; one whose request was dropped must not rely on it. */
    xor %ebx, %ebx
    mov $SVR_SUPPRESS_EOI_BROADCAST, %ecx
    test %ecx, %eax
    jz seoib_known
    inc %bx
seoib_known:
    mov %bx, SEOIB_IN_FORCE

    /* The vector's IRR MSR is 0x820 + vector / 32, its bit vector % 32. */
    mov VECTOR, %cx
    mov $MSR_X2APIC_IRR0, %bx
irr_index:
    cmp $32, %cx
    jb irr_bit
    sub $32, %cx
    inc %bx
    jmp irr_index
irr_bit:
    mov %bx, IRR_MSR
    mov $1, %ebx
irr_shift:
    test %cx, %cx
    jz irr_known
    add %ebx, %ebx
    dec %cx
    jmp irr_shift
irr_known:
    mov %ebx, IRR_MASK

    /* IVT entry vector * 4 = handler offset, segment 0. */
    xor %esi, %esi
    mov VECTOR, %si
    add %esi, %esi
    add %esi, %esi
    mov $(handler - start + LOAD_ADDR), %eax
    mov %eax, (%esi)

    /* The redirection entry: high dword (destination) first, so the entry
     * is complete when the low dword unmasks it. */
    mov PIN, %bx
    add %bx, %bx
    add $(IOAPIC_REDTBL + 1), %bx
    xor %eax, %eax
    mov %bx, %ax
    mov $IOAPIC_IOREGSEL, %edi
    mov %eax, (%edi)
    mov DEST, %ecx
    mov $IOAPIC_DEST_SHIFT, %bx
dest_shift:
    add %ecx, %ecx
    dec %bx
    jnz dest_shift
    mov $IOAPIC_IOWIN, %edi
    mov %ecx, (%edi)

    mov PIN, %bx
    add %bx, %bx
    add $IOAPIC_REDTBL, %bx
    xor %eax, %eax
    mov %bx, %ax
    mov $IOAPIC_IOREGSEL, %edi
    mov %eax, (%edi)
    xor %ecx, %ecx
    mov VECTOR, %cx
    mov $IOAPIC_LEVEL_TRIGGERED, %ebx
    add %ebx, %ecx
    mov $IOAPIC_IOWIN, %edi
    mov %ecx, (%edi)

/* One device event per iteration.  IF stays clear except across `sti; hlt`,
 * whose interrupt shadow covers the `hlt`, so an interrupt is only taken
 * there. */
event_loop:
    cli
    mov EVENTS_DONE, %ebx
    mov EVENTS_WANTED, %ecx
    cmp %ecx, %ebx
    jae finished
    mov IOBASE, %dx
    out %al, %dx

wait_pending:
    xor %ecx, %ecx
    mov IRR_MSR, %cx
    rdmsr
    mov IRR_MASK, %ebx
    test %ebx, %eax
    jz event_over
    sti
    hlt
    cli
    jmp wait_pending

event_over:
    mov EVENTS_DONE, %ebx
    inc %ebx
    mov %ebx, EVENTS_DONE
    mov %bx, %ax
    mov IOBASE, %dx
    add $TESTDEV_EVENT_DONE, %dx
    out %ax, %dx
    jmp event_loop

/* The host stops at the first report; a host that runs the vCPU again
 * gets the report again rather than a halted vCPU. */
finished:
    mov EVENTS_DONE, %bx
    mov %bx, %ax
    mov IOBASE, %dx
    add $TESTDEV_FINISHED, %dx
    out %ax, %dx
    jmp finished

/* Directed EOI: LAPIC EOI, service the device, IOAPIC EOI (where SVR bit
 * 12 stuck).  Otherwise: service the device, then the LAPIC EOI, whose
 * broadcast finds the line low. */
handler:
    push %eax
    push %ebx
    push %ecx
    push %edx
    push %edi

    mov VECTOR, %bx
    mov %bx, %ax
    mov IOBASE, %dx
    add $TESTDEV_HANDLER, %dx
    out %al, %dx

    mov DIRECTED, %bx
    test %bx, %bx
    jz service_first

    call lapic_eoi
    mov IOBASE, %dx
    add $TESTDEV_SERVICE, %dx
    out %al, %dx

    mov SEOIB_IN_FORCE, %bx
    test %bx, %bx
    jz handler_done
    xor %eax, %eax
    mov VECTOR, %bx
    mov %bx, %ax
    mov $IOAPIC_EOI, %edi
    mov %eax, (%edi)
    mov IOBASE, %dx
    add $TESTDEV_IOAPIC_EOI, %dx
    out %al, %dx
    jmp handler_done

service_first:
    mov IOBASE, %dx
    add $TESTDEV_SERVICE, %dx
    out %al, %dx
    call lapic_eoi

handler_done:
    pop %edi
    pop %edx
    pop %ecx
    pop %ebx
    pop %eax
    iret

/* The LAPIC EOI (wrmsr 0x80B) and its report; leaves AL = the vector. */
lapic_eoi:
    mov $MSR_X2APIC_EOI, %ecx
    xor %eax, %eax
    xor %edx, %edx
    wrmsr
    mov VECTOR, %bx
    mov %bx, %ax
    mov IOBASE, %dx
    add $TESTDEV_LAPIC_EOI, %dx
    out %al, %dx
    ret

    .balign 4
events_wanted_var:
    .long 0
events_done_var:
    .long 0
irr_mask_var:
    .long 0
dest_var:
    .long 0
vector_var:
    .word 0
pin_var:
    .word 0
iobase_var:
    .word 0
seoib_var:
    .word 0
irr_msr_var:
    .word 0
directed_var:
    .word 0
