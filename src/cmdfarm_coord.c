/* Rank 0 of the command farm (cmdfarm.h): the task file and job log prepared, tasks handed to
 * ranks with free slots (BARRIER sections, retries on another rank, the job's end), the ends
 * recorded, and what the run leaves (the summary, JOBLOG.failed). */
#include <errno.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmdfarm_impl.h"
#include "groups_impl.h"
#include "msg_impl.h"
#include "tessera/error.h"
#include "tessera/file.h"

typedef tsr__cf_coord coord;

/* Slurm's end of this job (EndTime of `scontrol show job`, local time), 0 if unknown. */
static double slurm_end_time(void) {
    const char *id = getenv("SLURM_JOB_ID");
    if (!id || !*id || strspn(id, "0123456789_") != strlen(id))
        return 0;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "scontrol show job -o %s 2>/dev/null", id);
    FILE *p = popen(cmd, "r");
    if (!p)
        return 0;
    char line[8192] = "";
    size_t n = fread(line, 1, sizeof line - 1, p);
    line[n] = '\0';
    pclose(p);
    const char *e = strstr(line, "EndTime=");
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!e || !strptime(e + 8, "%Y-%m-%dT%H:%M:%S", &tm))
        return 0;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    return t > 0 ? (double)t : 0;
}

/* Rank 0: the options that ranges cannot check, the task file, the job log. */
int tsr__cf_coord_prepare(coord *c, char *cwd, size_t cwdlen) {
    tsr_ctx ctx = c->ctx;
    const tsr_cmdfarm_opts *o = c->o;
    TSR_CHECK(ctx, o->tasks[0], TSR_ERR_INPUT,
              "no task file: tessera-farm TASKFILE [options] (or --tasks FILE)");
    char msg[1024];
    int err = tsr__taskfile_read(o->tasks, &c->tasks, msg, sizeof msg);
    TSR_CHECK(ctx, !err, err, "%s", msg);
    if (o->joblog[0])
        snprintf(c->joblog, sizeof c->joblog, "%s", o->joblog);
    else if (!strcmp(o->tasks, "-"))
        snprintf(c->joblog, sizeof c->joblog, "farm.joblog");
    else
        snprintf(c->joblog, sizeof c->joblog, "%s.joblog", o->tasks);
    /* Appending to the task file would replace the tasks with the log. */
    struct stat ts, js;
    TSR_CHECK(ctx,
              !strcmp(o->tasks, "-") || stat(o->tasks, &ts) != 0 || stat(c->joblog, &js) != 0 ||
                  ts.st_dev != js.st_dev || ts.st_ino != js.st_ino,
              TSR_ERR_INPUT, "--joblog '%s' is the task file '%s'", c->joblog, o->tasks);
    TSR_CALL(ctx, tsr__groups_parse(ctx, o->groups[0] ? o->groups : "auto", &c->groups));
    if (o->log_dir[0])
        TSR_CALL(ctx, tsr_dir_prepare(ctx, "--log-dir", o->log_dir));
    TSR_CHECK(ctx, getcwd(cwd, cwdlen) != NULL, TSR_ERR_IO, "cannot read the working directory: %s",
              strerror(errno));
    int64_t n = c->tasks.n;
    c->state = calloc((size_t)n, 1);
    c->attempt = calloc((size_t)n, sizeof *c->attempt);
    c->avoid = malloc((size_t)n * sizeof *c->avoid);
    c->retryq = malloc((size_t)n * sizeof *c->retryq);
    TSR_CHECK(ctx, c->state && c->attempt && c->avoid && c->retryq, TSR_ERR_MEMORY,
              "no memory for %lld tasks", (long long)n);
    bool resume = o->resume || o->resume_failed;
    if (resume) {
        err = tsr__cf_log_resume(c->joblog, &c->tasks, o->resume_failed, o->retries, c->state, msg,
                                 sizeof msg);
        TSR_CHECK(ctx, !err, err, "%s", msg);
    }
    for (int64_t i = 0; i < n; i++) {
        c->avoid[i] = -1;
        if (c->state[i] == 1) {
            c->state[i] = TSR__CF_SKIPPED;
            c->res.skipped++;
        } else if (c->state[i] == 2) {
            c->state[i] = TSR__CF_FAILED_BEFORE;
            c->res.failed++;
            c->failed_before++;
        }
    }
    err = tsr__cf_log_open(&c->log, c->joblog, resume, msg, sizeof msg);
    TSR_CHECK(ctx, !err, err, "%s", msg);
    c->res.ntasks = n;
    c->end_time = o->end_time > 0 ? o->end_time : slurm_end_time();
    return 0;
}

static int coord_end(coord *c, const tsr__cf_end *e);

static void start_stop(coord *c) {
    if (c->stopping)
        return;
    c->stopping = true;
    c->res.stopped = true;
    if (c->local)
        tsr__cf_exec_stop(c->local);
}

/* A failure of a rank's own (its message is in ctx, raised by the caller): no task starts, the
 * running ones are ended, every rank says goodbye, and the run returns the error. Only the first
 * failure is kept. */
static void coord_failed(coord *c, int err) {
    if (!c->failure)
        c->failure = err;
    start_stop(c);
}

/* A relay's jobs of one dispatch round, sent together (c->batch, one per rank, exists only
 * when there are relays). */
struct tsr__cf_batch {
    char *p;
    size_t len, cap;
    bool relay, listed; /* listed: in c->batched */
};

int tsr__cf_coord_relays(coord *c) {
    bool any = false;
    for (int r = 1; r < c->size; r++)
        any = any || c->via[r] != r;
    if (!any)
        return 0;
    c->batch = calloc((size_t)c->size, sizeof *c->batch);
    c->batched = calloc((size_t)c->size, sizeof *c->batched);
    if (!c->batch || !c->batched)
        return TSR_ERR_MEMORY;
    for (int r = 1; r < c->size; r++)
        if (c->via[r] != r)
            c->batch[c->via[r]].relay = true;
    return 0;
}

static int send_batch(coord *c, int relay) {
    struct tsr__cf_batch *b = &c->batch[relay];
    if (b->len == 0)
        return 0;
    char *buf = b->p;
    int bytes = (int)b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    TSR_MPI(c->ctx, tsr__cf_sendq_send(&c->sends, c->comm, buf, bytes, relay, TSR__CF_TAG_JOB));
    return 0;
}

/* The batches of this round, one message per relay. */
static int send_batches(coord *c) {
    for (; c->nbatched > 0; c->nbatched--) {
        int r = c->batched[c->nbatched - 1];
        c->batch[r].listed = false;
        TSR_CALL(c->ctx, send_batch(c, r));
    }
    return 0;
}

/* Room for a job of `bytes` to rank r: a buffer of its own for a worker, the end of its batch
 * for a relay (sent first when the job would take it past TSR__CF_BATCH_BYTES). NULL: no
 * memory. */
static int job_room(coord *c, int r, size_t bytes, char **room) {
    *room = NULL;
    if (!c->batch || !c->batch[r].relay) {
        *room = malloc(bytes);
        return 0;
    }
    struct tsr__cf_batch *b = &c->batch[r];
    if (b->len > 0 && b->len + bytes > TSR__CF_BATCH_BYTES)
        TSR_CALL(c->ctx, send_batch(c, r));
    if (b->len + bytes > b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 4096;
        while (cap < b->len + bytes)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return 0;
        b->p = p;
        b->cap = cap;
    }
    *room = b->p + b->len;
    b->len += bytes;
    if (!b->listed) {
        b->listed = true;
        c->batched[c->nbatched++] = r;
    }
    return 0;
}

static int send_job(coord *c, int rank, int64_t id) {
    const tsr__task_entry *t = &c->tasks.t[id];
    size_t cl = strlen(t->command) + 1;
    tsr__cf_job job = {.id = id,
                       .line = t->line,
                       .repeat = t->repeat,
                       .attempt = c->attempt[id],
                       .repeated = t->repeated,
                       .command_bytes = (int32_t)cl,
                       .avoid = c->avoid[id]};
    c->inflight++;
    c->state[id] = TSR__CF_RUNNING;
    if (c->local) {
        tsr__cf_end e;
        if (tsr__cf_exec_start(c->local, &job, t->command, &e)) {
            /* This rank's own failure: the job stops, the task is not run. */
            char text[512];
            tsr__cf_start_error(c->local, id, errno, text, sizeof text);
            coord_failed(c, tsr_error_set(c->ctx, TSR_ERR_IO, __FILE__, __LINE__, __func__,
                                          "rank 0 (%s): %s; the job stopped", c->hosts[0], text));
            return coord_end(c, &e);
        }
        return 0;
    }
    char *buf;
    TSR_CALL(c->ctx, job_room(c, rank, sizeof job + cl, &buf));
    if (!buf) { /* rank 0's own failure: the job stops, the task is handed back unrun */
        coord_failed(c, tsr_error_set(c->ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                      "rank 0 (%s): no memory for a task of %zu bytes; the job "
                                      "stopped",
                                      c->hosts[0], cl));
        tsr__cf_end e = tsr__cf_unstarted(&job, rank);
        return coord_end(c, &e);
    }
    memcpy(buf, &job, sizeof job);
    memcpy(buf + sizeof job, t->command, cl);
    if (c->batch && c->batch[rank].relay)
        return 0; /* sent with its batch */
    TSR_MPI(c->ctx, tsr__cf_sendq_send(&c->sends, c->comm, buf, (int)(sizeof job + cl), rank,
                                       TSR__CF_TAG_JOB));
    return 0;
}

/* Short tasks (mean under 0.2 s): a rank holds TSR__CF_AHEAD more per slot, queued, so that it
 * starts the next one when one ends instead of waiting for rank 0 (2000 `true` at 3 ranks: 1.9 s
 * with one ahead, 1.4 s with two, 1.1 s with four). Long tasks are not queued (one could wait
 * behind a long one while another rank idles). */
static bool queue_ahead(const coord *c) {
    return !c->local && c->ended >= 2 * c->free.n && c->elapsed < 0.2 * (double)c->ended;
}

/* Whether a task may start now: enough time left before the job's end for the median task (and
 * --min-time-left). Once not, never again in this run. */
static bool time_left(coord *c) {
    if (c->end_time <= 0 || c->draining)
        return !c->draining;
    double need = fmax(c->o->min_time_left, tsr__qhist_quantile(&c->ok_times, 0.5));
    double left = c->end_time - tsr__cf_now();
    if (left >= need)
        return true;
    c->draining = true;
    fprintf(stderr,
            "%s: %.0f s left before the job's end, less than %.1f s (the median task or "
            "--min-time-left): no more tasks start\n",
            tsr_ctx_name(c->ctx), left, need);
    fflush(stderr);
    return false;
}

/* Past the tasks an earlier run ended (--resume): O(1) per task over the run. */
static void skip_ended(coord *c) {
    while (c->next < c->tasks.n &&
           (c->state[c->next] == TSR__CF_SKIPPED || c->state[c->next] == TSR__CF_FAILED_BEFORE))
        c->next++;
}

static int dispatch(coord *c) {
    while (!c->stopping) {
        int64_t id = -1;
        bool retry = c->rq_len > 0;
        if (retry) {
            id = c->retryq[c->rq_head];
        } else {
            skip_ended(c);
            if (c->next >= c->tasks.n)
                return 0;
            if (c->tasks.t[c->next].epoch > c->epoch) {
                if (c->open > 0)
                    return 0; /* BARRIER: the section before has not ended */
                c->epoch = c->tasks.t[c->next].epoch;
            }
            id = c->next;
        }
        int avoid = retry && c->avoid[id] >= 0 ? c->via[c->avoid[id]] : -1;
        int r = tsr__cf_slots_take(&c->free, avoid, queue_ahead(c));
        if (r < 0)
            return 0;
        if (!time_left(c)) { /* judged when a task could start: the median may still fall */
            tsr__cf_slots_give(&c->free, r);
            return 0;
        }
        if (retry) {
            c->rq_head = (c->rq_head + 1) % c->tasks.n;
            c->rq_len--;
        } else {
            c->next++;
            c->open++;
        }
        TSR_CALL(c->ctx, send_job(c, r, id));
    }
    return 0;
}

static int coord_end(coord *c, const tsr__cf_end *e) {
    int64_t id = e->id;
    tsr__cf_slots_give(&c->free, c->via[e->rank]);
    c->inflight--;
    if (e->pid > 0) { /* not a task handed back unstarted, or that could not start */
        c->rank_tasks[e->rank]++;
        c->rank_busy[e->rank] += e->end - e->start;
        c->ended++;
        c->elapsed += e->end - e->start;
        int err = tsr__cf_log_write(&c->log, e, &c->tasks.t[id], c->hosts[e->rank]);
        if (err && !c->failure)
            coord_failed(c, tsr_error_set(c->ctx, TSR_ERR_IO, __FILE__, __LINE__, __func__,
                                          "--joblog %s: cannot write: %s", c->joblog,
                                          strerror(errno)));
    }
    bool ok = e->how == TSR__CF_EXITED && e->status == 0;
    if (ok) {
        tsr__qhist_add(&c->ok_times, e->end - e->start);
        c->state[id] = TSR__CF_OK;
        c->res.ok++;
        c->open--;
    } else if (e->how == TSR__CF_STOPPED || e->how == TSR__CF_NOSTART) {
        c->state[id] = TSR__CF_PENDING; /* runs again with --resume */
        c->open--;
    } else if (c->attempt[id] < c->o->retries && !c->stopping) {
        c->attempt[id]++;
        c->avoid[id] = e->rank;
        c->state[id] = TSR__CF_PENDING;
        c->retryq[(c->rq_head + c->rq_len) % c->tasks.n] = id;
        c->rq_len++;
    } else {
        c->state[id] = TSR__CF_FAILED;
        c->res.failed++;
        c->res.timed_out += e->how == TSR__CF_TIMEOUT;
        c->rank_failed[e->rank]++;
        c->open--;
    }
    return 0;
}

static bool all_done(coord *c) {
    if (c->inflight || c->rq_len)
        return false;
    skip_ended(c);
    return c->next >= c->tasks.n;
}

/* TSR__CF_TAG_STOP to every rank rank 0 serves (relays pass it on): kill = TERM their running
 * tasks. */
static int tell_all(coord *c, int kill) {
    for (int r = 1; r < c->size; r++)
        if (c->via[r] == r)
            TSR_MPI(c->ctx, MPI_Send(&kill, 1, MPI_INT, r, TSR__CF_TAG_STOP, c->comm));
    return 0;
}

int tsr__cf_coordinate(coord *c, tsr_progress *p) {
    tsr_ctx ctx = c->ctx;
    int byes = 0;
    tsr__backoff idle = tsr__backoff_make(100, 1000);
    bool told = false;
    while (true) {
        if (tsr__cf_stop_signal())
            start_stop(c);
        if (!c->stopping && !c->draining)
            TSR_CALL(ctx, dispatch(c));
        TSR_CALL(ctx, send_batches(c)); /* also those a failure in the round cut short */
        bool finished = c->stopping || c->draining ? c->inflight == 0 : all_done(c);
        if (finished && c->draining && !all_done(c))
            c->res.stopped = true;
        if (finished && !told) {
            TSR_CALL(ctx, tell_all(c, c->stopping));
            told = true;
        }
        if (told && byes == c->children)
            break;
        bool any = false;
        if (c->local) {
            tsr__cf_end ends[TSR__CF_MAX_SLOTS < 64 ? TSR__CF_MAX_SLOTS : 64];
            int n = tsr__cf_exec_poll(c->local, 20, ends, 64);
            for (int i = 0; i < n; i++)
                TSR_CALL(ctx, coord_end(c, &ends[i]));
            any = n > 0;
        } else {
            int flag = 1;
            MPI_Status st;
            while (true) {
                TSR_MPI(ctx, MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, c->comm, &flag, &st));
                if (!flag)
                    break;
                any = true;
                if (st.MPI_TAG == TSR__CF_TAG_END) {
                    tsr__cf_end e[TSR__CF_END_BATCH];
                    int bytes = 0;
                    TSR_MPI(ctx, MPI_Get_count(&st, MPI_BYTE, &bytes));
                    TSR_CHECK(ctx, bytes > 0 && bytes <= (int)sizeof e && bytes % sizeof *e == 0,
                              TSR_ERR_INTERNAL, "rank %d sent %d bytes of task ends", st.MPI_SOURCE,
                              bytes);
                    TSR_MPI(ctx, MPI_Recv(e, bytes, MPI_BYTE, st.MPI_SOURCE, TSR__CF_TAG_END,
                                          c->comm, MPI_STATUS_IGNORE));
                    for (int k = 0; k < bytes / (int)sizeof *e; k++)
                        TSR_CALL(ctx, coord_end(c, &e[k]));
                } else if (st.MPI_TAG == TSR__CF_TAG_SIGNAL) {
                    int sig;
                    TSR_MPI(ctx, MPI_Recv(&sig, 1, MPI_INT, st.MPI_SOURCE, TSR__CF_TAG_SIGNAL,
                                          c->comm, MPI_STATUS_IGNORE));
                    if (!told)
                        start_stop(c); /* the workers are told below */
                } else if (st.MPI_TAG == TSR__CF_TAG_FAIL) {
                    tsr__cf_fail f;
                    TSR_MPI(ctx, MPI_Recv(&f, (int)sizeof f, MPI_BYTE, st.MPI_SOURCE,
                                          TSR__CF_TAG_FAIL, c->comm, MPI_STATUS_IGNORE));
                    f.text[sizeof f.text - 1] = '\0';
                    int code = f.code && f.code != TSR_ERR_INPUT ? f.code : TSR_ERR_IO;
                    int who = f.rank > 0 && f.rank < c->size ? f.rank : st.MPI_SOURCE;
                    if (!c->failure)
                        coord_failed(c, tsr_error_set(ctx, code, __FILE__, __LINE__, __func__,
                                                      "rank %d (%s): %s; the job stopped", who,
                                                      c->hosts[who], f.text));
                } else {
                    int dummy;
                    TSR_MPI(ctx, MPI_Recv(&dummy, 1, MPI_INT, st.MPI_SOURCE, TSR__CF_TAG_BYE,
                                          c->comm, MPI_STATUS_IGNORE));
                    byes++;
                }
            }
            TSR_MPI(ctx, tsr__cf_sendq_reap(&c->sends, false));
            /* A signal on rank 0 or a failure: the workers hear of it now (TERM to their tasks). */
            if (c->stopping && !told) {
                TSR_CALL(ctx, tell_all(c, 1));
                told = true;
            }
            /* Idle: naps from 0.1 ms doubling to 1 ms, so that rank 0 does not take a core
             * from the tasks while they run (workers hold queued tasks ahead). */
            if (any)
                tsr__backoff_reset(&idle);
            else
                tsr__backoff_nap(&idle);
        }
        p->count[0] = c->free.running;
        p->count[1] = c->res.failed;
        tsr_progress_update(p, c->res.ok + c->res.failed - c->failed_before);
        /* The ends of this pass reach the file together. */
        int err = tsr__cf_log_flush(&c->log);
        if (err && !c->failure)
            coord_failed(c, tsr_error_set(ctx, TSR_ERR_IO, __FILE__, __LINE__, __func__,
                                          "--joblog %s: cannot write: %s", c->joblog,
                                          strerror(errno)));
        err = tsr__cf_log_sync(&c->log, 2.0);
        if (err && !c->failure)
            coord_failed(c,
                         tsr_error_set(ctx, TSR_ERR_IO, __FILE__, __LINE__, __func__,
                                       "--joblog %s: cannot sync: %s", c->joblog, strerror(errno)));
    }
    /* Every rank said goodbye after receiving all its tasks: no send is left in flight. */
    TSR_MPI(ctx, tsr__cf_sendq_reap(&c->sends, true));
    /* A stop that came after the last task ended stopped nothing: the job is complete. */
    const tsr_cmdfarm_result *r = &c->res;
    if (r->stopped && r->ok + r->failed + r->skipped == r->ntasks)
        c->res.stopped = false;
    return c->failure;
}

void tsr__cf_summary(coord *c, FILE *out) {
    const tsr_cmdfarm_result *r = &c->res;
    int64_t not_run = r->ntasks - r->ok - r->failed - r->skipped;
    fprintf(out,
            "%lld tasks: %lld ok, %lld failed (%lld timed out, %lld in an earlier run), %lld "
            "skipped by --resume, %lld not run; %.2f s\n",
            (long long)r->ntasks, (long long)r->ok, (long long)r->failed, (long long)r->timed_out,
            (long long)c->failed_before, (long long)r->skipped, (long long)not_run,
            tsr__cf_now() - c->t0);
    fprintf(out, "%6s  %-20s %8s %8s %10s\n", "rank", "host", "runs", "failed", "busy s");
    for (int k = 0; k < c->size; k++)
        if (c->rank_tasks[k] || c->slots[k] > 0)
            fprintf(out, "%6d  %-20s %8lld %8lld %10.2f\n", k, c->hosts[k],
                    (long long)c->rank_tasks[k], (long long)c->rank_failed[k], c->rank_busy[k]);
    fflush(out);
}

/* TASKFILE.failed: the tasks that failed, as a task file to run again, in the same order and
 * with a BARRIER wherever the task file had one between them. */
int tsr__cf_write_failed(coord *c) {
    char path[TSR_OPT_STRLEN + 32];
    snprintf(path, sizeof path, "%s.failed", c->joblog);
    if (!c->res.failed) {
        unlink(path);
        return 0;
    }
    FILE *f = fopen(path, "we");
    TSR_CHECK(c->ctx, f, TSR_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    fprintf(f, "# tasks of %s that failed (tessera-farm)\n", c->o->tasks);
    int64_t epoch = -1; /* of the last task written: the BARRIERs between them stay */
    for (int64_t i = 0; i < c->tasks.n; i++) {
        const tsr__task_entry *t = &c->tasks.t[i];
        if (c->state[i] != TSR__CF_FAILED && c->state[i] != TSR__CF_FAILED_BEFORE)
            continue;
        if (epoch >= 0 && t->epoch > epoch)
            fprintf(f, "#TESSERA BARRIER\n");
        epoch = t->epoch;
        fprintf(f, "# task %lld, line %lld\n", (long long)i, (long long)t->line);
        if (t->repeated)
            fprintf(f, "#TESSERA REPEAT 1 start %lld %s\n", (long long)t->repeat, t->command);
        else
            fprintf(f, "%s\n", t->command);
    }
    TSR_CHECK(c->ctx, fclose(f) == 0, TSR_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

int tsr__cf_failed_error(coord *c) {
    char ids[512] = "";
    int shown = 0;
    size_t len = 0;
    for (int64_t i = 0; i < c->tasks.n && shown < 20; i++)
        if (c->state[i] == TSR__CF_FAILED || c->state[i] == TSR__CF_FAILED_BEFORE) {
            len += (size_t)snprintf(ids + len, sizeof ids - len, "%s%lld", shown ? ", " : "",
                                    (long long)i);
            shown++;
        }
    TSR_CHECK(c->ctx, 0, TSR_ERR_KERNEL, "%lld of %lld tasks failed (id%s %s%s); see %s.failed",
              (long long)c->res.failed, (long long)c->res.ntasks, c->res.failed > 1 ? "s" : "", ids,
              c->res.failed > shown ? ", ..." : "", c->joblog);
}

void tsr__cf_coord_free(coord *c) {
    tsr__cf_log_close(&c->log);
    tsr__taskfile_free(&c->tasks);
    free(c->state);
    free(c->attempt);
    free(c->avoid);
    free(c->retryq);
    tsr__cf_slots_free(&c->free);
    tsr__cf_sendq_free(&c->sends);
    for (int r = 0; c->batch && r < c->size; r++)
        free(c->batch[r].p);
    free(c->batch);
    free(c->batched);
    free(c->via);
    free(c->slots);
    free(c->rank_tasks);
    free(c->rank_failed);
    free(c->rank_busy);
    free(c->hosts);
}
