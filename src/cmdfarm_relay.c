/* A relay of the command farm (--farm-groups): the second coordinator level. Rank 0 sees it as
 * one rank holding all its workers' slots and sends it batches of jobs; it hands each job to one
 * of its workers with a free slot (else with room queued ahead, as rank 0 would; a retry to
 * another worker than its last, waiting for one to have room) and gathers
 * their ends into batches for rank 0, so that rank 0 handles one message per batch instead of
 * one per task. Ends wait for a batch only while every slot of the group is busy: they go once
 * half the group's queue places came free, as soon as a slot is free, after 5 ms, or on a stop,
 * so that BARRIERs, retries and the job's end are not delayed. A relay runs no tasks: the
 * simulation's sub-coordinator (bench/farm_sim.c) is a pure server too. Messages and their order
 * are those of cmdfarm_impl.h. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdfarm_impl.h"
#include "msg_impl.h"
#include "tessera/error.h"

typedef tsr__cf_relay relay;

/* A batch of rank 0's: the job headers and their commands, one after the other. */
static char jbuf[TSR__CF_BATCH_BYTES + sizeof(tsr__cf_job) + 3 * TSR__TASKFILE_MAX_LINE + 3];

static int send_ends(relay *v) {
    for (int k = 0; k < v->npend; k += TSR__CF_END_BATCH) {
        int m = v->npend - k < TSR__CF_END_BATCH ? v->npend - k : TSR__CF_END_BATCH;
        int err =
            MPI_Send(v->pend + k, m * (int)sizeof *v->pend, MPI_BYTE, 0, TSR__CF_TAG_END, v->comm);
        if (err)
            return err;
    }
    v->npend = 0;
    return 0;
}

/* Never full by the protocol (an end per job held); sent first if it were. */
static int add_end(relay *v, const tsr__cf_end *e) {
    if (v->npend == v->cap) {
        int err = send_ends(v);
        if (err)
            return err;
    }
    if (v->npend == 0)
        v->since = tsr__cf_now();
    v->pend[v->npend++] = *e;
    return 0;
}

/* The relay's own failure (a task it cannot pass on, an MPI call, memory): recorded and told to
 * rank 0 once, which then stops the job; the relay keeps serving until the stop, handing every
 * job back, so no rank waits for it. Returns the MPI error of telling rank 0. */
static int failed(relay *v, int code, const char *text) {
    if (v->failure)
        return 0;
    v->failure = code;
    tsr_error_set(v->ctx, code, __FILE__, __LINE__, __func__, "rank %d: %s", v->rank, text);
    return tsr__cf_tell_failure(v->comm, 0, v->rank, code, text);
}

static int hand_back(relay *v, const tsr__cf_job *job) {
    tsr__cf_end e = tsr__cf_unstarted(job, v->rank);
    return add_end(v, &e);
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The index of a worker rank in v->members, -1 if not one of them. */
static int member(const relay *v, int rank) {
    const int *at = bsearch(&rank, v->members, (size_t)v->n, sizeof rank, cmp_int);
    return at ? (int)(at - v->members) : -1;
}

/* A worker for a job: a free slot, else room queued ahead (as rank 0 would), on another worker
 * than a retry's last one when the group has another. -1: none has room. */
static int pick(relay *v, const tsr__cf_job *job) {
    int avoid = member(v, job->avoid), k = tsr__cf_slots_take(&v->free, avoid, false);
    return k >= 0 ? k : tsr__cf_slots_take(&v->free, avoid, true);
}

/* Sends a job (buf: its header, then its command; the send queue takes it) to worker k. */
static int send_job(relay *v, int k, char *buf, size_t bytes) {
    tsr__cf_job job;
    memcpy(&job, buf, sizeof job);
    int err =
        tsr__cf_sendq_send(&v->sends, v->comm, buf, (int)bytes, v->members[k], TSR__CF_TAG_JOB);
    if (err) { /* not sent: it goes back, and the loop reports the MPI error */
        tsr__cf_slots_give(&v->free, k);
        hand_back(v, &job);
    }
    return err;
}

/* Hands a job to a worker. A retry whose other workers have no room waits for one, as rank 0
 * makes a retry wait for another rank; rank 0 sends no more than the group's slots and queues
 * hold, so any other job always finds room. */
static int forward(relay *v, const tsr__cf_job *job, const char *command) {
    if (v->failure)
        return hand_back(v, job);
    size_t bytes = sizeof *job + (size_t)job->command_bytes;
    char *buf = malloc(bytes);
    int k = buf ? pick(v, job) : -1;
    bool wait = buf && k < 0 && v->n > 1 && member(v, job->avoid) >= 0 && v->nheld < v->held_cap;
    if (!buf || (k < 0 && !wait)) {
        bool nomem = !buf;
        free(buf);
        int err = failed(v, nomem ? TSR_ERR_MEMORY : TSR_ERR_INTERNAL,
                         nomem ? "no memory for a task received"
                               : "more tasks received than its workers hold");
        int e2 = hand_back(v, job);
        return err ? err : e2;
    }
    memcpy(buf, job, sizeof *job);
    memcpy(buf + sizeof *job, command, (size_t)job->command_bytes);
    if (wait) {
        v->held[v->nheld++] = buf;
        return 0;
    }
    return send_job(v, k, buf, bytes);
}

/* The waiting retries, oldest first, to workers that now have room. */
static int place_held(relay *v) {
    int kept = 0, err = 0;
    for (int i = 0; i < v->nheld; i++) {
        tsr__cf_job job;
        memcpy(&job, v->held[i], sizeof job);
        int k = err || v->failure ? -1 : pick(v, &job);
        if (k < 0) {
            v->held[kept++] = v->held[i];
            continue;
        }
        int e = send_job(v, k, v->held[i], sizeof job + (size_t)job.command_bytes);
        err = err ? err : e;
    }
    v->nheld = kept;
    return err;
}

/* On a stop: the waiting retries go back to rank 0 unstarted. */
static int return_held(relay *v) {
    int err = 0;
    for (int i = 0; i < v->nheld; i++) {
        tsr__cf_job job;
        memcpy(&job, v->held[i], sizeof job);
        int e = hand_back(v, &job);
        err = err ? err : e;
        free(v->held[i]);
    }
    v->nheld = 0;
    return err;
}

static int jobs_from_root(relay *v, const MPI_Status *st) {
    int bytes = 0, err = MPI_Get_count(st, MPI_BYTE, &bytes);
    if (!err)
        err = MPI_Recv(jbuf, (int)sizeof jbuf, MPI_BYTE, 0, TSR__CF_TAG_JOB, v->comm,
                       MPI_STATUS_IGNORE);
    for (int at = 0; !err && at + (int)sizeof(tsr__cf_job) <= bytes;) {
        tsr__cf_job job;
        memcpy(&job, jbuf + at, sizeof job);
        at += (int)sizeof job;
        if (job.command_bytes < 1 || job.command_bytes > bytes - at)
            break; /* not rank 0's message: cannot happen */
        jbuf[at + job.command_bytes - 1] = '\0';
        err = forward(v, &job, jbuf + at);
        at += job.command_bytes;
    }
    return err;
}

int tsr__cf_relay_init(relay *v, tsr_ctx ctx, MPI_Comm comm, int n, const int *info) {
    *v = (relay){.ctx = ctx, .comm = comm, .n = n};
    MPI_Comm_rank(comm, &v->rank);
    int total = 0;
    v->members = malloc((size_t)n * sizeof *v->members);
    int *slots = malloc((size_t)n * sizeof *slots);
    for (int k = 0; k < n && v->members && slots; k++) {
        v->members[k] = info[2 * k];
        slots[k] = info[2 * k + 1];
        total += slots[k];
    }
    /* Every job handed out may come back as an end before the next flush. */
    v->cap = (1 + TSR__CF_AHEAD) * total + TSR__CF_END_BATCH;
    v->flush_at = TSR__CF_AHEAD * total / 2 > 1 ? TSR__CF_AHEAD * total / 2 : 1;
    v->pend = malloc((size_t)v->cap * sizeof *v->pend);
    v->held_cap = (1 + TSR__CF_AHEAD) * total;
    v->held = malloc((size_t)(v->held_cap > 0 ? v->held_cap : 1) * sizeof *v->held);
    int err = v->members && slots && v->pend && v->held
                  ? tsr__cf_slots_init(&v->free, 0, n, slots, TSR__CF_AHEAD)
                  : TSR_ERR_MEMORY;
    if (!err)
        err = tsr__cf_sendq_init(&v->sends, (1 + TSR__CF_AHEAD) * total + 64);
    free(slots);
    if (err)
        return tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                             "rank %d: no memory for its %d workers' slots", v->rank, n);
    return 0;
}

void tsr__cf_relay_free(relay *v) {
    tsr__cf_slots_free(&v->free);
    tsr__cf_sendq_free(&v->sends);
    for (int i = 0; i < v->nheld; i++)
        free(v->held[i]);
    free(v->held);
    free(v->pend);
    free(v->members);
    v->held = NULL;
    v->nheld = 0;
    v->pend = NULL;
    v->members = NULL;
}

int tsr__cf_relay_run(relay *v) {
    tsr_ctx ctx = v->ctx;
    MPI_Comm comm = v->comm;
    int n = v->n;
    int byes = 0, mpi = 0;
    bool stop = false, told = false;
    tsr__backoff idle = tsr__backoff_make(100, 1000);
    while (true) {
        bool any = false;
        int flag = 1;
        MPI_Status st;
        while (!mpi && !(mpi = MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm, &flag, &st)) && flag) {
            any = true;
            int src = st.MPI_SOURCE, word = 0;
            if (src == 0 && st.MPI_TAG == TSR__CF_TAG_JOB) {
                mpi = jobs_from_root(v, &st);
            } else if (src == 0) { /* STOP: to every worker, in order after their jobs */
                mpi = MPI_Recv(&word, 1, MPI_INT, 0, TSR__CF_TAG_STOP, comm, MPI_STATUS_IGNORE);
                for (int k = 0; k < n && !mpi; k++)
                    mpi = MPI_Send(&word, 1, MPI_INT, v->members[k], TSR__CF_TAG_STOP, comm);
                if (!mpi)
                    mpi = return_held(v);
                stop = true;
            } else if (st.MPI_TAG == TSR__CF_TAG_END) {
                tsr__cf_end e[64];
                int bytes = 0;
                mpi = MPI_Get_count(&st, MPI_BYTE, &bytes);
                if (!mpi)
                    mpi = MPI_Recv(e, (int)sizeof e, MPI_BYTE, src, TSR__CF_TAG_END, comm,
                                   MPI_STATUS_IGNORE);
                for (int k = 0; !mpi && k < bytes / (int)sizeof *e; k++) {
                    int w = member(v, e[k].rank);
                    if (w >= 0)
                        tsr__cf_slots_give(&v->free, w);
                    mpi = add_end(v, &e[k]);
                }
                if (!mpi && !stop)
                    mpi = place_held(v);
            } else if (st.MPI_TAG == TSR__CF_TAG_FAIL) {
                tsr__cf_fail f;
                mpi = MPI_Recv(&f, (int)sizeof f, MPI_BYTE, src, TSR__CF_TAG_FAIL, comm,
                               MPI_STATUS_IGNORE);
                if (!mpi)
                    mpi = MPI_Send(&f, (int)sizeof f, MPI_BYTE, 0, TSR__CF_TAG_FAIL, comm);
            } else { /* SIGNAL (passed on once) or BYE */
                mpi = MPI_Recv(&word, 1, MPI_INT, src, st.MPI_TAG, comm, MPI_STATUS_IGNORE);
                if (!mpi && st.MPI_TAG == TSR__CF_TAG_BYE)
                    byes++;
                else if (!mpi && !told) {
                    mpi = MPI_Send(&word, 1, MPI_INT, 0, TSR__CF_TAG_SIGNAL, comm);
                    told = true;
                }
            }
        }
        if (!mpi && tsr__cf_stop_signal() && !told) {
            int sig = tsr__cf_stop_signal();
            mpi = MPI_Send(&sig, 1, MPI_INT, 0, TSR__CF_TAG_SIGNAL, comm);
            told = true;
        }
        /* A free slot in the group: its worker waits for rank 0, so the ends go now. */
        if (!mpi && v->npend > 0 &&
            (stop || v->free.free.len > 0 || v->npend >= v->flush_at ||
             tsr__cf_now() - v->since >= 0.005))
            mpi = send_ends(v);
        if (!mpi)
            mpi = tsr__cf_sendq_reap(&v->sends, false);
        if (!mpi && stop && byes == n && v->npend == 0) {
            int bye = 0;
            mpi = tsr__cf_sendq_reap(&v->sends, true);
            if (!mpi)
                mpi = MPI_Send(&bye, 1, MPI_INT, 0, TSR__CF_TAG_BYE, comm);
            break;
        }
        if (mpi && !v->failure) { /* rank 0 is told, if it still can be, and the relay goes on */
            char text[MPI_MAX_ERROR_STRING + 32];
            tsr__cf_mpi_text(mpi, text, sizeof text);
            mpi = failed(v, TSR_ERR_MPI, text);
        }
        if (mpi)
            break;
        if (any)
            tsr__backoff_reset(&idle);
        else
            tsr__backoff_nap(&idle);
    }
    if (v->failure)
        return v->failure; /* recorded by failed() */
    TSR_MPI(ctx, mpi);
    return 0;
}
