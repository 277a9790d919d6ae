#!/usr/bin/env python3
"""Run an app with TSR_CPU forced to each ISA level this CPU has, at several thread counts, with
streaming stores on and off, and compare every checksum with a serial reference.

Usage:
  cpu_paths.py --app PATH --ref PATH --np N [--threads 1,2] [--streaming on,off]
               [--timeout 60] [--app-args "ARGS"] -- <app/ref args...>

With --streaming auto on a grid large enough for streaming stores to be considered, the AVX2 and
AVX-512 paths must say that the run loop timed them ("of the timed steps"), and the --report JSON
must carry the same choice and times ("tune"); the baseline path, which is not timed, must not.

A level the CPU lacks is refused by the app (exit 2, "lacks it"): reported as SKIP, not a
failure; at least the baseline must run. The app must also say which level it ran ("cpu path
NAME"), so a forced level cannot silently fall back to another one.

Prints each command and its result, then "N passed, N failed"; exits 1 if anything failed.
"""
import argparse
import json
import os
import re
import shlex
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpitest import csv_list, mpi_env, mpirun_prefix, parse_checksum, run_cmd, show_output, split_argv  # noqa: E402

LEVELS = ("baseline", "avx2", "avx512")


def report_agrees(path, out, level):
    """The report's timed switch: absent on the baseline path, else the printed choice and times."""
    try:
        with open(path) as f:
            tune = json.load(f).get("tune")
    except (OSError, ValueError) as e:
        print("  cannot read %s: %s" % (path, e))
        return False
    if level == "baseline":
        return tune is None
    m = re.search(r"^streaming stores (on|off): ([0-9.]+) s on, ([0-9.]+) s off", out, re.M)
    return (m is not None and tune is not None and tune["setting"] == (m.group(1) == "on") and
            tune["trial_steps"] in (4, 8) and
            abs(tune["seconds_on"] - float(m.group(2))) <= 0.00005 and
            abs(tune["seconds_off"] - float(m.group(3))) <= 0.00005)


def main():
    own, passthru = split_argv(sys.argv[1:])
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--app", required=True)
    ap.add_argument("--ref", required=True)
    ap.add_argument("--np", type=int, required=True)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--streaming", default="on,off")
    ap.add_argument("--app-args", default="")
    ap.add_argument("--timeout", type=float, default=60.0)
    opts = ap.parse_args(own)

    rc, out, err = run_cmd([opts.ref] + passthru, mpi_env(), opts.timeout)
    ref_sum = parse_checksum(out) if rc == 0 else None
    if ref_sum is None:
        print("FAIL reference: exit status %s" % rc)
        show_output(out, err)
        print("0 passed, 1 failed")
        return 1
    print("ok   reference checksum %s" % ref_sum)

    passed = failed = 0
    tmp = tempfile.mkdtemp(prefix="cpu_paths.")
    for level in LEVELS:
        for t in csv_list(opts.threads):
            for streaming in csv_list(opts.streaming):
                report = os.path.join(tmp, "report.json")
                cmd = (mpirun_prefix(opts.np) + [opts.app] + passthru +
                       ["--streaming-stores", streaming] + shlex.split(opts.app_args))
                if streaming == "auto":
                    cmd += ["--report", report, "--force"]
                label = "TSR_CPU=%s np=%d threads=%s streaming %s" % (level, opts.np, t,
                                                                       streaming)
                print("RUN  TSR_CPU=%s OMP_NUM_THREADS=%s %s" % (level, t, shlex.join(cmd)),
                      flush=True)
                rc, out, err = run_cmd(cmd, mpi_env({"OMP_NUM_THREADS": t, "TSR_CPU": level}),
                                       opts.timeout)
                got = parse_checksum(out)
                if rc == 2 and level != "baseline" and "lacks it" in out + err:
                    print("  SKIP %s: this CPU lacks it" % label)
                elif rc != 0 or got is None:
                    print("  FAIL %s: exit status %s" % (label, rc))
                    show_output(out, err)
                    failed += 1
                elif "cpu path %s," % level not in out:
                    print("  FAIL %s: no 'cpu path %s' line" % (label, level))
                    show_output(out, err)
                    failed += 1
                elif streaming == "auto" and level != "baseline" and "of the timed steps" not in out:
                    print("  FAIL %s: streaming stores were not timed" % label)
                    show_output(out, err)
                    failed += 1
                elif streaming == "auto" and not report_agrees(report, out, level):
                    print("  FAIL %s: the report's \"tune\" does not match the output" % label)
                    show_output(out, err)
                    failed += 1
                elif got != ref_sum:
                    print("  FAIL %s: checksum %s != reference %s" % (label, got, ref_sum))
                    failed += 1
                else:
                    print("  PASS %s: checksum %s" % (label, got))
                    passed += 1
    shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
