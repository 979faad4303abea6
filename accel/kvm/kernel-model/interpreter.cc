#include "accel/kvm/kernel-model/interpreter.h"

#include "accel/kvm/kernel-model/model-vcpu.h"
#include "accel/kvm/kernel-model/model-vm.h"

#include <bit>
#include <cstddef>

namespace accel::kvm::model {

namespace {

constexpr uint64_t FLAG_CF = 1ULL << 0;
constexpr uint64_t FLAG_PF = 1ULL << 2;
constexpr uint64_t FLAG_AF = 1ULL << 4;
constexpr uint64_t FLAG_ZF = 1ULL << 6;
constexpr uint64_t FLAG_SF = 1ULL << 7;
constexpr uint64_t FLAG_TF = 1ULL << 8;
constexpr uint64_t FLAG_IF = 1ULL << 9;
constexpr uint64_t FLAG_OF = 1ULL << 11;
constexpr uint64_t FLAG_AC = 1ULL << 18;
constexpr uint64_t FLAG_FIXED = 1ULL << 1;
constexpr uint64_t ARITH_FLAGS = FLAG_CF | FLAG_PF | FLAG_AF | FLAG_ZF | FLAG_SF | FLAG_OF;
// Bits 3, 5 and 15 of FLAGS always read as zero.
constexpr uint64_t FLAGS16_ZERO = (1ULL << 3) | (1ULL << 5) | (1ULL << 15);
// IRETD in real mode keeps VM, VIF and VIP (SDM IRET pseudo-code).
constexpr uint32_t IRETD_LOADED = 0x257FD5;
constexpr uint32_t IRETD_KEPT = 0x1A0000;

constexpr uint64_t CR0_PE = 1ULL << 0;
constexpr uint8_t VECTOR_SS = 12;
constexpr uint8_t VECTOR_GP = 13;
constexpr unsigned MAX_PREFIXES = 14;

constexpr unsigned REG_AX = 0;
constexpr unsigned REG_CX = 1;
constexpr unsigned REG_DX = 2;
constexpr unsigned REG_SP = 4;

constexpr uint32_t size_mask(unsigned size)
{
    return size == 4 ? 0xFFFFFFFF : (1U << (size * 8)) - 1;
}

constexpr uint32_t sign_bit(unsigned size)
{
    return 1U << (size * 8 - 1);
}

uint64_t result_flags(uint32_t result, unsigned size)
{
    uint64_t flags = 0;
    result &= size_mask(size);
    if (result == 0) {
        flags |= FLAG_ZF;
    }
    if ((result & sign_bit(size)) != 0) {
        flags |= FLAG_SF;
    }
    // PF: even parity of the low byte.
    if ((std::popcount(result & 0xFF) & 1) == 0) {
        flags |= FLAG_PF;
    }
    return flags;
}

uint64_t add_flags(uint32_t a, uint32_t b, uint32_t result, unsigned size)
{
    uint32_t mask = size_mask(size);
    a &= mask;
    b &= mask;
    result &= mask;
    uint64_t flags = result_flags(result, size);
    if (result < a) {
        flags |= FLAG_CF;
    }
    if (((a ^ result) & (b ^ result) & sign_bit(size)) != 0) {
        flags |= FLAG_OF;
    }
    if (((a ^ b ^ result) & 0x10) != 0) {
        flags |= FLAG_AF;
    }
    return flags;
}

uint64_t sub_flags(uint32_t a, uint32_t b, uint32_t result, unsigned size)
{
    uint32_t mask = size_mask(size);
    a &= mask;
    b &= mask;
    result &= mask;
    uint64_t flags = result_flags(result, size);
    if (a < b) {
        flags |= FLAG_CF;
    }
    if (((a ^ b) & (a ^ result) & sign_bit(size)) != 0) {
        flags |= FLAG_OF;
    }
    if (((a ^ b ^ result) & 0x10) != 0) {
        flags |= FLAG_AF;
    }
    return flags;
}

uint32_t load_le(std::span<const std::byte> bytes)
{
    uint32_t value = 0;
    for (size_t i = 0; i < bytes.size(); ++i) {
        value |= static_cast<uint32_t>(bytes[i]) << (8 * i);
    }
    return value;
}

void store_le(std::span<std::byte> bytes, uint32_t value)
{
    for (size_t i = 0; i < bytes.size(); ++i) {
        bytes[i] = static_cast<std::byte>(value >> (8 * i));
    }
}

enum class StackResult { Ok, Fault, NotRam };

// Stack accesses use SS:SP, or SS:ESP for a 32-bit stack segment.
unsigned stack_address_size(const CpuRegisters &cpu)
{
    return cpu.ss.db != 0 ? 4 : 2;
}

// Reads `size` bytes at SP + `depth` without moving SP.
StackResult stack_peek(VcpuState &vcpu, uint32_t depth, unsigned size, uint32_t &value)
{
    CpuRegisters &cpu = vcpu.cpu;
    uint32_t mask = size_mask(stack_address_size(cpu));
    uint64_t offset = (static_cast<uint32_t>(cpu.gpr[REG_SP]) + depth) & mask;
    if (offset + size - 1 > cpu.ss.limit) {
        return StackResult::Fault;
    }
    std::span<const std::byte> bytes = vcpu.vm().ram((cpu.ss.base + offset) & 0xFFFFFFFF, size);
    if (bytes.empty()) {
        return StackResult::NotRam;
    }
    value = load_le(bytes);
    return StackResult::Ok;
}

void stack_adjust(CpuRegisters &cpu, uint32_t delta)
{
    unsigned size = stack_address_size(cpu);
    uint32_t sp = (static_cast<uint32_t>(cpu.gpr[REG_SP]) + delta) & size_mask(size);
    if (size == 4) {
        cpu.gpr[REG_SP] = sp;
    } else {
        cpu.gpr[REG_SP] = (cpu.gpr[REG_SP] & ~0xFFFFULL) | sp;
    }
}

StackResult stack_push(VcpuState &vcpu, unsigned size, uint32_t value)
{
    CpuRegisters &cpu = vcpu.cpu;
    uint32_t mask = size_mask(stack_address_size(cpu));
    uint64_t offset = (static_cast<uint32_t>(cpu.gpr[REG_SP]) - size) & mask;
    if (offset + size - 1 > cpu.ss.limit) {
        return StackResult::Fault;
    }
    std::span<std::byte> bytes = vcpu.vm().ram_for_write((cpu.ss.base + offset) & 0xFFFFFFFF, size);
    if (bytes.empty()) {
        return StackResult::NotRam;
    }
    store_le(bytes, value);
    stack_adjust(cpu, static_cast<uint32_t>(-static_cast<int32_t>(size)));
    return StackResult::Ok;
}

VcpuExit internal_error_exit()
{
    return ExitInternalError { KVM_INTERNAL_ERROR_EMULATION };
}

void load_real_mode_cs(CpuRegisters &cpu, uint16_t selector)
{
    cpu.cs.selector = selector;
    cpu.cs.base = static_cast<uint64_t>(selector) << 4;
}

/// One instruction.  execute() returns true when the instruction completed
/// (RIP moves to m_next); false when it stopped on a fault, an exit that
/// completes at the next run, or an emulation failure.
class Interpreter {
public:
    explicit Interpreter(VcpuState &vcpu)
        : m_vcpu(vcpu)
        , m_cpu(vcpu.cpu)
    {
    }

    std::optional<VcpuExit> step();

private:
    bool execute();
    bool execute_two_byte();
    bool execute_group(uint8_t opcode);

    bool unsupported()
    {
        m_exit = internal_error_exit();
        return false;
    }
    bool fault(uint8_t vector)
    {
        m_fault = vector;
        return false;
    }
    bool stack_failed(StackResult result)
    {
        return result == StackResult::Fault ? fault(VECTOR_SS) : unsupported();
    }

    bool fetch(unsigned size, uint32_t &value);
    bool fetch_signed8(int32_t &value);
    bool memory_offset(uint8_t modrm, uint32_t &offset);
    bool load(uint8_t modrm, unsigned reg);
    bool store(uint8_t modrm, unsigned reg);
    bool jump_relative(int32_t displacement);

    uint32_t reg(unsigned index, unsigned size) const
    {
        return static_cast<uint32_t>(m_cpu.gpr[index]) & size_mask(size);
    }
    void set_reg(unsigned index, unsigned size, uint32_t value);
    void set_arith_flags(uint64_t flags)
    {
        m_cpu.rflags = (m_cpu.rflags & ~ARITH_FLAGS) | flags;
    }
    bool condition(uint8_t code) const;

    VcpuState &m_vcpu;
    CpuRegisters &m_cpu;
    uint32_t m_next { 0 };
    unsigned m_operand_size { 2 };
    bool m_address32 { false };
    std::optional<VcpuExit> m_exit;
    std::optional<uint8_t> m_fault;
};

std::optional<VcpuExit> Interpreter::step()
{
    // Only real mode (with any segment limits) is interpreted.
    if ((m_cpu.cr0 & CR0_PE) != 0) {
        return internal_error_exit();
    }
    // The STI interrupt shadow covers exactly one instruction.
    m_vcpu.sti_shadow = false;
    m_next = static_cast<uint32_t>(m_cpu.rip);
    if (execute()) {
        m_cpu.rip = m_next;
        return m_exit;
    }
    if (m_fault) {
        // Faults restart the instruction: the handler returns to CS:IP of
        // the faulting instruction, which RIP still holds.
        return deliver_interrupt(m_vcpu, *m_fault);
    }
    return m_exit;
}

bool Interpreter::fetch(unsigned size, uint32_t &value)
{
    value = 0;
    for (unsigned i = 0; i < size; ++i) {
        if (m_next > m_cpu.cs.limit) {
            return fault(VECTOR_GP);
        }
        std::span<const std::byte> byte = m_vcpu.vm().ram((m_cpu.cs.base + m_next) & 0xFFFFFFFF, 1);
        // Fetching from MMIO is an emulation failure in KVM as well.
        if (byte.empty()) {
            return unsupported();
        }
        value |= static_cast<uint32_t>(byte[0]) << (8 * i);
        ++m_next;
    }
    return true;
}

bool Interpreter::fetch_signed8(int32_t &value)
{
    uint32_t raw = 0;
    if (!fetch(1, raw)) {
        return false;
    }
    value = static_cast<int8_t>(raw);
    return true;
}

void Interpreter::set_reg(unsigned index, unsigned size, uint32_t value)
{
    // A 32-bit write zero-extends, as KVM's emulator writes registers.
    if (size == 4) {
        m_cpu.gpr[index] = value;
        return;
    }
    uint64_t mask = size_mask(size);
    m_cpu.gpr[index] = (m_cpu.gpr[index] & ~mask) | (value & mask);
}

bool Interpreter::memory_offset(uint8_t modrm, uint32_t &offset)
{
    uint8_t mod = modrm >> 6;
    uint8_t rm = modrm & 7;
    if (mod != 0) {
        return unsupported();
    }
    if (!m_address32) {
        // 16-bit addressing: only [disp16].
        if (rm != 6) {
            return unsupported();
        }
        return fetch(2, offset);
    }
    // 32-bit addressing: [eax], [ecx], [edx], [ebx], [esi], [edi]; no SIB
    // (rm = 4) and no [disp32] (rm = 5).
    if (rm == 4 || rm == 5) {
        return unsupported();
    }
    offset = static_cast<uint32_t>(m_cpu.gpr[rm]);
    return true;
}

bool Interpreter::load(uint8_t modrm, unsigned reg_index)
{
    uint32_t offset = 0;
    if (!memory_offset(modrm, offset)) {
        return false;
    }
    unsigned size = m_operand_size;
    if (static_cast<uint64_t>(offset) + size - 1 > m_cpu.ds.limit) {
        return fault(VECTOR_GP);
    }
    uint64_t linear = (m_cpu.ds.base + offset) & 0xFFFFFFFF;
    std::span<const std::byte> bytes = m_vcpu.vm().ram(linear, size);
    if (!bytes.empty()) {
        set_reg(reg_index, size, load_le(bytes));
        return true;
    }
    if (std::optional<uint32_t> value = m_vcpu.kernel_mmio_read(linear, static_cast<uint8_t>(size))) {
        set_reg(reg_index, size, *value);
        return true;
    }
    // An MMIO read exits with RIP on the instruction; the next run
    // completes it (with zero: payloads do not read MMIO).
    m_exit = ExitMmio { linear, static_cast<uint8_t>(size), false, 0 };
    m_vcpu.completion = {
        .kind = PendingCompletion::Kind::MmioRead,
        .exit_linear_rip = m_cpu.cs.base + m_cpu.rip,
        .next_rip = m_next,
        .size = static_cast<uint8_t>(size),
        .reg = static_cast<uint8_t>(reg_index),
    };
    return false;
}

bool Interpreter::store(uint8_t modrm, unsigned reg_index)
{
    uint32_t offset = 0;
    if (!memory_offset(modrm, offset)) {
        return false;
    }
    unsigned size = m_operand_size;
    if (static_cast<uint64_t>(offset) + size - 1 > m_cpu.ds.limit) {
        return fault(VECTOR_GP);
    }
    uint64_t linear = (m_cpu.ds.base + offset) & 0xFFFFFFFF;
    uint32_t value = reg(reg_index, size);
    std::span<std::byte> bytes = m_vcpu.vm().ram_for_write(linear, size);
    if (!bytes.empty()) {
        store_le(bytes, value);
        return true;
    }
    if (m_vcpu.kernel_mmio_write(linear, static_cast<uint8_t>(size), value)) {
        return true;
    }
    // MMIO writes complete before the exit: RIP is already past them.
    m_exit = ExitMmio { linear, static_cast<uint8_t>(size), true, value };
    return true;
}

bool Interpreter::jump_relative(int32_t displacement)
{
    m_next = (m_next + static_cast<uint32_t>(displacement)) & size_mask(m_operand_size);
    return true;
}

bool Interpreter::condition(uint8_t code) const
{
    uint64_t f = m_cpu.rflags;
    bool cf = (f & FLAG_CF) != 0;
    bool zf = (f & FLAG_ZF) != 0;
    bool sf = (f & FLAG_SF) != 0;
    bool of = (f & FLAG_OF) != 0;
    bool pf = (f & FLAG_PF) != 0;
    bool result = false;
    switch (code >> 1) {
    case 0: result = of; break;           // JO
    case 1: result = cf; break;           // JB
    case 2: result = zf; break;           // JE
    case 3: result = cf || zf; break;     // JBE
    case 4: result = sf; break;           // JS
    case 5: result = pf; break;           // JP
    case 6: result = sf != of; break;     // JL
    default: result = zf || sf != of;     // JLE
    }
    // Odd condition codes are the negations.
    return (code & 1) != 0 ? !result : result;
}

bool Interpreter::execute()
{
    bool rep = false;
    uint32_t opcode = 0;
    unsigned default_size = m_cpu.cs.db != 0 ? 4 : 2;
    m_operand_size = default_size;
    m_address32 = m_cpu.cs.db != 0;
    for (unsigned prefixes = 0;; ++prefixes) {
        if (prefixes > MAX_PREFIXES) {
            return unsupported();
        }
        if (!fetch(1, opcode)) {
            return false;
        }
        if (opcode == 0x66) {
            m_operand_size = default_size == 4 ? 2 : 4;
        } else if (opcode == 0x67) {
            m_address32 = m_cpu.cs.db == 0;
        } else if (opcode == 0xF3) {
            rep = true;
        } else {
            break;
        }
    }
    // F3 only forms PAUSE.
    if (rep && opcode != 0x90) {
        return unsupported();
    }

    unsigned size = m_operand_size;
    switch (opcode) {
    case 0x0F:
        return execute_two_byte();
    case 0x01: // add r/m, r
    case 0x31: // xor r/m, r
    case 0x33: // xor r, r/m
    case 0x39: // cmp r/m, r
    case 0x85: // test r/m, r
    case 0x89: // mov r/m, r
    case 0x8B: // mov r, r/m
    case 0x81: // group 1, imm16/32
    case 0x83: // group 1, imm8
        return execute_group(static_cast<uint8_t>(opcode));
    case 0x40: case 0x41: case 0x42: case 0x43:
    case 0x44: case 0x45: case 0x46: case 0x47: { // inc r
        unsigned r = opcode & 7;
        uint32_t a = reg(r, size);
        uint32_t result = a + 1;
        set_reg(r, size, result);
        set_arith_flags((add_flags(a, 1, result, size) & ~FLAG_CF) | (m_cpu.rflags & FLAG_CF));
        return true;
    }
    case 0x48: case 0x49: case 0x4A: case 0x4B:
    case 0x4C: case 0x4D: case 0x4E: case 0x4F: { // dec r
        unsigned r = opcode & 7;
        uint32_t a = reg(r, size);
        uint32_t result = a - 1;
        set_reg(r, size, result);
        set_arith_flags((sub_flags(a, 1, result, size) & ~FLAG_CF) | (m_cpu.rflags & FLAG_CF));
        return true;
    }
    case 0x50: case 0x51: case 0x52: case 0x53:
    case 0x54: case 0x55: case 0x56: case 0x57: { // push r (PUSH SP pushes the old SP)
        StackResult result = stack_push(m_vcpu, size, reg(opcode & 7, size));
        return result == StackResult::Ok || stack_failed(result);
    }
    case 0x58: case 0x59: case 0x5A: case 0x5B:
    case 0x5C: case 0x5D: case 0x5E: case 0x5F: { // pop r (POP SP loads SP)
        uint32_t value = 0;
        StackResult result = stack_peek(m_vcpu, 0, size, value);
        if (result != StackResult::Ok) {
            return stack_failed(result);
        }
        stack_adjust(m_cpu, size);
        set_reg(opcode & 7, size, value);
        return true;
    }
    case 0x70: case 0x71: case 0x72: case 0x73:
    case 0x74: case 0x75: case 0x76: case 0x77:
    case 0x78: case 0x79: case 0x7A: case 0x7B:
    case 0x7C: case 0x7D: case 0x7E: case 0x7F: { // jcc rel8
        int32_t displacement = 0;
        if (!fetch_signed8(displacement)) {
            return false;
        }
        return condition(static_cast<uint8_t>(opcode & 0xF)) ? jump_relative(displacement) : true;
    }
    case 0x90: // nop, pause
        return true;
    case 0xB8: case 0xB9: case 0xBA: case 0xBB:
    case 0xBC: case 0xBD: case 0xBE: case 0xBF: { // mov r, imm
        uint32_t value = 0;
        if (!fetch(size, value)) {
            return false;
        }
        set_reg(opcode & 7, size, value);
        return true;
    }
    case 0xC3: { // ret
        uint32_t target = 0;
        StackResult result = stack_peek(m_vcpu, 0, size, target);
        if (result != StackResult::Ok) {
            return stack_failed(result);
        }
        stack_adjust(m_cpu, size);
        m_next = target & size_mask(size);
        return true;
    }
    case 0xCF: { // iret / iretd
        uint32_t ip = 0;
        uint32_t cs = 0;
        uint32_t flags = 0;
        StackResult result = stack_peek(m_vcpu, 0, size, ip);
        if (result == StackResult::Ok) {
            result = stack_peek(m_vcpu, size, size, cs);
        }
        if (result == StackResult::Ok) {
            result = stack_peek(m_vcpu, 2 * size, size, flags);
        }
        if (result != StackResult::Ok) {
            return stack_failed(result);
        }
        stack_adjust(m_cpu, 3 * size);
        m_next = ip & size_mask(size);
        load_real_mode_cs(m_cpu, static_cast<uint16_t>(cs));
        if (size == 4) {
            m_cpu.rflags = (flags & IRETD_LOADED) | (m_cpu.rflags & IRETD_KEPT);
        } else {
            m_cpu.rflags = (m_cpu.rflags & ~0xFFFFULL) | (flags & 0xFFFF);
        }
        m_cpu.rflags = (m_cpu.rflags | FLAG_FIXED) & ~FLAGS16_ZERO;
        // IRET ends NMI blocking.
        m_vcpu.nmi_masked = false;
        return true;
    }
    case 0xE4: case 0xE5: case 0xEC: case 0xED: { // in al/ax/eax, imm8 / dx
        uint32_t port = static_cast<uint32_t>(m_cpu.gpr[REG_DX]) & 0xFFFF;
        if (opcode == 0xE4 || opcode == 0xE5) {
            if (!fetch(1, port)) {
                return false;
            }
        }
        uint8_t io_size = (opcode & 1) != 0 ? static_cast<uint8_t>(size) : 1;
        // Completed at the next run with the value from complete_io_in().
        m_exit = ExitIo { ExitIo::Direction::In, static_cast<uint16_t>(port), io_size, 0 };
        m_vcpu.completion = {
            .kind = PendingCompletion::Kind::PioIn,
            .exit_linear_rip = m_cpu.cs.base + m_cpu.rip,
            .next_rip = m_next,
            .size = io_size,
        };
        return false;
    }
    case 0xE6: case 0xE7: case 0xEE: case 0xEF: { // out imm8 / dx, al/ax/eax
        uint32_t port = static_cast<uint32_t>(m_cpu.gpr[REG_DX]) & 0xFFFF;
        if (opcode == 0xE6 || opcode == 0xE7) {
            if (!fetch(1, port)) {
                return false;
            }
        }
        uint8_t io_size = (opcode & 1) != 0 ? static_cast<uint8_t>(size) : 1;
        // OUT completes before the exit, as KVM's emulator does it and as
        // the development host shows: RIP is already past the instruction.
        m_exit = ExitIo { ExitIo::Direction::Out, static_cast<uint16_t>(port), io_size,
                          reg(REG_AX, io_size) };
        return true;
    }
    case 0xE8: { // call rel16/32
        uint32_t displacement = 0;
        if (!fetch(size, displacement)) {
            return false;
        }
        if (size == 2) {
            displacement = static_cast<uint32_t>(static_cast<int16_t>(displacement));
        }
        StackResult result = stack_push(m_vcpu, size, m_next);
        if (result != StackResult::Ok) {
            return stack_failed(result);
        }
        return jump_relative(static_cast<int32_t>(displacement));
    }
    case 0xE9: { // jmp rel16/32
        uint32_t displacement = 0;
        if (!fetch(size, displacement)) {
            return false;
        }
        if (size == 2) {
            displacement = static_cast<uint32_t>(static_cast<int16_t>(displacement));
        }
        return jump_relative(static_cast<int32_t>(displacement));
    }
    case 0xEB: { // jmp rel8
        int32_t displacement = 0;
        if (!fetch_signed8(displacement)) {
            return false;
        }
        return jump_relative(displacement);
    }
    case 0xF4: // hlt
        // Without an in-kernel LAPIC userspace handles HLT; with one the
        // vCPU blocks in the kernel until an interrupt can be delivered.
        if (m_vcpu.lapic() == nullptr) {
            m_exit = ExitHlt {};
        } else {
            m_vcpu.mp_state = MpState::Halted;
        }
        return true;
    case 0xFA: // cli
        m_cpu.rflags &= ~FLAG_IF;
        return true;
    case 0xFB: // sti: interrupts stay blocked for one more instruction
        if ((m_cpu.rflags & FLAG_IF) == 0) {
            m_vcpu.sti_shadow = true;
        }
        m_cpu.rflags |= FLAG_IF;
        return true;
    default:
        return unsupported();
    }
}

bool Interpreter::execute_two_byte()
{
    uint32_t opcode = 0;
    if (!fetch(1, opcode)) {
        return false;
    }
    if (opcode != 0x30 && opcode != 0x32) {
        return unsupported();
    }
    uint32_t index = static_cast<uint32_t>(m_cpu.gpr[REG_CX]);
    // MSRs outside the model's set are not emulated at all (rather than
    // faulting as unknown MSRs would), so that a payload using one shows up.
    if (!VcpuState::msr_modelled(index)) {
        return unsupported();
    }
    if (opcode == 0x30) { // wrmsr
        uint64_t data = (m_cpu.gpr[REG_DX] << 32) | (m_cpu.gpr[REG_AX] & 0xFFFFFFFF);
        return m_vcpu.guest_wrmsr(index, data) || fault(VECTOR_GP);
    }
    std::optional<uint64_t> value = m_vcpu.guest_rdmsr(index); // rdmsr
    if (!value) {
        return fault(VECTOR_GP);
    }
    m_cpu.gpr[REG_AX] = *value & 0xFFFFFFFF;
    m_cpu.gpr[REG_DX] = *value >> 32;
    return true;
}

bool Interpreter::execute_group(uint8_t opcode)
{
    uint32_t modrm_raw = 0;
    if (!fetch(1, modrm_raw)) {
        return false;
    }
    uint8_t modrm = static_cast<uint8_t>(modrm_raw);
    unsigned reg_field = (modrm >> 3) & 7;
    unsigned rm = modrm & 7;
    bool register_form = (modrm >> 6) == 3;
    unsigned size = m_operand_size;

    if (opcode == 0x89 && !register_form) {
        return store(modrm, reg_field);
    }
    if (opcode == 0x8B && !register_form) {
        return load(modrm, reg_field);
    }
    // Everything else in the subset is register-to-register.
    if (!register_form) {
        return unsupported();
    }
    uint32_t a = reg(rm, size);
    uint32_t b = reg(reg_field, size);
    switch (opcode) {
    case 0x89:
        set_reg(rm, size, b);
        return true;
    case 0x8B:
        set_reg(reg_field, size, a);
        return true;
    case 0x01: {
        uint32_t result = a + b;
        set_reg(rm, size, result);
        set_arith_flags(add_flags(a, b, result, size));
        return true;
    }
    case 0x31:
    case 0x33: {
        uint32_t result = a ^ b;
        set_reg(opcode == 0x31 ? rm : reg_field, size, result);
        set_arith_flags(result_flags(result, size));
        return true;
    }
    case 0x39:
        set_arith_flags(sub_flags(a, b, a - b, size));
        return true;
    case 0x85:
        set_arith_flags(result_flags(a & b, size));
        return true;
    default:
        break;
    }

    // 81 /7 (cmp imm16/32); 83 /0, /5, /7 (add, sub, cmp imm8).
    uint32_t imm = 0;
    if (opcode == 0x81) {
        if (reg_field != 7) {
            return unsupported();
        }
        if (!fetch(size, imm)) {
            return false;
        }
    } else {
        if (reg_field != 0 && reg_field != 5 && reg_field != 7) {
            return unsupported();
        }
        int32_t signed_imm = 0;
        if (!fetch_signed8(signed_imm)) {
            return false;
        }
        imm = static_cast<uint32_t>(signed_imm);
    }
    if (reg_field == 0) {
        uint32_t result = a + imm;
        set_reg(rm, size, result);
        set_arith_flags(add_flags(a, imm, result, size));
        return true;
    }
    uint32_t result = a - imm;
    if (reg_field == 5) {
        set_reg(rm, size, result);
    }
    set_arith_flags(sub_flags(a, imm, result, size));
    return true;
}

} // namespace

std::optional<VcpuExit> execute_instruction(VcpuState &vcpu)
{
    return Interpreter(vcpu).step();
}

std::optional<VcpuExit> deliver_interrupt(VcpuState &vcpu, uint8_t vector)
{
    CpuRegisters &cpu = vcpu.cpu;
    // The real-mode IVT at linear 0: offset, then segment.
    std::span<const std::byte> entry = vcpu.vm().ram(static_cast<uint64_t>(vector) * 4, 4);
    if (entry.empty()) {
        return internal_error_exit();
    }
    uint32_t handler = load_le(entry);
    uint32_t flags = static_cast<uint32_t>(cpu.rflags) & 0xFFFF;
    uint32_t ip = static_cast<uint32_t>(cpu.rip) & 0xFFFF;
    StackResult result = stack_push(vcpu, 2, flags);
    if (result == StackResult::Ok) {
        result = stack_push(vcpu, 2, cpu.cs.selector);
    }
    if (result == StackResult::Ok) {
        result = stack_push(vcpu, 2, ip);
    }
    if (result == StackResult::NotRam) {
        return internal_error_exit();
    }
    // A fault while delivering an event escalates to a double fault and,
    // with nothing to catch it in real mode, to shutdown.
    if (result == StackResult::Fault) {
        return ExitShutdown {};
    }
    cpu.rflags &= ~(FLAG_IF | FLAG_TF | FLAG_AC);
    load_real_mode_cs(cpu, static_cast<uint16_t>(handler >> 16));
    cpu.rip = handler & 0xFFFF;
    return std::nullopt;
}

} // namespace accel::kvm::model
