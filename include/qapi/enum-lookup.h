/*
 * QAPI enum lookup tables.
 *
 * The QAPI generator specialises EnumLookup<E> for every schema enum, so
 * property codecs, the command line and QMP convert enums to and from their
 * QAPI names ("not-advertised") without hand-written tables.
 */
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace qapi {

/// Specialised by generated code:
///   static constexpr std::string_view type_name;          // "SeoibPolicy"
///   static constexpr std::array<std::string_view, N> names; // index = value
template <typename E>
struct EnumLookup;

template <typename E>
concept QapiEnum = requires {
    EnumLookup<E>::type_name;
    EnumLookup<E>::names;
};

template <QapiEnum E>
constexpr std::string_view enum_name(E value)
{
    const auto &names = EnumLookup<E>::names;
    const auto index = static_cast<size_t>(value);
    return index < names.size() ? names[index] : std::string_view {};
}

template <QapiEnum E>
constexpr std::optional<E> enum_parse(std::string_view name)
{
    const auto &names = EnumLookup<E>::names;
    for (size_t i = 0; i < names.size(); i++) {
        if (names[i] == name) {
            return static_cast<E>(i);
        }
    }
    return std::nullopt;
}

} // namespace qapi
