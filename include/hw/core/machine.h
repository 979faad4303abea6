/*
 * The machine: QEMU's MachineState / MachineClass.
 *
 * Machine types are classes: every pc-q35-X.Y-machine is a PCMachineState
 * whose class carries the version's data (description, alias, compat list,
 * limits).  The machine's compat list goes into the context's machine slot
 * before the machine object exists (QEMU's qemu_create_machine), so every
 * device and the accelerator see it from their creation on.
 */
#pragma once

#include "hw/core/qdev.h"
#include "qom/compat-property.h"
#include "qom/global-props.h"
#include "qom/object.h"

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace hw {

inline constexpr std::string_view TYPE_MACHINE = "machine";
inline constexpr std::string_view TYPE_MACHINE_SUFFIX = "-machine";

/// -smp: QEMU's SMPConfiguration after defaults are filled in.  Every
/// count is at least 1, and the product of the hierarchy is max_cpus, at
/// most the machine's max_cpus (machine_parse_smp_config guarantees it).
struct CpuTopology {
    unsigned cpus { 1 };
    unsigned max_cpus { 1 };
    unsigned sockets { 1 };
    unsigned dies { 1 };
    unsigned cores { 1 };
    unsigned threads { 1 };
};

/// -smp as given (QEMU's QAPI SMPConfiguration: each member an optional
/// 'int').  Values are whatever the user wrote, negative and huge ones too;
/// machine_parse_smp_config() refuses the ones no machine can have.
struct SMPConfiguration {
    std::optional<int64_t> cpus;
    std::optional<int64_t> maxcpus;
    std::optional<int64_t> sockets;
    std::optional<int64_t> dies;
    std::optional<int64_t> cores;
    std::optional<int64_t> threads;
};

/// The topology levels a machine supports and how it fills the gaps
/// (QEMU's SMPCompatProps).
struct SMPCompatProps {
    /// Fill an omitted level preferring sockets over cores (machines
    /// before 6.2) rather than cores over sockets.
    bool prefer_sockets { false };
    bool dies_supported { false };
};

class MachineClass : public qom::ObjectClass {
public:
    /// The -M name: the QOM type name without "-machine" (QEMU's mc->name).
    std::string machine_name;
    std::string desc;
    /// "q35" / "pc" for the newest versions, empty otherwise.
    std::string alias;
    bool is_default { false };
    /// Non-empty when deprecated (QEMU's deprecation_reason).
    std::string deprecation_reason;
    unsigned min_cpus { 1 };
    unsigned max_cpus { 1 };
    SMPCompatProps smp_props;
    /// What kernel-irqchip means when nobody set it: split or on.
    bool default_kernel_irqchip_split { false };
    /// Applied to every new device and accelerator, in order.
    std::vector<qom::CompatProperty> compat_props;
    /// The table each compat entry came from, parallel to compat_props.
    std::vector<std::string> compat_origins;

    /// compat_props bound to `registry` (the registry this class belongs
    /// to), built on first use and shared by every machine of this class.
    std::shared_ptr<const qom::CompatList>
    compat_list(const qom::TypeRegistry &registry) const;

private:
    mutable std::once_flag m_compat_list_once;
    mutable std::shared_ptr<const qom::CompatList> m_compat_list;
};

class MachineState : public qom::Object {
public:
    static constexpr std::string_view type_name = TYPE_MACHINE;
    using Parent = qom::Object;
    using Class = MachineClass;

    const MachineClass &machine_class() const
    {
        return static_cast<const MachineClass &>(object_class());
    }

    const CpuTopology &smp() const { return m_smp; }
    void set_smp(const CpuTopology &smp) { m_smp = smp; }

    /// The accelerator chosen for this machine; set before init().
    qom::Object *accelerator() const { return m_accel; }
    void set_accelerator(qom::Object &accel) { m_accel = &accel; }

    /// QEMU's MachineClass::init: builds the board.  Runs after the
    /// accelerator object exists and before -device devices are created.
    virtual qapi::Result<void> init() = 0;

    /// "/machine/unattached", created with the machine.
    qom::Object &unattached() const { return *child("unattached"); }

    static void register_properties(qom::ObjectClass &oc);

private:
    CpuTopology m_smp {};
    qom::Object *m_accel { nullptr };
};

/// QEMU's machine_parse_smp_config(): fills the omitted members, then
/// checks the topology against itself and the machine's CPU limits, in
/// QEMU's order and with QEMU's texts.  The arithmetic is checked, so no
/// combination of values wraps into a small or zero count: a hierarchy
/// whose product does not fit is refused like any other too large one.
qapi::Result<CpuTopology> machine_parse_smp_config(const SMPConfiguration &config,
                                                   const MachineClass &mc);

/// Adds "machine" (abstract) to the registry.
void machine_register_types(qom::TypeRegistry &registry);

/// Every concrete machine class, in registration order.
std::vector<const MachineClass *>
machine_classes(const qom::TypeRegistry &registry);

/// QEMU's find_machine(): by name or alias; nullptr when unknown.
const MachineClass *find_machine(const qom::TypeRegistry &registry,
                                 std::string_view name);
/// The single class with is_default, or nullptr.
const MachineClass *find_default_machine(const qom::TypeRegistry &registry);

/// QEMU's qemu_create_machine(): installs the class's compat list in the
/// machine slot, creates the machine object as "/machine" and its
/// "/machine/unattached" container.
qapi::Result<qom::Ref<MachineState>>
create_machine(qom::Context &ctx, const MachineClass &mc);

} // namespace hw
