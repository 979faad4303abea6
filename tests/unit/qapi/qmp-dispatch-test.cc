// qmp_dispatch() and the tables generated from the seoib schema, and the
// schema's documented examples replayed through the generated code.

#include "qapi/qapi-commands.h"
#include "qapi/qapi-events.h"
#include "qapi/qapi-examples.h"
#include "qapi/qapi-introspect.h"
#include "qapi/qjson.h"
#include "qobject-printer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace {

using qapi::Error;
using qapi::ErrorClass;
using qapi::from_json;
using qapi::from_qobject;
using qapi::qmp_dispatch;
using qapi::QObject;
using qapi::Result;

QObject parse(std::string_view json)
{
    auto parsed = from_json(json);
    EXPECT_TRUE(parsed.has_value()) << parsed.error().message();
    return parsed.has_value() ? parsed.release_value() : QObject();
}

// A QmpCommands whose commands answer with a scripted reply, decoded into
// the command's return type the way a real handler's value would be
// encoded: what the tests check is the generated glue, not the commands.
class ScriptedCommands : public qapi::QmpCommands {
public:
    /// What the next command returns, as QMP would send it.
    QObject reply;
    /// When set, the next command fails with this class and text.
    std::optional<std::pair<ErrorClass, std::string>> failure;
    /// Commands called, in order.
    std::vector<std::string> calls;
    std::optional<qapi::QomGetArgs> qom_get_args;
    std::optional<qapi::QueryMachinesArgs> query_machines_args;

    Result<void>
    qmp_qmp_capabilities(const qapi::QmpCapabilitiesArgs &) override
    {
        return finish("qmp_capabilities");
    }
    Result<qapi::VersionInfo> qmp_query_version() override
    {
        return answer<qapi::VersionInfo>("query-version");
    }
    Result<std::vector<qapi::CommandInfo>> qmp_query_commands() override
    {
        return answer<std::vector<qapi::CommandInfo>>("query-commands");
    }
    Result<void> qmp_quit() override { return finish("quit"); }
    Result<qapi::StatusInfo> qmp_query_status() override
    {
        return answer<qapi::StatusInfo>("query-status");
    }
    Result<void> qmp_stop() override { return finish("stop"); }
    Result<void> qmp_cont() override { return finish("cont"); }
    Result<std::vector<qapi::ObjectPropertyInfo>>
    qmp_qom_list(const qapi::QomListArgs &) override
    {
        return answer<std::vector<qapi::ObjectPropertyInfo>>("qom-list");
    }
    Result<QObject> qmp_qom_get(const qapi::QomGetArgs &args) override
    {
        qom_get_args = args;
        return answer<QObject>("qom-get");
    }
    Result<void> qmp_qom_set(const qapi::QomSetArgs &) override
    {
        return finish("qom-set");
    }
    Result<std::vector<qapi::ObjectTypeInfo>>
    qmp_qom_list_types(const qapi::QomListTypesArgs &) override
    {
        return answer<std::vector<qapi::ObjectTypeInfo>>("qom-list-types");
    }
    Result<std::vector<qapi::ObjectPropertyInfo>>
    qmp_qom_list_properties(const qapi::QomListPropertiesArgs &) override
    {
        return answer<std::vector<qapi::ObjectPropertyInfo>>(
            "qom-list-properties");
    }
    Result<std::vector<qapi::ObjectPropertyInfo>>
    qmp_device_list_properties(const qapi::DeviceListPropertiesArgs &) override
    {
        return answer<std::vector<qapi::ObjectPropertyInfo>>(
            "device-list-properties");
    }
    Result<std::vector<qapi::MachineInfo>>
    qmp_query_machines(const qapi::QueryMachinesArgs &args) override
    {
        query_machines_args = args;
        return answer<std::vector<qapi::MachineInfo>>("query-machines");
    }
    Result<qapi::UuidInfo> qmp_query_uuid() override
    {
        return answer<qapi::UuidInfo>("query-uuid");
    }
    Result<qapi::TargetInfo> qmp_query_target() override
    {
        return answer<qapi::TargetInfo>("query-target");
    }
    Result<qapi::NameInfo> qmp_query_name() override
    {
        return answer<qapi::NameInfo>("query-name");
    }
    Result<qapi::KvmInfo> qmp_query_kvm() override
    {
        return answer<qapi::KvmInfo>("query-kvm");
    }
    Result<qapi::SeoibInfo> qmp_query_seoib() override
    {
        return answer<qapi::SeoibInfo>("query-seoib");
    }
    Result<qapi::MigrationInfo> qmp_query_migrate() override
    {
        return answer<qapi::MigrationInfo>("query-migrate");
    }
    Result<void> qmp_migrate_set_parameters(const qapi::MigrateSetParametersArgs &) override
    {
        return finish("migrate-set-parameters");
    }
    Result<qapi::MigrationParameters> qmp_query_migrate_parameters() override
    {
        return answer<qapi::MigrationParameters>("query-migrate-parameters");
    }
    Result<void> qmp_migrate(const qapi::MigrateArgs &) override { return finish("migrate"); }
    Result<void> qmp_migrate_incoming(const qapi::MigrateIncomingArgs &) override
    {
        return finish("migrate-incoming");
    }
    Result<void> qmp_migrate_cancel() override { return finish("migrate_cancel"); }
    Result<void> qmp_getfd(const qapi::GetfdArgs &) override { return finish("getfd"); }
    Result<void> qmp_closefd(const qapi::ClosefdArgs &) override { return finish("closefd"); }
    Result<void> qmp_snapshot_save(const qapi::SnapshotSaveArgs &) override
    {
        return finish("snapshot-save");
    }
    Result<void> qmp_snapshot_load(const qapi::SnapshotLoadArgs &) override
    {
        return finish("snapshot-load");
    }
    Result<void> qmp_snapshot_delete(const qapi::SnapshotDeleteArgs &) override
    {
        return finish("snapshot-delete");
    }
    Result<std::vector<qapi::JobInfo>> qmp_query_jobs() override
    {
        return answer<std::vector<qapi::JobInfo>>("query-jobs");
    }
    Result<void> qmp_job_dismiss(const qapi::JobDismissArgs &) override { return finish("job-dismiss"); }
    Result<void> qmp_job_finalize(const qapi::JobFinalizeArgs &) override { return finish("job-finalize"); }
    Result<std::string> qmp_human_monitor_command(const qapi::HumanMonitorCommandArgs &) override
    {
        return answer<std::string>("human-monitor-command");
    }

private:
    template <typename T>
    Result<T> answer(std::string_view name)
    {
        TRY(finish(name));
        return from_qobject<T>(reply);
    }

    Result<void> finish(std::string_view name)
    {
        calls.emplace_back(name);
        if (failure) {
            return Error(failure->second, failure->first);
        }
        return {};
    }
};

// ---------------------------------------------------------------------------
// Dispatch

TEST(QmpDispatch, UnknownCommandIsCommandNotFound)
{
    ScriptedCommands commands;

    auto result = qmp_dispatch(commands, "query-cpus", nullptr);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().error_class(), ErrorClass::CommandNotFound);
    EXPECT_EQ(result.error().message(),
              "The command query-cpus has not been found");
}

TEST(QmpDispatch, CommandReceivesItsDecodedArguments)
{
    ScriptedCommands commands;
    commands.reply = QObject(32);
    const QObject args =
        parse(R"({"path": "/machine/q35/ioapic", "property": "version"})");

    auto result = qmp_dispatch(commands, "qom-get", &args);

    ASSERT_TRUE(result.has_value()) << result.error().message();
    EXPECT_EQ(commands.qom_get_args,
              (qapi::QomGetArgs { .path = "/machine/q35/ioapic",
                                  .property = "version" }));
}

TEST(QmpDispatch, ReturnValueIsTheHandlersResultEncoded)
{
    ScriptedCommands commands;
    commands.reply = parse(R"({"running": false, "status": "prelaunch"})");

    auto result = qmp_dispatch(commands, "query-status", nullptr);

    ASSERT_TRUE(result.has_value()) << result.error().message();
    EXPECT_EQ(result.value(), commands.reply);
}

TEST(QmpDispatch, CommandWithoutResultReturnsAnEmptyObject)
{
    ScriptedCommands commands;

    auto result = qmp_dispatch(commands, "stop", nullptr);

    ASSERT_TRUE(result.has_value()) << result.error().message();
    EXPECT_EQ(result.value(), QObject::dict());
}

TEST(QmpDispatch, AbsentArgumentsLeaveOptionalArgumentsUnset)
{
    ScriptedCommands commands;
    commands.reply = QObject::list();

    auto result = qmp_dispatch(commands, "query-machines", nullptr);

    ASSERT_TRUE(result.has_value()) << result.error().message();
    EXPECT_EQ(commands.query_machines_args, qapi::QueryMachinesArgs {});
}

TEST(QmpDispatch, MissingArgumentIsAGenericError)
{
    ScriptedCommands commands;
    const QObject args = parse(R"({"path": "/machine"})");

    auto result = qmp_dispatch(commands, "qom-get", &args);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().error_class(), ErrorClass::GenericError);
    EXPECT_EQ(result.error().message(), "Parameter 'property' is missing");
}

TEST(QmpDispatch, WronglyTypedArgumentIsRejected)
{
    ScriptedCommands commands;
    const QObject args = parse(R"({"path": "/machine", "property": 7})");

    auto result = qmp_dispatch(commands, "qom-get", &args);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(),
              "Invalid parameter type for 'property', expected: string");
}

TEST(QmpDispatch, ArgumentErrorIsReportedBeforeTheCommandRuns)
{
    ScriptedCommands commands;
    const QObject args = parse(R"({"path": 1, "property": "x"})");

    (void)qmp_dispatch(commands, "qom-get", &args);

    EXPECT_TRUE(commands.calls.empty());
}

TEST(QmpDispatch, ArgumentToACommandWithoutArgumentsIsUnexpected)
{
    ScriptedCommands commands;
    const QObject args = parse(R"({"verbose": true})");

    auto result = qmp_dispatch(commands, "query-status", &args);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(), "Parameter 'verbose' is unexpected");
}

TEST(QmpDispatch, ArgumentsThatAreNotAnObjectAreRejected)
{
    ScriptedCommands commands;
    const QObject args = QObject::list();

    auto result = qmp_dispatch(commands, "query-status", &args);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message(),
              "QMP input member 'arguments' must be an object");
}

TEST(QmpDispatch, HandlerErrorIsPassedThroughWithItsClass)
{
    ScriptedCommands commands;
    commands.failure = { ErrorClass::DeviceNotFound,
                         "Device 'nosuch' not found" };
    const QObject args = parse(R"({"path": "nosuch", "property": "x"})");

    auto result = qmp_dispatch(commands, "qom-get", &args);

    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().error_class(), ErrorClass::DeviceNotFound);
    EXPECT_EQ(result.error().message(), "Device 'nosuch' not found");
}

// ---------------------------------------------------------------------------
// Tables

TEST(QmpTables, CommandNamesAreInSchemaOrder)
{
    EXPECT_EQ(qapi::QMP_COMMAND_NAMES.front(), "qmp_capabilities");
    EXPECT_EQ(qapi::QMP_COMMAND_NAMES.back(), "snapshot-delete");
}

class QmpCommandName : public testing::TestWithParam<std::string_view> {};

TEST_P(QmpCommandName, IsKnownToTheDispatcher)
{
    ScriptedCommands commands;
    commands.reply = QObject::list();

    auto result = qmp_dispatch(commands, GetParam(), nullptr);

    // Commands with mandatory arguments fail on those, not on the name.
    EXPECT_TRUE(result.has_value() ||
                result.error().error_class() != ErrorClass::CommandNotFound);
}

INSTANTIATE_TEST_SUITE_P(Schema, QmpCommandName,
                         testing::ValuesIn(qapi::QMP_COMMAND_NAMES));

TEST(QmpTables, CommandInfoCarriesAllowPreconfig)
{
    const auto by_name = [](std::string_view name) {
        return *std::find_if(
            qapi::QMP_COMMANDS.begin(), qapi::QMP_COMMANDS.end(),
            [&](const auto &info) { return info.name == name; });
    };

    EXPECT_TRUE(by_name("qom-get").allow_preconfig);
    EXPECT_FALSE(by_name("stop").allow_preconfig);
}

TEST(QmpTables, EventNamesAreInSchemaOrder)
{
    EXPECT_EQ(qapi::QAPI_EVENT_NAMES,
              (std::array<std::string_view, 6> { "SHUTDOWN", "STOP", "RESUME", "MIGRATION",
                                                 "MIGRATION_PASS", "JOB_STATUS_CHANGE" }));
}

// ---------------------------------------------------------------------------
// Events

TEST(QapiEvent, EventWithDataCarriesItsMembers)
{
    const qapi::QapiEvent event =
        qapi::qapi_event_shutdown(false, qapi::ShutdownCause::HostQmpQuit);

    EXPECT_EQ(event.name, "SHUTDOWN");
    EXPECT_EQ(event.data,
              parse(R"({"guest": false, "reason": "host-qmp-quit"})"));
}

TEST(QapiEvent, EventWithoutDataHasNone)
{
    const qapi::QapiEvent event = qapi::qapi_event_stop();

    EXPECT_EQ(event.name, "STOP");
    EXPECT_EQ(event.data, std::nullopt);
}

// ---------------------------------------------------------------------------
// Introspection

const QObject *schema_entity(const QObject &schema, std::string_view name)
{
    for (const QObject &info : *schema.as_list()) {
        if (*info.get("name")->as_string() == name) {
            return &info;
        }
    }
    return nullptr;
}

TEST(QapiIntrospection, CommandNamesItsArgumentAndReturnTypes)
{
    const QObject schema = parse(qapi::QAPI_SCHEMA_INTROSPECTION);

    const QObject *info = schema_entity(schema, "query-seoib");

    ASSERT_NE(info, nullptr);
    EXPECT_EQ(*info, parse(R"({"name": "query-seoib", "meta-type": "command",
                               "arg-type": "q_empty", "ret-type": "SeoibInfo"})"));
}

TEST(QapiIntrospection, MemberFeaturesAreKept)
{
    const QObject schema = parse(qapi::QAPI_SCHEMA_INTROSPECTION);

    const QObject *info = schema_entity(schema, "q_obj_query-machines-arg");

    ASSERT_NE(info, nullptr);
    EXPECT_EQ(
        *info->get("members"),
        parse(R"([{"name": "compat-props", "type": "bool", "default": null,
                         "features": ["unstable"]}])"));
}

// ---------------------------------------------------------------------------
// The documented examples, replayed through the generated code: every
// command's arguments decode, and every documented return value decodes
// into the command's return type and encodes back unchanged.

struct Example {
    std::string name;
    QObject exchanges;
};

void PrintTo(const Example &example, std::ostream *os)
{
    *os << example.name;
}

bool has_request(const QObject &exchanges)
{
    return std::any_of(exchanges.as_list()->begin(), exchanges.as_list()->end(),
                       [](const QObject &e) {
                           return *e.get("direction")->as_string() == "->";
                       });
}

std::vector<Example> schema_examples()
{
    std::vector<Example> examples;
    auto parsed = from_json(qapi::QAPI_EXAMPLES_JSON);
    if (!parsed.has_value()) {
        ADD_FAILURE() << parsed.error().message();
        return examples;
    }
    for (const QObject &example : *parsed.value().as_list()) {
        // Examples that only show events document them; there is nothing
        // to send.
        if (!has_request(*example.get("exchanges"))) {
            continue;
        }
        std::string name = *example.get("definition")->as_string();
        std::replace_if(
            name.begin(), name.end(),
            [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); },
            '_');
        examples.push_back({ name + "_" + std::to_string(examples.size()),
                             *example.get("exchanges") });
    }
    return examples;
}

class QapiExample : public testing::TestWithParam<Example> {};

TEST_P(QapiExample, RepliesAsDocumented)
{
    const QObject::List &exchanges = *GetParam().exchanges.as_list();
    for (size_t i = 0; i < exchanges.size(); i++) {
        if (*exchanges[i].get("direction")->as_string() != "->") {
            continue;
        }
        const QObject &request = *exchanges[i].get("message");
        // The reply is the next "<-" that is not an event.
        const QObject *reply = nullptr;
        for (size_t j = i + 1; j < exchanges.size() && !reply; j++) {
            const QObject &message = *exchanges[j].get("message");
            if (!message.get("event")) {
                reply = &message;
            }
        }
        ASSERT_NE(reply, nullptr);
        ScriptedCommands commands;
        if (const QObject *value = reply->get("return")) {
            commands.reply = *value;
        }

        auto result =
            qmp_dispatch(commands, *request.get("execute")->as_string(),
                         request.get("arguments"));

        if (const QObject *value = reply->get("return")) {
            ASSERT_TRUE(result.has_value()) << result.error().message();
            EXPECT_EQ(result.value(), *value) << qapi::to_json(result.value());
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Schema, QapiExample,
                         testing::ValuesIn(schema_examples()),
                         [](const testing::TestParamInfo<Example> &info) {
                             return info.param.name;
                         });

TEST(QapiExamples, QueryCommandsExampleListsEveryCommandInSchemaOrder)
{
    const QObject examples = parse(qapi::QAPI_EXAMPLES_JSON);
    std::vector<std::string_view> documented;

    for (const QObject &example : *examples.as_list()) {
        if (*example.get("definition")->as_string() == "query-commands") {
            const QObject &reply =
                *example.get("exchanges")->as_list()->at(1).get("message");
            for (const QObject &info : *reply.get("return")->as_list()) {
                documented.push_back(*info.get("name")->as_string());
            }
        }
    }

    EXPECT_TRUE(std::equal(documented.begin(), documented.end(),
                           qapi::QMP_COMMAND_NAMES.begin(),
                           qapi::QMP_COMMAND_NAMES.end()));
}

} // namespace
