// The code qapi-gen.py generates for qapi-schema-test.json, a schema that
// uses every construct the generator supports (namespace qapi_test).

#include "test-qapi-commands.h"
#include "test-qapi-events.h"
#include "test-qapi-examples.h"
#include "test-qapi-introspect.h"

#include "qapi/qjson.h"
#include "qobject-printer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <ostream>
#include <string>
#include <string_view>

namespace {

using qapi::ErrorClass;
using qapi::from_json;
using qapi::from_qobject;
using qapi::QObject;
using qapi::Result;
using qapi::to_json;
using qapi::to_qobject;

QObject parse(std::string_view json)
{
    auto parsed = from_json(json);
    EXPECT_TRUE(parsed.has_value()) << parsed.error().message();
    return parsed.has_value() ? parsed.release_value() : QObject();
}

template <typename T>
std::string decode_error(std::string_view json)
{
    auto decoded = from_qobject<T>(parse(json));
    if (decoded.has_value()) {
        return "(decoded)";
    }
    return decoded.error().message();
}

// ---------------------------------------------------------------------------
// Names

TEST(QapiGenNames, EnumValuesBecomeCamelCaseEnumerators)
{
    EXPECT_EQ(qapi::enum_name(qapi_test::TestEnum::ValueTwo), "value-two");
}

TEST(QapiGenNames, LegacyEnumValuesKeepTheirSpelling)
{
    EXPECT_EQ(qapi::enum_name(qapi_test::TestLegacyEnum::EAX), "EAX");
    EXPECT_EQ(qapi::enum_name(qapi_test::TestLegacyEnum::X86_64), "x86_64");
    EXPECT_EQ(qapi::enum_name(qapi_test::TestLegacyEnum::_2_5), "2_5");
}

TEST(QapiGenNames, MembersNamedLikeKeywordsKeepTheirQAPINames)
{
    const qapi_test::TestDerived value { .base_member = 1,
                                         .own_member = "x",
                                         .q_default = true,
                                         .q_class =
                                             qapi_test::TestEnum::ValueOne };

    EXPECT_EQ(
        to_json(to_qobject(value)),
        R"({"base-member": 1, "own-member": "x", "default": true, "class": "value-one"})");
}

// ---------------------------------------------------------------------------
// Integers: every width, QEMU's range rules

struct IntegerCase {
    std::string_view name;
    std::string_view member;
    std::string_view value;
    std::string_view error; // empty: accepted
};

void PrintTo(const IntegerCase &c, std::ostream *os)
{
    *os << c.member << " = " << c.value;
}

class QapiGenInteger : public testing::TestWithParam<IntegerCase> {};

std::string integers_with(std::string_view member, std::string_view value)
{
    std::string json = "{";
    for (std::string_view m :
         { "i8", "i16", "i32", "i64", "i", "u8", "u16", "u32", "u64", "sz" }) {
        json += "\"" + std::string(m) +
                "\": " + std::string(m == member ? value : "0") + ", ";
    }
    json.resize(json.size() - 2);
    return json + "}";
}

TEST_P(QapiGenInteger, FollowsQEMUsRangeRules)
{
    const std::string error = decode_error<qapi_test::TestIntegers>(
        integers_with(GetParam().member, GetParam().value));

    EXPECT_EQ(error, GetParam().error.empty() ? "(decoded)" : GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    Widths, QapiGenInteger,
    testing::Values(
        IntegerCase { "Int8Min", "i8", "-128", "" },
        IntegerCase { "Int8BelowMin", "i8", "-129",
                      "Parameter 'i8' expects int8_t" },
        IntegerCase { "Int8AboveMax", "i8", "128",
                      "Parameter 'i8' expects int8_t" },
        IntegerCase { "Int16AboveMax", "i16", "32768",
                      "Parameter 'i16' expects int16_t" },
        IntegerCase { "Int32AboveMax", "i32", "2147483648",
                      "Parameter 'i32' expects int32_t" },
        IntegerCase { "Int64Max", "i64", "9223372036854775807", "" },
        IntegerCase { "Int64AboveMax", "i64", "9223372036854775808",
                      "Invalid parameter type for 'i64', expected: integer" },
        IntegerCase { "IntFromDouble", "i", "1.0",
                      "Invalid parameter type for 'i', expected: integer" },
        IntegerCase { "Uint8Max", "u8", "255", "" },
        IntegerCase { "Uint8AboveMax", "u8", "256",
                      "Parameter 'u8' expects uint8_t" },
        IntegerCase { "Uint8Negative", "u8", "-1",
                      "Parameter 'u8' expects uint8_t" },
        IntegerCase { "Uint16AboveMax", "u16", "65536",
                      "Parameter 'u16' expects uint16_t" },
        IntegerCase { "Uint32AboveMax", "u32", "4294967296",
                      "Parameter 'u32' expects uint32_t" },
        IntegerCase { "Uint64Max", "u64", "18446744073709551615", "" },
        // QEMU accepts a negative uint64 and wraps it.
        IntegerCase { "Uint64Negative", "u64", "-1", "" },
        IntegerCase { "Uint64BeyondRange", "u64", "18446744073709551616",
                      "Parameter 'u64' expects uint64" },
        IntegerCase { "Uint64FromString", "u64", "\"1\"",
                      "Parameter 'u64' expects uint64" },
        IntegerCase { "SizeMax", "sz", "18446744073709551615", "" }),
    [](const testing::TestParamInfo<IntegerCase> &info) {
        return std::string(info.param.name);
    });

TEST(QapiGenInteger, NegativeUint64WrapsAsInQEMU)
{
    auto decoded = from_qobject<qapi_test::TestIntegers>(
        parse(integers_with("u64", "-1")));

    ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
    EXPECT_EQ(decoded.value().u64, std::numeric_limits<uint64_t>::max());
}

TEST(QapiGenInteger, ExtremeValuesRoundTrip)
{
    const qapi_test::TestIntegers value {
        .i8 = -128,
        .i16 = -32768,
        .i32 = std::numeric_limits<int32_t>::min(),
        .i64 = std::numeric_limits<int64_t>::min(),
        .i = std::numeric_limits<int64_t>::max(),
        .u8 = 255,
        .u16 = 65535,
        .u32 = std::numeric_limits<uint32_t>::max(),
        .u64 = std::numeric_limits<uint64_t>::max(),
        .sz = std::numeric_limits<uint64_t>::max(),
    };

    auto decoded = from_qobject<qapi_test::TestIntegers>(
        parse(to_json(to_qobject(value))));

    ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
    EXPECT_EQ(decoded.value(), value);
}

// ---------------------------------------------------------------------------
// Other built-in types

TEST(QapiGenScalars, NumberAcceptsIntegers)
{
    auto decoded = from_qobject<qapi_test::TestScalars>(
        parse(R"({"s": "", "b": true, "n": 3, "a": null})"));

    ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
    EXPECT_EQ(decoded.value().n, 3.0);
}

TEST(QapiGenScalars, NumberRejectsStrings)
{
    EXPECT_EQ(decode_error<qapi_test::TestScalars>(
                  R"({"s": "", "b": true, "n": "3", "a": 1})"),
              "Invalid parameter type for 'n', expected: number");
}

TEST(QapiGenScalars, AnyAcceptsNull)
{
    auto decoded = from_qobject<qapi_test::TestScalars>(
        parse(R"({"s": "", "b": false, "n": 0.5, "a": null})"));

    ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
    EXPECT_TRUE(decoded.value().a.is_null());
}

TEST(QapiGenScalars, NullTypeRejectsOtherValues)
{
    EXPECT_EQ(decode_error<qapi_test::TestScalars>(
                  R"({"s": "", "b": false, "n": 0, "a": 0, "nothing": 0})"),
              "Invalid parameter type for 'nothing', expected: null");
}

TEST(QapiGenScalars, OptionalMemberGivenAsNullIsWronglyTyped)
{
    // QMP has no "absent" spelled null: an optional str must be a string.
    EXPECT_EQ(decode_error<qapi_test::TestScalars>(
                  R"({"s": "", "b": false, "n": 0, "a": 0, "opt-str": null})"),
              "Invalid parameter type for 'opt-str', expected: string");
}

TEST(QapiGenScalars, OptionalAnyPresentAsNullIsKept)
{
    auto decoded = from_qobject<qapi_test::TestScalars>(
        parse(R"({"s": "", "b": false, "n": 0, "a": 0, "opt-any": null})"));

    ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
    EXPECT_EQ(decoded.value().opt_any, QObject());
}

// ---------------------------------------------------------------------------
// Structs: bases, nesting, recursion, empty

TEST(QapiGenStruct, BaseMembersComeFirst)
{
    auto decoded = from_qobject<qapi_test::TestDerived>(
        parse(R"({"own-member": "o", "default": false, "base-member": 7})"));

    ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
    EXPECT_EQ(to_json(to_qobject(decoded.value())),
              R"({"base-member": 7, "own-member": "o", "default": false})");
}

TEST(QapiGenStruct, MissingBaseMemberIsReported)
{
    EXPECT_EQ(decode_error<qapi_test::TestDerived>(
                  R"({"own-member": "o", "default": false})"),
              "Parameter 'base-member' is missing");
}

TEST(QapiGenStruct, ListOfStructsRoundTrips)
{
    const qapi_test::TestNested value {
        .enums = { qapi_test::TestEnum::ValueTwo,
                   qapi_test::TestEnum::ValueOne },
        .derived =
            std::vector<qapi_test::TestDerived> {
                { .base_member = 1, .own_member = "a" },
                { .base_member = 2, .own_member = "b", .q_default = true } },
    };

    auto decoded = from_qobject<qapi_test::TestNested>(to_qobject(value));

    ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
    EXPECT_EQ(decoded.value(), value);
}

TEST(QapiGenStruct, ErrorDeepInsideNamesTheWholePath)
{
    EXPECT_EQ(
        decode_error<qapi_test::TestNested>(
            R"({"integers": {"i8": 0, "i16": 0, "i32": 0, "i64": 0, "i": 0,
                                   "u8": 0, "u16": 0, "u32": 0, "u64": 0, "sz": 0},
                      "enums": ["value-one", "value-three"]})"),
        "Parameter 'enums[1]' does not accept value 'value-three'");
}

TEST(QapiGenStruct, RecursiveStructRoundTrips)
{
    const qapi_test::TestTree tree {
        .name = "root",
        .children = { { .name = "leaf", .children = {} },
                      { .name = "inner",
                        .children = { { .name = "deep", .children = {} } } } },
    };

    auto decoded = from_qobject<qapi_test::TestTree>(to_qobject(tree));

    ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
    EXPECT_EQ(decoded.value(), tree);
}

TEST(QapiGenStruct, EmptyStructIsAnEmptyObject)
{
    EXPECT_EQ(to_qobject(qapi_test::TestEmpty {}), QObject::dict());
}

TEST(QapiGenStruct, EmptyStructRejectsMembers)
{
    EXPECT_EQ(decode_error<qapi_test::TestEmpty>(R"({"x": 1})"),
              "Parameter 'x' is unexpected");
}

// ---------------------------------------------------------------------------
// Commands

class TestCommands : public qapi_test::QmpCommands {
public:
    std::vector<std::string> calls;
    qapi_test::TestArgsArgs args_received;
    qapi_test::TestDerived boxed_received;

    Result<void> qmp_test_no_args() override
    {
        calls.emplace_back("test-no-args");
        return {};
    }
    Result<qapi_test::TestNested>
    qmp_test_args(const qapi_test::TestArgsArgs &args) override
    {
        calls.emplace_back("test-args");
        args_received = args;
        if (args.name.empty()) {
            return qapi::Error("empty name");
        }
        return qapi_test::TestNested { .enums = {
                                           qapi_test::TestEnum::ValueOne } };
    }
    Result<std::vector<int64_t>>
    qmp_test_boxed(const qapi_test::TestDerived &args) override
    {
        calls.emplace_back("test-boxed");
        boxed_received = args;
        return std::vector<int64_t> { args.base_member, -args.base_member };
    }
    Result<QObject> qmp_test_any(const qapi_test::TestAnyArgs &args) override
    {
        calls.emplace_back("test-any");
        return args.value;
    }
    Result<bool>
    qmp_test_features(const qapi_test::TestFeaturesArgs &args) override
    {
        calls.emplace_back("test-features");
        return args.x.has_value();
    }
    Result<void> qmp_test_legacy_name() override
    {
        calls.emplace_back("test_legacy_name");
        return qapi::Error("not now", ErrorClass::DeviceNotActive);
    }
};

Result<QObject> dispatch(TestCommands &commands, std::string_view name,
                         std::string_view args)
{
    const QObject parsed = parse(args);
    return qapi_test::qmp_dispatch(commands, name, &parsed);
}

TEST(QapiGenCommand, InlineArgumentsAreDecoded)
{
    TestCommands commands;

    auto result = dispatch(commands, "test-args",
                           R"({"name": "n", "mode": "value-two"})");

    ASSERT_TRUE(result.has_value()) << result.error().message();
    EXPECT_EQ(commands.args_received,
              (qapi_test::TestArgsArgs {
                  .name = "n", .mode = qapi_test::TestEnum::ValueTwo }));
}

TEST(QapiGenCommand, BoxedArgumentsAreTheNamedStruct)
{
    TestCommands commands;

    auto result =
        dispatch(commands, "test-boxed",
                 R"({"base-member": 5, "own-member": "o", "default": true})");

    ASSERT_TRUE(result.has_value()) << result.error().message();
    EXPECT_EQ(result.value(), parse("[5, -5]"));
}

TEST(QapiGenCommand, AnyResultIsPassedThrough)
{
    TestCommands commands;

    auto result =
        dispatch(commands, "test-any", R"({"value": {"nested": [1, "two"]}})");

    ASSERT_TRUE(result.has_value()) << result.error().message();
    EXPECT_EQ(result.value(), parse(R"({"nested": [1, "two"]})"));
}

TEST(QapiGenCommand, ArgumentWithAFeatureIsAnOrdinaryArgument)
{
    TestCommands commands;

    auto result = dispatch(commands, "test-features", R"({"x": 1})");

    ASSERT_TRUE(result.has_value()) << result.error().message();
    EXPECT_EQ(result.value(), QObject(true));
}

TEST(QapiGenCommand, CommandNameWithUnderscoreDispatches)
{
    TestCommands commands;

    auto result =
        qapi_test::qmp_dispatch(commands, "test_legacy_name", nullptr);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().error_class(), ErrorClass::DeviceNotActive);
}

TEST(QapiGenCommand, OutOfRangeArgumentIsRejectedBeforeTheCall)
{
    TestCommands commands;

    auto result =
        dispatch(commands, "test-args", R"({"name": "n", "count": 300})");

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(), "Parameter 'count' expects uint8_t");
    EXPECT_TRUE(commands.calls.empty());
}

TEST(QapiGenCommand, NameIsMatchedExactly)
{
    TestCommands commands;

    auto result = qapi_test::qmp_dispatch(commands, "test-args ", nullptr);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().error_class(), ErrorClass::CommandNotFound);
}

TEST(QapiGenCommand, TableRecordsFeaturesAndFlags)
{
    const qapi_test::QmpCommandInfo &info = qapi_test::QMP_COMMANDS[4];

    EXPECT_EQ(info.name, "test-features");
    ASSERT_EQ(info.features.size(), 1u);
    EXPECT_EQ(info.features[0], "deprecated");
    EXPECT_TRUE(info.allow_preconfig);
    EXPECT_TRUE(info.allow_oob);
}

// ---------------------------------------------------------------------------
// Events

TEST(QapiGenEvent, OptionalDataMemberIsAnOptionalParameter)
{
    const qapi::QapiEvent event =
        qapi_test::qapi_event_test_event(3, std::nullopt);

    EXPECT_EQ(event.name, "TEST_EVENT");
    EXPECT_EQ(event.data, parse(R"({"value": 3})"));
}

TEST(QapiGenEvent, BoxedEventTakesTheNamedStruct)
{
    const qapi::QapiEvent event = qapi_test::qapi_event_test_boxed_event(
        qapi_test::TestBase { .base_member = 9 });

    EXPECT_EQ(event.data, parse(R"({"base-member": 9})"));
}

TEST(QapiGenEvent, EventArgumentsDecodeForClients)
{
    auto decoded = from_qobject<qapi_test::TestEventEventArgs>(
        parse(R"({"value": 1, "text": "t"})"));

    ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
    EXPECT_EQ(decoded.value().text, "t");
}

// ---------------------------------------------------------------------------
// Examples and introspection data

TEST(QapiGenExamples, MultiLineMessagesAndProseAreExtracted)
{
    const QObject examples = parse(qapi_test::QAPI_EXAMPLES_JSON);

    // test-no-args, test-args (four messages), TEST_EVENT.
    ASSERT_EQ(examples.as_list()->size(), 3u);
    const QObject &test_args = examples.as_list()->at(1);
    EXPECT_EQ(*test_args.get("source"), QObject("qapi-schema-test.json:158"));
    EXPECT_EQ(test_args.get("exchanges")->as_list()->size(), 4u);
    EXPECT_EQ(
        *test_args.get("exchanges")->as_list()->at(3).get("message"),
        parse(R"({"error": {"class": "GenericError", "desc": "empty name"}})"));
}

TEST(QapiGenIntrospection, ListTypesAndBuiltinsAreDescribed)
{
    const QObject schema = parse(qapi_test::QAPI_SCHEMA_INTROSPECTION);
    size_t arrays = 0;
    size_t builtins = 0;

    for (const QObject &info : *schema.as_list()) {
        const std::string &meta = *info.get("meta-type")->as_string();
        arrays += meta == "array";
        builtins += meta == "builtin";
    }

    // [TestEnum], [TestDerived], [TestTree] and [int]; the schema uses all
    // fifteen built-in types.
    EXPECT_EQ(arrays, 4u);
    EXPECT_EQ(builtins, 15u);
}

} // namespace
