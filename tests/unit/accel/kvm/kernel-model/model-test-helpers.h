/*
 * Set-up helpers for the kernel-model unit tests: guest RAM, a small
 * assembler for the guest instruction subset, and a VM harness that
 * performs the ioctl sequence of kvm-facts §6 on the model.
 *
 * Helpers only arrange; every test states its own critical input and
 * assertion.  Set-up failures are bugs in the test, hence MUST.
 */
#pragma once

#include "accel/kvm/kernel-model/kernel-model.h"
#include "accel/kvm/kvm-backend.h"
#include "qapi/result.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <utility>
#include <variant>
#include <vector>

namespace accel::kvm::test {

inline constexpr uint64_t CODE_BASE = 0x1000;
inline constexpr uint64_t HANDLER_BASE = 0x2000;
inline constexpr uint64_t DATA_BASE = 0x3000;
inline constexpr uint64_t STACK_TOP = 0x8000;
inline constexpr size_t GUEST_RAM_SIZE = 0x10000;

inline constexpr uint32_t MSR_X2APIC_EOI = 0x80B;
inline constexpr uint32_t MSR_X2APIC_SPIV = 0x80F;
inline constexpr uint32_t MSR_X2APIC_TPR = 0x808;
inline constexpr uint32_t MSR_X2APIC_ICR = 0x830;
inline constexpr uint32_t MSR_X2APIC_SELF_IPI = 0x83F;
inline constexpr uint32_t SPIV_ENABLED = 0x1FF;
inline constexpr uint32_t SPIV_ENABLED_SEOIB = 0x11FF;
inline constexpr uint32_t LVR_PLAIN = 0x00050014;
inline constexpr uint32_t LVR_DIRECTED_EOI = 0x01050014;
inline constexpr uint32_t MSI_ADDRESS = 0xFEE00000;
inline constexpr uint32_t MSI_LOGICAL = 1U << 2;
inline constexpr uint32_t MSI_LEVEL = 1U << 15;
inline constexpr uint32_t DM_LOWEST = 1U << 8;
inline constexpr uint32_t DM_NMI = 4U << 8;
inline constexpr uint32_t DM_INIT = 5U << 8;
inline constexpr uint32_t IOAPIC_BASE = 0xFEC00000;

/// 64 KiB of page-aligned guest RAM, mapped at GPA 0.
struct alignas(4096) GuestRam {
    std::array<std::byte, GUEST_RAM_SIZE> bytes {};

    void load(uint64_t gpa, const std::vector<uint8_t> &code)
    {
        for (size_t i = 0; i < code.size(); ++i) {
            bytes[gpa + i] = static_cast<std::byte>(code[i]);
        }
    }
    /// A real-mode IVT entry: handler at 0000:offset.
    void set_ivt(uint8_t vector, uint16_t offset)
    {
        bytes[vector * 4U] = static_cast<std::byte>(offset);
        bytes[vector * 4U + 1] = static_cast<std::byte>(offset >> 8);
        bytes[vector * 4U + 2] = std::byte { 0 };
        bytes[vector * 4U + 3] = std::byte { 0 };
    }
    uint16_t read16(uint64_t gpa) const
    {
        return static_cast<uint16_t>(static_cast<uint16_t>(bytes[gpa]) |
                                     static_cast<uint16_t>(bytes[gpa + 1]) << 8);
    }
};

/// Register numbers as x86 encodes them.
enum Reg : uint8_t { AX, CX, DX, BX, SP, BP, SI, DI };

/// Assembles the guest instruction subset, 16-bit real mode.
class GuestCode {
public:
    GuestCode &raw(std::initializer_list<uint8_t> bytes)
    {
        m_bytes.insert(m_bytes.end(), bytes);
        return *this;
    }
    GuestCode &mov16(Reg reg, uint16_t imm)
    {
        return raw({ static_cast<uint8_t>(0xB8 + reg), static_cast<uint8_t>(imm),
                     static_cast<uint8_t>(imm >> 8) });
    }
    GuestCode &mov32(Reg reg, uint32_t imm)
    {
        return raw({ 0x66, static_cast<uint8_t>(0xB8 + reg), static_cast<uint8_t>(imm),
                     static_cast<uint8_t>(imm >> 8), static_cast<uint8_t>(imm >> 16),
                     static_cast<uint8_t>(imm >> 24) });
    }
    /// mov ecx, msr; mov eax, low; mov edx, high; wrmsr
    GuestCode &wrmsr(uint32_t msr, uint32_t low, uint32_t high = 0)
    {
        mov32(CX, msr).mov32(AX, low).mov32(DX, high);
        return raw({ 0x0F, 0x30 });
    }
    /// mov ecx, msr; rdmsr
    GuestCode &rdmsr(uint32_t msr) { return mov32(CX, msr).raw({ 0x0F, 0x32 }); }
    GuestCode &out8(uint8_t port) { return raw({ 0xE6, port }); }
    GuestCode &out16(uint8_t port) { return raw({ 0xE7, port }); }
    GuestCode &out32(uint8_t port) { return raw({ 0x66, 0xE7, port }); }
    GuestCode &in16(uint8_t port) { return raw({ 0xE5, port }); }
    /// 67 89 /r: mov [r32], r32 with a 32-bit operand.
    GuestCode &store32(Reg address, Reg value)
    {
        return raw({ 0x66, 0x67, 0x89, static_cast<uint8_t>((value << 3) | address) });
    }
    /// 67 8B /r: mov r32, [r32].
    GuestCode &load32(Reg value, Reg address)
    {
        return raw({ 0x66, 0x67, 0x8B, static_cast<uint8_t>((value << 3) | address) });
    }
    GuestCode &sti() { return raw({ 0xFB }); }
    GuestCode &cli() { return raw({ 0xFA }); }
    GuestCode &hlt() { return raw({ 0xF4 }); }
    GuestCode &iret() { return raw({ 0xCF }); }
    GuestCode &nop() { return raw({ 0x90 }); }
    /// jmp $ (EB FE).
    GuestCode &spin() { return raw({ 0xEB, 0xFE }); }

    const std::vector<uint8_t> &bytes() const { return m_bytes; }
    size_t size() const { return m_bytes.size(); }

private:
    std::vector<uint8_t> m_bytes;
};

enum class ApicMode { Disabled, Xapic, X2apic };

struct VcpuSetup {
    ApicMode mode { ApicMode::X2apic };
    bool x2apic_cpuid { true };
    /// SPIV stored with KVM_SET_LAPIC; the reset value 0xFF leaves the APIC
    /// software-disabled.
    uint32_t spiv { SPIV_ENABLED };
};

/// A model VM with 64 KiB of RAM at GPA 0.
class ModelHarness {
public:
    explicit ModelHarness(KernelProfile profile = KernelProfile::Model,
                          KernelModelOptions options = {})
        : m_system(open_model_system(profile, options))
        , m_vm(MUST(m_system->create_vm()))
        , m_ram(std::make_unique<GuestRam>())
    {
        MUST(m_vm->set_user_memory_region(0, 0, m_ram->bytes));
    }

    System &system() { return *m_system; }
    Vm &vm() { return *m_vm; }
    GuestRam &ram() { return *m_ram; }
    Vcpu &vcpu(size_t index) { return *m_vcpus.at(index); }

    /// KVM_CAP_SPLIT_IRQCHIP with `pins` reserved IOAPIC pins.
    ModelHarness &split(uint32_t pins = 24)
    {
        MUST(m_vm->enable_cap(Cap::SplitIrqchip, { pins, 0, 0, 0 }));
        m_irqchip = true;
        return *this;
    }
    /// KVM_CREATE_IRQCHIP.
    ModelHarness &kernel_irqchip()
    {
        MUST(m_vm->create_irqchip());
        m_irqchip = true;
        return *this;
    }
    ModelHarness &x2apic_api(uint64_t flags)
    {
        MUST(m_vm->enable_cap(Cap::X2apicApi, { flags, 0, 0, 0 }));
        return *this;
    }

    /// KVM_CREATE_VCPU, CPUID, APIC base, SPIV, real-mode registers at
    /// CODE_BASE with the stack at STACK_TOP.
    Vcpu &add_vcpu(uint32_t id, const VcpuSetup &setup = {})
    {
        std::unique_ptr<Vcpu> vcpu = MUST(m_vm->create_vcpu(id));
        std::vector<CpuidEntry> cpuid = MUST(m_system->get_supported_cpuid());
        for (CpuidEntry &entry : cpuid) {
            if (entry.function == 1 && !setup.x2apic_cpuid) {
                entry.ecx &= ~CPUID_EXT_X2APIC;
            }
        }
        MUST(vcpu->set_cpuid(cpuid));
        uint64_t base = APIC_DEFAULT_PHYS_BASE | (id == 0 ? MSR_IA32_APICBASE_BSP : 0);
        if (setup.mode != ApicMode::Disabled) {
            base |= MSR_IA32_APICBASE_ENABLE;
        }
        if (setup.mode == ApicMode::X2apic) {
            base |= MSR_IA32_APICBASE_EXTD;
        }
        std::array<MsrEntry, 1> msrs { MsrEntry { MSR_IA32_APICBASE, base } };
        size_t written = MUST(vcpu->set_msrs(msrs));
        if (written != 1) {
            qapi::must_failed(qapi::Error("APIC base refused"), "set_msrs", __FILE__, __LINE__);
        }
        if (setup.mode != ApicMode::Disabled && m_irqchip) {
            LapicState lapic = MUST(vcpu->get_lapic());
            lapic.set_reg(APIC_SPIV, setup.spiv);
            MUST(vcpu->set_lapic(lapic));
        }
        Sregs sregs = MUST(vcpu->get_sregs());
        sregs.cs = Segment { .base = 0, .limit = 0xFFFF, .selector = 0, .type = 0xB };
        for (Segment *segment : { &sregs.ds, &sregs.es, &sregs.ss }) {
            *segment = Segment { .base = 0, .limit = 0xFFFFFFFF, .selector = 0, .type = 0x3 };
        }
        MUST(vcpu->set_sregs(sregs));
        Regs regs;
        regs.rip = CODE_BASE;
        regs.rsp = STACK_TOP;
        MUST(vcpu->set_regs(regs));
        m_vcpus.push_back(std::move(vcpu));
        return *m_vcpus.back();
    }

private:
    std::unique_ptr<System> m_system;
    std::unique_ptr<Vm> m_vm;
    std::unique_ptr<GuestRam> m_ram;
    std::vector<std::unique_ptr<Vcpu>> m_vcpus;
    bool m_irqchip { false };
};

/// An MSI route for `gsi`: physical destination, fixed delivery.
inline RoutingEntry msi_route(uint32_t gsi, uint32_t dest, uint8_t vector, bool level)
{
    return RoutingEntry {
        .gsi = gsi,
        .type = RoutingEntry::Type::Msi,
        .msi = { .address_lo = MSI_ADDRESS | (dest & 0xFF) << 12,
                 .data = vector | (level ? MSI_LEVEL : 0) },
    };
}

/// A physical fixed edge MSI to an 8-bit destination.
inline MsiMessage fixed_msi(uint32_t dest, uint8_t vector)
{
    return MsiMessage { .address_lo = MSI_ADDRESS | (dest & 0xFF) << 12, .data = vector };
}

/// KVM_GET_LAPIC, change some registers, KVM_SET_LAPIC.
inline void set_lapic_regs(Vcpu &vcpu, std::initializer_list<std::pair<uint32_t, uint32_t>> regs)
{
    LapicState state = MUST(vcpu.get_lapic());
    for (const auto &[offset, value] : regs) {
        state.set_reg(offset, value);
    }
    MUST(vcpu.set_lapic(state));
}

inline VcpuExit run(Vcpu &vcpu)
{
    return MUST(vcpu.run());
}

inline bool irr_has(Vcpu &vcpu, uint8_t vector)
{
    return MUST(vcpu.get_lapic()).vector_bit(APIC_IRR, vector);
}

/// The port of an ExitIo, or -1 for any other exit.
inline int io_port(const VcpuExit &exit)
{
    const auto *io = std::get_if<ExitIo>(&exit);
    return io == nullptr ? -1 : io->port;
}

/// The vector of an ExitIoapicEoi, or -1 for any other exit.
inline int eoi_vector(const VcpuExit &exit)
{
    const auto *eoi = std::get_if<ExitIoapicEoi>(&exit);
    return eoi == nullptr ? -1 : eoi->vector;
}

} // namespace accel::kvm::test
