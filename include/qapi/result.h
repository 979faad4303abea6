/*
 * qapi::Result<T>: a value or a qapi::Error.
 *
 * Shaped like C++23 std::expected<T, Error> (has_value, value, error,
 * and_then, transform) so it can become an alias for it later.  The project
 * builds as C++20, where std::expected does not exist yet.
 *
 * The error macros (see docs/devel/errors.rst):
 *   TRY(expr)   unwrap a Result or return its error from the calling function;
 *   MUST(expr)  unwrap or abort with the error text: for our own bugs only,
 *               never on a path that input (CLI, QMP, guest, stream) reaches.
 */
#pragma once

#include "qapi/error.h"

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

namespace qapi {

template <typename T>
class [[nodiscard]] Result {
public:
    using value_type = T;

    Result(const T &value)
        : m_storage(std::in_place_index<0>, value)
    {
    }
    Result(T &&value)
        : m_storage(std::in_place_index<0>, std::move(value))
    {
    }
    template <typename U>
        requires(std::is_constructible_v<T, U &&> &&
                 !std::is_same_v<std::remove_cvref_t<U>, T> &&
                 !std::is_same_v<std::remove_cvref_t<U>, Error> &&
                 !std::is_same_v<std::remove_cvref_t<U>, Result>)
    Result(U &&value)
        : m_storage(std::in_place_index<0>, T(std::forward<U>(value)))
    {
    }
    Result(Error &&error)
        : m_storage(std::in_place_index<1>, std::move(error))
    {
    }

    bool has_value() const { return m_storage.index() == 0; }
    explicit operator bool() const { return has_value(); }

    T &value() &
    {
        assert(has_value());
        return std::get<0>(m_storage);
    }
    const T &value() const &
    {
        assert(has_value());
        return std::get<0>(m_storage);
    }
    T &&value() &&
    {
        assert(has_value());
        return std::get<0>(std::move(m_storage));
    }
    T release_value() { return std::move(*this).value(); }

    Error &error() &
    {
        assert(!has_value());
        return std::get<1>(m_storage);
    }
    const Error &error() const &
    {
        assert(!has_value());
        return std::get<1>(m_storage);
    }
    Error release_error()
    {
        assert(!has_value());
        return std::get<1>(std::move(m_storage));
    }

    T value_or(T fallback) const &
    {
        return has_value() ? std::get<0>(m_storage) : std::move(fallback);
    }

    /// f(T) -> Result<U>
    template <typename F>
    auto and_then(F &&f) &&
    {
        using R = std::invoke_result_t<F, T &&>;
        if (!has_value()) {
            return R(release_error());
        }
        return std::forward<F>(f)(std::move(*this).value());
    }

    /// f(T) -> U, giving Result<U>
    template <typename F>
    auto transform(F &&f) &&
    {
        using U = std::invoke_result_t<F, T &&>;
        if (!has_value()) {
            return Result<U>(release_error());
        }
        return Result<U>(std::forward<F>(f)(std::move(*this).value()));
    }

private:
    std::variant<T, Error> m_storage;
};

template <>
class [[nodiscard]] Result<void> {
public:
    using value_type = void;

    Result() = default;
    Result(Error &&error)
        : m_error(std::move(error))
    {
    }

    bool has_value() const { return !m_error.has_value(); }
    explicit operator bool() const { return has_value(); }
    void value() const { assert(has_value()); }
    void release_value() const { assert(has_value()); }

    Error &error()
    {
        assert(!has_value());
        return *m_error;
    }
    const Error &error() const
    {
        assert(!has_value());
        return *m_error;
    }
    Error release_error()
    {
        assert(!has_value());
        Error e = std::move(*m_error);
        m_error.reset();
        return e;
    }

    template <typename F>
    auto and_then(F &&f) &&
    {
        using R = std::invoke_result_t<F>;
        if (!has_value()) {
            return R(release_error());
        }
        return std::forward<F>(f)();
    }

private:
    std::optional<Error> m_error;
};

/// For a Result whose failure would be our own bug: abort with its text.
[[noreturn]] void must_failed(const Error &error, const char *expr,
                              const char *file, int line);

} // namespace qapi

// GNU statement expressions, as SerenityOS does: KVM means GCC or Clang.
#define TRY(expr)                                                           \
    ({                                                                      \
        auto _try_result = (expr);                                          \
        if (!_try_result.has_value()) [[unlikely]] {                        \
            return _try_result.release_error();                             \
        }                                                                   \
        _try_result.release_value();                                        \
    })

#define MUST(expr)                                                          \
    ({                                                                      \
        auto _must_result = (expr);                                         \
        if (!_must_result.has_value()) [[unlikely]] {                       \
            ::qapi::must_failed(_must_result.error(), #expr, __FILE__,      \
                                __LINE__);                                  \
        }                                                                   \
        _must_result.release_value();                                       \
    })
