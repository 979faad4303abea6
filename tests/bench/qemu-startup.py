#!/usr/bin/env python3
"""The yardstick for configuration throughput: how long QEMU takes from
spawn to QMP ready (and quit) for one machine configuration, measured here.
Prints the median in microseconds, or says why it cannot measure.

    qemu-startup.py [RUNS] [QEMU]
"""
import shutil
import statistics
import subprocess
import sys
import time

runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
qemu = sys.argv[2] if len(sys.argv) > 2 else "qemu-system-x86_64"
if not shutil.which(qemu):
    print(f"qemu-startup: {qemu} not installed; nothing measured")
    sys.exit(0)
accel = "kvm" if subprocess.run(["test", "-w", "/dev/kvm"]).returncode == 0 else "tcg"
cmd = [qemu, "-M", "q35", "-accel", accel, "-nodefaults", "-display", "none",
       "-S", "-qmp", "stdio"]
samples = []
for _ in range(runs):
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    p.stdout.readline()  # the greeting: QMP is ready
    ready = time.perf_counter()
    p.communicate('{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n', timeout=30)
    samples.append(ready - start)
median_us = statistics.median(samples) * 1e6
print(f"qemu-startup: {qemu} -M q35 -accel {accel}: median {median_us:.0f} us "
      f"from spawn to QMP ready over {runs} runs")
