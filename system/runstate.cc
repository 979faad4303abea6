/*
 * The run phase of seoib-vm (QEMU's system/runstate.c and main loop).
 *
 * Without -qmp the VM does its job and the program exits.  With -qmp the
 * program serves QMP on GLib's main loop until quit or a signal: the VM is
 * in prelaunch under -S until "cont", running otherwise, and "stop" pauses
 * it.  The VM's job (today: the report of what was built) runs when it
 * first starts running.
 */
#include "migration/channel.h"
#include "system/error-report.h"
#include "monitor/monitor.h"
#include "qapi/qapi-events.h"
#include "system/guest-run.h"
#include "system/kernel-run.h"
#include "system/vm-migration.h"
#include "system/vl.h"
#include "system/vm.h"
#include "trace/trace-system.h"

#include <glib-unix.h>
#include <glib.h>

#include <fmt/format.h>

#include <array>
#include <chrono>
#include <csignal>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sysemu {

namespace {

/// How long the exit may wait for clients to read their last replies.
constexpr std::chrono::milliseconds EXIT_FLUSH_BUDGET { 1000 };
/// How long a source waits for the destination's verdict on the return
/// path once the whole stream is sent: the destination still applies the
/// policy and puts the vCPUs.
constexpr std::chrono::milliseconds RETURN_PATH_TIMEOUT { 30000 };
/// QEMU 7.2's defaults (migration/migration.c).
constexpr uint64_t DEFAULT_MAX_BANDWIDTH = 128 * 1024 * 1024;
constexpr uint64_t DEFAULT_DOWNTIME_LIMIT_MS = 300;

int64_t elapsed_ms(std::chrono::steady_clock::time_point since)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now() - since)
        .count();
}

/// The run state and the VM as the monitor sees them.
class RunPhase final : public monitor::VmControl {
public:
    RunPhase(Vm &vm, BlockImages &images, std::FILE *report_out)
        : m_vm(vm)
        , m_images(images)
        , m_report_out(report_out)
        , m_loop(g_main_loop_new(nullptr, FALSE))
    {
    }

    /// The program ends when the built-in guest does (no monitor to keep
    /// it alive), with the guest's status.
    void exit_when_guest_done() { m_exit_when_done = true; }
    /// The exit status: 1 after a failed incoming migration or guest.
    int exit_status() const { return m_exit_status; }

    /// -incoming URI|defer: the VM waits in inmigrate; `autostart` is
    /// false under -S.  A URI other than defer starts listening (or
    /// reading) at once.
    qapi::Result<void> expect_incoming(const std::string &uri, bool autostart)
    {
        m_incoming = true;
        m_autostart = autostart;
        set_state(qapi::RunState::Inmigrate);
        if (uri == "defer") {
            return {};
        }
        return migrate_incoming(uri);
    }
    ~RunPhase() override
    {
        if (m_guest_source != 0) {
            g_source_remove(m_guest_source);
        }
        if (m_live) {
            m_live->remove_sources();
        }
        if (m_incoming_source != 0) {
            g_source_remove(m_incoming_source);
        }
        if (m_job_source != 0) {
            g_source_remove(m_job_source);
        }
        g_main_loop_unref(m_loop);
    }

    void set_monitor(monitor::Monitor &monitor) { m_monitor = &monitor; }

    /// Serves until quit or a signal; returns why it stopped.
    qapi::ShutdownCause run()
    {
        std::vector<unsigned> signal_sources;
        for (SignalWatch &watch : m_signal_watches) {
            watch.phase = this;
            signal_sources.push_back(
                g_unix_signal_add(watch.signum, &RunPhase::on_signal, &watch));
        }
        if (!m_shutdown) {
            g_main_loop_run(m_loop);
        }
        for (unsigned id : signal_sources) {
            g_source_remove(id);
        }
        return m_shutdown.value_or(qapi::ShutdownCause::HostError);
    }

    qom::Context &context() override { return m_vm.context(); }
    qapi::RunState run_state() const override { return m_state; }

    qapi::Result<void> stop() override
    {
        // QEMU's vm_stop(): only a running VM changes state and says so.
        if (m_state != qapi::RunState::Running) {
            return {};
        }
        set_state(qapi::RunState::Paused);
        m_monitor->emit_event(qapi::qapi_event_stop());
        return {};
    }

    qapi::Result<void> cont() override
    {
        if (m_state == qapi::RunState::Running) {
            return {};
        }
        if (m_state == qapi::RunState::Inmigrate) {
            // As QEMU: the guest runs once the incoming state is loaded.
            m_autostart = true;
            return {};
        }
        if (m_state == qapi::RunState::FinishMigrate) {
            // The stream is out and the destination may be running the
            // guest already; running it here too would fork it.
            return qapi::Error("The guest cannot run while its migration completes; "
                               "wait for the MIGRATION event");
        }
        set_state(qapi::RunState::Running);
        m_monitor->emit_event(qapi::qapi_event_resume());
        if (!m_job_started) {
            m_job_started = true;
            // The guest runs once, from when the VM first runs, an event at
            // a time between the main loop's other work.  A failure is
            // reported; the VM and the monitor carry on.
            // A guest that came in by migration carries on where it was.
            bool ready = m_vm.start_main_job(m_report_out, stderr, !m_came_in);
            std::fflush(m_report_out);
            if (!ready && m_exit_when_done) {
                m_exit_status = m_vm.main_job_status();
                request_shutdown(qapi::ShutdownCause::GuestShutdown);
            }
        }
        schedule_guest();
        return {};
    }

    void request_shutdown(qapi::ShutdownCause cause) override
    {
        if (m_shutdown) {
            return;
        }
        m_shutdown = cause;
        m_monitor->stop_input();
        g_main_loop_quit(m_loop);
    }

    qapi::Result<void> migrate(std::string_view uri_text) override
    {
        if (m_state == qapi::RunState::Inmigrate) {
            return qapi::Error("Guest is waiting for an incoming migration");
        }
        if (m_migration_status == qapi::MigrationStatus::Setup ||
            m_migration_status == qapi::MigrationStatus::Active) {
            return qapi::Error("There's a migration process in progress");
        }
        migration::ChannelUri uri = TRY(migration::parse_channel_uri(uri_text));
        migration::Channel channel = TRY(migration::open_outgoing(uri));

        m_migration_start = std::chrono::steady_clock::now();
        m_migration_error.reset();
        m_save_stats.reset();
        m_passes = 0;
        set_migration_status(qapi::MigrationStatus::Setup);
        // Pre-copy from the main loop, running or not: a stopped VM's takes
        // one pass, and only its end counts as downtime, as in QEMU.
        return start_live(std::move(channel), m_state);
    }

    qapi::Result<void> migrate_incoming(std::string_view uri_text) override
    {
        if (!m_incoming) {
            return qapi::Error("'-incoming' was not specified on the command line");
        }
        if (m_incoming_started) {
            return qapi::Error("The incoming migration has already been started");
        }
        migration::ChannelUri uri = TRY(migration::parse_channel_uri(uri_text));
        m_incoming_started = true;
        if (uri.bidirectional()) {
            m_listener = TRY(migration::Listener::listen(uri));
            m_incoming_source =
                g_unix_fd_add(m_listener->fd(), G_IO_IN, &RunPhase::on_incoming_connection, this);
        } else {
            m_incoming_channel = TRY(migration::open_incoming(uri));
            m_incoming_source = g_idle_add(&RunPhase::on_incoming_ready, this);
        }
        return {};
    }

    /// -loadvm TAG: the VM starts from the snapshot, its policy decided by
    /// it (as an incoming migration).
    qapi::Result<void> load_at_startup(std::string_view tag)
    {
        VmLoadResult loaded = TRY(m_images.load_at_startup(m_vm, tag));
        m_came_in = loaded.guest_running;
        return {};
    }

    qapi::Result<std::string> human_monitor_command(std::string_view line) override
    {
        // HMP's own words: the command, then one optional argument.
        std::vector<std::string_view> words;
        for (size_t i = 0; i < line.size();) {
            size_t start = line.find_first_not_of(' ', i);
            if (start == std::string_view::npos) {
                break;
            }
            size_t end = std::min(line.find(' ', start), line.size());
            words.push_back(line.substr(start, end - start));
            i = end;
        }
        if (words.empty()) {
            return std::string();
        }
        const std::string_view cmd = words[0];
        auto usage = [&](std::string_view problem) {
            return fmt::format("{}: {}\r\nTry \"help {}\" for more information\r\n", cmd,
                               problem, cmd);
        };
        auto hmp_result = [](qapi::Result<void> r) -> std::string {
            return r ? std::string() : fmt::format("Error: {}\r\n", r.error().message());
        };
        if (cmd == "info" && words.size() == 2 && words[1] == "snapshots") {
            return m_images.info();
        }
        if (cmd == "savevm" || cmd == "loadvm" || cmd == "delvm") {
            if (words.size() > 2) {
                return usage("extraneous characters at the end of line");
            }
            if (cmd != "savevm" && words.size() < 2) {
                return usage("string expected");
            }
            const std::string tag(words.size() == 2 ? words[1] : "");
            if (cmd == "savevm") {
                return hmp_result(savevm(tag, m_images));
            }
            if (cmd == "loadvm") {
                return hmp_result(loadvm(tag, m_images));
            }
            return hmp_result(m_images.remove(tag));
        }
        // QEMU names the command, or "info X" for an unknown info.
        const std::string_view unknown =
            cmd == "info" && words.size() > 1 ? line.substr(line.find("info")) : cmd;
        return fmt::format("unknown command: '{}'\r\n", unknown);
    }

    qapi::Result<void> snapshot_save(const qapi::SnapshotSaveArgs &args) override
    {
        return start_job(args.job_id, qapi::JobType::SnapshotSave,
                         [this, args]() -> qapi::Result<void> {
                             BlockImages images = TRY(m_images.select(args.vmstate, args.devices));
                             return savevm(args.tag, images);
                         });
    }

    qapi::Result<void> snapshot_load(const qapi::SnapshotLoadArgs &args) override
    {
        return start_job(args.job_id, qapi::JobType::SnapshotLoad,
                         [this, args]() -> qapi::Result<void> {
                             BlockImages images = TRY(m_images.select(args.vmstate, args.devices));
                             return loadvm(args.tag, images);
                         });
    }

    qapi::Result<void> snapshot_delete(const qapi::SnapshotDeleteArgs &args) override
    {
        return start_job(args.job_id, qapi::JobType::SnapshotDelete,
                         [this, args]() -> qapi::Result<void> {
                             BlockImages images = TRY(m_images.select(std::nullopt, args.devices));
                             return images.remove(args.tag);
                         });
    }

    std::vector<qapi::JobInfo> query_jobs() const override
    {
        std::vector<qapi::JobInfo> out;
        for (const Job &job : m_jobs) {
            // A snapshot job is one step of work: 0 of 1 until it ends.
            const int64_t done = job.status == qapi::JobStatus::Concluded ? 1 : 0;
            out.push_back(qapi::JobInfo { .id = job.id, .type = job.type, .status = job.status,
                                          .current_progress = done, .total_progress = 1,
                                          .error = job.error });
        }
        return out;
    }

    qapi::Result<void> job_dismiss(std::string_view id) override
    {
        Job *job = TRY(find_job(id));
        if (job->status != qapi::JobStatus::Concluded) {
            return job_verb_error(*job, "dismiss");
        }
        const std::string name = job->id;
        std::erase_if(m_jobs, [&](const Job &j) { return j.id == name; });
        m_monitor->emit_event(qapi::qapi_event_job_status_change(name, qapi::JobStatus::Null));
        return {};
    }

    qapi::Result<void> job_finalize(std::string_view id) override
    {
        // Snapshot jobs finalize on their own: no state takes the verb.
        return job_verb_error(*TRY(find_job(id)), "finalize");
    }

    qapi::Result<void> migrate_cancel() override
    {
        // Once the whole stream is out the destination may already run the
        // guest: too late to take it back, so the source waits for the
        // verdict as if no cancel had come.
        if (m_live && !m_live->awaiting_verdict) {
            m_live->remove_sources();
            finish_live(qapi::Error("migration was cancelled"));
            set_migration_status(qapi::MigrationStatus::Cancelled);
        }
        return {};
    }

    qapi::Result<qapi::MigrationInfo> query_migrate() const override
    {
        qapi::MigrationInfo info;
        if (m_migration_status == qapi::MigrationStatus::None) {
            return info;
        }
        info.status = m_migration_status;
        if (m_migration_status == qapi::MigrationStatus::Completed ||
            m_migration_status == qapi::MigrationStatus::Failed) {
            info.total_time = m_total_time_ms;
        } else {
            info.total_time = elapsed_ms(m_migration_start);
        }
        if (m_migration_status == qapi::MigrationStatus::Completed) {
            info.downtime = m_downtime_ms;
            info.setup_time = 0;
        }
        if (m_save_stats) {
            const VmSaveStats &s = *m_save_stats;
            const double seconds = std::max<double>(m_total_time_ms, 1) / 1000.0;
            info.ram = qapi::MigrationStats {
                .transferred = static_cast<int64_t>(s.bytes),
                .remaining = static_cast<int64_t>(m_live ? m_pending : 0),
                .total = static_cast<int64_t>(s.ram_total),
                .duplicate = static_cast<int64_t>(s.ram.zero_pages),
                .normal = static_cast<int64_t>(s.ram.normal_pages),
                .normal_bytes = static_cast<int64_t>(s.ram.normal_pages * 4096),
                .dirty_pages_rate = 0,
                .mbps = static_cast<double>(s.bytes) * 8 / 1e6 / seconds,
                .dirty_sync_count = static_cast<int64_t>(std::max<uint64_t>(m_passes, 1)),
                .page_size = 4096,
            };
        }
        if (m_migration_error) {
            info.error_desc = *m_migration_error;
        }
        return info;
    }

    qapi::Result<void>
    migrate_set_parameters(const qapi::MigrateSetParametersArgs &args) override
    {
        if (args.max_bandwidth) {
            m_max_bandwidth = *args.max_bandwidth;
        }
        if (args.downtime_limit) {
            // QEMU's MAX_MIGRATE_DOWNTIME_SECONDS is 2000.
            if (*args.downtime_limit > 2000 * 1000) {
                return qapi::Error("Parameter 'downtime_limit' expects an integer in "
                                   "the range of 0 to 2000000 milliseconds");
            }
            m_downtime_limit = *args.downtime_limit;
        }
        return {};
    }

    qapi::Result<qapi::MigrationParameters> query_migrate_parameters() const override
    {
        return qapi::MigrationParameters { .max_bandwidth = m_max_bandwidth,
                                           .downtime_limit = m_downtime_limit };
    }

    qapi::KvmInfo query_kvm() const override { return m_vm.query_kvm(); }
    std::optional<std::string> guest_name() const override { return m_name; }
    std::optional<std::string> guest_uuid() const override { return m_uuid; }
    /// -name and -uuid, for query-name and query-uuid.
    void set_identity(std::optional<std::string> name, std::optional<std::string> uuid)
    {
        m_name = std::move(name);
        m_uuid = std::move(uuid);
    }
    qapi::Result<qapi::SeoibInfo> query_seoib() const override
    {
        return m_vm.query_seoib();
    }

private:
    /// A background job (QEMU's Job): snapshot-save, -load, -delete.
    struct Job {
        std::string id;
        qapi::JobType type;
        qapi::JobStatus status { qapi::JobStatus::Created };
        std::optional<std::string> error;
        std::function<qapi::Result<void>()> work;
    };

    qapi::Result<Job *> find_job(std::string_view id)
    {
        for (Job &job : m_jobs) {
            if (job.id == id) {
                return &job;
            }
        }
        return qapi::Error("Job not found");
    }

    static qapi::Error job_verb_error(const Job &job, std::string_view verb)
    {
        return qapi::Error::format("Job '{}' in state '{}' cannot accept command verb '{}'",
                                   job.id, qapi::enum_name(job.status), verb);
    }

    void set_job_status(Job &job, qapi::JobStatus status)
    {
        job.status = status;
        m_monitor->emit_event(qapi::qapi_event_job_status_change(job.id, status));
    }

    /// QEMU's job_create() and job_start(): the job is listed (newest
    /// first), created and running; its work runs from the main loop
    /// after the command has answered.
    qapi::Result<void> start_job(const std::string &id, qapi::JobType type,
                                 std::function<qapi::Result<void>()> work)
    {
        if (find_job(id)) {
            return qapi::Error::format("Job ID '{}' already in use", id);
        }
        m_jobs.insert(m_jobs.begin(), Job { .id = id, .type = type, .work = std::move(work) });
        set_job_status(m_jobs.front(), qapi::JobStatus::Created);
        set_job_status(m_jobs.front(), qapi::JobStatus::Running);
        m_pending_jobs.push_back(id);
        if (m_job_source == 0) {
            m_job_source = g_idle_add(&RunPhase::on_job_idle, this);
        }
        return {};
    }

    static gboolean on_job_idle(gpointer data)
    {
        auto *phase = static_cast<RunPhase *>(data);
        phase->m_job_source = 0;
        std::vector<std::string> ids = std::exchange(phase->m_pending_jobs, {});
        for (const std::string &id : ids) {
            phase->run_job(id);
        }
        return G_SOURCE_REMOVE;
    }

    void run_job(const std::string &id)
    {
        auto found = find_job(id);
        if (!found) {
            return;
        }
        // The work may reach the monitor (events), so it is moved out first.
        auto work = std::move(found.value()->work);
        qapi::Result<void> done = work();
        Job &job = *MUST(find_job(id));
        if (done) {
            set_job_status(job, qapi::JobStatus::Waiting);
            set_job_status(job, qapi::JobStatus::Pending);
        } else {
            job.error = done.error().message();
            set_job_status(job, qapi::JobStatus::Aborting);
        }
        set_job_status(job, qapi::JobStatus::Concluded);
    }

    /// Refuses what cannot take a snapshot now: an incoming VM (no state
    /// yet) or one that is migrating.
    qapi::Result<void> check_snapshot_allowed() const
    {
        if (m_state == qapi::RunState::Inmigrate) {
            return qapi::Error("Guest is waiting for an incoming migration");
        }
        if (m_live) {
            return qapi::Error("There's a migration process in progress");
        }
        return {};
    }

    /// QEMU's hmp_savevm(): the VM stops for the save and runs again
    /// after it if it was running.
    qapi::Result<void> savevm(const std::string &tag, BlockImages &images)
    {
        TRY(check_snapshot_allowed());
        TRY(images.vmstate_image());
        const bool was_running = m_state == qapi::RunState::Running;
        if (was_running) {
            set_state(qapi::RunState::SaveVm);
            m_monitor->emit_event(qapi::qapi_event_stop());
        }
        qapi::Result<void> saved = images.save(m_vm, tag);
        if (was_running) {
            set_state(qapi::RunState::Running);
            m_monitor->emit_event(qapi::qapi_event_resume());
            schedule_guest();
        }
        return saved;
    }

    /// QEMU's hmp_loadvm(): the VM stops, takes the snapshot's state and
    /// disks, and runs again if it was running.  On failure it is as it
    /// was (BlockImages::load puts it back).
    qapi::Result<void> loadvm(const std::string &tag, BlockImages &images)
    {
        TRY(check_snapshot_allowed());
        const bool was_running = m_state == qapi::RunState::Running;
        const qapi::RunState before = m_state;
        if (was_running) {
            set_state(qapi::RunState::RestoreVm);
            m_monitor->emit_event(qapi::qapi_event_stop());
        }
        qapi::Result<VmLoadResult> loaded = images.load(m_vm, tag);
        if (loaded && loaded.value().guest_running) {
            // The guest carries on from the snapshot, even one that had
            // finished its run here.
            m_came_in = true;
            if (auto r = m_vm.prepare_guest(); !r) {
                loaded = r.release_error();
            }
        }
        set_state(before);
        if (was_running) {
            m_monitor->emit_event(qapi::qapi_event_resume());
            schedule_guest();
        }
        if (!loaded) {
            return loaded.release_error();
        }
        return {};
    }

    /// A pre-copy in progress: RAM is sent from the main loop, between the
    /// guest's events, until what is left fits the downtime limit.
    struct LiveMigration {
        migration::Channel channel;
        std::unique_ptr<migration::FdWriter> writer;
        std::unique_ptr<OutgoingMigration> save;
        /// The idle source sending the next chunk, or the timeout that
        /// waits out the rate limit's window.
        unsigned source { 0 };
        /// The pages of the current pass are all sent.
        bool pass_sent { false };
        /// QEMU's rate limit: at most max-bandwidth / 10 bytes in each
        /// window of 100 ms.
        std::chrono::steady_clock::time_point window_start {};
        uint64_t window_start_bytes { 0 };
        /// The stream is sent; `source` watches the return path for the
        /// destination's verdict and `verdict_timeout` bounds the wait.
        bool awaiting_verdict { false };
        unsigned verdict_timeout { 0 };
        std::chrono::steady_clock::time_point downtime_start {};

        void remove_sources()
        {
            for (unsigned *id : { &source, &verdict_timeout }) {
                if (*id != 0) {
                    g_source_remove(std::exchange(*id, 0));
                }
            }
        }
        /// The run state to go back to if the migration fails.
        qapi::RunState resume_to { qapi::RunState::Running };
    };

    /// RAM per main-loop iteration: a hundredth of a second of the
    /// bandwidth limit, at least one page.
    uint64_t bytes_per_iteration() const
    {
        return std::max<uint64_t>(4096, m_max_bandwidth / 100);
    }

    qapi::Result<void> start_live(migration::Channel channel, qapi::RunState resume_to)
    {
        auto live = std::make_unique<LiveMigration>();
        live->resume_to = resume_to;
        live->channel = std::move(channel);
        live->writer = std::make_unique<migration::FdWriter>(live->channel.fd());
        auto save = OutgoingMigration::start(m_vm, *live->writer, bytes_per_iteration());
        if (!save) {
            m_migration_error = save.error().message();
            set_migration_status(qapi::MigrationStatus::Failed);
            return save.release_error();
        }
        live->save = save.release_value();
        set_migration_status(qapi::MigrationStatus::Active);
        live->source = g_idle_add(&RunPhase::on_live_migration, this);
        m_live = std::move(live);
        return {};
    }

    static gboolean on_live_migration(gpointer data)
    {
        auto *phase = static_cast<RunPhase *>(data);
        if (!phase->m_live) {
            return G_SOURCE_REMOVE;
        }
        const auto wait = phase->rate_limit_wait(*phase->m_live);
        if (wait.count() > 0) {
            // The window's bytes are out: sleep until it ends, leaving the
            // main loop to the guest and the monitor.
            phase->m_live->source = g_timeout_add(
                static_cast<guint>(wait.count()), &RunPhase::on_rate_window_end, phase);
            return G_SOURCE_REMOVE;
        }
        phase->live_step();
        return phase->m_live && !phase->m_live->awaiting_verdict ? G_SOURCE_CONTINUE
                                                                 : G_SOURCE_REMOVE;
    }

    static gboolean on_verdict(gint, GIOCondition, gpointer data)
    {
        auto *phase = static_cast<RunPhase *>(data);
        LiveMigration &live = *phase->m_live;
        live.source = 0;
        // Readable: the eight bytes of the SHUT message are here, or the
        // peer closed; waiting the rest of a second covers a split message.
        qapi::Result<bool> ok =
            migration::receive_return_path_shut(live.channel.fd(), std::chrono::seconds(1));
        qapi::Result<void> done = [&]() -> qapi::Result<void> {
            if (!TRY(std::move(ok))) {
                return qapi::Error("the destination could not load the guest (it says why)");
            }
            return live.channel.close();
        }();
        phase->finish_stop_and_copy(std::move(done));
        return G_SOURCE_REMOVE;
    }

    static gboolean on_verdict_timeout(gpointer data)
    {
        auto *phase = static_cast<RunPhase *>(data);
        phase->m_live->verdict_timeout = 0;
        phase->finish_stop_and_copy(
            qapi::Error("the destination did not answer on the return path"));
        return G_SOURCE_REMOVE;
    }

    void finish_stop_and_copy(qapi::Result<void> result)
    {
        m_live->remove_sources();
        m_downtime_ms = elapsed_ms(m_live->downtime_start);
        finish_live(std::move(result));
    }

    static gboolean on_rate_window_end(gpointer data)
    {
        auto *phase = static_cast<RunPhase *>(data);
        phase->m_live->source = g_idle_add(&RunPhase::on_live_migration, phase);
        return G_SOURCE_REMOVE;
    }

    /// How long the pre-copy must wait before it may send again: zero
    /// while the current 100 ms window has bytes left under max-bandwidth,
    /// otherwise the rest of the window (a new window starts when one ends).
    std::chrono::milliseconds rate_limit_wait(LiveMigration &live) const
    {
        using namespace std::chrono;
        constexpr milliseconds WINDOW { 100 };
        const auto now = steady_clock::now();
        const uint64_t sent = live.writer->transferred();
        if (now - live.window_start >= WINDOW) {
            live.window_start = now;
            live.window_start_bytes = sent;
            return milliseconds { 0 };
        }
        if (sent - live.window_start_bytes < m_max_bandwidth / 10) {
            return milliseconds { 0 };
        }
        return std::max(milliseconds { 1 },
                        duration_cast<milliseconds>(live.window_start + WINDOW - now));
    }

    void live_step()
    {
        LiveMigration &live = *m_live;
        if (!live.pass_sent) {
            auto sent = live.save->iterate();
            if (!sent) {
                finish_live(sent.release_error());
                return;
            }
            live.pass_sent = sent.value();
            return;
        }
        // A pass is out: sync the dirty log (QEMU's migration_bitmap_sync,
        // one MIGRATION_PASS each) and see whether the rest fits.
        const uint64_t passes_before = live.save->passes();
        m_pending = live.save->pending();
        for (uint64_t pass = passes_before + 1; pass <= live.save->passes(); ++pass) {
            m_monitor->emit_event(qapi::qapi_event_migration_pass(static_cast<int64_t>(pass)));
        }
        m_passes = live.save->passes();
        const uint64_t fits = m_max_bandwidth / 1000 * m_downtime_limit;
        if (m_pending > fits && m_state == qapi::RunState::Running) {
            live.pass_sent = false;
            return;
        }
        // Stop-and-copy of what is left.
        const bool was_running = m_state == qapi::RunState::Running;
        set_state(qapi::RunState::FinishMigrate);
        if (was_running) {
            m_monitor->emit_event(qapi::qapi_event_stop());
        }
        live.downtime_start = std::chrono::steady_clock::now();
        qapi::Result<void> sent = [&]() -> qapi::Result<void> {
            m_save_stats = TRY(live.save->complete());
            TRY(live.writer->flush());
            live.channel.finish_sending();
            return {};
        }();
        if (!sent || !live.channel.bidirectional()) {
            finish_stop_and_copy(sent ? live.channel.close() : std::move(sent));
            return;
        }
        // The destination's verdict comes on the return path; the main loop
        // waits for it, so the monitor answers meanwhile.
        live.awaiting_verdict = true;
        live.source = g_unix_fd_add(live.channel.fd(),
                                    static_cast<GIOCondition>(G_IO_IN | G_IO_HUP | G_IO_ERR),
                                    &RunPhase::on_verdict, this);
        live.verdict_timeout = g_timeout_add(static_cast<guint>(RETURN_PATH_TIMEOUT.count()),
                                             &RunPhase::on_verdict_timeout, this);
    }

    void finish_live(qapi::Result<void> result)
    {
        if (!m_save_stats && m_live) {
            m_save_stats = m_live->save->stats();
        }
        const qapi::RunState resume_to = m_live ? m_live->resume_to : qapi::RunState::Running;
        m_live.reset();
        m_total_time_ms = elapsed_ms(m_migration_start);
        if (result) {
            set_migration_status(qapi::MigrationStatus::Completed);
            set_state(qapi::RunState::Postmigrate);
            return;
        }
        m_migration_error = result.error().message();
        error_report("migration failed: {}", *m_migration_error);
        set_migration_status(qapi::MigrationStatus::Failed);
        // Nothing is lost: the VM goes back to what it was doing.
        const bool resume = resume_to == qapi::RunState::Running &&
                            m_state != qapi::RunState::Running;
        set_state(resume_to);
        if (resume) {
            m_monitor->emit_event(qapi::qapi_event_resume());
            schedule_guest();
        }
    }

    void set_migration_status(qapi::MigrationStatus status)
    {
        m_migration_status = status;
        if (m_monitor) {
            m_monitor->emit_event(qapi::qapi_event_migration(status));
        }
    }

    static gboolean on_incoming_connection(gint, GIOCondition, gpointer data)
    {
        auto *phase = static_cast<RunPhase *>(data);
        phase->m_incoming_source = 0;
        auto channel = phase->m_listener->accept();
        phase->m_listener.reset();
        if (!channel) {
            phase->incoming_failed(channel.error());
        } else {
            phase->load_incoming(channel.value());
        }
        return G_SOURCE_REMOVE;
    }

    static gboolean on_incoming_ready(gpointer data)
    {
        auto *phase = static_cast<RunPhase *>(data);
        phase->m_incoming_source = 0;
        migration::Channel channel = std::move(*phase->m_incoming_channel);
        phase->m_incoming_channel.reset();
        phase->load_incoming(channel);
        return G_SOURCE_REMOVE;
    }

    void load_incoming(migration::Channel &channel)
    {
        m_migration_start = std::chrono::steady_clock::now();
        set_migration_status(qapi::MigrationStatus::Active);
        qapi::Result<VmLoadResult> loaded = VmLoadResult {};
        if (auto prepared = m_vm.prepare_guest(); !prepared) {
            loaded = prepared.release_error();
        } else {
            migration::FdReader reader(channel.fd());
            loaded = load_vm_state(m_vm, reader);
        }
        if (channel.bidirectional()) {
            // The source resumes its guest unless this side took it.
            (void)migration::send_return_path_shut(channel.fd(), !loaded.has_value());
        }
        if (!loaded) {
            incoming_failed(loaded.error());
            return;
        }
        m_total_time_ms = elapsed_ms(m_migration_start);
        set_migration_status(qapi::MigrationStatus::Completed);
        m_came_in = loaded.value().guest_running;
        // Loaded: the VM is paused, and runs if -S was absent or a cont
        // came during inmigrate.
        set_state(qapi::RunState::Paused);
        if (m_autostart) {
            MUST(cont());
        }
    }

    /// QEMU's process_incoming_migration_co() on failure: one message, exit 1.
    void incoming_failed(const qapi::Error &error)
    {
        error_report("load of migration failed: {}", error.message());
        m_migration_error = error.message();
        set_migration_status(qapi::MigrationStatus::Failed);
        m_exit_status = 1;
        request_shutdown(qapi::ShutdownCause::HostError);
    }

    /// Runs the guest from the main loop while the VM is running.
    void schedule_guest()
    {
        if (m_guest_source == 0 && m_vm.guest() != nullptr) {
            m_guest_source = g_idle_add(&RunPhase::on_guest_idle, this);
        }
    }

    static gboolean on_guest_idle(gpointer data)
    {
        auto *phase = static_cast<RunPhase *>(data);
        if (phase->m_state != qapi::RunState::Running || phase->m_shutdown) {
            phase->m_guest_source = 0;
            return G_SOURCE_REMOVE;
        }
        if (phase->m_vm.main_job_step(phase->m_report_out, stderr)) {
            std::fflush(phase->m_report_out);
            phase->m_guest_source = 0;
            if (phase->m_exit_when_done) {
                phase->m_exit_status = phase->m_vm.main_job_status();
                phase->request_shutdown(qapi::ShutdownCause::GuestShutdown);
            }
            return G_SOURCE_REMOVE;
        }
        if (phase->m_vm.guest() != nullptr && phase->m_vm.guest()->pause_due()) {
            MUST(phase->stop());
            phase->m_guest_source = 0;
            return G_SOURCE_REMOVE;
        }
        return G_SOURCE_CONTINUE;
    }

    struct SignalWatch {
        RunPhase *phase;
        int signum;
    };

    void set_state(qapi::RunState next)
    {
        const std::string from(qapi::enum_name(m_state));
        const std::string to(qapi::enum_name(next));
        trace_runstate_set(from.c_str(), to.c_str());
        // QEMU's vm_start()/do_vm_stop() start and stop the virtual clock.
        if (next == qapi::RunState::Running) {
            m_vm.clock().resume();
        } else {
            m_vm.clock().pause();
        }
        m_state = next;
    }

    static gboolean on_signal(gpointer data)
    {
        const auto *watch = static_cast<const SignalWatch *>(data);
        error_report("terminating on signal {}",
                   watch->signum);
        watch->phase->request_shutdown(qapi::ShutdownCause::HostSignal);
        return G_SOURCE_CONTINUE;
    }

    Vm &m_vm;
    BlockImages &m_images;
    std::vector<Job> m_jobs;
    std::vector<std::string> m_pending_jobs;
    unsigned m_job_source { 0 };
    std::FILE *m_report_out;
    GMainLoop *m_loop;
    monitor::Monitor *m_monitor { nullptr };
    qapi::RunState m_state { qapi::RunState::Prelaunch };
    std::optional<qapi::ShutdownCause> m_shutdown;
    std::optional<std::string> m_name;
    std::optional<std::string> m_uuid;
    bool m_job_started { false };
    unsigned m_guest_source { 0 };
    bool m_exit_when_done { false };
    int m_exit_status { 0 };

    // Migration (QEMU's MigrationState / MigrationIncomingState).
    qapi::MigrationStatus m_migration_status { qapi::MigrationStatus::None };
    std::optional<std::string> m_migration_error;
    std::optional<VmSaveStats> m_save_stats;
    std::chrono::steady_clock::time_point m_migration_start;
    int64_t m_total_time_ms { 0 };
    int64_t m_downtime_ms { 0 };
    uint64_t m_max_bandwidth { DEFAULT_MAX_BANDWIDTH };
    uint64_t m_downtime_limit { DEFAULT_DOWNTIME_LIMIT_MS };
    bool m_incoming { false };
    bool m_incoming_started { false };
    bool m_autostart { true };
    bool m_came_in { false };
    std::optional<migration::Listener> m_listener;
    std::unique_ptr<LiveMigration> m_live;
    uint64_t m_passes { 0 };
    uint64_t m_pending { 0 };
    std::optional<migration::Channel> m_incoming_channel;
    unsigned m_incoming_source { 0 };
    // QEMU's termination signals (os_setup_signal_handling).
    std::array<SignalWatch, 3> m_signal_watches { { { nullptr, SIGINT },
                                                    { nullptr, SIGTERM },
                                                    { nullptr, SIGHUP } } };
};

int run_with_monitor(Vm &vm, BlockImages &images, const CommandLine &cl,
                     const std::function<void()> &started)
{
    std::vector<monitor::QmpEndpoint> endpoints;
    bool stdio = false;
    for (const auto &[endpoint, where] : cl.qmp) {
        stdio |= endpoint.kind == monitor::QmpEndpoint::Kind::Stdio;
        endpoints.push_back(endpoint);
    }

    // Standard output carries QMP under -qmp stdio; the report goes beside.
    RunPhase phase(vm, images, stdio ? stderr : stdout);
    phase.set_identity(cl.name, cl.uuid);
    monitor::Monitor mon(phase);
    phase.set_monitor(mon);
    for (size_t i = 0; i < endpoints.size(); i++) {
        if (auto r = mon.add_endpoint(endpoints[i]); !r) {
            error_report("{}: {}",
                       cl.qmp[i].second.text(), r.error().message());
            return 1;
        }
    }
    for (size_t i = 0; i < endpoints.size(); i++) {
        if (endpoints[i].kind == monitor::QmpEndpoint::Kind::UnixServer &&
            endpoints[i].wait) {
            error_report("waiting for connection on: {}", cl.qmp[i].second.arg);
        }
    }
    if (auto r = mon.start(); !r) {
        error_report("{}", r.error().message());
        return 1;
    }
    if (cl.qmp.empty()) {
        phase.exit_when_guest_done();
    }
    if (cl.incoming) {
        if (auto r = phase.expect_incoming(cl.incoming->first, !cl.start_stopped); !r) {
            error_report("{}: {}", cl.incoming->second.text(),
                       r.error().message());
            return 1;
        }
    } else {
        if (cl.loadvm) {
            if (auto r = phase.load_at_startup(cl.loadvm->first); !r) {
                error_report("{}: {}", cl.loadvm->second.text(),
                           r.error().message());
                return 1;
            }
            if (cl.qmp.empty() && cl.start_stopped) {
                // With no monitor nobody could continue the VM.
                fmt::print("{}: machine {} loaded from snapshot '{}'; stopped (-S)\n",
                           PROGRAM_NAME, vm.machine().machine_class().machine_name,
                           cl.loadvm->first);
                return 0;
            }
        }
        if (!cl.start_stopped) {
            MUST(phase.cont());
        }
    }

    started();
    const qapi::ShutdownCause cause = phase.run();
    mon.emit_event(qapi::qapi_event_shutdown(false, cause));
    mon.flush(EXIT_FLUSH_BUDGET);
    return phase.exit_status();
}

} // namespace

int run_vm(Vm &vm, const CommandLine &cl, const std::function<void()> &started)
{
    if (cl.kernel) {
        if (!cl.qmp.empty() || cl.start_stopped) {
            error_report("-kernel runs without a monitor in this build (no -qmp, no -S)");
            return 1;
        }
        KernelBootOptions boot { .kernel = cl.kernel->first,
                                 .append = cl.append ? cl.append->first : "",
                                 .initrd = cl.initrd ? cl.initrd->first : "",
                                 .no_reboot = cl.no_reboot };
        if (cl.memory) {
            // Checked when the command line was parsed.
            boot.ram_size = MUST(parse_memory_size(cl.memory->first));
        }
        started();
        return run_kernel(vm, boot, stderr);
    }
    if (cl.kernel && cl.incoming) {
        error_report("-kernel and -incoming do not go together in this build");
        return 1;
    }
    std::vector<BlockImageOption> drives;
    for (const auto &[drive, where] : cl.drives) {
        drives.push_back(drive);
    }
    auto images = BlockImages::open(drives);
    if (!images) {
        // The failing image names itself ("Could not open 'PATH': ...").
        error_report("{}", images.error().message());
        return 1;
    }
    if (!cl.qmp.empty() || cl.incoming || cl.loadvm) {
        // A client that disconnects while a reply is on its way must not
        // end the program (QEMU ignores SIGPIPE too).
        std::signal(SIGPIPE, SIG_IGN);
        return run_with_monitor(vm, images.value(), cl, started);
    }
    if (cl.start_stopped) {
        // With no monitor nobody could continue the VM.
        fmt::print("{}: machine {} built; stopped (-S)\n", PROGRAM_NAME,
                   vm.machine().machine_class().machine_name);
        return 0;
    }
    started();
    return vm.run_main_job(stdout, stderr);
}

} // namespace sysemu
