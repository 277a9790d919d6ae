/* Task farm: options, create/destroy, running one task, and the run that puts the coordinator
 * (farm_coord.c) and the workers (farm_worker.c) to work. The protocol is in farm_impl.h. */
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "farm_impl.h"
#include "groups_impl.h"

static const char *const on_error_names[] = {"abort", "continue", NULL};

int tsr__farm_rbuf_reserve(tsr_ctx ctx, rbuf *b, size_t extra) {
    if (b->len + extra <= b->cap)
        return TSR_SUCCESS;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra)
        cap *= 2;
    void *p = realloc(b->p, cap);
    TSR_CHECK(ctx, p, TSR_ERR_MEMORY, "cannot allocate %zu bytes of task results", cap);
    b->p = p;
    b->cap = cap;
    return TSR_SUCCESS;
}

int tsr__farm_work_hdr(run *r, const tsr__msg *m, work_hdr *h, const char *what) {
    TSR_CHECK(r->ctx, m->len >= sizeof *h, TSR_ERR_INTERNAL, "farm: short %s from rank %d", what,
              m->source);
    memcpy(h, m->buf, sizeof *h);
    TSR_CHECK(r->ctx, h->count >= 0 && m->len == sizeof *h + (size_t)h->count * r->f->o.item_bytes,
              TSR_ERR_INTERNAL, "farm: malformed %s of %lld tasks (%zu bytes) from rank %d", what,
              (long long)h->count, m->len, m->source);
    return TSR_SUCCESS;
}

int tsr__farm_results_begin(tsr_ctx ctx, rbuf *b, int64_t first, int64_t count) {
    b->len = 0;
    TSR_CALL(ctx, tsr__farm_rbuf_reserve(ctx, b, rec_offset(count)));
    req_hdr h = {0, first, count, 0};
    memcpy(b->p, &h, sizeof h);
    memset(b->p + sizeof h, 0, rec_offset(count) - sizeof h);
    b->len = rec_offset(count);
    return TSR_SUCCESS;
}

int tsr__farm_fifo_push(tsr_ctx ctx, fifo *q, const void *e) {
    if (q->head + q->n == q->cap) {
        if (q->head > 0 && q->head >= q->cap / 2) {
            memmove(q->a, q->a + (size_t)q->head * q->esz, (size_t)q->n * q->esz);
            q->head = 0;
        } else {
            int cap = q->cap ? 2 * q->cap : 8;
            void *a = realloc(q->a, (size_t)cap * q->esz);
            TSR_CHECK(ctx, a, TSR_ERR_MEMORY, "cannot grow a farm queue to %d entries", cap);
            q->a = a;
            q->cap = cap;
        }
    }
    memcpy(q->a + (size_t)(q->head + q->n) * q->esz, e, q->esz);
    q->n++;
    return TSR_SUCCESS;
}

/* ---- options ---- */

void tsr_farm_opts_init(tsr_farm_opts *o) {
    memset(o, 0, sizeof *o);
    o->chunk.kind = TSR_CHUNK_GUIDED;
    o->chunk.size = 1;
    o->on_error = TSR_FARM_ABORT;
    o->on_error_choice = -1;
    o->coordinator_works = true;
    o->progress = TSR_PROGRESS_AUTO;
    o->progress_option.choice = -1;
}

/* A positive decimal integer filling all of `s`. */
static bool parse_count(const char *s, int64_t *v) {
    if (!*s)
        return false;
    int64_t x = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || x > (INT64_MAX - 9) / 10)
            return false;
        x = 10 * x + (*s - '0');
    }
    *v = x;
    return true;
}

int tsr_chunk_policy_parse(tsr_ctx ctx, const char *text, tsr_chunk_policy *policy) {
    TSR_CHECK(ctx, text && policy, TSR_ERR_ARG, "tsr_chunk_policy_parse needs text and a policy");
    tsr_chunk_policy p = {TSR_CHUNK_GUIDED, 1};
    const char *num = NULL;
    bool ok = true;
    if (strcmp(text, "static") == 0)
        p.kind = TSR_CHUNK_STATIC;
    else if (strcmp(text, "guided") == 0)
        p.kind = TSR_CHUNK_GUIDED;
    else if (strncmp(text, "fixed:", 6) == 0) {
        p.kind = TSR_CHUNK_FIXED;
        num = text + 6;
    } else if (strncmp(text, "guided:", 7) == 0)
        num = text + 7;
    else
        ok = false;
    if (ok && num)
        ok = parse_count(num, &p.size);
    TSR_CHECK(ctx, ok, TSR_ERR_INPUT,
              "--chunk: cannot parse '%.64s' (expected static, fixed:N or guided[:MIN])", text);
    TSR_CHECK(ctx, p.size >= 1, TSR_ERR_INPUT, "--chunk: the chunk size in '%.64s' must be >= 1",
              text);
    *policy = p;
    return TSR_SUCCESS;
}

void tsr_chunk_policy_format(const tsr_chunk_policy *policy, char *buf, size_t len) {
    switch (policy->kind) {
    case TSR_CHUNK_STATIC:
        snprintf(buf, len, "static");
        break;
    case TSR_CHUNK_FIXED:
        snprintf(buf, len, "fixed:%lld", (long long)policy->size);
        break;
    default:
        if (policy->size == 1)
            snprintf(buf, len, "guided");
        else
            snprintf(buf, len, "guided:%lld", (long long)policy->size);
    }
}

int tsr_farm_add_options(tsr_opts opts, tsr_farm_opts *o) {
    if (!o->chunk_text[0])
        tsr_chunk_policy_format(&o->chunk, o->chunk_text, sizeof o->chunk_text);
    if (!o->groups_text[0]) {
        if (o->groups == TSR_FARM_GROUPS_AUTO)
            snprintf(o->groups_text, sizeof o->groups_text, "auto");
        else if (o->groups == TSR_FARM_GROUPS_OFF)
            snprintf(o->groups_text, sizeof o->groups_text, "off");
        else
            snprintf(o->groups_text, sizeof o->groups_text, "%d", o->groups);
    }
    if (o->on_error_choice < 0 || o->on_error_choice > 1)
        o->on_error_choice = o->on_error == TSR_FARM_CONTINUE;
    tsr_opts_add_string(opts, "chunk", o->chunk_text, "static|fixed:N|guided[:MIN]",
                        "tasks per request: equal static shares, N at a time, or "
                        "guided (shrinking with the work left, never below MIN)");
    tsr_opts_add_choice(opts, "on-error", &o->on_error_choice, on_error_names,
                        "a failing task stops the farm, or the rest run and the "
                        "failures are listed at the end");
    tsr_opts_add_string(opts, "farm-groups", o->groups_text, "auto|off|N",
                        "a sub-coordinator per group of ranks serves the group's workers with "
                        "batches from rank 0: one group per node from 1024 ranks (auto), never, "
                        "or groups of N ranks");
    tsr_progress_add_options(opts, &o->progress_option);
    o->progress_option.choice =
        o->progress == TSR_PROGRESS_OFF ? 2 : o->progress == TSR_PROGRESS_ON;
    return tsr_opts_error(opts);
}

/* ---- create / destroy ---- */

static int validate(tsr_ctx ctx, tsr_farm_opts *o) {
    TSR_CHECK(ctx, o->ntasks >= 0, TSR_ERR_INPUT, "the number of tasks (%lld) must be >= 0",
              (long long)o->ntasks);
    if (o->chunk_text[0])
        TSR_CALL(ctx, tsr_chunk_policy_parse(ctx, o->chunk_text, &o->chunk));
    TSR_CHECK(ctx,
              o->chunk.kind == TSR_CHUNK_STATIC || o->chunk.kind == TSR_CHUNK_FIXED ||
                  o->chunk.kind == TSR_CHUNK_GUIDED,
              TSR_ERR_ARG, "unknown chunk policy %d", (int)o->chunk.kind);
    if (o->chunk.kind == TSR_CHUNK_STATIC)
        o->chunk.size = 1;
    TSR_CHECK(ctx, o->chunk.size >= 1, TSR_ERR_INPUT, "the chunk size (%lld) must be >= 1",
              (long long)o->chunk.size);
    if (o->on_error_choice >= 0) {
        TSR_CHECK(ctx, o->on_error_choice <= 1, TSR_ERR_ARG, "on_error_choice %d out of range",
                  o->on_error_choice);
        o->on_error = o->on_error_choice ? TSR_FARM_CONTINUE : TSR_FARM_ABORT;
    }
    TSR_CHECK(ctx, o->on_error == TSR_FARM_ABORT || o->on_error == TSR_FARM_CONTINUE, TSR_ERR_ARG,
              "unknown on_error policy %d", (int)o->on_error);
    TSR_CHECK(ctx, o->window >= 0, TSR_ERR_INPUT, "the result window (%lld) must be >= 0",
              (long long)o->window);
    TSR_CHECK(ctx, o->item_bytes <= MAX_PIECE && o->result_bytes <= MAX_PIECE, TSR_ERR_ARG,
              "items (%zu bytes) and results (%zu bytes) must each fit in %zu bytes", o->item_bytes,
              o->result_bytes, MAX_PIECE);
    TSR_CHECK(ctx, o->item_bytes == 0 || o->ntasks == 0 || o->items, TSR_ERR_ARG,
              "item_bytes is %zu but there are no items", o->item_bytes);
    if (o->progress_option.choice >= 0)
        o->progress = tsr_progress_option_mode(&o->progress_option);
    if (o->groups_text[0])
        TSR_CALL(ctx, tsr__groups_parse(ctx, o->groups_text, &o->groups));
    TSR_CHECK(ctx, o->groups >= TSR_FARM_GROUPS_OFF && o->groups != 1, TSR_ERR_INPUT,
              "--farm-groups: a group needs at least 2 ranks, not %d", o->groups);
    return TSR_SUCCESS;
}

int tsr_farm_create(tsr_ctx ctx, const tsr_farm_opts *opts, tsr_farm *farm) {
    TSR_CHECK(ctx, opts && farm, TSR_ERR_ARG, "tsr_farm_create needs options and a farm");
    *farm = NULL;
    tsr_farm f;
    TSR_CALL(ctx, tsr__calloc(ctx, 1, sizeof *f, &f));
    f->ctx = ctx;
    f->comm = MPI_COMM_NULL;
    f->rank = ctx->rank;
    f->size = ctx->size;
    f->o = *opts;
    int err = f->rank == 0 ? validate(ctx, &f->o) : TSR_SUCCESS;
    err = tsr_ctx_agree(ctx, err);
    if (!err) {
        int rc = MPI_Bcast(&f->o, (int)sizeof f->o, MPI_BYTE, 0, ctx->comm);
        if (rc == MPI_SUCCESS)
            rc = MPI_Comm_dup(ctx->comm, &f->comm);
        if (rc != MPI_SUCCESS)
            err = tsr_error_mpi(ctx, rc, "MPI_Bcast/MPI_Comm_dup", __FILE__, __LINE__, __func__);
    }
    if (!err)
        err = tsr_ctx_agree(ctx, tsr__farm_groups_setup(f));
    if (err) {
        if (f->comm != MPI_COMM_NULL)
            MPI_Comm_free(&f->comm);
        free(f->served);
        free(f);
        return err;
    }
    f->o.items = f->rank == 0 ? opts->items : NULL;
    f->window = f->o.window ? f->o.window : DEFAULT_WINDOW;
    *farm = f;
    return TSR_SUCCESS;
}

int tsr_farm_destroy(tsr_farm *farm) {
    if (!farm || !*farm)
        return TSR_SUCCESS;
    tsr_farm f = *farm;
    if (f->comm != MPI_COMM_NULL)
        MPI_Comm_free(&f->comm);
    free(f->workers);
    free(f->failed_ids);
    free(f->served);
    free(f);
    *farm = NULL;
    return TSR_SUCCESS;
}

/* ---- running tasks ---- */

/* Runs task `id` as entry i of the results block b, appending its result or message. */
int tsr__farm_run_task(run *r, rbuf *b, int64_t i, int64_t id, const void *item, int *status) {
    tsr_farm f = r->f;
    tsr_ctx ctx = r->ctx;
    size_t room = f->o.result_bytes;
    TSR_CALL(ctx, tsr__farm_rbuf_reserve(
                      ctx, b, padded(room > TSR_TASK_MSG_LEN ? room : TSR_TASK_MSG_LEN)));
    tsr_task t = {.id = id,
                  .item = item,
                  .item_bytes = item ? f->o.item_bytes : 0,
                  .result = room ? b->p + b->len : NULL,
                  .result_bytes = room,
                  .rank = f->rank};
    double t0 = tsr_wtime();
    int rc = r->fn(&t, r->user);
    double dt = tsr_wtime() - t0;
    f->me.busy += dt;
    tsr_ctx_timer_add(ctx, TSR_TIMER_COMPUTE, dt); /* for the run report */
    f->me.tasks++;
    if (rc == 0 && t.result_bytes > room) {
        rc = -1;
        snprintf(t.message, sizeof t.message,
                 "produced %zu result bytes, more than the %zu allowed", t.result_bytes, room);
    }
    size_t len = t.result_bytes;
    if (rc != 0) {
        t.message[sizeof t.message - 1] = '\0';
        if (!t.message[0])
            snprintf(t.message, sizeof t.message, "returned %d", rc);
        len = strlen(t.message);
        memcpy(b->p + b->len, t.message, len);
    }
    task_rec rec = {.status = rc, .rank = f->rank, .len = len};
    memcpy(b->p + rec_offset(i), &rec, sizeof rec);
    memset(b->p + b->len + len, 0, padded(len) - len);
    b->len += padded(len);
    *status = rc;
    return TSR_SUCCESS;
}

static void run_free(run *r, wstate *s) {
    for (int i = 0; i < r->chunks.n; i++) {
        chunk *ch = *(chunk **)fifo_at(&r->chunks, i);
        free(ch->res.p);
        free(ch);
    }
    for (int i = 0; i < s->held.n; i++)
        free(((rbuf *)fifo_at(&s->held, i))->p);
    free(r->chunks.a);
    free(r->parked.a);
    free(r->failed.a);
    free(s->held.a);
    free(r->given);
    tsr__msg_free(&r->m);
    tsr__outbox_free(&r->ob);
}

int tsr_farm_run(tsr_farm f, tsr_task_fn task, tsr_result_fn deliver, void *user) {
    if (!f)
        return TSR_ERR_ARG;
    tsr_ctx ctx = f->ctx;
    int err = TSR_SUCCESS;
    if (f->ran)
        err = tsr_error_set(ctx, TSR_ERR_ARG, __FILE__, __LINE__, __func__,
                            "a farm runs once; create another");
    else if (!task)
        err = tsr_error_set(ctx, TSR_ERR_ARG, __FILE__, __LINE__, __func__,
                            "tsr_farm_run needs a task function");
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    f->ran = true;
    memset(&f->me, 0, sizeof f->me);
    f->max_buffered = 0;
    f->requests = 0;
    f->request_seconds = 0;
    memset(&f->request_times, 0, sizeof f->request_times);
    f->me.serves = f->members;

    run r = {.f = f, .ctx = ctx, .fn = task, .deliver = deliver, .user = user};
    wstate s = {0};
    r.chunks.esz = sizeof(chunk *);
    r.parked.esz = sizeof(int);
    r.failed.esz = sizeof(int64_t);
    s.held.esz = sizeof(rbuf);
    tsr__outbox_init(&r.ob, ctx, f->comm);
    const tsr_farm_opts *o = &f->o;
    r.working = f->size == 1 || o->coordinator_works || f->rank != 0 ? 1 : 0;
    for (int w = 1; f->rank == 0 && w < f->size; w++)
        r.working += (int)f->served[w]; /* >= 1 with more than one rank */
    r.share = (o->ntasks + r.working - 1) / r.working;
    /* Static shares all run at once, as in a static loop schedule: no window for them. */
    r.window = o->chunk.kind == TSR_CHUNK_STATIC ? (o->ntasks > 0 ? o->ntasks : 1) : f->window;
    size_t per_task = o->result_bytes > TSR_TASK_MSG_LEN ? o->result_bytes : TSR_TASK_MSG_LEN;
    per_task += sizeof(task_rec);
    if (o->item_bytes > per_task)
        per_task = o->item_bytes;
    r.max_chunk = (int64_t)(MAX_PIECE / per_task);
    if (r.max_chunk < 1)
        r.max_chunk = 1;
    tsr_progress_start(&r.prog, ctx, o->ntasks, o->progress);
    r.prog.unit = "task";

    double t0 = tsr_wtime();
    if (f->rank == 0) {
        err = tsr__calloc(ctx, (size_t)f->size, sizeof *r.given, &r.given);
        if (!err)
            err = tsr__farm_coord_loop(&r);
    } else if (f->members > 0) {
        err = tsr__farm_sub_loop(&r);
    } else {
        err = tsr__farm_worker_loop(&r, &s);
    }
    /* A local error (memory, MPI, a malformed message) ends the farm for everyone: rank 0 tells
     * the workers, a worker tells rank 0, which tells the rest. */
    if (err && f->size > 1) {
        if (f->rank == 0 && !r.aborting)
            tsr__farm_start_abort(&r);
        else if (f->rank != 0)
            tsr__outbox_send(&r.ob, NULL, 0, 0, TSR_TAG_FARM_FAIL);
    }
    int qerr = tsr__quiesce(&r.ob);
    err = err ? err : qerr;
    f->seconds = tsr_wtime() - t0;
    if (f->rank == 0) {
        tsr_progress_update(&r.prog, r.received);
        tsr_progress_end(&r.prog);
        if (!err)
            err = tsr__farm_coord_finish(&r);
    }
    run_free(&r, &s);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err)); /* a local error becomes everyone's */
    TSR_CALL(ctx, tsr__farm_gather_stats(f));
    return tsr_ctx_agree(ctx, f->rank == 0 ? r.verdict : TSR_SUCCESS);
}
