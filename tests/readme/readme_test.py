#!/usr/bin/env python3
"""Runs what the README shows, extracted from README.md itself so that it cannot drift.

  readme_test.py --source SRC --build BUILD

- C blocks: a complete program (one with main) is written under the name its first comment
  gives (`/* diffuse.c: ...`) for the commands that build it; a block without main is compiled
  with a main that calls its run_* functions, and run at 3 ranks.
- sh blocks: every command runs, in README order, in one scratch directory where `build` is the
  build tree and pkg-config finds tessera in it, with a timeout. Sizes are scaled down (--grid,
  --size, --steps, --particles, --frames, ...): the point is that every option and file the
  README names still works. srun becomes mpirun (Slurm's launcher is tested by the slurm suite),
  mpirun's host and binding flags are dropped (one host), `paraview FILE.xmf` loads the file
  with pvpython, sbatch scripts are checked with `bash -n` (the slurm suite submits them), and
  the set-up commands CI runs itself (scripts/demo, scripts/test, meson install) are not rerun.
- console blocks: each `$ command` runs as an sh block's would but unscaled (the output shown
  depends on the sizes), and every line shown after it must be a line of its output; a line
  holding ": error: " means status 2 (bad input), else 0.
- meson and cmake blocks: their lines must appear in tests/consumer's projects, which the
  consumer suite builds against an installed tessera.

Prints every command with what happened, then "N passed, N failed".
"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mpi"))
from mpitest import mpi_env, run_cmd  # noqa: E402

TIMEOUT = 180
results = {"passed": 0, "failed": 0}
SCALE = {"--grid": 64, "--size": 256, "--steps": 20, "--particles": 20000, "--frames": 6,
         "--checkpoint-every": 10, "--output-every": 10}
NOT_RERUN = {
    "scripts/demo": "the demo: CI runs scripts/test, which builds and runs the same",
    "scripts/test": "CI runs it; this test is part of it",
    "meson": "the consumer suite installs tessera exactly this way into a temporary prefix",
    "ninja": "the consumer suite installs tessera exactly this way into a temporary prefix",
    "scancel": "needs a running Slurm job; the slurm suite signals one this way",
}


def check(ok, what):
    results["passed" if ok else "failed"] += 1
    print("  %s %s" % ("PASS" if ok else "FAIL", what), flush=True)
    return ok


def blocks(text):
    """(language, body, line) of every fenced block."""
    found, lang, body, start = [], None, [], 0
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            if lang is None:
                lang, body, start = line[3:].strip() or "text", [], n
            else:
                found.append((lang, "\n".join(body) + "\n", start))
                lang = None
        elif lang is not None:
            body.append(line)
    return found


def commands(body):
    """Commands of an sh block: continuations joined, comments dropped."""
    out, cur = [], ""
    for line in body.splitlines():
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        cur += line
        cmd = re.sub(r"\s+#.*$", "", cur).strip()
        cur = ""
        if cmd and not cmd.startswith("#"):
            out.append(cmd)
    return out


def scale(words):
    out, i = [], 0
    while i < len(words):
        w = words[i]
        if w in SCALE and i + 1 < len(words):
            cap = SCALE[w]
            parts = [str(min(int(p), cap)) if p.isdigit() else p for p in words[i + 1].split("x")]
            out += [w, "x".join(parts)]
            i += 2
            continue
        out.append(w)
        i += 1
    return out


def adapt(cmd):
    """The command as run here, and a note on what was changed."""
    words = shlex.split(cmd)
    env = []
    while words and re.match(r"^[A-Z_]+=", words[0]):
        env.append(words.pop(0))
    note = []
    if words and words[0] == "srun":
        words.pop(0)
        n = "1"
        while words and words[0].startswith("-"):
            w = words.pop(0)
            if w in ("-n", "-c", "-N") and words:
                v = words.pop(0)
                n = v if w == "-n" else n
        words = ["mpirun", "-np", n] + words
        note.append("srun as mpirun")
    if words and words[0] == "mpirun":
        rest, i = [], 1
        while i < len(words):
            if words[i] in ("--hostfile", "--map-by", "--bind-to") and i + 1 < len(words):
                i += 2
                continue
            rest.append(words[i])
            i += 1
        words = ["mpirun", "--oversubscribe", "--bind-to", "none"] + rest
    scaled = scale(words)
    if scaled != words:
        note.append("scaled down")
    return " ".join(env + [shlex.quote(w) for w in scaled]), ", ".join(note)


def make_tree_pc(work, src, build):
    """A tessera.pc describing the build tree, so README's pkg-config lines find it."""
    lib = os.path.join(work, ".lib")
    os.makedirs(lib)
    so = [f for f in os.listdir(os.path.join(build, "src")) if re.match(r"libtessera\.so\.\d+\.", f)]
    for name in ("libtessera.so", "libtessera.so.0"):
        os.symlink(os.path.join(build, "src", so[0]), os.path.join(lib, name))
    with open(os.path.join(lib, "tessera.pc"), "w") as f:
        f.write("libdir=%s\nName: tessera\nDescription: the build tree\nVersion: 0\n"
                "Cflags: -I%s -I%s\nLibs: -L%s -ltessera -Wl,-rpath,%s\n"
                % (lib, os.path.join(src, "include"), os.path.join(build, "include"), lib, lib))
    return lib


def run_sh(cmd, work, env, src, build):
    words = shlex.split(cmd) if "$(" not in cmd else cmd.split()
    launch = [w for w in words if not re.match(r"^[A-Z_]+=", w)]
    head = launch[0] if launch else ""
    if head in NOT_RERUN or cmd in NOT_RERUN:
        print("  SKIP %s: %s" % (cmd, NOT_RERUN.get(cmd, NOT_RERUN.get(head))))
        return
    if head == "export":
        name = words[1].split("=")[0]
        print("  SKIP %s: %s points at the build tree here" % (cmd, name))
        return
    if head == "sbatch":
        script = [w for w in words if w.endswith(".sbatch")][0]
        rc = subprocess.run(["bash", "-n", os.path.join(src, script)]).returncode
        check(rc == 0, "%s: %s exists and parses (the slurm suite submits it)" % (cmd, script))
        return
    if head in ("paraview", "visit"):
        xmf = [w for w in words if w.endswith(".xmf")][0]
        pv = shutil.which("pvpython")
        probe = os.path.join(src, "tests", "viewers", "pv_probe.py")
        if not pv:
            check(os.path.exists(os.path.join(work, xmf)), "%s: %s exists (no pvpython)" % (cmd, xmf))
            return
        rc, out, err = run_cmd([pv, probe, xmf, "u"], env, TIMEOUT)
        check(rc == 0 and '"ncells"' in out, "%s: ParaView loads %s" % (cmd, xmf))
        return
    run, note = adapt(cmd) if head in ("mpirun", "srun") else (cmd, "")
    rc, out, err = run_cmd(["bash", "-c", run], env, TIMEOUT)
    ok = check(rc == 0, "%s%s -> status %s" % (cmd, " (%s)" % note if note else "", rc))
    if not ok:
        print("    ran: " + run)
        for line in (out + err).splitlines()[-15:]:
            print("    " + line)


def run_console(body, line, env):
    """`$ command` lines, each followed by lines its output must hold."""
    steps = []
    for text in body.splitlines():
        if text.startswith("$ "):
            steps.append((text[2:], []))
        elif steps and text.strip():
            steps[-1][1].append(text)
    check(steps, "README line %d: the console block shows a command" % line)
    for cmd, want in steps:
        run, _ = adapt(cmd)
        run = shlex.join(scale_off(shlex.split(run), cmd))
        rc, out, err = run_cmd(["bash", "-c", run], env, TIMEOUT)
        got = (out + err).splitlines()
        status = 2 if any(": error: " in w for w in want) else 0
        missing = [w for w in want if w not in got]
        if not check(rc == status and not missing, "README line %d: %s -> status %s (want %s), "
                     "shows what the README says" % (line, cmd, rc, status)):
            for w in missing:
                print("    missing: " + w)
            for text in got[-15:]:
                print("    " + text)


def scale_off(words, cmd):
    """adapt()'s words with the README's own sizes put back."""
    orig = shlex.split(cmd)
    for i, w in enumerate(words):
        if w in SCALE and w in orig and i + 1 < len(words):
            words[i + 1] = orig[orig.index(w) + 1]
    return words


def fragment_main(body):
    runs = re.findall(r"^static int (run\w*)\(tsr_ctx ctx\)", body, re.M)
    calls = "".join("    if (!err)\n        err = %s(ctx);\n" % r for r in runs)
    return ("#include <stdio.h>\n#include <string.h>\n#include <tessera.h>\n" + body +
            "int main(int argc, char **argv) {\n    tsr_ctx ctx = NULL;\n"
            "    int err = tsr_init(&argc, &argv, \"readme\", &ctx);\n" + calls +
            "    return tsr_finalize(&ctx, err);\n}\n"), runs


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", required=True)
    ap.add_argument("--build", required=True)
    opts = ap.parse_args()
    src, build = os.path.abspath(opts.source), os.path.abspath(opts.build)
    text = open(os.path.join(src, "README.md")).read()
    found = blocks(text)
    work = tempfile.mkdtemp(prefix="tessera-readme-")
    try:
        os.symlink(build, os.path.join(work, "build"))
        lib = make_tree_pc(work, src, build)
        env = mpi_env({"PKG_CONFIG_PATH": lib, "OMP_NUM_THREADS": "1"})
        os.chdir(work)
        # Fixtures the commands expect: a directory of PNGs for imgpipe's --input.
        rc, _, _ = run_cmd(["mpirun", "-np", "1", os.path.join(build, "apps/imgpipe/tessera-imgpipe"),
                            "--frames", "3", "--size", "64x48", "--output", "shots", "--quiet"],
                           env, TIMEOUT)
        check(rc == 0, "fixture: shots/ holds 3 PNGs")
        for lang, body, line in found:
            if lang != "c":
                continue
            if re.search(r"^int main\(", body, re.M):
                m = re.match(r"/\* (\w+\.c):", body)
                name = m.group(1) if m else "block_%d.c" % line
                with open(name, "w") as f:
                    f.write(body)
                print("  wrote %s (README line %d)" % (name, line))
            else:
                prog, runs = fragment_main(body)
                name = "fragment_%d.c" % line
                with open(name, "w") as f:
                    f.write(prog)
                rc, out, err = run_cmd(["bash", "-c", "mpicc -std=c17 -Wall -Werror "
                                        "-Wno-unused-parameter -fopenmp %s -o %s $(pkg-config "
                                        "--cflags --libs tessera)" % (name, name[:-2])],
                                       env, TIMEOUT)
                if check(rc == 0 and runs, "README line %d: the fragment compiles (%s)"
                         % (line, ", ".join(runs))):
                    rc, out, err = run_cmd(["mpirun", "-np", "3", "--oversubscribe", "--bind-to",
                                            "none", "./" + name[:-2]], env, TIMEOUT)
                    check(rc == 0, "README line %d: runs at 3 ranks (status %s)" % (line, rc))
                else:
                    print(out + err)
        for lang, body, line in found:
            if lang == "sh":
                print("README line %d:" % line)
                for cmd in commands(body):
                    run_sh(cmd, work, env, src, build)
            elif lang == "console":
                run_console(body, line, env)
            elif lang in ("meson", "cmake"):
                proj = os.path.join(src, "tests", "consumer",
                                    "meson.build" if lang == "meson" else "CMakeLists.txt")
                have = re.sub(r"\s+", " ", open(proj).read())
                for cmd in commands(body):
                    keys = [k for k in ("dependency('tessera'", "find_package(tessera",
                                        "tessera::tessera") if k in cmd]
                    check(keys and all(k in have for k in keys), "README line %d: %s is what %s does"
                          % (line, cmd, os.path.relpath(proj, src)))
    finally:
        os.chdir("/")
        shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
