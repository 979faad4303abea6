/*
 * QmpSession: the QMP protocol of one client, whatever carries its bytes
 * (QEMU's MonitorQMP and qapi/qmp-dispatch.c; docs/interop/qmp-spec.rst).
 *
 * A session starts in capabilities negotiation mode, where only
 * qmp_capabilities runs; once that succeeds it is in command mode, where
 * every other command runs and events are delivered.  Every message gets
 * exactly one response: {"return": ...} or {"error": {"class", "desc"}},
 * with the request's "id" copied into it once the request was read far
 * enough to have one.
 */
#pragma once

#include "monitor/monitor-fds.h"
#include "monitor/vm-control.h"
#include "qapi/qobject.h"
#include "qapi/result.h"

#include <string_view>

namespace monitor {

class QmpSession {
public:
    explicit QmpSession(VmControl &vm)
        : m_vm(vm)
    {
    }

    /// {"QMP": {"version": <query-version>, "capabilities": []}}: the first
    /// message a client receives.  No capability is offered: seoib has no
    /// out-of-band execution.
    qapi::QObject greeting() const;

    /// Runs one message, or reports the error the stream gave for it
    /// (a JSON parse error, a limit), and returns the response.  The
    /// request's shape is checked as QEMU does, in this order: a JSON
    /// object ("QMP input must be a JSON object"); "execute" a string,
    /// "arguments" an object, no other member but "id" ("QMP input member
    /// 'X' is unexpected"); "execute" present ("QMP input lacks member
    /// 'execute'"); then, in negotiation mode, any command but
    /// qmp_capabilities is CommandNotFound "Expecting capabilities
    /// negotiation with 'qmp_capabilities'".
    qapi::QObject handle(qapi::Result<qapi::QObject> message);

    /// Whether qmp_capabilities has succeeded: commands run and events are
    /// delivered.
    bool command_mode() const { return m_command_mode; }
    /// Leaves negotiation mode; qmp_capabilities calls it.
    void enter_command_mode() { m_command_mode = true; }

    /// The descriptors this client passed (getfd, closefd, fd:NAME).
    MonitorFds &fds() { return m_fds; }

private:
    qapi::Result<qapi::QObject> dispatch(const qapi::QObject &request);

    VmControl &m_vm;
    bool m_command_mode { false };
    MonitorFds m_fds;
};

/// {"event": NAME, "data": DATA, "timestamp": {"seconds", "microseconds"}}
/// with the wall-clock time now; "data" only when the event has data.
qapi::QObject qmp_event_message(const qapi::QapiEvent &event);

} // namespace monitor
