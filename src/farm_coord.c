/* The task farm's rank 0: hands out chunks to the ranks that ask (workers, and sub-coordinators
 * whose chunks are batches for their groups), runs tasks itself in the gaps, and delivers the
 * results in task order. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "farm_impl.h"

static chunk *front(const run *r) {
    return r->chunks.n ? *(chunk **)fifo_at(&r->chunks, 0) : NULL;
}

/* The farm fails: no more work is handed out, every worker is told to skip what is left. */
int tsr__farm_start_abort(run *r) {
    r->aborting = true;
    for (int w = 1; w < r->f->size; w++)
        TSR_CALL(r->ctx, tsr__outbox_send(&r->ob, NULL, 0, w, TSR_TAG_FARM_ABORT));
    return TSR_SUCCESS;
}

static int task_failed(run *r, int64_t id, int rank, const unsigned char *msg, size_t len) {
    tsr_farm f = r->f;
    TSR_CALL(r->ctx, tsr__farm_fifo_push(r->ctx, &r->failed, &id));
    if (f->o.on_error == TSR_FARM_ABORT) {
        r->verdict = tsr_error_set(r->ctx, TSR_ERR_KERNEL, __FILE__, __LINE__, __func__,
                                   "task %lld failed on rank %d: %.*s", (long long)id, rank,
                                   (int)len, (const char *)msg);
        return tsr__farm_start_abort(r);
    }
    if (r->failed.n <= MAX_PRINTED_FAILURES)
        fprintf(stderr, "%s: task %lld failed on rank %d: %.*s\n", r->ctx->name, (long long)id,
                rank, (int)len, (const char *)msg);
    return TSR_SUCCESS;
}

/* Passes on every result that is next in id order. */
static int deliver_ready(run *r) {
    chunk *ch;
    while (!r->aborting && (ch = front(r))) {
        while (!r->aborting && ch->delivered < ch->avail) {
            task_rec rec = get_rec(&ch->res, ch->delivered);
            const unsigned char *data = ch->res.p + ch->doff;
            int64_t id = ch->first + ch->delivered;
            ch->delivered++;
            ch->doff += padded(rec.len);
            r->buffered--;
            if (rec.status != 0) {
                /* Under abort the failure stopped the farm when it arrived. */
                TSR_CALL(r->ctx, task_failed(r, id, rec.rank, data, rec.len));
            } else if (r->deliver) {
                int rc = r->deliver(id, data, rec.len, r->user);
                if (rc) {
                    r->verdict = tsr_error_set(r->ctx, TSR_ERR_KERNEL, __FILE__, __LINE__, __func__,
                                               "delivering the result of task %lld failed "
                                               "(the callback returned %d)",
                                               (long long)id, rc);
                    TSR_CALL(r->ctx, tsr__farm_start_abort(r));
                }
            }
        }
        if (ch->delivered < ch->count)
            break;
        fifo_pop(&r->chunks);
        free(ch->res.p);
        free(ch);
    }
    return TSR_SUCCESS;
}

enum { PICK_CHUNK, PICK_STOP, PICK_WAIT };

/* How many tasks rank w gets next: a chunk, a stop (nothing left for it) or a wait (the
 * window is full). */
static int pick(const run *r, int w, int64_t *count) {
    const tsr_farm_opts *o = &r->f->o;
    int64_t left = o->ntasks - r->next, n;
    /* A sub-coordinator gets a chunk for each of its workers at once. */
    int64_t times = w == 0 ? 1 : r->f->served[w];
    if (left <= 0)
        return PICK_STOP;
    if (o->chunk.kind == TSR_CHUNK_STATIC) {
        n = r->share * times - r->given[w];
        if (n <= 0)
            return PICK_STOP;
    } else if (o->chunk.kind == TSR_CHUNK_FIXED) {
        n = o->chunk.size * times;
    } else {
        int64_t g = (left + 2 * r->working - 1) / (2 * r->working);
        n = (g > o->chunk.size ? g : o->chunk.size) * times;
    }
    if (n > left)
        n = left;
    if (n > r->max_chunk)
        n = r->max_chunk;
    const chunk *ch = front(r);
    int64_t undelivered = ch ? ch->first + ch->delivered : r->next;
    int64_t room = r->window - (r->next - undelivered); /* no overflow for huge windows */
    if (n > room)
        n = room;
    if (n <= 0)
        return PICK_WAIT;
    *count = n;
    return PICK_CHUNK;
}

static int hand_out(run *r, int w, int64_t n, chunk **out) {
    tsr_ctx ctx = r->ctx;
    const tsr_farm_opts *o = &r->f->o;
    chunk *ch;
    TSR_CALL(ctx, tsr__calloc(ctx, 1, sizeof *ch, &ch));
    ch->first = r->next;
    ch->count = n;
    ch->owner = w;
    int err = tsr__farm_fifo_push(ctx, &r->chunks, &ch);
    if (err) {
        free(ch);
        return err;
    }
    r->next += n;
    r->given[w] += n;
    if (w == 0) {
        TSR_CALL(ctx, tsr__farm_results_begin(ctx, &ch->res, ch->first, n));
        ch->doff = ch->res.len;
        r->f->me.chunks++;
        *out = ch;
        return TSR_SUCCESS;
    }
    size_t items = (size_t)n * o->item_bytes, len = sizeof(work_hdr) + items;
    unsigned char *msg = malloc(len);
    TSR_CHECK(ctx, msg, TSR_ERR_MEMORY, "cannot allocate a %zu-byte work message", len);
    work_hdr h = {ch->first, n};
    memcpy(msg, &h, sizeof h);
    if (items)
        memcpy(msg + sizeof h, (const unsigned char *)o->items + (size_t)ch->first * o->item_bytes,
               items);
    *out = ch;
    return tsr__outbox_send_owned(&r->ob, msg, len, w, TSR_TAG_FARM_WORK);
}

/* Answers parked wants in arrival order while the window allows. */
static int serve_parked(run *r) {
    while (!r->aborting && r->parked.n > 0) {
        int w = *(int *)fifo_at(&r->parked, 0);
        int64_t n = 0;
        int k = pick(r, w, &n);
        if (k == PICK_WAIT)
            break;
        fifo_pop(&r->parked);
        if (k == PICK_STOP) {
            work_hdr h = {r->next, 0};
            TSR_CALL(r->ctx, tsr__outbox_send(&r->ob, &h, sizeof h, w, TSR_TAG_FARM_WORK));
        } else {
            chunk *ch;
            TSR_CALL(r->ctx, hand_out(r, w, n, &ch));
        }
    }
    return TSR_SUCCESS;
}

static int advance(run *r) {
    TSR_CALL(r->ctx, deliver_ready(r));
    tsr_progress_update(&r->prog, r->received);
    return serve_parked(r);
}

/* A worker's results block, taken over from the receive buffer. */
static int store_results(run *r, int w, const req_hdr *h) {
    tsr_ctx ctx = r->ctx;
    tsr__msg *m = &r->m;
    /* Chunks are queued in increasing `first`: a binary search keeps rank 0 at O(log n) per
     * message even with a whole window of chunks waiting behind a slow one. */
    chunk *ch = NULL;
    for (int lo = 0, hi = r->chunks.n; lo < hi && !ch;) {
        int mid = lo + (hi - lo) / 2;
        chunk *c = *(chunk **)fifo_at(&r->chunks, mid);
        if (c->first == h->first)
            ch = c;
        else if (c->first < h->first)
            lo = mid + 1;
        else
            hi = mid;
    }
    TSR_CHECK(ctx,
              ch && ch->owner == w && ch->avail == 0 && h->count <= ch->count &&
                  m->len >= rec_offset(h->count),
              TSR_ERR_INTERNAL, "farm: unexpected results for tasks %lld+%lld from rank %d",
              (long long)h->first, (long long)h->count, w);
    ch->res = (rbuf){m->buf, m->len, m->cap};
    m->buf = NULL;
    m->cap = m->len = 0;
    size_t total = rec_offset(h->count);
    for (int64_t i = 0; i < h->count; i++)
        total += padded(get_rec(&ch->res, i).len);
    TSR_CHECK(ctx, total == ch->res.len, TSR_ERR_INTERNAL,
              "farm: results from rank %d hold %zu bytes, expected %zu", w, ch->res.len, total);
    ch->avail = h->count;
    ch->doff = rec_offset(h->count);
    r->buffered += h->count;
    r->received += h->count;
    if (r->buffered > r->f->max_buffered)
        r->f->max_buffered = r->buffered;
    if (r->f->o.on_error == TSR_FARM_ABORT) {
        size_t off = rec_offset(h->count);
        for (int64_t i = 0; i < h->count && !r->aborting; i++) {
            task_rec rec = get_rec(&ch->res, i);
            if (rec.status != 0)
                TSR_CALL(ctx, task_failed(r, h->first + i, rec.rank, ch->res.p + off, rec.len));
            off += padded(rec.len);
        }
    }
    return TSR_SUCCESS;
}

static int coord_handle(run *r) {
    tsr_ctx ctx = r->ctx;
    tsr__msg *m = &r->m;
    if (m->tag == TSR_TAG_FARM_FAIL) /* the worker's own error wins in the verdict */
        return r->aborting ? TSR_SUCCESS : tsr__farm_start_abort(r);
    TSR_CHECK(ctx, m->tag == TSR_TAG_FARM_REQUEST && m->len >= sizeof(req_hdr), TSR_ERR_INTERNAL,
              "farm: unexpected message (tag %d, %zu bytes) from rank %d", m->tag, m->len,
              m->source);
    req_hdr h;
    memcpy(&h, m->buf, sizeof h);
    if (h.kind == REQ_FAILURE) {
        /* A sub-coordinator's report of a failed task, under TSR_FARM_ABORT. */
        TSR_CHECK(ctx, h.count == 1 && m->len >= rec_offset(1), TSR_ERR_INTERNAL,
                  "farm: malformed failure report from rank %d", m->source);
        task_rec rec;
        memcpy(&rec, (unsigned char *)m->buf + rec_offset(0), sizeof rec);
        TSR_CHECK(ctx, m->len >= rec_offset(1) + rec.len, TSR_ERR_INTERNAL,
                  "farm: malformed failure report from rank %d", m->source);
        if (!r->aborting)
            TSR_CALL(ctx, task_failed(r, h.first, rec.rank, (unsigned char *)m->buf + rec_offset(1),
                                      rec.len));
        return TSR_SUCCESS;
    }
    if (h.kind == REQ_RESULTS && h.count == 0)
        r->started++;
    else if (h.kind == REQ_RESULTS)
        TSR_CALL(ctx, store_results(r, m->source, &h));
    for (int64_t k = 0; k < h.wants; k++)
        TSR_CALL(ctx, tsr__farm_fifo_push(ctx, &r->parked, &m->source));
    return advance(r);
}

/* Handles a message and adds what it took, from its arrival to the answers sent, to rank 0's
 * request time: the cost per request, which must not grow with the number of workers. Its
 * median is kept apart from the mean, which also holds the page faults of memory first touched
 * for results buffered behind a slow worker, and with more ranks than cores the time slices
 * the system gives the others in the middle of a request. */
static int coord_handle_timed(run *r) {
    int err = coord_handle(r);
    double t = tsr_wtime() - r->m.arrived;
    r->f->requests++;
    r->f->request_seconds += t;
    tsr__qhist_add(&r->f->request_times, t);
    return err;
}

/* Waits for a message; while progress is shown, polls gently instead, so that a line still
 * appears when one is due however long the workers take. */
static int wait_message(run *r, bool *got) {
    if (!r->prog.enabled)
        return tsr__msg_recv(&r->ob, true, &r->m, got);
    tsr__backoff nap = tsr__backoff_make(50, 50);
    for (;;) {
        TSR_CALL(r->ctx, tsr__msg_recv(&r->ob, false, &r->m, got));
        if (*got)
            return TSR_SUCCESS;
        tsr_progress_update(&r->prog, r->received);
        tsr__backoff_nap(&nap);
    }
}

int tsr__farm_coord_loop(run *r) {
    tsr_farm f = r->f;
    tsr_ctx ctx = r->ctx;
    const int64_t n = f->o.ntasks;
    const bool self_works = f->size == 1 || f->o.coordinator_works;
    chunk *own = NULL;
    for (;;) {
        bool got = true;
        while (got && !r->aborting) {
            TSR_CALL(ctx, tsr__msg_recv(&r->ob, false, &r->m, &got));
            if (got)
                TSR_CALL(ctx, coord_handle_timed(r));
        }
        if (r->aborting)
            return TSR_SUCCESS;
        if (own && own->avail < own->count) {
            /* One task at a time, so that workers are answered within one task's time. */
            int64_t id = own->first + own->avail;
            const void *item =
                f->o.item_bytes ? (const unsigned char *)f->o.items + (size_t)id * f->o.item_bytes
                                : NULL;
            int st;
            TSR_CALL(ctx, tsr__farm_run_task(r, &own->res, own->avail, id, item, &st));
            own->avail++;
            chunk *mine = own;
            if (own->avail == own->count)
                own = NULL; /* deliver_ready frees it once delivered */
            r->buffered++;
            r->received++;
            if (r->buffered > f->max_buffered)
                f->max_buffered = r->buffered;
            if (st && f->o.on_error == TSR_FARM_ABORT) {
                task_rec rec = get_rec(&mine->res, mine->avail - 1);
                TSR_CALL(ctx, task_failed(r, id, 0, mine->res.p + mine->res.len - padded(rec.len),
                                          rec.len));
            }
            TSR_CALL(ctx, advance(r));
            continue;
        }
        int64_t count = 0;
        if (!own && self_works && r->parked.n == 0 && pick(r, 0, &count) == PICK_CHUNK) {
            TSR_CALL(ctx, hand_out(r, 0, count, &own));
            continue;
        }
        if (r->started == f->children && r->next >= n && r->chunks.n == 0 && r->parked.n == 0)
            return TSR_SUCCESS;
        TSR_CHECK(ctx, f->size > 1, TSR_ERR_INTERNAL, "farm: rank 0 alone has nothing to run");
        TSR_CALL(ctx, wait_message(r, &got));
        if (got)
            TSR_CALL(ctx, coord_handle_timed(r));
    }
}

/* Rank 0 after the run: the verdict under TSR_FARM_CONTINUE, and the failed ids. */
int tsr__farm_coord_finish(run *r) {
    tsr_farm f = r->f;
    tsr_ctx ctx = r->ctx;
    int64_t nf = r->failed.n;
    f->nfailed = nf;
    if (nf) {
        TSR_CALL(ctx, tsr__calloc(ctx, (size_t)nf, sizeof *f->failed_ids, &f->failed_ids));
        for (int64_t i = 0; i < nf; i++)
            f->failed_ids[i] = *(int64_t *)fifo_at(&r->failed, (int)i);
    }
    if (r->aborting || nf == 0)
        return TSR_SUCCESS;
    if (nf > MAX_PRINTED_FAILURES)
        fprintf(stderr, "%s: ... and %lld more failed tasks\n", ctx->name,
                (long long)(nf - MAX_PRINTED_FAILURES));
    char ids[256] = "";
    size_t used = 0;
    for (int64_t i = 0; i < nf && i < MAX_LISTED_IDS; i++)
        used += (size_t)snprintf(ids + used, sizeof ids - used, "%s%lld", i ? ", " : "",
                                 (long long)f->failed_ids[i]);
    r->verdict = tsr_error_set(ctx, TSR_ERR_KERNEL, __FILE__, __LINE__, __func__,
                               "%lld of %lld tasks failed (id%s %s%s)", (long long)nf,
                               (long long)f->o.ntasks, nf > 1 ? "s" : "", ids,
                               nf > MAX_LISTED_IDS ? ", ..." : "");
    return TSR_SUCCESS;
}
