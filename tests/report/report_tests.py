#!/usr/bin/python3
"""Every app's --report checked against docs/report.schema.json (issue 12, items 5 and 6).

  report_tests.py --bin BUILD --schema docs/report.schema.json

Runs heat, life, mandelbrot, particles and imgpipe at 2 or 3 ranks with --report and validates
each JSON with Debian's python3-jsonschema (scripts/setup --test). Beyond the schema: heat at 2
ranks sent real bytes and messages and its options carry the values the run used (steps, alpha
resolved, time blocking, overlap); mandelbrot's farm shows per-rank idle time; imgpipe's
pipeline names its bottleneck; scripts/plot-report draws every report when gnuplot is there.
Progress: into a pipe, a short run prints no progress line by default, --progress on prints a
few (not one per step) and --quiet none. Prints "N passed, N failed"; exits 1 on any failure.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import jsonschema

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mpi"))
from mpitest import mpi_env, mpirun_prefix, run_cmd  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
TIMEOUT = 120
results = {"passed": 0, "failed": 0}

# name, ranks, app, arguments
CASES = [
    ("heat", 2, "heat", ["--grid", "64x48", "--steps", "20", "--time-block", "2"]),
    ("heat-3d", 3, "heat", ["--grid", "16x12x10", "--steps", "5", "--no-overlap"]),
    # large enough per rank for streaming stores to be timed (AVX2 and up): the "tune" member
    ("heat-tuned", 2, "heat", ["--grid", "2900x2900", "--steps", "12"]),
    ("life", 3, "life", ["--grid", "48x40", "--steps", "10"]),
    ("life-rebalance", 3, "life", ["--grid", "64x48", "--blocks", "8x6", "--steps", "20",
                                   "--extent", "0.5", "--skip-quiescent", "--rebalance-every", "5"]),
    ("poisson", 2, "poisson", ["--grid", "16x16", "--tol", "1e-6"]),
    ("mandelbrot", 3, "mandelbrot", ["--size", "96x64", "--max-iter", "300", "--chunk",
                                      "fixed:5"]),
    ("particles", 2, "particles", ["--particles", "1000", "--steps", "20"]),
    ("imgpipe", 3, "imgpipe", ["--frames", "4", "--size", "64x48"]),
    ("md", 2, "md", ["--cells", "5", "--steps", "20", "--blocks", "2x2x2"]),
]
PROGRESS_RE = re.compile(r"(step|task)s? [0-9]+/[0-9]+ \(")


def check(ok, what):
    results["passed" if ok else "failed"] += 1
    print("%s %s" % ("ok  " if ok else "FAIL", what), flush=True)
    return ok


def app_path(bindir, app):
    return os.path.join(bindir, "apps", app, "tessera-" + app)


def run_app(bindir, np, app, args, env):
    cmd = mpirun_prefix(np) + [app_path(bindir, app)] + args
    return run_cmd(cmd, env, TIMEOUT)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="the build directory")
    ap.add_argument("--schema", required=True)
    opts = ap.parse_args()
    with open(opts.schema) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    env = mpi_env({"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "passive"})
    reports = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, np, app, args in CASES:
            path = os.path.join(tmp, name + ".json")
            rc, out, err = run_app(opts.bin, np, app, args + ["--report", path], env)
            if not check(rc == 0 and os.path.exists(path), "%s np=%d writes its report" %
                         (name, np)):
                sys.stdout.write(out[-2000:] + err[-2000:])
                continue
            with open(path) as f:
                rep = json.load(f)
            reports[name] = (path, rep)
            errors = sorted(validator.iter_errors(rep), key=lambda e: list(e.path))
            check(not errors, "%s: valid against the schema%s" % (
                name, "".join("\n    %s at /%s" % (e.message[:200], "/".join(map(str, e.path)))
                              for e in errors[:5])))
            check(len(rep["per_rank"]) == np and rep["ranks"] == np,
                  "%s: one per_rank entry per rank" % name)
            check(PROGRESS_RE.search(err) is None, "%s: no progress line in a pipe by default "
                  "for a short run" % name)

        if "heat" in reports:
            rep = reports["heat"][1]
            ranks = rep["per_rank"]
            check(all(r["bytes_sent"] > 0 and r["messages_sent"] > 0 for r in ranks),
                  "heat np=2: every rank sent bytes and messages (%s)" %
                  ", ".join("%d B in %d" % (r["bytes_sent"], r["messages_sent"]) for r in ranks))
            check(sum(r["cells"] for r in ranks) == 64 * 48 and all(r["blocks"] > 0 for r in ranks),
                  "heat: cells add up to the grid, every rank has blocks")
            check(all(r["peak_rss_bytes"] > 1 << 20 for r in ranks), "heat: peak RSS in bytes")
            o = rep["options"]
            check(o.get("steps") == 20 and o.get("time-block") == 2 and o.get("no-overlap") is False
                  and abs(o.get("alpha", -1) - 0.2) < 1e-12 and o.get("grid") == [64, 48],
                  "heat: options carry steps, time blocking, overlap and the resolved alpha")
            check(rep["wall_seconds"] >= rep["wall_seconds_without_io"] >= 0
                  and rep["wall_seconds"] >= rep["seconds"],
                  "heat: wall time with and without I/O")
            check(rep["git_commit"] != "" and rep["hdf5_version"] and "MPI" in rep["mpi_library"],
                  "heat: git commit %s, %s, HDF5 %s" % (rep["git_commit"], rep["mpi_library"][:30],
                                                       rep["hdf5_version"]))
        if "mandelbrot" in reports:
            farm = reports["mandelbrot"][1].get("farm")
            ok = farm is not None and len(farm["per_rank"]) == 3 and \
                sum(w["tasks"] for w in farm["per_rank"]) == farm["tasks"] and \
                all("idle_seconds" in w for w in farm["per_rank"]) and \
                sum(w["idle_seconds"] for w in farm["per_rank"]) > 0
            check(ok, "mandelbrot: the farm's per-rank tasks, chunks, busy and idle time")
            check(all(r["messages_sent"] > 0 for r in reports["mandelbrot"][1]["per_rank"]),
                  "mandelbrot: farm messages counted on every rank")
            cfg = reports["mandelbrot"][1]["config"].get("chunk")
            check(cfg == "fixed:5" and farm and farm.get("chunk") == "fixed:5",
                  "mandelbrot: --chunk fixed:5 in config.chunk (%s) and farm.chunk (%s)"
                  % (cfg, farm and farm.get("chunk")))
        if "imgpipe" in reports:
            pipe = reports["imgpipe"][1].get("pipeline")
            check(pipe is not None and pipe["items"] == 4 and pipe["bottleneck"] in
                  [s["name"] for s in pipe["stages"]] and len(pipe["links"]) >= 1,
                  "imgpipe: per-stage items, busy time, link peaks and the bottleneck")

        plot = os.path.join(ROOT, "scripts", "plot-report")
        if shutil.which("gnuplot"):
            for name, (path, _) in sorted(reports.items()):
                png = os.path.join(tmp, name + ".png")
                p = subprocess.run([sys.executable, plot, path, "-o", png], capture_output=True,
                                   text=True, timeout=60)
                check(p.returncode == 0 and os.path.getsize(png) > 0,
                      "plot-report draws %s%s" % (name, "" if p.returncode == 0 else
                                                  ": " + p.stderr[-500:]))
        else:
            print("skip plot-report: no gnuplot")

        # Progress into a pipe: --progress on gives a line a second at most, --quiet none.
        args = ["--grid", "600x600", "--steps", "3000"]
        rc, out, err = run_app(opts.bin, 1, "heat", args + ["--progress", "on"], env)
        lines = PROGRESS_RE.findall(err)
        m = re.search(r"^steps [0-9]+, ([0-9.]+) s", out, re.M)
        secs = float(m.group(1)) if m else 0
        check(rc == 0 and len(lines) <= secs + 2 and (secs < 1.5 or len(lines) >= 1),
              "heat --progress on into a pipe: %d lines in %.1f s" % (len(lines), secs))
        rc, out, err = run_app(opts.bin, 1, "heat", args[:2] + ["--steps", "300", "--quiet",
                                                                 "--progress", "on"], env)
        check(rc == 0 and not PROGRESS_RE.search(err), "heat --quiet: no progress")
        rc, out, err = run_app(opts.bin, 2, "mandelbrot", ["--size", "64x64", "--progress",
                                                            "bogus"], env)
        check(rc == 2 and "--progress" in out + err, "--progress bogus: status 2, names it")

    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
