/*
 * Hostile streams: every truncation of a real stream and a few thousand
 * seeded corruptions load to an error (or, for harmless corruptions, to
 * success), never to a crash or an escaping exception.
 */
#include "migration/savevm.h"

#include "qapi/qjson.h"
#include "test-vm.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace {

using namespace migration;
using namespace migration_test;

class StreamRobustness : public ::testing::Test {
protected:
    void SetUp() override
    {
        TestVM src;
        src.fill();
        m_stream = save_stream(src);
        m_desc_len = qapi::to_json(src.savevm.vmdesc()).size();
    }

    // Offset just past QEMU_VM_EOF.
    size_t end_of_sections() const { return m_stream.size() - m_desc_len - 5; }

    std::vector<uint8_t> m_stream;
    size_t m_desc_len { 0 };
};

TEST_F(StreamRobustness, EveryTruncationIsACleanError)
{
    // One destination for all loads: each load starts from the header, and
    // a partly loaded VM is what a failed load leaves anyway.
    TestVM dst;
    std::vector<size_t> accepted;
    std::vector<std::string> odd_errors;

    for (size_t len = 0; len < m_stream.size(); len++) {
        auto result = load_stream(dst, std::span(m_stream.data(), len));
        if (result.has_value()) {
            accepted.push_back(len);
        } else if (result.error().message().find("truncated") ==
                   std::string::npos) {
            odd_errors.push_back(result.error().message());
        }
    }

    // Cut right after QEMU_VM_EOF, the stream is complete without its
    // description, which QEMU's loader never reads either.
    EXPECT_EQ(accepted, std::vector<size_t> { end_of_sections() });
    EXPECT_EQ(odd_errors, std::vector<std::string> {});
}

TEST_F(StreamRobustness, TruncationInsideASectionNamesIt)
{
    TestVM dst;
    // The last byte of the ioapic section's body: 5 bytes of footer and
    // the last ioredtbl byte before QEMU_VM_EOF.
    size_t cut = end_of_sections() - 1 - 5 - 1;

    auto result = load_stream(dst, std::span(m_stream.data(), cut));

    ASSERT_FALSE(result.has_value());
    EXPECT_NE(result.error().message().find(
                  "of device 'ioapic': Failed to load ioapic:ioredtbl: "
                  "stream truncated at offset"),
              std::string::npos)
        << result.error().message();
}

TEST_F(StreamRobustness, SeededCorruptionsNeverCrash)
{
    std::mt19937 rng(20260314);
    TestVM dst;
    int loaded = 0, refused = 0;
    constexpr int MUTATIONS = 3000;

    for (int i = 0; i < MUTATIONS; i++) {
        std::vector<uint8_t> bytes = m_stream;
        std::uniform_int_distribution<size_t> pos(0, bytes.size() - 1);
        switch (i % 4) {
        case 0: // flip one byte
            bytes[pos(rng)] ^= uint8_t(1 + rng() % 255);
            break;
        case 1: // a huge be32 (section id, length, count, version)
            for (size_t at = pos(rng), k = 0; k < 4 && at + k < bytes.size();
                 k++) {
                bytes[at + k] = 0xff;
            }
            break;
        case 2: // a few random bytes
            for (int k = 0; k < 4; k++) {
                bytes[pos(rng)] = uint8_t(rng());
            }
            break;
        default: { // drop a chunk
            size_t from = pos(rng);
            size_t to = std::min(bytes.size(), from + 1 + rng() % 64);
            bytes.erase(bytes.begin() + ptrdiff_t(from),
                        bytes.begin() + ptrdiff_t(to));
            break;
        }
        }
        auto result = load_stream(dst, bytes);
        if (result.has_value()) {
            loaded++;
        } else {
            EXPECT_FALSE(result.error().message().empty());
            refused++;
        }
    }

    EXPECT_EQ(loaded + refused, MUTATIONS);
    EXPECT_GT(refused, 0);
}

} // namespace
