#include "system/guest-run.h"

#include "accel/kvm/kvm-accel.h"
#include "hw/core/guest-error.h"
#include "hw/i386/pc.h"
#include "hw/i386/x86-boot.h"
#include "hw/i386/x86-cpu.h"
#include "hw/intc/ioapic.h"
#include "hw/misc/seoib-testdev.h"
#include "system/vm.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <variant>

namespace sysemu {

namespace {

using namespace accel::kvm;
using hw::misc::SeoibTestdevCounters;
using hw::misc::SeoibTestdevState;

// The IOAPIC's MMIO window and the registers the host looks at (82093AA
// datasheet, 3.0; the EOI register is the ICH's, version 0x20).
constexpr uint64_t IOAPIC_WINDOW_SIZE = 0x100;
constexpr uint64_t IOAPIC_IOREGSEL = 0x00;
constexpr uint64_t IOAPIC_IOWIN = 0x10;
constexpr uint64_t IOAPIC_EOI = 0x40;
constexpr uint64_t IOAPIC_REDTBL = 0x10;
constexpr uint64_t IOAPIC_REMOTE_IRR = 1U << 14;

// What the payload writes to the SVR: APIC software enable, spurious vector
// 0xff, and bit 12 when it asks for Suppress EOI Broadcast.
constexpr uint32_t GUEST_SVR = 0x1ff;

void find_testdevs(qom::Object &obj, std::vector<SeoibTestdevState *> &found)
{
    if (auto *dev = qom::dyn_cast<SeoibTestdevState>(&obj)) {
        found.push_back(dev);
    }
    obj.for_each_child([&found](qom::Object &child) {
        find_testdevs(child, found);
    });
}

/// The machine's seoib-testdev: the user's, or a new one as a board would
/// create it.
qapi::Result<SeoibTestdevState *> testdev_for(hw::MachineState &machine)
{
    std::vector<SeoibTestdevState *> found;
    find_testdevs(machine, found);
    if (found.size() == 1) {
        return found.front();
    }
    if (found.size() > 1) {
        return qapi::Error::format(
            "the built-in guest drives one {} device; the machine has {}",
            hw::misc::TYPE_SEOIB_TESTDEV, found.size());
    }
    qom::Context &ctx = machine.context();
    auto created = ctx.new_object<SeoibTestdevState>();
    if (!created) {
        return created.release_error().prepend(fmt::format(
            "the built-in guest needs a {} device: ",
            hw::misc::TYPE_SEOIB_TESTDEV));
    }
    qom::Ref<SeoibTestdevState> dev = created.release_value();
    TRY(machine.unattached().add_child("device[*]", dev));
    TRY(dev->realize());
    return dev.get();
}

/// The run loop: dispatches exits, attributes them to device events and
/// keeps every wait bounded.
class GuestRun {
public:
    GuestRun(Vcpu &vcpu, SeoibTestdevState &dev,
             hw::intc::IOAPICState *ioapic, const GuestRunOptions &opts,
             GuestRunReport &report)
        : m_vcpu(vcpu)
        , m_dev(dev)
        , m_ioapic(ioapic)
        , m_opts(opts)
        , m_report(report)
        , m_guest_errors([](std::string_view msg) {
            fmt::print(stderr, "builtin guest: guest error: {}\n", msg);
        })
    {
    }

    /// Records a failure of the line's KVM_IRQ_LINE (in-kernel IOAPIC);
    /// the loop stops after the exit that caused it.
    void irq_line_failed(qapi::Error error)
    {
        if (!m_irq_error) {
            m_irq_error = std::move(error);
        }
    }

    /// Runs until the guest finishes or a device event ends, whichever is
    /// first, so that a caller can serve its main loop between events.
    /// True when the guest has finished.
    qapi::Result<bool> run_slice()
    {
        if (!m_started) {
            m_started = true;
            m_start = std::chrono::steady_clock::now();
            m_report.events_before_migration = m_dev.counters().events_done;
        }
        // The budget counts from where this run began: a guest that came in
        // by migration has part of its work behind it.
        const uint64_t budget =
            m_opts.max_setup_exits +
            uint64_t { m_opts.events } * m_opts.max_exits_per_event;
        while (!m_dev.counters().finished) {
            if (m_report.exits >= budget) {
                return progress_error(fmt::format(
                    "did not finish within {} exits", budget));
            }
            auto before = std::chrono::steady_clock::now();
            VcpuExit exit = TRY(m_vcpu.run());
            m_report.time_in_run += std::chrono::steady_clock::now() - before;

            if (std::holds_alternative<ExitInterrupted>(exit) ||
                std::holds_alternative<ExitHlt>(exit)) {
                if (++m_idle_runs > m_opts.max_idle_runs) {
                    return progress_error(fmt::format(
                        "made no progress in {} runs in a row (halted with "
                        "nothing to deliver, or looping without exits)",
                        m_idle_runs));
                }
                continue;
            }
            m_idle_runs = 0;
            SeoibTestdevCounters seen = m_dev.counters();
            TRY(dispatch(exit));
            account(seen);
            if (m_irq_error) {
                return std::move(*m_irq_error);
            }
            if (m_ioapic) {
                m_ioapic->run_timers();
            }
            if (m_dev.counters().events_done != seen.events_done &&
                !m_dev.counters().finished) {
                return false;
            }
        }
        m_report.elapsed = std::chrono::steady_clock::now() - m_start;
        close_event();
        return true;
    }

private:
    qapi::Error progress_error(std::string what) const
    {
        return qapi::Error::format(
            "the built-in guest {} ({} of {} events done)", what,
            m_dev.counters().events_done, m_opts.events);
    }

    /// " at IP 0x...", for errors that leave the guest stuck.
    std::string where()
    {
        auto regs = m_vcpu.get_regs();
        return regs ? fmt::format(" at IP {:#x}", regs.value().rip) : "";
    }

    qapi::Result<void> dispatch(const VcpuExit &exit)
    {
        if (const auto *io = std::get_if<ExitIo>(&exit)) {
            on_io(*io);
            return {};
        }
        if (const auto *mmio = std::get_if<ExitMmio>(&exit)) {
            on_mmio(*mmio);
            return {};
        }
        if (const auto *eoi = std::get_if<ExitIoapicEoi>(&exit)) {
            on_ioapic_eoi(eoi->vector);
            return {};
        }
        if (const auto *error = std::get_if<ExitInternalError>(&exit)) {
            return progress_error(fmt::format(
                "stopped: KVM internal error, suberror {}{}", error->suberror,
                where()));
        }
        if (const auto *fail = std::get_if<ExitFailEntry>(&exit)) {
            return progress_error(fmt::format(
                "could not be entered: hardware entry failure {:#x}",
                fail->reason));
        }
        if (std::holds_alternative<ExitShutdown>(exit)) {
            return progress_error("shut down (triple fault)" + where());
        }
        if (const auto *unknown = std::get_if<ExitUnknown>(&exit)) {
            return progress_error(
                fmt::format("stopped: KVM exit reason {}", unknown->reason));
        }
        return {};
    }

    void on_io(const ExitIo &io)
    {
        const bool in = io.direction == ExitIo::Direction::In;
        if (m_dev.io_contains(io.port)) {
            uint64_t offset = io.port - m_dev.iobase();
            if (in) {
                m_vcpu.complete_io_in(
                    static_cast<uint32_t>(m_dev.io_read(offset, io.size)));
            } else {
                m_dev.io_write(offset, io.value, io.size);
            }
            return;
        }
        // Unassigned ports: reads float high, writes vanish, as on a PC.
        m_guest_errors.log("{} of {} bytes at unassigned port {:#x}",
                           in ? "read" : "write", io.size, io.port);
        if (in) {
            m_vcpu.complete_io_in(0xffffffff);
        }
    }

    void on_mmio(const ExitMmio &mmio)
    {
        const uint64_t base = hw::intc::IO_APIC_DEFAULT_ADDRESS;
        if (!m_ioapic || mmio.address < base ||
            mmio.address - base >= IOAPIC_WINDOW_SIZE) {
            m_guest_errors.log("MMIO {} of {} bytes at unassigned {:#x}",
                               mmio.is_write ? "write" : "read", mmio.size,
                               mmio.address);
            return;
        }
        const uint64_t offset = mmio.address - base;
        if (!mmio.is_write) {
            // The backend interface has no way to complete an MMIO read;
            // the payloads only write the IOAPIC (hw/i386/guest/README.md).
            m_guest_errors.log("IOAPIC read of {} bytes at {:#x} is not "
                               "supported",
                               mmio.size, offset);
            return;
        }
        if (offset != IOAPIC_EOI) {
            m_ioapic->mmio_write(offset, mmio.value, mmio.size);
            return;
        }
        with_reinjection_check(
            [&] { m_ioapic->mmio_write(offset, mmio.value, mmio.size); });
    }

    void on_ioapic_eoi(uint8_t vector)
    {
        if (GuestEventCounts *event = counting()) {
            ++event->eoi_exits;
        }
        // A guest that services the device before its EOI write lowers the
        // line first, so an EOI exit that finds the line still asserted is
        // not the guest's: the kernel completed the EOI at delivery
        // (kvm-facts, host particularities: this nested kvm_pvm host does,
        // and reports the exit before or after the handler's first exit).
        // Stock KVM exits at the guest's write.
        const bool early = !guest_directed();
        if (m_ioapic) {
            with_reinjection_check(
                [&] { m_ioapic->eoi_broadcast(vector); }, early);
        }
    }

    /// Whether the guest uses directed EOI: forced, or as the LVR it
    /// reported advertises (storm.S makes the same choice).
    bool guest_directed() const
    {
        return m_opts.eoi_mode == GuestEoiMode::ForceDirected ||
               (m_dev.counters().lvr.value_or(0) & APIC_LVR_DIRECTED_EOI) != 0;
    }

    /// Runs an EOI and counts a re-injection when it cleared the pin's
    /// remote IRR and the still-asserted line was delivered again at once.
    /// One that follows an `early` EOI is the host's doing, not a storm.
    template <typename Eoi>
    void with_reinjection_check(Eoi &&eoi, bool early = false)
    {
        const bool was_in_flight = pin_remote_irr();
        eoi();
        if (!was_in_flight || !pin_remote_irr() || !m_dev.irq_level()) {
            return;
        }
        if (GuestEventCounts *event = counting()) {
            ++event->reinjections;
            event->early_eoi_reinjections += early ? 1 : 0;
        }
        m_report.storm = m_report.storm || !early;
    }

    /// The device pin's remote IRR, read through the IOAPIC's own register
    /// window as the guest would; the guest's IOREGSEL is put back.
    bool pin_remote_irr()
    {
        const uint64_t ioregsel = m_ioapic->mmio_read(IOAPIC_IOREGSEL, 4);
        m_ioapic->mmio_write(IOAPIC_IOREGSEL, IOAPIC_REDTBL + 2 * m_dev.pin(),
                             4);
        const uint64_t low = m_ioapic->mmio_read(IOAPIC_IOWIN, 4);
        m_ioapic->mmio_write(IOAPIC_IOREGSEL, ioregsel, 4);
        return (low & IOAPIC_REMOTE_IRR) != 0;
    }

    /// Attributes the exit just handled: a RAISE opens an event, an
    /// EVENT_DONE closes it; `seen` is the device before the exit.
    void account(const SeoibTestdevCounters &seen)
    {
        const SeoibTestdevCounters &now = m_dev.counters();
        if (now.events != seen.events) {
            close_event();
            m_report.events.emplace_back();
            m_event_start = seen;
            m_in_event = true;
        }
        ++m_report.exits;
        if (m_in_event) {
            ++m_report.events.back().exits;
        } else if (m_report.events.empty()) {
            ++m_report.setup_exits;
        }
        if (now.events_done != seen.events_done) {
            close_event();
        }
    }

    void close_event()
    {
        if (!m_in_event) {
            return;
        }
        m_in_event = false;
        const SeoibTestdevCounters &now = m_dev.counters();
        GuestEventCounts &event = m_report.events.back();
        auto delta = [](uint64_t a, uint64_t b) {
            return static_cast<unsigned>(a - b);
        };
        event.handler_entries =
            delta(now.handler_entries, m_event_start.handler_entries);
        event.lapic_eois = delta(now.lapic_eois, m_event_start.lapic_eois);
        event.services = delta(now.services, m_event_start.services);
        event.ioapic_eois = delta(now.ioapic_eois, m_event_start.ioapic_eois);
        if (!m_ioapic) {
            // The in-kernel IOAPIC re-delivers inside the kernel: every
            // handler entry after the first is the line coming back.
            event.reinjections =
                event.handler_entries > 1 ? event.handler_entries - 1 : 0;
            // A guest that services the device before its EOI is delivered
            // again only if the EOI completed before the service: at
            // delivery, as this host's kernel does.
            if (!guest_directed()) {
                event.early_eoi_reinjections = event.reinjections;
            }
            m_report.storm = m_report.storm ||
                             event.reinjections > event.early_eoi_reinjections;
        }
    }

    /// The event EOIs and re-injections belong to: the open one, else the
    /// last one (nothing, before the first).
    GuestEventCounts *counting()
    {
        return m_report.events.empty() ? nullptr : &m_report.events.back();
    }

    Vcpu &m_vcpu;
    SeoibTestdevState &m_dev;
    hw::intc::IOAPICState *m_ioapic;
    const GuestRunOptions &m_opts;
    GuestRunReport &m_report;
    hw::GuestErrorLog m_guest_errors;
    std::optional<qapi::Error> m_irq_error;
    SeoibTestdevCounters m_event_start;
    bool m_in_event { false };
    bool m_started { false };
    std::chrono::steady_clock::time_point m_start;
    unsigned m_idle_runs { 0 };
};

/// Disconnects the device's line from the run's IRQ handler on every path
/// out of run_builtin_guest.
class IrqConnection {
public:
    IrqConnection(SeoibTestdevState &dev, SeoibTestdevState::IrqHandler h)
        : m_dev(dev)
    {
        m_dev.connect_irq(std::move(h));
    }
    IrqConnection(const IrqConnection &) = delete;
    IrqConnection &operator=(const IrqConnection &) = delete;
    ~IrqConnection() { m_dev.connect_irq({}); }

private:
    SeoibTestdevState &m_dev;
};

} // namespace

GuestEventCounts GuestRunReport::totals() const
{
    GuestEventCounts sum;
    for (const GuestEventCounts &e : events) {
        sum.handler_entries += e.handler_entries;
        sum.lapic_eois += e.lapic_eois;
        sum.services += e.services;
        sum.ioapic_eois += e.ioapic_eois;
        sum.eoi_exits += e.eoi_exits;
        sum.reinjections += e.reinjections;
        sum.early_eoi_reinjections += e.early_eoi_reinjections;
        sum.exits += e.exits;
    }
    return sum;
}

bool GuestRunReport::uniform() const
{
    return std::all_of(events.begin(), events.end(),
                       [this](const GuestEventCounts &e) {
                           return e == events.front();
                       });
}

/// Everything one run of the built-in guest holds: the options, the
/// report it fills, the run loop and the device's line connection.
struct BuiltinGuest::Parts {
    Parts(Vcpu &vcpu, SeoibTestdevState &dev, hw::intc::IOAPICState *ioapic,
          const GuestRunOptions &options)
        : opts(options)
        , run(vcpu, dev, ioapic, opts, report)
    {
    }

    GuestRunOptions opts;
    GuestRunReport report;
    GuestRun run;
    std::optional<IrqConnection> connection;
};

BuiltinGuest::BuiltinGuest(Vm &vm, Vcpu &vcpu, SeoibTestdevState &dev,
                           hw::intc::IOAPICState *ioapic, uint32_t dest_apic_id,
                           const GuestRunOptions &opts)
    : m_vm(vm)
    , m_vcpu(vcpu)
    , m_dev(dev)
    , m_dest_apic_id(dest_apic_id)
    , m_parts(std::make_unique<Parts>(vcpu, dev, ioapic, opts))
{
}

BuiltinGuest::~BuiltinGuest() = default;

qapi::Result<std::unique_ptr<BuiltinGuest>>
BuiltinGuest::create(Vm &vm, const GuestRunOptions &opts)
{
    auto *kvm = qom::dyn_cast<KVMAccel>(&vm.accel());
    auto *machine = qom::dyn_cast<hw::x86::X86MachineState>(&vm.machine());
    if (kvm == nullptr || machine == nullptr) {
        return qapi::Error("the built-in guest needs an x86 machine with the "
                           "kvm accelerator");
    }
    if (kvm->irqchip() == qapi::OnOffSplit::Off) {
        return qapi::Error("the built-in guest needs an in-kernel LAPIC: "
                           "use kernel-irqchip=split or kernel-irqchip=on");
    }
    const accel::kvm::KVMCPUState *boot_vcpu =
        machine->cpus().empty() ? nullptr
                                : kvm->vcpu_state(*machine->cpus().front());
    if (boot_vcpu == nullptr || machine->ioapic() == nullptr) {
        return qapi::Error("the built-in guest needs a built machine with a "
                           "vCPU and an IOAPIC");
    }
    auto *ioapic = qom::dyn_cast<hw::intc::IOAPICState>(machine->ioapic());
    if (kvm->irqchip() == qapi::OnOffSplit::Split && ioapic == nullptr) {
        return qapi::Error("kernel-irqchip=split without a userspace IOAPIC");
    }
    if (opts.vector < 32) {
        return qapi::Error::format(
            "vector {:#x} is an exception vector; use 0x20-0xff", opts.vector);
    }

    SeoibTestdevState &dev = *TRY(testdev_for(*machine));
    std::unique_ptr<BuiltinGuest> guest(
        new BuiltinGuest(vm, *boot_vcpu->vcpu, dev, ioapic,
                         machine->cpus().front()->apic_id(), opts));
    GuestRunReport &report = guest->m_parts->report;
    report.backend = std::string(kvm->backend_name());
    report.irqchip = kvm->irqchip();
    if (kvm->seoib()) {
        report.policy = kvm->seoib()->effective;
    }
    report.ioapic_version = machine->ioapic()->version();
    report.device_path = dev.canonical_path();
    report.pin = dev.pin();
    report.vector = opts.vector;

    SeoibTestdevState::IrqHandler line;
    if (ioapic != nullptr) {
        line = [ioapic, pin = dev.pin()](bool level) {
            ioapic->set_irq(pin, level);
        };
    } else {
        // The in-kernel IOAPIC: KVM's default routing sends GSI n < 24 to
        // its pin n.
        line = [&run = guest->m_parts->run, &kvm_vm = kvm->vm(),
                pin = dev.pin()](bool level) {
            qapi::Result<int> r = kvm_vm.irq_line(pin, level);
            if (!r) {
                run.irq_line_failed(r.release_error().prepend(
                    fmt::format("KVM_IRQ_LINE({}, {}): ", pin, int(level))));
            }
        };
    }
    guest->m_parts->connection.emplace(dev, std::move(line));
    return guest;
}

qapi::Result<void> BuiltinGuest::boot()
{
    const guest::GuestPayload *payload =
        guest::find_guest_payload(BUILTIN_GUEST_PAYLOAD);
    if (payload == nullptr) {
        return qapi::Error::format("no guest payload '{}'",
                                   BUILTIN_GUEST_PAYLOAD);
    }
    const GuestRunOptions &opts = m_parts->opts;
    hw::x86::GuestRam &ram = *TRY(m_vm.guest_ram());
    TRY(hw::x86::load_payload(ram, *payload));
    if (!TRY(hw::x86::set_apic_base(m_vcpu, hw::x86::ApicMode::X2apic))) {
        return qapi::Error::format(
            "KVM_SET_MSRS(APICBASE={:#x}) refused: the guest needs x2APIC",
            hw::x86::apic_base(m_vcpu.id(), hw::x86::ApicMode::X2apic));
    }
    TRY(hw::x86::set_entry_state(
        m_vcpu, hw::x86::CpuEntry { .mode = hw::x86::EntryMode::Real,
                                    .ip = payload->entry_point,
                                    .rax = opts.events,
                                    .rbx = opts.vector,
                                    .rcx = opts.eoi_mode == GuestEoiMode::ForceDirected,
                                    .rdx = m_dev.pin(),
                                    .rsi = m_dev.iobase(),
                                    .rdi = m_dest_apic_id }));
    m_dev.reset();
    return {};
}

qapi::Result<bool> BuiltinGuest::run_slice()
{
    bool finished = TRY(m_parts->run.run_slice());
    if (finished) {
        GuestRunReport &report = m_parts->report;
        // An incoming VM's policy was only known once its stream was in.
        if (const auto *kvm = qom::dyn_cast<KVMAccel>(&m_vm.accel()); kvm && kvm->seoib()) {
            report.policy = kvm->seoib()->effective;
        }
        const SeoibTestdevCounters &seen = m_dev.counters();
        report.lvr = seen.lvr.value_or(0);
        report.svr = seen.svr.value_or(0);
        report.reinjections_inferred = report.irqchip == qapi::OnOffSplit::On;
        // The payload's choice (storm.S): directed EOI when forced or where
        // the LVR it read advertises it.
        report.directed_eoi = m_parts->opts.eoi_mode == GuestEoiMode::ForceDirected ||
                              (report.lvr & APIC_LVR_DIRECTED_EOI) != 0;
        report.svr_written = GUEST_SVR | (report.directed_eoi ? APIC_SPIV_DIRECTED_EOI : 0);
    }
    return finished;
}

bool BuiltinGuest::finished() const
{
    return m_dev.counters().finished;
}

bool BuiltinGuest::pause_due() const
{
    return m_dev.pause_due();
}

const GuestRunReport &BuiltinGuest::report() const
{
    return m_parts->report;
}

qapi::Result<GuestRunReport> run_builtin_guest(Vm &vm,
                                               const GuestRunOptions &opts)
{
    std::unique_ptr<BuiltinGuest> guest = TRY(BuiltinGuest::create(vm, opts));
    TRY(guest->boot());
    while (!TRY(guest->run_slice())) {
    }
    return guest->report();
}

} // namespace sysemu
