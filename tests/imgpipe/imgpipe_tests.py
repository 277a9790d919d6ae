#!/usr/bin/env python3
"""tessera-imgpipe against its serial reference.

Usage:
  imgpipe_tests.py --app PATH --ref PATH --np N [--threads 1,2]
                   [--assign "default;1,1,1,1"] [--input] [--timeout 120]

Without --input: synthetic frames at N ranks, for each OMP_NUM_THREADS value and each
--stage-ranks assignment ("default": none given), plus an odd-sized case with other filter
settings and one credit per link (last thread count only); every checksum must equal the reference's.

With --input: writes PNG files of several formats (RGB, RGBA, gray+alpha, 16-bit gray, 4-bit
gray, palette; different sizes) into a temporary directory, runs the app on it at N ranks with
--output and checks the checksum against the reference and the number of PNG files written;
then feeds the app's own output directory back in (gray PNGs written by the app), checks that a
sink failure mid-stream ends every rank with status 1 and one message, and runs --serial and
--stage-alone on the same input (same checksum, "alone" line printed).

Prints each command and its result, then "N passed, N failed"; exits 1 if anything failed.
"""
import argparse
import os
import shlex
import shutil
import struct
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mpi"))
from mpitest import (csv_list, mpi_env, mpirun_prefix, parse_checksum, run_cmd,  # noqa: E402
                     run_combined, show_output)

SYNTH = ["--frames", "12", "--size", "96x64", "--seed", "3"]
ODD = ["--frames", "7", "--size", "61x45", "--seed", "11", "--sigma", "1.7", "--threshold", "40"]


class Runner:
    def __init__(self, opts):
        self.opts = opts
        self.passed = 0
        self.failed = 0

    def bad(self, label, why, out="", err=""):
        print("  FAIL %s: %s" % (label, why))
        show_output(out, err)
        self.failed += 1

    def reference(self, args):
        cmd = [self.opts.ref] + args
        print("RUN  %s" % shlex.join(cmd), flush=True)
        rc, out, err = run_cmd(cmd, mpi_env(), self.opts.timeout)
        got = parse_checksum(out) if rc == 0 else None
        if got is None:
            self.bad("reference", "exit status %s, no checksum" % rc, out, err)
        else:
            print("  ok   reference checksum %s" % got)
        return got

    def app(self, label, args, expect, threads="1", np=None, must_contain=None):
        """Runs the app under mpirun; returns its stdout if it passed, else None."""
        cmd = mpirun_prefix(np or self.opts.np) + [self.opts.app] + args
        print("RUN  OMP_NUM_THREADS=%s %s" % (threads, shlex.join(cmd)), flush=True)
        rc, out, err = run_cmd(cmd, mpi_env({"OMP_NUM_THREADS": threads}), self.opts.timeout)
        got = parse_checksum(out)
        lines = out.splitlines()
        if rc is None:
            self.bad(label, "TIMEOUT (deadlock?) after %gs" % self.opts.timeout, out, err)
        elif rc != 0:
            self.bad(label, "exit status %d" % rc, out, err)
        elif got is None or not lines or parse_checksum(lines[-1]) is None:
            self.bad(label, "no 'checksum <16 hex>' as the last stdout line", out, err)
        elif expect is not None and got != expect:
            self.bad(label, "checksum mismatch: app %s != reference %s" % (got, expect), out, err)
        elif must_contain and must_contain not in out:
            self.bad(label, "%r not in the output" % must_contain, out, err)
        else:
            print("  PASS %s: checksum %s" % (label, got))
            self.passed += 1
            return out
        return None

    def must_fail(self, label, args, status, expect, np=None):
        """Runs the app expecting `status`, `expect` on exactly one output line, no hang."""
        cmd = mpirun_prefix(np or self.opts.np) + [self.opts.app] + args
        print("RUN  %s" % shlex.join(cmd), flush=True)
        rc, out = run_combined(cmd, mpi_env({"OMP_NUM_THREADS": "1"}), self.opts.timeout)
        hits = [x for x in out.splitlines() if expect in x]
        self.check(label, rc == status and len(hits) == 1,
                   "status %s (expected %d), %d lines with %r:\n%s"
                   % ("timeout" if rc is None else rc, status, len(hits), expect, out))
        return rc

    def check(self, label, ok, why):
        if ok:
            print("  PASS %s" % label)
            self.passed += 1
        else:
            self.bad(label, why)


def synthetic(r):
    opts = r.opts
    ref = r.reference(SYNTH)
    ref_odd = r.reference(ODD)
    if ref is None or ref_odd is None:
        return
    assigns = [a.strip() for a in opts.assign.split(";") if a.strip()]
    threads = csv_list(opts.threads)
    for t in threads:
        for a in assigns:
            extra = [] if a == "default" else ["--stage-ranks", a]
            r.app("np=%d threads=%s stage-ranks=%s" % (opts.np, t, a), SYNTH + extra + ["--quiet"],
                  ref, threads=t)
    r.app("np=%d threads=%s odd size, credits 1" % (opts.np, threads[-1]),
          ODD + ["--credits", "1"], ref_odd, threads=threads[-1])


# ---- PNG files without PIL ----

def png_file(path, w, h, color_type, depth, rows, palette=None, trns=None):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    raw = b"".join(b"\x00" + row for row in rows)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type,
                                                              0, 0, 0))
    if palette:
        data += chunk(b"PLTE", bytes(palette))
    if trns:
        data += chunk(b"tRNS", bytes(trns))
    data += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


def pattern(x, y, k):
    """A deterministic picture with edges: checkers, a disc and a ramp."""
    v = 190 if ((x // (4 + k)) + (y // 5)) % 2 else 30
    if (x - 12) ** 2 + (y - 10) ** 2 < 49:
        v = 255 - v
    return (v + 3 * x + 5 * y * k) % 256


def write_inputs(d):
    def rows_of(w, h, k, per_pixel):
        return [bytes(b for x in range(w) for b in per_pixel(pattern(x, y, k), x, y))
                for y in range(h)]
    png_file(os.path.join(d, "00_rgb.png"), 40, 30, 2, 8,
             rows_of(40, 30, 1, lambda v, x, y: (v, (v * 7) % 256, 255 - v)))
    png_file(os.path.join(d, "01_rgba.png"), 50, 20, 6, 8,
             rows_of(50, 20, 2, lambda v, x, y: ((v * 3) % 256, v, x * 5 % 256, y * 9 % 256)))
    png_file(os.path.join(d, "02_gray_alpha.png"), 20, 35, 4, 8,
             rows_of(20, 35, 3, lambda v, x, y: (v, 255 - x)))
    png_file(os.path.join(d, "03_gray16.png"), 33, 41, 0, 16,
             rows_of(33, 41, 4, lambda v, x, y: (v, (x * 37 + y) % 256)))
    png_file(os.path.join(d, "04_palette.png"), 45, 25, 3, 8,
             rows_of(45, 25, 5, lambda v, x, y: (v % 16,)),
             palette=[c for i in range(16) for c in (i * 16, 255 - i * 13, (i * 71) % 256)])
    rows4 = []
    for y in range(30):
        vals = [pattern(x, y, 6) >> 4 for x in range(30)]
        rows4.append(bytes((vals[i] << 4) | vals[i + 1] for i in range(0, 30, 2)))
    png_file(os.path.join(d, "05_gray4.png"), 30, 30, 0, 4, rows4)
    # A palette with transparency: libpng turns tRNS into an alpha channel, which is ignored.
    png_file(os.path.join(d, "06_palette_trns.png"), 16, 8, 3, 8,
             rows_of(16, 8, 7, lambda v, x, y: (v % 4,)),
             palette=[c for i in range(4) for c in (i * 60, 200 - i * 40, 90)],
             trns=[0, 128, 255, 64])
    with open(os.path.join(d, "notes.txt"), "w") as f:
        f.write("not an image, ignored\n")
    return 7


def pngs(d):
    return sorted(n for n in os.listdir(d) if n.lower().endswith(".png"))


def inputs(r):
    opts = r.opts
    tmp = tempfile.mkdtemp(prefix="imgpipe-test-")
    try:
        src, out1, out2 = (os.path.join(tmp, n) for n in ("in", "out1", "out2"))
        os.mkdir(src)
        n = write_inputs(src)
        ref = r.reference(["--input", src])
        if ref is None:
            return
        t = csv_list(opts.threads)[-1]
        if r.app("np=%d input dir --output" % opts.np, ["--input", src, "--output", out1], ref,
                 threads=t) is not None:
            names = pngs(out1)
            want = ["frame_%06d.png" % i for i in range(n)]
            r.check("%d output files frame_000000.png..." % n, names == want,
                    "output files %s, expected %s" % (names, want))
            # The app's own gray output as input, once more through the pipeline.
            ref2 = r.reference(["--input", out1, "--sigma", "0.6", "--threshold", "100"])
            if ref2 is not None:
                r.app("np=%d app output as input" % opts.np,
                      ["--input", out1, "--sigma", "0.6", "--threshold", "100", "--output", out2],
                      ref2, threads=t)
                r.check("second output has %d files" % n,
                        os.path.isdir(out2) and len(pngs(out2)) == n,
                        "expected %d files in %s" % (n, out2))
        # The palette with tRNS alone: frames sized by its header (3 channels), decoded with
        # libpng's alpha from tRNS stripped.
        only = os.path.join(tmp, "trns")
        os.mkdir(only)
        shutil.copy(os.path.join(src, "06_palette_trns.png"), only)
        ref3 = r.reference(["--input", only])
        if ref3 is not None:
            r.app("np=%d a palette PNG with tRNS alone" % opts.np, ["--input", only], ref3,
                  threads=t)
        # A sink failure mid-stream (a directory where frame 2's temporary file goes): status 1,
        # one message, and nothing left under frame 2's name.
        blocked = os.path.join(tmp, "blocked")
        os.makedirs(os.path.join(blocked, "frame_000002.png.tessera.tmp"))
        r.must_fail("sink failure: status 1, message once", ["--input", src, "--output", blocked],
                    1, "failed on item 2")
        r.check("sink failure: no frame_000002.png",
                not os.path.exists(os.path.join(blocked, "frame_000002.png")),
                "frame_000002.png was written")
        bad_inputs(r, tmp, src, out1)
        r.app("np=%d input dir --serial" % opts.np, ["--input", src, "--serial"], ref, threads=t)
        r.app("np=%d input dir --stage-alone blur" % opts.np,
              ["--input", src, "--stage-alone", "blur"], ref, threads=t,
              must_contain="stage blur alone: ")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bad_inputs(r, tmp, src, out1):
    """Bad input files and existing outputs: status 2 before anything is computed, one message,
    no hang; --force replaces; nested output directories are made."""
    # A FIFO among the inputs: refused by its type, never opened (opening would block).
    fifo_dir = os.path.join(tmp, "fifo")
    shutil.copytree(src, fifo_dir)
    os.mkfifo(os.path.join(fifo_dir, "03b_fifo.png"))
    r.must_fail("FIFO input refused", ["--input", fifo_dir], 2, "is a FIFO")
    # Truncated pixel data (a valid header): found when the frame is read, still status 2.
    with open(os.path.join(src, "00_rgb.png"), "rb") as f:
        good = f.read()
    for name, data, expect in [
            ("truncated", good[:len(good) - 30], "03_cut.png"),
            ("corrupt data", good[:60] + bytes(b ^ 0x5a for b in good[60:]), "03_cut.png"),
            ("bad header", good[:16] + b"\xff\xff\xff\xff" + good[20:], "03_cut.png")]:
        d = os.path.join(tmp, "cut-" + name.replace(" ", "-"))
        shutil.copytree(src, d)
        with open(os.path.join(d, "03_cut.png"), "wb") as f:
            f.write(data)
        r.must_fail("%s PNG input: status 2" % name, ["--input", d, "--output", d + "-out"], 2,
                    expect)
        r.must_fail("%s PNG input --serial: status 2" % name, ["--input", d, "--serial"], 2,
                    expect)
    # Existing frames are refused at start (nothing else written), replaced with --force.
    before = {n: os.stat(os.path.join(out1, n)).st_mtime_ns for n in pngs(out1)}
    r.must_fail("existing output refused", ["--input", src, "--output", out1], 2,
                "exists; not replacing it (use --force)")
    after = {n: os.stat(os.path.join(out1, n)).st_mtime_ns for n in pngs(out1)}
    r.check("refused run left the frames alone", before == after and before,
            "frames changed: %s -> %s" % (before, after))
    r.app("existing output with --force", ["--input", src, "--output", out1, "--force"], None)
    report = os.path.join(tmp, "report.json")
    with open(report, "w") as f:
        f.write("{}\n")
    r.must_fail("existing report refused", ["--frames", "2", "--size", "16x16", "--report",
                                            report], 2, "exists; not replacing it")
    nested = os.path.join(tmp, "new", "nested", "out")
    if r.app("nested output created", ["--frames", "3", "--size", "16x16", "--output", nested],
             None) is not None:
        r.check("nested output has 3 frames", pngs(nested) == ["frame_%06d.png" % i
                                                               for i in range(3)],
                "files %s" % (pngs(nested) if os.path.isdir(nested) else "missing"))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--app", required=True)
    ap.add_argument("--ref", required=True)
    ap.add_argument("--np", type=int, required=True)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--assign", default="default",
                    help="';'-separated --stage-ranks values, 'default' for none")
    ap.add_argument("--input", action="store_true", help="the PNG directory cases instead")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per command")
    opts = ap.parse_args()
    r = Runner(opts)
    if opts.input:
        inputs(r)
    else:
        synthetic(r)
    print("%d passed, %d failed" % (r.passed, r.failed))
    return 1 if r.failed or not r.passed else 0


if __name__ == "__main__":
    sys.exit(main())
