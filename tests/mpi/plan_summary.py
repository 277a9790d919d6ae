#!/usr/bin/env python3
"""--plan above 64 ranks: a summary (min/mean/max, histogram, the 10 most loaded ranks) instead
of a line per rank; --plan-full keeps the table; up to 64 ranks --plan prints the table as ever.

Usage: plan_summary.py --app PATH [--timeout 60]
Prints "N passed, N failed"; exits 1 if anything failed.
"""
import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpitest import mpi_env, run_combined  # noqa: E402

ROW = re.compile(r"^ *\d+ +\d+ +\d+ +\d+ +\d+$")


def plan(app, np, extra, timeout):
    """Output lines of a plan at np ranks (warnings dropped) and the exit status."""
    cmd = ["mpirun", "-np", str(np), "--oversubscribe", "--bind-to", "none", app,
           "--grid", "260x64", "--blocks", "13x10"] + extra
    rc, out = run_combined(cmd, mpi_env({"OMP_NUM_THREADS": "1"}), timeout)
    return rc, [ln for ln in out.splitlines() if "warning:" not in ln]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--app", required=True)
    ap.add_argument("--timeout", type=float, default=60.0)
    opts = ap.parse_args()
    passed = failed = 0

    def check(name, ok, out):
        nonlocal passed, failed
        if ok:
            passed += 1
            print("PASS %s" % name)
        else:
            failed += 1
            print("FAIL %s:\n%s" % (name, "\n".join(out)))

    rc, table = plan(opts.app, 2, ["--plan"], opts.timeout)
    rc2, full = plan(opts.app, 2, ["--plan", "--plan-full"], opts.timeout)
    check("2 ranks: --plan prints a line per rank",
          rc == 0 and sum(bool(ROW.match(ln)) for ln in table) == 2
          and not any(ln.startswith("per rank") for ln in table), table)
    check("2 ranks: --plan-full prints the same", rc2 == 0 and full == table, full)

    rc, summ = plan(opts.app, 65, ["--plan"], opts.timeout)
    text = "\n".join(summ)
    check("65 ranks: --plan summarizes",
          rc == 0 and "65 ranks" in text and re.search(r"^cells +140 +256\.0 +360$", text, re.M)
          and re.search(r"^cells per rank: 10 bins of 23$", text, re.M)
          and "most loaded ranks (cells):" in text
          and sum(bool(ROW.match(ln)) for ln in summ) == 10
          and re.search(r"^ +31 +3 +360 ", text, re.M)
          and "imbalance (max/mean cells): 1.406" in text, summ)
    rc, full = plan(opts.app, 65, ["--plan-full"], opts.timeout)
    check("65 ranks: --plan-full prints every rank",
          rc == 0 and sum(bool(ROW.match(ln)) for ln in full) == 65
          and "imbalance (max/mean cells): 1.406" in "\n".join(full), full)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
