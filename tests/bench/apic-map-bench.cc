/*
 * The kernel model's APIC map at 1, 64, 255, 1024 and 4096 vCPUs.
 *
 *   BM_MapRecalculation      KVM_SET_LAPIC, which always rebuilds the map:
 *                            must grow linearly with the vCPU count.
 *   BM_MsiFastPath           a physical fixed MSI to one vCPU through the
 *                            map (unique x2APIC IDs, 32-bit IDs): must not
 *                            grow with the vCPU count.
 *   BM_MsiSlowPathBroadcast  an MSI to 0xFF, a broadcast that bypasses the
 *                            map and reaches every vCPU.
 *   BM_MsiSlowPathAliased    an MSI to an aliased xAPIC ID without 32-bit
 *                            IDs, where the optimized map is disabled and
 *                            every vCPU is matched.
 *
 * 4096 vCPUs is beyond KVM_CAP_MAX_VCPUS (1024); the model's limit is raised
 * with KernelModelOptions for this.  Run with
 * `meson test -C <build> --benchmark apic-map` or the binary directly.
 */
#include "accel/kvm/kernel-model/kernel-model.h"
#include "accel/kvm/kvm-backend.h"
#include "qapi/result.h"

#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

namespace {

using namespace accel::kvm;

constexpr uint32_t MAX_BENCH_VCPUS = 4096;
constexpr uint8_t VECTOR = 0x40;
constexpr uint32_t MSI_ADDRESS = 0xFEE00000;
constexpr uint32_t SPIV_ENABLED = 0x1FF;

enum class Layout {
    UniqueX2apic, // x2APIC mode, 32-bit IDs: every ID unique, map valid
    AliasedXapic, // xAPIC mode, no 32-bit IDs, last vCPU aliased to ID 0
};

struct BenchVm {
    std::unique_ptr<System> system;
    std::unique_ptr<Vm> vm;
    std::vector<std::unique_ptr<Vcpu>> vcpus;
};

std::unique_ptr<BenchVm> make_vm(uint32_t count, Layout layout)
{
    KernelModelOptions options;
    options.max_vcpus = MAX_BENCH_VCPUS;
    options.max_vcpu_id = MAX_BENCH_VCPUS;
    auto bench = std::make_unique<BenchVm>();
    bench->system = open_model_system(KernelProfile::Model, options);
    bench->vm = MUST(bench->system->create_vm());
    MUST(bench->vm->enable_cap(Cap::SplitIrqchip, { 24, 0, 0, 0 }));
    if (layout == Layout::UniqueX2apic) {
        MUST(bench->vm->enable_cap(Cap::X2apicApi, { KVM_X2APIC_API_USE_32BIT_IDS, 0, 0, 0 }));
    }
    std::vector<CpuidEntry> cpuid = MUST(bench->system->get_supported_cpuid());
    for (uint32_t id = 0; id < count; ++id) {
        std::unique_ptr<Vcpu> vcpu = MUST(bench->vm->create_vcpu(id));
        MUST(vcpu->set_cpuid(cpuid));
        uint64_t base = APIC_DEFAULT_PHYS_BASE | MSR_IA32_APICBASE_ENABLE |
                        (id == 0 ? MSR_IA32_APICBASE_BSP : 0) |
                        (layout == Layout::UniqueX2apic ? MSR_IA32_APICBASE_EXTD : 0);
        std::array<MsrEntry, 1> msrs { MsrEntry { MSR_IA32_APICBASE, base } };
        (void)MUST(vcpu->set_msrs(msrs));
        LapicState lapic = MUST(vcpu->get_lapic());
        lapic.set_reg(APIC_SPIV, SPIV_ENABLED);
        if (layout == Layout::AliasedXapic && count > 1 && id == count - 1) {
            lapic.set_reg(APIC_ID, 0);
        }
        MUST(vcpu->set_lapic(lapic));
        bench->vcpus.push_back(std::move(vcpu));
    }
    return bench;
}

void BM_MapRecalculation(benchmark::State &state)
{
    auto count = static_cast<uint32_t>(state.range(0));
    std::unique_ptr<BenchVm> bench = make_vm(count, Layout::UniqueX2apic);
    Vcpu &vcpu = *bench->vcpus.front();
    LapicState lapic = MUST(vcpu.get_lapic());
    for (auto _ : state) {
        // KVM_SET_LAPIC marks the map dirty and rebuilds it.
        benchmark::DoNotOptimize(vcpu.set_lapic(lapic).has_value());
    }
    state.SetComplexityN(count);
}

void BM_MsiFastPath(benchmark::State &state)
{
    auto count = static_cast<uint32_t>(state.range(0));
    std::unique_ptr<BenchVm> bench = make_vm(count, Layout::UniqueX2apic);
    uint32_t dest = count - 1;
    MsiMessage msi { .address_lo = MSI_ADDRESS | (dest & 0xFF) << 12,
                     .address_hi = dest & 0xFFFFFF00,
                     .data = VECTOR };
    for (auto _ : state) {
        benchmark::DoNotOptimize(bench->vm->signal_msi(msi).value_or(-1));
    }
    state.SetComplexityN(count);
}

void BM_MsiSlowPathBroadcast(benchmark::State &state)
{
    auto count = static_cast<uint32_t>(state.range(0));
    std::unique_ptr<BenchVm> bench = make_vm(count, Layout::UniqueX2apic);
    MsiMessage msi { .address_lo = MSI_ADDRESS | 0xFF << 12, .data = VECTOR };
    for (auto _ : state) {
        benchmark::DoNotOptimize(bench->vm->signal_msi(msi).value_or(-1));
    }
    state.SetComplexityN(count);
}

void BM_MsiSlowPathAliased(benchmark::State &state)
{
    auto count = static_cast<uint32_t>(state.range(0));
    if (count < 2) {
        state.SkipWithError("aliasing needs two vCPUs");
        return;
    }
    std::unique_ptr<BenchVm> bench = make_vm(count, Layout::AliasedXapic);
    MsiMessage msi { .address_lo = MSI_ADDRESS, .data = VECTOR };
    for (auto _ : state) {
        benchmark::DoNotOptimize(bench->vm->signal_msi(msi).value_or(-1));
    }
    state.SetComplexityN(count);
}

void vcpu_counts(benchmark::internal::Benchmark *bench)
{
    for (int count : { 1, 64, 255, 1024, 4096 }) {
        bench->Arg(count);
    }
}

BENCHMARK(BM_MapRecalculation)->Apply(vcpu_counts)->Complexity(benchmark::oN);
BENCHMARK(BM_MsiFastPath)->Apply(vcpu_counts)->Complexity(benchmark::o1);
BENCHMARK(BM_MsiSlowPathBroadcast)->Apply(vcpu_counts)->Complexity(benchmark::oN);
BENCHMARK(BM_MsiSlowPathAliased)->Apply(vcpu_counts)->Complexity(benchmark::oN);

} // namespace

BENCHMARK_MAIN();
