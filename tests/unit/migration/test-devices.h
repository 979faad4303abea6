/*
 * Example device states for the migration tests, declared the way the
 * devices will declare theirs: an IOAPIC laid out as QEMU's "ioapic" v3
 * (plus a seoib "ioapic/version" subsection), a vCPU (registers, special
 * registers, an MSR list, the 1 KiB LAPIC page) and x86-seoib-state.
 */
#pragma once

#include "migration/vmstate.h"

#include <array>
#include <cstdint>
#include <vector>

namespace migration_test {

using migration::VMStateDescription;
using migration::vmstate;

inline constexpr size_t IOAPIC_NUM_PINS = 24;
inline constexpr uint8_t IOAPIC_VER_DEFAULT = 0x20;

struct IOAPICTestState {
    uint8_t id { 0 };
    uint8_t ioregsel { 0 };
    uint32_t irr { 0 };
    std::array<uint64_t, IOAPIC_NUM_PINS> ioredtbl {};
    uint8_t version { IOAPIC_VER_DEFAULT };
    int post_load_calls { 0 };
};

inline VMStateDescription<IOAPICTestState> ioapic_vmsd()
{
    using S = IOAPICTestState;
    auto version = vmstate<S>("ioapic/version")
                       .version(1)
                       .minimum_version(1)
                       .needed([](const S &s) {
                           return s.version != IOAPIC_VER_DEFAULT;
                       })
                       .field("version", &S::version)
                       .build();
    return vmstate<S>("ioapic")
        .version(3)
        .minimum_version(1)
        .field("id", &S::id)
        .field("ioregsel", &S::ioregsel)
        .unused(8)
        .since(2) // qemu-kvm's v2 format
        .field("irr", &S::irr)
        .since(2)
        .field("ioredtbl", &S::ioredtbl)
        .subsection(version)
        .pre_load([](S &s) -> qapi::Result<void> {
            s.version = IOAPIC_VER_DEFAULT;
            return {};
        })
        .post_load([](S &s, int) -> qapi::Result<void> {
            s.post_load_calls++;
            return {};
        })
        .build();
}

struct X86Segment {
    uint64_t base { 0 };
    uint32_t limit { 0 };
    uint16_t selector { 0 };
    uint8_t type { 0 };
    bool present { false };
};

struct X86Regs {
    std::array<uint64_t, 16> gpr {};
    uint64_t rip { 0 };
    uint64_t rflags { 0 };
};

struct X86Sregs {
    std::array<X86Segment, 6> segs {};
    X86Segment tr;
    uint64_t cr0 { 0 }, cr3 { 0 }, cr4 { 0 }, efer { 0 }, apic_base { 0 };
};

struct MSREntry {
    uint32_t index { 0 };
    uint64_t data { 0 };
};

inline constexpr uint32_t MAX_MSRS = 64;

struct X86VcpuTestState {
    X86Regs regs;
    X86Sregs sregs;
    uint32_t nmsrs { 0 };
    std::vector<MSREntry> msrs;
    std::array<uint8_t, 1024> lapic {};
};

inline VMStateDescription<X86Segment> segment_vmsd()
{
    return vmstate<X86Segment>("segment")
        .version(1)
        .field("base", &X86Segment::base)
        .field("limit", &X86Segment::limit)
        .field("selector", &X86Segment::selector)
        .field("type", &X86Segment::type)
        .field("present", &X86Segment::present)
        .build();
}

inline VMStateDescription<X86VcpuTestState> vcpu_vmsd()
{
    using S = X86VcpuTestState;
    auto msr = vmstate<MSREntry>("msr")
                   .version(1)
                   .field("index", &MSREntry::index)
                   .field("data", &MSREntry::data)
                   .build();
    return vmstate<S>("x86-vcpu")
        .version(1)
        .minimum_version(1)
        .field("regs.gpr", migration::member(&S::regs, &X86Regs::gpr))
        .field("regs.rip", migration::member(&S::regs, &X86Regs::rip))
        .field("regs.rflags", migration::member(&S::regs, &X86Regs::rflags))
        .field("sregs.segs", migration::member(&S::sregs, &X86Sregs::segs),
               segment_vmsd())
        .field("sregs.tr", migration::member(&S::sregs, &X86Sregs::tr),
               segment_vmsd())
        .field("sregs.cr0", migration::member(&S::sregs, &X86Sregs::cr0))
        .field("sregs.cr3", migration::member(&S::sregs, &X86Sregs::cr3))
        .field("sregs.cr4", migration::member(&S::sregs, &X86Sregs::cr4))
        .field("sregs.efer", migration::member(&S::sregs, &X86Sregs::efer))
        .field("sregs.apic_base",
               migration::member(&S::sregs, &X86Sregs::apic_base))
        .field("nmsrs", &S::nmsrs)
        .varray("msrs", &S::msrs, &S::nmsrs, MAX_MSRS, msr)
        .buffer("lapic", &S::lapic)
        .pre_save([](S &s) -> qapi::Result<void> {
            s.nmsrs = uint32_t(s.msrs.size());
            return {};
        })
        .build();
}

enum class SeoibPolicy : uint8_t {
    Quirked = 0,
    Respected = 1,
    NotAdvertised = 2,
};

struct SeoibTestState {
    SeoibPolicy policy { SeoibPolicy::Quirked };
};

inline VMStateDescription<SeoibTestState> seoib_state_vmsd()
{
    // Sent only when not quirked, so that a quirked VM migrates to a QEMU
    // that has never heard of the section (design 4.5).
    return vmstate<SeoibTestState>("x86-seoib-state")
        .version(1)
        .minimum_version(1)
        .needed([](const SeoibTestState &s) {
            return s.policy != SeoibPolicy::Quirked;
        })
        .field("policy", &SeoibTestState::policy)
        .post_load([](SeoibTestState &s, int) -> qapi::Result<void> {
            if (s.policy > SeoibPolicy::NotAdvertised) {
                return qapi::Error::format("invalid SEOIB policy {}",
                                           unsigned(s.policy));
            }
            return {};
        })
        .build();
}

} // namespace migration_test
