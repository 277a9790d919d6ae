"""Shared plumbing of the multi-rank test drivers: mpirun command lines, running a command
with a timeout that ends mpirun and everything it started, and reading checksum lines; and the
frame of the scenario drivers (checks and their count, must-fail runs, SIGTERM to the ranks)."""
import argparse
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

CHECKSUM_RE = re.compile(r"^checksum ([0-9a-f]{16})$")


MASK64 = (1 << 64) - 1


def splitmix64(z):
    """The splitmix64 finaliser of the checksum convention (tsr_splitmix64), on Python ints."""
    z = (z + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def unit(key):
    """A uniform double in [0, 1) from a key, as the particle tests' ptest.h unit()."""
    return float(splitmix64(key & MASK64) >> 11) * 2.0 ** -53


def mpi_env(extra=None):
    env = dict(os.environ)
    env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    env["OMPI_MCA_rmaps_base_oversubscribe"] = "1"
    if extra:
        env.update(extra)
    return env


def preload_env(lib, extra=None):
    """Environment entries that LD_PRELOAD `lib` (the faults suite's shim) into the ranks. In a
    sanitizer build ASan wants to come first among the loaded libraries; the shim only wraps
    calls and passes them on (to ASan's wrappers, then libc), so it may come first."""
    env = {"LD_PRELOAD": lib}
    if os.environ.get("ASAN_OPTIONS") is not None:
        env["ASAN_OPTIONS"] = os.environ["ASAN_OPTIONS"] + ":verify_asan_link_order=0"
    env.update(extra or {})
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


# Scenario drivers (grayscott_tests.py, io_tests.py, comp_tests.py): one scenario per
# invocation, in a fresh temporary directory, each check printed as PASS/FAIL and counted, and
# the plain closing line "N passed, N failed".

results = {"passed": 0, "failed": 0}
BIN = {}  # name -> absolute path of a built program, filled by scenario_main


def check(ok, what):
    results["passed" if ok else "failed"] += 1
    print("  %s %s" % ("PASS" if ok else "FAIL", what), flush=True)
    return ok


def mpirun(np, args, env=None, timeout=120):
    """Echo and run `mpirun -np NP ARGS` (root-safe environment plus env); show its output when
    it fails. Returns (status or None on timeout, stdout, stderr)."""
    cmd = mpirun_prefix(np) + args
    print("RUN  %s" % " ".join(cmd), flush=True)
    rc, out, err = run_cmd(cmd, mpi_env(env), timeout)
    if rc != 0:
        show_output(out, err)
    return rc, out, err


def must_fail(args, expect, status=2, np=2, timeout=120):
    """args (program first) at np ranks must end with status and print a line holding expect
    exactly once (one message, not one per rank)."""
    rc, out, err = run_cmd(mpirun_prefix(np) + args, mpi_env(), timeout)
    hits = [line for line in (out + err).splitlines() if expect in line]
    ok = rc == status and len(hits) == 1
    if not ok:
        show_output(out, err)
    check(ok, "%s -> status %s, %r %d time(s)" % (" ".join(args[1:]), rc, expect, len(hits)))


def h5_checksum(h5tool, path, dataset):
    """The checksum h5tool computes from a dataset on disk, or None if it cannot."""
    rc, out, _ = run_cmd([h5tool, "checksum", path, dataset], None, 60)
    return parse_checksum(out) if rc == 0 else None


def app_ranks(root, comm):
    """Pids of the processes under root whose name (/proc/PID/comm, at most 15 characters) is
    comm: the ranks mpirun started, not mpirun itself."""
    pids = []
    for pid, _ in _descendants(root):
        try:
            with open("/proc/%d/comm" % pid) as f:
                if f.read().strip() == comm:
                    pids.append(pid)
        except OSError:
            pass
    return pids


def sigterm_when(cmd, ready, comm, wait=60):
    """Start the mpirun line cmd, wait up to `wait` seconds for the file `ready` (a checkpoint
    written inside the loop proves the ranks have their signal handlers), send SIGTERM to the
    ranks (processes named comm), and return (status, stdout and stderr merged)."""
    print("RUN  %s (SIGTERM to the ranks once the loop runs)" % " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, env=mpi_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    deadline = time.time() + wait
    while time.time() < deadline and not os.path.exists(ready):
        time.sleep(0.02)
    for pid in app_ranks(proc.pid, comm):
        os.kill(pid, signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=wait)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    return proc.returncode, out


def scenario_main(doc, namespace, binaries, tmp_prefix):
    """Parse `--bin BUILD_DIR SCENARIO`, fill BIN from binaries (name -> path inside the build
    directory), run namespace's scenario_<SCENARIO> (dashes become underscores) in a fresh
    temporary directory that is removed afterwards, print "N passed, N failed" and return the
    exit status (1 on any failure)."""
    ap = argparse.ArgumentParser(description=doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="meson build directory")
    ap.add_argument("scenario")
    opts = ap.parse_args()
    b = os.path.abspath(opts.bin)
    BIN.update({name: os.path.join(b, path) for name, path in binaries.items()})
    fn = namespace.get("scenario_" + opts.scenario.replace("-", "_"))
    if not fn:
        ap.error("unknown scenario " + opts.scenario)
    work = tempfile.mkdtemp(prefix=tmp_prefix)
    os.chdir(work)
    try:
        fn()
    finally:
        os.chdir("/")
        shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0
