/*
 * VmControl: what the QMP commands act on besides the type registry.
 *
 * The monitor sits beside system/ in the layering, so it does not know how
 * the VM runs; the run phase (system/runstate.cc) implements this over
 * sysemu::Vm and owns the run state, as QEMU's system/runstate.c does.
 * Tests implement it with a fake.
 */
#pragma once

#include "qapi/qapi-types.h"
#include "qapi/result.h"
#include "qom/context.h"

#include <optional>
#include <string>

namespace monitor {

class VmControl {
public:
    virtual ~VmControl() = default;

    /// The object tree of the VM (qom-list, qom-get, qom-set) and its type
    /// registry (qom-list-types, qom-list-properties, query-machines).
    virtual qom::Context &context() = 0;

    /// query-status.
    virtual qapi::RunState run_state() const = 0;
    /// QMP stop: a running VM pauses and sends STOP; a VM that does not run
    /// (prelaunch, paused) stays as it is and sends nothing.
    virtual qapi::Result<void> stop() = 0;
    /// QMP cont: a VM that does not run starts and sends RESUME; a running
    /// VM stays as it is and sends nothing.
    virtual qapi::Result<void> cont() = 0;
    /// QMP quit and signals: the program is to exit once the current request
    /// is answered; SHUTDOWN is sent on the way out.
    virtual void request_shutdown(qapi::ShutdownCause cause) = 0;

    /// query-kvm.
    virtual qapi::KvmInfo query_kvm() const = 0;
    /// query-name: the guest's -name, if one was given.
    virtual std::optional<std::string> guest_name() const = 0;
    /// query-uuid: the guest's -uuid as given, if one was.
    virtual std::optional<std::string> guest_uuid() const = 0;
    /// query-seoib.
    virtual qapi::Result<qapi::SeoibInfo> query_seoib() const = 0;

    /// QMP migrate: the guest moves to the destination at `uri`; on any
    /// failure the source carries on running it.
    virtual qapi::Result<void> migrate(std::string_view uri) = 0;
    /// QMP migrate-incoming, for a VM started with -incoming defer.
    virtual qapi::Result<void> migrate_incoming(std::string_view uri) = 0;
    /// QMP migrate_cancel: succeeds with nothing to cancel.
    virtual qapi::Result<void> migrate_cancel() = 0;
    virtual qapi::Result<qapi::MigrationInfo> query_migrate() const = 0;
    virtual qapi::Result<void>
    migrate_set_parameters(const qapi::MigrateSetParametersArgs &args) = 0;
    virtual qapi::Result<qapi::MigrationParameters> query_migrate_parameters() const = 0;
    /// QMP human-monitor-command: the HMP command's output.  An HMP error
    /// is output too ("Error: ..."), as in QEMU; the Result fails only for
    /// what QMP itself refuses.
    virtual qapi::Result<std::string> human_monitor_command(std::string_view command_line) = 0;

    /// QMP snapshot-save, snapshot-load, snapshot-delete: each starts a job
    /// (JOB_STATUS_CHANGE events) and returns; the job's result is in
    /// query-jobs until job-dismiss.
    virtual qapi::Result<void> snapshot_save(const qapi::SnapshotSaveArgs &args) = 0;
    virtual qapi::Result<void> snapshot_load(const qapi::SnapshotLoadArgs &args) = 0;
    virtual qapi::Result<void> snapshot_delete(const qapi::SnapshotDeleteArgs &args) = 0;
    virtual std::vector<qapi::JobInfo> query_jobs() const = 0;
    virtual qapi::Result<void> job_dismiss(std::string_view id) = 0;
    virtual qapi::Result<void> job_finalize(std::string_view id) = 0;
};

} // namespace monitor
