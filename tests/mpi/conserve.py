#!/usr/bin/env python3
"""With Neumann (zero-gradient) or periodic boundaries on every side, heat's update only moves
heat between cells: its total "sum" after 200 steps equals the initial one to rounding.

Usage:
  conserve.py --app PATH --np N [--timeout 120]

For each boundary set below (1D, 2D and 3D, Neumann, periodic and mixed, uneven blocks), runs
"APP --steps 0" and "APP --steps 200" on N ranks and checks |sum200 - sum0| <= 1e-12 |sum0|.
A Dirichlet side, which lets heat out, must break it (the check is not vacuous).

Prints each command and its result, then "N passed, N failed"; exits 1 if anything failed.
"""
import argparse
import os
import re
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpitest import mpi_env, mpirun_prefix, run_cmd, show_output  # noqa: E402

CASES = [
    # name, args, conserved
    ("2d-neumann", ["--grid", "37x29", "--blocks", "3x2", "--bc", "x=neumann,y=neumann"], True),
    ("2d-neumann-periodic", ["--grid", "37x29", "--bc", "x=neumann,y=periodic", "--init", "sine"],
     True),
    ("3d-mixed", ["--grid", "13x11x9", "--blocks", "2x2x2", "--periodic", "z",
                  "--bc", "x=neumann,y=neumann"], True),
    ("1d-periodic", ["--grid", "101", "--blocks", "5", "--periodic"], True),
    ("2d-one-dirichlet-side", ["--grid", "37x29", "--init", "sine",
                               "--bc", "x=neumann,ylo=neumann,yhi=dirichlet:0"], False),
]
SUM = re.compile(r"^sum (\S+) min", re.M)


def total(app, np, args, steps, timeout):
    cmd = mpirun_prefix(np) + [app] + args + ["--steps", str(steps), "--quiet"]
    print("RUN  %s" % shlex.join(cmd), flush=True)
    rc, out, err = run_cmd(cmd, mpi_env({"OMP_NUM_THREADS": "2"}), timeout)
    m = SUM.search(out or "")
    if rc != 0 or not m:
        show_output(out, err)
        return None
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--app", required=True)
    ap.add_argument("--np", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=120.0)
    opts = ap.parse_args()
    passed = failed = 0
    for name, args, conserved in CASES:
        s0 = total(opts.app, opts.np, args, 0, opts.timeout)
        s1 = total(opts.app, opts.np, args, 200, opts.timeout)
        if s0 is None or s1 is None:
            print("  FAIL %s: no sum" % name)
            failed += 1
            continue
        rel = abs(s1 - s0) / abs(s0)
        ok = (rel <= 1e-12) == conserved
        print("  %s %s: sum %.17g -> %.17g, relative change %.3g (%s)"
              % ("ok  " if ok else "FAIL", name, s0, s1, rel,
                 "conserved" if conserved else "must leak"))
        passed += ok
        failed += not ok
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
