/*
 * A small VM for the stream tests: two RAM blocks, a vCPU, an IOAPIC and
 * x86-seoib-state, registered the way seoib-vm will register them.
 */
#pragma once

#include "migration/ram.h"
#include "migration/savevm.h"
#include "test-devices.h"

#include <map>
#include <set>
#include <vector>

namespace migration_test {

inline constexpr std::string_view TEST_MACHINE = "pc-q35-7.2";
inline constexpr size_t TEST_RAM_PAGES = 16;
inline constexpr size_t TEST_BIOS_PAGES = 2;

/// Pages a test marked as written, reported once.
class FakeDirtyLog final : public migration::DirtyBitmapProvider {
public:
    void write(size_t block, size_t page) { m_pages[block].insert(page); }
    void sync_dirty(size_t index, const migration::RAMBlock &,
                    std::vector<bool> &dirty) override
    {
        for (size_t page : m_pages[index]) {
            dirty[page] = true;
        }
        m_pages[index].clear();
    }

private:
    std::map<size_t, std::set<size_t>> m_pages;
};

struct TestVM {
    explicit TestVM(bool with_seoib_state = true,
                    migration::DirtyBitmapProvider *dirty = nullptr)
        : ram(TEST_RAM_PAGES * migration::TARGET_PAGE_SIZE)
        , bios(TEST_BIOS_PAGES * migration::TARGET_PAGE_SIZE)
        , ram_state({ { "pc.ram", ram }, { "pc.bios", bios } }, dirty)
    {
        MUST(ram_state.register_with(savevm));
        MUST(savevm.register_vmstate("cpu", 0, vcpu_vmsd(), cpu));
        MUST(savevm.register_vmstate("ioapic", 0, ioapic_vmsd(), ioapic));
        if (with_seoib_state) {
            MUST(savevm.register_vmstate(
                "x86-seoib-state", 0, seoib_state_vmsd(), seoib,
                migration::MigrationPriority::SeoibPolicy));
        }
    }

    /// Recognisable state: some RAM pages written, the rest zero.
    void fill()
    {
        ram[0] = 0xea; // a non-zero first page
        ram[5 * migration::TARGET_PAGE_SIZE + 17] = 0x42;
        bios[migration::TARGET_PAGE_SIZE + 4095] = 0x99;
        cpu.regs.rip = 0xfff0;
        cpu.msrs = { migration_test::MSREntry { 0x1b, 0xfee00900 } };
        cpu.lapic[0x30] = 0x14;
        ioapic.id = 1;
        ioapic.ioredtbl[2] = 0x10030;
        seoib.policy = SeoibPolicy::Respected;
    }

    std::vector<uint8_t> ram;
    std::vector<uint8_t> bios;
    X86VcpuTestState cpu;
    IOAPICTestState ioapic;
    SeoibTestState seoib;
    migration::RAMState ram_state;
    migration::SaveVM savevm;
};

inline std::vector<uint8_t> save_stream(TestVM &vm,
                                        std::string_view machine = TEST_MACHINE)
{
    migration::MemoryWriter w;
    MUST(vm.savevm.save_state(w, machine));
    return w.take();
}

inline qapi::Result<migration::LoadResult>
load_stream(TestVM &vm, std::span<const uint8_t> bytes,
            migration::LoadOptions options = {})
{
    if (options.machine_type.empty()) {
        options.machine_type = std::string(TEST_MACHINE);
    }
    migration::MemoryReader r(bytes);
    return vm.savevm.load_state(r, options);
}

} // namespace migration_test
