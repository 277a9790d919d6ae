#!/usr/bin/env python3
"""Nothing lost, nothing hung: the files mandelbrot and particles write.

Usage:
  file_safety.py --mandelbrot PATH --particles PATH --np N [--timeout 60]

At N ranks, in a temporary directory:
  - mandelbrot --png / --report over an existing file without --force: status 2 at the start,
    one message, the file byte-identical;
  - mandelbrot --png over an existing file with --force but a failing task: status 1, the file
    byte-identical and no temporary file left;
  - mandelbrot --png with --force: the file replaced, a user's m.png.tmp untouched and a link
    under tessera's temporary name not followed; into a missing nested directory: made;
  - particles --report over an existing file: status 2; with --force: replaced;
  - particles --dt 1e308: status 1, one message naming step 1.

Prints each command and its result, then "N passed, N failed"; exits 1 if anything failed.
"""
import argparse
import os
import shlex
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mpi"))
from mpitest import mpi_env, mpirun_prefix, run_combined  # noqa: E402

MANDEL = ["--size", "48x32", "--max-iter", "50"]


class Checks:
    def __init__(self, opts):
        self.opts = opts
        self.passed = 0
        self.failed = 0

    def check(self, label, ok, why=""):
        if ok:
            print("  PASS %s" % label)
            self.passed += 1
        else:
            print("  FAIL %s: %s" % (label, why))
            self.failed += 1

    def run(self, label, cmd, status, expect=None):
        """Runs cmd at N ranks; checks the status and, if given, `expect` on exactly one line."""
        full = mpirun_prefix(self.opts.np) + cmd
        print("RUN  %s" % shlex.join(full), flush=True)
        rc, out = run_combined(full, mpi_env({"OMP_NUM_THREADS": "1"}), self.opts.timeout)
        hits = [x for x in out.splitlines() if expect in x] if expect else [None]
        ok = rc == status and len(hits) == 1
        self.check(label, ok, "status %s (expected %d), %d lines with %r:\n%s"
                   % ("timeout" if rc is None else rc, status, len(hits), expect, out))
        return ok


def read(path):
    with open(path, "rb") as f:
        return f.read()


def make(path, data=b"precious: not to be replaced\n"):
    with open(path, "wb") as f:
        f.write(data)
    return data


def no_tmp(d):
    return [n for n in os.listdir(d) if n.endswith(".tessera.tmp")]


def mandelbrot(c, tmp):
    app = c.opts.mandelbrot
    png = os.path.join(tmp, "m.png")
    old = make(png)
    c.run("mandelbrot existing --png refused", [app] + MANDEL + ["--png", png], 2,
          "--png: '%s' exists; not replacing it (use --force)" % png)
    c.check("  ... the PNG unchanged", read(png) == old, "the file changed")
    c.run("mandelbrot --force, failing task", [app] + MANDEL + ["--png", png, "--force",
                                                               "--fail-task", "3"],
          1, "injected failure (--fail-task 3)")
    c.check("  ... the PNG byte-identical", read(png) == old, "the file changed")
    c.check("  ... no temporary file left", not no_tmp(tmp), "left: %s" % no_tmp(tmp))
    # A user's "m.png.tmp" is not tessera's; a link under tessera's temporary name is removed,
    # never written through.
    theirs, precious = make(png + ".tmp"), make(os.path.join(tmp, "precious"))
    os.symlink("precious", png + ".tessera.tmp")
    if c.run("mandelbrot --force replaces", [app] + MANDEL + ["--png", png, "--force"], 0):
        c.check("  ... a PNG now", read(png)[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG")
    c.check("  ... the user's m.png.tmp and a link's target untouched",
            read(png + ".tmp") == theirs and read(os.path.join(tmp, "precious")) == precious and
            not os.path.lexists(png + ".tessera.tmp"), "changed or left")
    os.unlink(png + ".tmp")
    report = os.path.join(tmp, "m.json")
    old = make(report)
    c.run("mandelbrot existing --report refused", [app] + MANDEL + ["--report", report], 2,
          "--report: '%s' exists; not replacing it" % report)
    c.check("  ... the report unchanged", read(report) == old, "the file changed")
    # A name that fits but not with the temporary suffix: refused at the start, not after the run.
    long = os.path.join(tmp, "m" * 240 + ".png")
    c.run("mandelbrot --png name too long for its temporary name", [app] + MANDEL + ["--png", long],
          2, "has 244 characters, at most 243 fit here")
    nested = os.path.join(tmp, "a", "b", "c", "m.png")
    if c.run("mandelbrot --png into a missing nested directory", [app] + MANDEL + ["--png",
                                                                                 nested], 0):
        c.check("  ... written", os.path.isfile(nested), "%s missing" % nested)


def particles(c, tmp):
    app = c.opts.particles
    report = os.path.join(tmp, "p.json")
    old = make(report)
    small = ["--particles", "100", "--steps", "20"]
    c.run("particles existing --report refused", [app] + small + ["--report", report], 2,
          "--report: '%s' exists; not replacing it" % report)
    c.check("  ... the report unchanged", read(report) == old, "the file changed")
    if c.run("particles --report --force", [app] + small + ["--report", report, "--force"], 0):
        c.check("  ... replaced by JSON", read(report).lstrip().startswith(b"{\n"),
                "not the JSON report")
    c.run("particles --dt 1e308 stops", [app] + small + ["--dt", "1e308"], 1,
          "no longer finite at step 1 ")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mandelbrot", required=True)
    ap.add_argument("--particles", required=True)
    ap.add_argument("--np", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per command")
    opts = ap.parse_args()
    c = Checks(opts)
    tmp = tempfile.mkdtemp(prefix="apps-files-")
    try:
        mandelbrot(c, tmp)
        particles(c, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (c.passed, c.failed))
    return 1 if c.failed or not c.passed else 0


if __name__ == "__main__":
    sys.exit(main())
