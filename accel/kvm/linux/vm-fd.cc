/*
 * The host VM fd: capabilities, irqchip, memory slots, vCPU creation,
 * GSI routing and interrupt injection.
 */
#include "accel/kvm/linux/vm-fd.h"

#include "accel/kvm/linux/vcpu-fd.h"

#include <fmt/format.h>

#include <algorithm>

namespace accel::kvm::host {

static_assert(static_cast<uint32_t>(RoutingEntry::Type::Irqchip) ==
              KVM_IRQ_ROUTING_IRQCHIP);
static_assert(static_cast<uint32_t>(RoutingEntry::Type::Msi) ==
              KVM_IRQ_ROUTING_MSI);

LinuxVm::LinuxVm(UniqueFd fd, size_t vcpu_mmap_size,
                 std::chrono::nanoseconds run_timeout)
    : m_fd(std::move(fd))
    , m_vcpu_mmap_size(vcpu_mmap_size)
    , m_run_timeout(run_timeout)
{
}

qapi::Result<int64_t> LinuxVm::check_extension(Cap cap)
{
    return host::check_extension(m_fd.get(), cap);
}

qapi::Result<void> LinuxVm::enable_cap(Cap cap, std::array<uint64_t, 4> args,
                                       uint32_t flags)
{
    kvm_enable_cap request {};
    request.cap = static_cast<uint32_t>(cap);
    request.flags = flags;
    std::copy(args.begin(), args.end(), request.args);
    // SAFETY: the kernel reads struct kvm_enable_cap from `request` and
    // writes nothing back.
    TRY(kvm_ioctl(m_fd.get(), KVM_ENABLE_CAP, &request,
                  fmt::format("KVM_ENABLE_CAP({})", cap_name(cap))));
    return {};
}

qapi::Result<void> LinuxVm::create_irqchip()
{
    // SAFETY: no argument; no memory is read or written.
    TRY(kvm_ioctl(m_fd.get(), KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP"));
    return {};
}

qapi::Result<void> LinuxVm::set_tss_addr(uint64_t addr)
{
    // SAFETY: the guest physical address is passed by value; no memory
    // is read or written.
    TRY(kvm_ioctl(m_fd.get(), KVM_SET_TSS_ADDR,
                  static_cast<unsigned long>(addr), "KVM_SET_TSS_ADDR"));
    return {};
}

qapi::Result<void>
LinuxVm::set_user_memory_region(uint32_t slot, uint64_t guest_phys_addr,
                                std::span<std::byte> memory, uint32_t flags)
{
    kvm_userspace_memory_region region {
        .slot = slot,
        .flags = flags,
        .guest_phys_addr = guest_phys_addr,
        .memory_size = memory.size(),
        .userspace_addr = reinterpret_cast<uint64_t>(memory.data()),
    };
    // SAFETY: the kernel reads `region`.  From then on it maps the
    // caller's `memory` into the guest; the interface makes the caller
    // keep that memory alive for as long as the slot exists.
    TRY(kvm_ioctl(m_fd.get(), KVM_SET_USER_MEMORY_REGION, &region,
                  "KVM_SET_USER_MEMORY_REGION"));
    if (memory.empty()) {
        m_slot_sizes.erase(slot);
    } else {
        m_slot_sizes[slot] = memory.size();
    }
    return {};
}

qapi::Result<DirtyBitmap> LinuxVm::get_dirty_log(uint32_t slot)
{
    auto found = m_slot_sizes.find(slot);
    if (found == m_slot_sizes.end()) {
        return qapi::Error::from_errno(ENOENT, "KVM_GET_DIRTY_LOG");
    }
    uint64_t pages = (found->second + KVM_DIRTY_LOG_PAGE_SIZE - 1) /
                     KVM_DIRTY_LOG_PAGE_SIZE;
    DirtyBitmap bitmap;
    bitmap.words.resize((pages + 63) / 64);
    kvm_dirty_log log {};
    log.slot = slot;
    log.dirty_bitmap = bitmap.words.data();
    // SAFETY: the kernel reads the slot number and writes one bit per
    // page of the slot (rounded up to 64) into the buffer, which has
    // exactly that many bits.
    TRY(kvm_ioctl(m_fd.get(), KVM_GET_DIRTY_LOG, &log, "KVM_GET_DIRTY_LOG"));
    return bitmap;
}

qapi::Result<std::unique_ptr<Vcpu>> LinuxVm::create_vcpu(uint32_t id)
{
    // SAFETY: the vCPU id is passed by value; the kernel returns a new fd.
    int fd =
        TRY(kvm_ioctl(m_fd.get(), KVM_CREATE_VCPU,
                      static_cast<unsigned long>(id), "KVM_CREATE_VCPU"));
    UniqueFd vcpu_fd(fd);
    auto mapping = TRY(RunMapping::map(vcpu_fd.get(), m_vcpu_mmap_size));
    // struct kvm_xsave is 4 KiB unless KVM_CAP_XSAVE2 says it is larger
    // (AMX); KVM_SET_XSAVE reads, and KVM_GET_XSAVE2 writes, that many bytes.
    int64_t xsave2 = check_extension(Cap::Xsave2).value_or(0);
    size_t xsave_size = std::max<size_t>(XsaveState::LEGACY_SIZE,
                                         static_cast<size_t>(std::max<int64_t>(xsave2, 0)));
    return std::unique_ptr<Vcpu>(std::make_unique<LinuxVcpu>(
        id, std::move(vcpu_fd), std::move(mapping), m_run_timeout, xsave_size));
}

qapi::Result<void>
LinuxVm::set_gsi_routing(std::span<const RoutingEntry> entries)
{
    FlexArray<RoutingHeader, kvm_irq_routing_entry> table(entries.size());
    table.header()->nr = static_cast<uint32_t>(entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
        kvm_irq_routing_entry &to = table.entries()[i];
        to.gsi = entries[i].gsi;
        to.type = static_cast<uint32_t>(entries[i].type);
        if (entries[i].type == RoutingEntry::Type::Msi) {
            to.u.msi.address_lo = entries[i].msi.address_lo;
            to.u.msi.address_hi = entries[i].msi.address_hi;
            to.u.msi.data = entries[i].msi.data;
        } else {
            to.u.irqchip.irqchip = entries[i].irqchip;
            to.u.irqchip.pin = entries[i].pin;
        }
    }
    // SAFETY: the kernel reads nr and then nr entries from `table`; it
    // copies the table and writes nothing back.
    TRY(kvm_ioctl(m_fd.get(), IOCTL_SET_GSI_ROUTING, table.header(),
                  "KVM_SET_GSI_ROUTING"));
    return {};
}

qapi::Result<int> LinuxVm::irq_line(uint32_t gsi, bool level)
{
    kvm_irq_level line {};
    line.irq = gsi;
    line.level = level ? 1 : 0;
    // SAFETY: the kernel reads irq and level from `line` and writes the
    // delivery status into the same union.
    TRY(kvm_ioctl(m_fd.get(), KVM_IRQ_LINE_STATUS, &line,
                  "KVM_IRQ_LINE_STATUS"));
    return line.status;
}

qapi::Result<int> LinuxVm::signal_msi(const MsiMessage &message)
{
    kvm_msi msi {};
    msi.address_lo = message.address_lo;
    msi.address_hi = message.address_hi;
    msi.data = message.data;
    // SAFETY: the kernel reads struct kvm_msi from `msi` and writes
    // nothing back.  The return value is the delivery count; the raw -1
    // of "no destination matched" surfaces as -1 with errno EPERM (-1 is
    // -EPERM), which kvm_ioctl turns into an Error like any failure.
    return kvm_ioctl(m_fd.get(), KVM_SIGNAL_MSI, &msi, "KVM_SIGNAL_MSI");
}

} // namespace accel::kvm::host
