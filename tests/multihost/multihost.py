"""Multi-host tests on a fake cluster (scripts/fake-cluster: 3 network namespaces on one machine
joined by a bridge, Open MPI launching through the fake-cluster-ssh stand-in, ranks talking TCP).

  checksum   heat on 3 hosts x 2 ranks equals the one-host run, and ranks really are spread
  link-cut   one host's link dies for good mid-run: the job ends with an error within 30 s and
             leaves nothing running (no tessera-heat, orted or mpirun in the cluster)
  rank-kill  kill -9 of one rank on another host: the same
  sbatch     Slurm across the hosts (slurmctld on the first, one slurmd per host, built from
             scripts/slurm-local's `conf`): scripts/slurm/heat-srun.sbatch with -N3 gives the
             one-host checksum (skipped when Slurm or those scripts are missing)

Needs root (network namespaces); otherwise prints a SKIP line and exits 77, meson's skip code.
The cluster is brought down in a finally block, also on SIGTERM (meson's timeout)."""
import argparse
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mpi"))
import mpitest  # noqa: E402

SKIP = 77
HOSTS = 3
SLOTS = 2
DEADLINE = 30.0  # seconds from the fault to the job's end and every process gone
JOB_NAMES = ("tessera-heat", "orted", "mpirun")


class Failed(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def skip(why):
    log("SKIP: multihost: " + why)
    sys.exit(SKIP)


class Cluster:
    """A fake cluster whose state lives in `root` and whose names start with a prefix derived
    from that path, so that test cases and build directories never share namespaces."""

    def __init__(self, scripts, root):
        self.scripts = scripts
        self.root = root
        self.dir = os.path.join(root, "cluster")
        self.prefix = "t" + hashlib.sha1(self.dir.encode()).hexdigest()[:5]
        self.hosts = ["%s-h%d" % (self.prefix, i) for i in range(1, HOSTS + 1)]
        self.env = dict(os.environ, TESSERA_CLUSTER_DIR=self.dir,
                        TESSERA_CLUSTER_PREFIX=self.prefix, TESSERA_CLUSTER_SLOTS=str(SLOTS))

    def tool(self, *args, check=True):
        r = subprocess.run([os.path.join(self.scripts, "fake-cluster")] + list(args),
                           env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=60)
        if check and r.returncode != 0:
            raise Failed("fake-cluster %s failed (%d):\n%s" % (" ".join(args), r.returncode,
                                                                r.stdout))
        return r.stdout

    def up(self):
        self.down()  # whatever a killed earlier run left behind
        log(self.tool("up", str(HOSTS)).strip())

    def down(self):
        return self.tool("down", check=False).strip()

    def mpi_env(self):
        env = mpitest.mpi_env(self.env)
        for line in self.tool("env").splitlines():
            key, _, value = line[len("export "):].partition("=")
            env[key] = value.strip("'\"")
        tmp = os.path.join(self.root, "ompi-tmp")
        os.makedirs(tmp, exist_ok=True)
        env.update(OMPI_MCA_orte_tmpdir_base=tmp, OMP_NUM_THREADS="1",
                   OMP_WAIT_POLICY="passive")
        return env

    def mpirun(self, nprocs, cmd):
        """argv of an mpirun started on the first host over all hosts."""
        asan = ["-x", "ASAN_OPTIONS"] if "ASAN_OPTIONS" in os.environ else []
        return [os.path.join(self.scripts, "fake-cluster"), "run", self.hosts[0], "mpirun",
                "-np", str(nprocs), "--hostfile", os.path.join(self.dir, "hostfile"),
                "--bind-to", "none"] + asan + cmd

    def ns_inodes(self):
        inodes = {}
        for h in self.hosts:
            try:
                inodes[os.stat("/run/netns/" + h).st_ino] = h
            except OSError:
                pass
        return inodes

    def processes(self, names=None):
        """[(pid, name, host)] of the processes running on the cluster's hosts."""
        inodes = self.ns_inodes()
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                ino = os.stat("/proc/%s/ns/net" % entry).st_ino
                if ino not in inodes:
                    continue
                with open("/proc/%s/comm" % entry) as f:
                    name = f.read().strip()
            except OSError:
                continue
            if names is None or name in names:
                found.append((int(entry), name, inodes[ino]))
        return sorted(found)


def heat_args(grid, steps, rundir):
    return ["--grid", grid, "--blocks", "3x2", "--steps", str(steps), "--quiet",
            "--checkpoint-dir", os.path.join(rundir, "checkpoints")]


def one_host_checksum(heat, args):
    env = mpitest.mpi_env({"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "passive"})
    rc, out, err = mpitest.run_cmd(mpitest.mpirun_prefix(HOSTS * SLOTS) + [heat] + args, env, 90)
    checksum = mpitest.parse_checksum(out)
    if rc != 0 or not checksum:
        mpitest.show_output(out, err)
        raise Failed("one-host run failed (status %s)" % rc)
    return checksum


def case_checksum(cl, heat, rundir):
    env = cl.mpi_env()
    nprocs = HOSTS * SLOTS
    # Where the ranks run: every host holds SLOTS of them.
    rc, out, err = mpitest.run_cmd(cl.mpirun(nprocs, ["sh", "-c", "cat /proc/sys/kernel/hostname"]),
                                   env, 60)
    names = sorted(out.split())
    want = sorted(cl.hosts * SLOTS)
    if rc != 0 or names != want:
        mpitest.show_output(out, err)
        raise Failed("ranks ran on %s (status %s), expected %s" % (names, rc, want))
    log("ranks per host: " + ", ".join("%s x%d" % (h, names.count(h)) for h in cl.hosts))

    args = heat_args("96x64", 40, rundir)
    t0 = time.monotonic()
    rc, out, err = mpitest.run_cmd(cl.mpirun(nprocs, [heat] + args), env, 90)
    t_multi = time.monotonic() - t0
    multi = mpitest.parse_checksum(out)
    if rc != 0 or not multi:
        mpitest.show_output(out, err)
        raise Failed("3-host run failed (status %s)" % rc)
    single = one_host_checksum(heat, args)
    log("checksum: 3 hosts x %d ranks %s (%.1f s), one host %s" % (SLOTS, multi, t_multi, single))
    if multi != single:
        raise Failed("checksums differ")


class Job:
    """An endless heat run on the cluster whose output is collected as it comes."""

    def __init__(self, cl, heat, rundir):
        self.cl = cl
        self.lines = []
        self.proc = subprocess.Popen(
            cl.mpirun(HOSTS * SLOTS, [heat] + heat_args("64x48", 10**9, rundir)),
            env=cl.mpi_env(), cwd=rundir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_running(self, timeout=60):
        """Until every host runs its ranks and rank 0 has printed its header."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise Failed("the job ended before the fault (status %d):\n%s" %
                             (self.proc.returncode, "\n".join(self.lines[-30:])))
            ranks = self.cl.processes(("tessera-heat",))
            per_host = [sum(1 for p in ranks if p[2] == h) for h in self.cl.hosts]
            if per_host == [SLOTS] * HOSTS and any(ln.startswith("tessera-heat:")
                                                   for ln in self.lines):
                time.sleep(1.0)  # a few exchanges across the hosts
                return ranks
            time.sleep(0.2)
        raise Failed("the job did not start within %d s:\n%s" % (timeout,
                                                                 "\n".join(self.lines[-30:])))

    def wait_end(self, t_fault):
        """Seconds from the fault until mpirun ended and nothing of the job is left; fails
        (after killing what is left) if that takes longer than DEADLINE."""
        try:
            self.proc.wait(timeout=max(0.0, t_fault + DEADLINE - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise Failed("mpirun still running %.0f s after the fault" % DEADLINE)
        t_mpirun = time.monotonic() - t_fault
        while True:
            left = self.cl.processes(JOB_NAMES)
            if not left:
                break
            if time.monotonic() > t_fault + DEADLINE:
                raise Failed("left running %.0f s after the fault: %s" % (DEADLINE, left))
            time.sleep(0.2)
        self.reader.join(timeout=5)
        return t_mpirun, time.monotonic() - t_fault

    def kill(self):
        if self.proc.poll() is None:
            mpitest._kill_tree(self.proc)


def run_fault(cl, heat, rundir, fault):
    job = Job(cl, heat, rundir)
    try:
        ranks = job.wait_running()
        t_fault = time.monotonic()
        what = fault(ranks)
        log("fault at t=0: " + what)
        t_mpirun, t_all = job.wait_end(t_fault)
        out = "\n".join(job.lines)
        status = job.proc.returncode
        log("mpirun ended with status %d after %.1f s; nothing of the job left after %.1f s"
            % (status, t_mpirun, t_all))
        if status == 0:
            raise Failed("the job ended with status 0 after the fault:\n" + out)
        return out
    except Failed:
        mpitest.show_output("\n".join(job.lines), "")
        raise
    finally:
        job.kill()


def case_link_cut(cl, heat, rundir):
    victim = cl.hosts[-1]  # mpirun runs on the first host

    def cut(ranks):
        cl.tool("cut", victim)
        return "link of %s cut at the bridge (for good)" % victim

    out = run_fault(cl, heat, rundir, cut)
    if "lost communication" not in out:
        raise Failed("no 'lost communication' message in the job's output")


def case_rank_kill(cl, heat, rundir):
    def kill(ranks):
        pid = [p for p in ranks if p[2] == cl.hosts[1]][0][0]
        os.kill(pid, signal.SIGKILL)
        return "kill -9 of tessera-heat pid %d on %s" % (pid, cl.hosts[1])

    run_fault(cl, heat, rundir, kill)


SLURM_DAEMONS = ("slurmctld", "slurmscriptd", "slurmd")
SLURM_TEMPLATE = os.path.join("slurm", "heat-srun.sbatch")


def sbatch_missing(scripts):
    for tool in ("slurmctld", "slurmd", "munged", "sbatch", "sinfo"):
        if not shutil.which(tool):
            return "needs %s (scripts/setup installs slurm-wlm and munge)" % tool
    for f in ("slurm-local", SLURM_TEMPLATE):
        if not os.path.exists(os.path.join(scripts, f)):
            return "needs scripts/%s" % f
    return None


class Slurm:
    """slurmctld on the first host and one slurmd per host (entered like any other command, so
    they and their job steps see the host's network, hostname and /etc/hosts); munged runs
    outside (it only has a socket in the state directory). The daemons die with the hosts
    (fake-cluster down kills everything on them); munged is stopped here."""

    def __init__(self, cl, scripts, root):
        self.cl = cl
        self.dir = os.path.join(root, "slurm")
        self.conf = os.path.join(self.dir, "slurm.conf")
        self.env = dict(cl.env, TESSERA_SLURM_DIR=self.dir, TESSERA_SLURM_NODES=",".join(cl.hosts),
                        TESSERA_SLURM_CTLD_HOST=cl.hosts[0], SLURM_CONF=self.conf)
        self.scripts = scripts
        self.munged_pid = None

    def run(self, cmd, timeout=30, env=None):
        return subprocess.run(cmd, env=env or self.env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                              timeout=timeout)

    def on(self, host, cmd, timeout=30, env=None):
        return self.run([os.path.join(self.scripts, "fake-cluster"), "run", host] + cmd,
                        timeout, env)

    def up(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        r = self.run([os.path.join(self.scripts, "slurm-local"), "conf"])
        if r.returncode != 0:
            raise Failed("slurm-local conf failed:\n" + r.stdout)
        munge = os.path.join(self.dir, "munge")
        os.makedirs(munge, exist_ok=True)
        os.chmod(self.dir, 0o755)  # munged refuses directories others can write
        os.chmod(munge, 0o755)
        key = os.path.join(munge, "munge.key")
        with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
            f.write(os.urandom(1024))
        pidfile = os.path.join(self.dir, "run", "munged.pid")
        r = self.run(["munged", "-S", os.path.join(munge, "munge.socket"), "--key-file=" + key,
                      "--pid-file=" + pidfile, "--log-file=" + os.path.join(self.dir, "log",
                                                                             "munged.log"),
                      "--seed-file=" + os.path.join(munge, "munged.seed"), "--force"])
        if r.returncode != 0:
            raise Failed("munged failed:\n" + r.stdout)
        with open(pidfile) as f:
            self.munged_pid = int(f.read().strip())
        r = self.on(self.cl.hosts[0], ["slurmctld", "-f", self.conf])
        if r.returncode != 0:
            raise Failed("slurmctld failed:\n" + r.stdout)
        for h in self.cl.hosts:
            r = self.on(h, ["slurmd", "-f", self.conf, "-N", h])
            if r.returncode != 0:
                raise Failed("slurmd on %s failed:\n%s" % (h, r.stdout))
        end = time.monotonic() + 40
        states = ""
        while time.monotonic() < end:
            r = self.on(self.cl.hosts[0], ["sinfo", "-h", "-N", "-o", "%N %t"], timeout=10)
            states = r.stdout
            if r.returncode == 0 and sum(ln.split()[1].startswith("idle")
                                         for ln in states.splitlines() if len(ln.split()) == 2) == HOSTS:
                log("slurm: " + ", ".join(ln.strip() for ln in states.splitlines()))
                return
            time.sleep(0.5)
        raise Failed("Slurm nodes not idle after 40 s:\n" + states)

    def stop_munged(self):
        if self.munged_pid:
            try:
                os.kill(self.munged_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def case_sbatch(cl, heat, rundir):
    scripts = cl.scripts
    sl = Slurm(cl, scripts, cl.root)
    try:
        sl.up()
        build = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(heat))))
        grid, steps, extra = "96x64", 40, "--blocks 3x2 --quiet"
        env = cl.mpi_env()
        env.update(sl.env, TESSERA_BUILD=build, TESSERA_GRID=grid, TESSERA_STEPS=str(steps),
                   TESSERA_ARGS=extra)
        out_file = os.path.join(rundir, "job.out")
        t0 = time.monotonic()
        r = sl.on(cl.hosts[0], ["sbatch", "--wait", "-N", str(HOSTS), "--ntasks-per-node",
                                str(SLOTS), "--ntasks", str(HOSTS * SLOTS), "--time", "00:05:00",
                                "--chdir", rundir, "--output", out_file,
                                os.path.join(scripts, SLURM_TEMPLATE)], timeout=240, env=env)
        took = time.monotonic() - t0
        try:
            with open(out_file) as f:
                out = f.read()
        except OSError:
            out = ""
        checksum = mpitest.parse_checksum(out)
        if r.returncode != 0 or not checksum:
            mpitest.show_output(r.stdout + out, "")
            raise Failed("sbatch -N%d failed (status %d)" % (HOSTS, r.returncode))
        nodes = [ln for ln in out.splitlines() if "ranks on" in ln]
        single = one_host_checksum(heat, ["--grid", grid, "--steps", str(steps)] + extra.split())
        log("sbatch -N%d: %s; checksum %s (%.1f s), one host %s" %
            (HOSTS, nodes[0].strip() if nodes else "?", checksum, took, single))
        if checksum != single:
            raise Failed("checksums differ")
    finally:
        sl.stop_munged()


CASES = {"checksum": case_checksum, "link-cut": case_link_cut, "rank-kill": case_rank_kill,
         "sbatch": case_sbatch}


def on_sigterm(signum, frame):
    raise SystemExit("multihost: terminated (signal %d)" % signum)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heat", required=True)
    ap.add_argument("--scripts", required=True, help="the directory holding fake-cluster")
    ap.add_argument("--dir", required=True, help="work directory (cluster state, run files)")
    ap.add_argument("case", choices=sorted(CASES))
    a = ap.parse_args()
    if "ASAN_OPTIONS" in os.environ:
        # LeakSanitizer stops the world with ptrace, which fails now and then for ranks started
        # inside the fake hosts' namespaces ("does not work under ptrace"); every other suite
        # checks for leaks.
        os.environ["ASAN_OPTIONS"] += ":detect_leaks=0"

    if os.geteuid() != 0:
        skip("needs root to create network namespaces")
    for tool in ("ip", "nsenter", "unshare", "mpirun"):
        if not shutil.which(tool):
            skip("needs %s" % tool)
    if subprocess.run(["unshare", "--net", "--uts", "--mount", "true"],
                      stderr=subprocess.DEVNULL).returncode != 0:
        skip("cannot create namespaces here (no CAP_SYS_ADMIN?)")

    if a.case == "sbatch":
        missing = sbatch_missing(os.path.abspath(a.scripts))
        if missing:
            skip("sbatch " + missing)

    signal.signal(signal.SIGTERM, on_sigterm)
    root = os.path.abspath(a.dir)
    rundir = os.path.join(root, "run")
    shutil.rmtree(rundir, ignore_errors=True)
    os.makedirs(rundir)
    cl = Cluster(os.path.abspath(a.scripts), root)
    t0 = time.monotonic()
    status = 0
    try:
        cl.up()
        CASES[a.case](cl, os.path.abspath(a.heat), rundir)
    except Failed as exc:
        log("FAIL: %s" % exc)
        status = 1
    finally:
        left = [p for p in cl.processes() if p[1] not in SLURM_DAEMONS]
        if left:
            log("processes left on the hosts before clean-up: %s" % left)
        log(cl.down())
    if status == 0:
        log("PASS: multihost %s (%.1f s)" % (a.case, time.monotonic() - t0))
    return status


if __name__ == "__main__":
    sys.exit(main())
