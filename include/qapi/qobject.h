/*
 * QObject: the dynamically typed value QMP speaks (QEMU's QObject, QNum,
 * QString, QBool, QList, QDict, QNull), as one value type.
 *
 * Numbers keep QEMU's QNum distinction between signed, unsigned and double so
 * that a uint64 property round-trips exactly.  Dicts keep insertion order so
 * replies read in the order the schema declares members.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace qapi {

class QObject {
public:
    using List = std::vector<QObject>;
    using Dict = std::vector<std::pair<std::string, QObject>>;

    enum class Kind { Null, Bool, Int, UInt, Double, String, List, Dict };

    QObject() = default; // null
    QObject(std::nullptr_t) { }
    QObject(bool v)
        : m_value(v)
    {
    }
    QObject(int v)
        : m_value(int64_t { v })
    {
    }
    QObject(int64_t v)
        : m_value(v)
    {
    }
    QObject(uint64_t v)
        : m_value(v)
    {
    }
    QObject(unsigned v)
        : m_value(uint64_t { v })
    {
    }
    QObject(double v)
        : m_value(v)
    {
    }
    QObject(const char *v)
        : m_value(std::string(v))
    {
    }
    QObject(std::string v)
        : m_value(std::move(v))
    {
    }
    QObject(std::string_view v)
        : m_value(std::string(v))
    {
    }
    QObject(List v)
        : m_value(std::move(v))
    {
    }
    QObject(Dict v)
        : m_value(std::move(v))
    {
    }

    static QObject dict() { return QObject(Dict {}); }
    static QObject list() { return QObject(List {}); }

    Kind kind() const { return static_cast<Kind>(m_value.index()); }
    bool is_null() const { return kind() == Kind::Null; }
    bool is_bool() const { return kind() == Kind::Bool; }
    /// Int, UInt or Double.
    bool is_number() const
    {
        return kind() == Kind::Int || kind() == Kind::UInt ||
               kind() == Kind::Double;
    }
    bool is_string() const { return kind() == Kind::String; }
    bool is_list() const { return kind() == Kind::List; }
    bool is_dict() const { return kind() == Kind::Dict; }

    /// Accessors return nullopt/nullptr when the kind does not fit.
    std::optional<bool> as_bool() const;
    /// An Int, or a UInt that fits int64_t, or an integral Double.
    std::optional<int64_t> as_int() const;
    /// A UInt, or a non-negative Int, or an integral Double.
    std::optional<uint64_t> as_uint() const;
    std::optional<double> as_double() const;
    const std::string *as_string() const;
    const List *as_list() const;
    List *as_list();
    const Dict *as_dict() const;
    Dict *as_dict();

    /// Dict member lookup; nullptr when absent or not a dict.
    const QObject *get(std::string_view key) const;
    /// Dict insert-or-replace (the object must be a dict).
    QObject &set(std::string_view key, QObject value);
    /// List append (the object must be a list).
    QObject &append(QObject value);

    friend bool operator==(const QObject &a, const QObject &b);

private:
    std::variant<std::monostate, bool, int64_t, uint64_t, double, std::string,
                 List, Dict>
        m_value;
};

/// A scalar as a user reads it: the string itself, "true"/"false", the
/// number in decimal; nullopt for null, lists and dicts.
std::optional<std::string> scalar_text(const QObject &value);

} // namespace qapi
