/*
 * Byte streams: encodings, sticky errors, bounds, file descriptors.
 */
#include "migration/qemu-file.h"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using namespace migration;

TEST(StreamWriter, IntegersAreBigEndian)
{
    MemoryWriter w;

    w.put_byte(0x01);
    w.put_be16(0x0203);
    w.put_be32(0x04050607);
    w.put_be64(0x08090a0b0c0d0e0fULL);

    EXPECT_EQ(w.data(), (std::vector<uint8_t> { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                                11, 12, 13, 14, 15 }));
    EXPECT_EQ(w.transferred(), 15u);
}

TEST(StreamWriter, CountedStringHasLengthByte)
{
    MemoryWriter w;

    w.put_counted_string("ram");

    EXPECT_EQ(w.data(), (std::vector<uint8_t> { 3, 'r', 'a', 'm' }));
}

TEST(StreamWriter, OverlongCountedStringIsStickyError)
{
    MemoryWriter w;

    w.put_counted_string(std::string(256, 'x'));
    w.put_byte(1);

    ASSERT_NE(w.error(), nullptr);
    EXPECT_EQ(w.transferred(), 0u);
}

TEST(StreamReader, ReadsWhatWriterWrote)
{
    MemoryWriter w;
    w.put_be16(0xbeef);
    w.put_be64(0x1122334455667788ULL);
    w.put_counted_string("pc.ram");
    MemoryReader r(w.data());

    auto a = r.get_be16();
    auto b = r.get_be64();
    auto c = r.get_counted_string();

    EXPECT_EQ(a, 0xbeef);
    EXPECT_EQ(b, 0x1122334455667788ULL);
    EXPECT_EQ(c, "pc.ram");
    EXPECT_TRUE(r.at_end());
    EXPECT_EQ(r.error(), nullptr);
}

TEST(StreamReader, ReadPastEndIsStickyAndReturnsZero)
{
    const std::vector<uint8_t> bytes = { 0xaa, 0xbb, 0xcc };
    MemoryReader r(bytes);

    uint8_t first = r.get_byte();
    uint32_t past = r.get_be32();
    uint8_t after = r.get_byte();

    EXPECT_EQ(first, 0xaa);
    EXPECT_EQ(past, 0u);
    EXPECT_EQ(after, 0u); // sticky: the byte that is there is not read
    ASSERT_NE(r.error(), nullptr);
    EXPECT_EQ(r.error()->message(), "stream truncated at offset 1");
    EXPECT_EQ(r.offset(), 1u);
}

TEST(StreamReader, CountedStringLongerThanStreamFails)
{
    const std::vector<uint8_t> bytes = { 200, 'a', 'b' };
    MemoryReader r(bytes);

    auto s = r.get_counted_string();

    EXPECT_FALSE(s.has_value());
    ASSERT_NE(r.error(), nullptr);
}

TEST(StreamReader, PeekDoesNotConsumeOrFail)
{
    const std::vector<uint8_t> bytes = { 5, 6 };
    MemoryReader r(bytes);

    auto second = r.peek_byte(1);
    auto beyond = r.peek_byte(2);

    EXPECT_EQ(second, 6);
    EXPECT_FALSE(beyond.has_value());
    EXPECT_EQ(r.offset(), 0u);
    EXPECT_EQ(r.error(), nullptr);
}

class FdStream : public ::testing::Test {
protected:
    void SetUp() override
    {
        m_file = std::tmpfile();
        ASSERT_NE(m_file, nullptr);
    }
    void TearDown() override { std::fclose(m_file); }
    int fd() { return fileno(m_file); }

    FILE *m_file { nullptr };
};

TEST_F(FdStream, WriterBuffersAndFlushes)
{
    FdWriter w(fd());
    // More than one buffer's worth, so that some is written before flush.
    std::vector<uint8_t> big(FdWriter::BUFFER_SIZE * 2 + 17, 0x5a);

    w.put_be32(0x5145564d);
    w.put_buffer(big);
    auto flushed = w.flush();

    ASSERT_TRUE(flushed.has_value());
    EXPECT_EQ(w.transferred(), 4 + big.size());
    EXPECT_EQ(lseek(fd(), 0, SEEK_END), off_t(4 + big.size()));
}

TEST_F(FdStream, ReaderReadsAcrossBuffersAndStopsAtEnd)
{
    FdWriter w(fd());
    std::vector<uint8_t> big(FdReader::BUFFER_SIZE + 100);
    big.back() = 0x77;
    w.put_buffer(big);
    w.put_be16(0x1234);
    MUST(w.flush());
    lseek(fd(), 0, SEEK_SET);
    FdReader r(fd());
    std::vector<uint8_t> got(big.size());

    bool ok = r.get_buffer(got);
    uint16_t tail = r.get_be16();
    bool end = r.at_end();
    r.get_byte();

    EXPECT_TRUE(ok);
    EXPECT_EQ(got.back(), 0x77);
    EXPECT_EQ(tail, 0x1234);
    EXPECT_TRUE(end);
    ASSERT_NE(r.error(), nullptr);
    EXPECT_EQ(r.error()->message(),
              "stream truncated at offset " + std::to_string(big.size() + 2));
}

TEST(FdWriter, WriteToClosedPipeIsAnError)
{
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    close(fds[0]);
    signal(SIGPIPE, SIG_IGN);
    FdWriter w(fds[1]);

    w.put_be32(1);
    auto flushed = w.flush();

    close(fds[1]);
    ASSERT_FALSE(flushed.has_value());
    EXPECT_EQ(flushed.error().os_errno(), EPIPE);
}

} // namespace
