// The model's guest CPU: the instruction subset of the guest payload
// contract, its exits, and real-mode interrupt delivery.
#include "model-test-helpers.h"

#include <gtest/gtest.h>

#include <ostream>

namespace accel::kvm::test {
namespace {

constexpr uint64_t FLAG_CF = 1U << 0;
constexpr uint64_t FLAG_ZF = 1U << 6;
constexpr uint64_t FLAG_SF = 1U << 7;
constexpr uint64_t FLAG_IF = 1U << 9;
constexpr uint64_t FLAG_OF = 1U << 11;
constexpr uint64_t TESTED_FLAGS = FLAG_CF | FLAG_ZF | FLAG_SF | FLAG_OF;
constexpr uint8_t DONE_PORT = 0x10;

/// A split VM with one x2APIC vCPU running `code` at CODE_BASE.
struct GuestRun {
    ModelHarness h;
    Vcpu *vcpu { nullptr };

    explicit GuestRun(const GuestCode &code)
    {
        h.split();
        vcpu = &h.add_vcpu(0);
        h.ram().load(CODE_BASE, code.bytes());
    }
};

struct FlagsCase {
    const char *name;
    GuestCode code;
    uint64_t flags;
};

std::ostream &operator<<(std::ostream &os, const FlagsCase &c)
{
    return os << c.name;
}

class ArithmeticFlags : public testing::TestWithParam<FlagsCase> {};

TEST_P(ArithmeticFlags, MatchTheCpu)
{
    GuestRun guest(GuestCode(GetParam().code).out8(DONE_PORT));

    ASSERT_EQ(io_port(run(*guest.vcpu)), DONE_PORT);

    EXPECT_EQ(MUST(guest.vcpu->get_regs()).rflags & TESTED_FLAGS, GetParam().flags);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ArithmeticFlags,
    testing::Values(
        // cmp ax, ax
        FlagsCase { "CmpEqualSetsZf", GuestCode().mov16(AX, 5).raw({ 0x39, 0xC0 }), FLAG_ZF },
        // sub ax, 2 with ax = 1: borrow and negative
        FlagsCase { "SubBorrowSetsCfAndSf", GuestCode().mov16(AX, 1).raw({ 0x83, 0xE8, 0x02 }),
                    FLAG_CF | FLAG_SF },
        // add ax, bx: 0x7FFF + 1 overflows into the sign
        FlagsCase { "AddSignedOverflowSetsOf",
                    GuestCode().mov16(AX, 0x7FFF).mov16(BX, 1).raw({ 0x01, 0xD8 }),
                    FLAG_OF | FLAG_SF },
        // add eax, ebx: 0xFFFFFFFF + 1 carries out of 32 bits
        FlagsCase { "Add32CarrySetsCfAndZf",
                    GuestCode().mov32(AX, 0xFFFFFFFF).mov32(BX, 1).raw({ 0x66, 0x01, 0xD8 }),
                    FLAG_CF | FLAG_ZF },
        // stc is not in the subset: cmp 0, 1 sets CF, then inc ax keeps it
        FlagsCase { "IncKeepsCf",
                    GuestCode().mov16(AX, 0).raw({ 0x83, 0xF8, 0x01 }).raw({ 0x40 }),
                    FLAG_CF },
        // cmp 0, 1 sets CF; xor ax, ax clears CF and OF, sets ZF
        FlagsCase { "XorClearsCf",
                    GuestCode().mov16(AX, 0).raw({ 0x83, 0xF8, 0x01 }).raw({ 0x31, 0xC0 }),
                    FLAG_ZF },
        // test ax, ax with ax = 0x8000
        FlagsCase { "TestSetsSf", GuestCode().mov16(AX, 0x8000).raw({ 0x85, 0xC0 }), FLAG_SF },
        // cmp ax, 0x1234 (81 /7) equal
        FlagsCase { "CmpImm16Equal", GuestCode().mov16(AX, 0x1234).raw({ 0x81, 0xF8, 0x34, 0x12 }),
                    FLAG_ZF },
        // dec ax from 1
        FlagsCase { "DecToZeroSetsZf", GuestCode().mov16(AX, 1).raw({ 0x48 }), FLAG_ZF }),
    [](const testing::TestParamInfo<FlagsCase> &info) { return info.param.name; });

struct BranchCase {
    const char *name;
    GuestCode compare;
    uint8_t jcc;
    bool taken;
};

std::ostream &operator<<(std::ostream &os, const BranchCase &c)
{
    return os << c.name;
}

class ConditionalJump : public testing::TestWithParam<BranchCase> {};

// jcc +2 skips "out 0x11" and lands on "out 0x12".
TEST_P(ConditionalJump, TakesTheBranchWhenTheConditionHolds)
{
    GuestRun guest(GuestCode(GetParam().compare).raw({ GetParam().jcc, 0x02 }).out8(0x11).out8(0x12));

    EXPECT_EQ(io_port(run(*guest.vcpu)), GetParam().taken ? 0x12 : 0x11);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ConditionalJump,
    testing::Values(
        BranchCase { "JeTaken", GuestCode().mov16(AX, 3).raw({ 0x83, 0xF8, 0x03 }), 0x74, true },
        BranchCase { "JneNotTaken", GuestCode().mov16(AX, 3).raw({ 0x83, 0xF8, 0x03 }), 0x75, false },
        BranchCase { "JbTaken", GuestCode().mov16(AX, 2).raw({ 0x83, 0xF8, 0x03 }), 0x72, true },
        BranchCase { "JaNotTaken", GuestCode().mov16(AX, 2).raw({ 0x83, 0xF8, 0x03 }), 0x77, false },
        BranchCase { "JlTakenForNegative", GuestCode().mov16(AX, 0xFFFF).raw({ 0x83, 0xF8, 0x01 }),
                     0x7C, true },
        BranchCase { "JgNotTakenForNegative", GuestCode().mov16(AX, 0xFFFF).raw({ 0x83, 0xF8, 0x01 }),
                     0x7F, false }),
    [](const testing::TestParamInfo<BranchCase> &info) { return info.param.name; });

TEST(Interpreter, CallAndRetReturnAfterTheCall)
{
    // 0: call 5; 3: out 0x12; 5: ret
    GuestRun guest(GuestCode().raw({ 0xE8, 0x02, 0x00 }).out8(0x12).raw({ 0xC3 }));

    EXPECT_EQ(io_port(run(*guest.vcpu)), 0x12);
}

TEST(Interpreter, PushPopRoundTripsAValue)
{
    GuestRun guest(GuestCode().mov16(AX, 0xBEEF).raw({ 0x50, 0x5B }).raw({ 0x89, 0xD8 }).out16(DONE_PORT));

    VcpuExit exit = run(*guest.vcpu);

    const auto *io = std::get_if<ExitIo>(&exit);
    ASSERT_NE(io, nullptr);
    EXPECT_EQ(io->value, 0xBEEFU);
}

TEST(Interpreter, OutExitCarriesPortSizeAndValue)
{
    GuestRun guest(GuestCode().mov32(AX, 0x12345678).out32(0x42));

    VcpuExit exit = run(*guest.vcpu);

    const auto *io = std::get_if<ExitIo>(&exit);
    ASSERT_NE(io, nullptr);
    EXPECT_EQ(io->direction, ExitIo::Direction::Out);
    EXPECT_EQ(io->port, 0x42);
    EXPECT_EQ(io->size, 4);
    EXPECT_EQ(io->value, 0x12345678U);
}

// As the development host shows: RIP is past OUT when its exit arrives.
TEST(Interpreter, OutExitReportsRipPastTheInstruction)
{
    GuestRun guest(GuestCode().out8(DONE_PORT));

    ASSERT_EQ(io_port(run(*guest.vcpu)), DONE_PORT);

    EXPECT_EQ(MUST(guest.vcpu->get_regs()).rip, CODE_BASE + 2);
}

TEST(Interpreter, InCompletesWithTheValueFromCompleteIoIn)
{
    GuestRun guest(GuestCode().in16(0x20).out16(DONE_PORT));
    ASSERT_EQ(io_port(run(*guest.vcpu)), 0x20);
    guest.vcpu->complete_io_in(0xCAFE);

    VcpuExit exit = run(*guest.vcpu);

    const auto *io = std::get_if<ExitIo>(&exit);
    ASSERT_NE(io, nullptr);
    EXPECT_EQ(io->value, 0xCAFEU);
}

TEST(Interpreter, MmioWriteExitsWithAddressAndValue)
{
    GuestRun guest(GuestCode().mov32(BX, 0xFED00000).mov32(AX, 0xA5A5).store32(BX, AX));

    VcpuExit exit = run(*guest.vcpu);

    const auto *mmio = std::get_if<ExitMmio>(&exit);
    ASSERT_NE(mmio, nullptr);
    EXPECT_TRUE(mmio->is_write);
    EXPECT_EQ(mmio->address, 0xFED00000U);
    EXPECT_EQ(mmio->size, 4);
    EXPECT_EQ(mmio->value, 0xA5A5U);
}

TEST(Interpreter, Disp16StoreWritesRam)
{
    // mov [0x3000], ax
    GuestRun guest(GuestCode().mov16(AX, 0x1234).raw({ 0x89, 0x06, 0x00, 0x30 }).out8(DONE_PORT));

    ASSERT_EQ(io_port(run(*guest.vcpu)), DONE_PORT);

    EXPECT_EQ(guest.h.ram().read16(DATA_BASE), 0x1234);
}

TEST(Interpreter, Disp16LoadReadsRam)
{
    // mov bx, [0x3000]; mov ax, bx
    GuestRun guest(GuestCode().raw({ 0x8B, 0x1E, 0x00, 0x30 }).raw({ 0x89, 0xD8 }).out16(DONE_PORT));
    guest.h.ram().load(DATA_BASE, { 0x34, 0x12 });

    VcpuExit exit = run(*guest.vcpu);

    const auto *io = std::get_if<ExitIo>(&exit);
    ASSERT_NE(io, nullptr);
    EXPECT_EQ(io->value, 0x1234U);
}

TEST(Interpreter, InstructionOutsideTheSubsetIsAnEmulationError)
{
    // pushf (9C) is not in the subset.
    GuestRun guest(GuestCode().raw({ 0x9C }));

    VcpuExit exit = run(*guest.vcpu);

    const auto *error = std::get_if<ExitInternalError>(&exit);
    ASSERT_NE(error, nullptr);
    EXPECT_EQ(error->suberror, 1U);
}

TEST(Interpreter, UnmodelledMsrIsAnEmulationError)
{
    GuestRun guest(GuestCode().rdmsr(0x10));

    EXPECT_TRUE(std::holds_alternative<ExitInternalError>(run(*guest.vcpu)));
}

TEST(Interpreter, ProtectedModeIsAnEmulationError)
{
    GuestRun guest(GuestCode().nop());
    Sregs sregs = MUST(guest.vcpu->get_sregs());
    sregs.cr0 |= 1;
    MUST(guest.vcpu->set_sregs(sregs));

    EXPECT_TRUE(std::holds_alternative<ExitInternalError>(run(*guest.vcpu)));
}

TEST(Interpreter, RdmsrReadsTheLvr)
{
    GuestRun guest(GuestCode().rdmsr(x2apic_msr(APIC_LVR)).out32(DONE_PORT));

    VcpuExit exit = run(*guest.vcpu);

    const auto *io = std::get_if<ExitIo>(&exit);
    ASSERT_NE(io, nullptr);
    EXPECT_EQ(io->value, LVR_DIRECTED_EOI);
}

TEST(Interpreter, HltWithoutIrqchipExitsToUserspace)
{
    ModelHarness h;
    Vcpu &vcpu = h.add_vcpu(0, { .mode = ApicMode::Xapic });
    h.ram().load(CODE_BASE, GuestCode().hlt().bytes());

    EXPECT_TRUE(std::holds_alternative<ExitHlt>(run(vcpu)));
}

// With an in-kernel LAPIC, HLT would block; the model reports the run as
// interrupted instead.
TEST(Interpreter, HltWithNothingPendingIsInterrupted)
{
    GuestRun guest(GuestCode().sti().hlt());

    EXPECT_TRUE(std::holds_alternative<ExitInterrupted>(run(*guest.vcpu)));
}

TEST(Interpreter, EndlessLoopEndsAtTheInstructionBudget)
{
    KernelModelOptions options;
    options.run_budget = 1000;
    ModelHarness h(KernelProfile::Model, options);
    h.split();
    Vcpu &vcpu = h.add_vcpu(0);
    h.ram().load(CODE_BASE, GuestCode().spin().bytes());

    EXPECT_TRUE(std::holds_alternative<ExitInterrupted>(run(vcpu)));
}

TEST(Interpreter, StoreBeyondTheDataSegmentLimitRaisesGp)
{
    constexpr uint8_t GP_PORT = 0x0D;
    GuestRun guest(GuestCode().mov32(BX, 0x20000).mov32(AX, 1).store32(BX, AX).out8(DONE_PORT));
    Sregs sregs = MUST(guest.vcpu->get_sregs());
    sregs.ds.limit = 0xFFFF;
    MUST(guest.vcpu->set_sregs(sregs));
    guest.h.ram().load(HANDLER_BASE, GuestCode().out8(GP_PORT).bytes());
    guest.h.ram().set_ivt(13, HANDLER_BASE);

    EXPECT_EQ(io_port(run(*guest.vcpu)), GP_PORT);
}

constexpr uint8_t VECTOR = 0x60;

// A pending interrupt waits while IF=0; after sti it is taken once the
// instruction after sti has run.
TEST(InterruptDelivery, StiShadowLetsOneInstructionRunFirst)
{
    GuestRun guest(GuestCode().sti().out8(0x11).out8(0x12));
    guest.h.ram().load(HANDLER_BASE, GuestCode().out8(0x20).bytes());
    guest.h.ram().set_ivt(VECTOR, HANDLER_BASE);
    MUST(guest.h.vm().signal_msi(fixed_msi(0, VECTOR)));

    EXPECT_EQ(io_port(run(*guest.vcpu)), 0x11);
}

TEST(InterruptDelivery, EntersTheIvtHandlerAfterTheShadow)
{
    GuestRun guest(GuestCode().sti().out8(0x11).out8(0x12));
    guest.h.ram().load(HANDLER_BASE, GuestCode().out8(0x20).bytes());
    guest.h.ram().set_ivt(VECTOR, HANDLER_BASE);
    MUST(guest.h.vm().signal_msi(fixed_msi(0, VECTOR)));
    ASSERT_EQ(io_port(run(*guest.vcpu)), 0x11);

    EXPECT_EQ(io_port(run(*guest.vcpu)), 0x20);
}

// Delivery pushes FLAGS, CS and IP and clears IF.
TEST(InterruptDelivery, PushesTheReturnFrameAndClearsIf)
{
    GuestRun guest(GuestCode().sti().hlt());
    guest.h.ram().load(HANDLER_BASE, GuestCode().out8(0x20).bytes());
    guest.h.ram().set_ivt(VECTOR, HANDLER_BASE);
    MUST(guest.h.vm().signal_msi(fixed_msi(0, VECTOR)));

    ASSERT_EQ(io_port(run(*guest.vcpu)), 0x20);

    Regs regs = MUST(guest.vcpu->get_regs());
    EXPECT_EQ(regs.rflags & FLAG_IF, 0U);
    EXPECT_EQ(regs.rsp, STACK_TOP - 6);
    EXPECT_EQ(guest.h.ram().read16(STACK_TOP - 6), CODE_BASE + 2); // IP after hlt
    EXPECT_EQ(guest.h.ram().read16(STACK_TOP - 2) & FLAG_IF, FLAG_IF);
}

TEST(InterruptDelivery, IretReturnsToTheInterruptedCode)
{
    GuestRun guest(GuestCode().sti().hlt().out8(0x11));
    guest.h.ram().load(HANDLER_BASE, GuestCode().wrmsr(MSR_X2APIC_EOI, 0).iret().bytes());
    guest.h.ram().set_ivt(VECTOR, HANDLER_BASE);
    MUST(guest.h.vm().signal_msi(fixed_msi(0, VECTOR)));

    EXPECT_EQ(io_port(run(*guest.vcpu)), 0x11);
}

// PPR: a TPR class at or above the vector's class holds it back.
TEST(InterruptDelivery, TprBlocksAnEqualPriorityClass)
{
    GuestRun guest(GuestCode().wrmsr(MSR_X2APIC_TPR, 0x60).sti().hlt());
    guest.h.ram().load(HANDLER_BASE, GuestCode().out8(0x20).bytes());
    guest.h.ram().set_ivt(VECTOR, HANDLER_BASE);
    MUST(guest.h.vm().signal_msi(fixed_msi(0, VECTOR)));

    EXPECT_TRUE(std::holds_alternative<ExitInterrupted>(run(*guest.vcpu)));
}

TEST(InterruptDelivery, LapicEoiClearsTheInServiceBit)
{
    GuestRun guest(GuestCode().sti().hlt());
    guest.h.ram().load(HANDLER_BASE, GuestCode().wrmsr(MSR_X2APIC_EOI, 0).out8(0x20).bytes());
    guest.h.ram().set_ivt(VECTOR, HANDLER_BASE);
    MUST(guest.h.vm().signal_msi(fixed_msi(0, VECTOR)));

    ASSERT_EQ(io_port(run(*guest.vcpu)), 0x20);

    EXPECT_FALSE(MUST(guest.vcpu->get_lapic()).vector_bit(APIC_ISR, VECTOR));
}

} // namespace
} // namespace accel::kvm::test
