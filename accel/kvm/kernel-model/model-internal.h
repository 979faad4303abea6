/*
 * Constants and small types shared by the pieces of the kernel model.
 *
 * Register offsets and bit names follow the kernel's apicdef.h and
 * ioapic.h, and the values the Intel SDM (vol. 3A, ch. 11 "Advanced
 * Programmable Interrupt Controller") gives for them.
 */
#pragma once

#include "accel/kvm/kvm-backend.h"
#include "qapi/error.h"

#include <cstdint>
#include <string_view>

namespace accel::kvm::model {

class ModelVm;
class VcpuState;
class Lapic;
class KernelIoapic;

// Local APIC register offsets beyond those the backend interface names.
inline constexpr uint32_t APIC_ARBPRI = 0x90;
inline constexpr uint32_t APIC_PROCPRI = 0xA0;
inline constexpr uint32_t APIC_ESR = 0x280;
inline constexpr uint32_t APIC_LVTCMCI = 0x2F0;
inline constexpr uint32_t APIC_LVTT = 0x320;
inline constexpr uint32_t APIC_LVTTHMR = 0x330;
inline constexpr uint32_t APIC_LVTPC = 0x340;
inline constexpr uint32_t APIC_LVT0 = 0x350;
inline constexpr uint32_t APIC_LVT1 = 0x360;
inline constexpr uint32_t APIC_LVTERR = 0x370;
inline constexpr uint32_t APIC_TMICT = 0x380;
inline constexpr uint32_t APIC_TMCCT = 0x390;
inline constexpr uint32_t APIC_TDCR = 0x3E0;
inline constexpr uint32_t APIC_SELF_IPI = 0x3F0;
/// The upper half of the x2APIC ICR as the kernel stores it internally
/// (a 64-bit register at APIC_ICR, VMX layout).
inline constexpr uint32_t APIC_ICR_HIGH_INTERNAL = 0x304;

/// LVR version field; "14 is the version for Xeon and Pentium" (SDM 11.4.8).
inline constexpr uint32_t APIC_VERSION = 0x14;
/// Timer, thermal, perf, LINT0, LINT1, error.  The CMCI entry only exists
/// after KVM_X86_SETUP_MCE with MCG_CMCI_P, which the model does not offer.
inline constexpr uint32_t APIC_NR_LVT_ENTRIES = 6;
inline constexpr uint32_t APIC_LVT_DEFAULT = APIC_VERSION | ((APIC_NR_LVT_ENTRIES - 1) << 16);

inline constexpr uint32_t APIC_VECTOR_MASK = 0xFF;
inline constexpr uint32_t APIC_MODE_MASK = 0x700;
inline constexpr uint32_t APIC_SEND_PENDING = 1U << 12;
inline constexpr uint32_t APIC_INPUT_POLARITY = 1U << 13;
inline constexpr uint32_t APIC_LVT_REMOTE_IRR = 1U << 14;
inline constexpr uint32_t APIC_LVT_LEVEL_TRIGGER = 1U << 15;
inline constexpr uint32_t APIC_LVT_MASKED = 1U << 16;
inline constexpr uint32_t APIC_LVT_TIMER_PERIODIC = 1U << 17;
inline constexpr uint32_t APIC_SPIV_WRITABLE = 0x3FF;
inline constexpr uint32_t APIC_LDR_MASK = 0xFF000000;
inline constexpr uint32_t APIC_DFR_FLAT = 0xFFFFFFFF;
inline constexpr uint32_t APIC_DFR_CLUSTER = 0x0FFFFFFF;

// ICR / delivery fields (SDM figure 11-12).
inline constexpr uint32_t APIC_DM_FIXED = 0x000;
inline constexpr uint32_t APIC_DM_LOWEST = 0x100;
inline constexpr uint32_t APIC_DM_SMI = 0x200;
inline constexpr uint32_t APIC_DM_REMRD = 0x300;
inline constexpr uint32_t APIC_DM_NMI = 0x400;
inline constexpr uint32_t APIC_DM_INIT = 0x500;
inline constexpr uint32_t APIC_DM_STARTUP = 0x600;
inline constexpr uint32_t APIC_DM_EXTINT = 0x700;
inline constexpr uint32_t APIC_DEST_LOGICAL = 1U << 11;
inline constexpr uint32_t APIC_ICR_BUSY = 1U << 12;
inline constexpr uint32_t APIC_INT_ASSERT = 1U << 14;
inline constexpr uint32_t APIC_INT_LEVELTRIG = 1U << 15;
inline constexpr uint32_t APIC_SHORT_MASK = 3U << 18;
inline constexpr uint32_t APIC_DEST_NOSHORT = 0;
inline constexpr uint32_t APIC_DEST_SELF = 1U << 18;
inline constexpr uint32_t APIC_DEST_ALLINC = 2U << 18;
inline constexpr uint32_t APIC_DEST_ALLBUT = 3U << 18;
/// x2APIC ICR bits that fault when set: 31:20, 17:16 and 13.
inline constexpr uint64_t X2APIC_ICR_RESERVED_BITS = 0xFFF00000ULL | 0x30000ULL | 0x2000ULL;

inline constexpr uint32_t APIC_BROADCAST = 0xFF;
inline constexpr uint32_t X2APIC_BROADCAST = 0xFFFFFFFF;

// MSI address/data layout (SDM 11.11.1, 11.11.2).
inline constexpr uint32_t MSI_ADDR_DEST_ID_SHIFT = 12;
inline constexpr uint32_t MSI_ADDR_DEST_MODE_LOGICAL = 1U << 2;
inline constexpr uint32_t MSI_ADDR_REDIRECTION_HINT = 1U << 3;
inline constexpr uint32_t MSI_DATA_LEVEL_TRIGGER = 1U << 15;

// Limits of the modelled kernels (include/linux/kvm_host.h, arch/x86).
inline constexpr uint32_t KVM_MAX_IRQ_ROUTES = 4096;
inline constexpr uint32_t KVM_USER_MEM_SLOTS = 32764;
inline constexpr uint64_t KVM_PAGE_SIZE = 4096;
inline constexpr uint32_t KVM_IRQCHIP_PIC_MASTER = 0;
inline constexpr uint32_t KVM_IRQCHIP_PIC_SLAVE = 1;
inline constexpr uint32_t KVM_IRQCHIP_IOAPIC = 2;
inline constexpr uint32_t PIC_NUM_PINS = 16;
inline constexpr uint32_t KVM_IOAPIC_NUM_PINS = 24;
inline constexpr uint32_t KVM_API_VERSION = 12;
inline constexpr uint32_t KVM_INTERNAL_ERROR_EMULATION = 1;

inline constexpr uint64_t X2APIC_API_VALID_FLAGS_OLD =
    KVM_X2APIC_API_USE_32BIT_IDS | KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK;
inline constexpr uint64_t X2APIC_API_VALID_FLAGS =
    X2APIC_API_VALID_FLAGS_OLD | KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST |
    KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST;

/// An interrupt on its way to local APICs (struct kvm_lapic_irq).
struct LapicIrq {
    uint8_t vector { 0 };
    uint32_t delivery_mode { APIC_DM_FIXED };
    bool logical { false };
    bool level { true };
    bool trig_level { false };
    uint32_t shorthand { APIC_DEST_NOSHORT };
    uint32_t dest_id { 0 };
    bool msi_redir_hint { false };
};

/// Lowest-priority delivery: the delivery mode or the MSI redirection hint.
constexpr bool lowest_priority(const LapicIrq &irq)
{
    return irq.delivery_mode == APIC_DM_LOWEST || irq.msi_redir_hint;
}

/// Decodes an MSI the way kvm_set_msi_irq() does.  With 32-bit x2APIC IDs,
/// address_hi[31:8] supply destination bits 31:8.
LapicIrq decode_msi(const MsiMessage &msi, bool x2apic_format);

/// kvm_msi_route_invalid(): with 32-bit IDs, address_hi[7:0] must be zero.
constexpr bool msi_invalid(const MsiMessage &msi, bool x2apic_format)
{
    return x2apic_format && (msi.address_hi & 0xFF) != 0;
}

/// The Error an ioctl returns when the kernel fails it with `errno_value`.
qapi::Error kernel_error(int errno_value, std::string_view ioctl_name);

} // namespace accel::kvm::model
