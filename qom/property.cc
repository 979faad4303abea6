#include "qom/property.h"

#include <cerrno>
#include <cstdlib>
#include <string>

namespace qom {

namespace detail {

namespace {
// strtoull/strtoll want a terminated string and accept leading white space;
// QEMU's qemu_strto*() accept the same, so the input is passed on as is.
template <typename T, typename F>
std::optional<T> parse_with(std::string_view s, F strto)
{
    if (s.empty()) {
        return std::nullopt;
    }
    std::string buf(s);
    char *end = nullptr;
    errno = 0;
    T v = strto(buf.c_str(), &end, 0);
    if (errno != 0 || end == buf.c_str() || *end != '\0') {
        return std::nullopt;
    }
    return v;
}
} // namespace

std::optional<uint64_t> parse_u64(std::string_view s)
{
    return parse_with<uint64_t>(s, [](const char *p, char **e, int b) {
        return std::strtoull(p, e, b);
    });
}

std::optional<int64_t> parse_i64(std::string_view s)
{
    return parse_with<int64_t>(s, [](const char *p, char **e, int b) {
        return std::strtoll(p, e, b);
    });
}

qapi::Error expects(std::string_view name, std::string_view what)
{
    return qapi::Error::format("Parameter '{}' expects {}", name, what);
}

qapi::Error invalid_type(std::string_view name, std::string_view expected)
{
    return qapi::Error::format("Invalid parameter type for '{}', expected: {}",
                               name, expected);
}

} // namespace detail

qapi::Result<bool> PropertyCodec<bool>::parse(std::string_view name,
                                              std::string_view s)
{
    if (s == "on" || s == "yes" || s == "true" || s == "y") {
        return true;
    }
    if (s == "off" || s == "no" || s == "false" || s == "n") {
        return false;
    }
    return detail::expects(name, "'on' or 'off'");
}

qapi::Result<bool> PropertyCodec<bool>::from_qobject(std::string_view name,
                                                     const qapi::QObject &q)
{
    if (std::optional<bool> b = q.as_bool()) {
        return *b;
    }
    return detail::invalid_type(name, "boolean");
}

qapi::Result<std::string>
PropertyCodec<std::string>::from_qobject(std::string_view name,
                                         const qapi::QObject &q)
{
    if (const std::string *s = q.as_string()) {
        return *s;
    }
    return detail::invalid_type(name, "string");
}

ObjectProperty::~ObjectProperty() = default;

qapi::Result<qapi::QObject> ObjectProperty::get(const Object &obj) const
{
    return qapi::Error::format("Property '{}.{}' is not readable",
                               obj.qom_type(), m_name);
}

qapi::Result<void> ObjectProperty::set(Object &obj, const qapi::QObject &) const
{
    return qapi::Error::format("Property '{}.{}' is not writable",
                               obj.qom_type(), m_name);
}

qapi::Result<void> ObjectProperty::parse(Object &obj, std::string_view) const
{
    return qapi::Error::format("Property '{}.{}' is not writable",
                               obj.qom_type(), m_name);
}

qapi::Result<std::string> ObjectProperty::print(const Object &obj) const
{
    return qapi::Error::format("Property '{}.{}' is not readable",
                               obj.qom_type(), m_name);
}

qapi::Result<qapi::QObject> ObjectProperty::decode(std::string_view) const
{
    return qapi::Error::format("Property '{}' of type '{}' cannot be "
                               "resolved before its object exists",
                               m_name, m_type);
}

} // namespace qom
