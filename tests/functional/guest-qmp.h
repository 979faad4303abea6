/*
 * QMP helpers for tests that drive the built-in guest through seoib-vm:
 * its seoib-testdev's counters, the run state, events, error texts.
 */
#pragma once

#include "tests/functional/qmp-harness.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

namespace qmp_test::guest {

using qapi::QObject;

/// The built-in guest's seoib-testdev in the QOM tree.
inline const std::string TESTDEV = "/machine/unattached/device[1]";

/// The string at `obj` (a member just looked up), or "" when absent.
inline std::string text(const QObject *obj)
{
    const std::string *s = obj ? obj->as_string() : nullptr;
    return s ? *s : std::string();
}

inline QObject qom_get(QmpClient &qmp, const std::string &path, const std::string &prop)
{
    QObject reply = qmp.execute("qom-get", qmp_test::json("{\"path\": \"" + path +
                                                "\", \"property\": \"" + prop + "\"}"));
    const QObject *value = reply.get("return");
    EXPECT_NE(value, nullptr) << qapi::to_json(reply);
    return value ? *value : QObject();
}

inline std::string status_of(QmpClient &qmp)
{
    QObject reply = qmp.execute("query-status");
    const QObject *ret = reply.get("return");
    return ret ? text(ret->get("status")) : "";
}

/// Waits (bounded by counts of replies, not time) for the guest to finish.
inline bool wait_guest_finished(QmpClient &qmp)
{
    for (int i = 0; i < 2000; ++i) {
        if (qom_get(qmp, TESTDEV, "finished") == QObject(true)) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
}

/// Waits for the event `name`, skipping others.
inline bool wait_event(QmpClient &qmp, const std::string &name)
{
    for (auto it = qmp.events().begin(); it != qmp.events().end(); ++it) {
        if (text(it->get("event")) == name) {
            qmp.events().erase(it);
            return true;
        }
    }
    for (int i = 0; i < 100; ++i) {
        std::optional<QObject> msg = qmp.receive();
        if (!msg) {
            return false;
        }
        if (text(msg->get("event")) == name) {
            return true;
        }
        qmp.events().push_back(*msg);
    }
    return false;
}

/// The error description of a response; "" when it succeeded.
inline std::string error_desc(const QObject &response)
{
    const QObject *error = response.get("error");
    return error ? *error->get("desc")->as_string() : "";
}

} // namespace qmp_test::guest
