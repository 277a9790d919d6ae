#!/usr/bin/env python3
"""Run a tessera app across thread counts and maps and compare its checksum
with a serial reference program.

Usage:
  run_matrix.py --app PATH --ref PATH --np N [--threads 1,2]
                [--maps contiguous,roundrobin,sfc,morton,knapsack]
                [--app-args "ARGS"] [--timeout 60] -- <app/ref args...>

The args after "--" are given unchanged to both the reference and the app.
--app-args is shlex-split and appended only to the app command (after
"--map M"). Use the "--app-args=..." form if ARGS has a single word that
starts with "-".

Prints each command and its result, then "N passed, N failed"; exits 1 if
anything failed, else 0.
"""
import argparse
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpitest import csv_list, mpi_env, mpirun_prefix, parse_checksum, run_cmd, show_output, split_argv  # noqa: E402

DEFAULT_MAPS = "contiguous,roundrobin,sfc,morton,knapsack"


def main():
    own, passthru = split_argv(sys.argv[1:])
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--app", required=True, help="MPI app executable")
    ap.add_argument("--ref", required=True, help="serial reference executable")
    ap.add_argument("--np", type=int, required=True, help="number of MPI ranks")
    ap.add_argument("--threads", default="1,2", help="comma list of OMP_NUM_THREADS values")
    ap.add_argument("--maps", default=DEFAULT_MAPS, help="comma list of --map values")
    ap.add_argument("--app-args", default="", help="extra args for the app only (shlex-split)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per command")
    opts = ap.parse_args(own)

    threads = csv_list(opts.threads)
    maps = csv_list(opts.maps)
    app_extra = shlex.split(opts.app_args)
    if opts.np < 1 or not threads or not maps:
        ap.error("need --np >= 1 and non-empty --threads and --maps")

    passed = 0
    failed = 0

    # Reference run (serial, no mpirun).
    ref_cmd = [opts.ref] + passthru
    print("RUN  %s" % shlex.join(ref_cmd), flush=True)
    rc, out, err = run_cmd(ref_cmd, mpi_env(), opts.timeout)
    ref_sum = None
    if rc is None:
        print("  FAIL reference: TIMEOUT (deadlock?) after %gs" % opts.timeout)
    elif rc != 0:
        print("  FAIL reference: exit status %d" % rc)
    else:
        ref_sum = parse_checksum(out)
        if ref_sum is None:
            print("  FAIL reference: no 'checksum <16 hex>' line on stdout")
    if ref_sum is None:
        show_output(out, err)
        failed += 1
        print("%d passed, %d failed" % (passed, failed))
        return 1
    print("  ok   reference checksum %s" % ref_sum)

    for t in threads:
        for m in maps:
            cmd = mpirun_prefix(opts.np) + [opts.app] + passthru + ["--map", m] + app_extra
            label = "np=%d threads=%s map=%s" % (opts.np, t, m)
            print("RUN  OMP_NUM_THREADS=%s %s" % (t, shlex.join(cmd)), flush=True)
            rc, out, err = run_cmd(cmd, mpi_env({"OMP_NUM_THREADS": str(t)}), opts.timeout)
            if rc is None:
                print("  FAIL %s: TIMEOUT (deadlock?) after %gs" % (label, opts.timeout))
                show_output(out, err)
                failed += 1
                continue
            got = parse_checksum(out)
            if rc != 0:
                print("  FAIL %s: exit status %d" % (label, rc))
                show_output(out, err)
                failed += 1
            elif got is None:
                print("  FAIL %s: no 'checksum <16 hex>' line on stdout" % label)
                show_output(out, err)
                failed += 1
            elif got != ref_sum:
                print("  FAIL %s: checksum mismatch: app %s != reference %s" % (label, got, ref_sum))
                failed += 1
            else:
                print("  PASS %s: checksum %s" % (label, got))
                passed += 1
            sys.stdout.flush()

    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
