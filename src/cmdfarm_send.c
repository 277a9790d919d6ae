/* The command farm's messages that several kinds of rank send (cmdfarm_impl.h): a job handed
 * back, a rank's own failure; and the sends in flight, rank 0's jobs to its ranks and a relay's
 * to its workers, freed oldest first, one MPI_Test each over the run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdfarm_impl.h"
#include "tessera/error.h"

tsr__cf_end tsr__cf_unstarted(const tsr__cf_job *job, int rank) {
    double now = tsr__cf_now();
    return (tsr__cf_end){.id = job->id,
                         .attempt = job->attempt,
                         .rank = rank,
                         .how = TSR__CF_STOPPED,
                         .start = now,
                         .end = now};
}

int tsr__cf_tell_failure(MPI_Comm comm, int to, int rank, int code, const char *text) {
    tsr__cf_fail f = {.code = code, .rank = rank};
    snprintf(f.text, sizeof f.text, "%s", text);
    return MPI_Send(&f, (int)sizeof f, MPI_BYTE, to, TSR__CF_TAG_FAIL, comm);
}

void tsr__cf_mpi_text(int err, char *buf, size_t len) {
    char text[MPI_MAX_ERROR_STRING] = "";
    int tl = 0;
    MPI_Error_string(err, text, &tl);
    snprintf(buf, len, "an MPI call failed: %s", text);
}

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
