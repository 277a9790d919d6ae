"""bench/rows at every ISA level against a serial reference (this file) on a tiny grid.

Usage: rows_test.py ROWS. The reference repeats rows.c's layout, start values, update (same
expression order, IEEE doubles) and checksum; every level must print its bits, and a level the
CPU has must be the one that ran."""
import os
import struct
import subprocess
import sys

NX, NY, STEPS = 24, 7, 3
M64 = (1 << 64) - 1


def splitmix64(z):
    z = (z + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def reference():
    front, sy = 8, NX + 8
    cells = front + sy * (NY + 2)
    u = [float(i % 7) for i in range(cells)]
    v = list(u)
    for _ in range(STEPS):
        for y in range(1, NY + 1):
            for x in range(NX):
                i = front + y * sy + x
                c = u[i]
                s = (u[i - 1] + u[i + 1]) + (u[i - sy] + u[i + sy])
                v[i] = c + 0.1 * (s - 4.0 * c)
        u, v = v, u
    total = 0
    for y in range(1, NY + 1):
        for x in range(NX):
            bits = struct.unpack("<Q", struct.pack("<d", u[front + y * sy + x]))[0]
            total = splitmix64(total ^ bits)
    return "%016x" % total


def main():
    rows = sys.argv[1]
    flags = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    has = {"baseline": True, "avx2": "avx2" in flags,
           "avx512": {"avx512f", "avx512vl", "avx512bw", "avx512dq"} <= flags}
    want = reference()
    ok = True
    for level in ("baseline", "avx2", "avx512"):
        env = dict(os.environ, TSR_CPU=level)
        r = subprocess.run([rows, "--grid", "%dx%d" % (NX, NY), "--steps", str(STEPS)], env=env,
                           capture_output=True, text=True, timeout=30)
        lines = r.stdout.splitlines()
        path = next((l.split()[-1] for l in lines if l.startswith("cpu path ")), None)
        got = next((l.split()[-1] for l in lines if l.startswith("checksum ")), None)
        print("TSR_CPU=%s: exit %d, path %s, checksum %s (reference %s)"
              % (level, r.returncode, path, got, want))
        if r.returncode != 0 or got != want or (has[level] and path != level):
            ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
