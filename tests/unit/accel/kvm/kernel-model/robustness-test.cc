// Nothing a guest or a caller passes may abort the model: random guest
// memory and random ioctl arguments, from fixed seeds so every run is the
// same.
#include "model-test-helpers.h"

#include <gtest/gtest.h>

#include <array>
#include <random>

namespace accel::kvm::test {
namespace {

constexpr int PROGRAMS = 300;
constexpr size_t SUBSET_INSTRUCTIONS = 400;

// A random instruction from the guest subset, with random operands: MSRs
// are drawn from the x2APIC range and APICBASE so that the LAPIC is driven
// too.
void append_random_instruction(GuestCode &code, std::mt19937 &rng)
{
    auto byte = [&rng] { return static_cast<uint8_t>(rng()); };
    auto reg = [&rng] { return static_cast<Reg>(rng() % 8); };
    switch (rng() % 16) {
    case 0:
        code.mov16(reg(), static_cast<uint16_t>(rng()));
        break;
    case 1:
        code.mov32(reg(), static_cast<uint32_t>(rng()));
        break;
    case 2: // add/xor/cmp/test/mov r, r
        code.raw({ std::array<uint8_t, 6> { 0x01, 0x31, 0x33, 0x39, 0x85, 0x89 }[rng() % 6],
                   static_cast<uint8_t>(0xC0 | (byte() & 0x3F)) });
        break;
    case 3: // add/sub/cmp r, imm8
        code.raw({ 0x83, static_cast<uint8_t>(0xC0 | std::array<uint8_t, 3> { 0, 5, 7 }[rng() % 3] << 3 |
                                              (byte() & 7)),
                   byte() });
        break;
    case 4: // inc, dec, push, pop
        code.raw({ static_cast<uint8_t>(0x40 + byte() % 0x20) });
        break;
    case 5: // jcc, jmp rel8
        code.raw({ static_cast<uint8_t>(rng() % 2 == 0 ? 0x70 + byte() % 16 : 0xEB), byte() });
        break;
    case 6:
        code.wrmsr(rng() % 8 == 0 ? MSR_IA32_APICBASE : 0x800 + static_cast<uint32_t>(rng() % 0x40),
                   static_cast<uint32_t>(rng()), rng() % 4 == 0 ? static_cast<uint32_t>(rng()) : 0);
        break;
    case 7:
        code.rdmsr(0x800 + static_cast<uint32_t>(rng() % 0x40));
        break;
    case 8:
        code.out8(byte());
        break;
    case 9:
        code.in16(byte());
        break;
    case 10:
        code.raw({ std::array<uint8_t, 5> { 0xFA, 0xFB, 0xF4, 0xCF, 0x90 }[rng() % 5] });
        break;
    case 11: // mov [r32], r32 / mov r32, [r32] through an address register
        code.mov32(BX, rng() % 2 == 0 ? static_cast<uint32_t>(rng() % 0x10000)
                                      : IOAPIC_BASE + static_cast<uint32_t>(rng() % 0x100));
        if (rng() % 2 == 0) {
            code.store32(BX, reg());
        } else {
            code.load32(reg(), BX);
        }
        break;
    case 12: // call, ret
        code.raw({ rng() % 2 == 0 ? uint8_t { 0xC3 } : uint8_t { 0xE8 }, static_cast<uint8_t>(byte() % 64),
                   0 });
        break;
    default:
        code.nop();
        break;
    }
}
constexpr int RUNS_PER_PROGRAM = 40;
constexpr int CALLS = 3000;

TEST(ModelRobustness, RandomGuestMemoryOnlyEverEndsRuns)
{
    std::mt19937 rng(20260301);
    KernelModelOptions options;
    options.run_budget = 2000;
    int runs = 0;
    for (int program = 0; program < PROGRAMS; ++program) {
        ModelHarness h(KernelProfile::Model, options);
        h.split();
        Vcpu &vcpu = h.add_vcpu(0);
        for (std::byte &byte : h.ram().bytes) {
            byte = static_cast<std::byte>(rng());
        }
        Regs regs = MUST(vcpu.get_regs());
        regs.rax = rng();
        regs.rbx = rng();
        regs.rcx = rng();
        regs.rdx = rng();
        regs.rsi = rng();
        regs.rdi = rng();
        MUST(vcpu.set_regs(regs));
        MUST(h.vm().signal_msi(fixed_msi(0, static_cast<uint8_t>(16 + rng() % 240))));
        for (int i = 0; i < RUNS_PER_PROGRAM; ++i) {
            ASSERT_TRUE(vcpu.run().has_value());
            vcpu.complete_io_in(rng());
            ++runs;
        }
    }
    EXPECT_EQ(runs, PROGRAMS * RUNS_PER_PROGRAM);
}

TEST(ModelRobustness, RandomSubsetProgramsOnlyEverEndRuns)
{
    std::mt19937 rng(4242);
    KernelModelOptions options;
    options.run_budget = 5000;
    int runs = 0;
    for (int program = 0; program < PROGRAMS; ++program) {
        ModelHarness h(KernelProfile::Model, options);
        h.kernel_irqchip();
        Vcpu &vcpu = h.add_vcpu(0);
        GuestCode code;
        while (code.size() < SUBSET_INSTRUCTIONS) {
            append_random_instruction(code, rng);
        }
        h.ram().load(CODE_BASE, code.bytes());
        for (uint8_t vector = 0; vector < 255; ++vector) {
            h.ram().set_ivt(vector, static_cast<uint16_t>(CODE_BASE + rng() % SUBSET_INSTRUCTIONS));
        }
        for (int i = 0; i < RUNS_PER_PROGRAM; ++i) {
            (void)h.vm().irq_line(rng() % 24, rng() % 2 == 0);
            qapi::Result<VcpuExit> exit = vcpu.run();
            ASSERT_TRUE(exit.has_value());
            // Resume somewhere else in the program after an emulation error,
            // which would otherwise repeat at the same RIP.
            if (std::holds_alternative<ExitInternalError>(exit.value())) {
                Regs regs = MUST(vcpu.get_regs());
                regs.rip = CODE_BASE + rng() % SUBSET_INSTRUCTIONS;
                MUST(vcpu.set_regs(regs));
            }
            vcpu.complete_io_in(static_cast<uint32_t>(rng()));
            ++runs;
        }
    }
    EXPECT_EQ(runs, PROGRAMS * RUNS_PER_PROGRAM);
}

TEST(ModelRobustness, RandomIoctlArgumentsNeverAbort)
{
    std::mt19937 rng(19700101);
    ModelHarness h;
    h.split().x2apic_api(KVM_X2APIC_API_USE_32BIT_IDS);
    for (uint32_t id = 0; id < 4; ++id) {
        h.add_vcpu(id, { .mode = id % 2 == 0 ? ApicMode::X2apic : ApicMode::Xapic });
    }
    int calls = 0;
    for (int i = 0; i < CALLS; ++i) {
        Vcpu &vcpu = h.vcpu(rng() % 4);
        switch (rng() % 6) {
        case 0: {
            LapicState state;
            for (uint8_t &byte : state.regs) {
                byte = static_cast<uint8_t>(rng());
            }
            (void)vcpu.set_lapic(state);
            break;
        }
        case 1:
            (void)h.vm().signal_msi(MsiMessage { .address_lo = static_cast<uint32_t>(rng()),
                                                 .address_hi = static_cast<uint32_t>(rng()),
                                                 .data = static_cast<uint32_t>(rng()) });
            break;
        case 2:
            (void)h.vm().set_gsi_routing(std::vector { msi_route(
                rng() % 32, rng() % 256, static_cast<uint8_t>(rng()), rng() % 2 == 0) });
            break;
        case 3:
            (void)h.vm().irq_line(rng() % 32, rng() % 2 == 0);
            break;
        case 4: {
            std::array<MsrEntry, 1> msrs { MsrEntry { 0x800 + static_cast<uint32_t>(rng() % 0x100),
                                                      static_cast<uint64_t>(rng()) } };
            (void)vcpu.set_msrs(msrs);
            break;
        }
        default: {
            std::array<MsrEntry, 1> msrs { MsrEntry { MSR_IA32_APICBASE,
                                                      (static_cast<uint64_t>(rng()) << 32) | rng() } };
            (void)vcpu.set_msrs(msrs);
            break;
        }
        }
        ++calls;
    }
    EXPECT_EQ(calls, CALLS);
}

} // namespace
} // namespace accel::kvm::test
