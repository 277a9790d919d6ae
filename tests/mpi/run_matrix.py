#!/usr/bin/env python3
"""Run a tessera app across thread counts and maps and compare its checksum
with a serial reference program.

Usage:
  run_matrix.py --app PATH --ref PATH --np N [--threads 1,2]
                [--maps contiguous,roundrobin,sfc,morton,knapsack]
                [--app-args "ARGS"] [--timeout 60] -- <app/ref args...>

The args after "--" are given unchanged to both the reference and the app.
--app-args is shlex-split and appended only to the app command (after
"--map M"). Use the "--app-args=..." form if ARGS has a single word that
starts with "-".

Prints each command and its result, then "N passed, N failed"; exits 1 if
anything failed, else 0.
"""
import argparse
import os
import re
import shlex
import signal
import subprocess
import sys

CHECKSUM_RE = re.compile(r"^checksum ([0-9a-f]{16})$")
DEFAULT_MAPS = "contiguous,roundrobin,sfc,morton,knapsack"


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
    """Run cmd; return (returncode or None on timeout, stdout, stderr).

    The command runs in its own session so that on timeout the whole
    process group it created (mpirun and its local children) is ended.
    """
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


def split_argv(argv):
    if "--" in argv:
        k = argv.index("--")
        return argv[:k], argv[k + 1:]
    return argv, []


def csv_list(text):
    return [x.strip() for x in text.split(",") if x.strip()]


def main():
    own, passthru = split_argv(sys.argv[1:])
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--app", required=True, help="MPI app executable")
    ap.add_argument("--ref", required=True, help="serial reference executable")
    ap.add_argument("--np", type=int, required=True, help="number of MPI ranks")
    ap.add_argument("--threads", default="1,2", help="comma list of OMP_NUM_THREADS values")
    ap.add_argument("--maps", default=DEFAULT_MAPS, help="comma list of --map values")
    ap.add_argument("--app-args", default="", help="extra args for the app only (shlex-split)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per command")
    opts = ap.parse_args(own)

    threads = csv_list(opts.threads)
    maps = csv_list(opts.maps)
    app_extra = shlex.split(opts.app_args)
    if opts.np < 1 or not threads or not maps:
        ap.error("need --np >= 1 and non-empty --threads and --maps")

    passed = 0
    failed = 0

    # Reference run (serial, no mpirun).
    ref_cmd = [opts.ref] + passthru
    print("RUN  %s" % shlex.join(ref_cmd), flush=True)
    rc, out, err = run_cmd(ref_cmd, mpi_env(), opts.timeout)
    ref_sum = None
    if rc is None:
        print("  FAIL reference: TIMEOUT (deadlock?) after %gs" % opts.timeout)
    elif rc != 0:
        print("  FAIL reference: exit status %d" % rc)
    else:
        ref_sum = parse_checksum(out)
        if ref_sum is None:
            print("  FAIL reference: no 'checksum <16 hex>' line on stdout")
    if ref_sum is None:
        show_output(out, err)
        failed += 1
        print("%d passed, %d failed" % (passed, failed))
        return 1
    print("  ok   reference checksum %s" % ref_sum)

    for t in threads:
        for m in maps:
            cmd = mpirun_prefix(opts.np) + [opts.app] + passthru + ["--map", m] + app_extra
            label = "np=%d threads=%s map=%s" % (opts.np, t, m)
            print("RUN  OMP_NUM_THREADS=%s %s" % (t, shlex.join(cmd)), flush=True)
            rc, out, err = run_cmd(cmd, mpi_env({"OMP_NUM_THREADS": str(t)}), opts.timeout)
            if rc is None:
                print("  FAIL %s: TIMEOUT (deadlock?) after %gs" % (label, opts.timeout))
                show_output(out, err)
                failed += 1
                continue
            got = parse_checksum(out)
            if rc != 0:
                print("  FAIL %s: exit status %d" % (label, rc))
                show_output(out, err)
                failed += 1
            elif got is None:
                print("  FAIL %s: no 'checksum <16 hex>' line on stdout" % label)
                show_output(out, err)
                failed += 1
            elif got != ref_sum:
                print("  FAIL %s: checksum mismatch: app %s != reference %s" % (label, got, ref_sum))
                failed += 1
            else:
                print("  PASS %s: checksum %s" % (label, got))
                passed += 1
            sys.stdout.flush()

    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
