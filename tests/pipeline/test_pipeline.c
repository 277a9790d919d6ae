/* Pipeline tests, many cases in one mpirun: the sink receives, in order, exactly what the serial
 * composition of the same functions gives, for several stage assignments, credits and item
 * counts; no link ever holds more items than its credits; failures end every rank with the
 * failing stage's message.
 *
 * Modes for tests/mpi/must_fail.py: --fail (stage 'c' fails on item 5, ends via tsr_finalize)
 * and --stage-ranks LIST (the list is checked by the pipeline). */
#include <stdlib.h>
#include <string.h>

#include <tessera.h>

#define MAXB 64    /* most bytes a stage produces */
#define SRC_MAX 16 /* most bytes the source produces */
#define MAXN 200
#define MAXS 16
#define NONE (-100)

typedef struct stage_user {
    int k;
    int64_t spin;    /* busy-loop iterations per item: a slow stage */
    int64_t fail_at; /* index to fail on, or -1 */
} stage_user;

typedef struct source_user {
    int64_t n, fail_at;
} source_user;

typedef struct sink_user {
    int64_t next, fail_at;
    int bad;
    const unsigned char (*ref)[MAXB];
    const size_t *reflen;
} sink_user;

static void spin(int64_t n) {
    volatile double x = 1.0;
    for (int64_t i = 0; i < n; i++)
        x = x * 1.0000001 + 1e-9;
}

static int source(tsr_item *it, void *user) {
    const source_user *s = user;
    if (it->index >= s->n) {
        it->end = true;
        return 0;
    }
    if (it->index == s->fail_at) {
        snprintf(it->message, sizeof it->message, "input ran dry");
        return 1;
    }
    size_t m = (size_t)(it->index * 7 % 13);
    unsigned char *o = it->out;
    for (size_t j = 0; j < m; j++)
        o[j] = (unsigned char)(it->index * 31 + (int64_t)j);
    it->out_bytes = m;
    return 0;
}

/* Stage k: a deterministic function of the input bytes and the index whose length changes. */
static int stage(tsr_item *it, void *user) {
    const stage_user *u = user;
    /* Some items are much slower, so that ranks sharing a stage finish out of order. */
    spin(it->index % 7 == 3 ? 8 * u->spin : u->spin);
    if (it->index == u->fail_at) {
        snprintf(it->message, sizeof it->message, "bad item from stage %d", u->k);
        return 1;
    }
    const unsigned char *in = it->in;
    size_t n = it->in_bytes;
    size_t m = (n * (size_t)(u->k + 1) / 2 + (size_t)u->k + (size_t)(it->index % 5)) % MAXB;
    unsigned char *o = it->out;
    for (size_t j = 0; j < m; j++) {
        unsigned v = n ? in[(j * (size_t)(u->k + 1)) % n] : 0u;
        o[j] = (unsigned char)(v * (unsigned)(2 * u->k + 1) + j + (size_t)it->index + (size_t)u->k);
    }
    it->out_bytes = m;
    return 0;
}

static int sink(tsr_item *it, void *user) {
    sink_user *s = user;
    if (it->index == s->fail_at) {
        snprintf(it->message, sizeof it->message, "disk full");
        return 1;
    }
    if (it->index != s->next || it->index >= MAXN || it->in_bytes != s->reflen[it->index] ||
        memcmp(it->in, s->ref[it->index], it->in_bytes) != 0)
        s->bad++;
    s->next++;
    return 0;
}

typedef struct pcase {
    const char *name;
    int nstages;
    double cost[MAXS];
    int ranks[MAXS];  /* tsr_pipeline_add_stage's request */
    const char *list; /* --stage-ranks, or NULL */
    int credits;      /* 0: default */
    int64_t n;        /* items */
    int slow;         /* stage with a busy loop, or -1 */
    int fail;         /* failing stage: -1 source, nstages sink, NONE */
    int64_t fail_at;
    const char *expect; /* the error message expected, NULL for success */
} pcase;

static unsigned char ref[MAXN][MAXB];
static size_t reflen[MAXN];

/* The serial composition, computed directly. */
static void reference(const pcase *c) {
    source_user su = {c->n, -1};
    for (int64_t i = 0; i < c->n; i++) {
        unsigned char a[MAXB], b[MAXB];
        tsr_item it = {.index = i, .out = a, .out_bytes = SRC_MAX};
        source(&it, &su);
        size_t len = it.out_bytes;
        for (int k = 0; k < c->nstages; k++) {
            stage_user u = {k, 0, -1};
            tsr_item st = {.index = i, .in = a, .in_bytes = len, .out = b, .out_bytes = MAXB};
            stage(&st, &u);
            len = st.out_bytes;
            memcpy(a, b, len);
        }
        memcpy(ref[i], a, len);
        reflen[i] = len;
    }
}

static int failures;

static void check(tsr_ctx ctx, const pcase *c, bool ok, const char *what) {
    if (!ok) {
        failures++;
        printf("FAIL %s on rank %d (of %d): %s\n", c->name, tsr_ctx_rank(ctx), tsr_ctx_size(ctx),
               what);
        fflush(stdout);
    }
}

static int build(tsr_ctx ctx, const pcase *c, source_user *su, stage_user *u, sink_user *sk,
                 tsr_pipeline *pp) {
    static const char *const names[MAXS] = {"a", "b", "c", "d", "e", "f", "g", "h",
                                            "i", "j", "k", "l", "m", "n", "o", "p"};
    int err = tsr_pipeline_create(ctx, pp);
    tsr_pipeline p = *pp;
    *su = (source_user){c->n, c->fail == -1 ? c->fail_at : -1};
    *sk = (sink_user){0, c->fail == c->nstages ? c->fail_at : -1, 0, ref, reflen};
    if (!err)
        err = tsr_pipeline_set_source(p, "gen", source, su, SRC_MAX);
    for (int k = 0; k < c->nstages && !err; k++) {
        u[k] = (stage_user){k, k == c->slow ? 20000 : 0, k == c->fail ? c->fail_at : -1};
        err = tsr_pipeline_add_stage(p, names[k], stage, &u[k], MAXB, c->cost[k], c->ranks[k]);
    }
    if (!err)
        err = tsr_pipeline_set_sink(p, "check", sink, sk);
    if (!err && c->credits)
        err = tsr_pipeline_set_credits(p, c->credits);
    if (!err && c->list)
        err = tsr_pipeline_set_stage_ranks(p, c->list);
    return err;
}

static void run_case(tsr_ctx ctx, const pcase *c, bool summary) {
    int rank = tsr_ctx_rank(ctx);
    reference(c);
    source_user su;
    stage_user u[MAXS];
    sink_user sk;
    tsr_pipeline p = NULL;
    int err = build(ctx, c, &su, u, &sk, &p);
    if (!err)
        err = tsr_pipeline_run(p);
    char what[1200];
    if (c->expect) {
        snprintf(what, sizeof what, "expected TSR_ERR_KERNEL with '%s', got %d '%s'", c->expect,
                 err, tsr_ctx_error_message(ctx));
        check(ctx, c, err == TSR_ERR_KERNEL && strstr(tsr_ctx_error_message(ctx), c->expect), what);
        tsr_ctx_error_clear(ctx);
        tsr_pipeline_destroy(&p);
        return;
    }
    snprintf(what, sizeof what, "run failed: %d '%s'", err, tsr_ctx_error_message(ctx));
    check(ctx, c, err == 0, what);
    if (err) {
        tsr_ctx_error_clear(ctx);
        tsr_pipeline_destroy(&p);
        return;
    }
    if (rank == 0) {
        snprintf(what, sizeof what, "sink got %lld items (%d wrong or out of order), expected %lld",
                 (long long)sk.next, sk.bad, (long long)c->n);
        check(ctx, c, sk.next == c->n && sk.bad == 0, what);
        for (int s = -1; s <= c->nstages; s++) {
            tsr_stage_stats st;
            tsr_pipeline_get_stage_stats(p, s, &st);
            snprintf(what, sizeof what, "stage %d '%s' counted %lld items", s, st.name,
                     (long long)st.items);
            check(ctx, c, st.items == c->n && st.nranks >= 1, what);
        }
        int nlinks = 0;
        tsr_pipeline_links(p, &nlinks);
        /* One link into each rank group and one into the sink; none on a single rank. */
        int groups = tsr_ctx_size(ctx) - 1 < c->nstages ? tsr_ctx_size(ctx) - 1 : c->nstages;
        check(ctx, c, nlinks == (tsr_ctx_size(ctx) > 1 ? groups + 1 : 0), "link count");
        for (int l = 0; l < nlinks; l++) {
            tsr_link_stats ls;
            tsr_pipeline_get_link_stats(p, l, &ls);
            snprintf(what, sizeof what, "link %d: %d in flight, credits %d (asked %d)", l,
                     ls.max_in_flight, ls.credits, c->credits);
            check(ctx, c,
                  ls.max_in_flight <= ls.credits && (c->n == 0 || ls.max_in_flight >= 1) &&
                      ls.credits >= c->credits,
                  what);
        }
        if (summary || getenv("TEST_PIPELINE_SUMMARY")) /* set it to see every case's */
            tsr_pipeline_print_summary(p, stdout);
    }
    /* Requested counts are what the stages got. */
    for (int s = 0; s < c->nstages && tsr_ctx_size(ctx) > c->nstages; s++) {
        int want = c->ranks[s];
        if (c->list) {
            const char *q = c->list;
            for (int k = 0; k < s; k++)
                q = strchr(q, ',') + 1;
            want = atoi(q);
        }
        int got = 0;
        bool mine = false;
        tsr_pipeline_stage_ranks(p, s, &got, &mine);
        snprintf(what, sizeof what, "stage %d runs on %d ranks, asked %d", s, got, want);
        check(ctx, c, want == 0 || got == want, what);
    }
    tsr_pipeline_destroy(&p);
}

static int one_run(tsr_ctx ctx, const pcase *c) {
    reference(c);
    source_user su;
    stage_user u[MAXS];
    sink_user sk;
    tsr_pipeline p = NULL;
    int err = build(ctx, c, &su, u, &sk, &p);
    if (!err)
        err = tsr_pipeline_run(p);
    if (!err)
        tsr_pipeline_print_summary(p, stdout);
    tsr_pipeline_destroy(&p);
    return err;
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "test_pipeline", &ctx);
    if (err)
        return tsr_finalize(&ctx, err);
    int P = tsr_ctx_size(ctx);
    const pcase base = {.name = "base",
                        .nstages = 3,
                        .cost = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
                        .n = 20,
                        .slow = -1,
                        .fail = NONE};
    if (argc > 1 && strcmp(argv[1], "--fail") == 0) {
        pcase c = base;
        c.fail = 2;
        c.fail_at = 5;
        return tsr_finalize(&ctx, one_run(ctx, &c));
    }
    if (argc > 2 && strcmp(argv[1], "--stage-ranks") == 0) {
        pcase c = base;
        c.list = argv[2];
        return tsr_finalize(&ctx, one_run(ctx, &c));
    }

    pcase cases[64];
    int nc = 0;
    static const int64_t counts[] = {0, 1, 7, 200};
    for (int i = 0; i < 4; i++) {
        pcase c = base;
        c.name = "equal-costs";
        c.n = counts[i];
        cases[nc++] = c;
    }
    {
        pcase c = base;
        c.name = "uneven-costs-credits-1";
        c.cost[0] = 1, c.cost[1] = 5, c.cost[2] = 2;
        c.credits = 1;
        c.n = 200;
        cases[nc++] = c;
        c.name = "costs-last-heavy";
        c.cost[0] = 1, c.cost[1] = 1, c.cost[2] = 6;
        c.credits = 0;
        cases[nc++] = c;
    }
    {
        pcase c = base;
        c.name = "two-stages-shared";
        c.nstages = 2;
        c.n = 200;
        c.credits = 3;
        cases[nc++] = c;
    }
    {
        pcase c = base;
        c.name = "one-stage";
        c.nstages = 1;
        c.n = 200;
        cases[nc++] = c;
        c.name = "sixteen-stages";
        c.nstages = MAXS;
        c.cost[3] = 4, c.cost[9] = 2;
        c.n = 30;
        cases[nc++] = c;
    }
    {
        /* Explicit counts valid for this rank count (ignored on one rank). */
        static const char *const lists[] = {"2,1,1", NULL, NULL, "1,1,1", "1,2,1"};
        static const char *const lists2[] = {"1,1,1", NULL, NULL, NULL, "2,1,1"};
        pcase c = base;
        c.n = 200;
        c.name = "stage-ranks-list";
        if ((c.list = lists[P <= 5 ? P - 1 : 0]) != NULL && P <= 5)
            cases[nc++] = c;
        c.name = "stage-ranks-list-2";
        c.credits = 1;
        if ((c.list = lists2[P <= 5 ? P - 1 : 0]) != NULL && P <= 5)
            cases[nc++] = c;
        c.list = NULL;
        c.credits = 0;
        c.name = "add-stage-ranks";
        c.ranks[0] = P >= 5 ? 2 : P >= 4 ? 1 : 0;
        cases[nc++] = c;
    }
    {
        pcase c = base;
        c.name = "five-stages-fused";
        c.nstages = 5;
        c.n = 200;
        c.credits = 2;
        cases[nc++] = c;
        c.name = "five-stages-uneven";
        c.cost[0] = 3, c.cost[1] = 1, c.cost[2] = 1, c.cost[3] = 1, c.cost[4] = 3;
        c.credits = 0;
        cases[nc++] = c;
    }
    static const int credits[] = {1, 2, 0};
    for (int i = 0; i < 3; i++) {
        pcase c = base;
        c.name = "slow-after-fast";
        c.slow = 1;
        c.cost[1] = 10;
        c.credits = credits[i];
        c.n = 40;
        cases[nc++] = c;
    }
    {
        /* Slow middle stage on several ranks (at 5 ranks), one credit per link. */
        pcase c = base;
        c.name = "jitter-credits-1";
        c.slow = 1;
        c.cost[1] = 5;
        c.credits = 1;
        c.n = 60;
        cases[nc++] = c;
        c.name = "jitter-two-stages";
        c.nstages = 2;
        c.slow = 0;
        c.cost[1] = 1;
        cases[nc++] = c;
    }
    {
        pcase c = base;
        c.n = 40;
        c.name = "fail-stage";
        c.fail = 2, c.fail_at = 5, c.expect = "stage 'c' failed on item 5: bad item from stage 2";
        cases[nc++] = c;
        c.name = "fail-stage-slow";
        c.slow = 0;
        c.cost[0] = 4;
        cases[nc++] = c;
        c.slow = -1;
        c.name = "fail-source";
        c.fail = -1, c.fail_at = 3, c.expect = "stage 'gen' failed on item 3: input ran dry";
        cases[nc++] = c;
        c.name = "fail-sink";
        c.fail = 3, c.fail_at = 0, c.expect = "stage 'check' failed on item 0: disk full";
        cases[nc++] = c;
        c.name = "fail-fused";
        c.nstages = 5;
        c.fail = 4, c.fail_at = 7, c.expect = "stage 'e' failed on item 7: bad item from stage 4";
        cases[nc++] = c;
    }
    /* The pipeline still works after failures. */
    cases[nc] = cases[3];
    cases[nc++].name = "after-failures";

    for (int i = 0; i < nc; i++)
        run_case(ctx, &cases[i],
                 strcmp(cases[i].name, "slow-after-fast") == 0 && cases[i].credits == 1);
    int total = 0;
    MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, tsr_ctx_comm(ctx));
    if (tsr_ctx_rank(ctx) == 0)
        printf("%d passed, %d failed\n", total ? 0 : nc, total);
    tsr_finalize(&ctx, 0);
    return total ? 1 : 0;
}
