#include "system/kernel-run.h"

#include "accel/kvm/kvm-accel.h"
#include "hw/i386/multiboot.h"
#include "hw/i386/pc.h"
#include "hw/i386/x86-boot.h"
#include "hw/i386/x86-cpu.h"
#include "hw/intc/ioapic.h"
#include "hw/isa/isa-devices.h"
#include "system/vl.h"
#include "system/vm.h"
#include "trace/trace-system.h"

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <variant>
#include <vector>

namespace sysemu {

namespace {

using namespace accel::kvm;
using hw::isa::ISADevice;

constexpr uint64_t IOAPIC_WINDOW_SIZE = 0x100;
// The second memory slot: RAM above 4 GiB.
constexpr uint32_t HIGH_RAM_SLOT = 1;
constexpr uint64_t FOUR_GIB = 1ULL << 32;

/// The signal that asked the run to end (0: none).  Written by the handler,
/// read by the loop after every KVM_RUN (the host backend's run watchdog
/// bounds each one).
std::atomic<int> g_stop_signal { 0 };

extern "C" void on_stop_signal(int signum)
{
    g_stop_signal.store(signum, std::memory_order_relaxed);
}

/// SIGINT, SIGTERM and SIGHUP end the run through the loop, without
/// SA_RESTART so a KVM_RUN in progress returns EINTR; the old handlers come
/// back when the run ends.
class StopSignals {
public:
    StopSignals()
    {
        g_stop_signal.store(0);
        struct sigaction sa {};
        sa.sa_handler = on_stop_signal;
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < std::size(SIGNALS); i++) {
            sigaction(SIGNALS[i], &sa, &m_old[i]);
        }
    }
    StopSignals(const StopSignals &) = delete;
    StopSignals &operator=(const StopSignals &) = delete;
    ~StopSignals()
    {
        for (size_t i = 0; i < std::size(SIGNALS); i++) {
            sigaction(SIGNALS[i], &m_old[i], nullptr);
        }
    }

private:
    static constexpr int SIGNALS[] = { SIGINT, SIGTERM, SIGHUP };
    struct sigaction m_old[std::size(SIGNALS)] {};
};

qapi::Result<std::vector<uint8_t>> read_file(const std::string &path,
                                             std::string_view what)
{
    // QEMU's texts: "could not open kernel file 'F': ..." when open()
    // fails, "could not load kernel 'F': ..." when reading does.
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return qapi::Error::format("could not open {} file '{}': {}", what,
                                   path, std::strerror(errno));
    }
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
        return qapi::Error::format("could not load {} '{}': {}", what, path,
                                   std::strerror(ec ? ec.value() : EISDIR));
    }
    std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
    if (in.bad()) {
        return qapi::Error::format("could not load {} '{}': {}", what, path,
                                   std::strerror(EIO));
    }
    return data;
}

/// -initrd "FILE ARGS,FILE ARGS": each module's command line is its item
/// (QEMU's multiboot loader), ",," an escaped comma.
qapi::Result<std::vector<hw::x86::MultibootModule>>
read_modules(std::string_view initrd)
{
    std::vector<hw::x86::MultibootModule> modules;
    if (initrd.empty()) {
        return modules;
    }
    std::vector<std::string> items(1);
    for (size_t i = 0; i < initrd.size(); i++) {
        if (initrd[i] == ',' && i + 1 < initrd.size() && initrd[i + 1] == ',') {
            items.back() += ',';
            ++i;
        } else if (initrd[i] == ',') {
            items.emplace_back();
        } else {
            items.back() += initrd[i];
        }
    }
    for (std::string &item : items) {
        const std::string file = item.substr(0, item.find(' '));
        hw::x86::MultibootModule m;
        m.data = TRY(read_file(file, "initrd"));
        m.cmdline = std::move(item);
        modules.push_back(std::move(m));
    }
    return modules;
}

void find_isa_devices(qom::Object &obj, hw::isa::IsaBus &bus)
{
    if (auto *dev = qom::dyn_cast<ISADevice>(&obj)) {
        bus.add(*dev);
    }
    obj.for_each_child(
        [&bus](qom::Object &child) { find_isa_devices(child, bus); });
}

template <typename T>
T *find_isa(const hw::isa::IsaBus &bus)
{
    for (ISADevice *dev : bus.devices()) {
        if (auto *t = qom::dyn_cast<T>(dev)) {
            return t;
        }
    }
    return nullptr;
}

/// How a run ended.
struct RunEnd {
    int status { 0 };
    std::string message; // printed on stderr when not empty
};

class KernelRun {
public:
    KernelRun(Vcpu &vcpu, hw::isa::IsaBus &bus, hw::intc::IOAPICState *ioapic,
              const KernelBootOptions &opts)
        : m_vcpu(vcpu)
        , m_bus(bus)
        , m_ioapic(ioapic)
        , m_opts(opts)
        , m_debug_exit(find_isa<hw::isa::ISADebugExitState>(bus))
    {
    }

    RunEnd run()
    {
        for (;;) {
            auto exit = m_vcpu.run();
            if (!exit) {
                return { 1, "KVM_RUN: " + exit.error().message() };
            }
            if (int sig = g_stop_signal.load(std::memory_order_relaxed)) {
                return { 1, fmt::format("terminating on signal {}", sig) };
            }
            if (std::optional<RunEnd> end = dispatch(exit.value())) {
                return *end;
            }
            if (m_debug_exit && m_debug_exit->exit_status()) {
                return { *m_debug_exit->exit_status(), {} };
            }
            if (m_ioapic) {
                m_ioapic->run_timers();
            }
        }
    }

private:
    std::optional<RunEnd> dispatch(const VcpuExit &exit)
    {
        if (const auto *io = std::get_if<ExitIo>(&exit)) {
            on_io(*io);
        } else if (const auto *mmio = std::get_if<ExitMmio>(&exit)) {
            on_mmio(*mmio);
        } else if (const auto *eoi = std::get_if<ExitIoapicEoi>(&exit)) {
            trace_kernel_run_ioapic_eoi(eoi->vector);
            if (m_ioapic) {
                m_ioapic->eoi_broadcast(eoi->vector);
            }
        } else if (std::holds_alternative<ExitShutdown>(exit)) {
            // A triple fault is a reset request; QEMU then reboots, or with
            // --no-reboot shuts down with status 0.  seoib cannot reboot a
            // -kernel guest (there is no firmware to start again).
            if (m_opts.no_reboot) {
                return RunEnd { 0, {} };
            }
            return RunEnd { 1, "guest requested a reset (triple fault"
                               + where() +
                               "); rebooting a -kernel guest is not "
                               "supported: use --no-reboot" };
        } else if (const auto *error = std::get_if<ExitInternalError>(&exit)) {
            return RunEnd { 1, fmt::format("KVM internal error. Suberror: {}{}",
                                           error->suberror, where()) };
        } else if (const auto *fail = std::get_if<ExitFailEntry>(&exit)) {
            return RunEnd { 1, fmt::format("KVM: entry failed, hardware error "
                                           "{:#x}",
                                           fail->reason) };
        } else if (const auto *unknown = std::get_if<ExitUnknown>(&exit)) {
            return RunEnd { 1, fmt::format("KVM: unhandled exit {}{}",
                                           unknown->reason, where()) };
        }
        // ExitHlt does not happen with an in-kernel LAPIC; ExitInterrupted
        // is the run watchdog: run again.
        return std::nullopt;
    }

    std::string where()
    {
        auto regs = m_vcpu.get_regs();
        return regs ? fmt::format(" at RIP {:#x}", regs.value().rip) : "";
    }

    void on_io(const ExitIo &io)
    {
        const bool in = io.direction == ExitIo::Direction::In;
        ISADevice *dev = m_bus.find(io.port);
        if (in) {
            // Unassigned ports read as all ones, as on a PC.
            const uint32_t value =
                dev ? static_cast<uint32_t>(dev->io_read(io.port, io.size))
                    : 0xffffffff;
            trace_kernel_run_io(1, io.port, io.size, value);
            m_vcpu.complete_io_in(value);
        } else {
            trace_kernel_run_io(0, io.port, io.size, io.value);
            if (dev) {
                dev->io_write(io.port, io.value, io.size);
            }
        }
    }

    void on_mmio(const ExitMmio &mmio)
    {
        const uint64_t base = hw::intc::IO_APIC_DEFAULT_ADDRESS;
        const bool ioapic = m_ioapic && mmio.address >= base &&
                            mmio.address - base < IOAPIC_WINDOW_SIZE;
        if (mmio.is_write) {
            trace_kernel_run_mmio(1, mmio.address, mmio.size, mmio.value);
            if (ioapic) {
                m_ioapic->mmio_write(mmio.address - base, mmio.value,
                                     mmio.size);
            }
            return;
        }
        // Unassigned memory reads as 0 (QEMU's unassigned_mem_read).
        const uint64_t value =
            ioapic ? m_ioapic->mmio_read(mmio.address - base, mmio.size) : 0;
        trace_kernel_run_mmio(0, mmio.address, mmio.size, value);
        m_vcpu.complete_mmio_read(value);
    }

    Vcpu &m_vcpu;
    hw::isa::IsaBus &m_bus;
    hw::intc::IOAPICState *m_ioapic;
    const KernelBootOptions &m_opts;
    hw::isa::ISADebugExitState *m_debug_exit;
};

/// The guest's RAM: below 4 GiB from GPA 0, the rest from 4 GiB.
struct PcRam {
    std::unique_ptr<hw::x86::GuestRam> below_4g;
    std::unique_ptr<hw::x86::GuestRam> above_4g;
};

qapi::Result<int> boot_and_run(Vm &vm, const KernelBootOptions &opts,
                               std::FILE *err)
{
    // Everything about the files is checked first, before the vCPU runs
    // and whatever the machine.
    const std::vector<uint8_t> image = TRY(read_file(opts.kernel, "kernel"));
    hw::x86::MultibootKernel kernel = TRY(hw::x86::parse_multiboot(image));
    for (const std::string &w : kernel.warnings) {
        fmt::print(err, "{}: warning: {}\n", PROGRAM_NAME, w);
    }
    hw::x86::MultibootBootInfo info;
    info.cmdline = opts.kernel + " " + opts.append;
    info.modules = TRY(read_modules(opts.initrd));
    info.memory = hw::x86::q35_memory_layout(opts.ram_size);

    auto *kvm = qom::dyn_cast<KVMAccel>(&vm.accel());
    auto *machine = qom::dyn_cast<hw::x86::X86MachineState>(&vm.machine());
    if (kvm == nullptr || machine == nullptr || machine->cpus().empty()) {
        return qapi::Error("-kernel needs an x86 machine with the kvm "
                           "accelerator and a vCPU");
    }
    if (!kvm->on_host()) {
        return qapi::Error("-kernel needs the host's KVM (kernel=host): the "
                           "kernel model runs only the built-in payloads");
    }
    if (kvm->irqchip() == qapi::OnOffSplit::Off) {
        return qapi::Error("-kernel needs an in-kernel LAPIC: use "
                           "kernel-irqchip=split or kernel-irqchip=on");
    }
    if (machine->cpus().size() > 1) {
        return qapi::Error::format(
            "-kernel runs one vCPU in this build; -smp {} would leave the "
            "application processors without a thread",
            machine->cpus().size());
    }


    PcRam ram;
    ram.below_4g = TRY(hw::x86::GuestRam::create(
        kvm->vm(), info.memory.below_4g, hw::x86::BOOT_RAM_SLOT, 0));
    if (info.memory.above_4g > 0) {
        ram.above_4g = TRY(hw::x86::GuestRam::create(
            kvm->vm(), info.memory.above_4g, HIGH_RAM_SLOT, FOUR_GIB));
    }
    const hw::x86::MultibootEntry entry = TRY(
        hw::x86::load_multiboot(ram.below_4g->bytes(), kernel, image, info));

    hw::isa::IsaBus bus;
    find_isa_devices(vm.machine(), bus);
    auto *ioapic = qom::dyn_cast<hw::intc::IOAPICState>(machine->ioapic());
    if (auto *fw_cfg = find_isa<hw::isa::FWCfgIoState>(bus)) {
        const hw::CpuTopology &smp = machine->smp();
        fw_cfg->add_i16(hw::isa::FW_CFG_NB_CPUS,
                        static_cast<uint16_t>(smp.cpus));
        fw_cfg->add_i16(hw::isa::FW_CFG_MAX_CPUS,
                        static_cast<uint16_t>(smp.max_cpus));
        fw_cfg->add_i64(hw::isa::FW_CFG_RAM_SIZE, opts.ram_size);
    }
    // ISA IRQ n is GSI n: the userspace IOAPIC's pin, or the kernel's.
    std::optional<qapi::Error> irq_error;
    for (ISADevice *dev : bus.devices()) {
        if (ioapic) {
            dev->connect_irqs(
                [ioapic](uint32_t irq, bool level) { ioapic->set_irq(irq, level); });
        } else {
            dev->connect_irqs([&kvm_vm = kvm->vm()](uint32_t irq, bool level) {
                // KVM_IRQ_LINE on a GSI below 24 cannot fail once the
                // in-kernel irqchip exists; a failure would only drop it.
                (void)kvm_vm.irq_line(irq, level);
            });
        }
    }

    Vcpu &vcpu = *kvm->vcpu_state(*machine->cpus().front())->vcpu;
    if (!TRY(hw::x86::set_apic_base(vcpu, hw::x86::ApicMode::Xapic))) {
        return qapi::Error("KVM_SET_MSRS(APICBASE) refused the reset value");
    }
    TRY(hw::x86::set_entry_state(
        vcpu, hw::x86::CpuEntry { .mode = hw::x86::EntryMode::Protected32,
                                  .ip = entry.entry,
                                  .sp = 0,
                                  .rax = hw::x86::MULTIBOOT_BOOTLOADER_MAGIC,
                                  .rbx = entry.mbi_addr }));

    StopSignals signals;
    KernelRun run(vcpu, bus, ioapic, opts);
    RunEnd end = run.run();
    trace_kernel_run_end(end.status);
    for (ISADevice *dev : bus.devices()) {
        dev->connect_irqs({});
    }
    std::fflush(stdout);
    if (!end.message.empty()) {
        fmt::print(err, "{}: {}\n", PROGRAM_NAME, end.message);
    }
    return end.status;
}

} // namespace

int run_kernel(Vm &vm, const KernelBootOptions &opts, std::FILE *err)
{
    qapi::Result<int> status = boot_and_run(vm, opts, err);
    if (!status) {
        fmt::print(err, "{}: {}\n", PROGRAM_NAME, status.error().message());
        return 1;
    }
    return status.value();
}

} // namespace sysemu
