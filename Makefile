# A thin wrapper, as QEMU's: the build is meson's.
#   make run    install what is missing, build, run seoib-vm's main job
#   make check  install what is missing, build, run every test suite
BUILD ?= build
MESON_SETUP_OPTS ?= -Dwerror=true -Dbuildtype=debugoptimized

.PHONY: all deps setup build run check bench clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_SETUP_OPTS)

setup: deps $(BUILD)/build.ninja

build: setup
	ninja -C $(BUILD)

# The main job: build a q35 machine with split irqchip on this machine's KVM
# (the kernel model where /dev/kvm is missing) and report what the guest sees.
run: build
	$(BUILD)/system/seoib-vm -machine help | head -n 8
	$(BUILD)/system/seoib-vm -nodefaults -display none -M q35 \
		-accel kvm,kernel-irqchip=split
	$(BUILD)/system/seoib-vm -nodefaults -display none -M q35 \
		-accel kvm,kernel-irqchip=split -global ioapic.version=0x11

check: build
	meson test -C $(BUILD) --print-errorlogs --num-processes 2
	@python3 scripts/test-summary.py $(BUILD)

bench: build
	meson test -C $(BUILD) --benchmark --verbose

clean:
	rm -rf $(BUILD)
