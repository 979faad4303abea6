/*
 * Crash safety: every write or flush of a snapshot operation is made to fail
 * in turn, and the disk is made to fill up for real (RLIMIT_FSIZE); after
 * each failure qemu-img check must find the image clean (exit 0: no
 * corruption and not even a leak, since every change becomes live in one
 * header write) and the image must reopen with the old or the new snapshot
 * table.
 */
#include "qcow2-test-util.h"

#include <csignal>
#include <sys/resource.h>

namespace {

using namespace qcow2_test;
using block::Qcow2Image;

struct Walk {
    const char *options;
    size_t vm_size;
};

class Qcow2FaultWalk : public ::testing::TestWithParam<Walk> {
protected:
    void SetUp() override
    {
        if (!have_qemu_img()) {
            GTEST_SKIP() << "qemu-img (qemu-utils) is not installed: it is the "
                            "judge of these tests";
        }
        m_base = create_image(m_dir, "base.qcow2", GetParam().options, "4M");
        auto img = MUST(Qcow2Image::open(m_base, false));
        MUST(img->create_snapshot(meta("old"), pattern(70000, 1)));
    }

    /// Copies the base image and runs OP on it with a write budget of N;
    /// returns whether OP succeeded, and judges the image after a failure.
    template <typename Op>
    bool run_with_budget(uint64_t n, Op op, size_t before, size_t after)
    {
        std::string path = m_dir.file("work.qcow2");
        write_file(path, read_file(m_base));
        bool ok;
        {
            auto img = MUST(Qcow2Image::open(path, false));
            img->set_write_budget(n);
            ok = op(*img);
            if (!ok) {
                // Before the commit the file is as it was, so the image
                // takes the next change at once; at or after it, the image
                // refuses changes until it is reopened.
                img->set_write_budget(std::nullopt);
                auto later = img->create_snapshot(meta("later"), {});
                if (later) {
                    EXPECT_TRUE(img->delete_snapshot("later"));
                } else {
                    EXPECT_NE(later.error().message().find("reopen the image"),
                              std::string::npos)
                        << later.error().message();
                }
            }
        }
        Cmd ck = check(path);
        EXPECT_EQ(ck.status, 0) << "after " << n << " writes: " << ck.out;
        if (auto img = Qcow2Image::open(path, false); true) {
            EXPECT_TRUE(img.has_value()) << "after " << n << " writes";
            if (img) {
                size_t count = img.value()->snapshots().size();
                EXPECT_TRUE(count == before || count == after)
                    << "after " << n << " writes: " << count << " snapshots";
                if (img.value()->find_snapshot("old")) {
                    EXPECT_EQ(MUST(img.value()->read_vmstate("old")),
                              pattern(70000, 1));
                }
                if (img.value()->find_snapshot("new")) {
                    EXPECT_EQ(MUST(img.value()->read_vmstate("new")),
                              pattern(GetParam().vm_size, 2));
                }
                // The image stays usable: a snapshot can still be taken.
                EXPECT_TRUE(img.value()->create_snapshot(meta("probe"),
                                                         pattern(999, 3)));
            }
        }
        Cmd ck2 = check(path);
        EXPECT_EQ(ck2.status, 0) << ck2.out;
        return ok;
    }

    TempDir m_dir;
    std::string m_base;
};

TEST_P(Qcow2FaultWalk, CreateSnapshotFailingAtEveryWriteLeavesTheImageClean)
{
    auto vm = pattern(GetParam().vm_size, 2);
    auto op = [&](Qcow2Image &img) {
        return img.create_snapshot(meta("new"), vm).has_value();
    };
    uint64_t n = 0;
    while (!run_with_budget(n, op, 1, 2)) {
        ASSERT_LT(++n, 100000u);
        if (HasFailure()) {
            break;
        }
    }
    EXPECT_GT(n, 3u); // the walk did reach the later steps
}

TEST_P(Qcow2FaultWalk, DeleteSnapshotFailingAtEveryWriteLeavesTheImageClean)
{
    auto op = [&](Qcow2Image &img) {
        return img.delete_snapshot("old").has_value();
    };
    uint64_t n = 0;
    while (!run_with_budget(n, op, 1, 0)) {
        ASSERT_LT(++n, 100000u);
        if (HasFailure()) {
            break;
        }
    }
    EXPECT_GT(n, 1u);
}

TEST_P(Qcow2FaultWalk, GotoSnapshotFailingAtEveryWriteLeavesTheImageClean)
{
    auto op = [&](Qcow2Image &img) {
        return img.goto_snapshot("old").has_value();
    };
    uint64_t n = 0;
    while (!run_with_budget(n, op, 1, 1)) {
        ASSERT_LT(++n, 100000u);
        if (HasFailure()) {
            break;
        }
    }
    EXPECT_GT(n, 1u);
}

// 512-byte clusters with 64-bit refcounts: one refcount block covers 64
// clusters and the first refcount table 2 MiB, so the walk crosses new
// refcount blocks and a refcount table growth.
INSTANTIATE_TEST_SUITE_P(
    Formats, Qcow2FaultWalk,
    ::testing::Values(Walk{"cluster_size=512,refcount_bits=64", 2600000},
                      Walk{"compat=0.10,cluster_size=512", 300000},
                      Walk{"cluster_size=4096,refcount_bits=1", 200000},
                      Walk{"cluster_size=65536", 1000000}),
    [](const auto &info) { return fmt::format("f{}", info.index); });

// A real full disk: the child's file size limit stops the image growing
// (EFBIG with SIGXFSZ ignored) part-way through the VM state.
TEST(Qcow2DiskFull, FileSizeLimitFailsCleanlyAndLeavesTheImageClean)
{
    REQUIRE_QEMU_IMG();
    TempDir dir;
    std::string path = create_image(dir, "f.qcow2", "cluster_size=4096", "16M");
    {
        auto img = MUST(Qcow2Image::open(path, false));
        MUST(img->create_snapshot(meta("old"), pattern(50000, 1)));
    }
    const uint64_t size = read_file(path).size();
    for (uint64_t extra : {0u, 4096u, 100000u, 1000000u}) {
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            signal(SIGXFSZ, SIG_IGN);
            struct rlimit rl = {rlim_t(size + extra), rlim_t(size + extra)};
            setrlimit(RLIMIT_FSIZE, &rl);
            auto img = Qcow2Image::open(path, false);
            if (!img) {
                _exit(10);
            }
            auto r =
                img.value()->create_snapshot(meta("new"), pattern(2 << 20, 2));
            if (r) {
                _exit(11);
            }
            bool efbig =
                r.error().os_errno() == EFBIG &&
                r.error().message().find("File too large") != std::string::npos;
            _exit(efbig ? 0 : 12);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        ASSERT_TRUE(WIFEXITED(st));
        EXPECT_EQ(WEXITSTATUS(st), 0) << "limit +" << extra;
        Cmd ck = check(path);
        EXPECT_EQ(ck.status, 0) << ck.out;
        auto img = MUST(Qcow2Image::open(path, true));
        ASSERT_EQ(img->snapshots().size(), 1u);
        EXPECT_EQ(MUST(img->read_vmstate("old")), pattern(50000, 1));
    }
}

} // namespace

namespace {

/// qemu-io's verdict on whether the guest disk reads back as PATTERN.
bool guest_reads(const std::string &path, const char *pattern, const char *len)
{
    return run(fmt::format("qemu-io -f qcow2 -c 'read -P {} 0 {}' '{}'",
                           pattern, len, path))
               .status == 0;
}

// With guest data shared between the active L1 and a snapshot, sharing or
// unsharing changes the COPIED flags of the active L2 tables and the
// refcounts of the data clusters together.  Both become live in the one
// header write, the flags in copies of the L2 tables, so no failure leaves
// a flag that disagrees with its refcount: check is clean at every step,
// and the guest sees its old disk or its new one.
TEST(Qcow2FaultWalkGuestData, SharedGuestDataIsCleanAtEveryFailedWrite)
{
    REQUIRE_QEMU_IMG();
    TempDir dir;
    std::string base = create_image(dir, "g.qcow2", "cluster_size=4096", "4M");
    ASSERT_EQ(
        run("qemu-io -f qcow2 -c 'write -P 0xab 0 1M' '" + base + "'").status,
        0);
    std::string work = dir.file("w.qcow2");
    for (int op = 0; op < 3; op++) {
        if (op == 2) {
            // Goto: the active L1 moved on from the snapshot's data.
            ASSERT_EQ(
                run("qemu-io -f qcow2 -c 'write -P 0xcd 0 256k' '" + base + "'")
                    .status,
                0);
        }
        if (op == 1) {
            // Delete: the snapshot shares the guest data with the active L1.
            auto img = MUST(Qcow2Image::open(base, false));
            MUST(img->create_snapshot(meta("old"), pattern(30000, 1)));
        }
        bool ok = false;
        uint64_t n = 0;
        for (; !ok && n < 10000; n++) {
            write_file(work, read_file(base));
            {
                auto img = MUST(Qcow2Image::open(work, false));
                img->set_write_budget(n);
                ok = op == 0
                         ? img->create_snapshot(meta("new"), pattern(30000, 2))
                               .has_value()
                     : op == 1 ? img->delete_snapshot("old").has_value()
                               : img->goto_snapshot("old").has_value();
            }
            Cmd ck = check(work);
            EXPECT_EQ(ck.status, 0) << "operation " << op << ", " << n
                                    << " writes: " << ck.out;
            ASSERT_TRUE(Qcow2Image::open(work, false).has_value());
            if (op == 2) {
                bool old_disk = guest_reads(work, "0xab", "256k");
                EXPECT_TRUE(old_disk || guest_reads(work, "0xcd", "256k"));
                // A failed flush after the header write may still have
                // committed; a success always has.
                EXPECT_TRUE(old_disk || !ok) << n << " writes";
            } else {
                EXPECT_TRUE(guest_reads(work, "0xab", "1M"));
            }
        }
        EXPECT_TRUE(ok);
        EXPECT_GT(n, 2u) << "operation " << op;
        // The image stays writable by QEMU, which trusts the flags.
        EXPECT_EQ(
            run("qemu-io -f qcow2 -c 'write -P 0xee 512k 64k' '" + work + "'")
                .status,
            0);
        EXPECT_EQ(check(work).status, 0);
    }
}

} // namespace
