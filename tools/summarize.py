#!/usr/bin/python3
"""Sums the results of every suite of scripts/test and prints the closing line.

Unit tests count each cmocka case (from the test logs); API tests count each pytest case (from
the JUnit XML); client tests each node test (from its TAP). A build failure or a missing result counts as one failure."""
import glob
import json
import os
import re
import sys
import xml.etree.ElementTree as ET


def unit_counts(path):
    passed = failed = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            t = json.loads(line)
            out = (t.get("stdout", "") or "") + (t.get("stderr", "") or "")
            p = re.findall(r"\[  PASSED  \] (\d+) test", out)
            fl = re.findall(r"\[  FAILED  \] (\d+) test", out)
            if p or fl:
                passed += sum(map(int, p))
                failed += sum(map(int, fl))
                if t.get("result") not in ("OK", "EXPECTEDFAIL") and not fl:
                    failed += 1  # crashed after its cases, or leaked under ASan
            elif t.get("result") in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif t.get("result") != "SKIP":
                failed += 1
    return passed, failed


def api_counts(path):
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    passed = failed = 0
    for s in suites:
        tests = int(s.get("tests", 0))
        bad = int(s.get("failures", 0)) + int(s.get("errors", 0))
        skipped = int(s.get("skipped", 0))
        passed += tests - bad - skipped
        failed += bad
    return passed, failed


def tap_counts(path):
    """node --test's TAP: each top-level "ok N" or "not ok N" is a test; a run that reports
    none (node missing, the server never started) counts as one failure."""
    passed = failed = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if re.match(r"ok \d+ ", line):
                passed += 1
            elif re.match(r"not ok \d+ ", line):
                failed += 1
    if passed + failed == 0:
        failed = 1
    return passed, failed


def main():
    results, status = sys.argv[1], int(sys.argv[2])
    passed = failed = 0
    for path in sorted(glob.glob(os.path.join(results, "*-unit.json"))):
        p, f = unit_counts(path)
        print("%-28s %d passed, %d failed" % (os.path.basename(path), p, f))
        passed += p
        failed += f
    for path in sorted(glob.glob(os.path.join(results, "*-api.xml"))):
        p, f = api_counts(path)
        print("%-28s %d passed, %d failed" % (os.path.basename(path), p, f))
        passed += p
        failed += f
    for path in sorted(glob.glob(os.path.join(results, "*.tap"))):
        p, f = tap_counts(path)
        print("%-28s %d passed, %d failed" % (os.path.basename(path), p, f))
        passed += p
        failed += f
    if os.path.exists(os.path.join(results, "checksrc.failed")):
        print("checksrc                     0 passed, 1 failed")
        failed += 1
    if status:
        failed += 1
    if passed == 0:
        failed += 1
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
