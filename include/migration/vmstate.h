/*
 * VMState: declarative device state descriptions (QEMU's
 * include/migration/vmstate.h, made typed).
 *
 * A VMStateDescription<T> lists the fields of a T that migrate, in stream
 * order, with QEMU's vocabulary: name, version_id, minimum_version_id,
 * fields (each with the version it appeared in), subsections with a
 * `needed` test, pre_save / pre_load / post_load.  It is built once, from
 * member pointers, by a VMStateBuilder:
 *
 *   const auto vmsd = migration::vmstate<IOAPICCommonState>("ioapic")
 *       .version(3).minimum_version(1)
 *       .field("id", &IOAPICCommonState::id)
 *       .field("ioregsel", &IOAPICCommonState::ioregsel)
 *       .unused(8).since(2)
 *       .field("irr", &IOAPICCommonState::irr).since(2)
 *       .field("ioredtbl", &IOAPICCommonState::ioredtbl)
 *       .post_load(&IOAPICCommonState::post_load)
 *       .build();
 *
 * Field kinds and their bytes (big-endian, no padding, as QEMU):
 *   bool                          1 byte, 0 or 1 ("bool")
 *   uint8..uint64, int8..int64    1/2/4/8 bytes ("uint8" ... "int64");
 *                                 enums travel as their underlying type
 *   fixed arrays of those         (C arrays, std::array) element by element
 *   buffer(uint8_t[N])            N raw bytes ("buffer")
 *   vbuffer(bytes, len)           `len` raw bytes, len an earlier field
 *   unused(N)                     N zero bytes, skipped on load
 *                                 ("unused_buffer")
 *   field(name, member, vmsd)     a nested struct (or a fixed array of
 *                                 them) inline, in its own vmsd's version
 *   varray(name, vec, count, ..)  `count` nested structs
 *   subsection                    0x05, name length, name, be32 version,
 *                                 then its fields; only when needed()
 *
 * Member access: a member pointer of T (or of a base of T), or
 * migration::member(&T::a, &A::b) for a field of a member.
 *
 * Loading validates versions, sizes and counts; every error names the
 * description and the field ("Failed to load ioapic:irr: stream truncated
 * at offset 57").  No call aborts on stream contents.
 */
#pragma once

#include "migration/qemu-file.h"
#include "qapi/qobject.h"
#include "qapi/result.h"

#include <array>
#include <cassert>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace migration {

/// The byte that introduces a subsection (QEMU_VM_SUBSECTION).
inline constexpr uint8_t QEMU_VM_SUBSECTION = 0x05;

/// Values a field can hold directly.
template <typename M>
concept VMStateScalar =
    std::is_same_v<M, bool> || std::is_same_v<M, uint8_t> ||
    std::is_same_v<M, uint16_t> || std::is_same_v<M, uint32_t> ||
    std::is_same_v<M, uint64_t> || std::is_same_v<M, int8_t> ||
    std::is_same_v<M, int16_t> || std::is_same_v<M, int32_t> ||
    std::is_same_v<M, int64_t> ||
    (std::is_enum_v<M> && !std::is_same_v<std::underlying_type_t<M>, char>);

/// Typed access to a part of T: what a member pointer gives, composable
/// through nested members with migration::member().
template <typename T, typename M>
struct Member {
    std::function<M &(T &)> get;
};

template <typename T, typename A, typename M>
Member<T, M> member(A T::*outer, M A::*inner)
{
    return { [outer, inner](T &t) -> M & { return (t.*outer).*inner; } };
}

template <typename T, typename A, typename B, typename M>
Member<T, M> member(A T::*outer, B A::*middle, M B::*inner)
{
    return { [outer, middle, inner](T &t) -> M & {
        return ((t.*outer).*middle).*inner;
    } };
}

namespace detail {

template <typename T, typename P>
struct Access;

// A member of T itself or of one of its bases.
template <typename T, typename C, typename M>
    requires std::is_base_of_v<C, T> && (!std::is_function_v<M>)
struct Access<T, M C::*> {
    using type = M;
    static Member<T, M> make(M C::*p)
    {
        return { [p](T &t) -> M & { return t.*p; } };
    }
};

template <typename T, typename M>
struct Access<T, Member<T, M>> {
    using type = M;
    static Member<T, M> make(Member<T, M> m) { return m; }
};

template <typename T, typename P>
using access_t = typename Access<T, P>::type;

template <typename M>
struct FixedArray {
    static constexpr bool value = false;
};
template <typename E, size_t N>
struct FixedArray<E[N]> {
    static constexpr bool value = true;
    using element = E;
    static constexpr size_t size = N;
};
template <typename E, size_t N>
struct FixedArray<std::array<E, N>> {
    static constexpr bool value = true;
    using element = E;
    static constexpr size_t size = N;
};

template <typename M, bool = std::is_enum_v<M>>
struct RawType {
    using type = M;
};
template <typename M>
struct RawType<M, true> {
    using type = std::underlying_type_t<M>;
};

template <typename M>
struct ScalarCodec {
    using Raw = typename RawType<M>::type;
    static constexpr std::string_view type_name()
    {
        if constexpr (std::is_same_v<Raw, bool>) {
            return "bool";
        } else if constexpr (std::is_signed_v<Raw>) {
            constexpr std::string_view names[] = { "int8", "int16", "",
                                                    "int32", "", "", "",
                                                    "int64" };
            return names[sizeof(Raw) - 1];
        } else {
            constexpr std::string_view names[] = { "uint8", "uint16", "",
                                                    "uint32", "", "", "",
                                                    "uint64" };
            return names[sizeof(Raw) - 1];
        }
    }
    static void put(StreamWriter &f, M value)
    {
        auto raw = static_cast<Raw>(value);
        if constexpr (std::is_same_v<Raw, bool>) {
            f.put_byte(raw ? 1 : 0);
        } else if constexpr (sizeof(Raw) == 1) {
            f.put_byte(static_cast<uint8_t>(raw));
        } else if constexpr (sizeof(Raw) == 2) {
            f.put_be16(static_cast<uint16_t>(raw));
        } else if constexpr (sizeof(Raw) == 4) {
            f.put_be32(static_cast<uint32_t>(raw));
        } else {
            f.put_be64(static_cast<uint64_t>(raw));
        }
    }
    static M get(StreamReader &f)
    {
        if constexpr (std::is_same_v<Raw, bool>) {
            // QEMU's get_bool takes any non-zero byte as true.
            return static_cast<M>(f.get_byte() != 0);
        } else if constexpr (sizeof(Raw) == 1) {
            return static_cast<M>(static_cast<Raw>(f.get_byte()));
        } else if constexpr (sizeof(Raw) == 2) {
            return static_cast<M>(static_cast<Raw>(f.get_be16()));
        } else if constexpr (sizeof(Raw) == 4) {
            return static_cast<M>(static_cast<Raw>(f.get_be32()));
        } else {
            return static_cast<M>(static_cast<Raw>(f.get_be64()));
        }
    }
};

/// One declared field, type-erased over its member type.
template <typename T>
struct FieldSpec {
    std::string name;
    /// The name in the JSON description: `name`, or "name[k]" when the
    /// description declares `name` more than once (QEMU's rule).
    std::string vmdesc_name;
    /// vmdesc "type": "uint32", "buffer", "struct", ...
    std::string_view type;
    /// The first version whose stream carries the field.
    int version_id { 0 };
    bool is_struct { false };
    /// QEMU's vmsd_can_compress(): describe an array once, with
    /// "array_len", rather than element by element.
    bool compressible { true };
    std::function<size_t(T &)> n_elems;
    /// Checks (and sizing) before the elements are read or written.
    std::function<qapi::Result<void>(T &)> before_save;
    std::function<qapi::Result<void>(T &)> before_load;
    /// Write element i; for structs, `struct_desc` (a dict, or nullptr
    /// when no description is wanted) receives the nested description.
    std::function<qapi::Result<void>(StreamWriter &, T &, size_t,
                                     qapi::QObject *struct_desc)>
        save_elem;
    std::function<qapi::Result<void>(StreamReader &, T &, size_t)> load_elem;
};

// Non-template pieces of the engine (migration/vmstate.cc).
qapi::Error field_error(std::string_view vmsd, std::string_view field,
                        qapi::Error cause);
qapi::Result<void> check_load_version(std::string_view vmsd, int64_t version,
                                      int version_id, int minimum_version_id);
qapi::QObject vmdesc_field(const std::string &name, std::string_view type,
                           size_t index, size_t n_elems, bool compressible,
                           qapi::QObject *struct_desc, uint64_t size);
/// If the next bytes are a subsection of `parent` (QEMU's test: the
/// marker, a name longer than the parent's that starts with it), its name.
std::optional<std::string> peek_subsection(StreamReader &f,
                                           std::string_view parent);
void put_subsection_header(StreamWriter &f, std::string_view name,
                           int version_id);
/// Read the header that peek_subsection() saw; the subsection's version.
int64_t get_subsection_header(StreamReader &f, size_t name_len);

} // namespace detail

template <typename T>
class VMStateBuilder;

/// A description of how a T migrates.  Build it with vmstate<T>(name).
/// Cheap to copy; immutable once built.
template <typename T>
class VMStateDescription {
public:
    const std::string &name() const { return m_name; }
    int version_id() const { return m_version_id; }
    int minimum_version_id() const { return m_minimum_version_id; }
    /// The `needed` test of a subsection; true when none was given.
    bool needed(const T &opaque) const { return !m_needed || m_needed(opaque); }
    const std::vector<VMStateDescription> &subsections() const
    {
        return m_subsections;
    }
    /// Field names in stream order ("unused" for unused bytes).
    std::vector<std::string> field_names() const
    {
        std::vector<std::string> names;
        for (const auto &f : m_fields) {
            names.push_back(f.name);
        }
        return names;
    }
    /// QEMU's vmsd_can_compress() for a struct of this description.
    bool can_compress() const { return m_subsections.empty(); }

    /// Write `opaque` at version_id() (QEMU's vmstate_save_state): pre_save,
    /// the fields, then each needed subsection.  With `vmdesc` (a dict),
    /// also fill in QEMU's JSON description: vmsd_name, version, fields,
    /// subsections.  Errors: pre_save's, or the stream's sticky error.
    qapi::Result<void> save_state(StreamWriter &f, T &opaque,
                                  qapi::QObject *vmdesc = nullptr) const;

    /// Read `opaque` as written at `version_id` (QEMU's vmstate_load_state).
    /// Refuses versions above version_id() or below minimum_version_id();
    /// skips fields newer than `version_id`; loads subsections while the
    /// stream has ones of this description; runs post_load last.  On error
    /// `opaque` may be partly loaded.
    qapi::Result<void> load_state(StreamReader &f, T &opaque,
                                  int64_t version_id) const;

private:
    friend class VMStateBuilder<T>;

    std::string m_name;
    int m_version_id { 0 };
    int m_minimum_version_id { 0 };
    std::vector<detail::FieldSpec<T>> m_fields;
    std::vector<VMStateDescription> m_subsections;
    std::function<bool(const T &)> m_needed;
    std::function<qapi::Result<void>(T &)> m_pre_save;
    std::function<qapi::Result<void>(T &)> m_pre_load;
    std::function<qapi::Result<void>(T &, int)> m_post_load;
};

/// Builds a VMStateDescription<T>; see the file comment.  Declaration
/// mistakes (since() with no field, a subsection not named "parent/...",
/// a field newer than the description) are our bugs and assert in build().
template <typename T>
class VMStateBuilder {
public:
    explicit VMStateBuilder(std::string name)
    {
        m_vmsd.m_name = std::move(name);
    }

    VMStateBuilder &version(int version_id)
    {
        m_vmsd.m_version_id = version_id;
        return *this;
    }
    VMStateBuilder &minimum_version(int version_id)
    {
        m_vmsd.m_minimum_version_id = version_id;
        return *this;
    }

    /// A scalar, or a fixed array (C array, std::array) of scalars.
    template <typename P>
    VMStateBuilder &field(std::string name, P access)
    {
        using M = detail::access_t<T, P>;
        auto m = detail::Access<T, P>::make(access);
        detail::FieldSpec<T> spec;
        spec.name = std::move(name);
        if constexpr (detail::FixedArray<M>::value) {
            using E = typename detail::FixedArray<M>::element;
            static_assert(VMStateScalar<E>,
                          "array elements must be bool, (u)int8..64 or enums; "
                          "use field(name, member, vmsd) for structs");
            spec.type = detail::ScalarCodec<E>::type_name();
            spec.n_elems = [](T &) { return detail::FixedArray<M>::size; };
            spec.save_elem = [m](StreamWriter &f, T &o, size_t i,
                                 qapi::QObject *) -> qapi::Result<void> {
                detail::ScalarCodec<E>::put(f, m.get(o)[i]);
                return {};
            };
            spec.load_elem = [m](StreamReader &f, T &o,
                                 size_t i) -> qapi::Result<void> {
                m.get(o)[i] = detail::ScalarCodec<E>::get(f);
                return {};
            };
        } else {
            static_assert(VMStateScalar<M>,
                          "fields must be bool, (u)int8..64, enums or fixed "
                          "arrays of them; use field(name, member, vmsd) for "
                          "structs");
            spec.type = detail::ScalarCodec<M>::type_name();
            spec.n_elems = [](T &) { return size_t { 1 }; };
            spec.save_elem = [m](StreamWriter &f, T &o, size_t,
                                 qapi::QObject *) -> qapi::Result<void> {
                detail::ScalarCodec<M>::put(f, m.get(o));
                return {};
            };
            spec.load_elem = [m](StreamReader &f, T &o,
                                 size_t) -> qapi::Result<void> {
                m.get(o) = detail::ScalarCodec<M>::get(f);
                return {};
            };
        }
        return add(std::move(spec));
    }

    /// A nested struct U, or a fixed array of them, each written as `vmsd`
    /// at vmsd's own version (QEMU's VMSTATE_STRUCT / _STRUCT_ARRAY).
    template <typename P, typename U>
    VMStateBuilder &field(std::string name, P access,
                          const VMStateDescription<U> &vmsd)
    {
        using M = detail::access_t<T, P>;
        auto m = detail::Access<T, P>::make(access);
        detail::FieldSpec<T> spec = struct_spec(std::move(name), vmsd);
        if constexpr (detail::FixedArray<M>::value) {
            static_assert(
                std::is_same_v<typename detail::FixedArray<M>::element, U>,
                "the description must describe the array's element type");
            spec.n_elems = [](T &) { return detail::FixedArray<M>::size; };
            spec.save_elem = [m, vmsd](StreamWriter &f, T &o, size_t i,
                                       qapi::QObject *desc) {
                return vmsd.save_state(f, m.get(o)[i], desc);
            };
            spec.load_elem = [m, vmsd](StreamReader &f, T &o, size_t i) {
                return vmsd.load_state(f, m.get(o)[i], vmsd.version_id());
            };
        } else {
            static_assert(std::is_same_v<M, U>,
                          "the description must describe the member's type");
            spec.n_elems = [](T &) { return size_t { 1 }; };
            spec.save_elem = [m, vmsd](StreamWriter &f, T &o, size_t,
                                       qapi::QObject *desc) {
                return vmsd.save_state(f, m.get(o), desc);
            };
            spec.load_elem = [m, vmsd](StreamReader &f, T &o, size_t) {
                return vmsd.load_state(f, m.get(o), vmsd.version_id());
            };
        }
        return add(std::move(spec));
    }

    /// A std::vector<U> of `count` structs, where `count` (a uint32_t) is
    /// an earlier field; at most `max` on load (QEMU's
    /// VMSTATE_STRUCT_VARRAY_UINT32).  On save, count must equal the size.
    template <typename P, typename C, typename U>
    VMStateBuilder &varray(std::string name, P access, C count,
                           uint32_t max, const VMStateDescription<U> &vmsd)
    {
        static_assert(std::is_same_v<detail::access_t<T, P>, std::vector<U>>,
                      "varray takes a std::vector of the described type");
        static_assert(std::is_same_v<detail::access_t<T, C>, uint32_t>,
                      "the count of a varray is a uint32_t field");
        auto m = detail::Access<T, P>::make(access);
        auto n = detail::Access<T, C>::make(count);
        detail::FieldSpec<T> spec = struct_spec(std::move(name), vmsd);
        spec.n_elems = [n](T &o) { return size_t { n.get(o) }; };
        sized_by(spec, m, n, max, "elements");
        spec.save_elem = [m, vmsd](StreamWriter &f, T &o, size_t i,
                                   qapi::QObject *desc) {
            return vmsd.save_state(f, m.get(o)[i], desc);
        };
        spec.load_elem = [m, vmsd](StreamReader &f, T &o, size_t i) {
            return vmsd.load_state(f, m.get(o)[i], vmsd.version_id());
        };
        return add(std::move(spec));
    }

    /// A fixed byte buffer (uint8_t[N] or std::array<uint8_t, N>) as one
    /// N-byte element (QEMU's VMSTATE_BUFFER): a LAPIC register page, say.
    template <typename P>
    VMStateBuilder &buffer(std::string name, P access)
    {
        using M = detail::access_t<T, P>;
        using Array = detail::FixedArray<M>;
        static_assert(Array::value &&
                          std::is_same_v<typename Array::element, uint8_t>,
                      "buffer takes uint8_t[N] or std::array<uint8_t, N>");
        auto m = detail::Access<T, P>::make(access);
        detail::FieldSpec<T> spec;
        spec.name = std::move(name);
        spec.type = "buffer";
        spec.n_elems = [](T &) { return size_t { 1 }; };
        spec.save_elem = [m](StreamWriter &f, T &o, size_t,
                             qapi::QObject *) -> qapi::Result<void> {
            f.put_buffer(std::span<const uint8_t>(m.get(o)));
            return {};
        };
        spec.load_elem = [m](StreamReader &f, T &o,
                             size_t) -> qapi::Result<void> {
            f.get_buffer(std::span<uint8_t>(m.get(o)));
            return {};
        };
        return add(std::move(spec));
    }

    /// `len` bytes of a std::string or std::vector<uint8_t>, where `len` (a
    /// uint32_t) is an earlier field; at most `max` on load (QEMU's
    /// VMSTATE_VBUFFER_ALLOC_UINT32).  On save, len must equal the size.
    template <typename P, typename L>
    VMStateBuilder &vbuffer(std::string name, P access, L len, uint32_t max)
    {
        using M = detail::access_t<T, P>;
        static_assert(std::is_same_v<M, std::string> ||
                          std::is_same_v<M, std::vector<uint8_t>>,
                      "vbuffer takes a std::string or std::vector<uint8_t>");
        static_assert(std::is_same_v<detail::access_t<T, L>, uint32_t>,
                      "the length of a vbuffer is a uint32_t field");
        auto m = detail::Access<T, P>::make(access);
        auto n = detail::Access<T, L>::make(len);
        detail::FieldSpec<T> spec;
        spec.name = std::move(name);
        spec.type = "buffer";
        spec.n_elems = [](T &) { return size_t { 1 }; };
        sized_by(spec, m, n, max, "bytes");
        spec.save_elem = [m](StreamWriter &f, T &o, size_t,
                             qapi::QObject *) -> qapi::Result<void> {
            f.put_buffer(bytes_of(m.get(o)));
            return {};
        };
        spec.load_elem = [m](StreamReader &f, T &o,
                             size_t) -> qapi::Result<void> {
            f.get_buffer(bytes_of(m.get(o)));
            return {};
        };
        return add(std::move(spec));
    }

    /// `size` bytes that carry nothing: zeros on save, skipped on load
    /// (QEMU's VMSTATE_UNUSED; combine with since() for VMSTATE_UNUSED_V).
    VMStateBuilder &unused(size_t size)
    {
        detail::FieldSpec<T> spec;
        spec.name = "unused";
        spec.type = "unused_buffer";
        spec.n_elems = [](T &) { return size_t { 1 }; };
        spec.save_elem = [size](StreamWriter &f, T &, size_t,
                                qapi::QObject *) -> qapi::Result<void> {
            f.put_zeros(size);
            return {};
        };
        spec.load_elem = [size](StreamReader &f, T &,
                                size_t) -> qapi::Result<void> {
            f.skip(size);
            return {};
        };
        return add(std::move(spec));
    }

    /// The last declared field appeared in `version_id`: streams of older
    /// versions do not carry it (QEMU's *_V macros).
    VMStateBuilder &since(int version_id)
    {
        assert(!m_vmsd.m_fields.empty() && "since() follows a field");
        m_vmsd.m_fields.back().version_id = version_id;
        return *this;
    }

    /// A subsection: sent after the fields when sub.needed(opaque).  Its
    /// name must be "<this name>/<something>", as QEMU's loader expects.
    VMStateBuilder &subsection(VMStateDescription<T> sub)
    {
        assert(sub.name().size() > m_vmsd.m_name.size() + 1 &&
               sub.name().compare(0, m_vmsd.m_name.size() + 1,
                                  m_vmsd.m_name + "/") == 0 &&
               "a subsection is named <parent>/<name>");
        m_vmsd.m_subsections.push_back(std::move(sub));
        return *this;
    }

    /// Whether to send it: for a subsection, and for a whole section
    /// (SaveVM skips a section whose description is not needed, as QEMU
    /// does).  `bool(const T &)`, e.g. a const member function.
    VMStateBuilder &needed(std::function<bool(const T &)> f)
    {
        m_vmsd.m_needed = std::move(f);
        return *this;
    }
    /// `Result<void>(T &)`, run before the fields are written.
    VMStateBuilder &pre_save(std::function<qapi::Result<void>(T &)> f)
    {
        m_vmsd.m_pre_save = std::move(f);
        return *this;
    }
    /// `Result<void>(T &)`, run before the fields are read: the place to
    /// reset state that an absent subsection would have carried.
    VMStateBuilder &pre_load(std::function<qapi::Result<void>(T &)> f)
    {
        m_vmsd.m_pre_load = std::move(f);
        return *this;
    }
    /// `Result<void>(T &, int version_id)`, run after fields and
    /// subsections were read; its error fails the load.
    VMStateBuilder &post_load(std::function<qapi::Result<void>(T &, int)> f)
    {
        m_vmsd.m_post_load = std::move(f);
        return *this;
    }

    VMStateDescription<T> build() const
    {
        VMStateDescription<T> vmsd = m_vmsd;
        assert(vmsd.m_minimum_version_id <= vmsd.m_version_id);
        for (auto &f : vmsd.m_fields) {
            assert(f.version_id <= vmsd.m_version_id &&
                   "a field newer than its description");
            size_t count = 0, index = 0;
            for (const auto &g : vmsd.m_fields) {
                if (&g == &f) {
                    index = count;
                }
                if (g.name == f.name) {
                    count++;
                }
            }
            f.vmdesc_name = count > 1 ? f.name + "[" + std::to_string(index) +
                                            "]"
                                      : f.name;
        }
        return vmsd;
    }

private:
    VMStateBuilder &add(detail::FieldSpec<T> spec)
    {
        m_vmsd.m_fields.push_back(std::move(spec));
        return *this;
    }

    // A container whose size is an earlier uint32_t field: on save the two
    // must agree, on load the field is checked against `max` before the
    // container is sized (so a hostile count allocates nothing).
    template <typename V>
    static void sized_by(detail::FieldSpec<T> &spec, Member<T, V> m,
                         Member<T, uint32_t> n, uint32_t max,
                         std::string_view unit)
    {
        spec.before_save = [m, n, unit](T &o) -> qapi::Result<void> {
            if (m.get(o).size() != n.get(o)) {
                return qapi::Error::format(
                    "{} {} present but the size field says {}",
                    m.get(o).size(), unit, n.get(o));
            }
            return {};
        };
        spec.before_load = [m, n, max, unit](T &o) -> qapi::Result<void> {
            if (n.get(o) > max) {
                return qapi::Error::format("{} {} exceed the limit {}",
                                           n.get(o), unit, max);
            }
            m.get(o).resize(n.get(o));
            return {};
        };
    }

    template <typename U>
    static detail::FieldSpec<T> struct_spec(std::string name,
                                            const VMStateDescription<U> &vmsd)
    {
        detail::FieldSpec<T> spec;
        spec.name = std::move(name);
        spec.type = "struct";
        spec.is_struct = true;
        spec.compressible = vmsd.can_compress();
        return spec;
    }

    static std::span<uint8_t> bytes_of(std::string &s)
    {
        return { static_cast<uint8_t *>(static_cast<void *>(s.data())),
                 s.size() };
    }
    static std::span<uint8_t> bytes_of(std::vector<uint8_t> &v) { return v; }

    VMStateDescription<T> m_vmsd;
};

/// Start a description named `name` (QEMU's VMStateDescription.name).
template <typename T>
VMStateBuilder<T> vmstate(std::string name)
{
    return VMStateBuilder<T>(std::move(name));
}

template <typename T>
qapi::Result<void>
VMStateDescription<T>::save_state(StreamWriter &f, T &opaque,
                                  qapi::QObject *vmdesc) const
{
    if (m_pre_save) {
        auto r = m_pre_save(opaque);
        if (!r) {
            return r.release_error().prepend(m_name + ": pre_save failed: ");
        }
    }
    qapi::QObject fields = qapi::QObject::list();
    for (const auto &field : m_fields) {
        if (field.version_id > m_version_id) {
            continue;
        }
        if (field.before_save) {
            auto r = field.before_save(opaque);
            if (!r) {
                return detail::field_error(m_name, field.name,
                                           r.release_error());
            }
        }
        size_t n = field.n_elems(opaque);
        bool describe = vmdesc != nullptr;
        for (size_t i = 0; i < n; i++) {
            qapi::QObject struct_desc = qapi::QObject::dict();
            qapi::QObject *sd = describe && field.is_struct ? &struct_desc
                                                            : nullptr;
            uint64_t before = f.transferred();
            auto r = field.save_elem(f, opaque, i, sd);
            if (!r) {
                return detail::field_error(m_name, field.name,
                                           r.release_error());
            }
            if (describe) {
                fields.append(detail::vmdesc_field(
                    field.vmdesc_name, field.type, i, n, field.compressible,
                    sd, f.transferred() - before));
                describe = !field.compressible;
            }
        }
    }
    if (vmdesc) {
        vmdesc->set("vmsd_name", m_name);
        vmdesc->set("version", int64_t { m_version_id });
        vmdesc->set("fields", std::move(fields));
    }
    qapi::QObject subs = qapi::QObject::list();
    for (const auto &sub : m_subsections) {
        if (!sub.needed(opaque)) {
            continue;
        }
        detail::put_subsection_header(f, sub.m_name, sub.m_version_id);
        qapi::QObject sub_desc = qapi::QObject::dict();
        TRY(sub.save_state(f, opaque, vmdesc ? &sub_desc : nullptr));
        subs.append(std::move(sub_desc));
    }
    if (vmdesc && !subs.as_list()->empty()) {
        vmdesc->set("subsections", std::move(subs));
    }
    return f.check();
}

template <typename T>
qapi::Result<void> VMStateDescription<T>::load_state(StreamReader &f,
                                                     T &opaque,
                                                     int64_t version_id) const
{
    TRY(detail::check_load_version(m_name, version_id, m_version_id,
                                   m_minimum_version_id));
    if (m_pre_load) {
        auto r = m_pre_load(opaque);
        if (!r) {
            return r.release_error().prepend(m_name + ": pre_load failed: ");
        }
    }
    for (const auto &field : m_fields) {
        if (field.version_id > version_id) {
            continue;
        }
        if (field.before_load) {
            auto r = field.before_load(opaque);
            if (!r) {
                return detail::field_error(m_name, field.name,
                                           r.release_error());
            }
        }
        size_t n = field.n_elems(opaque);
        for (size_t i = 0; i < n; i++) {
            auto r = field.load_elem(f, opaque, i);
            if (r && f.error()) {
                r = f.error()->clone();
            }
            if (!r) {
                return detail::field_error(m_name, field.name,
                                           r.release_error());
            }
        }
    }
    while (auto idstr = detail::peek_subsection(f, m_name)) {
        const VMStateDescription *sub = nullptr;
        for (const auto &s : m_subsections) {
            if (s.m_name == *idstr) {
                sub = &s;
            }
        }
        if (!sub) {
            return qapi::Error::format("{}: unknown subsection '{}'", m_name,
                                       *idstr);
        }
        int64_t sub_version = detail::get_subsection_header(f, idstr->size());
        TRY(f.check());
        TRY(sub->load_state(f, opaque, sub_version));
    }
    TRY(f.check());
    if (m_post_load) {
        auto r = m_post_load(opaque, int(version_id));
        if (!r) {
            return r.release_error().prepend(m_name + ": post_load failed: ");
        }
    }
    return {};
}

/// A description bound to the object it describes, with the type erased:
/// what the savevm registry keeps per section.
class VMStateInstance {
public:
    virtual ~VMStateInstance() = default;
    virtual const std::string &vmsd_name() const = 0;
    virtual int version_id() const = 0;
    /// The description's `needed` test: a section not needed is not sent.
    virtual bool needed() const = 0;
    virtual qapi::Result<void> save(StreamWriter &f, qapi::QObject *vmdesc) = 0;
    virtual qapi::Result<void> load(StreamReader &f, int64_t version_id) = 0;
};

/// Bind `vmsd` to `opaque`, which must outlive the result.
template <typename T>
std::unique_ptr<VMStateInstance> bind_vmstate(VMStateDescription<T> vmsd,
                                              T &opaque)
{
    class Bound final : public VMStateInstance {
    public:
        Bound(VMStateDescription<T> vmsd, T &opaque)
            : m_vmsd(std::move(vmsd))
            , m_opaque(opaque)
        {
        }
        const std::string &vmsd_name() const override { return m_vmsd.name(); }
        int version_id() const override { return m_vmsd.version_id(); }
        bool needed() const override { return m_vmsd.needed(m_opaque); }
        qapi::Result<void> save(StreamWriter &f, qapi::QObject *vmdesc) override
        {
            return m_vmsd.save_state(f, m_opaque, vmdesc);
        }
        qapi::Result<void> load(StreamReader &f, int64_t version_id) override
        {
            return m_vmsd.load_state(f, m_opaque, version_id);
        }

    private:
        VMStateDescription<T> m_vmsd;
        T &m_opaque;
    };
    return std::make_unique<Bound>(std::move(vmsd), opaque);
}

} // namespace migration
