#!/usr/bin/env python3
"""The consumer test: installs tessera into a temporary prefix, then builds consumer.c outside the
project three ways (mpicc + pkg-config, a meson project with dependency('tessera'), a CMake project
with find_package(tessera)) and runs each at --np ranks. Every run must print the checksum of a
plain serial Python reference. Also checks the install itself: an installed program runs without
LD_LIBRARY_PATH (install rpath), tessera.pc's Cflags name no private directories, and
libtessera.so.0 exports no tsr__ symbol. Exit 77 (skipped) without cmake."""
import argparse
import glob
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
MASK = (1 << 64) - 1


def splitmix64(z):
    z = (z + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def reference():
    """consumer.c's computation, serially: the checksum its final state must have."""
    nx, ny, steps = 48, 32, 20
    u = [[((7 * x + 13 * y) % 17) / 16.0 for x in range(nx)] for y in range(ny)]
    for _ in range(steps):
        v = [[0.0] * nx for _ in range(ny)]
        for y in range(ny):
            for x in range(nx):
                c = u[y][x]
                s = u[y][(x - 1) % nx] + u[y][(x + 1) % nx] + u[(y - 1) % ny][x] + u[(y + 1) % ny][x]
                v[y][x] = c + 0.1 * (s - 4.0 * c)
        u = v
    total = 0
    for y in range(ny):
        for x in range(nx):
            bits = struct.unpack("<Q", struct.pack("<d", u[y][x]))[0]
            total = (total + splitmix64(splitmix64(x + nx * y) ^ bits)) & MASK
    return "%016x" % total


def run(cmd, env, timeout=300, cwd=None):
    print("$ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=timeout)
    if p.returncode != 0:
        print(p.stdout)
        raise SystemExit("consumer: '%s' failed with status %d" % (" ".join(cmd), p.returncode))
    return p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True, help="tessera's source tree")
    ap.add_argument("--np", type=int, default=2)
    ap.add_argument("--version", required=True, help="the version tsr_version() must report")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    opts = ap.parse_args()
    for tool in ("cmake", "mpicc", "mpirun", "pkg-config", "meson", "ninja"):
        if shutil.which(tool) is None:
            print("consumer: skipped: %s not found" % tool)
            return 77

    env = dict(os.environ)
    env.pop("LD_LIBRARY_PATH", None)  # everything must be found through rpaths
    for k in [k for k in env if k.startswith("MESON")]:
        env.pop(k)
    env.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "passive"})
    work = tempfile.mkdtemp(prefix="tessera-consumer-")
    ok = False
    try:
        prefix = os.path.join(work, "prefix")
        build = os.path.join(work, "tessera-build")
        # A library-only build of this source tree into the prefix: what a user does.
        run(["meson", "setup", build, opts.source, "--prefix=" + prefix, "--buildtype=release",
             "-Dtests=disabled"], env)
        run(["ninja", "-j2", "-C", build], env, timeout=900)
        run(["meson", "install", "--no-rebuild", "--quiet", "-C", build], env)

        libs = glob.glob(os.path.join(prefix, "**", "libtessera.so.0"), recursive=True)
        if len(libs) != 1:
            raise SystemExit("consumer: libtessera.so.0 not installed under %s" % prefix)
        libdir = os.path.dirname(libs[0])
        for f in ("include/tessera.h", "include/tessera/version.h", "bin/tessera-heat"):
            if not os.path.exists(os.path.join(prefix, f)):
                raise SystemExit("consumer: %s not installed" % f)
        out = run([os.path.join(prefix, "bin", "tessera-heat"), "--version"], env)
        print(out.strip())
        if shutil.which("nm"):
            syms = run(["nm", "-D", "--defined-only", libs[0]], env)
            hidden = [l for l in syms.splitlines() if " tsr__" in l]
            if hidden:
                raise SystemExit("consumer: libtessera.so.0 exports %s" % hidden[0])
            print("libtessera.so.0 exports %d symbols, no tsr__"
                  % sum(1 for l in syms.splitlines() if " tsr_" in l))

        env["PKG_CONFIG_PATH"] = os.path.join(libdir, "pkgconfig")
        cflags = run(["pkg-config", "--cflags", "tessera"], env).split()
        bad = [f for f in cflags if "hdf5" in f or "png" in f or opts.source in f]
        if bad:
            raise SystemExit("consumer: tessera.pc's Cflags name private directories: %s" % bad)
        libs_flags = run(["pkg-config", "--libs", "tessera"], env).split()

        src = os.path.join(HERE, "consumer.c")
        exes = {}
        exes["pkg-config"] = os.path.join(work, "consumer-pc")
        run(["mpicc", "-std=c17", "-Wall", "-Wextra", "-Werror", src, "-o", exes["pkg-config"]]
            + cflags + libs_flags + ["-Wl,-rpath," + libdir], env)
        mbuild = os.path.join(work, "meson-build")
        run(["meson", "setup", mbuild, HERE, "-Dwerror=true"], env)
        run(["ninja", "-j2", "-C", mbuild], env)
        exes["meson"] = os.path.join(mbuild, "consumer")
        cbuild = os.path.join(work, "cmake-build")
        run(["cmake", "-S", HERE, "-B", cbuild, "-DCMAKE_PREFIX_PATH=" + prefix,
             "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror"], env)
        run(["cmake", "--build", cbuild, "-j", "2"], env)
        exes["cmake"] = os.path.join(cbuild, "consumer")

        expect = reference()
        print("serial reference: checksum %s" % expect)
        failed = []
        for how, exe in exes.items():
            out = run(["mpirun", "-np", str(opts.np), "--oversubscribe", "--bind-to", "none", exe],
                      env, timeout=120)
            m = re.findall(r"^checksum ([0-9a-f]{16})$", out, re.M)
            line = [l for l in out.splitlines() if "tessera" in l]
            print("%-10s %s | checksum %s" % (how, line[0] if line else "?", m))
            v = re.search(r"tessera (\S+) \(headers (\S+)\)", out)
            if m != [expect] or not v or v.group(1) != v.group(2) or v.group(1) != opts.version:
                failed.append(how)
        if failed:
            raise SystemExit("consumer: wrong or missing checksum or version from the %s build(s)"
                             % ", ".join(failed))
        print("consumer: all three builds print checksum %s at %d ranks" % (expect, opts.np))
        ok = True
        return 0
    finally:
        if ok and not opts.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("consumer: work directory kept: %s" % work)


if __name__ == "__main__":
    sys.exit(main())
