/* The command farm's ranks other than 0: run the tasks rank 0 sends, up to the slots at once and
 * the rest queued, report every end, and on a stop hand back the queued ones and end the
 * running ones (cmdfarm.h, cmdfarm.c). */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "cmdfarm_impl.h"
#include "tessera/error.h"

/* Tasks a rank holds ahead of a free slot. */
typedef struct queued {
    tsr__cf_job job;
    char *command;
} queued;

static int send_end(MPI_Comm comm, const tsr__cf_end *e) {
    return MPI_Send(e, (int)sizeof *e, MPI_BYTE, 0, TSR__CF_TAG_END, comm);
}

int tsr__cf_work(tsr_ctx ctx, MPI_Comm comm, tsr__cf_exec *x) {
    bool stop = false, told = false;
    tsr__cf_end ends[64], e;
    int cap = (1 + TSR__CF_AHEAD) * x->nslots, head = 0, len = 0, err = 0;
    queued *q = calloc((size_t)cap, sizeof *q);
    TSR_CHECK(ctx, q, TSR_ERR_MEMORY, "no memory for the task queue");
    while (!err) {
        /* With every slot busy, only a task's end (SIGCHLD wakes the poll) frees one: jobs from
         * rank 0 can wait in MPI until then, and the rank sleeps instead of taking a core from
         * the tasks (3 ranks on 2 cores: 1 ms polls cost a tenth of the sleep 0.01 farm). A
         * free slot waits for rank 0: a short poll. */
        int wait_ms = x->running == x->nslots && !stop ? 20 : 1;
        int n = tsr__cf_exec_poll(x, wait_ms, ends, 64);
        /* The queued task first, then the report of the one that freed its slot. */
        while (!err && len > 0 && x->running < x->nslots) {
            queued *j = &q[head];
            if (tsr__cf_exec_start(x, &j->job, j->command, &e))
                err = send_end(comm, &e);
            free(j->command);
            head = (head + 1) % cap;
            len--;
        }
        for (int i = 0; i < n && !err; i++)
            err = send_end(comm, &ends[i]);
        int flag = 1;
        MPI_Status st;
        while (!err && !(err = MPI_Iprobe(0, MPI_ANY_TAG, comm, &flag, &st)) && flag) {
            if (st.MPI_TAG == TSR__CF_TAG_JOB) {
                int bytes = 0;
                MPI_Get_count(&st, MPI_BYTE, &bytes);
                char *buf = malloc((size_t)bytes);
                if (!buf ||
                    len == cap) { /* rank 0 never sends more than 1 + TSR__CF_AHEAD per slot */
                    free(buf);
                    err = MPI_ERR_NO_MEM;
                    break;
                }
                err = MPI_Recv(buf, bytes, MPI_BYTE, 0, TSR__CF_TAG_JOB, comm, MPI_STATUS_IGNORE);
                queued j;
                memcpy(&j.job, buf, sizeof j.job);
                if (!err && len == 0 && x->running < x->nslots) {
                    if (tsr__cf_exec_start(x, &j.job, buf + sizeof j.job, &e))
                        err = send_end(comm, &e);
                    free(buf);
                } else {
                    memmove(buf, buf + sizeof j.job, (size_t)bytes - sizeof j.job);
                    j.command = buf;
                    q[(head + len++) % cap] = j;
                }
            } else {
                int kill = 0;
                err = MPI_Recv(&kill, 1, MPI_INT, 0, TSR__CF_TAG_STOP, comm, MPI_STATUS_IGNORE);
                stop = true;
                if (kill) {
                    /* Queued tasks never started: reported back, without a pid. */
                    for (; len > 0 && !err; len--, head = (head + 1) % cap) {
                        double now = tsr__cf_now();
                        e = (tsr__cf_end){.id = q[head].job.id,
                                          .attempt = q[head].job.attempt,
                                          .rank = x->rank,
                                          .how = TSR__CF_STOPPED,
                                          .start = now,
                                          .end = now};
                        free(q[head].command);
                        err = send_end(comm, &e);
                    }
                    tsr__cf_exec_stop(x);
                }
            }
        }
        if (!err && tsr__cf_stop_signal() && !told) {
            int sig = tsr__cf_stop_signal();
            err = MPI_Send(&sig, 1, MPI_INT, 0, TSR__CF_TAG_SIGNAL, comm);
            told = true;
        }
        if (!err && stop && x->running == 0 && len == 0) {
            int bye = 0;
            err = MPI_Send(&bye, 1, MPI_INT, 0, TSR__CF_TAG_BYE, comm);
            break;
        }
    }
    for (; len > 0; len--, head = (head + 1) % cap)
        free(q[head].command);
    free(q);
    TSR_MPI(ctx, err);
    return 0;
}
