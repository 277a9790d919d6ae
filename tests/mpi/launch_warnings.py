#!/usr/bin/env python3
"""Launch awareness: rank 0 warns once about oversubscription and about threads bound to too
few cores, stays quiet otherwise, and the run report records the launch (job id, nodes, cores).
On a node without a fabric device, Open MPI is told to take ob1 without probing the fabric
libraries, unless OMPI_MCA_pml/_mtl or TSR_MPI_DEFAULTS=off say otherwise.

Usage: launch_warnings.py --app PATH [--timeout 60]
Prints "N passed, N failed"; exits 1 if anything failed.
"""
import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpitest import mpi_env, run_combined  # noqa: E402

OVER = "oversubscribed"
TIGHT = "bound too tightly"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--app", required=True)
    ap.add_argument("--timeout", type=float, default=60.0)
    opts = ap.parse_args()
    cores = os.cpu_count() or 1
    app = [opts.app, "--grid", "32x32", "--steps", "2", "--quiet"]
    cases = [
        # name, mpirun args, threads, warnings expected once, warnings expected absent
        ("%d ranks x 2 threads, unbound" % (cores + 1),
         ["-np", str(cores + 1), "--oversubscribe", "--bind-to", "none"], 2, [OVER], [TIGHT]),
        ("1 rank x 2 threads bound to one core",
         ["-np", "1", "--bind-to", "core", "--map-by", "core"], 2, [TIGHT], []),
        ("1 rank x 1 thread", ["-np", "1", "--bind-to", "none"], 1, [], [OVER, TIGHT]),
    ]
    passed = failed = 0
    for name, margs, threads, once, absent in cases:
        env = mpi_env({"OMP_NUM_THREADS": str(threads)})
        rc, out = run_combined(["mpirun"] + margs + app, env, opts.timeout)
        problems = []
        if rc != 0:
            problems.append("exit status %s" % rc)
        for w in once:
            n = sum(w in line for line in out.splitlines())
            if n != 1:
                problems.append("%r printed %d times, expected once" % (w, n))
        for w in absent:
            if w in out:
                problems.append("unexpected %r" % w)
        if problems:
            failed += 1
            print("FAIL %s: %s\n%s" % (name, "; ".join(problems), out))
        else:
            passed += 1
            print("PASS %s" % name)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "r.json")
        env = mpi_env({"OMP_NUM_THREADS": "1", "SLURM_JOB_ID": "4242",
                       "SLURM_JOB_NODELIST": "node[1-2]"})
        rc, out = run_combined(["mpirun", "-np", "2", "--oversubscribe", "--bind-to", "none",
                                "-x", "SLURM_JOB_ID", "-x", "SLURM_JOB_NODELIST"] + app +
                               ["--report", path], env, opts.timeout)
        try:
            rep = json.load(open(path))
            ok = (rc == 0 and rep["slurm_job_id"] == "4242" and rep["slurm_nodelist"] ==
                  "node[1-2]" and rep["nodes"] == 1 and rep["ranks"] == 2 and
                  all(r["cores"] >= 1 and r["node_ranks"] == 2 for r in rep["per_rank"]))
        except (OSError, ValueError, KeyError) as exc:
            ok, out = False, out + "\n%s" % exc
        if ok:
            passed += 1
            print("PASS the report records job id, node list, nodes, cores and ranks per node")
        else:
            failed += 1
            print("FAIL report launch fields (exit %s)\n%s" % (rc, out))
    p, f = pml_default(app, opts.timeout)
    passed, failed = passed + p, failed + f
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def fabric_present():
    for d in ("/sys/class/infiniband", "/sys/class/cxi"):
        if os.path.isdir(d) and os.listdir(d):
            return True
    return any(n.startswith(("hfi1", "ipath", "qib")) for n in os.listdir("/dev"))


def pml_default(app, timeout):
    """Open MPI's verbose selection shows whether the cm PML (the fabric probe) was opened."""
    if fabric_present():
        print("SKIP the PML default: this node has a fabric device")
        return 0, 0
    passed = failed = 0
    cases = [  # name, extra environment, cm probed
        ("no fabric: ob1 chosen, no probe", {}, False),
        ("TSR_MPI_DEFAULTS=off: Open MPI chooses", {"TSR_MPI_DEFAULTS": "off"}, True),
        ("OMPI_MCA_mtl set: Open MPI chooses", {"OMPI_MCA_mtl": "^ofi"}, True),
    ]
    for name, extra, probed in cases:
        env = mpi_env(dict({"OMP_NUM_THREADS": "1", "OMPI_MCA_pml_base_verbose": "10"}, **extra))
        env.pop("OMPI_MCA_pml", None)
        rc, out = run_combined(["mpirun", "-np", "2", "--oversubscribe", "--bind-to", "none"] +
                               app, env, timeout)
        opened = "found loaded component cm" in out
        if rc == 0 and opened == probed and "selected ob1" in out:
            passed += 1
            print("PASS %s" % name)
        else:
            failed += 1
            print("FAIL %s: exit %s, cm opened %s\n%s" % (name, rc, opened, out[-3000:]))
    return passed, failed


if __name__ == "__main__":
    sys.exit(main())
