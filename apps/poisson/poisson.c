/* tessera-poisson: Jacobi iterations for -Δu = f on the unit square (2D) or cube (3D).
 *
 * Cell-centred grid of N cells per dimension, h = 1/N, cell i at x = (i + 1/2) h. The
 * manufactured solution u = sin(pi x) sin(pi y) [sin(pi z)] gives f = ndim pi^2 u and is zero on
 * the boundary. Dirichlet boundary: the ghost cells outside the domain hold the exact solution
 * at the ghost's centre (a Dirichlet function of the bc module), so the 5/7-point Laplacian has
 * an O(h^2) error everywhere, and so has the converged solution.
 *
 * Each iteration computes u_new = (sum of the neighbours + h^2 f) / (2 ndim); the kernel adds
 * every cell's update u_new - u to an in-kernel L2 reduction (tsr_accum), with no field for the
 * update, and the loop stops when h^(ndim/2) |u_new - u|_2 falls below --tol. Exact reductions
 * make the iteration count and the final state the same bits for any ranks, threads, blocks and
 * map. The end prints the iterations, the residual norm h^(ndim/2) |f + Δ_h u|_2, the largest
 * error against the exact solution and the checksum of u. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <tessera.h>

static const double pi = 3.14159265358979323846;

typedef struct poisson {
    tsr_domain_opts dom;
    double tol;
    int64_t max_iter;
    int64_t check_every;
    bool force;
    tsr_progress_option progress;
    char report[TSR_OPT_STRLEN];
    char cmdline[TSR_OPT_STRLEN]; /* for the report */
} poisson;

typedef struct params {
    int ndim;
    double h;           /* 1 / N */
    double inv_k;       /* 1 / (2 ndim) */
    tsr_accum update;   /* sum of (u_new - u)^2 when `measure` */
    tsr_accum residual; /* final pass: sum of residual^2 */
    tsr_accum error;    /* final pass: max |u - exact| */
    bool measure;
} params;

/* The exact solution at the centre of the cell with global coordinates g (ghosts included). */
static double exact(const params *p, const int64_t g[TSR_MAX_DIM]) {
    double u = 1.0;
    for (int d = 0; d < p->ndim; d++)
        u *= sin(pi * (((double)g[d] + 0.5) * p->h));
    return u;
}

static double boundary(const int64_t g[TSR_MAX_DIM], double t, int comp, void *user) {
    (void)t;
    (void)comp;
    return exact(user, g);
}

/* fields: u (0 inside), rhs = h^2 f. */
static int init_kernel(const tsr_block *f, int nf, const tsr_box *box, void *user) {
    (void)nf;
    const params *p = user;
    const tsr_block *u = &f[0], *rhs = &f[1];
    const double h2f = p->h * p->h * ((double)p->ndim * pi * pi);
    for (int64_t z = box->lo[2]; z < box->hi[2]; z++)
        for (int64_t y = box->lo[1]; y < box->hi[1]; y++)
            for (int64_t x = box->lo[0]; x < box->hi[0]; x++) {
                int64_t g[TSR_MAX_DIM] = {u->lo[0] + x, u->lo[1] + y, u->lo[2] + z};
                TSR_AT(u, x, y, z) = 0.0;
                TSR_AT(rhs, x, y, z) = h2f * exact(p, g);
            }
    return 0;
}

/* The sum of the 2 ndim neighbours of c[x]; s, n are the rows at y -+ 1, b, t at z -+ 1 (NULL
 * in 2D). The order of the additions is part of the result. */
static inline double neighbours(const double *c, const double *s, const double *n, const double *b,
                                const double *t, int64_t x) {
    double sum = (c[x - 1] + c[x + 1]) + (s[x] + n[x]);
    return b ? sum + (b[x] + t[x]) : sum;
}

/* One Jacobi iteration: fields u (read, ghosts included), v (written), rhs. */
static int jacobi_kernel(const tsr_block *f, int nf, const tsr_box *box, void *user) {
    (void)nf;
    const params *p = user;
    const tsr_block *u = &f[0], *v = &f[1], *rhs = &f[2];
    int err = 0;
    for (int64_t z = box->lo[2]; z < box->hi[2]; z++)
        for (int64_t y = box->lo[1]; y < box->hi[1]; y++) {
            const double *c = &TSR_AT(u, 0, y, z), *r = &TSR_AT(rhs, 0, y, z);
            const double *b = p->ndim == 3 ? c - u->sz : NULL, *t = p->ndim == 3 ? c + u->sz : NULL;
            double *o = &TSR_AT(v, 0, y, z);
            for (int64_t x = box->lo[0]; x < box->hi[0]; x++)
                o[x] = (neighbours(c, c - u->sy, c + u->sy, b, t, x) + r[x]) * p->inv_k;
            if (!p->measure)
                continue;
            /* The row's updates go to the norm in pieces of a buffer: one call per piece. */
            double delta[64];
            for (int64_t x0 = box->lo[0]; x0 < box->hi[0]; x0 += 64) {
                int64_t n = box->hi[0] - x0 < 64 ? box->hi[0] - x0 : 64;
                for (int64_t i = 0; i < n; i++)
                    delta[i] = o[x0 + i] - c[x0 + i];
                err |= tsr_accum_add_n(p->update, delta, n);
            }
        }
    return err;
}

/* The residual f + Δ_h u and the error u - exact of every cell: fields u, rhs. */
static int check_kernel(const tsr_block *f, int nf, const tsr_box *box, void *user) {
    (void)nf;
    const params *p = user;
    const tsr_block *u = &f[0], *rhs = &f[1];
    const double k = (double)(2 * p->ndim), h2 = p->h * p->h;
    int err = 0;
    for (int64_t z = box->lo[2]; z < box->hi[2]; z++)
        for (int64_t y = box->lo[1]; y < box->hi[1]; y++) {
            const double *c = &TSR_AT(u, 0, y, z), *r = &TSR_AT(rhs, 0, y, z);
            const double *b = p->ndim == 3 ? c - u->sz : NULL, *t = p->ndim == 3 ? c + u->sz : NULL;
            for (int64_t x = box->lo[0]; x < box->hi[0]; x++) {
                int64_t g[TSR_MAX_DIM] = {u->lo[0] + x, u->lo[1] + y, u->lo[2] + z};
                double res =
                    (r[x] + (neighbours(c, c - u->sy, c + u->sy, b, t, x) - k * c[x])) / h2;
                err |= tsr_accum_add(p->residual, res);
                err |= tsr_accum_add(p->error, fabs(c[x] - exact(p, g)));
            }
        }
    return err;
}

/* Rank 0: what the options alone cannot say. */
static int validate(tsr_ctx ctx, void *values) {
    const poisson *ps = values;
    const tsr_extents *g = &ps->dom.grid;
    TSR_CHECK(ctx, g->ndim == 2 || g->ndim == 3, TSR_ERR_INPUT,
              "tessera-poisson solves on a 2D or 3D grid, not %dD", g->ndim);
    for (int d = 1; d < g->ndim; d++)
        TSR_CHECK(ctx, g->n[d] == g->n[0], TSR_ERR_INPUT,
                  "--grid: the unit %s needs as many cells in every dimension (%lld, not %lld)",
                  g->ndim == 2 ? "square" : "cube", (long long)g->n[0], (long long)g->n[d]);
    TSR_CHECK(ctx, !ps->dom.periodic[0], TSR_ERR_INPUT,
              "--periodic: the Poisson problem has Dirichlet boundaries");
    TSR_CHECK(ctx, ps->tol > 0, TSR_ERR_INPUT, "--tol %g: must be positive", ps->tol);
    /* Every cell costs the same: a block's cost is its cell count, which the map already
     * balances. */
    TSR_CHECK(ctx, ps->dom.rebalance_every == 0, TSR_ERR_INPUT,
              "--rebalance-every: every cell of the Poisson problem costs the same, so the map is "
              "balanced from the start (nothing to rebalance)");
    return TSR_SUCCESS;
}

static int parse(tsr_ctx ctx, int argc, char **argv, poisson *ps, bool *done) {
    tsr_extents grid = {.ndim = 2, .n = {64, 64, 1}};
    memset(ps, 0, sizeof *ps);
    tsr_domain_opts_init(&ps->dom, &grid, 1);
    ps->tol = 1e-8;
    ps->max_iter = 100000;
    ps->check_every = 1;
    tsr_opts o = NULL;
    TSR_CALL(ctx, tsr_opts_create(ctx,
                                  "Jacobi iterations for -laplace(u) = f on the unit square or "
                                  "cube, Dirichlet boundaries, manufactured solution.",
                                  &o));
    tsr_domain_add_options(o, &ps->dom);
    tsr_opts_add_double(o, "tol", &ps->tol, 0, 1, "T",
                        "stop when the update norm h^(ndim/2) |u_new - u|_2 is below T (> 0)");
    tsr_opts_add_int(o, "max-iter", &ps->max_iter, 1, INT64_MAX, "N",
                     "fail (status 1) if not converged after N iterations");
    tsr_opts_add_int(o, "check-every", &ps->check_every, 1, INT64_MAX, "K",
                     "measure the update norm every K iterations (one reduction each)");
    tsr_opts_add_flag(o, "force", &ps->force, "replace an existing --report file");
    tsr_progress_add_options(o, &ps->progress);
    tsr_report_add_option(o, ps->report);
    int err = tsr_opts_parse(o, argc, argv, done);
    return tsr_opts_finish(ctx, &o, err, *done, ps->cmdline, validate, ps);
}

/* Iterates until converged; *u ends holding the newest iterate. Collective. */
static int iterate_loop(tsr_ctx ctx, const poisson *ps, tsr_domain *dom, tsr_sweep sweep, params *p,
                        tsr_field *u, tsr_field *v, tsr_field rhs, tsr_progress *progress,
                        int64_t *iterations, double *norm) {
    const double scale = sqrt(pow(p->h, p->ndim));
    int err = TSR_SUCCESS;
    for (int64_t it = 1;; it++) {
        p->measure = it % ps->check_every == 0 || it == ps->max_iter;
        tsr_field fields[3] = {*u, *v, rhs};
        /* A kernel failure on one rank still completes the exchange; that rank keeps exchanging
         * (its neighbours wait for it) until the next measurement agrees on the failure. */
        int e = tsr_sweep_apply_exchange(sweep, dom->halo, 1, fields, 3, jacobi_kernel, p, true);
        if (!err)
            err = e;
        tsr_field w = *u;
        *u = *v;
        *v = w;
        tsr_progress_update(progress, it);
        if (!p->measure)
            continue;
        TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
        TSR_CALL(ctx, tsr_accum_result(p->update, norm));
        TSR_CALL(ctx, tsr_accum_reset(p->update));
        *norm *= scale;
        *iterations = it;
        if (*norm < ps->tol)
            return TSR_SUCCESS;
        TSR_CHECK(ctx, it < ps->max_iter, TSR_ERR_VERIFY,
                  "not converged after %lld iterations: update norm %.3e is above --tol %g",
                  (long long)it, *norm, ps->tol);
    }
}

static int iterate(tsr_ctx ctx, const poisson *ps, tsr_domain *dom, tsr_sweep sweep, params *p,
                   tsr_field *u, tsr_field *v, tsr_field rhs, int64_t *iterations, double *norm) {
    /* Counted against --max-iter: the share of the allowed iterations used so far. */
    tsr_progress progress;
    tsr_progress_start(&progress, ctx, ps->max_iter, tsr_progress_option_mode(&ps->progress));
    progress.unit = "iteration";
    int err = iterate_loop(ctx, ps, dom, sweep, p, u, v, rhs, &progress, iterations, norm);
    /* Converging before the cap is the loop's success, not a stop. */
    tsr_progress_end_as(&progress, !err                    ? "converged"
                                   : err == TSR_ERR_VERIFY ? "not converged"
                                                           : NULL);
    return err;
}

static int run(tsr_ctx ctx, int argc, char **argv, bool *stopped) {
    (void)stopped; /* no checkpoints */
    poisson ps;
    bool done = false;
    TSR_CALL(ctx, parse(ctx, argc, argv, &ps, &done));
    if (done)
        return TSR_SUCCESS;

    tsr_domain dom;
    tsr_field u = NULL, v = NULL, rhs = NULL;
    tsr_sweep sweep = NULL;
    tsr_bc bc = NULL;
    params p = {.ndim = ps.dom.grid.ndim};
    int err = tsr_domain_create(ctx, &ps.dom, TSR_STENCIL_STAR, &dom);
    if (!err)
        err = tsr_domain_run_checks(&dom, &ps.dom, &done);
    if (err || done)
        goto out;
    p.h = 1.0 / (double)tsr_grid_size(dom.grid, 0);
    p.inv_k = 1.0 / (double)(2 * p.ndim);
    tsr_domain_print_summary(&dom, stdout);
    const char *whats[] = {"--report"}, *paths[] = {ps.report};
    if ((err = tsr_file_check_outputs(ctx, 1, whats, paths, ps.force)) ||
        (err = tsr_field_create(dom.map, dom.width, "u", &u)) ||
        (err = tsr_field_create(dom.map, dom.width, "u", &v)) ||
        (err = tsr_field_create(dom.map, dom.width, "rhs", &rhs)) ||
        (err = tsr_sweep_create(dom.map, 1, 0, &sweep)) ||
        (err = tsr_accum_create(ctx, TSR_REDUCE_NORM2, &p.update)) ||
        (err = tsr_accum_create(ctx, TSR_REDUCE_NORM2, &p.residual)) ||
        (err = tsr_accum_create(ctx, TSR_REDUCE_MAX, &p.error)))
        goto out;
    tsr_field fields[2] = {u, rhs};
    if ((err = tsr_sweep_apply(sweep, fields, 2, init_kernel, &p)))
        goto out;
    /* The boundary values never change and the exchange never writes ghosts outside the domain,
     * so they are written once into both iterates instead of after every exchange. */
    if ((err = tsr_bc_create(dom.grid, NULL, &bc)))
        goto out;
    for (int d = 0; d < p.ndim && !err; d++)
        err = tsr_bc_set_function(bc, d, TSR_BC_BOTH, boundary, &p);
    tsr_field both[2] = {u, v};
    if (err || (err = tsr_bc_apply(bc, both, 2)))
        goto out;

    int64_t iterations = 0;
    double update = 0, t0 = tsr_wtime();
    /* Not converging is every rank's verdict (the norm is the same bits everywhere): agreed, so
     * that it ends the run with one message and status 1 on every rank. */
    err = iterate(ctx, &ps, &dom, sweep, &p, &u, &v, rhs, &iterations, &update);
    if ((err = tsr_ctx_agree(ctx, err)))
        goto out;
    double seconds = tsr_wtime() - t0;

    double residual = 0, error = 0;
    uint64_t checksum = 0;
    fields[0] = u;
    err = tsr_sweep_apply_exchange(sweep, dom.halo, 1, fields, 2, check_kernel, &p, false);
    if ((err = tsr_ctx_agree(ctx, err)) || (err = tsr_accum_result(p.residual, &residual)) ||
        (err = tsr_accum_result(p.error, &error)) ||
        (err = tsr_field_checksum(u, TSR_BITS_DOUBLE, &checksum)))
        goto out;
    residual *= sqrt(pow(p.h, p.ndim));
    tsr_ctx_printf(ctx, stdout, "iterations %lld, update norm %.6e < tol %g\n",
                   (long long)iterations, update, ps.tol);
    tsr_ctx_printf(ctx, stdout, "residual norm %.9e\n", residual);
    tsr_ctx_printf(ctx, stdout, "max error %.9e (h = %g)\n", error, p.h);
    if ((err = tsr_domain_report(&dom, "tessera-poisson", ps.cmdline, iterations, seconds,
                                 ps.report, ps.force)))
        goto out;
    tsr_ctx_printf(ctx, stdout, "checksum %016llx\n", (unsigned long long)checksum);
out:
    tsr_bc_destroy(&bc);
    tsr_accum_destroy(&p.error);
    tsr_accum_destroy(&p.residual);
    tsr_accum_destroy(&p.update);
    tsr_sweep_destroy(&sweep);
    tsr_field_destroy(&rhs);
    tsr_field_destroy(&v);
    tsr_field_destroy(&u);
    tsr_domain_destroy(&dom);
    return err;
}

int main(int argc, char **argv) {
    return tsr_main(argc, argv, "tessera-poisson", run);
}
