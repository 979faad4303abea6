#include "hw/i386/pc-compat.h"

// One array per version, one entry per line, in QEMU's order: reviewing a
// change against upstream's hw/i386/pc.c is a line-by-line diff.  Every
// table is constinit, so no constructor runs before main().
//
// "x86_64-cpu" is QEMU's TYPE_X86_CPU for qemu-system-x86_64; an i386 build
// would say "i386-cpu".  This project only models the x86_64 target.

namespace hw {

using CompatTable = std::span<const qom::CompatProperty>;

// pc_q35_machine_options() and pc_i440fx_machine_options() add these before
// any versioned array, so they are the first entries of every PC machine.
constexpr qom::CompatProperty pc_q35_compat_defaults_props[] = {
    { "virtio-iommu-pci", "aw-bits", "39" },
    { "ramfb", "use-legacy-x86-rom", "true" },
    { "vfio-pci-nohotplug", "use-legacy-x86-rom", "true" },
};
constinit const CompatTable pc_q35_compat_defaults {
    pc_q35_compat_defaults_props
};

constexpr qom::CompatProperty pc_piix_compat_defaults_props[] = {
    { "ramfb", "use-legacy-x86-rom", "true" },
    { "vfio-pci-nohotplug", "use-legacy-x86-rom", "true" },
};
constinit const CompatTable pc_piix_compat_defaults {
    pc_piix_compat_defaults_props
};

constinit const CompatTable pc_compat_10_2 {};

constexpr qom::CompatProperty pc_compat_10_1_props[] = {
    { "mch", "extended-tseg-mbytes", "16" },
};
constinit const CompatTable pc_compat_10_1 { pc_compat_10_1_props };

constexpr qom::CompatProperty pc_compat_10_0_props[] = {
    { "x86_64-cpu", "x-consistent-cache", "false" },
    { "x86_64-cpu", "x-vendor-cpuid-only-v2", "false" },
    { "x86_64-cpu", "x-arch-cap-always-on", "true" },
    { "x86_64-cpu", "x-pdcm-on-even-without-pmu", "true" },
};
constinit const CompatTable pc_compat_10_0 { pc_compat_10_0_props };

constinit const CompatTable pc_compat_9_2 {};

constexpr qom::CompatProperty pc_compat_9_1_props[] = {
    { "ICH9-LPC", "x-smi-swsmi-timer", "off" },
    { "ICH9-LPC", "x-smi-periodic-timer", "off" },
    { "intel-iommu", "stale-tm", "on" },
    { "intel-iommu", "aw-bits", "39" },
};
constinit const CompatTable pc_compat_9_1 { pc_compat_9_1_props };

constexpr qom::CompatProperty pc_compat_9_0_props[] = {
    { "x86_64-cpu", "x-amd-topoext-features-only", "false" },
    { "x86_64-cpu", "x-l1-cache-per-thread", "false" },
    { "x86_64-cpu", "guest-phys-bits", "0" },
    { "sev-guest", "legacy-vm-type", "on" },
    { "x86_64-cpu", "legacy-multi-node", "on" },
};
constinit const CompatTable pc_compat_9_0 { pc_compat_9_0_props };

constinit const CompatTable pc_compat_8_2 {};

constinit const CompatTable pc_compat_8_1 {};

constexpr qom::CompatProperty pc_compat_8_0_props[] = {
    { "virtio-mem", "unplugged-inaccessible", "auto" },
};
constinit const CompatTable pc_compat_8_0 { pc_compat_8_0_props };

constexpr qom::CompatProperty pc_compat_7_2_props[] = {
    { "ICH9-LPC", "noreboot", "true" },
};
constinit const CompatTable pc_compat_7_2 { pc_compat_7_2_props };

constinit const CompatTable pc_compat_7_1 {};

constinit const CompatTable pc_compat_7_0 {};

constexpr qom::CompatProperty pc_compat_6_2_props[] = {
    { "virtio-mem", "unplugged-inaccessible", "off" },
};
constinit const CompatTable pc_compat_6_2 { pc_compat_6_2_props };

constexpr qom::CompatProperty pc_compat_6_1_props[] = {
    { "x86_64-cpu", "hv-version-id-build", "0x1bbc" },
    { "x86_64-cpu", "hv-version-id-major", "0x0006" },
    { "x86_64-cpu", "hv-version-id-minor", "0x0001" },
    { "ICH9-LPC", "x-keep-pci-slot-hpc", "false" },
};
constinit const CompatTable pc_compat_6_1 { pc_compat_6_1_props };

constexpr qom::CompatProperty pc_compat_6_0_props[] = {
    { "qemu64-x86_64-cpu", "family", "6" },
    { "qemu64-x86_64-cpu", "model", "6" },
    { "qemu64-x86_64-cpu", "stepping", "3" },
    { "x86_64-cpu", "x-vendor-cpuid-only", "off" },
    { "ICH9-LPC", "acpi-pci-hotplug-with-bridge-support", "off" },
    { "ICH9-LPC", "x-keep-pci-slot-hpc", "true" },
};
constinit const CompatTable pc_compat_6_0 { pc_compat_6_0_props };

constexpr qom::CompatProperty pc_compat_5_2_props[] = {
    { "ICH9-LPC", "x-smi-cpu-hotunplug", "off" },
};
constinit const CompatTable pc_compat_5_2 { pc_compat_5_2_props };

constexpr qom::CompatProperty pc_compat_5_1_props[] = {
    { "ICH9-LPC", "x-smi-cpu-hotplug", "off" },
    { "x86_64-cpu", "kvm-msi-ext-dest-id", "off" },
};
constinit const CompatTable pc_compat_5_1 { pc_compat_5_1_props };

constinit const CompatTable pc_compat_5_0 {};

constexpr qom::CompatProperty pc_compat_4_2_props[] = {
    { "mch", "smbase-smram", "off" },
};
constinit const CompatTable pc_compat_4_2 { pc_compat_4_2_props };

constinit const CompatTable pc_compat_4_1 {};

constinit const CompatTable pc_compat_4_0 {};

constexpr qom::CompatProperty pc_compat_3_1_props[] = {
    { "intel-iommu", "dma-drain", "off" },
    { "Opteron_G3-x86_64-cpu", "rdtscp", "off" },
    { "Opteron_G4-x86_64-cpu", "rdtscp", "off" },
    { "Opteron_G4-x86_64-cpu", "npt", "off" },
    { "Opteron_G4-x86_64-cpu", "nrip-save", "off" },
    { "Opteron_G5-x86_64-cpu", "rdtscp", "off" },
    { "Opteron_G5-x86_64-cpu", "npt", "off" },
    { "Opteron_G5-x86_64-cpu", "nrip-save", "off" },
    { "EPYC-x86_64-cpu", "npt", "off" },
    { "EPYC-x86_64-cpu", "nrip-save", "off" },
    { "EPYC-IBPB-x86_64-cpu", "npt", "off" },
    { "EPYC-IBPB-x86_64-cpu", "nrip-save", "off" },
    { "Skylake-Client-x86_64-cpu", "mpx", "on" },
    { "Skylake-Client-IBRS-x86_64-cpu", "mpx", "on" },
    { "Skylake-Server-x86_64-cpu", "mpx", "on" },
    { "Skylake-Server-IBRS-x86_64-cpu", "mpx", "on" },
    { "Cascadelake-Server-x86_64-cpu", "mpx", "on" },
    { "Icelake-Client-x86_64-cpu", "mpx", "on" },
    { "Icelake-Server-x86_64-cpu", "mpx", "on" },
    { "Cascadelake-Server-x86_64-cpu", "stepping", "5" },
    { "x86_64-cpu", "x-intel-pt-auto-level", "off" },
};
constinit const CompatTable pc_compat_3_1 { pc_compat_3_1_props };

constexpr qom::CompatProperty pc_compat_3_0_props[] = {
    { "x86_64-cpu", "x-hv-synic-kvm-only", "on" },
    { "Skylake-Server-x86_64-cpu", "pku", "off" },
    { "Skylake-Server-IBRS-x86_64-cpu", "pku", "off" },
};
constinit const CompatTable pc_compat_3_0 { pc_compat_3_0_props };

constexpr qom::CompatProperty pc_compat_2_12_props[] = {
    { "x86_64-cpu", "legacy-cache", "on" },
    { "x86_64-cpu", "topoext", "off" },
    { "EPYC-x86_64-cpu", "xlevel", "0x8000000a" },
    { "EPYC-IBPB-x86_64-cpu", "xlevel", "0x8000000a" },
};
constinit const CompatTable pc_compat_2_12 { pc_compat_2_12_props };

constexpr qom::CompatProperty pc_compat_2_11_props[] = {
    { "x86_64-cpu", "x-migrate-smi-count", "off" },
    { "Skylake-Server-x86_64-cpu", "clflushopt", "off" },
};
constinit const CompatTable pc_compat_2_11 { pc_compat_2_11_props };

constexpr qom::CompatProperty pc_compat_2_10_props[] = {
    { "x86_64-cpu", "x-hv-max-vps", "0x40" },
    { "i440FX-pcihost", "x-pci-hole64-fix", "off" },
    { "q35-pcihost", "x-pci-hole64-fix", "off" },
};
constinit const CompatTable pc_compat_2_10 { pc_compat_2_10_props };

constexpr qom::CompatProperty pc_compat_2_9_props[] = {
    { "mch", "extended-tseg-mbytes", "0" },
};
constinit const CompatTable pc_compat_2_9 { pc_compat_2_9_props };

constexpr qom::CompatProperty pc_compat_2_8_props[] = {
    { "x86_64-cpu", "tcg-cpuid", "off" },
    { "kvmclock", "x-mach-use-reliable-get-clock", "off" },
    { "ICH9-LPC", "x-smi-broadcast", "off" },
    { "x86_64-cpu", "vmware-cpuid-freq", "off" },
    { "Haswell-x86_64-cpu", "stepping", "1" },
};
constinit const CompatTable pc_compat_2_8 { pc_compat_2_8_props };

// pc_compat_2_7 and older were removed upstream on 2026-01-08 together
// with the pc-*-2.7 machines; 2.7 machines are not provided here either.

// Machines up to 10.2 were released when KVM broadcast every EOI of a
// level-triggered vector to the userspace IOAPIC even if the guest asked to
// suppress it (the "quirked" behaviour, KVM_CAP_X2APIC_API without the
// SUPPRESS_EOI_BROADCAST flags).  Keeping that default for them means a
// guest migrated between hosts, or restarted on the same machine type, sees
// the same APIC; only 11.0 and newer let seoib-policy=auto pick respected or
// not-advertised from the IOAPIC version.
constexpr qom::CompatProperty seoib_compat_10_2_props[] = {
    { "kvm-accel", "x-seoib-legacy", "on" },
};
constinit const CompatTable seoib_compat_10_2 { seoib_compat_10_2_props };

} // namespace hw
