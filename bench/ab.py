#!/usr/bin/env python3
"""Before/after of a change: one command run from two builds in interleaved pairs.

    bench/ab.py [--reps N] [--metric REGEX] OLD_BUILD NEW_BUILD -- COMMAND [ARG...]

Every "{build}" in the command becomes the build directory of that run (the old one from
`bench/build_at.sh COMMIT /tmp/old`, built like build-bench). The figure of a run is the first
number after the first match of REGEX in its standard output (default: heat's "MLUP/s"); higher
is better. The pairs alternate their order (the first of a pair tends to run faster on a busy
machine), and what counts is the median of the per-pair ratios new/old, printed with every pair.

    bench/ab.py --reps 8 --metric 'frames/s' /tmp/old/bb build-bench -- \\
        mpirun -np 3 --oversubscribe --bind-to none {build}/apps/imgpipe/tessera-imgpipe \\
        --frames 60 --size 640x480 --quiet
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def figure(cmd, build, metric):
    argv = [a.replace("{build}", build) for a in cmd]
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    p = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit("bench/ab.py: %s exited with %d:\n%s" % (" ".join(argv), p.returncode,
                                                          p.stderr.strip()))
    m = re.search(metric + r".*?(" + NUMBER + ")", p.stdout, re.M)
    if not m:
        sys.exit("bench/ab.py: no number after /%s/ in the output of %s" % (metric, " ".join(argv)))
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser(
        description="Run a command from two builds in interleaved pairs; print the median of "
                    "the per-pair ratios new/old.",
        epilog="Example: bench/ab.py /tmp/old/bb build-bench -- mpirun -np 2 --bind-to none "
               "{build}/apps/heat/tessera-heat --grid 4096x4096 --steps 40 --quiet")
    ap.add_argument("--reps", type=int, default=6, help="pairs to run (default 6)")
    ap.add_argument("--metric", default="MLUP/s",
                    help="regex after which the run's figure is the first number "
                         "(default 'MLUP/s'); higher is better")
    ap.add_argument("--label", default="", help="a name printed at the head of the result line")
    ap.add_argument("old", help="the build before the change")
    ap.add_argument("new", help="the build with the change")
    ap.add_argument("command", nargs=argparse.REMAINDER,
                    help="-- then the command; {build} stands for the build directory")
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd or not any("{build}" in x for x in cmd):
        ap.error("give the command after --, with {build} where the build directory goes")
    if a.reps < 1:
        ap.error("--reps must be at least 1")
    for b in (a.old, a.new):
        if not os.path.isdir(b):
            ap.error("no build directory %s" % b)
    old, new = [], []
    for r in range(a.reps):
        order = ((a.old, old), (a.new, new)) if r % 2 == 0 else ((a.new, new), (a.old, old))
        for build, out in order:
            out.append(figure(cmd, build, a.metric))
    ratios = [n / o for o, n in zip(old, new)]
    print("%sbefore %.6g after %.6g after/before %.3f (pairs %s)"
          % (a.label + " " if a.label else "", statistics.median(old), statistics.median(new),
             statistics.median(ratios), " ".join("%.2f" % x for x in ratios)))


if __name__ == "__main__":
    main()
