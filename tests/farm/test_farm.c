/* test_farm: the task farm at any rank count.
 *
 * Without mode options it loops over chunk policies, task counts, items or bare ids, rank 0
 * working or not and a small result window, and checks on rank 0 that every result arrives
 * exactly once, in id order, equal to a serial computation, and (reducing per-rank execution
 * counts) that every task ran exactly once; then failing tasks under both policies. Prints
 * "N passed, N failed".
 *
 * --fail-abort (task 17 fails) and --fail-continue (tasks 3 and 17 fail; --on-error continue)
 * run 40 tasks and end through tsr_finalize, for must_fail.py. --bench N runs N tasks that
 * sleep --task-us each and prints the rate and the summary. --chunk, --on-error and --progress
 * apply to these modes (and --chunk is validated before the matrix too); --farm-groups applies
 * to every farm, the matrix's too. FARM_TRACE=1 in the
 * environment names each case before it runs, to find a hang. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tessera.h>

enum { ITEM_BYTES = 12, RESULT_BYTES = 24 };
enum { FAIL_NONE, FAIL_3_17, FAIL_17 };

typedef struct tcase {
    int64_t n;
    bool items;
    int fail;
    int64_t refuse; /* the result callback fails at this id (-1: never) */
    int *runs;      /* executions per id on this rank */
    /* rank 0, from the result callback */
    char *seen;
    int64_t last, delivered, bad;
} tcase;

static int passed, failed;
/* --farm-groups as given, for every farm of the matrix too */
static char groups_text[TSR_OPT_STRLEN];

static void check(tsr_ctx ctx, bool ok, const char *what, const char *detail) {
    if (tsr_ctx_rank(ctx) != 0)
        return;
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("FAIL %s: %s\n", what, detail);
    }
}

/* The item of task id: a value and the id, 12 bytes, so that items sit unaligned in messages. */
static void make_item(int64_t id, unsigned char *item) {
    uint64_t v = tsr_splitmix64((uint64_t)id);
    uint32_t tag = (uint32_t)id;
    memcpy(item, &v, 8);
    memcpy(item + 8, &tag, 4);
}

/* The result: 1..23 bytes depending on the task, some tasks costlier than others (with an
 * OpenMP loop whose integer sum does not depend on the threads). */
static size_t compute(int64_t id, uint64_t v, unsigned char *out) {
    size_t len = 1 + v % 23;
    for (size_t k = 0; k < len; k++)
        out[k] = (unsigned char)(tsr_splitmix64(v + k) >> 7);
    if (id % 11 == 0) {
        uint64_t acc = 0;
#pragma omp parallel for reduction(+ : acc)
        for (int i = 0; i < 20000; i++)
            acc += tsr_splitmix64(v ^ (uint64_t)i) & 0xff;
        out[0] ^= (unsigned char)acc;
    }
    return len;
}

static uint64_t value_of(int64_t id, const unsigned char *item) {
    if (!item)
        return (uint64_t)id * 7 + 1;
    uint64_t v;
    memcpy(&v, item, 8);
    return v;
}

static int task_fn(tsr_task *t, void *user) {
    tcase *c = user;
    c->runs[t->id]++;
    if ((c->fail == FAIL_3_17 && t->id == 3) || (c->fail != FAIL_NONE && t->id == 17)) {
        if (t->id == 17)
            return 1; /* no message: the farm says what it returned */
        snprintf(t->message, sizeof t->message, "boom %lld", (long long)t->id);
        return 5;
    }
    const unsigned char *item = t->item;
    if (c->items) {
        uint32_t tag;
        if (!item || t->item_bytes != ITEM_BYTES)
            return 9;
        memcpy(&tag, item + 8, 4);
        if (tag != (uint32_t)t->id)
            return 10;
    } else if (item) {
        return 11;
    }
    if (t->result_bytes != RESULT_BYTES)
        return 12;
    t->result_bytes = compute(t->id, value_of(t->id, item), t->result);
    return 0;
}

static int deliver_fn(int64_t id, const void *result, size_t bytes, void *user) {
    tcase *c = user;
    if (id <= c->last || id < 0 || id >= c->n) {
        c->bad++;
        return 0;
    }
    c->last = id;
    if (id == c->refuse)
        return 7;
    c->seen[id]++;
    c->delivered++;
    unsigned char item[ITEM_BYTES], want[RESULT_BYTES];
    make_item(id, item);
    size_t len = compute(id, value_of(id, c->items ? item : NULL), want);
    if (len != bytes || memcmp(want, result, len) != 0)
        c->bad++;
    return 0;
}

/* --bench: does nothing, or sleeps the given microseconds (ids divisible by 3 three times as
 * long, for an uneven load). */
static int bench_task(tsr_task *t, void *user) {
    int64_t us = *(const int64_t *)user * (t->id % 3 == 0 ? 3 : 1);
    if (us > 0) {
        struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

typedef struct setup {
    const char *chunk;
    int64_t n, window;
    bool items, coordinator_works;
    int fail, on_error;
    int64_t refuse; /* 0: never, else the id at which the result callback fails */
} setup;

/* Whether rank w asks a sub-coordinator rather than rank 0 under --farm-groups N (documented in
 * tessera/farm.h: rank 0 alone, then groups of N from rank 1, whose lowest rank serves the
 * rest). */
static bool group_member(int w, int nranks) {
    int n = atoi(groups_text);
    if (n < 2 || w == 0)
        return false;
    int leader = 1 + (w - 1) / n * n;
    return w != leader && nranks - leader >= 2;
}

/* Runs one farm and checks everything; returns 0 or a local (non-farm) error. */
static int run_case(tsr_ctx ctx, const setup *s) {
    int rank = tsr_ctx_rank(ctx);
    char what[160];
    snprintf(what, sizeof what,
             "chunk %s n %lld items %d rank0-works %d window %lld fail %d %s refuse %lld", s->chunk,
             (long long)s->n, (int)s->items, (int)s->coordinator_works, (long long)s->window,
             s->fail, s->on_error ? "continue" : "abort", (long long)s->refuse);
    if (getenv("FARM_TRACE") && rank == 0)
        fprintf(stderr, "case %s\n", what);
    tcase c = {.n = s->n,
               .items = s->items,
               .fail = s->fail,
               .refuse = s->refuse ? s->refuse : -1,
               .last = -1};
    size_t n = (size_t)s->n;
    unsigned char *items = NULL;
    int *total = NULL;
    c.runs = calloc(n + 1, sizeof *c.runs);
    c.seen = calloc(n + 1, 1);
    total = calloc(n + 1, sizeof *total);
    if (rank == 0 && s->items) {
        items = malloc(n * ITEM_BYTES + 1);
        for (size_t i = 0; items && i < n; i++)
            make_item((int64_t)i, items + i * ITEM_BYTES);
    }
    int err = c.runs && c.seen && total && (items || rank != 0 || !s->items) ? 0 : TSR_ERR_MEMORY;
    if (err)
        goto out;

    tsr_farm_opts o;
    tsr_farm_opts_init(&o);
    o.ntasks = s->n;
    snprintf(o.chunk_text, sizeof o.chunk_text, "%s", s->chunk);
    o.result_bytes = RESULT_BYTES;
    o.item_bytes = s->items ? ITEM_BYTES : 0;
    o.items = items;
    o.window = s->window;
    o.coordinator_works = s->coordinator_works;
    o.on_error = s->on_error ? TSR_FARM_CONTINUE : TSR_FARM_ABORT;
    snprintf(o.groups_text, sizeof o.groups_text, "%s", groups_text);
    tsr_farm farm = NULL;
    if ((err = tsr_farm_create(ctx, &o, &farm)))
        goto out;
    int rc = tsr_farm_run(farm, task_fn, deliver_fn, &c);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", tsr_ctx_error_message(ctx));
    tsr_ctx_error_clear(ctx);

    /* Same outcome everywhere. */
    int lo = rc, hi = rc;
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Reduce(c.runs, total, (int)n + 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
    tsr_farm_stats st;
    tsr_farm_get_stats(farm, &st);
    char detail[1400];
    int expect = s->fail == FAIL_NONE && !s->refuse ? TSR_SUCCESS : TSR_ERR_KERNEL;
    snprintf(detail, sizeof detail, "return codes %d..%d, expected %d (%s)", lo, hi, expect, msg);
    check(ctx, lo == expect && hi == expect, what, detail);

    if (rank == 0) {
        int64_t once = 0, more = 0, ran = 0, ok_seen = 0;
        for (size_t i = 0; i < n; i++) {
            once += total[i] == 1;
            more += total[i] > 1;
            ran += total[i];
            ok_seen += c.seen[i] == 1;
        }
        int64_t counted = 0;
        for (int w = 0; w < st.nranks; w++)
            counted += st.workers[w].tasks;
        snprintf(detail, sizeof detail,
                 "%lld tasks ran once, %lld more than once; stats count %lld of %lld runs",
                 (long long)once, (long long)more, (long long)counted, (long long)ran);
        bool aborted = (s->fail == FAIL_3_17 && !s->on_error) || s->refuse;
        check(ctx, more == 0 && counted == ran && (aborted || once == s->n), what, detail);
        /* Rank 0's request timers: each worker's first request, then one per chunk it ran (all
         * of them when nothing failed); time spent on them within the run's. A sub-coordinator
         * is a worker whose chunks are batches, that also asks for each next batch apart (at
         * most once per batch); its group's workers ask it, not rank 0. */
        int64_t lo_want = 0, extra = 0;
        for (int w = 1; w < st.nranks; w++) {
            if (group_member(w, st.nranks))
                continue;
            lo_want += 1 + st.workers[w].chunks;
            if (st.workers[w].serves > 0)
                extra += st.workers[w].chunks;
        }
        bool exact = s->fail == FAIL_NONE && !s->refuse;
        snprintf(detail, sizeof detail,
                 "rank 0 handled %lld requests in %g s (expected %s%lld..%lld; run took %g s)",
                 (long long)st.requests, st.request_seconds, exact ? "" : "at most ",
                 (long long)lo_want, (long long)(lo_want + extra), st.seconds);
        check(ctx,
              (exact ? st.requests >= lo_want && st.requests <= lo_want + extra
                     : st.requests <= lo_want + extra + st.nranks) &&
                  st.request_seconds >= 0 && st.request_seconds <= st.seconds &&
                  (st.requests > 0 || st.request_seconds == 0),
              what, detail);
        /* Its quantiles (to within 1/32 of a sample, the histogram's bucket): at most the
         * total, and half the requests took the median or more. */
        const double slack = 1 + 1.0 / 32 + 1e-9;
        snprintf(detail, sizeof detail, "request median %g s, 99th percentile %g s, total %g s",
                 st.request_median_seconds, st.request_p99_seconds, st.request_seconds);
        check(ctx,
              st.request_median_seconds >= 0 &&
                  st.request_median_seconds <= st.request_p99_seconds &&
                  st.request_p99_seconds <= slack * st.request_seconds &&
                  st.request_median_seconds * (double)((st.requests + 1) / 2) <=
                      slack * st.request_seconds &&
                  (st.requests > 0 || st.request_p99_seconds == 0),
              what, detail);
        snprintf(detail, sizeof detail, "%lld bad deliveries", (long long)c.bad);
        check(ctx, c.bad == 0, what, detail);
        if (strcmp(s->chunk, "static") != 0) {
            int64_t window = s->window ? s->window : 65536;
            snprintf(detail, sizeof detail, "%lld results buffered, window %lld",
                     (long long)st.max_buffered, (long long)window);
            check(ctx, st.max_buffered <= window, what, detail);
        }
        if (s->refuse) {
            char want[64];
            snprintf(want, sizeof want, "delivering the result of task %lld failed",
                     (long long)s->refuse);
            snprintf(detail, sizeof detail, "%lld delivered; message '%s'", (long long)c.delivered,
                     msg);
            check(ctx, strstr(msg, want) && c.delivered == s->refuse, what, detail);
        } else if (s->fail == FAIL_NONE) {
            snprintf(detail, sizeof detail, "%lld of %lld delivered", (long long)ok_seen,
                     (long long)s->n);
            check(ctx, ok_seen == s->n && c.delivered == s->n, what, detail);
        } else if (s->on_error) {
            /* continue: everything else delivered, both failures listed */
            bool others =
                c.delivered == s->n - 2 && ok_seen == s->n - 2 && !c.seen[3] && !c.seen[17];
            snprintf(detail, sizeof detail, "%lld delivered; message '%s'", (long long)c.delivered,
                     msg);
            check(ctx,
                  others && strstr(msg, "2 of 40 tasks failed (ids 3, 17)") != NULL &&
                      st.failed == 2 && st.failed_ids[0] == 3 && st.failed_ids[1] == 17,
                  what, detail);
        } else {
            bool named = (strstr(msg, "task 3 failed on rank ") && strstr(msg, ": boom 3")) ||
                         (strstr(msg, "task 17 failed on rank ") && strstr(msg, ": returned 1"));
            snprintf(detail, sizeof detail, "message '%s'", msg);
            check(ctx, named && st.failed == 1, what, detail);
        }
    }
    tsr_farm_destroy(&farm);
out:
    free(items);
    free(total);
    free(c.seen);
    free(c.runs);
    return err;
}

static int matrix(tsr_ctx ctx) {
    static const char *const chunks[] = {"static", "fixed:1", "fixed:7", "guided", "guided:5"};
    static const int64_t sizes[] = {0, 1, 5, 97, 1000};
    for (size_t k = 0; k < sizeof chunks / sizeof *chunks; k++)
        for (size_t j = 0; j < sizeof sizes / sizeof *sizes; j++)
            for (int items = 0; items < 2; items++)
                for (int works = 1; works >= 0; works--)
                    for (int small = 0; small < 2; small++) {
                        /* The small window on mid-sized runs only: it is slow by design. */
                        if (small && (sizes[j] < 5 || sizes[j] > 97))
                            continue;
                        setup s = {.chunk = chunks[k],
                                   .n = sizes[j],
                                   .window = small ? 3 : 0,
                                   .items = items,
                                   .coordinator_works = works};
                        TSR_CALL(ctx, run_case(ctx, &s));
                    }
    static const char *const fail_chunks[] = {"static", "fixed:1", "fixed:7", "guided"};
    for (size_t k = 0; k < sizeof fail_chunks / sizeof *fail_chunks; k++)
        for (int policy = 0; policy < 2; policy++)
            for (int works = 1; works >= 0; works--) {
                setup s = {.chunk = fail_chunks[k],
                           .n = 40,
                           .items = k % 2,
                           .coordinator_works = works,
                           .fail = FAIL_3_17,
                           .on_error = policy};
                TSR_CALL(ctx, run_case(ctx, &s));
            }
    /* A result callback that fails aborts the farm too. */
    for (size_t k = 0; k < sizeof fail_chunks / sizeof *fail_chunks; k++) {
        setup s = {.chunk = fail_chunks[k], .n = 97, .coordinator_works = k % 2, .refuse = 50};
        TSR_CALL(ctx, run_case(ctx, &s));
    }
    return TSR_SUCCESS;
}

typedef struct args {
    bool fail_abort, fail_continue;
    int64_t bench, task_us;
    tsr_farm_opts farm;
} args;

static int parse(tsr_ctx ctx, int argc, char **argv, args *a, bool *done) {
    memset(a, 0, sizeof *a);
    tsr_farm_opts_init(&a->farm);
    tsr_opts o = NULL;
    TSR_CALL(ctx, tsr_opts_create(ctx, "Tests of the task farm.", &o));
    tsr_farm_add_options(o, &a->farm);
    tsr_opts_add_flag(o, "fail-abort", &a->fail_abort,
                      "40 tasks, task 17 fails; stop at the failure");
    tsr_opts_add_flag(o, "fail-continue", &a->fail_continue,
                      "40 tasks, tasks 3 and 17 fail; run the rest");
    tsr_opts_add_int(o, "bench", &a->bench, 0, INT64_MAX, "N",
                     "run N empty tasks and print the rate");
    tsr_opts_add_int(o, "task-us", &a->task_us, 0, 10000000, "US",
                     "--bench: each task sleeps this long (every third 3x)");
    int err = tsr_opts_parse(o, argc, argv, done);
    tsr_opts_destroy(&o);
    return err;
}

static int run(tsr_ctx ctx, int argc, char **argv) {
    args a;
    bool done = false;
    TSR_CALL(ctx, parse(ctx, argc, argv, &a, &done));
    if (done)
        return TSR_SUCCESS;
    snprintf(groups_text, sizeof groups_text, "%s", a.farm.groups_text);
    tsr_farm farm = NULL;
    if (a.bench || !(a.fail_abort || a.fail_continue)) {
        /* --bench, or the --chunk check before the test matrix */
        a.farm.ntasks = a.bench;
        TSR_CALL(ctx, tsr_farm_create(ctx, &a.farm, &farm));
        int err = tsr_farm_run(farm, bench_task, NULL, &a.task_us);
        if (!err && a.bench) {
            tsr_farm_stats st;
            tsr_farm_get_stats(farm, &st);
            tsr_ctx_printf(ctx, stdout, "bench: %lld tasks of %lld us, %.3f s, %.0f tasks/s\n",
                           (long long)st.ntasks, (long long)a.task_us, st.seconds,
                           st.seconds > 0 ? (double)st.ntasks / st.seconds : 0.0);
            tsr_farm_print_summary(farm, stdout);
        }
        tsr_farm_destroy(&farm);
        if (err || a.bench)
            return err;
    }
    if (a.fail_abort || a.fail_continue) {
        tcase c = {.n = 40, .fail = a.fail_abort ? FAIL_17 : FAIL_3_17, .refuse = -1, .last = -1};
        c.runs = calloc(40, sizeof *c.runs);
        c.seen = calloc(40, 1);
        int err = c.runs && c.seen ? 0 : TSR_ERR_MEMORY;
        a.farm.ntasks = 40;
        a.farm.result_bytes = RESULT_BYTES;
        if (a.fail_continue)
            a.farm.on_error_choice = 1;
        if (!err)
            err = tsr_farm_create(ctx, &a.farm, &farm);
        if (!err)
            err = tsr_farm_run(farm, task_fn, deliver_fn, &c);
        tsr_farm_destroy(&farm);
        free(c.runs);
        free(c.seen);
        return err;
    }

    TSR_CALL(ctx, matrix(ctx));
    int fails = failed;
    MPI_Bcast(&fails, 1, MPI_INT, 0, MPI_COMM_WORLD);
    tsr_ctx_printf(ctx, stdout, "%d passed, %d failed\n", passed, failed);
    int err = TSR_SUCCESS;
    if (fails)
        err = tsr_error_set(ctx, TSR_ERR_VERIFY, __FILE__, __LINE__, __func__,
                            "%d farm checks failed", fails);
    return tsr_ctx_agree(ctx, err);
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "test_farm", &ctx);
    if (!err)
        err = run(ctx, argc, argv);
    return tsr_finalize(&ctx, err);
}
