#include "tests/kvm/kvm-harness.h"

#include "accel/kvm/kvm-backend-linux.h"

#include <algorithm>
#include <chrono>
#include <type_traits>

namespace kvm_test {

namespace {

// Long enough that a guest normally reaches its `hlt` within one run, short
// enough that a suite of a few dozen halting runs stays well under a second.
// Correctness never depends on it: a run cut short is simply run again.
constexpr std::chrono::milliseconds HOST_RUN_TIMEOUT { 10 };

// A payload run takes a handful of exits; these bounds only stop a runaway.
constexpr int MAX_EXITS_PER_PHASE = 1000;
constexpr int MAX_INTERRUPTED_RUNS_PER_PHASE = 300;

constexpr uint32_t CPUID_LEAF_FEATURES = 1;

// KVM_SET_TSS_ADDR: three pages below the 4 GiB BIOS area, as QEMU uses.
// Only VMX without unrestricted guest needs it, to run real mode.
constexpr uint64_t TSS_ADDRESS = 0xfffbd000;

constexpr uint32_t MSI_ADDRESS_BASE = 0xfee00000;
constexpr uint32_t MSI_DATA_LEVEL = 1U << 15;

std::optional<KernelProfile> model_profile(Backend backend)
{
    switch (backend) {
    case Backend::Host:
        return std::nullopt;
    case Backend::Model:
        return KernelProfile::Model;
    case Backend::Model6_12:
        return KernelProfile::Model6_12;
    case Backend::Model6_1:
        return KernelProfile::Model6_1;
    }
    return std::nullopt;
}

KernelTraits traits_of(KernelProfile profile)
{
    switch (profile) {
    case KernelProfile::Model:
        return KernelTraits { .seoib_flags = true,
                              .hotplug_hack_always = false };
    case KernelProfile::Model6_12:
        return KernelTraits { .seoib_flags = false,
                              .hotplug_hack_always = false };
    case KernelProfile::Model6_1:
        return KernelTraits { .seoib_flags = false,
                              .hotplug_hack_always = true };
    }
    return KernelTraits {};
}

qapi::Error unexpected_exit(const VcpuExit &exit)
{
    return qapi::Error::format("eoi-probe: unexpected exit: {}",
                               describe_exit(exit));
}

} // namespace

std::string_view backend_name(Backend backend)
{
    std::optional<KernelProfile> profile = model_profile(backend);
    if (!profile.has_value()) {
        return "host";
    }
    return kernel_profile_name(*profile);
}

std::string backend_test_name(Backend backend)
{
    std::string name(backend_name(backend));
    std::replace_if(
        name.begin(), name.end(), [](char c) { return c == '-' || c == '.'; },
        '_');
    return name;
}

void PrintTo(Backend backend, std::ostream *os)
{
    *os << backend_name(backend);
}

OpenedBackend open_backend(Backend backend)
{
    std::optional<KernelProfile> profile = model_profile(backend);
    if (profile.has_value()) {
        return OpenedBackend { open_model_system(*profile),
                               traits_of(*profile),
                               {} };
    }

    auto system = open_host_system(
        "/dev/kvm", HostOptions { .run_timeout = HOST_RUN_TIMEOUT });
    if (!system.has_value()) {
        return OpenedBackend { nullptr, {}, system.error().message() };
    }
    // The host is whichever kernel this machine runs.  The SEOIB flags are
    // the one difference it advertises; its APIC map is taken to be the
    // current one (Linux 6.3 and later).
    auto caps = system.value()->check_extension(Cap::X2apicApi);
    if (!caps.has_value()) {
        return OpenedBackend { nullptr, {}, caps.error().message() };
    }
    bool seoib_flags =
        (caps.value() & (KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST |
                         KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST)) != 0;
    KernelTraits traits = traits_of(seoib_flags ? KernelProfile::Model
                                                : KernelProfile::Model6_12);
    return OpenedBackend { system.release_value(), traits, {} };
}

std::string describe_exit(const VcpuExit &exit)
{
    struct Describe {
        std::string operator()(const ExitIo &io) const
        {
            if (io.direction == ExitIo::Direction::In) {
                return fmt::format("in{} from port {:#x}", io.size * 8,
                                   io.port);
            }
            return fmt::format("out{} {:#x} to port {:#x}", io.size * 8,
                               io.value, io.port);
        }
        std::string operator()(const ExitMmio &mmio) const
        {
            return fmt::format("MMIO {} of {} bytes at {:#x}",
                               mmio.is_write ? "write" : "read", mmio.size,
                               mmio.address);
        }
        std::string operator()(const ExitHlt &) const { return "HLT"; }
        std::string operator()(const ExitShutdown &) const
        {
            return "SHUTDOWN";
        }
        std::string operator()(const ExitIoapicEoi &eoi) const
        {
            return fmt::format("IOAPIC_EOI vector {:#x}", eoi.vector);
        }
        std::string operator()(const ExitInternalError &error) const
        {
            return fmt::format("INTERNAL_ERROR suberror {}", error.suberror);
        }
        std::string operator()(const ExitFailEntry &fail) const
        {
            return fmt::format("FAIL_ENTRY reason {:#x}", fail.reason);
        }
        std::string operator()(const ExitInterrupted &) const
        {
            return "interrupted";
        }
        std::string operator()(const ExitUnknown &unknown) const
        {
            return fmt::format("exit reason {}", unknown.reason);
        }
    };
    return std::visit(Describe {}, exit);
}

TestVm::TestVm(System &system, std::unique_ptr<Vm> vm)
    : m_system(system)
    , m_vm(std::move(vm))
{
}

qapi::Result<std::unique_ptr<TestVm>>
TestVm::create(System &system, Irqchip irqchip, size_t ram_size)
{
    std::unique_ptr<Vm> vm = TRY(system.create_vm());
    std::unique_ptr<TestVm> test_vm(new TestVm(system, std::move(vm)));
    switch (irqchip) {
    case Irqchip::None:
        break;
    case Irqchip::Split:
        TRY(test_vm->vm().enable_cap(Cap::SplitIrqchip,
                                     { SPLIT_IRQCHIP_PINS, 0, 0, 0 }));
        break;
    case Irqchip::Kernel:
        TRY(test_vm->vm().create_irqchip());
        break;
    }
    TRY(test_vm->vm().set_tss_addr(TSS_ADDRESS));
    test_vm->m_ram = TRY(hw::x86::GuestRam::create(*test_vm->m_vm, ram_size));
    return test_vm;
}

qapi::Result<Vcpu *> TestVm::add_vcpu(uint32_t id)
{
    std::unique_ptr<Vcpu> vcpu = TRY(m_vm->create_vcpu(id));
    m_vcpus.push_back(std::move(vcpu));
    return m_vcpus.back().get();
}

qapi::Result<void> TestVm::load(const guest::GuestPayload &payload)
{
    return hw::x86::load_payload(*m_ram, payload);
}

qapi::Result<void> set_cpuid(System &system, Vcpu &vcpu, bool x2apic)
{
    std::vector<CpuidEntry> cpuid = TRY(system.get_supported_cpuid());
    auto leaf =
        std::find_if(cpuid.begin(), cpuid.end(), [](const CpuidEntry &entry) {
            return entry.function == CPUID_LEAF_FEATURES;
        });
    if (leaf == cpuid.end()) {
        return qapi::Error::format(
            "{}: no CPUID leaf 1 in KVM_GET_SUPPORTED_CPUID", system.name());
    }
    if (x2apic) {
        leaf->ecx |= CPUID_EXT_X2APIC;
    } else {
        leaf->ecx &= ~CPUID_EXT_X2APIC;
    }
    return vcpu.set_cpuid(cpuid);
}

qapi::Result<void> set_apic_base(Vcpu &vcpu, bool x2apic)
{
    const hw::x86::ApicMode mode =
        x2apic ? hw::x86::ApicMode::X2apic : hw::x86::ApicMode::Xapic;
    if (!TRY(hw::x86::set_apic_base(vcpu, mode))) {
        return qapi::Error::format("KVM_SET_MSRS(APICBASE={:#x}) refused",
                                   hw::x86::apic_base(vcpu.id(), mode));
    }
    return {};
}

qapi::Result<void> set_spiv(Vcpu &vcpu, uint32_t spiv)
{
    LapicState lapic = TRY(vcpu.get_lapic());
    lapic.set_reg(APIC_SPIV, spiv);
    return vcpu.set_lapic(lapic);
}

qapi::Result<void> enter_real_mode(Vcpu &vcpu, const RealModeStart &start)
{
    return hw::x86::set_entry_state(
        vcpu, hw::x86::CpuEntry { .mode = hw::x86::EntryMode::Real,
                                  .ip = start.entry,
                                  .sp = start.stack_top,
                                  .rax = start.rax,
                                  .rbx = start.rbx,
                                  .rcx = start.rcx,
                                  .rdx = start.rdx });
}

RoutingEntry level_msi_route(uint32_t gsi, uint32_t dest_id, uint8_t vector)
{
    return RoutingEntry {
        .gsi = gsi,
        .type = RoutingEntry::Type::Msi,
        .msi =
            MsiMessage {
                .address_lo = MSI_ADDRESS_BASE | (dest_id & 0xff) << 12,
                .address_hi = 0,
                .data = vector | MSI_DATA_LEVEL,
            },
    };
}

MsiMessage fixed_msi(uint32_t dest_id, uint8_t vector)
{
    return MsiMessage {
        .address_lo = MSI_ADDRESS_BASE | (dest_id & 0xff) << 12,
        .address_hi = 0,
        .data = vector,
    };
}

qapi::Result<void> run_probe_until_idle(Vcpu &vcpu, ProbeLog &log,
                                        int idle_reports)
{
    namespace probe = guest::eoi_probe;
    int interrupted = 0;
    for (int exits = 0; exits < MAX_EXITS_PER_PHASE; ++exits) {
        VcpuExit exit = TRY(vcpu.run());
        if (std::holds_alternative<ExitInterrupted>(exit)) {
            if (log.idle_reports >= idle_reports) {
                return {};
            }
            if (++interrupted >= MAX_INTERRUPTED_RUNS_PER_PHASE) {
                return qapi::Error::format(
                    "eoi-probe: still not idle after {} interrupted runs",
                    interrupted);
            }
            continue;
        }
        if (const auto *eoi = std::get_if<ExitIoapicEoi>(&exit)) {
            log.eoi_exit_vectors.push_back(eoi->vector);
            continue;
        }
        if (const auto *mmio = std::get_if<ExitMmio>(&exit)) {
            if (mmio->is_write && mmio->address == probe::IOAPIC_EOI_REGISTER &&
                mmio->size == 4) {
                log.ioapic_eoi_writes.push_back(mmio->value);
                continue;
            }
            return unexpected_exit(exit);
        }
        const auto *io = std::get_if<ExitIo>(&exit);
        if (io == nullptr || io->direction != ExitIo::Direction::Out) {
            return unexpected_exit(exit);
        }
        switch (io->port) {
        case probe::PORT_LVR:
            log.lvr = io->value;
            break;
        case probe::PORT_SVR:
            log.svr = io->value;
            break;
        case probe::PORT_HANDLER_ENTERED:
            ++log.handler_entries;
            break;
        case probe::PORT_LAPIC_EOI_DONE:
            ++log.lapic_eois;
            break;
        case probe::PORT_IOAPIC_EOI_DONE:
            ++log.ioapic_eois_reported;
            break;
        case probe::PORT_IDLE:
            ++log.idle_reports;
            log.idle_counts.push_back(io->value);
            break;
        default:
            return unexpected_exit(exit);
        }
    }
    return qapi::Error::format("eoi-probe: more than {} exits",
                               MAX_EXITS_PER_PHASE);
}

} // namespace kvm_test
