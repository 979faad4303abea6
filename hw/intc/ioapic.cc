#include "hw/intc/ioapic.h"

#include "hw/intc/ioapic-core.h"
#include "hw/intc/ioapic-kvm-output.h"
#include "qom/type-registry.h"

#include <fmt/format.h>

#include <chrono>

namespace hw::intc {

qapi::Result<void> ioapic_check_version(uint8_t version)
{
    if (version != 0x11 && version != 0x20) {
        return qapi::Error(
            "IOAPIC only supports version 0x11 or 0x20 (default: 0x20).");
    }
    return {};
}

IOAPICCommonState::~IOAPICCommonState() = default;

/// Until the board wires an output, messages have nowhere to go.
class IOAPICState::DefaultOutput final : public IOAPICOutput {
public:
    void deliver(unsigned, const IOAPICMessage &) override { }
    void route_changed(unsigned, const IOAPICMessage &, bool) override { }
};

/// The host's monotonic clock, polled from the run loop.
class IOAPICState::MonotonicTimer final : public TimerHost {
public:
    uint64_t now_ns() const override
    {
        return static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::chrono::steady_clock::now().time_since_epoch())
                .count());
    }
    void arm(uint64_t deadline_ns) override { m_deadline = deadline_ns; }
    void cancel() override { m_deadline.reset(); }
    bool expired() const { return m_deadline && now_ns() >= *m_deadline; }
    void clear() { m_deadline.reset(); }

private:
    std::optional<uint64_t> m_deadline;
};

IOAPICState::IOAPICState()
    : m_default_output(std::make_unique<DefaultOutput>())
    , m_default_timer(std::make_unique<MonotonicTimer>())
    , m_output(m_default_output.get())
    , m_timer(m_default_timer.get())
    , m_guest_errors([this](std::string_view msg) {
        context().guest_error(fmt::format("ioapic: guest error: {}", msg));
    })
{
}

IOAPICState::~IOAPICState() = default;

void IOAPICState::class_init(qdev::DeviceClass &dc)
{
    dc.desc = "I/O Advanced Programmable Interrupt Controller (userspace)";
}

void IOAPICState::register_properties(qom::ObjectClass &oc)
{
    oc.add_property(qom::make_property(
        qom::prop("version", &IOAPICState::m_version)
            .default_value(IOAPIC_VER_DEF)
            .doc("IOAPIC version: 0x11 (no EOI register) or 0x20")));
}

void IOAPICState::set_output(IOAPICOutput &output)
{
    m_output = &output;
}

void IOAPICState::connect_kvm_split_irqchip(accel::kvm::Vm &vm)
{
    m_kvm_output = std::make_unique<KVMSplitIOAPICOutput>(vm);
    m_output = m_kvm_output.get();
}

void IOAPICState::set_timer_host(TimerHost &timer)
{
    m_timer = &timer;
}

qapi::Result<void> IOAPICState::do_realize()
{
    TRY(ioapic_check_version(m_version));
    m_core = std::make_unique<IOAPICCore>(m_version, *m_output, *m_timer,
                                          m_guest_errors);
    return {};
}

std::unique_ptr<migration::VMStateInstance> IOAPICState::vmstate()
{
    using migration::member;
    auto version_vmsd =
        migration::vmstate<IOAPICState>("ioapic/version")
            .version(1)
            .minimum_version(1)
            .field("version", member(&IOAPICState::m_migrated, &Migrated::version))
            // The default IOAPIC's stream is QEMU's own, which a QEMU that
            // has no such subsection still loads.
            .needed([](const IOAPICState &s) { return s.m_migrated.version != 0x20; })
            .build();
    auto vmsd =
        migration::vmstate<IOAPICState>("ioapic")
            .version(3)
            .minimum_version(1)
            .pre_save([](IOAPICState &s) -> qapi::Result<void> {
                const IOAPICRegs &regs = s.core().regs();
                s.m_migrated = Migrated {
                    .id = regs.id,
                    .ioregsel = static_cast<uint8_t>(regs.ioregsel),
                    .irr = regs.irr,
                    .ioredtbl = regs.ioredtbl,
                    .version = s.m_version,
                };
                return {};
            })
            .pre_load([](IOAPICState &s) -> qapi::Result<void> {
                // A stream without the subsection comes from a version
                // 0x20 IOAPIC (or from QEMU, whose default it is).
                s.m_migrated.version = 0x20;
                return {};
            })
            .field("id", member(&IOAPICState::m_migrated, &Migrated::id))
            .field("ioregsel", member(&IOAPICState::m_migrated, &Migrated::ioregsel))
            .unused(8)
            .since(2)
            .field("irr", member(&IOAPICState::m_migrated, &Migrated::irr))
            .since(2)
            .field("ioredtbl", member(&IOAPICState::m_migrated, &Migrated::ioredtbl))
            .subsection(std::move(version_vmsd))
            .post_load([](IOAPICState &s, int) -> qapi::Result<void> {
                const Migrated &m = s.m_migrated;
                if (m.version != s.m_version) {
                    // The guest would see another IOAPIC than the one it
                    // programmed (an EOI register appearing or vanishing).
                    return qapi::Error::format(
                        "the source's IOAPIC is version 0x{:02x} but this "
                        "VM's is 0x{:02x}; start the destination with "
                        "-global ioapic.version=0x{:02x}",
                        m.version, s.m_version, m.version);
                }
                IOAPICRegs &regs = s.core().regs();
                regs.id = m.id;
                regs.ioregsel = m.ioregsel;
                regs.irr = m.irr;
                regs.ioredtbl = m.ioredtbl;
                s.core().post_load();
                return {};
            })
            .build();
    return migration::bind_vmstate(std::move(vmsd), *this);
}

IOAPICCore &IOAPICState::core()
{
    assert(m_core && "the IOAPIC is realized");
    return *m_core;
}

uint64_t IOAPICState::mmio_read(uint64_t offset, unsigned size)
{
    return core().mmio_read(offset, size);
}

void IOAPICState::mmio_write(uint64_t offset, uint64_t value, unsigned size)
{
    core().mmio_write(offset, value, size);
}

void IOAPICState::set_irq(unsigned pin, bool level)
{
    core().set_irq(pin, level);
}

void IOAPICState::eoi_broadcast(uint8_t vector)
{
    core().eoi_broadcast(vector);
}

void IOAPICState::run_timers()
{
    if (m_core && m_timer == m_default_timer.get() &&
        m_default_timer->expired()) {
        m_default_timer->clear();
        m_core->timer_expired();
    }
}

void KVMIOAPICState::register_properties(qom::ObjectClass &oc)
{
    oc.add_property(qom::make_property(
        qom::prop("gsi_base", &KVMIOAPICState::m_gsi_base)
            .default_value(0)
            .doc("first GSI of this IOAPIC")));
}

void ioapic_register_types(qom::TypeRegistry &registry)
{
    registry.add<IOAPICCommonState>({ .abstract = true });
    registry.add<IOAPICState>();
    registry.add<KVMIOAPICState>({
        .class_init = [](qdev::DeviceClass &dc) {
            dc.desc = "I/O Advanced Programmable Interrupt Controller (KVM "
                      "in-kernel)";
        },
    });
}

} // namespace hw::intc
