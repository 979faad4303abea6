#include "qapi/qobject.h"

#include <cassert>
#include <cmath>
#include <limits>

namespace qapi {

std::optional<bool> QObject::as_bool() const
{
    if (const bool *b = std::get_if<bool>(&m_value)) {
        return *b;
    }
    return std::nullopt;
}

std::optional<int64_t> QObject::as_int() const
{
    if (const int64_t *i = std::get_if<int64_t>(&m_value)) {
        return *i;
    }
    if (const uint64_t *u = std::get_if<uint64_t>(&m_value)) {
        if (*u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
            return static_cast<int64_t>(*u);
        }
        return std::nullopt;
    }
    if (const double *d = std::get_if<double>(&m_value)) {
        // 2^63 is exactly representable; anything at or above it is out.
        if (std::trunc(*d) == *d && *d >= -0x1p63 && *d < 0x1p63) {
            return static_cast<int64_t>(*d);
        }
    }
    return std::nullopt;
}

std::optional<uint64_t> QObject::as_uint() const
{
    if (const uint64_t *u = std::get_if<uint64_t>(&m_value)) {
        return *u;
    }
    if (const int64_t *i = std::get_if<int64_t>(&m_value)) {
        if (*i >= 0) {
            return static_cast<uint64_t>(*i);
        }
        return std::nullopt;
    }
    if (const double *d = std::get_if<double>(&m_value)) {
        if (std::trunc(*d) == *d && *d >= 0 && *d < 0x1p64) {
            return static_cast<uint64_t>(*d);
        }
    }
    return std::nullopt;
}

std::optional<double> QObject::as_double() const
{
    if (const double *d = std::get_if<double>(&m_value)) {
        return *d;
    }
    if (const int64_t *i = std::get_if<int64_t>(&m_value)) {
        return static_cast<double>(*i);
    }
    if (const uint64_t *u = std::get_if<uint64_t>(&m_value)) {
        return static_cast<double>(*u);
    }
    return std::nullopt;
}

const std::string *QObject::as_string() const
{
    return std::get_if<std::string>(&m_value);
}

const QObject::List *QObject::as_list() const
{
    return std::get_if<List>(&m_value);
}

QObject::List *QObject::as_list()
{
    return std::get_if<List>(&m_value);
}

const QObject::Dict *QObject::as_dict() const
{
    return std::get_if<Dict>(&m_value);
}

QObject::Dict *QObject::as_dict()
{
    return std::get_if<Dict>(&m_value);
}

const QObject *QObject::get(std::string_view key) const
{
    const Dict *d = as_dict();
    if (!d) {
        return nullptr;
    }
    for (const auto &[k, v] : *d) {
        if (k == key) {
            return &v;
        }
    }
    return nullptr;
}

QObject &QObject::set(std::string_view key, QObject value)
{
    Dict *d = as_dict();
    assert(d && "QObject::set on a non-dict");
    for (auto &[k, v] : *d) {
        if (k == key) {
            v = std::move(value);
            return *this;
        }
    }
    d->emplace_back(std::string(key), std::move(value));
    return *this;
}

QObject &QObject::append(QObject value)
{
    List *l = as_list();
    assert(l && "QObject::append on a non-list");
    l->push_back(std::move(value));
    return *this;
}

bool operator==(const QObject &a, const QObject &b)
{
    // Numbers compare by value across the three representations, as QEMU's
    // qnum_is_equal() does for the integer cases.
    if (a.is_number() && b.is_number()) {
        if (a.kind() == QObject::Kind::Double ||
            b.kind() == QObject::Kind::Double) {
            return a.as_double() == b.as_double();
        }
        auto ai = a.as_int();
        auto bi = b.as_int();
        if (ai && bi) {
            return *ai == *bi;
        }
        auto au = a.as_uint();
        auto bu = b.as_uint();
        return au && bu && *au == *bu;
    }
    if (a.is_dict() && b.is_dict()) {
        // Member order is not significant for equality.
        const auto &da = *a.as_dict();
        const auto &db = *b.as_dict();
        if (da.size() != db.size()) {
            return false;
        }
        for (const auto &[k, v] : da) {
            const QObject *other = b.get(k);
            if (!other || !(*other == v)) {
                return false;
            }
        }
        return true;
    }
    return a.m_value == b.m_value;
}

std::optional<std::string> scalar_text(const QObject &value)
{
    if (const std::string *s = value.as_string()) {
        return *s;
    }
    if (auto b = value.as_bool()) {
        return std::string(*b ? "true" : "false");
    }
    if (auto u = value.as_uint()) {
        return std::to_string(*u);
    }
    if (auto i = value.as_int()) {
        return std::to_string(*i);
    }
    return std::nullopt;
}

} // namespace qapi
