#!/usr/bin/env python3
"""Migration over a unix socket, seoib-vm against QEMU 7.2 in the same run.

For each guest RAM size (256 MiB, 1 GiB) and each case:
  idle  the VM is stopped (-S): one stop-and-copy pass;
  busy  the VM runs (seoib: its built-in guest servicing device events;
        QEMU: its firmware), so the migration is live (pre-copy).
Both sides get the bandwidth limit lifted (max-bandwidth 10 GB/s).  The
figures are the source's query-migrate: total-time, downtime and bytes
transferred.  Two throughputs: guest RAM moved per second (ram total /
total-time: what a user waits for) and bytes on the wire per second
(transferred / total-time; both VMMs send zero pages as flags only, so a
VMM that sends fewer bytes scores lower here for the same work).  Prints a table and
the seoib/QEMU ratios; says why when something cannot be measured.

    migration-bench.py [SEOIB_VM] [RUNS]
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qmp_client import Qmp  # noqa: E402

SEOIB = sys.argv[1] if len(sys.argv) > 1 else "build/system/seoib-vm"
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
QEMU = "qemu-system-x86_64"
KVM = os.access("/dev/kvm", os.W_OK)


def vm_args(kind, ram_mib, qmp=None, incoming=None, stopped=False):
    if kind == "seoib":
        kernel = "host" if KVM else "model"
        args = [SEOIB, "-nodefaults", "-display", "none", "-M", "q35",
                "-accel", f"kvm,kernel={kernel},kernel-irqchip=split"]
    else:
        args = [QEMU, "-nodefaults", "-display", "none", "-M", "pc-q35-7.2",
                "-accel", "kvm" if KVM else "tcg"]
    args += ["-m", f"{ram_mib}M"]
    if stopped:
        args.append("-S")
    if qmp:
        args += ["-qmp", f"unix:{qmp},server=on,wait=off"]
    if incoming:
        args += ["-incoming", f"unix:{incoming}"]
        if kind == "qemu":
            args += ["-qmp", f"unix:{incoming}.qmp,server=on,wait=off"]
    return args


def migrate_once(kind, ram_mib, busy):
    d = tempfile.mkdtemp()
    src_qmp, mig = f"{d}/src.qmp", f"{d}/mig.sock"
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    src = subprocess.Popen(vm_args(kind, ram_mib, qmp=src_qmp, stopped=True), **quiet)
    dst = subprocess.Popen(vm_args(kind, ram_mib, incoming=mig), **quiet)
    try:
        q = Qmp(src_qmp)
        q.cmd("migrate-set-parameters", **{"max-bandwidth": 10 * 1000 * 1000 * 1000})
        for _ in range(400):  # the destination listens
            if os.path.exists(mig):
                break
            time.sleep(0.025)
        if busy:
            q.cmd("cont")
        q.cmd("migrate", uri=f"unix:{mig}")
        for _ in range(20000):
            info = q.cmd("query-migrate")["return"]
            if info.get("status") in ("completed", "failed"):
                break
            time.sleep(0.005)
        if info.get("status") != "completed":
            return None
        q.cmd("quit")
        return {"total": info["total-time"], "downtime": info.get("downtime", 0),
                "bytes": info["ram"]["transferred"], "ram": info["ram"]["total"]}
    finally:
        for p in (src, dst):
            p.kill()
            p.wait()
        shutil.rmtree(d, ignore_errors=True)


def median_of(kind, ram_mib, busy):
    samples = [migrate_once(kind, ram_mib, busy) for _ in range(RUNS)]
    samples = [s for s in samples if s]
    if not samples:
        return None
    pick = lambda k: statistics.median(s[k] for s in samples)
    total = max(pick("total"), 1)
    return {"total": pick("total"), "downtime": pick("downtime"), "bytes": pick("bytes"),
            "mbps": pick("bytes") / total / 1000.0,
            "ram_mbps": pick("ram") / total / 1000.0}


def main():
    if not os.path.exists(SEOIB):
        print(f"migration-bench: {SEOIB} not built; nothing measured")
        return
    have_qemu = shutil.which(QEMU) is not None
    print(f"migration-bench: unix socket, {'/dev/kvm' if KVM else 'no /dev/kvm'}, "
          f"median of {RUNS} runs")
    print(f"{'case':<14} {'vmm':<6} {'total ms':>9} {'downtime ms':>12} "
          f"{'bytes':>12} {'wire MB/s':>10} {'RAM MB/s':>9}")
    for ram in (256, 1024):
        for busy in (False, True):
            case = f"{ram}M {'busy' if busy else 'idle'}"
            rows = {"seoib": median_of("seoib", ram, busy)}
            if have_qemu:
                rows["qemu"] = median_of("qemu", ram, busy)
            for kind, r in rows.items():
                if r is None:
                    print(f"{case:<14} {kind:<6} not measured (the migration failed)")
                    continue
                print(f"{case:<14} {kind:<6} {r['total']:>9.0f} {r['downtime']:>12.0f} "
                      f"{r['bytes']:>12.0f} {r['mbps']:>10.0f} {r['ram_mbps']:>9.0f}")
            s, q = rows.get("seoib"), rows.get("qemu")
            if s and q:
                print(f"{case:<14} ratio  RAM throughput seoib/QEMU x{s['ram_mbps'] / max(q['ram_mbps'], 1e-9):.2f}, "
                      f"wire throughput x{s['mbps'] / max(q['mbps'], 1e-9):.2f}, "
                      f"downtime seoib/QEMU x{max(s['downtime'], 1) / max(q['downtime'], 1):.2f}, "
                      f"bytes seoib/QEMU x{s['bytes'] / max(q['bytes'], 1):.2f}")
    if not have_qemu:
        print("migration-bench: qemu-system-x86_64 not installed; no QEMU figures")


main()
