/*
 * Every "# Example:" of the QAPI schema, replayed against a live seoib-vm
 * (style.md 7.10): documentation examples cannot go stale.
 *
 * Each example runs on a VM of its own, started with -S, so that examples
 * which change the run state (cont, stop, quit) do not affect the others.
 * Client messages ("->") are sent as written; server messages ("<-") must
 * arrive in the order written and equal the example, except that a
 * timestamp only has to have the documented shape.  Events the example
 * does not show (cont's RESUME) are allowed in between.  An example that
 * shows only an event is run by triggering the event.
 */
#include "tests/functional/qmp-harness.h"

#include "qapi/qapi-examples.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <deque>
#include <iostream>
#include <optional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

using qapi::QObject;
using qmp_test::json;

/// Examples known not to match the live monitor yet, each with the reason
/// (query-seoib was here until Vm::query_seoib() landed).  An entry turns
/// the example's failure into a skip that says why; remove it once the
/// example matches, which the test then reports.
const std::map<std::string, std::string, std::less<>>
    KNOWN_FAILING_EXAMPLES {};

/// Examples that describe the real KVM: query-kvm reports it "present",
/// which the kernel model is not.
const std::vector<std::string> EXAMPLES_ON_HOST_KVM = { "query-kvm" };

/// How to make the event of an event-only example happen, and the
/// commands that do it.
/// A command of a trigger and its arguments as JSON ("" for none).
struct TriggerCommand {
    std::string command;
    std::string arguments;
};
const std::map<std::string, std::vector<TriggerCommand>, std::less<>>
    EVENT_TRIGGERS = {
        { "STOP", { { "cont", "" }, { "stop", "" } } },
        { "RESUME", { { "cont", "" } } },
        // A stopped VM migrates in one go; a running one in passes.
        { "MIGRATION", { { "migrate", R"({"uri": "exec:cat > /dev/null"})" } } },
        // A job with no image to work on: created, running, ... concluded.
        { "JOB_STATUS_CHANGE",
          { { "snapshot-delete", R"({"job-id": "j1", "tag": "t", "devices": []})" } } },
        { "MIGRATION_PASS",
          { { "cont", "" }, { "migrate", R"({"uri": "exec:cat > /dev/null"})" } } },
    };

/// Events a trigger causes after its command's response.
const std::set<std::string, std::less<>> ASYNC_EVENTS = { "MIGRATION_PASS" };

struct Exchange {
    bool from_client;
    QObject message;
};

struct Example {
    std::string definition;
    std::string source;
    std::vector<Exchange> exchanges;
};

void PrintTo(const Example &example, std::ostream *os)
{
    *os << example.definition << " (" << example.source << ")";
}

std::vector<Example> load_examples()
{
    std::vector<Example> out;
    const QObject all = json(qapi::QAPI_EXAMPLES_JSON);
    for (const QObject &e : *all.as_list()) {
        Example example { *e.get("definition")->as_string(),
                          *e.get("source")->as_string(),
                          {} };
        for (const QObject &x : *e.get("exchanges")->as_list()) {
            example.exchanges.push_back(
                Exchange { *x.get("direction")->as_string() == "->",
                           *x.get("message") });
        }
        out.push_back(std::move(example));
    }
    return out;
}

/// `message` with its timestamp replaced by a placeholder when it has
/// QMP's shape, {"seconds": N, "microseconds": N}; any other timestamp is
/// left alone, so it cannot compare equal to the placeholder.
QObject without_timestamp(QObject message)
{
    const QObject *ts = message.get("timestamp");
    if (ts && ts->is_dict() && ts->as_dict()->size() == 2 &&
        ts->get("seconds") && ts->get("seconds")->as_int() &&
        ts->get("microseconds") && ts->get("microseconds")->as_int()) {
        message.set("timestamp", QObject("<timestamp>"));
    }
    return message;
}

bool is_event(const QObject &message)
{
    return message.get("event") != nullptr;
}

/// Replays one example; returns the first difference, or "" when it
/// matched.
std::string replay(qmp_test::QmpClient &client, const Example &example)
{
    std::deque<QObject> received;
    // After a trigger everything the example can show has arrived; reading
    // on would wait forever for an event that was not sent.
    bool triggered = false;
    bool events_follow = false;
    auto next_received = [&]() -> std::optional<QObject> {
        if (!received.empty()) {
            QObject m = std::move(received.front());
            received.pop_front();
            return m;
        }
        if (triggered && !events_follow) {
            return std::nullopt;
        }
        return client.receive();
    };

    if (auto trigger = EVENT_TRIGGERS.find(example.definition);
        trigger != EVENT_TRIGGERS.end()) {
        for (const TriggerCommand &t : trigger->second) {
            const QObject response =
                t.arguments.empty() ? client.execute(t.command)
                                    : client.execute(t.command, json(t.arguments));
            if (!(response == json(R"({"return": {}})"))) {
                return "trigger " + t.command + " failed: " +
                       qapi::to_json(response);
            }
        }
        // Events precede the response of the command that caused them,
        // except a live migration's, which come while it runs.
        received.swap(client.events());
        triggered = true;
        events_follow = ASYNC_EVENTS.count(example.definition) != 0;
    }

    for (const Exchange &x : example.exchanges) {
        if (x.from_client) {
            client.send(x.message);
            continue;
        }
        const QObject expected = without_timestamp(x.message);
        while (true) {
            std::optional<QObject> got = next_received();
            if (!got) {
                return "not received: " + qapi::to_json(x.message);
            }
            const bool expected_event = is_event(expected);
            if (is_event(*got) &&
                (!expected_event ||
                 !(*got->get("event") == *expected.get("event")))) {
                continue; // an event the example does not show
            }
            if (!(without_timestamp(*got) == expected)) {
                return "expected " + qapi::to_json(x.message) + "\n     got " +
                       qapi::to_json(*got);
            }
            break;
        }
    }
    return {};
}

class QmpExampleTest : public testing::TestWithParam<Example> {};

TEST_P(QmpExampleTest, MatchesLiveMonitor)
{
    const Example &example = GetParam();
    const bool on_host =
        std::ranges::find(EXAMPLES_ON_HOST_KVM, example.definition) !=
        EXAMPLES_ON_HOST_KVM.end();
    if (on_host && !qmp_test::host_kvm_available()) {
        GTEST_SKIP() << example.definition
                     << " describes the real KVM and /dev/kvm cannot be "
                        "opened";
    }
    qmp_test::VmProcess vm({ .accel = std::string(
                                 on_host ? qmp_test::HOST_ACCEL
                                         : qmp_test::MODEL_ACCEL) });
    qmp_test::QmpClient client = vm.connect();
    const bool negotiates_itself =
        !example.exchanges.empty() && example.exchanges.front().from_client &&
        example.exchanges.front().message.get("execute") &&
        *example.exchanges.front().message.get("execute") ==
            QObject("qmp_capabilities");
    if (!negotiates_itself) {
        client.negotiate();
    }

    const std::string difference = replay(client, example);

    if (auto known = KNOWN_FAILING_EXAMPLES.find(example.definition);
        known != KNOWN_FAILING_EXAMPLES.end()) {
        if (!difference.empty()) {
            GTEST_SKIP() << "known failure (" << known->second
                         << "): " << difference;
        }
        std::cout << example.definition
                  << " matches now: remove it from KNOWN_FAILING_EXAMPLES\n";
    }
    EXPECT_EQ(difference, "") << example.source;
}

std::string example_name(const testing::TestParamInfo<Example> &info)
{
    std::string name = info.param.definition;
    std::replace_if(
        name.begin(), name.end(),
        [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); },
        '_');
    return name + "_" + std::to_string(info.index);
}

INSTANTIATE_TEST_SUITE_P(Schema, QmpExampleTest,
                         testing::ValuesIn(load_examples()), example_name);


} // namespace
