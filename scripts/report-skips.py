#!/usr/bin/env python3
"""report-skips.py - what a test run did not run, from meson's test logs.

    scripts/report-skips.py BUILD_DIR [BUILD_DIR ...]

Reads BUILD_DIR/meson-logs/testlog.json (one JSON object per test, written
by the last `meson test` in that directory; testlog.txt is only named when
the JSON is missing) and prints, per build, every skip with its reason, then
a count:

  - whole tests meson reports as SKIP (exit code 77);
  - cmocka cases skipped inside a test ("[  SKIPPED ] case" in its output);
  - parts of a case left out ("SKIP: reason" on stderr with no case skipped).

A reason is a "SKIP: ..." line on the test's stderr, the convention of this
project's tests (tests/*.c); a skip without one says so.

Exit status: 0, or 1 when CI=true, we run as root, and a test of suite
"integration" skipped anything (as root every integration test must run),
or a build has no test log.  2 on bad usage.
"""
import json
import os
import re
import sys

CASE_SKIPPED = re.compile(r"^\[  SKIPPED \] (\S+)\s*$", re.M)
REASON = re.compile(r"^SKIP[: ]\s*(.*\S)\s*$", re.M)


def suites_of(name):
    """'ephport:integration+stress / exporter' -> ['integration', 'stress']."""
    head = name.split(" / ", 1)[0]
    return head.split(":", 1)[1].split("+") if ":" in head else []


def short(name):
    return name.split(" / ", 1)[-1]


def read_log(build):
    path = os.path.join(build, "meson-logs", "testlog.json")
    tests = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line:
                tests.append(json.loads(line))
    return tests


def skips_of(test):
    """(kind, skipped case names, reasons) for one test's record, or None.
    kind: "test" (meson SKIP), "cases" (cmocka skips), "part" (a SKIP line
    only: part of a case left out)."""
    out = (test.get("stdout") or "") + "\n" + (test.get("stderr") or "")
    reasons = []
    for r in REASON.findall(test.get("stderr") or "") + REASON.findall(test.get("stdout") or ""):
        if r not in reasons:
            reasons.append(r)
    if test.get("result") == "SKIP":
        return ("test", [], reasons)
    cases = []
    for c in CASE_SKIPPED.findall(out):
        if c not in cases:  # cmocka lists each skipped case twice
            cases.append(c)
    if cases:
        return ("cases", cases, reasons)
    if reasons:
        return ("part", [], reasons)
    return None


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    strict = os.environ.get("CI") == "true" and os.geteuid() == 0
    total = 0
    failing = []
    print("\nWhat the tests did not run:")
    for build in argv[1:]:
        try:
            tests = read_log(build)
        except OSError as e:
            txt = os.path.join(build, "meson-logs", "testlog.txt")
            print(f"  {build}: no test log ({e.strerror}; {txt} neither read)")
            failing.append(f"{build}: no test log")
            continue
        found = []
        for t in tests:
            sk = skips_of(t)
            if sk:
                found.append((short(t["name"]), sk, "integration" in suites_of(t["name"])))
        cases = sum(len(sk[1]) if sk[0] == "cases" else 1 if sk[0] == "test" else 0
                    for _, sk, _ in found)
        print(f"  {build} ({len(tests)} tests run): {cases} skipped")
        for name, (kind, names, reasons), integration in found:
            if kind == "test":
                print(f"    {name}: the whole test skipped")
            elif kind == "cases":
                print(f"    {name}: {len(names)} case(s) skipped: {', '.join(names)}")
            else:
                print(f"    {name}: ran, but left part of a case out")
            for r in reasons or ["no reason printed"]:
                print(f"      why: {r}")
            if integration:
                failing.append(f"{build}: {name}")
        total += cases
    print(f"Skipped: {total} case(s) in all" + (" (none)" if total == 0 else ""))
    if strict and failing:
        print("CI=true as root: every integration test must run; these did not:",
              file=sys.stderr)
        for f in failing:
            print(f"  {f}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
