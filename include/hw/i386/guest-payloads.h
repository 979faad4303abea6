/*
 * The guest payloads: small real-mode programs assembled at build time from
 * the .S files in hw/i386/guest and embedded here as bytes.  seoib-vm runs
 * them as its built-in guest and the KVM conformance suite runs them on both
 * backends.  hw/i386/guest/README.md documents each payload's parameters and
 * ports.
 */
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace guest {

/// One assembled payload.  Load `image` at guest-physical `load_address`
/// (inside a RAM slot at GPA 0) and start it in real mode with CS=0 and
/// IP=`entry_point`.
struct GuestPayload {
    std::string_view name;
    std::span<const uint8_t> image;
    uint64_t load_address { 0 };
    uint64_t entry_point { 0 };
};

/// Every payload, in the order hw/i386/guest/meson.build lists them.
std::span<const GuestPayload> guest_payloads();

/// The payload called `name` ("eoi-probe"), or nullptr if there is none.
const GuestPayload *find_guest_payload(std::string_view name);

/// eoi-probe: reports the x2APIC LVR and SVR, optionally sets the SVR, then
/// handles one vector with LAPIC EOI and optional IOAPIC EOI (README.md).
const GuestPayload &eoi_probe_payload();

/// io-echo: reads a 32-bit value from one port and writes it back plus one
/// to another, for ever (README.md).
const GuestPayload &io_echo_payload();

/// eoi-probe's report ports.  Its parameters (KVM_SET_REGS): EAX = SVR value
/// to write (0 = leave), EBX = vector to handle, ECX = non-zero to also write
/// the IOAPIC EOI register.  Memory it uses besides its image: the IVT entry
/// of the vector and the stack below SP.
namespace eoi_probe {

/// 32 bits: the LVR (rdmsr 0x803).
inline constexpr uint16_t PORT_LVR = 0xe0;
/// 32 bits: the SVR read back (rdmsr 0x80F) after the optional write.
inline constexpr uint16_t PORT_SVR = 0xe1;
/// 8 bits: the vector; the handler was entered.
inline constexpr uint16_t PORT_HANDLER_ENTERED = 0xe2;
/// 8 bits: the vector; the LAPIC EOI (wrmsr 0x80B) was written.
inline constexpr uint16_t PORT_LAPIC_EOI_DONE = 0xe3;
/// 8 bits: the vector; the IOAPIC EOI register was written.
inline constexpr uint16_t PORT_IOAPIC_EOI_DONE = 0xe4;
/// 16 bits: interrupts handled so far; `sti; hlt` follows.
inline constexpr uint16_t PORT_IDLE = 0xe5;

/// Where the IOAPIC EOI register write goes (a 4-byte MMIO write).
inline constexpr uint64_t IOAPIC_EOI_REGISTER = 0xfec00040;

} // namespace eoi_probe

/// io-echo's ports (32-bit accesses).
namespace io_echo {

/// `in`: the host supplies a value.
inline constexpr uint16_t PORT_IN = 0xe6;
/// `out`: that value plus one.
inline constexpr uint16_t PORT_OUT = 0xe7;

} // namespace io_echo

} // namespace guest
