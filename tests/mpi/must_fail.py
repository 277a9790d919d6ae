#!/usr/bin/env python3
"""Run an MPI command that is expected to fail and check its message and
exit status.

Usage:
  must_fail.py --np N --expect "substring" [--status S] [--timeout 60]
               -- <command...>

Runs "mpirun -np N --oversubscribe --bind-to none <command...>" with stdout
and stderr combined. Passes iff the command did not time out, its exit
status is non-zero (and equal to S if --status is given), the expected
substring appears in the output, and exactly one line contains it (the
message is printed once, not once per rank). On failure the whole output
is printed.

Prints "N passed, N failed"; exits 1 if anything failed, else 0.
"""
import argparse
import os
import shlex
import signal
import subprocess
import sys


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


def run_combined(cmd, env, timeout):
    """Run cmd with stderr merged into stdout; return (rc or None on timeout, output)."""
    try:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, errors="replace",
                                start_new_session=True)
    except OSError as exc:
        return 127, "cannot run %s: %s\n" % (cmd[0], exc)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        pass
    _kill_tree(proc)
    try:
        out, _ = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        out = ""
    return None, out or ""


def split_argv(argv):
    if "--" in argv:
        k = argv.index("--")
        return argv[:k], argv[k + 1:]
    return argv, []


def main():
    own, command = split_argv(sys.argv[1:])
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--np", type=int, required=True, help="number of MPI ranks")
    ap.add_argument("--expect", required=True, help="substring expected exactly once in output")
    ap.add_argument("--status", type=int, default=None, help="required exit status")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds")
    opts = ap.parse_args(own)
    if not command:
        ap.error("missing command after --")
    if opts.np < 1 or not opts.expect:
        ap.error("need --np >= 1 and a non-empty --expect")

    cmd = mpirun_prefix(opts.np) + command
    print("RUN  %s" % shlex.join(cmd), flush=True)
    rc, out = run_combined(cmd, mpi_env(), opts.timeout)

    problems = []
    if rc is None:
        problems.append("TIMEOUT (deadlock?) after %gs" % opts.timeout)
    else:
        if rc == 0:
            problems.append("exit status 0, expected failure")
        elif opts.status is not None and rc != opts.status:
            problems.append("exit status %d, expected %d" % (rc, opts.status))
        hits = [line for line in out.splitlines() if opts.expect in line]
        if not hits:
            problems.append("expected message %r not found in output" % opts.expect)
        elif len(hits) != 1:
            problems.append("expected message %r appears on %d lines, expected exactly once"
                            % (opts.expect, len(hits)))

    if problems:
        for p in problems:
            print("  FAIL %s" % p)
        print("  --- output (exit status %s) ---" % ("timeout" if rc is None else rc))
        for line in out.splitlines():
            print("  " + line)
        print("0 passed, 1 failed")
        return 1
    print("  PASS exit status %d, message %r found once" % (rc, opts.expect))
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
