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
    char cmdline[TSR_OPT_STRLEN]; /* for the report and the files written */
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

/* One generation of the box of u into v; whether any cell of the box had a live neighbour (if
 * not, the box was dead in and around, but for lone cells, and the generation was work for
 * nothing to happen). The neighbour counts' bits are or-ed together: one integer operation per
 * cell, which the vectorised loop hardly feels, where a scan for a live cell after it made the
 * benchmark's sparse soup a tenth slower. */
static inline bool step_rows(const tsr_block *u, const tsr_block *v, const tsr_box *box) {
    uint64_t around = 0;
    for (int64_t y = box->lo[1]; y < box->hi[1]; y++) {
        const double *restrict c = &TSR_AT(u, 0, y, 0);
        const double *restrict s = c - u->sy, *restrict n = c + u->sy;
        double *restrict o = &TSR_AT(v, 0, y, 0);
        for (int64_t x = box->lo[0]; x < box->hi[0]; x++) {
            double count =
                (s[x - 1] + s[x] + s[x + 1]) + (c[x - 1] + c[x + 1]) + (n[x - 1] + n[x] + n[x + 1]);
            /* Born or surviving with 3, surviving with 2; written without branches (cells are
             * 0.0 or 1.0, the two counts exclusive) so the loop vectorises. */
            o[x] = (double)(count == 3.0) + (double)(count == 2.0) * c[x];
            uint64_t bits;
            memcpy(&bits, &count, sizeof bits);
            around |= bits;
        }
    }
    return around != 0;
}

/* Cells computed per block (by global id) since the last cost reading: the work. With
 * --skip-quiescent the run skips blocks at rest (tsr_run.skip_at_rest: life's next state depends
 * only on the current one), and skipped blocks count nothing.
 * The rebalancer's cost is the cells computed in tiles where a cell of the tile or of the ring
 * around it was alive (a tile dead in and around stays dead), a measure that does not depend on the
 * machine, so the same run makes the same decisions. A dead tile is computed only when nothing is
 * known yet (the first step computes every block) or when a neighbour's change stopped short of it.
 * Charged for the first step, every empty block weighed 1/20 of a busy one in the first window:
 * the first rebalance gave the idle rank ~200 of them and only 8 of the soup's 24 busy blocks
 * (against 16), and a second one had to mend it. */
typedef struct stepper {
    _Atomic int64_t *cells; /* per global block id */
    _Atomic int64_t *busy;  /* per global block id: cells computed where something was alive */
    double overhead;        /* cost charged per block per step on top of its cells (--block-cost) */
    int64_t every;          /* steps between two cost readings */
    double total;           /* this rank's cells computed over the run, up to the last reading */
    /* Before the run (tsr_domain_balance_initial), nothing is counted yet: a block's cost is then
     * its cells inside the soup's region for a window of `every` steps, an estimate that needs no
     * field, so the first steps run balanced and nothing migrates at the first check. */
    bool initial;
    tsr_decomp decomp;
    int64_t ex, ey; /* the soup's region: x < ex, y < ey */
} stepper;

static double soup_cells(const stepper *st, int64_t id) {
    tsr_box b;
    tsr_decomp_block_box(st->decomp, id, &b);
    int64_t w = (st->ex < b.hi[0] ? st->ex : b.hi[0]) - b.lo[0];
    int64_t h = (st->ey < b.hi[1] ? st->ey : b.hi[1]) - b.lo[1];
    return w > 0 && h > 0 ? (double)(w * h) : 0.0;
}

static int stepper_costs(const int64_t *ids, int64_t n, double *costs, void *user) {
    stepper *st = user;
    for (int64_t i = 0; i < n && st->initial; i++)
        costs[i] = (soup_cells(st, ids[i]) + st->overhead) * (double)st->every;
    for (int64_t i = 0; i < n && !st->initial; i++) {
        st->total += (double)atomic_exchange_explicit(&st->cells[ids[i]], 0, memory_order_relaxed);
        costs[i] = (double)atomic_exchange_explicit(&st->busy[ids[i]], 0, memory_order_relaxed) +
                   st->overhead * (double)st->every;
    }
    return 0;
}

static int counting_kernel(const tsr_block *f, int nf, const tsr_box *box, void *user) {
    (void)nf;
    stepper *st = user;
    bool around = step_rows(&f[0], &f[1], box);
    int64_t cells = (box->hi[0] - box->lo[0]) * (box->hi[1] - box->lo[1]);
    atomic_fetch_add_explicit(&st->cells[f[0].id], cells, memory_order_relaxed);
    if (around)
        atomic_fetch_add_explicit(&st->busy[f[0].id], cells, memory_order_relaxed);
    return 0;
}

static int check_grid(tsr_ctx ctx, void *values) {
    const life *l = values;
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
    return tsr_opts_finish(ctx, &o, err, *done, l->cmdline, check_grid, l);
}

static int run(tsr_ctx ctx, int argc, char **argv, bool *stopped) {
    life l;
    bool done = false;
    TSR_CALL(ctx, parse(ctx, argc, argv, &l, &done));
    if (done)
        return TSR_SUCCESS;

    tsr_domain dom;
    tsr_field u = NULL, v = NULL;
    tsr_sweep sweep = NULL;
    stepper st = {.overhead = l.block_cost, .every = l.dom.rebalance_every};
    int err = tsr_domain_create(ctx, &l.dom, TSR_STENCIL_BOX, &dom);
    if (err)
        goto out;
    /* Counting cells per block, by global id: the rebalancer's costs. */
    size_t nblocks = (size_t)tsr_decomp_nblocks(dom.decomp);
    if (!(st.cells = calloc(nblocks, sizeof *st.cells)) ||
        !(st.busy = calloc(nblocks, sizeof *st.busy)))
        err = TSR_ERR_MEMORY;
    if ((err = tsr_ctx_agree(ctx, err)))
        goto out;
    tsr_balance_set_hooks(dom.balance, stepper_costs, NULL, &st);
    /* The random soup's region is known before anything runs: map the blocks by it, before the
     * fields exist (a glider's few cells are not worth it). */
    st.decomp = dom.decomp;
    st.ex = (int64_t)(l.extent * (double)l.dom.grid.n[0]);
    st.ey = (int64_t)(l.extent * (double)l.dom.grid.n[1]);
    st.initial = l.init == INIT_RANDOM;
    if (st.initial && (err = tsr_domain_balance_initial(&dom)))
        goto out;
    st.initial = false;
    /* After the initial map, so that --plan shows the map the run uses. */
    if ((err = tsr_domain_run_checks(&dom, &l.dom, &done)) || done)
        goto out;
    tsr_domain_print_summary(&dom, stdout);

    params p = {.nx = l.dom.grid.n[0],
                .seed_hash = tsr_splitmix64((uint64_t)l.seed),
                .density = (uint64_t)l.density,
                .init = l.init,
                .ex = st.ex,
                .ey = st.ey};
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
        .skip_at_rest = l.skip_quiescent,
        .domain = &dom,
        .overlap = true,
        .progress = tsr_progress_option_mode(&l.progress),
        .dt = 1.0,
        .steps = l.steps,
        .meta = {.app = "tessera-life", .command_line = l.cmdline, .run_options = run_options},
        /* Checked with the run's own files before it computes anything. */
        .output_whats = {"--png", "--report"},
        .output_paths = {l.png, l.report}};
    tsr_run_result res;
    err = tsr_run_execute(&r, &l.io, &res);
    u = r.fields[0].level[0]; /* the newest state */
    v = r.fields[0].level[1];
    sweep = r.sweep; /* a rebalance replaces it */
    *stopped = res.stopped;
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
    if ((err = tsr_reduce_doubles(ctx, &st.total, 1, TSR_REDUCE_MIN, &wmin)) ||
        (err = tsr_reduce_doubles(ctx, &st.total, 1, TSR_REDUCE_MAX, &wmax)) ||
        (err = tsr_reduce_doubles(ctx, &st.total, 1, TSR_REDUCE_SUM, &wsum)))
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
    free(st.cells);
    free(st.busy);
    tsr_sweep_destroy(&sweep);
    tsr_field_destroy(&v);
    tsr_field_destroy(&u);
    tsr_domain_destroy(&dom);
    return err;
}

int main(int argc, char **argv) {
    return tsr_main(argc, argv, "tessera-life", run);
}
