#!/usr/bin/env python3
"""Particle runs end to end through test_prun (tsr_particles_run_*), with Debian's python3 (h5py).

Usage: prun.py --bin BUILD_DIR SCENARIO

series   an output series at 2 ranks with rebalancing: PREFIX_<step>.h5 every 5 steps and the
         last, ids ascending and positions and velocities equal bit for bit to the serial
         ballistic model below; PREFIX.xmf a temporal collection of one Polyvertex grid per file;
         ParaView (pvpython) opens it as the right number of points.
restart  checkpoints every 7 steps at 2 ranks; a restart from a FILE at 3 ranks with other
         blocks and map, and --restart latest at 4 ranks (another map, rebalancing, the output
         series going on), end with the checksum of the uninterrupted run; the series lists
         every file once.
signal   SIGTERM to the ranks mid-run: exit status 3, a checkpoint path printed, then
         --restart latest ends with the uninterrupted checksum; --checkpoint-seconds writes
         checkpoints by wall time.
refuse   an existing output without --force, another app's checkpoint, other run options,
         --input, another run's checkpoint directory: one message, status 2 on every rank.
"""
import json
import math
import os
import re
import shutil
import sys

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "mpi"))
from mpitest import (BIN, check, mpirun, mpirun_prefix, must_fail,  # noqa: E402
                     parse_checksum, run_cmd, scenario_main, sigterm_when, unit)

GRID = (12, 10, 8)
NPART = 300
DT = 0.25


def wrap(x, n):
    if 0.0 <= x < n:
        return x
    x -= n * math.floor(x / n)
    return 0.0 if (x >= n or x < 0.0) else x


def model(steps):
    """Positions and velocities of every particle after `steps` steps (test_prun.c's formulas)."""
    pos = np.zeros((NPART, 3))
    vel = np.zeros((NPART, 3))
    for i in range(NPART):
        for k in range(3):
            pos[i, k] = unit(i * 7 + k) * GRID[k]
            vel[i, k] = (unit(i * 7 + 3 + k) - 0.5) * 2.0
    for _ in range(steps):
        for i in range(NPART):
            for k in range(3):
                pos[i, k] = wrap(pos[i, k] + DT * vel[i, k], float(GRID[k]))
    return pos, vel


def same_bits(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and np.array_equal(a.view(np.uint64), b.view(np.uint64))


def run(np_, args):
    rc, out, _ = mpirun(np_, [BIN["prun"]] + args)
    return rc, out


def scenario_series():
    rc, out = run(2, ["--output", "out/p", "--output-every", "5", "--rebalance-every", "4"])
    check(rc == 0 and parse_checksum(out), "run with an output series")
    steps = [0, 5, 10, 15, 20]
    for s in steps:
        path = "out/p_%06d.h5" % s
        if not check(os.path.exists(path), "%s written" % path):
            continue
        pos, vel = model(s)
        with h5py.File(path, "r") as f:
            g = f["particles"]
            ok = (np.array_equal(g["id"][()], np.arange(NPART)) and
                  same_bits(g["position"][()], pos) and same_bits(g["velocity"][()], vel) and
                  int(f.attrs["step"]) == s and float(f.attrs["time"]) == s * DT)
        check(ok, "h5py: %s ids ascending, positions and velocities of the model" % path)
    xmf = open("out/p.xmf").read()
    grids = re.findall(r'<Grid Name="particles".*?</Grid>', xmf, re.S)
    ok = (len(grids) == len(steps) and 'CollectionType="Temporal"' in xmf and
          all('TopologyType="Polyvertex" NumberOfElements="%d"' % NPART in g and
              "p_%06d.h5:/particles/position" % s in g and '<Time Value="%.17g"/>' % (s * DT) in g
              for g, s in zip(grids, steps)))
    check(ok, "p.xmf: a temporal collection of %d Polyvertex grids of %d points"
          % (len(steps), NPART))
    pvpython = shutil.which("pvpython") or "/usr/bin/pvpython"
    if not os.access(pvpython, os.X_OK):
        check(False, "pvpython is installed")
        return
    rc, out, err = run_cmd([pvpython, os.path.join(HERE, "pv_points.py"), "out/p.xmf"], None, 180)
    got = None
    for line in out.splitlines():
        if line.startswith("{"):
            got = json.loads(line)
    check(got is not None and got["points"] == NPART,
          "ParaView opens p.xmf: %s points" % (got and got["points"]))


def scenario_restart():
    rc, out = run(2, ["--steps", "20"])
    straight = parse_checksum(out)
    check(rc == 0 and straight, "uninterrupted run: %s" % straight)
    rc, out = run(2, ["--steps", "20", "--checkpoint-every", "7", "--checkpoint-keep", "5",
                      "--output", "o/p", "--output-every", "5"])
    check(rc == 0 and sorted(os.listdir("checkpoints")) == ["ckpt_000007.h5", "ckpt_000014.h5"],
          "checkpoints at 7 and 14: %s" % sorted(os.listdir("checkpoints")))
    rc, out = run(3, ["--steps", "20", "--restart", "checkpoints/ckpt_000007.h5", "--blocks",
                      "3x2x2", "--map", "roundrobin"])
    check(rc == 0 and parse_checksum(out) == straight,
          "restart from step 7 at 3 ranks, 3x2x2 round-robin: %s" % parse_checksum(out))
    rc, out = run(4, ["--steps", "20", "--restart", "latest", "--blocks", "2x2x2", "--map", "sfc",
                      "--rebalance-every", "3", "--output", "o/p", "--output-every", "5"])
    check(rc == 0 and "restarting from checkpoints/ckpt_000014.h5" in out and
          parse_checksum(out) == straight,
          "--restart latest (14) at 4 ranks, 2x2x2 sfc, rebalancing: %s" % parse_checksum(out))
    xmf = open("o/p.xmf").read()
    files = re.findall(r"(p_\d+\.h5):/particles/position", xmf)
    check(files == ["p_%06d.h5" % s for s in (0, 5, 10, 15, 20)],
          "the series after the restart lists each output once: %s" % files)


def scenario_signal():
    rc, out = run(2, ["--steps", "40"])
    straight = parse_checksum(out)
    cmd = mpirun_cmd(2, ["--steps", "40", "--sleep", "0.1", "--checkpoint-every", "2",
                         "--checkpoint-keep", "50"])
    print("RUN  %s (SIGTERM to the ranks once the loop runs)" % " ".join(cmd), flush=True)
    rc, out = sigterm_when(cmd, "checkpoints/ckpt_000002.h5", "test_prun")
    m = re.search(r"stopped by a signal at step (\d+); checkpoint written to (\S+)", out)
    check(rc == 3 and m is not None and int(m.group(1)) < 40,
          "SIGTERM: exit status 3, stopped at step %s" % (m and m.group(1)))
    if rc != 3:
        print(out)
    rc, out = run(3, ["--steps", "40", "--restart", "latest"])
    check(rc == 0 and parse_checksum(out) == straight,
          "--restart latest at 3 ranks: %s == %s" % (parse_checksum(out), straight))
    rc, out = run(2, ["--steps", "24", "--sleep", "0.05", "--checkpoint-seconds", "0.3",
                      "--checkpoint-keep", "50", "--checkpoint-dir", "cs"])
    n = len([f for f in os.listdir("cs") if f.startswith("ckpt_")]) if os.path.isdir("cs") else 0
    check(rc == 0 and 2 <= n <= 8, "--checkpoint-seconds 0.3 over about 1.2 s: %d checkpoints" % n)


def scenario_refuse():
    rc, _ = run(2, ["--output", "o/p", "--output-every", "5", "--checkpoint-every", "10"])
    check(rc == 0, "first run")
    must_fail([BIN["prun"], "--output", "o/p", "--output-every", "5"],
              "--output: 'o/p.xmf' and 5 more files of the series exist; not replacing them "
              "(use --force, or another --output)", np=2)
    rc, _ = run(2, ["--output", "o/p", "--output-every", "5", "--force"])
    check(rc == 0, "the same with --force")
    must_fail([BIN["prun"], "--restart", "latest", "--app", "other"],
              "'checkpoints/ckpt_000020.h5' is a checkpoint of test_prun, not of other", np=3)
    must_fail([BIN["prun"], "--restart", "latest", "--speed", "2"],
              "'checkpoints/ckpt_000020.h5' was written with options 'speed=1 dt=0.25', this "
              "run has 'speed=2 dt=0.25'", np=2)
    must_fail([BIN["prun"], "--input", "o/p_000005.h5"],
              "--input: a particle run starts from its own particles or --restart", np=2)
    must_fail([BIN["prun"], "--checkpoint-every", "5"],
              "checkpoint directory 'checkpoints' holds another run's checkpoints", np=2)


def mpirun_cmd(np_, args):
    return mpirun_prefix(np_) + [BIN["prun"]] + args


def main():
    return scenario_main(__doc__, globals(), {"prun": "tests/particles/test_prun"}, "tsr-prun-")


if __name__ == "__main__":
    sys.exit(main())
