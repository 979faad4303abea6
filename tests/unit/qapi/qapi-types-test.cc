// The generated types of the seoib schema: enum tables, struct codecs and
// QEMU's input-visitor errors.

#include "qapi/qapi-types.h"
#include "qapi/qjson.h"
#include "qobject-printer.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <string_view>

namespace {

using qapi::from_json;
using qapi::from_qobject;
using qapi::QObject;
using qapi::to_json;
using qapi::to_qobject;

// LVR 0x01050014: version 0x14, max LVT 5, bit 24 (Suppress EOI Broadcast).
constexpr uint32_t LVR_WITH_SEOIB = 0x01050014;

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

qapi::SeoibInfo respected_on_q35()
{
    return qapi::SeoibInfo {
        .requested = qapi::SeoibPolicy::Auto,
        .effective = qapi::SeoibPolicy::Respected,
        .irqchip = qapi::OnOffSplit::Split,
        .ioapic_version = 0x20,
        .ioapic_version_source = "default",
        .x2apic_api_flags = 4,
        .kernel_x2apic_api = 15,
        .legacy = false,
        .vcpus = { { .cpu_index = 0, .lvr = LVR_WITH_SEOIB } },
    };
}

constexpr std::string_view RESPECTED_ON_Q35_JSON =
    R"({"requested": "auto", "effective": "respected", "irqchip": "split", )"
    R"("ioapic-version": 32, "ioapic-version-source": "default", )"
    R"("x2apic-api-flags": 4, "kernel-x2apic-api": 15, "legacy": false, )"
    R"("vcpus": [{"cpu-index": 0, "lvr": 17104916}]})";

// ---------------------------------------------------------------------------
// Enums

TEST(QapiEnum, LookupTableHoldsQAPINamesInDeclarationOrder)
{
    using Lookup = qapi::EnumLookup<qapi::SeoibPolicy>;

    EXPECT_EQ(Lookup::type_name, "SeoibPolicy");
    EXPECT_EQ(Lookup::names,
              (std::array<std::string_view, 4> { "auto", "quirked", "respected",
                                                 "not-advertised" }));
}

TEST(QapiEnum, EnumeratorNamesItsQAPIValue)
{
    EXPECT_EQ(qapi::enum_name(qapi::SeoibPolicy::NotAdvertised),
              "not-advertised");
}

TEST(QapiEnum, QAPIValueParsesToItsEnumerator)
{
    EXPECT_EQ(qapi::enum_parse<qapi::RunState>("finish-migrate"),
              qapi::RunState::FinishMigrate);
}

TEST(QapiEnum, UnknownValueDoesNotParse)
{
    EXPECT_EQ(qapi::enum_parse<qapi::OnOffSplit>("SPLIT"), std::nullopt);
}

TEST(QapiEnum, EncodesAsItsQAPIName)
{
    EXPECT_EQ(to_qobject(qapi::ShutdownCause::HostQmpQuit),
              QObject("host-qmp-quit"));
}

TEST(QapiEnum, DecodesFromItsQAPIName)
{
    auto decoded = from_qobject<qapi::SeoibPolicy>(QObject("quirked"));

    ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
    EXPECT_EQ(decoded.value(), qapi::SeoibPolicy::Quirked);
}

TEST(QapiEnum, UnknownValueIsRejectedWithQEMUsMessage)
{
    EXPECT_EQ(decode_error<qapi::SeoibInfo>(
                  R"({"requested": "sometimes", "effective": "quirked",
                      "irqchip": "on", "ioapic-version": 17,
                      "ioapic-version-source": "default", "x2apic-api-flags": 0,
                      "kernel-x2apic-api": 0, "legacy": true, "vcpus": []})"),
              "Parameter 'requested' does not accept value 'sometimes'");
}

TEST(QapiEnum, NonStringIsRejectedAsWrongType)
{
    auto decoded = from_qobject<qapi::SeoibPolicy>(QObject(1));

    ASSERT_FALSE(decoded.has_value());
    EXPECT_EQ(decoded.error().message(),
              "Invalid parameter type for '<anonymous>', expected: string");
}

// ---------------------------------------------------------------------------
// Structs

TEST(QapiStruct, EncodesMembersInSchemaOrder)
{
    EXPECT_EQ(to_json(to_qobject(respected_on_q35())), RESPECTED_ON_Q35_JSON);
}

TEST(QapiStruct, DecodesWhatItEncodes)
{
    auto decoded =
        from_qobject<qapi::SeoibInfo>(to_qobject(respected_on_q35()));

    ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
    EXPECT_EQ(decoded.value(), respected_on_q35());
}

TEST(QapiStruct, DecodesMembersInAnyOrder)
{
    auto decoded = from_qobject<qapi::VersionTriple>(
        parse(R"({"micro": 3, "major": 1, "minor": 2})"));

    ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
    EXPECT_EQ(decoded.value(),
              (qapi::VersionTriple { .major = 1, .minor = 2, .micro = 3 }));
}

TEST(QapiStruct, AbsentOptionalMemberIsNullopt)
{
    auto decoded =
        from_qobject<qapi::ObjectTypeInfo>(parse(R"({"name": "ioapic"})"));

    ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
    EXPECT_EQ(decoded.value().parent, std::nullopt);
}

TEST(QapiStruct, PresentOptionalMemberIsDecoded)
{
    auto decoded = from_qobject<qapi::ObjectTypeInfo>(
        parse(R"({"name": "ioapic", "parent": "ioapic-common"})"));

    ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
    EXPECT_EQ(decoded.value().parent, "ioapic-common");
}

TEST(QapiStruct, AbsentOptionalMemberIsNotEncoded)
{
    const qapi::ObjectTypeInfo info { .name = "kvm-accel", .parent = "accel" };

    EXPECT_EQ(to_json(to_qobject(info)),
              R"({"name": "kvm-accel", "parent": "accel"})");
}

TEST(QapiStruct, AnyMemberKeepsTheValue)
{
    auto decoded = from_qobject<qapi::ObjectPropertyInfo>(
        parse(R"({"name": "version", "type": "uint8", "default-value": 32})"));

    ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
    EXPECT_EQ(decoded.value().default_value, QObject(32));
}

TEST(QapiStruct, MemberWithFeaturesIsAnOrdinaryMember)
{
    const qapi::MachineInfo info {
        .name = "pc-q35-2.8",
        .cpu_max = 288,
        .deprecated = true,
        .compat_props =
            std::vector<qapi::CompatProperty> { { .qom_type = "pci-bridge",
                                                  .property = "shpc",
                                                  .value = "on" } },
    };

    EXPECT_EQ(to_qobject(info).get("compat-props")->as_list()->size(), 1u);
}

// ---------------------------------------------------------------------------
// Input errors, in the words of QEMU's QObject input visitor

struct InputErrorCase {
    std::string_view name;
    std::string json;
    std::string_view message;
};

void PrintTo(const InputErrorCase &c, std::ostream *os)
{
    *os << c.json;
}

class QapiInputError : public testing::TestWithParam<InputErrorCase> {};

TEST_P(QapiInputError, IsReportedWithQEMUsMessage)
{
    EXPECT_EQ(decode_error<qapi::SeoibInfo>(GetParam().json),
              GetParam().message);
}

// A SeoibInfo in JSON with the given text for three of its members.
std::string seoib_info(std::string_view ioapic_version, std::string_view flags,
                       std::string_view vcpus)
{
    std::string json = R"({"requested": "auto", "effective": "respected",
                           "irqchip": "split", "ioapic-version-source": "default",
                           "kernel-x2apic-api": 15, "legacy": false)";
    for (auto [name, value] : { std::pair { "ioapic-version", ioapic_version },
                                std::pair { "x2apic-api-flags", flags },
                                std::pair { "vcpus", vcpus } }) {
        if (!value.empty()) {
            json += ", \"" + std::string(name) + "\": " + std::string(value);
        }
    }
    return json + "}";
}

const std::string_view VCPUS = R"([{"cpu-index": 0, "lvr": 17104916}])";

INSTANTIATE_TEST_SUITE_P(
    SeoibInfo, QapiInputError,
    testing::Values(
        InputErrorCase { "Missing", seoib_info("", "4", VCPUS),
                         "Parameter 'ioapic-version' is missing" },
        InputErrorCase { "StringForInteger", seoib_info("32", "\"4\"", VCPUS),
                         "Invalid parameter type for 'x2apic-api-flags', "
                         "expected: integer" },
        InputErrorCase { "DoubleForInteger", seoib_info("32", "4.0", VCPUS),
                         "Invalid parameter type for 'x2apic-api-flags', "
                         "expected: integer" },
        // QEMU's unsigned input has no type error: anything that is not an
        // integer "expects uint64", whatever the member's width.
        InputErrorCase { "StringForUnsigned", seoib_info("\"32\"", "4", VCPUS),
                         "Parameter 'ioapic-version' expects uint64" },
        InputErrorCase { "Uint8TooLarge", seoib_info("256", "4", VCPUS),
                         "Parameter 'ioapic-version' expects uint8_t" },
        InputErrorCase { "Uint8Negative", seoib_info("-1", "4", VCPUS),
                         "Parameter 'ioapic-version' expects uint8_t" },
        InputErrorCase { "Unexpected",
                         seoib_info("32", "4, \"bogus\": 1", VCPUS),
                         "Parameter 'bogus' is unexpected" },
        InputErrorCase {
            "ObjectForList", seoib_info("32", "4", "{}"),
            "Invalid parameter type for 'vcpus', expected: array" },
        InputErrorCase {
            "ListElementNotObject", seoib_info("32", "4", "[1]"),
            "Invalid parameter type for 'vcpus[0]', expected: object" },
        InputErrorCase { "NestedMemberWrongType",
                         seoib_info("32", "4", R"([{"cpu-index": 0, "lvr": 1},
                                                  {"cpu-index": true, "lvr": 1}])"),
                         "Invalid parameter type for 'vcpus[1].cpu-index', "
                         "expected: integer" },
        InputErrorCase { "NestedMemberMissing",
                         seoib_info("32", "4", R"([{"cpu-index": 0}])"),
                         "Parameter 'vcpus[0].lvr' is missing" },
        InputErrorCase {
            "NestedMemberUnexpected",
            seoib_info("32", "4", R"([{"cpu-index": 0, "lvr": 1, "x": 2}])"),
            "Parameter 'vcpus[0].x' is unexpected" },
        InputErrorCase {
            "NotAnObject", "[]",
            "Invalid parameter type for '<anonymous>', expected: object" }),
    [](const testing::TestParamInfo<InputErrorCase> &info) {
        return std::string(info.param.name);
    });

TEST(QapiInputError, NullIsNotABoolean)
{
    EXPECT_EQ(
        decode_error<qapi::KvmInfo>(R"({"enabled": null, "present": true})"),
        "Invalid parameter type for 'enabled', expected: boolean");
}

TEST(QapiInputError, NestedStructMemberIsNamedWithADot)
{
    EXPECT_EQ(
        decode_error<qapi::VersionInfo>(
            R"({"qemu": {"major": 0, "minor": "1", "micro": 0}, "package": ""})"),
        "Invalid parameter type for 'qemu.minor', expected: integer");
}

TEST(QapiInputError, ErrorsAreGenericErrors)
{
    auto decoded = from_qobject<qapi::CommandInfo>(QObject::dict());

    ASSERT_FALSE(decoded.has_value());
    EXPECT_EQ(decoded.error().error_class(), qapi::ErrorClass::GenericError);
}

} // namespace
