/*
 * Booting and running a -kernel guest (a multiboot image such as a
 * kvm-unit-tests .flat file) on vCPU 0, as QEMU does with
 * `-kernel FILE -append ARGS -initrd FILE`.
 *
 * Everything that can be wrong with the files is found before the vCPU
 * runs: the kernel is read and parsed (hw/i386/multiboot.h), the modules
 * read, the guest RAM laid out as a PC's (below and above 4 GiB), the
 * kernel and its multiboot information loaded, and vCPU 0 put in 32-bit
 * protected mode at the entry (EAX = 0x2BADB002, EBX = the MBI).
 *
 * The run loop then dispatches the exits: port I/O to the machine's ISA
 * devices (hw/isa/isa.h: COM1, fw_cfg, isa-debug-exit, pc-testdev, the 8259
 * ports), MMIO in the IOAPIC window to the userspace IOAPIC (reads
 * completed), KVM_EXIT_IOAPIC_EOI to its EOI broadcast.  It ends when the
 * guest writes isa-debug-exit (status (N << 1) | 1), on a triple fault
 * (status 0 with --no-reboot), on a KVM error (status 1) or on SIGINT /
 * SIGTERM / SIGHUP ("terminating on signal N", status 1): a guest that
 * spins without exiting is ended from outside, never by a guessed timeout.
 */
#pragma once

#include "qapi/result.h"

#include <cstdint>
#include <cstdio>
#include <string>

namespace sysemu {

class Vm;

/// -kernel, -append, -initrd, -m and --no-reboot.
struct KernelBootOptions {
    std::string kernel;
    std::string append;
    /// "FILE[ ARGS][,FILE[ ARGS]...]": one module per comma-separated item.
    std::string initrd;
    /// Guest RAM in bytes (-m; QEMU's default 128 MiB).
    uint64_t ram_size { 128ULL << 20 };
    bool no_reboot { false };
};

/// QEMU's default -m (MiB).
inline constexpr uint64_t DEFAULT_RAM_SIZE = 128ULL << 20;

/// Loads the kernel into `vm` (built with -kernel: its ISA devices exist)
/// and runs it.  Returns the exit status; errors are printed to `err` as
/// "seoib-vm: MESSAGE".
int run_kernel(Vm &vm, const KernelBootOptions &opts, std::FILE *err);

} // namespace sysemu
