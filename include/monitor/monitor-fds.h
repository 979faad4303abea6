/*
 * MonitorFds: the file descriptors a QMP client passed with SCM_RIGHTS
 * (QEMU's monitor/fds.c, the per-monitor `fds` list).
 *
 * A client sends a descriptor in the ancillary data of the bytes that
 * carry `getfd`; `getfd fdname=NAME` keeps it under NAME, `closefd`
 * closes it, and a command that takes a descriptor by name
 * (`migrate uri=fd:NAME`) takes it out of the list.  Everything still
 * held is closed with the session.
 */
#pragma once

#include "qapi/result.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace monitor {

class MonitorFds {
public:
    MonitorFds() = default;
    MonitorFds(const MonitorFds &) = delete;
    MonitorFds &operator=(const MonitorFds &) = delete;
    ~MonitorFds();

    /// The descriptors that arrived with the latest read; they replace
    /// (and close) any that arrived earlier and no command took.
    void received(std::vector<int> fds);

    /// getfd: keeps the first received descriptor as `name`, closing one
    /// already held under that name.  Errors, as QEMU's: none received,
    /// a name starting with a digit (the descriptor is closed).
    qapi::Result<void> getfd(std::string_view name);

    /// closefd.  Error: "File descriptor named 'NAME' not found".
    qapi::Result<void> closefd(std::string_view name);

    /// QEMU's monitor_get_fd(): the descriptor named `name`, which the
    /// caller now owns.  Error: "File descriptor named 'NAME' has not been
    /// found".
    qapi::Result<int> take(std::string_view name);

private:
    std::vector<int> m_received;
    /// Newest first, as QEMU's list.
    std::vector<std::pair<std::string, int>> m_named;
};

} // namespace monitor
