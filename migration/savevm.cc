/*
 * The savevm stream: writing and reading QEMU's format.
 */
#include "migration/savevm.h"

#include "qapi/qjson.h"
#include "trace/trace-migration.h"

#include <algorithm>
#include <map>

namespace migration {

struct SaveVM::Entry {
    std::string idstr;
    uint32_t instance_id { 0 };
    int version_id { 0 };
    uint32_t section_id { 0 };
    MigrationPriority priority { MigrationPriority::Default };
    // Exactly one of the two.
    std::unique_ptr<VMStateInstance> vmsd;
    SaveVMHandlers *live { nullptr };
    // Live state of a save: true once save_iterate() reported done.
    bool done { false };
};

namespace {

// QEMU's "configuration" section: the machine type, plus the target page
// size when it is not the minimum (never on x86, but the subsection is
// known so that a stream carrying it loads).
struct Configuration {
    uint32_t len { 0 };
    std::string name;
    uint32_t target_page_bits { TARGET_PAGE_BITS };
    std::string local_name;
};

const VMStateDescription<Configuration> &vmstate_configuration()
{
    static const auto vmsd = [] {
        auto page_bits =
            vmstate<Configuration>("configuration/target-page-bits")
                .version(1)
                .minimum_version(1)
                .needed([](const Configuration &c) {
                    return c.target_page_bits != TARGET_PAGE_BITS;
                })
                .field("target_page_bits", &Configuration::target_page_bits)
                .build();
        return vmstate<Configuration>("configuration")
            .version(1)
            .field("len", &Configuration::len)
            // The longest machine type name we accept; QEMU's are < 32.
            .vbuffer("name", &Configuration::name, &Configuration::len, 256)
            .subsection(page_bits)
            .pre_load([](Configuration &c) -> qapi::Result<void> {
                c.target_page_bits = TARGET_PAGE_BITS;
                return {};
            })
            .post_load([](Configuration &c, int) -> qapi::Result<void> {
                // QEMU compares with strncmp(received, local, len), so a
                // received prefix of the local name passes there; seoib
                // wants the same machine type and compares all of it.
                if (c.name != c.local_name) {
                    return qapi::Error::format(
                        "Machine type received is '{}' and local is '{}'",
                        c.name, c.local_name);
                }
                if (c.target_page_bits != TARGET_PAGE_BITS) {
                    return qapi::Error::format(
                        "Received TARGET_PAGE_BITS is {} but local is {}",
                        c.target_page_bits, TARGET_PAGE_BITS);
                }
                return {};
            })
            .build();
    }();
    return vmsd;
}

void save_section_header(StreamWriter &f, uint8_t type, const auto &e)
{
    f.put_byte(type);
    f.put_be32(e.section_id);
    if (type == QEMU_VM_SECTION_START || type == QEMU_VM_SECTION_FULL) {
        f.put_counted_string(e.idstr);
        f.put_be32(e.instance_id);
        f.put_be32(uint32_t(e.version_id));
    }
}

void save_section_footer(StreamWriter &f, const auto &e)
{
    f.put_byte(QEMU_VM_SECTION_FOOTER);
    f.put_be32(e.section_id);
}

// One section of a live handler: header, the handler's body, footer.
// `body` returns a Result; its error is prefixed with section and phase.
template <typename F>
auto write_live_section(StreamWriter &f, const auto &e, uint8_t type,
                        std::string_view phase, F &&body)
{
    save_section_header(f, type, e);
    auto r = body();
    if (!r) {
        return decltype(r)(r.release_error().prepend(
            fmt::format("section '{}' {}: ", e.idstr, phase)));
    }
    save_section_footer(f, e);
    return r;
}

// The reader's sticky error with what was being read appended.
qapi::Error truncated(const StreamReader &f, std::string_view where)
{
    return qapi::Error::format("{} {}", f.error()->message(), where);
}

// For a failed load of a section: QEMU's prefix, then the cause.
qapi::Error section_error(qapi::Error cause, uint32_t instance_id,
                          std::string_view idstr)
{
    return std::move(cause).prepend(fmt::format(
        "error while loading state for instance 0x{:x} of device '{}': ",
        instance_id, idstr));
}

qapi::Result<void> check_section_footer(StreamReader &f, uint32_t section_id,
                                        std::string_view idstr)
{
    uint8_t marker = f.get_byte();
    if (f.error()) {
        return truncated(f,
                         fmt::format("in the footer of section '{}'", idstr));
    }
    if (marker != QEMU_VM_SECTION_FOOTER) {
        return qapi::Error::format("Missing section footer for {}", idstr);
    }
    uint32_t read_id = f.get_be32();
    if (f.error()) {
        return truncated(f,
                         fmt::format("in the footer of section '{}'", idstr));
    }
    if (read_id != section_id) {
        return qapi::Error::format(
            "Mismatched section id in footer for {} - read 0x{:x} expected "
            "0x{:x}",
            idstr, read_id, section_id);
    }
    return {};
}

const char *type_name(uint8_t type)
{
    switch (type) {
    case QEMU_VM_SECTION_START:
        return "START";
    case QEMU_VM_SECTION_PART:
        return "PART";
    case QEMU_VM_SECTION_END:
        return "END";
    default:
        return "FULL";
    }
}

} // namespace

SaveVM::SaveVM()
    : m_vmdesc(qapi::QObject::dict())
{
}

SaveVM::~SaveVM() = default;

SaveVM::Entry *SaveVM::find(std::string_view idstr, uint32_t instance_id)
{
    for (auto &e : m_entries) {
        if (e->idstr == idstr && e->instance_id == instance_id) {
            return e.get();
        }
    }
    return nullptr;
}

qapi::Result<void> SaveVM::add(std::unique_ptr<Entry> entry)
{
    if (entry->idstr.empty() || entry->idstr.size() > 255) {
        return qapi::Error::format(
            "section name '{}' must have 1 to 255 bytes", entry->idstr);
    }
    if (find(entry->idstr, entry->instance_id)) {
        return qapi::Error::format("section '{}' instance {} is already "
                                   "registered",
                                   entry->idstr, entry->instance_id);
    }
    entry->section_id = m_next_section_id++;
    // QEMU's savevm_state_handler_insert: before the first entry of lower
    // priority, so equal priorities keep registration order.
    auto pos = std::find_if(m_entries.begin(), m_entries.end(),
                            [&](const auto &e) {
                                return e->priority < entry->priority;
                            });
    m_entries.insert(pos, std::move(entry));
    return {};
}

qapi::Result<void> SaveVM::register_instance(
    std::string idstr, uint32_t instance_id,
    std::unique_ptr<VMStateInstance> vmsd, MigrationPriority priority)
{
    auto e = std::make_unique<Entry>();
    e->idstr = std::move(idstr);
    e->instance_id = instance_id;
    e->version_id = vmsd->version_id();
    e->priority = priority;
    e->vmsd = std::move(vmsd);
    return add(std::move(e));
}

qapi::Result<void> SaveVM::register_live(std::string idstr,
                                         uint32_t instance_id, int version_id,
                                         SaveVMHandlers &handlers,
                                         MigrationPriority priority)
{
    auto e = std::make_unique<Entry>();
    e->idstr = std::move(idstr);
    e->instance_id = instance_id;
    e->version_id = version_id;
    e->priority = priority;
    e->live = &handlers;
    return add(std::move(e));
}

bool SaveVM::unregister(std::string_view idstr, uint32_t instance_id)
{
    auto it = std::find_if(m_entries.begin(), m_entries.end(),
                           [&](const auto &e) {
                               return e->idstr == idstr &&
                                      e->instance_id == instance_id;
                           });
    if (it == m_entries.end()) {
        return false;
    }
    m_entries.erase(it);
    return true;
}

qapi::Result<void> SaveVM::save_header(StreamWriter &f,
                                       std::string_view machine_type)
{
    f.put_be32(QEMU_VM_FILE_MAGIC);
    f.put_be32(QEMU_VM_FILE_VERSION);
    // QEMU 7.2 writes the configuration without describing it in the
    // VM description; so does seoib.
    f.put_byte(QEMU_VM_CONFIGURATION);
    Configuration config;
    config.name = std::string(machine_type);
    config.len = uint32_t(config.name.size());
    TRY(vmstate_configuration().save_state(f, config));
    return f.check();
}

qapi::Result<void> SaveVM::save_setup(StreamWriter &f)
{
    for (auto &e : m_entries) {
        if (!e->live) {
            continue;
        }
        e->done = false;
        trace_migration_section_save(e->idstr.c_str(), e->version_id);
        TRY(write_live_section(f, *e, QEMU_VM_SECTION_START, "setup",
                               [&] { return e->live->save_setup(f); }));
    }
    return f.check();
}

qapi::Result<bool> SaveVM::save_iterate(StreamWriter &f)
{
    bool all_done = true;
    for (auto &e : m_entries) {
        if (!e->live || e->done) {
            continue;
        }
        e->done = TRY(write_live_section(
            f, *e, QEMU_VM_SECTION_PART, "iteration",
            [&] { return e->live->save_iterate(f); }));
        all_done = all_done && e->done;
    }
    TRY(f.check());
    return all_done;
}

uint64_t SaveVM::pending_exact()
{
    uint64_t total = 0;
    for (auto &e : m_entries) {
        if (e->live) {
            total += e->live->pending_exact();
        }
    }
    return total;
}

qapi::Result<void> SaveVM::save_complete(StreamWriter &f)
{
    for (auto &e : m_entries) {
        if (!e->live) {
            continue;
        }
        TRY(write_live_section(f, *e, QEMU_VM_SECTION_END, "completion",
                               [&] { return e->live->save_complete(f); }));
    }

    // QEMU's qemu_savevm_state_complete_precopy_non_iterable: each device
    // section is described as it is written.
    qapi::QObject devices = qapi::QObject::list();
    for (auto &e : m_entries) {
        // QEMU skips a section whose description says it is not needed:
        // no header, no description entry.
        if (!e->vmsd || !e->vmsd->needed()) {
            continue;
        }
        trace_migration_section_save(e->idstr.c_str(), e->version_id);
        qapi::QObject desc = qapi::QObject::dict();
        desc.set("name", e->idstr);
        desc.set("instance_id", uint64_t { e->instance_id });
        save_section_header(f, QEMU_VM_SECTION_FULL, *e);
        auto r = e->vmsd->save(f, &desc);
        if (!r) {
            return r.release_error().prepend(
                fmt::format("section '{}': ", e->idstr));
        }
        save_section_footer(f, *e);
        devices.append(std::move(desc));
    }
    f.put_byte(QEMU_VM_EOF);

    m_vmdesc = qapi::QObject::dict();
    m_vmdesc.set("page_size", TARGET_PAGE_SIZE);
    m_vmdesc.set("devices", std::move(devices));
    std::string json = qapi::to_json(m_vmdesc);
    f.put_byte(QEMU_VM_VMDESCRIPTION);
    f.put_be32(uint32_t(json.size()));
    f.put_buffer(json);
    return f.flush();
}

qapi::Result<void> SaveVM::save_state(StreamWriter &f,
                                      std::string_view machine_type)
{
    TRY(save_header(f, machine_type));
    TRY(save_setup(f));
    // With the guest stopped nothing becomes dirty, so this ends; the
    // bound only guards against a handler that never says done.
    for (int i = 0; i < 1000; i++) {
        if (TRY(save_iterate(f))) {
            break;
        }
    }
    return save_complete(f);
}

qapi::Result<LoadResult> SaveVM::load_state(StreamReader &f,
                                            const LoadOptions &options)
{
    LoadResult result;

    uint32_t magic = f.get_be32();
    uint32_t version = f.get_be32();
    if (f.error()) {
        return truncated(f, "in the stream header");
    }
    if (magic != QEMU_VM_FILE_MAGIC) {
        return qapi::Error::format(
            "Not a migration stream (magic 0x{:08x}, expected 0x{:08x})",
            magic, QEMU_VM_FILE_MAGIC);
    }
    if (version == QEMU_VM_FILE_VERSION_COMPAT) {
        return qapi::Error("SaveVM v2 format is obsolete and don't work "
                           "anymore");
    }
    if (version != QEMU_VM_FILE_VERSION) {
        return qapi::Error::format(
            "Unsupported migration stream version {} (expected {})", version,
            QEMU_VM_FILE_VERSION);
    }

    uint8_t config_marker = f.get_byte();
    if (f.error()) {
        return truncated(f, "where the configuration section starts");
    }
    if (config_marker != QEMU_VM_CONFIGURATION) {
        return qapi::Error("Configuration section missing");
    }
    Configuration config;
    config.local_name = options.machine_type;
    auto config_r = vmstate_configuration().load_state(f, config, 1);
    if (!config_r) {
        return config_r.release_error();
    }
    result.machine_type = config.name;

    // Sections started (START) and waiting for PART/END, by section id.
    std::map<uint32_t, Entry *> started;
    for (;;) {
        uint8_t type = f.get_byte();
        if (f.error()) {
            return truncated(f, "where a section or QEMU_VM_EOF should start");
        }
        if (type == QEMU_VM_EOF) {
            break;
        }
        Entry *e = nullptr;
        uint32_t section_id = f.get_be32();
        uint32_t instance_id = 0;
        int version_id = 0;
        if (type == QEMU_VM_SECTION_START || type == QEMU_VM_SECTION_FULL) {
            auto idstr = f.get_counted_string();
            instance_id = f.get_be32();
            uint32_t v = f.get_be32();
            if (f.error()) {
                return truncated(
                    f, idstr ? fmt::format("in the header of section '{}'",
                                           *idstr)
                             : std::string("in the header of a section"));
            }
            trace_migration_section_load(idstr->c_str(), int(v));
            e = find(*idstr, instance_id);
            if (!e) {
                trace_migration_section_unknown(idstr->c_str());
                return qapi::Error::format(
                    "Unknown savevm section or instance '{}' {}. Make sure "
                    "that your current VM setup matches your saved VM setup, "
                    "including any hotplugged devices",
                    *idstr, instance_id);
            }
            if (v > uint32_t(e->version_id)) {
                return qapi::Error::format(
                    "savevm: unsupported version {} for '{}' v{}", v, *idstr,
                    e->version_id);
            }
            version_id = int(v);
            if ((type == QEMU_VM_SECTION_FULL) != (e->vmsd != nullptr)) {
                return qapi::Error::format(
                    "section '{}' arrived as {} but is {}", *idstr,
                    type_name(type),
                    e->vmsd ? "a device section (FULL)"
                            : "an iterative section (START/PART/END)");
            }
            if (options.before_section) {
                TRY(options.before_section(e->idstr, instance_id));
            }
            if (type == QEMU_VM_SECTION_START) {
                started[section_id] = e;
            }
            result.sections.push_back(e->idstr);
        } else if (type == QEMU_VM_SECTION_PART ||
                   type == QEMU_VM_SECTION_END) {
            if (f.error()) {
                return truncated(f, "in the header of a section");
            }
            auto it = started.find(section_id);
            if (it == started.end()) {
                return qapi::Error::format("Unknown savevm section {}",
                                           section_id);
            }
            e = it->second;
            instance_id = e->instance_id;
            version_id = e->version_id;
        } else {
            return qapi::Error::format(
                "Unknown savevm section type {} at offset {}", type,
                f.offset() - 5);
        }

        auto r = e->vmsd ? e->vmsd->load(f, version_id)
                         : e->live->load(f, version_id);
        if (r && f.error()) {
            r = f.error()->clone();
        }
        if (!r) {
            return section_error(r.release_error(), instance_id, e->idstr);
        }
        TRY(check_section_footer(f, section_id, e->idstr));
        if (type == QEMU_VM_SECTION_END) {
            started.erase(section_id);
        }
        if (options.after_section) {
            TRY(options.after_section(e->idstr, instance_id));
        }
    }

    // After EOF QEMU's loader reads nothing; the description that follows
    // is for tools.  Read it when it is there, and only then.
    if (!f.at_end()) {
        uint8_t marker = f.get_byte();
        if (marker != QEMU_VM_VMDESCRIPTION) {
            return qapi::Error::format(
                "unexpected byte 0x{:02x} after QEMU_VM_EOF at offset {}",
                marker, f.offset() - 1);
        }
        uint32_t len = f.get_be32();
        if (f.error()) {
            return truncated(f, "in the VM description header");
        }
        qapi::JsonLimits limits;
        if (len > limits.max_size) {
            return qapi::Error::format(
                "VM description of {} bytes is larger than the limit {}", len,
                limits.max_size);
        }
        std::string json(len, '\0');
        f.get_buffer(std::span<uint8_t>(
            static_cast<uint8_t *>(static_cast<void *>(json.data())), len));
        if (f.error()) {
            return truncated(f, "in the VM description");
        }
        auto parsed = qapi::from_json(json, limits);
        if (!parsed) {
            return parsed.release_error().prepend("VM description: ");
        }
        result.vmdesc = parsed.release_value();
    }
    return result;
}

} // namespace migration
