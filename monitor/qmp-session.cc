#include "monitor/qmp-session.h"

#include "monitor/qmp-cmds.h"
#include "qapi/qapi-commands.h"
#include "trace/trace-monitor.h"

#include <glib.h>

#include <string>
#include <utility>

namespace monitor {

namespace {

constexpr std::string_view QMP_CAPABILITIES = "qmp_capabilities";

qapi::QObject error_response(const qapi::Error &error)
{
    qapi::QObject desc = qapi::QObject::dict();
    desc.set("class",
             qapi::QObject(qapi::error_class_name(error.error_class())));
    desc.set("desc", qapi::QObject(error.message()));
    qapi::QObject response = qapi::QObject::dict();
    response.set("error", std::move(desc));
    return response;
}

/// QEMU's qmp_dispatch_check_obj(): the members a request may have.
/// "exec-oob" is unexpected because no session enables out-of-band
/// execution.
qapi::Result<std::string_view> check_request(const qapi::QObject &request)
{
    const std::string *execute = nullptr;
    for (const auto &[name, value] : *request.as_dict()) {
        if (name == "execute") {
            execute = value.as_string();
            if (!execute) {
                return qapi::Error(
                    "QMP input member 'execute' must be a string");
            }
        } else if (name == "arguments") {
            if (!value.is_dict()) {
                return qapi::Error(
                    "QMP input member 'arguments' must be an object");
            }
        } else if (name != "id") {
            return qapi::Error::format("QMP input member '{}' is unexpected",
                                       name);
        }
    }
    if (!execute) {
        return qapi::Error("QMP input lacks member 'execute'");
    }
    return std::string_view(*execute);
}

} // namespace

qapi::QObject QmpSession::greeting() const
{
    qapi::QObject qmp = qapi::QObject::dict();
    qmp.set("version", qapi::to_qobject(seoib_version_info()));
    qmp.set("capabilities", qapi::QObject::list());
    qapi::QObject greeting = qapi::QObject::dict();
    greeting.set("QMP", std::move(qmp));
    return greeting;
}

qapi::QObject QmpSession::handle(qapi::Result<qapi::QObject> message)
{
    if (!message) {
        return error_response(message.error());
    }
    const qapi::QObject &request = message.value();
    if (!request.is_dict()) {
        return error_response(qapi::Error("QMP input must be a JSON object"));
    }
    qapi::Result<qapi::QObject> result = dispatch(request);
    qapi::QObject response;
    if (result) {
        response = qapi::QObject::dict();
        response.set("return", result.release_value());
    } else {
        response = error_response(result.error());
    }
    if (const qapi::QObject *id = request.get("id")) {
        response.set("id", *id);
    }
    return response;
}

qapi::Result<qapi::QObject> QmpSession::dispatch(const qapi::QObject &request)
{
    const std::string_view name = TRY(check_request(request));
    const std::string command(name);
    if (!m_command_mode && name != QMP_CAPABILITIES) {
        // QEMU's negotiation mode knows no other command, and tells the
        // client what it is waiting for rather than "not found".
        trace_qmp_command_error(command.c_str(), "CommandNotFound");
        return qapi::Error(
            "Expecting capabilities negotiation with 'qmp_capabilities'",
            qapi::ErrorClass::CommandNotFound);
    }
    trace_qmp_command(command.c_str());
    MonitorCommands commands(m_vm, *this);
    qapi::Result<qapi::QObject> result =
        qapi::qmp_dispatch(commands, name, request.get("arguments"));
    if (!result) {
        const std::string cls(
            qapi::error_class_name(result.error().error_class()));
        trace_qmp_command_error(command.c_str(), cls.c_str());
    }
    return result;
}

qapi::QObject qmp_event_message(const qapi::QapiEvent &event)
{
    // QMP's timestamp is wall-clock time (qmp-spec.rst, "Asynchronous
    // events").
    const gint64 now = g_get_real_time();
    qapi::QObject timestamp = qapi::QObject::dict();
    timestamp.set("seconds", qapi::QObject(int64_t { now / G_USEC_PER_SEC }));
    timestamp.set("microseconds",
                  qapi::QObject(int64_t { now % G_USEC_PER_SEC }));
    qapi::QObject message = qapi::QObject::dict();
    message.set("event", qapi::QObject(event.name));
    if (event.data) {
        message.set("data", *event.data);
    }
    message.set("timestamp", std::move(timestamp));
    return message;
}

} // namespace monitor
