/*
 * The qcow2 image layer that internal snapshots (savevm/loadvm/delvm) store
 * into: the header, L1/L2 mapping, refcounts and the snapshot table of QEMU's
 * docs/interop/qcow2.txt, with QEMU's image locks.
 *
 * Contract:
 *  - Every error is a qapi::Error value; nothing an image file contains can
 *    reach an assert or abort.
 *  - Every modifying call leaves an image that `qemu-img check` accepts if it
 *    fails or the process dies at any point: leaked clusters at worst
 *    (docs/devel/qcow2.rst gives the write order).
 *  - After a failed modifying call the object refuses further modifications
 *    (its in-memory tables may be ahead of the file); reopen the image.
 */
#pragma once

#include "qapi/result.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace block {

/// One entry of the qcow2 snapshot table, as `qemu-img snapshot -l` shows it.
struct SnapshotInfo {
    std::string id;   // "1", "2", ... (QEMU's id_str)
    std::string name; // the tag
    uint64_t vm_state_size = 0;
    uint32_t date_sec = 0, date_nsec = 0;
    uint64_t vm_clock_nsec = 0;
    uint64_t icount = UINT64_MAX; // v3 extra data; UINT64_MAX = none, as QEMU
};

struct Qcow2State;

class Qcow2Image {
public:
    /// Opens PATH (qcow2 v2 or v3, any cluster size 512 B..2 MiB) and takes
    /// QEMU's image locks (file-posix.c's byte ranges 100+bit and 200+bit).
    /// read_only opens O_RDONLY and takes only shared locks.
    [[nodiscard]] static qapi::Result<std::unique_ptr<Qcow2Image>>
    open(const std::string &path, bool read_only);
    ~Qcow2Image(); // releases locks, closes

    Qcow2Image(const Qcow2Image &) = delete;
    Qcow2Image &operator=(const Qcow2Image &) = delete;

    const std::string &filename() const;
    uint64_t virtual_size() const;
    bool read_only() const;
    const std::vector<SnapshotInfo> &snapshots() const;
    /// QEMU's lookup order for savevm/loadvm/delvm names: by id first, then
    /// by name.
    std::optional<SnapshotInfo>
    find_snapshot(std::string_view id_or_name) const;
    /// savevm: writes vmstate into the VM-state area (past the virtual disk
    /// end, as QEMU's qcow2_vm_state_offset), then adds a snapshot-table entry
    /// (copy of the active L1, refcounts incremented), assigning the next free
    /// id when meta.id is empty.  The VM state ends up referenced by the
    /// snapshot's L1 only, as after QEMU drops it from the active L1.  A
    /// duplicate name or id is an error (QEMU's savevm replaces an existing
    /// tag: the caller deletes first).  meta.vm_state_size is ignored (it is
    /// vmstate.size()); the date, vm clock and icount are stored as given.
    /// Returns the entry as stored, with its id.
    [[nodiscard]] qapi::Result<SnapshotInfo>
    create_snapshot(SnapshotInfo meta, std::span<const uint8_t> vmstate);
    /// loadvm step 1: revert the active L1 to the snapshot's (QEMU's
    /// snapshot_goto).
    [[nodiscard]] qapi::Result<void> goto_snapshot(std::string_view id_or_name);
    /// loadvm step 2: the snapshot's vm state bytes (read through the
    /// snapshot's own L1).
    [[nodiscard]] qapi::Result<std::vector<uint8_t>>
    read_vmstate(std::string_view id_or_name);
    [[nodiscard]] qapi::Result<void>
    delete_snapshot(std::string_view id_or_name);

    /// Cluster size in bytes (512 B .. 2 MiB).
    uint64_t cluster_size() const;

    /// For fault-injection tests: allow N more writes/flushes to the file,
    /// then fail each with EIO; std::nullopt (the default) allows all.
    void set_write_budget(std::optional<uint64_t> writes);
    /// Writes and flushes issued so far (the unit of set_write_budget).
    uint64_t write_count() const;

private:
    explicit Qcow2Image(std::unique_ptr<Qcow2State> state);
    std::unique_ptr<Qcow2State> m_s;
};

/// The `info snapshots` / `qemu-img snapshot -l` table of QEMU (headers "ID",
/// "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT"; sizes like "1.2 MiB";
/// dates local time "%Y-%m-%d %H:%M:%S"; vm clock "HH:MM:SS.mmm"), one line
/// per snapshot.  Each line ends in '\n'.
std::string format_snapshot_table(const std::vector<SnapshotInfo> &snapshots);

/// QEMU's size_to_str(): three significant digits and an IEC unit ("0 B",
/// "1.21 MiB", "8 MiB").
std::string size_to_str(uint64_t bytes);

} // namespace block
