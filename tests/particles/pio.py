#!/usr/bin/env python3
"""Particle files end to end (run with Debian's python3, which has h5py).

Usage: pio.py TEST_PIO

test_pio writes a file of 400 particles at 1-4 ranks and reads it back at another rank count,
blocks and map (it checks every value bit for bit itself); here the files must hold the same
data whatever wrote them, h5py must read ids ascending and values equal to the formulas of
test_pio.c (recomputed here), ParaView's pvpython must load the .xmf as 400 points at the HDF5
positions, and existing (without --force), missing, non-HDF5 and mismatched files (a component
missing, another grid, a duplicate id, a velocity not finite) must be refused with one message
and status 2, the existing file left untouched.
"""
import hashlib
import json
import os
import shutil
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mpi"))
from mpitest import (check, mpi_env, mpirun_prefix, run_cmd, run_combined,  # noqa: E402
                     unit)

HERE = os.path.dirname(os.path.abspath(__file__))
NPART = 400
GRID = (12, 10, 8)

# write ranks, map, blocks -> read ranks, map, blocks
CASES = [
    (1, "contiguous", "1 1 1", 3, "roundrobin", "3 2 2"),
    (2, "sfc", "2 2 2", 4, "knapsack", "4 1 2"),
    (3, "roundrobin", "3 3 1", 2, "morton", "2 2 2"),
    (4, "morton", "2 2 2", 1, "contiguous", "1 1 1"),
    (3, "sfc", "2 1 1", 4, "roundrobin", "1 1 3"),  # an idle rank on both sides
]


def expected():
    ids = np.array([5 * k + 2 for k in range(NPART)], dtype=np.int64)
    pos = np.array([[unit(i * 3 + d) * GRID[d] for d in range(3)] for i in ids.tolist()])
    vel = np.array([[unit(i * 7 + d) - 0.5 for d in range(3)] for i in ids.tolist()])
    mass = np.array([1.0 + i * 0.5 for i in ids.tolist()])
    charge = np.array([unit(i * 11) - 0.5 for i in ids.tolist()])
    species = np.array([i % 4 - 1 for i in ids.tolist()], dtype=np.int64)
    return ids, pos, vel, mass, charge, species


def bits_equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.tobytes() == b.tobytes()


def run(np_, args, timeout=120):
    rc, out, err = run_cmd(mpirun_prefix(np_) + args, mpi_env(), timeout)
    if rc != 0:
        sys.stdout.write(out + err)
    return rc, out


def one_failure(np_, args, expect, what):
    rc, out = run_combined(mpirun_prefix(np_) + args, mpi_env(), 120)
    lines = [ln for ln in out.splitlines() if expect in ln]
    ok = rc == 2 and len(lines) == 1
    if not ok:
        sys.stdout.write(out)
    return check(ok, "%s: status 2 (got %s), one message '%s'" % (what, rc, expect))


def main():
    exe = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="tsr-pio-")
    fails = 0
    try:
        files = []
        for i, (wnp, wmap, wblocks, rnp, rmap, rblocks) in enumerate(CASES):
            h5 = os.path.join(tmp, "p%d.h5" % i)
            xmf = os.path.join(tmp, "p%d.xmf" % i)
            rc, _ = run(wnp, [exe, "write", h5, xmf, wmap] + wblocks.split())
            fails += not check(rc == 0, "write at %d ranks, %s, blocks %s" % (wnp, wmap, wblocks))
            rc, _ = run(rnp, [exe, "read", h5, rmap] + rblocks.split())
            fails += not check(rc == 0, "read back at %d ranks, %s, blocks %s: bit-identical"
                               % (rnp, rmap, rblocks))
            files.append(h5)
        ids, pos, vel, mass, charge, species = expected()
        ref = None
        for h5 in files:
            with h5py.File(h5, "r") as f:
                g = f["particles"]
                data = {k: g[k][()] for k in g}
                ok = (bits_equal(data["id"], ids) and bits_equal(data["position"], pos) and
                      bits_equal(data["velocity"], vel) and bits_equal(data["mass"], mass) and
                      bits_equal(data["charge"], charge) and
                      bits_equal(data["species"], species) and
                      list(g.attrs["real_components"]) == ["mass", "charge"] and
                      list(g.attrs["int_components"]) == ["species"] and
                      int(f.attrs["step"]) == 42 and float(f.attrs["time"]) == 0.125 and
                      int(f.attrs["count"]) == NPART and f.attrs["run_id"] == "pio-test")
                fails += not check(ok, "h5py: %s holds ids ascending and the computed values"
                                   % os.path.basename(h5))
                if ref is None:
                    ref = data
                fails += not check(all(bits_equal(data[k], ref[k]) for k in ref),
                                   "%s equals the first file" % os.path.basename(h5))

        pvpython = shutil.which("pvpython") or "/usr/bin/pvpython"
        if check(os.access(pvpython, os.X_OK), "pvpython is installed"):
            xmf = os.path.join(tmp, "p2.xmf")
            rc, out, err = run_cmd([pvpython, os.path.join(HERE, "pv_points.py"), xmf], None, 180)
            got = None
            for line in out.splitlines():
                if line.startswith("{"):
                    got = json.loads(line)
            if got is None:
                sys.stdout.write(out + err)
                fails += 1
            else:
                fails += not check(got["points"] == NPART, "ParaView: %d points (%s)"
                                   % (got["points"], got["type"]))
                fails += not check(bits_equal(np.array(got["xyz"]), pos),
                                   "ParaView: point coordinates equal the HDF5 positions")
                fails += not check(bits_equal(np.array(got["arrays"].get("velocity")), vel),
                                   "ParaView: velocity vectors equal the HDF5 velocities")
        else:
            fails += 1

        h5 = files[1]
        before = hashlib.sha256(open(h5, "rb").read()).hexdigest()
        fails += not one_failure(3, [exe, "write", h5, "", "sfc", "2", "2", "1"],
                                 "particle file: '%s' exists; not replacing it (use --force)" % h5,
                                 "existing file without --force")
        fails += not check(hashlib.sha256(open(h5, "rb").read()).hexdigest() == before and
                           not os.path.exists(h5 + ".tessera.tmp"), "the existing file is untouched")
        # A user's "<name>.tmp" is not tessera's; a link under tessera's temporary name is removed,
        # not followed (HDF5 would truncate its target).
        theirs, precious = h5 + ".tmp", os.path.join(tmp, "precious.txt")
        for path in (theirs, precious):
            with open(path, "wb") as f:
                f.write(b"not to be touched\n")
        os.symlink(precious, h5 + ".tessera.tmp")
        rc, _ = run(2, [exe, "write", h5, os.path.join(tmp, "p1.xmf"), "sfc", "2", "1", "1",
                        "--force"])
        fails += not check(rc == 0, "the same with --force replaces it")
        fails += not check(all(open(p, "rb").read() == b"not to be touched\n"
                               for p in (theirs, precious)) and
                           not os.path.lexists(h5 + ".tessera.tmp"),
                           "a user's .tmp file and a link's target are untouched")
        missing = os.path.join(tmp, "missing.h5")
        fails += not one_failure(2, [exe, "read", missing, "sfc", "2", "1", "1"],
                                 "particle file: cannot read '%s': No such file or directory"
                                 % missing, "missing file")
        junk = os.path.join(tmp, "junk.h5")
        with open(junk, "w") as f:
            f.write("not HDF5\n")
        fails += not one_failure(2, [exe, "read", junk, "sfc", "2", "1", "1"],
                                 "'%s' is not an HDF5 file" % junk, "a file that is not HDF5")
        # files that are HDF5 but not what this container holds
        other = os.path.join(tmp, "other.h5")
        shutil.copy(files[0], other)
        with h5py.File(other, "r+") as f:
            del f["particles/species"]
        fails += not one_failure(2, [exe, "read", other, "sfc", "2", "1", "1"],
                                 "'%s': dataset /particles/species is missing" % other,
                                 "a file without one of the components")
        shutil.copy(files[0], other)
        with h5py.File(other, "r+") as f:
            f.attrs["grid_size"] = np.array([12, 11, 8], dtype=np.int64)
        fails += not one_failure(2, [exe, "read", other, "sfc", "2", "1", "1"],
                                 "'%s' holds particles of a grid of 11 cells along y, this run has "
                                 "10" % other, "a file of another grid")
        shutil.copy(files[0], other)
        with h5py.File(other, "r+") as f:
            f["particles/id"][7] = f["particles/id"][6]
        fails += not one_failure(2, [exe, "read", other, "sfc", "2", "1", "1"],
                                 "'%s': /particles/id is not strictly ascending (row 7)" % other,
                                 "a file with a duplicate id")
        # a velocity that is not finite: the file's fault (status 2), not the run's later
        for bad in (float("nan"), float("inf")):
            shutil.copy(files[0], other)
            with h5py.File(other, "r+") as f:
                ids = f["particles/id"][:]
                vel = f["particles/velocity"][:]
                vel[5, 1] = bad
                f["particles/velocity"][:] = vel
            fails += not one_failure(3, [exe, "read", other, "sfc", "2", "1", "1"],
                                     "'%s': particle %d has a velocity that is not finite" %
                                     (other, ids[5]), "a velocity of %r" % bad)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%s: %d failed" % ("FAIL" if fails else "ok", fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
