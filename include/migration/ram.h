/*
 * Guest RAM in the migration stream (QEMU's migration/ram.c): the "ram"
 * section, version 4, an iterative section.
 *
 * Every record starts with a be64 whose low 12 bits are flags and whose
 * high bits are a page offset (or, with MEM_SIZE, the total RAM size):
 *
 *   total | MEM_SIZE                  then per block: name (u8 len +
 *                                     bytes), be64 length; until the
 *                                     lengths add up to total
 *   offset | ZERO [| CONTINUE]        [name], then one fill byte (0)
 *   offset | PAGE [| CONTINUE]        [name], then TARGET_PAGE_SIZE bytes
 *   EOS                               end of this section's body
 *
 * CONTINUE means "the block of the previous page" and omits the name.
 * The START section carries the block list and EOS; PART and END carry
 * pages and EOS.  Postcopy, XBZRLE, compression and multifd are not used.
 */
#pragma once

#include "migration/savevm.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace migration {

inline constexpr uint64_t RAM_SAVE_FLAG_FULL = 0x01; // obsolete
inline constexpr uint64_t RAM_SAVE_FLAG_ZERO = 0x02;
inline constexpr uint64_t RAM_SAVE_FLAG_MEM_SIZE = 0x04;
inline constexpr uint64_t RAM_SAVE_FLAG_PAGE = 0x08;
inline constexpr uint64_t RAM_SAVE_FLAG_EOS = 0x10;
inline constexpr uint64_t RAM_SAVE_FLAG_CONTINUE = 0x20;
inline constexpr uint64_t RAM_SAVE_FLAG_XBZRLE = 0x40;
inline constexpr uint64_t RAM_SAVE_FLAG_HOOK = 0x80;
inline constexpr uint64_t RAM_SAVE_FLAG_COMPRESS_PAGE = 0x100;

inline constexpr std::string_view RAM_SECTION_IDSTR = "ram";
inline constexpr int RAM_SECTION_VERSION = 4;

/// A block of guest RAM: QEMU's RAMBlock idstr ("pc.ram") and the host
/// memory behind it, a multiple of TARGET_PAGE_SIZE long.  The memory is
/// the caller's and must outlive the RAMState.
struct RAMBlock {
    std::string idstr;
    std::span<uint8_t> host;
};

/// Which pages the guest wrote (KVM's dirty log, a test's list).
class DirtyBitmapProvider {
public:
    virtual ~DirtyBitmapProvider() = default;
    /// Set dirty[i] for each page i of block `index` written since the
    /// previous call for that block (the first call: since tracking
    /// started).  `dirty` has one entry per page; leave others alone.
    virtual void sync_dirty(size_t index, const RAMBlock &block,
                            std::vector<bool> &dirty) = 0;
};

/// Counters of what a save sent (QEMU's ram counters).
struct RAMStats {
    /// Pages sent with their data.
    uint64_t normal_pages { 0 };
    /// Pages sent as ZERO, one fill byte and no data.
    uint64_t zero_pages { 0 };
    /// Bytes of the ram section bodies.
    uint64_t bytes { 0 };
    /// PART sections written.
    uint64_t iterations { 0 };
};

/// What a load changed in guest RAM, kept so that it can be undone: a load
/// into a running VM that fails later (a bad device section, a disk that
/// cannot revert) puts RAM back with restore().  Only pages the load really
/// changes are kept; a page that was zero is kept as its address alone, so
/// a mostly empty guest costs next to nothing (no copy of all of RAM).
class RAMUndoLog {
public:
    /// Before the loader writes `page`, TARGET_PAGE_SIZE bytes inside
    /// block `block` of `blocks`; the first write to a page keeps it.
    void before_write(size_t block, const std::vector<RAMBlock> &blocks,
                      std::span<const uint8_t> page);
    /// Every changed page as it was, in reverse order of change.
    void restore() const;
    /// Pages the load changed, and of those, how many held data.
    size_t changed_pages() const { return m_pages.size(); }
    size_t kept_pages() const { return m_data.size() / TARGET_PAGE_SIZE; }

private:
    static constexpr size_t ZERO = SIZE_MAX;
    struct Page {
        uint8_t *host;
        /// Offset of its old bytes in m_data, or ZERO.
        size_t data;
    };
    std::vector<std::vector<bool>> m_seen;
    std::vector<Page> m_pages;
    std::vector<uint8_t> m_data;
};

/// Saves and loads the "ram" section over a set of blocks (QEMU's
/// RAMState with savevm_ram_handlers).  The first pass sends every page,
/// zero pages as flags only; later passes send the pages the
/// DirtyBitmapProvider reports.  Without a provider nothing becomes
/// dirty after the first pass (the guest is stopped).
class RAMState final : public SaveVMHandlers {
public:
    explicit RAMState(std::vector<RAMBlock> blocks,
                      DirtyBitmapProvider *dirty = nullptr);

    /// Register as section "ram" instance 0, version 4.
    qapi::Result<void> register_with(SaveVM &savevm);

    /// At most this many page bytes per save_iterate(); 0 (the default)
    /// for no limit.  The limit lets a migration thread come back and
    /// look at pending_exact() between chunks.
    void set_max_iterate_bytes(uint64_t bytes) { m_max_iterate_bytes = bytes; }

    const std::vector<RAMBlock> &blocks() const { return m_blocks; }
    /// Keep what load() changes in `log` (nullptr: keep nothing).
    void set_undo_log(RAMUndoLog *log) { m_undo = log; }
    const RAMStats &stats() const { return m_stats; }
    /// Sum of the block sizes.
    uint64_t total_bytes() const;

    qapi::Result<void> save_setup(StreamWriter &f) override;
    qapi::Result<bool> save_iterate(StreamWriter &f) override;
    qapi::Result<void> save_complete(StreamWriter &f) override;
    /// Syncs the dirty log, then the bytes of the dirty pages.
    uint64_t pending_exact() override;
    /// Pages must land inside a known block of the same size; errors name
    /// the block and the offset.
    qapi::Result<void> load(StreamReader &f, int version_id) override;

private:
    void sync_dirty();
    /// Send dirty pages until none is left or `budget` bytes went.
    void send_dirty_pages(StreamWriter &f, uint64_t budget);
    void send_page(StreamWriter &f, size_t block, size_t page);
    qapi::Result<void> load_block_list(StreamReader &f, uint64_t total);
    qapi::Result<size_t> block_from_stream(StreamReader &f, uint64_t flags);

    std::vector<RAMBlock> m_blocks;
    DirtyBitmapProvider *m_dirty_provider;
    std::vector<std::vector<bool>> m_dirty;
    uint64_t m_dirty_pages { 0 };
    uint64_t m_max_iterate_bytes { 0 };
    static constexpr size_t NO_BLOCK = SIZE_MAX;
    /// The block of the previous page record (save and load).
    size_t m_last_block { NO_BLOCK };
    /// Where the next send_dirty_pages() starts scanning.
    size_t m_cursor_block { 0 };
    size_t m_cursor_page { 0 };
    RAMStats m_stats;
    RAMUndoLog *m_undo { nullptr };
};

} // namespace migration
