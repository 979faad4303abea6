#include "qapi/error.h"
#include "qapi/result.h"

#include <cstring>

namespace qapi {

std::string_view error_class_name(ErrorClass cls)
{
    switch (cls) {
    case ErrorClass::GenericError:
        return "GenericError";
    case ErrorClass::CommandNotFound:
        return "CommandNotFound";
    case ErrorClass::DeviceNotActive:
        return "DeviceNotActive";
    case ErrorClass::DeviceNotFound:
        return "DeviceNotFound";
    case ErrorClass::KVMMissingCap:
        return "KVMMissingCap";
    }
    return "GenericError";
}

Error Error::from_errno(int os_errno, std::string_view what)
{
    return Error(fmt::format("{}: {}", what, std::strerror(os_errno)),
                 ErrorClass::GenericError, os_errno);
}

void must_failed(const Error &error, const char *expr, const char *file,
                 int line)
{
    std::fprintf(stderr, "%s:%d: MUST(%s) failed: %s\n", file, line, expr,
                 error.message().c_str());
    std::abort();
}

} // namespace qapi
