/* The run loop with a state of two fields of three time levels (a leapfrog-like scheme: the new
 * state depends on the current one, ghosts included, and on the previous one), against a plain
 * serial computation in this file:
 *   1. straight through tsr_run_execute with a kernel;
 *   2. checkpointed halfway, then restarted into fresh fields (the previous level comes back from
 *      the checkpoint's P.prev1 and Q.prev1, its ghosts exchanged);
 *   3. the same scheme as an advance callback that exchanges and sweeps itself;
 *   4. time blocking of this state refused on every rank with one message;
 *   5. skipping blocks at rest refused for a three-level state;
 *   6. a kernel switch timed by the run loop (tsr_run.tune): the slow setting (it sleeps) is
 *      left for the fast one on every rank, the bits unchanged; not timed on short runs.
 * Values are integers below 1009 held in doubles, so the arithmetic is exact. Prints "ok" on rank
 * 0 and exits 0 when every check passes. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tessera.h>

#define MOD 1009.0

typedef struct params {
    int64_t n[3];
    bool sw;  /* the switch the run loop may time (tsr_run.tune): the same bits either way */
    int slow; /* the setting of sw that sleeps in every tile, or -1 */
} params;

static double init_value(int field, int level, int64_t x, int64_t y) {
    int64_t a = field ? 11 : 7, b = level ? 5 : 13;
    return (double)((a * x + b * y + 3 * field + level) % 1009);
}

/* Level 0 (blocks 0, 1) and level 2 (blocks 4, 5) of P and Q from global coordinates. */
static int init_kernel(const tsr_block *f, int nf, const tsr_box *box, void *user) {
    (void)nf;
    (void)user;
    for (int64_t y = box->lo[1]; y < box->hi[1]; y++)
        for (int64_t x = box->lo[0]; x < box->hi[0]; x++) {
            int64_t gx = f[0].lo[0] + x, gy = f[0].lo[1] + y;
            for (int i = 0; i < 2; i++) {
                TSR_AT(&f[i], x, y, 0) = init_value(i, 0, gx, gy);
                TSR_AT(&f[4 + i], x, y, 0) = init_value(i, 1, gx, gy);
            }
        }
    return 0;
}

/* P' = prev P + west and east of P + south and north of Q; Q' = prev Q + 2 Q + north of P; mod
 * 1009. Blocks level-major: P, Q (current), P', Q' (written), P, Q (previous). */
static int step_kernel(const tsr_block *f, int nf, const tsr_box *box, void *user) {
    (void)nf;
    const params *prm = user;
    if (prm->slow == (int)prm->sw)
        usleep(300);
    const tsr_block *p = &f[0], *q = &f[1], *p1 = &f[2], *q1 = &f[3], *pp = &f[4], *qp = &f[5];
    for (int64_t y = box->lo[1]; y < box->hi[1]; y++)
        for (int64_t x = box->lo[0]; x < box->hi[0]; x++) {
            double a = TSR_AT(pp, x, y, 0) + TSR_AT(p, x - 1, y, 0) + TSR_AT(p, x + 1, y, 0) +
                       TSR_AT(q, x, y - 1, 0) + TSR_AT(q, x, y + 1, 0);
            double b = TSR_AT(qp, x, y, 0) + 2.0 * TSR_AT(q, x, y, 0) + TSR_AT(p, x, y + 1, 0);
            TSR_AT(p1, x, y, 0) = fmod(a, MOD);
            TSR_AT(q1, x, y, 0) = fmod(b, MOD);
        }
    return 0;
}

/* The same step as an advance: its own exchange and sweep. */
static int advance_step(tsr_run *r, int64_t step, void *user) {
    (void)step;
    tsr_field all[6];
    for (int l = 0; l < 3; l++)
        for (int i = 0; i < 2; i++)
            all[2 * l + i] = r->fields[i].level[l];
    return tsr_sweep_apply_exchange(r->sweep, r->halo, 2, all, 6, step_kernel, user, r->overlap);
}

/* Plain serial computation, periodic: the checksums of P and Q after `steps`. */
static void reference(const int64_t n[2], int64_t steps, uint64_t sum[2]) {
    int64_t nx = n[0], ny = n[1], nc = nx * ny;
    double *a = malloc(sizeof(double) * (size_t)(6 * nc));
    double *cur[2] = {a, a + nc}, *nxt[2] = {a + 2 * nc, a + 3 * nc},
           *prv[2] = {a + 4 * nc, a + 5 * nc};
    for (int64_t y = 0; y < ny; y++)
        for (int64_t x = 0; x < nx; x++)
            for (int i = 0; i < 2; i++) {
                cur[i][x + nx * y] = init_value(i, 0, x, y);
                prv[i][x + nx * y] = init_value(i, 1, x, y);
            }
    for (int64_t s = 0; s < steps; s++) {
        for (int64_t y = 0; y < ny; y++)
            for (int64_t x = 0; x < nx; x++) {
                int64_t w = (x + nx - 1) % nx + nx * y, e = (x + 1) % nx + nx * y;
                int64_t so = x + nx * ((y + ny - 1) % ny), no = x + nx * ((y + 1) % ny);
                int64_t c = x + nx * y;
                double pa = prv[0][c] + cur[0][w] + cur[0][e] + cur[1][so] + cur[1][no];
                double qb = prv[1][c] + 2.0 * cur[1][c] + cur[0][no];
                nxt[0][c] = fmod(pa, MOD);
                nxt[1][c] = fmod(qb, MOD);
            }
        for (int i = 0; i < 2; i++) {
            double *t = prv[i];
            prv[i] = cur[i];
            cur[i] = nxt[i];
            nxt[i] = t;
        }
    }
    for (int i = 0; i < 2; i++) {
        sum[i] = 0;
        for (int64_t k = 0; k < nc; k++) {
            uint64_t bits;
            memcpy(&bits, &cur[i][k], sizeof bits);
            sum[i] += tsr_splitmix64(tsr_splitmix64((uint64_t)k) ^ bits);
        }
    }
    free(a);
}

typedef struct fixture {
    tsr_domain dom;
    tsr_sweep sweep;
    tsr_field f[6]; /* P, Q at levels 0, 1, 2 */
} fixture;

static int fresh_state(fixture *fx, tsr_run *r, params *p) {
    for (int k = 0; k < 6; k++)
        tsr_field_destroy(&fx->f[k]);
    const char *names[2] = {"P", "Q"};
    for (int k = 0; k < 6; k++)
        TSR_CALL(fx->dom.ctx, tsr_field_create(fx->dom.map, 1, names[k % 2], &fx->f[k]));
    TSR_CALL(fx->dom.ctx, tsr_sweep_apply(fx->sweep, fx->f, 6, init_kernel, p));
    memset(r, 0, sizeof *r);
    r->sweep = fx->sweep;
    r->halo = fx->dom.halo;
    r->nfields = 2;
    r->nlevels = 3;
    for (int i = 0; i < 2; i++) {
        r->fields[i].name = names[i];
        for (int l = 0; l < 3; l++)
            r->fields[i].level[l] = fx->f[2 * l + i];
    }
    r->kernel = step_kernel;
    r->user = p;
    r->overlap = true;
    r->dt = 1.0;
    r->meta.app = "test-run-state";
    r->meta.run_options = "leapfrog";
    return TSR_SUCCESS;
}

static int sums(tsr_ctx ctx, tsr_run *r, uint64_t got[2]) {
    for (int i = 0; i < 2; i++)
        TSR_CALL(ctx, tsr_field_checksum(r->fields[i].level[0], TSR_BITS_DOUBLE, &got[i]));
    return TSR_SUCCESS;
}

static int failures;

static void expect(tsr_ctx ctx, bool ok, const char *what, const uint64_t got[2],
                   const uint64_t want[2]) {
    if (!ok)
        failures++;
    tsr_ctx_printf(ctx, stdout, "%s %s: P %016llx Q %016llx (want %016llx %016llx)\n",
                   ok ? "PASS" : "FAIL", what, (unsigned long long)got[0],
                   (unsigned long long)got[1], (unsigned long long)want[0],
                   (unsigned long long)want[1]);
}

/* A run refused on every rank with TSR_ERR_INPUT and a message holding `msg`. */
static void expect_refused(tsr_ctx ctx, int err, const char *msg, const char *what) {
    int all = err == TSR_ERR_INPUT && strstr(tsr_ctx_error_message(ctx), msg) != NULL;
    MPI_Allreduce(MPI_IN_PLACE, &all, 1, MPI_INT, MPI_MIN, tsr_ctx_comm(ctx));
    tsr_ctx_printf(ctx, stdout, "%s %s refused on every rank: %s\n", all ? "PASS" : "FAIL", what,
                   tsr_ctx_error_message(ctx));
    failures += !all;
    tsr_ctx_error_clear(ctx);
}

static void remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            char path[512];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static int run(tsr_ctx ctx, int argc, char **argv, fixture *fx) {
    tsr_extents grid = {.ndim = 2, .n = {37, 29, 1}};
    tsr_domain_opts dopts;
    tsr_domain_opts_init(&dopts, &grid, 1);
    snprintf(dopts.periodic, sizeof dopts.periodic, "all");
    tsr_opts o = NULL;
    bool done = false;
    TSR_CALL(ctx, tsr_opts_create(ctx, "Run loop with a three-level, two-field state.", &o));
    tsr_domain_add_options(o, &dopts);
    int err = tsr_opts_parse(o, argc, argv, &done);
    tsr_opts_destroy(&o);
    TSR_CALL(ctx, err);
    if (done)
        return TSR_SUCCESS;
    TSR_CALL(ctx, tsr_domain_create(ctx, &dopts, TSR_STENCIL_STAR, &fx->dom));
    TSR_CALL(ctx, tsr_sweep_create(fx->dom.map, 1, 0, &fx->sweep));
    params p = {.n = {dopts.grid.n[0], dopts.grid.n[1], 1}, .slow = -1};
    const int64_t steps = 24;
    uint64_t want[2], half[2], got[2];
    reference(p.n, steps, want);
    reference(p.n, steps / 2, half);

    /* 1. Straight. */
    tsr_run r;
    tsr_run_opts ro;
    tsr_run_result res;
    tsr_run_opts_init(&ro);
    TSR_CALL(ctx, fresh_state(fx, &r, &p));
    r.steps = steps;
    TSR_CALL(ctx, tsr_run_execute(&r, &ro, &res));
    TSR_CALL(ctx, sums(ctx, &r, got));
    expect(ctx, got[0] == want[0] && got[1] == want[1], "straight", got, want);

    /* 2. Checkpointed halfway, restarted into fresh fields. */
    char dir[64] = "";
    if (tsr_ctx_rank(ctx) == 0 && !mkdtemp(strcpy(dir, "/tmp/tessera-run-state-XXXXXX")))
        dir[0] = '\0';
    MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, tsr_ctx_comm(ctx));
    TSR_CHECK(ctx, dir[0], TSR_ERR_IO, "cannot make a temporary directory");
    snprintf(ro.checkpoint_dir, sizeof ro.checkpoint_dir, "%s", dir);
    ro.checkpoint_every = steps / 2;
    TSR_CALL(ctx, fresh_state(fx, &r, &p));
    r.steps = steps / 2;
    err = tsr_run_execute(&r, &ro, &res);
    if (!err)
        err = sums(ctx, &r, got);
    if (!err) {
        expect(ctx, got[0] == half[0] && got[1] == half[1], "first half", got, half);
        snprintf(ro.restart, sizeof ro.restart, "latest");
        err = fresh_state(fx, &r, &p);
    }
    if (!err) {
        /* Fresh fields hold the initial state: only the checkpoint can give the right answer. */
        r.steps = steps;
        err = tsr_run_execute(&r, &ro, &res);
    }
    if (!err)
        err = sums(ctx, &r, got);
    if (tsr_ctx_rank(ctx) == 0)
        remove_dir(dir);
    TSR_CALL(ctx, err);
    expect(ctx, res.start == steps / 2 && got[0] == want[0] && got[1] == want[1],
           "restarted from the halfway checkpoint", got, want);

    /* 3. An advance callback. */
    tsr_run_opts_init(&ro);
    TSR_CALL(ctx, fresh_state(fx, &r, &p));
    r.kernel = NULL;
    r.advance = advance_step;
    r.steps = steps;
    TSR_CALL(ctx, tsr_run_execute(&r, &ro, &res));
    TSR_CALL(ctx, sums(ctx, &r, got));
    expect(ctx, got[0] == want[0] && got[1] == want[1], "advance callback", got, want);

    /* 4. Time blocking of this state: refused on every rank, one message. */
    TSR_CALL(ctx, fresh_state(fx, &r, &p));
    r.steps = steps;
    r.time_block = 2;
    expect_refused(ctx, tsr_run_execute(&r, &ro, &res),
                   "time blocking (2 steps per exchange) runs one two-level state field",
                   "time blocking");

    /* 5. Skipping blocks at rest needs two levels (a third one is the past, not at rest). */
    TSR_CALL(ctx, fresh_state(fx, &r, &p));
    r.steps = steps;
    r.skip_at_rest = true;
    expect_refused(ctx, tsr_run_execute(&r, &ro, &res),
                   "skipping blocks at rest needs two-level state fields", "skipping at rest");

    /* 6. A timed switch: whichever setting sleeps, every rank ends on the other. */
    for (int slow = 0; slow < 2; slow++) {
        p.slow = slow;
        p.sw = true;
        TSR_CALL(ctx, fresh_state(fx, &r, &p));
        r.steps = steps;
        r.tune = &p.sw;
        TSR_CALL(ctx, tsr_run_execute(&r, &ro, &res));
        TSR_CALL(ctx, sums(ctx, &r, got));
        int agreed[2] = {p.sw, -(int)p.sw}; /* max and -min of the settings kept */
        MPI_Allreduce(MPI_IN_PLACE, agreed, 2, MPI_INT, MPI_MAX, tsr_ctx_comm(ctx));
        bool ok = got[0] == want[0] && got[1] == want[1] && agreed[0] == -agreed[1] &&
                  p.sw == !slow && r.tune_seconds[slow] > r.tune_seconds[!slow] &&
                  r.tune_seconds[!slow] > 0;
        char what[160];
        snprintf(what, sizeof what,
                 "switch timed, setting %d slow: kept %d (%.4f s off, %.4f s on, summed)", slow,
                 p.sw, r.tune_seconds[0], r.tune_seconds[1]);
        expect(ctx, ok, what, got, want);
    }
    /* Fewer than ten steps: not timed, the switch left as set. */
    p.slow = 1;
    p.sw = true;
    TSR_CALL(ctx, fresh_state(fx, &r, &p));
    r.steps = 9;
    r.tune = &p.sw;
    TSR_CALL(ctx, tsr_run_execute(&r, &ro, &res));
    uint64_t nine[2];
    reference(p.n, 9, nine);
    TSR_CALL(ctx, sums(ctx, &r, got));
    expect(ctx,
           got[0] == nine[0] && got[1] == nine[1] && p.sw && r.tune_seconds[0] == 0 &&
               r.tune_seconds[1] == 0,
           "switch not timed on a 9-step run", got, nine);
    p.slow = -1;

    TSR_CHECK(ctx, failures == 0, TSR_ERR_VERIFY, "%d checks failed", failures);
    tsr_ctx_printf(ctx, stdout, "ok\n");
    return TSR_SUCCESS;
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    fixture fx;
    memset(&fx, 0, sizeof fx);
    int err = tsr_init(&argc, &argv, "test_run_state", &ctx);
    if (!err)
        err = run(ctx, argc, argv, &fx);
    for (int k = 0; k < 6; k++)
        tsr_field_destroy(&fx.f[k]);
    tsr_sweep_destroy(&fx.sweep);
    if (fx.dom.ctx)
        tsr_domain_destroy(&fx.dom);
    return tsr_finalize(&ctx, err);
}
