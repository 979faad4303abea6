/*
 * seoib-vm's command line: exit status and stderr for good and bad
 * arguments, checked against what QEMU 7.2 prints for the same input
 * (qemu-facts §8, and docs/devel/qemu-measured.rst for the cases measured
 * while building this).
 */
#include "cli-runner.h"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <regex>
#include <string>
#include <vector>

namespace {

/// A split-irqchip q35 on the kernel model: works without /dev/kvm.
const std::vector<std::string> base = { "-nodefaults", "-display", "none",
                                        "-M", "q35", "-accel",
                                        "kvm,kernel=model,kernel-irqchip=split" };

struct CliCase {
    const char *name;
    std::vector<std::string> args;
    bool with_base;
    int status;
    /// A line stderr must contain ("" when stderr must be empty).
    std::string err;
    /// Text stdout must contain, if any.
    std::string out;
};

const CliCase cli_cases[] = {
    // -global ioapic.version (qemu-facts §8)
    { "version_hex", { "-global", "ioapic.version=0x11" }, true, 0, "",
      "version 0x11 (-global ioapic.version=0x11)" },
    { "version_decimal", { "-global", "ioapic.version=17" }, true, 0, "",
      "version 0x11" },
    { "version_octal", { "-global", "ioapic.version=021" }, true, 0, "",
      "version 0x11" },
    { "version_upper_hex", { "-global", "ioapic.version=0X11" }, true, 0, "",
      "version 0x11" },
    { "version_plus", { "-global", "ioapic.version=+17" }, true, 0, "",
      "version 0x11" },
    { "version_0x99", { "-global", "ioapic.version=0x99" }, true, 1,
      "seoib-vm: -global ioapic.version=0x99: IOAPIC only supports version "
      "0x11 or 0x20 (default: 0x20).\n",
      "" },
    { "version_0", { "-global", "ioapic.version=0" }, true, 1,
      "IOAPIC only supports version 0x11 or 0x20 (default: 0x20).", "" },
    { "version_0x21", { "-global", "ioapic.version=0x21" }, true, 1,
      "IOAPIC only supports version 0x11 or 0x20 (default: 0x20).", "" },
    { "version_256", { "-global", "ioapic.version=256" }, true, 1,
      "seoib-vm: can't apply global ioapic.version=256: Parameter 'version' "
      "expects uint8_t\n",
      "" },
    { "version_minus_1", { "-global", "ioapic.version=-1" }, true, 1,
      "can't apply global ioapic.version=-1: Parameter 'version' expects "
      "uint8_t",
      "" },
    { "version_abc", { "-global", "ioapic.version=abc" }, true, 1,
      "seoib-vm: can't apply global ioapic.version=abc: Parameter 'version' "
      "expects uint64\n",
      "" },
    { "version_empty", { "-global", "ioapic.version=" }, true, 1,
      "can't apply global ioapic.version=: Parameter 'version' expects uint64",
      "" },
    { "nonexistent_property", { "-global", "ioapic.nonexistent=1" }, true, 1,
      "seoib-vm: can't apply global ioapic.nonexistent=1: Property "
      "'ioapic.nonexistent' not found\n",
      "" },
    { "unknown_driver", { "-global", "nosuchdevice.x=1" }, true, 0,
      "seoib-vm: warning: global nosuchdevice.x has invalid class name\n", "" },
    { "last_wins", { "-global", "ioapic.version=0x99", "-global",
                     "ioapic.version=0x11" },
      true, 0, "", "version 0x11" },
    { "bad_then_good_still_fails",
      { "-global", "ioapic.version=abc", "-global", "ioapic.version=0x11" },
      true, 1, "Parameter 'version' expects uint64", "" },
    { "on_ioapic_common", { "-global", "ioapic-common.version=0x11" }, true,
      0, "", "version 0x11" },
    { "long_form", { "-global", "driver=ioapic,property=version,value=0x11" },
      true, 0, "", "version 0x11" },
    { "long_form_missing", { "-global", "driver=ioapic,property=version" },
      true, 1,
      "seoib-vm: -global driver=ioapic,property=version: options 'driver', "
      "'property', and 'value' are required\n",
      "" },
    { "long_form_unknown_key",
      { "-global", "driver=ioapic,property=version,value=1,bogus=1" }, true, 1,
      "Invalid parameter 'bogus'", "" },
    { "long_form_comma_escape",
      { "-global", "driver=nosuch,property=p,value=a,,b" }, true, 0,
      "global nosuch.p has invalid class name", "" },
    { "global_no_equals", { "-global", "foo" }, true, 1,
      "seoib-vm: -global foo: Invalid parameter 'foo'\n", "" },
    { "accel_global_is_invalid_class", { "-global", "kvm-accel.seoib-policy=quirked" },
      true, 0, "global kvm-accel.seoib-policy has invalid class name",
      "auto requested" },
    // options
    { "invalid_option", { "-foo" }, false, 1, "seoib-vm: -foo: invalid option\n",
      "" },
    { "stray_argument", { "disk.img" }, false, 1,
      "seoib-vm: disk.img: invalid option\n", "" },
    { "missing_argument", { "-M" }, false, 1,
      "seoib-vm: -M: requires an argument\n", "" },
    { "missing_global_argument", { "-global" }, false, 1,
      "seoib-vm: -global: requires an argument\n", "" },
    { "unsupported_machine", { "-M", "nosuch" }, false, 1,
      "seoib-vm: unsupported machine type\nUse -machine help to list "
      "supported machines\n",
      "" },
    { "invalid_accel", { "-accel", "foo" }, false, 1,
      "seoib-vm: -accel foo: invalid accelerator foo\n", "" },
    { "accel_unknown_property", { "-accel", "kvm,kernel=model,foo=1" }, false,
      1, "-accel kvm,kernel=model,foo=1: Property 'kvm-accel.foo' not found",
      "" },
    { "accel_bad_irqchip", { "-accel", "kvm,kernel=model,kernel-irqchip=bogus" },
      false, 1,
      "Parameter 'kernel-irqchip' does not accept value 'bogus'", "" },
    { "machine_irqchip_is_case_sensitive",
      { "-M", "q35,kernel-irqchip=SPLIT", "-accel", "kvm,kernel=model" }, false,
      1,
      "can't apply global kvm-accel.kernel-irqchip=SPLIT: Parameter "
      "'kernel-irqchip' does not accept value 'SPLIT'",
      "" },
    { "machine_unknown_property", { "-M", "q35,foo=bar", "-accel", "kvm,kernel=model" },
      false, 1, "seoib-vm: Property 'pc-q35-11.0-machine.foo' not found\n", "" },
    { "bad_policy", { "-accel", "kvm,kernel=model,seoib-policy=on" }, false, 1,
      "Parameter 'seoib-policy' does not accept value 'on'", "" },
    { "bad_kernel", { "-accel", "kvm,kernel=model-9.9" }, false, 1,
      "unknown kernel profile 'model-9.9'", "" },
    { "display_gtk", { "-display", "gtk" }, false, 1,
      "seoib-vm: Display 'gtk' is not available.\n", "" },
    { "smp_not_a_number", { "-smp", "abc" }, true, 1,
      "Parameter 'smp.cpus' expects integer", "" },
    { "smp_zero", { "-smp", "0" }, true, 1,
      "CPU topology parameters must be greater than zero", "" },
    { "smp_maxcpus_below_cpus", { "-smp", "2,maxcpus=1" }, true, 1,
      "maxcpus must be equal to or greater than smp", "" },
    { "smp_too_many", { "-M", "pc", "-smp", "300", "-accel", "kvm,kernel=model" },
      false, 1,
      "Invalid SMP CPUs 300. The max CPUs supported by machine "
      "'pc-i440fx-11.0' is 255",
      "" },
    { "smp_unknown_key", { "-smp", "4,bogus=1" }, true, 1,
      "Parameter 'smp.bogus' is unexpected", "" },
    { "smp_dies_threads_wrap_to_zero",
      { "-smp", "dies=65536,threads=65536" },
      true, 1,
      "Invalid SMP CPUs 4294967296. The max CPUs supported by machine "
      "'pc-q35-11.0' is 4096",
      "" },
    { "smp_sockets_dies_wrap_to_zero",
      { "-smp", "sockets=65536,dies=65536" },
      true, 1, "Invalid SMP CPUs 4294967296.", "" },
    { "smp_cores_threads_wrap_to_zero",
      { "-smp", "cores=65536,threads=65536" },
      true, 1, "Invalid SMP CPUs 4294967296.", "" },
    { "smp_sockets_cores_wrap_to_one",
      { "-accel", "kvm,kernel=model", "-smp",
        "sockets=4294967295,cores=4294967295" },
      true, 1, "Invalid SMP CPUs 18446744065119617025.", "" },
    { "smp_sockets_cores_wrap_to_zero",
      { "-smp", "sockets=65536,cores=65536" },
      true, 1, "Invalid SMP CPUs 4294967296.", "" },
    { "smp_negative", { "-smp", "cpus=-1" }, true, 1,
      "CPU topology parameters must be greater than zero", "" },
    { "display_unknown_parameter", { "-display", "none,foo=bar" }, true, 1,
      "seoib-vm: -display none,foo=bar: Parameter 'foo' is unexpected\n", "" },
    { "display_bad_bool", { "-display", "none,full-screen=maybe" }, true, 1,
      "Parameter 'full-screen' expects 'on' or 'off'", "" },
    { "display_window_close_warns", { "-display", "none,window-close=off" },
      true, 0,
      "seoib-vm: window-close is only valid for GTK and SDL, ignoring "
      "option\n",
      "" },
    { "display_gl_on", { "-display", "none,gl=on" }, true, 1,
      "OpenGL is not supported by the display", "" },
    { "trace_unknown_event", { "-trace", "nosuch_event_xyz" }, true, 0,
      "seoib-vm: -trace nosuch_event_xyz: warning: trace event "
      "'nosuch_event_xyz' does not exist\n",
      "" },
    { "trace_bad_key", { "-trace", "foo=bar" }, true, 1,
      "Invalid parameter 'foo'", "" },
    { "device_unknown", { "-device", "nosuch" }, true, 1,
      "'nosuch' is not a valid device model name", "" },
    { "device_not_user_creatable", { "-device", "ioapic" }, true, 1,
      "Parameter 'driver' expects a pluggable device type", "" },
    { "deprecated_machine_warns",
      { "-M", "pc-q35-8.0", "-accel", "kvm,kernel=model" }, false, 0,
      "seoib-vm: warning: Machine type 'pc-q35-8.0' is deprecated: machines "
      "more than 3 years old are subject to deletion after 6 years\n",
      "" },
    // good arguments and listings
    { "machine_help", { "-machine", "help" }, false, 0, "",
      "pc-q35-4.0           Standard PC (Q35 + ICH9, 2009) (deprecated)" },
    { "machine_help_default", { "-M", "help" }, false, 0, "",
      "pc-i440fx-11.0       Standard PC (i440FX + PIIX, 1996) (default)" },
    { "machine_help_alias", { "-M", "?" }, false, 0, "",
      "q35                  Standard PC (Q35 + ICH9, 2009) (alias of pc-q35-11.0)" },
    { "machine_type_help", { "-M", "q35,help" }, false, 0, "",
      "pc-q35-11.0-machine options:" },
    { "accel_help", { "-accel", "help" }, false, 0, "",
      "Accelerators supported in seoib-vm binary:\nkvm\n" },
    { "accel_kvm_help", { "-accel", "kvm,help" }, false, 0, "",
      "  seoib-policy=<SeoibPolicy> - x2APIC Suppress EOI Broadcast" },
    { "device_help", { "-device", "ioapic,help" }, false, 0, "",
      "ioapic options:\n  version=<uint8>        - IOAPIC version: 0x11 (no EOI "
      "register) or 0x20 (default: 32)\n" },
    { "kvm_ioapic_help", { "-device", "kvm-ioapic,help" }, false, 0, "",
      "gsi_base=<uint32>" },
    { "device_help_unknown", { "-device", "nosuch,help" }, false, 1,
      "seoib-vm: -device nosuch,help: Device 'nosuch' not found\n", "" },
    { "trace_help", { "-trace", "help" }, false, 0, "", "kvm_seoib_policy\n" },
    { "version", { "-version" }, false, 0, "",
      "QEMU emulator version 11.0.0 (seoib " },
    { "help", { "-h" }, false, 0, "", "usage: seoib-vm [options]" },
    { "double_dash", { "--version" }, false, 0, "",
      "QEMU emulator version 11.0.0 (seoib " },
    { "stopped", { "-S" }, true, 0, "", "built; stopped (-S)" },
    { "enable_kvm", { "-enable-kvm", "-M", "pc-q35-4.0", "-accel", "kvm,kernel=model" },
      false, 0, "Machine type 'pc-q35-4.0' is deprecated",
      "irqchip:          split (machine default)" },
    // -kernel and its company (QEMU 7.2's texts, measured).
    { "append_without_kernel", { "-append", "x" }, true, 1,
      "seoib-vm: -append only allowed with -kernel option\n", "" },
    { "initrd_without_kernel", { "-initrd", "x" }, true, 1,
      "seoib-vm: -initrd only allowed with -kernel option\n", "" },
    { "kernel_not_found", { "-kernel", "/nonexistent/k.flat" }, true, 1,
      "seoib-vm: could not open kernel file '/nonexistent/k.flat': No such "
      "file or directory\n",
      "" },
    { "kernel_is_a_directory", { "-kernel", "/" }, true, 1,
      "seoib-vm: could not load kernel '/': Is a directory\n", "" },
    { "kernel_that_is_not_multiboot", { "-kernel", SEOIB_VM_PATH }, true, 1,
      "seoib-vm: invalid kernel header: no multiboot header in the first "
      "8192 bytes (seoib-vm boots multiboot v1 kernels only)\n",
      "" },
    { "m_not_a_number", { "-m", "foo" }, true, 1,
      "seoib-vm: -m foo: Parameter 'size' expects a non-negative number "
      "below 2^64\nOptional suffix k, M, G, T, P or E means kilo-, mega-, "
      "giga-, tera-, peta-\nand exabytes, respectively.\n",
      "" },
    { "m_negative", { "-m", "-5" }, true, 1,
      "Parameter 'size' expects a non-negative number below 2^64", "" },
    { "m_unknown_key", { "-m", "1,foo=2" }, true, 1,
      "seoib-vm: -m 1,foo=2: Invalid parameter 'foo'\n", "" },
    { "m_slots_without_maxmem", { "-m", "size=128,slots=2" }, true, 1,
      "seoib-vm: -m size=128,slots=2: slots specified but no max-size\n",
      "" },
    { "m_with_suffix", { "-m", "1.5G" }, true, 0, "", "machine:" },
    { "cpu_unknown_model", { "-cpu", "foo" }, true, 1,
      "seoib-vm: unable to find CPU model 'foo'\n", "" },
    { "cpu_unknown_feature", { "-cpu", "qemu64,+foo" }, true, 1,
      "seoib-vm: can't apply global qemu64-x86_64-cpu.foo=on: Property "
      "'qemu64-x86_64-cpu.foo' not found\n",
      "" },
    { "cpu_bad_value", { "-cpu", "qemu64,x2apic=maybe" }, true, 1,
      "seoib-vm: can't apply global qemu64-x86_64-cpu.x2apic=maybe: "
      "Parameter 'x2apic' expects 'on' or 'off'\n",
      "" },
    // The CPU's CPUID without x2APIC: KVM drops LVR bit 24, and the
    // built-in guest (an x2APIC one) cannot run.
    { "cpu_minus_x2apic", { "-cpu", "qemu64,-x2apic" }, true, 1,
      "the guest needs x2APIC", "LVR 0x00050014" },
    { "serial_unknown_backend", { "-serial", "foo" }, true, 1,
      "seoib-vm: -serial foo: 'foo' is not a valid char driver\n", "" },
    { "serial_file_unopenable", { "-serial", "file:/nonexistent/x" }, true,
      1,
      "seoib-vm: -serial file:/nonexistent/x: Could not open "
      "'/nonexistent/x': No such file or directory\n",
      "" },
    { "chardev_without_id", { "-chardev", "stdio" }, true, 1,
      "seoib-vm: -chardev stdio: chardev: no id specified\n", "" },
    { "chardev_unknown_backend", { "-chardev", "foo,id=c" }, true, 1,
      "seoib-vm: -chardev foo,id=c: 'foo' is not a valid char driver name\n",
      "" },
    { "chardev_file_without_path", { "-chardev", "file,id=c" }, true, 1,
      "seoib-vm: -chardev file,id=c: chardev: file: no filename given\n",
      "" },
    { "chardev_unknown_key", { "-chardev", "null,id=c,bogus=1" }, true, 1,
      "seoib-vm: -chardev null,id=c,bogus=1: Invalid parameter 'bogus'\n",
      "" },
    { "chardev_duplicate_id",
      { "-chardev", "null,id=c", "-chardev", "null,id=c" }, true, 1,
      "seoib-vm: -chardev null,id=c: Duplicate ID 'c' for chardev\n", "" },
    { "serial_unknown_chardev", { "-serial", "chardev:nosuch" }, true, 1,
      "seoib-vm: -serial chardev:nosuch: could not connect serial device to "
      "character backend 'chardev:nosuch'\n",
      "" },
    { "serial_on_a_chardev",
      { "-chardev", "null,id=c", "-serial", "chardev:c" }, true, 0, "",
      "machine:" },
    { "device_help_lists_isa_devices", { "-device", "help" }, false, 0, "",
      "Misc devices:\nname \"isa-debug-exit\", bus ISA\nname \"pc-testdev\", "
      "bus ISA\n" },
    { "device_help_lists_the_uart", { "-device", "help" }, false, 0, "",
      "Input devices:\nname \"isa-serial\", bus ISA\n" },
    { "isa_debug_exit_help", { "-device", "isa-debug-exit,help" }, false, 0,
      "", "  iobase=<uint32>        -  (default: 1281)\n" },
    // What QEMU's launchers pass (QEMUMachine, libvirt's probe).
    { "vga_none", { "-vga", "none" }, true, 0, "", "machine:" },
    { "vga_std_is_not_there", { "-vga", "std" }, true, 1,
      "seoib-vm: unknown vga type: std\n", "" },
    { "no_user_config", { "-no-user-config" }, true, 0, "", "machine:" },
    { "name_and_uuid",
      { "-name", "guest=g1,debug-threads=on", "-uuid",
        "12345678-1234-1234-1234-123456789abc" },
      true, 0, "", "machine:" },
    { "name_bad_debug_threads", { "-name", "debug-threads=maybe" }, true, 1,
      "seoib-vm: -name debug-threads=maybe: Parameter 'debug-threads' "
      "expects 'on' or 'off'\n",
      "" },
    { "name_bad_key", { "-name", "foo,bar=1" }, true, 1,
      "seoib-vm: -name foo,bar=1: Invalid parameter 'bar'\n", "" },
    { "uuid_bad", { "-uuid", "xyz" }, true, 1,
      "seoib-vm: -uuid xyz: failed to parse UUID string: wrong format\n", "" },
    { "pidfile_in_missing_directory", { "-pidfile", "/nonexistent/dir/p" },
      true, 1,
      "seoib-vm: cannot create PID file: Could not create "
      "'/nonexistent/dir/p': No such file or directory\n",
      "" },
    // -chardev socket and -mon, as QEMUMachine passes them (texts
    // measured on 7.2 where QEMU has them).
    { "mon_unknown_chardev", { "-mon", "chardev=nope" }, true, 1,
      "seoib-vm: -mon chardev=nope: chardev \"nope\" not found\n", "" },
    { "mon_without_chardev", { "-mon", "mode=control" }, true, 1,
      "seoib-vm: -mon mode=control: Parameter 'chardev' is missing\n", "" },
    { "mon_bad_mode", { "-chardev", "null,id=m", "-mon", "chardev=m,mode=bogus" },
      true, 1,
      "seoib-vm: -mon chardev=m,mode=bogus: Parameter 'mode' does not accept "
      "value 'bogus'\n",
      "" },
    { "mon_bad_pretty",
      { "-chardev", "null,id=m", "-mon", "chardev=m,mode=control,pretty=maybe" },
      true, 1, "Parameter 'pretty' expects 'on' or 'off'\n", "" },
    { "mon_chardev_after_mon", { "-mon", "m,mode=control", "-chardev", "null,id=m" },
      true, 1,
      "seoib-vm: -mon m,mode=control: a monitor in seoib-vm needs a socket or "
      "stdio chardev, not 'null'\n",
      "" },
    { "mon_readline_is_not_built",
      { "-chardev", "socket,id=m,path=/tmp/x.sock,server=on,wait=off", "-mon", "m" },
      true, 1,
      "seoib-vm: -mon m: the human monitor (mode=readline) is not built in "
      "seoib-vm; use mode=control\n",
      "" },
    { "chardev_socket_without_address", { "-chardev", "socket,id=m" }, true, 1,
      "seoib-vm: -chardev socket,id=m: Unable to parse FD number \n", "" },
    { "chardev_socket_fd_not_a_number", { "-chardev", "socket,id=m,fd=abc" },
      true, 1, "seoib-vm: -chardev socket,id=m,fd=abc: Unable to parse FD number abc\n",
      "" },
    { "chardev_socket_path_and_fd",
      { "-chardev", "socket,id=m,path=/tmp/x.sock,fd=3" }, true, 1,
      "None or one of 'path', 'fd' or 'host' option required.\n", "" },
    { "chardev_socket_fd_not_a_socket",
      { "-chardev", "socket,id=m,fd=99", "-mon", "chardev=m,mode=control" },
      true, 1,
      "seoib-vm: -chardev socket,id=m,fd=99: File descriptor '99' is not a "
      "socket\n",
      "" },
    { "chardev_socket_nobody_listens",
      { "-chardev", "socket,id=m,path=/nonexistent/qmp.sock", "-mon",
        "chardev=m,mode=control" },
      true, 1,
      "seoib-vm: -chardev socket,id=m,path=/nonexistent/qmp.sock: Failed to "
      "connect to '/nonexistent/qmp.sock': No such file or directory\n",
      "" },
    { "serial_on_socket_chardev",
      { "-chardev", "socket,id=s,path=/tmp/x.sock,server=on,wait=off", "-serial",
        "chardev:s" },
      true, 1,
      "seoib-vm: -serial chardev:s: a COM port in seoib-vm needs a stdio, null or file chardev, not "
      "'socket'\n",
      "" },
    // libvirt's probe: -nographic, -overcommit, -daemonize's refusals.
    { "nographic", { "-nographic" }, true, 0, "", "machine:" },
    { "no_shutdown", { "-no-shutdown" }, true, 0, "", "machine:" },
    { "msg_bad_value", { "-msg", "timestamp=maybe" }, true, 1,
      "seoib-vm: -msg timestamp=maybe: Parameter 'timestamp' expects 'on' or "
      "'off'\n",
      "" },
    { "msg_bad_key", { "-msg", "colour=on" }, true, 1,
      "seoib-vm: -msg colour=on: Invalid parameter 'colour'\n", "" },
    { "overcommit_off", { "-overcommit", "mem-lock=off,cpu-pm=off" }, true, 0,
      "", "machine:" },
    { "overcommit_bad_key", { "-overcommit", "foo=on" }, true, 1,
      "seoib-vm: -overcommit foo=on: Invalid parameter 'foo'\n", "" },
    { "overcommit_bad_value", { "-overcommit", "mem-lock=maybe" }, true, 1,
      "seoib-vm: -overcommit mem-lock=maybe: Parameter 'mem-lock' expects "
      "'on' or 'off'\n",
      "" },
    { "overcommit_cpu_pm_on", { "-overcommit", "cpu-pm=on" }, true, 1,
      "seoib-vm: -overcommit cpu-pm=on: cpu-pm=on is not supported by "
      "seoib-vm\n",
      "" },
    { "daemonize_with_qmp_stdio", { "-daemonize", "-qmp", "stdio" }, true, 1,
      "seoib-vm: -qmp stdio: cannot use stdio with -daemonize\n", "" },
    { "daemonize_with_serial_stdio", { "-daemonize", "-serial", "stdio" }, true,
      1, "seoib-vm: -serial stdio: cannot use stdio with -daemonize\n", "" },
    // -machine accel=A:B: the first that initialises wins; tcg is not
    // built in, as in a QEMU built without it (texts measured on 7.2).
    { "machine_accel_tcg_only", { "-M", "q35,accel=tcg" }, false, 1,
      "seoib-vm: invalid accelerator tcg\n", "" },
    { "machine_accel_none_known", { "-M", "q35,accel=foo:bar" }, false, 1,
      "seoib-vm: invalid accelerator foo\nseoib-vm: invalid accelerator "
      "bar\n",
      "" },
    { "machine_accel_with_accel", { "-M", "q35,accel=kvm" }, true, 1,
      "seoib-vm: The -accel and \"-machine accel=\" options are "
      "incompatible\n",
      "" },
    { "accel_irqchip_beats_machine",
      { "-M", "q35,kernel-irqchip=on", "-accel",
        "kvm,kernel=model,kernel-irqchip=split" },
      false, 0, "", "irqchip:          split\n" },
};

void PrintTo(const CliCase &c, std::ostream *os)
{
    *os << c.name;
}

class SeoibVmCli : public ::testing::TestWithParam<CliCase> { };

TEST_P(SeoibVmCli, StatusAndMessagesAsQemu)
{
    const CliCase &c = GetParam();
    std::vector<std::string> args;
    if (c.with_base) {
        args = base;
    }
    args.insert(args.end(), c.args.begin(), c.args.end());
    cli_test::Run run = cli_test::run_seoib_vm(args);
    EXPECT_EQ(run.status, c.status) << run.err;
    if (c.err.empty()) {
        EXPECT_EQ(run.err, "");
    } else {
        EXPECT_NE(run.err.find(c.err), std::string::npos) << run.err;
        // One message, said once.
        EXPECT_EQ(cli_test::count(run.err, c.err), 1U) << run.err;
    }
    if (!c.out.empty()) {
        EXPECT_NE(run.out.find(c.out), std::string::npos) << run.out;
    }
}

INSTANTIATE_TEST_SUITE_P(Table, SeoibVmCli, ::testing::ValuesIn(cli_cases),
                         [](const auto &info) { return info.param.name; });

// -machine accel=kvm:tcg as libvirt's probe passes it, and tcg first: kvm
// wins either way (on the host, or the model where /dev/kvm is missing,
// which says so on stderr; hence not in the table).
TEST(SeoibVmCli, MachineAccelListFallsBackToKvm)
{
    for (const char *list : { "kvm:tcg", "tcg:kvm" }) {
        cli_test::Run run = cli_test::run_seoib_vm(
            { "-nodefaults", "-display", "none", "-M",
              std::string("q35,kernel-irqchip=split,accel=") + list });
        EXPECT_EQ(run.status, 0) << list << ": " << run.err;
        EXPECT_NE(run.out.find("irqchip:          split\n"), std::string::npos)
            << run.out;
        const std::string fallback =
            "seoib-vm: invalid accelerator tcg\nseoib-vm: falling back to "
            "KVM\n";
        EXPECT_EQ(run.err.find(fallback) != std::string::npos,
                  std::string(list) == "tcg:kvm")
            << list << ": " << run.err;
        if (!cli_test::kvm_unavailable()) {
            EXPECT_EQ(run.err, std::string(list) == "tcg:kvm" ? fallback : "");
        }
    }
}

// -msg timestamp=on (libvirt passes it for every domain): the UTC time as
// QEMU 7.2 prints it in front of every message, errors in later options
// and warnings of the build included; guest-name=on adds the -name.
TEST(SeoibVmCli, MsgTimestampStampsEveryMessage)
{
    const std::string stamp = R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z )";
    cli_test::Run error = cli_test::run_seoib_vm(
        { "-msg", "timestamp=on", "-mon", "chardev=zz" });
    EXPECT_EQ(error.status, 1);
    EXPECT_TRUE(std::regex_match(
        error.err, std::regex(stamp + "seoib-vm: -mon chardev=zz: chardev \"zz\" not found\n")))
        << error.err;

    std::vector<std::string> args = base;
    for (const char *a : { "-msg", "timestamp=on,guest-name=on", "-name", "g1",
                           "-global", "foo.bar=1" }) {
        args.emplace_back(a);
    }
    cli_test::Run warning = cli_test::run_seoib_vm(args);
    EXPECT_EQ(warning.status, 0) << warning.err;
    EXPECT_TRUE(std::regex_match(
        warning.err,
        std::regex(stamp + "g1 seoib-vm: warning: global foo.bar has invalid class name\n")))
        << warning.err;
}

// -pidfile as libvirt's probe uses it: the file holds the running
// process's pid while it runs (stopped under -S with a monitor), another
// instance with the same file is refused, and the file is gone once
// SIGTERM ended the run.
TEST(SeoibVmCli, PidFileHoldsThePidWhileRunningAndGoesOnExit)
{
    char dir_template[] = "/tmp/seoib-pidfile-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    std::string dir = dir_template;
    std::string pidfile = dir + "/vm.pid";
    std::string sock = dir + "/qmp.sock";
    std::vector<std::string> args = base;
    for (const char *a : { "-S", "-qmp" }) {
        args.emplace_back(a);
    }
    args.push_back("unix:" + sock + ",server=on,wait=off");
    args.push_back("-pidfile");
    args.push_back(pidfile);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        std::vector<char *> argv { const_cast<char *>(SEOIB_VM_PATH) };
        for (std::string &a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        execv(SEOIB_VM_PATH, argv.data());
        _exit(127);
    }
    std::string content;
    for (int i = 0; i < 200 && content.empty(); i++) {
        std::ifstream in(pidfile);
        std::getline(in, content);
        if (content.empty()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
    }
    EXPECT_EQ(content, std::to_string(child));

    std::vector<std::string> second = args;
    second[second.size() - 3] = "unix:" + dir + "/qmp2.sock,server=on,wait=off";
    cli_test::Run run = cli_test::run_seoib_vm(second);
    EXPECT_EQ(run.status, 1);
    EXPECT_NE(run.err.find("Cannot lock pid file"), std::string::npos)
        << run.err;
    // The refused instance left the running one's file alone.
    std::ifstream again(pidfile);
    std::string still;
    std::getline(again, still);
    EXPECT_EQ(still, std::to_string(child));

    kill(child, SIGTERM);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status)) << status;
    EXPECT_NE(access(pidfile.c_str(), F_OK), 0) << "pid file left behind";
    unlink(sock.c_str());
    rmdir(dir.c_str());
}

// A good image on the kernel model: refused after the image was checked,
// before anything runs.
TEST(SeoibVmCli, KernelNeedsTheHostsKvm)
{
    const std::string dummy =
        SEOIB_SOURCE_ROOT "/../shared/kvm-unit-tests/dummy.flat";
    if (!std::ifstream(dummy)) {
        GTEST_SKIP() << "no kvm-unit-tests image " << dummy;
    }
    std::vector<std::string> args = base;
    args.insert(args.end(), { "-kernel", dummy });

    cli_test::Run run = cli_test::run_seoib_vm(args);

    EXPECT_EQ(run.status, 1);
    EXPECT_EQ(run.err, "seoib-vm: -kernel needs the host's KVM (kernel=host): "
                       "the kernel model runs only the built-in payloads\n");
}

TEST(SeoibVmCli, UnmodelledCompatEntriesAreReportedNotDropped)
{
    cli_test::Run run = cli_test::run_seoib_vm(
        { "-M", "pc-q35-10.2", "-accel", "kvm,kernel=model,kernel-irqchip=split",
          "-trace", "machine_compat_unmodelled" });
    ASSERT_EQ(run.status, 0) << run.err;
    EXPECT_NE(run.err.find("pc-q35-10.2: hw_compat_10_2: scsi-block.migrate-pr=off "
                           "kept, not applied"),
              std::string::npos)
        << run.err;
    // Entries on modelled types apply and are not reported.
    EXPECT_EQ(run.err.find("x-seoib-legacy"), std::string::npos) << run.err;
    EXPECT_NE(run.out.find("quirked in effect"), std::string::npos);
}

TEST(SeoibVmCli, ErrorIsOneLineExceptQemusTwoLineMachineHint)
{
    cli_test::Run run = cli_test::run_seoib_vm({ "-foo", "-bar" });
    EXPECT_EQ(run.status, 1);
    EXPECT_EQ(cli_test::count(run.err, "\n"), 1U);
}

TEST(SeoibVmCli, TracePatternPrintsMatchingEventsInQemusLogFormat)
{
    std::vector<std::string> args = base;
    args.insert(args.end(), { "-trace", "kvm_seoib_*" });
    cli_test::Run run = cli_test::run_seoib_vm(args);
    ASSERT_EQ(run.status, 0) << run.err;
    EXPECT_NE(run.err.find(":kvm_seoib_policy seoib-policy auto, effective "
                           "respected, x2APIC API flags 0x4"),
              std::string::npos)
        << run.err;
    EXPECT_EQ(run.err.find("kvm_vcpu_lvr"), std::string::npos);
}

} // namespace
