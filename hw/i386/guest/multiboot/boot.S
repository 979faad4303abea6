/*
 * storm-mb's entry: the multiboot v1 header, the switch from the loader's
 * 32-bit protected mode to long mode, and the interrupt entry stubs.
 *
 * Why long mode: on this machine's nested KVM (kvm_pvm) interrupt delivery
 * and IRET in 32-bit protected mode end in "KVM internal error. Suberror: 1"
 * (emulation failure) under both QEMU 7.2 and seoib-vm, while long mode
 * works (kvm-unit-tests' images switch to it the same way).  The file stays
 * an ELF32 i386 executable (objcopy -O elf32-i386), which is what the
 * multiboot loaders of QEMU and seoib-vm accept.
 *
 * The first 4 GiB are identity-mapped with 2 MiB pages, so the LAPIC
 * (0xfee00000) and IOAPIC (0xfec00000) are reached at their physical
 * addresses.  Caching attributes are left at write-back: under KVM the
 * APIC pages are emulated whatever the guest's memory type says.
 */
    .equ MULTIBOOT_MAGIC, 0x1BADB002
    .equ MULTIBOOT_FLAGS, 0

    .equ CR0_PE, 0x1
    .equ CR0_PG, 0x80000000
    .equ CR4_PAE, 0x20
    .equ MSR_EFER, 0xc0000080
    .equ EFER_LME, 0x100
    .equ PTE_PRESENT_WRITABLE, 0x3
    .equ PDE_LARGE_PAGE, 0x80
    .equ SEL_CODE64, 0x08
    .equ SEL_DATA, 0x10

    .section .multiboot, "a"
    .align 4
    .long MULTIBOOT_MAGIC
    .long MULTIBOOT_FLAGS
    .long -(MULTIBOOT_MAGIC + MULTIBOOT_FLAGS)

    .text
    .code32
    .globl _start
_start:
    cli
    /* EAX = 0x2BADB002, EBX = the MBI: kept for storm_main() in ESI/EBP,
     * which the code below leaves alone. */
    mov %eax, %esi
    mov %ebx, %ebp

    /* Zero the bss (page tables, IDT, stack, C variables): the loaders
     * clear it, but nothing below depends on them having done so. */
    mov $__bss_start, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    shr $2, %ecx
    xor %eax, %eax
    rep stosl

    /* pml4[0] -> pdpt; pdpt[0..3] -> pd[0..3]; pd[j] = j * 2 MiB. */
    mov $pdpt, %eax
    or $PTE_PRESENT_WRITABLE, %eax
    mov %eax, pml4
    mov $pdpt, %edi
    mov $page_dirs, %eax
    or $PTE_PRESENT_WRITABLE, %eax
    mov $4, %ecx
1:  mov %eax, (%edi)
    add $8, %edi
    add $0x1000, %eax
    loop 1b

    mov $page_dirs, %edi
    xor %ecx, %ecx
2:  mov %ecx, %eax
    shl $21, %eax
    or $(PDE_LARGE_PAGE | PTE_PRESENT_WRITABLE), %eax
    mov %eax, (%edi,%ecx,8)
    inc %ecx
    cmp $2048, %ecx
    jb 2b

    /* PAE, then EFER.LME, then paging: long mode. */
    mov %cr4, %eax
    or $CR4_PAE, %eax
    mov %eax, %cr4
    mov $pml4, %eax
    mov %eax, %cr3
    mov $MSR_EFER, %ecx
    rdmsr
    or $EFER_LME, %eax
    wrmsr
    mov %cr0, %eax
    or $(CR0_PG | CR0_PE), %eax
    mov %eax, %cr0

    lgdt gdt_descriptor
    ljmp $SEL_CODE64, $long_mode_entry

    .code64
long_mode_entry:
    mov $SEL_DATA, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %ax, %fs
    mov %ax, %gs
    mov $stack_top, %rsp
    mov %esi, %edi      /* magic */
    mov %ebp, %esi      /* MBI address */
    call storm_main
halt_forever:
    cli
    hlt
    jmp halt_forever

/*
 * The device vector's entry: save the registers the C ABI lets a callee
 * clobber, call on_device_interrupt(), return.  In long mode the CPU
 * aligns RSP to 16 before pushing its 40-byte frame, so after nine pushes
 * the stack is 16-byte aligned at the call, as the ABI wants.
 */
    .globl device_interrupt_entry
device_interrupt_entry:
    push %rax
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %r8
    push %r9
    push %r10
    push %r11
    call on_device_interrupt
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rax
    iretq

/* The LAPIC's spurious vector: counted, never EOIed (the SDM says so). */
    .globl spurious_interrupt_entry
spurious_interrupt_entry:
    incl spurious_interrupts
    iretq

/*
 * Exceptions 0-31: one 16-byte stub each, pushing its vector.  They never
 * return (on_exception() reports and exits), so the error code some of
 * them push does not matter.
 */
    .align 16
    .globl exception_entries
exception_entries:
    .set vector, 0
    .rept 32
    .align 16
    push $vector
    jmp exception_common
    .set vector, vector + 1
    .endr

exception_common:
    pop %rdi
    and $-16, %rsp
    call on_exception
    jmp halt_forever

    .section .rodata
    .align 8
gdt:
    .quad 0                     /* null */
    .quad 0x00af9b000000ffff    /* 0x08: 64-bit code, DPL 0 */
    .quad 0x00cf93000000ffff    /* 0x10: flat data */
gdt_end:
gdt_descriptor:
    .word gdt_end - gdt - 1
    .long gdt

    .bss
    .align 4096
pml4:
    .space 4096
pdpt:
    .space 4096
page_dirs:
    .space 4 * 4096
    .align 16
    .space 16384
stack_top:

    .section .note.GNU-stack, "", @progbits
