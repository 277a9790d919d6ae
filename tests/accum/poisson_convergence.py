#!/usr/bin/env python3
"""Second-order convergence of tessera-poisson: run it on grids of N cells per
dimension for each N given, read "max error", and check that every halving of
h divides the error by a factor within [--min-ratio, --max-ratio].

Usage:
  poisson_convergence.py --app PATH --dims 2 --sizes 16,32,64 --tol 1e-10
                         [--np 1] [--min-ratio 3.5] [--max-ratio 4.5]

Prints each run and ratio, then "N passed, N failed"; exits 1 if anything
failed, else 0.
"""
import argparse
import os
import re
import shlex
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mpi"))
from mpitest import csv_list, mpi_env, mpirun_prefix, run_cmd, show_output  # noqa: E402

ERROR_RE = re.compile(r"^max error ([0-9.eE+-]+)", re.M)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--app", required=True)
    ap.add_argument("--dims", type=int, default=2)
    ap.add_argument("--sizes", default="16,32,64")
    ap.add_argument("--tol", default="1e-10")
    ap.add_argument("--np", type=int, default=1)
    ap.add_argument("--min-ratio", type=float, default=3.5)
    ap.add_argument("--max-ratio", type=float, default=4.5)
    ap.add_argument("--timeout", type=float, default=120.0)
    opts = ap.parse_args()

    errors = []
    failed = 0
    for n in [int(s) for s in csv_list(opts.sizes)]:
        grid = "x".join([str(n)] * opts.dims)
        cmd = mpirun_prefix(opts.np) + [opts.app, "--grid", grid, "--tol", opts.tol]
        print("RUN  %s" % shlex.join(cmd), flush=True)
        rc, out, err = run_cmd(cmd, mpi_env(), opts.timeout)
        m = ERROR_RE.search(out or "")
        if rc != 0 or not m:
            print("  FAIL exit status %s, no 'max error' line" % rc)
            show_output(out, err)
            failed += 1
            errors.append(None)
            continue
        errors.append(float(m.group(1)))
        print("  max error %.6e" % errors[-1])
    passed = 0
    for a, b in zip(errors, errors[1:]):
        if a is None or b is None:
            continue
        ratio = a / b
        ok = opts.min_ratio <= ratio <= opts.max_ratio
        print("  %s error ratio %.3f (expected within [%g, %g])"
              % ("PASS" if ok else "FAIL", ratio, opts.min_ratio, opts.max_ratio))
        passed += ok
        failed += not ok
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
