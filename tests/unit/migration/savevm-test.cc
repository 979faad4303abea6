/*
 * The savevm stream: layout, round trip, QEMU's error texts, hooks and
 * section order.
 */
#include "migration/savevm.h"

#include "qapi/qjson.h"
#include "test-vm.h"

#include <gtest/gtest.h>

#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using namespace migration;
using namespace migration_test;

uint32_t be32_at(const std::vector<uint8_t> &b, size_t at)
{
    return (uint32_t(b[at]) << 24) | (uint32_t(b[at + 1]) << 16) |
           (uint32_t(b[at + 2]) << 8) | b[at + 3];
}

TEST(SaveVM, StreamStartsWithHeaderAndConfiguration)
{
    TestVM vm;

    auto bytes = save_stream(vm);

    const std::vector<uint8_t> head = {
        0x51, 0x45, 0x56, 0x4d,  // QEMU_VM_FILE_MAGIC "QEVM"
        0x00, 0x00, 0x00, 0x03,  // QEMU_VM_FILE_VERSION
        0x07,                    // QEMU_VM_CONFIGURATION
        0x00, 0x00, 0x00, 0x0a,  // len
        'p', 'c', '-', 'q', '3', '5', '-', '7', '.', '2',
        0x01,                    // QEMU_VM_SECTION_START
        0x00, 0x00, 0x00, 0x01,  // section id 1
        3, 'r', 'a', 'm',        // idstr
        0x00, 0x00, 0x00, 0x00,  // instance id
        0x00, 0x00, 0x00, 0x04,  // version id
    };
    EXPECT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.begin() + head.size()),
              head);
}

TEST(SaveVM, StreamEndsWithEofAndDescription)
{
    TestVM vm;
    vm.fill();

    auto bytes = save_stream(vm);

    std::string json = qapi::to_json(vm.savevm.vmdesc());
    size_t desc_at = bytes.size() - json.size();
    EXPECT_EQ(bytes[desc_at - 6], QEMU_VM_EOF);
    EXPECT_EQ(bytes[desc_at - 5], QEMU_VM_VMDESCRIPTION);
    EXPECT_EQ(be32_at(bytes, desc_at - 4), json.size());
    EXPECT_EQ(std::string(bytes.begin() + ptrdiff_t(desc_at), bytes.end()),
              json);
}

TEST(SaveVM, DescriptionListsDeviceSectionsInStreamOrder)
{
    TestVM vm;
    vm.fill();

    save_stream(vm);

    // x86-seoib-state first: its priority puts it before every CPU.
    const auto &d = vm.savevm.vmdesc();
    EXPECT_EQ(*d.get("page_size")->as_uint(), 4096u);
    const auto &devices = *d.get("devices")->as_list();
    ASSERT_EQ(devices.size(), 3u);
    EXPECT_EQ(*devices[0].get("name")->as_string(), "x86-seoib-state");
    EXPECT_EQ(*devices[1].get("name")->as_string(), "cpu");
    EXPECT_EQ(*devices[2].get("name")->as_string(), "ioapic");
    EXPECT_EQ(qapi::to_json(devices[0]),
              R"({"name": "x86-seoib-state", "instance_id": 0, )"
              R"("vmsd_name": "x86-seoib-state", "version": 1, "fields": [)"
              R"({"name": "policy", "type": "uint8", "size": 1}]})");
}

TEST(SaveVM, FullStreamRoundTrips)
{
    TestVM src;
    src.fill();
    auto bytes = save_stream(src);
    TestVM dst;

    auto result = load_stream(dst, bytes);

    ASSERT_TRUE(result.has_value()) << result.error().message();
    EXPECT_EQ(result.value().machine_type, TEST_MACHINE);
    EXPECT_EQ(result.value().sections,
              (std::vector<std::string> { "ram", "x86-seoib-state", "cpu",
                                          "ioapic" }));
    EXPECT_EQ(dst.ram, src.ram);
    EXPECT_EQ(dst.bios, src.bios);
    EXPECT_EQ(dst.cpu.regs.rip, 0xfff0u);
    EXPECT_EQ(dst.cpu.msrs.size(), 1u);
    EXPECT_EQ(dst.cpu.lapic[0x30], 0x14);
    EXPECT_EQ(dst.ioapic.ioredtbl[2], 0x10030u);
    EXPECT_EQ(dst.seoib.policy, SeoibPolicy::Respected);
    ASSERT_TRUE(result.value().vmdesc.has_value());
    EXPECT_EQ(*result.value().vmdesc, src.savevm.vmdesc());
}

TEST(SaveVM, MachineTypeMismatchHasQemusText)
{
    TestVM src;
    auto bytes = save_stream(src);
    TestVM dst;

    auto result = load_stream(dst, bytes, { .machine_type = "pc-i440fx-7.2" });

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(),
              "configuration: post_load failed: Machine type received is "
              "'pc-q35-7.2' and local is 'pc-i440fx-7.2'");
}

TEST(SaveVM, WrongMagicIsNotAMigrationStream)
{
    TestVM src;
    auto bytes = save_stream(src);
    bytes[0] = 'X';
    TestVM dst;

    auto result = load_stream(dst, bytes);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(), "Not a migration stream (magic "
                                        "0x5845564d, expected 0x5145564d)");
}

TEST(SaveVM, VersionTwoIsObsolete)
{
    TestVM src;
    auto bytes = save_stream(src);
    bytes[7] = 2;
    TestVM dst;

    auto result = load_stream(dst, bytes);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(),
              "SaveVM v2 format is obsolete and don't work anymore");
}

TEST(SaveVM, OtherVersionIsUnsupported)
{
    TestVM src;
    auto bytes = save_stream(src);
    bytes[7] = 4;
    TestVM dst;

    auto result = load_stream(dst, bytes);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(),
              "Unsupported migration stream version 4 (expected 3)");
}

TEST(SaveVM, MissingConfigurationIsRefused)
{
    TestVM src;
    auto bytes = save_stream(src);
    bytes[8] = QEMU_VM_SECTION_START;
    TestVM dst;

    auto result = load_stream(dst, bytes);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(), "Configuration section missing");
}

TEST(SaveVM, UnknownSectionHasQemusText)
{
    TestVM src;
    src.fill();
    auto bytes = save_stream(src);
    TestVM dst(/*with_seoib_state=*/false);

    auto result = load_stream(dst, bytes);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(),
              "Unknown savevm section or instance 'x86-seoib-state' 0. Make "
              "sure that your current VM setup matches your saved VM setup, "
              "including any hotplugged devices");
}

TEST(SaveVM, SectionNotNeededIsNotSent)
{
    TestVM src; // quirked
    auto bytes = save_stream(src);
    TestVM dst(/*with_seoib_state=*/false);

    auto result = load_stream(dst, bytes);

    ASSERT_TRUE(result.has_value()) << result.error().message();
    EXPECT_EQ(result.value().sections,
              (std::vector<std::string> { "ram", "cpu", "ioapic" }));
    EXPECT_EQ(src.savevm.vmdesc().get("devices")->as_list()->size(), 2u);
}

TEST(SaveVM, NewerSectionVersionHasQemusText)
{
    TestVM src;
    auto v2 = vmstate<SeoibTestState>("x86-seoib-state")
                  .version(2)
                  .field("policy", &SeoibTestState::policy)
                  .build();
    ASSERT_TRUE(src.savevm.unregister("x86-seoib-state", 0));
    MUST(src.savevm.register_vmstate("x86-seoib-state", 0, v2, src.seoib,
                                     MigrationPriority::SeoibPolicy));
    auto bytes = save_stream(src);
    TestVM dst;

    auto result = load_stream(dst, bytes);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(),
              "savevm: unsupported version 2 for 'x86-seoib-state' v1");
}

TEST(SaveVM, SectionLoadErrorNamesTheSection)
{
    TestVM src;
    src.fill();
    auto bytes = save_stream(src);
    TestVM dst;
    // The policy byte follows the seoib section header: find it by its
    // idstr and skip instance id and version.
    std::string id = "x86-seoib-state";
    auto at = std::search(bytes.begin(), bytes.end(), id.begin(), id.end());
    ASSERT_NE(at, bytes.end());
    *(at + ptrdiff_t(id.size()) + 8) = 7;

    auto result = load_stream(dst, bytes);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(),
              "error while loading state for instance 0x0 of device "
              "'x86-seoib-state': x86-seoib-state: post_load failed: invalid "
              "SEOIB policy 7");
}

TEST(SaveVM, MissingFooterIsNamed)
{
    TestVM src;
    auto bytes = save_stream(src);
    TestVM dst;
    // The ioapic section is the last one: its footer is 5 bytes before
    // QEMU_VM_EOF.
    std::string json = qapi::to_json(src.savevm.vmdesc());
    size_t eof_at = bytes.size() - json.size() - 6;
    bytes[eof_at - 5] = 0x00;

    auto result = load_stream(dst, bytes);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(), "Missing section footer for ioapic");
}

TEST(SaveVM, BeforeSectionHookRunsAfterSeoibStateAndBeforeCpu)
{
    TestVM src;
    src.fill();
    auto bytes = save_stream(src);
    TestVM dst;
    std::vector<std::string> order;
    std::optional<SeoibPolicy> policy_at_first_cpu;
    LoadOptions options;
    options.before_section = [&](std::string_view idstr,
                                 uint32_t) -> qapi::Result<void> {
        order.emplace_back(idstr);
        if (idstr == "cpu" && !policy_at_first_cpu) {
            policy_at_first_cpu = dst.seoib.policy;
        }
        return {};
    };

    auto result = load_stream(dst, bytes, std::move(options));

    ASSERT_TRUE(result.has_value()) << result.error().message();
    EXPECT_EQ(order, (std::vector<std::string> { "ram", "x86-seoib-state",
                                                 "cpu", "ioapic" }));
    EXPECT_EQ(policy_at_first_cpu, SeoibPolicy::Respected);
}

TEST(SaveVM, HookErrorStopsTheLoadBeforeTheSection)
{
    TestVM src;
    src.fill();
    auto bytes = save_stream(src);
    TestVM dst;
    LoadOptions options;
    options.before_section = [](std::string_view idstr,
                                uint32_t) -> qapi::Result<void> {
        if (idstr == "cpu") {
            return qapi::Error("policy 'respected' cannot be honoured");
        }
        return {};
    };

    auto result = load_stream(dst, bytes, std::move(options));

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(),
              "policy 'respected' cannot be honoured");
    EXPECT_EQ(dst.cpu.regs.rip, 0u);
}

TEST(SaveVM, AfterSectionHookSeesEverySection)
{
    TestVM src;
    src.fill();
    auto bytes = save_stream(src);
    TestVM dst;
    std::vector<std::string> order;
    LoadOptions options;
    options.after_section = [&](std::string_view idstr,
                                uint32_t) -> qapi::Result<void> {
        order.emplace_back(idstr);
        return {};
    };

    auto result = load_stream(dst, bytes, std::move(options));

    ASSERT_TRUE(result.has_value());
    // ram: START, PART, END.
    EXPECT_EQ(order, (std::vector<std::string> { "ram", "ram", "ram",
                                                 "x86-seoib-state", "cpu",
                                                 "ioapic" }));
}

TEST(SaveVM, DuplicateRegistrationIsRefused)
{
    TestVM vm;
    IOAPICTestState other;

    auto result = vm.savevm.register_vmstate("ioapic", 0, ioapic_vmsd(), other);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(),
              "section 'ioapic' instance 0 is already registered");
}

TEST(SaveVM, SecondInstanceIsItsOwnSection)
{
    TestVM src;
    IOAPICTestState second_src;
    second_src.id = 9;
    MUST(src.savevm.register_vmstate("ioapic", 1, ioapic_vmsd(), second_src));
    auto bytes = save_stream(src);
    TestVM dst;
    IOAPICTestState second_dst;
    MUST(dst.savevm.register_vmstate("ioapic", 1, ioapic_vmsd(), second_dst));

    auto result = load_stream(dst, bytes);

    ASSERT_TRUE(result.has_value()) << result.error().message();
    EXPECT_EQ(second_dst.id, 9);
}

TEST(SaveVM, LiveMigrationOverASocketRoundTrips)
{
    // The source streams through a socket while the destination reads it,
    // as "-incoming unix:" or "tcp:" will.
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    FakeDirtyLog log;
    TestVM src(true, &log);
    src.fill();
    qapi::Result<void> sent;
    std::thread source([&] {
        FdWriter w(fds[0]);
        sent = [&]() -> qapi::Result<void> {
            TRY(src.savevm.save_header(w, TEST_MACHINE));
            TRY(src.savevm.save_setup(w));
            TRY(src.savevm.save_iterate(w));
            src.ram[7 * TARGET_PAGE_SIZE] = 0x70;
            log.write(0, 7);
            TRY(src.savevm.save_iterate(w));
            return src.savevm.save_complete(w);
        }();
        close(fds[0]);
    });
    TestVM dst;
    FdReader r(fds[1]);

    auto result = dst.savevm.load_state(
        r, { .machine_type = std::string(TEST_MACHINE) });

    source.join();
    close(fds[1]);
    ASSERT_TRUE(sent.has_value()) << sent.error().message();
    ASSERT_TRUE(result.has_value()) << result.error().message();
    EXPECT_EQ(dst.ram, src.ram);
    EXPECT_EQ(dst.seoib.policy, SeoibPolicy::Respected);
    EXPECT_EQ(*result.value().vmdesc, src.savevm.vmdesc());
}

TEST(SaveVM, CommandSectionsAreRefused)
{
    // QEMU_VM_COMMAND (postcopy, COLO) right after the configuration.
    const std::vector<uint8_t> bytes = {
        0x51, 0x45, 0x56, 0x4d, 0x00, 0x00, 0x00, 0x03, // QEVM v3
        0x07, 0x00, 0x00, 0x00, 0x0a,                   // configuration
        'p', 'c', '-', 'q', '3', '5', '-', '7', '.', '2',
        0x08, 0x00, 0x01, 0x00, 0x00,                   // QEMU_VM_COMMAND
    };
    TestVM dst;

    auto result = load_stream(dst, bytes);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(),
              "Unknown savevm section type 8 at offset 23");
}

} // namespace
