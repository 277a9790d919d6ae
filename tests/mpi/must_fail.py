#!/usr/bin/env python3
"""Run an MPI command that is expected to fail and check its message and
exit status.

Usage:
  must_fail.py --np N --expect "substring" [--status S] [--timeout 60]
               -- <command...>

Runs "mpirun -np N --oversubscribe --bind-to none <command...>" with stdout
and stderr combined. Passes iff the command did not time out, its exit
status is non-zero (and equal to S if --status is given), the expected
substring appears in the output, and exactly one line contains it (the
message is printed once, not once per rank). On failure the whole output
is printed.

Prints "N passed, N failed"; exits 1 if anything failed, else 0.
"""
import argparse
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpitest import mpi_env, mpirun_prefix, run_combined, split_argv  # noqa: E402


def main():
    own, command = split_argv(sys.argv[1:])
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--np", type=int, required=True, help="number of MPI ranks")
    ap.add_argument("--expect", required=True, help="substring expected exactly once in output")
    ap.add_argument("--status", type=int, default=None, help="required exit status")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds")
    opts = ap.parse_args(own)
    if not command:
        ap.error("missing command after --")
    if opts.np < 1 or not opts.expect:
        ap.error("need --np >= 1 and a non-empty --expect")

    cmd = mpirun_prefix(opts.np) + command
    print("RUN  %s" % shlex.join(cmd), flush=True)
    rc, out = run_combined(cmd, mpi_env(), opts.timeout)

    problems = []
    if rc is None:
        problems.append("TIMEOUT (deadlock?) after %gs" % opts.timeout)
    else:
        if rc == 0:
            problems.append("exit status 0, expected failure")
        elif opts.status is not None and rc != opts.status:
            problems.append("exit status %d, expected %d" % (rc, opts.status))
        hits = [line for line in out.splitlines() if opts.expect in line]
        if not hits:
            problems.append("expected message %r not found in output" % opts.expect)
        elif len(hits) != 1:
            problems.append("expected message %r appears on %d lines, expected exactly once"
                            % (opts.expect, len(hits)))

    if problems:
        for p in problems:
            print("  FAIL %s" % p)
        print("  --- output (exit status %s) ---" % ("timeout" if rc is None else rc))
        for line in out.splitlines():
            print("  " + line)
        print("0 passed, 1 failed")
        return 1
    print("  PASS exit status %d, message %r found once" % (rc, opts.expect))
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
