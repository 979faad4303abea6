/*
 * Helpers for the qcow2 tests: temporary images made by Debian's qemu-img,
 * which is also the judge (`qemu-img check`, `qemu-img snapshot -l`).
 */
#pragma once

#include "block/qcow2.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace qcow2_test {

struct Cmd {
    int status = -1; // exit status, or -1 if it did not exit
    std::string out; // stdout + stderr
};

inline Cmd run(const std::string &cmd)
{
    Cmd r;
    FILE *p = popen((cmd + " 2>&1").c_str(), "r");
    if (!p) {
        return r;
    }
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) {
        r.out.append(buf, n);
    }
    int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

/// stdout only, for comparing qemu-img's listing.
inline Cmd run_stdout(const std::string &cmd)
{
    return run(cmd + " 2>/dev/null");
}

inline bool have_qemu_img()
{
    return run("qemu-img --version").status == 0;
}

#define REQUIRE_QEMU_IMG()                                                     \
    do {                                                                       \
        if (!::qcow2_test::have_qemu_img()) {                                  \
            GTEST_SKIP() << "qemu-img (Debian package qemu-utils) is not "     \
                            "installed: it is the judge of these tests";       \
        }                                                                      \
    } while (0)

class TempDir {
public:
    TempDir()
    {
        const char *t = std::getenv("TMPDIR");
        std::string tmpl = std::string(t ? t : "/tmp") + "/seoib-qcow2-XXXXXX";
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        if (mkdtemp(buf.data())) {
            m_path = buf.data();
        }
    }
    ~TempDir()
    {
        if (!m_path.empty()) {
            (void)run("rm -rf '" + m_path + "'");
        }
    }
    std::string file(const std::string &name) const
    {
        return m_path + "/" + name;
    }

private:
    std::string m_path;
};

/// qemu-img create -f qcow2 with OPTIONS (e.g. "compat=0.10,cluster_size=512").
inline std::string create_image(const TempDir &dir, const std::string &name,
                                const std::string &options,
                                const std::string &size = "64M")
{
    std::string path = dir.file(name);
    Cmd c = run("qemu-img create -q -f qcow2 -o " + options + " '" + path +
                "' " + size);
    EXPECT_EQ(c.status, 0) << c.out;
    return path;
}

/// `qemu-img check` exit status: 0 clean, 3 leaks only, 2 corruption.
inline Cmd check(const std::string &path)
{
    return run("qemu-img check '" + path + "'");
}

inline std::vector<uint8_t> read_file(const std::string &path)
{
    std::ifstream f(path, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

inline void write_file(const std::string &path, const std::vector<uint8_t> &b)
{
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(static_cast<const char *>(static_cast<const void *>(b.data())),
            std::streamsize(b.size()));
}

/// Bytes that differ with seed and position, so a misplaced cluster shows.
inline std::vector<uint8_t> pattern(size_t size, uint32_t seed)
{
    std::vector<uint8_t> v(size);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < size; i++) {
        x = x * 1103515245u + 12345u;
        v[i] = uint8_t(x >> 16);
    }
    return v;
}

inline block::SnapshotInfo meta(const std::string &name,
                                uint32_t date = 1700000000)
{
    block::SnapshotInfo m;
    m.name = name;
    m.date_sec = date;
    m.date_nsec = 123;
    m.vm_clock_nsec = 3723456000000ULL; // 01:02:03.456
    m.icount = UINT64_MAX;
    return m;
}

} // namespace qcow2_test
