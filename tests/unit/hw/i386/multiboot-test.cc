/*
 * The multiboot loader (hw/i386/multiboot.h) on images built here, byte by
 * byte: a minimal ELF32 i386 executable with a multiboot header, and the
 * ways an image can be wrong (not ELF, no header, a bad checksum, x86-64,
 * truncated, segments outside RAM or over the MBI).  Plus what the loader
 * writes: segments, bss, the MBI, the memory map, command lines, modules.
 * Errors are checked by their whole text: users see it.
 */
#include "hw/i386/multiboot.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

using hw::x86::MultibootBootInfo;
using hw::x86::MultibootKernel;

// The test kernel: one segment of CODE_SIZE bytes at LOAD_ADDR (1 MiB, as
// kvm-unit-tests' images load at 4 MiB) plus BSS_SIZE of bss.
constexpr uint32_t LOAD_ADDR = 0x100000;
constexpr uint32_t ENTRY = LOAD_ADDR + 0x20;
constexpr uint32_t CODE_SIZE = 0x100;
constexpr uint32_t BSS_SIZE = 0x1000;
constexpr size_t EHDR = 52, PHDR = 32;
constexpr size_t CODE_OFFSET = 0x80;
constexpr size_t RAM_SIZE = 4 << 20;

void put16(std::vector<uint8_t> &b, size_t at, uint16_t v)
{
    b[at] = static_cast<uint8_t>(v);
    b[at + 1] = static_cast<uint8_t>(v >> 8);
}

void put32(std::vector<uint8_t> &b, size_t at, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        b[at + i] = static_cast<uint8_t>(v >> (8 * i));
    }
}

uint32_t get32(const std::vector<std::byte> &b, size_t at)
{
    uint32_t v = 0;
    std::memcpy(&v, b.data() + at, 4);
    return v;
}

std::string get_string(const std::vector<std::byte> &b, size_t at)
{
    std::string s;
    for (size_t i = at; i < b.size() && b[i] != std::byte { 0 }; i++) {
        s += static_cast<char>(b[i]);
    }
    return s;
}

/// A multiboot header (magic, flags, checksum) at `at`.
void put_multiboot_header(std::vector<uint8_t> &b, size_t at, uint32_t flags)
{
    put32(b, at, hw::x86::MULTIBOOT_HEADER_MAGIC);
    put32(b, at + 4, flags);
    put32(b, at + 8, 0U - hw::x86::MULTIBOOT_HEADER_MAGIC - flags);
}

/// An ELF32 i386 executable: the ELF header, one PT_LOAD program header,
/// the multiboot header at the start of the code, the code bytes 0xAA.
std::vector<uint8_t> elf_image(uint32_t paddr = LOAD_ADDR,
                               uint32_t memsz = CODE_SIZE + BSS_SIZE)
{
    std::vector<uint8_t> b(CODE_OFFSET + CODE_SIZE, 0);
    const uint8_t ident[] = { 0x7f, 'E', 'L', 'F', 1, 1, 1 };
    std::memcpy(b.data(), ident, sizeof(ident));
    put16(b, 16, 2);       // ET_EXEC
    put16(b, 18, 3);       // EM_386
    put32(b, 20, 1);       // EV_CURRENT
    put32(b, 24, ENTRY);   // e_entry
    put32(b, 28, EHDR);    // e_phoff
    put16(b, 40, EHDR);    // e_ehsize
    put16(b, 42, PHDR);    // e_phentsize
    put16(b, 44, 1);       // e_phnum
    put32(b, EHDR + 0, 1); // PT_LOAD
    put32(b, EHDR + 4, CODE_OFFSET);
    put32(b, EHDR + 8, paddr);  // p_vaddr
    put32(b, EHDR + 12, paddr); // p_paddr
    put32(b, EHDR + 16, CODE_SIZE);
    put32(b, EHDR + 20, memsz);
    std::memset(b.data() + CODE_OFFSET, 0xaa, CODE_SIZE);
    put_multiboot_header(b, CODE_OFFSET, 0);
    return b;
}

std::string parse_error(const std::vector<uint8_t> &image)
{
    auto k = hw::x86::parse_multiboot(image);
    return k ? "(parsed)" : k.error().message();
}

MultibootBootInfo boot_info()
{
    MultibootBootInfo info;
    info.cmdline = "test.flat -v";
    info.memory = hw::x86::q35_memory_layout(RAM_SIZE);
    return info;
}

// ---- parsing ---------------------------------------------------------------

TEST(MultibootParse, ElfImageGivesEntryAndSegment)
{
    auto k = hw::x86::parse_multiboot(elf_image());

    ASSERT_TRUE(k.has_value()) << k.error().message();
    EXPECT_EQ(k.value().entry, ENTRY);
    ASSERT_EQ(k.value().segments.size(), 1U);
    EXPECT_EQ(k.value().segments[0].paddr, LOAD_ADDR);
    EXPECT_EQ(k.value().segments[0].file_size, CODE_SIZE);
    EXPECT_EQ(k.value().segments[0].mem_size, CODE_SIZE + BSS_SIZE);
}

TEST(MultibootParse, EmptyFileIsAnInvalidKernelHeader)
{
    EXPECT_EQ(parse_error({}), "invalid kernel header: the file is empty");
}

TEST(MultibootParse, TextFileHasNoMultibootHeader)
{
    const std::string text = "hello world this is not a kernel\n";

    EXPECT_EQ(parse_error(std::vector<uint8_t>(text.begin(), text.end())),
              "invalid kernel header: no multiboot header in the first 8192 "
              "bytes (seoib-vm boots multiboot v1 kernels only)");
}

TEST(MultibootParse, ElfWithoutMultibootHeaderIsRefused)
{
    std::vector<uint8_t> image = elf_image();
    put32(image, CODE_OFFSET, 0);

    EXPECT_EQ(parse_error(image),
              "invalid kernel header: no multiboot header in the first 8192 "
              "bytes (seoib-vm boots multiboot v1 kernels only)");
}

TEST(MultibootParse, BadChecksumIsNoHeader)
{
    std::vector<uint8_t> image = elf_image();
    put32(image, CODE_OFFSET + 8, 0x12345678);

    EXPECT_NE(parse_error(image).find("no multiboot header"),
              std::string::npos);
}

TEST(MultibootParse, HeaderPastTheFirst8KiBIsNotFound)
{
    std::vector<uint8_t> image = elf_image();
    put32(image, CODE_OFFSET, 0);
    image.resize(hw::x86::MULTIBOOT_SEARCH + 64, 0);
    put_multiboot_header(image, hw::x86::MULTIBOOT_SEARCH, 0);

    EXPECT_NE(parse_error(image).find("no multiboot header"),
              std::string::npos);
}

TEST(MultibootParse, X86_64ImageGetsQemusText)
{
    std::vector<uint8_t> image = elf_image();
    put16(image, 18, 62); // EM_X86_64

    EXPECT_EQ(parse_error(image), "Cannot load x86-64 image, give a 32bit one.");
}

TEST(MultibootParse, NotElfWithoutAddressFieldsIsAnElfError)
{
    std::vector<uint8_t> image = elf_image();
    image[0] = 0;

    EXPECT_EQ(parse_error(image),
              "Error while loading elf kernel: not an ELF file, and the "
              "multiboot header has no address fields (flag 16)");
}

TEST(MultibootParse, BigEndianElfIsRefused)
{
    std::vector<uint8_t> image = elf_image();
    image[5] = 2; // ELFDATA2MSB

    EXPECT_EQ(parse_error(image), "Error while loading elf kernel: not a "
                                  "little-endian ELF32 i386 executable");
}

TEST(MultibootParse, TruncatedSegmentDataIsRefused)
{
    std::vector<uint8_t> image = elf_image();
    image.resize(CODE_OFFSET + CODE_SIZE / 2);

    EXPECT_EQ(parse_error(image),
              "Error while loading elf kernel: segment 0 (0x100 bytes at file "
              "offset 0x80) is past the end of the 256-byte file "
              "(truncated?)");
}

TEST(MultibootParse, TruncatedProgramHeadersAreRefused)
{
    std::vector<uint8_t> image = elf_image();
    put32(image, 28, 0x1000); // e_phoff past the end

    EXPECT_EQ(parse_error(image),
              "Error while loading elf kernel: the program headers are past "
              "the end of the file (truncated?)");
}

TEST(MultibootParse, SegmentSmallerInMemoryThanInFileIsRefused)
{
    EXPECT_EQ(parse_error(elf_image(LOAD_ADDR, CODE_SIZE / 2)),
              "Error while loading elf kernel: segment 0 is smaller in memory "
              "(0x80) than in the file (0x100)");
}

TEST(MultibootParse, SegmentAbove4GiBIsRefused)
{
    EXPECT_EQ(parse_error(elf_image(0xfffff000, 0x2000)),
              "Error while loading elf kernel: segment 0 at 0xfffff000 ends "
              "above 4 GiB");
}

TEST(MultibootParse, VideoModeRequestWarnsAsQemu)
{
    std::vector<uint8_t> image = elf_image();
    put_multiboot_header(image, CODE_OFFSET,
                         hw::x86::MULTIBOOT_HEADER_VIDEO_MODE);

    auto k = hw::x86::parse_multiboot(image);

    ASSERT_TRUE(k.has_value()) << k.error().message();
    EXPECT_EQ(k.value().warnings,
              std::vector<std::string> { "multiboot knows VBE. we don't." });
}

/// An a.out-kludge image: header at offset 0 with address fields, loaded
/// from the file's start at LOAD_ADDR.
std::vector<uint8_t> aout_image(uint32_t load_end, uint32_t bss_end)
{
    std::vector<uint8_t> b(0x100, 0x90);
    put_multiboot_header(b, 0, hw::x86::MULTIBOOT_HEADER_HAS_ADDR);
    put32(b, 12, LOAD_ADDR);     // header_addr
    put32(b, 16, LOAD_ADDR);     // load_addr
    put32(b, 20, load_end);      // load_end_addr
    put32(b, 24, bss_end);       // bss_end_addr
    put32(b, 28, LOAD_ADDR + 32); // entry_addr
    return b;
}

TEST(MultibootParse, AddressFieldsGiveTheLayout)
{
    auto k = hw::x86::parse_multiboot(aout_image(LOAD_ADDR + 0x100,
                                                 LOAD_ADDR + 0x2000));

    ASSERT_TRUE(k.has_value()) << k.error().message();
    EXPECT_EQ(k.value().entry, LOAD_ADDR + 32);
    ASSERT_EQ(k.value().segments.size(), 1U);
    EXPECT_EQ(k.value().segments[0].file_size, 0x100U);
    EXPECT_EQ(k.value().segments[0].mem_size, 0x2000U);
}

TEST(MultibootParse, AddressFieldsPastTheFileAreRefused)
{
    EXPECT_EQ(parse_error(aout_image(LOAD_ADDR + 0x1000, 0)),
              "invalid multiboot header: load_end_addr 0x101000 is past the "
              "end of the file");
}

// ---- loading -----------------------------------------------------------------

class MultibootLoad : public ::testing::Test {
protected:
    std::vector<std::byte> ram = std::vector<std::byte>(RAM_SIZE, std::byte { 0x55 });

    qapi::Result<hw::x86::MultibootEntry>
    load(const std::vector<uint8_t> &image,
         const MultibootBootInfo &info = boot_info())
    {
        MultibootKernel k = MUST(hw::x86::parse_multiboot(image));
        return hw::x86::load_multiboot(ram, k, image, info);
    }
};

TEST_F(MultibootLoad, EntersAtTheKernelsEntryWithTheMbiAt0x9500)
{
    auto entry = load(elf_image());

    ASSERT_TRUE(entry.has_value()) << entry.error().message();
    EXPECT_EQ(entry.value().entry, ENTRY);
    EXPECT_EQ(entry.value().mbi_addr, 0x9500U);
}

TEST_F(MultibootLoad, CopiesTheSegmentAndClearsItsBss)
{
    ASSERT_TRUE(load(elf_image()).has_value());

    EXPECT_EQ(ram[LOAD_ADDR + CODE_SIZE - 1], std::byte { 0xaa });
    EXPECT_EQ(ram[LOAD_ADDR + CODE_SIZE], std::byte { 0 });
    EXPECT_EQ(ram[LOAD_ADDR + CODE_SIZE + BSS_SIZE - 1], std::byte { 0 });
}

TEST_F(MultibootLoad, MbiHasQemusFlagsAndMemorySizes)
{
    ASSERT_TRUE(load(elf_image()).has_value());

    EXPECT_EQ(get32(ram, 0x9500 + hw::x86::MBI_FLAGS), 0x24fU);
    EXPECT_EQ(get32(ram, 0x9500 + hw::x86::MBI_MEM_LOWER), 640U);
    EXPECT_EQ(get32(ram, 0x9500 + hw::x86::MBI_MEM_UPPER),
              (RAM_SIZE >> 10) - 1024);
}

TEST_F(MultibootLoad, CommandLineIsTheKernelPathAndAppend)
{
    ASSERT_TRUE(load(elf_image()).has_value());

    EXPECT_EQ(get_string(ram, get32(ram, 0x9500 + hw::x86::MBI_CMDLINE)),
              "test.flat -v");
}

TEST_F(MultibootLoad, MemoryMapMarksLowAndHighRamAvailable)
{
    ASSERT_TRUE(load(elf_image()).has_value());

    // Entry 3 (after the low RAM, EBDA and BIOS entries): RAM from 1 MiB.
    const uint32_t third = 0x9000 + 3 * 24;
    EXPECT_EQ(get32(ram, third), 20U);
    EXPECT_EQ(get32(ram, third + 4), 0x100000U);
    EXPECT_EQ(get32(ram, third + 12), RAM_SIZE - 0x100000);
    EXPECT_EQ(get32(ram, third + 20), hw::x86::MULTIBOOT_MEMORY_AVAILABLE);
    EXPECT_EQ(get32(ram, 0x9500 + hw::x86::MBI_MMAP_LENGTH), 5U * 24);
}

TEST_F(MultibootLoad, ModulesArePageAlignedAfterTheKernel)
{
    MultibootBootInfo info = boot_info();
    info.modules.push_back({ "env.txt", { 'A', '=', '1', '\n' } });

    ASSERT_TRUE(load(elf_image(), info).has_value());

    const uint32_t mods = get32(ram, 0x9500 + hw::x86::MBI_MODS_ADDR);
    EXPECT_EQ(get32(ram, 0x9500 + hw::x86::MBI_MODS_COUNT), 1U);
    EXPECT_EQ(get32(ram, mods), LOAD_ADDR + 0x2000);
    EXPECT_EQ(get32(ram, mods + 4), LOAD_ADDR + 0x2000 + 4);
    EXPECT_EQ(get_string(ram, get32(ram, mods + 8)), "env.txt");
    EXPECT_EQ(ram[LOAD_ADDR + 0x2000], std::byte { 'A' });
}

TEST_F(MultibootLoad, SegmentOutsideRamIsRefusedBeforeAnythingIsWritten)
{
    auto entry = load(elf_image(RAM_SIZE - 0x100, CODE_SIZE + BSS_SIZE));

    ASSERT_FALSE(entry.has_value());
    EXPECT_EQ(entry.error().message(),
              "Error while loading elf kernel: segment 0 (0x3fff00-0x401000) "
              "is outside the 4 MiB of RAM");
    EXPECT_EQ(ram[RAM_SIZE - 0x100], std::byte { 0x55 });
}

TEST_F(MultibootLoad, SegmentOverTheMbiIsRefused)
{
    auto entry = load(elf_image(0x9000, CODE_SIZE));

    ASSERT_FALSE(entry.has_value());
    EXPECT_EQ(entry.error().message(),
              "Error while loading elf kernel: segment 0 (0x9000-0x9100) "
              "overlaps the multiboot information at 0x9000-0x9558");
}

TEST_F(MultibootLoad, ModuleThatDoesNotFitIsRefused)
{
    MultibootBootInfo info = boot_info();
    info.modules.push_back({ "big", std::vector<uint8_t>(RAM_SIZE, 0) });

    auto entry = load(elf_image(), info);

    ASSERT_FALSE(entry.has_value());
    EXPECT_EQ(entry.error().message(),
              "module 'big' does not fit in the 4 MiB of RAM after the kernel");
}

// ---- the PC memory layout ------------------------------------------------

TEST(Q35MemoryLayout, SmallRamStaysBelow4GiB)
{
    auto layout = hw::x86::q35_memory_layout(128ULL << 20);

    EXPECT_EQ(layout.below_4g, 128ULL << 20);
    EXPECT_EQ(layout.above_4g, 0U);
}

TEST(Q35MemoryLayout, ThreeGiBKeepsTwoBelow)
{
    auto layout = hw::x86::q35_memory_layout(3ULL << 30);

    EXPECT_EQ(layout.below_4g, 2ULL << 30);
    EXPECT_EQ(layout.above_4g, 1ULL << 30);
}

// ---- a real image ----------------------------------------------------------

TEST(MultibootParse, KvmUnitTestsDummyParses)
{
    const char *dir = std::getenv("SEOIB_KUT_DIR");
    const std::string path =
        std::string(dir ? dir : SEOIB_SOURCE_ROOT "/../shared/kvm-unit-tests") +
        "/dummy.flat";
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        GTEST_SKIP() << "no kvm-unit-tests images at " << path;
    }
    std::vector<uint8_t> image((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());

    auto k = hw::x86::parse_multiboot(image);

    ASSERT_TRUE(k.has_value()) << k.error().message();
    EXPECT_EQ(k.value().segments.size(), 2U);
    EXPECT_GE(k.value().segments[0].paddr, 0x100000U);
}

} // namespace
