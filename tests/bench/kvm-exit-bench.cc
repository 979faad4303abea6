/*
 * The cost of one VM exit round trip: a bare KVM_RUN loop written against
 * <linux/kvm.h> alone, next to seoib's host backend (accel/kvm) and the
 * kernel model running the same two-instruction guest (`out 0x80, al;
 * jmp back`: every KVM_RUN ends in one KVM_EXIT_IO).
 *
 * Issue 10 asked how seoib's time per exit compares with the floor the
 * host gives: the bare loop is that floor, so the time per iteration (one exit)
 * of the host backend over the bare loop's, from the same run, is the overhead seoib
 * adds (its exit decoding, the bounded KVM_RUN that lets a signal end the
 * run loop).  Run with --benchmark_repetitions to see the host's noise;
 * docs/devel/performance.rst records a run.  No assertion on time.
 */
#include "accel/kvm/kvm-backend.h"

#include <benchmark/benchmark.h>

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <variant>

namespace {

constexpr size_t GUEST_RAM = 0x10000;
// Real mode at 0:0 -- out 0x80, al (e6 80); jmp -4 (eb fc).
constexpr std::array<uint8_t, 4> GUEST_LOOP { 0xe6, 0x80, 0xeb, 0xfc };
constexpr uint16_t GUEST_PORT = 0x80;

/// Anonymous guest RAM holding GUEST_LOOP at address 0.
class GuestRam {
public:
    GuestRam()
        : m_mem(::mmap(nullptr, GUEST_RAM, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
    {
        if (m_mem != MAP_FAILED) {
            std::memcpy(m_mem, GUEST_LOOP.data(), GUEST_LOOP.size());
        }
    }
    ~GuestRam()
    {
        if (m_mem != MAP_FAILED) {
            ::munmap(m_mem, GUEST_RAM);
        }
    }
    GuestRam(const GuestRam &) = delete;
    GuestRam &operator=(const GuestRam &) = delete;

    bool ok() const { return m_mem != MAP_FAILED; }
    void *data() const { return m_mem; }

private:
    void *m_mem;
};

/// A file descriptor closed on scope exit.
struct Fd {
    int fd { -1 };
    ~Fd()
    {
        if (fd >= 0) {
            ::close(fd);
        }
    }
};

/// One iteration is one exit, so the Time column is the time per exit.
void report(benchmark::State &state, int64_t exits)
{
    state.SetItemsProcessed(exits);
}

/// The floor: KVM_RUN on a vCPU set up with raw ioctls, nothing else.
void BM_BareKvmRun(benchmark::State &state)
{
    Fd kvm { ::open("/dev/kvm", O_RDWR | O_CLOEXEC) };
    if (kvm.fd < 0) {
        state.SkipWithError("/dev/kvm cannot be opened");
        return;
    }
    Fd vm { ::ioctl(kvm.fd, KVM_CREATE_VM, 0) };
    GuestRam ram;
    if (vm.fd < 0 || !ram.ok()) {
        state.SkipWithError("KVM_CREATE_VM or guest RAM failed");
        return;
    }
    kvm_userspace_memory_region region {};
    region.slot = 0;
    region.guest_phys_addr = 0;
    region.memory_size = GUEST_RAM;
    region.userspace_addr = reinterpret_cast<uintptr_t>(ram.data());
    Fd vcpu { -1 };
    if (::ioctl(vm.fd, KVM_SET_USER_MEMORY_REGION, &region) < 0 ||
        (vcpu.fd = ::ioctl(vm.fd, KVM_CREATE_VCPU, 0)) < 0) {
        state.SkipWithError("memory slot or vCPU failed");
        return;
    }
    const int run_size = ::ioctl(kvm.fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    void *run_map = ::mmap(nullptr, size_t(run_size), PROT_READ | PROT_WRITE,
                           MAP_SHARED, vcpu.fd, 0);
    if (run_size <= 0 || run_map == MAP_FAILED) {
        state.SkipWithError("cannot map kvm_run");
        return;
    }
    auto *run = static_cast<kvm_run *>(run_map);
    kvm_sregs sregs {};
    kvm_regs regs {};
    ::ioctl(vcpu.fd, KVM_GET_SREGS, &sregs);
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    regs.rip = 0;
    regs.rflags = 0x2;
    if (::ioctl(vcpu.fd, KVM_SET_SREGS, &sregs) < 0 ||
        ::ioctl(vcpu.fd, KVM_SET_REGS, &regs) < 0) {
        state.SkipWithError("cannot set the vCPU's registers");
        ::munmap(run_map, size_t(run_size));
        return;
    }

    int64_t exits = 0;
    for (auto _ : state) {
        if (::ioctl(vcpu.fd, KVM_RUN, 0) < 0 ||
            run->exit_reason != KVM_EXIT_IO || run->io.port != GUEST_PORT) {
            state.SkipWithError("the guest did not exit on its port");
            break;
        }
        exits++;
    }
    ::munmap(run_map, size_t(run_size));
    report(state, exits);
}

/// The same guest through seoib's backend interface.
void run_on_backend(benchmark::State &state, accel::kvm::System &system)
{
    auto vm = system.create_vm();
    GuestRam ram;
    if (!vm || !ram.ok()) {
        state.SkipWithError("create_vm or guest RAM failed");
        return;
    }
    std::span<std::byte> memory(static_cast<std::byte *>(ram.data()),
                                GUEST_RAM);
    if (!vm.value()->set_user_memory_region(0, 0, memory)) {
        state.SkipWithError("set_user_memory_region failed");
        return;
    }
    auto vcpu = vm.value()->create_vcpu(0);
    if (!vcpu) {
        state.SkipWithError("create_vcpu failed");
        return;
    }
    auto sregs = vcpu.value()->get_sregs();
    if (!sregs) {
        state.SkipWithError("get_sregs failed");
        return;
    }
    sregs.value().cs.base = 0;
    sregs.value().cs.selector = 0;
    accel::kvm::Regs regs;
    regs.rip = 0;
    if (!vcpu.value()->set_sregs(sregs.value()) || !vcpu.value()->set_regs(regs)) {
        state.SkipWithError("cannot set the vCPU's registers");
        return;
    }

    int64_t exits = 0;
    for (auto _ : state) {
        auto exit = vcpu.value()->run();
        const auto *io = exit ? std::get_if<accel::kvm::ExitIo>(&exit.value())
                              : nullptr;
        if (!io || io->port != GUEST_PORT) {
            state.SkipWithError("the guest did not exit on its port");
            break;
        }
        exits++;
    }
    report(state, exits);
}

void BM_SeoibHostBackend(benchmark::State &state)
{
    auto system = accel::kvm::open_host_system();
    if (!system) {
        state.SkipWithError("/dev/kvm cannot be opened");
        return;
    }
    run_on_backend(state, *system.value());
}

void BM_SeoibKernelModel(benchmark::State &state)
{
    auto system = accel::kvm::open_model_system(accel::kvm::KernelProfile::Model);
    run_on_backend(state, *system);
}

BENCHMARK(BM_BareKvmRun)->MinTime(1.0);
BENCHMARK(BM_SeoibHostBackend)->MinTime(1.0);
BENCHMARK(BM_SeoibKernelModel)->MinTime(1.0);

} // namespace

BENCHMARK_MAIN();
