#!/usr/bin/env python3
"""Parallel HDF5 scenarios for tessera-heat and tessera-life, one per invocation:

  io_tests.py --bin BUILD_DIR SCENARIO

Scenarios: roundtrip-2d roundtrip-3d many-blocks h5dump xdmf restart-heat-2d restart-heat-3d
restart-life restart-heat-bc restart-series crash sigterm checkpoint-seconds bad-files. Each runs
in a fresh temporary directory, every mpirun with a timeout, and ends with "N passed, N failed"
(exit 1 on any failure).
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "mpi"))
from mpitest import (BIN, app_ranks, check, h5_checksum, mpi_env, mpirun,  # noqa: E402
                     mpirun_prefix, must_fail, parse_checksum, run_cmd, scenario_main,
                     sigterm_when)

TIMEOUT = 120


def app_checksum(np, args, env=None):
    rc, out, err = mpirun(np, args, env)
    check(rc == 0, "exit status %s" % rc)
    return parse_checksum(out)


def tool(*args):
    return subprocess.run([BIN["h5tool"]] + list(args), capture_output=True).returncode


def roundtrip(grid, wblocks, rblocks):
    heat = BIN["heat"]
    base = ["--grid", grid, "--steps", "30", "--quiet", "--init", "sine"]
    wsum = app_checksum(3, [heat] + base + ["--blocks", wblocks, "--output", "w"])
    check(wsum is not None, "writer printed a checksum")
    check(h5_checksum(BIN["h5tool"], "w_000030.h5", "/fields/u") == wsum,
          "checksum recomputed from the dataset equals the app's")
    rsum = app_checksum(2, [heat, "--grid", grid, "--steps", "0", "--quiet", "--blocks", rblocks,
                            "--map", "roundrobin", "--input", "w_000030.h5:/fields/u"])
    check(rsum == wsum, "read back on 2 ranks, %s blocks: %s == %s" % (rblocks, rsum, wsum))


def scenario_roundtrip_2d():
    roundtrip("67x45", "7x5", "4x4")


def scenario_roundtrip_3d():
    roundtrip("19x17x13", "3x2x2", "2x2x2")


def scenario_many_blocks():
    """Many irregular blocks per rank, scattered over the ranks by the map, written into one file
    (each rank's rows in the file's order over all its blocks): the file's data is the serial
    reference's, bit for bit, at 1 to 4 ranks; read back on another layout it is the same, and so
    is a float32 file's."""
    heat = BIN["heat"]
    cases = [("67x45", "7x5", ["--init", "sine"]), ("19x17x13", "5x4x3", ["--periodic"])]
    for grid, blocks, extra in cases:
        shared = ["--grid", grid, "--steps", "6"] + extra
        rc, out, _ = run_cmd([BIN["heat_ref"]] + shared, None, TIMEOUT)
        ref = parse_checksum(out) if rc == 0 else None
        check(ref is not None, "heat_ref %s printed a checksum" % grid)
        for np_, map_ in ((1, "contiguous"), (2, "sfc"), (3, "roundrobin"), (4, "morton")):
            name = "m%dd_%d_%s" % (grid.count("x") + 1, np_, map_)
            s = app_checksum(np_, [heat] + shared + ["--quiet", "--blocks", blocks, "--map", map_,
                                                     "--output", name])
            got = h5_checksum(BIN["h5tool"], name + "_000006.h5", "/fields/u")
            check(s == ref and got == ref,
                  "%s, %s blocks, %d ranks, %s map: file %s, app %s == reference %s"
                  % (grid, blocks, np_, map_, got, s, ref))
        back = app_checksum(3, [heat, "--grid", grid, "--steps", "0", "--quiet", "--blocks",
                                blocks, "--map", "roundrobin", "--input",
                                "m%dd_4_morton_000006.h5:/fields/u" % (grid.count("x") + 1)])
        check(back == ref, "%s read back on 3 ranks, %s blocks round-robin: %s == %s"
              % (grid, blocks, back, ref))
    # float32 data, converted by HDF5 while it reads the union of a rank's blocks: the values
    # (whole numbers, exact in both) equal those of the float64 file read on one block.
    tool("make", "f64.h5", "/fields/u", "f64", "45x67")
    tool("make", "f32.h5", "/fields/u", "f32", "45x67")
    base = [heat, "--grid", "67x45", "--steps", "0", "--quiet", "--input"]
    one = app_checksum(1, base + ["f64.h5:/fields/u"])
    many = app_checksum(3, base + ["f32.h5:/fields/u", "--blocks", "7x5", "--map", "roundrobin"])
    check(one is not None and many == one, "float32 on 3 ranks, 7x5 blocks: %s == float64 on "
          "one block: %s" % (many, one))


def scenario_h5dump():
    app_checksum(2, [BIN["heat"], "--grid", "67x45", "--steps", "5", "--quiet", "--output", "o"])
    ls = subprocess.run(["h5ls", "-r", "o_000005.h5"], capture_output=True, text=True).stdout
    check(re.search(r"/fields/u\s+Dataset \{45, 67\}", ls) is not None,
          "h5ls shows /fields/u of shape {45, 67}")
    dump = subprocess.run(["h5dump", "-A", "o_000005.h5"], capture_output=True, text=True).stdout
    for attr in ("grid_size", "periodic", "step", "time", "blocks", "map", "ranks",
                 "tessera_version", "command_line", "app", "run_options"):
        check('ATTRIBUTE "%s"' % attr in dump, "h5dump shows attribute %s" % attr)
    check(re.search(r'ATTRIBUTE "grid_size".*?\(0\): 67, 45', dump, re.S) is not None,
          "grid_size is 67, 45 (x first)")


def scenario_xdmf():
    for grid in ("40x30", "12x10x8"):
        prefix = "s" + grid.replace("x", "_")
        app_checksum(3, [BIN["heat"], "--grid", grid, "--steps", "10", "--quiet", "--output",
                         prefix, "--output-every", "4"])
        xmf = prefix + ".xmf"
        check(subprocess.run(["xmllint", "--noout", xmf]).returncode == 0,
              "%s is well-formed XML" % xmf)
        items = [e for e in ET.parse(xmf).iter("DataItem") if e.get("Format") == "HDF"]
        steps = sorted(re.findall(r"_(\d{6})\.h5", " ".join(e.text for e in items)))
        check(steps == ["000000", "000004", "000008", "000010"],
              "series holds steps 0, 4, 8 and the final 10: %s" % steps)
        for e in items:
            f, ds = e.text.strip().split(":")
            ls = subprocess.run(["h5ls", f + ds], capture_output=True, text=True).stdout
            # Every grid is described as a 3D image: a 2D dataset is listed as 1 x NY x NX.
            dims = e.get("Dimensions").split()[3 - (grid.count("x") + 1):]
            shape = "{" + ", ".join(dims) + "}"
            check("Dataset " + shape in ls, "%s exists with shape %s" % (e.text.strip(), shape))


def restart(app, grid, extra):
    exe = BIN[app]
    base = [exe, "--grid", grid, "--quiet"] + extra
    straight = app_checksum(2, base + ["--steps", "100"])
    app_checksum(3, base + ["--steps", "40", "--checkpoint-every", "40", "--checkpoint-dir", "ck"])
    check(os.path.exists("ck/ckpt_000040.h5"), "checkpoint ck/ckpt_000040.h5 written")
    again = app_checksum(4, base + ["--steps", "100", "--restart", "latest", "--checkpoint-dir",
                                    "ck", "--map", "sfc", "--blocks",
                                    "2x2x2" if grid.count("x") == 2 else "3x3"])
    check(again == straight and straight is not None,
          "restart on 4 ranks, sfc: %s == straight %s" % (again, straight))


def scenario_restart_series():
    heat = BIN["heat"]
    base = [heat, "--grid", "40x30", "--quiet", "--output", "s", "--output-every", "20"]
    app_checksum(2, base + ["--steps", "40", "--checkpoint-every", "40", "--checkpoint-dir", "ck"])
    app_checksum(3, base + ["--steps", "100", "--restart", "latest", "--checkpoint-dir", "ck"])
    xmf = open("s.xmf").read()
    steps = re.findall(r"s_(\d{6})\.h5", xmf)
    check(steps == ["%06d" % s for s in range(0, 101, 20)],
          "after a restart the .xmf still lists every output: %s" % steps)


def scenario_restart_heat_2d():
    restart("heat", "67x45", ["--init", "sine"])


def scenario_restart_heat_3d():
    restart("heat", "19x17x13", ["--periodic"])


def scenario_restart_life():
    restart("life", "64x48", ["--periodic", "--seed", "5"])


def scenario_restart_heat_bc():
    """Boundary conditions per side survive a restart, and other ones are refused."""
    restart("heat", "67x45", ["--bc", "xlo=dirichlet:1,xhi=neumann,y=periodic"])
    heat = BIN["heat"]
    base = [heat, "--grid", "67x45", "--quiet", "--steps", "100", "--restart", "latest",
            "--checkpoint-dir", "ck"]
    must_fail(base + ["--bc", "x=neumann,y=periodic"],
              "was written with options 'alpha=0.20000000000000001 boundary=0 periodic=y "
              "bc=xlo=dirichlet:1,xhi=neumann,y=periodic'", 2)
    # The same boundary said another way is the same run.
    rc, _, _ = mpirun(2, base + ["--periodic", "y", "--bc", "xhi=neumann,xlo=dirichlet:1"])
    check(rc == 0, "--periodic y with --bc xhi=neumann,xlo=dirichlet:1 restarts that run")
    # Temporal blocking with a mirror is refused before the first output is written.
    must_fail([heat, "--grid", "67x45", "--quiet", "--steps", "10", "--bc", "yhi=neumann",
               "--time-block", "2", "--output", "tb", "--output-every", "5"],
              "time blocking (2 steps per exchange) with a Neumann boundary (y high)", 2)
    check(not os.path.exists("tb_000000.h5") and not os.path.exists("tb.xmf"),
          "--time-block 2 with a Neumann side writes no output: %s"
          % sorted(f for f in os.listdir(".") if f.startswith("tb")))


def scenario_crash():
    heat = BIN["heat"]
    base = [heat, "--grid", "128x128", "--quiet"]
    straight = app_checksum(2, base + ["--steps", "60"])
    env = mpi_env({"TESSERA_TEST_CHECKPOINT_DELAY": "2"})
    cmd = mpirun_prefix(2) + base + ["--steps", "60", "--checkpoint-every", "20",
                                     "--checkpoint-dir", "ck"]
    print("RUN  %s (kill -9 a rank while ckpt 40 is being written)" % " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (os.path.exists("ck/ckpt_000020.h5") and
                                          os.path.exists("ck/ckpt_000040.h5.tessera.tmp")):
        time.sleep(0.05)
    ranks = app_ranks(proc.pid, "tessera-heat")
    killed = check(len(ranks) == 2 and os.path.exists("ck/ckpt_000040.h5.tessera.tmp"),
                   "caught the job inside checkpoint 40 (ranks %s)" % ranks)
    if killed:
        os.kill(ranks[-1], signal.SIGKILL)
    try:
        proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    check(proc.returncode != 0, "the job failed (status %s)" % proc.returncode)
    check(os.path.exists("ck/ckpt_000020.h5") and not os.path.exists("ck/ckpt_000040.h5"),
          "ckpt 20 intact, no ckpt 40 under its final name: %s" % sorted(os.listdir("ck")))
    again = app_checksum(3, base + ["--steps", "60", "--restart", "latest", "--checkpoint-dir",
                                    "ck"])
    check(again == straight, "restart from ckpt 20 to 60: %s == straight %s" % (again, straight))


def scenario_sigterm():
    heat = BIN["heat"]
    base = [heat, "--grid", "1024x1024", "--quiet"]
    steps = "3000"
    straight = app_checksum(2, base + ["--steps", steps])
    cmd = mpirun_prefix(2) + base + ["--steps", steps, "--checkpoint-dir", "ck",
                                     "--checkpoint-every", "200", "--checkpoint-keep", "100"]
    rc, out = sigterm_when(cmd, "ck/ckpt_000200.h5", "tessera-heat")
    m = re.search(r"checkpoint written to (\S+)", out)
    check(m is not None and m.group(1) != "ck/ckpt_003000.h5", "stopped before the end")
    check(rc == 3, "exit status 3 (stopped after a checkpoint): %s" % rc)
    check(m is not None and os.path.exists(m.group(1)), "checkpoint path printed and present")
    again = app_checksum(3, base + ["--steps", steps, "--restart", "latest", "--checkpoint-dir",
                                    "ck", "--map", "roundrobin"])
    check(again == straight, "restart completes with the straight checksum: %s == %s"
          % (again, straight))


def scenario_checkpoint_seconds():
    heat = BIN["heat"]
    base = [heat, "--grid", "1024x1024", "--quiet", "--steps", "4000"]
    rc, out, _ = mpirun(2, base + ["--checkpoint-seconds", "0.3", "--checkpoint-keep", "100",
                                   "--checkpoint-dir", "ck"])
    straight = parse_checksum(out)
    names = sorted(os.listdir("ck")) if os.path.isdir("ck") else []
    check(rc == 0 and len(names) >= 2, "wall-clock checkpoints written: %s" % names)
    check(re.search(r"checkpoint ck/ckpt_\d{6}\.h5 \(8\.0 MiB in [0-9.]+ s, \d+ MiB/s\)", out)
          is not None, "each checkpoint reports its size, time and bandwidth")
    if names:
        again = app_checksum(2, base + ["--restart", "ck/" + names[0], "--map", "morton"])
        check(again == straight, "restart from %s: %s == %s" % (names[0], again, straight))


def scenario_bad_files():
    heat, life = BIN["heat"], BIN["life"]
    grid = ["--grid", "67x45", "--steps", "1", "--quiet"]
    app_checksum(2, [heat] + grid + ["--output", "good"])
    tool("make", "dims.h5", "/fields/u", "f64", "4x45x67")
    tool("make", "shape.h5", "/fields/u", "f64", "45x66")
    tool("make", "int.h5", "/fields/u", "i32", "45x67")
    tool("make", "f32.h5", "/fields/u", "f32", "45x67")
    with open("good_000001.h5", "rb") as f:
        data = f.read()
    with open("trunc.h5", "wb") as f:
        f.write(data[:len(data) // 3])
    with open("corrupt.h5", "wb") as f:
        f.write(b"\xde\xad\xbe\xef" * 256 + data[1024:])
    # Everything the user can fix in the files they gave is status 2 (item 13).
    must_fail([heat] + grid + ["--input", "nope.h5:/fields/u"],
              "cannot read 'nope.h5': No such file or directory", 2)
    must_fail([heat] + grid + ["--input", "good_000001.h5:/fields/v"],
              "'good_000001.h5' has no dataset '/fields/v'", 2)
    must_fail([heat] + grid + ["--input", "dims.h5:/fields/u"], "has 3 dimensions, the grid has 2", 2)
    must_fail([heat] + grid + ["--input", "shape.h5:/fields/u"], "has shape 45x66", 2)
    must_fail([heat] + grid + ["--input", "int.h5:/fields/u"], "is not float64 or float32", 2)
    must_fail([heat] + grid + ["--input", "trunc.h5:/fields/u"], "truncated or corrupt", 2)
    must_fail([heat] + grid + ["--input", "corrupt.h5:/fields/u"], "is not an HDF5 file", 2)
    must_fail([heat] + grid + ["--output", "good"], "exist; not replacing them (use --force", 2)
    # Files of the user's beside the outputs, named as tessera once named its own: untouched.
    # A link under tessera's temporary name is removed, never written through.
    mine = {n + ".tmp": b"user's own file\n" for n in os.listdir(".") if n.startswith("good")}
    mine["good.lock"] = b"user's lock\n"
    for n, data in mine.items():
        with open(n, "wb") as f:
            f.write(data)
    with open("precious.txt", "wb") as f:
        f.write(b"precious\n")
    os.symlink("precious.txt", "good_000001.h5.tessera.tmp")
    rc, _, _ = mpirun(2, [heat] + grid + ["--output", "good", "--force"])
    check(rc == 0, "--force overwrites")
    for n, data in sorted(mine.items()):
        with open(n, "rb") as f:
            check(f.read() == data, "%s is untouched" % n)
    with open("precious.txt", "rb") as f:
        check(f.read() == b"precious\n", "a link at the temporary name is not written through")
    left = [n for n in os.listdir(".") if "tessera." in n]
    check(not left, "no temporary or lock file left: %s" % left)
    # The series' last file must fit with the temporary suffix (the .xmf, shorter, does).
    prefix = "s" * 234
    must_fail([heat] + grid + ["--output", prefix],
              "the file name '%s_000001.h5' has 244 characters, at most 243 fit here" % prefix, 2)
    rc, _, _ = mpirun(2, [heat] + grid + ["--input", "f32.h5:/fields/u"])
    check(rc == 0, "a float32 dataset is accepted")
    # Non-finite input data is refused, naming the first bad cell (item 11): cell 70 of a 67-wide
    # grid is (3, 1).
    tool("make", "nan.h5", "/fields/u", "f64nan", "45x67")
    tool("make", "inf.h5", "/fields/u", "f64inf", "45x67")
    must_fail([heat] + grid + ["--input", "nan.h5:/fields/u"],
              "holds a non-finite value (nan) in cell (3, 1)", 2)
    must_fail([heat] + grid + ["--input", "inf.h5:/fields/u"],
              "holds a non-finite value (inf) in cell (3, 1)", 2)
    # A state that stops being finite ends the run with status 1, naming the step.
    tool("make", "huge.h5", "/fields/u", "f64huge", "45x67")
    must_fail([heat, "--grid", "67x45", "--steps", "50", "--quiet", "--input", "huge.h5:/fields/u"],
              "the state at step 1 holds a non-finite value", 1)
    # A file another program is writing is reported as locked, not corrupt.
    holder = subprocess.Popen([BIN["h5tool"], "hold", "f32.h5", "60"], stdout=subprocess.PIPE,
                              text=True)
    try:
        holder.stdout.readline()
        must_fail([heat] + grid + ["--input", "f32.h5:/fields/u"],
                  "is locked by another program that is writing it", 2)
    finally:
        holder.kill()
        holder.wait()
    app_checksum(2, [life, "--grid", "67x45", "--steps", "2", "--quiet", "--checkpoint-every",
                     "2", "--checkpoint-dir", "lck"])
    must_fail([heat, "--grid", "67x45", "--steps", "5", "--quiet", "--restart",
               "lck/ckpt_000002.h5"], "is a checkpoint of tessera-life, not of tessera-heat", 2)
    must_fail([life, "--grid", "64x45", "--steps", "5", "--quiet", "--restart",
               "lck/ckpt_000002.h5"], "holds a grid of 67 cells along x, this run has 64", 2)
    must_fail([life, "--grid", "67x45", "--steps", "5", "--quiet", "--periodic", "--restart",
               "lck/ckpt_000002.h5"], "was written with options 'periodic=0'", 2)
    must_fail([life, "--grid", "67x45", "--steps", "5", "--quiet", "--restart", "latest",
               "--checkpoint-dir", "empty"], "cannot open checkpoint directory 'empty'", 2)
    # Item 12: strings as h5py writes them (variable length, or fixed length without a
    # terminator) are read whole; a negative step is refused.
    shutil.copy("lck/ckpt_000002.h5", "vstr.h5")
    tool("attr", "vstr.h5", "app", "vstr", "tessera-life")
    rc, _, _ = mpirun(2, [life, "--grid", "67x45", "--steps", "4", "--quiet", "--restart",
                          "vstr.h5"])
    check(rc == 0, "a variable-length 'app' string (h5py's str) is read whole")
    shutil.copy("lck/ckpt_000002.h5", "nstr.h5")
    tool("attr", "nstr.h5", "app", "nstr", "tessera-life")
    rc, _, _ = mpirun(2, [life, "--grid", "67x45", "--steps", "4", "--quiet", "--restart",
                          "nstr.h5"])
    check(rc == 0, "a null-padded 'app' string without terminator is read whole")
    shutil.copy("lck/ckpt_000002.h5", "neg.h5")
    tool("attr", "neg.h5", "step", "i64", "-5")
    must_fail([life, "--grid", "67x45", "--steps", "5", "--quiet", "--restart", "neg.h5"],
              "records step -5; a step cannot be negative", 2)
    # --restart latest skips a damaged newest checkpoint, with a warning.
    os.makedirs("fb", exist_ok=True)
    app_checksum(2, [life, "--grid", "67x45", "--steps", "4", "--quiet", "--checkpoint-every",
                     "2", "--checkpoint-dir", "fb"])
    with open("fb/ckpt_000004.h5", "r+b") as f:
        f.truncate(100)
    rc, out, err = run_cmd(mpirun_prefix(3) + [life, "--grid", "67x45", "--steps", "6", "--quiet",
                                              "--restart", "latest", "--checkpoint-dir", "fb"],
                           mpi_env(), TIMEOUT)
    check(rc == 0 and "newest checkpoint 'fb/ckpt_000004.h5' is unreadable" in out + err
          and "at step 2" in out, "--restart latest falls back to ckpt 2: status %s" % rc)


if __name__ == "__main__":
    sys.exit(scenario_main(__doc__, globals(), {"heat": "apps/heat/tessera-heat",
                                                "life": "apps/life/tessera-life",
                                                "h5tool": "tests/io/h5tool",
                                                "heat_ref": "tests/reference/heat_ref"},
                           "tessera-io-"))
