#include "hw/core/machine-compat.h"

// One array per version, one entry per line, in QEMU's order: reviewing a
// change against upstream's hw/core/machine.c is a line-by-line diff.
// Every table is constinit, so no constructor runs before main() and the
// library can be linked statically into another program.

// hw_compat_2_7 and older were removed upstream on 2026-01-08 together with
// the 2.7 machines, and are not carried here.  hw_compat_2_7 held the only
// ioapic.version=0x11 entry, so no machine provided here gets the 0x11
// IOAPIC from its compat list: that takes -global ioapic.version=0x11.

namespace hw {

using CompatTable = std::span<const qom::CompatProperty>;

constexpr qom::CompatProperty hw_compat_10_2_props[] = {
    { "scsi-block", "migrate-pr", "off" },
};
constinit const CompatTable hw_compat_10_2 { hw_compat_10_2_props };

constexpr qom::CompatProperty hw_compat_10_1_props[] = {
    { "acpi-ged", "x-has-hest-addr", "false" },
    { "virtio-net-device", "host_tunnel", "off" },
    { "virtio-net-device", "host_tunnel_csum", "off" },
    { "virtio-net-device", "guest_tunnel", "off" },
    { "virtio-net-device", "guest_tunnel_csum", "off" },
};
constinit const CompatTable hw_compat_10_1 { hw_compat_10_1_props };

constexpr qom::CompatProperty hw_compat_10_0_props[] = {
    { "scsi-hd", "dpofua", "off" },
    { "vfio-pci", "x-migration-load-config-after-iter", "off" },
    { "ramfb", "use-legacy-x86-rom", "true" },
    { "vfio-pci-nohotplug", "use-legacy-x86-rom", "true" },
};
constinit const CompatTable hw_compat_10_0 { hw_compat_10_0_props };

constexpr qom::CompatProperty hw_compat_9_2_props[] = {
    { "arm-cpu", "backcompat-pauth-default-use-qarma5", "true" },
    { "virtio-balloon-pci", "vectors", "0" },
    { "virtio-balloon-pci-transitional", "vectors", "0" },
    { "virtio-balloon-pci-non-transitional", "vectors", "0" },
    { "virtio-mem-pci", "vectors", "0" },
    { "migration", "multifd-clean-tls-termination", "false" },
    { "migration", "send-switchover-start", "off" },
    { "vfio-pci", "x-migration-multifd-transfer", "off" },
};
constinit const CompatTable hw_compat_9_2 { hw_compat_9_2_props };

constexpr qom::CompatProperty hw_compat_9_1_props[] = {
    { "pci-device", "x-pcie-ext-tag", "false" },
};
constinit const CompatTable hw_compat_9_1 { hw_compat_9_1_props };

constexpr qom::CompatProperty hw_compat_9_0_props[] = {
    { "arm-cpu", "backcompat-cntfrq", "true" },
    { "scsi-hd", "migrate-emulated-scsi-request", "false" },
    { "scsi-cd", "migrate-emulated-scsi-request", "false" },
    { "vfio-pci", "skip-vsc-check", "false" },
    { "virtio-pci", "x-pcie-pm-no-soft-reset", "off" },
    { "sd-card", "spec_version", "2" },
};
constinit const CompatTable hw_compat_9_0 { hw_compat_9_0_props };

constexpr qom::CompatProperty hw_compat_8_2_props[] = {
    { "migration", "zero-page-detection", "legacy" },
    { "virtio-iommu-pci", "granule", "4k" },
    { "virtio-iommu-pci", "aw-bits", "64" },
    { "virtio-gpu-device", "x-scanout-vmstate-version", "1" },
};
constinit const CompatTable hw_compat_8_2 { hw_compat_8_2_props };

constexpr qom::CompatProperty hw_compat_8_1_props[] = {
    { "base-pci-bridge", "x-pci-express-writeable-slt-bug", "true" },
    { "ramfb", "x-migrate", "off" },
    { "vfio-pci-nohotplug", "x-ramfb-migrate", "off" },
    { "igb", "x-pcie-flr-init", "off" },
    { "virtio-net-device", "host_uso", "off" },
    { "virtio-net-device", "guest_uso4", "off" },
    { "virtio-net-device", "guest_uso6", "off" },
};
constinit const CompatTable hw_compat_8_1 { hw_compat_8_1_props };

constexpr qom::CompatProperty hw_compat_8_0_props[] = {
    { "migration", "multifd-flush-after-each-section", "on" },
    { "pci-device", "x-pcie-ari-nextfn-1", "on" },
};
constinit const CompatTable hw_compat_8_0 { hw_compat_8_0_props };

constexpr qom::CompatProperty hw_compat_7_2_props[] = {
    { "e1000e", "migrate-timadj", "off" },
    { "virtio-mem", "x-early-migration", "false" },
    { "migration", "x-preempt-pre-7-2", "true" },
    { "pci-device", "x-pcie-err-unc-mask", "off" },
};
constinit const CompatTable hw_compat_7_2 { hw_compat_7_2_props };

constexpr qom::CompatProperty hw_compat_7_1_props[] = {
    { "virtio-device", "queue_reset", "false" },
    { "virtio-rng-pci", "vectors", "0" },
    { "virtio-rng-pci-transitional", "vectors", "0" },
    { "virtio-rng-pci-non-transitional", "vectors", "0" },
};
constinit const CompatTable hw_compat_7_1 { hw_compat_7_1_props };

constexpr qom::CompatProperty hw_compat_7_0_props[] = {
    { "arm-gicv3-common", "force-8-bit-prio", "on" },
    { "nvme-ns", "eui64-default", "on" },
};
constinit const CompatTable hw_compat_7_0 { hw_compat_7_0_props };

constexpr qom::CompatProperty hw_compat_6_2_props[] = {
    { "PIIX4_PM", "x-not-migrate-acpi-index", "on" },
};
constinit const CompatTable hw_compat_6_2 { hw_compat_6_2_props };

constexpr qom::CompatProperty hw_compat_6_1_props[] = {
    { "vhost-user-vsock-device", "seqpacket", "off" },
    { "nvme-ns", "shared", "off" },
};
constinit const CompatTable hw_compat_6_1 { hw_compat_6_1_props };

constexpr qom::CompatProperty hw_compat_6_0_props[] = {
    { "gpex-pcihost", "allow-unmapped-accesses", "false" },
    { "i8042", "extended-state", "false" },
    { "nvme-ns", "eui64-default", "off" },
    { "e1000", "init-vet", "off" },
    { "e1000e", "init-vet", "off" },
    { "vhost-vsock-device", "seqpacket", "off" },
};
constinit const CompatTable hw_compat_6_0 { hw_compat_6_0_props };

constexpr qom::CompatProperty hw_compat_5_2_props[] = {
    { "ICH9-LPC", "smm-compat", "on" },
    { "PIIX4_PM", "smm-compat", "on" },
    { "virtio-blk-device", "report-discard-granularity", "off" },
    { "virtio-net-pci-base", "vectors", "3" },
    { "nvme", "msix-exclusive-bar", "on" },
};
constinit const CompatTable hw_compat_5_2 { hw_compat_5_2_props };

constexpr qom::CompatProperty hw_compat_5_1_props[] = {
    { "vhost-scsi", "num_queues", "1" },
    { "vhost-user-blk", "num-queues", "1" },
    { "vhost-user-scsi", "num_queues", "1" },
    { "virtio-blk-device", "num-queues", "1" },
    { "virtio-scsi-device", "num_queues", "1" },
    { "nvme", "use-intel-id", "on" },
    { "pvpanic", "events", "1" },
    { "pl011", "migrate-clk", "off" },
    { "virtio-pci", "x-ats-page-aligned", "off" },
};
constinit const CompatTable hw_compat_5_1 { hw_compat_5_1_props };

constexpr qom::CompatProperty hw_compat_5_0_props[] = {
    { "pci-host-bridge", "x-config-reg-migration-enabled", "off" },
    { "virtio-balloon-device", "page-poison", "false" },
    { "vmport", "x-read-set-eax", "off" },
    { "vmport", "x-signal-unsupported-cmd", "off" },
    { "vmport", "x-report-vmx-type", "off" },
    { "vmport", "x-cmds-v2", "off" },
    { "virtio-device", "x-disable-legacy-check", "true" },
};
constinit const CompatTable hw_compat_5_0 { hw_compat_5_0_props };

constexpr qom::CompatProperty hw_compat_4_2_props[] = {
    { "virtio-blk-device", "queue-size", "128" },
    { "virtio-scsi-device", "virtqueue_size", "128" },
    { "virtio-blk-device", "x-enable-wce-if-config-wce", "off" },
    { "virtio-blk-device", "seg-max-adjust", "off" },
    { "virtio-scsi-device", "seg_max_adjust", "off" },
    { "vhost-blk-device", "seg_max_adjust", "off" },
    { "usb-host", "suppress-remote-wake", "off" },
    { "usb-redir", "suppress-remote-wake", "off" },
    { "qxl", "revision", "4" },
    { "qxl-vga", "revision", "4" },
    { "fw_cfg", "acpi-mr-restore", "false" },
    { "virtio-device", "use-disabled-flag", "false" },
};
constinit const CompatTable hw_compat_4_2 { hw_compat_4_2_props };

constexpr qom::CompatProperty hw_compat_4_1_props[] = {
    { "virtio-pci", "x-pcie-flr-init", "off" },
};
constinit const CompatTable hw_compat_4_1 { hw_compat_4_1_props };

constexpr qom::CompatProperty hw_compat_4_0_props[] = {
    { "VGA", "edid", "false" },
    { "secondary-vga", "edid", "false" },
    { "bochs-display", "edid", "false" },
    { "virtio-vga", "edid", "false" },
    { "virtio-gpu-device", "edid", "false" },
    { "virtio-device", "use-started", "false" },
    { "virtio-balloon-device", "qemu-4-0-config-size", "true" },
    { "pl031", "migrate-tick-offset", "false" },
};
constinit const CompatTable hw_compat_4_0 { hw_compat_4_0_props };

constexpr qom::CompatProperty hw_compat_3_1_props[] = {
    { "pcie-root-port", "x-speed", "2_5" },
    { "pcie-root-port", "x-width", "1" },
    { "memory-backend-file", "x-use-canonical-path-for-ramblock-id", "true" },
    { "memory-backend-memfd", "x-use-canonical-path-for-ramblock-id", "true" },
    { "tpm-crb", "ppi", "false" },
    { "tpm-tis", "ppi", "false" },
    { "usb-kbd", "serial", "42" },
    { "usb-mouse", "serial", "42" },
    { "usb-tablet", "serial", "42" },
    { "virtio-blk-device", "discard", "false" },
    { "virtio-blk-device", "write-zeroes", "false" },
    { "virtio-balloon-device", "qemu-4-0-config-size", "false" },
    { "pcie-root-port-base", "disable-acs", "true" },
};
constinit const CompatTable hw_compat_3_1 { hw_compat_3_1_props };

constinit const CompatTable hw_compat_3_0 {};

constexpr qom::CompatProperty hw_compat_2_12_props[] = {
    { "hda-audio", "use-timer", "false" },
    { "cirrus-vga", "global-vmstate", "true" },
    { "VGA", "global-vmstate", "true" },
    { "vmware-svga", "global-vmstate", "true" },
    { "qxl-vga", "global-vmstate", "true" },
};
constinit const CompatTable hw_compat_2_12 { hw_compat_2_12_props };

constexpr qom::CompatProperty hw_compat_2_11_props[] = {
    { "hpet", "hpet-offset-saved", "false" },
    { "virtio-blk-pci", "vectors", "2" },
    { "vhost-user-blk-pci", "vectors", "2" },
    { "e1000", "migrate_tso_props", "off" },
};
constinit const CompatTable hw_compat_2_11 { hw_compat_2_11_props };

constexpr qom::CompatProperty hw_compat_2_10_props[] = {
    { "virtio-mouse-device", "wheel-axis", "false" },
    { "virtio-tablet-device", "wheel-axis", "false" },
};
constinit const CompatTable hw_compat_2_10 { hw_compat_2_10_props };

constexpr qom::CompatProperty hw_compat_2_9_props[] = {
    { "pci-bridge", "shpc", "off" },
    { "intel-iommu", "pt", "off" },
    { "virtio-net-device", "x-mtu-bypass-backend", "off" },
    { "pcie-root-port", "x-migrate-msix", "false" },
};
constinit const CompatTable hw_compat_2_9 { hw_compat_2_9_props };

constexpr qom::CompatProperty hw_compat_2_8_props[] = {
    { "fw_cfg_mem", "x-file-slots", "0x10" },
    { "fw_cfg_io", "x-file-slots", "0x10" },
    { "pflash_cfi01", "old-multiple-chip-handling", "on" },
    { "pci-bridge", "shpc", "on" },
    { "pci-device", "x-pcie-extcap-init", "off" },
    { "virtio-pci", "x-pcie-deverr-init", "off" },
    { "virtio-pci", "x-pcie-lnkctl-init", "off" },
    { "virtio-pci", "x-pcie-pm-init", "off" },
    { "cirrus-vga", "vgamem_mb", "8" },
    { "isa-cirrus-vga", "vgamem_mb", "8" },
};
constinit const CompatTable hw_compat_2_8 { hw_compat_2_8_props };

} // namespace hw
