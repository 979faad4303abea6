/*
 * The run phase of seoib-vm (QEMU's system/runstate.c and main loop).
 *
 * Without -qmp the VM does its job and the program exits.  With -qmp the
 * program serves QMP on GLib's main loop until quit or a signal: the VM is
 * in prelaunch under -S until "cont", running otherwise, and "stop" pauses
 * it.  The VM's job (today: the report of what was built) runs when it
 * first starts running.
 */
#include "monitor/monitor.h"
#include "qapi/qapi-events.h"
#include "system/kernel-run.h"
#include "system/vl.h"
#include "system/vm.h"
#include "trace/trace-system.h"

#include <glib-unix.h>
#include <glib.h>

#include <fmt/format.h>

#include <array>
#include <chrono>
#include <csignal>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sysemu {

namespace {

/// How long the exit may wait for clients to read their last replies.
constexpr std::chrono::milliseconds EXIT_FLUSH_BUDGET { 1000 };

/// The run state and the VM as the monitor sees them.
class RunPhase final : public monitor::VmControl {
public:
    RunPhase(Vm &vm, std::FILE *report_out)
        : m_vm(vm)
        , m_report_out(report_out)
        , m_loop(g_main_loop_new(nullptr, FALSE))
    {
    }
    ~RunPhase() override { g_main_loop_unref(m_loop); }

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
        set_state(qapi::RunState::Running);
        m_monitor->emit_event(qapi::qapi_event_resume());
        if (!m_job_done) {
            m_job_done = true;
            // The guest runs once, when the VM first runs.  A failure is
            // reported; the VM and the monitor carry on.
            m_vm.run_main_job(m_report_out, stderr);
            std::fflush(m_report_out);
        }
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

    qapi::KvmInfo query_kvm() const override { return m_vm.query_kvm(); }
    qapi::Result<qapi::SeoibInfo> query_seoib() const override
    {
        return m_vm.query_seoib();
    }

private:
    struct SignalWatch {
        RunPhase *phase;
        int signum;
    };

    void set_state(qapi::RunState next)
    {
        const std::string from(qapi::enum_name(m_state));
        const std::string to(qapi::enum_name(next));
        trace_runstate_set(from.c_str(), to.c_str());
        m_state = next;
    }

    static gboolean on_signal(gpointer data)
    {
        const auto *watch = static_cast<const SignalWatch *>(data);
        fmt::print(stderr, "{}: terminating on signal {}\n", PROGRAM_NAME,
                   watch->signum);
        watch->phase->request_shutdown(qapi::ShutdownCause::HostSignal);
        return G_SOURCE_CONTINUE;
    }

    Vm &m_vm;
    std::FILE *m_report_out;
    GMainLoop *m_loop;
    monitor::Monitor *m_monitor { nullptr };
    qapi::RunState m_state { qapi::RunState::Prelaunch };
    std::optional<qapi::ShutdownCause> m_shutdown;
    bool m_job_done { false };
    // QEMU's termination signals (os_setup_signal_handling).
    std::array<SignalWatch, 3> m_signal_watches { { { nullptr, SIGINT },
                                                    { nullptr, SIGTERM },
                                                    { nullptr, SIGHUP } } };
};

qapi::Result<monitor::QmpEndpoint> endpoint_of(const QemuOpts &opts)
{
    std::string chardev;
    std::vector<std::pair<std::string_view, std::string_view>> options;
    for (const QemuOpt &o : opts.opts) {
        if (o.name == "chardev") {
            chardev = o.value;
        } else {
            options.emplace_back(o.name, o.value);
        }
    }
    return monitor::parse_qmp_endpoint(chardev, options);
}

int run_with_monitor(Vm &vm, const CommandLine &cl)
{
    std::vector<monitor::QmpEndpoint> endpoints;
    bool stdio = false;
    for (const auto &[opts, where] : cl.qmp) {
        auto endpoint = endpoint_of(opts);
        if (!endpoint) {
            fmt::print(stderr, "{}: {}: {}\n", PROGRAM_NAME, where.text(),
                       endpoint.error().message());
            return 1;
        }
        stdio |= endpoint.value().kind == monitor::QmpEndpoint::Kind::Stdio;
        endpoints.push_back(endpoint.release_value());
    }

    // Standard output carries QMP under -qmp stdio; the report goes beside.
    RunPhase phase(vm, stdio ? stderr : stdout);
    monitor::Monitor mon(phase);
    phase.set_monitor(mon);
    for (size_t i = 0; i < endpoints.size(); i++) {
        if (auto r = mon.add_endpoint(endpoints[i]); !r) {
            fmt::print(stderr, "{}: {}: {}\n", PROGRAM_NAME,
                       cl.qmp[i].second.text(), r.error().message());
            return 1;
        }
    }
    for (size_t i = 0; i < endpoints.size(); i++) {
        if (endpoints[i].kind == monitor::QmpEndpoint::Kind::UnixServer &&
            endpoints[i].wait) {
            fmt::print(stderr, "{}: waiting for connection on: {}\n",
                       PROGRAM_NAME, cl.qmp[i].second.arg);
        }
    }
    if (auto r = mon.start(); !r) {
        fmt::print(stderr, "{}: {}\n", PROGRAM_NAME, r.error().message());
        return 1;
    }
    if (!cl.start_stopped) {
        MUST(phase.cont());
    }

    const qapi::ShutdownCause cause = phase.run();
    mon.emit_event(qapi::qapi_event_shutdown(false, cause));
    mon.flush(EXIT_FLUSH_BUDGET);
    return 0;
}

} // namespace

int run_vm(Vm &vm, const CommandLine &cl)
{
    if (cl.kernel) {
        if (!cl.qmp.empty() || cl.start_stopped) {
            fmt::print(stderr, "{}: -kernel runs without a monitor in this "
                               "build (no -qmp, no -S)\n",
                       PROGRAM_NAME);
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
        return run_kernel(vm, boot, stderr);
    }
    if (!cl.qmp.empty()) {
        // A client that disconnects while a reply is on its way must not
        // end the program (QEMU ignores SIGPIPE too).
        std::signal(SIGPIPE, SIG_IGN);
        return run_with_monitor(vm, cl);
    }
    if (cl.start_stopped) {
        // With no monitor nobody could continue the VM.
        fmt::print("{}: machine {} built; stopped (-S)\n", PROGRAM_NAME,
                   vm.machine().machine_class().machine_name);
        return 0;
    }
    return vm.run_main_job(stdout, stderr);
}

} // namespace sysemu
