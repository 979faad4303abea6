/*
 * The QMP commands of seoib (QEMU's monitor/qmp-cmds.c,
 * qom/qom-qmp-cmds.c and hw/core/machine-qmp-cmds.c).
 *
 * MonitorCommands implements the generated qapi::QmpCommands for one
 * session; qapi::qmp_dispatch() has decoded and checked the arguments
 * before a method runs.  The QOM and machine commands are also free
 * functions over a context or a type registry, so they can be used and
 * tested without a session.
 */
#pragma once

#include "monitor/vm-control.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-types.h"
#include "qapi/result.h"
#include "qom/context.h"
#include "qom/type-registry.h"

#include <vector>

namespace monitor {

class QmpSession;

/// The QEMU release whose machine types, command line and QMP seoib
/// implements (its newest machine type is pc-q35-11.0).  Version-gated
/// clients (libvirt wants at least 4.2.0) take their paths from it.
struct QemuVersion {
    int64_t major, minor, micro;
};
inline constexpr QemuVersion QEMU_VERSION_IMPLEMENTED { 11, 0, 0 };

/// query-version and the greeting: QEMU_VERSION_IMPLEMENTED in "qemu", and
/// seoib with its own version in "package" (where QEMU builds name their
/// distribution package), so a person still sees what runs.
qapi::VersionInfo seoib_version_info();

/// qom-list: every property of the object at args.path, class properties
/// first, each as {name, type} (QEMU reports no description here).
/// DeviceNotFound "Device 'P' not found"; "Path 'P' is ambiguous".
qapi::Result<std::vector<qapi::ObjectPropertyInfo>>
qom_list(const qom::Context &ctx, const qapi::QomListArgs &args);

/// qom-get: the property's value as its codec renders it (integers are
/// numbers, child<> and link<> properties paths).  Errors as qom_list, and
/// "Property 'TYPE.NAME' not found".
qapi::Result<qapi::QObject> qom_get(const qom::Context &ctx,
                                    const qapi::QomGetArgs &args);

/// qom-set: through the object's single write gate, so a device refuses
/// writes after realize and the accelerator after its initialisation, with
/// QEMU's texts.
qapi::Result<void> qom_set(qom::Context &ctx, const qapi::QomSetArgs &args);

/// qom-list-types: registered types that are, derive from or implement
/// args.implements (all types without it), abstract ones only when
/// args.abstract is true; in registration order.  An unknown type matches
/// nothing.
std::vector<qapi::ObjectTypeInfo>
qom_list_types(const qom::TypeRegistry &types,
               const qapi::QomListTypesArgs &args);

/// qom-list-properties: the class properties of a type, with their
/// descriptions and defaults, without creating an object.  DeviceNotFound
/// "Class 'T' not found".
qapi::Result<std::vector<qapi::ObjectPropertyInfo>>
qom_list_properties(const qom::TypeRegistry &types,
                    const qapi::QomListPropertiesArgs &args);

/// device-list-properties: qom-list-properties of a non-abstract device
/// type less the properties every device has.  QEMU 7.2's errors:
/// DeviceNotFound "Device 'T' not found", GenericError "Parameter
/// 'typename' expects a non-abstract device type".
qapi::Result<std::vector<qapi::ObjectPropertyInfo>>
device_list_properties(const qom::TypeRegistry &types,
                       const qapi::DeviceListPropertiesArgs &args);

/// query-machines: every machine type in registration order; with
/// args.compat_props, each machine's compat list in application order.
std::vector<qapi::MachineInfo>
query_machines(const qom::TypeRegistry &types,
               const qapi::QueryMachinesArgs &args);

/// The commands as one session sees them.  qmp_capabilities changes the
/// session's mode; everything else acts on the VM.
class MonitorCommands final : public qapi::QmpCommands {
public:
    MonitorCommands(VmControl &vm, QmpSession &session)
        : m_vm(vm)
        , m_session(session)
    {
    }

    qapi::Result<void>
    qmp_qmp_capabilities(const qapi::QmpCapabilitiesArgs &args) override;
    qapi::Result<qapi::VersionInfo> qmp_query_version() override;
    qapi::Result<std::vector<qapi::CommandInfo>> qmp_query_commands() override;
    qapi::Result<void> qmp_quit() override;
    qapi::Result<qapi::StatusInfo> qmp_query_status() override;
    qapi::Result<void> qmp_stop() override;
    qapi::Result<void> qmp_cont() override;
    qapi::Result<std::vector<qapi::ObjectPropertyInfo>>
    qmp_qom_list(const qapi::QomListArgs &args) override;
    qapi::Result<qapi::QObject>
    qmp_qom_get(const qapi::QomGetArgs &args) override;
    qapi::Result<void> qmp_qom_set(const qapi::QomSetArgs &args) override;
    qapi::Result<std::vector<qapi::ObjectTypeInfo>>
    qmp_qom_list_types(const qapi::QomListTypesArgs &args) override;
    qapi::Result<std::vector<qapi::ObjectPropertyInfo>>
    qmp_qom_list_properties(const qapi::QomListPropertiesArgs &args) override;
    qapi::Result<std::vector<qapi::ObjectPropertyInfo>>
    qmp_device_list_properties(
        const qapi::DeviceListPropertiesArgs &args) override;
    qapi::Result<std::vector<qapi::MachineInfo>>
    qmp_query_machines(const qapi::QueryMachinesArgs &args) override;
    qapi::Result<qapi::UuidInfo> qmp_query_uuid() override;
    qapi::Result<qapi::TargetInfo> qmp_query_target() override;
    qapi::Result<qapi::NameInfo> qmp_query_name() override;
    qapi::Result<qapi::KvmInfo> qmp_query_kvm() override;
    qapi::Result<qapi::SeoibInfo> qmp_query_seoib() override;
    qapi::Result<qapi::MigrationInfo> qmp_query_migrate() override;
    qapi::Result<void>
    qmp_migrate_set_parameters(const qapi::MigrateSetParametersArgs &args) override;
    qapi::Result<qapi::MigrationParameters> qmp_query_migrate_parameters() override;
    qapi::Result<void> qmp_migrate(const qapi::MigrateArgs &args) override;
    qapi::Result<void> qmp_migrate_incoming(const qapi::MigrateIncomingArgs &args) override;
    qapi::Result<void> qmp_migrate_cancel() override;
    qapi::Result<void> qmp_getfd(const qapi::GetfdArgs &args) override;
    qapi::Result<std::string>
    qmp_human_monitor_command(const qapi::HumanMonitorCommandArgs &args) override;
    qapi::Result<void> qmp_snapshot_save(const qapi::SnapshotSaveArgs &args) override;
    qapi::Result<void> qmp_snapshot_load(const qapi::SnapshotLoadArgs &args) override;
    qapi::Result<void> qmp_snapshot_delete(const qapi::SnapshotDeleteArgs &args) override;
    qapi::Result<std::vector<qapi::JobInfo>> qmp_query_jobs() override;
    qapi::Result<void> qmp_job_dismiss(const qapi::JobDismissArgs &args) override;
    qapi::Result<void> qmp_job_finalize(const qapi::JobFinalizeArgs &args) override;
    qapi::Result<void> qmp_closefd(const qapi::ClosefdArgs &args) override;

private:
    VmControl &m_vm;
    QmpSession &m_session;
};

} // namespace monitor
