/*
 * qcow2 images for internal snapshots: open and validate, the lock bytes,
 * L1/L2 reads, cluster allocation over the refcount structures, and the
 * snapshot operations.  The write order that makes every step crash-safe is
 * described in docs/devel/qcow2.rst; each commit point below says which
 * header write it is.
 */
#include "block/qcow2-internal.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace block {

using qapi::Error;
using qapi::Result;

namespace {

uint16_t be16(const uint8_t *p)
{
    return uint16_t(p[0] << 8 | p[1]);
}
uint32_t be32(const uint8_t *p)
{
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 |
           uint32_t(p[3]);
}
uint64_t be64(const uint8_t *p)
{
    return uint64_t(be32(p)) << 32 | be32(p + 4);
}
void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = uint8_t(v >> 8);
    p[1] = uint8_t(v);
}
void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = uint8_t(v >> 24);
    p[1] = uint8_t(v >> 16);
    p[2] = uint8_t(v >> 8);
    p[3] = uint8_t(v);
}
void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, uint32_t(v >> 32));
    put_be32(p + 4, uint32_t(v));
}

uint64_t div_round_up(uint64_t n, uint64_t d)
{
    return n / d + (n % d != 0);
}

/// A table of entries as big-endian bytes, padded to whole clusters.
std::vector<uint8_t> table_bytes(const std::vector<uint64_t> &entries,
                                 uint64_t cluster_size)
{
    std::vector<uint8_t> out(div_round_up(entries.size() * 8, cluster_size) *
                             cluster_size);
    for (size_t i = 0; i < entries.size(); i++) {
        put_be64(&out[i * 8], entries[i]);
    }
    return out;
}

const char *perm_name(int bit)
{
    switch (bit) {
    case BLK_PERM_CONSISTENT_READ:
        return "consistent read";
    case BLK_PERM_WRITE:
        return "write";
    case BLK_PERM_WRITE_UNCHANGED:
        return "write unchanged";
    default:
        return "resize";
    }
}

} // namespace

Qcow2State::~Qcow2State()
{
    if (fd >= 0) {
        // Closing the last descriptor of the open file description drops
        // its OFD locks.
        ::close(fd);
    }
}

// ---------------------------------------------------------------------------
// File I/O.  Every write and flush goes through here so that the tests can
// fail the N-th one.

namespace {

class Io {
public:
    explicit Io(Qcow2State &s)
        : m_s(s)
    {
    }

    Result<void> pread(uint64_t offset, std::span<uint8_t> buf) const
    {
        size_t done = 0;
        while (done < buf.size()) {
            ssize_t n = ::pread(m_s.fd, buf.data() + done, buf.size() - done,
                                off_t(offset + done));
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                return Error::from_errno(
                    errno,
                    fmt::format("Could not read from '{}'", m_s.filename));
            }
            if (n == 0) {
                return Error::format(
                    "Could not read {} bytes at offset {:#x} of '{}': "
                    "unexpected end of file",
                    buf.size(), offset, m_s.filename);
            }
            done += size_t(n);
        }
        return {};
    }

    Result<void> pwrite(uint64_t offset, std::span<const uint8_t> buf)
    {
        TRY(spend());
        size_t done = 0;
        while (done < buf.size()) {
            ssize_t n = ::pwrite(m_s.fd, buf.data() + done, buf.size() - done,
                                 off_t(offset + done));
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                return Error::from_errno(
                    errno,
                    fmt::format("Could not write to '{}'", m_s.filename));
            }
            done += size_t(n);
        }
        m_s.file_size = std::max(m_s.file_size, offset + buf.size());
        return {};
    }

    Result<void> flush()
    {
        TRY(spend());
        if (::fdatasync(m_s.fd) < 0) {
            return Error::from_errno(
                errno, fmt::format("Could not flush '{}'", m_s.filename));
        }
        return {};
    }

private:
    Result<void> spend()
    {
        if (m_s.write_budget) {
            if (*m_s.write_budget == 0) {
                return Error("Input/output error (injected)",
                             qapi::ErrorClass::GenericError, EIO);
            }
            --*m_s.write_budget;
        }
        m_s.write_count++;
        return {};
    }

    Qcow2State &m_s;
};

// ---------------------------------------------------------------------------
// Locks, as file-posix.c's raw_apply_lock_bytes/raw_check_lock_bytes: a read
// lock on byte 100+bit for each permission we hold, one on 200+bit for each
// permission we do not let others hold; then a test for a conflicting holder
// of the opposite byte.

Result<void> lock_byte(int fd, off_t byte)
{
    struct flock fl = {};
    fl.l_type = F_RDLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = byte;
    fl.l_len = 1;
    if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
        return Error::from_errno(errno, "Failed to lock byte");
    }
    return {};
}

Result<bool> byte_is_held_by_others(int fd, off_t byte)
{
    struct flock fl = {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = byte;
    fl.l_len = 1;
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0) {
        return Error::from_errno(errno, "Failed to check lock byte");
    }
    return fl.l_type != F_UNLCK;
}

Result<void> take_qemu_locks(const Qcow2State &s)
{
    // A qcow2 node's file child, as QEMU 7.2 holds it (measured with
    // qemu-io: writer 100,101,103 + 201,203; reader 100 + 201,203).
    unsigned perm = 1u << BLK_PERM_CONSISTENT_READ;
    if (!s.read_only) {
        perm |= 1u << BLK_PERM_WRITE | 1u << BLK_PERM_RESIZE;
    }
    unsigned unshared = 1u << BLK_PERM_WRITE | 1u << BLK_PERM_RESIZE;
    for (int bit = 0; bit < BLK_PERM_COUNT; bit++) {
        if (perm & (1u << bit)) {
            TRY(lock_byte(s.fd, RAW_LOCK_PERM_BASE + bit));
        }
        if (unshared & (1u << bit)) {
            TRY(lock_byte(s.fd, RAW_LOCK_SHARED_BASE + bit));
        }
    }
    std::string hint =
        fmt::format("\nIs another process using the image [{}]?", s.filename);
    for (int bit = 0; bit < BLK_PERM_COUNT; bit++) {
        if ((perm & (1u << bit)) &&
            TRY(byte_is_held_by_others(s.fd, RAW_LOCK_SHARED_BASE + bit))) {
            return Error::format("Failed to get \"{}\" lock{}", perm_name(bit),
                                 hint);
        }
    }
    for (int bit = 0; bit < BLK_PERM_COUNT; bit++) {
        if ((unshared & (1u << bit)) &&
            TRY(byte_is_held_by_others(s.fd, RAW_LOCK_PERM_BASE + bit))) {
            return Error::format("Failed to get shared \"{}\" lock{}",
                                 perm_name(bit), hint);
        }
    }
    return {};
}

// ---------------------------------------------------------------------------
// Validation helpers.

Result<void> check_table(const Qcow2State &s, uint64_t offset, uint64_t entries,
                         uint64_t max_bytes, std::string_view what)
{
    if (entries > max_bytes / 8) {
        return Error::format("{} too large ({} entries)", what, entries);
    }
    if (offset % s.cluster_size != 0) {
        return Error::format("Invalid {} offset {:#x}: not cluster aligned",
                             what, offset);
    }
    if (entries != 0 && (offset == 0 || offset > s.file_size ||
                         entries * 8 > s.file_size - offset)) {
        return Error::format(
            "Invalid {} offset {:#x}: the table lies outside the image file",
            what, offset);
    }
    return {};
}

Result<std::vector<uint64_t>> read_table(const Qcow2State &s, uint64_t offset,
                                         uint64_t entries)
{
    std::vector<uint8_t> raw(entries * 8);
    TRY(Io(const_cast<Qcow2State &>(s)).pread(offset, raw));
    std::vector<uint64_t> out(entries);
    for (uint64_t i = 0; i < entries; i++) {
        out[i] = be64(&raw[i * 8]);
    }
    return out;
}

/// The L2 table an L1 entry points to, checked against the file.
Result<uint64_t> l2_offset_of(const Qcow2State &s, uint64_t l1_entry,
                              uint64_t l1_index)
{
    uint64_t off = l1_entry & L1E_OFFSET_MASK;
    if (off % s.cluster_size != 0) {
        return Error::format(
            "L2 table offset {:#x} unaligned (L1 index: {:#x}): image corrupt",
            off, l1_index);
    }
    if (off != 0 && (off > s.file_size || s.file_size - off < s.cluster_size)) {
        return Error::format("L2 table offset {:#x} (L1 index: {:#x}) lies "
                             "outside the image file: image corrupt",
                             off, l1_index);
    }
    return off;
}

Result<std::vector<uint64_t>> read_l2(const Qcow2State &s, uint64_t offset)
{
    return read_table(s, offset, s.cluster_size / 8);
}

/// The host clusters an L2 entry holds a reference to (none, one, or the
/// run a compressed cluster's bytes span).
Result<std::pair<uint64_t, uint64_t>> l2_entry_clusters(const Qcow2State &s,
                                                        uint64_t entry)
{
    if (entry & QCOW_OFLAG_COMPRESSED) {
        uint32_t csize_shift = 62 - (s.h.cluster_bits - 8);
        uint64_t csize_mask = (1ULL << (s.h.cluster_bits - 8)) - 1;
        uint64_t coffset = entry & ((1ULL << csize_shift) - 1);
        uint64_t nb_csectors = ((entry >> csize_shift) & csize_mask) + 1;
        uint64_t csize = nb_csectors * 512 - (coffset & 511);
        if (coffset == 0 || coffset >= QCOW_MAX_HOST_OFFSET) {
            return Error::format("compressed cluster offset {:#x} invalid: "
                                 "image corrupt",
                                 coffset);
        }
        uint64_t first = coffset >> s.h.cluster_bits;
        uint64_t last = (coffset + csize - 1) >> s.h.cluster_bits;
        return std::pair{first, last - first + 1};
    }
    uint64_t off = entry & L2E_OFFSET_MASK;
    if (off == 0) {
        return std::pair{uint64_t(0), uint64_t(0)};
    }
    if (off % s.cluster_size != 0) {
        return Error::format("data cluster offset {:#x} unaligned: image "
                             "corrupt",
                             off);
    }
    return std::pair{off >> s.h.cluster_bits, uint64_t(1)};
}

// ---------------------------------------------------------------------------
// Refcounts.

uint64_t get_entry(const Qcow2State &s, const std::vector<uint8_t> &block,
                   uint64_t index)
{
    uint32_t bits = s.refcount_bits;
    if (bits < 8) {
        uint64_t bit = index * bits;
        return (block[bit / 8] >> (bit % 8)) & ((1u << bits) - 1);
    }
    uint64_t v = 0;
    uint32_t bytes = bits / 8;
    for (uint32_t i = 0; i < bytes; i++) {
        v = v << 8 | block[index * bytes + i];
    }
    return v;
}

void set_entry(const Qcow2State &s, std::vector<uint8_t> &block, uint64_t index,
               uint64_t value)
{
    uint32_t bits = s.refcount_bits;
    if (bits < 8) {
        uint64_t bit = index * bits;
        uint8_t mask = uint8_t(((1u << bits) - 1) << (bit % 8));
        block[bit / 8] =
            uint8_t((block[bit / 8] & ~mask) | ((value << (bit % 8)) & mask));
        return;
    }
    uint32_t bytes = bits / 8;
    for (uint32_t i = 0; i < bytes; i++) {
        block[index * bytes + bytes - 1 - i] = uint8_t(value >> (8 * i));
    }
}

/// The committed refcounts: what the header on disk makes live.  Blocks are
/// read once and cached; only MetadataUpdate::commit() replaces them.
class Refcounts {
public:
    explicit Refcounts(Qcow2State &s)
        : m_s(s)
    {
    }

    Result<uint64_t> get(uint64_t cluster)
    {
        const std::vector<uint8_t> *b = TRY(block(cluster >> m_s.rb_bits));
        if (b == nullptr) {
            return uint64_t(0);
        }
        return get_entry(m_s, *b, cluster & ((1ULL << m_s.rb_bits) - 1));
    }

    /// Refcount block RT, or null where the table has none.
    Result<const std::vector<uint8_t> *> block(uint64_t rt)
    {
        if (rt >= m_s.refcount_table.size() || m_s.refcount_table[rt] == 0) {
            return static_cast<const std::vector<uint8_t> *>(nullptr);
        }
        auto it = m_s.refblocks.find(rt);
        if (it != m_s.refblocks.end()) {
            return static_cast<const std::vector<uint8_t> *>(&it->second);
        }
        uint64_t off = m_s.refcount_table[rt] & REFT_OFFSET_MASK;
        if (off % m_s.cluster_size != 0 || off > m_s.file_size ||
            m_s.file_size - off < m_s.cluster_size) {
            return Error::format("refcount block {} offset {:#x} invalid: "
                                 "image corrupt",
                                 rt, off);
        }
        std::vector<uint8_t> b(m_s.cluster_size);
        TRY(Io(m_s).pread(off, b));
        return static_cast<const std::vector<uint8_t> *>(
            &(m_s.refblocks[rt] = std::move(b)));
    }

private:
    Qcow2State &m_s;
};

// ---------------------------------------------------------------------------
// The snapshot table.

Result<void> read_snapshot_table(Qcow2State &s)
{
    const Qcow2Header &h = s.h;
    if (h.nb_snapshots > QCOW_MAX_SNAPSHOTS) {
        return Error::format("Too many snapshots ({}); QEMU allows {}",
                             h.nb_snapshots, QCOW_MAX_SNAPSHOTS);
    }
    if (h.nb_snapshots == 0) {
        return {};
    }
    if (h.snapshots_offset % s.cluster_size != 0 || h.snapshots_offset == 0 ||
        h.snapshots_offset >= s.file_size) {
        return Error::format("Invalid snapshot table offset {:#x}",
                             h.snapshots_offset);
    }
    Io io(s);
    uint64_t pos = h.snapshots_offset;
    for (uint32_t i = 0; i < h.nb_snapshots; i++) {
        uint8_t fixed[40];
        if (pos + sizeof(fixed) > s.file_size ||
            pos - h.snapshots_offset + sizeof(fixed) >
                QCOW_MAX_SNAPSHOTS_SIZE) {
            return Error::format("snapshot table entry {} lies outside the "
                                 "image file: snapshot table corrupt",
                                 i);
        }
        TRY(io.pread(pos, fixed));
        Qcow2Snapshot sn;
        sn.l1_table_offset = be64(fixed);
        sn.l1_size = be32(fixed + 8);
        uint16_t id_len = be16(fixed + 12);
        uint16_t name_len = be16(fixed + 14);
        sn.info.date_sec = be32(fixed + 16);
        sn.info.date_nsec = be32(fixed + 20);
        sn.info.vm_clock_nsec = be64(fixed + 24);
        sn.info.vm_state_size = be32(fixed + 32);
        uint32_t extra_len = be32(fixed + 36);
        if (extra_len > QCOW_MAX_SNAPSHOT_EXTRA_DATA) {
            return Error::format("snapshot table entry {}: too much extra "
                                 "data ({} bytes): snapshot table corrupt",
                                 i, extra_len);
        }
        uint64_t rest = uint64_t(extra_len) + id_len + name_len;
        uint64_t entry_size = (sizeof(fixed) + rest + 7) & ~uint64_t(7);
        uint64_t table_size = pos - h.snapshots_offset + entry_size;
        if (table_size > QCOW_MAX_SNAPSHOTS_SIZE ||
            pos + sizeof(fixed) + rest > s.file_size) {
            return Error::format("snapshot table entry {} lies outside the "
                                 "image file: snapshot table corrupt",
                                 i);
        }
        std::vector<uint8_t> var(rest);
        TRY(io.pread(pos + sizeof(fixed), var));
        const uint8_t *extra = var.data();
        sn.disk_size = h.size;
        if (extra_len >= 8) {
            sn.info.vm_state_size = be64(extra);
        }
        if (extra_len >= 16) {
            sn.disk_size = be64(extra + 8);
        }
        if (extra_len >= 24) {
            sn.info.icount = be64(extra + 16);
        }
        if (extra_len > 24) {
            sn.unknown_extra.assign(extra + 24, extra + extra_len);
        }
        sn.info.id.assign(var.begin() + extra_len,
                          var.begin() + extra_len + id_len);
        sn.info.name.assign(var.begin() + extra_len + id_len, var.end());
        TRY(check_table(s, sn.l1_table_offset, sn.l1_size, QCOW_MAX_L1_SIZE,
                        fmt::format("snapshot '{}' L1 table", sn.info.name)));
        if (sn.info.vm_state_size > s.file_size) {
            // QEMU writes every cluster of the VM state, so a real one is
            // never larger than the file; this keeps a corrupt size from
            // making read_vmstate() allocate without bound.
            return Error::format("snapshot '{}': VM state size {} exceeds the "
                                 "image file size: snapshot table corrupt",
                                 sn.info.name, sn.info.vm_state_size);
        }
        s.snapshots.push_back(std::move(sn));
        pos += entry_size;
    }
    s.snapshot_table_size = pos - h.snapshots_offset;
    return {};
}

std::vector<uint8_t> snapshot_table_bytes(const Qcow2State &s,
                                          const std::vector<Qcow2Snapshot> &v)
{
    std::vector<uint8_t> out;
    for (const Qcow2Snapshot &sn : v) {
        // QEMU 7.2 writes 24 bytes of extra data: vm_state_size_large,
        // disk_size, icount; anything past them is kept as it was.
        uint32_t extra_len = 24 + uint32_t(sn.unknown_extra.size());
        size_t start = out.size();
        size_t len = 40 + extra_len + sn.info.id.size() + sn.info.name.size();
        out.resize(start + ((len + 7) & ~size_t(7)), 0);
        uint8_t *p = &out[start];
        put_be64(p, sn.l1_table_offset);
        put_be32(p + 8, sn.l1_size);
        put_be16(p + 12, uint16_t(sn.info.id.size()));
        put_be16(p + 14, uint16_t(sn.info.name.size()));
        put_be32(p + 16, sn.info.date_sec);
        put_be32(p + 20, sn.info.date_nsec);
        put_be64(p + 24, sn.info.vm_clock_nsec);
        put_be32(p + 32, uint32_t(sn.info.vm_state_size));
        put_be32(p + 36, extra_len);
        put_be64(p + 40, sn.info.vm_state_size);
        put_be64(p + 48, sn.disk_size);
        put_be64(p + 56, sn.info.icount);
        std::copy(sn.unknown_extra.begin(), sn.unknown_extra.end(), p + 64);
        std::memcpy(p + 40 + extra_len, sn.info.id.data(), sn.info.id.size());
        std::memcpy(p + 40 + extra_len + sn.info.id.size(), sn.info.name.data(),
                    sn.info.name.size());
    }
    (void)s;
    return out;
}


// ---------------------------------------------------------------------------
// Walking an L1 table.

/// Every host cluster the first L1_LIMIT entries of L1 reference: L2
/// tables and data clusters, once per path as qemu-img check counts them.
Result<std::vector<uint64_t>> collect_refs(const Qcow2State &s,
                                           const std::vector<uint64_t> &l1,
                                           uint64_t l1_limit)
{
    std::vector<uint64_t> refs;
    for (uint64_t i = 0; i < std::min<uint64_t>(l1_limit, l1.size()); i++) {
        uint64_t l2_off = TRY(l2_offset_of(s, l1[i], i));
        if (l2_off == 0) {
            continue;
        }
        refs.push_back(l2_off >> s.h.cluster_bits);
        auto l2 = TRY(read_l2(s, l2_off));
        for (uint64_t e : l2) {
            auto [first, count] = TRY(l2_entry_clusters(s, e));
            for (uint64_t c = 0; c < count; c++) {
                refs.push_back(first + c);
            }
        }
    }
    return refs;
}

/// One change of the image's metadata, built beside the committed state and
/// made live by a single header write (docs/devel/qcow2.rst, "One commit
/// point").  Until that write nothing the committed state references is
/// touched: new tables, refcount blocks and the refcount table go to
/// clusters that are free in the committed state, so a failure at any
/// earlier write leaves the image exactly as it was, plus unreferenced
/// clusters of refcount 0 (not even leaks).  Qcow2State changes only after
/// the commit reached the disk.
class MetadataUpdate {
public:
    explicit MetadataUpdate(Qcow2State &s)
        : m_s(s)
        , m_rc(s)
        , m_io(s)
        , m_cursor(std::max<uint64_t>(s.free_cluster_hint, 1))
        , m_l1(s.l1)
        , m_l1_offset(s.h.l1_table_offset)
        , m_snapshots(s.snapshots)
        , m_snapshots_offset(s.h.snapshots_offset)
        , m_snapshot_table_size(s.snapshot_table_size)
    {
    }

    /// CLUSTER's refcount as the commit will leave it.
    Result<uint64_t> refcount(uint64_t cluster)
    {
        auto it = m_blocks.find(cluster >> m_s.rb_bits);
        if (it == m_blocks.end()) {
            return m_rc.get(cluster);
        }
        return get_entry(m_s, it->second, cluster & index_mask());
    }

    /// Adds DELTA references to CLUSTER, which must be in use already.
    Result<void> add_ref(uint64_t cluster, int64_t delta)
    {
        uint64_t v = TRY(refcount(cluster));
        uint64_t n = uint64_t(delta < 0 ? -delta : delta);
        if (delta > 0 && v == 0) {
            return Error::format("cluster {:#x} is in use but has refcount 0: "
                                 "image corrupt",
                                 cluster << m_s.h.cluster_bits);
        }
        if (delta > 0 && n > m_s.refcount_max - v) {
            return Error::format("cluster {:#x} would need a refcount above "
                                 "the image's {}-bit maximum",
                                 cluster << m_s.h.cluster_bits,
                                 m_s.refcount_bits);
        }
        if (delta < 0 && v < n) {
            return Error::format("refcount of cluster {:#x} would drop below "
                                 "zero: image corrupt",
                                 cluster << m_s.h.cluster_bits);
        }
        return set(cluster, delta < 0 ? v - n : v + n);
    }

    /// Drops one reference to each cluster that BYTES at OFFSET touch.
    Result<void> release(uint64_t offset, uint64_t bytes)
    {
        if (bytes == 0) {
            return {};
        }
        for (uint64_t c = offset >> m_s.h.cluster_bits;
             c <= (offset + bytes - 1) >> m_s.h.cluster_bits; c++) {
            TRY(add_ref(c, -1));
        }
        return {};
    }

    /// N contiguous clusters, free in the committed state and not handed
    /// out before in this update, with refcount 1 after the commit; returns
    /// the byte offset.  The cursor only moves forward, so a cluster
    /// released in this update is never reused by it.
    Result<uint64_t> alloc(uint64_t n)
    {
        if (n == 0) {
            return uint64_t(0);
        }
        const uint64_t limit = QCOW_MAX_HOST_OFFSET >> m_s.h.cluster_bits;
        uint64_t start = 0;
        uint64_t run = 0;
        for (uint64_t c = m_cursor;; c++) {
            if (c + (n - run) > limit) {
                return Error("image full: no free host clusters below 64 PiB");
            }
            // Past the refcount table and every allocation, all is free.
            if ((c >> m_s.rb_bits) >= m_s.refcount_table.size() &&
                c >= m_s.alloc_end) {
                start = run ? c - run : c;
                break;
            }
            if (TRY(m_rc.get(c)) == 0) {
                if (++run == n) {
                    start = c + 1 - n;
                    break;
                }
            } else {
                if (run) {
                    m_skipped_free = std::min(m_skipped_free, c - run);
                }
                run = 0;
            }
        }
        for (uint64_t c = start; c < start + n; c++) {
            TRY(set(c, 1));
        }
        m_cursor = start + n;
        return start << m_s.h.cluster_bits;
    }

    /// Writes into clusters that alloc() returned.
    Result<void> write(uint64_t offset, std::span<const uint8_t> bytes)
    {
        return m_io.pwrite(offset, bytes);
    }

    /// L1 with the COPIED flags that the committed-to-be refcounts call
    /// for, in the active L1 and every L2 table it reaches (qemu-img check
    /// wants the flag exactly where the refcount is 1).  An L2 table whose
    /// flags must change is copied, never rewritten in place: the committed
    /// state still reads it.  The first SHARED_ENTRIES entries are about to
    /// be referenced by a second new L1 too (a snapshot being created);
    /// their copies take both references, and SHARED receives the L2
    /// offsets that second L1 must use.
    Result<std::vector<uint64_t>>
    consistent_active_l1(const std::vector<uint64_t> &l1,
                         uint64_t shared_entries,
                         std::vector<uint64_t> *shared = nullptr)
    {
        const uint64_t cs = m_s.cluster_size;
        const uint32_t bits = m_s.h.cluster_bits;
        std::vector<uint64_t> out(l1.size(), 0);
        if (shared) {
            shared->assign(l1.size(), 0);
        }
        for (uint64_t i = 0; i < l1.size(); i++) {
            uint64_t off = TRY(l2_offset_of(m_s, l1[i], i));
            if (off == 0) {
                continue;
            }
            auto l2 = TRY(read_l2(m_s, off));
            bool changed = false;
            for (uint64_t &e : l2) {
                uint64_t data = e & L2E_OFFSET_MASK;
                if ((e & QCOW_OFLAG_COMPRESSED) || data == 0) {
                    continue;
                }
                uint64_t want = TRY(refcount(data >> bits)) == 1
                                    ? e | QCOW_OFLAG_COPIED
                                    : e & ~QCOW_OFLAG_COPIED;
                changed |= want != e;
                e = want;
            }
            uint64_t target = off;
            uint64_t other = off;
            if (changed) {
                // The copy takes over the references of the L1 tables this
                // update writes; any other (an older snapshot's) keeps the
                // original.
                uint64_t ours = i < shared_entries ? 2 : 1;
                if (TRY(refcount(off >> bits)) != ours) {
                    ours = 1;
                }
                target = TRY(alloc(1));
                TRY(add_ref(off >> bits, -int64_t(ours)));
                if (ours > 1) {
                    TRY(add_ref(target >> bits, int64_t(ours - 1)));
                    other = target;
                }
                TRY(write(target, table_bytes(l2, cs)));
            }
            bool single = TRY(refcount(target >> bits)) == 1;
            out[i] = target | (single ? QCOW_OFLAG_COPIED : 0);
            if (shared) {
                (*shared)[i] = other;
            }
        }
        return out;
    }

    /// Makes L1 the active L1 table, in fresh clusters if it differs.
    Result<void> set_active_l1(std::vector<uint64_t> l1)
    {
        if (l1 == m_l1) {
            return {};
        }
        uint64_t off = TRY(alloc(div_round_up(l1.size() * 8, m_s.cluster_size)));
        if (!l1.empty()) {
            TRY(write(off, table_bytes(l1, m_s.cluster_size)));
        }
        TRY(release(m_l1_offset, m_l1.size() * 8));
        m_l1 = std::move(l1);
        m_l1_offset = off;
        return {};
    }

    /// Makes V the snapshot table, in fresh clusters.
    Result<void> set_snapshots(std::vector<Qcow2Snapshot> v)
    {
        std::vector<uint8_t> bytes = snapshot_table_bytes(m_s, v);
        if (bytes.size() > QCOW_MAX_SNAPSHOTS_SIZE) {
            return Error("the snapshot table would exceed QEMU's 64 MiB limit");
        }
        uint64_t clusters = div_round_up(bytes.size(), m_s.cluster_size);
        uint64_t off = TRY(alloc(clusters));
        bytes.resize(clusters * m_s.cluster_size, 0);
        if (!bytes.empty()) {
            TRY(write(off, bytes));
        }
        if (!m_snapshots.empty()) {
            TRY(release(m_snapshots_offset, m_snapshot_table_size));
        }
        m_snapshots = std::move(v);
        m_snapshots_offset = off;
        m_snapshot_table_size = bytes.size();
        return {};
    }

    /// Writes every touched refcount block and a new refcount table to
    /// fresh clusters, flushes, and makes the new state live with one
    /// 36-byte header write (l1_size through snapshots_offset).  Only a
    /// failure at or after that write leaves the file's state uncertain;
    /// then the image is poisoned until it is reopened.
    Result<void> commit()
    {
        const uint64_t cs = m_s.cluster_size;
        const uint32_t bits = m_s.h.cluster_bits;
        const std::vector<uint64_t> &old_table = m_s.refcount_table;
        std::map<uint64_t, uint64_t> moved; // rt -> new block offset
        uint64_t table_off = 0;
        uint64_t table_clusters = 0;
        bool old_table_released = false;
        for (int round = 0;; round++) {
            if (round == 64) {
                return Error("could not place the refcount structures: they "
                             "did not settle");
            }
            // Every touched block moves; moving one touches the blocks that
            // count its new and its old cluster, until none is left.
            for (;;) {
                std::vector<uint64_t> pending;
                for (const auto &kv : m_blocks) {
                    if (!moved.count(kv.first)) {
                        pending.push_back(kv.first);
                    }
                }
                if (pending.empty()) {
                    break;
                }
                for (uint64_t rt : pending) {
                    moved[rt] = TRY(alloc(1));
                    if (rt < old_table.size() && old_table[rt] != 0) {
                        TRY(add_ref((old_table[rt] & REFT_OFFSET_MASK) >> bits,
                                    -1));
                    }
                }
            }
            uint64_t need = old_table.size();
            if (!m_blocks.empty()) {
                need = std::max(need, m_blocks.rbegin()->first + 1);
            }
            if (table_off != 0 && table_clusters * cs / 8 >= need) {
                break;
            }
            if (table_off != 0) {
                TRY(release(table_off, table_clusters * cs));
            }
            if (!old_table_released) {
                TRY(release(m_s.h.refcount_table_offset,
                            uint64_t(m_s.h.refcount_table_clusters) * cs));
                old_table_released = true;
            }
            // Room to grow, as QEMU does: twice the old table.
            uint64_t entries =
                need > old_table.size()
                    ? std::max({need + 1, old_table.size() * 2, cs / 8})
                    : old_table.size();
            table_clusters = div_round_up(entries * 8, cs);
            if (table_clusters * cs > QCOW_MAX_REFTABLE_SIZE) {
                return Error("the refcount table would exceed QEMU's 8 MiB "
                             "limit");
            }
            table_off = TRY(alloc(table_clusters));
        }

        std::vector<uint64_t> table(table_clusters * cs / 8, 0);
        std::copy(old_table.begin(), old_table.end(), table.begin());
        for (auto [rt, off] : moved) {
            table[rt] = off;
            TRY(write(off, m_blocks[rt]));
        }
        TRY(write(table_off, table_bytes(table, cs)));
        TRY(m_io.flush());

        uint8_t hdr[36];
        put_be32(hdr, uint32_t(m_l1.size()));             // 36 l1_size
        put_be64(hdr + 4, m_l1_offset);                   // 40
        put_be64(hdr + 12, table_off);                    // 48
        put_be32(hdr + 20, uint32_t(table_clusters));     // 56
        put_be32(hdr + 24, uint32_t(m_snapshots.size())); // 60
        put_be64(hdr + 28, m_snapshots_offset);           // 64
        static_assert(HDR_L1_SIZE + sizeof(hdr) == QCOW2_V2_HEADER_SIZE);
        m_s.poisoned = true; // until the state below matches the file
        TRY(m_io.pwrite(HDR_L1_SIZE, hdr)); // commit
        TRY(m_io.flush());

        Qcow2State &s = m_s;
        s.h.l1_size = uint32_t(m_l1.size());
        s.h.l1_table_offset = m_l1_offset;
        s.l1 = std::move(m_l1);
        s.h.refcount_table_offset = table_off;
        s.h.refcount_table_clusters = uint32_t(table_clusters);
        s.refcount_table = std::move(table);
        for (auto &[rt, b] : m_blocks) {
            s.refblocks[rt] = std::move(b);
        }
        s.h.nb_snapshots = uint32_t(m_snapshots.size());
        s.h.snapshots_offset = m_snapshots_offset;
        s.snapshot_table_size = m_snapshots.empty() ? 0 : m_snapshot_table_size;
        s.snapshots = std::move(m_snapshots);
        s.infos.clear();
        for (const Qcow2Snapshot &sn : s.snapshots) {
            s.infos.push_back(sn.info);
        }
        s.alloc_end = std::max(s.alloc_end, m_cursor);
        s.free_cluster_hint = std::max<uint64_t>(
            1, std::min({m_released, m_skipped_free, m_cursor}));
        s.poisoned = false;
        return {};
    }

private:
    uint64_t index_mask() const
    {
        return (1ULL << m_s.rb_bits) - 1;
    }

    /// Sets CLUSTER's refcount in this update's copy of its block (a new,
    /// zeroed block where the table has none).
    Result<void> set(uint64_t cluster, uint64_t value)
    {
        uint64_t rt = cluster >> m_s.rb_bits;
        auto it = m_blocks.find(rt);
        if (it == m_blocks.end()) {
            if (rt == 0 && m_s.refcount_table.empty()) {
                return Error("the refcount block for the header is missing: "
                             "image corrupt");
            }
            const std::vector<uint8_t> *committed = TRY(m_rc.block(rt));
            it = m_blocks
                     .emplace(rt, committed ? *committed
                                            : std::vector<uint8_t>(
                                                  m_s.cluster_size, 0))
                     .first;
        }
        uint64_t idx = cluster & index_mask();
        if (value == 0 && get_entry(m_s, it->second, idx) != 0) {
            m_released = std::min(m_released, cluster);
        }
        set_entry(m_s, it->second, idx, value);
        return {};
    }

    Qcow2State &m_s;
    Refcounts m_rc;
    Io m_io;
    std::map<uint64_t, std::vector<uint8_t>> m_blocks; // rt -> new content
    uint64_t m_cursor;
    uint64_t m_released = UINT64_MAX;
    uint64_t m_skipped_free = UINT64_MAX;
    std::vector<uint64_t> m_l1;
    uint64_t m_l1_offset;
    std::vector<Qcow2Snapshot> m_snapshots;
    uint64_t m_snapshots_offset;
    uint64_t m_snapshot_table_size;
};

Result<size_t> find_index(const Qcow2State &s, std::string_view id_or_name)
{
    for (size_t i = 0; i < s.snapshots.size(); i++) {
        if (s.snapshots[i].info.id == id_or_name) {
            return i;
        }
    }
    for (size_t i = 0; i < s.snapshots.size(); i++) {
        if (s.snapshots[i].info.name == id_or_name) {
            return i;
        }
    }
    return Error::format("Can't find snapshot '{}'", id_or_name);
}

// ---------------------------------------------------------------------------
// Open.

Result<void> parse_header(Qcow2State &s)
{
    Io io(s);
    uint8_t buf[QCOW2_V3_HEADER_SIZE] = {};
    if (s.file_size < QCOW2_V2_HEADER_SIZE) {
        return Error::format("Image is not in qcow2 format (file '{}' is too "
                             "short for a qcow2 header)",
                             s.filename);
    }
    TRY(io.pread(0, std::span<uint8_t>(
                        buf, std::min<uint64_t>(s.file_size, sizeof(buf)))));
    Qcow2Header &h = s.h;
    h.magic = be32(buf);
    if (h.magic != QCOW_MAGIC) {
        return Error("Image is not in qcow2 format");
    }
    h.version = be32(buf + 4);
    if (h.version < 2 || h.version > 3) {
        return Error::format("Unsupported qcow2 version {}", h.version);
    }
    h.backing_file_offset = be64(buf + 8);
    h.backing_file_size = be32(buf + 16);
    h.cluster_bits = be32(buf + 20);
    h.size = be64(buf + 24);
    h.crypt_method = be32(buf + 32);
    h.l1_size = be32(buf + 36);
    h.l1_table_offset = be64(buf + 40);
    h.refcount_table_offset = be64(buf + 48);
    h.refcount_table_clusters = be32(buf + 56);
    h.nb_snapshots = be32(buf + 60);
    h.snapshots_offset = be64(buf + 64);
    if (h.version == 3) {
        if (s.file_size < QCOW2_V3_HEADER_SIZE) {
            return Error("qcow2 header truncated: a version 3 header is at "
                         "least 104 bytes");
        }
        h.incompatible_features = be64(buf + 72);
        h.compatible_features = be64(buf + 80);
        h.autoclear_features = be64(buf + 88);
        h.refcount_order = be32(buf + 96);
        h.header_length = be32(buf + 100);
    }
    if (h.cluster_bits < MIN_CLUSTER_BITS ||
        h.cluster_bits > MAX_CLUSTER_BITS) {
        return Error::format("Unsupported cluster size: 2^{}", h.cluster_bits);
    }
    s.cluster_size = 1ULL << h.cluster_bits;
    if (h.version == 3) {
        if (h.header_length < QCOW2_V3_HEADER_SIZE ||
            h.header_length % 8 != 0) {
            return Error::format("qcow2 header length {} invalid",
                                 h.header_length);
        }
        if (h.header_length > s.cluster_size) {
            return Error("qcow2 header exceeds cluster size");
        }
        if (h.refcount_order > 6) {
            return Error("Reference count entry width too large; may not "
                         "exceed 64 bits");
        }
    }
    if (h.crypt_method != 0) {
        return Error::format("encrypted qcow2 images (crypt_method {}) are not "
                             "supported",
                             h.crypt_method);
    }
    if (h.incompatible_features & QCOW2_INCOMPAT_DATA_FILE) {
        return Error("qcow2 images with an external data file are not "
                     "supported");
    }
    if (h.incompatible_features & QCOW2_INCOMPAT_EXTL2) {
        return Error("qcow2 images with extended L2 entries are not supported");
    }

    // Header extensions: checked for sane lengths and searched for the
    // feature name table; never rewritten, so unknown ones stay intact.
    std::map<std::pair<int, int>, std::string> feature_names;
    {
        uint64_t end = std::min<uint64_t>(s.cluster_size, s.file_size);
        uint64_t pos = h.header_length;
        std::vector<uint8_t> area(end > pos ? end - pos : 0);
        TRY(io.pread(pos, area));
        size_t p = 0;
        while (p + 8 <= area.size()) {
            uint32_t type = be32(&area[p]);
            uint32_t len = be32(&area[p + 4]);
            if (type == QCOW2_EXT_MAGIC_END) {
                break;
            }
            if (len > area.size() - p - 8) {
                return Error::format("qcow2 header extension {:#x} overruns "
                                     "the first cluster",
                                     type);
            }
            if (type == QCOW2_EXT_MAGIC_FEATURE_TABLE) {
                for (size_t f = 0; f + 48 <= len; f += 48) {
                    const uint8_t *e = &area[p + 8 + f];
                    const char *name = static_cast<const char *>(
                        static_cast<const void *>(e + 2));
                    feature_names[{e[0], e[1]}] =
                        std::string(name, strnlen(name, 46));
                }
            }
            p += 8 + ((uint64_t(len) + 7) & ~uint64_t(7));
        }
    }
    uint64_t unknown = h.incompatible_features & ~QCOW2_INCOMPAT_MASK;
    if (unknown) {
        std::string list;
        for (int bit = 0; bit < 64; bit++) {
            if (!(unknown & (1ULL << bit))) {
                continue;
            }
            auto it = feature_names.find({0, bit});
            list += list.empty() ? "" : ", ";
            list += it != feature_names.end()
                        ? it->second
                        : fmt::format("Unknown incompatible feature: {:x}",
                                      1ULL << bit);
        }
        return Error::format("Unsupported qcow2 feature(s): {}", list);
    }
    if (!s.read_only && (h.incompatible_features & QCOW2_INCOMPAT_CORRUPT)) {
        return Error("qcow2: Image is corrupt; cannot be opened read/write");
    }
    if (!s.read_only && (h.incompatible_features & QCOW2_INCOMPAT_DIRTY)) {
        return Error("qcow2: the image's dirty bit is set (its refcounts may "
                     "be stale); repair it with 'qemu-img check -r all' "
                     "before writing to it");
    }

    s.refcount_bits = 1u << h.refcount_order;
    s.refcount_max =
        s.refcount_bits == 64 ? UINT64_MAX : (1ULL << s.refcount_bits) - 1;
    s.l2_bits = h.cluster_bits - 3;
    s.rb_bits = h.cluster_bits + 3 - h.refcount_order;
    if (h.size > (1ULL << 62)) {
        return Error::format("Image too large ({} bytes)", h.size);
    }
    uint32_t shift = h.cluster_bits + s.l2_bits;
    s.l1_vm_state_index = (h.size + (1ULL << shift) - 1) >> shift;
    if (s.l1_vm_state_index > QCOW_MAX_L1_SIZE / 8) {
        return Error("Image is too big for its cluster size");
    }
    if (h.l1_size < s.l1_vm_state_index) {
        return Error("L1 table is too small");
    }
    TRY(check_table(s, h.l1_table_offset, h.l1_size, QCOW_MAX_L1_SIZE,
                    "L1 table"));
    if (h.refcount_table_clusters == 0) {
        return Error("Image does not contain a reference count table");
    }
    TRY(check_table(s, h.refcount_table_offset,
                    uint64_t(h.refcount_table_clusters) * s.cluster_size / 8,
                    QCOW_MAX_REFTABLE_SIZE, "reference count table"));
    s.l1 = TRY(read_table(s, h.l1_table_offset, h.l1_size));
    s.refcount_table = TRY(
        read_table(s, h.refcount_table_offset,
                   uint64_t(h.refcount_table_clusters) * s.cluster_size / 8));
    for (uint64_t &e : s.refcount_table) {
        e &= REFT_OFFSET_MASK;
    }
    TRY(read_snapshot_table(s));
    for (const Qcow2Snapshot &sn : s.snapshots) {
        s.infos.push_back(sn.info);
    }
    return {};
}

/// Before the first write: a metadata cluster with refcount 0 would be
/// handed out again by the allocator and overwritten, so such an image is
/// refused for writing rather than damaged further.
Result<void> check_metadata_refcounts(Qcow2State &s)
{
    Refcounts rc(s);
    auto covered = [&](uint64_t offset, uint64_t bytes,
                       std::string_view what) -> Result<void> {
        if (bytes == 0) {
            return {};
        }
        for (uint64_t c = offset >> s.h.cluster_bits;
             c <= (offset + bytes - 1) >> s.h.cluster_bits; c++) {
            if (TRY(rc.get(c)) == 0) {
                return Error::format("{} at {:#x} has refcount 0: image "
                                     "corrupt; run 'qemu-img check -r all'",
                                     what, c << s.h.cluster_bits);
            }
        }
        return {};
    };
    TRY(covered(0, 1, "the header"));
    TRY(covered(s.h.l1_table_offset, uint64_t(s.h.l1_size) * 8,
                "the L1 table"));
    TRY(covered(s.h.refcount_table_offset,
                uint64_t(s.h.refcount_table_clusters) * s.cluster_size,
                "the refcount table"));
    std::set<uint64_t> blocks;
    for (uint64_t rt = 0; rt < s.refcount_table.size(); rt++) {
        uint64_t off = s.refcount_table[rt];
        if (off == 0) {
            continue;
        }
        if (off % s.cluster_size != 0 || off > s.file_size ||
            s.file_size - off < s.cluster_size) {
            return Error::format("refcount block {} offset {:#x} invalid: "
                                 "image corrupt",
                                 rt, off);
        }
        // Two entries sharing a block would make refcounts alias (and a
        // hostile table of them would make the allocator's scan endless).
        if (!blocks.insert(off).second) {
            return Error::format("refcount block {:#x} is used twice in the "
                                 "refcount table: image corrupt",
                                 off);
        }
        TRY(covered(off, 1, "a refcount block"));
    }
    if (s.h.nb_snapshots) {
        TRY(covered(s.h.snapshots_offset, s.snapshot_table_size,
                    "the snapshot table"));
    }
    for (const Qcow2Snapshot &sn : s.snapshots) {
        TRY(covered(sn.l1_table_offset, uint64_t(sn.l1_size) * 8,
                    "a snapshot L1 table"));
    }
    return {};
}

/// Called by every modifying operation before its first write.
Result<void> prepare_write(Qcow2State &s)
{
    if (s.read_only) {
        return Error::format("image '{}' is opened read-only", s.filename);
    }
    if (s.poisoned) {
        return Error::format("an earlier write to '{}' failed; reopen the "
                             "image before modifying it again",
                             s.filename);
    }
    if (s.h.autoclear_features != 0 && !s.autoclear_cleared) {
        // We maintain none of the autoclear features (bitmaps), so the
        // spec says to clear them before writing.
        uint8_t zero[8] = {};
        Io io(s);
        TRY(io.pwrite(HDR_AUTOCLEAR, zero));
        TRY(io.flush());
        s.h.autoclear_features = 0;
        s.autoclear_cleared = true;
    }
    return {};
}


} // namespace

// ---------------------------------------------------------------------------
// Qcow2Image.

Qcow2Image::Qcow2Image(std::unique_ptr<Qcow2State> state)
    : m_s(std::move(state))
{
}

Qcow2Image::~Qcow2Image() = default;

Result<std::unique_ptr<Qcow2Image>> Qcow2Image::open(const std::string &path,
                                                     bool read_only)
{
    auto s = std::make_unique<Qcow2State>();
    s->filename = path;
    s->read_only = read_only;
    s->fd = ::open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (s->fd < 0) {
        return Error::from_errno(errno,
                                 fmt::format("Could not open '{}'", path));
    }
    auto locked = take_qemu_locks(*s);
    if (!locked) {
        return std::move(locked.release_error().prepend(
            fmt::format("Could not open '{}': ", path)));
    }
    struct stat st;
    if (fstat(s->fd, &st) < 0) {
        return Error::from_errno(errno,
                                 fmt::format("Could not stat '{}'", path));
    }
    s->file_size = uint64_t(st.st_size);
    auto parsed = parse_header(*s);
    if (!parsed) {
        return std::move(parsed.release_error().prepend(
            fmt::format("Could not open '{}': ", path)));
    }
    if (!read_only) {
        auto ok = check_metadata_refcounts(*s);
        if (!ok) {
            return std::move(ok.release_error().prepend(
                fmt::format("Could not open '{}': ", path)));
        }
    }
    return std::unique_ptr<Qcow2Image>(new Qcow2Image(std::move(s)));
}

const std::string &Qcow2Image::filename() const
{
    return m_s->filename;
}
uint64_t Qcow2Image::virtual_size() const
{
    return m_s->h.size;
}
bool Qcow2Image::read_only() const
{
    return m_s->read_only;
}
uint64_t Qcow2Image::cluster_size() const
{
    return m_s->cluster_size;
}
const std::vector<SnapshotInfo> &Qcow2Image::snapshots() const
{
    return m_s->infos;
}
void Qcow2Image::set_write_budget(std::optional<uint64_t> writes)
{
    m_s->write_budget = writes;
}
uint64_t Qcow2Image::write_count() const
{
    return m_s->write_count;
}

std::optional<SnapshotInfo>
Qcow2Image::find_snapshot(std::string_view id_or_name) const
{
    auto i = find_index(*m_s, id_or_name);
    if (!i) {
        return std::nullopt;
    }
    return m_s->snapshots[i.value()].info;
}

Result<SnapshotInfo>
Qcow2Image::create_snapshot(SnapshotInfo meta, std::span<const uint8_t> vmstate)
{
    Qcow2State &s = *m_s;
    if (s.read_only) {
        return Error::format("image '{}' is opened read-only", s.filename);
    }
    if (s.snapshots.size() >= QCOW_MAX_SNAPSHOTS) {
        return Error::format("Too many snapshots (QEMU allows {})",
                             QCOW_MAX_SNAPSHOTS);
    }
    if (meta.id.empty()) {
        // QEMU's find_new_snapshot_id: one past the largest numeric id.
        uint64_t max_id = 0;
        for (const Qcow2Snapshot &sn : s.snapshots) {
            max_id = std::max<uint64_t>(
                max_id, std::strtoull(sn.info.id.c_str(), nullptr, 10));
        }
        meta.id = std::to_string(max_id + 1);
    }
    if (meta.id.size() > UINT16_MAX || meta.name.size() > UINT16_MAX) {
        return Error("snapshot id and name must be shorter than 64 KiB");
    }
    for (const Qcow2Snapshot &sn : s.snapshots) {
        if (sn.info.id == meta.id) {
            return Error::format("a snapshot with id '{}' already exists",
                                 meta.id);
        }
        if (sn.info.name == meta.name) {
            return Error::format("a snapshot named '{}' already exists",
                                 meta.name);
        }
    }
    meta.vm_state_size = vmstate.size();

    const uint64_t cs = s.cluster_size;
    const uint64_t l2_entries = cs / 8;
    const uint64_t vm_clusters = div_round_up(vmstate.size(), cs);
    const uint64_t vm_l2s = div_round_up(vm_clusters, l2_entries);
    const uint64_t vm_index = s.l1_vm_state_index;
    const uint64_t sn_l1_size =
        std::max<uint64_t>(s.h.l1_size, vm_index + vm_l2s);
    if (sn_l1_size > QCOW_MAX_L1_SIZE / 8) {
        return Error("the VM state is too large for the L1 table");
    }
    // The guest disk part is shared with the snapshot.
    std::vector<uint64_t> shared_refs = TRY(collect_refs(s, s.l1, vm_index));
    TRY(prepare_write(s));

    MetadataUpdate u(s);
    for (uint64_t c : shared_refs) {
        TRY(u.add_ref(c, +1));
    }
    std::vector<uint64_t> shared;
    auto active = TRY(u.consistent_active_l1(s.l1, vm_index, &shared));
    std::vector<uint64_t> sn_l1(sn_l1_size, 0);
    for (uint64_t i = 0; i < std::min<uint64_t>(vm_index, shared.size()); i++) {
        sn_l1[i] = shared[i];
    }
    // The VM state and its L2 tables.  COPIED stays clear in them: flags
    // in inactive tables mean nothing, and loadvm recomputes them.
    for (uint64_t k = 0; k < vm_l2s; k++) {
        uint64_t first = k * l2_entries;
        uint64_t n = std::min(l2_entries, vm_clusters - first);
        uint64_t l2_off = TRY(u.alloc(1));
        uint64_t data_off = TRY(u.alloc(n));
        std::vector<uint8_t> data(n * cs, 0);
        uint64_t begin = first * cs;
        uint64_t len = std::min<uint64_t>(n * cs, vmstate.size() - begin);
        std::memcpy(data.data(), vmstate.data() + begin, len);
        TRY(u.write(data_off, data));
        std::vector<uint64_t> l2(l2_entries, 0);
        for (uint64_t j = 0; j < n; j++) {
            l2[j] = data_off + j * cs;
        }
        TRY(u.write(l2_off, table_bytes(l2, cs)));
        sn_l1[vm_index + k] = l2_off;
    }
    uint64_t sn_l1_off = TRY(u.alloc(div_round_up(sn_l1_size * 8, cs)));
    if (sn_l1_size) {
        TRY(u.write(sn_l1_off, table_bytes(sn_l1, cs)));
    }
    TRY(u.set_active_l1(std::move(active)));
    Qcow2Snapshot sn;
    sn.info = meta;
    sn.l1_table_offset = sn_l1_off;
    sn.l1_size = uint32_t(sn_l1_size);
    sn.disk_size = s.h.size;
    std::vector<Qcow2Snapshot> table = s.snapshots;
    table.push_back(std::move(sn));
    TRY(u.set_snapshots(std::move(table)));
    TRY(u.commit());
    return meta;
}

Result<std::vector<uint8_t>>
Qcow2Image::read_vmstate(std::string_view id_or_name)
{
    Qcow2State &s = *m_s;
    const Qcow2Snapshot &sn = s.snapshots[TRY(find_index(s, id_or_name))];
    const uint64_t cs = s.cluster_size;
    const uint64_t l2_entries = cs / 8;
    uint64_t size = sn.info.vm_state_size;
    uint64_t clusters = div_round_up(size, cs);
    if (clusters > (uint64_t(sn.l1_size) -
                    std::min<uint64_t>(sn.l1_size, s.l1_vm_state_index)) *
                       l2_entries) {
        return Error::format("snapshot '{}': the VM state extends past its L1 "
                             "table: image corrupt",
                             sn.info.name);
    }
    auto l1 = TRY(read_table(s, sn.l1_table_offset, sn.l1_size));
    std::vector<uint8_t> out(size, 0);
    Io io(s);
    uint64_t cached_l2_off = 0;
    std::vector<uint64_t> l2;
    for (uint64_t c = 0; c < clusters; c++) {
        uint64_t l1_index = s.l1_vm_state_index + c / l2_entries;
        uint64_t l2_off = TRY(l2_offset_of(s, l1[l1_index], l1_index));
        if (l2_off == 0) {
            continue; // unallocated: zeros
        }
        if (l2_off != cached_l2_off) {
            l2 = TRY(read_l2(s, l2_off));
            cached_l2_off = l2_off;
        }
        uint64_t e = l2[c % l2_entries];
        if (e & QCOW_OFLAG_COMPRESSED) {
            return Error::format("snapshot '{}': compressed VM state clusters "
                                 "are not supported",
                                 sn.info.name);
        }
        uint64_t data_off = e & L2E_OFFSET_MASK;
        if ((s.h.version >= 3 && (e & QCOW_OFLAG_ZERO)) || data_off == 0) {
            continue;
        }
        if (data_off % cs != 0 || data_off > s.file_size ||
            s.file_size - data_off < cs) {
            return Error::format("snapshot '{}': VM state cluster offset {:#x} "
                                 "invalid: image corrupt",
                                 sn.info.name, data_off);
        }
        uint64_t len = std::min<uint64_t>(cs, size - c * cs);
        TRY(io.pread(data_off, std::span<uint8_t>(out.data() + c * cs, len)));
    }
    return out;
}

Result<void> Qcow2Image::goto_snapshot(std::string_view id_or_name)
{
    Qcow2State &s = *m_s;
    if (s.read_only) {
        return Error::format("image '{}' is opened read-only", s.filename);
    }
    const Qcow2Snapshot sn = s.snapshots[TRY(find_index(s, id_or_name))];
    if (sn.disk_size != s.h.size) {
        return Error::format("snapshot '{}' has a virtual disk size of {} "
                             "bytes, the image {}: resizing on loadvm is not "
                             "supported",
                             sn.info.name, sn.disk_size, s.h.size);
    }
    const uint64_t vm_index = s.l1_vm_state_index;
    auto sn_l1 = TRY(read_table(s, sn.l1_table_offset, sn.l1_size));
    // The new active L1 maps the snapshot's guest disk; the VM state stays
    // the snapshot's alone.
    std::vector<uint64_t> new_l1(s.h.l1_size, 0);
    for (uint64_t i = 0; i < std::min<uint64_t>(vm_index, sn_l1.size()); i++) {
        new_l1[i] = sn_l1[i] & ~QCOW_OFLAG_COPIED;
    }
    std::vector<uint64_t> gained = TRY(collect_refs(s, new_l1, vm_index));
    std::vector<uint64_t> lost = TRY(collect_refs(s, s.l1, s.l1.size()));
    TRY(prepare_write(s));

    MetadataUpdate u(s);
    for (uint64_t c : gained) {
        TRY(u.add_ref(c, +1));
    }
    for (uint64_t c : lost) {
        TRY(u.add_ref(c, -1));
    }
    TRY(u.set_active_l1(TRY(u.consistent_active_l1(new_l1, 0))));
    return u.commit();
}

Result<void> Qcow2Image::delete_snapshot(std::string_view id_or_name)
{
    Qcow2State &s = *m_s;
    if (s.read_only) {
        return Error::format("image '{}' is opened read-only", s.filename);
    }
    size_t index = TRY(find_index(s, id_or_name));
    const Qcow2Snapshot sn = s.snapshots[index];
    auto sn_l1 = TRY(read_table(s, sn.l1_table_offset, sn.l1_size));
    std::vector<uint64_t> lost = TRY(collect_refs(s, sn_l1, sn_l1.size()));
    TRY(prepare_write(s));

    MetadataUpdate u(s);
    for (uint64_t c : lost) {
        TRY(u.add_ref(c, -1));
    }
    TRY(u.release(sn.l1_table_offset, uint64_t(sn.l1_size) * 8));
    // Clusters the active L1 no longer shares get their COPIED flag back.
    TRY(u.set_active_l1(TRY(u.consistent_active_l1(s.l1, 0))));
    std::vector<Qcow2Snapshot> table = s.snapshots;
    table.erase(table.begin() + ptrdiff_t(index));
    TRY(u.set_snapshots(std::move(table)));
    return u.commit();
}

// ---------------------------------------------------------------------------
// The snapshot table text.

std::string size_to_str(uint64_t bytes)
{
    static const char *const prefixes[] = {"",   "Ki", "Mi", "Gi",
                                           "Ti", "Pi", "Ei"};
    int exp = 0;
    std::frexp(double(bytes) / (1000.0 / 1024.0), &exp);
    int i = std::clamp((exp - 1) / 10, 0, 6);
    double div = double(1ULL << (i * 10));
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%0.3g %sB", double(bytes) / div,
                  prefixes[i]);
    return buf;
}

std::string format_snapshot_table(const std::vector<SnapshotInfo> &snapshots)
{
    // The column widths of QEMU's bdrv_snapshot_dump().
    std::string out =
        fmt::format("{:<10}{:<17}{:>8}{:>20}{:>13}{:>11}\n", "ID", "TAG",
                    "VM SIZE", "DATE", "VM CLOCK", "ICOUNT");
    for (const SnapshotInfo &sn : snapshots) {
        time_t t = sn.date_sec;
        struct tm tm = {};
        localtime_r(&t, &tm);
        char date[32];
        strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
        uint64_t secs = sn.vm_clock_nsec / 1000000000;
        std::string clock = fmt::format(
            "{:02}:{:02}:{:02}.{:03}", int(secs / 3600), int((secs / 60) % 60),
            int(secs % 60), int((sn.vm_clock_nsec / 1000000) % 1000));
        std::string icount = sn.icount == UINT64_MAX
                                 ? ""
                                 : fmt::format("{}", int64_t(sn.icount));
        out += fmt::format("{:<9} {:<16} {:>8}{:>20}{:>13}{:>11}\n", sn.id,
                           sn.name, size_to_str(sn.vm_state_size), date, clock,
                           icount);
    }
    return out;
}

} // namespace block
