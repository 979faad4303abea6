/*
 * Loading a multiboot (version 1) kernel as QEMU's -kernel does
 * (hw/i386/multiboot.c): kvm-unit-tests' x86 .flat files are such kernels,
 * ELF32 executables with a multiboot header in their first 8 KiB.
 *
 * Two steps, both without QOM or KVM so that tests feed them any bytes:
 *   parse_multiboot()   finds and checks the header and, for an ELF image,
 *                       the program headers; every error is found here,
 *                       before anything is loaded or any vCPU runs;
 *   load_multiboot()    copies the segments into guest RAM, clears their
 *                       bss, and writes the multiboot information structure
 *                       (MBI), the memory map, the command lines and the
 *                       modules (-initrd).
 *
 * Layout in guest-physical memory (QEMU's, so a guest finds things where it
 * does under QEMU):
 *
 *   0x9000 - 0x94ff   memory map (struct multiboot_mmap_entry, 24 bytes each)
 *   0x9500 - 0x9557   the MBI (EBX at entry)
 *   kernel            its segments at their physical addresses (>= 1 MiB for
 *                     every kvm-unit-tests image)
 *   after the kernel  page-aligned: the modules, then the command lines and
 *                     the boot loader name
 *
 * The vCPU is then entered in 32-bit protected mode (EntryMode::Protected32)
 * at the kernel's entry with EAX = MULTIBOOT_BOOTLOADER_MAGIC and EBX = the
 * MBI's address, as the multiboot specification (3.2) says.
 */
#pragma once

#include "qapi/result.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace hw::x86 {

/// The header's magic and the one the boot loader leaves in EAX.
inline constexpr uint32_t MULTIBOOT_HEADER_MAGIC = 0x1BADB002;
inline constexpr uint32_t MULTIBOOT_BOOTLOADER_MAGIC = 0x2BADB002;
/// The header must lie, 4-byte aligned, within the image's first 8 KiB.
inline constexpr size_t MULTIBOOT_SEARCH = 8192;
/// Header flags: bit 2 asks for a video mode, bit 16 says the header's
/// address fields give the load layout (the "a.out kludge").
inline constexpr uint32_t MULTIBOOT_HEADER_VIDEO_MODE = 1U << 2;
inline constexpr uint32_t MULTIBOOT_HEADER_HAS_ADDR = 1U << 16;

/// Where QEMU puts the memory map and the MBI.
inline constexpr uint32_t MULTIBOOT_MMAP_ADDR = 0x9000;
inline constexpr uint32_t MULTIBOOT_MBI_ADDR = 0x9500;
/// Size of the MBI (multiboot 1, up to the VBE fields).
inline constexpr uint32_t MULTIBOOT_MBI_SIZE = 88;

/// MBI flags (multiboot specification 3.3).
inline constexpr uint32_t MULTIBOOT_INFO_MEMORY = 1U << 0;
inline constexpr uint32_t MULTIBOOT_INFO_BOOTDEV = 1U << 1;
inline constexpr uint32_t MULTIBOOT_INFO_CMDLINE = 1U << 2;
inline constexpr uint32_t MULTIBOOT_INFO_MODS = 1U << 3;
inline constexpr uint32_t MULTIBOOT_INFO_MEM_MAP = 1U << 6;
inline constexpr uint32_t MULTIBOOT_INFO_BOOT_LOADER_NAME = 1U << 9;

/// MBI field offsets.
inline constexpr uint32_t MBI_FLAGS = 0;
inline constexpr uint32_t MBI_MEM_LOWER = 4;
inline constexpr uint32_t MBI_MEM_UPPER = 8;
inline constexpr uint32_t MBI_BOOT_DEVICE = 12;
inline constexpr uint32_t MBI_CMDLINE = 16;
inline constexpr uint32_t MBI_MODS_COUNT = 20;
inline constexpr uint32_t MBI_MODS_ADDR = 24;
inline constexpr uint32_t MBI_MMAP_LENGTH = 44;
inline constexpr uint32_t MBI_MMAP_ADDR = 48;
inline constexpr uint32_t MBI_BOOT_LOADER_NAME = 64;

/// Memory map entry types.
inline constexpr uint32_t MULTIBOOT_MEMORY_AVAILABLE = 1;
inline constexpr uint32_t MULTIBOOT_MEMORY_RESERVED = 2;

/// One piece of the image to place in guest memory.
struct MultibootSegment {
    uint32_t paddr { 0 };
    uint32_t file_offset { 0 };
    uint32_t file_size { 0 };
    /// file_size plus the bss, cleared.
    uint32_t mem_size { 0 };
};

/// A checked multiboot kernel.
struct MultibootKernel {
    uint32_t header_flags { 0 };
    uint32_t entry { 0 };
    std::vector<MultibootSegment> segments;
    /// Warnings QEMU prints and carries on after ("multiboot knows VBE.
    /// we don't.").
    std::vector<std::string> warnings;

    /// The first byte above every segment.
    uint64_t end() const;
};

/// Finds the multiboot header and checks the image.  Errors, each naming
/// what is wrong (the start is QEMU 7.2's text where it has one):
/// "invalid kernel header" (no multiboot header: seoib loads nothing else),
/// "Cannot load x86-64 image, give a 32bit one.", "Error while loading elf
/// kernel: ..." (not an ELF32 i386 executable, program headers or segment
/// data past the end of the file, a segment above 4 GiB), and for the
/// a.out kludge, address fields that contradict each other or the file.
qapi::Result<MultibootKernel> parse_multiboot(std::span<const uint8_t> image);

/// A module (-initrd FILE[ ARGS][,FILE...]).
struct MultibootModule {
    /// Its command line: the -initrd text of this module ("file args").
    std::string cmdline;
    std::vector<uint8_t> data;
};

/// Guest RAM as QEMU's PC boards split it around the 4 GiB PCI hole.
struct PcMemoryLayout {
    uint64_t below_4g { 0 };
    uint64_t above_4g { 0 };
};

/// q35's split (pc_q35_init): RAM of 2.75 GiB and more keeps only 2 GiB
/// below 4 GiB; less stays below up to 2.75 GiB.
PcMemoryLayout q35_memory_layout(uint64_t ram_size);

/// What load_multiboot() needs besides the kernel.
struct MultibootBootInfo {
    /// The kernel's command line as QEMU builds it: "FILE ARGS" (argv[0]
    /// is the -kernel path, then -append).
    std::string cmdline;
    std::vector<MultibootModule> modules;
    PcMemoryLayout memory;
};

/// Where to enter the kernel.
struct MultibootEntry {
    uint32_t entry { 0 };
    uint32_t mbi_addr { MULTIBOOT_MBI_ADDR };
};

/// Copies `kernel` (parsed from `image`) into `ram_below_4g` (guest RAM from
/// GPA 0), clears the bss and writes the MBI, the memory map, the command
/// lines and the modules.  Errors: a segment, a module or the information
/// structure does not fit in that RAM or overlaps the MBI.
qapi::Result<MultibootEntry>
load_multiboot(std::span<std::byte> ram_below_4g, const MultibootKernel &kernel,
               std::span<const uint8_t> image, const MultibootBootInfo &info);

} // namespace hw::x86
