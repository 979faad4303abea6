#!/usr/bin/env python3
"""savevm and loadvm, seoib-vm against QEMU 7.2 in the same run.

Each VMM gets a guest of 256 MiB (seoib: the built-in guest, paused part
way; QEMU: its firmware, stopped under -S) and a fresh qcow2 image on the
same disk. Timed from the QMP client: the human-monitor-command round trip
of "savevm s1" and of "loadvm s1", median of RUNS. Prints both and the
seoib/QEMU ratios.

    snapshot-bench.py [SEOIB_VM] [RUNS]
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
RAM_MIB = 256


def hmp(q, line):
    return q.cmd("human-monitor-command", **{"command-line": line})["return"]


def once(kind):
    d = tempfile.mkdtemp(dir=os.getcwd())
    image, qmp = f"{d}/disk.qcow2", f"{d}/qmp.sock"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", image, "1G"], check=True)
    drive = ["-drive", f"if=none,file={image},format=qcow2,id=disk0"]
    if kind == "seoib":
        kernel = "host" if KVM else "model"
        args = [SEOIB, "-nodefaults", "-display", "none", "-M", "q35",
                "-accel", f"kvm,kernel={kernel},kernel-irqchip=split",
                "-global", "seoib-testdev.x-pause-after=5"]
    else:
        args = [QEMU, "-nodefaults", "-display", "none", "-M", "pc-q35-7.2",
                "-accel", "kvm" if KVM else "tcg"]
    args += ["-m", f"{RAM_MIB}M", "-S", "-qmp", f"unix:{qmp},server=on,wait=off"] + drive
    vm = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        q = Qmp(qmp)
        if kind == "seoib":
            q.cmd("cont")
            for _ in range(400):  # the guest pauses itself after 5 events
                if q.cmd("query-status")["return"]["status"] == "paused":
                    break
                time.sleep(0.005)
        t0 = time.perf_counter()
        out = hmp(q, "savevm s1")
        t1 = time.perf_counter()
        if out:
            print(f"snapshot-bench: {kind} savevm: {out.strip()}")
            return None
        out = hmp(q, "loadvm s1")
        t2 = time.perf_counter()
        if out:
            print(f"snapshot-bench: {kind} loadvm: {out.strip()}")
            return None
        q.cmd("quit")
        vm.wait(timeout=10)
        return {"save": (t1 - t0) * 1000, "load": (t2 - t1) * 1000}
    finally:
        if vm.poll() is None:
            vm.kill()
            vm.wait()
        shutil.rmtree(d, ignore_errors=True)


def median_of(kind):
    samples = [s for s in (once(kind) for _ in range(RUNS)) if s]
    if not samples:
        return None
    return {k: statistics.median(s[k] for s in samples) for k in ("save", "load")}


def main():
    if not os.path.exists(SEOIB):
        print(f"snapshot-bench: {SEOIB} not built; nothing measured")
        return
    if shutil.which("qemu-img") is None:
        print("snapshot-bench: qemu-img not installed; nothing measured")
        return
    print(f"snapshot-bench: {RAM_MIB} MiB guest, qcow2 on the same disk, "
          f"{'/dev/kvm' if KVM else 'no /dev/kvm'}, median of {RUNS} runs")
    rows = {"seoib": median_of("seoib")}
    if shutil.which(QEMU):
        rows["qemu"] = median_of("qemu")
    for kind, r in rows.items():
        if r:
            print(f"{kind:<6} savevm {r['save']:8.1f} ms   loadvm {r['load']:8.1f} ms")
    s, q = rows.get("seoib"), rows.get("qemu")
    if s and q:
        print(f"ratio  savevm seoib/QEMU x{s['save'] / q['save']:.2f}, "
              f"loadvm seoib/QEMU x{s['load'] / q['load']:.2f}")


main()
