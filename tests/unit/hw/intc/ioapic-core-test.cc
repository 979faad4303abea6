/*
 * The IOAPIC register model: registers, delivery, remote IRR, EOI, the storm
 * throttle on a fake clock, and random guest accesses.
 */
#include "hw/intc/ioapic-core.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace hw::intc {

void PrintTo(const IOAPICMessage &msg, std::ostream *os)
{
    *os << "{address 0x" << std::hex << msg.address << ", data 0x" << msg.data
        << std::dec << "}";
}

namespace {

struct Delivery {
    unsigned pin;
    IOAPICMessage msg;

    friend bool operator==(const Delivery &, const Delivery &) = default;
};

struct Route {
    unsigned pin;
    IOAPICMessage msg;
    bool masked;

    friend bool operator==(const Route &, const Route &) = default;
};

class RecordingOutput final : public IOAPICOutput {
public:
    void deliver(unsigned pin, const IOAPICMessage &msg) override
    {
        deliveries.push_back({ pin, msg });
        calls += "deliver ";
    }
    void route_changed(unsigned pin, const IOAPICMessage &msg,
                       bool masked) override
    {
        routes.push_back({ pin, msg, masked });
        calls += "route ";
    }
    void clear()
    {
        deliveries.clear();
        routes.clear();
        calls.clear();
    }

    std::vector<Delivery> deliveries;
    std::vector<Route> routes;
    /// Both kinds of call, in order.
    std::string calls;
};

/// Virtual time that moves only when a test says so.
class FakeClock final : public hw::TimerHost {
public:
    uint64_t now_ns() const override { return m_now; }
    void arm(uint64_t deadline_ns) override { m_deadline = deadline_ns; }
    void cancel() override { m_deadline.reset(); }

    std::optional<uint64_t> deadline() const { return m_deadline; }

    /// Move time forward, firing the timer if its deadline is reached.
    void advance(uint64_t ns)
    {
        m_now += ns;
        if (m_deadline && *m_deadline <= m_now) {
            m_deadline.reset();
            on_expire();
        }
    }

    std::function<void()> on_expire;

private:
    // Not zero, so that "now + delay" cannot pass for "delay".
    uint64_t m_now { 7 * hw::NANOSECONDS_PER_SECOND };
    std::optional<uint64_t> m_deadline;
};

constexpr unsigned PIN = 5;
constexpr unsigned OTHER_PIN = 9;
constexpr uint8_t VECTOR = 0x41;
constexpr uint8_t OTHER_VECTOR = 0x52;
constexpr uint8_t DEST = 0x03;
constexpr uint32_t REMOTE_IRR_BIT = 1U << 14;
constexpr uint32_t DELIVERY_STATUS_BIT = 1U << 12;
constexpr uint64_t ONE_NS = 1;

constexpr uint32_t redtbl_low(unsigned pin)
{
    return IOAPIC_REG_REDTBL_BASE + 2 * pin;
}
constexpr uint32_t redtbl_high(unsigned pin)
{
    return IOAPIC_REG_REDTBL_BASE + 2 * pin + 1;
}

constexpr RedirEntry edge_entry(uint8_t vector)
{
    return RedirEntry().with_vector(vector).with_dest(DEST);
}
constexpr RedirEntry level_entry(uint8_t vector)
{
    return edge_entry(vector).with_trigger_mode(IOAPIC_TRIGGER_LEVEL);
}

/// One IOAPIC of the given version, reset, wired to recorders.
struct Harness {
    explicit Harness(uint8_t version)
        : core(version, output, clock, log)
    {
        clock.on_expire = [this] { core.timer_expired(); };
        core.reset();
        output.clear();
    }

    // Set-up helpers: the guest's two-step access to indirect registers.
    void write_reg(uint32_t index, uint32_t value)
    {
        core.mmio_write(IOAPIC_IOREGSEL, index, 4);
        core.mmio_write(IOAPIC_IOWIN, value, 4);
    }
    uint32_t read_reg(uint32_t index)
    {
        core.mmio_write(IOAPIC_IOREGSEL, index, 4);
        return static_cast<uint32_t>(core.mmio_read(IOAPIC_IOWIN, 4));
    }
    /// Program an entry the way Linux does: high dword, then low.
    void program(unsigned pin, RedirEntry entry)
    {
        write_reg(redtbl_high(pin), entry.high());
        write_reg(redtbl_low(pin), entry.low());
    }
    RedirEntry entry(unsigned pin) const
    {
        return RedirEntry(core.regs().ioredtbl[pin]);
    }
    /// A level interrupt on PIN delivered and awaiting its EOI.
    void deliver_level_on_pin()
    {
        program(PIN, level_entry(VECTOR));
        core.set_irq(PIN, true);
        output.clear();
    }
    void eoi_times(uint8_t vector, unsigned times)
    {
        for (unsigned i = 0; i < times; ++i) {
            core.eoi_broadcast(vector);
        }
    }

    RecordingOutput output;
    FakeClock clock;
    std::vector<std::string> guest_errors;
    GuestErrorLog log { [this](std::string_view msg) {
                           guest_errors.emplace_back(msg);
                       },
                        [this] { return clock.now_ns(); } };
    IOAPICCore core;
};

class IOAPICCoreTest : public testing::Test, public Harness {
protected:
    IOAPICCoreTest()
        : Harness(IOAPIC_VER_20)
    {
    }
};

class IOAPICCoreV11Test : public testing::Test, public Harness {
protected:
    IOAPICCoreV11Test()
        : Harness(IOAPIC_VER_11)
    {
    }
};

// --- RedirEntry ---------------------------------------------------------

TEST(RedirEntry, AccessorsDecodeEveryField)
{
    // dest 0x03, masked, level, active low, logical, lowest priority, 0x41.
    constexpr RedirEntry e(0x03000000'0001a941ULL);

    EXPECT_EQ(e.dest(), 0x03);
    EXPECT_TRUE(e.masked());
    EXPECT_EQ(e.trigger_mode(), IOAPIC_TRIGGER_LEVEL);
    EXPECT_FALSE(e.remote_irr());
    EXPECT_EQ(e.polarity(), 1);
    EXPECT_FALSE(e.delivery_status());
    EXPECT_EQ(e.dest_mode(), IOAPIC_DEST_MODE_LOGICAL);
    EXPECT_EQ(e.delivery_mode(), IOAPIC_DM_LOWEST_PRIORITY);
    EXPECT_EQ(e.vector(), 0x41);
}

TEST(RedirEntry, GuestWriteKeepsReadOnlyBits)
{
    constexpr RedirEntry e = level_entry(VECTOR).with_remote_irr(true);

    constexpr RedirEntry written =
        e.with_guest_low(level_entry(OTHER_VECTOR).low() | DELIVERY_STATUS_BIT);

    EXPECT_TRUE(written.remote_irr());
    EXPECT_FALSE(written.delivery_status());
    EXPECT_EQ(written.vector(), OTHER_VECTOR);
}

TEST(RedirEntry, GuestWriteCannotSetRemoteIrr)
{
    constexpr RedirEntry e = level_entry(VECTOR);

    constexpr RedirEntry written = e.with_guest_low(e.low() | REMOTE_IRR_BIT);

    EXPECT_FALSE(written.remote_irr());
}

TEST(RedirEntry, GuestHighWriteChangesOnlyHighDword)
{
    constexpr RedirEntry e = level_entry(VECTOR);

    constexpr RedirEntry written = e.with_guest_high(0xab000000);

    EXPECT_EQ(written.dest(), 0xab);
    EXPECT_EQ(written.low(), e.low());
}

// --- Message format -----------------------------------------------------

struct MessageCase {
    const char *name;
    RedirEntry entry;
    uint64_t address;
    uint32_t data;
};

class IOAPICMessageFormat : public testing::TestWithParam<MessageCase> {};

TEST_P(IOAPICMessageFormat, EntryBecomesMsiAddressAndData)
{
    const MessageCase &c = GetParam();

    IOAPICMessage msg = ioapic_entry_message(c.entry);

    EXPECT_EQ(msg, (IOAPICMessage { c.address, c.data }));
}

INSTANTIATE_TEST_SUITE_P(
    Entries, IOAPICMessageFormat,
    testing::Values(
        MessageCase { "FixedPhysicalEdge",
                      RedirEntry().with_vector(0x30).with_dest(0x01),
                      0xfee01000, 0x0030 },
        MessageCase { "LowestPriorityLogicalLevel",
                      RedirEntry()
                          .with_vector(0x41)
                          .with_dest(0x0f)
                          .with_dest_mode(IOAPIC_DEST_MODE_LOGICAL)
                          .with_delivery_mode(IOAPIC_DM_LOWEST_PRIORITY)
                          .with_trigger_mode(IOAPIC_TRIGGER_LEVEL),
                      0xfee0f004, 0x8141 },
        MessageCase { "Nmi",
                      RedirEntry().with_delivery_mode(IOAPIC_DM_NMI),
                      0xfee00000, 0x0400 },
        MessageCase { "ExtendedDestinationId",
                      // Entry bit 49: extended destination ID bit 0.
                      RedirEntry(1ULL << 49), 0xfee00020, 0x0000 },
        MessageCase { "MaskPolarityAndRemoteIrrAreNotPartOfIt",
                      RedirEntry()
                          .with_vector(0x30)
                          .with_masked(true)
                          .with_polarity(1)
                          .with_remote_irr(true),
                      0xfee00000, 0x0030 }),
    [](const testing::TestParamInfo<MessageCase> &info) {
        return std::string(info.param.name);
    });

TEST(IOAPICMessage, LevelAndVectorDecodeData)
{
    IOAPICMessage msg { 0xfee00000, 0x8141 };

    EXPECT_TRUE(msg.level());
    EXPECT_EQ(msg.vector(), 0x41);
}

// --- Direct and indirect registers -------------------------------------

TEST_F(IOAPICCoreTest, IoregselReadsBackTheSelectedIndex)
{
    core.mmio_write(IOAPIC_IOREGSEL, redtbl_high(7), 4);

    EXPECT_EQ(core.mmio_read(IOAPIC_IOREGSEL, 4), redtbl_high(7));
}

TEST_F(IOAPICCoreTest, IoregselKeepsOnlyBits7To0)
{
    core.mmio_write(IOAPIC_IOREGSEL, 0xdeadbe12, 4);

    EXPECT_EQ(core.mmio_read(IOAPIC_IOREGSEL, 4), 0x12U);
}

TEST_F(IOAPICCoreTest, IdWriteKeepsFourBits)
{
    write_reg(IOAPIC_REG_ID, 0xff000000);

    EXPECT_EQ(read_reg(IOAPIC_REG_ID), 0x0f000000U);
}

TEST_F(IOAPICCoreTest, IdWriteIgnoresBitsOutsideTheIdField)
{
    write_reg(IOAPIC_REG_ID, 0x00ffffff);

    EXPECT_EQ(core.regs().id, 0);
}

TEST_F(IOAPICCoreTest, ArbReadsTheId)
{
    write_reg(IOAPIC_REG_ID, 0x05000000);

    EXPECT_EQ(read_reg(IOAPIC_REG_ARB), 0x05000000U);
}

TEST_F(IOAPICCoreTest, ArbWriteIsIgnored)
{
    write_reg(IOAPIC_REG_ID, 0x05000000);

    write_reg(IOAPIC_REG_ARB, 0x0a000000);

    EXPECT_EQ(read_reg(IOAPIC_REG_ID), 0x05000000U);
}

TEST_F(IOAPICCoreTest, VerWriteIsIgnored)
{
    write_reg(IOAPIC_REG_VER, 0);

    EXPECT_EQ(read_reg(IOAPIC_REG_VER), 0x00170020U);
}

struct VersionCase {
    uint8_t version;
    uint32_t ver_register;
};

class IOAPICCoreVersion : public testing::TestWithParam<VersionCase> {};

TEST_P(IOAPICCoreVersion, VerReadsVersionAndMaximumEntry)
{
    Harness h(GetParam().version);

    EXPECT_EQ(h.read_reg(IOAPIC_REG_VER), GetParam().ver_register);
}

INSTANTIATE_TEST_SUITE_P(Versions, IOAPICCoreVersion,
                         testing::Values(VersionCase { 0x11, 0x00170011 },
                                         VersionCase { 0x20, 0x00170020 }));

TEST_F(IOAPICCoreTest, ResetEntryReadsMasked)
{
    EXPECT_EQ(read_reg(redtbl_low(PIN)), 0x00010000U);
}

TEST_F(IOAPICCoreTest, RedirectionLowDwordReadsBack)
{
    write_reg(redtbl_low(23), 0x0001a941);

    EXPECT_EQ(read_reg(redtbl_low(23)), 0x0001a941U);
}

TEST_F(IOAPICCoreTest, RedirectionHighDwordReadsBack)
{
    write_reg(redtbl_high(0), 0xff000000);

    EXPECT_EQ(read_reg(redtbl_high(0)), 0xff000000U);
}

TEST_F(IOAPICCoreTest, RedirectionHighWriteLeavesLowDword)
{
    write_reg(redtbl_low(PIN), 0x0001a941);

    write_reg(redtbl_high(PIN), 0xff000000);

    EXPECT_EQ(read_reg(redtbl_low(PIN)), 0x0001a941U);
}

TEST_F(IOAPICCoreTest, DeliveryStatusIsReadOnly)
{
    write_reg(redtbl_low(PIN), 0x00010000 | DELIVERY_STATUS_BIT);

    EXPECT_EQ(read_reg(redtbl_low(PIN)), 0x00010000U);
}

TEST_F(IOAPICCoreTest, RemoteIrrCannotBeSetByTheGuest)
{
    write_reg(redtbl_low(PIN), level_entry(VECTOR).low() | REMOTE_IRR_BIT);

    EXPECT_FALSE(entry(PIN).remote_irr());
}

TEST_F(IOAPICCoreTest, RemoteIrrCannotBeClearedByALevelWrite)
{
    deliver_level_on_pin();

    write_reg(redtbl_low(PIN), level_entry(VECTOR).low());

    EXPECT_EQ(read_reg(redtbl_low(PIN)) & REMOTE_IRR_BIT, REMOTE_IRR_BIT);
}

TEST_F(IOAPICCoreTest, IndexPastTheLastEntryReadsZero)
{
    EXPECT_EQ(read_reg(redtbl_low(IOAPIC_NUM_PINS)), 0U);
}

TEST_F(IOAPICCoreTest, ReservedIndexReadIsLoggedAsGuestError)
{
    read_reg(0x03);

    EXPECT_EQ(log.count(), 1U);
}

TEST_F(IOAPICCoreTest, IowinReadOfWrongSizeReadsZeroAndIsLogged)
{
    core.mmio_write(IOAPIC_IOREGSEL, IOAPIC_REG_VER, 4);

    uint64_t value = core.mmio_read(IOAPIC_IOWIN, 2);

    EXPECT_EQ(value, 0U);
    EXPECT_EQ(log.count(), 1U);
}

TEST_F(IOAPICCoreTest, IowinWriteOfWrongSizeIsIgnoredAndLogged)
{
    core.mmio_write(IOAPIC_IOREGSEL, IOAPIC_REG_ID, 4);

    core.mmio_write(IOAPIC_IOWIN, 0x0f000000, 8);

    EXPECT_EQ(core.regs().id, 0);
    EXPECT_EQ(log.count(), 1U);
}

TEST_F(IOAPICCoreTest, AccessAtUnknownOffsetIsLoggedAsGuestError)
{
    core.mmio_write(0x20, 0x1234, 4);

    EXPECT_EQ(log.count(), 1U);
}

TEST_F(IOAPICCoreTest, GuestErrorsReachTheSink)
{
    core.mmio_write(0x20, 0x1234, 4);

    EXPECT_EQ(guest_errors,
              std::vector<std::string> {
                  "ioapic: write of size 4 at 0x20, no register" });
}

TEST_F(IOAPICCoreTest, ReadOfSizeOneIsTruncated)
{
    core.mmio_write(IOAPIC_IOREGSEL, 0x1f, 4);

    EXPECT_EQ(core.mmio_read(IOAPIC_IOREGSEL, 1), 0x1fU);
}

// --- Delivery -----------------------------------------------------------

TEST_F(IOAPICCoreTest, EdgeAssertionDeliversTheEntrysMessage)
{
    program(PIN, edge_entry(VECTOR));

    core.set_irq(PIN, true);

    EXPECT_EQ(output.deliveries,
              (std::vector<Delivery> { { PIN, { 0xfee03000, VECTOR } } }));
}

TEST_F(IOAPICCoreTest, EdgeAssertionLeavesIrrClear)
{
    program(PIN, edge_entry(VECTOR));

    core.set_irq(PIN, true);

    EXPECT_EQ(core.regs().irr, 0U);
}

TEST_F(IOAPICCoreTest, EveryEdgeAssertionIsDelivered)
{
    program(PIN, edge_entry(VECTOR));

    core.set_irq(PIN, true);
    core.set_irq(PIN, true);

    EXPECT_EQ(output.deliveries.size(), 2U);
}

TEST_F(IOAPICCoreTest, EdgeAssertionOnMaskedPinIsDropped)
{
    program(PIN, edge_entry(VECTOR).with_masked(true));
    core.set_irq(PIN, true);

    program(PIN, edge_entry(VECTOR));

    EXPECT_TRUE(output.deliveries.empty());
}

TEST_F(IOAPICCoreTest, LevelAssertionDeliversAndSetsRemoteIrr)
{
    program(PIN, level_entry(VECTOR));

    core.set_irq(PIN, true);

    EXPECT_EQ(output.deliveries,
              (std::vector<Delivery> {
                  { PIN, { 0xfee03000, 0x8000U | VECTOR } } }));
    EXPECT_TRUE(entry(PIN).remote_irr());
}

TEST_F(IOAPICCoreTest, LevelReassertionWhileRemoteIrrSetIsCoalesced)
{
    deliver_level_on_pin();

    core.set_irq(PIN, false);
    core.set_irq(PIN, true);

    EXPECT_TRUE(output.deliveries.empty());
}

TEST_F(IOAPICCoreTest, LevelDeassertionClearsIrr)
{
    deliver_level_on_pin();

    core.set_irq(PIN, false);

    EXPECT_EQ(core.regs().irr, 0U);
}

TEST_F(IOAPICCoreTest, MaskedLevelPinIsDeliveredWhenUnmaskedWhileAsserted)
{
    program(PIN, level_entry(VECTOR).with_masked(true));
    core.set_irq(PIN, true);

    program(PIN, level_entry(VECTOR));

    EXPECT_EQ(output.deliveries.size(), 1U);
}

TEST_F(IOAPICCoreTest, MaskedLevelPinDeassertedBeforeUnmaskIsNotDelivered)
{
    program(PIN, level_entry(VECTOR).with_masked(true));
    core.set_irq(PIN, true);
    core.set_irq(PIN, false);

    program(PIN, level_entry(VECTOR));

    EXPECT_TRUE(output.deliveries.empty());
}

TEST_F(IOAPICCoreTest, PinOutOfRangeIsIgnored)
{
    core.set_irq(IOAPIC_NUM_PINS, true);

    EXPECT_EQ(core.regs().irr, 0U);
}

// --- EOI ----------------------------------------------------------------

TEST_F(IOAPICCoreTest, EoiBroadcastReservicesAStillAssertedLevelPin)
{
    deliver_level_on_pin();

    core.eoi_broadcast(VECTOR);

    EXPECT_EQ(output.deliveries.size(), 1U);
    EXPECT_TRUE(entry(PIN).remote_irr());
}

TEST_F(IOAPICCoreTest, EoiBroadcastClearsRemoteIrrOfADeassertedPin)
{
    deliver_level_on_pin();
    core.set_irq(PIN, false);

    core.eoi_broadcast(VECTOR);

    EXPECT_TRUE(output.deliveries.empty());
    EXPECT_FALSE(entry(PIN).remote_irr());
}

TEST_F(IOAPICCoreTest, EoiBroadcastOfAnotherVectorChangesNothing)
{
    deliver_level_on_pin();

    core.eoi_broadcast(OTHER_VECTOR);

    EXPECT_TRUE(entry(PIN).remote_irr());
}

TEST_F(IOAPICCoreTest, EoiBroadcastOnMaskedPinClearsRemoteIrrWithoutDelivery)
{
    deliver_level_on_pin();
    program(PIN, level_entry(VECTOR).with_masked(true));

    core.eoi_broadcast(VECTOR);

    EXPECT_TRUE(output.deliveries.empty());
    EXPECT_FALSE(entry(PIN).remote_irr());
}

TEST_F(IOAPICCoreTest, EoiBroadcastEndsEveryPinWithTheVector)
{
    deliver_level_on_pin();
    program(OTHER_PIN, level_entry(VECTOR));
    core.set_irq(OTHER_PIN, true);
    core.set_irq(PIN, false);
    core.set_irq(OTHER_PIN, false);

    core.eoi_broadcast(VECTOR);

    EXPECT_FALSE(entry(PIN).remote_irr());
    EXPECT_FALSE(entry(OTHER_PIN).remote_irr());
}

TEST_F(IOAPICCoreTest, EoiRegisterReservicesAStillAssertedLevelPin)
{
    deliver_level_on_pin();

    core.mmio_write(IOAPIC_EOI, VECTOR, 4);

    EXPECT_EQ(output.deliveries.size(), 1U);
}

TEST_F(IOAPICCoreTest, EoiRegisterClearsRemoteIrr)
{
    deliver_level_on_pin();
    core.set_irq(PIN, false);

    core.mmio_write(IOAPIC_EOI, VECTOR, 4);

    EXPECT_FALSE(entry(PIN).remote_irr());
}

TEST_F(IOAPICCoreTest, EoiRegisterWriteOfWrongSizeIsIgnored)
{
    deliver_level_on_pin();
    core.set_irq(PIN, false);

    core.mmio_write(IOAPIC_EOI, VECTOR, 1);

    EXPECT_TRUE(entry(PIN).remote_irr());
}

TEST_F(IOAPICCoreTest, EoiRegisterWriteWithReservedBitsMatchesNothing)
{
    deliver_level_on_pin();
    core.set_irq(PIN, false);

    core.mmio_write(IOAPIC_EOI, 0x100U | VECTOR, 4);

    EXPECT_TRUE(entry(PIN).remote_irr());
}

TEST_F(IOAPICCoreV11Test, EoiRegisterHasNoEffect)
{
    deliver_level_on_pin();
    core.set_irq(PIN, false);

    core.mmio_write(IOAPIC_EOI, VECTOR, 4);

    EXPECT_TRUE(entry(PIN).remote_irr());
}

TEST_F(IOAPICCoreV11Test, EoiRegisterWriteIsLoggedAsGuestError)
{
    core.mmio_write(IOAPIC_EOI, VECTOR, 4);

    EXPECT_EQ(log.count(), 1U);
}

TEST_F(IOAPICCoreV11Test, SwitchingToEdgeClearsRemoteIrr)
{
    deliver_level_on_pin();

    write_reg(redtbl_low(PIN), edge_entry(VECTOR).with_masked(true).low());

    EXPECT_FALSE(entry(PIN).remote_irr());
}

TEST_F(IOAPICCoreV11Test, EdgeTrickThenLevelAgainRedeliversAssertedLine)
{
    // Linux's EOI for IOAPICs without an EOI register: mask and switch to
    // edge, then restore the level entry.
    deliver_level_on_pin();
    write_reg(redtbl_low(PIN), edge_entry(VECTOR).with_masked(true).low());

    write_reg(redtbl_low(PIN), level_entry(VECTOR).low());

    EXPECT_EQ(output.deliveries.size(), 1U);
}

// --- Routes ---------------------------------------------------------------

TEST_F(IOAPICCoreTest, RedirectionWritePublishesTheRoute)
{
    write_reg(redtbl_low(PIN), level_entry(VECTOR).low());

    EXPECT_EQ(output.routes,
              (std::vector<Route> {
                  { PIN, { 0xfee00000, 0x8000U | VECTOR }, false } }));
}

TEST_F(IOAPICCoreTest, MaskingWritePublishesAMaskedRoute)
{
    program(PIN, level_entry(VECTOR));
    output.clear();

    write_reg(redtbl_low(PIN), level_entry(VECTOR).with_masked(true).low());

    EXPECT_EQ(output.routes,
              (std::vector<Route> {
                  { PIN, { 0xfee03000, 0x8000U | VECTOR }, true } }));
}

TEST_F(IOAPICCoreTest, RewritingTheSameEntryPublishesNothing)
{
    program(PIN, level_entry(VECTOR));
    output.clear();

    program(PIN, level_entry(VECTOR));

    EXPECT_TRUE(output.routes.empty());
}

TEST_F(IOAPICCoreTest, RouteIsPublishedBeforeTheUnmaskDelivery)
{
    program(PIN, level_entry(VECTOR).with_masked(true));
    core.set_irq(PIN, true);
    output.clear();

    write_reg(redtbl_low(PIN), level_entry(VECTOR).low());

    EXPECT_EQ(output.calls, "route deliver ");
}

// --- Reset and migration ------------------------------------------------

TEST_F(IOAPICCoreTest, ResetPublishesAMaskedRouteForEveryPin)
{
    core.reset();

    EXPECT_EQ(output.routes.size(), IOAPIC_NUM_PINS);
    EXPECT_TRUE(output.routes.back().masked);
}

TEST_F(IOAPICCoreTest, ResetRestoresRegisterDefaults)
{
    deliver_level_on_pin();
    write_reg(IOAPIC_REG_ID, 0x0f000000);

    core.reset();

    EXPECT_EQ(core.regs().id, 0);
    EXPECT_EQ(core.regs().ioregsel, 0U);
    EXPECT_EQ(core.regs().irr, 0U);
    EXPECT_EQ(entry(PIN), RedirEntry::reset_value());
}

TEST_F(IOAPICCoreTest, PostLoadPublishesTheLoadedRoutes)
{
    core.regs().ioredtbl[PIN] = level_entry(VECTOR).raw();

    core.post_load();

    EXPECT_EQ(output.routes.at(PIN),
              (Route { PIN, { 0xfee03000, 0x8000U | VECTOR }, false }));
}

TEST_F(IOAPICCoreTest, PostLoadDeliversNothing)
{
    core.regs().ioredtbl[PIN] = level_entry(VECTOR).raw();
    core.regs().irr = 1U << PIN;

    core.post_load();

    EXPECT_TRUE(output.deliveries.empty());
}

TEST_F(IOAPICCoreTest, PostLoadBringsFieldsBackToHardwareWidths)
{
    core.regs().id = 0xff;
    core.regs().ioregsel = 0x1234;
    core.regs().irr = 0xffffffff;

    core.post_load();

    EXPECT_EQ(core.regs().id, 0x0f);
    EXPECT_EQ(core.regs().ioregsel, 0x34U);
    EXPECT_EQ(core.regs().irr, 0x00ffffffU);
}

TEST_F(IOAPICCoreTest, LoadedRemoteIrrWaitsForItsEoi)
{
    core.regs().ioredtbl[PIN] =
        level_entry(VECTOR).with_remote_irr(true).raw();
    core.regs().irr = 1U << PIN;
    core.post_load();

    core.eoi_broadcast(VECTOR);

    EXPECT_EQ(output.deliveries.size(), 1U);
}

// --- Interrupt-storm throttle -------------------------------------------

// The initial delivery plus SUCCESSIVE_IRQ_MAX_COUNT - 1 immediate
// re-deliveries: the last EOI that is still served at once.
constexpr unsigned IMMEDIATE_EOIS = SUCCESSIVE_IRQ_MAX_COUNT - 1;
constexpr uint64_t TEN_MS = 10'000'000;

TEST_F(IOAPICCoreTest, SuccessiveEoisBelowTheLimitReserviceAtOnce)
{
    deliver_level_on_pin();

    eoi_times(VECTOR, IMMEDIATE_EOIS);

    EXPECT_EQ(output.deliveries.size(), IMMEDIATE_EOIS);
    EXPECT_EQ(clock.deadline(), std::nullopt);
}

TEST_F(IOAPICCoreTest, TenThousandthSuccessiveEoiDelaysReassertionByTenMs)
{
    deliver_level_on_pin();
    eoi_times(VECTOR, IMMEDIATE_EOIS);
    output.clear();

    core.eoi_broadcast(VECTOR);

    EXPECT_TRUE(output.deliveries.empty());
    EXPECT_FALSE(entry(PIN).remote_irr());
    EXPECT_EQ(clock.deadline(), clock.now_ns() + TEN_MS);
}

TEST_F(IOAPICCoreTest, ThrottledReassertionWaitsTheFullTenMs)
{
    deliver_level_on_pin();
    eoi_times(VECTOR, SUCCESSIVE_IRQ_MAX_COUNT);
    output.clear();

    clock.advance(TEN_MS - ONE_NS);

    EXPECT_TRUE(output.deliveries.empty());
}

TEST_F(IOAPICCoreTest, ThrottledReassertionIsDeliveredAfterTenMs)
{
    deliver_level_on_pin();
    eoi_times(VECTOR, SUCCESSIVE_IRQ_MAX_COUNT);
    output.clear();

    clock.advance(TEN_MS);

    EXPECT_EQ(output.deliveries.size(), 1U);
    EXPECT_TRUE(entry(PIN).remote_irr());
}

TEST_F(IOAPICCoreTest, ThrottleCountsAgainFromZeroAfterADelay)
{
    deliver_level_on_pin();
    eoi_times(VECTOR, SUCCESSIVE_IRQ_MAX_COUNT);
    clock.advance(TEN_MS);

    eoi_times(VECTOR, IMMEDIATE_EOIS);

    EXPECT_EQ(clock.deadline(), std::nullopt);
}

TEST_F(IOAPICCoreTest, DeassertedLineResetsTheSuccessiveCount)
{
    deliver_level_on_pin();
    eoi_times(VECTOR, IMMEDIATE_EOIS);
    core.set_irq(PIN, false);
    core.eoi_broadcast(VECTOR);
    core.set_irq(PIN, true);

    eoi_times(VECTOR, IMMEDIATE_EOIS);

    EXPECT_EQ(clock.deadline(), std::nullopt);
}

TEST_F(IOAPICCoreTest, RedirectionWriteResetsTheSuccessiveCount)
{
    deliver_level_on_pin();
    eoi_times(VECTOR, IMMEDIATE_EOIS);
    write_reg(redtbl_low(PIN), level_entry(VECTOR).low());

    eoi_times(VECTOR, IMMEDIATE_EOIS);

    EXPECT_EQ(clock.deadline(), std::nullopt);
}

TEST_F(IOAPICCoreTest, ResetCancelsAThrottledReassertion)
{
    deliver_level_on_pin();
    eoi_times(VECTOR, SUCCESSIVE_IRQ_MAX_COUNT);

    core.reset();

    EXPECT_EQ(clock.deadline(), std::nullopt);
}

// --- Random guest accesses ------------------------------------------------

TEST(IOAPICCoreRandom, RandomAccessesNeverAbortAndKeepInvariants)
{
    constexpr unsigned ACCESSES = 50'000;
    constexpr std::mt19937_64::result_type SEED = 0x5e01b;
    // Offsets the device decodes, their neighbours, and beyond the window.
    const std::vector<uint64_t> offsets { 0x00, 0x01, 0x03, 0x04, 0x0f,
                                          0x10, 0x11, 0x14, 0x20, 0x3c,
                                          0x40, 0x41, 0x44, 0xfc, 0xff,
                                          0x100, 0x1000, ~0ULL };
    const std::vector<unsigned> sizes { 0, 1, 2, 3, 4, 5, 8, 16 };
    std::mt19937_64 rng(SEED);
    Harness h(IOAPIC_VER_20);
    size_t deliveries = 0;

    for (unsigned i = 0; i < ACCESSES; ++i) {
        SCOPED_TRACE(i);
        const IOAPICRegs before = h.core.regs();
        h.output.clear();
        uint64_t offset = offsets[rng() % offsets.size()];
        unsigned size = sizes[rng() % sizes.size()];
        // Mostly small values, so that IOREGSEL lands on real registers.
        uint64_t value = (rng() & 1) ? rng() : rng() % 0x48;
        switch (rng() % 8) {
        case 0:
            h.core.set_irq(rng() % (IOAPIC_NUM_PINS + 2), rng() & 1);
            break;
        case 1:
            h.core.eoi_broadcast(static_cast<uint8_t>(rng()));
            break;
        case 2:
        case 3: {
            uint64_t read = h.core.mmio_read(offset, size);
            if (size < 8) {
                ASSERT_LT(read, 1ULL << (8 * size));
            }
            break;
        }
        default:
            h.core.mmio_write(offset, value, size);
            break;
        }

        deliveries += h.output.deliveries.size();
        const IOAPICRegs &after = h.core.regs();
        ASSERT_LE(after.id, IOAPIC_ID_MASK);
        ASSERT_LE(after.ioregsel, IOAPIC_IOREGSEL_MASK);
        ASSERT_EQ(after.irr >> IOAPIC_NUM_PINS, 0U);
        for (unsigned pin = 0; pin < IOAPIC_NUM_PINS; ++pin) {
            RedirEntry e(after.ioredtbl[pin]);
            ASSERT_FALSE(e.delivery_status()) << "pin " << pin;
            ASSERT_FALSE(e.remote_irr() && !e.is_level()) << "pin " << pin;
            // Remote IRR is set only by delivering on that pin.
            bool was_set = RedirEntry(before.ioredtbl[pin]).remote_irr();
            bool delivered = false;
            for (const Delivery &d : h.output.deliveries) {
                delivered |= d.pin == pin;
            }
            ASSERT_TRUE(!e.remote_irr() || was_set || delivered)
                << "pin " << pin;
        }
    }
    // The run reached delivery and the guest-error paths, not only decode.
    EXPECT_GT(deliveries, 0U);
    EXPECT_GT(h.log.count(), 0U);
    EXPECT_EQ(h.read_reg(IOAPIC_REG_VER), 0x00170020U);
}

// --- Guest-error log ------------------------------------------------------

TEST(GuestErrorLog, OnlyTheBurstReachesTheSinkWithinAWindow)
{
    std::vector<std::string> written;
    GuestErrorLog log([&](std::string_view msg) { written.emplace_back(msg); },
                      [] { return uint64_t { 0 }; }, { .burst = 2 });

    log.log("error {}", 1);
    log.log("error {}", 2);
    log.log("error {}", 3);

    EXPECT_EQ(written, (std::vector<std::string> { "error 1", "error 2" }));
}

TEST(GuestErrorLog, CountsWrittenAndSuppressedMessages)
{
    GuestErrorLog log([](std::string_view) {}, [] { return uint64_t { 0 }; },
                      { .burst = 2 });

    log.log("a");
    log.log("b");
    log.log("c");

    EXPECT_EQ(log.count(), 3U);
    EXPECT_EQ(log.suppressed(), 1U);
}

TEST(GuestErrorLog, NextWindowFirstReportsWhatWasSuppressed)
{
    std::vector<std::string> written;
    uint64_t now = 0;
    GuestErrorLog log([&](std::string_view msg) { written.emplace_back(msg); },
                      [&] { return now; },
                      { .interval_ns = 100, .burst = 1 });
    log.log("first");
    log.log("second");
    log.log("third");
    written.clear();
    now = 100;

    log.log("fourth");

    EXPECT_EQ(written, (std::vector<std::string> {
                           "2 guest errors suppressed", "fourth" }));
}

TEST(GuestErrorLog, WithoutAClockOnlyTheFirstBurstIsEverWritten)
{
    std::vector<std::string> written;
    GuestErrorLog log([&](std::string_view msg) { written.emplace_back(msg); },
                      {}, { .burst = 1 });

    log.log("first");
    log.log("second");

    EXPECT_EQ(written, (std::vector<std::string> { "first" }));
}

} // namespace
} // namespace hw::intc
