#!/usr/bin/env python3
"""The QEMU fork of contrib/qemu on this machine's /dev/kvm.

Builds the fork (contrib/qemu/build-qemu-fork.sh), then boots the storm
guest (hw/i386/guest/multiboot, a multiboot image) under it, under Debian's
unpatched qemu-system-x86_64 and under seoib-vm, and checks:

- with -M q35,kernel-irqchip=split -global ioapic.version=0x11 the fork's
  guest reads LVR bit 24 clear and does not storm; Debian's reads it set;
- with the 0x20 IOAPIC the fork honours directed EOI (no storm) where
  Debian's QEMU storms;
- the released machine type pc-q35-7.2 keeps KVM's quirked behaviour in
  the fork (its guest ABI is unchanged);
- every -accel kvm,seoib-policy=... (and every refused combination) gives
  the guest the same LVR bit and result, or the same error, as seoib-vm.

Exit status 0 when every check passed or the fork cannot be built here
(printed as SKIP with the reason), 1 when a check failed.
"""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
BUILD_SCRIPT = os.path.join(SRC, 'contrib', 'qemu', 'build-qemu-fork.sh')
SKIP = 77

# What the guest's exit status says (isa-debug-exit: (value << 1) | 1).
RESULT_OF_STATUS = {1: 'no-storm', 3: 'storm', 5: 'timeout'}
LVR_RE = re.compile(r'^storm-mb: lvr (0x[0-9a-fA-F]+)', re.M)
RESULT_RE = re.compile(r'^storm-mb: result (\S+)', re.M)
GUEST_DEVICES = ['-device', 'pc-testdev',
                 '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x4']


class Run:
    """One guest run: its exit status, LVR bit 24, result or error."""

    def __init__(self, args, proc):
        self.args = args
        self.status = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        lvr = LVR_RE.search(self.out)
        result = RESULT_RE.search(self.out)
        self.lvr = int(lvr.group(1), 16) if lvr else None
        self.result = result.group(1) if result else None

    @property
    def bit24(self):
        return None if self.lvr is None else bool(self.lvr & (1 << 24))

    @property
    def error(self):
        """The error message without the program's name."""
        lines = [l for l in self.err.splitlines()
                 if l and 'warning:' not in l]
        if self.lvr is not None or not lines:
            return None
        return lines[-1].split(': ', 1)[-1]

    def outcome(self):
        if self.error is not None:
            return ('error', self.error)
        return ('bit24 ' + ('set' if self.bit24 else 'clear'), self.result)

    def describe(self):
        return '%s -> status %s, %s\n  stdout: %s\n  stderr: %s' % (
            ' '.join(self.args), self.status, self.outcome(),
            self.out.strip().replace('\n', '\n          '),
            self.err.strip().replace('\n', '\n          '))


def run_qemu(binary, machine, image, accel_opts='', globals_=(),
             irqchip='split'):
    args = [binary, '-M', machine, '-accel',
            'kvm,kernel-irqchip=' + irqchip + accel_opts,
            '-nodefaults', '-display', 'none', '-serial', 'stdio',
            *GUEST_DEVICES, '-kernel', image, '-append', 'events=16']
    for g in globals_:
        args += ['-global', g]
    return Run(args, subprocess.run(args, capture_output=True, text=True,
                                    timeout=60, stdin=subprocess.DEVNULL))


def run_seoib_vm(binary, image, accel_opts='', globals_=(), irqchip='split'):
    # seoib-vm's q35 is pc-q35-11.0: the machine type whose auto the fork's
    # pc-q35-7.2-seoib reproduces.
    return run_qemu(binary, 'q35', image, accel_opts, globals_, irqchip)


class Checks:
    def __init__(self):
        self.failures = 0
        self.passed = 0

    def expect(self, ok, what, *runs):
        if ok:
            self.passed += 1
            print('ok    ' + what)
            return
        self.failures += 1
        print('FAIL  ' + what)
        for r in runs:
            print('  ' + r.describe())


def build_fork(seoib_build, work):
    proc = subprocess.run(['sh', BUILD_SCRIPT, seoib_build, work],
                          stdout=subprocess.PIPE, text=True)
    if proc.returncode == SKIP:
        return None
    if proc.returncode != 0:
        print(proc.stdout, end='')
        sys.exit('FAIL: building the QEMU fork (see above)')
    print(proc.stdout, end='')
    return proc.stdout.strip().splitlines()[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--seoib-build', default='build')
    ap.add_argument('--work', default=None)
    ap.add_argument('--fork', help='an already built fork binary')
    ap.add_argument('--storm-mb', default=None)
    ap.add_argument('--debian-qemu', default='/usr/bin/qemu-system-x86_64')
    opts = ap.parse_args()

    build = os.path.abspath(opts.seoib_build)
    seoib_vm = os.path.join(build, 'system', 'seoib-vm')
    image = opts.storm_mb or os.path.join(
        build, 'hw', 'i386', 'guest', 'multiboot', 'storm-mb.elf')
    work = os.path.abspath(opts.work or os.path.join(build, 'qemu-fork'))
    if not os.access('/dev/kvm', os.R_OK | os.W_OK):
        print('SKIP: /dev/kvm is not usable here')
        return 0
    for path, what in ((seoib_vm, 'seoib-vm'), (image, 'the storm guest')):
        if not os.path.exists(path):
            sys.exit('FAIL: %s not built: %s' % (what, path))
    debian = opts.debian_qemu if os.path.exists(opts.debian_qemu) else None

    fork = opts.fork or build_fork(build, work)
    if fork is None:
        print('SKIP: the QEMU fork cannot be built here (reason above)')
        return 0

    c = Checks()
    listing = subprocess.run([fork, '-machine', 'help'], capture_output=True,
                             text=True).stdout
    c.expect(re.search(r'^q35 .*alias of pc-q35-7\.2-seoib\)', listing, re.M)
             and re.search(r'^pc-q35-7\.2 ', listing, re.M),
             'fork: q35 is pc-q35-7.2-seoib, pc-q35-7.2 is still there')

    v11 = ['ioapic.version=0x11']
    fixed = run_qemu(fork, 'q35', image, globals_=v11)
    c.expect(fixed.bit24 is False and fixed.result == 'no-storm' and
             fixed.status == 1,
             'fork, q35, IOAPIC 0x11: LVR bit 24 clear, no storm', fixed)
    honoured = run_qemu(fork, 'q35', image)
    c.expect(honoured.bit24 is True and honoured.result == 'no-storm' and
             honoured.status == 1,
             'fork, q35, IOAPIC 0x20: bit 24 set, directed EOI honoured',
             honoured)
    released = run_qemu(fork, 'pc-q35-7.2', image)
    c.expect(released.bit24 is True and released.result == 'storm',
             'fork, pc-q35-7.2: quirked as before (guest ABI kept)', released)
    if debian:
        for g, what in ((v11, 'IOAPIC 0x11'), ((), 'IOAPIC 0x20')):
            d = run_qemu(debian, 'q35', image, globals_=g)
            c.expect(d.bit24 is True and d.result == 'storm' and
                     d.status == 3,
                     'Debian QEMU 7.2, q35, %s: bit 24 set, storm' % what, d)
    else:
        print('skip  Debian QEMU: %s not installed' % opts.debian_qemu)

    # The fork and seoib-vm decide alike, errors included.
    for policy in (None, 'auto', 'quirked', 'respected', 'not-advertised',
                   'bogus'):
        accel = ',seoib-policy=' + policy if policy else ''
        for g in ((), v11):
            f = run_qemu(fork, 'q35', image, accel, g)
            s = run_seoib_vm(seoib_vm, image, accel, g)
            what = 'seoib-policy=%s, IOAPIC %s' % (
                policy or '(default)', '0x11' if g else '0x20')
            c.expect(f.outcome() == s.outcome() and f.status == s.status,
                     'fork = seoib-vm: %s: %s' % (what, f.outcome()), f, s)
    for policy in ('respected', 'not-advertised'):
        accel = ',seoib-policy=' + policy
        f = run_qemu(fork, 'q35', image, accel, irqchip='on')
        s = run_seoib_vm(seoib_vm, image, accel, irqchip='on')
        c.expect(f.outcome() == s.outcome(),
                 'fork = seoib-vm: kernel-irqchip=on, seoib-policy=%s: %s'
                 % (policy, f.outcome()), f, s)

    print('qemu-fork: %d checks passed, %d failed' % (c.passed, c.failures))
    return 1 if c.failures else 0


if __name__ == '__main__':
    sys.exit(main())
