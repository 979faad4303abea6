/*
 * A built VM: what vl's creation order produced, handed to the run phase
 * (system/runstate.cc) and to the QMP monitor.
 */
#pragma once

#include "accel/accel.h"
#include "hw/core/machine.h"
#include "hw/i386/x86-boot.h"
#include "qapi/qapi-types.h"
#include "qom/context.h"
#include "system/vm-clock.h"

#include <cstdio>
#include <functional>
#include <memory>

namespace sysemu {

class BuiltinGuest;

class Vm {
public:
    Vm(std::unique_ptr<qom::Context> ctx, qom::Ref<hw::MachineState> machine,
       qom::Ref<accel::AccelState> accel);
    ~Vm();

    qom::Context &context() const { return *m_ctx; }
    hw::MachineState &machine() const { return *m_machine; }
    accel::AccelState &accel() const { return *m_accel; }

    /// seoib-vm's main job: what was built and what the guest sees
    /// (machine, irqchip, IOAPIC and where its version came from, policy,
    /// x2APIC API flags, each vCPU's LVR).
    void print_report(std::FILE *out) const;

    /// The main job: print_report(), then -- when there is an in-kernel
    /// LAPIC -- run the built-in guest (16 level-triggered device events,
    /// serviced in the directed-EOI order Windows uses, SVR bit 12 asked
    /// for) and print what each event cost.  Returns the exit status.
    int run_main_job(std::FILE *out, std::FILE *err);

    /// The main job in steps, for a run phase that serves a main loop:
    /// start_main_job() prints the report and readies the built-in guest
    /// (`boot`: load its payload; false for a guest whose state came in by
    /// migration) and returns whether there is a guest to run;
    /// main_job_step() runs it to the end of its next device event and
    /// returns true once the job is over (its report or error printed).
    bool start_main_job(std::FILE *out, std::FILE *err, bool boot);
    /// Readies the built-in guest without printing or booting it, so that
    /// its device exists for an incoming stream to load into.  Nothing to
    /// do without an in-kernel LAPIC.
    qapi::Result<void> prepare_guest();
    bool main_job_step(std::FILE *out, std::FILE *err);
    /// The guest of the job, while it runs.
    BuiltinGuest *guest() const { return m_guest.get(); }
    /// The main job's exit status so far.
    int main_job_status() const { return m_job_status; }

    /// The guest RAM of the machine (1 MiB at GPA 0, KVM memory slot 0),
    /// made the first time it is asked for: the built-in guest's memory,
    /// and the "pc.ram" block a migration carries.  Errors: no KVM VM.
    qapi::Result<hw::x86::GuestRam *> guest_ram();
    /// -m for the built-in guest: its RAM's size (default 1 MiB), before
    /// guest_ram() is first asked for.  Errors: not a whole number of
    /// pages, or more than fits below the 32-bit PCI hole in one slot.
    qapi::Result<void> set_guest_ram_size(uint64_t size);

    /// QMP query-seoib.
    qapi::Result<qapi::SeoibInfo> query_seoib() const;
    /// QMP query-kvm.
    qapi::KvmInfo query_kvm() const;

    /// Advances while the run state is "running" (the run phase drives it).
    VmClock &clock() { return m_clock; }

private:
    std::unique_ptr<qom::Context> m_ctx;
    qom::Ref<hw::MachineState> m_machine;
    qom::Ref<accel::AccelState> m_accel;
    std::unique_ptr<hw::x86::GuestRam> m_guest_ram;
    uint64_t m_guest_ram_size { hw::x86::BOOT_RAM_SIZE };
    std::unique_ptr<BuiltinGuest> m_guest;
    int m_job_status { 0 };
    VmClock m_clock;
};

struct CommandLine;

/// The run phase, after the machine is built: the monitor (if -qmp), the
/// run state (-S: prelaunch until "cont"), the main job.  `started` is
/// called once, when the monitor serves and the VM is in its first run
/// state, before the main loop runs (-daemonize's parent exits then).
/// Returns the exit status.
int run_vm(Vm &vm, const CommandLine &cl, const std::function<void()> &started);

} // namespace sysemu
