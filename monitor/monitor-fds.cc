#include "monitor/monitor-fds.h"

#include <algorithm>
#include <cctype>

#include <unistd.h>

namespace monitor {

namespace {

void close_all(std::vector<int> &fds)
{
    for (int fd : fds) {
        ::close(fd);
    }
    fds.clear();
}

} // namespace

MonitorFds::~MonitorFds()
{
    close_all(m_received);
    for (auto &[name, fd] : m_named) {
        ::close(fd);
    }
}

void MonitorFds::received(std::vector<int> fds)
{
    close_all(m_received);
    m_received = std::move(fds);
}

qapi::Result<void> MonitorFds::getfd(std::string_view name)
{
    if (m_received.empty()) {
        return qapi::Error("No file descriptor supplied via SCM_RIGHTS");
    }
    int fd = m_received.front();
    m_received.erase(m_received.begin());
    // A name that starts with a digit would read as a descriptor number
    // in "fd:N".
    if (!name.empty() && std::isdigit(static_cast<unsigned char>(name[0]))) {
        ::close(fd);
        return qapi::Error("Parameter 'fdname' expects a name not starting with a digit");
    }
    auto held = std::find_if(m_named.begin(), m_named.end(),
                             [&](const auto &entry) { return entry.first == name; });
    if (held != m_named.end()) {
        ::close(std::exchange(held->second, fd));
        return {};
    }
    m_named.insert(m_named.begin(), { std::string(name), fd });
    return {};
}

qapi::Result<void> MonitorFds::closefd(std::string_view name)
{
    qapi::Result<int> fd = take(name);
    if (!fd) {
        return qapi::Error::format("File descriptor named '{}' not found", name);
    }
    ::close(fd.value());
    return {};
}

qapi::Result<int> MonitorFds::take(std::string_view name)
{
    auto held = std::find_if(m_named.begin(), m_named.end(),
                             [&](const auto &entry) { return entry.first == name; });
    if (held == m_named.end()) {
        return qapi::Error::format("File descriptor named '{}' has not been found", name);
    }
    int fd = held->second;
    m_named.erase(held);
    return fd;
}

} // namespace monitor
