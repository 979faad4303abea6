/*
 * Hostile and broken images: each bad input is a clear error, never a crash,
 * and leaves the file byte-for-byte unchanged; random corruption of a real
 * image never crashes open, listing, reading or modifying it.
 */
#include "qcow2-test-util.h"

#include <random>
#include <sys/stat.h>
#include <sys/wait.h>

namespace {

using namespace qcow2_test;
using block::Qcow2Image;

void put_be32(std::vector<uint8_t> &b, size_t at, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        b[at + i] = uint8_t(v >> (24 - 8 * i));
    }
}
void put_be64(std::vector<uint8_t> &b, size_t at, uint64_t v)
{
    put_be32(b, at, uint32_t(v >> 32));
    put_be32(b, at + 4, uint32_t(v));
}
uint64_t get_be64(const std::vector<uint8_t> &b, size_t at)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | b[at + i];
    }
    return v;
}

struct Bad {
    const char *name;
    void (*corrupt)(std::vector<uint8_t> &);
    const char *error;       // a piece of the expected message
    bool write_only = false; // only opening for writing must fail
};

// A v3 image with 4 KiB clusters and one snapshot "snap" (see SetUp).
const Bad BAD_IMAGES[] = {
    {"NotQcow2", [](std::vector<uint8_t> &b) { b.assign(8192, 'x'); },
     "Image is not in qcow2 format"},
    {"Empty", [](std::vector<uint8_t> &b) { b.clear(); },
     "not in qcow2 format"},
    {"TruncatedHeader", [](std::vector<uint8_t> &b) { b.resize(50); },
     "too short for a qcow2 header"},
    {"TruncatedV3Header", [](std::vector<uint8_t> &b) { b.resize(80); },
     "version 3 header"},
    {"BadMagic", [](std::vector<uint8_t> &b) { b[3] = 0xfc; },
     "Image is not in qcow2 format"},
    {"BadVersion", [](std::vector<uint8_t> &b) { put_be32(b, 4, 5); },
     "Unsupported qcow2 version 5"},
    {"ClusterBits30", [](std::vector<uint8_t> &b) { put_be32(b, 20, 30); },
     "Unsupported cluster size: 2^30"},
    {"Encrypted", [](std::vector<uint8_t> &b) { put_be32(b, 32, 1); },
     "encrypted"},
    {"ExternalDataFile",
     [](std::vector<uint8_t> &b) { put_be64(b, 72, 1 << 2); },
     "external data file"},
    {"ExtendedL2", [](std::vector<uint8_t> &b) { put_be64(b, 72, 1 << 4); },
     "extended L2"},
    {"UnknownIncompatibleFeature",
     [](std::vector<uint8_t> &b) { put_be64(b, 72, 1ULL << 40); },
     "Unsupported qcow2 feature(s): Unknown incompatible feature: "
     "10000000000"},
    {"RefcountOrder7", [](std::vector<uint8_t> &b) { put_be32(b, 96, 7); },
     "may not exceed 64 bits"},
    {"HeaderLengthOdd", [](std::vector<uint8_t> &b) { put_be32(b, 100, 105); },
     "header length"},
    {"L1OutsideFile",
     [](std::vector<uint8_t> &b) { put_be64(b, 40, 1ULL << 40); },
     "Invalid L1 table offset"},
    {"L1Unaligned", [](std::vector<uint8_t> &b) { put_be64(b, 40, 4097); },
     "not cluster aligned"},
    {"L1TooSmall", [](std::vector<uint8_t> &b) { put_be32(b, 36, 0); },
     "L1 table is too small"},
    {"L1Huge", [](std::vector<uint8_t> &b) { put_be32(b, 36, 0xffffffff); },
     "L1 table too large"},
    {"RefcountTableAbsurd",
     [](std::vector<uint8_t> &b) { put_be64(b, 48, 0x7ffffffffffff000ULL); },
     "reference count table"},
    {"RefcountTableHuge",
     [](std::vector<uint8_t> &b) { put_be32(b, 56, 0x10000000); },
     "reference count table too large"},
    {"NoRefcountTable", [](std::vector<uint8_t> &b) { put_be32(b, 56, 0); },
     "does not contain a reference count table"},
    {"RefcountBlockTwice",
     [](std::vector<uint8_t> &b) {
         size_t rt = size_t(get_be64(b, 48));
         put_be64(b, rt + 8, get_be64(b, rt));
     },
     "used twice in the refcount table", true},
    {"TooManySnapshots",
     [](std::vector<uint8_t> &b) { put_be32(b, 60, 100000); },
     "Too many snapshots"},
    {"SnapshotCountPastTable",
     [](std::vector<uint8_t> &b) { put_be32(b, 60, 60000); },
     "snapshot table corrupt"},
    {"SnapshotTableOutsideFile",
     [](std::vector<uint8_t> &b) { put_be64(b, 64, 1ULL << 50); },
     "Invalid snapshot table offset"},
    {"SnapshotTableUnaligned",
     [](std::vector<uint8_t> &b) { put_be64(b, 64, get_be64(b, 64) + 8); },
     "Invalid snapshot table offset"},
    {"SnapshotL1OutsideFile",
     [](std::vector<uint8_t> &b) {
         put_be64(b, size_t(get_be64(b, 64)), 1ULL << 45);
     },
     "snapshot 'snap' L1 table"},
    {"SnapshotExtraDataHuge",
     [](std::vector<uint8_t> &b) {
         put_be32(b, size_t(get_be64(b, 64)) + 36, 0x7fffffff);
     },
     "too much extra data"},
    {"SnapshotVmStateHuge",
     [](std::vector<uint8_t> &b) {
         put_be64(b, size_t(get_be64(b, 64)) + 40, 1ULL << 50);
     },
     "exceeds the image file size"},
};

class Qcow2BadImage : public ::testing::TestWithParam<Bad> {};

TEST_P(Qcow2BadImage, OpenFailsClearlyAndLeavesFileUnchanged)
{
    REQUIRE_QEMU_IMG();
    TempDir dir;
    std::string path = create_image(dir, "b.qcow2", "cluster_size=4096", "8M");
    {
        auto img = MUST(Qcow2Image::open(path, false));
        MUST(img->create_snapshot(meta("snap"), pattern(10000, 1)));
    }
    auto bytes = read_file(path);
    GetParam().corrupt(bytes);
    write_file(path, bytes);
    for (bool ro : {true, false}) {
        if (ro && GetParam().write_only) {
            auto img = Qcow2Image::open(path, ro);
            EXPECT_TRUE(img.has_value());
            continue;
        }
        auto img = Qcow2Image::open(path, ro);
        ASSERT_FALSE(img.has_value()) << GetParam().name;
        EXPECT_NE(img.error().message().find(GetParam().error),
                  std::string::npos)
            << img.error().message();
        EXPECT_EQ(
            img.error().message().rfind("Could not open '" + path + "'", 0), 0u)
            << img.error().message();
    }
    EXPECT_EQ(read_file(path), bytes);
}

INSTANTIATE_TEST_SUITE_P(Cases, Qcow2BadImage, ::testing::ValuesIn(BAD_IMAGES),
                         [](const auto &info) { return info.param.name; });

class Qcow2BadUse : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (!have_qemu_img()) {
            GTEST_SKIP() << "qemu-img (qemu-utils) is not installed";
        }
        m_path = create_image(m_dir, "u.qcow2", "cluster_size=4096", "8M");
        auto img = MUST(Qcow2Image::open(m_path, false));
        MUST(img->create_snapshot(meta("snap"), pattern(10000, 1)));
        img.reset();
        m_bytes = read_file(m_path);
    }
    TempDir m_dir;
    std::string m_path;
    std::vector<uint8_t> m_bytes;
};

TEST_F(Qcow2BadUse, MissingTagIsAnErrorAndChangesNothing)
{
    auto img = MUST(Qcow2Image::open(m_path, false));
    EXPECT_FALSE(img->find_snapshot("nope").has_value());
    auto g = img->goto_snapshot("nope");
    ASSERT_FALSE(g.has_value());
    EXPECT_EQ(g.error().message(), "Can't find snapshot 'nope'");
    EXPECT_FALSE(img->delete_snapshot("nope").has_value());
    EXPECT_FALSE(img->read_vmstate("nope").has_value());
    img.reset();
    EXPECT_EQ(read_file(m_path), m_bytes);
}

TEST_F(Qcow2BadUse, DuplicateTagOrIdIsAnErrorAndChangesNothing)
{
    auto img = MUST(Qcow2Image::open(m_path, false));
    auto d = img->create_snapshot(meta("snap"), pattern(100, 2));
    ASSERT_FALSE(d.has_value());
    EXPECT_EQ(d.error().message(), "a snapshot named 'snap' already exists");
    auto m = meta("other");
    m.id = "1";
    EXPECT_FALSE(img->create_snapshot(m, {}).has_value());
    // Still usable: nothing was written.
    img.reset();
    EXPECT_EQ(read_file(m_path), m_bytes);
}

TEST_F(Qcow2BadUse, ReadOnlyImageRefusesChanges)
{
    auto img = MUST(Qcow2Image::open(m_path, true));
    EXPECT_TRUE(img->read_only());
    EXPECT_FALSE(img->create_snapshot(meta("x"), {}).has_value());
    EXPECT_FALSE(img->delete_snapshot("snap").has_value());
    EXPECT_FALSE(img->goto_snapshot("snap").has_value());
    EXPECT_EQ(MUST(img->read_vmstate("snap")), pattern(10000, 1));
    img.reset();
    EXPECT_EQ(read_file(m_path), m_bytes);
}

TEST_F(Qcow2BadUse, ReadOnlyFileOpenedForWriteIsAnError)
{
    ASSERT_EQ(chmod(m_path.c_str(), 0444), 0);
    std::string dir_of = m_path.substr(0, m_path.rfind('/'));
    ASSERT_EQ(chmod(dir_of.c_str(), 0755), 0);
    // Root ignores file modes: the check runs as "nobody" in a child then.
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) {
            _exit(77);
        }
        auto img = Qcow2Image::open(m_path, false);
        if (img.has_value()) {
            _exit(1);
        }
        bool text = img.error().message() ==
                    "Could not open '" + m_path + "': Permission denied";
        bool ro = Qcow2Image::open(m_path, true).has_value();
        _exit(text && ro ? 0 : 2);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    ASSERT_TRUE(WIFEXITED(st));
    if (WEXITSTATUS(st) == 77) {
        GTEST_SKIP() << "running as root and cannot switch to uid 65534";
    }
    EXPECT_EQ(WEXITSTATUS(st), 0);
    EXPECT_EQ(read_file(m_path), m_bytes);
}

TEST_F(Qcow2BadUse, DirtyOrCorruptBitRefusesWritingButAllowsReading)
{
    for (uint64_t bit : {1ULL, 2ULL}) {
        auto b = m_bytes;
        put_be64(b, 72, bit);
        write_file(m_path, b);
        auto w = Qcow2Image::open(m_path, false);
        ASSERT_FALSE(w.has_value());
        EXPECT_NE(w.error().message().find(bit == 1 ? "dirty bit" : "corrupt"),
                  std::string::npos)
            << w.error().message();
        auto r = MUST(Qcow2Image::open(m_path, true));
        EXPECT_EQ(MUST(r->read_vmstate("snap")), pattern(10000, 1));
        r.reset();
        EXPECT_EQ(read_file(m_path), b);
    }
}

TEST_F(Qcow2BadUse, NonexistentFileIsAnError)
{
    auto img = Qcow2Image::open(m_dir.file("missing.qcow2"), true);
    ASSERT_FALSE(img.has_value());
    EXPECT_NE(img.error().message().find("No such file or directory"),
              std::string::npos);
}

TEST(Qcow2HeaderExtensions, UnknownExtensionSurvivesSnapshots)
{
    REQUIRE_QEMU_IMG();
    TempDir dir;
    std::string path = create_image(dir, "e.qcow2", "cluster_size=4096", "8M");
    auto b = read_file(path);
    // Replace the end-of-extensions marker after the existing extensions by
    // an unknown extension, then a new end marker.
    uint32_t hl = uint32_t(b[100]) << 24 | b[101] << 16 | b[102] << 8 | b[103];
    size_t p = hl;
    while ((b[p] | b[p + 1] | b[p + 2] | b[p + 3]) != 0) {
        uint32_t len = uint32_t(b[p + 4]) << 24 | b[p + 5] << 16 |
                       b[p + 6] << 8 | b[p + 7];
        p += 8 + ((len + 7) & ~7u);
    }
    put_be32(b, p, 0x12345678);
    put_be32(b, p + 4, 5);
    for (int i = 0; i < 8; i++) {
        b[p + 8 + i] = uint8_t(i < 5 ? 'a' + i : 0);
    }
    put_be32(b, p + 16, 0);
    put_be32(b, p + 20, 0);
    write_file(path, b);
    std::vector<uint8_t> ext(b.begin() + long(p), b.begin() + long(p) + 16);
    {
        auto img = MUST(Qcow2Image::open(path, false));
        MUST(img->create_snapshot(meta("s"), pattern(5000, 1)));
        MUST(img->goto_snapshot("s"));
        MUST(img->delete_snapshot("s"));
    }
    auto after = read_file(path);
    EXPECT_EQ(std::vector<uint8_t>(after.begin() + long(p),
                                   after.begin() + long(p) + 16),
              ext);
    Cmd ck = check(path);
    EXPECT_EQ(ck.status, 0) << ck.out;
}

// Random corruption of a real image (QEMU's and seoib's snapshots, guest
// data): nothing may crash or hang.  Errors are expected and fine.
TEST(Qcow2Fuzz, RandomCorruptionNeverCrashes)
{
    REQUIRE_QEMU_IMG();
    TempDir dir;
    std::string path = create_image(dir, "z.qcow2", "cluster_size=4096", "8M");
    std::string q = "'" + path + "'";
    ASSERT_EQ(run("qemu-io -f qcow2 -c 'write -P 0x5a 0 100k' " + q).status, 0);
    ASSERT_EQ(run("qemu-img snapshot -c q1 " + q).status, 0);
    {
        auto img = MUST(Qcow2Image::open(path, false));
        MUST(img->create_snapshot(meta("s1"), pattern(30000, 1)));
        MUST(img->create_snapshot(meta("s2"), pattern(9000, 2)));
    }
    const auto good = read_file(path);
    std::mt19937 rng(12345);
    std::string work = dir.file("w.qcow2");
    int opened = 0;
    for (int iter = 0; iter < 1500; iter++) {
        auto b = good;
        int flips = 1 + int(rng() % 8);
        for (int i = 0; i < flips; i++) {
            // Mostly the metadata near the start and the tables at the end.
            size_t at = (rng() % 2) ? rng() % std::min<size_t>(b.size(), 8192)
                                    : rng() % b.size();
            b[at] = (rng() % 3 == 0) ? uint8_t(rng())
                                     : uint8_t(b[at] ^ (1u << (rng() % 8)));
        }
        write_file(work, b);
        if (auto img = Qcow2Image::open(work, true)) {
            opened++;
            for (const auto &sn : img.value()->snapshots()) {
                (void)img.value()->read_vmstate(sn.id);
            }
            (void)block::format_snapshot_table(img.value()->snapshots());
        }
        if (auto img = Qcow2Image::open(work, false)) {
            auto &i = *img.value();
            (void)i.create_snapshot(meta("fz"), pattern(7000, 3));
            if (!i.snapshots().empty()) {
                (void)i.goto_snapshot(i.snapshots()[0].id);
                (void)i.delete_snapshot(i.snapshots()[0].id);
            }
        }
    }
    // Most corruptions leave an openable image: the loop did exercise
    // the snapshot paths.
    EXPECT_GT(opened, 300);
}

} // namespace
