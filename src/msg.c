/* Owned synchronous sends, any-size receives and quiescence for the farm and the pipeline. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "msg_impl.h"

int tsr__outbox_init(tsr__outbox *ob, tsr_ctx ctx, MPI_Comm comm) {
    memset(ob, 0, sizeof *ob);
    ob->ctx = ctx;
    ob->comm = comm;
    return TSR_SUCCESS;
}

void tsr__outbox_free(tsr__outbox *ob) {
    /* Only after an error can sends still be in flight. MPI may still read a buffer whose
     * cancel failed, so those buffers are left to the process rather than freed. */
    for (int i = 0; i < ob->n; i++) {
        int done = 0;
        if (ob->reqs[i] != MPI_REQUEST_NULL &&
            MPI_Test(&ob->reqs[i], &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done) {
            MPI_Cancel(&ob->reqs[i]);
            MPI_Request_free(&ob->reqs[i]);
            continue;
        }
        free(ob->bufs[i]);
    }
    free(ob->reqs);
    free(ob->bufs);
    free(ob->idx);
    memset(ob, 0, sizeof *ob);
}

/* Tests sends first .. first+count-1 and removes those that finished, moving the last send into
 * each hole (from the top of the range down, so the one moved in has not finished). */
static int test_range(tsr__outbox *ob, int first, int count) {
    if (count <= 0)
        return TSR_SUCCESS;
    int done = 0;
    TSR_MPI(ob->ctx, MPI_Testsome(count, ob->reqs + first, &done, ob->idx, MPI_STATUSES_IGNORE));
    if (done == MPI_UNDEFINED || done == 0)
        return TSR_SUCCESS;
    for (int k = 0; k < done; k++) {
        free(ob->bufs[first + ob->idx[k]]);
        ob->bufs[first + ob->idx[k]] = NULL;
    }
    for (int i = first + count - 1; i >= first; i--)
        if (ob->reqs[i] == MPI_REQUEST_NULL) {
            ob->n--;
            ob->reqs[i] = ob->reqs[ob->n];
            ob->bufs[i] = ob->bufs[ob->n];
        }
    return TSR_SUCCESS;
}

/* Every send: when the arrays are full, and when a run ends. */
static int progress_all(tsr__outbox *ob) {
    ob->front = 0;
    return test_range(ob, 0, ob->n);
}

static int grow(tsr__outbox *ob) {
    if (ob->n < ob->cap)
        return TSR_SUCCESS;
    /* Amortized: after a full test, the arrays double unless at most half of them is still in
     * flight, so the next full test is at least cap/2 sends away. */
    TSR_CALL(ob->ctx, progress_all(ob));
    if (ob->cap && ob->n <= ob->cap / 2)
        return TSR_SUCCESS;
    int cap = ob->cap ? 2 * ob->cap : 16;
    MPI_Request *r = realloc(ob->reqs, (size_t)cap * sizeof *r);
    if (r)
        ob->reqs = r;
    void **b = realloc(ob->bufs, (size_t)cap * sizeof *b);
    if (b)
        ob->bufs = b;
    int *idx = realloc(ob->idx, (size_t)cap * sizeof *idx);
    if (idx)
        ob->idx = idx;
    TSR_CHECK(ob->ctx, r && b && idx, TSR_ERR_MEMORY, "cannot grow the send queue to %d", cap);
    ob->cap = cap;
    return TSR_SUCCESS;
}

int tsr__outbox_send_owned(tsr__outbox *ob, void *buf, size_t len, int dest, int tag) {
    tsr_ctx ctx = ob->ctx;
    if (len > (size_t)INT_MAX) {
        free(buf);
        TSR_CHECK(ctx, 0, TSR_ERR_ARG, "message of %zu bytes to rank %d exceeds INT_MAX", len,
                  dest);
    }
    int err = grow(ob);
    if (err) {
        free(buf);
        return err;
    }
    int rc = MPI_Issend(buf, (int)len, MPI_BYTE, dest, tag, ob->comm, &ob->reqs[ob->n]);
    if (rc != MPI_SUCCESS) {
        free(buf);
        return tsr_error_mpi(ctx, rc, "MPI_Issend", __FILE__, __LINE__, __func__);
    }
    ob->bufs[ob->n++] = buf;
    ctx->bytes_sent += len;
    ctx->msgs_sent++;
    return TSR_SUCCESS;
}

int tsr__outbox_send(tsr__outbox *ob, const void *buf, size_t len, int dest, int tag) {
    void *copy = malloc(len ? len : 1);
    TSR_CHECK(ob->ctx, copy, TSR_ERR_MEMORY, "cannot allocate a %zu-byte message", len);
    if (len)
        memcpy(copy, buf, len);
    return tsr__outbox_send_owned(ob, copy, len, dest, tag);
}

int tsr__outbox_progress(tsr__outbox *ob) {
    if (ob->front >= ob->n)
        ob->front = 0;
    int first = ob->front;
    int count = ob->n - first < TSR__OUTBOX_TESTS ? ob->n - first : TSR__OUTBOX_TESTS;
    int before = ob->n;
    TSR_CALL(ob->ctx, test_range(ob, first, count));
    /* The sends still in the range stay put; the next call starts after them. */
    ob->front = first + count - (before - ob->n);
    return TSR_SUCCESS;
}

int tsr__msg_recv(tsr__outbox *ob, bool wait, tsr__msg *m, bool *got) {
    tsr_ctx ctx = ob->ctx;
    MPI_Message handle;
    MPI_Status st;
    int flag = 0;
    *got = false;
    double start = tsr_wtime();
    TSR_MPI(ctx, MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, ob->comm, &flag, &handle, &st));
    if (!flag) {
        /* Sends are completed when nothing is waiting: a busy coordinator makes no extra MPI
         * call per message (each one polls every peer's shared-memory box), and the full test
         * before the arrays grow bounds what piles up meanwhile. */
        TSR_CALL(ctx, tsr__outbox_progress(ob));
        if (!wait)
            return TSR_SUCCESS;
        /* The work above counts, the wait does not. */
        double before = tsr_wtime() - start;
        TSR_MPI(ctx, MPI_Mprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, ob->comm, &handle, &st));
        start = tsr_wtime() - before;
    }
    m->arrived = start;
    int count = 0;
    TSR_MPI(ctx, MPI_Get_count(&st, MPI_BYTE, &count));
    if ((size_t)count > m->cap || !m->buf) {
        size_t cap = (size_t)count > 2 * m->cap ? (size_t)count : 2 * m->cap;
        void *b = realloc(m->buf, cap ? cap : 64);
        TSR_CHECK(ctx, b, TSR_ERR_MEMORY, "cannot allocate a %d-byte receive buffer", count);
        m->buf = b;
        m->cap = cap ? cap : 64;
    }
    TSR_MPI(ctx, MPI_Mrecv(m->buf, count, MPI_BYTE, &handle, &st));
    m->source = st.MPI_SOURCE;
    m->tag = st.MPI_TAG;
    m->len = (size_t)count;
    *got = true;
    return TSR_SUCCESS;
}

void tsr__msg_free(tsr__msg *m) {
    free(m->buf);
    memset(m, 0, sizeof *m);
}

void tsr__backoff_nap(tsr__backoff *b) {
    struct timespec ts = {b->us / 1000000, (b->us % 1000000) * 1000};
    nanosleep(&ts, NULL);
    b->us = 2 * b->us < b->max_us ? 2 * b->us : b->max_us;
}

int tsr__quiesce(tsr__outbox *ob) {
    tsr_ctx ctx = ob->ctx;
    tsr__msg m = {0};
    MPI_Request barrier = MPI_REQUEST_NULL;
    int err = TSR_SUCCESS, reached = 0;
    tsr__backoff nap = tsr__backoff_make(50, 50);
    while (!err && !reached) {
        bool got = true;
        while (!err && got)
            err = tsr__msg_recv(ob, false, &m, &got); /* discarded */
        if (err)
            break;
        if (barrier == MPI_REQUEST_NULL)
            err = progress_all(ob);
        if (err)
            break;
        if (barrier == MPI_REQUEST_NULL && ob->n == 0) {
            int rc = MPI_Ibarrier(ob->comm, &barrier);
            if (rc != MPI_SUCCESS)
                err = tsr_error_mpi(ctx, rc, "MPI_Ibarrier", __FILE__, __LINE__, __func__);
        } else if (barrier != MPI_REQUEST_NULL) {
            int rc = MPI_Test(&barrier, &reached, MPI_STATUS_IGNORE);
            if (rc != MPI_SUCCESS)
                err = tsr_error_mpi(ctx, rc, "MPI_Test", __FILE__, __LINE__, __func__);
        }
        if (!err && !reached)
            tsr__backoff_nap(&nap);
    }
    tsr__msg_free(&m);
    return err;
}
