#!/usr/bin/env python3
"""Prints one closing line for `make check`: how many test cases passed,
failed and were skipped, counted from GoogleTest's per-case results where a
test program reports them, else per test program (meson's testlog.json)."""
import json
import re
import sys
from pathlib import Path

build = Path(sys.argv[1] if len(sys.argv) > 1 else "build")
log = build / "meson-logs" / "testlog.json"
passed = failed = skipped = 0
for line in log.read_text().splitlines():
    entry = json.loads(line)
    out = entry.get("stdout", "") or ""
    gtest_pass = re.search(r"^\[  PASSED  \] (\d+) tests?", out, re.M)
    gtest_fail = re.search(r"^\[  FAILED  \] (\d+) tests?, listed below", out, re.M)
    gtest_skip = re.search(r"^\[  SKIPPED \] (\d+) tests?", out, re.M)
    if gtest_pass or gtest_fail:
        passed += int(gtest_pass.group(1)) if gtest_pass else 0
        failed += int(gtest_fail.group(1)) if gtest_fail else 0
        skipped += int(gtest_skip.group(1)) if gtest_skip else 0
        if entry["result"] not in ("OK", "SKIP") and not gtest_fail:
            failed += 1
        continue
    if entry["result"] == "OK":
        passed += 1
    elif entry["result"] == "SKIP":
        skipped += 1
    else:
        failed += 1
print(f"check: {passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
