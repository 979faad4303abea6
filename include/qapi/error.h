/*
 * Errors as values.
 *
 * A qapi::Error carries what QMP needs to answer a failed command (an error
 * class and a human-readable description) plus an optional errno for errors
 * that came from the kernel.  It is QEMU's Error *, made a move-only value.
 */
#pragma once

#include <fmt/core.h>

#include <string>
#include <string_view>

namespace qapi {

/// QMP error classes, spelled as QEMU's qapi/error.json spells them.
enum class ErrorClass {
    GenericError,
    CommandNotFound,
    DeviceNotActive,
    DeviceNotFound,
    KVMMissingCap,
};

/// The QMP name of an error class ("GenericError", ...).
std::string_view error_class_name(ErrorClass cls);

/// A failure: class, message and (for kernel errors) the errno.
///
/// Move-only so that an error has one owner and cannot be reported twice by
/// accident.
class Error {
public:
    explicit Error(std::string message,
                   ErrorClass cls = ErrorClass::GenericError, int os_errno = 0)
        : m_message(std::move(message))
        , m_class(cls)
        , m_errno(os_errno)
    {
    }

    Error(Error &&) noexcept = default;
    Error &operator=(Error &&) noexcept = default;
    Error(const Error &) = delete;
    Error &operator=(const Error &) = delete;

    /// A GenericError with a fmt-formatted message.
    template <typename... Args>
    static Error format(fmt::format_string<Args...> f, Args &&...args)
    {
        return Error(fmt::format(f, std::forward<Args>(args)...));
    }

    /// A GenericError for a failed system call, keeping errno.
    /// The message is "<what>: <strerror(errno)>".
    static Error from_errno(int os_errno, std::string_view what);

    const std::string &message() const { return m_message; }
    ErrorClass error_class() const { return m_class; }
    /// The errno for kernel errors, 0 otherwise.
    int os_errno() const { return m_errno; }

    /// Add context in front of the message (QEMU's error_prepend()).
    Error &prepend(std::string_view prefix) &
    {
        m_message.insert(0, prefix);
        return *this;
    }
    Error &&prepend(std::string_view prefix) &&
    {
        m_message.insert(0, prefix);
        return std::move(*this);
    }

    /// Explicit copy, for the rare place that must report an error and keep it.
    Error clone() const { return Error(m_message, m_class, m_errno); }

private:
    std::string m_message;
    ErrorClass m_class;
    int m_errno;
};

} // namespace qapi
