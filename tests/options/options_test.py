#!/usr/bin/env python3
"""Options from a file and the environment, "--", and --help, through the apps under mpirun.

Each case runs in its own scratch directory: python3 options_test.py --bin BUILD --case NAME.
Precedence is read back from values the apps print (--plan's grid line) or write (the report's
options); a failing case must print its message exactly once and exit with status 2."""
import argparse
import json
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mpi"))
from mpitest import mpi_env, mpirun_prefix, run_combined  # noqa: E402

APPS = ["heat", "life", "poisson", "mandelbrot", "particles", "imgpipe", "md", "farm"]
TIMEOUT = 60


class Case:
    def __init__(self, bindir, tmp):
        self.bindir, self.tmp = bindir, tmp

    def exe(self, app):
        return os.path.join(self.bindir, "apps", app, "tessera-" + app)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run(self, np, app, args, env=None, timeout=TIMEOUT):
        extra = {"TESSERA_OPTIONS": env} if env is not None else {}
        base = mpi_env(extra)
        if env is None:
            base.pop("TESSERA_OPTIONS", None)
        rc, out = run_combined(mpirun_prefix(np) + [self.exe(app)] + args, base, timeout)
        return rc, out

    def ok(self, np, app, args, env=None):
        rc, out = self.run(np, app, args, env)
        if rc != 0:
            raise AssertionError(f"{app} {args} at {np} ranks: status {rc}\n{out}")
        return out

    def fails(self, np, app, args, expect, env=None, status=2):
        rc, out = self.run(np, app, args, env)
        if rc is None:
            raise AssertionError(f"{app} {args}: timed out\n{out}")
        if rc != status or out.count(expect) != 1:
            raise AssertionError(f"{app} {args} at {np} ranks: status {rc} (want {status}), "
                                 f"'{expect}' seen {out.count(expect)} times (want 1)\n{out}")
        return out


def grid_of(out):
    # stderr is merged into stdout: a warning may land in the middle of the plan line.
    m = re.search(r"plan: grid (\S+)", out)
    if m:
        return m.group(1)
    raise AssertionError("no plan line in:\n" + out)


def case_precedence(c):
    """env < file < command line; later occurrences win; comments and blank lines skipped."""
    f = c.write("heat.opts", "# a heat run\n\n   # indented comment\n"
                "--grid 16x16   # the file's grid\nmap = roundrobin\nplan\n")
    for np in (1, 2, 3, 4):
        assert grid_of(c.ok(np, "heat", [], env="--grid 8x8 --plan")) == "8x8"
        assert grid_of(c.ok(np, "heat", ["--options-file", f], env="--grid 8x8")) == "16x16"
        out = c.ok(np, "heat", ["--grid", "24x24", "--options-file=" + f], env="--grid 8x8")
        assert grid_of(out) == "24x24", out
        assert "map roundrobin" in out, out
        assert grid_of(c.ok(np, "heat", ["--plan", "--grid", "8x8", "--grid", "12x12"])) == "12x12"


def case_report(c):
    """The values a run uses, as its report records them, come from all three sources."""
    f = c.write("life.opts", "steps 3\nseed = 5\n--density=40\ngrid 16x16\n")
    rep = os.path.join(c.tmp, "r.json")
    c.ok(3, "life", ["--options-file", f, "--density", "45", "--report", rep],
         env="--seed 9 --quiet --steps 1")
    with open(rep) as fp:
        o = json.load(fp)["options"]
    assert (o["steps"], o["seed"], o["density"], o["grid"], o["quiet"]) == (3, 5, 45, [16, 16],
                                                                            True), o


def case_quoted(c):
    """A quoted value holding a blank and a '#'."""
    f = c.write("q.opts", "grid 16x16\nsteps 1\nquiet\npng \"a dir/x #1.png\"\n")
    os.mkdir(os.path.join(c.tmp, "a dir"))
    c.ok(2, "heat", ["--options-file", f])
    assert os.path.exists(os.path.join(c.tmp, "a dir", "x #1.png"))


def case_bad_line(c):
    """A bad line is told as FILE:LINE, once, with status 2, at any rank count."""
    f = c.write("bad.opts", "# ok so far\nsteps 3\n\nbogus 1\n")
    c.fails(1, "heat", ["--options-file", f], f"{f}:4: unknown option '--bogus' (see --help)")
    f = c.write("bad2.opts", "steps 3\nsteps 12abc\n")
    c.fails(2, "heat", ["--options-file", f], f"{f}:2: --steps '12abc': expected an integer")
    f = c.write("bad3.opts", "\n\npng \"x.png\n")
    c.fails(3, "life", ["--options-file", f], f"{f}:3: unterminated quote")
    f = c.write("bad4.opts", "output =\n")
    c.fails(4, "heat", ["--options-file", f], f"{f}:1: --output: empty value")
    f = c.write("bad5.opts", "center 0 0\n")
    c.fails(2, "mandelbrot", ["--options-file", f], f"{f}:1: more than one value")
    f = c.write("bad6.opts", "options-file other.opts\n")
    c.fails(2, "particles", ["--options-file", f],
            f"{f}:1: --options-file is read from the command line only")
    f = c.write("bad7.opts", "no-overlap yes\n")
    c.fails(1, "heat", ["--options-file", f], f"{f}:1: --no-overlap takes no value")


def case_env_bad(c):
    c.fails(2, "heat", [], "TESSERA_OPTIONS: --steps 'x': expected an integer", env="--steps x")
    c.fails(3, "life", [], "TESSERA_OPTIONS: unknown option '--bogus'", env="--grid 8x8 --bogus")
    c.fails(1, "heat", [], "TESSERA_OPTIONS: unexpected argument 'steps'", env="steps 3")
    c.fails(2, "heat", [], "TESSERA_OPTIONS: --help is read from the command line only",
            env="--help")
    c.fails(1, "heat", ["--version=1"], "--version takes no value")


def case_file_refused(c):
    """A FIFO is refused at once (opening it would block), as are a directory, a missing file
    and an empty name."""
    fifo = os.path.join(c.tmp, "fifo")
    os.mkfifo(fifo)
    c.fails(2, "heat", ["--options-file", fifo], "is a FIFO; only regular files are read")
    c.fails(3, "imgpipe", ["--options-file", c.tmp], "is a directory")
    c.fails(1, "heat", ["--options-file", os.path.join(c.tmp, "none")],
            "--options-file: cannot read")
    c.fails(4, "heat", ["--options-file="], "--options-file: empty value")
    c.fails(2, "heat", ["--options-file"], "--options-file needs a value (FILE)")


def case_double_dash(c):
    """-- ends the options: nothing after it for apps that take no arguments."""
    assert grid_of(c.ok(2, "heat", ["--grid", "8x8", "--plan", "--"])) == "8x8"
    c.fails(2, "heat", ["--grid", "8x8", "--", "extra"],
            "unexpected argument 'extra' after -- (tessera-heat takes no arguments)")
    # --help after -- is an argument, not a request for help.
    c.fails(3, "life", ["--", "--help"], "unexpected argument '--help' after --")
    c.fails(4, "mandelbrot", ["--", "--size", "8x8"], "unexpected argument '--size' after --")


def case_help_wins(c):
    """--help/-h wins over any other error on the command line, at once, with status 0."""
    for app in APPS:
        for args in (["--bogus", "--help"], ["--steps", "abc", "-h"], ["--help", "--grid=0x0"],
                     ["--options-file", "/nonexistent", "--help"]):
            out = c.ok(2, app, args, env="--bogus-from-env")
            # (stderr is merged in: a launcher's oversubscription note may come first)
            assert out.count("Usage: mpirun -np R tessera-" + app) == 1, out


def case_help_width(c):
    """Every app's --help fits 80 columns, and descriptions start in one column."""
    for app in APPS:
        out = c.ok(1, app, ["--help"])
        cols = set()
        for line in out.splitlines():
            assert len(line) <= 80, f"{app}: {len(line)} columns: {line!r}"
            if line.startswith("  --"):
                rest = line[2:]
                gap = rest.find("  ")
                if gap > 0:
                    cols.add(2 + gap + len(rest[gap:]) - len(rest[gap:].lstrip()))
        assert len(cols) == 1, f"{app}: descriptions start at columns {sorted(cols)}"
        assert "--options-file FILE" in out and "TESSERA_OPTIONS" in out, out


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin", required=True, help="meson build directory")
    ap.add_argument("--case", required=True, choices=sorted(CASES))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tsr-options-") as tmp:
        os.chdir(tmp)
        CASES[a.case](Case(os.path.abspath(a.bin), tmp))
    print(f"ok {a.case}")


if __name__ == "__main__":
    main()
