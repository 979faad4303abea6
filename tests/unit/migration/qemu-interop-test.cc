/*
 * Differential tests against QEMU 7.2 (Debian 12's qemu-system-x86_64):
 * seoib reads a stream QEMU wrote, and QEMU reads one seoib wrote.
 * Skipped when qemu-system-x86_64 is not installed.
 */
#include "migration/ram.h"
#include "migration/savevm.h"

#include "qapi/qjson.h"
#include "test-vm.h"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using namespace migration;
using namespace migration_test;

constexpr std::string_view QEMU_MACHINE = "pc-q35-7.2";
// Debian's SeaBIOS image, which QEMU loads into its "pc.bios" block.
constexpr const char *SEABIOS = "/usr/share/seabios/bios-256k.bin";

std::string find_qemu()
{
    const char *path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/bin:/bin";
    size_t start = 0;
    while (start <= dirs.size()) {
        size_t end = dirs.find(':', start);
        std::string dir = dirs.substr(start, end - start);
        std::string candidate = dir + "/qemu-system-x86_64";
        if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) {
            return candidate;
        }
        if (end == std::string::npos) {
            break;
        }
        start = end + 1;
    }
    return {};
}

std::vector<uint8_t> read_file(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    return { std::istreambuf_iterator<char>(in), {} };
}

std::string read_text(const std::string &path)
{
    auto bytes = read_file(path);
    return { bytes.begin(), bytes.end() };
}

uint64_t be_at(const std::vector<uint8_t> &b, size_t at, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v = (v << 8) | b[at + size_t(i)];
    }
    return v;
}

std::set<std::string> keys_of(const qapi::QObject &dict)
{
    std::set<std::string> keys;
    for (const auto &[k, v] : *dict.as_dict()) {
        keys.insert(k);
    }
    return keys;
}

// Keys of every field entry, through nested structs.
void field_keys(const qapi::QObject &vmsd, std::set<std::string> &keys)
{
    if (const auto *fields = vmsd.get("fields")) {
        for (const auto &f : *fields->as_list()) {
            auto k = keys_of(f);
            keys.insert(k.begin(), k.end());
            if (const auto *s = f.get("struct")) {
                field_keys(*s, keys);
            }
        }
    }
}

// Keys used by any device entry of a VM description.
std::set<std::string> device_keys(const qapi::QObject &vmdesc)
{
    std::set<std::string> keys;
    for (const auto &d : *vmdesc.get("devices")->as_list()) {
        auto k = keys_of(d);
        keys.insert(k.begin(), k.end());
    }
    return keys;
}

// Keys used by any field entry of any device of a VM description.
std::set<std::string> all_field_keys(const qapi::QObject &vmdesc)
{
    std::set<std::string> keys;
    for (const auto &d : *vmdesc.get("devices")->as_list()) {
        field_keys(d, keys);
    }
    return keys;
}

/// Host memory for QEMU's RAM block list, and the blocks over it.
struct QemuLayoutRam {
    QemuLayoutRam(const std::vector<std::pair<std::string, uint64_t>> &layout)
    {
        for (const auto &[name, size] : layout) {
            memory.emplace_back(size);
        }
        for (size_t i = 0; i < layout.size(); i++) {
            blocks.push_back({ layout[i].first, memory[i] });
        }
    }
    std::vector<std::vector<uint8_t>> memory;
    std::vector<RAMBlock> blocks;
};

class QemuInterop : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        s_qemu = find_qemu();
        if (s_qemu.empty()) {
            return;
        }
        char dir[] = "/tmp/seoib-migration-XXXXXX";
        if (!mkdtemp(dir)) {
            return;
        }
        s_dir = dir;
        // HMP's migrate waits for the migration to end, so quit comes
        // after the stream is complete.
        std::string cmd = "printf 'migrate \"exec:cat > " + s_dir +
                          "/qemu.bin\"\\nquit\\n' | timeout 60 " + s_qemu +
                          " -M " + std::string(QEMU_MACHINE) +
                          " -nodefaults -display none -S -accel tcg -m 16"
                          " -monitor stdio > " +
                          s_dir + "/qemu-save.log 2>&1";
        if (std::system(cmd.c_str()) == 0) {
            s_stream = read_file(s_dir + "/qemu.bin");
        }
    }
    static void TearDownTestSuite()
    {
        if (!s_dir.empty()) {
            std::string cmd = "rm -rf " + s_dir;
            [[maybe_unused]] int rc = std::system(cmd.c_str());
        }
    }

    void SetUp() override
    {
        if (s_qemu.empty()) {
            GTEST_SKIP() << "qemu-system-x86_64 is not installed";
        }
        ASSERT_FALSE(s_stream.empty())
            << "QEMU wrote no stream; see " << s_dir << "/qemu-save.log";
    }

    /// QEMU's "ram" block list: (idstr, length), read from its START
    /// section as the format documents it.
    static std::vector<std::pair<std::string, uint64_t>> qemu_ram_blocks()
    {
        size_t at = 8 + 1;                          // header, 0x07
        at += 4 + size_t(be_at(s_stream, at, 4));   // machine type
        at += 1 + 4 + 1 + 3 + 4 + 4;                // START "ram" header
        uint64_t total = be_at(s_stream, at, 8) & ~uint64_t { 0xfff };
        at += 8;
        std::vector<std::pair<std::string, uint64_t>> blocks;
        while (total > 0) {
            size_t len = s_stream[at];
            std::string name(s_stream.begin() + ptrdiff_t(at + 1),
                             s_stream.begin() + ptrdiff_t(at + 1 + len));
            at += 1 + len;
            uint64_t size = be_at(s_stream, at, 8);
            at += 8;
            blocks.emplace_back(name, size);
            total -= size;
        }
        return blocks;
    }

    /// The JSON after QEMU_VM_EOF.
    static qapi::QObject qemu_vmdesc()
    {
        const std::string start = "{\"page_size\"";
        auto it = std::search(s_stream.begin(), s_stream.end(), start.begin(),
                              start.end());
        size_t at = size_t(it - s_stream.begin());
        EXPECT_EQ(s_stream[at - 5], QEMU_VM_VMDESCRIPTION);
        EXPECT_EQ(be_at(s_stream, at - 4, 4), s_stream.size() - at);
        return MUST(qapi::from_json(
            std::string(s_stream.begin() + ptrdiff_t(at), s_stream.end())));
    }

    /// Run QEMU 7.2 as a destination reading `stream`; its stderr.
    static std::string qemu_incoming(const std::vector<uint8_t> &stream,
                                     std::string_view machine)
    {
        std::string file = s_dir + "/seoib.bin";
        std::ofstream(file, std::ios::binary)
            .write(reinterpret_cast<const char *>(stream.data()),
                   std::streamsize(stream.size()));
        std::string log = s_dir + "/qemu-load.log";
        std::string cmd = "timeout 60 " + s_qemu + " -M " +
                          std::string(machine) +
                          " -nodefaults -display none -accel tcg -m 16"
                          " -incoming 'exec:cat " +
                          file + "' < /dev/null > " + log + " 2>&1";
        [[maybe_unused]] int rc = std::system(cmd.c_str());
        return read_text(log);
    }

    /// Run QEMU 7.2 as a paused destination of `stream`; once the load is
    /// over (HMP "info status" says plain "paused"), run `command` and
    /// quit.  Everything its monitor printed.
    static std::string qemu_load_and_run(const std::vector<uint8_t> &stream,
                                         std::string_view machine,
                                         const std::string &command)
    {
        std::string file = s_dir + "/seoib-full.bin";
        std::ofstream(file, std::ios::binary)
            .write(reinterpret_cast<const char *>(stream.data()),
                   std::streamsize(stream.size()));
        std::string log = s_dir + "/qemu-run.log";
        std::string cmd = "timeout 60 " + s_qemu + " -M " +
                          std::string(machine) +
                          " -nodefaults -display none -S -accel tcg -m 16"
                          " -monitor stdio -incoming 'exec:cat " +
                          file + "' > " + log + " 2>&1";
        signal(SIGPIPE, SIG_IGN);
        FILE *monitor = popen(cmd.c_str(), "w");
        if (!monitor) {
            return {};
        }
        // Poll, with a bound: the load runs in QEMU's main loop while the
        // monitor answers.
        for (int i = 0; i < 400; i++) {
            std::fputs("info status\n", monitor);
            std::fflush(monitor);
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
            std::string text = read_text(log);
            if (text.find("VM status: paused\r") != std::string::npos ||
                text.find("load of migration failed") != std::string::npos) {
                break;
            }
        }
        std::fputs((command + "\nquit\n").c_str(), monitor);
        pclose(monitor);
        return read_text(log);
    }

    static inline std::string s_qemu;
    static inline std::string s_dir;
    static inline std::vector<uint8_t> s_stream;
};

TEST_F(QemuInterop, ReadsQemusHeaderAndConfiguration)
{
    SaveVM savevm; // nothing registered: the first section is unknown
    MemoryReader r(s_stream);

    auto result = savevm.load_state(
        r, { .machine_type = std::string(QEMU_MACHINE) });

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(),
              "Unknown savevm section or instance 'ram' 0. Make sure that "
              "your current VM setup matches your saved VM setup, including "
              "any hotplugged devices");
}

TEST_F(QemuInterop, ReadsQemusMachineType)
{
    SaveVM savevm;
    MemoryReader r(s_stream);

    auto result = savevm.load_state(r, { .machine_type = "pc-i440fx-7.2" });

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(),
              "configuration: post_load failed: Machine type received is "
              "'pc-q35-7.2' and local is 'pc-i440fx-7.2'");
}

TEST_F(QemuInterop, LoadsQemusRamAndStopsAtTheFirstDevice)
{
    auto layout = qemu_ram_blocks();
    QemuLayoutRam host(layout);
    auto &memory = host.memory;
    RAMState ram(host.blocks);
    SaveVM savevm;
    MUST(ram.register_with(savevm));
    MemoryReader r(s_stream);

    auto result = savevm.load_state(
        r, { .machine_type = std::string(QEMU_MACHINE) });

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(),
              "Unknown savevm section or instance 'timer' 0. Make sure that "
              "your current VM setup matches your saved VM setup, including "
              "any hotplugged devices");
    EXPECT_EQ(layout.front(), (std::pair<std::string, uint64_t> {
                                  "pc.ram", 16 << 20 }));
    auto bios = read_file(SEABIOS);
    for (size_t i = 0; i < layout.size(); i++) {
        if (layout[i].first == "pc.bios" && bios.size() == memory[i].size()) {
            EXPECT_TRUE(bios == memory[i])
                << "pc.bios differs from " << SEABIOS;
        }
    }
}

TEST_F(QemuInterop, QemusDescriptionHasOurShape)
{
    auto theirs = qemu_vmdesc();
    TestVM vm;
    save_stream(vm);
    const auto &ours = vm.savevm.vmdesc();

    EXPECT_EQ(keys_of(theirs), keys_of(ours));
    EXPECT_EQ(theirs.get("page_size")->as_uint(),
              ours.get("page_size")->as_uint());
    auto their_device_keys = device_keys(theirs);
    auto our_device_keys = device_keys(ours);
    // QEMU's devices may also have "subsections"; ours here have none.
    our_device_keys.insert("subsections");
    EXPECT_EQ(their_device_keys, our_device_keys);
    auto their_field_keys = all_field_keys(theirs);
    auto our_field_keys = all_field_keys(ours);
    // Struct fields describe a nested vmsd in place; QEMU's
    // VMSTATE_WITH_TMP adds its own keys, which seoib does not write.
    for (const auto &k : our_field_keys) {
        EXPECT_TRUE(their_field_keys.count(k)) << k;
    }
}

TEST_F(QemuInterop, OurIOAPICDescriptionIsQemus)
{
    auto theirs = qemu_vmdesc();
    IOAPICTestState ioapic;
    SaveVM savevm;
    MUST(savevm.register_vmstate("ioapic", 0, ioapic_vmsd(), ioapic));
    MemoryWriter w;
    MUST(savevm.save_state(w, QEMU_MACHINE));
    const qapi::QObject *their_ioapic = nullptr;
    for (const auto &d : *theirs.get("devices")->as_list()) {
        if (*d.get("name")->as_string() == "ioapic") {
            their_ioapic = &d;
        }
    }

    ASSERT_NE(their_ioapic, nullptr);
    EXPECT_EQ(qapi::to_json(*their_ioapic),
              qapi::to_json((*savevm.vmdesc().get("devices")->as_list())[0]));
}

TEST_F(QemuInterop, QemuReadsOurConfiguration)
{
    TestVM vm;
    auto stream = save_stream(vm);

    auto log = qemu_incoming(stream, "pc-i440fx-7.2");

    EXPECT_NE(log.find("Machine type received is 'pc-q35-7.2' and local is "
                       "'pc-i440fx-7.2'"),
              std::string::npos)
        << log;
}

TEST_F(QemuInterop, QemuReadsOurRamBlockList)
{
    TestVM vm;
    auto stream = save_stream(vm);

    auto log = qemu_incoming(stream, QEMU_MACHINE);

    // QEMU parsed header, configuration, the START section header and our
    // block list, and compared pc.ram's size with its own 16 MiB.
    EXPECT_NE(log.find("Size mismatch: pc.ram: 0x10000 != 0x1000000"),
              std::string::npos)
        << log;
}

TEST_F(QemuInterop, QemuLoadsOurWholeStreamIntoItsRam)
{
    // seoib RAM laid out as QEMU's (the same blocks), one byte written in
    // pc.ram; no device sections, which QEMU 7.2 does not require.
    QemuLayoutRam host(qemu_ram_blocks());
    constexpr uint64_t MARK_ADDRESS = 0x5011;
    host.memory[0][MARK_ADDRESS] = 0x42; // pc.ram is guest-physical from 0
    RAMState ram(host.blocks);
    SaveVM savevm;
    MUST(ram.register_with(savevm));
    MemoryWriter w;
    MUST(savevm.save_state(w, QEMU_MACHINE));

    auto log = qemu_load_and_run(w.data(), QEMU_MACHINE, "xp /1bx 0x5011");

    EXPECT_EQ(log.find("load of migration failed"), std::string::npos) << log;
    EXPECT_NE(log.find("0000000000005011: 0x42"), std::string::npos) << log;
}

TEST_F(QemuInterop, QemuLoadsOurIOAPICSection)
{
    // seoib's "ioapic" description loaded by QEMU's: its monitor shows the
    // registers seoib sent.
    QemuLayoutRam host(qemu_ram_blocks());
    RAMState ram(host.blocks);
    IOAPICTestState ioapic;
    ioapic.ioregsel = 0x12;
    ioapic.ioredtbl.fill(0x10000); // masked, as after reset
    ioapic.ioredtbl[2] = 0x0000000000000031ULL; // vector 0x31, unmasked
    SaveVM savevm;
    MUST(ram.register_with(savevm));
    MUST(savevm.register_vmstate("ioapic", 0, ioapic_vmsd(), ioapic));
    MemoryWriter w;
    MUST(savevm.save_state(w, QEMU_MACHINE));

    auto log = qemu_load_and_run(w.data(), QEMU_MACHINE, "info pic");

    EXPECT_EQ(log.find("load of migration failed"), std::string::npos) << log;
    EXPECT_NE(log.find("ioapic0: ver=0x20 id=0x00 sel=0x12"), std::string::npos)
        << log;
    EXPECT_NE(log.find("pin 2  0x0000000000000031 dest=0 vec=49"),
              std::string::npos)
        << log;
}

} // namespace
