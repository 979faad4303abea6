/*
 * The savevm stream (QEMU's migration/savevm.c): header, configuration,
 * sections, footers, EOF and the JSON VM description.
 *
 *   be32 QEMU_VM_FILE_MAGIC "QEVM"   be32 QEMU_VM_FILE_VERSION 3
 *   QEMU_VM_CONFIGURATION  the "configuration" VMState (machine type)
 *   sections, each:
 *     START/FULL  type u8, section_id be32, idstr (u8 len + bytes),
 *                 instance_id be32, version_id be32, body
 *     PART/END    type u8, section_id be32, body
 *     footer      QEMU_VM_SECTION_FOOTER u8, section_id be32
 *   QEMU_VM_EOF
 *   QEMU_VM_VMDESCRIPTION u8, be32 length, JSON
 *
 * A SaveVM is QEMU's savevm_state: the registry of state handlers of one
 * VM.  Device state registers as a VMState section (sent FULL, once, at the
 * end); bulk state that is sent while the guest runs (RAM) registers
 * SaveVMHandlers and is sent START, PART..., END.  Sections are written in
 * priority order (higher first), then in registration order; section ids
 * are given in registration order, from 1.
 */
#pragma once

#include "migration/qemu-file.h"
#include "migration/vmstate.h"
#include "qapi/qobject.h"
#include "qapi/result.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace migration {

inline constexpr uint32_t QEMU_VM_FILE_MAGIC = 0x5145564d;
inline constexpr uint32_t QEMU_VM_FILE_VERSION_COMPAT = 0x00000002;
inline constexpr uint32_t QEMU_VM_FILE_VERSION = 0x00000003;

inline constexpr uint8_t QEMU_VM_EOF = 0x00;
inline constexpr uint8_t QEMU_VM_SECTION_START = 0x01;
inline constexpr uint8_t QEMU_VM_SECTION_PART = 0x02;
inline constexpr uint8_t QEMU_VM_SECTION_END = 0x03;
inline constexpr uint8_t QEMU_VM_SECTION_FULL = 0x04;
// QEMU_VM_SUBSECTION 0x05 is in vmstate.h.
inline constexpr uint8_t QEMU_VM_VMDESCRIPTION = 0x06;
inline constexpr uint8_t QEMU_VM_CONFIGURATION = 0x07;
inline constexpr uint8_t QEMU_VM_COMMAND = 0x08;
inline constexpr uint8_t QEMU_VM_SECTION_FOOTER = 0x7e;

/// The target page size the VM description announces (x86).
inline constexpr uint64_t TARGET_PAGE_SIZE = 4096;
inline constexpr uint32_t TARGET_PAGE_BITS = 12;

/// QEMU's MigrationPriority: sections of higher priority are saved (and
/// so loaded) first.  Seoib adds SeoibPolicy so that x86-seoib-state
/// precedes every CPU and LAPIC section.
enum class MigrationPriority : int {
    Default = 0,
    Iommu,
    PciBus,
    VirtioMem,
    GicV3Its,
    GicV3,
    /// x86-seoib-state: the loader applies the policy before any vCPU.
    SeoibPolicy,
    Max,
};

/// Handlers of an iterative section (QEMU's SaveVMHandlers for "live"
/// state such as RAM).  The body of each START/PART/END section is
/// whatever the handler writes; it must be self-delimiting.
class SaveVMHandlers {
public:
    virtual ~SaveVMHandlers() = default;
    /// The START section's body.
    virtual qapi::Result<void> save_setup(StreamWriter &f) = 0;
    /// One PART section's body; true when nothing is left to send.
    virtual qapi::Result<bool> save_iterate(StreamWriter &f) = 0;
    /// The END section's body, written with the guest stopped.
    virtual qapi::Result<void> save_complete(StreamWriter &f) = 0;
    /// Bytes still to send (QEMU's state_pending_exact); may sync dirty logs.
    virtual uint64_t pending_exact() = 0;
    /// Read the body of one START, PART or END section.
    virtual qapi::Result<void> load(StreamReader &f, int version_id) = 0;
};

/// How load_state() checks and reports the stream.
struct LoadOptions {
    /// The local machine type; the configuration section must carry it.
    std::string machine_type;
    /// Run after a START/FULL section's header was read and accepted,
    /// before its body is: the caller may act between sections (apply the
    /// SEOIB policy before the first "cpu" or "apic" section).  An error
    /// fails the load.
    std::function<qapi::Result<void>(std::string_view idstr,
                                     uint32_t instance_id)>
        before_section;
    /// Run after a section (any type) and its footer were loaded.
    std::function<qapi::Result<void>(std::string_view idstr,
                                     uint32_t instance_id)>
        after_section;
};

/// What load_state() read.
struct LoadResult {
    /// The machine type of the configuration section.
    std::string machine_type;
    /// idstr of each START and FULL section, in stream order.
    std::vector<std::string> sections;
    /// The JSON VM description, when the stream has one.
    std::optional<qapi::QObject> vmdesc;
};

/// The state handlers of one VM and the stream they make (QEMU's
/// savevm_state).  Not copyable; handlers and objects registered must
/// outlive it or be unregistered.
class SaveVM {
public:
    SaveVM();
    ~SaveVM();
    SaveVM(const SaveVM &) = delete;
    SaveVM &operator=(const SaveVM &) = delete;

    /// A device section (QEMU's vmstate_register): `opaque` described by
    /// `vmsd`, sent FULL as (idstr, instance_id) at vmsd's version, and
    /// only when vmsd.needed(opaque).
    /// Error: the pair is taken.
    template <typename T>
    qapi::Result<void>
    register_vmstate(std::string idstr, uint32_t instance_id,
                     VMStateDescription<T> vmsd, T &opaque,
                     MigrationPriority priority = MigrationPriority::Default)
    {
        return register_instance(std::move(idstr), instance_id,
                                 bind_vmstate(std::move(vmsd), opaque),
                                 priority);
    }
    qapi::Result<void> register_instance(std::string idstr,
                                         uint32_t instance_id,
                                         std::unique_ptr<VMStateInstance> vmsd,
                                         MigrationPriority priority);

    /// An iterative section (QEMU's register_savevm_live).
    /// Error: the pair is taken.
    qapi::Result<void>
    register_live(std::string idstr, uint32_t instance_id, int version_id,
                  SaveVMHandlers &handlers,
                  MigrationPriority priority = MigrationPriority::Default);

    /// Remove a section; false when there was none.
    bool unregister(std::string_view idstr, uint32_t instance_id);

    /// A whole stream with the guest stopped (QEMU's qemu_savevm_state):
    /// header, setup, iterations until the live handlers are done,
    /// complete.  Flushes `f`.
    qapi::Result<void> save_state(StreamWriter &f,
                                  std::string_view machine_type);

    // The live pieces, in this order, for a migration thread: header and
    // setup while the guest runs, iterate until pending_exact() fits the
    // downtime, stop the guest, complete.
    qapi::Result<void> save_header(StreamWriter &f,
                                   std::string_view machine_type);
    qapi::Result<void> save_setup(StreamWriter &f);
    /// One PART section per live handler not yet done; true when all are.
    qapi::Result<bool> save_iterate(StreamWriter &f);
    /// Sum of the live handlers' pending_exact().
    uint64_t pending_exact();
    /// END sections, the device sections (FULL), EOF and the VM
    /// description.  Flushes `f`.
    qapi::Result<void> save_complete(StreamWriter &f);

    /// The VM description the last save_complete() wrote.
    const qapi::QObject &vmdesc() const { return m_vmdesc; }

    /// Read a stream and load each section into its handler (QEMU's
    /// qemu_loadvm_state).  Every error names what was being read and,
    /// inside a section, the section; the texts are QEMU's where QEMU has
    /// one ("Unknown savevm section or instance '%s' %u. ...",
    /// "savevm: unsupported version %d for '%s' v%d", "Machine type
    /// received is '%.*s' and local is '%s'").  Never aborts on stream
    /// contents; on error the handlers may be partly loaded.
    qapi::Result<LoadResult> load_state(StreamReader &f,
                                        const LoadOptions &options);

private:
    struct Entry;
    qapi::Result<void> add(std::unique_ptr<Entry> entry);
    Entry *find(std::string_view idstr, uint32_t instance_id);

    std::vector<std::unique_ptr<Entry>> m_entries;
    // Not 0: QEMU's loader finds the handler of a PART or END section by
    // load_section_id, which is 0 in every handler it has not seen a START
    // or FULL for, so a PART with id 0 goes to the wrong one (its "timer").
    uint32_t m_next_section_id { 1 };
    qapi::QObject m_vmdesc;
};

} // namespace migration
