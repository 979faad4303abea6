/*
 * Internal snapshots: savevm, loadvm, delvm and "info snapshots" over the
 * qcow2 images given with -drive or -blockdev (QEMU's migration/savevm.c
 * save_snapshot()/load_snapshot() and block/snapshot.c's "all" helpers).
 *
 * A snapshot's VM state is the migration stream (vm-migration.h), stored
 * in the VM-state area of the first image; every image gets a snapshot
 * table entry with the same tag, as QEMU does, so the disk state and the
 * VM state are taken and reverted together.
 */
#pragma once

#include "block/qcow2.h"
#include "qapi/result.h"
#include "system/vm-migration.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sysemu {

class Vm;

/// One -drive or -blockdev: the name QMP and HMP use (id= or node-name=)
/// and the qcow2 file.
struct BlockImageOption {
    std::string name;
    std::string filename;
};

/// The open images, in command-line order.
class BlockImages {
public:
    /// Opens each image read-write with QEMU's locks.  Errors: the image's
    /// (not qcow2, locked by another process, ...), and a name used twice
    /// (QEMU's "Duplicate ID 'NAME' for drive").
    static qapi::Result<BlockImages> open(const std::vector<BlockImageOption> &options);

    bool empty() const { return m_images.empty(); }

    /// The images QMP's snapshot jobs name: `vmstate` (the VM-state image,
    /// first) and `devices`, sharing these images.  Error: a name that is
    /// none of them, QEMU's "No block device node 'NAME'".
    qapi::Result<BlockImages> select(const std::optional<std::string> &vmstate,
                                     const std::vector<std::string> &devices) const;

    /// QEMU's bdrv_all_find_vmstate_bs(): the image the VM state goes to.
    /// Error: "no block device can store vmstate for snapshot" (QEMU's)
    /// when there is none.
    qapi::Result<block::Qcow2Image *> vmstate_image();

    /// savevm [TAG]: the VM's state (it must not be running) into a new
    /// snapshot on every image, replacing one of the same tag or id.  An
    /// empty tag is QEMU's "vm-YYYYMMDDHHMMSS".
    qapi::Result<void> save(Vm &vm, std::string tag);

    /// loadvm TAG into this running (stopped) VM: every image must have
    /// it; the VM state is loaded, and only then are the disks reverted.
    /// On any error the VM's state is put back as it was.
    qapi::Result<VmLoadResult> load(Vm &vm, std::string_view tag);

    /// -loadvm TAG at start-up: the VM's policy waits for the state, as
    /// for an incoming migration.
    qapi::Result<VmLoadResult> load_at_startup(Vm &vm, std::string_view tag);

    /// delvm TAG: from every image that has it.
    qapi::Result<void> remove(std::string_view tag);

    /// "info snapshots": QEMU's HMP text, lines ending in "\r\n".
    std::string info() const;

private:
    struct Image {
        std::string name;
        std::shared_ptr<block::Qcow2Image> image;
    };
    qapi::Result<VmLoadResult> load_into(Vm &vm, std::string_view tag, LoadInto into);

    std::vector<Image> m_images;
};

} // namespace sysemu
