/* The task farm's second coordinator level: the ranks split into groups, and the lowest rank of
 * each group but rank 0's, its sub-coordinator, takes batches of tasks from rank 0 and serves
 * its group's workers with them, so that rank 0 handles one message per batch instead of one per
 * chunk. The protocol is in farm_impl.h.
 *
 * A sub-coordinator runs no tasks: the simulation's sub-coordinator (bench/farm_sim.c) is a pure
 * server too, and with a node of 64 ranks its own share would be 1/64 of the node's work while a
 * task of its own would keep its workers' wants waiting for a task's time. */
#include <stdlib.h>
#include <string.h>

#include "farm_impl.h"
#include "groups_impl.h"

/* ---- the groups ---- */

int tsr__farm_groups_setup(tsr_farm f) {
    tsr_ctx ctx = f->ctx;
    int leader = 0, gsize = 1;
    f->parent = 0;
    f->members = 0;
    TSR_CALL(ctx, tsr__groups_find(ctx, f->comm, f->o.groups, &leader, &gsize));
    if (leader != 0 && gsize >= 2) {
        if (f->rank == leader)
            f->members = gsize - 1;
        else
            f->parent = leader;
    }
    /* Rank 0 learns who asks it and for how many workers. */
    int64_t mine[2] = {f->members > 0 ? f->members : f->parent == 0, f->members > 0};
    int64_t *all = NULL;
    int err = TSR_SUCCESS;
    if (f->rank == 0) {
        err = tsr__calloc(ctx, 2 * (size_t)f->size, sizeof *all, &all);
        if (!err)
            err = tsr__calloc(ctx, (size_t)f->size, sizeof *f->served, &f->served);
    }
    if ((err = tsr_ctx_agree(ctx, err))) { /* nobody waits in the gather */
        free(all);
        return err;
    }
    int rc = MPI_Gather(mine, 2, MPI_INT64_T, all, 2, MPI_INT64_T, 0, f->comm);
    if (rc == MPI_SUCCESS && f->rank == 0) {
        f->children = 0;
        f->nsub = 0;
        for (int w = 1; w < f->size; w++) {
            f->served[w] = all[2 * w];
            f->children += all[2 * w] > 0;
            f->nsub += (int)all[2 * w + 1];
        }
    }
    free(all);
    TSR_MPI(ctx, rc);
    return TSR_SUCCESS;
}

/* ---- a sub-coordinator ---- */

/* A batch from rank 0, cut into chunks of `piece` tasks for the workers; their results blocks
 * wait in parts[] until the batch is whole. */
typedef struct batch {
    rbuf work; /* rank 0's WORK message: header and items */
    int64_t first, count, piece, handed, done;
    int64_t nparts;
    rbuf *parts;
    bool sent;
} batch;

typedef struct sub {
    run *r;
    fifo batches; /* batch *, in id order */
    fifo parked;  /* int: workers' wants waiting for a batch */
    int started;  /* workers whose first request arrived */
    int64_t asked, replies;
    bool stopped, aborted, failed;
} sub;

static batch *batch_at(const sub *s, int i) {
    return *(batch **)fifo_at(&s->batches, i);
}

static void batch_free(batch *b) {
    for (int64_t k = 0; b->parts && k < b->nparts; k++)
        free(b->parts[k].p);
    free(b->parts);
    free(b->work.p);
    free(b);
}

static int ask(sub *s, int64_t wants, int64_t kind) {
    req_hdr h = {wants, 0, 0, kind};
    s->asked += wants;
    return tsr__outbox_send(&s->r->ob, &h, sizeof h, 0, TSR_TAG_FARM_REQUEST);
}

static int take_batch(sub *s) {
    run *r = s->r;
    tsr_ctx ctx = r->ctx;
    tsr__msg *m = &r->m;
    work_hdr h;
    TSR_CALL(ctx, tsr__farm_work_hdr(r, m, &h, "batch"));
    s->replies++;
    if (h.count == 0) {
        s->stopped = true; /* rank 0 answers in order: no batch can follow */
        return TSR_SUCCESS;
    }
    batch *b;
    TSR_CALL(ctx, tsr__calloc(ctx, 1, sizeof *b, &b));
    b->first = h.first;
    b->count = h.count;
    /* Rank 0 sized the batch as one chunk per worker (fixed: the chunk size each). */
    int64_t members = r->f->members;
    b->piece = r->f->o.chunk.kind == TSR_CHUNK_FIXED ? r->f->o.chunk.size
                                                     : (h.count + members - 1) / members;
    if (b->piece > h.count)
        b->piece = h.count;
    b->nparts = (h.count + b->piece - 1) / b->piece;
    int err = tsr__calloc(ctx, (size_t)b->nparts, sizeof *b->parts, &b->parts);
    if (!err)
        err = tsr__farm_fifo_push(ctx, &s->batches, &b);
    if (err) {
        batch_free(b);
        return err;
    }
    b->work = (rbuf){m->buf, m->len, m->cap};
    m->buf = NULL;
    m->cap = m->len = 0;
    r->f->me.chunks++;
    return TSR_SUCCESS;
}

/* Hands the next chunk of the oldest batch with tasks left to each parked want, or stops the
 * wants once rank 0 has nothing more. Asks rank 0 for a batch as soon as one is all handed out,
 * so that the next is there before the workers run dry. */
static int serve(sub *s) {
    run *r = s->r;
    tsr_ctx ctx = r->ctx;
    size_t isz = r->f->o.item_bytes;
    while (s->parked.n > 0 && !s->failed) {
        int w = *(int *)fifo_at(&s->parked, 0);
        batch *b = NULL;
        for (int i = 0; i < s->batches.n && !b; i++)
            if (batch_at(s, i)->handed < batch_at(s, i)->count)
                b = batch_at(s, i);
        if (!b && !s->stopped)
            break;
        fifo_pop(&s->parked);
        if (!b) {
            work_hdr h = {0, 0};
            TSR_CALL(ctx, tsr__outbox_send(&r->ob, &h, sizeof h, w, TSR_TAG_FARM_WORK));
            continue;
        }
        int64_t n = b->count - b->handed < b->piece ? b->count - b->handed : b->piece;
        size_t len = sizeof(work_hdr) + (size_t)n * isz;
        unsigned char *msg = malloc(len);
        TSR_CHECK(ctx, msg, TSR_ERR_MEMORY, "cannot allocate a %zu-byte work message", len);
        work_hdr h = {b->first + b->handed, n};
        memcpy(msg, &h, sizeof h);
        if (isz)
            memcpy(msg + sizeof h, b->work.p + sizeof h + (size_t)b->handed * isz, (size_t)n * isz);
        b->handed += n;
        TSR_CALL(ctx, tsr__outbox_send_owned(&r->ob, msg, len, w, TSR_TAG_FARM_WORK));
        if (b->handed == b->count && !s->stopped)
            TSR_CALL(ctx, ask(s, 1, REQ_WANTS));
    }
    return TSR_SUCCESS;
}

/* A whole batch: one results block in id order, as a worker would send it, to rank 0. */
static int send_batch(sub *s, batch *b) {
    run *r = s->r;
    tsr_ctx ctx = r->ctx;
    rbuf out = {0};
    int err = tsr__farm_results_begin(ctx, &out, b->first, b->count);
    for (int64_t k = 0; k < b->nparts && !err; k++) {
        const rbuf *p = &b->parts[k];
        int64_t n = k < b->nparts - 1 ? b->piece : b->count - k * b->piece;
        size_t bytes = p->len - rec_offset(n);
        memcpy(out.p + rec_offset(k * b->piece), p->p + rec_offset(0),
               rec_offset(n) - rec_offset(0));
        err = tsr__farm_rbuf_reserve(ctx, &out, bytes);
        if (!err) {
            memcpy(out.p + out.len, p->p + rec_offset(n), bytes);
            out.len += bytes;
        }
        free(b->parts[k].p);
        b->parts[k] = (rbuf){0};
    }
    if (err) {
        free(out.p);
        return err;
    }
    b->sent = true;
    return tsr__outbox_send_owned(&r->ob, out.p, out.len, 0, TSR_TAG_FARM_REQUEST);
}

/* Under TSR_FARM_ABORT a failed task goes to rank 0 at once, which stops the farm. */
static int report_failure(sub *s, int64_t id, const rbuf *p, int64_t i, size_t off) {
    run *r = s->r;
    task_rec rec = get_rec(p, i);
    rbuf out = {0};
    TSR_CALL(r->ctx, tsr__farm_results_begin(r->ctx, &out, id, 1));
    req_hdr h = {0, id, 1, REQ_FAILURE};
    memcpy(out.p, &h, sizeof h);
    memcpy(out.p + rec_offset(0), &rec, sizeof rec);
    int err = tsr__farm_rbuf_reserve(r->ctx, &out, padded(rec.len));
    if (err) {
        free(out.p);
        return err;
    }
    memcpy(out.p + out.len, p->p + off, padded(rec.len));
    out.len += padded(rec.len);
    s->failed = true;
    return tsr__outbox_send_owned(&r->ob, out.p, out.len, 0, TSR_TAG_FARM_REQUEST);
}

/* A worker's results block, kept in its batch until the batch is whole. */
static int store_part(sub *s, int w, const req_hdr *h) {
    run *r = s->r;
    tsr_ctx ctx = r->ctx;
    tsr__msg *m = &r->m;
    batch *b = NULL;
    for (int i = 0; i < s->batches.n && !b; i++) {
        batch *c = batch_at(s, i);
        if (h->first >= c->first && h->first < c->first + c->count)
            b = c;
    }
    int64_t k = b ? (h->first - b->first) / b->piece : 0;
    int64_t n = b ? (k < b->nparts - 1 ? b->piece : b->count - k * b->piece) : 0;
    TSR_CHECK(ctx,
              b && !b->sent && (h->first - b->first) % b->piece == 0 && !b->parts[k].p &&
                  h->count <= n && m->len >= rec_offset(h->count),
              TSR_ERR_INTERNAL, "farm: unexpected results for tasks %lld+%lld from rank %d",
              (long long)h->first, (long long)h->count, w);
    rbuf p = {m->buf, m->len, m->cap};
    size_t off = rec_offset(h->count);
    for (int64_t i = 0; i < h->count; i++) {
        task_rec rec = get_rec(&p, i);
        if (rec.status != 0 && r->f->o.on_error == TSR_FARM_ABORT && !s->failed)
            TSR_CALL(ctx, report_failure(s, h->first + i, &p, i, off));
        off += padded(rec.len);
    }
    TSR_CHECK(ctx, off == p.len, TSR_ERR_INTERNAL,
              "farm: results from rank %d hold %zu bytes, expected %zu", w, p.len, off);
    if (s->failed)
        return TSR_SUCCESS; /* rank 0 aborts the farm; a cut chunk may never be whole */
    TSR_CHECK(ctx, h->count == n, TSR_ERR_INTERNAL,
              "farm: %lld results for a chunk of %lld from rank %d", (long long)h->count,
              (long long)n, w);
    b->parts[k] = p;
    m->buf = NULL;
    m->cap = m->len = 0;
    b->done += n;
    if (b->done == b->count)
        TSR_CALL(ctx, send_batch(s, b));
    while (s->batches.n > 0 && batch_at(s, 0)->sent) {
        batch_free(batch_at(s, 0));
        fifo_pop(&s->batches);
    }
    return TSR_SUCCESS;
}

static int sub_handle(sub *s) {
    run *r = s->r;
    tsr_ctx ctx = r->ctx;
    tsr__msg *m = &r->m;
    if (m->source == 0 && m->tag == TSR_TAG_FARM_ABORT) {
        s->aborted = true;
        return TSR_SUCCESS;
    }
    if (m->source == 0 && m->tag == TSR_TAG_FARM_WORK)
        TSR_CALL(ctx, take_batch(s));
    else {
        TSR_CHECK(ctx, m->tag == TSR_TAG_FARM_REQUEST && m->len >= sizeof(req_hdr),
                  TSR_ERR_INTERNAL, "farm: unexpected message (tag %d, %zu bytes) from rank %d",
                  m->tag, m->len, m->source);
        req_hdr h;
        memcpy(&h, m->buf, sizeof h);
        if (h.count == 0)
            s->started++;
        else
            TSR_CALL(ctx, store_part(s, m->source, &h));
        for (int64_t k = 0; k < h.wants; k++)
            TSR_CALL(ctx, tsr__farm_fifo_push(ctx, &s->parked, &m->source));
    }
    return serve(s);
}

int tsr__farm_sub_loop(run *r) {
    sub s = {.r = r};
    s.batches.esz = sizeof(batch *);
    s.parked.esz = sizeof(int);
    /* Two batches at first, one being handed out and one in reserve. */
    int err = ask(&s, 2, REQ_RESULTS);
    while (!err && !s.aborted) {
        if (s.stopped && s.replies == s.asked && s.batches.n == 0 && s.started == r->f->members &&
            s.parked.n == 0)
            break;
        bool got = false;
        err = tsr__msg_recv(&r->ob, true, &r->m, &got);
        if (!err && got)
            err = sub_handle(&s);
    }
    for (int i = 0; i < s.batches.n; i++)
        batch_free(batch_at(&s, i));
    free(s.batches.a);
    free(s.parked.a);
    return err;
}
