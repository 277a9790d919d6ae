/* Pipeline links: rank 0 runs the source and the sink, the other ranks form groups that each run a
 * contiguous range of stages fused on every item. Items move between consecutive groups with
 * credits; rank 0 reorders what reaches the sink and bounds the items it has emitted but not yet
 * delivered (the source window), so its reorder buffer stays bounded.
 *
 * Credits on a link with one sender are granted eagerly (it is the only one who can use them).
 * With several senders they are granted on request and given back by a sender that goes idle:
 * a credit never sits with a rank that has nothing to send, which is what would deadlock once
 * the source window is full and the oldest item waits for a credit parked elsewhere. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline_impl.h"

enum { OP_GRANT = 1, OP_REQUEST, OP_RETURN };
typedef struct ctl {
    int32_t op, count;
} ctl;

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
int tsr__pipe_released_item(run *r) {
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
            return tsr__pipe_released_item(r); /* buffered: no longer in flight on the link */
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

/* Handles every message already there, or waits for one. An oversubscribed rank waits in short
 * naps instead of MPI's busy probe (3 ranks on 2 cores lose a third of their CPU to whoever is
 * idle). */
int tsr__pipe_poll(run *r, bool wait) {
    tsr__backoff nap = tsr__backoff_make(10, 80);
    while (!r->aborted) {
        bool got = false;
        TSR_CALL(r->ctx, tsr__msg_recv(&r->ob, wait && !r->nap, &r->m, &got));
        if (got) {
            TSR_CALL(r->ctx, handle(r));
            wait = false;
            continue;
        }
        if (!wait)
            break;
        tsr__backoff_nap(&nap);
    }
    return TSR_SUCCESS;
}

/* Sends an item (buf from malloc, HDR bytes then len) to the next receiver holding a credit;
 * the outbox takes the buffer. */
int tsr__pipe_send_item(run *r, unsigned char *buf, size_t len, int64_t index) {
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

int tsr__pipe_send_eos(run *r) {
    for (int d = 0; d < r->out.n; d++)
        TSR_CALL(r->ctx, tsr__outbox_send(&r->ob, NULL, 0, r->out.base + d, TSR_TAG_PIPE_EOS));
    return TSR_SUCCESS;
}

/* A shared link's sender asks every receiver it has not asked yet when it waits for a credit, and
 * gives credits back when it holds no item. */
int tsr__pipe_ask_or_return(run *r, bool waiting) {
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

int tsr__pipe_setup_links(run *r) {
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
