/* tessera-grayscott: Gray-Scott reaction-diffusion on a 2D or 3D grid, periodic by default (sides
 * left bounded by --periodic DIMS are closed: zero flux).
 *
 *   dU/dt = Du lap(U) - U V^2 + F (1 - U)
 *   dV/dt = Dv lap(V) + U V^2 - (F + k) V
 *
 * explicit Euler steps of --dt on cells of size 1. The example shows a state of two fields: U and
 * V are exchanged together in one halo exchange, written side by side in every output and
 * checkpoint, and restarted together. The final checksum combines both fields' checksums:
 * checksum(U) xor splitmix64(checksum(V)), so it changes when either field does, and when U and
 * V are swapped. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <tessera.h>

static const char *const init_names[] = {"square", "spots", NULL};
enum { INIT_SQUARE, INIT_SPOTS };
#define NSPOTS 8

typedef struct grayscott {
    tsr_domain_opts dom;
    int64_t steps;
    double F, k, Du, Dv, dt;
    int init;
    int64_t seed;
    bool no_overlap;
    tsr_progress_option progress;
    char png[TSR_OPT_STRLEN];
    char report[TSR_OPT_STRLEN];
    tsr_run_opts io;
    char cmdline[TSR_OPT_STRLEN]; /* for the report and the files written */
} grayscott;

typedef struct params {
    int ndim;
    int64_t n[TSR_MAX_DIM];
    double F, Fk, Du, Dv, dt; /* Fk = F + k */
    int init;
    uint64_t seed_hash;
    int64_t spot_lo[NSPOTS][TSR_MAX_DIM], spot_n[TSR_MAX_DIM];
} params;

/* A number in [0, 1) from a global cell index: the same on any decomposition. */
static double noise(uint64_t cell, uint64_t seed_hash) {
    return (double)(tsr_splitmix64(cell ^ seed_hash) >> 11) * 0x1p-53;
}

/* U = 1, V = 0, except in the seeded squares: U = 1/2, V = 1/4 plus up to 1% noise. */
static int init_kernel(const tsr_block *f, int nf, const tsr_box *box, void *user) {
    (void)nf;
    const params *p = user;
    const tsr_block *u = &f[0], *v = &f[1];
    for (int64_t z = box->lo[2]; z < box->hi[2]; z++)
        for (int64_t y = box->lo[1]; y < box->hi[1]; y++)
            for (int64_t x = box->lo[0]; x < box->hi[0]; x++) {
                int64_t g[TSR_MAX_DIM] = {u->lo[0] + x, u->lo[1] + y, u->lo[2] + z};
                bool in = false;
                for (int s = 0; s < (p->init == INIT_SQUARE ? 1 : NSPOTS) && !in; s++) {
                    in = true;
                    for (int d = 0; d < p->ndim; d++)
                        in = in && g[d] >= p->spot_lo[s][d] &&
                             g[d] < p->spot_lo[s][d] + p->spot_n[d];
                }
                uint64_t cell = (uint64_t)(g[0] + p->n[0] * (g[1] + p->n[1] * g[2]));
                TSR_AT(u, x, y, z) = in ? 0.5 : 1.0;
                TSR_AT(v, x, y, z) = in ? 0.25 + 0.01 * noise(cell, p->seed_hash) : 0.0;
            }
    return 0;
}

/* One Euler step: blocks 0, 1 are U, V at step s (ghosts exchanged), 2, 3 receive them at s + 1.
 * The expression order is part of the result (the serial reference uses the same one). */
static int step_kernel(const tsr_block *f, int nf, const tsr_box *box, void *user) {
    (void)nf;
    const params *p = user;
    const tsr_block *bu = &f[0], *bv = &f[1], *bu1 = &f[2], *bv1 = &f[3];
    const double kk = (double)(2 * p->ndim), F = p->F, Fk = p->Fk, Du = p->Du, Dv = p->Dv,
                 dt = p->dt;
    const ptrdiff_t sy = bu->sy, sz = p->ndim == 3 ? bu->sz : 0;
    for (int64_t z = box->lo[2]; z < box->hi[2]; z++)
        for (int64_t y = box->lo[1]; y < box->hi[1]; y++) {
            const double *restrict cu = &TSR_AT(bu, 0, y, z), *restrict cv = &TSR_AT(bv, 0, y, z);
            double *restrict ou = &TSR_AT(bu1, 0, y, z), *restrict ov = &TSR_AT(bv1, 0, y, z);
            for (int64_t x = box->lo[0]; x < box->hi[0]; x++) {
                double su = cu[x - 1] + cu[x + 1], sv = cv[x - 1] + cv[x + 1];
                if (p->ndim >= 2) {
                    su = su + (cu[x - sy] + cu[x + sy]);
                    sv = sv + (cv[x - sy] + cv[x + sy]);
                }
                if (p->ndim == 3) {
                    su = su + (cu[x - sz] + cu[x + sz]);
                    sv = sv + (cv[x - sz] + cv[x + sz]);
                }
                double uu = cu[x], vv = cv[x];
                double uvv = uu * vv * vv;
                ou[x] = uu + dt * ((Du * (su - kk * uu) - uvv) + F * (1.0 - uu));
                ov[x] = vv + dt * ((Dv * (sv - kk * vv) + uvv) - Fk * vv);
            }
        }
    return 0;
}

/* Rank 0: values the options' ranges cannot express. Explicit diffusion is stable while
 * dt * D * 2 * ndim <= 1 for the faster-diffusing field. */
static int check_params(tsr_ctx ctx, void *values) {
    const grayscott *g = values;
    int ndim = g->dom.grid.ndim;
    TSR_CHECK(ctx, ndim == 2 || ndim == 3, TSR_ERR_INPUT,
              "--grid: Gray-Scott runs on a 2D or 3D grid, got %d dimension%s", ndim,
              ndim == 1 ? "" : "s");
    TSR_CHECK(ctx, g->Du > 0, TSR_ERR_INPUT, "--Du %g: must be positive", g->Du);
    TSR_CHECK(ctx, g->Dv > 0, TSR_ERR_INPUT, "--Dv %g: must be positive", g->Dv);
    TSR_CHECK(ctx, g->dt > 0, TSR_ERR_INPUT, "--dt %g: must be positive", g->dt);
    double dmax = g->Du > g->Dv ? g->Du : g->Dv, limit = 1.0 / (2.0 * ndim * dmax);
    TSR_CHECK(ctx, g->dt <= limit, TSR_ERR_INPUT,
              "--dt %g: unstable for %dD with diffusion %g, must be at most %g "
              "(1 / (2 * %d * max(Du, Dv)))",
              g->dt, ndim, dmax, limit, ndim);
    return TSR_SUCCESS;
}

static int parse(tsr_ctx ctx, int argc, char **argv, grayscott *g, bool *done) {
    tsr_extents grid = {.ndim = 2, .n = {256, 256, 1}};
    memset(g, 0, sizeof *g);
    tsr_domain_opts_init(&g->dom, &grid, 1);
    /* Periodic is customary; sides that --periodic DIMS leaves bounded get zero flux. */
    snprintf(g->dom.periodic, sizeof g->dom.periodic, "all");
    g->steps = 1000;
    g->F = 0.035;
    g->k = 0.060;
    g->Du = 0.16;
    g->Dv = 0.08;
    g->dt = 1.0;
    g->seed = 1;
    tsr_opts o = NULL;
    TSR_CALL(ctx, tsr_opts_create(ctx,
                                  "Gray-Scott reaction-diffusion (fields U and V) on a periodic "
                                  "block-decomposed 2D or 3D grid.",
                                  &o));
    tsr_run_opts_init(&g->io);
    tsr_domain_add_options(o, &g->dom);
    tsr_run_add_options(o, &g->io);
    tsr_opts_add_int(o, "steps", &g->steps, 0, INT64_MAX, "N", "total time steps");
    tsr_opts_add_double(o, "F", &g->F, 0, 1, "F", "feed rate of U");
    tsr_opts_add_double(o, "k", &g->k, 0, 1, "K", "kill rate of V");
    tsr_opts_add_double(o, "Du", &g->Du, 0, 1, "D", "diffusion coefficient of U (> 0)");
    tsr_opts_add_double(o, "Dv", &g->Dv, 0, 1, "D", "diffusion coefficient of V (> 0)");
    tsr_opts_add_double(o, "dt", &g->dt, 0, 1e3, "DT",
                        "time step (> 0); stable up to 1/(2*ndim*max(Du,Dv))");
    tsr_opts_add_choice(o, "init", &g->init, init_names,
                        "seeded square in the middle, or 8 seeded spots (--seed)");
    tsr_opts_add_int(o, "seed", &g->seed, 0, INT64_MAX, "S", "seed of the noise and the spots");
    tsr_opts_add_string(o, "png", g->png, "FILE",
                        "write the final V (middle z plane in 3D) as a PNG");
    tsr_opts_add_flag(o, "no-overlap", &g->no_overlap,
                      "finish each exchange before computing (for comparison)");
    tsr_progress_add_options(o, &g->progress);
    tsr_report_add_option(o, g->report);
    int err = tsr_opts_parse(o, argc, argv, done);
    return tsr_opts_finish(ctx, &o, err, *done, g->cmdline, check_params, g);
}

/* The squares of the initial state: one in the middle (the central fifth of each dimension), or
 * NSPOTS a tenth across at seeded places. */
static void place_spots(params *p) {
    for (int d = 0; d < TSR_MAX_DIM; d++) {
        int64_t n = p->n[d];
        p->spot_n[d] = d >= p->ndim ? 1 : p->init == INIT_SQUARE ? 3 * n / 5 - 2 * n / 5 : n / 10;
        if (p->spot_n[d] < 1)
            p->spot_n[d] = 1;
        for (int s = 0; s < NSPOTS; s++)
            p->spot_lo[s][d] =
                d >= p->ndim ? 0
                : p->init == INIT_SQUARE
                    ? 2 * n / 5
                    : (int64_t)(tsr_splitmix64(p->seed_hash + (uint64_t)(3 * s + d + 1)) %
                                (uint64_t)(n - p->spot_n[d] + 1));
    }
}

static int report_field(tsr_ctx ctx, tsr_field f, uint64_t *checksum) {
    double sum = 0, mn = 0, mx = 0;
    TSR_CALL(ctx, tsr_field_reduce(f, TSR_REDUCE_SUM, &sum));
    TSR_CALL(ctx, tsr_field_reduce(f, TSR_REDUCE_MIN, &mn));
    TSR_CALL(ctx, tsr_field_reduce(f, TSR_REDUCE_MAX, &mx));
    TSR_CALL(ctx, tsr_field_checksum(f, TSR_BITS_DOUBLE, checksum));
    tsr_ctx_printf(ctx, stdout, "%s sum %.17g min %.17g max %.17g checksum %016llx\n",
                   tsr_field_name(f), sum, mn, mx, (unsigned long long)*checksum);
    return TSR_SUCCESS;
}

static int run(tsr_ctx ctx, int argc, char **argv, bool *stopped) {
    grayscott g;
    bool done = false;
    TSR_CALL(ctx, parse(ctx, argc, argv, &g, &done));
    if (done)
        return TSR_SUCCESS;

    tsr_domain dom;
    tsr_field f[4] = {NULL, NULL, NULL, NULL}; /* U, V and the next U, V */
    tsr_sweep sweep = NULL;
    tsr_bc bc = NULL;
    bool periodic[TSR_MAX_DIM];
    int err = tsr_domain_create(ctx, &g.dom, TSR_STENCIL_STAR, &dom);
    if (!err)
        err = tsr_domain_run_checks(&dom, &g.dom, &done);
    if (err || done)
        goto out;
    /* Bounded sides are closed: no flux of U or V through them (Neumann). */
    tsr_bc_desc desc;
    for (int d = 0; d < TSR_MAX_DIM; d++)
        periodic[d] = tsr_grid_periodic(dom.grid, d);
    if ((err = tsr_bc_desc_init(&desc, periodic, TSR_BC_NEUMANN, 0.0)) ||
        (err = tsr_bc_create(dom.grid, &desc, &bc)) || (err = tsr_halo_set_bc(dom.halo, bc)))
        goto out;
    tsr_domain_print_summary(&dom, stdout);

    params p = {.ndim = tsr_grid_ndim(dom.grid),
                .F = g.F,
                .Fk = g.F + g.k,
                .Du = g.Du,
                .Dv = g.Dv,
                .dt = g.dt,
                .init = g.init,
                .seed_hash = tsr_splitmix64((uint64_t)g.seed)};
    for (int d = 0; d < TSR_MAX_DIM; d++)
        p.n[d] = tsr_grid_size(dom.grid, d);
    place_spots(&p);
    static const char *const names[2] = {"U", "V"};
    static const char *const long_names[2] = {"concentration of U (substrate)",
                                              "concentration of V (catalyst)"};
    for (int i = 0; i < 4 && !err; i++)
        if (!(err = tsr_field_create(dom.map, dom.width, names[i % 2], &f[i])))
            err = tsr_field_set_info(f[i], long_names[i % 2], "1");
    if (err || (err = tsr_sweep_create(dom.map, 1, 0, &sweep)) ||
        (err = tsr_sweep_apply(sweep, f, 2, init_kernel, &p)))
        goto out;

    /* What a restart must match, besides the app and the grid. */
    char run_options[256];
    snprintf(run_options, sizeof run_options,
             "F=%.17g k=%.17g Du=%.17g Dv=%.17g dt=%.17g periodic=%d%d%d", g.F, g.k, g.Du, g.Dv,
             g.dt, periodic[0], periodic[1], periodic[2]);
    /* Two state fields of two levels each: one exchange of U and V per step, the kernel reading
     * U, V and writing their next levels. */
    tsr_run r = {
        .sweep = sweep,
        .halo = dom.halo,
        .domain = &dom, /* --rebalance-every: the map, halo and sweep may be replaced */
        .nfields = 2,
        .nlevels = 2,
        .fields = {{.name = "U", .level = {f[0], f[2]}}, {.name = "V", .level = {f[1], f[3]}}},
        .kernel = step_kernel,
        .user = &p,
        .overlap = !g.no_overlap,
        .progress = tsr_progress_option_mode(&g.progress),
        .dt = g.dt,
        .steps = g.steps,
        .meta = {.app = "tessera-grayscott", .command_line = g.cmdline, .run_options = run_options},
        /* Checked with the run's own files before it computes anything. */
        .output_whats = {"--png", "--report"},
        .output_paths = {g.png, g.report}};
    tsr_run_result res;
    err = tsr_run_execute(&r, &g.io, &res);
    f[0] = r.fields[0].level[0];
    f[1] = r.fields[1].level[0];
    f[2] = r.fields[0].level[1];
    f[3] = r.fields[1].level[1];
    sweep = r.sweep; /* a rebalance replaces it */
    *stopped = res.stopped;
    if (err || res.stopped)
        goto out;

    uint64_t cu = 0, cv = 0;
    if ((err = report_field(ctx, f[0], &cu)) || (err = report_field(ctx, f[1], &cv)))
        goto out;
    if (g.png[0] && (err = tsr_field_write_png(f[1], g.png, -1, 0, 0, g.io.force)))
        goto out;
    tsr_ctx_printf(ctx, stdout, "steps %lld, %.3f s, %.3f ms/step\n", (long long)res.steps,
                   res.seconds, res.steps ? 1e3 * res.seconds / (double)res.steps : 0.0);
    if (g.png[0])
        tsr_ctx_printf(ctx, stdout, "wrote %s\n", g.png);
    if ((err = tsr_domain_report(&dom, "tessera-grayscott", g.cmdline, res.steps, res.seconds,
                                 g.report, g.io.force)))
        goto out;
    tsr_ctx_printf(ctx, stdout, "checksum %016llx\n",
                   (unsigned long long)(cu ^ tsr_splitmix64(cv)));
out:
    tsr_sweep_destroy(&sweep);
    for (int i = 3; i >= 0; i--)
        tsr_field_destroy(&f[i]);
    tsr_domain_destroy(&dom);
    tsr_bc_destroy(&bc); /* after the halo plan that applies it */
    return err;
}

int main(int argc, char **argv) {
    return tsr_main(argc, argv, "tessera-grayscott", run);
}
