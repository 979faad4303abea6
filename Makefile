# A thin wrapper, as QEMU's: the build is meson's.
#   make run    install what is missing, build, run seoib-vm's main job
#   make check  install what is missing, build, run every test suite and the
#               QEMU fork check (contrib/qemu: Debian's QEMU 7.2 patched, ~3 min)
BUILD ?= build
MESON_SETUP_OPTS ?= -Dwerror=true -Dbuildtype=debugoptimized

.PHONY: all deps setup build run check check-qemu-fork bench clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_SETUP_OPTS)

setup: deps $(BUILD)/build.ninja

build: setup
	ninja -C $(BUILD)

# The main job, on this machine's KVM (the kernel model where /dev/kvm is
# missing): q35 with split irqchip, as seoib resolves seoib-policy=auto --
# respected with the 0x20 IOAPIC, not advertised with a 0x11 one -- and the
# 10.2 machine type, which keeps KVM's legacy behaviour and so storms.
VM = $(BUILD)/system/seoib-vm -nodefaults -display none
run: build
	$(VM) -machine help | head -n 8
	@echo; echo "== q35 (pc-q35-11.0), split irqchip, IOAPIC 0x20"
	$(VM) -M q35 -accel kvm,kernel-irqchip=split
	@echo; echo "== q35, split irqchip, -global ioapic.version=0x11"
	$(VM) -M q35 -accel kvm,kernel-irqchip=split -global ioapic.version=0x11
	@echo; echo "== pc-q35-10.2: legacy machine type, KVM's quirked behaviour"
	$(VM) -M pc-q35-10.2 -accel kvm,kernel-irqchip=split

check: build
	meson test -C $(BUILD) --print-errorlogs --num-processes 2
	@python3 scripts/test-summary.py $(BUILD)
	$(MAKE) --no-print-directory check-qemu-fork

# contrib/qemu: Debian's QEMU 7.2 patched to call libseoib, built and run on
# /dev/kvm next to Debian's own QEMU and seoib-vm (docs/interop/qemu-fork.rst).
QEMU_FORK_WORK ?= $(BUILD)/qemu-fork
check-qemu-fork: build
	python3 tests/qemu-fork/qemu-fork-test.py --seoib-build $(BUILD) --work $(QEMU_FORK_WORK)

bench: build
	meson test -C $(BUILD) --benchmark --verbose

clean:
	rm -rf $(BUILD)
