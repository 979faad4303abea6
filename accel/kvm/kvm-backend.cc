/*
 * The parts of the KVM backend interface that both backends share: the
 * LAPIC register-page accessors and the kernel-profile names.
 */
#include "accel/kvm/kvm-backend.h"

#include <bit>
#include <numeric>

namespace accel::kvm {

namespace {

// struct kvm_lapic_state is the xAPIC MMIO page as the kernel keeps it: every
// register is a little-endian u32 at its offset.  An offset past the page is
// read as zero and ignored on write rather than trusted, because offsets can
// come from a debugging command as well as from our own constants.
constexpr uint32_t LAPIC_REG_LIMIT =
    sizeof(LapicState::regs) - sizeof(uint32_t);

// The 256-bit registers (ISR, TMR, IRR) are eight u32s, one per 16 bytes.
constexpr uint32_t vector_reg_offset(uint32_t base, uint8_t vector)
{
    return base + 0x10 * (vector / 32);
}

constexpr uint32_t vector_reg_mask(uint8_t vector)
{
    return 1U << (vector % 32);
}

struct ProfileName {
    KernelProfile profile;
    std::string_view name;
};

constexpr ProfileName PROFILE_NAMES[] = {
    { KernelProfile::Model, "model" },
    { KernelProfile::Model6_12, "model-6.12" },
    { KernelProfile::Model6_1, "model-6.1" },
};

} // namespace

uint32_t LapicState::reg(uint32_t offset) const
{
    if (offset > LAPIC_REG_LIMIT) {
        return 0;
    }
    return static_cast<uint32_t>(regs[offset]) |
           static_cast<uint32_t>(regs[offset + 1]) << 8 |
           static_cast<uint32_t>(regs[offset + 2]) << 16 |
           static_cast<uint32_t>(regs[offset + 3]) << 24;
}

void LapicState::set_reg(uint32_t offset, uint32_t value)
{
    if (offset > LAPIC_REG_LIMIT) {
        return;
    }
    regs[offset] = static_cast<uint8_t>(value);
    regs[offset + 1] = static_cast<uint8_t>(value >> 8);
    regs[offset + 2] = static_cast<uint8_t>(value >> 16);
    regs[offset + 3] = static_cast<uint8_t>(value >> 24);
}

bool LapicState::vector_bit(uint32_t base, uint8_t vector) const
{
    uint32_t word = reg(vector_reg_offset(base, vector));
    return (word & vector_reg_mask(vector)) != 0;
}

void LapicState::set_vector_bit(uint32_t base, uint8_t vector, bool value)
{
    uint32_t offset = vector_reg_offset(base, vector);
    uint32_t word = reg(offset);
    if (value) {
        word |= vector_reg_mask(vector);
    } else {
        word &= ~vector_reg_mask(vector);
    }
    set_reg(offset, word);
}

uint16_t XsaveState::fcw() const
{
    return static_cast<uint16_t>(region[0] | region[1] << 8);
}

uint32_t XsaveState::mxcsr() const
{
    return static_cast<uint32_t>(region[24]) | static_cast<uint32_t>(region[25]) << 8 |
           static_cast<uint32_t>(region[26]) << 16 | static_cast<uint32_t>(region[27]) << 24;
}

size_t DirtyBitmap::count() const
{
    return std::accumulate(words.begin(), words.end(), size_t { 0 },
                           [](size_t sum, uint64_t word) {
                               return sum + static_cast<size_t>(std::popcount(word));
                           });
}

qapi::Result<KernelProfile> parse_kernel_profile(std::string_view name)
{
    for (const auto &[profile, profile_name] : PROFILE_NAMES) {
        if (profile_name == name) {
            return profile;
        }
    }
    return qapi::Error::format(
        "unknown kernel profile '{}' (expected 'model', 'model-6.12' or "
        "'model-6.1')",
        name);
}

std::string_view kernel_profile_name(KernelProfile profile)
{
    for (const auto &[candidate, profile_name] : PROFILE_NAMES) {
        if (candidate == profile) {
            return profile_name;
        }
    }
    return "model";
}

} // namespace accel::kvm
