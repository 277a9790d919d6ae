#!/usr/bin/python3
"""The files tessera writes, opened with the tools users have (issue 12, items 1-3).

  viewers.py --bin BUILD paraview   every .xmf (1D, 2D, 3D, heat and life, a prefix with XML
                                    special characters) loaded by ParaView's pvpython: cells along
                                    each axis, bounds, every timestep, and the cell values' checksum
                                    equal to the HDF5 dataset's
  viewers.py --bin BUILD xarray     every output opened with xarray (engine h5netcdf, group
                                    "fields"): named dimensions, cell-centre coordinates, units and
                                    long names; root attributes as h5py returns them

Runs with Debian's python3 (h5py, xarray and h5netcdf from scripts/setup --test). Prints
"N passed, N failed"; exits 1 on any failure.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mpi"))
from mpitest import mpi_env, mpirun_prefix, parse_checksum, run_cmd  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 180
results = {"passed": 0, "failed": 0}
BIN = {}

# name, app, field, grid, extra arguments
CASES = [
    ("heat-1d", "heat", "u", [41], []),
    ("heat-2d", "heat", "u", [40, 30], ["--blocks", "3x2"]),
    ("heat-3d", "heat", "u", [20, 16, 12], ["--blocks", "2x2x1"]),
    ("life-2d", "life", "cells", [33, 21], []),
]


def check(ok, what):
    results["passed" if ok else "failed"] += 1
    print("  %s %s" % ("PASS" if ok else "FAIL", what), flush=True)
    return ok


def write_series(app, prefix, grid, extra, ranks=2):
    """Runs app for 4 steps with an output every 2 (steps 0, 2, 4); returns its checksum."""
    args = [BIN[app], "--grid", "x".join(map(str, grid)), "--steps", "4", "--output-every", "2",
            "--output", prefix, "--quiet"] + extra
    rc, out, err = run_cmd(mpirun_prefix(ranks) + args, mpi_env(), TIMEOUT)
    if not check(rc == 0, "%s wrote %s (status %s)" % (app, prefix, rc)):
        print(out + err)
    return parse_checksum(out)


def h5_checksum(path, field):
    rc, out, _ = run_cmd([BIN["h5tool"], "checksum", path, "/fields/" + field], None, 60)
    return parse_checksum(out) if rc == 0 else None


def scenario_paraview():
    pvpython = shutil.which("pvpython")
    if not check(pvpython is not None, "pvpython is installed (python3-paraview)"):
        return
    cases = CASES + [("escaped-prefix", "heat", "u", [24, 18], [])]
    for name, app, field, grid, extra in cases:
        prefix = "R&D <'q'>/run" if name == "escaped-prefix" else name + "/out"
        os.makedirs(os.path.dirname(prefix), exist_ok=True)
        write_series(app, prefix, grid, extra)
        xmf = prefix + ".xmf"
        rc, _, err = run_cmd(["xmllint", "--noout", xmf], None, 60)
        check(rc == 0, "%s: %s is well-formed XML %s" % (name, xmf, err.strip()))
        rc, out, err = run_cmd([pvpython, os.path.join(HERE, "pv_probe.py"), xmf, field], None,
                               TIMEOUT)
        steps = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        if not check(rc == 0 and len(steps) == 3,
                     "%s: ParaView loads 3 timesteps (status %s)" % (name, rc)):
            print(out + err)
            continue
        want = grid + [1] * (3 - len(grid))
        bounds = []
        for n in want:
            bounds += [0.0, float(n)]
        for step, got in zip((0, 2, 4), steps):
            what = "%s step %d" % (name, step)
            check(got["time"] == step, "%s: time %s" % (what, got["time"]))
            check(got["type"] == "vtkImageData" and got["cells"] == want
                  and got["ncells"] == want[0] * want[1] * want[2],
                  "%s: %s cells %s along x, y, z (want %s)" % (what, got["type"], got["cells"],
                                                               want))
            check(got["bounds"] == bounds, "%s: bounds %s (want %s)" % (what, got["bounds"],
                                                                       bounds))
            h5 = "%s_%06d.h5" % (prefix, step)
            ref = h5_checksum(h5, field)
            check(got["values"] == want[0] * want[1] * want[2] and got["checksum"] == ref,
                  "%s: ParaView's %d cell values have the dataset's checksum %s (got %s)"
                  % (what, got["values"], ref, got["checksum"]))


def scenario_xarray():
    import h5py
    import numpy as np
    import xarray as xr
    for name, app, field, grid, extra in CASES:
        prefix = name + "/out"
        os.makedirs(name, exist_ok=True)
        final = write_series(app, prefix, grid, extra)
        path = prefix + "_000004.h5"
        ds = xr.open_dataset(path, engine="h5netcdf", group="fields")
        var = ds[field]
        names = ["x", "y", "z"][:len(grid)]
        check(var.dims == tuple(reversed(names)),
              "%s: %s has dimensions %s (slowest first)" % (name, field, var.dims))
        check(list(var.shape) == list(reversed(grid)), "%s: shape %s" % (name, var.shape))
        for d, n in zip(names, grid):
            check(np.array_equal(ds[d].values, np.arange(n) + 0.5),
                  "%s: coordinate %s is the cell centres 0.5 .. %g" % (name, d, n - 0.5))
        check(bool(var.attrs.get("long_name")) and var.attrs.get("units") == "1",
              "%s: long_name %r, units %r" % (name, var.attrs.get("long_name"),
                                                var.attrs.get("units")))
        if app == "heat":  # life's checksum line counts cells as integers, not doubles
            check(h5_checksum(path, field) == final, "%s: the dataset is the final state" % name)
        ds.close()
        with h5py.File(path, "r") as f:
            a = f.attrs
            check(isinstance(a["app"], str) and a["app"] == "tessera-" + app,
                  "%s: app is a str (%r)" % (name, a["app"]))
            check(a["step"].shape == () and int(a["step"]) == 4 and a["time"].shape == ()
                  and a["ranks"].shape == () and int(a["ranks"]) == 2,
                  "%s: step, time and ranks are scalars" % name)
            check(list(a["grid_size"]) == grid
                  and list(f["fields"][field].shape) == list(reversed(grid)),
                  "%s: grid_size %s is x first, the dataset shape %s slowest first"
                  % (name, list(a["grid_size"]), f["fields"][field].shape))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="meson build directory")
    ap.add_argument("scenario", choices=["paraview", "xarray"])
    opts = ap.parse_args()
    b = os.path.abspath(opts.bin)
    BIN.update(heat=os.path.join(b, "apps/heat/tessera-heat"),
               life=os.path.join(b, "apps/life/tessera-life"),
               h5tool=os.path.join(b, "tests/io/h5tool"))
    work = tempfile.mkdtemp(prefix="tessera-viewers-")
    os.chdir(work)
    try:
        globals()["scenario_" + opts.scenario]()
    finally:
        os.chdir("/")
        shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
