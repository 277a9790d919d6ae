#!/usr/bin/env python3
"""Runtime CPU dispatch against -march=native: tessera-heat 2D at 2x1 and 1x2 (ranks x threads)
from a default build (x86-64 baseline; AVX2/AVX-512 picked at run time) and from a -march=native
build, beside plain OpenMP C (bench/jacobi) built native, all interleaved, medians of --reps.

  bench/cpu_dispatch.py --default build --native build-bench [--before DIR ...] [--reps 5]
                        [--grid 4096x4096] [--steps 40]

--before DIR (repeatable) adds another build's heat (e.g. the last commit's default and native
builds) as "before" rows. Rows with streaming stores forced on and off and with TSR_CPU forced
to each level show what auto picks. Every run's checksum must be the same. Prints MLUP/s
(median, min, max) and the ratios the issue's target names; exits 1 on a checksum mismatch.
scripts/bench can call it with its build-bench and build directories.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys


def env(threads, ranks, extra=None):
    e = dict(os.environ)
    e.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
              "OMP_NUM_THREADS": str(threads), "OMP_PROC_BIND": "false",
              "OMP_WAIT_POLICY": "active" if ranks * threads <= (os.cpu_count() or 1)
              else "passive"})
    e.pop("TSR_CPU", None)
    e.update(extra or {})
    return e


def run(cmd, e):
    out = subprocess.run(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, check=False).stdout
    m = re.search(r"^MLUP/s ([0-9.]+)", out, re.M)
    c = re.search(r"^checksum ([0-9a-f]{16})$", out, re.M)
    if not m or not c:
        sys.exit("no MLUP/s or checksum from %s:\n%s" % (" ".join(cmd), out))
    return float(m.group(1)), c.group(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--default", required=True, help="default (baseline) build directory")
    ap.add_argument("--native", required=True, help="-march=native build directory")
    ap.add_argument("--before", action="append", default=[], help="NAME=DIR, another build")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--grid", default="4096x4096")
    ap.add_argument("--steps", default="40")
    ap.add_argument("--skip", default="", help="regex: leave out the rows whose names match")
    opts = ap.parse_args()

    def heat(d):
        return os.path.join(d, "apps", "heat", "tessera-heat")

    mpirun = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np"]
    base = ["--grid", opts.grid, "--steps", opts.steps, "--quiet"]
    cases = []  # (name, cmd, env)
    for rt in ((2, 1), (1, 2)):
        r, t = rt
        tag = "%dx%d" % rt
        pre = mpirun + [str(r)]
        cases.append(("default %s" % tag, pre + [heat(opts.default)] + base, env(t, r)))
        cases.append(("default %s streaming off" % tag,
                      pre + [heat(opts.default)] + base + ["--streaming-stores", "off"], env(t, r)))
        cases.append(("default %s TSR_CPU=avx2" % tag, pre + [heat(opts.default)] + base,
                      env(t, r, {"TSR_CPU": "avx2"})))
        cases.append(("default %s TSR_CPU=baseline" % tag, pre + [heat(opts.default)] + base +
                      ["--streaming-stores", "on"], env(t, r, {"TSR_CPU": "baseline"})))
        cases.append(("native %s" % tag, pre + [heat(opts.native)] + base, env(t, r)))
        for b in opts.before:
            name, d = b.split("=", 1)
            cases.append(("%s %s" % (name, tag), pre + [heat(d)] + base, env(t, r)))
    cases.append(("plain C native 2 threads",
                  [os.path.join(opts.native, "bench", "jacobi"), "--grid", opts.grid, "--steps",
                   opts.steps, "--threads", "2"], env(2, 1)))

    if opts.skip:
        cases = [c for c in cases if not re.search(opts.skip, c[0])]
    samples = {name: [] for name, _, _ in cases}
    sums = set()
    for rep in range(opts.reps):
        for name, cmd, e in cases:
            mlups, c = run(cmd, e)
            samples[name].append(mlups)
            sums.add(c)
        print("rep %d/%d done" % (rep + 1, opts.reps), file=sys.stderr, flush=True)

    med = {n: statistics.median(v) for n, v in samples.items()}
    plain = med["plain C native 2 threads"]
    print("%-34s %8s %8s %8s %8s" % ("MLUP/s, %s, %s steps" % (opts.grid, opts.steps), "median",
                                     "min", "max", "/plainC"))
    for name, _, _ in cases:
        v = samples[name]
        print("%-34s %8.0f %8.0f %8.0f %8.3f" % (name, med[name], min(v), max(v),
                                                 med[name] / plain))
    # On a shared machine the load changes between runs: ratios are also taken within each
    # repetition (runs a few seconds apart) and their median given, beside the best runs'.
    best = {n: max(v) for n, v in samples.items()}
    p = "plain C native 2 threads"

    def paired(a, b):
        return statistics.median(x / y for x, y in zip(samples[a], samples[b]))

    for tag in ("2x1", "1x2"):
        d, n = "default %s" % tag, "native %s" % tag
        print("default/native %s: %.3f (medians), %.3f (paired), %.3f (best)" %
              (tag, med[d] / med[n], paired(d, n), best[d] / best[n]))
        print("default/plain C native %s: %.3f (medians), %.3f (paired), %.3f (best); "
              "target >= 1.05" % (tag, med[d] / med[p], paired(d, p), best[d] / best[p]))
        off = "default %s streaming off" % tag
        if off in samples:
            print("default %s streaming auto/off: %.3f (paired)" % (tag, paired(d, off)))
    print("checksums: %s" % ", ".join(sorted(sums)))
    return 0 if len(sums) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
