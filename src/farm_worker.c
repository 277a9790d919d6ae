/* The task farm's workers: ask rank 0 (or their group's sub-coordinator) for chunks, run them,
 * send the results back. */
#include <stdlib.h>
#include <string.h>

#include "farm_impl.h"

static int worker_handle(run *r, wstate *s) {
    tsr_ctx ctx = r->ctx;
    tsr__msg *m = &r->m;
    if (m->tag == TSR_TAG_FARM_ABORT) {
        s->aborted = true;
        return TSR_SUCCESS;
    }
    work_hdr h;
    TSR_CHECK(ctx, m->tag == TSR_TAG_FARM_WORK, TSR_ERR_INTERNAL,
              "farm: unexpected message (tag %d, %zu bytes) from rank %d", m->tag, m->len,
              m->source);
    TSR_CALL(ctx, tsr__farm_work_hdr(r, m, &h, "chunk"));
    s->replies++;
    if (h.count == 0) {
        s->stopped = true;
        return TSR_SUCCESS;
    }
    if (s->halted)
        return TSR_SUCCESS;
    rbuf b = {m->buf, m->len, m->cap};
    TSR_CALL(ctx, tsr__farm_fifo_push(ctx, &s->held, &b));
    m->buf = NULL;
    m->cap = m->len = 0;
    r->f->me.chunks++;
    return TSR_SUCCESS;
}

static int worker_poll(run *r, wstate *s, bool wait) {
    bool got = true;
    while (got && !s->aborted) {
        TSR_CALL(r->ctx, tsr__msg_recv(&r->ob, wait, &r->m, &got));
        if (got)
            TSR_CALL(r->ctx, worker_handle(r, s));
        wait = false;
    }
    return TSR_SUCCESS;
}

/* Runs one held chunk and sends its results (with a want for another, unless stopped). */
static int worker_chunk(run *r, wstate *s, rbuf *w, rbuf *out) {
    tsr_farm f = r->f;
    tsr_ctx ctx = r->ctx;
    work_hdr h;
    memcpy(&h, w->p, sizeof h);
    TSR_CALL(ctx, tsr__farm_results_begin(ctx, out, h.first, h.count));
    int64_t i = 0;
    while (i < h.count) {
        TSR_CALL(ctx, worker_poll(r, s, false)); /* an abort or the next chunk */
        if (s->aborted)
            return TSR_SUCCESS;
        const void *item = f->o.item_bytes ? w->p + sizeof h + (size_t)i * f->o.item_bytes : NULL;
        int st;
        TSR_CALL(ctx, tsr__farm_run_task(r, out, i, h.first + i, item, &st));
        i++;
        if (st && f->o.on_error == TSR_FARM_ABORT) {
            /* Report at once; rank 0 will abort everyone. */
            s->halted = true;
            break;
        }
    }
    int64_t wants = s->stopped || s->halted ? 0 : 1;
    req_hdr rh = {wants, h.first, i, 0};
    memcpy(out->p, &rh, sizeof rh);
    if (i < h.count) { /* cut: the table shrinks, the bytes move up */
        memmove(out->p + rec_offset(i), out->p + rec_offset(h.count),
                out->len - rec_offset(h.count));
        out->len -= rec_offset(h.count) - rec_offset(i);
    }
    s->asked += wants;
    int err = tsr__outbox_send_owned(&r->ob, out->p, out->len, f->parent, TSR_TAG_FARM_REQUEST);
    *out = (rbuf){0};
    return err;
}

int tsr__farm_worker_loop(run *r, wstate *s) {
    tsr_ctx ctx = r->ctx;
    req_hdr h = {2, 0, 0, 0};
    TSR_CALL(ctx, tsr__outbox_send(&r->ob, &h, sizeof h, r->f->parent, TSR_TAG_FARM_REQUEST));
    s->asked = 2;
    rbuf out = {0};
    int err = TSR_SUCCESS;
    while (!err && !s->aborted) {
        if (s->halted || s->held.n == 0) {
            if (!s->halted && s->stopped && s->replies == s->asked)
                break;
            err = worker_poll(r, s, true);
            continue;
        }
        rbuf w = *(rbuf *)fifo_at(&s->held, 0);
        fifo_pop(&s->held);
        err = worker_chunk(r, s, &w, &out);
        free(w.p);
    }
    free(out.p);
    return err;
}
