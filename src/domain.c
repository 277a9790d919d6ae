/* Domain: the standard options and the grid -> blocks -> map -> halo set-up. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "balance_impl.h"
#include "layout_impl.h"
#include "tessera/domain.h"
#include "tessera/report.h"

void tsr_domain_opts_init(tsr_domain_opts *o, const tsr_extents *grid, int64_t halo_width) {
    memset(o, 0, sizeof *o);
    o->grid = *grid;
    o->map = TSR_MAP_CONTIGUOUS;
    o->halo_width = halo_width;
    o->rebalance_threshold = 1.10;
}

int tsr_domain_add_options(tsr_opts opts, tsr_domain_opts *o) {
    tsr_opts_add_extents(opts, "grid", &o->grid, "NX[xNY[xNZ]]", "global grid size, x fastest");
    tsr_opts_add_extents(opts, "blocks", &o->blocks, "BX[xBY[xBZ]]",
                         "blocks per dimension (default: one block per rank)");
    tsr_opts_add_extents(opts, "block-size", &o->block_size, "SX[xSY[xSZ]]",
                         "target cells per block per dimension, instead of --blocks");
    tsr_opts_add_choice(opts, "map", &o->map, tsr_map_strategy_names, "block-to-rank mapping");
    tsr_opts_add_optional(opts, "periodic", o->periodic, "all", "DIMS",
                          "wrap around in every dimension, or in those listed (x,z)");
    tsr_opts_add_flag(opts, "allow-idle", &o->allow_idle,
                      "allow fewer blocks than ranks (some ranks idle)");
    tsr_opts_add_int(opts, "halo-width", &o->halo_width, 1, 64, "W", "ghost layer width");
    tsr_opts_add_flag(opts, "plan", &o->plan, "print the decomposition and map summary and exit");
    tsr_opts_add_flag(opts, "plan-full", &o->plan_full,
                      "--plan with a line per rank at any number of ranks (above 64 ranks --plan "
                      "summarizes)");
    tsr_opts_add_flag(opts, "verify-halo", &o->verify_halo,
                      "check every ghost cell after an exchange and exit");
    tsr_opts_add_int(opts, "rebalance-every", &o->rebalance_every, 0, INT64_MAX, "N",
                     "every N steps, move blocks between ranks if that evens out their measured "
                     "cost (0: never)");
    tsr_opts_add_double(opts, "rebalance-threshold", &o->rebalance_threshold, nextafter(1.0, 2.0),
                        1e6, "R",
                        "rebalance when the predicted imbalance (max/mean) improves by a factor "
                        "above R");
    return tsr_opts_error(opts);
}

int tsr_domain_periodic(tsr_ctx ctx, const tsr_domain_opts *o, bool periodic[TSR_MAX_DIM]) {
    int ndim = o->grid.ndim;
    for (int d = 0; d < TSR_MAX_DIM; d++)
        periodic[d] = strcmp(o->periodic, "all") == 0 && d < ndim;
    if (!o->periodic[0] || strcmp(o->periodic, "all") == 0)
        return TSR_SUCCESS;
    for (const char *p = o->periodic;;) {
        size_t n = strcspn(p, ",");
        int d = n == 1 && *p >= 'x' && *p <= 'z' ? *p - 'x' : -1;
        TSR_CHECK(ctx, d >= 0, TSR_ERR_INPUT,
                  "--periodic '%s': unknown dimension '%.*s' (all, or a list of x, y, z)",
                  o->periodic, (int)(n < 32 ? n : 32), p);
        TSR_CHECK(ctx,
                  d<ndim, TSR_ERR_INPUT, "--periodic '%s': the grid has no %c (%d dimension%s)",
                      o->periodic, *p, ndim, ndim> 1
                      ? "s"
                      : "");
        TSR_CHECK(ctx, !periodic[d], TSR_ERR_INPUT, "--periodic '%s': %c given twice", o->periodic,
                  *p);
        periodic[d] = true;
        if (!p[n])
            break;
        p += n + 1;
    }
    return TSR_SUCCESS;
}

int tsr_domain_create(tsr_ctx ctx, const tsr_domain_opts *o, tsr_stencil stencil, tsr_domain *d) {
    memset(d, 0, sizeof *d);
    d->ctx = ctx;
    d->stencil = stencil;
    d->width = (int)o->halo_width;
    bool periodic[TSR_MAX_DIM];
    int err = ctx->rank == 0 ? tsr_domain_periodic(ctx, o, periodic) : TSR_SUCCESS;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    TSR_CALL(ctx, tsr_domain_periodic(ctx, o, periodic));
    tsr_decomp_opts dopts = {
        .blocks = o->blocks, .block_size = o->block_size, .allow_idle = o->allow_idle};
    TSR_CALL(ctx, tsr_grid_create(ctx, &o->grid, periodic, &d->grid));
    TSR_CALL(ctx, tsr_decomp_create(d->grid, &dopts, &d->decomp));
    TSR_CALL(ctx, tsr_map_create(d->decomp, (tsr_map_strategy)o->map, NULL, &d->map));
    if (!o->plan && !o->plan_full)
        TSR_CALL(ctx, tsr_halo_create(d->map, d->width, stencil, &d->halo));
    TSR_CALL(ctx, tsr_balance_create(ctx, o->rebalance_every, o->rebalance_threshold, &d->balance));
    return TSR_SUCCESS;
}

int tsr_domain_destroy(tsr_domain *d) {
    tsr_balance_destroy(&d->balance);
    tsr_halo_destroy(&d->halo);
    tsr_map_destroy(&d->map);
    tsr_decomp_destroy(&d->decomp);
    tsr_grid_destroy(&d->grid);
    return TSR_SUCCESS;
}

int tsr_domain_balance_initial(tsr_domain *d) {
    tsr_balance b = d->balance;
    if (tsr_balance_every(b) <= 0)
        return TSR_SUCCESS;
    tsr_ctx ctx = d->ctx;
    tsr_map map = d->map;
    double t0 = tsr_wtime();
    double *mine = NULL;
    bool given = false;
    int err = tsr__calloc(ctx, (size_t)(map->nlocal + 1), sizeof *mine, &mine);
    if (!err)
        err = tsr__balance_app_costs(b, map, mine, &given);
    err = tsr_ctx_agree(ctx, err);
    tsr_map to = NULL;
    tsr_halo nh = NULL;
    tsr_balance_event e = {.step = 0}; /* no field yet: no bytes move */
    /* Without a hook there is no estimate before the run has measured anything (every rank
     * installs the same kind of hook, so every rank returns here alike). */
    if (!err && given)
        err = tsr__balance_propose_halo(d, mine, &to, &nh, &e);
    free(mine);
    TSR_CALL(ctx, err);
    if (!to)
        return TSR_SUCCESS;
    tsr_halo_destroy(&d->halo); /* before its map, which keeps its idle plans */
    tsr_map_destroy(&d->map);
    d->map = to;
    d->halo = nh;
    return tsr__balance_finish(d, &e, t0);
}

int tsr_domain_run_checks(tsr_domain *d, const tsr_domain_opts *o, bool *done) {
    *done = false;
    if (o->plan_full) {
        TSR_CALL(d->ctx, tsr_map_print_plan_table(d->map, d->width, d->stencil, stdout));
        *done = true;
    } else if (o->plan) {
        TSR_CALL(d->ctx, tsr_map_print_plan(d->map, d->width, d->stencil, stdout));
        *done = true;
    } else if (o->verify_halo) {
        int64_t bad = 0;
        TSR_CALL(d->ctx, tsr_halo_verify(d->halo, &bad));
        *done = true;
    }
    return TSR_SUCCESS;
}

/* Wrapping dimensions as "x,z" (all of them as "all", none as ""). */
static void periodic_list(const tsr__layout *lay, char *buf) {
    int n = 0, k = 0;
    for (int d = 0; d < lay->ndim; d++)
        n += lay->periodic[d];
    buf[0] = '\0';
    if (n == lay->ndim) {
        strcpy(buf, "all");
        return;
    }
    for (int d = 0; d < lay->ndim; d++)
        if (lay->periodic[d]) {
            if (k)
                buf[k++] = ',';
            buf[k++] = "xyz"[d];
            buf[k] = '\0';
        }
}

void tsr_domain_print_summary(tsr_domain *d, FILE *out) {
    tsr_ctx ctx = d->ctx;
    const tsr__layout *lay = &d->decomp->lay;
    char gs[96], bs[96], list[8], per[24] = "";
    periodic_list(lay, list);
    if (list[0]) /* " periodic" for all, as before; " periodic x,z" for some */
        snprintf(per, sizeof per, " periodic%s%s", strcmp(list, "all") ? " " : "",
                 strcmp(list, "all") ? list : "");
    tsr_extents ge = {.ndim = lay->ndim, .n = {lay->n[0], lay->n[1], lay->n[2]}};
    tsr_extents be = {.ndim = lay->ndim, .n = {lay->nb[0], lay->nb[1], lay->nb[2]}};
    tsr_extents_format(&ge, gs, sizeof gs);
    tsr_extents_format(&be, bs, sizeof bs);
    tsr_ctx_printf(ctx, out, "%s: grid %s%s, %s blocks, map %s, %d ranks x %d threads\n", ctx->name,
                   gs, per, bs, tsr_map_strategy_names[d->map->strategy], ctx->size, ctx->threads);
}

void tsr_domain_config_json(const tsr_domain *d, char *buf, size_t len) {
    const tsr__layout *lay = &d->decomp->lay;
    char grid[96] = "", blocks[96] = "", list[8], per[32];
    /* true or false when every dimension or none wraps, as before; else one boolean each */
    periodic_list(lay, list);
    if (!list[0] || strcmp(list, "all") == 0)
        snprintf(per, sizeof per, "%s", list[0] ? "true" : "false");
    else
        snprintf(per, sizeof per, "[%s, %s%s%s]", lay->periodic[0] ? "true" : "false",
                 lay->periodic[1] ? "true" : "false", lay->ndim == 3 ? ", " : "",
                 lay->ndim < 3      ? ""
                 : lay->periodic[2] ? "true"
                                    : "false");
    for (int i = 0, gn = 0, bn = 0; i < lay->ndim; i++) {
        gn += snprintf(grid + gn, sizeof grid - (size_t)gn, "%s%lld", i ? ", " : "",
                       (long long)lay->n[i]);
        bn += snprintf(blocks + bn, sizeof blocks - (size_t)bn, "%s%lld", i ? ", " : "",
                       (long long)lay->nb[i]);
    }
    snprintf(buf, len,
             "\"grid\": [%s], \"periodic\": %s, \"blocks\": [%s], \"map\": \"%s\", "
             "\"halo_width\": %d",
             grid, per, blocks, tsr_map_strategy_names[d->map->strategy], d->width);
}

int tsr_domain_report(const tsr_domain *d, const char *app, const char *command_line, int64_t steps,
                      double seconds, const char *report_path, bool force) {
    double cells = (double)tsr_grid_cells(d->grid);
    double mlups = seconds > 0 ? cells * (double)steps / seconds / 1e6 : 0.0;
    tsr_ctx_printf(d->ctx, stdout, "MLUP/s %.1f\n", mlups);
    char config[512];
    tsr_domain_config_json(d, config, sizeof config);
    int64_t nblocks = 0, cells_here = 0;
    const int64_t *ids = NULL;
    TSR_CALL(d->ctx, tsr_map_local_blocks(d->map, &nblocks, &ids));
    for (int64_t b = 0; b < nblocks; b++)
        cells_here += tsr__block_cells(&d->decomp->lay, ids[b]);
    tsr_report rep = {.app = app,
                      .command_line = command_line,
                      .config_json = config,
                      .cells = cells_here,
                      .blocks = nblocks,
                      .seconds = seconds,
                      .rate_unit = "MLUP/s",
                      .rate = mlups,
                      .force = force};
    TSR_CALL(d->ctx, tsr__balance_report(d->balance));
    TSR_CALL(d->ctx, tsr_report_finish(d->ctx, &rep, report_path, stdout));
    return TSR_SUCCESS;
}
