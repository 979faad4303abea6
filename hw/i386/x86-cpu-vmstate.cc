/*
 * The "cpu" section of an x86 vCPU (QEMU's target/i386/machine.c): the
 * whole KVM state the accelerator read before the save (registers, segment
 * and control registers, XSAVE image, MSRs, the LAPIC page, pending events,
 * MP state), in seoib's own layout, version 1.  The accelerator writes it
 * back into KVM after the stream is loaded (docs/devel/migration.rst).
 */
#include "hw/i386/x86-cpu.h"

namespace hw::x86 {

namespace {

using namespace accel::kvm;
using migration::member;

/// XSAVE images are 4 KiB, or larger with AMX; refuse absurd lengths.
constexpr uint32_t MAX_XSAVE_BYTES = 64 * 1024;
/// More MSRs than seoib saves is a bad stream.
constexpr uint32_t MAX_MSRS = 256;

migration::VMStateDescription<Segment> vmstate_segment()
{
    return migration::vmstate<Segment>("cpu/segment")
        .version(1)
        .minimum_version(1)
        .field("base", &Segment::base)
        .field("limit", &Segment::limit)
        .field("selector", &Segment::selector)
        .field("type", &Segment::type)
        .field("present", &Segment::present)
        .field("dpl", &Segment::dpl)
        .field("db", &Segment::db)
        .field("s", &Segment::s)
        .field("l", &Segment::l)
        .field("g", &Segment::g)
        .field("avl", &Segment::avl)
        .field("unusable", &Segment::unusable)
        .build();
}

migration::VMStateDescription<DescriptorTable> vmstate_dtable()
{
    return migration::vmstate<DescriptorTable>("cpu/dtable")
        .version(1)
        .minimum_version(1)
        .field("base", &DescriptorTable::base)
        .field("limit", &DescriptorTable::limit)
        .build();
}

migration::VMStateDescription<MsrEntry> vmstate_msr()
{
    return migration::vmstate<MsrEntry>("cpu/msr")
        .version(1)
        .minimum_version(1)
        .field("index", &MsrEntry::index)
        .field("data", &MsrEntry::data)
        .build();
}

migration::VMStateDescription<Regs> vmstate_regs()
{
    return migration::vmstate<Regs>("cpu/regs")
        .version(1)
        .minimum_version(1)
        .field("rax", &Regs::rax)
        .field("rbx", &Regs::rbx)
        .field("rcx", &Regs::rcx)
        .field("rdx", &Regs::rdx)
        .field("rsi", &Regs::rsi)
        .field("rdi", &Regs::rdi)
        .field("rsp", &Regs::rsp)
        .field("rbp", &Regs::rbp)
        .field("r8", &Regs::r8)
        .field("r9", &Regs::r9)
        .field("r10", &Regs::r10)
        .field("r11", &Regs::r11)
        .field("r12", &Regs::r12)
        .field("r13", &Regs::r13)
        .field("r14", &Regs::r14)
        .field("r15", &Regs::r15)
        .field("rip", &Regs::rip)
        .field("rflags", &Regs::rflags)
        .build();
}

migration::VMStateDescription<Sregs> vmstate_sregs()
{
    const auto segment = vmstate_segment();
    const auto dtable = vmstate_dtable();
    return migration::vmstate<Sregs>("cpu/sregs")
        .version(1)
        .minimum_version(1)
        .field("cs", &Sregs::cs, segment)
        .field("ds", &Sregs::ds, segment)
        .field("es", &Sregs::es, segment)
        .field("fs", &Sregs::fs, segment)
        .field("gs", &Sregs::gs, segment)
        .field("ss", &Sregs::ss, segment)
        .field("tr", &Sregs::tr, segment)
        .field("ldt", &Sregs::ldt, segment)
        .field("gdt", &Sregs::gdt, dtable)
        .field("idt", &Sregs::idt, dtable)
        .field("cr0", &Sregs::cr0)
        .field("cr2", &Sregs::cr2)
        .field("cr3", &Sregs::cr3)
        .field("cr4", &Sregs::cr4)
        .field("cr8", &Sregs::cr8)
        .field("efer", &Sregs::efer)
        .field("apic_base", &Sregs::apic_base)
        .field("interrupt_bitmap", &Sregs::interrupt_bitmap)
        .build();
}

migration::VMStateDescription<VcpuEvents> vmstate_events()
{
    using E = VcpuEvents;
    return migration::vmstate<E>("cpu/events")
        .version(1)
        .minimum_version(1)
        .field("exception.injected", member(&E::exception, &E::Exception::injected))
        .field("exception.nr", member(&E::exception, &E::Exception::nr))
        .field("exception.has_error_code",
               member(&E::exception, &E::Exception::has_error_code))
        .field("exception.pending", member(&E::exception, &E::Exception::pending))
        .field("exception.error_code", member(&E::exception, &E::Exception::error_code))
        .field("interrupt.injected", member(&E::interrupt, &E::Interrupt::injected))
        .field("interrupt.nr", member(&E::interrupt, &E::Interrupt::nr))
        .field("interrupt.soft", member(&E::interrupt, &E::Interrupt::soft))
        .field("interrupt.shadow", member(&E::interrupt, &E::Interrupt::shadow))
        .field("nmi.injected", member(&E::nmi, &E::Nmi::injected))
        .field("nmi.pending", member(&E::nmi, &E::Nmi::pending))
        .field("nmi.masked", member(&E::nmi, &E::Nmi::masked))
        .field("sipi_vector", &E::sipi_vector)
        .field("flags", &E::flags)
        .field("smi.smm", member(&E::smi, &E::Smi::smm))
        .field("smi.pending", member(&E::smi, &E::Smi::pending))
        .field("smi.smm_inside_nmi", member(&E::smi, &E::Smi::smm_inside_nmi))
        .field("smi.latched_init", member(&E::smi, &E::Smi::latched_init))
        .build();
}

} // namespace

std::unique_ptr<migration::VMStateInstance> X86CPU::vmstate()
{
    using S = KvmVcpuState;
    using M = Migrated;
    auto vmsd =
        migration::vmstate<X86CPU>("cpu")
            .version(1)
            .minimum_version(1)
            .pre_save([](X86CPU &cpu) -> qapi::Result<void> {
                cpu.m_migrated.xsave_len =
                    static_cast<uint32_t>(cpu.m_migrated.env.xsave.region.size());
                cpu.m_migrated.nr_msrs =
                    static_cast<uint32_t>(cpu.m_migrated.env.msrs.size());
                return {};
            })
            .field("regs", member(&X86CPU::m_migrated, &M::env, &S::regs), vmstate_regs())
            .field("sregs", member(&X86CPU::m_migrated, &M::env, &S::sregs), vmstate_sregs())
            .field("xsave_len", member(&X86CPU::m_migrated, &M::xsave_len))
            .vbuffer("xsave",
                     migration::Member<X86CPU, std::vector<uint8_t>> {
                         [](X86CPU &cpu) -> std::vector<uint8_t> & {
                             return cpu.m_migrated.env.xsave.region;
                         } },
                     member(&X86CPU::m_migrated, &M::xsave_len), MAX_XSAVE_BYTES)
            .field("nr_msrs", member(&X86CPU::m_migrated, &M::nr_msrs))
            .varray("msrs", member(&X86CPU::m_migrated, &M::env, &S::msrs),
                    member(&X86CPU::m_migrated, &M::nr_msrs), MAX_MSRS, vmstate_msr())
            .buffer("lapic",
                    migration::Member<X86CPU, std::array<uint8_t, 1024>> {
                        [](X86CPU &cpu) -> std::array<uint8_t, 1024> & {
                            return cpu.m_migrated.env.lapic.regs;
                        } })
            .field("events", member(&X86CPU::m_migrated, &M::env, &S::events),
                   vmstate_events())
            .field("mp_state", member(&X86CPU::m_migrated, &M::env, &S::mp_state))
            .post_load([](X86CPU &cpu, int) -> qapi::Result<void> {
                cpu.m_migrated.loaded = true;
                return {};
            })
            .build();
    return migration::bind_vmstate(std::move(vmsd), *this);
}

} // namespace hw::x86
