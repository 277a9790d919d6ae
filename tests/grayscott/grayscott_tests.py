#!/usr/bin/env python3
"""tessera-grayscott's two-field state through the run loop, one scenario per invocation:

  grayscott_tests.py --bin BUILD_DIR SCENARIO

  restart     checkpointed on 3 ranks, restarted on 2 with another map and blocks (2D and 3D):
              the uninterrupted checksum; the checkpoint holds U and V
  outputs     every output file holds U and V (h5py under /usr/bin/python3 when it has it, and
              h5tool's checksums equal the app's), the .xmf lists both for every step, ParaView
              reads both (when pvpython is installed); --input FILE reads both back
  sigterm     SIGTERM mid-run: status 3 after a checkpoint of both fields, and the restart on
              another layout ends with the uninterrupted checksum
  kernel-fail TESSERA_TEST_KERNEL_FAIL on one rank of 3: status 1 and one message naming it

Each runs in a fresh temporary directory, every mpirun with a timeout, and ends with
"N passed, N failed" (exit 1 on any failure).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "mpi"))
from mpitest import (BIN, check, h5_checksum, mpirun, mpirun_prefix,  # noqa: E402
                     parse_checksum, run_cmd, scenario_main, sigterm_when)

SYSTEM_PYTHON = "/usr/bin/python3"


def app_run(np, args, env=None):
    """Runs the app; returns (checksum, {field: checksum}) from its last lines."""
    rc, out, err = mpirun(np, [BIN["gs"]] + args, env)
    check(rc == 0, "exit status %s" % rc)
    fields = dict(re.findall(r"^([UV]) sum \S+ min \S+ max \S+ checksum ([0-9a-f]{16})$", out,
                             re.M))
    return parse_checksum(out), fields


def h5sum(path, field):
    return h5_checksum(BIN["h5tool"], path, "/fields/" + field)


def restart_case(grid, wblocks, rblocks, extra):
    base = ["--grid", grid, "--quiet"] + extra
    straight, _ = app_run(2, base + ["--steps", "60"])
    app_run(3, base + ["--steps", "30", "--checkpoint-every", "30", "--checkpoint-dir", "ck",
                       "--blocks", wblocks])
    ck = "ck/ckpt_000030.h5"
    check(h5sum(ck, "U") is not None and h5sum(ck, "V") is not None,
          "%s holds /fields/U and /fields/V" % ck)
    again, _ = app_run(2, base + ["--steps", "60", "--restart", "latest", "--checkpoint-dir", "ck",
                                  "--map", "sfc", "--blocks", rblocks])
    check(again == straight and straight is not None,
          "%s: checkpointed on 3 ranks (%s), restarted on 2 (sfc, %s): %s == straight %s"
          % (grid, wblocks, rblocks, again, straight))
    shutil.rmtree("ck")


def scenario_restart():
    restart_case("61x47", "4x4", "3x2", ["--init", "spots", "--seed", "3"])
    restart_case("20x16x12", "3x2x2", "2x2x1", ["--F", "0.03", "--k", "0.055"])


H5PY_CHECK = r"""
import json, sys
import h5py
out = {}
for path in sys.argv[1:]:
    with h5py.File(path, "r") as f:
        g = f["fields"]
        out[path] = {k: [list(g[k].shape), g[k].attrs.get("long_name", b"").decode()
                         if isinstance(g[k].attrs.get("long_name", b""), bytes)
                         else str(g[k].attrs.get("long_name", ""))]
                     for k in g if k not in ("x", "y", "z")}
print(json.dumps(out))
"""


def scenario_outputs():
    base = ["--grid", "40x30", "--quiet", "--steps", "20", "--init", "spots"]
    total, fields = app_run(3, base + ["--output", "o", "--output-every", "10"])
    files = ["o_%06d.h5" % s for s in (0, 10, 20)]
    check(all(os.path.exists(f) for f in files), "outputs at steps 0, 10, 20: %s"
          % sorted(f for f in os.listdir(".") if f.endswith(".h5")))
    check(fields and h5sum("o_000020.h5", "U") == fields.get("U") and
          h5sum("o_000020.h5", "V") == fields.get("V"),
          "the last file's U and V checksums are the app's: %s" % fields)
    for f in files[:2]:
        check(h5sum(f, "U") is not None and h5sum(f, "V") is not None, "%s holds U and V" % f)
    if os.path.exists(SYSTEM_PYTHON):
        rc, out, err = run_cmd([SYSTEM_PYTHON, "-c", H5PY_CHECK] + files, None, 60)
        seen = json.loads(out) if rc == 0 and out.strip() else {}
        if rc != 0:
            print(err)
        for f in files:
            got = seen.get(f, {})
            check(sorted(got) == ["U", "V"] and all(v[0] == [30, 40] for v in got.values()) and
                  "catalyst" in got.get("V", ["", ""])[1],
                  "h5py: %s has exactly U and V of shape (30, 40) with long names: %s" % (f, got))
    # The .xmf: each step a grid with both attributes, pointing into that step's file.
    check(subprocess.run(["xmllint", "--noout", "o.xmf"]).returncode == 0, "o.xmf is well-formed")
    grids = [g for g in ET.parse("o.xmf").iter("Grid") if g.get("GridType") != "Collection"]
    ok = len(grids) == 3
    for g, f in zip(grids, files):
        names = sorted(a.get("Name") for a in g.iter("Attribute"))
        paths = sorted(d.text.strip() for d in g.iter("DataItem") if d.get("Format") == "HDF")
        ok = ok and names == ["U", "V"] and paths == [f + ":/fields/U", f + ":/fields/V"]
    check(ok, "o.xmf lists U and V for each of the 3 steps")
    pvpython = shutil.which("pvpython")
    if pvpython:
        for field in ("U", "V"):
            rc, out, err = run_cmd([pvpython, os.path.join(HERE, "..", "viewers", "pv_probe.py"),
                                    "o.xmf", field], None, 180)
            got = [json.loads(line)["checksum"] for line in out.splitlines()
                   if line.startswith("{")]
            want = [h5sum(f, field) for f in files]
            check(rc == 0 and got == want, "ParaView reads %s at every step: %s == %s"
                  % (field, got, want))
    else:
        print("  (pvpython not installed: the ParaView check is skipped)")
    # Both fields read back from a file on another layout.
    back, _ = app_run(2, ["--grid", "40x30", "--quiet", "--steps", "0", "--input", "o_000020.h5",
                          "--map", "roundrobin", "--blocks", "3x3"])
    check(back == total, "--input o_000020.h5 on 2 ranks reads U and V: %s == %s" % (back, total))


def scenario_sigterm():
    base = [BIN["gs"], "--grid", "160x160", "--quiet", "--init", "spots"]
    steps = "3000"
    straight, _ = app_run(2, base[1:] + ["--steps", steps])
    cmd = mpirun_prefix(2) + base + ["--steps", steps, "--checkpoint-dir", "ck",
                                     "--checkpoint-every", "100", "--checkpoint-keep", "100"]
    rc, out = sigterm_when(cmd, "ck/ckpt_000100.h5", "tessera-graysco")  # comm: 15 characters
    m = re.search(r"checkpoint written to (\S+)", out)
    check(m is not None and m.group(1) != "ck/ckpt_%06d.h5" % int(steps), "stopped before the end")
    check(rc == 3, "exit status 3 (stopped after a checkpoint): %s" % rc)
    if m and os.path.exists(m.group(1)):
        check(h5sum(m.group(1), "U") is not None and h5sum(m.group(1), "V") is not None,
              "the signal's checkpoint %s holds U and V" % m.group(1))
    again, _ = app_run(3, base[1:] + ["--steps", steps, "--restart", "latest", "--checkpoint-dir",
                                      "ck", "--map", "roundrobin"])
    check(again == straight, "restart completes with the straight checksum: %s == %s"
          % (again, straight))


def scenario_kernel_fail():
    rc, out, err = mpirun(3, [BIN["gs"], "--grid", "96x96", "--steps", "50", "--quiet"],
                          {"TESSERA_TEST_KERNEL_FAIL": "1:5"})
    text = out + err
    hits = [line for line in text.splitlines() if "rank 1" in line and "-7" in line]
    check(rc == 1, "status 1: %s" % rc)
    check(len(hits) == 1 and "block" in hits[0], "one message naming rank 1, its block and -7: %s"
          % hits)
    check("MPI_Abort" not in text, "no MPI_Abort banner")


if __name__ == "__main__":
    sys.exit(scenario_main(__doc__, globals(), {"gs": "apps/grayscott/tessera-grayscott",
                                                "h5tool": "tests/io/h5tool"}, "tessera-gs-"))
