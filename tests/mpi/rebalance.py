#!/usr/bin/env python3
"""Check what a rebalancing life run tells: the decisions, the work imbalance and the report.

Usage:
  rebalance.py --app PATH --np N [--timeout 60]

Runs the tessera life app on a soup that fills a quarter of the grid with --skip-quiescent,
once with a static contiguous map and once with --rebalance-every 5 and --report, under
"mpirun -np N --oversubscribe --bind-to none". Passes iff both give the same checksum; with more
than one rank the rebalanced run printed at least one "rebalance at step" line, each exactly
once (rank 0's), with an imbalance that went down and steps that are multiples of 5, and its
work imbalance is lower than the static run's; the same run twice makes the same decisions
(the cost is cells computed, not time); at 2 ranks, a soup that stays on rank 0's blocks makes
the first rebalance happen at step 0, before any step, from imbalance 2.000 (the initial map
from the soup's region, tsr_domain_balance_initial), and end with the static run's checksum (with
and without that corner run's static twin); the JSON report lists the same events as the lines; and
a rebalanced run checkpointed at step 40 and restarted on another rank count ends with the same
checksum.

Prints "N passed, N failed"; exits 1 if anything failed, else 0.
"""
import argparse
import json
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpitest import mpi_env, mpirun_prefix, parse_checksum, run_cmd, show_output  # noqa: E402

EVENT_RE = re.compile(r"rebalance at step (\d+): imbalance ([0-9.]+) -> ([0-9.]+), (\d+) blocks")
WORK_RE = re.compile(r"^work imbalance ([0-9.]+)$", re.M)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--app", required=True, help="life app executable")
    ap.add_argument("--np", type=int, required=True, help="number of MPI ranks")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per command")
    opts = ap.parse_args()
    base = ["--grid", "128x96", "--blocks", "8x6", "--init", "random", "--extent", "0.5",
            "--skip-quiescent", "--steps", "60", "--progress", "off"]
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        ck = ["--checkpoint-dir", os.path.join(tmp, "ck")]
        for name, np, extra in [("static", opts.np, []),
                                ("rebalanced", opts.np, ["--rebalance-every", "5", "--report",
                                                         os.path.join(tmp, "r1.json")]),
                                ("again", opts.np, ["--rebalance-every", "5"]),
                                ("first part", opts.np, ["--rebalance-every", "5", "--steps", "40",
                                                         "--checkpoint-every", "20"] + ck),
                                ("restarted", opts.np % 4 + 1, ["--rebalance-every", "5",
                                                                "--restart", "latest"] + ck),
                                ("corner", opts.np, ["--rebalance-every", "5", "--extent", "0.25",
                                                     "--steps", "6"]),
                                ("corner static", opts.np, ["--extent", "0.25", "--steps", "6"])]:
            cmd = mpirun_prefix(np) + [opts.app] + base + extra
            print("RUN  %s" % " ".join(cmd), flush=True)
            rc, out, err = run_cmd(cmd, mpi_env({"OMP_NUM_THREADS": "1"}), opts.timeout)
            if rc != 0:
                show_output(out, err)
                problems.append("%s: exit status %s" % (name, rc))
                continue
            runs[name] = out
        if len(runs) == 7:
            del runs["first part"]
            corner_out, corner_static = runs.pop("corner"), runs.pop("corner static")
            corner = EVENT_RE.findall(corner_out)
            if opts.np == 2 and (not corner or corner[0][:2] != ("0", "2.000")):
                problems.append("soup on rank 0 only: first rebalance %s, not at step 0 from 2.000"
                                % corner)
            if parse_checksum(corner_out) != parse_checksum(corner_static) or \
                    parse_checksum(corner_out) is None:
                problems.append("corner soup: checksum %s rebalanced, %s static"
                                % (parse_checksum(corner_out), parse_checksum(corner_static)))
            sums = {k: parse_checksum(v) for k, v in runs.items()}
            if len(set(sums.values())) != 1 or None in sums.values():
                problems.append("checksums differ: %s" % sums)
            events = EVENT_RE.findall(runs["rebalanced"])
            work = {k: float(WORK_RE.search(v).group(1)) for k, v in runs.items()
                    if k != "restarted"}
            if opts.np > 1:
                if not events:
                    problems.append("no rebalance at %d ranks" % opts.np)
                for step, before, after, _ in events:
                    if int(step) % 5 or not float(after) < float(before):
                        problems.append("odd event: step %s, %s -> %s" % (step, before, after))
                if len(set(e[0] for e in events)) != len(events):
                    problems.append("an event printed more than once: %s" % events)
                if not work["rebalanced"] < work["static"]:
                    problems.append("work imbalance %s not below the static %s"
                                    % (work["rebalanced"], work["static"]))
            elif events:
                problems.append("a rebalance on one rank: %s" % events)
            if EVENT_RE.findall(runs["again"]) != events or work["again"] != work["rebalanced"]:
                problems.append("the same run decided differently")
            with open(os.path.join(tmp, "r1.json")) as f:
                rep = json.load(f)["rebalance"]
            told = [(str(e["step"]), e["blocks_moved"]) for e in rep["events"]]
            if rep["every"] != 5 or told != [(e[0], int(e[3])) for e in events]:
                problems.append("report %s does not match the lines %s" % (rep, events))
            print("  work imbalance static %s, rebalanced %s; %d rebalances"
                  % (work["static"], work["rebalanced"], len(events)))
    for p in problems:
        print("  FAIL %s" % p)
    print("%d passed, %d failed" % (0 if problems else 1, 1 if problems else 0))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
