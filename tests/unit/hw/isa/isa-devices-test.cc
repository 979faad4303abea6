/*
 * The ISA devices (hw/isa/isa-devices.h) driven through their ports, as a
 * guest would: one fresh qom::Context per test, devices created and
 * realized through QOM.
 */
#include "hw/isa/isa-devices.h"

#include "qom/context.h"
#include "system/builtin-types.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace {

using namespace hw::isa;

class IsaDevice : public ::testing::Test {
protected:
    template <typename T>
    qom::Ref<T> realized(std::vector<std::pair<std::string, std::string>> props = {})
    {
        qom::Ref<T> dev = MUST(m_ctx.new_object<T>());
        for (const auto &[name, value] : props) {
            MUST(dev->parse_property(name, value));
        }
        MUST(dev->realize());
        return dev;
    }

    qom::Context m_ctx { sysemu::builtin_type_registry() };
};

// ---- isa-serial -------------------------------------------------------------

TEST_F(IsaDevice, SerialSendsTransmittedBytesToItsBackend)
{
    auto uart = realized<ISASerialState>();
    std::string sent;
    uart->set_chardev_sink([&sent](std::string_view b) { sent += b; });

    uart->io_write(0x3f8, 'o', 1);
    uart->io_write(0x3f8, 'k', 1);

    EXPECT_EQ(sent, "ok");
}

TEST_F(IsaDevice, SerialTransmitterIsAlwaysEmpty)
{
    auto uart = realized<ISASerialState>();

    EXPECT_EQ(uart->io_read(0x3f8 + 5, 1), 0x60U);
}

TEST_F(IsaDevice, SerialDivisorLatchDoesNotTransmit)
{
    auto uart = realized<ISASerialState>();
    std::string sent;
    uart->set_chardev_sink([&sent](std::string_view b) { sent += b; });

    uart->io_write(0x3f8 + 3, 0x80, 1); // LCR.DLAB
    uart->io_write(0x3f8, 0x01, 1);     // DLL

    EXPECT_EQ(sent, "");
    EXPECT_EQ(uart->io_read(0x3f8, 1), 0x01U);
}

TEST_F(IsaDevice, SerialIndexPicksTheComPort)
{
    auto uart = realized<ISASerialState>({ { "index", "1" } });

    EXPECT_TRUE(uart->io_contains(0x2f8));
    EXPECT_FALSE(uart->io_contains(0x3f8));
}

TEST_F(IsaDevice, SerialRefusesAFifthPort)
{
    qom::Ref<ISASerialState> uart = MUST(m_ctx.new_object<ISASerialState>());
    MUST(uart->parse_property("index", "4"));

    auto r = uart->realize();

    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().message(),
              "Max. supported number of ISA serial ports is 4.");
}

// ---- isa-debug-exit ---------------------------------------------------------

TEST_F(IsaDevice, DebugExitStatusIsValueShiftedOrOne)
{
    auto dev = realized<ISADebugExitState>(
        { { "iobase", "0xf4" }, { "iosize", "0x4" } });

    dev->io_write(0xf4, 1, 4);

    EXPECT_EQ(dev->exit_status(), 3);
}

TEST_F(IsaDevice, DebugExitClaimsIosizePorts)
{
    auto dev = realized<ISADebugExitState>(
        { { "iobase", "0xf4" }, { "iosize", "0x4" } });

    EXPECT_TRUE(dev->io_contains(0xf7));
    EXPECT_FALSE(dev->io_contains(0xf8));
}

TEST_F(IsaDevice, DebugExitDefaultsToQemusPorts)
{
    auto dev = realized<ISADebugExitState>();

    EXPECT_TRUE(dev->io_contains(0x501));
    EXPECT_TRUE(dev->io_contains(0x502));
    EXPECT_FALSE(dev->io_contains(0x503));
}

// ---- pc-testdev -------------------------------------------------------------

TEST_F(IsaDevice, TestdevIrqPortDrivesGsi)
{
    auto dev = realized<PCTestdevState>();
    std::vector<std::pair<uint32_t, bool>> lines;
    dev->connect_irqs([&lines](uint32_t irq, bool level) {
        lines.emplace_back(irq, level);
    });

    dev->io_write(PC_TESTDEV_IRQ_BASE + 14, 1, 1);
    dev->io_write(PC_TESTDEV_IRQ_BASE + 14, 0, 1);

    EXPECT_EQ(lines, (std::vector<std::pair<uint32_t, bool>> { { 14, true },
                                                                { 14, false } }));
}

TEST_F(IsaDevice, TestdevIoportReadsBackWhatWasWritten)
{
    auto dev = realized<PCTestdevState>();

    dev->io_write(PC_TESTDEV_IOPORT, 0x12345678, 4);

    EXPECT_EQ(dev->io_read(PC_TESTDEV_IOPORT, 4), 0x12345678U);
    EXPECT_EQ(dev->io_read(PC_TESTDEV_IOPORT + 1, 1), 0x56U);
}

TEST_F(IsaDevice, TestdevClaimsTwentyFourIrqPorts)
{
    auto dev = realized<PCTestdevState>();

    EXPECT_TRUE(dev->io_contains(PC_TESTDEV_IRQ_BASE + 23));
    EXPECT_FALSE(dev->io_contains(PC_TESTDEV_IRQ_BASE + 24));
}

// ---- fw_cfg_io --------------------------------------------------------------

/// Selects `key` and reads `n` bytes, one at a time, as the guests do.
std::string read_item(FWCfgIoState &dev, uint16_t key, size_t n)
{
    dev.io_write(0x510, key, 2);
    std::string bytes;
    for (size_t i = 0; i < n; i++) {
        bytes += static_cast<char>(dev.io_read(0x511, 1));
    }
    return bytes;
}

TEST_F(IsaDevice, FwCfgSignatureIsQemu)
{
    auto dev = realized<FWCfgIoState>();

    EXPECT_EQ(read_item(*dev, FW_CFG_SIGNATURE, 4), "QEMU");
}

TEST_F(IsaDevice, FwCfgReturnsTheBoardsCpuCount)
{
    auto dev = realized<FWCfgIoState>();
    dev->add_i16(FW_CFG_NB_CPUS, 3);

    EXPECT_EQ(read_item(*dev, FW_CFG_NB_CPUS, 2), std::string("\x03\x00", 2));
}

TEST_F(IsaDevice, FwCfgUnknownKeyAndPastTheEndReadZero)
{
    auto dev = realized<FWCfgIoState>();

    EXPECT_EQ(read_item(*dev, 0x1234, 2), std::string(2, '\0'));
    EXPECT_EQ(read_item(*dev, FW_CFG_SIGNATURE, 6), std::string("QEMU\0\0", 6));
}

TEST_F(IsaDevice, FwCfgIsNotUserCreatable)
{
    const auto *dc = static_cast<const qdev::DeviceClass *>(
        m_ctx.types().find_class(TYPE_FW_CFG_IO));

    ASSERT_NE(dc, nullptr);
    EXPECT_FALSE(dc->user_creatable);
}

// ---- isa-i8259 --------------------------------------------------------------

TEST_F(IsaDevice, PicMaskReadsBackAfterInitialization)
{
    auto pic = realized<I8259State>();

    pic->io_write(0x20, 0x11, 1); // ICW1, ICW4 needed
    pic->io_write(0x21, 0x20, 1); // ICW2
    pic->io_write(0x21, 0x04, 1); // ICW3
    pic->io_write(0x21, 0x01, 1); // ICW4
    pic->io_write(0x21, 0xff, 1); // OCW1

    EXPECT_EQ(pic->io_read(0x21, 1), 0xffU);
}

TEST_F(IsaDevice, PicNeverReportsAPendingInterrupt)
{
    auto pic = realized<I8259State>();

    EXPECT_EQ(pic->io_read(0xa0, 1), 0U);
}

// ---- the bus ------------------------------------------------------------------

TEST_F(IsaDevice, BusFindsTheDeviceOwningAPort)
{
    auto uart = realized<ISASerialState>();
    auto fw_cfg = realized<FWCfgIoState>();
    IsaBus bus;
    bus.add(*uart);
    bus.add(*fw_cfg);

    EXPECT_EQ(bus.find(0x511), fw_cfg.get());
    EXPECT_EQ(bus.find(0x3fd), uart.get());
    EXPECT_EQ(bus.find(0x80), nullptr);
}

} // namespace
