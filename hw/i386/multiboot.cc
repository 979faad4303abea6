#include "hw/i386/multiboot.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>

namespace hw::x86 {

namespace {

// ELF (System V ABI, 32-bit): the identification and header fields used.
constexpr uint8_t ELF_MAGIC[4] = { 0x7f, 'E', 'L', 'F' };
constexpr uint8_t ELFCLASS32 = 1;
constexpr uint8_t ELFDATA2LSB = 1;
constexpr uint16_t ET_EXEC = 2;
constexpr uint16_t EM_386 = 3;
constexpr uint16_t EM_X86_64 = 62;
constexpr uint32_t PT_LOAD = 1;
constexpr size_t ELF32_EHDR_SIZE = 52;
constexpr size_t ELF32_PHDR_SIZE = 32;
// ELF64's e_machine sits where ELF32's does (offset 18).
constexpr size_t E_TYPE = 16, E_MACHINE = 18, E_ENTRY = 24, E_PHOFF = 28,
                 E_PHENTSIZE = 42, E_PHNUM = 44;
constexpr size_t P_TYPE = 0, P_OFFSET = 4, P_PADDR = 12, P_FILESZ = 16,
                 P_MEMSZ = 20;

// The multiboot header (specification 3.1.1) after magic, flags, checksum.
constexpr size_t MB_HEADER_ADDR = 12, MB_LOAD_ADDR = 16, MB_LOAD_END_ADDR = 20,
                 MB_BSS_END_ADDR = 24, MB_ENTRY_ADDR = 28, MB_ADDR_END = 32;

constexpr uint64_t FOUR_GIB = 1ULL << 32;
constexpr uint64_t ONE_MIB = 1ULL << 20;
constexpr uint32_t PAGE_SIZE = 4096;
// The real-mode memory QEMU reports: 640 KiB, the EBDA's 1 KiB reserved.
constexpr uint64_t LOW_MEMORY_END = 0x9fc00;
constexpr uint64_t CONVENTIONAL_END = 0xa0000;
constexpr uint64_t BIOS_START = 0xf0000;
// The BIOS flash mapped below 4 GiB on a PC (256 KiB).
constexpr uint64_t BIOS_FLASH_START = 0xfffc0000;
constexpr uint32_t MMAP_ENTRY_SIZE = 24;
// "No BIOS drive", partitions unused: what QEMU passes.
constexpr uint32_t BOOT_DEVICE_NONE = 0x8000ffff;
constexpr std::string_view BOOT_LOADER_NAME = "seoib-vm";

uint16_t le16(std::span<const uint8_t> b, size_t at)
{
    return static_cast<uint16_t>(b[at] | b[at + 1] << 8);
}

uint32_t le32(std::span<const uint8_t> b, size_t at)
{
    return static_cast<uint32_t>(b[at]) | static_cast<uint32_t>(b[at + 1]) << 8 |
           static_cast<uint32_t>(b[at + 2]) << 16 |
           static_cast<uint32_t>(b[at + 3]) << 24;
}

void put32(std::span<std::byte> mem, uint64_t at, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        mem[at + i] = std::byte(v >> (8 * i));
    }
}

void put64(std::span<std::byte> mem, uint64_t at, uint64_t v)
{
    put32(mem, at, static_cast<uint32_t>(v));
    put32(mem, at + 4, static_cast<uint32_t>(v >> 32));
}

qapi::Error elf_error(std::string what)
{
    return qapi::Error("Error while loading elf kernel: " + what);
}

/// The offset of a valid multiboot header, if any (QEMU's search).
std::optional<size_t> find_header(std::span<const uint8_t> image)
{
    const size_t limit = std::min(image.size(), MULTIBOOT_SEARCH);
    for (size_t i = 0; i + 12 <= limit; i += 4) {
        if (le32(image, i) != MULTIBOOT_HEADER_MAGIC) {
            continue;
        }
        const uint32_t sum =
            MULTIBOOT_HEADER_MAGIC + le32(image, i + 4) + le32(image, i + 8);
        if (sum == 0) {
            return i;
        }
    }
    return std::nullopt;
}

/// The a.out kludge: the header's own address fields (specification
/// 3.1.3).  The image from header_addr - (load_addr offset) is loaded.
qapi::Result<void> parse_address_fields(std::span<const uint8_t> image,
                                        size_t header, MultibootKernel &k)
{
    if (header + MB_ADDR_END > image.size()) {
        return qapi::Error("invalid multiboot header: the address fields are "
                           "past the end of the file");
    }
    const uint32_t header_addr = le32(image, header + MB_HEADER_ADDR);
    const uint32_t load_addr = le32(image, header + MB_LOAD_ADDR);
    uint32_t load_end = le32(image, header + MB_LOAD_END_ADDR);
    const uint32_t bss_end = le32(image, header + MB_BSS_END_ADDR);
    if (header_addr < load_addr || header_addr - load_addr > header) {
        return qapi::Error(fmt::format(
            "invalid multiboot header: header_addr {:#x} is not in the "
            "image loaded at {:#x}",
            header_addr, load_addr));
    }
    const uint32_t file_offset =
        static_cast<uint32_t>(header - (header_addr - load_addr));
    const uint64_t available = image.size() - file_offset;
    if (load_end == 0) {
        load_end = static_cast<uint32_t>(
            std::min<uint64_t>(load_addr + available, FOUR_GIB - 1));
    }
    if (load_end < load_addr || load_end - load_addr > available) {
        return qapi::Error(fmt::format(
            "invalid multiboot header: load_end_addr {:#x} is past the end "
            "of the file",
            load_end));
    }
    if (bss_end != 0 && bss_end < load_end) {
        return qapi::Error(fmt::format(
            "invalid multiboot header: bss_end_addr {:#x} is below "
            "load_end_addr {:#x}",
            bss_end, load_end));
    }
    k.entry = le32(image, header + MB_ENTRY_ADDR);
    k.segments.push_back(MultibootSegment {
        .paddr = load_addr,
        .file_offset = file_offset,
        .file_size = load_end - load_addr,
        .mem_size = (bss_end != 0 ? bss_end : load_end) - load_addr });
    return {};
}

qapi::Result<void> parse_elf(std::span<const uint8_t> image,
                             MultibootKernel &k)
{
    if (image.size() < ELF32_EHDR_SIZE ||
        !std::equal(std::begin(ELF_MAGIC), std::end(ELF_MAGIC), image.begin())) {
        return elf_error("not an ELF file, and the multiboot header has no "
                         "address fields (flag 16)");
    }
    if (le16(image, E_MACHINE) == EM_X86_64) {
        return qapi::Error("Cannot load x86-64 image, give a 32bit one.");
    }
    if (image[4] != ELFCLASS32 || image[5] != ELFDATA2LSB ||
        le16(image, E_TYPE) != ET_EXEC || le16(image, E_MACHINE) != EM_386) {
        return elf_error("not a little-endian ELF32 i386 executable");
    }
    const uint32_t phoff = le32(image, E_PHOFF);
    const uint16_t phentsize = le16(image, E_PHENTSIZE);
    const uint16_t phnum = le16(image, E_PHNUM);
    if (phentsize < ELF32_PHDR_SIZE ||
        phoff + uint64_t { phentsize } * phnum > image.size()) {
        return elf_error("the program headers are past the end of the file "
                         "(truncated?)");
    }
    for (uint16_t i = 0; i < phnum; i++) {
        const size_t ph = phoff + size_t { phentsize } * i;
        if (le32(image, ph + P_TYPE) != PT_LOAD) {
            continue;
        }
        MultibootSegment seg { .paddr = le32(image, ph + P_PADDR),
                               .file_offset = le32(image, ph + P_OFFSET),
                               .file_size = le32(image, ph + P_FILESZ),
                               .mem_size = le32(image, ph + P_MEMSZ) };
        if (uint64_t { seg.file_offset } + seg.file_size > image.size()) {
            return elf_error(fmt::format(
                "segment {} ({:#x} bytes at file offset {:#x}) is past the "
                "end of the {}-byte file (truncated?)",
                i, seg.file_size, seg.file_offset, image.size()));
        }
        if (seg.mem_size < seg.file_size) {
            return elf_error(fmt::format(
                "segment {} is smaller in memory ({:#x}) than in the file "
                "({:#x})",
                i, seg.mem_size, seg.file_size));
        }
        if (uint64_t { seg.paddr } + seg.mem_size > FOUR_GIB) {
            return elf_error(
                fmt::format("segment {} at {:#x} ends above 4 GiB", i,
                            seg.paddr));
        }
        k.segments.push_back(seg);
    }
    if (k.segments.empty()) {
        return elf_error("no loadable segment");
    }
    k.entry = le32(image, E_ENTRY);
    return {};
}

} // namespace

uint64_t MultibootKernel::end() const
{
    uint64_t end = 0;
    for (const MultibootSegment &s : segments) {
        end = std::max(end, uint64_t { s.paddr } + s.mem_size);
    }
    return end;
}

qapi::Result<MultibootKernel> parse_multiboot(std::span<const uint8_t> image)
{
    if (image.empty()) {
        return qapi::Error("invalid kernel header: the file is empty");
    }
    std::optional<size_t> header = find_header(image);
    if (!header) {
        return qapi::Error(fmt::format(
            "invalid kernel header: no multiboot header in the first {} "
            "bytes (seoib-vm boots multiboot v1 kernels only)",
            MULTIBOOT_SEARCH));
    }
    MultibootKernel k;
    k.header_flags = le32(image, *header + 4);
    if (k.header_flags & MULTIBOOT_HEADER_VIDEO_MODE) {
        k.warnings.emplace_back("multiboot knows VBE. we don't.");
    }
    if (k.header_flags & MULTIBOOT_HEADER_HAS_ADDR) {
        TRY(parse_address_fields(image, *header, k));
    } else {
        TRY(parse_elf(image, k));
    }
    return k;
}

PcMemoryLayout q35_memory_layout(uint64_t ram_size)
{
    const uint64_t lowmem = ram_size >= 0xb0000000 ? 0x80000000 : 0xb0000000;
    if (ram_size >= lowmem) {
        return { .below_4g = lowmem, .above_4g = ram_size - lowmem };
    }
    return { .below_4g = ram_size, .above_4g = 0 };
}

qapi::Result<MultibootEntry>
load_multiboot(std::span<std::byte> ram, const MultibootKernel &kernel,
               std::span<const uint8_t> image, const MultibootBootInfo &info)
{
    const uint64_t mbi_end = MULTIBOOT_MBI_ADDR + MULTIBOOT_MBI_SIZE;
    if (ram.size() < mbi_end) {
        return qapi::Error(fmt::format(
            "the multiboot information at {:#x} does not fit in {} bytes of "
            "RAM",
            MULTIBOOT_MMAP_ADDR, ram.size()));
    }
    for (size_t i = 0; i < kernel.segments.size(); i++) {
        const MultibootSegment &s = kernel.segments[i];
        const uint64_t end = uint64_t { s.paddr } + s.mem_size;
        if (end > ram.size()) {
            return elf_error(fmt::format(
                "segment {} ({:#x}-{:#x}) is outside the {} MiB of RAM",
                i, s.paddr, end, ram.size() / ONE_MIB));
        }
        if (s.paddr < mbi_end && end > MULTIBOOT_MMAP_ADDR) {
            return elf_error(fmt::format(
                "segment {} ({:#x}-{:#x}) overlaps the multiboot information "
                "at {:#x}-{:#x}",
                i, s.paddr, end, MULTIBOOT_MMAP_ADDR, mbi_end));
        }
    }
    for (const MultibootSegment &s : kernel.segments) {
        std::memcpy(ram.data() + s.paddr, image.data() + s.file_offset,
                    s.file_size);
        std::memset(ram.data() + s.paddr + s.file_size, 0,
                    s.mem_size - s.file_size);
    }

    // Modules, then the strings, page-aligned after the kernel.
    uint64_t next = (kernel.end() + PAGE_SIZE - 1) / PAGE_SIZE * PAGE_SIZE;
    auto place = [&](std::span<const std::byte> bytes, uint64_t align,
                     std::string_view what) -> qapi::Result<uint32_t> {
        next = (next + align - 1) / align * align;
        if (next + bytes.size() > ram.size()) {
            return qapi::Error(fmt::format(
                "{} does not fit in the {} MiB of RAM after the kernel", what,
                ram.size() / ONE_MIB));
        }
        std::memcpy(ram.data() + next, bytes.data(), bytes.size());
        const uint64_t at = next;
        next += bytes.size();
        return static_cast<uint32_t>(at);
    };
    auto place_string = [&](std::string_view s,
                            std::string_view what) -> qapi::Result<uint32_t> {
        std::vector<std::byte> z(s.size() + 1);
        std::memcpy(z.data(), s.data(), s.size());
        return place(z, 1, what);
    };

    std::vector<std::array<uint32_t, 4>> mods;
    for (const MultibootModule &m : info.modules) {
        const uint32_t start =
            TRY(place(std::as_bytes(std::span(m.data)), PAGE_SIZE,
                      fmt::format("module '{}'", m.cmdline)));
        mods.push_back({ start, start + static_cast<uint32_t>(m.data.size()),
                         0, 0 });
    }
    for (size_t i = 0; i < mods.size(); i++) {
        mods[i][2] = TRY(place_string(info.modules[i].cmdline,
                                      "a module's command line"));
    }
    const uint32_t cmdline = TRY(place_string(info.cmdline, "the command line"));
    const uint32_t loader_name =
        TRY(place_string(BOOT_LOADER_NAME, "the boot loader name"));
    std::vector<std::byte> mod_table(mods.size() * 16);
    const uint32_t mods_addr = TRY(place(mod_table, 4, "the module list"));
    for (size_t i = 0; i < mods.size(); i++) {
        for (size_t j = 0; j < 4; j++) {
            put32(ram, mods_addr + 16 * i + 4 * j, mods[i][j]);
        }
    }

    // The memory map: QEMU's e820 table for a PC (SeaBIOS's view).
    struct Range {
        uint64_t base, length;
        uint32_t type;
    };
    std::vector<Range> map {
        { 0, LOW_MEMORY_END, MULTIBOOT_MEMORY_AVAILABLE },
        { LOW_MEMORY_END, CONVENTIONAL_END - LOW_MEMORY_END,
          MULTIBOOT_MEMORY_RESERVED },
        { BIOS_START, ONE_MIB - BIOS_START, MULTIBOOT_MEMORY_RESERVED },
    };
    if (info.memory.below_4g > ONE_MIB) {
        map.push_back({ ONE_MIB, info.memory.below_4g - ONE_MIB,
                        MULTIBOOT_MEMORY_AVAILABLE });
    }
    map.push_back({ BIOS_FLASH_START, FOUR_GIB - BIOS_FLASH_START,
                    MULTIBOOT_MEMORY_RESERVED });
    if (info.memory.above_4g > 0) {
        map.push_back({ FOUR_GIB, info.memory.above_4g,
                        MULTIBOOT_MEMORY_AVAILABLE });
    }
    for (size_t i = 0; i < map.size(); i++) {
        const uint64_t at = MULTIBOOT_MMAP_ADDR + MMAP_ENTRY_SIZE * i;
        // `size` counts the bytes after itself.
        put32(ram, at, MMAP_ENTRY_SIZE - 4);
        put64(ram, at + 4, map[i].base);
        put64(ram, at + 12, map[i].length);
        put32(ram, at + 20, map[i].type);
    }

    const uint64_t mbi = MULTIBOOT_MBI_ADDR;
    std::memset(ram.data() + mbi, 0, MULTIBOOT_MBI_SIZE);
    put32(ram, mbi + MBI_FLAGS,
          MULTIBOOT_INFO_MEMORY | MULTIBOOT_INFO_BOOTDEV |
              MULTIBOOT_INFO_CMDLINE | MULTIBOOT_INFO_MODS |
              MULTIBOOT_INFO_MEM_MAP | MULTIBOOT_INFO_BOOT_LOADER_NAME);
    put32(ram, mbi + MBI_MEM_LOWER, 640);
    put32(ram, mbi + MBI_MEM_UPPER,
          static_cast<uint32_t>(
              (std::max(info.memory.below_4g, ONE_MIB) - ONE_MIB) / 1024));
    put32(ram, mbi + MBI_BOOT_DEVICE, BOOT_DEVICE_NONE);
    put32(ram, mbi + MBI_CMDLINE, cmdline);
    put32(ram, mbi + MBI_MODS_COUNT, static_cast<uint32_t>(mods.size()));
    put32(ram, mbi + MBI_MODS_ADDR, mods_addr);
    put32(ram, mbi + MBI_MMAP_LENGTH,
          static_cast<uint32_t>(map.size() * MMAP_ENTRY_SIZE));
    put32(ram, mbi + MBI_MMAP_ADDR, MULTIBOOT_MMAP_ADDR);
    put32(ram, mbi + MBI_BOOT_LOADER_NAME, loader_name);
    return MultibootEntry { .entry = kernel.entry,
                            .mbi_addr = MULTIBOOT_MBI_ADDR };
}

} // namespace hw::x86
