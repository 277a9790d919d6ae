/* Task farm: rank 0 owns the queue and hands out chunks to the ranks that ask for them
 * (self-scheduling), runs tasks itself in the gaps, and delivers the results in task order.
 *
 * Protocol, on the farm's own communicator, every send an Issend through the outbox:
 *   worker -> 0  REQUEST {wants, first, count} + per-task {status, length} + bytes: the results
 *                of one chunk (count 0 on the first request) and how many more chunks it wants
 *                (2 at first: one to run, one queued, so rank 0's latency is hidden);
 *   0 -> worker  WORK {first, count} + the items: one chunk per want, count 0 meaning stop;
 *   0 -> worker  ABORT: skip whatever is left.
 * Rank 0 keeps the handed-out chunks in id order and hands out nothing beyond `window` tasks
 * past the first undelivered one; a want that does not fit is parked until delivery moves on.
 * The oldest chunk is always held by a rank that is running it, so parking cannot deadlock. */
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "msg_impl.h"
#include "tessera/farm.h"
#include "tessera/report.h"

#define DEFAULT_WINDOW 65536
/* Largest item or result; chunks are cut so that no message exceeds about twice this. */
#define MAX_PIECE ((size_t)1 << 30)
#define MAX_PRINTED_FAILURES 20
#define MAX_LISTED_IDS 10

static const char *const on_error_names[] = {"abort", "continue", NULL};

struct tsr_farm_s {
    tsr_ctx ctx;
    MPI_Comm comm;
    int rank, size;
    tsr_farm_opts o; /* validated; o.items only on rank 0 */
    int64_t window;
    bool ran;
    tsr_farm_worker me;       /* this rank's counts in the last run */
    tsr_farm_worker *workers; /* rank 0: every rank's */
    int64_t *failed_ids, nfailed, max_buffered;
    double seconds, balance;
};

/* ---- wire format ---- */

typedef struct req_hdr {
    int64_t wants, first, count;
    int64_t pad; /* 32 bytes, so the record table and the results after it are 16-aligned */
} req_hdr;

typedef struct work_hdr {
    int64_t first, count;
} work_hdr;

/* One task's outcome in a results block: status 0 and the result's length, or the task's
 * non-zero return and the length of its message (the message text takes the result's place). */
typedef struct task_rec {
    int32_t status;
    uint32_t pad;
    uint64_t len;
} task_rec;

/* A growable byte buffer holding a results block: req_hdr, count task_recs, then the bytes. */
typedef struct rbuf {
    unsigned char *p;
    size_t len, cap;
} rbuf;

static int rbuf_reserve(tsr_ctx ctx, rbuf *b, size_t extra) {
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

/* Every result takes a multiple of 16 bytes in a block, so each one starts 16-aligned. */
static size_t padded(size_t len) {
    return (len + 15) & ~(size_t)15;
}

static size_t rec_offset(int64_t i) {
    return sizeof(req_hdr) + (size_t)i * sizeof(task_rec);
}

static int results_begin(tsr_ctx ctx, rbuf *b, int64_t first, int64_t count) {
    b->len = 0;
    TSR_CALL(ctx, rbuf_reserve(ctx, b, rec_offset(count)));
    req_hdr h = {0, first, count, 0};
    memcpy(b->p, &h, sizeof h);
    memset(b->p + sizeof h, 0, rec_offset(count) - sizeof h);
    b->len = rec_offset(count);
    return TSR_SUCCESS;
}

static task_rec get_rec(const rbuf *b, int64_t i) {
    task_rec r;
    memcpy(&r, b->p + rec_offset(i), sizeof r);
    return r;
}

/* ---- small FIFO of fixed-size elements ---- */

typedef struct fifo {
    unsigned char *a;
    size_t esz;
    int head, n, cap;
} fifo;

static int fifo_push(tsr_ctx ctx, fifo *q, const void *e) {
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

static void *fifo_at(const fifo *q, int i) {
    return q->a + (size_t)(q->head + i) * q->esz;
}

static void fifo_pop(fifo *q) {
    q->head++;
    if (--q->n == 0)
        q->head = 0;
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
    if (o->on_error_choice < 0 || o->on_error_choice > 1)
        o->on_error_choice = o->on_error == TSR_FARM_CONTINUE;
    tsr_opts_add_string(opts, "chunk", o->chunk_text, "static|fixed:N|guided[:MIN]",
                        "tasks per request: equal static shares, N at a time, or "
                        "guided (shrinking with the work left, never below MIN)");
    tsr_opts_add_choice(opts, "on-error", &o->on_error_choice, on_error_names,
                        "a failing task stops the farm, or the rest run and the "
                        "failures are listed at the end");
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
    if (err) {
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
    free(f);
    *farm = NULL;
    return TSR_SUCCESS;
}

/* ---- running tasks ---- */

/* A chunk handed out by rank 0, until its last result is delivered. */
typedef struct chunk {
    int64_t first, count;
    int owner;
    int64_t avail;     /* results present, from the first */
    int64_t delivered; /* results passed on (or reported as failures) */
    size_t doff;       /* offset of the next result to deliver in res */
    rbuf res;          /* results block (empty until results arrive; rank 0's grows) */
} chunk;

typedef struct run {
    tsr_farm f;
    tsr_ctx ctx;
    tsr_task_fn fn;
    tsr_result_fn deliver;
    void *user;
    tsr__outbox ob;
    tsr__msg m;
    /* rank 0 */
    int working;       /* ranks that run tasks */
    int64_t share;     /* static: tasks per working rank */
    int64_t window;    /* tasks handed out past the first undelivered one */
    int64_t max_chunk; /* keeps messages under the size limit */
    int64_t next;      /* next id to hand out */
    int64_t buffered;  /* results held ahead of delivery */
    int64_t received;  /* results in (progress) */
    int64_t *given;    /* tasks handed to each rank (static) */
    fifo chunks;       /* chunk *, in id order */
    fifo parked;       /* int ranks whose wants wait for the window */
    fifo failed;       /* int64_t ids */
    int started;       /* workers whose first request arrived */
    bool aborting;
    int verdict; /* the farm's outcome (TSR_ERR_KERNEL on failures) */
    tsr_progress prog;
} run;

/* Runs task `id` as entry i of the results block b, appending its result or message. */
static int run_task(run *r, rbuf *b, int64_t i, int64_t id, const void *item, int *status) {
    tsr_farm f = r->f;
    tsr_ctx ctx = r->ctx;
    size_t room = f->o.result_bytes;
    TSR_CALL(ctx, rbuf_reserve(ctx, b, padded(room > TSR_TASK_MSG_LEN ? room : TSR_TASK_MSG_LEN)));
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
    task_rec rec = {.status = rc, .len = len};
    memcpy(b->p + rec_offset(i), &rec, sizeof rec);
    memset(b->p + b->len + len, 0, padded(len) - len);
    b->len += padded(len);
    *status = rc;
    return TSR_SUCCESS;
}

/* ---- rank 0 ---- */

static chunk *front(const run *r) {
    return r->chunks.n ? *(chunk **)fifo_at(&r->chunks, 0) : NULL;
}

/* The farm fails: no more work is handed out, every worker is told to skip what is left. */
static int start_abort(run *r) {
    r->aborting = true;
    for (int w = 1; w < r->f->size; w++)
        TSR_CALL(r->ctx, tsr__outbox_send(&r->ob, NULL, 0, w, TSR_TAG_FARM_ABORT));
    return TSR_SUCCESS;
}

static int task_failed(run *r, int64_t id, int rank, const unsigned char *msg, size_t len) {
    tsr_farm f = r->f;
    TSR_CALL(r->ctx, fifo_push(r->ctx, &r->failed, &id));
    if (f->o.on_error == TSR_FARM_ABORT) {
        r->verdict = tsr_error_set(r->ctx, TSR_ERR_KERNEL, __FILE__, __LINE__, __func__,
                                   "task %lld failed on rank %d: %.*s", (long long)id, rank,
                                   (int)len, (const char *)msg);
        return start_abort(r);
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
                TSR_CALL(r->ctx, task_failed(r, id, ch->owner, data, rec.len));
            } else if (r->deliver) {
                int rc = r->deliver(id, data, rec.len, r->user);
                if (rc) {
                    r->verdict = tsr_error_set(r->ctx, TSR_ERR_KERNEL, __FILE__, __LINE__, __func__,
                                               "delivering the result of task %lld failed "
                                               "(the callback returned %d)",
                                               (long long)id, rc);
                    TSR_CALL(r->ctx, start_abort(r));
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
    if (left <= 0)
        return PICK_STOP;
    if (o->chunk.kind == TSR_CHUNK_STATIC) {
        n = r->share - r->given[w];
        if (n <= 0)
            return PICK_STOP;
    } else if (o->chunk.kind == TSR_CHUNK_FIXED) {
        n = o->chunk.size;
    } else {
        int64_t g = (left + 2 * r->working - 1) / (2 * r->working);
        n = g > o->chunk.size ? g : o->chunk.size;
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
    int err = fifo_push(ctx, &r->chunks, &ch);
    if (err) {
        free(ch);
        return err;
    }
    r->next += n;
    r->given[w] += n;
    if (w == 0) {
        TSR_CALL(ctx, results_begin(ctx, &ch->res, ch->first, n));
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
                TSR_CALL(ctx, task_failed(r, h->first + i, w, ch->res.p + off, rec.len));
            off += padded(rec.len);
        }
    }
    return TSR_SUCCESS;
}

static int coord_handle(run *r) {
    tsr_ctx ctx = r->ctx;
    tsr__msg *m = &r->m;
    if (m->tag == TSR_TAG_FARM_FAIL) /* the worker's own error wins in the verdict */
        return r->aborting ? TSR_SUCCESS : start_abort(r);
    TSR_CHECK(ctx, m->tag == TSR_TAG_FARM_REQUEST && m->len >= sizeof(req_hdr), TSR_ERR_INTERNAL,
              "farm: unexpected message (tag %d, %zu bytes) from rank %d", m->tag, m->len,
              m->source);
    req_hdr h;
    memcpy(&h, m->buf, sizeof h);
    if (h.count == 0)
        r->started++;
    else
        TSR_CALL(ctx, store_results(r, m->source, &h));
    for (int64_t k = 0; k < h.wants; k++)
        TSR_CALL(ctx, fifo_push(ctx, &r->parked, &m->source));
    return advance(r);
}

/* Waits for a message; while progress is shown, polls gently instead, so that a line still
 * appears when one is due however long the workers take. */
static int wait_message(run *r, bool *got) {
    if (!r->prog.enabled)
        return tsr__msg_recv(&r->ob, true, &r->m, got);
    const struct timespec nap = {0, 50000};
    for (;;) {
        TSR_CALL(r->ctx, tsr__msg_recv(&r->ob, false, &r->m, got));
        if (*got)
            return TSR_SUCCESS;
        tsr_progress_update(&r->prog, r->received);
        nanosleep(&nap, NULL);
    }
}

static int coord_loop(run *r) {
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
                TSR_CALL(ctx, coord_handle(r));
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
            TSR_CALL(ctx, run_task(r, &own->res, own->avail, id, item, &st));
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
        if (r->started == f->size - 1 && r->next >= n && r->chunks.n == 0 && r->parked.n == 0)
            return TSR_SUCCESS;
        TSR_CHECK(ctx, f->size > 1, TSR_ERR_INTERNAL, "farm: rank 0 alone has nothing to run");
        TSR_CALL(ctx, wait_message(r, &got));
        if (got)
            TSR_CALL(ctx, coord_handle(r));
    }
}

/* Rank 0 after the run: the verdict under TSR_FARM_CONTINUE, and the failed ids. */
static int coord_finish(run *r) {
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

/* ---- workers ---- */

typedef struct wstate {
    fifo held; /* rbuf: WORK messages not yet run */
    int64_t asked, replies;
    bool stopped, aborted, halted;
} wstate;

static int worker_handle(run *r, wstate *s) {
    tsr_ctx ctx = r->ctx;
    tsr__msg *m = &r->m;
    if (m->tag == TSR_TAG_FARM_ABORT) {
        s->aborted = true;
        return TSR_SUCCESS;
    }
    work_hdr h;
    TSR_CHECK(ctx, m->tag == TSR_TAG_FARM_WORK && m->len >= sizeof h, TSR_ERR_INTERNAL,
              "farm: unexpected message (tag %d, %zu bytes) from rank %d", m->tag, m->len,
              m->source);
    memcpy(&h, m->buf, sizeof h);
    TSR_CHECK(ctx, h.count >= 0 && m->len == sizeof h + (size_t)h.count * r->f->o.item_bytes,
              TSR_ERR_INTERNAL, "farm: malformed chunk of %lld tasks (%zu bytes)",
              (long long)h.count, m->len);
    s->replies++;
    if (h.count == 0) {
        s->stopped = true;
        return TSR_SUCCESS;
    }
    if (s->halted)
        return TSR_SUCCESS;
    rbuf b = {m->buf, m->len, m->cap};
    TSR_CALL(ctx, fifo_push(ctx, &s->held, &b));
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
    TSR_CALL(ctx, results_begin(ctx, out, h.first, h.count));
    int64_t i = 0;
    while (i < h.count) {
        TSR_CALL(ctx, worker_poll(r, s, false)); /* an abort or the next chunk */
        if (s->aborted)
            return TSR_SUCCESS;
        const void *item = f->o.item_bytes ? w->p + sizeof h + (size_t)i * f->o.item_bytes : NULL;
        int st;
        TSR_CALL(ctx, run_task(r, out, i, h.first + i, item, &st));
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
    int err = tsr__outbox_send_owned(&r->ob, out->p, out->len, 0, TSR_TAG_FARM_REQUEST);
    *out = (rbuf){0};
    return err;
}

static int worker_loop(run *r, wstate *s) {
    tsr_ctx ctx = r->ctx;
    req_hdr h = {2, 0, 0, 0};
    TSR_CALL(ctx, tsr__outbox_send(&r->ob, &h, sizeof h, 0, TSR_TAG_FARM_REQUEST));
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

/* ---- the run ---- */

/* Rank 0: what the run report shows of this farm: per rank tasks, chunks, busy and idle time. */
static int report_json(tsr_farm f) {
    tsr_ctx ctx = f->ctx;
    size_t len = 512 + (size_t)f->size * 160;
    char *j;
    TSR_CALL(ctx, tsr__calloc(ctx, len, 1, &j));
    char policy[64];
    tsr_chunk_policy_format(&f->o.chunk, policy, sizeof policy);
    size_t n = (size_t)snprintf(j, len,
                                "\"farm\": {\"tasks\": %lld, \"failed\": %lld, \"chunk\": \"%s\", "
                                "\"seconds\": %.9g, \"balance\": %.6g, \"max_buffered\": %lld, "
                                "\"per_rank\": [",
                                (long long)f->o.ntasks, (long long)f->nfailed, policy, f->seconds,
                                f->balance, (long long)f->max_buffered);
    for (int w = 0; w < f->size && n < len; w++) {
        const tsr_farm_worker *k = &f->workers[w];
        double idle = f->seconds > k->busy ? f->seconds - k->busy : 0.0;
        n += (size_t)snprintf(j + n, len - n,
                              "%s{\"rank\": %d, \"tasks\": %lld, \"chunks\": %lld, "
                              "\"busy_seconds\": %.9g, \"idle_seconds\": %.9g}",
                              w ? ", " : "", w, (long long)k->tasks, (long long)k->chunks, k->busy,
                              idle);
    }
    if (n < len)
        snprintf(j + n, len - n, "]}");
    tsr__report_set_json(ctx, j);
    return TSR_SUCCESS;
}

static int gather_stats(tsr_farm f) {
    tsr_ctx ctx = f->ctx;
    if (f->rank == 0) {
        free(f->workers);
        f->workers = NULL;
        TSR_CALL(ctx, tsr__calloc(ctx, (size_t)f->size, sizeof *f->workers, &f->workers));
    }
    TSR_MPI(ctx, MPI_Gather(&f->me, (int)sizeof f->me, MPI_BYTE, f->workers, (int)sizeof f->me,
                            MPI_BYTE, 0, f->comm));
    if (f->rank != 0)
        return TSR_SUCCESS;
    double max = 0, sum = 0;
    int n = 0;
    for (int w = 0; w < f->size; w++) {
        if (w == 0 && f->size > 1 && !f->o.coordinator_works)
            continue;
        double b = f->workers[w].busy;
        max = b > max ? b : max;
        sum += b;
        n++;
    }
    f->balance = sum > 0 ? max / (sum / n) : 1.0;
    return report_json(f);
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

    run r = {.f = f, .ctx = ctx, .fn = task, .deliver = deliver, .user = user};
    wstate s = {0};
    r.chunks.esz = sizeof(chunk *);
    r.parked.esz = sizeof(int);
    r.failed.esz = sizeof(int64_t);
    s.held.esz = sizeof(rbuf);
    tsr__outbox_init(&r.ob, ctx, f->comm);
    const tsr_farm_opts *o = &f->o;
    r.working = f->size == 1 || o->coordinator_works ? f->size : f->size - 1;
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
            err = coord_loop(&r);
    } else {
        err = worker_loop(&r, &s);
    }
    /* A local error (memory, MPI, a malformed message) ends the farm for everyone: rank 0 tells
     * the workers, a worker tells rank 0, which tells the rest. */
    if (err && f->size > 1) {
        if (f->rank == 0 && !r.aborting)
            start_abort(&r);
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
            err = coord_finish(&r);
    }
    run_free(&r, &s);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err)); /* a local error becomes everyone's */
    TSR_CALL(ctx, gather_stats(f));
    return tsr_ctx_agree(ctx, f->rank == 0 ? r.verdict : TSR_SUCCESS);
}

/* ---- statistics ---- */

int tsr_farm_get_stats(tsr_farm f, tsr_farm_stats *st) {
    if (!f || !st)
        return TSR_ERR_ARG;
    memset(st, 0, sizeof *st);
    st->ntasks = f->o.ntasks;
    st->failed = f->nfailed;
    st->seconds = f->seconds;
    st->balance = f->balance;
    st->max_buffered = f->max_buffered;
    st->nranks = f->size;
    st->workers = f->rank == 0 ? f->workers : NULL;
    st->failed_ids = f->rank == 0 ? f->failed_ids : NULL;
    return TSR_SUCCESS;
}

int tsr_farm_print_summary(tsr_farm f, FILE *out) {
    if (!f || !out)
        return TSR_ERR_ARG;
    if (f->rank != 0 || !f->workers)
        return TSR_SUCCESS;
    char policy[64];
    tsr_chunk_policy_format(&f->o.chunk, policy, sizeof policy);
    fprintf(out, "farm: %lld tasks on %d rank%s, chunks %s, %.3f s, %.1f tasks/s\n",
            (long long)f->o.ntasks, f->size, f->size > 1 ? "s" : "", policy, f->seconds,
            f->seconds > 0 ? (double)f->o.ntasks / f->seconds : 0.0);
    fprintf(out, "  %6s %12s %10s %10s\n", "rank", "tasks", "chunks", "busy s");
    int64_t tasks = 0, chunks = 0;
    double busy = 0;
    for (int w = 0; w < f->size; w++) {
        const tsr_farm_worker *k = &f->workers[w];
        fprintf(out, "  %6d %12lld %10lld %10.3f\n", w, (long long)k->tasks, (long long)k->chunks,
                k->busy);
        tasks += k->tasks;
        chunks += k->chunks;
        busy += k->busy;
    }
    fprintf(out, "  %6s %12lld %10lld %10.3f\n", "total", (long long)tasks, (long long)chunks,
            busy);
    fprintf(out, "  balance %.2f (max/mean busy time), at most %lld results buffered", f->balance,
            (long long)f->max_buffered);
    if (f->nfailed)
        fprintf(out, ", %lld failed", (long long)f->nfailed);
    fputc('\n', out);
    return TSR_SUCCESS;
}
