/*
 * Saving and loading a VM's state: which sections it has, and the order of
 * work around the stream (vCPU state read before, put after).
 */
#include "system/vm-migration.h"

#include "accel/kvm/kvm-accel.h"
#include "hw/i386/pc.h"
#include "hw/i386/x86-cpu.h"
#include "hw/misc/seoib-testdev.h"
#include "migration/savevm.h"
#include "system/vm.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sysemu {

constexpr uint8_t STREAM_QUIRKED = 0;
constexpr uint8_t STREAM_RESPECTED = 1;
constexpr uint8_t STREAM_NOT_ADVERTISED = 2;

uint8_t seoib_policy_to_stream(qapi::SeoibPolicy policy)
{
    switch (policy) {
    case qapi::SeoibPolicy::Respected:
        return STREAM_RESPECTED;
    case qapi::SeoibPolicy::NotAdvertised:
        return STREAM_NOT_ADVERTISED;
    case qapi::SeoibPolicy::Auto:
    case qapi::SeoibPolicy::Quirked:
        break;
    }
    return STREAM_QUIRKED;
}

std::optional<qapi::SeoibPolicy> seoib_policy_from_stream(uint8_t value)
{
    switch (value) {
    case STREAM_QUIRKED:
        return qapi::SeoibPolicy::Quirked;
    case STREAM_RESPECTED:
        return qapi::SeoibPolicy::Respected;
    case STREAM_NOT_ADVERTISED:
        return qapi::SeoibPolicy::NotAdvertised;
    default:
        return std::nullopt;
    }
}

migration::VMStateDescription<SeoibState> vmstate_seoib_state()
{
    return migration::vmstate<SeoibState>(std::string(SEOIB_STATE_IDSTR))
        .version(SEOIB_STATE_VERSION)
        .minimum_version(SEOIB_STATE_VERSION)
        .field("policy", &SeoibState::policy)
        .post_load([](SeoibState &s, int) -> qapi::Result<void> {
            if (!seoib_policy_from_stream(s.policy)) {
                return qapi::Error::format("{}: {} is not a SEOIB policy",
                                           SEOIB_STATE_IDSTR, s.policy);
            }
            s.loaded = true;
            return {};
        })
        .build();
}

namespace {

using accel::kvm::KVMAccel;

constexpr std::string_view RAM_BLOCK_NAME = "pc.ram";

void collect_devices(qom::Object &obj, std::vector<qdev::DeviceState *> &out)
{
    if (auto *dev = qom::dyn_cast<qdev::DeviceState>(&obj); dev && dev->realized()) {
        out.push_back(dev);
    }
    obj.for_each_child([&out](qom::Object &child) { collect_devices(child, out); });
}

/// KVM's dirty log of the guest RAM slot, as RAM's dirty bitmap wants it.
class KvmDirtyLog final : public migration::DirtyBitmapProvider {
public:
    explicit KvmDirtyLog(accel::kvm::Vm &vm)
        : m_vm(vm)
    {
    }
    void sync_dirty(size_t, const migration::RAMBlock &, std::vector<bool> &dirty) override
    {
        ++syncs;
        auto log = m_vm.get_dirty_log(hw::x86::BOOT_RAM_SLOT);
        if (!log) {
            // Without a log every page counts as dirty: nothing is missed.
            error = log.error().message();
            std::fill(dirty.begin(), dirty.end(), true);
            return;
        }
        for (size_t page = 0; page < dirty.size(); ++page) {
            if (log.value().test(page)) {
                dirty[page] = true;
            }
        }
    }

    uint64_t syncs { 0 };
    std::optional<std::string> error;

private:
    accel::kvm::Vm &m_vm;
};

/// The sections of `vm`, registered in a SaveVM, and what they write into.
class VmSections {
public:
    /// `dirty`: what the guest wrote since the last pass, for a save while
    /// it runs (none on load).  Without `with_ram` the sections are the
    /// devices' alone.
    static qapi::Result<std::unique_ptr<VmSections>>
    create(Vm &vm, bool incoming, migration::DirtyBitmapProvider *dirty = nullptr,
           bool with_ram = true)
    {
        auto *kvm = qom::dyn_cast<KVMAccel>(&vm.accel());
        auto *machine = qom::dyn_cast<hw::x86::X86MachineState>(&vm.machine());
        if (kvm == nullptr || machine == nullptr) {
            return qapi::Error("migration needs an x86 machine with the kvm accelerator");
        }
        std::unique_ptr<VmSections> s(new VmSections(*kvm, *machine));
        // The policy first: the destination knows it before any vCPU.
        const bool quirked = !kvm->seoib() || kvm->policy_pending() ||
                             kvm->seoib()->effective == qapi::SeoibPolicy::Quirked;
        if (incoming || !quirked) {
            if (!incoming) {
                s->m_seoib.policy = seoib_policy_to_stream(kvm->seoib()->effective);
            }
            TRY(s->m_savevm.register_vmstate(std::string(SEOIB_STATE_IDSTR), 0,
                                             vmstate_seoib_state(), s->m_seoib,
                                             migration::MigrationPriority::SeoibPolicy));
        }
        std::vector<qdev::DeviceState *> devices;
        collect_devices(vm.machine(), devices);
        std::map<std::string, uint32_t, std::less<>> next_instance;
        for (qdev::DeviceState *dev : devices) {
            std::unique_ptr<migration::VMStateInstance> state = dev->vmstate();
            if (!state) {
                continue;
            }
            std::string idstr = state->vmsd_name();
            uint32_t instance = next_instance[idstr]++;
            if (auto *cpu = qom::dyn_cast<hw::CPUState>(dev)) {
                instance = static_cast<uint32_t>(cpu->cpu_index());
            }
            TRY(s->m_savevm.register_instance(idstr, instance, std::move(state),
                                              migration::MigrationPriority::Default));
        }
        if (!with_ram) {
            return s;
        }
        hw::x86::GuestRam &ram = *TRY(vm.guest_ram());
        std::span<std::byte> bytes = ram.bytes();
        s->m_ram = std::make_unique<migration::RAMState>(std::vector<migration::RAMBlock> {
            migration::RAMBlock { std::string(RAM_BLOCK_NAME),
                                  { reinterpret_cast<uint8_t *>(bytes.data()), bytes.size() } } },
            dirty);
        TRY(s->m_ram->register_with(s->m_savevm));
        return s;
    }

    migration::SaveVM &savevm() { return m_savevm; }
    /// Only when created with RAM.
    migration::RAMState &ram() { return *m_ram; }
    KVMAccel &kvm() { return m_kvm; }
    hw::x86::X86MachineState &machine() { return m_machine; }
    const SeoibState &seoib() const { return m_seoib; }

private:
    VmSections(KVMAccel &kvm, hw::x86::X86MachineState &machine)
        : m_kvm(kvm)
        , m_machine(machine)
    {
    }

    KVMAccel &m_kvm;
    hw::x86::X86MachineState &m_machine;
    SeoibState m_seoib;
    std::unique_ptr<migration::RAMState> m_ram;
    // Last: sections refer to the members above.
    migration::SaveVM m_savevm;
};

} // namespace

/// QEMU's cpu_synchronize_all_states(): the vCPUs' registers into the CPU
/// objects, whose "cpu" sections then carry them.
qapi::Result<void> synchronize_cpus(VmSections &sections)
{
    for (const auto &cpu : sections.machine().cpus()) {
        cpu->migrated_env() = TRY(sections.kvm().get_vcpu_state(*cpu));
    }
    return {};
}

struct OutgoingMigration::Parts {
    std::unique_ptr<KvmDirtyLog> dirty;
    std::unique_ptr<VmSections> sections;
    hw::x86::GuestRam *guest_ram { nullptr };
    std::string machine_type;
};

qapi::Result<std::unique_ptr<OutgoingMigration>>
OutgoingMigration::start(Vm &vm, migration::StreamWriter &f, uint64_t bytes_per_iteration)
{
    auto *kvm = qom::dyn_cast<KVMAccel>(&vm.accel());
    if (kvm == nullptr) {
        return qapi::Error("migration needs an x86 machine with the kvm accelerator");
    }
    auto parts = std::make_unique<Parts>();
    parts->dirty = std::make_unique<KvmDirtyLog>(kvm->vm());
    parts->sections = TRY(VmSections::create(vm, false, parts->dirty.get()));
    parts->sections->ram().set_max_iterate_bytes(bytes_per_iteration);
    parts->guest_ram = TRY(vm.guest_ram());
    parts->machine_type = vm.machine().machine_class().machine_name;
    TRY(kvm->vm().set_user_memory_region(hw::x86::BOOT_RAM_SLOT, 0, parts->guest_ram->bytes(),
                                         accel::kvm::KVM_MEM_LOG_DIRTY_PAGES));
    std::unique_ptr<OutgoingMigration> out(new OutgoingMigration(std::move(parts), f));
    out->m_start_bytes = f.transferred();
    migration::SaveVM &savevm = out->m_parts->sections->savevm();
    TRY(savevm.save_header(f, out->m_parts->machine_type));
    TRY(savevm.save_setup(f));
    return out;
}

OutgoingMigration::OutgoingMigration(std::unique_ptr<Parts> parts, migration::StreamWriter &f)
    : m_parts(std::move(parts))
    , m_f(f)
{
}

OutgoingMigration::~OutgoingMigration()
{
    // Logging off again; a failure leaves only a log nobody reads.
    std::span<std::byte> bytes = m_parts->guest_ram->bytes();
    (void)m_parts->sections->kvm().vm().set_user_memory_region(hw::x86::BOOT_RAM_SLOT, 0, bytes, 0);
}

qapi::Result<bool> OutgoingMigration::iterate()
{
    bool sent_all = TRY(m_parts->sections->savevm().save_iterate(m_f));
    TRY(m_f.flush());
    if (m_parts->dirty->error) {
        return qapi::Error::format("KVM's dirty log: {}", *m_parts->dirty->error);
    }
    return sent_all;
}

uint64_t OutgoingMigration::pending()
{
    uint64_t bytes = m_parts->sections->savevm().pending_exact();
    m_passes = m_parts->dirty->syncs;
    return bytes;
}

qapi::Result<VmSaveStats> OutgoingMigration::complete()
{
    TRY(synchronize_cpus(*m_parts->sections));
    TRY(m_parts->sections->savevm().save_complete(m_f));
    return stats();
}

VmSaveStats OutgoingMigration::stats() const
{
    return VmSaveStats { .ram = m_parts->sections->ram().stats(),
                         .ram_total = m_parts->sections->ram().total_bytes(),
                         .bytes = m_f.transferred() - m_start_bytes };
}

qapi::Result<void> save_device_state(Vm &vm, migration::StreamWriter &f)
{
    std::unique_ptr<VmSections> sections = TRY(VmSections::create(vm, false, nullptr, false));
    TRY(synchronize_cpus(*sections));
    return sections->savevm().save_state(f, vm.machine().machine_class().machine_name);
}

qapi::Result<VmLoadResult> load_vm_state(Vm &vm, migration::StreamReader &f, LoadInto into,
                                         migration::RAMUndoLog *undo)
{
    std::unique_ptr<VmSections> sections = TRY(VmSections::create(vm, true));
    sections->ram().set_undo_log(undo);
    migration::LoadOptions options;
    options.machine_type = vm.machine().machine_class().machine_name;
    migration::LoadResult loaded = TRY(sections->savevm().load_state(f, options));

    // The source's policy, or quirked when it sent none, before any LAPIC.
    std::optional<qapi::SeoibPolicy> source;
    if (sections->seoib().loaded) {
        source = seoib_policy_from_stream(sections->seoib().policy);
    }
    std::vector<KVMAccel::LoadedVcpu> vcpus;
    for (const auto &cpu : sections->machine().cpus()) {
        if (!cpu->take_loaded_env()) {
            return qapi::Error::format("the stream has no state for CPU {}", cpu->cpu_index());
        }
        vcpus.push_back({ cpu.get(), &cpu->migrated_env() });
    }
    if (into == LoadInto::RunningVm) {
        // The snapshot's policy, on this KVM VM or on a new one.
        TRY(sections->kvm().load_into_running_vm(source, vcpus));
    } else {
        TRY(sections->kvm().apply_incoming_policy(source));
        // QEMU's cpu_synchronize_all_post_init().
        for (const KVMAccel::LoadedVcpu &v : vcpus) {
            auto put = sections->kvm().put_vcpu_state(*v.cpu, *v.state);
            if (!put) {
                return put.release_error().prepend(fmt::format("CPU {}: ", v.cpu->cpu_index()));
            }
        }
    }
    const auto &names = loaded.sections;
    return VmLoadResult { .guest_running = std::find(names.begin(), names.end(),
                                                     hw::misc::TYPE_SEOIB_TESTDEV) != names.end() };
}

} // namespace sysemu
