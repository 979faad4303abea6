/*
 * QmpSession: the protocol of one client, over a fake VM.  Expected
 * responses are QEMU 7.2's to the same requests.
 */
#include "monitor/qmp-session.h"

#include "tests/functional/qmp-harness.h"

#include "qapi/qapi-commands.h"
#include "qapi/qapi-events.h"
#include "qapi/qjson.h"
#include "qom/context.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace {

using qapi::QObject;
using qmp_test::json;

/// A VM that records what the monitor asks of it.
class FakeVm final : public monitor::VmControl {
public:
    FakeVm()
        : m_ctx(qom::make_type_registry())
    {
    }

    qom::Context &context() override { return m_ctx; }
    qapi::RunState run_state() const override { return state; }
    qapi::Result<void> stop() override
    {
        calls.push_back("stop");
        return {};
    }
    qapi::Result<void> cont() override
    {
        calls.push_back("cont");
        return {};
    }
    void request_shutdown(qapi::ShutdownCause cause) override
    {
        shutdown = cause;
    }
    qapi::KvmInfo query_kvm() const override
    {
        return { .enabled = true, .present = false };
    }
    std::optional<std::string> guest_name() const override { return name; }
    std::optional<std::string> guest_uuid() const override { return uuid; }
    qapi::Result<qapi::SeoibInfo> query_seoib() const override
    {
        return qapi::Error("KVM is not in use",
                           qapi::ErrorClass::KVMMissingCap);
    }
    qapi::Result<void> migrate(std::string_view) override
    {
        calls.push_back("migrate");
        return {};
    }
    qapi::Result<void> migrate_incoming(std::string_view) override
    {
        calls.push_back("migrate-incoming");
        return {};
    }
    qapi::Result<void> migrate_cancel() override
    {
        calls.push_back("migrate_cancel");
        return {};
    }
    qapi::Result<qapi::MigrationInfo> query_migrate() const override
    {
        return qapi::MigrationInfo {};
    }
    qapi::Result<void> migrate_set_parameters(const qapi::MigrateSetParametersArgs &) override
    {
        calls.push_back("migrate-set-parameters");
        return {};
    }
    qapi::Result<qapi::MigrationParameters> query_migrate_parameters() const override
    {
        return qapi::MigrationParameters {};
    }
    qapi::Result<std::string> human_monitor_command(std::string_view) override
    {
        return std::string();
    }
    qapi::Result<void> snapshot_save(const qapi::SnapshotSaveArgs &) override { return {}; }
    qapi::Result<void> snapshot_load(const qapi::SnapshotLoadArgs &) override { return {}; }
    qapi::Result<void> snapshot_delete(const qapi::SnapshotDeleteArgs &) override { return {}; }
    std::vector<qapi::JobInfo> query_jobs() const override { return {}; }
    qapi::Result<void> job_dismiss(std::string_view) override { return {}; }
    qapi::Result<void> job_finalize(std::string_view) override { return {}; }

    qapi::RunState state { qapi::RunState::Prelaunch };
    std::vector<std::string> calls;
    std::optional<qapi::ShutdownCause> shutdown;
    std::optional<std::string> name;
    std::optional<std::string> uuid;

private:
    qom::Context m_ctx;
};

class QmpSessionTest : public testing::Test {
protected:
    QObject request(std::string_view text)
    {
        return session.handle(json(text));
    }

    void negotiate()
    {
        ASSERT_EQ(request(R"({"execute": "qmp_capabilities"})"),
                  json(R"({"return": {}})"));
    }

    FakeVm vm;
    monitor::QmpSession session { vm };
};

TEST_F(QmpSessionTest, GreetingOffersNoCapabilities)
{
    const QObject greeting = session.greeting();

    EXPECT_EQ(greeting,
              json(R"({"QMP": {"version": {"qemu": {"major": 11, "minor": 0,
                       "micro": 0}, "package": "seoib 0.1.0"},
                       "capabilities": []}})"));
}

TEST_F(QmpSessionTest, CommandBeforeNegotiationIsCommandNotFound)
{
    const QObject response = request(R"({"execute": "query-status"})");

    EXPECT_EQ(response, json(R"({"error": {"class": "CommandNotFound",
        "desc": "Expecting capabilities negotiation with )"
                             R"('qmp_capabilities'"}})"));
}

TEST_F(QmpSessionTest, NegotiationEntersCommandMode)
{
    request(R"({"execute": "qmp_capabilities"})");

    EXPECT_TRUE(session.command_mode());
}

TEST_F(QmpSessionTest, SecondNegotiationIsCommandNotFound)
{
    negotiate();

    const QObject response = request(R"({"execute": "qmp_capabilities"})");

    EXPECT_EQ(response, json(R"({"error": {"class": "CommandNotFound",
        "desc": "Capabilities negotiation is already complete, )"
                             R"(command ignored"}})"));
}

TEST_F(QmpSessionTest, CapabilityNotOfferedIsRefusedAndNegotiationGoesOn)
{
    const QObject response = request(
        R"({"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}})");

    EXPECT_EQ(response, json(R"({"error": {"class": "GenericError",
        "desc": "Capability oob not available"}})"));
    EXPECT_FALSE(session.command_mode());
}

TEST_F(QmpSessionTest, StreamErrorIsAnsweredWithoutId)
{
    const QObject response =
        session.handle(qapi::Error("JSON parse error, expecting value"));

    EXPECT_EQ(response, json(R"({"error": {"class": "GenericError",
        "desc": "JSON parse error, expecting value"}})"));
}

TEST_F(QmpSessionTest, IdOfAnyTypeIsCopiedIntoTheResponse)
{
    negotiate();

    const QObject response =
        request(R"({"execute": "query-status", "id": {"n": [1, "x"]}})");

    EXPECT_EQ(*response.get("id"), json(R"({"n": [1, "x"]})"));
}

TEST_F(QmpSessionTest, IdIsCopiedIntoAnErrorOnceTheRequestIsRead)
{
    negotiate();

    const QObject response =
        request(R"({"execute": "nosuch", "id": 7})");

    EXPECT_EQ(response, json(R"({"id": 7, "error": {"class": "CommandNotFound",
        "desc": "The command nosuch has not been found"}})"));
}

struct ShapeCase {
    const char *request;
    const char *desc;
};

class QmpSessionShapes : public QmpSessionTest,
                         public testing::WithParamInterface<ShapeCase> {};

TEST_P(QmpSessionShapes, MalformedRequestGetsQemusError)
{
    negotiate();

    const QObject response = request(GetParam().request);

    EXPECT_EQ(*response.get("error")->get("desc"), QObject(GetParam().desc))
        << GetParam().request;
}

const ShapeCase SHAPE_CASES[] = {
    { "[1]", "QMP input must be a JSON object" },
    { "\"execute\"", "QMP input must be a JSON object" },
    { R"({"arguments": {}})", "QMP input lacks member 'execute'" },
    { R"({"execute": 1})", "QMP input member 'execute' must be a string" },
    { R"({"execute": "stop", "arguments": []})",
      "QMP input member 'arguments' must be an object" },
    { R"({"execute": "stop", "foo": 1})",
      "QMP input member 'foo' is unexpected" },
    { R"({"exec-oob": "stop"})", "QMP input member 'exec-oob' is unexpected" },
    { R"({"execute": "qom-get", "arguments": {"path": "/"}})",
      "Parameter 'property' is missing" },
    { R"({"execute": "qom-get", "arguments": {"path": 1, "property": "x"}})",
      "Invalid parameter type for 'path', expected: string" },
    { R"({"execute": "stop", "arguments": {"x": 1}})",
      "Parameter 'x' is unexpected" },
};

INSTANTIATE_TEST_SUITE_P(Qemu, QmpSessionShapes,
                         testing::ValuesIn(SHAPE_CASES));

TEST_F(QmpSessionTest, QuitAsksTheVmToShutDown)
{
    negotiate();

    const QObject response = request(R"({"execute": "quit"})");

    EXPECT_EQ(response, json(R"({"return": {}})"));
    EXPECT_EQ(vm.shutdown, qapi::ShutdownCause::HostQmpQuit);
}

TEST_F(QmpSessionTest, StopAndContGoToTheVm)
{
    negotiate();

    request(R"({"execute": "cont"})");
    request(R"({"execute": "stop"})");

    EXPECT_EQ(vm.calls, (std::vector<std::string> { "cont", "stop" }));
}

TEST_F(QmpSessionTest, QueryStatusReportsTheRunState)
{
    negotiate();
    vm.state = qapi::RunState::Paused;

    const QObject response = request(R"({"execute": "query-status"})");

    EXPECT_EQ(response,
              json(R"({"return": {"running": false, "status": "paused"}})"));
}

TEST_F(QmpSessionTest, QueryCommandsListsEverySchemaCommand)
{
    negotiate();

    const QObject response = request(R"({"execute": "query-commands"})");

    std::vector<std::string> names;
    for (const QObject &c : *response.get("return")->as_list()) {
        names.push_back(*c.get("name")->as_string());
    }
    EXPECT_EQ(names, std::vector<std::string>(qapi::QMP_COMMAND_NAMES.begin(),
                                              qapi::QMP_COMMAND_NAMES.end()));
}

TEST_F(QmpSessionTest, VmErrorKeepsItsClass)
{
    negotiate();

    const QObject response = request(R"({"execute": "query-seoib"})");

    EXPECT_EQ(response, json(R"({"error": {"class": "KVMMissingCap",
        "desc": "KVM is not in use"}})"));
}

TEST(QmpEventMessage, CarriesNameDataAndTimestamp)
{
    const QObject message = monitor::qmp_event_message(
        qapi::qapi_event_shutdown(false, qapi::ShutdownCause::HostSignal));

    EXPECT_EQ(*message.get("event"), QObject("SHUTDOWN"));
    EXPECT_EQ(*message.get("data"),
              json(R"({"guest": false, "reason": "host-signal"})"));
    EXPECT_TRUE(message.get("timestamp")->get("seconds")->as_int());
    EXPECT_TRUE(message.get("timestamp")->get("microseconds")->as_int());
}

TEST(QmpEventMessage, EventWithoutDataHasNoDataMember)
{
    const QObject message =
        monitor::qmp_event_message(qapi::qapi_event_stop());

    EXPECT_EQ(message.get("data"), nullptr);
}

} // namespace
