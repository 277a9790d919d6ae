#!/usr/bin/env python3
"""PNG output is the same file on any map and rank count, including maps no rank stores as a
table (TESSERA_MAP_TABLE_MAX=0): rank 0 looks up the owners of the plane's blocks only.

  png_maps.py --heat PATH --np N

One rank with the table map gives the expected bytes; N ranks with every map (and the table
limit at 0) must write the identical file, for a 2D grid and a slice of a 3D grid.
"""
import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpitest import check, mpirun, results  # noqa: E402

CASES = [("2d", ["--grid", "40x30", "--blocks", "5x4", "--steps", "3"]),
         ("3d", ["--grid", "20x18x14", "--blocks", "3x2x4", "--steps", "3"])]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--heat", required=True)
    ap.add_argument("--np", type=int, required=True)
    opts = ap.parse_args()
    work = tempfile.mkdtemp(prefix="tsr-png-maps-")
    try:
        for name, args in CASES:
            ref = os.path.join(work, "ref-%s.png" % name)
            rc, _, _ = mpirun(1, [opts.heat] + args + ["--quiet", "--png", ref],
                              {"OMP_NUM_THREADS": "1"})
            if not check(rc == 0 and os.path.exists(ref), "%s: the 1-rank image" % name):
                continue
            with open(ref, "rb") as f:
                want = f.read()
            for m in ("contiguous", "roundrobin", "sfc", "morton"):
                out = os.path.join(work, "%s-%s.png" % (name, m))
                rc, _, _ = mpirun(opts.np, [opts.heat] + args + ["--map", m, "--quiet", "--png",
                                                                   out],
                                  {"OMP_NUM_THREADS": "1", "TESSERA_MAP_TABLE_MAX": "0"})
                same = rc == 0 and os.path.exists(out) and open(out, "rb").read() == want
                check(same, "%s at %d ranks, map %s, no table: the same PNG" % (name, opts.np, m))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
