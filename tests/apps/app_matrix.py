#!/usr/bin/env python3
"""Run a tessera app over rank counts, thread counts and every combination of app-only option
variants, and compare each run's checksum with a serial reference program.

Usage:
  app_matrix.py --app PATH --ref PATH --np 1,2 [--threads 1,2]
                [--vary "A|B|..."]... [--energy] [--png] [--timeout 60]
                -- <app/ref args...>

The args after "--" go unchanged to the reference and the app. Each --vary is a '|'-separated
list of shlex-split app-only argument strings (an empty entry means no extra args); the app runs
once for every rank count x thread count x combination of one entry from each --vary.

--energy: the reference and the app print "kinetic_energy <value>"; every app run must print the
very same value (exact: the app's sum is exactly rounded), within a relative 1e-12 of the
reference's (which is only compensated).

--png: one extra run (the first rank count and thread count, no variants) with --png into a
temporary directory; the file must be a PNG of the --size given after "--".

Prints each command and its result, then "N passed, N failed"; exits 1 if anything failed.
"""
import argparse
import itertools
import os
import re
import shlex
import struct
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mpi"))
from mpitest import csv_list, mpi_env, mpirun_prefix, parse_checksum, run_cmd, show_output, split_argv  # noqa: E402

ENERGY_RE = re.compile(r"^kinetic_energy (\S+)$")


def parse_energy(stdout):
    found = None
    for line in stdout.splitlines():
        m = ENERGY_RE.match(line.rstrip())
        if m:
            found = m.group(1)
    return found


def png_size(path):
    """(width, height) from a PNG's IHDR, or None if it is not a PNG."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def arg_value(args, name):
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a[len(name) + 1:]
    return None


class Matrix:
    def __init__(self, opts, passthru):
        self.opts = opts
        self.passthru = passthru
        self.passed = 0
        self.failed = 0
        self.energy = None  # (value text, label) of the first app run

    def fail(self, label, why, out="", err=""):
        print("  FAIL %s: %s" % (label, why))
        show_output(out, err)
        self.failed += 1

    def run(self, np, threads, extra, label):
        """One app run; returns its stdout if it exited 0, else None (failure recorded)."""
        cmd = mpirun_prefix(np) + [self.opts.app] + self.passthru + extra
        print("RUN  OMP_NUM_THREADS=%s %s" % (threads, shlex.join(cmd)), flush=True)
        rc, out, err = run_cmd(cmd, mpi_env({"OMP_NUM_THREADS": str(threads)}), self.opts.timeout)
        if rc is None:
            self.fail(label, "TIMEOUT (deadlock?) after %gs" % self.opts.timeout, out, err)
            return None
        if rc != 0:
            self.fail(label, "exit status %d" % rc, out, err)
            return None
        return out

    def check(self, out, label, ref_sum, ref_energy):
        got = parse_checksum(out)
        if got is None:
            return self.fail(label, "no 'checksum <16 hex>' line on stdout", out)
        if got != ref_sum:
            return self.fail(label, "checksum mismatch: app %s != reference %s" % (got, ref_sum))
        if self.opts.energy:
            e = parse_energy(out)
            if e is None:
                return self.fail(label, "no 'kinetic_energy' line on stdout", out)
            if self.energy is None:
                if abs(float(e) - float(ref_energy)) > 1e-12 * abs(float(ref_energy)):
                    return self.fail(label, "kinetic energy %s differs from the reference's %s "
                                     "by more than 1e-12 relative" % (e, ref_energy))
                self.energy = (e, label)
            elif e != self.energy[0]:
                return self.fail(label, "kinetic energy %s != %s of %s (must be exact)"
                                 % (e, self.energy[0], self.energy[1]))
        print("  PASS %s: checksum %s%s" % (label, got, ", kinetic_energy " + parse_energy(out)
                                            if self.opts.energy else ""))
        self.passed += 1

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        return 1 if self.failed else 0


def main():
    own, passthru = split_argv(sys.argv[1:])
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--app", required=True, help="MPI app executable")
    ap.add_argument("--ref", required=True, help="serial reference executable")
    ap.add_argument("--np", required=True, help="comma list of rank counts")
    ap.add_argument("--threads", default="1,2", help="comma list of OMP_NUM_THREADS values")
    ap.add_argument("--vary", action="append", default=[],
                    help="'|'-separated app-only argument variants (repeatable)")
    ap.add_argument("--energy", action="store_true", help="compare kinetic_energy lines too")
    ap.add_argument("--png", action="store_true", help="check one --png output")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per command")
    opts = ap.parse_args(own)
    nps = [int(x) for x in csv_list(opts.np)]
    threads = csv_list(opts.threads)
    if not nps or min(nps) < 1 or not threads:
        ap.error("need rank counts >= 1 and a non-empty --threads")
    varies = [[shlex.split(v) for v in spec.split("|")] for spec in opts.vary]

    mx = Matrix(opts, passthru)
    ref_cmd = [opts.ref] + passthru
    print("RUN  %s" % shlex.join(ref_cmd), flush=True)
    rc, out, err = run_cmd(ref_cmd, mpi_env(), opts.timeout)
    ref_sum = parse_checksum(out) if rc == 0 else None
    ref_energy = parse_energy(out) if rc == 0 else None
    if ref_sum is None or (opts.energy and ref_energy is None):
        mx.fail("reference", "TIMEOUT" if rc is None else
                "exit status %d, or no checksum/kinetic_energy line" % rc, out, err)
        return mx.finish()
    print("  ok   reference checksum %s%s" % (ref_sum, ", kinetic_energy " + ref_energy
                                              if opts.energy else ""))

    for np in nps:
        for t in threads:
            for combo in itertools.product(*varies):
                extra = [a for part in combo for a in part]
                label = "np=%d threads=%s %s" % (np, t, shlex.join(extra) or "(no extra args)")
                out = mx.run(np, t, extra, label)
                if out is not None:
                    mx.check(out, label, ref_sum, ref_energy)
                sys.stdout.flush()

    if opts.png:
        size = arg_value(passthru, "--size")
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "out.png")
            label = "np=%d threads=%s --png" % (nps[0], threads[0])
            out = mx.run(nps[0], threads[0], ["--png", path], label)
            if out is not None:
                got = png_size(path)
                want = tuple(int(x) for x in size.split("x")) if size else None
                if got is None:
                    mx.fail(label, "%s is missing or not a PNG" % path, out)
                elif want and got != want:
                    mx.fail(label, "PNG is %dx%d, expected %dx%d" % (got + want), out)
                elif parse_checksum(out) != ref_sum:
                    mx.fail(label, "checksum with --png differs from the reference", out)
                else:
                    print("  PASS %s: %dx%d PNG, checksum %s" % ((label,) + got + (ref_sum,)))
                    mx.passed += 1
    return mx.finish()


if __name__ == "__main__":
    sys.exit(main())
