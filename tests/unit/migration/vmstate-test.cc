/*
 * VMState descriptions: every field kind, versions, subsections, hooks,
 * golden bytes and the JSON description.
 */
#include "migration/vmstate.h"

#include "qapi/qjson.h"
#include "test-devices.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using namespace migration;
using namespace migration_test;

enum class Colour : uint16_t { Red = 1, Blue = 0x0203 };

struct Inner {
    uint32_t a { 0 };
    int8_t b { 0 };
    bool operator==(const Inner &) const = default;
};

struct Everything {
    bool flag { false };
    uint8_t u8 { 0 };
    uint16_t u16 { 0 };
    uint32_t u32 { 0 };
    uint64_t u64 { 0 };
    int8_t i8 { 0 };
    int16_t i16 { 0 };
    int32_t i32 { 0 };
    int64_t i64 { 0 };
    Colour colour { Colour::Red };
    uint32_t c_array[3] {};
    std::array<int16_t, 2> std_array {};
    uint8_t bytes[5] {};
    uint32_t name_len { 0 };
    std::string name;
    Inner inner;
    std::array<Inner, 2> inners {};
    uint32_t ninner { 0 };
    std::vector<Inner> more;
};

VMStateDescription<Inner> inner_vmsd()
{
    return vmstate<Inner>("inner")
        .version(1)
        .field("a", &Inner::a)
        .field("b", &Inner::b)
        .build();
}

VMStateDescription<Everything> everything_vmsd()
{
    using S = Everything;
    return vmstate<S>("everything")
        .version(1)
        .field("flag", &S::flag)
        .field("u8", &S::u8)
        .field("u16", &S::u16)
        .field("u32", &S::u32)
        .field("u64", &S::u64)
        .field("i8", &S::i8)
        .field("i16", &S::i16)
        .field("i32", &S::i32)
        .field("i64", &S::i64)
        .field("colour", &S::colour)
        .field("c_array", &S::c_array)
        .field("std_array", &S::std_array)
        .buffer("bytes", &S::bytes)
        .unused(3)
        .field("name_len", &S::name_len)
        .vbuffer("name", &S::name, &S::name_len, 64)
        .field("inner", &S::inner, inner_vmsd())
        .field("inners", &S::inners, inner_vmsd())
        .field("ninner", &S::ninner)
        .varray("more", &S::more, &S::ninner, 4, inner_vmsd())
        .build();
}

Everything sample_everything()
{
    Everything s;
    s.flag = true;
    s.u8 = 0xab;
    s.u16 = 0xbeef;
    s.u32 = 0xdeadbeef;
    s.u64 = 0x0123456789abcdefULL;
    s.i8 = -2;
    s.i16 = -300;
    s.i32 = -70000;
    s.i64 = -5000000000LL;
    s.colour = Colour::Blue;
    s.c_array[0] = 1;
    s.c_array[2] = 3;
    s.std_array = { -1, 7 };
    s.bytes[4] = 0x55;
    s.name = "pc-q35";
    s.name_len = 6;
    s.inner = { 9, -9 };
    s.inners = { Inner { 1, 2 }, Inner { 3, 4 } };
    s.more = { Inner { 5, 6 }, Inner { 7, 8 }, Inner { 9, 10 } };
    s.ninner = 3;
    return s;
}

std::vector<uint8_t> save(const auto &vmsd, auto &state)
{
    MemoryWriter w;
    MUST(vmsd.save_state(w, state));
    return w.take();
}

TEST(VMState, EveryFieldKindRoundTrips)
{
    auto vmsd = everything_vmsd();
    Everything src = sample_everything();
    auto bytes = save(vmsd, src);
    Everything dst;
    MemoryReader r(bytes);

    auto result = vmsd.load_state(r, dst, 1);

    ASSERT_TRUE(result.has_value()) << result.error().message();
    EXPECT_TRUE(r.at_end());
    EXPECT_EQ(dst.flag, true);
    EXPECT_EQ(dst.u8, 0xab);
    EXPECT_EQ(dst.u16, 0xbeef);
    EXPECT_EQ(dst.u32, 0xdeadbeefu);
    EXPECT_EQ(dst.u64, 0x0123456789abcdefULL);
    EXPECT_EQ(dst.i8, -2);
    EXPECT_EQ(dst.i16, -300);
    EXPECT_EQ(dst.i32, -70000);
    EXPECT_EQ(dst.i64, -5000000000LL);
    EXPECT_EQ(dst.colour, Colour::Blue);
    EXPECT_EQ(dst.c_array[2], 3u);
    EXPECT_EQ(dst.std_array, (std::array<int16_t, 2> { -1, 7 }));
    EXPECT_EQ(dst.bytes[4], 0x55);
    EXPECT_EQ(dst.name, "pc-q35");
    EXPECT_EQ(dst.inner, (Inner { 9, -9 }));
    EXPECT_EQ(dst.inners[1], (Inner { 3, 4 }));
    EXPECT_EQ(dst.more, src.more);
}

TEST(VMState, EveryFieldKindHasItsSize)
{
    auto vmsd = everything_vmsd();
    Everything src = sample_everything();

    auto bytes = save(vmsd, src);

    // bool 1, ints 1+2+4+8+1+2+4+8, enum 2, 3*4, 2*2, buffer 5, unused 3,
    // len 4 + name 6, inner 5, inners 2*5, count 4, more 3*5.
    EXPECT_EQ(bytes.size(),
              1u + 30 + 2 + 12 + 4 + 5 + 3 + 10 + 5 + 10 + 4 + 15);
}

struct Small {
    uint8_t a { 0 };
    uint16_t b { 0 };
    uint32_t c { 0 };
    bool d { false };
    int32_t e { 0 };
    std::array<uint16_t, 2> f {};
    bool extra { false };
    uint8_t g { 0 };
};

VMStateDescription<Small> small_vmsd()
{
    auto sub = vmstate<Small>("small/extra")
                   .version(1)
                   .needed([](const Small &s) { return s.extra; })
                   .field("g", &Small::g)
                   .build();
    return vmstate<Small>("small")
        .version(2)
        .minimum_version(1)
        .field("a", &Small::a)
        .field("b", &Small::b)
        .field("c", &Small::c)
        .since(2)
        .field("d", &Small::d)
        .field("e", &Small::e)
        .field("f", &Small::f)
        .unused(2)
        .subsection(sub)
        .build();
}

TEST(VMState, GoldenBytesOfSmallDescription)
{
    Small s { .a = 0x01, .b = 0x0203, .c = 0x04050607, .d = true, .e = -2,
              .f = { 0x0809, 0x0a0b }, .extra = true, .g = 0x0c };

    auto bytes = save(small_vmsd(), s);

    const std::vector<uint8_t> golden = {
        0x01,                   // a
        0x02, 0x03,             // b, big-endian
        0x04, 0x05, 0x06, 0x07, // c (since 2)
        0x01,                   // d
        0xff, 0xff, 0xff, 0xfe, // e = -2
        0x08, 0x09, 0x0a, 0x0b, // f[2]
        0x00, 0x00,             // unused(2)
        0x05,                   // QEMU_VM_SUBSECTION
        11, 's', 'm', 'a', 'l', 'l', '/', 'e', 'x', 't', 'r', 'a',
        0x00, 0x00, 0x00, 0x01, // subsection version
        0x0c,                   // g
    };
    EXPECT_EQ(bytes, golden);
}

std::vector<uint8_t> be64(uint64_t v)
{
    std::vector<uint8_t> b;
    for (int shift = 56; shift >= 0; shift -= 8) {
        b.push_back(uint8_t(v >> shift));
    }
    return b;
}

TEST(VMState, GoldenBytesOfIOAPICVersion3)
{
    IOAPICTestState s;
    s.id = 0x02;
    s.ioregsel = 0x10;
    s.irr = 0x00000100;
    s.ioredtbl.fill(0x0000000000010000ULL); // masked
    s.ioredtbl[5] = 0x0f00000000000031ULL;

    auto bytes = save(ioapic_vmsd(), s);

    std::vector<uint8_t> golden = { 0x02, 0x10, 0, 0, 0, 0, 0, 0, 0, 0,
                                    0x00, 0x00, 0x01, 0x00 };
    for (size_t pin = 0; pin < IOAPIC_NUM_PINS; pin++) {
        auto e = be64(s.ioredtbl[pin]);
        golden.insert(golden.end(), e.begin(), e.end());
    }
    EXPECT_EQ(bytes, golden);
}

TEST(VMState, GoldenBytesOfSeoibState)
{
    SeoibTestState s { SeoibPolicy::NotAdvertised };

    auto bytes = save(seoib_state_vmsd(), s);

    EXPECT_EQ(bytes, (std::vector<uint8_t> { 0x02 }));
}

TEST(VMState, OlderVersionLeavesNewerFieldsAlone)
{
    // A version 1 stream of "ioapic": no unused bytes, no irr.
    std::vector<uint8_t> v1 = { 0x03, 0x07 };
    auto e = be64(0x31);
    for (size_t pin = 0; pin < IOAPIC_NUM_PINS; pin++) {
        v1.insert(v1.end(), e.begin(), e.end());
    }
    IOAPICTestState dst;
    dst.irr = 0x1234;
    MemoryReader r(v1);

    auto result = ioapic_vmsd().load_state(r, dst, 1);

    ASSERT_TRUE(result.has_value()) << result.error().message();
    EXPECT_TRUE(r.at_end());
    EXPECT_EQ(dst.id, 0x03);
    EXPECT_EQ(dst.ioregsel, 0x07);
    EXPECT_EQ(dst.irr, 0x1234u);
    EXPECT_EQ(dst.ioredtbl[23], 0x31u);
}

TEST(VMState, VersionBelowMinimumIsRefused)
{
    std::vector<uint8_t> bytes(256);
    IOAPICTestState dst;
    MemoryReader r(bytes);

    auto result = ioapic_vmsd().load_state(r, dst, 0);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(), "ioapic: incoming version_id 0 is too "
                                        "old for local minimum version_id 1");
    EXPECT_EQ(r.offset(), 0u);
}

TEST(VMState, VersionAboveOursIsRefused)
{
    std::vector<uint8_t> bytes(256);
    IOAPICTestState dst;
    MemoryReader r(bytes);

    auto result = ioapic_vmsd().load_state(r, dst, 4);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(),
              "ioapic: incoming version_id 4 is too new for local "
              "version_id 3");
}

TEST(VMState, NeededSubsectionTravels)
{
    IOAPICTestState src;
    src.version = 0x11;
    auto bytes = save(ioapic_vmsd(), src);
    IOAPICTestState dst;
    MemoryReader r(bytes);

    auto result = ioapic_vmsd().load_state(r, dst, 3);

    ASSERT_TRUE(result.has_value()) << result.error().message();
    EXPECT_EQ(dst.version, 0x11);
    EXPECT_TRUE(r.at_end());
}

TEST(VMState, AbsentSubsectionLeavesPreLoadDefault)
{
    IOAPICTestState src; // version 0x20: subsection not needed
    auto bytes = save(ioapic_vmsd(), src);
    IOAPICTestState dst;
    dst.version = 0x11;
    MemoryReader r(bytes);

    auto result = ioapic_vmsd().load_state(r, dst, 3);

    ASSERT_TRUE(result.has_value()) << result.error().message();
    EXPECT_EQ(bytes.size(), 2u + 8 + 4 + 8 * IOAPIC_NUM_PINS);
    EXPECT_EQ(dst.version, IOAPIC_VER_DEFAULT);
}

TEST(VMState, UnknownSubsectionIsAnErrorNamingIt)
{
    auto extra = vmstate<IOAPICTestState>("ioapic/extra")
                     .version(1)
                     .field("id", &IOAPICTestState::id)
                     .build();
    auto newer = vmstate<IOAPICTestState>("ioapic")
                     .version(3)
                     .field("id", &IOAPICTestState::id)
                     .field("ioregsel", &IOAPICTestState::ioregsel)
                     .unused(8)
                     .field("irr", &IOAPICTestState::irr)
                     .field("ioredtbl", &IOAPICTestState::ioredtbl)
                     .subsection(extra)
                     .build();
    IOAPICTestState src;
    auto bytes = save(newer, src);
    IOAPICTestState dst;
    MemoryReader r(bytes);

    auto result = ioapic_vmsd().load_state(r, dst, 3);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(),
              "ioapic: unknown subsection 'ioapic/extra'");
}

TEST(VMState, SubsectionOfAnotherDescriptionEndsTheList)
{
    // What follows the fields is a subsection of "other": it belongs to
    // whoever reads next, so loading stops in front of it.
    SeoibTestState s;
    std::vector<uint8_t> bytes = { 0x01, 0x05, 7, 'o', 't', 'h', 'e', 'r',
                                   '/', 'x', 0, 0, 0, 1 };
    MemoryReader r(bytes);

    auto result = seoib_state_vmsd().load_state(r, s, 1);

    ASSERT_TRUE(result.has_value()) << result.error().message();
    EXPECT_EQ(r.offset(), 1u);
}

TEST(VMState, PreSaveRunsBeforeTheFieldsAreWritten)
{
    X86VcpuTestState src;
    src.msrs = { MSREntry { 0x10, 1 }, MSREntry { 0xc0000080, 0x500 } };
    src.nmsrs = 0; // stale: pre_save fixes it
    auto bytes = save(vcpu_vmsd(), src);
    X86VcpuTestState dst;
    MemoryReader r(bytes);

    auto result = vcpu_vmsd().load_state(r, dst, 1);

    ASSERT_TRUE(result.has_value()) << result.error().message();
    EXPECT_EQ(dst.nmsrs, 2u);
    EXPECT_EQ(dst.msrs[1].index, 0xc0000080u);
    EXPECT_EQ(dst.msrs[1].data, 0x500u);
}

TEST(VMState, VcpuStateRoundTrips)
{
    X86VcpuTestState src;
    src.regs.gpr[15] = 0xf00d;
    src.regs.rip = 0xfff0;
    src.sregs.segs[1] = X86Segment { 0xf0000, 0xffff, 0xf000, 0xb, true };
    src.sregs.tr.limit = 0x67;
    src.sregs.efer = 0x500;
    src.lapic[0x30] = 0x14; // LVR
    auto bytes = save(vcpu_vmsd(), src);
    X86VcpuTestState dst;
    MemoryReader r(bytes);

    auto result = vcpu_vmsd().load_state(r, dst, 1);

    ASSERT_TRUE(result.has_value()) << result.error().message();
    EXPECT_EQ(dst.regs.gpr[15], 0xf00du);
    EXPECT_EQ(dst.regs.rip, 0xfff0u);
    EXPECT_EQ(dst.sregs.segs[1].selector, 0xf000);
    EXPECT_TRUE(dst.sregs.segs[1].present);
    EXPECT_EQ(dst.sregs.tr.limit, 0x67u);
    EXPECT_EQ(dst.sregs.efer, 0x500u);
    EXPECT_EQ(dst.lapic[0x30], 0x14);
}

TEST(VMState, PostLoadRunsOnceAfterTheFields)
{
    IOAPICTestState src;
    src.irr = 5;
    auto bytes = save(ioapic_vmsd(), src);
    IOAPICTestState dst;
    MemoryReader r(bytes);

    auto result = ioapic_vmsd().load_state(r, dst, 3);

    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(dst.post_load_calls, 1);
    EXPECT_EQ(dst.irr, 5u);
}

TEST(VMState, PostLoadFailureFailsTheLoad)
{
    std::vector<uint8_t> bytes = { 0x07 }; // no such policy
    SeoibTestState dst;
    MemoryReader r(bytes);

    auto result = seoib_state_vmsd().load_state(r, dst, 1);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(),
              "x86-seoib-state: post_load failed: invalid SEOIB policy 7");
}

TEST(VMState, PreSaveFailureStopsTheSave)
{
    auto vmsd = vmstate<SeoibTestState>("x86-seoib-state")
                    .version(1)
                    .field("policy", &SeoibTestState::policy)
                    .pre_save([](SeoibTestState &) -> qapi::Result<void> {
                        return qapi::Error("device busy");
                    })
                    .build();
    SeoibTestState s;
    MemoryWriter w;

    auto result = vmsd.save_state(w, s);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(),
              "x86-seoib-state: pre_save failed: device busy");
    EXPECT_EQ(w.transferred(), 0u);
}

TEST(VMState, TruncationNamesDescriptionFieldAndOffset)
{
    std::vector<uint8_t> bytes = { 0x01, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0xaa };
    IOAPICTestState dst;
    MemoryReader r(bytes);

    auto result = ioapic_vmsd().load_state(r, dst, 3);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(),
              "Failed to load ioapic:irr: stream truncated at offset 10");
}

TEST(VMState, VarrayCountAboveLimitIsRefused)
{
    X86VcpuTestState src;
    auto bytes = save(vcpu_vmsd(), src);
    // nmsrs follows the registers (18 * 8 bytes), seven 16-byte segments
    // and five 8-byte control registers.
    size_t nmsrs_at = 18 * 8 + 7 * 16 + 5 * 8;
    bytes[nmsrs_at] = 0x7f; // 0x7f000000 MSRs
    X86VcpuTestState dst;
    MemoryReader r(bytes);

    auto result = vcpu_vmsd().load_state(r, dst, 1);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(),
              "Failed to load x86-vcpu:msrs: 2130706432 elements exceed the "
              "limit 64");
}

TEST(VMState, VbufferLengthAboveLimitIsRefused)
{
    struct Named {
        uint32_t len { 0 };
        std::string name;
    };
    auto vmsd = vmstate<Named>("named")
                    .version(1)
                    .field("len", &Named::len)
                    .vbuffer("name", &Named::name, &Named::len, 16)
                    .build();
    std::vector<uint8_t> bytes = { 0xff, 0xff, 0xff, 0xff };
    Named dst;
    MemoryReader r(bytes);

    auto result = vmsd.load_state(r, dst, 1);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(), "Failed to load named:name: "
                                        "4294967295 bytes exceed the limit 16");
}

TEST(VMState, DescriptionOfIOAPICIsQemus)
{
    IOAPICTestState s;
    MemoryWriter w;
    qapi::QObject desc = qapi::QObject::dict();

    MUST(ioapic_vmsd().save_state(w, s, &desc));

    // What QEMU 7.2 writes for its "ioapic" (pc-q35-7.2).
    EXPECT_EQ(qapi::to_json(desc),
              R"({"vmsd_name": "ioapic", "version": 3, "fields": [)"
              R"({"name": "id", "type": "uint8", "size": 1}, )"
              R"({"name": "ioregsel", "type": "uint8", "size": 1}, )"
              R"({"name": "unused", "type": "unused_buffer", "size": 8}, )"
              R"({"name": "irr", "type": "uint32", "size": 4}, )"
              R"({"name": "ioredtbl", "array_len": 24, "type": "uint64", )"
              R"("size": 8}]})");
}

TEST(VMState, DescriptionNestsStructsAndListsSubsections)
{
    IOAPICTestState s;
    s.version = 0x11;
    MemoryWriter w;
    qapi::QObject desc = qapi::QObject::dict();

    MUST(ioapic_vmsd().save_state(w, s, &desc));

    EXPECT_EQ(qapi::to_json(*desc.get("subsections")),
              R"([{"vmsd_name": "ioapic/version", "version": 1, "fields": [)"
              R"({"name": "version", "type": "uint8", "size": 1}]}])");
}

TEST(VMState, DescriptionOfStructArray)
{
    X86VcpuTestState s;
    MemoryWriter w;
    qapi::QObject desc = qapi::QObject::dict();

    MUST(vcpu_vmsd().save_state(w, s, &desc));

    const auto &segs = (*desc.get("fields")->as_list())[3];
    EXPECT_EQ(qapi::to_json(segs),
              R"({"name": "sregs.segs", "array_len": 6, "type": "struct", )"
              R"("struct": {"vmsd_name": "segment", "version": 1, "fields": [)"
              R"({"name": "base", "type": "uint64", "size": 8}, )"
              R"({"name": "limit", "type": "uint32", "size": 4}, )"
              R"({"name": "selector", "type": "uint16", "size": 2}, )"
              R"({"name": "type", "type": "uint8", "size": 1}, )"
              R"({"name": "present", "type": "bool", "size": 1}]}, )"
              R"("size": 16})");
}

TEST(VMState, RepeatedFieldNamesAreNumberedInTheDescription)
{
    auto vmsd = vmstate<SeoibTestState>("two-gaps")
                    .version(1)
                    .unused(1)
                    .field("policy", &SeoibTestState::policy)
                    .unused(2)
                    .build();
    SeoibTestState s;
    MemoryWriter w;
    qapi::QObject desc = qapi::QObject::dict();

    MUST(vmsd.save_state(w, s, &desc));

    const auto &fields = *desc.get("fields")->as_list();
    EXPECT_EQ(*fields[0].get("name")->as_string(), "unused[0]");
    EXPECT_EQ(*fields[2].get("name")->as_string(), "unused[1]");
}

} // namespace
