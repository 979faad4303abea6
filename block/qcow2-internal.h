/*
 * qcow2 on-disk constants (docs/interop/qcow2.txt) and the private state of
 * block::Qcow2Image.
 */
#pragma once

#include "block/qcow2.h"

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace block {

inline constexpr uint32_t QCOW_MAGIC = 0x514649fb; // "QFI\xfb"
inline constexpr uint32_t QCOW2_V2_HEADER_SIZE = 72;
inline constexpr uint32_t QCOW2_V3_HEADER_SIZE = 104;
inline constexpr uint32_t MIN_CLUSTER_BITS = 9;
inline constexpr uint32_t MAX_CLUSTER_BITS = 21;

// QEMU's implementation limits (block/qcow2.h), which images in the wild obey.
inline constexpr uint64_t QCOW_MAX_L1_SIZE = 32 * 1024 * 1024;      // bytes
inline constexpr uint64_t QCOW_MAX_REFTABLE_SIZE = 8 * 1024 * 1024; // bytes
inline constexpr uint32_t QCOW_MAX_SNAPSHOTS = 65536;
inline constexpr uint64_t QCOW_MAX_SNAPSHOTS_SIZE = 1024 * QCOW_MAX_SNAPSHOTS;
inline constexpr uint32_t QCOW_MAX_SNAPSHOT_EXTRA_DATA = 1024;
// Host offsets are 56 bits in L1/L2 entries.
inline constexpr uint64_t QCOW_MAX_HOST_OFFSET = 1ULL << 56;

inline constexpr uint64_t L1E_OFFSET_MASK = 0x00fffffffffffe00ULL;
inline constexpr uint64_t L2E_OFFSET_MASK = 0x00fffffffffffe00ULL;
inline constexpr uint64_t REFT_OFFSET_MASK = 0xfffffffffffffe00ULL;
inline constexpr uint64_t QCOW_OFLAG_COPIED = 1ULL << 63;
inline constexpr uint64_t QCOW_OFLAG_COMPRESSED = 1ULL << 62;
inline constexpr uint64_t QCOW_OFLAG_ZERO = 1ULL << 0;

// Header field offsets that the commit points rewrite.
inline constexpr uint64_t HDR_L1_SIZE = 36;        // + l1_table_offset at 40
inline constexpr uint64_t HDR_REFCOUNT_TABLE = 48; // + clusters at 56
inline constexpr uint64_t HDR_NB_SNAPSHOTS = 60;   // + snapshots_offset at 64
inline constexpr uint64_t HDR_AUTOCLEAR = 88;

// Incompatible feature bits.
inline constexpr uint64_t QCOW2_INCOMPAT_DIRTY = 1ULL << 0;
inline constexpr uint64_t QCOW2_INCOMPAT_CORRUPT = 1ULL << 1;
inline constexpr uint64_t QCOW2_INCOMPAT_DATA_FILE = 1ULL << 2;
inline constexpr uint64_t QCOW2_INCOMPAT_COMPRESSION = 1ULL << 3;
inline constexpr uint64_t QCOW2_INCOMPAT_EXTL2 = 1ULL << 4;
inline constexpr uint64_t QCOW2_INCOMPAT_MASK = 0x1f;

inline constexpr uint32_t QCOW2_EXT_MAGIC_END = 0;
inline constexpr uint32_t QCOW2_EXT_MAGIC_FEATURE_TABLE = 0x6803f857;

// QEMU's BLK_PERM_* bits and file-posix.c's lock byte bases.
inline constexpr int BLK_PERM_CONSISTENT_READ = 0;
inline constexpr int BLK_PERM_WRITE = 1;
inline constexpr int BLK_PERM_WRITE_UNCHANGED = 2;
inline constexpr int BLK_PERM_RESIZE = 3;
inline constexpr int BLK_PERM_COUNT = 4;
inline constexpr off_t RAW_LOCK_PERM_BASE = 100;
inline constexpr off_t RAW_LOCK_SHARED_BASE = 200;

struct Qcow2Header {
    uint32_t magic = 0;
    uint32_t version = 0;
    uint64_t backing_file_offset = 0;
    uint32_t backing_file_size = 0;
    uint32_t cluster_bits = 0;
    uint64_t size = 0;
    uint32_t crypt_method = 0;
    uint32_t l1_size = 0;
    uint64_t l1_table_offset = 0;
    uint64_t refcount_table_offset = 0;
    uint32_t refcount_table_clusters = 0;
    uint32_t nb_snapshots = 0;
    uint64_t snapshots_offset = 0;
    uint64_t incompatible_features = 0;
    uint64_t compatible_features = 0;
    uint64_t autoclear_features = 0;
    uint32_t refcount_order = 4;
    uint32_t header_length = QCOW2_V2_HEADER_SIZE;
};

/// A snapshot table entry with the fields SnapshotInfo does not show.
struct Qcow2Snapshot {
    SnapshotInfo info;
    uint64_t l1_table_offset = 0;
    uint32_t l1_size = 0;
    uint64_t disk_size = 0;
    /// Extra data past the fields we know, kept byte-exact on rewrite.
    std::vector<uint8_t> unknown_extra;
};

/// Everything Qcow2Image knows; the class itself is a thin facade.
struct Qcow2State {
    std::string filename;
    int fd = -1;
    bool read_only = true;
    Qcow2Header h;
    uint64_t cluster_size = 0;
    uint32_t l2_bits = 0; // log2(L2 entries per table)
    uint32_t rb_bits = 0; // log2(refcount entries per block)
    uint32_t refcount_bits = 0;
    uint64_t refcount_max = 0;
    uint64_t l1_vm_state_index = 0;
    uint64_t file_size = 0;

    std::vector<uint64_t> l1;             // active L1, host order
    std::vector<uint64_t> refcount_table; // host order, refcount_table_clusters
    std::map<uint64_t, std::vector<uint8_t>> refblocks; // rt index -> block
    uint64_t free_cluster_hint = 1;
    uint64_t alloc_end = 0; // first cluster past every allocation we made

    std::vector<Qcow2Snapshot> snapshots;
    std::vector<SnapshotInfo> infos;  // snapshots[i].info, for snapshots()
    uint64_t snapshot_table_size = 0; // bytes

    bool autoclear_cleared = false;
    bool poisoned = false; // a modifying call failed half-way
    std::optional<uint64_t> write_budget;
    uint64_t write_count = 0;

    ~Qcow2State();
};

} // namespace block
