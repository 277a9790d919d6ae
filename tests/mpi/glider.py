#!/usr/bin/env python3
"""Check that a glider in the tessera Game of Life app returns to its start.

Usage:
  glider.py --app PATH --np N [--app-args "ARGS"] [--timeout 60]

Runs "APP --grid 64x64 --periodic --init glider --steps S" under
"mpirun -np N --oversubscribe --bind-to none" for S = 0, 4 and 256, and
again for S = 256 with "--map roundrobin". A glider moves one cell
diagonally every 4 steps, so on a periodic 64x64 torus it is back where it
started after 256 steps. Passes iff steps 256 (both maps) give the same
checksum as steps 0 and steps 4 gives a different one (the glider moved).
--app-args (shlex-split) is appended to every app command.

Prints "N passed, N failed"; exits 1 if anything failed, else 0.
"""
import argparse
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpitest import mpi_env, mpirun_prefix, parse_checksum, run_cmd, show_output  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--app", required=True, help="life app executable")
    ap.add_argument("--np", type=int, required=True, help="number of MPI ranks")
    ap.add_argument("--app-args", default="", help="extra app args (shlex-split)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per command")
    opts = ap.parse_args()
    if opts.np < 1:
        ap.error("need --np >= 1")
    extra = shlex.split(opts.app_args)

    passed = 0
    failed = 0
    base = ["--grid", "64x64", "--periodic", "--init", "glider"]
    runs = [("steps 0", ["--steps", "0"]),
            ("steps 4", ["--steps", "4"]),
            ("steps 256", ["--steps", "256"]),
            ("steps 256 roundrobin", ["--steps", "256", "--map", "roundrobin"])]
    sums = {}
    for label, args in runs:
        cmd = mpirun_prefix(opts.np) + [opts.app] + base + args + extra
        print("RUN  %s" % shlex.join(cmd), flush=True)
        rc, out, err = run_cmd(cmd, mpi_env(), opts.timeout)
        got = parse_checksum(out) if rc is not None else None
        if rc is None:
            print("  FAIL %s: TIMEOUT (deadlock?) after %gs" % (label, opts.timeout))
        elif rc != 0:
            print("  FAIL %s: exit status %d" % (label, rc))
        elif got is None:
            print("  FAIL %s: no 'checksum <16 hex>' line on stdout" % label)
        else:
            print("  ok   %s: checksum %s" % (label, got))
            sums[label] = got
            continue
        show_output(out, err)
        failed += 1

    def check(ok, text):
        nonlocal passed, failed
        print("  %s %s" % ("PASS" if ok else "FAIL", text))
        if ok:
            passed += 1
        else:
            failed += 1

    s0 = sums.get("steps 0")
    if s0 is not None:
        for label in ("steps 256", "steps 256 roundrobin"):
            if label in sums:
                check(sums[label] == s0, "%s returns to start: %s %s steps 0 %s"
                      % (label, sums[label], "==" if sums[label] == s0 else "!=", s0))
        if "steps 4" in sums:
            check(sums["steps 4"] != s0, "steps 4 moved: %s %s steps 0 %s"
                  % (sums["steps 4"], "!=" if sums["steps 4"] != s0 else "==", s0))

    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
