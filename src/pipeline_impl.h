/* Private to the pipeline's files: the definition of a pipeline, its rank plan, and the state
 * of one rank while it runs (shared by the credit protocol in pipeline_link.c and the run loop
 * in pipeline_run.c). */
#ifndef TSR_PIPELINE_IMPL_H
#define TSR_PIPELINE_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg_impl.h"
#include "tessera/options.h"
#include "tessera/pipeline.h"

/* Item messages: the index, padding for alignment, then the bytes. */
#define HDR 16
#define NAME_LEN 64

typedef struct stage_def {
    char name[NAME_LEN];
    tsr_stage_fn fn;
    void *user;
    size_t max_out;
    double cost;
    int ranks;
} stage_def;

/* The assignment, computed on rank 0 and broadcast. */
typedef struct plan {
    int nstages, ngroups, nranks;
    int first[TSR_PIPELINE_MAX_STAGES], last[TSR_PIPELINE_MAX_STAGES]; /* stages of a group */
    int rank0[TSR_PIPELINE_MAX_STAGES], size[TSR_PIPELINE_MAX_STAGES]; /* its ranks */
    int credits[TSR_PIPELINE_MAX_STAGES + 1];                          /* per link */
    int window;
} plan;

struct tsr_pipeline_s {
    tsr_ctx ctx;
    stage_def source, sink;
    bool has_source, has_sink;
    stage_def stages[TSR_PIPELINE_MAX_STAGES];
    int nstages;         /* stages added; may exceed the maximum, which run reports */
    int credits;         /* 0: default */
    bool oversubscribed; /* rank 0's node: deeper default credits */
    char stage_ranks[TSR_OPT_STRLEN];
    bool started, finished;
    plan plan;
    tsr_stage_stats stats[TSR_PIPELINE_MAX_STAGES + 2]; /* source, stages, sink */
    tsr_link_stats links[TSR_PIPELINE_MAX_STAGES + 1];
    int nlinks;
    double wall;
    tsr_progress_mode progress; /* items through the sink, on rank 0 */
    int64_t progress_items;     /* expected items (0: no progress) */
};

/* ---- the rank planner (pipeline_plan.c): pure, no MPI ---- */

/* Checks p's stages, costs, requested counts and credits and assigns P ranks: rank 0 the source
 * and sink, the others contiguous groups of stages, plus each link's credits and the source
 * window. TSR_ERR_INPUT naming the problem (reported on ctx, which may be NULL). */
int tsr__pipe_make_plan(tsr_pipeline p, int P, plan *pl);

/* ---- one rank's run state ---- */

/* This rank as the receiving end of a link. */
typedef struct inlink {
    int base, n;  /* the senders: ranks base .. base+n-1 */
    bool eager;   /* one sender: it gets every free slot without asking */
    int slots;    /* this rank's share of the link's credits */
    int free;     /* slots neither granted nor holding an item */
    int held;     /* items received and not yet passed on */
    int peak;     /* most held at once */
    int *given;   /* per sender: credits granted, not yet used or given back */
    bool *eos;    /* per sender: it sent end of stream */
    bool *queued; /* per sender: a request waits in the queue */
    int *queue;   /* senders asking for a credit, first come first served */
    int qhead, qlen, neos;
} inlink;

/* This rank as the sending end of a link. */
typedef struct outlink {
    int base, n;  /* the receivers */
    bool eager;   /* this rank is the link's only sender */
    int *credits; /* per receiver */
    bool *asked;  /* per receiver: a request is outstanding */
    int total, rr;
} outlink;

/* An item held by a group rank. */
typedef struct slot {
    unsigned char *buf; /* HDR bytes, then the data */
    size_t cap, len;
    int64_t index;
    int state; /* SLOT_FREE, SLOT_IN (to compute), SLOT_OUT (computed, to send) */
} slot;
enum { SLOT_FREE, SLOT_IN, SLOT_OUT };

typedef struct run {
    tsr_pipeline p;
    tsr_ctx ctx;
    tsr_progress prog;
    const plan *pl;
    int rank, size, group;
    tsr__outbox ob;
    tsr__msg m;
    bool aborted; /* another rank failed */
    bool nap;     /* oversubscribed node: wait in naps, not in a busy probe */
    inlink in;
    outlink out;
    int64_t items[TSR_PIPELINE_MAX_STAGES + 2];
    double busy[TSR_PIPELINE_MAX_STAGES + 2];
    /* group ranks */
    slot *slots;
    int nslots;
    unsigned char *work[2];
    size_t work_cap;
    /* rank 0 */
    slot *reorder; /* window entries, item i at i % window */
    int64_t next_emit, next_deliver;
    bool source_done;
} run;

/* ---- the credit protocol of a link (pipeline_link.c) ---- */

/* Allocates this rank's ends of its links and grants an eager sender its credits. */
int tsr__pipe_setup_links(run *r);
/* Handles every message already there, or waits for one (wait) first. */
int tsr__pipe_poll(run *r, bool wait);
/* Sends an item (buf from malloc, HDR bytes then len) to the next receiver holding a credit;
 * the outbox takes the buffer. The caller checked r->out.total > 0. */
int tsr__pipe_send_item(run *r, unsigned char *buf, size_t len, int64_t index);
/* End of stream to every receiver. */
int tsr__pipe_send_eos(run *r);
/* An item held was passed on (or buffered by the sink): its slot is granted again. */
int tsr__pipe_released_item(run *r);
/* A shared link's sender asks for credits when waiting, gives them back when it holds nothing. */
int tsr__pipe_ask_or_return(run *r, bool waiting);

/* Stage s: -1 the source, nstages the sink. */
const stage_def *tsr__pipe_stage_of(const tsr_pipeline p, int s);

#endif
