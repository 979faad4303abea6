/*
 * The migration matrix of design §4.5 and the answer each cell must give,
 * shared by tests/functional/migration-test.cc (two seoib-vm processes over
 * a socket) and tests/tools (seoib-compat migrate-matrix, in process): the
 * rules are written out once, here.
 *
 * Source machine type {pc-q35-11.0, pc-q35-10.2} x IOAPIC {0x20, 0x11} x
 * source seoib-policy x destination seoib-policy {auto, the source's,
 * another} x destination kernel {model, model-6.12}; the source runs on
 * the model with kernel-irqchip=split.
 */
#pragma once

#include <cctype>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace migration_matrix {

inline constexpr uint32_t LVR_WITH_BIT24 = 0x01050014;
inline constexpr uint32_t LVR_WITHOUT_BIT24 = 0x00050014;

enum class Policy { Auto, Quirked, Respected, NotAdvertised };

inline const char *policy_name(Policy p)
{
    switch (p) {
    case Policy::Auto:
        return "auto";
    case Policy::Quirked:
        return "quirked";
    case Policy::Respected:
        return "respected";
    case Policy::NotAdvertised:
        return "not-advertised";
    }
    return "?";
}

struct Cell {
    std::string machine;
    int ioapic;
    Policy source;
    Policy destination;
    std::string kernel; // destination kernel
};

inline std::string cell_name(const Cell &c)
{
    std::string name = c.machine + "_ioapic" + std::to_string(c.ioapic) + "_" +
                       policy_name(c.source) + "_to_" + policy_name(c.destination) + "_" +
                       c.kernel;
    for (char &ch : name) {
        if (!isalnum(static_cast<unsigned char>(ch))) {
            ch = '_';
        }
    }
    return name;
}

/// What the source runs with (design §4.4).
inline Policy effective_at_source(const Cell &c)
{
    if (c.source != Policy::Auto) {
        return c.source;
    }
    if (c.machine == "pc-q35-10.2") {
        return Policy::Quirked;
    }
    return c.ioapic == 0x20 ? Policy::Respected : Policy::NotAdvertised;
}

struct Outcome {
    bool taken;
    uint32_t lvr; // when taken
};

/// Design §4.5, as the header says.
inline Outcome expected_outcome(const Cell &c)
{
    Policy e = effective_at_source(c);
    bool policy_ok = c.destination == Policy::Auto || c.destination == e;
    bool kernel_ok = e == Policy::Quirked || c.kernel == "model";
    return { policy_ok && kernel_ok,
             e == Policy::NotAdvertised ? LVR_WITHOUT_BIT24 : LVR_WITH_BIT24 };
}

inline std::vector<Cell> matrix()
{
    std::vector<Cell> cells;
    for (std::string machine : { "pc-q35-11.0", "pc-q35-10.2" }) {
        for (int ioapic : { 0x20, 0x11 }) {
            for (Policy source : { Policy::Auto, Policy::Quirked, Policy::Respected,
                                   Policy::NotAdvertised }) {
                if (source == Policy::Respected && ioapic == 0x11) {
                    continue; // the source itself refuses to start
                }
                Cell base { machine, ioapic, source, Policy::Auto, "model" };
                Policy e = effective_at_source(base);
                Policy other = e == Policy::Quirked ? Policy::NotAdvertised : Policy::Quirked;
                for (Policy destination : { Policy::Auto, e, other }) {
                    for (std::string kernel : { "model", "model-6.12" }) {
                        cells.push_back({ machine, ioapic, source, destination, kernel });
                    }
                }
            }
        }
    }
    return cells;
}

/// GoogleTest's name for a cell in failure messages (found by ADL).
inline void PrintTo(const Cell &c, std::ostream *os)
{
    *os << cell_name(c);
}

} // namespace migration_matrix
