#!/usr/bin/python3
"""Fields with components in files (issue 11, "Components"), through test_comp (a field
"velocity" of N components and a scalar "p", values from the global index):

  roundtrip    written at one rank count, map and blocks, read back at another (1D, 2D, 3D;
               2 and 3 components), every value checked
  checkpoint   a checkpoint written on 3 ranks restored on 2 and 4 with other maps and blocks
  h5py         the dataset's shape (..., ncomp), C order, the `component` dimension scale, the
               component names; the scalar beside it keeps its shape; h5tool's checksum of the
               dataset (element index = cell*ncomp + c)
  xarray       named dimensions (y, x, component), coordinates, attributes, values
  paraview     pvpython shows a 3-vector (AttributeType Vector) and a 2-component array
               (Matrix) with the right values
  layouts      the scalar beside the vector read straight from the file's bytes is right in a
               file with a user block and through an external link (HDF5's dataset address is
               past the user block, and in the linked file)
  bad-files    a file of 3 components read into 2, a scalar dataset into a vector, a NaN in one
               component: one message, status 2 on every rank; a PNG of a vector refused

Runs with Debian's python3 (h5py, xarray, h5netcdf). Prints "N passed, N failed"; exits 1 on any
failure.
"""
import json
import os
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "mpi"))
import mpitest  # noqa: E402
from mpitest import (BIN, check, h5_checksum, mpi_env, mpirun_prefix, run_cmd,  # noqa: E402
                     scenario_main, show_output)

TIMEOUT = 120
MASK = (1 << 64) - 1


def run_ok(np_, args, what):
    rc, out, err = run_cmd(mpirun_prefix(np_) + [BIN["test_comp"]] + args, mpi_env(), TIMEOUT)
    if not check(rc == 0 and "checked" in out, "%s at %d ranks (status %s)" % (what, np_, rc)):
        show_output(out, err)


def expected(grid, ncomp):
    """velocity as numpy (slowest first, components last) and p, as test_comp fills them."""
    shape = tuple(reversed(grid))
    cells = int(np.prod(grid))
    v = (np.arange(cells * ncomp, dtype=np.float64) * 0.125 - 7.0).reshape(shape + (ncomp,))
    p = (np.arange(cells, dtype=np.float64) * 0.5 + 1.0).reshape(shape)
    return v, p


def splitmix64(z):
    z = (z + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def checksum(values):
    total = 0
    for i, bits in enumerate(np.ascontiguousarray(values, dtype="<f8").ravel().view("<u8")):
        total = (total + splitmix64(splitmix64(i) ^ int(bits))) & MASK
    return "%016x" % total


def GX(grid):
    return "x".join(map(str, grid))


def scenario_roundtrip():
    # grid, ncomp, (ranks, args) writing, [(ranks, args) reading]
    cases = [
        ([23, 17], 3, (1, []), [(4, ["--blocks", "5x3", "--map", "sfc"]),
                                (2, ["--blocks", "3x2", "--map", "roundrobin"])]),
        ([23, 17], 2, (3, ["--blocks", "4x4", "--map", "roundrobin"]), [(2, ["--blocks", "3x2"])]),
        ([13, 11, 7], 3, (4, ["--blocks", "2x2x2", "--map", "morton"]),
         [(1, []), (3, ["--blocks", "3x1x2"])]),
        ([41], 2, (2, ["--blocks", "5"]), [(3, [])]),
        ([19, 9], 5, (2, ["--blocks", "3x2"]), [(1, ["--blocks", "2x2", "--map", "sfc"])]),
        # More rows than the 1 MiB pack buffer holds, and one row longer than it.
        ([300, 300], 3, (1, []), [(2, ["--blocks", "3x3"])]),
        ([50000], 3, (1, []), [(3, ["--blocks", "7"])]),
        # 14 MiB read by one rank, 7 MiB by each of two, in 4 MiB batches of z slabs over the
        # union of many blocks.
        ([96, 96, 64], 3, (2, []), [(1, ["--blocks", "3x3x5", "--map", "sfc"]),
                                    (2, ["--blocks", "4x3x3", "--map", "roundrobin"])]),
    ]
    for grid, nc, (wn, wargs), reads in cases:
        base = ["--grid", GX(grid), "--ncomp", str(nc)]
        prefix = "rt_%s_%d" % (GX(grid), nc)
        run_ok(wn, base + wargs + ["--write", prefix], "write %s, %d components" % (GX(grid), nc))
        for rn, rargs in reads:
            run_ok(rn, base + rargs + ["--read", prefix + ".h5"],
                   "read %s, %d components, %s" % (GX(grid), nc, " ".join(rargs) or "default"))


def scenario_checkpoint():
    for grid, nc in (([23, 17], 3), ([13, 11, 7], 3)):
        base = ["--grid", GX(grid), "--ncomp", str(nc)]
        run_ok(3, base + ["--blocks", "2x3" if len(grid) == 2 else "3x1x1", "--write", "ck"],
               "checkpoint of %s written" % GX(grid))
        check(os.path.exists("ck_ck/ckpt_000007.h5"), "checkpoint file ck_ck/ckpt_000007.h5")
        run_ok(2, base + ["--map", "sfc", "--blocks", "4x2" if len(grid) == 2 else "2x2x2",
                          "--restart", "ck_ck/ckpt_000007.h5"], "restart of %s" % GX(grid))
        run_ok(4, base + ["--map", "roundrobin", "--restart", "ck_ck/ckpt_000007.h5"],
               "restart of %s" % GX(grid))
        shutil.rmtree("ck_ck")


def scenario_h5py():
    import h5py
    # The last two: many irregular blocks per rank, scattered by the map (rows packed in the
    # file's order over all of a rank's blocks).
    for grid, nc, np_, args in (([23, 17], 3, 3, []), ([13, 11, 7], 3, 2, []), ([41], 2, 2, []),
                                ([19, 9], 5, 4, []),
                                ([23, 17], 2, 3, ["--blocks", "7x5", "--map", "roundrobin"]),
                                ([13, 11, 7], 3, 3, ["--blocks", "4x3x3", "--map", "sfc"])):
        prefix = "h_%d_%d_%d" % (len(grid), nc, len(args))
        run_ok(np_, ["--grid", GX(grid), "--ncomp", str(nc), "--write", prefix] + args,
               "write %s, %d components %s" % (GX(grid), nc, " ".join(args)))
        v, p = expected(grid, nc)
        with h5py.File(prefix + ".h5", "r") as f:
            d = f["fields/velocity"]
            check(d.shape == v.shape and d.dtype == np.float64,
                  "%s velocity shape %s == %s" % (GX(grid), d.shape, v.shape))
            check(np.array_equal(d[...], v), "%s velocity values in C order" % GX(grid))
            check(f["fields/p"].shape == p.shape and np.array_equal(f["fields/p"][...], p),
                  "%s scalar p keeps shape %s" % (GX(grid), p.shape))
            labels = [os.path.basename(dim[0].name) for dim in d.dims]
            want = ["z", "y", "x"][3 - len(grid):] + ["component"]
            check(labels == want, "%s dimension scales %s == %s" % (GX(grid), labels, want))
            scale = d.dims[len(grid)][0]
            check(list(scale[...]) == list(range(nc)), "component scale 0..%d" % (nc - 1))
            names = d.attrs.get("component_names")
            if nc == 3:
                check(names is not None and [str(s) for s in names] == ["vx", "vy", "vz"],
                      "component_names %s" % (names,))
            else:
                check(names is None, "no component_names when none were set")
        got = h5_checksum(BIN["h5tool"], prefix + ".h5", "/fields/velocity")
        check(got == checksum(v), "h5tool checksum %s == %s (element i*ncomp + c)"
              % (got, checksum(v)))


def scenario_xarray():
    import xarray as xr
    grid, nc = [23, 17], 3
    run_ok(2, ["--grid", GX(grid), "--ncomp", str(nc), "--write", "xa"], "write for xarray")
    v, p = expected(grid, nc)
    ds = xr.open_dataset("xa.h5", engine="h5netcdf", group="fields")
    vel = ds["velocity"]
    check(vel.dims == ("y", "x", "component"), "velocity dims %s" % (vel.dims,))
    check(ds["p"].dims == ("y", "x"), "p dims %s" % (ds["p"].dims,))
    check(np.array_equal(vel.values, v), "velocity values")
    check(vel.attrs.get("units") == "m/s" and vel.attrs.get("long_name") == "flow velocity",
          "velocity units and long_name")
    check(float(vel.x[0]) == 0.5 and list(vel.component.values) == [0, 1, 2],
          "coordinates x from 0.5, component 0..2")
    vy = vel.sel(component=1)
    check(np.array_equal(vy.values, v[..., 1]), "sel(component=1) is vy")
    ds.close()


def pv_arrays(xmf):
    pv = shutil.which("pvpython")
    rc, out, err = run_cmd([pv, os.path.join(HERE, "pv_comp.py"), xmf], None, 180)
    if rc != 0:
        print(out + err)
        return {}
    return {a["name"]: a for a in (json.loads(line) for line in out.splitlines()
                                   if line.startswith("{"))}


def scenario_paraview():
    if not shutil.which("pvpython"):
        print("pvpython not found: skipped")
        sys.exit(77)
    for grid, nc, np_ in (([23, 17], 3, 2), ([13, 11, 7], 3, 3), ([23, 17], 2, 2)):
        prefix = "pv_%d_%d" % (len(grid), nc)
        run_ok(np_, ["--grid", GX(grid), "--ncomp", str(nc), "--write", prefix],
               "write %s, %d components" % (GX(grid), nc))
        text = open(prefix + ".xmf").read()
        kind = "Vector" if nc == 3 else "Matrix"
        check('Name="velocity" AttributeType="%s"' % kind in text,
              "%s: velocity is an XDMF %s" % (prefix, kind))
        arrays = pv_arrays(prefix + ".xmf")
        v, p = expected(grid, nc)
        a = arrays.get("velocity")
        ok = (a is not None and a["ncomp"] == nc and a["tuples"] == p.size
              and np.array_equal(np.array(a["values"]), v.ravel()))
        check(ok, "%s: ParaView shows velocity with %d components and the file's values%s"
              % (prefix, nc, "" if a else " (no array)"))
        b = arrays.get("p")
        check(b is not None and b["ncomp"] == 1 and np.array_equal(np.array(b["values"]),
                                                                   p.ravel()),
              "%s: p stays a scalar" % prefix)


def must_fail(args, expect, status=2):
    mpitest.must_fail([BIN["test_comp"]] + args, expect, status)


def scenario_layouts():
    import h5py
    base = ["--grid", "23x17", "--ncomp", "2"]
    run_ok(1, base + ["--write", "lay"], "write")
    with h5py.File("lay.h5", "r") as src, h5py.File("ub.h5", "w", userblock_size=4096) as dst:
        for name, value in src.attrs.items():
            dst.attrs[name] = value
        src.copy("fields", dst)
    with h5py.File("link.h5", "w") as f:
        f["fields/velocity"] = h5py.ExternalLink("lay.h5", "/fields/velocity")
        f["fields/p"] = h5py.ExternalLink("lay.h5", "/fields/p")
    for path in ("lay.h5", "ub.h5", "link.h5"):
        run_ok(2, base + ["--blocks", "4x3", "--map", "roundrobin", "--read", path],
               "read %s in 4x3 round-robin blocks" % path)


def scenario_bad_files():
    base = ["--grid", "23x17"]
    run_ok(2, base + ["--write", "bf"], "write 3 components")
    must_fail(base + ["--ncomp", "2", "--read", "bf.h5"],
              "'bf.h5:/fields/velocity' has shape 17x23x3 (slowest first), the grid needs 17x23x2")
    # A scalar dataset of the grid's shape in place of the vector.
    rc, _, _ = run_cmd([BIN["h5tool"], "make", "s.h5", "/fields/velocity", "f64", "17x23"],
                       None, 60)
    check(rc == 0, "h5tool wrote a scalar s.h5")
    must_fail(base + ["--read", "s.h5"],
              "'s.h5:/fields/velocity' has 2 dimensions, a 2D field of 3 components needs 3")
    # A NaN in one component is found and named.
    import h5py
    shutil.copy("bf.h5", "nan.h5")
    with h5py.File("nan.h5", "a") as f:
        f["fields/velocity"][3, 4, 2] = float("nan")
    must_fail(base + ["--read", "nan.h5"],
              "holds a non-finite value (nan) in cell (4, 3) (component 2) of field 'velocity'")
    # A PNG shows one value per cell: refused (a program's error, status 1), nothing written.
    must_fail(base + ["--png", "v.png"], "field 'velocity' has 3 components; a PNG shows a field "
              "of one", status=1)
    check(not os.path.exists("v.png"), "no v.png written")


if __name__ == "__main__":
    sys.exit(scenario_main(__doc__, globals(), {"test_comp": "tests/io/test_comp",
                                                "h5tool": "tests/io/h5tool"}, "tessera-comp-"))
