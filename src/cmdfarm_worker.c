/* The command farm's ranks other than 0: run the tasks rank 0 (or their relay) sends, up to the
 * slots at once and the rest queued, report every end, and on a stop hand back the queued ones and
 * end the running ones (cmdfarm.h, cmdfarm.c). */
#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdfarm_impl.h"
#include "tessera/error.h"

/* Tasks a rank holds ahead of a free slot. */
typedef struct queued {
    tsr__cf_job job;
    char *command;
} queued;

/* The rank a worker answers to: rank 0, or its relay. One worker per process. */
static int parent;

static int send_ends(MPI_Comm comm, const tsr__cf_end *e, int n) {
    return n > 0 ? MPI_Send(e, n * (int)sizeof *e, MPI_BYTE, parent, TSR__CF_TAG_END, comm) : 0;
}

static int send_unstarted(MPI_Comm comm, const tsr__cf_job *job, int rank) {
    tsr__cf_end e = tsr__cf_unstarted(job, rank);
    return send_ends(comm, &e, 1);
}

/* This rank cannot go on (a task it cannot start, an MPI call, memory): the error is recorded
 * and rank 0 told with its text; rank 0 stops the job and every rank ends with this message. The
 * rank's running tasks are ended, and it keeps answering rank 0 (ends, tasks handed back) until
 * the stop, so no message is left in flight. Returns the MPI error of telling rank 0. */
static int local_failure(tsr_ctx ctx, MPI_Comm comm, tsr__cf_exec *x, int *failure, int code,
                         const char *text) {
    if (*failure)
        return 0;
    *failure = code;
    tsr_error_set(ctx, code, __FILE__, __LINE__, __func__, "rank %d: %.*s", x->rank,
                  (int)sizeof((tsr__cf_fail *)0)->text - 1, text);
    tsr__cf_exec_stop(x);
    return tsr__cf_tell_failure(comm, parent, x->rank, code, text);
}

/* A task that could not start (fork, pipes, its output files): the rank's failure, then the
 * task's end (after the failure, rank 0 takes it back as not run). */
static int start_failed(tsr_ctx ctx, MPI_Comm comm, tsr__cf_exec *x, int *failure,
                        const tsr__cf_end *e) {
    char text[sizeof((tsr__cf_fail *)0)->text];
    tsr__cf_start_error(x, e->id, errno, text, sizeof text);
    int err = local_failure(ctx, comm, x, failure, TSR_ERR_IO, text);
    return err ? err : send_ends(comm, e, 1);
}

/* A task as rank 0 sends it: its header and its command (PREFIX, line and SUFFIX, each shorter
 * than a task-file line, joined by blanks). One worker per process. */
static char rbuf[sizeof(tsr__cf_job) + 3 * TSR__TASKFILE_MAX_LINE + 3];

int tsr__cf_work(tsr_ctx ctx, MPI_Comm comm, int from, tsr__cf_exec *x) {
    parent = from;
    bool stop = false, told = false;
    tsr__cf_end ends[64], e;
    int cap = (1 + TSR__CF_AHEAD) * x->nslots, head = 0, len = 0, err = 0, failure = 0;
    queued *q = calloc((size_t)cap, sizeof *q);
    if (!q) { /* the rank hands every task back: it still answers until the stop */
        cap = 0;
        err = local_failure(ctx, comm, x, &failure, TSR_ERR_MEMORY, "no memory for its task queue");
    }
    while (true) {
        /* With every slot busy, only a task's end (SIGCHLD wakes the poll) frees one: jobs from
         * rank 0 can wait in MPI until then, and the rank sleeps instead of taking a core from
         * the tasks (3 ranks on 2 cores: 1 ms polls cost a tenth of the sleep 0.01 farm). A
         * free slot waits for rank 0: a short poll. */
        int wait_ms = x->running == x->nslots && !stop ? 20 : 1;
        int n = tsr__cf_exec_poll(x, wait_ms, ends, 64);
        /* The queued task first, then the report of the one that freed its slot. */
        while (!err && len > 0 && (failure || x->running < x->nslots)) {
            queued *j = &q[head];
            if (failure)
                err = send_unstarted(comm, &j->job, x->rank);
            else if (tsr__cf_exec_start(x, &j->job, j->command, &e))
                err = start_failed(ctx, comm, x, &failure, &e);
            free(j->command);
            head = (head + 1) % cap;
            len--;
        }
        if (!err)
            err = send_ends(comm, ends, n);
        int flag = 1;
        MPI_Status st;
        while (!err && !(err = MPI_Iprobe(parent, MPI_ANY_TAG, comm, &flag, &st)) && flag) {
            if (st.MPI_TAG == TSR__CF_TAG_JOB) {
                /* Into a static buffer that holds the longest command: receiving a task needs no
                 * memory, so even a rank out of memory can hand it back. */
                err = MPI_Recv(rbuf, (int)sizeof rbuf - 1, MPI_BYTE, parent, TSR__CF_TAG_JOB, comm,
                               MPI_STATUS_IGNORE);
                if (err)
                    break;
                rbuf[sizeof rbuf - 1] = '\0';
                queued j = {.command = NULL};
                memcpy(&j.job, rbuf, sizeof j.job);
                const char *command = rbuf + sizeof j.job;
                if (failure) { /* after a failure, tasks go back unstarted */
                    err = send_unstarted(comm, &j.job, x->rank);
                } else if (len == 0 && x->running < x->nslots) {
                    if (tsr__cf_exec_start(x, &j.job, command, &e))
                        err = start_failed(ctx, comm, x, &failure, &e);
                } else if (len == cap || !(j.command = strdup(command))) {
                    /* rank 0 never sends more than 1 + TSR__CF_AHEAD per slot */
                    err = local_failure(ctx, comm, x, &failure,
                                        len == cap ? TSR_ERR_INTERNAL : TSR_ERR_MEMORY,
                                        len == cap ? "more tasks received than its queue holds"
                                                   : "no memory for a task received");
                    if (!err)
                        err = send_unstarted(comm, &j.job, x->rank);
                } else {
                    q[(head + len++) % cap] = j;
                }
            } else {
                int kill = 0;
                err =
                    MPI_Recv(&kill, 1, MPI_INT, parent, TSR__CF_TAG_STOP, comm, MPI_STATUS_IGNORE);
                stop = true;
                if (kill) {
                    /* Queued tasks never started: reported back, without a pid. */
                    for (; len > 0 && !err; len--, head = (head + 1) % cap) {
                        err = send_unstarted(comm, &q[head].job, x->rank);
                        free(q[head].command);
                    }
                    tsr__cf_exec_stop(x);
                }
            }
        }
        if (err && !failure) { /* an MPI error here: rank 0 is told, if it still can be */
            char text[MPI_MAX_ERROR_STRING + 32];
            tsr__cf_mpi_text(err, text, sizeof text);
            err = local_failure(ctx, comm, x, &failure, TSR_ERR_MPI, text);
        }
        if (err)
            break;
        if (tsr__cf_stop_signal() && !told) {
            int sig = tsr__cf_stop_signal();
            err = MPI_Send(&sig, 1, MPI_INT, parent, TSR__CF_TAG_SIGNAL, comm);
            told = true;
        }
        if (!err && stop && x->running == 0 && len == 0) {
            int bye = 0;
            err = MPI_Send(&bye, 1, MPI_INT, parent, TSR__CF_TAG_BYE, comm);
            break;
        }
        if (err)
            break;
    }
    for (; len > 0; len--, head = (head + 1) % cap)
        free(q[head].command);
    free(q);
    if (failure)
        return failure; /* recorded by local_failure */
    TSR_MPI(ctx, err);
    return 0;
}
