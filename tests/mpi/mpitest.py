"""Shared plumbing of the multi-rank test drivers: mpirun command lines, running a command
with a timeout that ends mpirun and everything it started, and reading checksum lines."""
import os
import re
import signal
import subprocess

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


def run_cmd(cmd, env, timeout, merge_stderr=False):
    """Run cmd; return (returncode or None on timeout, stdout, stderr).

    The command runs in its own session so that on timeout the whole process group it
    created (mpirun and its local children) is ended. With merge_stderr, stderr is part of
    stdout (in the order written) and the returned stderr is empty.
    """
    try:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True, errors="replace",
                                start_new_session=True)
    except OSError as exc:
        return 127, "", "cannot run %s: %s\n" % (cmd[0], exc)
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err or ""
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


def run_combined(cmd, env, timeout):
    """Run cmd with stderr merged into stdout; return (rc or None on timeout, output)."""
    rc, out, err = run_cmd(cmd, env, timeout, merge_stderr=True)
    return rc, out + err
