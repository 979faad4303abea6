/*
 * The non-template half of the VMState engine: errors, the JSON field
 * entries of the VM description, subsection headers.
 */
#include "migration/vmstate.h"

namespace migration::detail {

qapi::Error field_error(std::string_view vmsd, std::string_view field,
                        qapi::Error cause)
{
    // QEMU says "Failed to load %s:%s"; the cause follows so that the
    // reader learns why.
    return std::move(cause).prepend(
        fmt::format("Failed to load {}:{}: ", vmsd, field));
}

qapi::Result<void> check_load_version(std::string_view vmsd, int64_t version,
                                      int version_id, int minimum_version_id)
{
    if (version > version_id) {
        return qapi::Error::format(
            "{}: incoming version_id {} is too new for local version_id {}",
            vmsd, version, version_id);
    }
    if (version < minimum_version_id) {
        return qapi::Error::format("{}: incoming version_id {} is too old for "
                                   "local minimum version_id {}",
                                   vmsd, version, minimum_version_id);
    }
    return {};
}

qapi::QObject vmdesc_field(const std::string &name, std::string_view type,
                           size_t index, size_t n_elems, bool compressible,
                           qapi::QObject *struct_desc, uint64_t size)
{
    // Member order is QEMU's vmsd_desc_field_start/_end: name, array_len or
    // index, type, struct, size.
    qapi::QObject entry = qapi::QObject::dict();
    entry.set("name", name);
    if (n_elems > 1) {
        if (compressible) {
            entry.set("array_len", uint64_t { n_elems });
        } else {
            entry.set("index", uint64_t { index });
        }
    }
    entry.set("type", type);
    if (struct_desc) {
        entry.set("struct", std::move(*struct_desc));
    }
    entry.set("size", size);
    return entry;
}

std::optional<std::string> peek_subsection(StreamReader &f,
                                           std::string_view parent)
{
    // QEMU's vmstate_subsection_load(): anything else ends the list and is
    // left for the caller to read (the next field of an enclosing struct,
    // a section footer).
    auto marker = f.peek_byte(0);
    if (!marker || *marker != QEMU_VM_SUBSECTION) {
        return std::nullopt;
    }
    auto len = f.peek_byte(1);
    if (!len || *len < parent.size() + 1) {
        return std::nullopt;
    }
    auto name = f.peek_buffer(2, *len);
    if (!name) {
        return std::nullopt;
    }
    std::string idstr(name->begin(), name->end());
    if (idstr.compare(0, parent.size(), parent) != 0) {
        return std::nullopt;
    }
    return idstr;
}

void put_subsection_header(StreamWriter &f, std::string_view name,
                           int version_id)
{
    f.put_byte(QEMU_VM_SUBSECTION);
    f.put_counted_string(name);
    f.put_be32(uint32_t(version_id));
}

int64_t get_subsection_header(StreamReader &f, size_t name_len)
{
    f.skip(2 + name_len);
    return f.get_be32();
}

} // namespace migration::detail
