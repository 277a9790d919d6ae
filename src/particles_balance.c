/* Rebalancing a particle run: block costs from the particle counts (or the app's hook), the
 * decision shared with field runs (balance.c), then the containers move to the new map. */
#include <stdlib.h>

#include "balance_impl.h"
#include "field_impl.h"
#include "particles_impl.h"

/* This rank's block costs: the app's, else the particles of every container in each block. */
static int particle_costs(tsr_domain *d, tsr_particles *ps, int n, double *costs) {
    tsr_ctx ctx = d->ctx;
    tsr_map map = d->map;
    bool given = false;
    TSR_CALL(ctx, tsr__balance_app_costs(d->balance, map, costs, &given));
    if (given)
        return TSR_SUCCESS;
    for (int k = 0; k < n; k++) {
        TSR_CHECK(ctx, ps[k] && ps[k]->map == map, TSR_ERR_ARG,
                  "particle container %d is not on the domain's map", k);
        for (int64_t b = 0; b < map->nlocal; b++)
            costs[b] += (double)ps[k]->blocks[b].count;
    }
    return TSR_SUCCESS;
}

int tsr_particles_rebalance(tsr_domain *d, int64_t step, tsr_particles *ps, int n, bool *moved) {
    if (moved)
        *moved = false;
    if (!d || n < 0 || (n > 0 && !ps))
        return TSR_ERR_ARG;
    if (!tsr__balance_due(d, step))
        return TSR_SUCCESS;
    tsr_ctx ctx = d->ctx;
    tsr_map map = d->map;
    double t0 = tsr_wtime();
    double *mine = NULL;
    int err = tsr__calloc(ctx, (size_t)map->nlocal + 1, sizeof *mine, &mine);
    if (!err)
        err = particle_costs(d, ps, n, mine);
    err = tsr_ctx_agree(ctx, err);
    tsr_map to = NULL;
    tsr_halo nh = NULL;
    tsr_balance_event e = {.step = step};
    if (!err)
        err = tsr__balance_propose_halo(d, mine, &to, &nh, &e);
    free(mine);
    TSR_CALL(ctx, err);
    if (!to)
        return TSR_SUCCESS;
    /* From the first move on, some particles live on `to`: the domain takes it whatever follows,
     * and the old map goes once every container has left it. */
    for (int k = 0; k < n && !err; k++) {
        int64_t bytes = 0;
        err = tsr__particles_set_map(ps[k], to, &bytes);
        e.bytes += bytes;
    }
    d->map = to;
    tsr_halo_destroy(&d->halo); /* before its map, which keeps its idle plans */
    d->halo = nh;
    if (!err) /* else containers past the failed one may still be on it (the run ends anyway) */
        tsr_map_destroy(&map);
    if (moved)
        *moved = true;
    TSR_CALL(ctx, err);
    return tsr__balance_finish(d, &e, t0);
}
