#!/usr/bin/env python3
"""bench/ab.py on two fake builds whose "program" prints a fixed figure: the ratio, the pair
order, and its refusals (one message, status 2)."""
import os
import subprocess
import sys
import tempfile

ab = sys.argv[1]
fails = 0


def check(what, ok, out):
    global fails
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        print(out)
        fails += 1


with tempfile.TemporaryDirectory() as d:
    builds = []
    for name, fig in (("old", "100"), ("new", "150")):
        b = os.path.join(d, name)
        os.mkdir(b)
        # Each run appends its build's name, so the order of the runs can be checked.
        with open(os.path.join(b, "run"), "w") as f:
            f.write("#!/bin/sh\necho %s >> %s/order\necho 'noise 7'\necho 'MLUP/s %s'\n"
                    % (name, d, fig))
        os.chmod(os.path.join(b, "run"), 0o755)
        builds.append(b)
    r = subprocess.run([ab, "--reps", "3", "--metric", "^MLUP/s", "--label", "case"] + builds +
                       ["--", "{build}/run"], capture_output=True, text=True, timeout=60)
    check("ratio of medians of pairs", r.returncode == 0 and r.stdout.strip() ==
          "case before 100 after 150 after/before 1.500 (pairs 1.50 1.50 1.50)", r.stdout + r.stderr)
    order = open(os.path.join(d, "order")).read().split()
    check("pairs alternate their order", order == ["old", "new", "new", "old", "old", "new"],
          order)
    for what, args, msg in (
            ("no command", builds, "give the command after --"),
            ("no {build}", builds + ["--", "true"], "give the command after --"),
            ("no such build", [d + "/none", builds[1], "--", "{build}/run"], "no build directory"),
            ("bad reps", ["--reps", "0"] + builds + ["--", "{build}/run"], "--reps must be")):
        r = subprocess.run([ab] + args, capture_output=True, text=True, timeout=60)
        check(what, r.returncode == 2 and msg in r.stderr, r.stderr)
    r = subprocess.run([ab, "--metric", "GB/s"] + builds + ["--", "{build}/run"],
                       capture_output=True, text=True, timeout=60)
    check("no figure in the output", r.returncode == 1 and "no number after" in r.stderr and
          len(r.stderr.splitlines()) == 1, r.stderr)
    r = subprocess.run([ab] + builds + ["--", "sh", "-c", "exit 3", "{build}"],
                       capture_output=True, text=True, timeout=60)
    check("a failing run", r.returncode == 1 and "exited with 3" in r.stderr, r.stderr)
sys.exit(1 if fails else 0)
