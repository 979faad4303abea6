/*
 * Property codecs: every codec's accepted and rejected inputs, in the string
 * form (-global, compat tables) and the QObject form (qom-set), with QEMU's
 * error texts (qemu-facts §4.2, §8).
 */
#include "qom/context.h"
#include "qom/property.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace {

enum class Colour { Red, DarkBlue };

} // namespace

template <>
struct qapi::EnumLookup<Colour> {
    static constexpr std::string_view type_name = "Colour";
    static constexpr std::array<std::string_view, 2> names = { "red",
                                                                "dark-blue" };
};

namespace {

using qom::PropertyCodec;

template <typename T>
struct ParseCase {
    std::string_view input;
    std::optional<T> value; // nullopt: rejected
    std::string_view error;
};

template <typename T>
void check_parse(const ParseCase<T> &c)
{
    SCOPED_TRACE(std::string("input '") + std::string(c.input) + "'");
    qapi::Result<T> r = PropertyCodec<T>::parse("version", c.input);
    if (c.value) {
        ASSERT_TRUE(r.has_value()) << r.error().message();
        EXPECT_EQ(r.value(), *c.value);
    } else {
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().message(), c.error);
    }
}

class Uint8Parse : public ::testing::TestWithParam<ParseCase<uint8_t>> { };

TEST_P(Uint8Parse, AcceptsQemuSyntaxAndChecksWidth)
{
    check_parse(GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    Codec, Uint8Parse,
    ::testing::Values(
        ParseCase<uint8_t> { "17", 17, "" }, ParseCase<uint8_t> { "0x11", 0x11, "" },
        ParseCase<uint8_t> { "0X11", 0x11, "" },
        ParseCase<uint8_t> { "021", 17, "" }, // leading zero: octal
        ParseCase<uint8_t> { "+17", 17, "" }, ParseCase<uint8_t> { "0", 0, "" },
        ParseCase<uint8_t> { "255", 255, "" },
        ParseCase<uint8_t> { "256", std::nullopt,
                             "Parameter 'version' expects uint8_t" },
        ParseCase<uint8_t> { "-1", std::nullopt,
                             "Parameter 'version' expects uint8_t" },
        ParseCase<uint8_t> { "abc", std::nullopt,
                             "Parameter 'version' expects uint64" },
        ParseCase<uint8_t> { "", std::nullopt,
                             "Parameter 'version' expects uint64" },
        ParseCase<uint8_t> { "0x", std::nullopt,
                             "Parameter 'version' expects uint64" },
        ParseCase<uint8_t> { "08", std::nullopt,
                             "Parameter 'version' expects uint64" },
        ParseCase<uint8_t> { "17 ", std::nullopt,
                             "Parameter 'version' expects uint64" },
        ParseCase<uint8_t> { "99999999999999999999", std::nullopt,
                             "Parameter 'version' expects uint64" }));

class Int32Parse : public ::testing::TestWithParam<ParseCase<int32_t>> { };

TEST_P(Int32Parse, AcceptsSignedAndChecksRange)
{
    check_parse(GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    Codec, Int32Parse,
    ::testing::Values(
        ParseCase<int32_t> { "-5", -5, "" },
        ParseCase<int32_t> { "0x7fffffff", 0x7fffffff, "" },
        ParseCase<int32_t> { "-2147483648", -2147483647 - 1, "" },
        ParseCase<int32_t> { "2147483648", std::nullopt,
                             "Parameter 'version' expects int32_t" },
        ParseCase<int32_t> { "x", std::nullopt,
                             "Parameter 'version' expects int64" }));

TEST(Codec, Uint64AcceptsFullRangeAndWrapsMinusOneAsQemu)
{
    EXPECT_EQ(PropertyCodec<uint64_t>::parse("p", "0xffffffffffffffff").value(),
              UINT64_MAX);
    EXPECT_EQ(PropertyCodec<uint64_t>::parse("p", "-1").value(), UINT64_MAX);
}

class BoolParse : public ::testing::TestWithParam<ParseCase<bool>> { };

TEST_P(BoolParse, AcceptsOnOffYesNoTrueFalse)
{
    check_parse(GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    Codec, BoolParse,
    ::testing::Values(ParseCase<bool> { "on", true, "" },
                      ParseCase<bool> { "yes", true, "" },
                      ParseCase<bool> { "true", true, "" },
                      ParseCase<bool> { "off", false, "" },
                      ParseCase<bool> { "no", false, "" },
                      ParseCase<bool> { "false", false, "" },
                      ParseCase<bool> { "ON", std::nullopt,
                                        "Parameter 'version' expects 'on' or 'off'" },
                      ParseCase<bool> { "1", std::nullopt,
                                        "Parameter 'version' expects 'on' or 'off'" },
                      ParseCase<bool> { "", std::nullopt,
                                        "Parameter 'version' expects 'on' or 'off'" }));

TEST(Codec, EnumParsesQapiNamesOnly)
{
    EXPECT_EQ(PropertyCodec<Colour>::parse("colour", "dark-blue").value(),
              Colour::DarkBlue);
    auto r = PropertyCodec<Colour>::parse("colour", "DarkBlue");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().message(),
              "Parameter 'colour' does not accept value 'DarkBlue'");
    EXPECT_EQ(PropertyCodec<Colour>::format(Colour::DarkBlue), "dark-blue");
    EXPECT_EQ(PropertyCodec<Colour>::type_name(), "Colour");
}

TEST(Codec, StringAcceptsAnything)
{
    EXPECT_EQ(PropertyCodec<std::string>::parse("s", "a,b=c").value(), "a,b=c");
    EXPECT_EQ(PropertyCodec<std::string>::parse("s", "").value(), "");
}

TEST(Codec, IntegerFromQObjectChecksTypeAndRange)
{
    EXPECT_EQ(PropertyCodec<uint8_t>::from_qobject("version", qapi::QObject(17))
                  .value(),
              17);
    auto big = PropertyCodec<uint8_t>::from_qobject("version", qapi::QObject(256));
    ASSERT_FALSE(big.has_value());
    EXPECT_EQ(big.error().message(), "Parameter 'version' expects uint8_t");
    auto str = PropertyCodec<uint8_t>::from_qobject("version",
                                                    qapi::QObject("0x11"));
    ASSERT_FALSE(str.has_value());
    EXPECT_EQ(str.error().message(),
              "Invalid parameter type for 'version', expected: integer");
    auto frac = PropertyCodec<uint8_t>::from_qobject("version",
                                                     qapi::QObject(1.5));
    EXPECT_FALSE(frac.has_value());
}

TEST(Codec, BoolAndStringAndEnumFromQObjectCheckType)
{
    EXPECT_EQ(PropertyCodec<bool>::from_qobject("b", qapi::QObject(true)).value(),
              true);
    EXPECT_EQ(PropertyCodec<bool>::from_qobject("b", qapi::QObject("on"))
                  .error()
                  .message(),
              "Invalid parameter type for 'b', expected: boolean");
    EXPECT_EQ(PropertyCodec<std::string>::from_qobject("s", qapi::QObject(1))
                  .error()
                  .message(),
              "Invalid parameter type for 's', expected: string");
    EXPECT_EQ(PropertyCodec<Colour>::from_qobject("c", qapi::QObject("red"))
                  .value(),
              Colour::Red);
}

TEST(Codec, ToQObjectGivesNumbersForIntegers)
{
    EXPECT_EQ(PropertyCodec<uint8_t>::to_qobject(32), qapi::QObject(32));
    EXPECT_TRUE(PropertyCodec<int16_t>::to_qobject(-3).is_number());
    EXPECT_EQ(PropertyCodec<bool>::format(true), "true");
}

// ---- metadata without an instance ------------------------------------------

class Widget : public qom::Object {
public:
    static constexpr std::string_view type_name = "test-widget";
    using Parent = qom::Object;
    using Class = qom::ObjectClass;
    static void register_properties(qom::ObjectClass &oc)
    {
        oc.add_property(qom::make_property(
            qom::prop("version", &Widget::m_version)
                .default_value(0x20)
                .doc("the version")));
    }
    uint8_t m_version { 0 };
};

TEST(PropertyMetadata, IsIntrospectableWithoutAnInstance)
{
    auto registry = qom::make_type_registry(
        [](qom::TypeRegistry &r) { r.add<Widget>(); });
    const qom::ObjectProperty *p =
        registry->find_class("test-widget")->find_property("version");
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->type(), "uint8");
    EXPECT_EQ(p->description(), "the version");
    ASSERT_TRUE(p->default_value().has_value());
    EXPECT_EQ(*p->default_value(), qapi::QObject(32));
}

TEST(PropertyMetadata, DecodeUsesTheSameCodecAsParse)
{
    auto registry = qom::make_type_registry(
        [](qom::TypeRegistry &r) { r.add<Widget>(); });
    const qom::ObjectProperty *p =
        registry->find_class("test-widget")->find_property("version");
    EXPECT_EQ(p->decode("021").value(), qapi::QObject(17));
    EXPECT_EQ(p->decode("256").error().message(),
              "Parameter 'version' expects uint8_t");
}

} // namespace
