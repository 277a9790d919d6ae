/* Task farm: independent tasks handed out in chunks by the coordinator (rank 0) to workers that
 * ask for them (self-scheduling), results delivered on rank 0 in task order. */
#ifndef TESSERA_FARM_H
#define TESSERA_FARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "context.h"
#include "options.h"
#include "report.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tsr_farm_s *tsr_farm;

/* How many tasks a worker gets per request. */
typedef enum tsr_chunk_kind {
    TSR_CHUNK_STATIC, /* equal contiguous shares, one per working rank (for comparison) */
    TSR_CHUNK_FIXED,  /* `size` tasks per chunk */
    TSR_CHUNK_GUIDED  /* remaining / (2 x working ranks), never below `size` (default 1) */
} tsr_chunk_kind;

typedef struct tsr_chunk_policy {
    tsr_chunk_kind kind;
    int64_t size; /* fixed: tasks per chunk (>= 1); guided: smallest chunk (>= 1) */
} tsr_chunk_policy;

/* Parses "static", "fixed:N" or "guided[:MIN]". TSR_ERR_INPUT naming the text on a malformed one.
 * Not collective. */
int tsr_chunk_policy_parse(tsr_ctx ctx, const char *text, tsr_chunk_policy *policy);
/* Writes the policy in the form tsr_chunk_policy_parse reads ("fixed:64"). Not collective. */
void tsr_chunk_policy_format(const tsr_chunk_policy *policy, char *buf, size_t len);

/* What a failing task does to the farm. */
typedef enum tsr_farm_on_error {
    TSR_FARM_ABORT,   /* stop handing out work; every rank returns the first failure */
    TSR_FARM_CONTINUE /* run everything; failures are listed at the end and returned */
} tsr_farm_on_error;

#define TSR_TASK_MSG_LEN 256

/* One task as the task function sees it. Everything is owned by the farm and valid only during
 * the call. result is 16-byte aligned; item i is as aligned as element i of a 16-byte-aligned
 * array of item_bytes elements. */
typedef struct tsr_task {
    int64_t id;                     /* 0 .. ntasks-1 */
    const void *item;               /* the caller's item for this id (NULL without items) */
    size_t item_bytes;              /* its size */
    void *result;                   /* room for the result */
    size_t result_bytes;            /* in: the room (opts.result_bytes); out: bytes produced */
    char message[TSR_TASK_MSG_LEN]; /* on failure, why (optional; "" gives a generic text) */
    int rank;                       /* the rank running it */
} tsr_task;

/* Runs one task; returns 0, or non-zero for a failure (reported with the task's id and
 * message). Called on any rank, one task at a time per rank; it may use OpenMP inside. */
typedef int (*tsr_task_fn)(tsr_task *task, void *user);
/* Receives one successful task's result on rank 0, in increasing id order; a non-zero return
 * aborts the farm. The result memory is the farm's, valid during the call. */
typedef int (*tsr_result_fn)(int64_t id, const void *result, size_t bytes, void *user);

typedef struct tsr_farm_opts {
    int64_t ntasks;         /* tasks 0 .. ntasks-1 (>= 0) */
    tsr_chunk_policy chunk; /* default guided */
    size_t result_bytes;    /* largest result of one task (0: tasks return nothing) */
    size_t item_bytes;      /* bytes per item (0: tasks are bare ids) */
    const void *items;      /* rank 0 only: ntasks items of item_bytes, in id order; caller's */
    tsr_farm_on_error on_error;
    int64_t window;         /* rank 0 buffers at most this many results ahead of the next one it
                               delivers (0: 65536; static shares are never held back) */
    bool coordinator_works; /* with more than one rank, rank 0 also runs tasks (default true) */
    /* Progress on rank 0's stderr (default auto); the ETA uses the rate of completed tasks, and
     * a coordinator waiting for workers still prints when a line is due. */
    tsr_progress_mode progress;
    /* --progress and --quiet (choice -1: use `progress`; tsr_farm_add_options sets it from
     * `progress`, tsr_farm_create applies it). */
    tsr_progress_option progress_option;
    char chunk_text[TSR_OPT_STRLEN]; /* --chunk; parsed by tsr_farm_create when not "" */
    int on_error_choice; /* --on-error abort|continue, an index into the choices (-1: use
                            on_error; tsr_farm_add_options sets it from on_error) */
    /* The second coordinator level: ranks split into groups, the lowest rank of each group but
     * rank 0's takes batches of tasks from rank 0 and serves the rest of its group as rank 0
     * serves its own workers (it runs no tasks itself). TSR_FARM_GROUPS_AUTO (default): one
     * group per node (MPI_COMM_TYPE_SHARED), on with more than one node and at least
     * TSR_FARM_GROUPS_MIN_RANKS ranks; TSR_FARM_GROUPS_OFF; or N >= 2: groups of N consecutive
     * ranks, on whenever there are two groups. A group of one rank has no sub-coordinator: that
     * rank asks rank 0 directly. */
    int groups;
    char groups_text[TSR_OPT_STRLEN]; /* --farm-groups auto|off|N; parsed by tsr_farm_create
                                         when not "" */
} tsr_farm_opts;

#define TSR_FARM_GROUPS_AUTO 0
#define TSR_FARM_GROUPS_OFF (-1)
/* Below this many ranks one coordinator keeps up (bench/farm_sim.c, docs/PERFORMANCE.md): rank 0
 * saturates near 1000 workers with 1 ms tasks, while a second level costs a few points of
 * efficiency where it is not needed (79.4% against 83.3% at 100 workers and 10 ms). */
#define TSR_FARM_GROUPS_MIN_RANKS 1024

/* Defaults: no tasks, guided chunks, abort on error, rank 0 works, progress auto. */
void tsr_farm_opts_init(tsr_farm_opts *o);
/* Registers --chunk static|fixed:N|guided[:MIN], --on-error abort|continue, --farm-groups
 * auto|off|N, --progress auto|on|off and --quiet. Returns tsr_opts_error(opts): a failure is also
 * reported by tsr_opts_parse. Not collective. */
int tsr_farm_add_options(tsr_opts opts, tsr_farm_opts *o);

/* Creates a farm; rank 0 validates the options (ntasks, chunk policy, window, groups) and every
 * rank learns the verdict; then the ranks split into groups (see tsr_farm_opts.groups). opts is
 * copied; opts->items must outlive tsr_farm_run. Collective. */
int tsr_farm_create(tsr_ctx ctx, const tsr_farm_opts *opts, tsr_farm *farm);
/* Frees the farm and its communicator. Collective. */
int tsr_farm_destroy(tsr_farm *farm);

/* Runs every task exactly once across the ranks and delivers the results to `deliver` on rank 0
 * (may be NULL) in task order. A failure under TSR_FARM_ABORT stops the farm cleanly: every rank
 * returns TSR_ERR_KERNEL with the message "task <id> failed on rank <r>: <message>". Under
 * TSR_FARM_CONTINUE every task runs, rank 0 prints the failures (the first 20), and every rank
 * returns TSR_ERR_KERNEL naming how many failed and their ids. Collective; run once per farm. */
int tsr_farm_run(tsr_farm farm, tsr_task_fn task, tsr_result_fn deliver, void *user);

/* Per rank, what it did (filled on rank 0 for every rank after a run). */
typedef struct tsr_farm_worker {
    int64_t tasks;  /* tasks run */
    int64_t chunks; /* chunks received */
    double busy;    /* seconds inside task functions */
    int64_t serves; /* a sub-coordinator: the workers of its group (it runs no tasks; its chunks
                       are the batches it took from rank 0); 0 for the others */
} tsr_farm_worker;

typedef struct tsr_farm_stats {
    int64_t ntasks, failed;
    tsr_chunk_policy chunk; /* the policy the farm ran with (--chunk applied) */
    double seconds;         /* wall time of tsr_farm_run */
    double balance;         /* max / mean busy seconds over the ranks that work */
    int64_t max_buffered;   /* most results rank 0 held ahead of delivery */
    int nranks;
    /* Rank 0's work as coordinator (0 on other ranks and on one rank): the messages it handled
     * from the workers and sub-coordinators (a first request, then one per chunk: its results
     * and a want for the next; a sub-coordinator sends its want for the next batch apart, when
     * it has handed out the last), and the seconds it spent on them, from each message's arrival to
     * the answers sent (results stored, delivered in order, chunks handed out), waiting and its own
     * tasks left out. request_seconds / requests is its cost per request; the median and the
     * 99th percentile of the same times (to within 3%) tell its usual cost from the tail: page
     * faults for results buffered behind a slow worker and, with more ranks than cores, time
     * slices the system gave other ranks. */
    int64_t requests;
    double request_seconds;
    double request_median_seconds, request_p99_seconds;
    const tsr_farm_worker *workers; /* nranks entries on rank 0, NULL elsewhere; owned by farm */
    const int64_t *failed_ids;      /* `failed` ids in increasing order (rank 0); owned by farm */
} tsr_farm_stats;

/* What the last run did. Not collective. */
int tsr_farm_get_stats(tsr_farm farm, tsr_farm_stats *stats);
/* Rank 0 prints, per rank, tasks, chunks and busy seconds, then the totals, the task rate, the
 * balance and (with workers) its requests handled and their cost. Not collective. */
int tsr_farm_print_summary(tsr_farm farm, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
