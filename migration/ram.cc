/*
 * The "ram" section.
 */
#include "migration/ram.h"

#include <algorithm>
#include <cstring>

namespace migration {

namespace {

constexpr uint64_t PAGE_MASK = ~(TARGET_PAGE_SIZE - 1);

// QEMU's buffer_is_zero(): most pages of a fresh guest are zero, and a
// page that is not usually says so in its first word.  The rest is read
// 128 bytes a turn into four 32-byte lanes, stopping at the first turn that
// finds a set bit.  Reading untouched guest RAM hits the kernel's one huge
// zero page, which stays in cache, so the test is bound by instructions,
// not memory: GCC builds an AVX2 clone, chosen at load time where the CPU
// has AVX2, and an SSE2 one (every x86-64) otherwise.
__attribute__((target_clones("avx2", "default")))
bool is_zero_page(std::span<const uint8_t> page)
{
    using Lane = uint64_t __attribute__((vector_size(32)));
    const uint8_t *p = page.data();
    size_t n = page.size();
    uint64_t head = 0;
    if (n >= sizeof(head)) {
        std::memcpy(&head, p, sizeof(head));
        if (head != 0) {
            return false;
        }
    }
    size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        Lane a, b, c, d;
        std::memcpy(&a, p + i, 32);
        std::memcpy(&b, p + i + 32, 32);
        std::memcpy(&c, p + i + 64, 32);
        std::memcpy(&d, p + i + 96, 32);
        Lane acc = (a | b) | (c | d);
        if ((acc[0] | acc[1] | acc[2] | acc[3]) != 0) {
            return false;
        }
    }
    uint8_t tail = 0;
    for (; i < n; i++) {
        tail |= p[i];
    }
    return tail == 0;
}

} // namespace

RAMState::RAMState(std::vector<RAMBlock> blocks, DirtyBitmapProvider *dirty)
    : m_blocks(std::move(blocks))
    , m_dirty_provider(dirty)
{
    for (const auto &b : m_blocks) {
        m_dirty.emplace_back(b.host.size() / TARGET_PAGE_SIZE, false);
    }
}

qapi::Result<void> RAMState::register_with(SaveVM &savevm)
{
    return savevm.register_live(std::string(RAM_SECTION_IDSTR), 0,
                                RAM_SECTION_VERSION, *this);
}

uint64_t RAMState::total_bytes() const
{
    uint64_t total = 0;
    for (const auto &b : m_blocks) {
        total += b.host.size();
    }
    return total;
}

void RAMState::sync_dirty()
{
    if (!m_dirty_provider) {
        return;
    }
    for (size_t i = 0; i < m_blocks.size(); i++) {
        m_dirty_provider->sync_dirty(i, m_blocks[i], m_dirty[i]);
    }
    m_dirty_pages = 0;
    for (const auto &bits : m_dirty) {
        m_dirty_pages += uint64_t(std::count(bits.begin(), bits.end(), true));
    }
}

void RAMState::send_page(StreamWriter &f, size_t block, size_t page)
{
    const RAMBlock &b = m_blocks[block];
    auto data = b.host.subspan(page * TARGET_PAGE_SIZE, TARGET_PAGE_SIZE);
    bool zero = is_zero_page(data);
    // QEMU's save_page_header(): the name only when the block changes.
    uint64_t header = uint64_t(page) * TARGET_PAGE_SIZE |
                      (zero ? RAM_SAVE_FLAG_ZERO : RAM_SAVE_FLAG_PAGE);
    if (block == m_last_block) {
        header |= RAM_SAVE_FLAG_CONTINUE;
    }
    f.put_be64(header);
    if (block != m_last_block) {
        f.put_counted_string(b.idstr);
        m_last_block = block;
    }
    if (zero) {
        // QEMU's save_zero_page_to_file(): the fill byte, always 0.
        f.put_byte(0);
        m_stats.zero_pages++;
    } else {
        f.put_buffer(data);
        m_stats.normal_pages++;
    }
}

void RAMState::send_dirty_pages(StreamWriter &f, uint64_t budget)
{
    // From the cursor onwards, wrapping; m_dirty_pages > 0 means a dirty
    // page lies ahead, so every turn of the loop gets nearer to one.
    uint64_t sent = 0;
    while (m_dirty_pages > 0 && (budget == 0 || sent < budget)) {
        auto &bits = m_dirty[m_cursor_block];
        if (m_cursor_page >= bits.size()) {
            m_cursor_page = 0;
            m_cursor_block = (m_cursor_block + 1) % m_blocks.size();
            continue;
        }
        if (bits[m_cursor_page]) {
            bits[m_cursor_page] = false;
            m_dirty_pages--;
            send_page(f, m_cursor_block, m_cursor_page);
            sent += TARGET_PAGE_SIZE;
        }
        m_cursor_page++;
    }
}

qapi::Result<void> RAMState::save_setup(StreamWriter &f)
{
    for (const auto &b : m_blocks) {
        if (b.host.size() % TARGET_PAGE_SIZE != 0) {
            return qapi::Error::format(
                "RAM block '{}' has 0x{:x} bytes, not a multiple of the page "
                "size 0x{:x}",
                b.idstr, b.host.size(), TARGET_PAGE_SIZE);
        }
    }
    uint64_t start = f.transferred();
    // QEMU's ram_save_setup(): total | MEM_SIZE, each block's name and
    // used length, EOS.
    f.put_be64(total_bytes() | RAM_SAVE_FLAG_MEM_SIZE);
    for (const auto &b : m_blocks) {
        f.put_counted_string(b.idstr);
        f.put_be64(b.host.size());
    }
    f.put_be64(RAM_SAVE_FLAG_EOS);

    // The first pass sends everything; the provider's first answer only
    // starts its tracking.
    sync_dirty();
    m_dirty_pages = 0;
    for (auto &bits : m_dirty) {
        std::fill(bits.begin(), bits.end(), true);
        m_dirty_pages += bits.size();
    }
    m_cursor_block = 0;
    m_cursor_page = 0;
    m_stats = {};
    m_stats.bytes = f.transferred() - start;
    return f.check();
}

qapi::Result<bool> RAMState::save_iterate(StreamWriter &f)
{
    uint64_t start = f.transferred();
    // Each section names its first block again, so that a section can be
    // read without the one before.
    m_last_block = NO_BLOCK;
    if (!m_blocks.empty()) {
        send_dirty_pages(f, m_max_iterate_bytes);
    }
    f.put_be64(RAM_SAVE_FLAG_EOS);
    m_stats.iterations++;
    m_stats.bytes += f.transferred() - start;
    TRY(f.check());
    return m_dirty_pages == 0;
}

qapi::Result<void> RAMState::save_complete(StreamWriter &f)
{
    uint64_t start = f.transferred();
    m_last_block = NO_BLOCK;
    sync_dirty();
    if (!m_blocks.empty()) {
        send_dirty_pages(f, 0);
    }
    f.put_be64(RAM_SAVE_FLAG_EOS);
    m_stats.bytes += f.transferred() - start;
    return f.check();
}

uint64_t RAMState::pending_exact()
{
    sync_dirty();
    return m_dirty_pages * TARGET_PAGE_SIZE;
}

qapi::Result<void> RAMState::load_block_list(StreamReader &f, uint64_t total)
{
    // QEMU's ram_load_precopy(), RAM_SAVE_FLAG_MEM_SIZE: blocks until
    // their lengths account for the total.
    uint64_t remaining = total;
    while (remaining > 0) {
        auto idstr = f.get_counted_string();
        uint64_t length = f.get_be64();
        TRY(f.check());
        auto it = std::find_if(m_blocks.begin(), m_blocks.end(),
                               [&](const RAMBlock &b) {
                                   return b.idstr == *idstr;
                               });
        if (it == m_blocks.end()) {
            return qapi::Error::format(
                "Unknown ramblock \"{}\", cannot accept migration", *idstr);
        }
        if (length != it->host.size()) {
            // QEMU 7.2's qemu_ram_resize() text for a fixed-size block.
            return qapi::Error::format("Size mismatch: {}: 0x{:x} != 0x{:x}",
                                       *idstr, length, it->host.size());
        }
        if (length > remaining) {
            return qapi::Error::format(
                "RAM block '{}' of 0x{:x} bytes exceeds the announced total "
                "0x{:x}",
                *idstr, length, total);
        }
        remaining -= length;
    }
    return {};
}

qapi::Result<size_t> RAMState::block_from_stream(StreamReader &f,
                                                 uint64_t flags)
{
    if (flags & RAM_SAVE_FLAG_CONTINUE) {
        if (m_last_block == NO_BLOCK) {
            return qapi::Error(
                "RAM page continues the previous block but none was named");
        }
        return m_last_block;
    }
    auto idstr = f.get_counted_string();
    TRY(f.check());
    for (size_t i = 0; i < m_blocks.size(); i++) {
        if (m_blocks[i].idstr == *idstr) {
            m_last_block = i;
            return i;
        }
    }
    return qapi::Error::format("RAM page for unknown block '{}'", *idstr);
}

void RAMUndoLog::before_write(size_t block, const std::vector<RAMBlock> &blocks,
                              std::span<const uint8_t> page)
{
    if (m_seen.size() < blocks.size()) {
        m_seen.resize(blocks.size());
    }
    std::vector<bool> &seen = m_seen[block];
    if (seen.empty()) {
        seen.resize(blocks[block].host.size() / TARGET_PAGE_SIZE);
    }
    const size_t index = static_cast<size_t>(page.data() - blocks[block].host.data()) /
                         TARGET_PAGE_SIZE;
    if (seen[index]) {
        return;
    }
    seen[index] = true;
    uint8_t *host = blocks[block].host.data() + index * TARGET_PAGE_SIZE;
    if (is_zero_page(page)) {
        m_pages.push_back(Page { host, ZERO });
        return;
    }
    m_pages.push_back(Page { host, m_data.size() });
    m_data.insert(m_data.end(), page.begin(), page.end());
}

void RAMUndoLog::restore() const
{
    for (auto it = m_pages.rbegin(); it != m_pages.rend(); ++it) {
        if (it->data == ZERO) {
            std::memset(it->host, 0, TARGET_PAGE_SIZE);
        } else {
            std::memcpy(it->host, m_data.data() + it->data, TARGET_PAGE_SIZE);
        }
    }
}

qapi::Result<void> RAMState::load(StreamReader &f, int version_id)
{
    if (version_id != RAM_SECTION_VERSION) {
        return qapi::Error::format("ram: unsupported version {} (only {})",
                                   version_id, RAM_SECTION_VERSION);
    }
    for (;;) {
        uint64_t record_offset = f.offset();
        uint64_t addr = f.get_be64();
        TRY(f.check());
        uint64_t flags = addr & ~PAGE_MASK;
        addr &= PAGE_MASK;
        switch (flags & ~RAM_SAVE_FLAG_CONTINUE) {
        case RAM_SAVE_FLAG_MEM_SIZE:
            m_last_block = NO_BLOCK;
            TRY(load_block_list(f, addr));
            break;
        case RAM_SAVE_FLAG_ZERO:
        case RAM_SAVE_FLAG_PAGE: {
            size_t index = TRY(block_from_stream(f, flags));
            RAMBlock &b = m_blocks[index];
            if (addr >= b.host.size()) {
                return qapi::Error::format(
                    "RAM page at offset 0x{:x} is outside block '{}' (0x{:x} "
                    "bytes), record at stream offset {}",
                    addr, b.idstr, b.host.size(), record_offset);
            }
            auto page = b.host.subspan(addr, TARGET_PAGE_SIZE);
            if (flags & RAM_SAVE_FLAG_ZERO) {
                // QEMU's ram_handle_zero(): fill with the byte, but leave a
                // page that is zero already untouched, so that RAM the guest
                // never used is not allocated on the destination.
                uint8_t fill = f.get_byte();
                if (fill != 0 || !is_zero_page(page)) {
                    if (m_undo) {
                        m_undo->before_write(index, m_blocks, page);
                    }
                    std::memset(page.data(), fill, page.size());
                }
            } else {
                if (m_undo) {
                    m_undo->before_write(index, m_blocks, page);
                }
                f.get_buffer(page);
            }
            TRY(f.check());
            break;
        }
        case RAM_SAVE_FLAG_EOS:
            return {};
        default:
            return qapi::Error::format(
                "Unknown combination of migration flags: 0x{:x} (record at "
                "stream offset {})",
                flags, record_offset);
        }
    }
}

} // namespace migration
