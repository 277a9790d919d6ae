/* The task farm's private parts, shared by farm.c (options, create, the run), farm_coord.c (rank
 * 0), farm_group.c (the groups and their sub-coordinators), farm_worker.c (the workers) and
 * farm_stats.c (what a run did).
 *
 * Protocol, on the farm's own communicator, every send an Issend through the outbox:
 *   worker -> 0  REQUEST {wants, first, count} + per-task {status, length} + bytes: the results
 *                of one chunk (count 0 on the first request) and how many more chunks it wants
 *                (2 at first: one to run, one queued, so rank 0's latency is hidden);
 *   0 -> worker  WORK {first, count} + the items: one chunk per want, count 0 meaning stop;
 *   0 -> worker  ABORT: skip whatever is left.
 * Rank 0 keeps the handed-out chunks in id order and hands out nothing beyond `window` tasks
 * past the first undelivered one; a want that does not fit is parked until delivery moves on.
 * The oldest chunk is always held by a rank that is running it, so parking cannot deadlock.
 *
 * With groups (farm_group.c) a sub-coordinator is, to rank 0, a worker whose chunks (batches)
 * are `served` times larger; it sends each batch's results, whole and in id order, once every
 * task of it has ended, and its want for the next batch apart (kind REQ_WANTS) as soon as it has
 * handed out the last of one. To its group's workers, which send to it instead of rank 0, it is
 * rank 0: it cuts its batches into chunks for their wants. Under TSR_FARM_ABORT it reports a
 * failed task at once (kind REQ_FAILURE: {0, id, 1} + its record and message); rank 0 still
 * sends ABORT to every rank itself. The oldest batch's tasks are handed out before any other's,
 * so parking still cannot deadlock. */
#ifndef TESSERA_FARM_IMPL_H
#define TESSERA_FARM_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "msg_impl.h"
#include "qhist_impl.h"
#include "tessera/farm.h"
#include "tessera/report.h"

#define DEFAULT_WINDOW 65536
/* Largest item or result; chunks are cut so that no message exceeds about twice this. */
#define MAX_PIECE ((size_t)1 << 30)
#define MAX_PRINTED_FAILURES 20
#define MAX_LISTED_IDS 10

struct tsr_farm_s {
    tsr_ctx ctx;
    MPI_Comm comm;
    int rank, size;
    tsr_farm_opts o; /* validated; o.items only on rank 0 */
    int64_t window;
    bool ran;
    tsr_farm_worker me;       /* this rank's counts in the last run */
    tsr_farm_worker *workers; /* rank 0: every rank's */
    int64_t *failed_ids, nfailed, max_buffered;
    double seconds, balance;
    int64_t requests;         /* rank 0: messages handled from the workers */
    double request_seconds;   /* rank 0: time spent on them */
    tsr__qhist request_times; /* rank 0: their distribution (median, tail) */
    /* groups (farm_group.c) */
    int parent;      /* where this rank's requests go: 0, or its group's sub-coordinator */
    int members;     /* a sub-coordinator: the workers it serves (0 on other ranks) */
    int children;    /* rank 0: ranks that ask it directly */
    int nsub;        /* sub-coordinators in the farm */
    int64_t *served; /* rank 0: per rank, the workers behind its wants (1, a group's, or 0) */
};

/* ---- wire format ---- */

enum { REQ_RESULTS, REQ_FAILURE, REQ_WANTS };

typedef struct req_hdr {
    int64_t wants, first, count;
    int64_t kind; /* REQ_*; also makes it 32 bytes, so what follows is 16-aligned */
} req_hdr;

typedef struct work_hdr {
    int64_t first, count;
} work_hdr;

/* One task's outcome in a results block: status 0 and the result's length, or the task's
 * non-zero return and the length of its message (the message text takes the result's place). */
typedef struct task_rec {
    int32_t status;
    int32_t rank; /* the rank that ran it, since a batch holds the tasks of a whole group */
    uint64_t len;
} task_rec;

/* A growable byte buffer holding a results block: req_hdr, count task_recs, then the bytes. */
typedef struct rbuf {
    unsigned char *p;
    size_t len, cap;
} rbuf;

/* Every result takes a multiple of 16 bytes in a block, so each one starts 16-aligned. */
static inline size_t padded(size_t len) {
    return (len + 15) & ~(size_t)15;
}

static inline size_t rec_offset(int64_t i) {
    return sizeof(req_hdr) + (size_t)i * sizeof(task_rec);
}

static inline task_rec get_rec(const rbuf *b, int64_t i) {
    task_rec r;
    memcpy(&r, b->p + rec_offset(i), sizeof r);
    return r;
}

/* ---- small FIFO of fixed-size elements ---- */

typedef struct fifo {
    unsigned char *a;
    size_t esz;
    int head, n, cap;
} fifo;

static inline void *fifo_at(const fifo *q, int i) {
    return q->a + (size_t)(q->head + i) * q->esz;
}

static inline void fifo_pop(fifo *q) {
    q->head++;
    if (--q->n == 0)
        q->head = 0;
}

/* A chunk handed out by rank 0, until its last result is delivered. */
typedef struct chunk {
    int64_t first, count;
    int owner;
    int64_t avail;     /* results present, from the first */
    int64_t delivered; /* results passed on (or reported as failures) */
    size_t doff;       /* offset of the next result to deliver in res */
    rbuf res;          /* results block (empty until results arrive; rank 0's grows) */
} chunk;

typedef struct run {
    tsr_farm f;
    tsr_ctx ctx;
    tsr_task_fn fn;
    tsr_result_fn deliver;
    void *user;
    tsr__outbox ob;
    tsr__msg m;
    /* rank 0 */
    int working;       /* ranks that run tasks */
    int64_t share;     /* static: tasks per working rank */
    int64_t window;    /* tasks handed out past the first undelivered one */
    int64_t max_chunk; /* keeps messages under the size limit */
    int64_t next;      /* next id to hand out */
    int64_t buffered;  /* results held ahead of delivery */
    int64_t received;  /* results in (progress) */
    int64_t *given;    /* tasks handed to each rank (static) */
    fifo chunks;       /* chunk *, in id order */
    fifo parked;       /* int ranks whose wants wait for the window */
    fifo failed;       /* int64_t ids */
    int started;       /* workers whose first request arrived */
    bool aborting;
    int verdict; /* the farm's outcome (TSR_ERR_KERNEL on failures) */
    tsr_progress prog;
} run;

/* A worker's state. */
typedef struct wstate {
    fifo held; /* rbuf: WORK messages not yet run */
    int64_t asked, replies;
    bool stopped, aborted, halted;
} wstate;

/* The header of a chunk or batch of tasks received in m, checked against its length. */
int tsr__farm_work_hdr(run *r, const tsr__msg *m, work_hdr *h, const char *what);
/* Makes room for `extra` more bytes. Not collective. */
int tsr__farm_rbuf_reserve(tsr_ctx ctx, rbuf *b, size_t extra);
/* Grows a FIFO by one element (copied from e). Not collective. */
int tsr__farm_fifo_push(tsr_ctx ctx, fifo *q, const void *e);
/* Starts a results block for `count` tasks from `first`: the header and an empty table. */
int tsr__farm_results_begin(tsr_ctx ctx, rbuf *b, int64_t first, int64_t count);
/* Runs task `id` as entry i of the results block b, appending its result or message. */
int tsr__farm_run_task(run *r, rbuf *b, int64_t i, int64_t id, const void *item, int *status);

/* Rank 0 (farm_coord.c): the farm fails, every worker is told; the coordinator's loop; the
 * verdict and failed ids after it. */
int tsr__farm_start_abort(run *r);
int tsr__farm_coord_loop(run *r);
int tsr__farm_coord_finish(run *r);
/* The groups (farm_group.c): splits the ranks after the options are agreed (collective); a
 * sub-coordinator's loop. */
int tsr__farm_groups_setup(tsr_farm f);
int tsr__farm_sub_loop(run *r);
/* The workers (farm_worker.c). */
int tsr__farm_worker_loop(run *r, wstate *s);
/* After a run (farm_stats.c): every rank's counts to rank 0, the balance and the report JSON.
 * Collective. */
int tsr__farm_gather_stats(tsr_farm f);

#endif
