/*
 * Configuration throughput (issue: machine types, design §5): whole machine
 * configurations per second -- a fresh Context on a shared type registry,
 * the machine's compat list in its slot, user globals, the machine object,
 * the early IOAPIC resolution, the host bridge and the IOAPIC realized, the
 * unused-global check.  No KVM: the machine is built without an
 * accelerator, so the IOAPIC is the userspace one, as under TCG.
 *
 * The yardstick is QEMU 7.2 here: about 45 ms from spawn to QMP ready for
 * one configuration (qemu-facts §8); the goal is 10,000 times its rate,
 * i.e. 4.5 us or less per configuration.
 */
#include "hw/core/machine.h"
#include "hw/core/qdev.h"
#include "hw/i386/pc.h"
#include "hw/intc/ioapic.h"
#include "qom/context.h"
#include "system/builtin-types.h"

#include <benchmark/benchmark.h>

#include <string>

namespace {

void build_configuration(const std::shared_ptr<const qom::TypeRegistry> &types,
                         const hw::MachineClass &mc, bool with_globals,
                         benchmark::State &state)
{
    qom::Context ctx(types);
    ctx.set_warning_sink([](std::string_view) {});
    if (with_globals) {
        ctx.globals().register_user("ioapic", "version", "0x11",
                                    "-global ioapic.version=0x11");
        ctx.globals().register_user("nosuchdevice", "x", "1",
                                    "-global nosuchdevice.x=1");
    }
    auto machine = hw::create_machine(ctx, mc);
    if (!machine || !machine.value()->init().has_value()) {
        state.SkipWithError("machine creation failed");
        return;
    }
    qdev::qdev_prop_check_globals(ctx);
    auto &x86 = qom::cast<hw::x86::X86MachineState>(*machine.value());
    benchmark::DoNotOptimize(x86.ioapic()->version());
}

void BM_MachineConfiguration(benchmark::State &state, const char *machine,
                             bool with_globals)
{
    auto types = sysemu::builtin_type_registry();
    const hw::MachineClass *mc = hw::find_machine(*types, machine);
    for (auto _ : state) {
        build_configuration(types, *mc, with_globals, state);
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["compat_entries"] =
        static_cast<double>(mc->compat_props.size());
}

BENCHMARK_CAPTURE(BM_MachineConfiguration, newest_pc_q35_11_0, "pc-q35-11.0",
                  false);
BENCHMARK_CAPTURE(BM_MachineConfiguration, newest_with_globals, "pc-q35-11.0",
                  true);
BENCHMARK_CAPTURE(BM_MachineConfiguration, oldest_pc_q35_2_8, "pc-q35-2.8",
                  false);
BENCHMARK_CAPTURE(BM_MachineConfiguration, oldest_with_globals, "pc-q35-2.8",
                  true);
BENCHMARK_CAPTURE(BM_MachineConfiguration, oldest_pc_i440fx_2_8,
                  "pc-i440fx-2.8", false);

/// The type registry itself, built once per process by a host.
void BM_BuiltinTypeRegistry(benchmark::State &state)
{
    for (auto _ : state) {
        benchmark::DoNotOptimize(sysemu::builtin_type_registry());
    }
}
BENCHMARK(BM_BuiltinTypeRegistry);

} // namespace

BENCHMARK_MAIN();
