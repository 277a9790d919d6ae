#!/usr/bin/env python3
"""Check that a glider in the tessera Game of Life app returns to its start.

Usage:
  glider.py --app PATH --np N [--app-args "ARGS"] [--timeout 60]

Runs "APP --grid 64x64 --periodic --init glider --steps S" under
"mpirun -np N --oversubscribe --bind-to none" for S = 0, 4 and 256, and
again for S = 256 with "--map roundrobin". A glider moves one cell
diagonally every 4 steps, so on a periodic 64x64 torus it is back where it
started after 256 steps. Passes iff steps 256 (both maps) give the same
checksum as steps 0 and steps 4 gives a different one (the glider moved).
--app-args (shlex-split) is appended to every app command.

Prints "N passed, N failed"; exits 1 if anything failed, else 0.
"""
import argparse
import os
import re
import shlex
import signal
import subprocess
import sys

CHECKSUM_RE = re.compile(r"^checksum ([0-9a-f]{16})$")


def mpi_env(extra=None):
    env = dict(os.environ)
    env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    env["OMPI_MCA_rmaps_base_oversubscribe"] = "1"
    if extra:
        env.update(extra)
    return env


def _proc_table():
    """Return {pid: (ppid, starttime)} from /proc (empty if unavailable)."""
    table = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return table
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        try:
            table[int(name)] = (int(fields[1]), fields[19])
        except (IndexError, ValueError):
            continue
    return table


def _descendants(root):
    """(pid, starttime) of all live descendants of root."""
    table = _proc_table()
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append((child, table[child][1]))
            todo.append(child)
    return found


def _kill_tree(proc):
    """End proc (started with start_new_session=True) and everything it spawned."""
    tracked = _descendants(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    tracked += _descendants(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    table = _proc_table()
    for pid, start in tracked:
        if pid in table and table[pid][1] == start:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def mpirun_prefix(np):
    return ["mpirun", "-np", str(np), "--oversubscribe", "--bind-to", "none"]


def run_cmd(cmd, env, timeout):
    """Run cmd; return (returncode or None on timeout, stdout, stderr)."""
    try:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True, errors="replace",
                                start_new_session=True)
    except OSError as exc:
        return 127, "", "cannot run %s: %s\n" % (cmd[0], exc)
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        pass
    _kill_tree(proc)
    try:
        out, err = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        out, err = "", ""
    return None, out or "", err or ""


def parse_checksum(stdout):
    found = None
    for line in stdout.splitlines():
        m = CHECKSUM_RE.match(line.rstrip())
        if m:
            found = m.group(1)
    return found


def show_output(out, err, limit=40):
    for name, text in (("stdout", out), ("stderr", err)):
        lines = text.splitlines()
        if not lines:
            continue
        print("    --- %s%s ---" % (name, " (last %d lines)" % limit if len(lines) > limit else ""))
        for line in lines[-limit:]:
            print("    " + line)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--app", required=True, help="life app executable")
    ap.add_argument("--np", type=int, required=True, help="number of MPI ranks")
    ap.add_argument("--app-args", default="", help="extra app args (shlex-split)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per command")
    opts = ap.parse_args()
    if opts.np < 1:
        ap.error("need --np >= 1")
    extra = shlex.split(opts.app_args)

    passed = 0
    failed = 0
    base = ["--grid", "64x64", "--periodic", "--init", "glider"]
    runs = [("steps 0", ["--steps", "0"]),
            ("steps 4", ["--steps", "4"]),
            ("steps 256", ["--steps", "256"]),
            ("steps 256 roundrobin", ["--steps", "256", "--map", "roundrobin"])]
    sums = {}
    for label, args in runs:
        cmd = mpirun_prefix(opts.np) + [opts.app] + base + args + extra
        print("RUN  %s" % shlex.join(cmd), flush=True)
        rc, out, err = run_cmd(cmd, mpi_env(), opts.timeout)
        got = parse_checksum(out) if rc is not None else None
        if rc is None:
            print("  FAIL %s: TIMEOUT (deadlock?) after %gs" % (label, opts.timeout))
        elif rc != 0:
            print("  FAIL %s: exit status %d" % (label, rc))
        elif got is None:
            print("  FAIL %s: no 'checksum <16 hex>' line on stdout" % label)
        else:
            print("  ok   %s: checksum %s" % (label, got))
            sums[label] = got
            continue
        show_output(out, err)
        failed += 1

    def check(ok, text):
        nonlocal passed, failed
        print("  %s %s" % ("PASS" if ok else "FAIL", text))
        if ok:
            passed += 1
        else:
            failed += 1

    s0 = sums.get("steps 0")
    if s0 is not None:
        for label in ("steps 256", "steps 256 roundrobin"):
            if label in sums:
                check(sums[label] == s0, "%s returns to start: %s %s steps 0 %s"
                      % (label, sums[label], "==" if sums[label] == s0 else "!=", s0))
        if "steps 4" in sums:
            check(sums["steps 4"] != s0, "steps 4 moved: %s %s steps 0 %s"
                  % (sums["steps 4"], "!=" if sums["steps 4"] != s0 else "==", s0))

    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
