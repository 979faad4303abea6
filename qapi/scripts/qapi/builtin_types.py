"""qapi-builtin-types.h/.cc: the codecs of the built-in types, the same
C++ text for every schema.
"""

from qapi.gen import Gen


# The to_qobject() overloads of the scalar built-ins: (parameter, the
# QObject made from it), in the order the header declares them.
TO_QOBJECT_OVERLOADS = (
    ('const std::string &value', 'QObject(value)'),
    ('std::string_view value', 'QObject(value)'),
    ('const char *value', 'QObject(value)'),
    ('bool value', 'QObject(value)'),
    ('int8_t value', 'QObject(int64_t { value })'),
    ('int16_t value', 'QObject(int64_t { value })'),
    ('int32_t value', 'QObject(int64_t { value })'),
    ('int64_t value', 'QObject(value)'),
    ('uint8_t value', 'QObject(uint64_t { value })'),
    ('uint16_t value', 'QObject(uint64_t { value })'),
    ('uint32_t value', 'QObject(uint64_t { value })'),
    ('uint64_t value', 'QObject(value)'),
    ('double value', 'QObject(value)'),
    ('std::nullptr_t', 'QObject()'),
    ('const QObject &value', 'value'),
)


def _to_qobject_overloads():
    return ''.join(
        f'inline QObject to_qobject({param})\n{{\n    return {value};\n}}\n'
        for param, value in TO_QOBJECT_OVERLOADS)


BUILTIN_TYPES_H = r'''#pragma once

#include "qapi/enum-lookup.h"
#include "qapi/qobject.h"
#include "qapi/result.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace qapi {

/// Where a value sits in the input being decoded, for error messages:
/// "qemu.major" for a member of a member, "vcpus[0]" for a list element,
/// "<anonymous>" for the root itself, as QEMU's QObject input visitor names
/// them.  A path refers to its parent and lives on the stack of the
/// decoding functions; text is only built when an error is reported.
class InputPath {
public:
    InputPath() = default;

    /// The path of member `name` of the object at this path.  `name` must
    /// outlive the result.
    InputPath member(std::string_view name) const
    {
        return InputPath(this, name, 0, false);
    }

    /// The path of element `index` of the list at this path.
    InputPath element(size_t index) const
    {
        return InputPath(this, {}, index, true);
    }

    std::string full_name() const;

private:
    InputPath(const InputPath *parent, std::string_view name, size_t index,
              bool is_element)
        : m_parent(parent)
        , m_name(name)
        , m_index(index)
        , m_is_element(is_element)
    {
    }

    const InputPath *m_parent { nullptr };
    std::string_view m_name;
    size_t m_index { 0 };
    bool m_is_element { false };
};

/// The errors of QEMU's QObject input visitor, as GenericError.
/// "Parameter 'x' is missing"
Error missing_parameter(const InputPath &path);
/// "Invalid parameter type for 'x', expected: <expected>"
Error invalid_parameter_type(const InputPath &path, std::string_view expected);
/// "Parameter 'x' expects <expected>" (a value out of range)
Error invalid_parameter_value(const InputPath &path, std::string_view expected);
/// "Parameter 'x' is unexpected"
Error unexpected_parameter(const InputPath &path);
/// "Parameter 'x' does not accept value 'y'" (an enum)
Error enum_value_not_accepted(const InputPath &path, std::string_view value);

// Decoding.  visit_input(obj, path, std::type_identity<T>) decodes `obj`
// as a T; the generated code adds an overload per struct next to the
// struct, where argument-dependent lookup finds it.

/// str: a string.
Result<std::string> visit_input(const QObject &obj, const InputPath &path,
                                std::type_identity<std::string>);
/// bool: true or false.
Result<bool> visit_input(const QObject &obj, const InputPath &path,
                         std::type_identity<bool>);
/// intN: an integer in range; a double is not an integer, even when
/// integral.
Result<int8_t> visit_input(const QObject &obj, const InputPath &path,
                           std::type_identity<int8_t>);
Result<int16_t> visit_input(const QObject &obj, const InputPath &path,
                            std::type_identity<int16_t>);
Result<int32_t> visit_input(const QObject &obj, const InputPath &path,
                            std::type_identity<int32_t>);
Result<int64_t> visit_input(const QObject &obj, const InputPath &path,
                            std::type_identity<int64_t>);
/// uintN: an integer in range.  As in QEMU, a negative integer is taken
/// modulo 2^64 first, so -1 is a valid uint64 and out of range for the
/// narrower types.
Result<uint8_t> visit_input(const QObject &obj, const InputPath &path,
                            std::type_identity<uint8_t>);
Result<uint16_t> visit_input(const QObject &obj, const InputPath &path,
                             std::type_identity<uint16_t>);
Result<uint32_t> visit_input(const QObject &obj, const InputPath &path,
                             std::type_identity<uint32_t>);
Result<uint64_t> visit_input(const QObject &obj, const InputPath &path,
                             std::type_identity<uint64_t>);
/// number: any number.
Result<double> visit_input(const QObject &obj, const InputPath &path,
                           std::type_identity<double>);
/// null: JSON null.
Result<std::nullptr_t> visit_input(const QObject &obj, const InputPath &path,
                                   std::type_identity<std::nullptr_t>);
/// any: anything.
Result<QObject> visit_input(const QObject &obj, const InputPath &path,
                            std::type_identity<QObject>);

/// A QAPI enum: a string naming one of its values.
template <QapiEnum E>
Result<E> visit_input(const QObject &obj, const InputPath &path,
                      std::type_identity<E>)
{
    const std::string *name = obj.as_string();
    if (!name) {
        return invalid_parameter_type(path, "string");
    }
    if (std::optional<E> value = enum_parse<E>(*name)) {
        return *value;
    }
    return enum_value_not_accepted(path, *name);
}

/// ['T']: a list whose elements are T.
template <typename T>
Result<std::vector<T>> visit_input(const QObject &obj, const InputPath &path,
                                   std::type_identity<std::vector<T>>)
{
    const QObject::List *list = obj.as_list();
    if (!list) {
        return invalid_parameter_type(path, "array");
    }
    std::vector<T> out;
    out.reserve(list->size());
    for (size_t i = 0; i < list->size(); i++) {
        const InputPath element = path.element(i);
        out.push_back(
            TRY(visit_input((*list)[i], element, std::type_identity<T> {})));
    }
    return out;
}

/// A mandatory member of the object `dict`.
template <typename T>
Result<T> visit_member(const QObject &dict, const InputPath &path,
                       std::string_view name)
{
    const InputPath member = path.member(name);
    const QObject *value = dict.get(name);
    if (!value) {
        return missing_parameter(member);
    }
    return visit_input(*value, member, std::type_identity<T> {});
}

/// An optional member of the object `dict`: nullopt when absent.
template <typename T>
Result<std::optional<T>> visit_optional_member(const QObject &dict,
                                               const InputPath &path,
                                               std::string_view name)
{
    const QObject *value = dict.get(name);
    if (!value) {
        return std::optional<T> {};
    }
    const InputPath member = path.member(name);
    return std::optional<T>(
        TRY(visit_input(*value, member, std::type_identity<T> {})));
}

/// Fails on the first member of the object `dict` that is not in `known`.
Result<void> check_unexpected_members(const QObject &dict,
                                      const InputPath &path,
                                      std::span<const std::string_view> known);

/// Decode `obj` as a T with QEMU's input rules.  Errors name the offending
/// member relative to `obj` ("qemu.major", "vcpus[1].lvr").
template <typename T>
Result<T> from_qobject(const QObject &obj)
{
    return visit_input(obj, InputPath {}, std::type_identity<T> {});
}

// Encoding.  to_qobject(value) gives the QObject QMP sends for a value;
// the generated code adds an overload per struct.

''' + _to_qobject_overloads() + r'''
/// A QAPI enum as its QAPI name ("not-advertised").
template <QapiEnum E>
QObject to_qobject(E value)
{
    return QObject(enum_name(value));
}

template <typename T>
QObject to_qobject(const std::vector<T> &list)
{
    QObject::List out;
    out.reserve(list.size());
    for (const T &element : list) {
        out.push_back(to_qobject(element));
    }
    return QObject(std::move(out));
}

/// An event ready to send; QMP adds the timestamp.
struct QapiEvent {
    std::string_view name;
    /// The "data" member; nullopt for events that carry none.
    std::optional<QObject> data;
};

} // namespace qapi
'''

BUILTIN_TYPES_CC = r'''#include "qapi/qapi-builtin-types.h"

#include <fmt/core.h>

#include <limits>
#include <vector>

namespace qapi {

std::string InputPath::full_name() const
{
    std::vector<const InputPath *> chain;
    for (const InputPath *p = this; p && p->m_parent; p = p->m_parent) {
        chain.push_back(p);
    }
    std::string name;
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        if ((*it)->m_is_element) {
            name += fmt::format("[{}]", (*it)->m_index);
        } else {
            if (!name.empty()) {
                name += '.';
            }
            name += (*it)->m_name;
        }
    }
    return name.empty() ? "<anonymous>" : name;
}

Error missing_parameter(const InputPath &path)
{
    return Error(fmt::format("Parameter '{}' is missing", path.full_name()));
}

Error invalid_parameter_type(const InputPath &path, std::string_view expected)
{
    return Error(fmt::format("Invalid parameter type for '{}', expected: {}",
                             path.full_name(), expected));
}

Error invalid_parameter_value(const InputPath &path, std::string_view expected)
{
    return Error(
        fmt::format("Parameter '{}' expects {}", path.full_name(), expected));
}

Error unexpected_parameter(const InputPath &path)
{
    return Error(fmt::format("Parameter '{}' is unexpected", path.full_name()));
}

Error enum_value_not_accepted(const InputPath &path, std::string_view value)
{
    return Error(fmt::format("Parameter '{}' does not accept value '{}'",
                             path.full_name(), value));
}

Result<std::string> visit_input(const QObject &obj, const InputPath &path,
                                std::type_identity<std::string>)
{
    const std::string *value = obj.as_string();
    if (!value) {
        return invalid_parameter_type(path, "string");
    }
    return *value;
}

Result<bool> visit_input(const QObject &obj, const InputPath &path,
                         std::type_identity<bool>)
{
    std::optional<bool> value = obj.as_bool();
    if (!value) {
        return invalid_parameter_type(path, "boolean");
    }
    return *value;
}

namespace {

// QEMU's qnum_get_try_int(): an integer that fits int64_t.  Unlike
// QObject::as_int(), an integral double is not an integer here.
Result<int64_t> input_int64(const QObject &obj, const InputPath &path)
{
    if (obj.kind() == QObject::Kind::Int || obj.kind() == QObject::Kind::UInt) {
        if (std::optional<int64_t> value = obj.as_int()) {
            return *value;
        }
    }
    return invalid_parameter_type(path, "integer");
}

// QEMU's uint64 input accepts negative integers "for backward
// compatibility" and wraps them.
Result<uint64_t> input_uint64(const QObject &obj, const InputPath &path)
{
    if (obj.kind() == QObject::Kind::UInt) {
        return *obj.as_uint();
    }
    if (obj.kind() == QObject::Kind::Int) {
        return static_cast<uint64_t>(*obj.as_int());
    }
    return invalid_parameter_value(path, "uint64");
}

template <typename T>
Result<T> input_signed(const QObject &obj, const InputPath &path,
                       std::string_view type)
{
    const int64_t value = TRY(input_int64(obj, path));
    if (value < std::numeric_limits<T>::min() ||
        value > std::numeric_limits<T>::max()) {
        return invalid_parameter_value(path, type);
    }
    return static_cast<T>(value);
}

template <typename T>
Result<T> input_unsigned(const QObject &obj, const InputPath &path,
                         std::string_view type)
{
    const uint64_t value = TRY(input_uint64(obj, path));
    if (value > std::numeric_limits<T>::max()) {
        return invalid_parameter_value(path, type);
    }
    return static_cast<T>(value);
}

} // namespace

Result<int8_t> visit_input(const QObject &obj, const InputPath &path,
                           std::type_identity<int8_t>)
{
    return input_signed<int8_t>(obj, path, "int8_t");
}

Result<int16_t> visit_input(const QObject &obj, const InputPath &path,
                            std::type_identity<int16_t>)
{
    return input_signed<int16_t>(obj, path, "int16_t");
}

Result<int32_t> visit_input(const QObject &obj, const InputPath &path,
                            std::type_identity<int32_t>)
{
    return input_signed<int32_t>(obj, path, "int32_t");
}

Result<int64_t> visit_input(const QObject &obj, const InputPath &path,
                            std::type_identity<int64_t>)
{
    return input_int64(obj, path);
}

Result<uint8_t> visit_input(const QObject &obj, const InputPath &path,
                            std::type_identity<uint8_t>)
{
    return input_unsigned<uint8_t>(obj, path, "uint8_t");
}

Result<uint16_t> visit_input(const QObject &obj, const InputPath &path,
                             std::type_identity<uint16_t>)
{
    return input_unsigned<uint16_t>(obj, path, "uint16_t");
}

Result<uint32_t> visit_input(const QObject &obj, const InputPath &path,
                             std::type_identity<uint32_t>)
{
    return input_unsigned<uint32_t>(obj, path, "uint32_t");
}

Result<uint64_t> visit_input(const QObject &obj, const InputPath &path,
                             std::type_identity<uint64_t>)
{
    return input_uint64(obj, path);
}

Result<double> visit_input(const QObject &obj, const InputPath &path,
                           std::type_identity<double>)
{
    if (!obj.is_number()) {
        return invalid_parameter_type(path, "number");
    }
    return *obj.as_double();
}

Result<std::nullptr_t> visit_input(const QObject &obj, const InputPath &path,
                                   std::type_identity<std::nullptr_t>)
{
    if (!obj.is_null()) {
        return invalid_parameter_type(path, "null");
    }
    return nullptr;
}

Result<QObject> visit_input(const QObject &obj, const InputPath &,
                            std::type_identity<QObject>)
{
    return obj;
}

Result<void> check_unexpected_members(const QObject &dict,
                                      const InputPath &path,
                                      std::span<const std::string_view> known)
{
    const QObject::Dict *members = dict.as_dict();
    if (!members) {
        return invalid_parameter_type(path, "object");
    }
    for (const auto &member : *members) {
        bool found = false;
        for (std::string_view name : known) {
            if (name == member.first) {
                found = true;
                break;
            }
        }
        if (!found) {
            return unexpected_parameter(path.member(member.first));
        }
    }
    return {};
}

} // namespace qapi
'''


class BuiltinTypesGen(Gen):
    """Generates qapi-builtin-types.h/.cc, written once per program."""

    def builtin_types_h(self):
        return self.banner(
            'Codecs for the QAPI built-in types, shared by every '
            'schema.') + BUILTIN_TYPES_H

    def builtin_types_cc(self):
        return self.banner(
            'Codecs for the QAPI built-in types.') + BUILTIN_TYPES_CC
