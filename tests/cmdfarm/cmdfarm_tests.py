#!/usr/bin/env python3
"""tessera-farm end to end: task files run at 1-4 ranks, checked with plain Python.

Usage: cmdfarm_tests.py --bin BUILD_DIR SCENARIO [NP [GROUPS]]

With GROUPS every run has --farm-groups GROUPS: relays (the first rank of each group of GROUPS
ranks from rank 1, when the group has two) stand between rank 0 and their workers, run no task,
and pass on jobs, ends, failures, signals and stops; the scenarios must give the same results.

once NP     a task file with PREFIX, SUFFIX, BARRIER and REPEAT at NP ranks: every task runs
            exactly once (each appends its id to a file), the tasks after the BARRIER start after
            every earlier one ended, the REPEAT indices, the pass-through output "[id] ..." or
            the --log-dir files, and every job-log field.
fail NP     failing tasks: without retries exit 1, the message naming them, FILE.failed a task
            file of exactly them (which runs); --resume counts them without running them,
            --resume-failed reruns exactly them; with --retries 1 a task failing once succeeds on
            another rank; `sleep 100` with --timeout 1 ends as "timeout" in a few seconds.
kill        kill -9 of the whole job (mpirun and the ranks) mid-run at 3 ranks: no task
            survives it, nor the process each left in the background (the guard); a job log cut mid-line; --resume runs exactly the tasks without a
            status-0 line, and every task has run to success exactly once.
kill-window kill -9 while each rank pauses (test hook TESSERA_TEST_SPAWN_DELAY) between starting
            a task and its own record of it for the guard: the task's background process is
            still ended, by the record the task's child wrote before exec.
sigterm     SIGTERM to the ranks mid-run: exit 3, then --resume completes (exit 0), each task
            run to success once.
deadline    --end-time 2.5 s ahead: the tasks that started end, no task starts with less than
            the median task time left, exit 3; --resume then completes.
direct NP   commands run without /bin/sh (simple word lists) and with it: the same exit
            status, output and environment (PWD, TESSERA_*) as `/bin/sh -c` gives; a program not
            found, not executable or a script without #! falls back to the shell's handling.
bad         every bad input: one message, exit status 2, at 1 and 3 ranks.
fault NP    a rank's own failure: task 1000's output directory (--log-dir logs/1) is a file, so
            the rank handed task 1000 cannot start it; the job stops with exit 1 and one message
            naming that rank and the cause, the job log holds the tasks that ran, none after the
            stop, and --resume (the file gone) runs exactly the rest. A hang fails by timeout.
joblog      rank 0's own failure: the job log cannot be synced (fault shim: fsync fails with EIO
            under jl/ on rank 0) while tasks run on the others: exit 1 with one message, the
            running tasks stopped, no hang.
edges NP    what a review found: a task sees only descriptors 0-2 (not MPI's sockets, not other
            tasks' logs); a --timeout of weeks does not stall the free slots; FILE.failed keeps
            the BARRIERs between its tasks; --resume reruns a task whose retries a stop cut
            short; --resume matches REPEAT indices; a job log ending in zeros (a crash) resumes,
            and resumes again; workers started in another directory than rank 0's run their
            tasks in rank 0's and write a relative --log-dir there.
relay-retry retries through a relay with two workers (4 ranks, --farm-groups 3): while one
            worker runs a long task with its queue full, a task failing on the other is retried
            there (the relay's only room) instead of stopping the job as "more tasks received
            than its workers hold".
progress    --progress on: lines with done, running, failed, rate and ETA; the end summary with
            ok / failed / timed out / skipped counts and per-rank runs, failures and busy time.
"""
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "mpi"))
from mpitest import (BIN, app_ranks, check, mpi_env, mpirun, mpirun_prefix, must_fail,  # noqa: E402
                     preload_env, run_cmd, scenario_main, sigterm_when)

NP = int(sys.argv[4]) if len(sys.argv) > 4 else 2
GROUPS = int(sys.argv[5]) if len(sys.argv) > 5 else 0
EXTRA = ["--farm-groups", str(GROUPS)] if GROUPS else []


def relays(np):
    """The ranks that relay at np ranks with --farm-groups GROUPS."""
    if not GROUPS:
        return []
    return [g for g in range(1, np, GROUPS) if min(np - g, GROUPS) >= 2]


def workers(np):
    """The ranks that run tasks at np ranks."""
    return [0] if np == 1 else [r for r in range(1, np) if r not in relays(np)]
FIELDS = ["id", "line", "repeat", "host", "rank", "pid", "status", "start", "end", "elapsed",
          "bytes", "command"]


def farm(args, np=None, env=None, timeout=120):
    return mpirun(np or NP, [BIN["farm"]] + args + EXTRA, env=env, timeout=timeout)


def joblog(path):
    """The job log's runs as dicts (header and a cut-off last line left out)."""
    rows = []
    with open(path) as f:
        text = f.read()
    lines = text.split("\n")
    for line in lines[:-1]:
        if line.startswith("#") or not line:
            continue
        f = line.split("\t", 11)
        rows.append(dict(zip(FIELDS, f)))
    return rows


def ints(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [int(x) for x in f.read().split()]


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def scenario_once():
    a, b = 6, 4
    text = ("# the ids every task appends\n#TESSERA PREFIX echo $TESSERA_TASK_ID >> ran.txt;\n"
            + "sleep 0.2; echo A >> order.txt\n" * a + "\n#TESSERA BARRIER\n"
            + "echo B >> order.txt\n" * b
            + "#TESSERA SUFFIX ; echo out-$TESSERA_TASK_ID-$TESSERA_RANK-$OMP_NUM_THREADS\n"
            + "#TESSERA REPEAT 5 start 3 step 2 echo $TESSERA_REPEAT_INDEX >> reps.txt\n")
    write("t.txt", text)
    n = a + b + 5
    logdir = NP == 3
    args = ["t.txt", "--threads", "2"] + (["--log-dir", "logs"] if logdir else [])
    rc, out, err = farm(args)
    check(rc == 0, "exit status 0 at %d ranks" % NP)
    check(sorted(ints("ran.txt")) == list(range(n)), "every task ran exactly once")
    check(open("order.txt").read() == "A\n" * a + "B\n" * b, "BARRIER: A tasks before B tasks")
    check(sorted(ints("reps.txt")) == [3, 5, 7, 9, 11], "REPEAT indices 3, 5, .., 11")
    rows = joblog("t.txt.joblog")
    check(len(rows) == n and sorted(int(r["id"]) for r in rows) == list(range(n)),
          "one job-log line per task")
    lines = {0: 3, a - 1: 3 + a - 1, a: 3 + a + 2, n - 1: 3 + a + 2 + b + 1}
    ok = True
    for r in rows:
        i = int(r["id"])
        if i in lines and int(r["line"]) != lines[i]:
            ok = False
        rep = r["repeat"] == ("-" if i < a + b else str(3 + 2 * (i - a - b)))
        times = float(r["start"]) <= float(r["end"]) and \
            abs(float(r["end"]) - float(r["start"]) - float(r["elapsed"])) < 0.002
        exp_cmd = "echo $TESSERA_TASK_ID >> ran.txt; " + (
            "sleep 0.2; echo A >> order.txt" if i < a else "echo B >> order.txt" if i < a + b
            else "echo $TESSERA_REPEAT_INDEX >> reps.txt ; echo out-$TESSERA_TASK_ID-"
            "$TESSERA_RANK-$OMP_NUM_THREADS")
        outline = "out-%d-%s-2\n" % (i, r["rank"]) if i >= a + b else ""
        ok = ok and rep and times and r["status"] == "0" and int(r["rank"]) in workers(NP) and \
            r["host"] and int(r["pid"]) > 0 and r["command"] == exp_cmd and \
            int(r["bytes"]) == len(outline)
        if i >= a + b:
            if logdir:
                p = "logs/0/%d" % i
                ok = ok and open(p + ".out").read() == outline and open(p + ".err").read() == ""
            else:
                ok = ok and ("[%d] %s" % (i, outline)) in out
        if not ok:
            print("  bad job-log line", r)
            break
    check(ok, "job-log fields (line, repeat, status, rank, host, pid, times, bytes, command) "
          "and the output " + ("files" if logdir else "passed through"))
    if GROUPS:
        check(set(int(r["rank"]) for r in rows) == set(workers(NP)),
              "every worker ran tasks, no relay (%s) did" % relays(NP))
    # A later BARRIER section starts after every earlier task ended.
    first_b = min(float(r["start"]) for r in rows if a <= int(r["id"]) < a + b)
    last_a = max(float(r["end"]) for r in rows if int(r["id"]) < a)
    check(first_b >= last_a, "job log: B starts after every A ended")
    check(not os.path.exists("t.txt.joblog.failed"), "no .failed file")
    # From standard input, with farm.joblog.
    proc = subprocess.run(mpirun_prefix(NP) + [BIN["farm"], "-", "--quiet"], input="true\n" * 3,
                          env=mpi_env(), capture_output=True, text=True, timeout=120)
    check(proc.returncode == 0 and len(joblog("farm.joblog")) == 3, "'-': tasks from stdin")


def scenario_fail():
    write("f.txt", "".join("exit %d\n" % (i % 3 == 1) for i in range(9)))
    rc, out, err = farm(["f.txt"])
    check(rc == 1, "failing tasks: exit status 1")
    hits = [line for line in (out + err).splitlines()
            if "3 of 9 tasks failed (ids 1, 4, 7); see f.txt.joblog.failed" in line]
    check(len(hits) == 1, "the failed tasks named once")
    failed = [r for r in joblog("f.txt.joblog") if r["status"] != "0"]
    check(sorted(int(r["id"]) for r in failed) == [1, 4, 7] and
          all(r["status"] == "1" for r in failed), "job log: status 1 for ids 1, 4, 7")
    # --resume: the failures stay failures without running again; --resume-failed reruns them.
    rc, out, _ = farm(["f.txt", "--resume"])
    check(rc == 1 and len(joblog("f.txt.joblog")) == 9 and
          "3 failed (0 timed out, 3 in an earlier run), 6 skipped" in out,
          "--resume: nothing runs, the 3 failures still count (exit 1)")
    rc, out, _ = farm(["f.txt", "--resume-failed"])
    rows = joblog("f.txt.joblog")
    check(rc == 1 and len(rows) == 12 and sorted(int(r["id"]) for r in rows[9:]) == [1, 4, 7],
          "--resume-failed: exactly the 3 failed tasks run again")
    rc, _, _ = farm(["f.txt.joblog.failed", "--quiet"])
    check(rc == 1 and len(joblog("f.txt.joblog.failed.joblog")) == 3,
          ".failed is a task file of exactly the failed tasks")
    # Each task fails on its first run only.
    write("r.txt", "".join("test -e m%d || { touch m%d; exit 1; }\n" % (i, i) for i in range(6)))
    rc, out, err = farm(["r.txt", "--retries", "1"])
    rows = joblog("r.txt.joblog")
    check(rc == 0 and len(rows) == 12, "--retries 1: every task ok after one retry")
    if len(workers(NP)) >= 2:
        by_id = {}
        for r in rows:
            by_id.setdefault(r["id"], []).append(r["rank"])
        check(all(len(set(v)) == 2 for v in by_id.values()), "the retry ran on another rank")
    write("s.txt", "sleep 100\necho fine\n")
    t0 = time.time()
    rc, out, err = farm(["s.txt", "--timeout", "1", "--grace", "1"])
    rows = {r["id"]: r for r in joblog("s.txt.joblog")}
    check(rc == 1 and rows["0"]["status"] == "timeout" and rows["1"]["status"] == "0" and
          time.time() - t0 < 15, "sleep 100 with --timeout 1: 'timeout' in %.1f s"
          % (time.time() - t0))
    check("1 failed (1 timed out, 0 in an earlier run)" in out, "the summary counts the timeout")


def scenario_direct():
    write("noshebang.sh", "echo script-ran\n")
    os.chmod("noshebang.sh", 0o755)
    write("notexec.sh", "#!/bin/sh\necho never\n")
    os.chmod("notexec.sh", 0o644)
    os.makedirs("bin", exist_ok=True)
    write("bin/tsr-args", "#!/bin/sh\necho \"$0|$#|$*\"\n")
    os.chmod("bin/tsr-args", 0o755)
    # (command, exit status, stdout); the last column None: not compared.
    cases = [("printenv TESSERA_TASK_ID", 0, "0"),          # direct
             ("printenv PWD", 0, os.getcwd()),              # direct: the shell's PWD
             ("sh -c 'echo $PWD'", 0, os.getcwd()),         # the shell
             ("printenv OMP_NUM_THREADS", 0, "1"),          # direct
             ("no-such-command-tsr", 127, ""),               # not found: the shell says so
             ("./noshebang.sh", 0, "script-ran"),           # ENOEXEC: the shell runs it
             ("./notexec.sh", 126, ""),                     # not executable
             ("echo -n a", 0, "a"),                         # builtin: the shell's echo
             ("A=1 printenv A", 0, "1"),                    # assignment: the shell
             ("tsr-args  x=1\t-y  a,b", 0,                  # PATH search, words
              os.path.abspath("bin/tsr-args") + "|3|x=1 -y a,b"),
             ("bin/tsr-args 1", 0, "bin/tsr-args|1|1"),     # a path: no search
             ("printenv NOPE", 1, ""),
             ("test -d bin", 0, "")]                       # builtin
    write("d.txt", "".join(c + "\n" for c, _, _ in cases))
    env = mpi_env({"PATH": os.path.abspath("bin") + ":" + os.environ.get("PATH", ""),
                   "PWD": "/"})
    rc, out, err = farm(["d.txt", "--log-dir", "dl"], env=env)
    check(rc == 1, "exit status 1 (some tasks fail)")
    rows = {int(r["id"]): r for r in joblog("d.txt.joblog")}
    ok = True
    for i, (cmd, status, stdout) in enumerate(cases):
        got = open("dl/0/%d.out" % i).read().rstrip("\n")
        if rows[i]["status"] != str(status) or got != stdout:
            print("  %r: status %s, stdout %r" % (cmd, rows[i]["status"], got))
            ok = False
    check(ok, "direct and shell commands: the statuses and output of /bin/sh -c")
    check("not found" in open("dl/0/4.err").read(), "a command not found: the shell's message")
    # A variable whose name is no identifier: dash drops it, so a plain command must not see it.
    write("odd.txt", "printenv tsr-odd\n")
    rc, out, err = farm(["odd.txt", "--log-dir", "ol"], env=mpi_env({"tsr-odd": "1"}))
    check(rc == 1 and open("ol/0/0.out").read() == "",
          "an environment name no shell passes on is not seen by a plain command either")


def sleepers(n, secs):
    write("k.txt", "".join("sleep %s; echo $TESSERA_TASK_ID >> ran-$FARM_RUN.txt\n" % secs
                           for _ in range(n)))


def ok_ids(rows):
    return [int(r["id"]) for r in rows if r["status"] == "0"]


def kill_job(proc, pattern):
    """kill -9 of mpirun and its tessera-farm ranks; the pids of processes matching `pattern`
    still alive once the ranks are dead and the guard had 5 s (a survivor sleeps far longer)."""
    ranks = app_ranks(proc.pid, "tessera-farm")
    os.killpg(proc.pid, signal.SIGKILL)
    for pid in ranks:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()

    def gone(pid):  # dead: no entry, or a zombie (its descriptors are closed, the guard woke)
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            return True

    # A sanitizer build's rank takes a while to die under load; the guard acts after that.
    deadline = time.time() + 20
    while time.time() < deadline and not all(gone(p) for p in ranks):
        time.sleep(0.05)
    deadline = time.time() + 5
    while True:
        left = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
        if not left.stdout.strip() or time.time() > deadline:
            return left.stdout.split()
        time.sleep(0.1)


def scenario_kill_window():
    # Each rank pauses after starting a task, before its own record of the task for the guard
    # (test hook), and is killed there: only the record the task's child wrote before exec tells
    # the guard which process group to end. The shell dies of PR_SET_PDEATHSIG; its background
    # sleep would not.
    write("w.txt", "sleep 31.7 & wait\n" * 6)
    cmd = mpirun_prefix(2) + [BIN["farm"], "w.txt", "--slots", "1"]
    print("RUN  %s (kill -9 while the ranks pause after starting a task)" % " ".join(cmd),
          flush=True)
    proc = subprocess.Popen(cmd, env=mpi_env({"TESSERA_TEST_SPAWN_DELAY": "60"}),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 30
    started = []
    while time.time() < deadline and not started:
        started = subprocess.run(["pgrep", "-f", "^sleep 31.7"], capture_output=True,
                                 text=True).stdout.split()
        time.sleep(0.05)
    time.sleep(0.3)  # both ranks' first tasks started, each rank now in its pause
    check(started, "a task started: %s" % started)
    left = kill_job(proc, "^sleep 31.7")
    check(not left, "killed before recording its task, the rank's task group is still ended: "
          "%s left" % left)


def scenario_kill():
    n = 40
    # Each task leaves a process in the background, which PR_SET_PDEATHSIG does not reach.
    write("k.txt", "".join("sleep 31.5 & sleep 0.15; echo $TESSERA_TASK_ID >> ran-$FARM_RUN.txt\n"
                           for _ in range(n)))
    cmd = mpirun_prefix(3) + [BIN["farm"], "k.txt", "--slots", "2"] + EXTRA
    print("RUN  %s (kill -9 of the whole job mid-run)" % " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, env=mpi_env({"FARM_RUN": "1"}), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and len(ints("ran-1.txt")) < 10:
        time.sleep(0.01)
    left = kill_job(proc, "sleep (0.15; echo|31.5)")
    check(not left, "no task, nor what it left in the background, outlives the killed job: %s"
          % left)
    before = joblog("k.txt.joblog")
    done = set(ok_ids(before))
    check(0 < len(done) < n, "killed mid-run: %d of %d tasks logged" % (len(done), n))
    # The job died mid-write: a cut-off line.
    with open("k.txt.joblog", "a") as f:
        f.write("39\t40\t-\tho")
    rc, out, err = farm(["k.txt", "--resume"], np=3, env={"FARM_RUN": "2"})
    second = ints("ran-2.txt")
    check(rc == 0 and sorted(second) == sorted(set(range(n)) - done),
          "--resume ran exactly the %d tasks without a status-0 line" % (n - len(done)))
    rows = joblog("k.txt.joblog")
    okl = ok_ids(rows)
    check(sorted(okl) == list(range(n)), "every task ended ok exactly once in the job log")
    check("%d skipped by --resume" % len(done) in out, "the summary counts the skipped tasks")


def scenario_sigterm():
    n = 30
    sleepers(n, 0.1)  # short: ranks hold queued tasks, which the stop must hand back
    write("ready", "")
    os.unlink("ready")
    cmd = mpirun_prefix(3) + [BIN["farm"], "k.txt", "--slots", "2"] + EXTRA
    env_cmd = ["env", "FARM_RUN=1"] + cmd
    rc, out = sigterm_when(env_cmd, "ran-1.txt", "tessera-farm")
    check(rc == 3, "SIGTERM: exit status 3 (got %s)" % rc)
    rows = joblog("k.txt.joblog")
    done = set(ok_ids(rows))
    check(len(done) < n, "stopped before the end: %d of %d done" % (len(done), n))
    check(all(int(r["pid"]) > 0 for r in rows), "no job-log line for a task that never started")
    rc, out, err = farm(["k.txt", "--resume"], np=2, env={"FARM_RUN": "2"})
    check(rc == 0 and sorted(ints("ran-2.txt")) == sorted(set(range(n)) - done),
          "--resume runs the rest")
    check(sorted(ok_ids(joblog("k.txt.joblog"))) == list(range(n)),
          "every task ended ok exactly once")


def scenario_deadline():
    n = 20
    sleepers(n, 0.3)
    end = time.time() + 2.5
    rc, out, err = farm(["k.txt", "--slots", "1", "--end-time", "%.3f" % end], np=2,
                        env={"FARM_RUN": "1"})
    rows = joblog("k.txt.joblog")
    check(rc == 3 and 0 < len(rows) < n and "no more tasks start" in err,
          "the job's end near: exit 3 after %d of %d tasks" % (len(rows), n))
    check(all(r["status"] == "0" and float(r["start"]) + 0.3 <= end for r in rows),
          "no task killed, none started with less than the median time left")
    rc, out, err = farm(["k.txt", "--resume", "--slots", "2"], np=2, env={"FARM_RUN": "2"})
    check(rc == 0 and sorted(ok_ids(joblog("k.txt.joblog"))) == list(range(n)),
          "--resume completes")


def scenario_bad():
    write("empty.txt", "# nothing\n\n")
    write("bin.txt", "echo a\n\0\n")
    write("dir.txt", "echo a\n#TESSERA BOGUS\n")
    write("rep.txt", "#TESSERA REPEAT x echo\n")
    write("long.txt", "echo " + "x" * 70000 + "\n")
    write("ok.txt", "true\n")
    os.mkdir("adir")
    os.mkdir("ok.txt.joblog")
    f = BIN["farm"]
    cases = [
        ([f], "no task file: tessera-farm TASKFILE [options]"),
        ([f, "missing.txt"], "missing.txt: cannot open the task file: No such file"),
        ([f, "empty.txt"], "empty.txt: no tasks in the file"),
        ([f, "adir"], "adir: is a directory, not a task file"),
        ([f, "bin.txt"], "bin.txt:2: a NUL byte: not a text file"),
        ([f, "dir.txt"], "dir.txt:2: unknown directive '#TESSERA BOGUS'"),
        ([f, "rep.txt"], "rep.txt:1: REPEAT: expected a count N >= 0, got 'x'"),
        ([f, "long.txt"], "long.txt:1: line longer than 65536 characters"),
        ([f, "ok.txt", "--resume"], "--resume: cannot read the job log ok.txt.joblog: Is a directory"),
        ([f, "ok.txt", "--retries", "-1"], "--retries -1: must be between 0 and 1000"),
        ([f, "ok.txt", "--timeout", "-2"], "--timeout -2: must be"),
        ([f, "ok.txt", "--threads", "0"], "--threads 0: must be"),
        ([f, "ok.txt", "--slots", "x"], "--slots"),
        ([f, "ok.txt", "--bogus"], "--bogus"),
        ([f, "ok.txt", "--joblog", "./ok.txt"], "--joblog './ok.txt' is the task file 'ok.txt'"),
        ([f, "ok.txt", "--farm-groups", "1"], "--farm-groups: a group needs from 2 to"),
        ([f, "ok.txt", "--farm-groups", "x"], "--farm-groups: cannot parse 'x' (expected auto"),
    ]
    text = open("ok.txt").read()
    for k, (args, expect) in enumerate(cases):
        must_fail(args, expect, status=2, np=1 if k % 2 else 3, timeout=60)
    check(open("ok.txt").read() == text, "the task file is unchanged")


def scenario_fault():
    n = 1010
    write("t.txt", "#TESSERA REPEAT %d echo $TESSERA_TASK_ID >> ran-$FARM_RUN.txt\n" % n)
    os.mkdir("logs")
    write("logs/1", "a file where tasks 1000.. want their directory\n")
    t0 = time.time()
    rc, out, err = farm(["t.txt", "--log-dir", "logs", "--slots", "2"], env={"FARM_RUN": "1"},
                        timeout=60)
    # Whichever rank is handed one of the tasks from 1000 on first fails.
    hits = [line for line in (out + err).splitlines()
            if re.search(r"cannot start task 10\d\d \(its output files in logs/1/, or the process\): "
                      r"Not a directory; the job stopped", line)]
    check(rc == 1 and len(hits) == 1, "a rank's failure: exit 1, one message (%.1f s)"
          % (time.time() - t0))
    named = [r for r in workers(NP) if hits and hits[0].find("rank %d (" % r) >= 0]
    check(len(named) == 1, "the message names the rank: %s" % (hits[0] if hits else None))
    rows = joblog("t.txt.joblog")
    ran = ints("ran-1.txt")
    ok = set(ok_ids(rows))
    stopped = set(int(r["id"]) for r in rows if r["status"] == "stopped")
    good = ok <= set(ran) <= ok | stopped and len(ran) == len(set(ran)) and \
        max(ok) < 1000 and all(r["status"] in ("0", "stopped") and int(r["pid"]) > 0 for r in rows)
    if not good:
        print("  ran", len(ran), "ok", len(ok), "stopped", sorted(stopped),
              sorted(set(ran) ^ ok), [r for r in rows if r["status"] not in ("0", "stopped")])
    check(good, "job log: the %d tasks that ran, %d stopped, none from 1000 on"
          % (len(ok), len(stopped)))
    os.unlink("logs/1")
    rc, out, err = farm(["t.txt", "--log-dir", "logs", "--resume", "--quiet"],
                        env={"FARM_RUN": "2"}, timeout=60)
    check(rc == 0 and sorted(ints("ran-2.txt")) == sorted(set(range(n)) - ok),
          "--resume runs exactly the other %d tasks" % (n - len(ok)))


def scenario_joblog():
    n = 16
    sleepers(n, 0.4)
    os.mkdir("jl")
    env = preload_env(os.environ["TSR_TEST_FAULTSHIM"],
                      {"FARM_RUN": "1", "TSR_FAULT_DIR": os.path.abspath("jl"),
                       "TSR_FAULT_RANK": "0"})
    t0 = time.time()
    rc, out, err = farm(["k.txt", "--slots", "1", "--joblog", "jl/k.joblog"], np=3, env=env,
                        timeout=60)
    hits = [x for x in (out + err).splitlines()
            if re.search(r"--joblog jl/k.joblog: cannot (write|sync): Input/output error", x)]
    ran = ints("ran-1.txt")
    check(rc == 1 and len(hits) == 1 and len(ran) < n,
          "the job log's sync fails on rank 0 after 2 s: exit 1, one message, %d of %d tasks "
          "ran, %.1f s" % (len(ran), n, time.time() - t0))


def scenario_edges():
    # Only 0-2 open in a task, with --log-dir (their files) and without (pipes).
    write("fd.txt", "sleep 0.5\nls /proc/self/fd\nls /proc/self/fd\n")
    for extra in (["--log-dir", "fdlogs"], []):
        rc, out, _ = farm(["fd.txt", "--slots", "2"] + extra)
        text = open("fdlogs/0/1.out").read() + open("fdlogs/0/2.out").read() if extra else \
            "\n".join(x.split("] ", 1)[1] for x in out.splitlines() if x.startswith(("[1]", "[2]")))
        fds = set(int(x) for x in text.split())
        check(rc == 0 and fds <= {0, 1, 2, 3}, "a task's descriptors %s: 0-2 and ls's own "
              "(%s)" % (sorted(fds), "--log-dir" if extra else "pipes"))
    # A timeout of 35 days: one worker, one slot busy 2 s, the other runs the rest meanwhile
    # (their starts wait for rank 0's messages, which no task's end wakes).
    if NP == 2:
        write("to.txt", "sleep 2\n" + "true\n" * 4)
        rc, _, _ = farm(["to.txt", "--slots", "2", "--timeout", "3000000"])
        rows = joblog("to.txt.joblog")
        last = max(float(r["end"]) for r in rows if r["id"] != "0")
        slept = [float(r["end"]) for r in rows if r["id"] == "0"][0]
        check(rc == 0 and last < slept - 1, "--timeout 3000000: the true tasks end %.2f s "
              "before the sleep" % (slept - last))
    # FILE.failed keeps the BARRIER: b waits for a, and both succeed once `go` exists.
    write("b.txt", "test -e go && sleep 0.5 && touch a.done\n#TESSERA BARRIER\n"
          "test -e a.done\n")
    rc, _, _ = farm(["b.txt", "--slots", "2", "--quiet"])
    check(rc == 1 and "#TESSERA BARRIER" in open("b.txt.joblog.failed").read(),
          "both fail; b.txt.joblog.failed has the BARRIER between them")
    write("go", "")
    rc, _, _ = farm(["b.txt.joblog.failed", "--slots", "2", "--quiet"])
    check(rc == 0, "the .failed file reruns them in order: status %s" % rc)
    # --resume and retries: a job log holding one failed run of task 0, as a job stopped before
    # its retry leaves it. With --retries 1 that task runs again; with 0 its failure is final.
    write("r1.txt", "echo $TESSERA_TASK_ID >> rr.txt\n")
    for retries, runs, status in (("1", [0], 0), ("0", [], 1)):
        for f in ("rr.txt",):
            if os.path.exists(f):
                os.unlink(f)
        write("r1.txt.joblog", "0\t1\t-\th\t0\t99\t1\t1.0\t2.0\t1.0\t0\t"
              "echo $TESSERA_TASK_ID >> rr.txt\n")
        rc, out, _ = farm(["r1.txt", "--resume", "--retries", retries, "--quiet"])
        check(rc == status and ints("rr.txt") == runs, "--resume --retries %s after one failed run: "
              "status %s, ran %s" % (retries, rc, ints("rr.txt")))
    # --resume matches REPEAT indices too: after the REPEAT's start changed, the same command
    # with new indices runs.
    write("x.txt", "#TESSERA REPEAT 3 start 0 echo $TESSERA_REPEAT_INDEX >> ix.txt\n")
    rc1, _, _ = farm(["x.txt", "--quiet"])
    write("x.txt", "#TESSERA REPEAT 3 start 10 echo $TESSERA_REPEAT_INDEX >> ix.txt\n")
    rc2, _, _ = farm(["x.txt", "--resume", "--quiet"])
    check(rc1 == rc2 == 0 and sorted(ints("ix.txt")) == [0, 1, 2, 10, 11, 12],
          "--resume after REPEAT's start changed runs the new indices: %s" % sorted(ints("ix.txt")))
    # The submission directory removed mid-job: the next task says why it could not start.
    write("cd.txt", "rmdir \"$PWD\"\n#TESSERA BARRIER\necho never\n")
    os.mkdir("sub")
    os.chdir("sub")
    try:
        rc, out, err = farm(["../cd.txt", "--joblog", "../cd.joblog", "--quiet"])
    finally:
        os.chdir("..")
    status = [r["status"] for r in joblog("cd.joblog") if r["id"] == "1"]
    check(rc == 1 and status == ["126"] and "[1] never" not in out and
          "[1] tessera-farm: cannot enter the submission directory " in err,
          "a task whose directory is gone: status %s, and its output says why" % status)
    # Workers started in another directory than rank 0's (Open MPI's fallback where the
    # submission directory is missing on a node): their tasks still run in rank 0's, and a
    # relative --log-dir is rank 0's too.
    if NP >= 2:
        for d in ("w0", "w1"):
            os.mkdir(d)
        write("w0/w.txt", "pwd\n" * 3)
        here = os.getcwd()
        cmd = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", "1", "-wdir", here + "/w0",
               BIN["farm"], "w.txt", "--log-dir", "wl", "--quiet", ":", "-np", str(NP - 1),
               "-wdir", here + "/w1", BIN["farm"], "w.txt", "--log-dir", "wl", "--quiet"]
        rc, out, err = run_cmd(cmd, mpi_env(), 120)
        dirs = [open("w0/wl/0/%d.out" % i).read().strip() if os.path.exists("w0/wl/0/%d.out" % i)
                else None for i in range(3)]
        check(rc == 0 and dirs == [here + "/w0"] * 3 and not os.path.exists("w1/wl"),
              "workers started elsewhere: status %s, tasks ran in %s, logs in w0/wl (w1/wl %s) %s"
              % (rc, dirs, "made" if os.path.exists("w1/wl") else "absent", err.strip()))
    # A job log ending in zeros: cut off, and the next --resume reads it.
    write("z.txt", "true\n" * 3)
    rc, _, _ = farm(["z.txt", "--quiet"])
    with open("z.txt.joblog", "ab") as f:
        f.write(b"\0" * 40)
    rc1, _, _ = farm(["z.txt", "--resume", "--quiet"])
    rc2, out, err = farm(["z.txt", "--resume", "--quiet"])
    check(rc == rc1 == rc2 == 0 and b"\0" not in open("z.txt.joblog", "rb").read(),
          "a job log ending in zeros resumes twice: %s %s %s %s" % (rc, rc1, rc2, err.strip()))


def scenario_relay_retry():
    n = 200
    write("r.txt", "sleep 3\n" + "".join("test -e m%d || { touch m%d; exit 1; }\n" % (i, i)
                                         for i in range(n)))
    rc, out, err = mpirun(4, [BIN["farm"], "r.txt", "--farm-groups", "3", "--slots", "1",
                              "--retries", "1"], timeout=60)
    rows = joblog("r.txt.joblog")
    check(rc == 0 and sorted(ok_ids(rows)) == list(range(n + 1)),
          "every task ok after its retry (exit %s): %d ok" % (rc, len(ok_ids(rows))))
    check(set(int(r["rank"]) for r in rows) == {2, 3}, "the relay's two workers ran them")


def scenario_progress():
    # Ends at 0.7, 1.4 and 2.1 s, lines at 1 and 2 s: two tasks running at each.
    write("p.txt", "sleep 0.7\n" * 4 + "sleep 0.7; exit 1\nsleep 0.7\n")
    rc, out, err = farm(["p.txt", "--slots", "1", "--progress", "on"], np=3)
    check(rc == 1, "one failing task: exit 1")
    lines = [x for x in err.splitlines() if x.startswith("tessera-farm: task ")]
    print("  " + "\n  ".join(lines + out.splitlines()))
    pat = re.compile(r"^tessera-farm: task (\d+)/6 \(\d+%\), .* elapsed, [0-9.e+]+ tasks/s, "
                     r"(ETA [^;]+|done); (\d+) running, (\d+) failed$")
    m = [pat.match(x) for x in lines]
    check(len(lines) >= 2 and all(m), "progress lines: done, rate, ETA, running, failed")
    check(any(x.group(2).startswith("ETA") and int(x.group(3)) > 0 for x in m if x),
          "a line while tasks run shows them running")
    check(m[-1] and m[-1].group(1) == "6" and m[-1].group(2) == "done" and
          m[-1].group(3) == "0" and m[-1].group(4) == "1", "the last line: 6 done, 1 failed")
    check("6 tasks: 5 ok, 1 failed (0 timed out, 0 in an earlier run), 0 skipped by --resume, "
          "0 not run" in out, "summary: ok / failed / timed out / skipped / not run")
    rows = {}
    for x in out.splitlines():
        f = x.split()
        if len(f) == 5 and f[0].isdigit():
            rows[int(f[0])] = (int(f[2]), int(f[3]), float(f[4]))
    check(sorted(rows) == [1, 2] and sum(v[0] for v in rows.values()) == 6 and
          sum(v[1] for v in rows.values()) == 1 and all(v[2] >= 0.7 * v[0] for v in rows.values()),
          "summary per rank: runs, failed, busy seconds")


def main():
    return scenario_main(__doc__, globals(), {"farm": "apps/farm/tessera-farm"}, "tsr-cmdfarm-")


if __name__ == "__main__":
    sys.argv[:] = sys.argv[:4]  # NP and GROUPS are read above
    sys.exit(main())
