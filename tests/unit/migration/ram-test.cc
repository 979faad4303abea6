/*
 * The "ram" section: QEMU's records, zero pages, pre-copy iteration and
 * the loader's checks.
 */
#include "migration/ram.h"

#include "test-vm.h"

#include <gtest/gtest.h>

#include <vector>

namespace {

using namespace migration;
using namespace migration_test;

constexpr uint64_t PAGE = TARGET_PAGE_SIZE;

std::vector<uint8_t> be64(uint64_t v)
{
    std::vector<uint8_t> b;
    for (int shift = 56; shift >= 0; shift -= 8) {
        b.push_back(uint8_t(v >> shift));
    }
    return b;
}

void append(std::vector<uint8_t> &to, const std::vector<uint8_t> &bytes)
{
    to.insert(to.end(), bytes.begin(), bytes.end());
}

TEST(RAM, SetupAnnouncesTotalAndBlocks)
{
    TestVM vm;
    MemoryWriter w;

    MUST(vm.ram_state.save_setup(w));

    std::vector<uint8_t> golden;
    append(golden, be64(0x12000 | RAM_SAVE_FLAG_MEM_SIZE)); // 18 pages
    append(golden, { 6, 'p', 'c', '.', 'r', 'a', 'm' });
    append(golden, be64(0x10000));
    append(golden, { 7, 'p', 'c', '.', 'b', 'i', 'o', 's' });
    append(golden, be64(0x2000));
    append(golden, be64(RAM_SAVE_FLAG_EOS));
    EXPECT_EQ(w.data(), golden);
}

TEST(RAM, FirstPageNamesItsBlockAndTheNextContinues)
{
    TestVM vm;
    vm.ram[0] = 0xea;
    MemoryWriter w;
    MUST(vm.ram_state.save_setup(w));
    size_t setup_bytes = w.data().size();

    MUST(vm.ram_state.save_iterate(w));

    std::vector<uint8_t> golden;
    append(golden, be64(0 | RAM_SAVE_FLAG_PAGE));
    append(golden, { 6, 'p', 'c', '.', 'r', 'a', 'm' });
    append(golden, { 0xea });
    golden.resize(golden.size() + PAGE - 1);
    append(golden, be64(PAGE | RAM_SAVE_FLAG_ZERO | RAM_SAVE_FLAG_CONTINUE));
    append(golden, { 0x00 });
    const auto &d = w.data();
    EXPECT_EQ(std::vector<uint8_t>(d.begin() + ptrdiff_t(setup_bytes),
                                   d.begin() + ptrdiff_t(setup_bytes +
                                                         golden.size())),
              golden);
}

TEST(RAM, ZeroPagesCostNoPageData)
{
    TestVM vm;
    vm.fill(); // 3 non-zero pages out of 18
    MemoryWriter w;
    MUST(vm.ram_state.save_setup(w));
    uint64_t before = w.transferred();

    auto done = vm.ram_state.save_iterate(w);

    ASSERT_TRUE(done.has_value());
    EXPECT_TRUE(done.value());
    EXPECT_EQ(vm.ram_state.stats().normal_pages, 3u);
    EXPECT_EQ(vm.ram_state.stats().zero_pages, 15u);
    // 18 record headers, two block names, 3 pages of data, 15 fill bytes,
    // EOS.
    EXPECT_EQ(w.transferred() - before,
              18 * 8 + (1 + 6) + (1 + 7) + 3 * PAGE + 15 * 1 + 8);
}

TEST(RAM, SeveralBlocksRoundTrip)
{
    TestVM src;
    src.fill();
    MemoryWriter w;
    MUST(src.ram_state.save_setup(w));
    MUST(src.ram_state.save_iterate(w));
    MUST(src.ram_state.save_complete(w));
    TestVM dst;
    dst.bios[7] = 0x11; // a zero page in the source: must be cleared
    MemoryReader r(w.data());

    MUST(dst.ram_state.load(r, RAM_SECTION_VERSION)); // setup
    MUST(dst.ram_state.load(r, RAM_SECTION_VERSION)); // pages
    MUST(dst.ram_state.load(r, RAM_SECTION_VERSION)); // complete

    EXPECT_TRUE(r.at_end());
    EXPECT_EQ(dst.ram, src.ram);
    EXPECT_EQ(dst.bios, src.bios);
}

TEST(RAM, LaterPassesSendOnlyDirtyPages)
{
    FakeDirtyLog log;
    TestVM src(true, &log);
    src.fill();
    MemoryWriter w;
    MUST(src.ram_state.save_setup(w));
    MUST(src.ram_state.save_iterate(w));
    src.ram[9 * PAGE] = 0x77;
    log.write(0, 9);
    src.bios[0] = 0x88;
    log.write(1, 0);

    uint64_t pending = src.ram_state.pending_exact();
    uint64_t before = w.transferred();
    auto done = src.ram_state.save_iterate(w);

    EXPECT_EQ(pending, 2 * PAGE);
    ASSERT_TRUE(done.has_value());
    EXPECT_TRUE(done.value());
    EXPECT_EQ(src.ram_state.pending_exact(), 0u);
    EXPECT_EQ(w.transferred() - before,
              2 * (8 + PAGE) + (1 + 6) + (1 + 7) + 8);
}

TEST(RAM, DirtyPagesReachTheDestination)
{
    FakeDirtyLog log;
    TestVM src(true, &log);
    MemoryWriter w;
    MUST(src.savevm.save_header(w, TEST_MACHINE));
    MUST(src.savevm.save_setup(w));
    MUST(src.savevm.save_iterate(w));
    src.ram[3 * PAGE + 1] = 0x31; // the guest runs on
    log.write(0, 3);
    MUST(src.savevm.save_iterate(w));
    src.bios[PAGE] = 0x32; // written after the last iteration
    log.write(1, 1);
    MUST(src.savevm.save_complete(w));
    TestVM dst;

    auto result = load_stream(dst, w.data());

    ASSERT_TRUE(result.has_value()) << result.error().message();
    EXPECT_EQ(dst.ram[3 * PAGE + 1], 0x31);
    EXPECT_EQ(dst.bios[PAGE], 0x32);
}

TEST(RAM, IterationBudgetLeavesTheRestPending)
{
    TestVM vm;
    vm.ram_state.set_max_iterate_bytes(4 * PAGE);
    MemoryWriter w;
    MUST(vm.ram_state.save_setup(w));

    auto done = vm.ram_state.save_iterate(w);

    ASSERT_TRUE(done.has_value());
    EXPECT_FALSE(done.value());
    EXPECT_EQ(vm.ram_state.stats().zero_pages, 4u);
    EXPECT_EQ(vm.ram_state.pending_exact(), 14 * PAGE);
}

qapi::Result<void> load_body(TestVM &vm, const std::vector<uint8_t> &body,
                             int version = RAM_SECTION_VERSION)
{
    MemoryReader r(body);
    return vm.ram_state.load(r, version);
}

TEST(RAM, PageOutsideItsBlockIsRefused)
{
    TestVM vm;
    std::vector<uint8_t> body = be64(0x10000 | RAM_SAVE_FLAG_PAGE);
    append(body, { 6, 'p', 'c', '.', 'r', 'a', 'm' });

    auto result = load_body(vm, body);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(),
              "RAM page at offset 0x10000 is outside block 'pc.ram' (0x10000 "
              "bytes), record at stream offset 0");
}

TEST(RAM, UnknownBlockInTheListIsRefused)
{
    TestVM vm;
    std::vector<uint8_t> body = be64(0x1000 | RAM_SAVE_FLAG_MEM_SIZE);
    append(body, { 6, 'p', 'c', '.', 'r', 'o', 'm' });
    append(body, be64(0x1000));

    auto result = load_body(vm, body);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(),
              "Unknown ramblock \"pc.rom\", cannot accept migration");
}

TEST(RAM, BlockOfAnotherSizeIsRefused)
{
    TestVM vm;
    std::vector<uint8_t> body = be64(0x20000 | RAM_SAVE_FLAG_MEM_SIZE);
    append(body, { 6, 'p', 'c', '.', 'r', 'a', 'm' });
    append(body, be64(0x20000));

    auto result = load_body(vm, body);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(),
              "Size mismatch: pc.ram: 0x20000 != 0x10000");
}

TEST(RAM, PageForUnknownBlockIsRefused)
{
    TestVM vm;
    std::vector<uint8_t> body = be64(RAM_SAVE_FLAG_ZERO);
    append(body, { 3, 'v', 'g', 'a', 0 });

    auto result = load_body(vm, body);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(), "RAM page for unknown block 'vga'");
}

TEST(RAM, ContinueWithoutABlockIsRefused)
{
    TestVM vm;
    std::vector<uint8_t> body =
        be64(RAM_SAVE_FLAG_ZERO | RAM_SAVE_FLAG_CONTINUE);
    append(body, { 0 });

    auto result = load_body(vm, body);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(),
              "RAM page continues the previous block but none was named");
}

TEST(RAM, UnknownFlagsAreRefused)
{
    TestVM vm;
    std::vector<uint8_t> body = be64(RAM_SAVE_FLAG_XBZRLE);

    auto result = load_body(vm, body);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(), "Unknown combination of migration "
                                        "flags: 0x40 (record at stream offset "
                                        "0)");
}

TEST(RAM, OnlyVersionFourLoads)
{
    TestVM vm;
    std::vector<uint8_t> body = be64(RAM_SAVE_FLAG_EOS);

    auto result = load_body(vm, body, 3);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(), "ram: unsupported version 3 (only 4)");
}

TEST(RAM, ZeroPageRecordFillsWithItsByte)
{
    TestVM vm;
    std::vector<uint8_t> body = be64(PAGE | RAM_SAVE_FLAG_ZERO);
    append(body, { 7, 'p', 'c', '.', 'b', 'i', 'o', 's', 0xcc });
    append(body, be64(RAM_SAVE_FLAG_EOS));

    auto result = load_body(vm, body);

    ASSERT_TRUE(result.has_value()) << result.error().message();
    EXPECT_EQ(vm.bios[PAGE], 0xcc);
    EXPECT_EQ(vm.bios[2 * PAGE - 1], 0xcc);
    EXPECT_EQ(vm.bios[0], 0x00);
}

// A load into a running VM keeps what it changes: restore() puts back
// pages that held data, zero pages it filled and pages written twice,
// and keeps no copy of a page that was zero.
TEST(RAM, UndoLogPutsBackWhatALoadChanged)
{
    TestVM vm;
    vm.ram[0] = 0xea;              // data, overwritten by a PAGE record
    vm.ram[3 * PAGE + 9] = 0x11;   // data, cleared by a ZERO record
    vm.bios[10] = 0x77;            // data, not in the stream at all
    const std::vector<uint8_t> ram_before = vm.ram;
    const std::vector<uint8_t> bios_before = vm.bios;

    std::vector<uint8_t> page_of_5a(PAGE, 0x5a);
    std::vector<uint8_t> body = be64(0 | RAM_SAVE_FLAG_PAGE);
    append(body, { 6, 'p', 'c', '.', 'r', 'a', 'm' });
    append(body, page_of_5a);
    append(body, be64(3 * PAGE | RAM_SAVE_FLAG_ZERO | RAM_SAVE_FLAG_CONTINUE));
    append(body, { 0 });
    append(body, be64(7 * PAGE | RAM_SAVE_FLAG_PAGE | RAM_SAVE_FLAG_CONTINUE)); // was zero
    append(body, page_of_5a);
    append(body, be64(0 | RAM_SAVE_FLAG_ZERO | RAM_SAVE_FLAG_CONTINUE)); // page 0 again
    append(body, { 0x33 });
    append(body, be64(9 * PAGE | RAM_SAVE_FLAG_ZERO | RAM_SAVE_FLAG_CONTINUE)); // zero stays
    append(body, { 0 });
    append(body, be64(RAM_SAVE_FLAG_EOS));

    RAMUndoLog undo;
    vm.ram_state.set_undo_log(&undo);
    auto result = load_body(vm, body);
    ASSERT_TRUE(result.has_value()) << result.error().message();
    ASSERT_EQ(vm.ram[0], 0x33);
    ASSERT_EQ(vm.ram[3 * PAGE + 9], 0x00);
    ASSERT_EQ(vm.ram[7 * PAGE], 0x5a);
    EXPECT_EQ(undo.changed_pages(), 3u); // pages 0, 3 and 7; 9 was left alone
    EXPECT_EQ(undo.kept_pages(), 2u);    // 0 and 3 held data, 7 was zero

    undo.restore();
    EXPECT_EQ(vm.ram, ram_before);
    EXPECT_EQ(vm.bios, bios_before);
}

} // namespace
