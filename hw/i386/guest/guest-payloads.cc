/*
 * Look-ups over the generated payload table (guest-payloads-data.cc).
 */
#include "hw/i386/guest-payloads.h"

namespace guest {

const GuestPayload *find_guest_payload(std::string_view name)
{
    for (const GuestPayload &payload : guest_payloads()) {
        if (payload.name == name) {
            return &payload;
        }
    }
    return nullptr;
}

} // namespace guest
