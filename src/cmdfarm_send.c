/* The command farm's sends in flight (cmdfarm_impl.h): rank 0's jobs to its ranks, a relay's to
 * its workers. Completed sends are freed oldest first, one MPI_Test each over the run. */
#include <stdlib.h>

#include "cmdfarm_impl.h"
#include "tessera/error.h"

int tsr__cf_sendq_init(tsr__cf_sendq *q, int cap) {
    q->cap = cap > 0 ? cap : 1;
    q->head = q->len = 0;
    q->req = malloc((size_t)q->cap * sizeof *q->req);
    q->buf = malloc((size_t)q->cap * sizeof *q->buf);
    return q->req && q->buf ? 0 : TSR_ERR_MEMORY;
}

int tsr__cf_sendq_reap(tsr__cf_sendq *q, bool wait) {
    while (q->len > 0) {
        int done = 1;
        MPI_Request *rq = &q->req[q->head];
        int err = wait ? MPI_Wait(rq, MPI_STATUS_IGNORE) : MPI_Test(rq, &done, MPI_STATUS_IGNORE);
        if (err)
            return err;
        if (!done)
            break;
        free(q->buf[q->head]);
        q->head = (q->head + 1) % q->cap;
        q->len--;
        wait = false;
    }
    return 0;
}

int tsr__cf_sendq_send(tsr__cf_sendq *q, MPI_Comm comm, char *buf, int bytes, int dest, int tag) {
    int err = tsr__cf_sendq_reap(q, q->len == q->cap);
    int k = (q->head + q->len) % q->cap;
    if (!err)
        err = MPI_Isend(buf, bytes, MPI_BYTE, dest, tag, comm, &q->req[k]);
    if (err) {
        free(buf);
        return err;
    }
    q->buf[k] = buf;
    q->len++;
    return 0;
}

void tsr__cf_sendq_free(tsr__cf_sendq *q) {
    for (; q->len > 0; q->len--, q->head = (q->head + 1) % q->cap)
        MPI_Request_free(&q->req[q->head]);
    free(q->req);
    free(q->buf);
    q->req = NULL;
    q->buf = NULL;
    q->cap = 0;
}
