#include "monitor/qmp-cmds.h"

#include "monitor/qmp-session.h"

#include <fmt/format.h>

#include <cctype>
#include <string>

#include <unistd.h>

namespace monitor {

qapi::VersionInfo seoib_version_info()
{
    return qapi::VersionInfo {
        .qemu = { .major = QEMU_VERSION_IMPLEMENTED.major,
                  .minor = QEMU_VERSION_IMPLEMENTED.minor,
                  .micro = QEMU_VERSION_IMPLEMENTED.micro },
        .package = fmt::format("seoib {}.{}.{}", SEOIB_VERSION_MAJOR,
                               SEOIB_VERSION_MINOR, SEOIB_VERSION_MICRO),
    };
}

qapi::Result<void>
MonitorCommands::qmp_qmp_capabilities(const qapi::QmpCapabilitiesArgs &args)
{
    if (m_session.command_mode()) {
        return qapi::Error("Capabilities negotiation is already complete, "
                           "command ignored",
                           qapi::ErrorClass::CommandNotFound);
    }
    // The greeting offers nothing, so every capability asked for is
    // unavailable; QEMU names them all, in the order given.
    if (args.enable && !args.enable->empty()) {
        std::string unavailable;
        for (qapi::QMPCapability cap : *args.enable) {
            if (!unavailable.empty()) {
                unavailable += ", ";
            }
            unavailable += qapi::enum_name(cap);
        }
        return qapi::Error::format("Capability {} not available",
                                   unavailable);
    }
    m_session.enter_command_mode();
    return {};
}

qapi::Result<qapi::VersionInfo> MonitorCommands::qmp_query_version()
{
    return seoib_version_info();
}

qapi::Result<std::vector<qapi::CommandInfo>>
MonitorCommands::qmp_query_commands()
{
    std::vector<qapi::CommandInfo> commands;
    commands.reserve(qapi::QMP_COMMAND_NAMES.size());
    for (std::string_view name : qapi::QMP_COMMAND_NAMES) {
        commands.push_back(qapi::CommandInfo { .name = std::string(name) });
    }
    return commands;
}

qapi::Result<void> MonitorCommands::qmp_quit()
{
    m_vm.request_shutdown(qapi::ShutdownCause::HostQmpQuit);
    return {};
}

qapi::Result<qapi::StatusInfo> MonitorCommands::qmp_query_status()
{
    const qapi::RunState state = m_vm.run_state();
    return qapi::StatusInfo { .running = state == qapi::RunState::Running,
                              .status = state };
}

qapi::Result<void> MonitorCommands::qmp_stop()
{
    return m_vm.stop();
}

qapi::Result<void> MonitorCommands::qmp_cont()
{
    return m_vm.cont();
}

qapi::Result<std::vector<qapi::ObjectPropertyInfo>>
MonitorCommands::qmp_qom_list(const qapi::QomListArgs &args)
{
    return qom_list(m_vm.context(), args);
}

qapi::Result<qapi::QObject>
MonitorCommands::qmp_qom_get(const qapi::QomGetArgs &args)
{
    return qom_get(m_vm.context(), args);
}

qapi::Result<void> MonitorCommands::qmp_qom_set(const qapi::QomSetArgs &args)
{
    return qom_set(m_vm.context(), args);
}

qapi::Result<std::vector<qapi::ObjectTypeInfo>>
MonitorCommands::qmp_qom_list_types(const qapi::QomListTypesArgs &args)
{
    return qom_list_types(m_vm.context().types(), args);
}

qapi::Result<std::vector<qapi::ObjectPropertyInfo>>
MonitorCommands::qmp_qom_list_properties(
    const qapi::QomListPropertiesArgs &args)
{
    return qom_list_properties(m_vm.context().types(), args);
}

qapi::Result<std::vector<qapi::ObjectPropertyInfo>>
MonitorCommands::qmp_device_list_properties(
    const qapi::DeviceListPropertiesArgs &args)
{
    return device_list_properties(m_vm.context().types(), args);
}

qapi::Result<std::vector<qapi::MachineInfo>>
MonitorCommands::qmp_query_machines(const qapi::QueryMachinesArgs &args)
{
    return query_machines(m_vm.context().types(), args);
}

qapi::Result<qapi::UuidInfo> MonitorCommands::qmp_query_uuid()
{
    // QEMU prints the UUID it parsed: lower case, zeros without -uuid.
    std::string uuid = m_vm.guest_uuid().value_or("00000000-0000-0000-0000-000000000000");
    for (char &c : uuid) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return qapi::UuidInfo { .UUID = std::move(uuid) };
}

qapi::Result<qapi::TargetInfo> MonitorCommands::qmp_query_target()
{
    return qapi::TargetInfo { .arch = qapi::SysEmuTarget::X86_64 };
}

qapi::Result<qapi::NameInfo> MonitorCommands::qmp_query_name()
{
    return qapi::NameInfo { .name = m_vm.guest_name() };
}

qapi::Result<qapi::KvmInfo> MonitorCommands::qmp_query_kvm()
{
    return m_vm.query_kvm();
}

qapi::Result<qapi::SeoibInfo> MonitorCommands::qmp_query_seoib()
{
    return m_vm.query_seoib();
}

qapi::Result<qapi::MigrationInfo> MonitorCommands::qmp_query_migrate()
{
    return m_vm.query_migrate();
}

qapi::Result<void>
MonitorCommands::qmp_migrate_set_parameters(const qapi::MigrateSetParametersArgs &args)
{
    return m_vm.migrate_set_parameters(args);
}

qapi::Result<qapi::MigrationParameters> MonitorCommands::qmp_query_migrate_parameters()
{
    return m_vm.query_migrate_parameters();
}

namespace {

/// QEMU's monitor_fd_param(): "fd:NAME" names a descriptor the client
/// passed with getfd, which the command takes; "fd:N", a number, is a
/// descriptor the process already has.  Runs `start` with the URI in its
/// numeric form; the channel duplicates the descriptor, so the named one
/// is closed either way.
template <typename Start>
qapi::Result<void> with_named_fd(MonitorFds &fds, const std::string &uri, Start start)
{
    constexpr std::string_view FD_PREFIX = "fd:";
    if (uri.rfind(FD_PREFIX, 0) != 0 || uri.size() == FD_PREFIX.size() ||
        std::isdigit(static_cast<unsigned char>(uri[FD_PREFIX.size()]))) {
        return start(uri);
    }
    int fd = TRY(fds.take(std::string_view(uri).substr(FD_PREFIX.size())));
    qapi::Result<void> started = start(fmt::format("fd:{}", fd));
    ::close(fd);
    return started;
}

} // namespace

qapi::Result<void> MonitorCommands::qmp_migrate(const qapi::MigrateArgs &args)
{
    if (args.resume.value_or(false)) {
        return qapi::Error("migrate: resume is not supported: there is no postcopy");
    }
    return with_named_fd(m_session.fds(), args.uri,
                         [&](const std::string &uri) { return m_vm.migrate(uri); });
}

qapi::Result<void> MonitorCommands::qmp_migrate_incoming(const qapi::MigrateIncomingArgs &args)
{
    return with_named_fd(m_session.fds(), args.uri,
                         [&](const std::string &uri) { return m_vm.migrate_incoming(uri); });
}

qapi::Result<void> MonitorCommands::qmp_migrate_cancel()
{
    return m_vm.migrate_cancel();
}

qapi::Result<void> MonitorCommands::qmp_getfd(const qapi::GetfdArgs &args)
{
    return m_session.fds().getfd(args.fdname);
}

qapi::Result<std::string>
MonitorCommands::qmp_human_monitor_command(const qapi::HumanMonitorCommandArgs &args)
{
    return m_vm.human_monitor_command(args.command_line);
}

qapi::Result<void> MonitorCommands::qmp_snapshot_save(const qapi::SnapshotSaveArgs &args)
{
    return m_vm.snapshot_save(args);
}

qapi::Result<void> MonitorCommands::qmp_snapshot_load(const qapi::SnapshotLoadArgs &args)
{
    return m_vm.snapshot_load(args);
}

qapi::Result<void> MonitorCommands::qmp_snapshot_delete(const qapi::SnapshotDeleteArgs &args)
{
    return m_vm.snapshot_delete(args);
}

qapi::Result<std::vector<qapi::JobInfo>> MonitorCommands::qmp_query_jobs()
{
    return m_vm.query_jobs();
}

qapi::Result<void> MonitorCommands::qmp_job_dismiss(const qapi::JobDismissArgs &args)
{
    return m_vm.job_dismiss(args.id);
}

qapi::Result<void> MonitorCommands::qmp_job_finalize(const qapi::JobFinalizeArgs &args)
{
    return m_vm.job_finalize(args.id);
}

qapi::Result<void> MonitorCommands::qmp_closefd(const qapi::ClosefdArgs &args)
{
    return m_session.fds().closefd(args.fdname);
}

} // namespace monitor
