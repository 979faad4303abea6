/*
 * isa-debug-exit (QEMU's hw/misc/debugexit.c): a write of N ends the VM
 * with exit status (N << 1) | 1, so a test can report through the VMM's
 * status without a clean shutdown path; kvm-unit-tests writes 0 when every
 * test passed (status 1) and 1 otherwise (status 3).
 */
#include "hw/isa/isa-devices.h"

namespace hw::isa {

void ISADebugExitState::register_properties(qom::ObjectClass &oc)
{
    oc.add_property(qom::make_property(
        qom::prop("iobase", &ISADebugExitState::m_iobase).default_value(0x501)));
    oc.add_property(qom::make_property(
        qom::prop("iosize", &ISADebugExitState::m_iosize).default_value(0x02)));
}

bool ISADebugExitState::io_contains(uint16_t port) const
{
    return port >= m_iobase && port - m_iobase < m_iosize;
}

uint64_t ISADebugExitState::io_read(uint16_t port, unsigned size)
{
    (void)port;
    (void)size;
    return 0;
}

void ISADebugExitState::io_write(uint16_t port, uint64_t value, unsigned size)
{
    (void)port;
    // QEMU's impl size is 4: a narrower write carries its bytes only.
    const uint64_t mask = size >= 4 ? 0xffffffff : (1ULL << (8 * size)) - 1;
    m_exit_status = static_cast<int>(((value & mask) << 1) | 1);
}

} // namespace hw::isa
