/* Command farm: a task file of shell commands run across the ranks (tessera-farm). Rank 0 reads
 * the task file, hands tasks to the ranks that have a free slot, writes the job log and decides
 * the outcome; every rank runs up to `slots` commands at once with /bin/sh -c. */
#ifndef TESSERA_CMDFARM_H
#define TESSERA_CMDFARM_H

#include <stdbool.h>
#include <stdint.h>

#include "context.h"
#include "options.h"
#include "report.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tsr_cmdfarm_opts {
    char tasks[TSR_OPT_STRLEN];   /* task file; "-": standard input (rank 0's) */
    char joblog[TSR_OPT_STRLEN];  /* "": TASKFILE.joblog (required with tasks "-": farm.joblog) */
    char log_dir[TSR_OPT_STRLEN]; /* "": output passed through, each line prefixed "[ID] " */
    bool resume;                  /* skip tasks the job log shows ended (ok or failed) */
    bool resume_failed;           /* skip only the tasks that ended with status 0 */
    int64_t retries;              /* reruns of a failing task (on another rank when possible) */
    double timeout;               /* seconds a task may run (0: no limit) */
    double grace;                 /* seconds between TERM and KILL (timeout, stop) */
    int64_t slots;                /* tasks at once per rank (0: the node's cores / threads, shared
                                     by the node's working ranks) */
    int64_t threads;              /* OMP_NUM_THREADS of each task (default 1) */
    double end_time;      /* seconds since the epoch when the job ends (0: Slurm's EndTime of
                             $SLURM_JOB_ID from scontrol, none outside Slurm) */
    double min_time_left; /* no task starts with less time left than this, nor than the median
                             time of the tasks so far */
    tsr_progress_option progress; /* --progress, --quiet */
    /* --farm-groups auto|off|N ("": auto), as tsr_farm_opts.groups: a relay per group of ranks
     * (one per node with `auto` from TSR_FARM_GROUPS_MIN_RANKS ranks) takes batches of tasks
     * from rank 0 for its group and sends their ends back in batches; it runs no tasks. */
    char groups[TSR_OPT_STRLEN];
} tsr_cmdfarm_opts;

/* What a run did (filled on rank 0; the counts are also on every rank). */
typedef struct tsr_cmdfarm_result {
    int64_t ntasks;                /* tasks in the file (REPEATs expanded) */
    int64_t ok, failed, timed_out; /* final outcomes of the tasks run (timed out counts in
                                      failed too) */
    int64_t skipped;               /* skipped by --resume / --resume-failed */
    int64_t not_run;               /* left when stopped */
    bool stopped;                  /* SIGTERM/SIGUSR1 stopped it before the end */
} tsr_cmdfarm_result;

/* Defaults: retries 0, no timeout, grace 2 s, slots from the cores, 1 thread, progress auto. */
void tsr_cmdfarm_opts_init(tsr_cmdfarm_opts *o);
/* Registers --tasks, --joblog, --log-dir, --resume, --resume-failed, --retries, --timeout,
 * --grace, --slots, --threads, --end-time, --min-time-left, --farm-groups, --progress and
 * --quiet. Returns
 * tsr_opts_error(opts). Not collective. */
int tsr_cmdfarm_add_options(tsr_opts opts, tsr_cmdfarm_opts *o);

/* Runs every task of o->tasks once (skipping those the job log shows done with --resume), each
 * with the environment TESSERA_TASK_ID, TESSERA_TASK_LINE, TESSERA_REPEAT_INDEX, TESSERA_RANK,
 * TESSERA_HOST and OMP_NUM_THREADS, in its own process group, in rank 0's working directory,
 * killed with the rank if the rank dies. Rank 0 reads the task file and the job log and checks
 * the options; bad input is TSR_ERR_INPUT on every rank. Installs SIGTERM/SIGUSR1 handlers on
 * every rank: a signal stops new tasks, terminates the running ones and sets res->stopped (the
 * return is then 0); so does a job end (end_time) too near to start the remaining tasks, which
 * then run to their end. Some tasks failing is TSR_ERR_KERNEL on every rank naming them. A rank's
 * own failure (a task it cannot start, an MPI error) or a job log rank 0 cannot write stops the
 * run like a signal and returns that error (TSR_ERR_IO, TSR_ERR_MPI, TSR_ERR_MEMORY,
 * TSR_ERR_INTERNAL; never TSR_ERR_INPUT) on every
 * rank, its message naming the rank, host and cause; the job log keeps what ran. Rank 0 prints a
 * summary to stdout unless o->progress.quiet (also after such a failure), and a progress line
 * with the tasks running and failed. Collective; o is not kept. */
int tsr_cmdfarm_run(tsr_ctx ctx, const tsr_cmdfarm_opts *o, tsr_cmdfarm_result *res);

#ifdef __cplusplus
}
#endif
#endif
