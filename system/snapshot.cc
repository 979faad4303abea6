#include "system/snapshot.h"

#include "migration/qemu-file.h"
#include "system/vm.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <limits>

namespace sysemu {

namespace {

/// The whole VM state as one migration stream in memory (the guest is not
/// running, so one pass of RAM is all of it).
qapi::Result<std::vector<uint8_t>> save_to_memory(Vm &vm)
{
    migration::MemoryWriter writer;
    auto save = TRY(OutgoingMigration::start(vm, writer, std::numeric_limits<uint64_t>::max()));
    while (!TRY(save->iterate())) {
    }
    TRY(save->complete());
    return writer.take();
}

qapi::Result<VmLoadResult> load_from_memory(Vm &vm, std::span<const uint8_t> bytes, LoadInto into)
{
    migration::MemoryReader reader(bytes);
    return load_vm_state(vm, reader, into);
}

std::string default_tag()
{
    // QEMU's savevm without a name: the local time.
    std::time_t now = std::time(nullptr);
    std::tm local {};
    ::localtime_r(&now, &local);
    return fmt::format("vm-{:%Y%m%d%H%M%S}", local);
}

} // namespace

qapi::Result<BlockImages> BlockImages::open(const std::vector<BlockImageOption> &options)
{
    BlockImages images;
    for (const BlockImageOption &o : options) {
        for (const Image &held : images.m_images) {
            if (held.name == o.name) {
                return qapi::Error::format("Duplicate ID '{}' for drive", o.name);
            }
        }
        images.m_images.push_back(
            Image { o.name, TRY(block::Qcow2Image::open(o.filename, false)) });
    }
    return images;
}

qapi::Result<BlockImages> BlockImages::select(const std::optional<std::string> &vmstate,
                                             const std::vector<std::string> &devices) const
{
    auto find = [&](const std::string &name) -> qapi::Result<const Image *> {
        for (const Image &i : m_images) {
            if (i.name == name) {
                return &i;
            }
        }
        return qapi::Error::format("No block device node '{}'", name);
    };
    BlockImages chosen;
    if (vmstate) {
        chosen.m_images.push_back(*TRY(find(*vmstate)));
    }
    for (const std::string &name : devices) {
        const Image *image = TRY(find(name));
        bool taken = false;
        for (const Image &held : chosen.m_images) {
            taken = taken || held.name == name;
        }
        if (!taken) {
            chosen.m_images.push_back(*image);
        }
    }
    return chosen;
}

qapi::Result<block::Qcow2Image *> BlockImages::vmstate_image()
{
    if (m_images.empty()) {
        return qapi::Error("no block device can store vmstate for snapshot");
    }
    return m_images.front().image.get();
}

qapi::Result<void> BlockImages::save(Vm &vm, std::string tag)
{
    TRY(vmstate_image());
    if (tag.empty()) {
        tag = default_tag();
    }
    std::vector<uint8_t> state = TRY(save_to_memory(vm));
    // QEMU replaces a snapshot of the same name: the old one goes first.
    for (Image &i : m_images) {
        if (i.image->find_snapshot(tag)) {
            if (auto r = i.image->delete_snapshot(tag); !r) {
                return r.release_error().prepend(
                    fmt::format("Error while deleting snapshot on '{}': ", i.name));
            }
        }
    }
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    const auto sec = std::chrono::duration_cast<std::chrono::seconds>(now);
    block::SnapshotInfo meta {
        .name = tag,
        .date_sec = static_cast<uint32_t>(sec.count()),
        .date_nsec = static_cast<uint32_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(now - sec).count()),
        .vm_clock_nsec = vm.clock().ns(),
    };
    for (size_t n = 0; n < m_images.size(); n++) {
        Image &i = m_images[n];
        // The VM state goes to the first image; the others get a disk-only
        // entry of the same tag.
        std::span<const uint8_t> vmstate =
            n == 0 ? std::span<const uint8_t>(state) : std::span<const uint8_t>();
        if (auto r = i.image->create_snapshot(meta, vmstate); !r) {
            return r.release_error().prepend(
                fmt::format("Error while creating snapshot on '{}': ", i.name));
        }
    }
    return {};
}

qapi::Result<VmLoadResult> BlockImages::load_into(Vm &vm, std::string_view tag, LoadInto into)
{
    block::Qcow2Image *state_image = TRY(vmstate_image());
    for (const Image &i : m_images) {
        if (!i.image->find_snapshot(tag)) {
            return qapi::Error::format(
                "Snapshot '{}' does not exist in one or more devices", tag);
        }
    }
    if (state_image->find_snapshot(tag)->vm_state_size == 0) {
        return qapi::Error(
            "This is a disk-only snapshot. Revert to it offline using qemu-img");
    }
    const uint64_t clock_at_save = state_image->find_snapshot(tag)->vm_clock_nsec;
    std::vector<uint8_t> state = TRY(state_image->read_vmstate(tag));

    // What the VM is now, so that a load that fails half-way (a bad
    // stream, a policy it cannot take, a disk that cannot revert) leaves it
    // as it was: its devices' state, and of RAM only the pages the load
    // changes, kept as it changes them.  At start-up there is nothing to
    // keep.
    migration::MemoryWriter devices;
    migration::RAMUndoLog ram_before;
    if (into == LoadInto::RunningVm) {
        TRY(save_device_state(vm, devices));
    }
    const std::vector<uint8_t> devices_before = devices.take();
    auto put_back = [&](qapi::Error error) -> qapi::Error {
        if (into == LoadInto::RunningVm) {
            ram_before.restore();
            if (auto r = load_from_memory(vm, devices_before, LoadInto::RunningVm); !r) {
                error.prepend(fmt::format("(and the VM's own state did not go back: {}) ",
                                          r.error().message()));
            }
        }
        return error;
    };

    migration::MemoryReader reader(state);
    qapi::Result<VmLoadResult> loaded =
        load_vm_state(vm, reader, into, into == LoadInto::RunningVm ? &ram_before : nullptr);
    if (!loaded) {
        return put_back(loaded.release_error().prepend(
            fmt::format("Error while loading VM state of snapshot '{}': ", tag)));
    }
    for (Image &i : m_images) {
        if (auto r = i.image->goto_snapshot(tag); !r) {
            return put_back(r.release_error().prepend(
                fmt::format("Could not load snapshot '{}' on '{}': ", tag, i.name)));
        }
    }
    vm.clock().set_ns(clock_at_save);
    return loaded;
}

qapi::Result<VmLoadResult> BlockImages::load(Vm &vm, std::string_view tag)
{
    return load_into(vm, tag, LoadInto::RunningVm);
}

qapi::Result<VmLoadResult> BlockImages::load_at_startup(Vm &vm, std::string_view tag)
{
    return load_into(vm, tag, LoadInto::Incoming);
}

qapi::Result<void> BlockImages::remove(std::string_view tag)
{
    // QEMU's delvm deletes what exists and says nothing of images that
    // lack the tag, or of there being no image at all.
    for (Image &i : m_images) {
        if (i.image->find_snapshot(tag)) {
            if (auto r = i.image->delete_snapshot(tag); !r) {
                return r.release_error().prepend(
                    fmt::format("Error while deleting snapshot on '{}': ", i.name));
            }
        }
    }
    return {};
}

std::string BlockImages::info() const
{
    // QEMU lists the snapshots of the VM-state image that every image has,
    // with the ID column as "--" (ids differ between images).
    if (m_images.empty()) {
        return "no block device can store vmstate for snapshot\r\n";
    }
    std::vector<block::SnapshotInfo> common;
    {
        for (block::SnapshotInfo sn : m_images.front().image->snapshots()) {
            bool everywhere = true;
            for (const Image &i : m_images) {
                everywhere = everywhere && i.image->find_snapshot(sn.name).has_value();
            }
            if (everywhere) {
                sn.id = "--";
                common.push_back(std::move(sn));
            }
        }
    }
    if (common.empty()) {
        return "There is no snapshot available.\r\n";
    }
    std::string out = "List of snapshots present on all disks:\r\n";
    std::string table = block::format_snapshot_table(common);
    for (size_t start = 0; start < table.size();) {
        size_t end = table.find('\n', start);
        if (end == std::string::npos) {
            end = table.size();
        }
        out += table.substr(start, end - start) + "\r\n";
        start = end + 1;
    }
    return out;
}

} // namespace sysemu
