// GoogleTest printers for QAPI values, so that a failed expectation shows
// JSON rather than bytes.
#pragma once

#include "qapi/qjson.h"
#include "qapi/qobject.h"

#include <ostream>

namespace qapi {

inline void PrintTo(const QObject &value, std::ostream *os)
{
    *os << to_json(value);
}

} // namespace qapi
