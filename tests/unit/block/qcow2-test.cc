/*
 * qcow2 snapshots against Debian's qemu-img 7.2: images it creates, in every
 * cluster size and refcount width, get snapshots from seoib that qemu-img
 * lists and checks clean, and the other way round.
 */
#include "qcow2-test-util.h"

#include <fcntl.h>

namespace {

using namespace qcow2_test;
using block::Qcow2Image;

struct Format {
    const char *compat;
    unsigned cluster_size;
    unsigned refcount_bits;
};

std::string options(const Format &f)
{
    std::string o =
        fmt::format("compat={},cluster_size={}", f.compat, f.cluster_size);
    if (std::string(f.compat) != "0.10") {
        o += fmt::format(",refcount_bits={}", f.refcount_bits);
    }
    return o;
}

class Qcow2Formats : public ::testing::TestWithParam<Format> {};

// The qemu-img listing without its "Snapshot list:" line.
std::string qemu_listing(const std::string &path)
{
    Cmd c = run_stdout("qemu-img snapshot -l '" + path + "'");
    EXPECT_EQ(c.status, 0);
    auto nl = c.out.find('\n');
    return nl == std::string::npos ? "" : c.out.substr(nl + 1);
}

TEST_P(Qcow2Formats, SnapshotsRoundTripAndQemuImgChecksClean)
{
    REQUIRE_QEMU_IMG();
    TempDir dir;
    std::string path = create_image(dir, "a.qcow2", options(GetParam()));
    auto vm1 = pattern(100 * 1024 + 17, 1);
    auto vm2 = pattern(3 * 1024 * 1024 + 5, 2);
    {
        auto img = MUST(Qcow2Image::open(path, false));
        EXPECT_EQ(img->virtual_size(), 64u << 20);
        EXPECT_EQ(img->cluster_size(), GetParam().cluster_size);
        auto a = MUST(img->create_snapshot(meta("first"), vm1));
        EXPECT_EQ(a.id, "1");
        auto b = MUST(img->create_snapshot(meta("second", 1700000100), vm2));
        EXPECT_EQ(b.id, "2");
        auto c = MUST(img->create_snapshot(meta("empty"), {}));
        EXPECT_EQ(c.id, "3");
        EXPECT_EQ(img->snapshots().size(), 3u);
    }
    Cmd ck = check(path);
    EXPECT_EQ(ck.status, 0) << ck.out;
    // qemu-img prints exactly the table seoib formats.
    {
        auto img = MUST(Qcow2Image::open(path, true));
        EXPECT_EQ(qemu_listing(path),
                  block::format_snapshot_table(img->snapshots()));
        EXPECT_EQ(MUST(img->read_vmstate("first")), vm1);
        EXPECT_EQ(MUST(img->read_vmstate("2")), vm2);
        EXPECT_TRUE(MUST(img->read_vmstate("empty")).empty());
    }
    {
        auto img = MUST(Qcow2Image::open(path, false));
        MUST(img->goto_snapshot("second"));
        MUST(img->delete_snapshot("first"));
        EXPECT_FALSE(img->find_snapshot("first").has_value());
        EXPECT_EQ(MUST(img->read_vmstate("second")), vm2);
    }
    ck = check(path);
    EXPECT_EQ(ck.status, 0) << ck.out;
    {
        auto img = MUST(Qcow2Image::open(path, false));
        ASSERT_EQ(img->snapshots().size(), 2u);
        EXPECT_EQ(img->snapshots()[0].name, "second");
        // The next id is one past the largest, as QEMU assigns it.
        EXPECT_EQ(MUST(img->create_snapshot(meta("third"), vm1)).id, "4");
        MUST(img->delete_snapshot("second"));
        MUST(img->delete_snapshot("3"));
        MUST(img->delete_snapshot("third"));
        EXPECT_TRUE(img->snapshots().empty());
    }
    ck = check(path);
    EXPECT_EQ(ck.status, 0) << ck.out;
}

INSTANTIATE_TEST_SUITE_P(
    QemuImgFormats, Qcow2Formats,
    ::testing::Values(Format{"0.10", 512, 16}, Format{"0.10", 4096, 16},
                      Format{"0.10", 65536, 16}, Format{"1.1", 512, 1},
                      Format{"1.1", 512, 64}, Format{"1.1", 4096, 2},
                      Format{"1.1", 4096, 8}, Format{"1.1", 65536, 16},
                      Format{"1.1", 65536, 32},
                      Format{"1.1", 2 * 1024 * 1024, 64},
                      Format{"0.10", 2 * 1024 * 1024, 16}),
    [](const auto &info) {
        return fmt::format("v{}_c{}_r{}",
                           std::string(info.param.compat) == "0.10" ? 2 : 3,
                           info.param.cluster_size, info.param.refcount_bits);
    });

TEST(Qcow2Table, SizesAsQemuSizeToStr)
{
    EXPECT_EQ(block::size_to_str(0), "0 B");
    EXPECT_EQ(block::size_to_str(999), "999 B");
    EXPECT_EQ(block::size_to_str(1000), "0.977 KiB");
    EXPECT_EQ(block::size_to_str(1536), "1.5 KiB");
    EXPECT_EQ(block::size_to_str(8 << 20), "8 MiB");
    EXPECT_EQ(block::size_to_str(1258291), "1.2 MiB");
}

TEST(Qcow2Table, ListingMatchesQemuImgForOddSizesAndLongTags)
{
    REQUIRE_QEMU_IMG();
    TempDir dir;
    std::string path = create_image(dir, "t.qcow2", "cluster_size=4096");
    {
        auto img = MUST(Qcow2Image::open(path, false));
        auto m = meta("a_tag_longer_than_sixteen_chars");
        m.icount = 123456789;
        m.vm_clock_nsec = 100 * 3600 * 1000000000ULL + 999999999;
        MUST(img->create_snapshot(m, pattern(1258291, 3)));
        MUST(img->create_snapshot(meta("x", 0), pattern(1000, 4)));
    }
    auto img = MUST(Qcow2Image::open(path, true));
    EXPECT_EQ(qemu_listing(path),
              block::format_snapshot_table(img->snapshots()));
    EXPECT_EQ(img->snapshots()[0].icount, 123456789u);
}

TEST(Qcow2Interop, SnapshotsOfQemuImgAndSeoibShareGuestData)
{
    REQUIRE_QEMU_IMG();
    TempDir dir;
    std::string path = create_image(dir, "i.qcow2", "cluster_size=65536");
    std::string q = "'" + path + "'";
    ASSERT_EQ(run("qemu-io -f qcow2 -c 'write -P 0xab 0 1M' " + q).status, 0);
    ASSERT_EQ(run("qemu-img snapshot -c qsnap " + q).status, 0);
    ASSERT_EQ(run("qemu-io -f qcow2 -c 'write -P 0xcd 0 512k' " + q).status, 0);
    auto vm = pattern(200000, 5);
    {
        auto img = MUST(Qcow2Image::open(path, false));
        ASSERT_TRUE(img->find_snapshot("qsnap").has_value());
        EXPECT_EQ(img->find_snapshot("qsnap")->id, "1");
        EXPECT_TRUE(MUST(img->read_vmstate("qsnap")).empty());
        // Shares the active guest data (0xcd over 0xab) with the snapshot.
        MUST(img->create_snapshot(meta("mine"), vm));
    }
    Cmd ck = check(path);
    ASSERT_EQ(ck.status, 0) << ck.out;
    ASSERT_EQ(run("qemu-io -f qcow2 -c 'write -P 0xef 0 64k' " + q).status, 0);
    {
        auto img = MUST(Qcow2Image::open(path, false));
        MUST(img->goto_snapshot("qsnap"));
    }
    ck = check(path);
    ASSERT_EQ(ck.status, 0) << ck.out;
    // loadvm of qsnap brought back the data of when qemu-img took it.
    Cmd rd = run("qemu-io -f qcow2 -c 'read -P 0xab 0 1M' " + q);
    EXPECT_EQ(rd.status, 0) << rd.out;
    EXPECT_EQ(rd.out.find("Pattern verification failed"), std::string::npos)
        << rd.out;
    {
        auto img = MUST(Qcow2Image::open(path, false));
        MUST(img->goto_snapshot("mine"));
        MUST(img->delete_snapshot("qsnap"));
    }
    ck = check(path);
    ASSERT_EQ(ck.status, 0) << ck.out;
    rd = run("qemu-io -f qcow2 -c 'read -P 0xcd 0 512k' -c 'read -P 0xab 512k "
             "512k' " +
             q);
    EXPECT_EQ(rd.out.find("Pattern verification failed"), std::string::npos)
        << rd.out;
    // qemu-img deletes seoib's snapshot and the image stays clean.
    Cmd del = run("qemu-img snapshot -d mine " + q);
    EXPECT_EQ(del.status, 0) << del.out;
    ck = check(path);
    EXPECT_EQ(ck.status, 0) << ck.out;
    auto img = MUST(Qcow2Image::open(path, true));
    EXPECT_TRUE(img->snapshots().empty());
}

TEST(Qcow2Interop, QemuImgDeletesSeoibSnapshotWithVmState)
{
    REQUIRE_QEMU_IMG();
    TempDir dir;
    std::string path =
        create_image(dir, "d.qcow2", "compat=0.10,cluster_size=4096");
    {
        auto img = MUST(Qcow2Image::open(path, false));
        MUST(img->create_snapshot(meta("s1"), pattern(1 << 20, 6)));
        MUST(img->create_snapshot(meta("s2"), pattern(1 << 19, 7)));
    }
    Cmd del = run("qemu-img snapshot -d s1 '" + path + "'");
    EXPECT_EQ(del.status, 0) << del.out;
    Cmd ck = check(path);
    EXPECT_EQ(ck.status, 0) << ck.out;
    auto img = MUST(Qcow2Image::open(path, true));
    ASSERT_EQ(img->snapshots().size(), 1u);
    EXPECT_EQ(MUST(img->read_vmstate("s2")), pattern(1 << 19, 7));
}

struct Large {
    unsigned cluster_size;
    unsigned refcount_bits;
    size_t vm_size;
};

class Qcow2LargeState : public ::testing::TestWithParam<Large> {};

// 512-byte clusters with 64-bit refcounts cover 2 MiB per refcount table
// cluster, so these sizes make the refcount table grow.
TEST_P(Qcow2LargeState, RoundTripsByteExact)
{
    REQUIRE_QEMU_IMG();
    TempDir dir;
    const Large &p = GetParam();
    std::string path =
        create_image(dir, "l.qcow2",
                     fmt::format("cluster_size={},refcount_bits={}",
                                 p.cluster_size, p.refcount_bits),
                     "16M");
    auto vm = pattern(p.vm_size, 8);
    {
        auto img = MUST(Qcow2Image::open(path, false));
        MUST(img->create_snapshot(meta("big"), vm));
        MUST(img->create_snapshot(meta("big2"), pattern(p.vm_size / 3, 9)));
    }
    Cmd ck = check(path);
    ASSERT_EQ(ck.status, 0) << ck.out;
    if (p.cluster_size == 512) {
        // The state outgrew what the first refcount table covers.
        auto h = read_file(path);
        uint32_t rt_clusters =
            uint32_t(h[56]) << 24 | h[57] << 16 | h[58] << 8 | h[59];
        EXPECT_GT(rt_clusters, 1u);
    }
    {
        auto img = MUST(Qcow2Image::open(path, false));
        EXPECT_EQ(MUST(img->read_vmstate("big")), vm);
        MUST(img->delete_snapshot("big"));
        EXPECT_EQ(MUST(img->read_vmstate("big2")), pattern(p.vm_size / 3, 9));
    }
    ck = check(path);
    EXPECT_EQ(ck.status, 0) << ck.out;
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, Qcow2LargeState,
    ::testing::Values(Large{65536, 16, 8 << 20}, Large{65536, 16, 64 << 20},
                      Large{512, 64, 8 << 20}, Large{512, 16, 12 << 20},
                      Large{2 << 20, 16, 64 << 20}),
    [](const auto &info) {
        return fmt::format("c{}_r{}_{}MiB", info.param.cluster_size,
                           info.param.refcount_bits, info.param.vm_size >> 20);
    });

TEST(Qcow2ManySnapshots, RefcountTableGrowsAndQemuImgListsAll)
{
    REQUIRE_QEMU_IMG();
    TempDir dir;
    std::string path =
        create_image(dir, "m.qcow2", "cluster_size=512,refcount_bits=64", "1M");
    {
        auto img = MUST(Qcow2Image::open(path, false));
        for (int i = 0; i < 120; i++) {
            MUST(img->create_snapshot(meta(fmt::format("s{}", i)),
                                      pattern(20000 + i, uint32_t(i))));
        }
    }
    Cmd ck = check(path);
    ASSERT_EQ(ck.status, 0) << ck.out;
    Cmd l = run_stdout("qemu-img snapshot -l '" + path + "'");
    EXPECT_NE(l.out.find("s119"), std::string::npos);
    auto img = MUST(Qcow2Image::open(path, false));
    EXPECT_EQ(MUST(img->read_vmstate("s77")), pattern(20077, 77));
    for (int i = 0; i < 120; i += 2) {
        MUST(img->delete_snapshot(fmt::format("s{}", i)));
    }
    img.reset();
    ck = check(path);
    EXPECT_EQ(ck.status, 0) << ck.out;
}

// --- Locks -----------------------------------------------------------------

/// qemu-io holding the image open until destroyed.
class QemuIoHolder {
public:
    QemuIoHolder(const std::string &path, bool read_only)
    {
        m_pipe = popen(("qemu-io " + std::string(read_only ? "-r " : "") +
                        "-f qcow2 '" + path + "' >/dev/null 2>&1")
                           .c_str(),
                       "w");
        // Wait for its write-permission lock byte (100 for readers).
        int fd = ::open(path.c_str(), O_RDONLY);
        for (int i = 0; i < 200 && fd >= 0; i++) {
            struct flock fl = {};
            fl.l_type = F_WRLCK;
            fl.l_whence = SEEK_SET;
            fl.l_start = 100;
            fl.l_len = 1;
            if (fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) {
                break;
            }
            usleep(20000);
        }
        if (fd >= 0) {
            ::close(fd);
        }
    }
    ~QemuIoHolder()
    {
        if (m_pipe) {
            fputs("quit\n", m_pipe);
            pclose(m_pipe);
        }
    }

private:
    FILE *m_pipe = nullptr;
};

TEST(Qcow2Locks, QemuImgCannotOpenWhatSeoibWrites)
{
    REQUIRE_QEMU_IMG();
    TempDir dir;
    std::string path = create_image(dir, "k.qcow2", "cluster_size=65536");
    auto img = MUST(Qcow2Image::open(path, false));
    Cmd l = run("qemu-img snapshot -l '" + path + "'");
    EXPECT_NE(l.status, 0);
    EXPECT_NE(l.out.find("Failed to get shared \"write\" lock"),
              std::string::npos)
        << l.out;
    // A second seoib writer or reader is refused as QEMU would be.
    auto again = Qcow2Image::open(path, false);
    ASSERT_FALSE(again.has_value());
    EXPECT_NE(again.error().message().find("Failed to get \"write\" lock"),
              std::string::npos)
        << again.error().message();
    auto reader = Qcow2Image::open(path, true);
    ASSERT_FALSE(reader.has_value());
    EXPECT_NE(
        reader.error().message().find("Failed to get shared \"write\" lock"),
        std::string::npos);
    img.reset();
    EXPECT_EQ(run("qemu-img snapshot -l '" + path + "'").status, 0);
}

TEST(Qcow2Locks, SeoibReaderSharesWithQemuImgReadersOnly)
{
    REQUIRE_QEMU_IMG();
    TempDir dir;
    std::string path = create_image(dir, "r.qcow2", "cluster_size=65536");
    auto img = MUST(Qcow2Image::open(path, true));
    auto img2 = MUST(Qcow2Image::open(path, true));
    Cmd l = run("qemu-img snapshot -l '" + path + "'");
    EXPECT_EQ(l.status, 0) << l.out;
    Cmd c = run("qemu-img snapshot -c x '" + path + "'");
    EXPECT_NE(c.status, 0);
    EXPECT_NE(c.out.find("Failed to get \"write\" lock"), std::string::npos)
        << c.out;
}

TEST(Qcow2Locks, SeoibCannotOpenWhatQemuHolds)
{
    REQUIRE_QEMU_IMG();
    if (run("qemu-io --version").status != 0) {
        GTEST_SKIP() << "qemu-io (qemu-utils) is not installed";
    }
    TempDir dir;
    std::string path = create_image(dir, "h.qcow2", "cluster_size=65536");
    {
        QemuIoHolder holder(path, false);
        auto w = Qcow2Image::open(path, false);
        ASSERT_FALSE(w.has_value());
        EXPECT_EQ(w.error().message(),
                  "Could not open '" + path +
                      "': Failed to get \"write\" lock\nIs another process "
                      "using the image [" +
                      path + "]?");
        auto r = Qcow2Image::open(path, true);
        ASSERT_FALSE(r.has_value());
        EXPECT_NE(
            r.error().message().find("Failed to get shared \"write\" lock"),
            std::string::npos);
    }
    {
        QemuIoHolder holder(path, true);
        EXPECT_FALSE(Qcow2Image::open(path, false).has_value());
        EXPECT_TRUE(Qcow2Image::open(path, true).has_value());
    }
    EXPECT_TRUE(Qcow2Image::open(path, false).has_value());
}

} // namespace
