/*
 * A VM's state as a migration stream (QEMU's qemu_savevm_state and
 * qemu_loadvm_state over what seoib-vm builds), and the SEOIB policy of an
 * incoming VM (design §4.5).
 *
 * What migrates: every realized device with a vmstate() -- the vCPUs
 * ("cpu", instance = CPU index), the IOAPIC ("ioapic"), seoib-testdev --
 * guest RAM as QEMU's "ram" section (block "pc.ram"), and
 * "x86-seoib-state" (version 1: the effective policy), sent first and only
 * when the policy is not quirked, so a quirked VM's stream is one a QEMU
 * without the RFC reads.
 *
 * Loading: the devices and RAM load as the stream comes; the vCPUs' KVM
 * state is only put after the whole stream is in, once the policy the
 * source ran with is known and its flags are set, since KVM_SET_LAPIC
 * recomputes the LVR from them.
 */
#pragma once

#include "migration/qemu-file.h"
#include "migration/ram.h"
#include "migration/vmstate.h"
#include "qapi/qapi-types.h"
#include "qapi/result.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

namespace sysemu {

class Vm;

/// The "x86-seoib-state" section (version 1): the effective policy, one
/// byte.  The numbers are the stream's (0 quirked, 1 respected,
/// 2 not-advertised), fixed here, not the QAPI enum's order.  Public so that
/// an embedding VMM (the C API) writes and reads the very bytes seoib-vm
/// does.
inline constexpr std::string_view SEOIB_STATE_IDSTR = "x86-seoib-state";
inline constexpr int SEOIB_STATE_VERSION = 1;

struct SeoibState {
    uint8_t policy { 0 };
    /// Set by post_load once `policy` was checked.
    bool loaded { false };
};

/// The section's description; post_load refuses a byte that is no policy.
migration::VMStateDescription<SeoibState> vmstate_seoib_state();
/// The stream byte of an effective policy (auto and quirked: 0).
uint8_t seoib_policy_to_stream(qapi::SeoibPolicy policy);
/// The policy a stream byte stands for; nullopt for any other byte.
std::optional<qapi::SeoibPolicy> seoib_policy_from_stream(uint8_t value);

/// What a save sent.
struct VmSaveStats {
    migration::RAMStats ram;
    uint64_t ram_total { 0 };
    uint64_t bytes { 0 };
};

/// A live (pre-copy) save, in steps a main loop calls while the guest
/// runs (QEMU's migration thread): start() writes the header and RAM's
/// setup and turns KVM's dirty log on; iterate() sends up to its budget of
/// pages; once pending() fits the downtime the caller stops the guest and
/// calls complete(), which reads the vCPUs and writes the rest.  Dirty
/// logging ends with the object.
class OutgoingMigration {
public:
    static qapi::Result<std::unique_ptr<OutgoingMigration>>
    start(Vm &vm, migration::StreamWriter &f, uint64_t bytes_per_iteration);
    ~OutgoingMigration();
    OutgoingMigration(const OutgoingMigration &) = delete;
    OutgoingMigration &operator=(const OutgoingMigration &) = delete;

    /// One PART section of RAM, within the budget; true when every page
    /// of the current pass has been sent.
    qapi::Result<bool> iterate();
    /// Syncs the dirty log -- the start of a new pass -- and returns the
    /// bytes of RAM it makes dirty.  Call when a pass has been sent.
    uint64_t pending();
    /// Dirty-log syncs so far (QEMU's dirty-sync-count: passes).
    uint64_t passes() const { return m_passes; }
    /// With the guest stopped.
    qapi::Result<VmSaveStats> complete();
    VmSaveStats stats() const;

private:
    struct Parts;
    explicit OutgoingMigration(std::unique_ptr<Parts> parts, migration::StreamWriter &f);

    std::unique_ptr<Parts> m_parts;
    migration::StreamWriter &m_f;
    uint64_t m_start_bytes { 0 };
    uint64_t m_passes { 0 };
};

/// Reads a stream into `vm` (built with -incoming: its policy pending),
/// then applies the source's policy and puts the vCPUs' state.  Errors
/// name what was wrong and what to change; on error the guest must not
/// run.
/// What a load brought.
struct VmLoadResult {
    /// The stream had the built-in guest's device: the guest was running
    /// on the source and carries on; without it, it boots here.
    bool guest_running { false };
};
/// Where a stream is loaded: a VM started with -incoming or -loadvm,
/// whose policy waits for it, or one already running (loadvm), whose
/// policy the stream must match.
enum class LoadInto { Incoming, RunningVm };

/// `undo`, where given, keeps what the load changes in guest RAM.
qapi::Result<VmLoadResult> load_vm_state(Vm &vm, migration::StreamReader &f,
                                         LoadInto into = LoadInto::Incoming,
                                         migration::RAMUndoLog *undo = nullptr);

/// Every section but RAM, with the guest stopped: with a RAMUndoLog, what
/// it takes to put a VM back after a load into it failed half-way.
qapi::Result<void> save_device_state(Vm &vm, migration::StreamWriter &f);

} // namespace sysemu
