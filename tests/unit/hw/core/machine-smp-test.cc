/*
 * -smp: QEMU's machine_parse_smp_config() in checked arithmetic.  No
 * combination of counts wraps into an accepted topology or a division by
 * zero; every accepted one is consistent with itself and the machine.
 */
#include "hw/core/machine.h"

#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <string>

namespace {

using hw::SMPConfiguration;

std::unique_ptr<hw::MachineClass> pc_class(unsigned max_cpus = 4096,
                                           bool prefer_sockets = false)
{
    auto mc = std::make_unique<hw::MachineClass>();
    mc->machine_name = "pc-q35-11.0";
    mc->max_cpus = max_cpus;
    mc->smp_props.dies_supported = true;
    mc->smp_props.prefer_sockets = prefer_sockets;
    return mc;
}

std::string error_of(const SMPConfiguration &config,
                     const hw::MachineClass &mc = *pc_class())
{
    auto r = hw::machine_parse_smp_config(config, mc);
    return r ? std::string("accepted") : r.error().message();
}

TEST(MachineSmp, ProductThatWrapsTo32BitZeroIsTooMany)
{
    // dies=65536,threads=65536 used to wrap to 0 and divide by it.
    EXPECT_EQ(error_of({ .dies = 65536, .threads = 65536 }),
              "Invalid SMP CPUs 4294967296. The max CPUs supported by "
              "machine 'pc-q35-11.0' is 4096");
    EXPECT_EQ(error_of({ .sockets = 65536, .dies = 65536 }),
              error_of({ .dies = 65536, .threads = 65536 }));
    EXPECT_EQ(error_of({ .cores = 65536, .threads = 65536 }),
              error_of({ .dies = 65536, .threads = 65536 }));
    EXPECT_EQ(error_of({ .sockets = 65536, .cores = 65536 }),
              error_of({ .dies = 65536, .threads = 65536 }));
}

TEST(MachineSmp, ProductThatWrapsToOneIsTooMany)
{
    EXPECT_EQ(error_of({ .sockets = 4294967295, .cores = 4294967295 }),
              "Invalid SMP CPUs 18446744065119617025. The max CPUs "
              "supported by machine 'pc-q35-11.0' is 4096");
}

TEST(MachineSmp, ProductBeyond64BitsIsRefusedAsTooLarge)
{
    const std::string e =
        error_of({ .sockets = 4294967295, .dies = 4294967295,
                   .cores = 4294967295, .threads = 4294967295 });
    EXPECT_NE(e.find("Invalid SMP CPUs: sockets (4294967295) * dies "
                     "(4294967295) * cores (4294967295) * threads "
                     "(4294967295) is more than 18446744073709551615"),
              std::string::npos)
        << e;
}

TEST(MachineSmp, DivisorThatWouldWrapLeavesALevelAtZeroAndIsRefused)
{
    EXPECT_EQ(error_of({ .cpus = 8, .sockets = 65536, .dies = 65536 }),
              "Invalid CPU topology: product of the hierarchy must match "
              "maxcpus: sockets (65536) * dies (65536) * cores (0) * threads "
              "(1) != maxcpus (8)");
}

TEST(MachineSmp, ZeroAndNegativeCountsAreRefused)
{
    for (int64_t bad : { int64_t { 0 }, int64_t { -1 }, INT64_MIN }) {
        EXPECT_EQ(error_of({ .threads = bad }),
                  "Invalid CPU topology: CPU topology parameters must be "
                  "greater than zero");
    }
}

TEST(MachineSmp, OmittedThreadsAreComputedLast)
{
    // QEMU: -smp 8,sockets=2,cores=2 gives 2 threads per core.
    auto t = hw::machine_parse_smp_config({ .cpus = 8, .sockets = 2, .cores = 2 },
                                          *pc_class());
    ASSERT_TRUE(t.has_value()) << t.error().message();
    EXPECT_EQ(t.value().threads, 2U);
    EXPECT_EQ(t.value().max_cpus, 8U);
}

TEST(MachineSmp, MachinesBefore6_2PreferSockets)
{
    auto before = hw::machine_parse_smp_config({ .cpus = 4 }, *pc_class(288, true));
    ASSERT_TRUE(before.has_value());
    EXPECT_EQ(before.value().sockets, 4U);
    EXPECT_EQ(before.value().cores, 1U);
    auto after = hw::machine_parse_smp_config({ .cpus = 4 }, *pc_class());
    ASSERT_TRUE(after.has_value());
    EXPECT_EQ(after.value().sockets, 1U);
    EXPECT_EQ(after.value().cores, 4U);
}

TEST(MachineSmp, DiesNeedAMachineThatHasThem)
{
    auto mc = pc_class();
    mc->smp_props.dies_supported = false;
    EXPECT_EQ(error_of({ .dies = 2 }, *mc),
              "dies > 1 not supported by this machine's CPU topology");
}

// Every pair of members at 0, 1, 2^16, 2^31 and 2^32-1, on machines that
// prefer cores and on machines that prefer sockets: either refused, or a
// topology whose levels multiply to max_cpus within the machine's limit and
// keep every value that was given.
TEST(MachineSmp, EveryPairOfBoundaryValuesIsRefusedOrConsistent)
{
    constexpr std::array<int64_t, 5> values { 0, 1, 1 << 16, int64_t { 1 } << 31,
                                              (int64_t { 1 } << 32) - 1 };
    using Member = std::optional<int64_t> SMPConfiguration::*;
    constexpr std::array<Member, 6> members {
        &SMPConfiguration::cpus,    &SMPConfiguration::maxcpus,
        &SMPConfiguration::sockets, &SMPConfiguration::dies,
        &SMPConfiguration::cores,   &SMPConfiguration::threads,
    };
    unsigned accepted = 0;
    for (bool prefer_sockets : { false, true }) {
        const auto mc_ptr = pc_class(4096, prefer_sockets);
        const hw::MachineClass &mc = *mc_ptr;
        for (size_t i = 0; i < members.size(); i++) {
            for (size_t j = i + 1; j < members.size(); j++) {
                for (int64_t a : values) {
                    for (int64_t b : values) {
                        SMPConfiguration c;
                        c.*members[i] = a;
                        c.*members[j] = b;
                        auto t = hw::machine_parse_smp_config(c, mc);
                        if (!t) {
                            EXPECT_FALSE(t.error().message().empty());
                            continue;
                        }
                        accepted++;
                        EXPECT_GE(t.value().sockets, 1U);
                        EXPECT_GE(t.value().dies, 1U);
                        EXPECT_GE(t.value().cores, 1U);
                        EXPECT_GE(t.value().threads, 1U);
                        EXPECT_EQ(uint64_t { t.value().sockets } * t.value().dies * t.value().cores *
                                      t.value().threads,
                                  t.value().max_cpus);
                        EXPECT_LE(t.value().cpus, t.value().max_cpus);
                        EXPECT_LE(t.value().max_cpus, mc.max_cpus);
                        const unsigned got[] = { t.value().cpus,  t.value().max_cpus,
                                                 t.value().sockets, t.value().dies,
                                                 t.value().cores, t.value().threads };
                        EXPECT_EQ(got[i], static_cast<uint64_t>(a));
                        EXPECT_EQ(got[j], static_cast<uint64_t>(b));
                    }
                }
            }
        }
    }
    // The pairs of small values are accepted (1,1 and the like).
    EXPECT_GT(accepted, 0U);
}

} // namespace
