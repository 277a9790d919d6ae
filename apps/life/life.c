/* tessera-life: Conway's Game of Life on a 2D grid, dead boundary or periodic.
 *
 * The box stencil matters here: a cell's eight neighbours include the corners, so the exchange
 * fills edge and corner ghosts too. Cells are stored as 0.0/1.0 and checksummed as integers. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <tessera.h>

static const char *const init_names[] = {"random", "glider", NULL};
enum { INIT_RANDOM, INIT_GLIDER };

typedef struct life {
    tsr_domain_opts dom;
    int64_t steps;
    int64_t seed;
    int64_t density;
    int init;
    double extent;
    bool skip_quiescent;
    double block_cost;
    tsr_progress_option progress;
    char png[TSR_OPT_STRLEN];
    char report[TSR_OPT_STRLEN];
    tsr_run_opts io;
    char cmdline[4096];
} life;

typedef struct params {
    int64_t nx;
    uint64_t seed_hash;
    uint64_t density; /* percent alive for random */
    int init;
    int64_t ex, ey; /* --extent: the soup fills x < ex, y < ey */
} params;

/* The glider, heading +x +y, one cell away from the origin. */
static const int64_t glider[5][2] = {{2, 1}, {3, 2}, {1, 3}, {2, 3}, {3, 3}};

static int init_kernel(const tsr_block *f, int nf, const tsr_box *box, void *user) {
    (void)nf;
    const params *p = user;
    const tsr_block *c = &f[0];
    for (int64_t y = box->lo[1]; y < box->hi[1]; y++)
        for (int64_t x = box->lo[0]; x < box->hi[0]; x++) {
            int64_t gx = c->lo[0] + x, gy = c->lo[1] + y;
            double alive = 0.0;
            if (p->init == INIT_RANDOM) {
                uint64_t h = tsr_splitmix64((uint64_t)(gx + p->nx * gy) ^ p->seed_hash);
                alive = h % 100 < p->density && gx < p->ex && gy < p->ey ? 1.0 : 0.0;
            } else {
                for (int k = 0; k < 5; k++)
                    if (glider[k][0] == gx && glider[k][1] == gy)
                        alive = 1.0;
            }
            TSR_AT(c, x, y, 0) = alive;
        }
    return 0;
}

/* --skip-quiescent. With u = state t+1 and v = state t (its ghosts included), a tile where u
 * equals v on the tile grown by one cell has reached a fixed point there: state t+2 on the tile
 * is state t+1, which v already holds, so the kernel writes nothing. The cells of v around the
 * tile may already be overwritten by the tiles computed before it in the same step, so they are
 * not compared: a block qualifies when the last step changed none of its cells (a flag kept per
 * block), and then only its ghost cells, which no kernel writes, are compared. That needs v's
 * ghosts to be state t: true after every step, and after a migration (the rebalancer refills
 * every field's ghosts); at the start v is zero everywhere, which is no previous state, so the
 * flags start unknown (every block is computed once) and so do those of a block that has just
 * arrived from another rank. */
typedef struct block_state {
    /* The block's arrays in the two fields (a, b below): which one a kernel call reads tells it
     * which step it is in, without a step counter. */
    const double *buf[2];
    /* Steps written into buf[k], and that count again when the step changed a cell of the
     * block: every tile of the block writes the same value. 0: unknown. */
    _Atomic int64_t gen[2], changed_gen[2];
    _Atomic int64_t cells; /* cells computed since the last cost reading */
    int64_t epoch;         /* the stepper's epoch when the block was last seen here */
} block_state;

typedef struct stepper {
    bool skip;
    block_state *bs; /* per global block id */
    tsr_map map;     /* the current one (blocks on this rank: their flags can be read) */
    int rank;
    int64_t nbx, nby; /* blocks along x and y */
    bool periodic[2]; /* x, y wrap */
    tsr_field a, b;   /* the two fields, whichever is u or v (handles survive migrations) */
    int64_t epoch;    /* resets so far */
    double overhead;  /* cost charged per block per step on top of its cells (--block-cost) */
    int64_t every;    /* steps between two cost readings */
    double cells;     /* this rank's cells computed over the run, up to the last reading */
} stepper;

/* Points each local block at its arrays: at the start, and after each migration, where a block
 * that stayed keeps what is known about it (same values, ghosts refilled) and one that arrived
 * starts unknown. */
static int stepper_reset(tsr_map map, void *user) {
    (void)map;
    stepper *st = user;
    st->map = map;
    st->epoch++;
    for (int64_t i = 0; i < tsr_field_local_blocks(st->a); i++) {
        tsr_block ba, bb;
        tsr_field_get_block(st->a, i, &ba);
        tsr_field_get_block(st->b, i, &bb);
        block_state *s = &st->bs[ba.id];
        s->buf[0] = ba.data;
        s->buf[1] = bb.data;
        if (s->epoch != st->epoch - 1)
            for (int k = 0; k < 2; k++) {
                atomic_store_explicit(&s->gen[k], 0, memory_order_relaxed);
                atomic_store_explicit(&s->changed_gen[k], 0, memory_order_relaxed);
            }
        s->epoch = st->epoch;
        tsr_field_restore_block(st->a, i, &ba);
        tsr_field_restore_block(st->b, i, &bb);
    }
    return 0;
}

/* The rebalancer's cost of a block: the cells computed since the last reading, a measure that
 * does not depend on the machine, so the same run makes the same decisions. */
static int stepper_costs(const int64_t *ids, int64_t n, double *costs, void *user) {
    stepper *st = user;
    for (int64_t i = 0; i < n; i++) {
        costs[i] = (double)atomic_exchange_explicit(&st->bs[ids[i]].cells, 0, memory_order_relaxed);
        st->cells += costs[i];
        costs[i] += st->overhead * (double)st->every;
    }
    return 0;
}

/* Did the step that wrote buffer k leave the block next to `id` (dx, dy) unchanged, as far as
 * this rank knows? Outside a non-periodic grid the ghosts are a constant 0: yes. A block on
 * another rank, or one whose flags are unknown: no. */
static bool neighbour_still(const stepper *st, int64_t id, int dx, int dy, int k) {
    int64_t bx = id % st->nbx + dx, by = id / st->nbx + dy;
    if ((bx < 0 || bx >= st->nbx) && !st->periodic[0])
        return true;
    if ((by < 0 || by >= st->nby) && !st->periodic[1])
        return true;
    bx = (bx + st->nbx) % st->nbx;
    by = (by + st->nby) % st->nby;
    int64_t nid = bx + st->nbx * by;
    if (tsr_map_owner(st->map, nid) != st->rank)
        return false;
    block_state *b = &st->bs[nid];
    int64_t g = atomic_load_explicit(&b->gen[k], memory_order_relaxed);
    return g > 0 && atomic_load_explicit(&b->changed_gen[k], memory_order_relaxed) != g;
}

/* Do u and v agree on the ghost cells of the box grown by one cell? Only the ghosts next to a
 * neighbour that may have changed (k: u's buffer) are read. */
static bool same_ghosts(const stepper *st, const tsr_block *u, const tsr_block *v,
                        const tsr_box *box, int k) {
    for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++) {
            /* The part of the grown box in the neighbour's direction (dx, dy), if any. */
            int64_t x0 = dx < 0 ? -1 : dx > 0 ? u->n[0] : box->lo[0] - 1;
            int64_t x1 = dx < 0 ? 0 : dx > 0 ? u->n[0] + 1 : box->hi[0] + 1;
            int64_t y0 = dy < 0 ? -1 : dy > 0 ? u->n[1] : box->lo[1] - 1;
            int64_t y1 = dy < 0 ? 0 : dy > 0 ? u->n[1] + 1 : box->hi[1] + 1;
            if (dx == 0) {
                x0 = x0 < 0 ? 0 : x0;
                x1 = x1 > u->n[0] ? u->n[0] : x1;
            }
            if (dy == 0) {
                y0 = y0 < 0 ? 0 : y0;
                y1 = y1 > u->n[1] ? u->n[1] : y1;
            }
            bool touches = (dx != 0 || dy != 0) && (dx >= 0 || box->lo[0] == 0) &&
                           (dx <= 0 || box->hi[0] == u->n[0]) && (dy >= 0 || box->lo[1] == 0) &&
                           (dy <= 0 || box->hi[1] == u->n[1]);
            if (!touches || neighbour_still(st, u->id, dx, dy, k))
                continue;
            for (int64_t y = y0; y < y1; y++) {
                const double *a = &TSR_AT(u, 0, y, 0), *b = &TSR_AT(v, 0, y, 0);
                for (int64_t x = x0; x < x1; x++)
                    if (a[x] != b[x])
                        return false;
            }
        }
    return true;
}

/* One generation of the box of u into v, telling whether any cell changed. Inlined where the
 * answer is ignored, so that loop carries no comparison. */
static inline bool step_rows(const tsr_block *u, const tsr_block *v, const tsr_box *box) {
    uint64_t diff = 0;
    for (int64_t y = box->lo[1]; y < box->hi[1]; y++) {
        const double *restrict c = &TSR_AT(u, 0, y, 0);
        const double *restrict s = c - u->sy, *restrict n = c + u->sy;
        double *restrict o = &TSR_AT(v, 0, y, 0);
        for (int64_t x = box->lo[0]; x < box->hi[0]; x++) {
            double count =
                (s[x - 1] + s[x] + s[x + 1]) + (c[x - 1] + c[x + 1]) + (n[x - 1] + n[x] + n[x + 1]);
            /* Born or surviving with 3, surviving with 2; written without branches (cells are
             * 0.0 or 1.0, the two counts exclusive) so the loop vectorises. */
            double next = (double)(count == 3.0) + (double)(count == 2.0) * c[x];
            o[x] = next;
            /* Bits, not a comparison of doubles: an integer OR the loop can vectorise. */
            uint64_t a, b;
            memcpy(&a, &next, sizeof a);
            memcpy(&b, &c[x], sizeof b);
            diff |= a ^ b;
        }
    }
    return diff != 0;
}

/* The step kernel with cells counted per block, and with --skip-quiescent the skipping. */
static int counting_kernel(const tsr_block *f, int nf, const tsr_box *box, void *user) {
    (void)nf;
    stepper *st = user;
    const tsr_block *u = &f[0], *v = &f[1];
    block_state *b = &st->bs[u->id];
    int64_t cells = (box->hi[0] - box->lo[0]) * (box->hi[1] - box->lo[1]);
    if (!st->skip) {
        step_rows(u, v, box);
        atomic_fetch_add_explicit(&b->cells, cells, memory_order_relaxed);
        return 0;
    }
    /* Arrays not seen at the last reset: nothing is known, compute. */
    int ku = u->data == b->buf[0] ? 0 : u->data == b->buf[1] ? 1 : -1, kv = 1 - ku;
    int64_t gu = ku >= 0 ? atomic_load_explicit(&b->gen[ku], memory_order_relaxed) : 0;
    bool still = gu > 0 && atomic_load_explicit(&b->changed_gen[ku], memory_order_relaxed) != gu;
    if (ku >= 0)
        atomic_store_explicit(&b->gen[kv], gu + 1, memory_order_relaxed);
    if (still && same_ghosts(st, u, v, box, ku))
        return 0;
    bool changed = step_rows(u, v, box);
    if (changed && ku >= 0)
        atomic_store_explicit(&b->changed_gen[kv], gu + 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&b->cells, cells, memory_order_relaxed);
    return 0;
}

static int check_grid(tsr_ctx ctx, const life *l) {
    TSR_CHECK(ctx, l->dom.grid.ndim == 2, TSR_ERR_INPUT,
              "--grid: life runs on a 2D grid (NXxNY), got %d dimension%s", l->dom.grid.ndim,
              l->dom.grid.ndim == 1 ? "" : "s");
    TSR_CHECK(ctx, l->init != INIT_GLIDER || (l->dom.grid.n[0] >= 5 && l->dom.grid.n[1] >= 5),
              TSR_ERR_INPUT, "--init glider needs a grid of at least 5x5");
    TSR_CHECK(ctx, l->extent > 0, TSR_ERR_INPUT,
              "--extent %g: must be greater than 0 (the fraction of the grid the soup fills)",
              l->extent);
    TSR_CHECK(ctx, l->extent == 1.0 || l->init == INIT_RANDOM, TSR_ERR_INPUT,
              "--extent applies to --init random only");
    return TSR_SUCCESS;
}

static int parse(tsr_ctx ctx, int argc, char **argv, life *l, bool *done) {
    tsr_extents grid = {.ndim = 2, .n = {256, 256, 1}};
    memset(l, 0, sizeof *l);
    tsr_domain_opts_init(&l->dom, &grid, 1);
    l->steps = 100;
    l->seed = 1;
    l->density = 30;
    l->extent = 1.0;
    tsr_opts o = NULL;
    TSR_CALL(ctx, tsr_opts_create(ctx, "Conway's Game of Life on a block-decomposed 2D grid.", &o));
    tsr_run_opts_init(&l->io);
    tsr_domain_add_options(o, &l->dom);
    tsr_run_add_options(o, &l->io);
    tsr_opts_add_int(o, "steps", &l->steps, 0, INT64_MAX, "N", "generations");
    tsr_opts_add_choice(o, "init", &l->init, init_names, "initial state");
    tsr_opts_add_int(o, "seed", &l->seed, 0, INT64_MAX, "S", "seed for --init random");
    tsr_opts_add_int(o, "density", &l->density, 0, 100, "PERCENT",
                     "cells alive at start for --init random");
    tsr_opts_add_double(o, "extent", &l->extent, 0, 1, "F",
                        "--init random fills only the lower-left F x F fraction of the grid");
    tsr_opts_add_flag(o, "skip-quiescent", &l->skip_quiescent,
                      "do not recompute tiles where nothing changed in the last step (exact)");
    tsr_opts_add_double(o, "block-cost", &l->block_cost, 0, 1e9, "C",
                        "rebalancing: a block costs C cells per step besides the cells computed "
                        "(its exchange and checks)");
    tsr_opts_add_string(o, "png", l->png, "FILE", "write the final grid as a PNG");
    tsr_progress_add_options(o, &l->progress);
    tsr_report_add_option(o, l->report);
    int err = tsr_opts_parse(o, argc, argv, done);
    if (!err)
        err = tsr_report_keep_options(ctx, o);
    snprintf(l->cmdline, sizeof l->cmdline, "%s", tsr_opts_command_line(o));
    tsr_opts_destroy(&o);
    TSR_CALL(ctx, err);
    if (*done)
        return TSR_SUCCESS;
    err = tsr_ctx_rank(ctx) == 0 ? check_grid(ctx, l) : TSR_SUCCESS;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    return TSR_SUCCESS;
}

static int run(tsr_ctx ctx, int argc, char **argv, int *status) {
    life l;
    bool done = false;
    TSR_CALL(ctx, parse(ctx, argc, argv, &l, &done));
    if (done)
        return TSR_SUCCESS;

    tsr_domain dom;
    tsr_field u = NULL, v = NULL;
    tsr_sweep sweep = NULL;
    stepper st = {
        .skip = l.skip_quiescent, .overhead = l.block_cost, .every = l.dom.rebalance_every};
    int err = tsr_domain_create(ctx, &l.dom, TSR_STENCIL_BOX, &dom);
    if (!err)
        err = tsr_domain_run_checks(&dom, &l.dom, &done);
    if (err || done)
        goto out;
    tsr_domain_print_summary(&dom, stdout);

    params p = {.nx = l.dom.grid.n[0],
                .seed_hash = tsr_splitmix64((uint64_t)l.seed),
                .density = (uint64_t)l.density,
                .init = l.init,
                .ex = (int64_t)(l.extent * (double)l.dom.grid.n[0]),
                .ey = (int64_t)(l.extent * (double)l.dom.grid.n[1])};
    if ((err = tsr_field_create(dom.map, dom.width, "cells", &u)) ||
        (err = tsr_field_create(dom.map, dom.width, "cells", &v)) ||
        (err = tsr_field_set_info(u, "cell state (1 alive, 0 dead)", "1")) ||
        (err = tsr_field_set_info(v, "cell state (1 alive, 0 dead)", "1")) ||
        (err = tsr_sweep_create(dom.map, 1, 0, &sweep)) ||
        (err = tsr_sweep_apply(sweep, &u, 1, init_kernel, &p)))
        goto out;

    /* What a restart must match, besides the app and the grid: periodic=1 when both dimensions
     * wrap, 0 when neither, else the one that does. */
    char run_options[256];
    bool px = tsr_grid_periodic(dom.grid, 0), py = tsr_grid_periodic(dom.grid, 1);
    snprintf(run_options, sizeof run_options, "periodic=%s",
             px && py ? "1"
             : px     ? "x"
             : py     ? "y"
                      : "0");
    tsr_run r = {
        .sweep = sweep,
        .halo = dom.halo,
        /* One state field of two levels, written as "cells" whichever handle holds it. */
        .nfields = 1,
        .fields = {{.name = "cells", .level = {u, v}}},
        .kernel = counting_kernel,
        .user = &st,
        .domain = &dom,
        .overlap = true,
        .progress = tsr_progress_option_mode(&l.progress),
        .dt = 1.0,
        .steps = l.steps,
        .meta = {.app = "tessera-life", .command_line = l.cmdline, .run_options = run_options}};
    /* Every file the run will write is checked before it computes anything. */
    const char *whats[] = {"--png", "--report"}, *paths[] = {l.png, l.report};
    if ((err = tsr_file_check_outputs(ctx, 2, whats, paths, l.io.force)))
        goto out;
    /* Counting cells (and skipping) per block, by global id: the rebalancer's costs. */
    int64_t nblocks = tsr_decomp_nblocks(dom.decomp);
    st.a = u;
    st.b = v;
    st.rank = tsr_ctx_rank(ctx);
    st.nbx = tsr_decomp_blocks_along(dom.decomp, 0);
    st.nby = tsr_decomp_blocks_along(dom.decomp, 1);
    st.periodic[0] = tsr_grid_periodic(dom.grid, 0);
    st.periodic[1] = tsr_grid_periodic(dom.grid, 1);
    if (!(st.bs = calloc((size_t)nblocks, sizeof *st.bs)))
        err = TSR_ERR_MEMORY;
    if ((err = tsr_ctx_agree(ctx, err)))
        goto out;
    stepper_reset(dom.map, &st);
    tsr_balance_set_hooks(dom.balance, stepper_costs, stepper_reset, &st);
    tsr_run_result res;
    err = tsr_run_execute(&r, &l.io, &res);
    u = r.fields[0].level[0]; /* the newest state */
    v = r.fields[0].level[1];
    sweep = r.sweep; /* a rebalance replaces it */
    if (!err && res.stopped)
        *status = TSR_EXIT_CHECKPOINTED;
    if (err || res.stopped)
        goto out;
    int64_t advanced = res.steps;
    double elapsed = res.seconds;

    double alive = 0;
    uint64_t checksum = 0;
    if ((err = tsr_field_reduce(u, TSR_REDUCE_SUM, &alive)) ||
        (err = tsr_field_checksum(u, TSR_BITS_INTEGER, &checksum)))
        goto out;
    if (l.png[0] && (err = tsr_field_write_png(u, l.png, 0, 0.0, 1.0, l.io.force)))
        goto out;
    tsr_ctx_printf(ctx, stdout, "generations %lld, %.3f s, %.3f ms/generation\n",
                   (long long)advanced, elapsed, advanced ? 1e3 * elapsed / (double)advanced : 0.0);
    tsr_ctx_printf(ctx, stdout, "alive %.0f\n", alive);
    if (l.png[0])
        tsr_ctx_printf(ctx, stdout, "wrote %s\n", l.png);
    /* Work per rank: cells computed (skipped tiles excluded), the same on every machine. */
    int64_t nlocal = 0;
    const int64_t *ids = NULL;
    double *rest = NULL;
    if ((err = tsr_map_local_blocks(dom.map, &nlocal, &ids)) ||
        (err = tsr_ctx_agree(ctx, (rest = malloc(sizeof *rest * (size_t)(nlocal + 1)))
                                      ? TSR_SUCCESS
                                      : TSR_ERR_MEMORY)))
        goto out;
    stepper_costs(ids, nlocal, rest, &st); /* what is still counted per block */
    free(rest);
    double wmin = 0, wmax = 0, wsum = 0;
    if ((err = tsr_reduce_doubles(ctx, &st.cells, 1, TSR_REDUCE_MIN, &wmin)) ||
        (err = tsr_reduce_doubles(ctx, &st.cells, 1, TSR_REDUCE_MAX, &wmax)) ||
        (err = tsr_reduce_doubles(ctx, &st.cells, 1, TSR_REDUCE_SUM, &wsum)))
        goto out;
    double wmean = wsum / tsr_ctx_size(ctx);
    tsr_ctx_printf(ctx, stdout, "cells updated per rank: min %.0f mean %.0f max %.0f\n", wmin,
                   wmean, wmax);
    tsr_ctx_printf(ctx, stdout, "work imbalance %.3f\n", wmean > 0 ? wmax / wmean : 1.0);
    if ((err = tsr_domain_report(&dom, "tessera-life", l.cmdline, advanced, elapsed, l.report,
                                 l.io.force)))
        goto out;
    tsr_ctx_printf(ctx, stdout, "checksum %016llx\n", (unsigned long long)checksum);
out:
    free(st.bs);
    tsr_sweep_destroy(&sweep);
    tsr_field_destroy(&v);
    tsr_field_destroy(&u);
    tsr_domain_destroy(&dom);
    return err;
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int status = 0;
    int err = tsr_init(&argc, &argv, "tessera-life", &ctx);
    if (!err)
        err = run(ctx, argc, argv, &status);
    int code = tsr_finalize(&ctx, err);
    /* Stopped by SIGTERM/SIGUSR1 after a checkpoint: a status of its own, so job scripts can
     * tell it from success and failure and resubmit. */
    return code ? code : status;
}
