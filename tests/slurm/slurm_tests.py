#!/usr/bin/env python3
"""The Slurm job templates on a throwaway cluster:

  slurm_tests.py --bin BUILD_DIR --src SOURCE_DIR

Brings up a single-node cluster with scripts/slurm-local (own directory and ports, so it
coexists with other clusters on the machine), submits every template in scripts/slurm/ with
sbatch, and checks each job's state, exit status and checksum against a plain mpirun of the
same problem. heat-checkpoint is stopped mid-run with `scancel --signal=USR1` (what
`--signal=USR1@N` does near the time limit): it must checkpoint, exit 3 and resubmit itself;
the follow-up job must restart from the checkpoint and end with the uninterrupted checksum.
The cluster is brought down whatever happens (daemons found by their command lines if `down`
fails). Every wait is bounded. Ends with "N passed, N failed" (exit 1 on any failure).
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "mpi"))
from mpitest import mpi_env, mpirun_prefix, parse_checksum, run_cmd, show_output  # noqa: E402

GRID, STEPS = "256x256", "300"  # the plain templates' problem: about 0.1 s of work
JOB_TIMEOUT = 180  # one job, queueing included
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
            "PREEMPTED", "BOOT_FAIL", "DEADLINE"}
results = {"passed": 0, "failed": 0}
T0 = time.time()


def check(ok, text):
    results["passed" if ok else "failed"] += 1
    print("  %s [%5.1f s] %s" % ("PASS" if ok else "FAIL", time.time() - T0, text), flush=True)
    return ok


def free_port_pair():
    """A port p with p and p+1 free (slurmctld and slurmd), away from the default 6817."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if p >= 65535:
            continue
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", p + 1))
            return p
        except OSError:
            continue
    raise RuntimeError("no free pair of ports")


class Cluster:
    def __init__(self, src, build):
        self.src, self.build = src, build
        # Short path: the munge socket's path must fit in a sockaddr_un (108 bytes).
        self.dir = tempfile.mkdtemp(prefix="tessera-slurm-")
        self.work = os.path.join(self.dir, "jobs")
        os.makedirs(self.work)
        self.script = os.path.join(src, "scripts", "slurm-local")
        env = mpi_env({"OMP_WAIT_POLICY": "passive"})
        # Nothing of an enclosing Slurm job (if the tests run inside one) leaks into ours.
        for k in list(env):
            if k.startswith(("SLURM_", "SBATCH_", "SRUN_", "SALLOC_")):
                del env[k]
        env.update({"TESSERA_SLURM_DIR": self.dir, "TESSERA_SLURM_PORT": str(free_port_pair()),
                    "TESSERA_SLURM_CPUS": "8", "SLURM_CONF": os.path.join(self.dir, "slurm.conf"),
                    "TESSERA_BUILD": build})
        self.env = env

    def run(self, cmd, timeout=30, extra=None):
        env = dict(self.env)
        env.update(extra or {})
        rc, out, err = run_cmd(cmd, env, timeout)
        return rc, out, err

    def up(self):
        t0 = time.time()
        rc, out, err = self.run([self.script, "up"], timeout=60)
        ok = check(rc == 0 and "SLURM_CONF=" in out,
                   "slurm-local up in %s (%.1f s, prints the SLURM_CONF export)"
                   % (self.dir, time.time() - t0))
        if not ok:
            show_output(out, err)
            return False
        rc, out, err = self.run([self.script, "up"], timeout=60)
        check(rc == 0 and "already up" in out, "slurm-local up again: reuses the running cluster")
        return True

    def daemons(self):
        """Pids of processes whose command line names a file of our directory."""
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == os.getpid():
                continue
            try:
                with open("/proc/%s/cmdline" % name, "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if self.dir + "/" in cmd and ("munged" in cmd or "slurm" in cmd):
                found.append(int(name))
        return found

    def down(self, keep_logs):
        t0 = time.time()
        rc, out, err = self.run([self.script, "down"], timeout=90)
        left = self.daemons()
        check(rc == 0 and not left, "slurm-local down (%.1f s), no daemon left%s"
              % (time.time() - t0, "" if not left else ": %s" % left))
        if rc != 0:
            show_output(out, err)
        for pid in left:  # down failed: ours, found by the directory in their command lines
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if keep_logs:
            for log in ("slurmctld.log", "slurmd-localhost.log"):
                path = os.path.join(self.dir, "log", log)
                if os.path.exists(path):
                    with open(path, errors="replace") as f:
                        lines = f.read().splitlines()
                    print("    --- %s (last 15 lines) ---" % log)
                    for line in lines[-15:]:
                        print("    " + line)
        shutil.rmtree(self.dir, ignore_errors=True)

    def template(self, name):
        return os.path.join(self.src, "scripts", "slurm", name)

    def sbatch(self, name, opts, extra):
        """Submit a template from the work directory; return (job id or None, stderr)."""
        env = dict(self.env)
        env.update(extra)
        cmd = (["sbatch", "--parsable", "--export=ALL", "--output=%s/%%x-%%j.out" % self.work]
               + opts + [self.template(name)])
        try:
            p = subprocess.run(cmd, env=env, cwd=self.work, capture_output=True, text=True,
                               timeout=30)
        except subprocess.TimeoutExpired:
            return None, "sbatch timed out"
        if p.returncode != 0:
            return None, p.stderr.strip()
        return p.stdout.strip().split(";")[0], p.stderr

    def job(self, jobid):
        """{field: value} of `scontrol show job -o`, or {} if Slurm does not know it."""
        rc, out, _ = self.run(["scontrol", "show", "job", "-o", jobid], timeout=15)
        if rc != 0:
            return {}
        return dict(re.findall(r"(\S+?)=(\S*)", out))

    def wait(self, jobid, timeout=JOB_TIMEOUT):
        """Poll until the job has ended (sbatch --wait polls only every few seconds)."""
        deadline = time.time() + timeout
        info = {}
        while time.time() < deadline:
            info = self.job(jobid)
            if info.get("JobState") in TERMINAL:
                return info
            time.sleep(0.2)
        self.run(["scancel", jobid])
        info["JobState"] = "still %s after %d s (cancelled)" % (info.get("JobState"), timeout)
        return info

    def output(self, jobid):
        for name in os.listdir(self.work):
            if name.endswith("-%s.out" % jobid):
                with open(os.path.join(self.work, name), errors="replace") as f:
                    return f.read()
        return ""


def reference(steps, grid=GRID):
    """Checksum and seconds of a plain mpirun of the same problem (2 ranks, 1 thread)."""
    cmd = mpirun_prefix(2) + [os.path.join(args.bin, "apps", "heat", "tessera-heat"),
                              "--grid", grid, "--steps", str(steps), "--quiet"]
    t0 = time.time()
    rc, out, err = run_cmd(cmd, mpi_env({"OMP_NUM_THREADS": "1"}), 300)
    secs = time.time() - t0
    if rc != 0 or not parse_checksum(out):
        print("  reference run failed (status %s): %s" % (rc, " ".join(cmd)))
        show_output(out, err)
        return None, secs
    m = re.search(r"^steps \d+, ([0-9.]+) s", out, re.M)
    return parse_checksum(out), float(m.group(1)) if m else secs


def check_job(c, jobid, what, want_sum, want_exit="0:0", want_state="COMPLETED"):
    info = c.wait(jobid)
    out = c.output(jobid)
    got = parse_checksum(out)
    ok = check(info.get("JobState") == want_state and info.get("ExitCode") == want_exit
               and (want_sum is None or got == want_sum),
               "%s: job %s %s, exit %s, checksum %s (want %s, %s%s)"
               % (what, jobid, info.get("JobState"), info.get("ExitCode"), got, want_state,
                  want_exit, ", " + want_sum if want_sum else ""))
    if not ok:
        show_output(out, "")
    return ok, info, out


def plain_templates(c):
    """Every template on the small problem, all submitted at once (they share 8 CPUs announced on whatever cores there are)."""
    want, _ = reference(STEPS)
    check(want is not None, "reference: mpirun -np 2 heat %s, %s steps: %s" % (GRID, STEPS, want))
    small = {"TESSERA_GRID": GRID, "TESSERA_STEPS": STEPS}
    nobind = dict(small, TESSERA_MPIRUN_BIND="--bind-to none")  # more CPUs announced than cores
    cases = [
        ("heat-srun.sbatch", ["-n", "2"], small, "srun --mpi=pmix, 2 ranks"),
        ("heat-srun.sbatch", ["-n", "4"], small, "srun --mpi=pmix, 4 ranks"),
        ("heat-hybrid.sbatch", ["-n", "2", "-c", "2"], small, "hybrid, 2 ranks x 2 threads"),
        ("heat-hybrid.sbatch", ["-n", "1", "-c", "4"], small, "hybrid, 1 rank x 4 threads"),
        ("heat-mpirun.sbatch", ["-n", "3"], nobind, "mpirun in the allocation, 3 ranks"),
        ("heat-mpirun.sbatch", ["-n", "2", "-c", "2"], nobind,
         "mpirun in the allocation, 2 ranks x 2 threads"),
        ("heat-checkpoint.sbatch", ["-n", "2", "--time=5"], dict(small, TESSERA_CKPT_SECONDS="0"),
         "checkpoint template, not signalled, 2 ranks"),
    ]
    jobs = []
    for name, opts, extra, what in cases:
        jobid, err = c.sbatch(name, opts, extra)
        if check(jobid is not None, "sbatch %s %s: job %s%s"
                 % (" ".join(opts), name, jobid, "" if jobid else ": " + err)):
            jobs.append((jobid, what, name))
    for jobid, what, name in jobs:
        ok, info, out = check_job(c, jobid, what, want)
        if ok and name != "heat-checkpoint.sbatch":
            # The template's own line, what each job records about itself.
            check(re.search(r"^heat-\w+: job %s, " % jobid, out, re.M) is not None,
                  "%s: the job output names job, ranks and nodes" % what)
    # The build is found through TESSERA_BUILD; a wrong one fails early with a message.
    jobid, err = c.sbatch("heat-srun.sbatch", ["-n", "1"], dict(small, TESSERA_BUILD="/nonexistent"))
    if check(jobid is not None, "sbatch heat-srun.sbatch with TESSERA_BUILD=/nonexistent: job %s"
             % jobid):
        info = c.wait(jobid)
        out = c.output(jobid)
        check(info.get("JobState") == "FAILED" and info.get("ExitCode") == "1:0"
              and "not found (set TESSERA_BUILD)" in out,
              "wrong TESSERA_BUILD: job %s %s, exit %s, says so" % (jobid, info.get("JobState"),
                                                                     info.get("ExitCode")))
    # EnforcePartLimits: an impossible request is refused at once instead of pending forever.
    jobid, err = c.sbatch("heat-srun.sbatch", ["-n", "64"], small)
    check(jobid is None and err, "sbatch -n 64 on 8 CPUs refused at submission (%s)"
          % (err.splitlines()[-1] if err else "accepted as job %s" % jobid))


def poisson_template(c):
    """poisson-srun at 3 ranks: the iteration count and checksum of a plain mpirun at 2."""
    # Few synchronisations: ranks bound to oversubscribed cores wait a time slice for each.
    grid, tol, more = "16x16", "1e-6", "--check-every 10"
    cmd = mpirun_prefix(2) + [os.path.join(args.bin, "apps", "poisson", "tessera-poisson"),
                              "--grid", grid, "--tol", tol] + more.split()
    rc, out, err = run_cmd(cmd, mpi_env({"OMP_NUM_THREADS": "1"}), 300)
    want = parse_checksum(out) if rc == 0 else None
    if not check(want is not None, "reference: mpirun -np 2 poisson %s --tol %s: %s"
                 % (grid, tol, want)):
        show_output(out, err)
        return
    jobid, err = c.sbatch("poisson-srun.sbatch", ["-n", "3"],
                          {"TESSERA_GRID": grid, "TESSERA_TOL": tol, "TESSERA_ARGS": more})
    if check(jobid is not None, "sbatch -n 3 poisson-srun.sbatch: job %s%s"
             % (jobid, "" if jobid else ": " + err)):
        check_job(c, jobid, "poisson template, 3 ranks", want)


def md_template(c):
    """md-srun at 3 ranks: the checksum of a plain mpirun at 2 (any rank count, the same bits)."""
    cells, steps = "6", "100"
    cmd = mpirun_prefix(2) + [os.path.join(args.bin, "apps", "md", "tessera-md"),
                              "--cells", cells, "--steps", steps]
    rc, out, err = run_cmd(cmd, mpi_env({"OMP_NUM_THREADS": "1"}), 300)
    want = parse_checksum(out) if rc == 0 else None
    if not check(want is not None, "reference: mpirun -np 2 tessera-md --cells %s --steps %s: %s"
                 % (cells, steps, want)):
        show_output(out, err)
        return
    jobid, err = c.sbatch("md-srun.sbatch", ["-n", "3"],
                          {"TESSERA_CELLS": cells, "TESSERA_STEPS": steps})
    if check(jobid is not None, "sbatch -n 3 md-srun.sbatch: job %s%s"
             % (jobid, "" if jobid else ": " + err)):
        check_job(c, jobid, "md template, 3 ranks", want)


def farm_chain(c):
    """farm.sbatch stopped by SIGUSR1 mid-list: exit 3, resubmitted with --resume, and the second
    job runs exactly the tasks the first did not end: every task ends once with status 0."""
    n = 60
    with open(os.path.join(c.work, "farm-tasks.txt"), "w") as f:
        f.write("# each task leaves its id once it has slept\n")
        f.write("#TESSERA REPEAT %d sleep 0.1; echo $TESSERA_TASK_ID >> farm-done.txt\n" % n)
    first, err = c.sbatch("farm.sbatch", ["-n", "3", "--time=10"],
                          {"TESSERA_TASKS": "farm-tasks.txt"})
    if not check(first is not None, "sbatch -n 3 farm.sbatch (%d tasks of 0.1 s): job %s%s"
                 % (n, first, "" if first else ": " + err)):
        return
    joblog = os.path.join(c.work, "farm-tasks.txt.joblog")
    deadline = time.time() + 60
    def ended():
        try:
            with open(joblog) as f:
                return sum(1 for line in f if line.strip() and not line.startswith("#"))
        except OSError:
            return 0
    while time.time() < deadline and ended() < 5:
        if c.job(first).get("JobState") in TERMINAL:
            break
        time.sleep(0.05)
    rc, out, err = c.run(["scancel", "--signal=USR1", first], timeout=15)
    info = c.wait(first)
    out = c.output(first)
    nxt = re.search(r"continued by job (\d+)", out)
    if not check(rc == 0 and info.get("ExitCode") == "3:0" and nxt,
                 "job %s: SIGUSR1 after %d tasks ended, exit %s (want 3:0), resubmitted as job %s"
                 % (first, ended(), info.get("ExitCode"), nxt.group(1) if nxt else None)):
        show_output(out, err)
        return
    ok, _, out2 = check_job(c, nxt.group(1), "follow-up of %s" % first, None)
    with open(os.path.join(c.work, "farm-done.txt")) as f:
        done = sorted(int(x) for x in f.read().split())
    oks = []
    with open(joblog) as f:
        for line in f:
            w = line.rstrip("\n").split("\t")
            if line.startswith("#") or len(w) < 7:
                continue
            if w[6] == "0":
                oks.append(int(w[0]))
    check(sorted(oks) == list(range(n)) and set(done) == set(range(n)),
          "every task ended once with status 0 over the two jobs (%d ok lines, %d distinct ids "
          "left, %d finished twice after a TERM)" % (len(oks), len(set(done)),
                                                     len(done) - len(set(done))))


def signalled_chain(c):
    """heat-checkpoint stopped by SIGUSR1 mid-run, continued by the job it resubmits."""
    # Steps for about 4 s of work at the speed measured now:
    # long enough that the signal lands mid-run, short enough to stay cheap. The job is
    # signalled once its output shows it stepping (the app handles SIGUSR1 from its first step
    # on, and with --progress on prints a progress line after 1 s even into a file). A job that finished all the same (the machine
    # got faster) is tried once more with 4x the steps.
    grid = "256x256"
    _, secs = reference(2000, grid)
    steps = int(min(max(4.0 / max(secs, 1e-3) * 2000, 5000), 1000000))
    for attempt in range(2):
        extra = {"TESSERA_GRID": grid, "TESSERA_STEPS": str(steps), "TESSERA_CKPT_SECONDS": "0",
                 "TESSERA_ARGS": "--progress on"}
        first, err = c.sbatch("heat-checkpoint.sbatch", ["-n", "2", "--time=10"], extra)
        if not check(first is not None, "sbatch -n 2 heat-checkpoint.sbatch (%s, %d steps): job %s%s"
                     % (grid, steps, first, "" if first else ": " + err)):
            return
        deadline = time.time() + 60
        while time.time() < deadline and "tessera-heat: step " not in c.output(first):
            if c.job(first).get("JobState") in TERMINAL:
                break
            time.sleep(0.1)
        rc, out, err = c.run(["scancel", "--signal=USR1", first], timeout=15)
        info = c.wait(first)
        # A job that ended before scancel reached it is no failure on the first attempt.
        if rc != 0 and attempt == 0 and info.get("ExitCode") == "0:0":
            print("  job %s ended before scancel --signal=USR1; again with 4x the steps" % first)
            steps *= 4
            continue
        if not check(rc == 0, "scancel --signal=USR1 %s once the job is stepping" % first):
            show_output(out, err)
        out = c.output(first)
        if info.get("ExitCode") == "0:0" and attempt == 0:
            # Finished before the signal (a much faster machine than measured): once more, longer.
            print("  job %s completed before the signal took effect; again with 4x the steps"
                  % first)
            steps *= 4
            continue
        break
    m = re.search(r"stopped by a signal at step (\d+); checkpoint written to (\S+)", out)
    nxt = re.search(r"continued by job (\d+)", out)
    if not check(info.get("JobState") == "FAILED" and info.get("ExitCode") == "3:0" and m
                 and nxt and 0 < int(m.group(1)) < steps,
                 "job %s: checkpoint at step %s of %d, exit %s (want 3:0), resubmitted as job %s"
                 % (first, m.group(1) if m else None, steps, info.get("ExitCode"),
                    nxt.group(1) if nxt else None)):
        show_output(out, "")
        return
    second = nxt.group(1)
    c.wait(second)  # before the reference run, which would compete with it for the cores
    want, _ = reference(steps, grid)
    ok, info2, out2 = check_job(c, second, "follow-up of %s" % first, want)
    check("restarting from the latest" in out2 and "(#1 of its chain)" in out2
          and info2.get("NumTasks") == "2" and info2.get("TimeLimit") == "00:10:00",
          "job %s restarted from %s's checkpoint with the same resources (%s tasks, limit %s)"
          % (second, first, info2.get("NumTasks"), info2.get("TimeLimit")))


def main():
    global args
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="meson build directory")
    ap.add_argument("--src", required=True, help="source directory")
    args = ap.parse_args()
    args.bin = os.path.abspath(args.bin)
    missing = [p for p in ("munged", "slurmctld", "slurmd", "sbatch") if not shutil.which(p)
               and not os.path.exists("/usr/sbin/" + p)]
    if missing:
        print("missing %s: install slurm-wlm and munge (scripts/setup)" % ", ".join(missing))
        print("0 passed, 1 failed")
        return 1
    t0 = time.time()
    # meson ends a test that overruns its timeout with SIGTERM: unwind, so that `finally`
    # still brings the cluster down.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    c = Cluster(os.path.abspath(args.src), args.bin)
    try:
        if c.up():
            plain_templates(c)
            poisson_template(c)
            md_template(c)
            farm_chain(c)
            signalled_chain(c)
    finally:
        c.down(keep_logs=results["failed"] > 0)
    print("slurm suite: %.1f s" % (time.time() - t0))
    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
