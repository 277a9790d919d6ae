/* Pipeline: rank 0 runs the source and the sink, the other ranks form groups that each run a
 * contiguous range of stages fused on every item. Items move between consecutive groups with
 * credits; rank 0 reorders what reaches the sink and bounds the items it has emitted but not yet
 * delivered (the source window), so its reorder buffer stays bounded.
 *
 * Credits on a link with one sender are granted eagerly (it is the only one who can use them).
 * With several senders they are granted on request and given back by a sender that goes idle:
 * a credit never sits with a rank that has nothing to send, which is what would deadlock once
 * the source window is full and the oldest item waits for a credit parked elsewhere. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "msg_impl.h"
#include "tessera/options.h"
#include "tessera/pipeline.h"
#include "tessera/report.h"

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
    int nstages; /* stages added; may exceed the maximum, which run reports */
    int credits; /* 0: default */
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

int tsr_pipeline_create(tsr_ctx ctx, tsr_pipeline *pipeline) {
    if (!pipeline)
        return TSR_ERR_ARG;
    *pipeline = NULL;
    tsr_pipeline p = NULL;
    TSR_CALL(ctx, tsr__calloc(ctx, 1, sizeof *p, &p));
    p->ctx = ctx;
    *pipeline = p;
    return TSR_SUCCESS;
}

int tsr_pipeline_destroy(tsr_pipeline *pipeline) {
    if (!pipeline || !*pipeline)
        return TSR_SUCCESS;
    free(*pipeline);
    *pipeline = NULL;
    return TSR_SUCCESS;
}

static int set_def(tsr_pipeline p, stage_def *d, const char *name, tsr_stage_fn fn, void *user,
                   size_t max_out) {
    TSR_CHECK(p->ctx, name && fn, TSR_ERR_ARG, "pipeline: a stage needs a name and a function");
    TSR_CHECK(p->ctx, max_out <= (size_t)INT_MAX - HDR, TSR_ERR_ARG,
              "pipeline: stage '%s' max_out_bytes %zu exceeds a message", name, max_out);
    snprintf(d->name, sizeof d->name, "%s", name);
    d->fn = fn;
    d->user = user;
    d->max_out = max_out;
    return TSR_SUCCESS;
}

int tsr_pipeline_set_source(tsr_pipeline p, const char *name, tsr_stage_fn fn, void *user,
                            size_t max_out_bytes) {
    if (!p)
        return TSR_ERR_ARG;
    TSR_CALL(p->ctx, set_def(p, &p->source, name, fn, user, max_out_bytes));
    p->has_source = true;
    return TSR_SUCCESS;
}

int tsr_pipeline_add_stage(tsr_pipeline p, const char *name, tsr_stage_fn fn, void *user,
                           size_t max_out_bytes, double cost, int ranks) {
    if (!p)
        return TSR_ERR_ARG;
    /* Too many stages, bad costs and counts are reported by rank 0 when the pipeline runs. */
    if (p->nstages < TSR_PIPELINE_MAX_STAGES) {
        stage_def *d = &p->stages[p->nstages];
        TSR_CALL(p->ctx, set_def(p, d, name, fn, user, max_out_bytes));
        d->cost = cost;
        d->ranks = ranks;
    }
    p->nstages++;
    return TSR_SUCCESS;
}

int tsr_pipeline_set_sink(tsr_pipeline p, const char *name, tsr_stage_fn fn, void *user) {
    if (!p)
        return TSR_ERR_ARG;
    TSR_CALL(p->ctx, set_def(p, &p->sink, name, fn, user, 0));
    p->has_sink = true;
    return TSR_SUCCESS;
}

int tsr_pipeline_set_progress(tsr_pipeline p, tsr_progress_mode mode, int64_t items) {
    if (!p)
        return TSR_ERR_ARG;
    p->progress = items > 0 ? mode : TSR_PROGRESS_OFF;
    p->progress_items = items;
    return TSR_SUCCESS;
}

int tsr_pipeline_set_credits(tsr_pipeline p, int credits) {
    if (!p)
        return TSR_ERR_ARG;
    p->credits = credits;
    return TSR_SUCCESS;
}

int tsr_pipeline_set_stage_ranks(tsr_pipeline p, const char *list) {
    if (!p)
        return TSR_ERR_ARG;
    TSR_CHECK(p->ctx, !list || strlen(list) < sizeof p->stage_ranks, TSR_ERR_INPUT,
              "--stage-ranks: list longer than %zu characters", sizeof p->stage_ranks - 1);
    snprintf(p->stage_ranks, sizeof p->stage_ranks, "%s", list ? list : "");
    return TSR_SUCCESS;
}

/* ---- assignment (rank 0) ---- */

/* Parses "2,1,1" into counts; TSR_ERR_INPUT naming the problem. */
static int parse_counts(tsr_pipeline p, int counts[TSR_PIPELINE_MAX_STAGES]) {
    tsr_ctx ctx = p->ctx;
    const char *s = p->stage_ranks;
    int n = 0;
    for (;;) {
        char *end = NULL;
        long v = s[0] >= '0' && s[0] <= '9' ? strtol(s, &end, 10) : -1;
        TSR_CHECK(ctx, v >= 0 && end && (*end == ',' || *end == '\0') && v <= INT_MAX,
                  TSR_ERR_INPUT,
                  "--stage-ranks '%s' is malformed: expected one count per stage, like 2,1,1",
                  p->stage_ranks);
        if (n < TSR_PIPELINE_MAX_STAGES)
            counts[n] = (int)v;
        n++;
        if (*end == '\0')
            break;
        s = end + 1;
    }
    TSR_CHECK(ctx, n == p->nstages, TSR_ERR_INPUT, "--stage-ranks has %d count%s for %d stage%s", n,
              n == 1 ? "" : "s", p->nstages, p->nstages == 1 ? "" : "s");
    for (int i = 0; i < n; i++)
        TSR_CHECK(ctx, counts[i] >= 1, TSR_ERR_INPUT,
                  "--stage-ranks gives stage '%s' %d ranks; every stage needs at least 1",
                  p->stages[i].name, counts[i]);
    return TSR_SUCCESS;
}

/* Ranks per stage when there are at least as many as stages: the requested counts, else one
 * each plus the rest one by one to the stage with the largest cost per rank. */
static int share_ranks(tsr_pipeline p, int avail, int counts[TSR_PIPELINE_MAX_STAGES]) {
    tsr_ctx ctx = p->ctx;
    int S = p->nstages, fixed = 0, nfree = 0;
    for (int s = 0; s < S; s++) {
        counts[s] = p->stages[s].ranks > 0 ? p->stages[s].ranks : 1;
        if (p->stages[s].ranks > 0)
            fixed += p->stages[s].ranks;
        else
            nfree++;
    }
    TSR_CHECK(ctx, (int64_t)fixed + nfree <= avail, TSR_ERR_INPUT,
              "the stages ask for %d ranks (%d requested, 1 for each of the %d others) but %d are "
              "available for stages",
              fixed + nfree, fixed, nfree, avail);
    for (int rest = avail - fixed - nfree; rest > 0; rest--) {
        int best = -1;
        for (int s = 0; s < S; s++) {
            if (nfree > 0 && p->stages[s].ranks > 0)
                continue; /* requested counts are exact while others can take the rest */
            if (best < 0 || p->stages[s].cost / counts[s] > p->stages[best].cost / counts[best])
                best = s;
        }
        counts[best]++;
    }
    return TSR_SUCCESS;
}

/* Cuts S stages into k contiguous groups minimising the largest summed cost. */
static void cut_stages(const tsr_pipeline p, int k, int last[TSR_PIPELINE_MAX_STAGES]) {
    enum { M = TSR_PIPELINE_MAX_STAGES + 1 };
    int S = p->nstages;
    double pre[M] = {0}, best[M][M];
    int from[M][M];
    for (int s = 0; s < S; s++)
        pre[s + 1] = pre[s] + p->stages[s].cost;
    /* best[g][i]: the first i stages in g groups. */
    for (int g = 0; g <= k; g++)
        for (int i = 0; i <= S; i++)
            best[g][i] = INFINITY;
    best[0][0] = 0;
    for (int g = 1; g <= k; g++)
        for (int i = g; i <= S; i++)
            for (int j = g - 1; j < i; j++) {
                double v = fmax(best[g - 1][j], pre[i] - pre[j]);
                if (v < best[g][i]) {
                    best[g][i] = v;
                    from[g][i] = j;
                }
            }
    for (int g = k, i = S; g >= 1; g--) {
        last[g - 1] = i - 1;
        i = from[g][i];
    }
}

static int make_plan(tsr_pipeline p, int P, plan *pl) {
    tsr_ctx ctx = p->ctx;
    int S = p->nstages;
    memset(pl, 0, sizeof *pl);
    TSR_CHECK(ctx, p->has_source, TSR_ERR_INPUT, "pipeline: no source set");
    TSR_CHECK(ctx, p->has_sink, TSR_ERR_INPUT, "pipeline: no sink set");
    TSR_CHECK(ctx, S >= 1 && S <= TSR_PIPELINE_MAX_STAGES, TSR_ERR_INPUT,
              "pipeline: %d stages, expected 1 to %d", S, TSR_PIPELINE_MAX_STAGES);
    for (int s = 0; s < S; s++) {
        TSR_CHECK(ctx, p->stages[s].cost > 0 && isfinite(p->stages[s].cost), TSR_ERR_INPUT,
                  "pipeline: stage '%s' has cost %g, expected > 0", p->stages[s].name,
                  p->stages[s].cost);
        TSR_CHECK(ctx, p->stages[s].ranks >= 0, TSR_ERR_INPUT,
                  "pipeline: stage '%s' asks for %d ranks, expected >= 0", p->stages[s].name,
                  p->stages[s].ranks);
    }
    TSR_CHECK(ctx, p->credits >= 0, TSR_ERR_INPUT, "pipeline: credits %d, expected >= 1",
              p->credits);
    pl->nstages = S;
    pl->nranks = P;
    int counts[TSR_PIPELINE_MAX_STAGES] = {0};
    if (p->stage_ranks[0])
        TSR_CALL(ctx, parse_counts(p, counts));
    if (P == 1)
        return TSR_SUCCESS; /* rank 0 runs everything: no groups, no links */
    int avail = P - 1;
    if (p->stage_ranks[0]) {
        int64_t sum = 0;
        for (int s = 0; s < S; s++)
            sum += counts[s];
        TSR_CHECK(ctx, sum == avail, TSR_ERR_INPUT,
                  "--stage-ranks %s gives %lld rank%s but %d %s available for stages (%d rank%s "
                  "minus the coordinator)",
                  p->stage_ranks, (long long)sum, sum == 1 ? "" : "s", avail,
                  avail == 1 ? "is" : "are", P, P == 1 ? "" : "s");
    } else if (avail >= S) {
        TSR_CALL(ctx, share_ranks(p, avail, counts));
    }
    if (avail >= S) {
        pl->ngroups = S;
        for (int s = 0; s < S; s++) {
            pl->first[s] = pl->last[s] = s;
            pl->size[s] = counts[s];
        }
    } else {
        pl->ngroups = avail;
        cut_stages(p, avail, pl->last);
        for (int g = 0; g < avail; g++) {
            pl->first[g] = g ? pl->last[g - 1] + 1 : 0;
            pl->size[g] = 1;
        }
    }
    int64_t window = P - 1;
    for (int g = 0, r = 1; g < pl->ngroups; g++) {
        pl->rank0[g] = r;
        r += pl->size[g];
    }
    for (int l = 0; l <= pl->ngroups; l++) {
        int nrecv = l < pl->ngroups ? pl->size[l] : 1;
        int64_t c = p->credits > 0 ? (p->credits > nrecv ? p->credits : nrecv) : 2 * (int64_t)nrecv;
        TSR_CHECK(ctx, c <= INT_MAX / 4, TSR_ERR_INPUT, "pipeline: %lld credits are too many",
                  (long long)c);
        pl->credits[l] = (int)c;
        window += c;
    }
    TSR_CHECK(ctx, window <= INT_MAX / 4, TSR_ERR_INPUT, "pipeline: %lld credits are too many",
              (long long)window);
    pl->window = (int)window;
    return TSR_SUCCESS;
}

/* ---- running ---- */

enum { OP_GRANT = 1, OP_REQUEST, OP_RETURN };
typedef struct ctl {
    int32_t op, count;
} ctl;

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

static const stage_def *stage_of(const tsr_pipeline p, int s) {
    return s < 0 ? &p->source : s >= p->nstages ? &p->sink : &p->stages[s];
}

/* Calls stage s (-1 the source, S the sink) and checks what it did. */
static int call_stage(run *r, int s, tsr_item *it) {
    tsr_ctx ctx = r->ctx;
    const stage_def *d = stage_of(r->p, s);
    size_t room = it->out_bytes;
    it->message[0] = '\0';
    it->rank = r->rank;
    double t0 = tsr_wtime();
    int rc = d->fn(it, d->user);
    double dt = tsr_wtime() - t0;
    r->busy[s + 1] += dt;
    tsr_ctx_timer_add(ctx, TSR_TIMER_COMPUTE, dt); /* for the run report */
    if (rc != 0) {
        it->message[sizeof it->message - 1] = '\0';
        if (it->message[0])
            return tsr_error_set(ctx, TSR_ERR_KERNEL, __FILE__, __LINE__, __func__,
                                 "stage '%s' failed on item %lld: %s", d->name,
                                 (long long)it->index, it->message);
        return tsr_error_set(ctx, TSR_ERR_KERNEL, __FILE__, __LINE__, __func__,
                             "stage '%s' failed on item %lld: returned %d", d->name,
                             (long long)it->index, rc);
    }
    if (s < 0 && it->end)
        return TSR_SUCCESS;
    TSR_CHECK(ctx, s >= r->p->nstages || it->out_bytes <= room, TSR_ERR_KERNEL,
              "stage '%s' failed on item %lld: produced %zu bytes, more than its max_out_bytes "
              "%zu",
              d->name, (long long)it->index, it->out_bytes, room);
    r->items[s + 1]++;
    if (s == r->p->nstages)
        tsr_progress_update(&r->prog, r->items[s + 1]);
    return TSR_SUCCESS;
}

static int send_ctl(run *r, int dest, int op, int count) {
    ctl c = {op, count};
    return tsr__outbox_send(&r->ob, &c, sizeof c, dest, TSR_TAG_PIPE_CREDIT);
}

/* Grants free slots: all to an eager sender, else one per waiting request. */
static int grant(run *r) {
    inlink *in = &r->in;
    if (in->eager) {
        if (in->free > 0 && !in->eos[0]) {
            in->given[0] += in->free;
            int n = in->free;
            in->free = 0;
            TSR_CALL(r->ctx, send_ctl(r, in->base, OP_GRANT, n));
        }
        return TSR_SUCCESS;
    }
    while (in->free > 0 && in->qlen > 0) {
        int s = in->queue[in->qhead];
        in->qhead = (in->qhead + 1) % in->n;
        in->qlen--;
        in->queued[s] = false;
        if (in->eos[s])
            continue;
        in->free--;
        in->given[s]++;
        TSR_CALL(r->ctx, send_ctl(r, in->base + s, OP_GRANT, 1));
    }
    return TSR_SUCCESS;
}

/* An item arrived from sender s (position in the link). */
static void took_item(run *r, int s) {
    r->in.given[s]--;
    if (++r->in.held > r->in.peak)
        r->in.peak = r->in.held;
}

/* An item held was passed on (or buffered by the sink): its slot is free again. */
static int released_item(run *r) {
    r->in.held--;
    r->in.free++;
    return grant(r);
}

static int sender_pos(run *r, int src, int *s) {
    *s = src - r->in.base;
    TSR_CHECK(r->ctx, *s >= 0 && *s < r->in.n, TSR_ERR_INTERNAL,
              "pipeline: rank %d got a message from rank %d, not one of its senders", r->rank, src);
    return TSR_SUCCESS;
}

/* Moves the received item into slot e without copying: the slot takes the receive buffer and
 * gives its old one back for the next receive. */
static void take_message(run *r, slot *e, int64_t index, int state) {
    unsigned char *b = e->buf;
    size_t cap = e->cap;
    e->buf = r->m.buf;
    e->cap = r->m.cap;
    e->len = r->m.len - HDR;
    e->index = index;
    e->state = state;
    r->m.buf = b;
    r->m.cap = cap;
}

/* Stores an arriving item on rank 0 for the sink. */
static int store_for_sink(run *r, int64_t index) {
    int W = r->pl->window;
    TSR_CHECK(r->ctx, index >= r->next_deliver && index < r->next_deliver + W, TSR_ERR_INTERNAL,
              "pipeline: item %lld outside the window [%lld, %lld)", (long long)index,
              (long long)r->next_deliver, (long long)(r->next_deliver + W));
    slot *e = &r->reorder[index % W];
    TSR_CHECK(r->ctx, e->state == SLOT_FREE, TSR_ERR_INTERNAL,
              "pipeline: item %lld delivered twice", (long long)index);
    take_message(r, e, index, SLOT_OUT);
    return TSR_SUCCESS;
}

/* Keeps an arriving item on a group rank. */
static int store_in_slot(run *r, int64_t index) {
    int k = 0;
    while (k < r->nslots && r->slots[k].state != SLOT_FREE)
        k++;
    if (k == r->nslots) {
        /* Only if a sender broke the credit rule; the instrument then shows it. */
        slot *g = realloc(r->slots, (size_t)(r->nslots + 1) * sizeof *g);
        TSR_CHECK(r->ctx, g, TSR_ERR_MEMORY, "cannot grow the item slots");
        r->slots = g;
        memset(&r->slots[r->nslots++], 0, sizeof *g);
    }
    take_message(r, &r->slots[k], index, SLOT_IN);
    return TSR_SUCCESS;
}

static int handle(run *r) {
    tsr_ctx ctx = r->ctx;
    tsr__msg *m = &r->m;
    switch (m->tag) {
    case TSR_TAG_PIPE_ABORT:
        r->aborted = true;
        return TSR_SUCCESS;
    case TSR_TAG_PIPE_ITEM: {
        int s;
        TSR_CALL(ctx, sender_pos(r, m->source, &s));
        TSR_CHECK(ctx, m->len >= HDR, TSR_ERR_INTERNAL, "pipeline: short item message");
        int64_t index;
        memcpy(&index, m->buf, sizeof index);
        took_item(r, s);
        if (r->rank == 0) {
            TSR_CALL(ctx, store_for_sink(r, index));
            return released_item(r); /* buffered: no longer in flight on the link */
        }
        return store_in_slot(r, index);
    }
    case TSR_TAG_PIPE_EOS: {
        int s;
        TSR_CALL(ctx, sender_pos(r, m->source, &s));
        TSR_CHECK(ctx, !r->in.eos[s], TSR_ERR_INTERNAL, "pipeline: end of stream sent twice");
        r->in.eos[s] = true;
        r->in.neos++;
        /* Its unused credits come back. */
        r->in.free += r->in.given[s];
        r->in.given[s] = 0;
        return grant(r);
    }
    case TSR_TAG_PIPE_CREDIT: {
        ctl c;
        TSR_CHECK(ctx, m->len == sizeof c, TSR_ERR_INTERNAL, "pipeline: bad credit message");
        memcpy(&c, m->buf, sizeof c);
        if (c.op == OP_GRANT) {
            int d = m->source - r->out.base;
            TSR_CHECK(ctx, d >= 0 && d < r->out.n, TSR_ERR_INTERNAL,
                      "pipeline: rank %d got a credit from rank %d, not one of its receivers",
                      r->rank, m->source);
            r->out.credits[d] += c.count;
            r->out.total += c.count;
            r->out.asked[d] = false;
            return TSR_SUCCESS;
        }
        int s;
        TSR_CALL(ctx, sender_pos(r, m->source, &s));
        if (c.op == OP_REQUEST) {
            if (!r->in.queued[s] && !r->in.eos[s]) {
                r->in.queue[(r->in.qhead + r->in.qlen) % r->in.n] = s;
                r->in.qlen++;
                r->in.queued[s] = true;
            }
        } else {
            r->in.given[s] -= c.count;
            r->in.free += c.count;
        }
        return grant(r);
    }
    default:
        TSR_CHECK(ctx, 0, TSR_ERR_INTERNAL, "pipeline: unexpected message tag %d from rank %d",
                  m->tag, m->source);
    }
}

/* Handles every message already there, or waits for one. */
static int poll(run *r, bool wait) {
    bool got = true;
    while (got && !r->aborted) {
        TSR_CALL(r->ctx, tsr__msg_recv(&r->ob, wait, &r->m, &got));
        if (got)
            TSR_CALL(r->ctx, handle(r));
        wait = false;
    }
    return TSR_SUCCESS;
}

/* Sends an item (buf from malloc, HDR bytes then len) to the next receiver holding a credit;
 * the outbox takes the buffer. */
static int send_item(run *r, unsigned char *buf, size_t len, int64_t index) {
    outlink *o = &r->out;
    int d = o->rr;
    while (o->credits[d] == 0)
        d = (d + 1) % o->n;
    o->rr = (d + 1) % o->n;
    o->credits[d]--;
    o->total--;
    memcpy(buf, &index, sizeof index);
    return tsr__outbox_send_owned(&r->ob, buf, HDR + len, o->base + d, TSR_TAG_PIPE_ITEM);
}

static int send_eos(run *r) {
    for (int d = 0; d < r->out.n; d++)
        TSR_CALL(r->ctx, tsr__outbox_send(&r->ob, NULL, 0, r->out.base + d, TSR_TAG_PIPE_EOS));
    return TSR_SUCCESS;
}

/* A shared link's sender asks every receiver it has not asked yet when it waits for a credit, and
 * gives credits back when it holds no item. */
static int ask_or_return(run *r, bool waiting) {
    outlink *o = &r->out;
    if (o->eager)
        return TSR_SUCCESS;
    if (waiting && o->total == 0) {
        for (int d = 0; d < o->n; d++)
            if (!o->asked[d]) {
                o->asked[d] = true;
                TSR_CALL(r->ctx, send_ctl(r, o->base + d, OP_REQUEST, 0));
            }
    } else if (r->in.held == 0 && o->total > 0) {
        for (int d = 0; d < o->n; d++)
            if (o->credits[d] > 0) {
                TSR_CALL(r->ctx, send_ctl(r, o->base + d, OP_RETURN, o->credits[d]));
                o->credits[d] = 0;
            }
        o->total = 0;
    }
    return TSR_SUCCESS;
}

/* The lowest-index slot in a state, or -1. */
static int lowest(const run *r, int state) {
    int best = -1;
    for (int k = 0; k < r->nslots; k++)
        if (r->slots[k].state == state && (best < 0 || r->slots[k].index < r->slots[best].index))
            best = k;
    return best;
}

/* Runs the group's stages on one item, ping-ponging between the work buffers; the result takes
 * the slot's place and the slot's buffer becomes a work buffer. */
static int compute(run *r, slot *e) {
    tsr_ctx ctx = r->ctx;
    const plan *pl = r->pl;
    const unsigned char *in = e->buf + HDR;
    size_t in_bytes = e->len;
    int k = 0;
    for (int s = pl->first[r->group]; s <= pl->last[r->group]; s++, k ^= 1) {
        tsr_item it = {.index = e->index,
                       .in = in,
                       .in_bytes = in_bytes,
                       .out = r->work[k] + HDR,
                       .out_bytes = r->p->stages[s].max_out};
        TSR_CALL(ctx, call_stage(r, s, &it));
        in = r->work[k] + HDR;
        in_bytes = it.out_bytes;
    }
    k ^= 1; /* the buffer written last */
    unsigned char *b = e->buf;
    size_t cap = e->cap;
    e->buf = r->work[k];
    e->cap = r->work_cap;
    e->len = in_bytes;
    e->state = SLOT_OUT;
    if (cap < r->work_cap) {
        unsigned char *g = realloc(b, r->work_cap);
        if (!g)
            free(b);
        b = g;
    }
    r->work[k] = b;
    TSR_CHECK(ctx, b, TSR_ERR_MEMORY, "cannot allocate a %zu-byte item buffer", r->work_cap);
    return TSR_SUCCESS;
}

static int group_loop(run *r) {
    tsr_ctx ctx = r->ctx;
    for (;;) {
        TSR_CALL(ctx, poll(r, false));
        if (r->aborted)
            return TSR_SUCCESS;
        /* Pass on computed items, oldest first, while credits last. */
        int k;
        while (r->out.total > 0 && (k = lowest(r, SLOT_OUT)) >= 0) {
            slot *e = &r->slots[k];
            unsigned char *b = e->buf;
            e->buf = NULL;
            e->cap = 0;
            e->state = SLOT_FREE;
            TSR_CALL(ctx, send_item(r, b, e->len, e->index));
            TSR_CALL(ctx, released_item(r));
        }
        bool waiting = lowest(r, SLOT_OUT) >= 0;
        TSR_CALL(ctx, ask_or_return(r, waiting));
        if ((k = lowest(r, SLOT_IN)) >= 0) {
            TSR_CALL(ctx, compute(r, &r->slots[k]));
            continue; /* look at messages between items */
        }
        if (r->in.neos == r->in.n && r->in.held == 0)
            return send_eos(r);
        TSR_CALL(ctx, poll(r, true));
        if (r->aborted)
            return TSR_SUCCESS;
    }
}

static int coordinator_loop(run *r) {
    tsr_ctx ctx = r->ctx;
    tsr_pipeline p = r->p;
    int S = p->nstages, W = r->pl->window;
    size_t src_cap = HDR + p->source.max_out;
    for (;;) {
        TSR_CALL(ctx, poll(r, false));
        if (r->aborted)
            return TSR_SUCCESS;
        bool did = false;
        slot *e = &r->reorder[r->next_deliver % W];
        if (e->state == SLOT_OUT && e->index == r->next_deliver) {
            tsr_item it = {.index = e->index, .in = e->buf + HDR, .in_bytes = e->len};
            TSR_CALL(ctx, call_stage(r, S, &it));
            e->state = SLOT_FREE;
            r->next_deliver++;
            did = true;
        }
        if (!r->source_done && r->out.total > 0 && r->next_emit - r->next_deliver < W) {
            unsigned char *b = malloc(src_cap);
            TSR_CHECK(ctx, b, TSR_ERR_MEMORY, "cannot allocate a %zu-byte item", src_cap);
            tsr_item it = {.index = r->next_emit, .out = b + HDR, .out_bytes = p->source.max_out};
            int err = call_stage(r, -1, &it);
            if (err || it.end)
                free(b);
            TSR_CALL(ctx, err);
            if (it.end) {
                r->source_done = true;
                TSR_CALL(ctx, send_eos(r));
            } else {
                TSR_CALL(ctx, send_item(r, b, it.out_bytes, r->next_emit));
                r->next_emit++;
            }
            did = true;
        }
        if (r->source_done && r->in.neos == r->in.n && r->next_deliver == r->next_emit)
            return TSR_SUCCESS;
        if (!did) {
            TSR_CALL(ctx, poll(r, true));
            if (r->aborted)
                return TSR_SUCCESS;
        }
    }
}

/* One rank: source, every stage and the sink on each item in turn. */
static int serial_loop(run *r) {
    tsr_ctx ctx = r->ctx;
    tsr_pipeline p = r->p;
    int S = p->nstages;
    for (int64_t i = 0;; i++) {
        tsr_item it = {.index = i, .out = r->work[0], .out_bytes = p->source.max_out};
        TSR_CALL(ctx, call_stage(r, -1, &it));
        if (it.end)
            return TSR_SUCCESS;
        int k = 1;
        for (int s = 0; s < S; s++, k ^= 1) {
            tsr_item st = {.index = i,
                           .in = r->work[k ^ 1],
                           .in_bytes = it.out_bytes,
                           .out = r->work[k],
                           .out_bytes = p->stages[s].max_out};
            TSR_CALL(ctx, call_stage(r, s, &st));
            it.out_bytes = st.out_bytes;
        }
        tsr_item sk = {.index = i, .in = r->work[k ^ 1], .in_bytes = it.out_bytes};
        TSR_CALL(ctx, call_stage(r, S, &sk));
    }
}

static int setup_links(run *r) {
    tsr_ctx ctx = r->ctx;
    const plan *pl = r->pl;
    int G = pl->ngroups, g = r->group;
    inlink *in = &r->in;
    outlink *o = &r->out;
    int link; /* the link this rank receives on */
    if (r->rank == 0) {
        link = G;
        in->base = pl->rank0[G - 1];
        in->n = pl->size[G - 1];
        o->base = pl->rank0[0];
        o->n = pl->size[0];
        o->eager = true;
        in->slots = pl->credits[G];
    } else {
        link = g;
        in->base = g == 0 ? 0 : pl->rank0[g - 1];
        in->n = g == 0 ? 1 : pl->size[g - 1];
        o->base = g == G - 1 ? 0 : pl->rank0[g + 1];
        o->n = g == G - 1 ? 1 : pl->size[g + 1];
        o->eager = pl->size[g] == 1;
        int n = pl->size[g], me = r->rank - pl->rank0[g];
        in->slots = pl->credits[link] / n + (me < pl->credits[link] % n);
    }
    in->eager = in->n == 1;
    in->free = in->slots;
    TSR_CALL(ctx, tsr__calloc(ctx, (size_t)in->n, sizeof *in->given, &in->given));
    TSR_CALL(ctx, tsr__calloc(ctx, (size_t)in->n, sizeof *in->eos, &in->eos));
    TSR_CALL(ctx, tsr__calloc(ctx, (size_t)in->n, sizeof *in->queued, &in->queued));
    TSR_CALL(ctx, tsr__calloc(ctx, (size_t)in->n, sizeof *in->queue, &in->queue));
    TSR_CALL(ctx, tsr__calloc(ctx, (size_t)o->n, sizeof *o->credits, &o->credits));
    TSR_CALL(ctx, tsr__calloc(ctx, (size_t)o->n, sizeof *o->asked, &o->asked));
    return grant(r); /* an eager sender gets its credits at once */
}

static int setup_buffers(run *r) {
    tsr_ctx ctx = r->ctx;
    const plan *pl = r->pl;
    tsr_pipeline p = r->p;
    size_t most = 0;
    if (pl->nranks == 1) {
        most = p->source.max_out;
        for (int s = 0; s < p->nstages; s++)
            most = p->stages[s].max_out > most ? p->stages[s].max_out : most;
    } else if (r->rank == 0) {
        return tsr__calloc(ctx, (size_t)pl->window, sizeof *r->reorder, &r->reorder);
    } else {
        for (int s = pl->first[r->group]; s <= pl->last[r->group]; s++)
            most = p->stages[s].max_out > most ? p->stages[s].max_out : most;
        TSR_CALL(ctx, tsr__calloc(ctx, (size_t)r->in.slots, sizeof *r->slots, &r->slots));
        r->nslots = r->in.slots; /* only once the slots exist: run_free walks them */
    }
    r->work_cap = HDR + most;
    for (int k = 0; k < 2; k++)
        TSR_CALL(ctx, tsr__calloc(ctx, 1, r->work_cap, &r->work[k]));
    return TSR_SUCCESS;
}

static void run_free(run *r) {
    free(r->in.given);
    free(r->in.eos);
    free(r->in.queued);
    free(r->in.queue);
    free(r->out.credits);
    free(r->out.asked);
    for (int k = 0; k < r->nslots; k++)
        free(r->slots[k].buf);
    free(r->slots);
    if (r->reorder)
        for (int k = 0; k < r->pl->window; k++)
            free(r->reorder[k].buf);
    free(r->reorder);
    free(r->work[0]);
    free(r->work[1]);
    tsr__msg_free(&r->m);
}

/* A stage name inside a JSON string: quotes and backslashes escaped, control characters '?'. */
static void json_name(char *out, size_t len, const char *in) {
    size_t k = 0;
    for (; *in && k + 3 < len; in++) {
        if (*in == '"' || *in == '\\')
            out[k++] = '\\';
        out[k++] = (unsigned char)*in < 0x20 ? '?' : *in;
    }
    out[k] = '\0';
}

/* Rank 0: what the run report shows of this pipeline: per stage ranks, items, busy time and
 * throughput, the links' peaks, and the bottleneck (the lowest throughput). */
static int report_json(tsr_pipeline p) {
    tsr_ctx ctx = p->ctx;
    int S = p->nstages;
    size_t len = 512 + (size_t)(S + 2) * (2 * NAME_LEN + 160) + (size_t)p->nlinks * 64;
    char *j;
    TSR_CALL(ctx, tsr__calloc(ctx, len, 1, &j));
    int64_t done = p->stats[S + 1].items;
    size_t n =
        (size_t)snprintf(j, len,
                         "\"pipeline\": {\"items\": %lld, \"seconds\": %.9g, "
                         "\"items_per_second\": %.9g, \"stages\": [",
                         (long long)done, p->wall, p->wall > 0 ? (double)done / p->wall : 0.0);
    int worst = -2;
    for (int s = -1; s <= S && n < len; s++) {
        const tsr_stage_stats *st = &p->stats[s + 1];
        char name[2 * NAME_LEN];
        json_name(name, sizeof name, st->name);
        n += (size_t)snprintf(
            j + n, len - n,
            "%s{\"name\": \"%s\", \"role\": \"%s\", \"ranks\": %d, \"items\": %lld, "
            "\"busy_seconds\": %.9g, \"items_per_second\": %.9g}",
            s >= 0 ? ", " : "", name,
            s < 0    ? "source"
            : s == S ? "sink"
                     : "stage",
            st->nranks, (long long)st->items, st->busy, st->throughput);
        if (st->busy > 0 && (worst < -1 || st->throughput < p->stats[worst + 1].throughput))
            worst = s;
    }
    if (n < len)
        n += (size_t)snprintf(j + n, len - n, "], \"links\": [");
    for (int l = 0; l < p->nlinks && n < len; l++)
        n += (size_t)snprintf(j + n, len - n, "%s{\"credits\": %d, \"max_in_flight\": %d}",
                              l ? ", " : "", p->links[l].credits, p->links[l].max_in_flight);
    char name[2 * NAME_LEN] = "";
    if (worst >= -1)
        json_name(name, sizeof name, p->stats[worst + 1].name);
    if (n < len)
        snprintf(j + n, len - n, "], \"bottleneck\": %s%s%s}", worst < -1 ? "null" : "\"", name,
                 worst < -1 ? "" : "\"");
    tsr__report_set_json(ctx, j);
    return TSR_SUCCESS;
}

/* Sums what every rank did into the pipeline's stats. Collective. */
static int gather_stats(run *r, double wall) {
    tsr_ctx ctx = r->ctx;
    tsr_pipeline p = r->p;
    const plan *pl = r->pl;
    int S = p->nstages, L = pl->nranks > 1 ? pl->ngroups + 1 : 0;
    int64_t items[TSR_PIPELINE_MAX_STAGES + 2];
    double busy[TSR_PIPELINE_MAX_STAGES + 2];
    int peak[TSR_PIPELINE_MAX_STAGES + 1] = {0}, peaks[TSR_PIPELINE_MAX_STAGES + 1];
    if (L > 0)
        peak[r->rank == 0 ? pl->ngroups : r->group] = r->in.peak;
    TSR_MPI(ctx, MPI_Allreduce(r->items, items, S + 2, MPI_INT64_T, MPI_SUM, ctx->comm));
    TSR_MPI(ctx, MPI_Allreduce(r->busy, busy, S + 2, MPI_DOUBLE, MPI_SUM, ctx->comm));
    TSR_MPI(ctx, MPI_Allreduce(peak, peaks, L > 0 ? L : 1, MPI_INT, MPI_SUM, ctx->comm));
    TSR_MPI(ctx, MPI_Allreduce(&wall, &p->wall, 1, MPI_DOUBLE, MPI_MAX, ctx->comm));
    for (int s = -1; s <= S; s++) {
        tsr_stage_stats *st = &p->stats[s + 1];
        int nranks = 1;
        if (s >= 0 && s < S)
            TSR_CALL(ctx, tsr_pipeline_stage_ranks(p, s, &nranks, &(bool){false}));
        snprintf(st->name, sizeof st->name, "%s", stage_of(p, s)->name);
        st->items = items[s + 1];
        st->busy = busy[s + 1];
        st->nranks = nranks;
        st->throughput = st->busy > 0 ? (double)st->items * nranks / st->busy : 0.0;
    }
    p->nlinks = L;
    for (int l = 0; l < L; l++) {
        p->links[l].credits = pl->credits[l];
        p->links[l].max_in_flight = peaks[l];
    }
    return ctx->rank == 0 ? report_json(p) : TSR_SUCCESS;
}

int tsr_pipeline_run(tsr_pipeline p) {
    if (!p)
        return TSR_ERR_ARG;
    tsr_ctx ctx = p->ctx;
    TSR_CHECK(ctx, !p->started, TSR_ERR_ARG, "pipeline: run once per pipeline");
    p->started = true;

    /* Rank 0 checks the set-up and assigns the ranks; every rank learns the verdict. */
    int err = ctx->rank == 0 ? make_plan(p, ctx->size, &p->plan) : TSR_SUCCESS;
    TSR_MPI(ctx, MPI_Bcast(&p->plan, (int)sizeof p->plan, MPI_BYTE, 0, ctx->comm));
    if (!err && ctx->rank != 0 && p->plan.nstages != p->nstages)
        err = tsr_error_set(ctx, TSR_ERR_ARG, __FILE__, __LINE__, __func__,
                            "pipeline: rank %d has %d stages but rank 0 has %d", ctx->rank,
                            p->nstages, p->plan.nstages);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));

    run r;
    memset(&r, 0, sizeof r);
    r.p = p;
    r.ctx = ctx;
    r.pl = &p->plan;
    r.rank = ctx->rank;
    r.size = ctx->size;
    r.group = -1;
    for (int g = 0; g < p->plan.ngroups; g++)
        if (r.rank >= p->plan.rank0[g] && r.rank < p->plan.rank0[g] + p->plan.size[g])
            r.group = g;
    MPI_Comm comm = MPI_COMM_NULL;
    /* Own communicator: the pipeline's messages never meet anyone else's. */
    TSR_MPI(ctx, MPI_Comm_dup(ctx->comm, &comm));
    TSR_CALL(ctx, tsr__outbox_init(&r.ob, ctx, comm));

    tsr_progress_start(&r.prog, ctx, p->progress_items, p->progress);
    r.prog.unit = "item";
    double t0 = tsr_wtime();
    if (p->plan.nranks > 1)
        err = setup_links(&r);
    if (!err)
        err = setup_buffers(&r);
    if (!err)
        err = p->plan.nranks == 1 ? serial_loop(&r)
              : r.rank == 0       ? coordinator_loop(&r)
                                  : group_loop(&r);
    tsr_progress_end(&r.prog);
    if (err && p->plan.nranks > 1) {
        /* Tell everyone to stop; they learn why from the agreement below. */
        for (int d = 0; d < r.size; d++)
            if (d != r.rank)
                tsr__outbox_send(&r.ob, NULL, 0, d, TSR_TAG_PIPE_ABORT);
    }
    int qerr = tsr__quiesce(&r.ob);
    double wall = tsr_wtime() - t0;
    run_free(&r);
    tsr__outbox_free(&r.ob);
    MPI_Comm_free(&comm);
    if (qerr && !err)
        return qerr; /* the messaging itself broke: only this rank knows */
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    TSR_CALL(ctx, gather_stats(&r, wall));
    p->finished = true;
    return TSR_SUCCESS;
}

/* ---- queries ---- */

int tsr_pipeline_stage_ranks(tsr_pipeline p, int s, int *nranks, bool *mine) {
    if (!p)
        return TSR_ERR_ARG;
    tsr_ctx ctx = p->ctx;
    TSR_CHECK(ctx, p->started, TSR_ERR_ARG, "pipeline: not run yet");
    TSR_CHECK(ctx, s >= 0 && s < p->plan.nstages, TSR_ERR_ARG, "pipeline: no stage %d", s);
    const plan *pl = &p->plan;
    int n = 1;
    bool me = ctx->rank == 0;
    if (pl->nranks > 1) {
        for (int g = 0; g < pl->ngroups; g++)
            if (s >= pl->first[g] && s <= pl->last[g]) {
                n = pl->size[g];
                me = ctx->rank >= pl->rank0[g] && ctx->rank < pl->rank0[g] + n;
            }
    }
    if (nranks)
        *nranks = n;
    if (mine)
        *mine = me;
    return TSR_SUCCESS;
}

int tsr_pipeline_get_stage_stats(tsr_pipeline p, int s, tsr_stage_stats *stats) {
    if (!p || !stats)
        return TSR_ERR_ARG;
    TSR_CHECK(p->ctx, p->finished, TSR_ERR_ARG, "pipeline: no finished run");
    TSR_CHECK(p->ctx, s >= -1 && s <= p->nstages, TSR_ERR_ARG, "pipeline: no stage %d", s);
    *stats = p->stats[s + 1];
    return TSR_SUCCESS;
}

int tsr_pipeline_links(tsr_pipeline p, int *nlinks) {
    if (!p || !nlinks)
        return TSR_ERR_ARG;
    TSR_CHECK(p->ctx, p->finished, TSR_ERR_ARG, "pipeline: no finished run");
    *nlinks = p->nlinks;
    return TSR_SUCCESS;
}

int tsr_pipeline_get_link_stats(tsr_pipeline p, int l, tsr_link_stats *stats) {
    if (!p || !stats)
        return TSR_ERR_ARG;
    TSR_CHECK(p->ctx, p->finished, TSR_ERR_ARG, "pipeline: no finished run");
    TSR_CHECK(p->ctx, l >= 0 && l < p->nlinks, TSR_ERR_ARG, "pipeline: no link %d", l);
    *stats = p->links[l];
    return TSR_SUCCESS;
}

static void print_ranks(FILE *out, int lo, int n) {
    if (n == 1)
        fprintf(out, "  rank %d:", lo);
    else
        fprintf(out, "  ranks %d-%d:", lo, lo + n - 1);
}

int tsr_pipeline_print_summary(tsr_pipeline p, FILE *out) {
    if (!p || !out)
        return TSR_ERR_ARG;
    tsr_ctx ctx = p->ctx;
    TSR_CHECK(ctx, p->finished, TSR_ERR_ARG, "pipeline: no finished run");
    if (ctx->rank != 0)
        return TSR_SUCCESS;
    const plan *pl = &p->plan;
    int S = p->nstages;
    int64_t done = p->stats[S + 1].items;
    fprintf(out, "pipeline: %d stage%s on %d rank%s, %lld items in %.3f s (%.1f items/s)\n", S,
            S == 1 ? "" : "s", pl->nranks, pl->nranks == 1 ? "" : "s", (long long)done, p->wall,
            p->wall > 0 ? (double)done / p->wall : 0.0);
    if (pl->nranks == 1) {
        fprintf(out, "  rank 0: source '%s', every stage, sink '%s'\n", p->source.name,
                p->sink.name);
    } else {
        fprintf(out, "  rank 0: source '%s', sink '%s'\n", p->source.name, p->sink.name);
        for (int g = 0; g < pl->ngroups; g++) {
            print_ranks(out, pl->rank0[g], pl->size[g]);
            fprintf(out, " stage%s", pl->first[g] == pl->last[g] ? "" : "s");
            for (int s = pl->first[g]; s <= pl->last[g]; s++)
                fprintf(out, "%s '%s'", s == pl->first[g] ? "" : ",", p->stages[s].name);
            fputc('\n', out);
        }
    }
    fprintf(out, "  %-24s %5s %10s %10s %12s\n", "stage", "ranks", "items", "busy s", "items/s");
    int worst = -2;
    for (int s = -1; s <= S; s++) {
        const tsr_stage_stats *st = &p->stats[s + 1];
        char label[NAME_LEN + 16];
        snprintf(label, sizeof label, "%s'%s'",
                 s < 0    ? "source "
                 : s == S ? "sink "
                          : "",
                 st->name);
        fprintf(out, "  %-24s %5d %10lld %10.3f %12.1f\n", label, st->nranks, (long long)st->items,
                st->busy, st->throughput);
        if (st->busy > 0 && (worst < -1 || st->throughput < p->stats[worst + 1].throughput))
            worst = s;
    }
    if (p->nlinks > 0) {
        fprintf(out, "  links (most in flight / credits):");
        for (int l = 0; l < p->nlinks; l++)
            fprintf(out, " %d/%d", p->links[l].max_in_flight, p->links[l].credits);
        fputc('\n', out);
    }
    if (worst < -1)
        fprintf(out, "bottleneck: none (no busy time measured)\n");
    else
        fprintf(out, "bottleneck: stage '%s' (%.1f items/s)\n", p->stats[worst + 1].name,
                p->stats[worst + 1].throughput);
    return TSR_SUCCESS;
}
