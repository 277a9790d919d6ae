/* The command farm's parts (cmdfarm.h): the executor that runs one rank's commands
 * (cmdfarm_exec.c), the workers (cmdfarm_worker.c), rank 0's free slots (cmdfarm_slots.c), job
 * log (cmdfarm_log.c) and coordinator (cmdfarm_coord.c), and the set-up of a run (cmdfarm.c). */
#ifndef TESSERA_CMDFARM_IMPL_H
#define TESSERA_CMDFARM_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <mpi.h>
#include <poll.h>
#include <sys/types.h>

#include "qhist_impl.h"
#include "taskfile_impl.h"
#include "tessera/cmdfarm.h"
#include "tessera/context.h"

/* Messages between rank 0 and the others (the farm's own communicator is the context's). With
 * --farm-groups a relay (cmdfarm_relay.c) stands between rank 0 and its group's workers: to rank 0
 * it is one rank with all its workers' slots, to them it is rank 0. JOB carries one job to a
 * worker, a batch of them (each a header and its command) to a relay; END carries an array of
 * ends; FAIL names its rank; STOP goes to the ranks rank 0 serves and from relays to theirs; BYE
 * comes from each of them once its own ranks said it. */
enum {
    TSR__CF_TAG_JOB = 7101,
    TSR__CF_TAG_END,
    TSR__CF_TAG_SIGNAL,
    TSR__CF_TAG_STOP,
    TSR__CF_TAG_BYE,
    TSR__CF_TAG_FAIL
};
/* Short tasks a rank holds queued per slot (rank 0's choice, the queue's size). */
#define TSR__CF_AHEAD 4
/* Ends in one END message at most; bytes of jobs in one batch for a relay (more only when one
 * job is longer). */
#define TSR__CF_END_BATCH 256
#define TSR__CF_BATCH_BYTES 65536

/* How a run of a task ended. */
enum { TSR__CF_EXITED, TSR__CF_SIGNALLED, TSR__CF_TIMEOUT, TSR__CF_STOPPED, TSR__CF_NOSTART };

/* Rank 0's free slots (cmdfarm_slots.c): one token per free slot in `free`, one per task a rank
 * may hold queued ahead in `room` (TSR__CF_AHEAD per slot), each ring in the order the tokens came
 * back, so taking and giving back cost O(1) whatever the number of ranks. */
typedef struct tsr__cf_ring {
    int *r;
    int cap, head, len;
} tsr__cf_ring;
typedef struct tsr__cf_slots {
    int first, n; /* the ranks that run tasks: first .. first + n - 1 */
    int serving;  /* those of them with slots */
    int ahead;    /* tasks queued ahead per slot at most */
    int *slots;   /* per rank */
    int *out;     /* runs handed out and not ended, per rank */
    tsr__cf_ring free, room;
    int64_t running; /* sum over the ranks of min(out, slots): the runs started */
} tsr__cf_slots;

/* Every slot free, in round-robin order; 0 or TSR_ERR_MEMORY (free it either way). */
int tsr__cf_slots_init(tsr__cf_slots *s, int first, int n, const int *slots, int ahead);
void tsr__cf_slots_free(tsr__cf_slots *s);
/* A rank for one more run: one with a free slot, else (when `ahead`) one with room in its queue;
 * not `avoid` (a retry's last rank) unless it is the only rank; -1 when none. O(1) (a retry
 * may skip the avoided rank's tokens: at most its slots). */
int tsr__cf_slots_take(tsr__cf_slots *s, int avoid, bool ahead);
/* A run on rank r ended. */
void tsr__cf_slots_give(tsr__cf_slots *s, int r);

/* A rank's own failure (a task it cannot start, an MPI call, memory), told to rank 0, which then
 * stops the job: the rank names itself by the message's source. */
typedef struct tsr__cf_fail {
    int32_t code; /* tsr_error */
    int32_t rank; /* the failed rank (a relay passes its workers' on) */
    char text[512];
} tsr__cf_fail;

/* One task handed to a rank (sent as bytes, the command after it). */
typedef struct tsr__cf_job {
    int64_t id, line, repeat, attempt;
    int32_t repeated, command_bytes; /* command_bytes includes the NUL */
    int32_t avoid;                   /* a retry: the rank its last run failed on (-1: none) */
} tsr__cf_job;

/* One run of a task that ended (sent to rank 0 as bytes). */
typedef struct tsr__cf_end {
    int64_t id, attempt, pid, bytes;
    int32_t rank, how, status; /* how: TSR__CF_*; status: exit code or signal number */
    double start, end;         /* seconds since the epoch */
} tsr__cf_end;

typedef struct tsr__cf_slot tsr__cf_slot;

/* A rank's guard (cmdfarm_guard.c): a /bin/sh that KILLs the process groups of the rank's running
 * tasks when the rank ends, whatever ends it. */
typedef struct tsr__cf_guard {
    int fd;    /* the write end of its pipe (never written: closed, it ends the guard); -1: none */
    int table; /* the slots' process groups, shared with the guard; -1: none */
    pid_t pid; /* 0: none */
} tsr__cf_guard;

/* In a vfork child before exec: every signal back to its default action, none blocked (the
 * rank's handlers and mask are not the program's). System calls only. */
void tsr__cf_child_signals(void);
/* Starts the guard for nslots slots; without one (no memory file, pipe or process) the tasks keep
 * PR_SET_PDEATHSIG alone. */
void tsr__cf_guard_start(tsr__cf_guard *g, int nslots);
/* The process group of slot's task (0 when it ended, after its last KILL). One pwrite; wakes
 * nothing. */
void tsr__cf_guard_set(tsr__cf_guard *g, int slot, pid_t pgid);
/* In a task's vfork child, before it closes the rank's descriptors: records its own group in its
 * slot. The guard's pipe, which the child holds until then, keeps the guard from reading the
 * table before the record is there, so a rank killed during the spawn leaves no task unknown
 * to it. System calls only. */
void tsr__cf_guard_enter(const tsr__cf_guard *g, int slot);
/* Ends the guard, which KILLs the groups still in the table, and reaps it. */
void tsr__cf_guard_stop(tsr__cf_guard *g);

typedef struct tsr__cf_exec {
    int rank, nslots, running;
    double timeout, grace;
    const char *log_dir; /* "" or NULL: output through this rank's stdout/stderr, prefixed */
    const char *cwd;
    char host[256];
    char threads[32];
    tsr__cf_slot *slots;
    struct pollfd *pfd;   /* room for poll(): the wake-up pipe and two streams per slot */
    tsr__cf_slot **owner; /* the slot of each pfd entry */
    int sigpipe[2];       /* SIGCHLD wakes poll() */
    char **env_base;      /* the environment without the TESSERA_* and OMP_NUM_THREADS variables */
    int nenv;
    bool
        env_odd; /* an entry whose name is no shell identifier: every task goes through the shell */
    char pwd[4100]; /* PWD=dir when the environment's PWD is not the task's directory */
    char *path;     /* PATH, to run a simple command without the shell */
    int devnull;    /* the tasks' standard input */
    tsr__cf_guard guard;
    /* Test hook TESSERA_TEST_SPAWN_DELAY (seconds): the rank pauses after a task starts, before
     * it records the task for the guard, to be killed there (only the child's record holds). */
    double test_spawn_delay;
} tsr__cf_exec;

/* Sets up nslots slots; returns 0 or TSR_ERR_MEMORY/TSR_ERR_IO (errno kept). */
int tsr__cf_exec_init(tsr__cf_exec *x, int rank, int nslots, int64_t threads, double timeout,
                      double grace, const char *log_dir, const char *cwd);
void tsr__cf_exec_free(tsr__cf_exec *x);
/* Starts a job in a free slot (there must be one). A command that cannot start (fork, pipe,
 * log file) is returned at once as ended with how TSR__CF_NOSTART in *ended (and true). */
bool tsr__cf_exec_start(tsr__cf_exec *x, const tsr__cf_job *job, const char *command,
                        tsr__cf_end *ended);
/* Waits up to wait_ms for output or ended commands, copies output, enforces the timeout, and
 * stores up to `max` ended runs in ended[]; returns how many. */
int tsr__cf_exec_poll(tsr__cf_exec *x, int wait_ms, tsr__cf_end *ended, int max);
/* TERM to every running command's process group (KILL after the grace period, by poll); their
 * ends are reported as TSR__CF_STOPPED. */
void tsr__cf_exec_stop(tsr__cf_exec *x);

/* The text of a task that could not start (tsr__cf_exec_start returned it ended) with errno `why`:
 * its output files or the process. */
void tsr__cf_start_error(const tsr__cf_exec *x, int64_t id, int why, char *buf, size_t len);

/* A rank other than 0 until `parent` (rank 0 or its relay) says goodbye (cmdfarm_worker.c).
 * Collective with rank 0's coordinator. */
int tsr__cf_work(tsr_ctx ctx, MPI_Comm comm, int parent, tsr__cf_exec *x);

/* What a rank tells its parent (cmdfarm_send.c). A job handed back not run: its end, stopped,
 * without a pid (rank 0 writes no job-log line; it runs again with --resume). */
tsr__cf_end tsr__cf_unstarted(const tsr__cf_job *job, int rank);
/* Its own failure, with its rank and text, to `to`. Returns the MPI error. */
int tsr__cf_tell_failure(MPI_Comm comm, int to, int rank, int code, const char *text);
/* "an MPI call failed: " and MPI_Error_string(err). */
void tsr__cf_mpi_text(int err, char *buf, size_t len);

/* Sends in flight, oldest first (cmdfarm_send.c): a rank slow to receive (a long command past the
 * eager limit) never stalls the sender. */
typedef struct tsr__cf_sendq {
    MPI_Request *req;
    char **buf;
    int cap, head, len;
} tsr__cf_sendq;
/* Room for cap sends; 0 or TSR_ERR_MEMORY. */
int tsr__cf_sendq_init(tsr__cf_sendq *q, int cap);
/* Frees the completed sends, one MPI_Test each, oldest first; `wait`: waits for the oldest
 * first. Returns an MPI error code. */
int tsr__cf_sendq_reap(tsr__cf_sendq *q, bool wait);
/* MPI_Isend of buf (malloc'd; the queue owns it from here, and frees it on an error), waiting
 * for the oldest send when the queue is full. Returns an MPI error code. */
int tsr__cf_sendq_send(tsr__cf_sendq *q, MPI_Comm comm, char *buf, int bytes, int dest, int tag);
/* Frees the queue; sends left (only after an MPI error) are released, their buffers kept, as
 * MPI may still read them. */
void tsr__cf_sendq_free(tsr__cf_sendq *q);

/* A relay (cmdfarm_relay.c), serving n worker ranks. */
typedef struct tsr__cf_relay {
    tsr_ctx ctx;
    MPI_Comm comm;
    int rank, n;
    int *members;       /* the workers' ranks, ascending (a node's need not be consecutive) */
    tsr__cf_slots free; /* the workers' slots, by their index in members */
    tsr__cf_sendq sends;
    tsr__cf_end *pend; /* ends not yet sent to rank 0 */
    int npend, cap, flush_at;
    double since; /* when the oldest of them came */
    int failure;  /* this relay's own (told to rank 0 once) */
    char **held;  /* retries waiting for room on another worker: job header, then command */
    int nheld, held_cap;
} tsr__cf_relay;
/* Its tables from info: per worker, in ascending rank order, its rank and its slots. 0 or
 * TSR_ERR_MEMORY (raised in ctx; free it either way). Local: the caller agrees before any relay
 * runs. */
int tsr__cf_relay_init(tsr__cf_relay *v, tsr_ctx ctx, MPI_Comm comm, int n, const int *info);
/* Serves until rank 0 says goodbye and its ranks have. Collective with rank 0's coordinator and
 * the workers' tsr__cf_work. */
int tsr__cf_relay_run(tsr__cf_relay *v);
void tsr__cf_relay_free(tsr__cf_relay *v);
/* The SIGTERM/SIGUSR1 received (0: none). */
int tsr__cf_stop_signal(void);

/* The job log on rank 0. */
typedef struct tsr__cf_log {
    FILE *f;
    char path[4096];
    double last_sync;
    bool dirty;     /* written since the last sync */
    bool unflushed; /* written since the last flush */
} tsr__cf_log;

/* Reads an existing job log for --resume: done[id] = 1 for tasks that ended with status 0, 2 for
 * those that failed retries + 1 times and never ended with 0 (unless only_ok: then left 0, to run
 * again), for ids whose command matches the task list. A missing
 * file is no error; any other unreadable file, or a complete line that does not parse, is
 * TSR_ERR_INPUT with msg. Truncates a cut-off last line so appends start on a fresh line. */
int tsr__cf_log_resume(const char *path, const tsr__task_list *tasks, bool only_ok, int64_t retries,
                       unsigned char *done, char *msg, size_t msglen);
/* Opens the job log (appending when `append`, else new with a header line). */
int tsr__cf_log_open(tsr__cf_log *l, const char *path, bool append, char *msg, size_t msglen);
/* Writes one ended run into the stream's buffer: rank 0 flushes once per pass of its loop, after
 * every end that arrived (a write() per line was half of rank 0's cost per task). */
int tsr__cf_log_write(tsr__cf_log *l, const tsr__cf_end *e, const tsr__task_entry *t,
                      const char *host);
/* Writes out what tsr__cf_log_write buffered. */
int tsr__cf_log_flush(tsr__cf_log *l);
/* Syncs what was flushed, if written since the last sync and at least `every` seconds passed
 * (0: now). */
int tsr__cf_log_sync(tsr__cf_log *l, double every);
int tsr__cf_log_close(tsr__cf_log *l);
/* The text of a run's status in the job log: "0", "3", "signal 9", "timeout", "stopped". */
void tsr__cf_status_text(const tsr__cf_end *e, char *buf, size_t len);
double tsr__cf_now(void);

/* TSR__CF_SKIPPED: ok in the job log; TSR__CF_FAILED_BEFORE: failed in it (--resume): not run, but
 * still a failure of the list, counted and listed as one. */
enum {
    TSR__CF_PENDING,
    TSR__CF_SKIPPED,
    TSR__CF_FAILED_BEFORE,
    TSR__CF_RUNNING,
    TSR__CF_OK,
    TSR__CF_FAILED
};
#define TSR__CF_HOSTLEN 64
#define TSR__CF_MAX_SLOTS 1024

/* Rank 0's view of the run (cmdfarm_coord.c). */
typedef struct tsr__cf_coord {
    tsr_ctx ctx;
    MPI_Comm comm;
    int size;
    const tsr_cmdfarm_opts *o;
    tsr__task_list tasks;
    unsigned char *state;
    int64_t *attempt;
    int *avoid;      /* rank a task's last run failed on (-1) */
    int64_t *retryq; /* ring of tasks to run again */
    int64_t rq_head, rq_len;
    int64_t next;        /* next task in file order not handed out yet */
    int64_t epoch;       /* BARRIER section being run */
    int64_t open;        /* tasks handed out in this section and not finally ended */
    int64_t inflight;    /* runs handed out and not reported */
    int *slots;          /* per rank */
    int *via;            /* per rank: the rank rank 0 sends its jobs to (itself, or its relay) */
    int children;        /* ranks rank 0 serves itself: workers and relays */
    int groups;          /* --farm-groups, parsed */
    tsr__cf_slots free;  /* the free slots, O(1) per task; a relay's are its workers' */
    tsr__cf_sendq sends; /* the job sends in flight */
    struct tsr__cf_batch *batch; /* per rank, NULL without relays: a relay's jobs of a round */
    int *batched;                /* the relays with a batch to send */
    int nbatched;
    int64_t ended;  /* runs reported */
    double elapsed; /* their total time */
    int64_t *rank_tasks;
    int64_t *rank_failed; /* final failures per rank */
    double *rank_busy;
    char (*hosts)[TSR__CF_HOSTLEN];
    tsr__cf_log log;
    tsr__cf_exec *local; /* rank 0 alone runs the tasks */
    bool stopping;
    int failure;           /* a rank's own failure stopped the job (its message is in ctx) */
    int64_t failed_before; /* failed in the job log, not run again (--resume) */
    bool draining;         /* the job's end is near: no task starts, the running ones end */
    double end_time;       /* the job's end (0: none) */
    tsr__qhist ok_times;   /* elapsed seconds of the successful runs */
    tsr_cmdfarm_result res;
    char joblog[TSR_OPT_STRLEN + 16];
    double t0;
} tsr__cf_coord;

/* Rank 0: the options that ranges cannot check, the task file, the job log; cwd gets the
 * working directory. Local verdict (the caller agrees). */
int tsr__cf_coord_prepare(tsr__cf_coord *c, char *cwd, size_t cwdlen);
/* Rank 0: the batches for the relays, when c->via names any. 0 or TSR_ERR_MEMORY. */
int tsr__cf_coord_relays(tsr__cf_coord *c);
/* Rank 0 hands out every task and collects the ends until every rank said goodbye. Collective
 * with the workers' tsr__cf_work. Returns a rank's own failure (its message in ctx). */
int tsr__cf_coordinate(tsr__cf_coord *c, tsr_progress *p);
/* The end-of-run summary: counts, and per rank its runs, failures and busy time. */
void tsr__cf_summary(tsr__cf_coord *c, FILE *out);
/* JOBLOG.failed: the failed tasks as a task file to run again (removed when none failed). */
int tsr__cf_write_failed(tsr__cf_coord *c);
/* Raises "N of M tasks failed (ids ...)" in ctx; returns its code. */
int tsr__cf_failed_error(tsr__cf_coord *c);
/* Frees what rank 0 held; safe on a zeroed or partly built c. */
void tsr__cf_coord_free(tsr__cf_coord *c);

#endif
