/*
 * -smp: filling in and checking the CPU topology (QEMU's
 * hw/core/machine-smp.c).
 *
 * QEMU computes the topology in unsigned 32-bit arithmetic, so a hierarchy
 * whose product is 2^32 wraps to zero CPUs (and is refused with a message
 * about the minimum), and one that wraps to a small number is accepted.
 * Here every product is computed in 64 bits and saturates instead of
 * wrapping: a divisor is never zero, and a topology too large to count is
 * refused as too large.
 */
#include "hw/core/machine.h"

#include <fmt/format.h>

#include <array>
#include <limits>

namespace hw {

namespace {

/// a * b, or nullopt when the product does not fit in 64 bits.
std::optional<uint64_t> checked_mul(uint64_t a, uint64_t b)
{
    uint64_t product = 0;
    if (__builtin_mul_overflow(a, b, &product)) {
        return std::nullopt;
    }
    return product;
}

struct Hierarchy {
    uint64_t sockets;
    uint64_t dies;
    uint64_t cores;
    uint64_t threads;

    /// The product of the levels, or nullopt when it does not fit.
    std::optional<uint64_t> product() const
    {
        std::optional<uint64_t> p = checked_mul(sockets, dies);
        p = p ? checked_mul(*p, cores) : p;
        return p ? checked_mul(*p, threads) : p;
    }

    /// QEMU's cpu_hierarchy_to_string(): the levels the machine has,
    /// largest first.
    std::string describe(const MachineClass &mc) const
    {
        std::string s = fmt::format("sockets ({})", sockets);
        if (mc.smp_props.dies_supported) {
            s += fmt::format(" * dies ({})", dies);
        }
        s += fmt::format(" * cores ({}) * threads ({})", cores, threads);
        return s;
    }
};

/// maxcpus divided among the levels that are still open.  The divisor is a
/// product of counts that are all at least 1; where it does not fit in 64
/// bits the quotient is 0, which the product check below then refuses.
uint64_t fill_level(uint64_t maxcpus, uint64_t a, uint64_t b, uint64_t c)
{
    std::optional<uint64_t> divisor = checked_mul(a, b);
    divisor = divisor ? checked_mul(*divisor, c) : divisor;
    return divisor ? maxcpus / *divisor : 0;
}

} // namespace

qapi::Result<CpuTopology> machine_parse_smp_config(const SMPConfiguration &config,
                                                   const MachineClass &mc)
{
    // Specified parameters must be greater than zero ("cpus=0" and, unlike
    // QEMU, which prints them back as negative counts, "cpus=-1").
    const std::array given { config.cpus, config.maxcpus, config.sockets,
                             config.dies, config.cores, config.threads };
    for (const std::optional<int64_t> &v : given) {
        if (v && *v <= 0) {
            return qapi::Error("Invalid CPU topology: CPU topology parameters "
                               "must be greater than zero");
        }
    }
    if (!mc.smp_props.dies_supported && config.dies && *config.dies > 1) {
        return qapi::Error(
            "dies > 1 not supported by this machine's CPU topology");
    }

    auto value = [](const std::optional<int64_t> &v) -> uint64_t {
        return v ? static_cast<uint64_t>(*v) : 0;
    };
    uint64_t cpus = value(config.cpus);
    uint64_t maxcpus = value(config.maxcpus);
    Hierarchy h { value(config.sockets), config.dies ? value(config.dies) : 1,
                  value(config.cores), value(config.threads) };
    auto or_one = [](uint64_t v) -> uint64_t { return v ? v : 1; };

    // Compute the omitted levels from the given ones.
    if (cpus == 0 && maxcpus == 0) {
        h.sockets = or_one(h.sockets);
        h.cores = or_one(h.cores);
        h.threads = or_one(h.threads);
    } else {
        maxcpus = maxcpus ? maxcpus : cpus;
        if (mc.smp_props.prefer_sockets) {
            if (h.sockets == 0) {
                h.cores = or_one(h.cores);
                h.threads = or_one(h.threads);
                h.sockets = fill_level(maxcpus, h.dies, h.cores, h.threads);
            } else if (h.cores == 0) {
                h.threads = or_one(h.threads);
                h.cores = fill_level(maxcpus, h.sockets, h.dies, h.threads);
            }
        } else if (h.cores == 0) {
            h.sockets = or_one(h.sockets);
            h.threads = or_one(h.threads);
            h.cores = fill_level(maxcpus, h.sockets, h.dies, h.threads);
        } else if (h.sockets == 0) {
            h.threads = or_one(h.threads);
            h.sockets = fill_level(maxcpus, h.dies, h.cores, h.threads);
        }
        if (h.threads == 0) {
            h.threads = fill_level(maxcpus, h.sockets, h.dies, h.cores);
        }
    }

    std::optional<uint64_t> total = h.product();
    if (!total) {
        return qapi::Error::format(
            "Invalid SMP CPUs: {} is more than {}. The max CPUs supported by "
            "machine '{}' is {}",
            h.describe(mc), std::numeric_limits<uint64_t>::max(),
            mc.machine_name, mc.max_cpus);
    }
    maxcpus = maxcpus ? maxcpus : *total;
    cpus = cpus ? cpus : maxcpus;

    // Sanity checks of the computed topology, in QEMU's order.
    if (*total != maxcpus) {
        return qapi::Error::format("Invalid CPU topology: product of the "
                                   "hierarchy must match maxcpus: {} != "
                                   "maxcpus ({})",
                                   h.describe(mc), maxcpus);
    }
    if (maxcpus < cpus) {
        return qapi::Error::format("Invalid CPU topology: maxcpus must be "
                                   "equal to or greater than smp: {} == "
                                   "maxcpus ({}) < smp_cpus ({})",
                                   h.describe(mc), maxcpus, cpus);
    }
    if (cpus < mc.min_cpus) {
        return qapi::Error::format(
            "Invalid SMP CPUs {}. The min CPUs supported by machine '{}' is {}",
            cpus, mc.machine_name, mc.min_cpus);
    }
    if (maxcpus > mc.max_cpus) {
        return qapi::Error::format(
            "Invalid SMP CPUs {}. The max CPUs supported by machine '{}' is {}",
            maxcpus, mc.machine_name, mc.max_cpus);
    }

    // Every level is now at least 1 (the product equals maxcpus, which is
    // not 0) and at most maxcpus, which fits the machine's unsigned limit.
    return CpuTopology {
        .cpus = static_cast<unsigned>(cpus),
        .max_cpus = static_cast<unsigned>(maxcpus),
        .sockets = static_cast<unsigned>(h.sockets),
        .dies = static_cast<unsigned>(h.dies),
        .cores = static_cast<unsigned>(h.cores),
        .threads = static_cast<unsigned>(h.threads),
    };
}

} // namespace hw
