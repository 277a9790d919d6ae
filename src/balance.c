/* Balance: per-block costs -> rank 0 decides on a new map -> blocks migrate with every field. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "balance_impl.h"
#include "exchange_impl.h"
#include "field_impl.h"
#include "tessera/remap.h"

struct tsr_balance_s {
    tsr_ctx ctx;
    int64_t every;
    double threshold;
    tsr_balance_cost_fn cost;
    tsr_balance_migrated_fn migrated;
    void *user;
    tsr_balance_event *events;
    int64_t nevents, cap;
};

static int balance_validate(tsr_ctx ctx, int64_t every, double threshold) {
    TSR_CHECK(ctx, every >= 0, TSR_ERR_INPUT, "rebalancing period %lld must be >= 0",
              (long long)every);
    TSR_CHECK(ctx, isfinite(threshold) && threshold > 1.0, TSR_ERR_INPUT,
              "rebalance threshold %g must be greater than 1 (the factor by which the imbalance "
              "must improve)",
              threshold);
    return TSR_SUCCESS;
}

int tsr_balance_create(tsr_ctx ctx, int64_t every, double threshold, tsr_balance *b) {
    *b = NULL;
    int err = ctx->rank == 0 ? balance_validate(ctx, every, threshold) : TSR_SUCCESS;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    tsr_balance nb = NULL;
    err = tsr__calloc(ctx, 1, sizeof *nb, &nb);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    nb->ctx = ctx;
    nb->every = every;
    nb->threshold = threshold;
    *b = nb;
    return TSR_SUCCESS;
}

int tsr_balance_destroy(tsr_balance *b) {
    if (b && *b) {
        free((*b)->events);
        free(*b);
        *b = NULL;
    }
    return TSR_SUCCESS;
}

int tsr_balance_set_hooks(tsr_balance b, tsr_balance_cost_fn cost, tsr_balance_migrated_fn migrated,
                          void *user) {
    b->cost = cost;
    b->migrated = migrated;
    b->user = user;
    return TSR_SUCCESS;
}

int64_t tsr_balance_every(tsr_balance b) {
    return b ? b->every : 0;
}

double tsr_balance_threshold(tsr_balance b) {
    return b ? b->threshold : 0.0;
}

int tsr_balance_events(tsr_balance b, int64_t *count, const tsr_balance_event **events) {
    *count = b ? b->nevents : 0;
    *events = b ? b->events : NULL;
    return TSR_SUCCESS;
}

double tsr_balance_imbalance(int64_t nblocks, const double *costs, const int *owner, int nranks) {
    double *load = calloc((size_t)(nranks > 0 ? nranks : 1), sizeof *load);
    if (!load || nranks < 1)
        return (free(load), 1.0);
    double total = 0;
    for (int64_t i = 0; i < nblocks; i++) {
        load[owner[i]] += costs[i];
        total += costs[i];
    }
    double max = 0;
    for (int r = 0; r < nranks; r++)
        max = load[r] > max ? load[r] : max;
    free(load);
    return total > 0 ? max * nranks / total : 1.0;
}

tsr_map_strategy tsr__balance_strategy(tsr_map_strategy s) {
    return s == TSR_MAP_ROUNDROBIN ? TSR_MAP_KNAPSACK : s;
}

void tsr__balance_weights(int64_t nblocks, const double *costs, double *weights) {
    double total = 0;
    for (int64_t i = 0; i < nblocks; i++)
        total += costs[i];
    double floor = nblocks > 0 ? 1e-3 * total / (double)nblocks : 0;
    for (int64_t i = 0; i < nblocks; i++)
        weights[i] = costs[i] + floor;
}

bool tsr__balance_decide(const tsr__layout *lay, tsr_map_strategy strategy, const double *costs,
                         const int *owner, int nranks, double threshold, int *new_owner,
                         tsr__balance_plan *plan) {
    int64_t n = lay->nblocks;
    memset(plan, 0, sizeof *plan);
    memcpy(new_owner, owner, sizeof *owner * (size_t)n);
    plan->before = plan->after = tsr_balance_imbalance(n, costs, owner, nranks);
    double total = 0;
    for (int64_t i = 0; i < n; i++)
        total += costs[i];
    if (!(total > 0))
        return true;
    double *w = malloc(sizeof *w * (size_t)(n ? n : 1));
    if (!w)
        return false;
    tsr__balance_weights(n, costs, w);
    tsr_map_strategy s = tsr__balance_strategy(strategy);
    uint64_t *starts = NULL;
    bool ok = true;
    /* Along a curve the cut's walk gives the table's owners in O(blocks) (test_map_rule). */
    if (tsr__starts_apply(lay, s, nranks) &&
        (starts = malloc(sizeof *starts * ((size_t)nranks + 1))))
        tsr__weighted_starts(lay, s, w, nranks, starts, new_owner);
    else
        ok = tsr__map_assign(lay, s, w, nranks, new_owner);
    free(starts);
    free(w);
    if (!ok)
        return false;
    plan->after = tsr_balance_imbalance(n, costs, new_owner, nranks);
    for (int64_t i = 0; i < n; i++)
        plan->moved += new_owner[i] != owner[i];
    plan->adopt = plan->moved > 0 && plan->before > threshold * plan->after;
    return true;
}

int64_t tsr__balance_next(const tsr_domain *dom, int64_t step, int64_t next) {
    int64_t every = dom && dom->balance ? dom->balance->every : 0;
    if (every <= 0)
        return next;
    int64_t check = (step / every + 1) * every;
    return check < next ? check : next;
}

int tsr__balance_app_costs(tsr_balance b, tsr_map map, double *costs, bool *given) {
    tsr_ctx ctx = b->ctx;
    *given = b->cost != NULL;
    if (!b->cost)
        return TSR_SUCCESS;
    int err = b->cost(map->local, map->nlocal, costs, b->user);
    TSR_CHECK(ctx, err == 0, err < 0 || err > TSR_ERR_INTERNAL ? TSR_ERR_KERNEL : err,
              "the block cost function returned %d on rank %d", err, ctx->rank);
    return TSR_SUCCESS;
}

/* Costs must be finite and >= 0, whoever gave them. Local. */
static int check_costs(tsr_ctx ctx, tsr_map map, const double *costs) {
    for (int64_t i = 0; i < map->nlocal; i++)
        TSR_CHECK(ctx, isfinite(costs[i]) && costs[i] >= 0, TSR_ERR_ARG,
                  "cost %g of block %lld on rank %d: costs must be finite and >= 0", costs[i],
                  (long long)map->local[i], ctx->rank);
    return TSR_SUCCESS;
}

/* This rank's block costs: the app's, or the sweep's measured times (reset either way). */
static int local_costs(tsr_balance b, tsr_map map, tsr_sweep sweep, double *costs) {
    tsr_ctx ctx = b->ctx;
    bool given = false;
    TSR_CALL(ctx, tsr__balance_app_costs(b, map, costs, &given));
    /* the sweep's times restart at every check either way */
    TSR_CALL(ctx, tsr_sweep_block_costs(sweep, given ? costs + map->nlocal : costs, true));
    return TSR_SUCCESS;
}

/* Every rank's costs on rank 0, by block id (rank 0 knows which blocks each rank holds, in
 * increasing id order, from the map). */
static int gather_costs(tsr_map map, const double *mine, double *all) {
    tsr_ctx ctx = map->ctx;
    int64_t n = map->decomp->lay.nblocks;
    int *counts = NULL, *displs = NULL;
    double *packed = NULL;
    int err = TSR_SUCCESS;
    if (ctx->rank == 0) {
        err = tsr__calloc(ctx, (size_t)ctx->size, sizeof *counts, &counts);
        if (!err)
            err = tsr__calloc(ctx, (size_t)ctx->size, sizeof *displs, &displs);
        if (!err)
            err = tsr__calloc(ctx, (size_t)(n ? n : 1), sizeof *packed, &packed);
        for (int64_t i = 0; !err && i < n; i++)
            counts[tsr__map_owner_of(map, i)]++;
        for (int r = 1; !err && r < ctx->size; r++)
            displs[r] = displs[r - 1] + counts[r - 1];
    }
    err = tsr_ctx_agree(ctx, err);
    if (!err) {
        int rc = MPI_Gatherv(mine, (int)map->nlocal, MPI_DOUBLE, packed, counts, displs, MPI_DOUBLE,
                             0, ctx->comm);
        if (rc != MPI_SUCCESS)
            err = tsr_error_mpi(ctx, rc, "MPI_Gatherv", __FILE__, __LINE__, __func__);
    }
    if (!err && ctx->rank == 0) {
        memset(counts, 0, sizeof *counts * (size_t)ctx->size);
        for (int64_t i = 0; i < n; i++) {
            int r = tsr__map_owner_of(map, i);
            all[i] = packed[displs[r] + counts[r]++];
        }
    }
    free(counts);
    free(displs);
    free(packed);
    TSR_CALL(ctx, err);
    return TSR_SUCCESS;
}

int tsr__balance_moved(tsr_map from, tsr_map to, const tsr_field *fields, int nfields,
                       int64_t *blocks, int64_t *bytes) {
    tsr_ctx ctx = to->ctx;
    int64_t comps = 0, sum[2] = {0, 0};
    for (int f = 0; f < nfields; f++)
        comps += fields[f]->ncomp;
    /* Each moved block counted once, by its new owner: O(local blocks) lookups, no table. */
    const tsr__layout *lay = &to->decomp->lay;
    for (int64_t k = 0; k < to->nlocal; k++)
        if (tsr__map_owner_of(from, to->local[k]) != ctx->rank) {
            sum[0]++;
            sum[1] += tsr__block_cells(lay, to->local[k]) * comps * (int64_t)sizeof(double);
        }
    TSR_MPI(ctx, MPI_Allreduce(MPI_IN_PLACE, sum, 2, MPI_INT64_T, MPI_SUM, ctx->comm));
    *blocks = sum[0];
    if (bytes)
        *bytes = sum[1];
    return TSR_SUCCESS;
}

static int record(tsr_balance b, const tsr_balance_event *e) {
    if (b->nevents == b->cap) {
        int64_t nc = b->cap ? 2 * b->cap : 16;
        tsr_balance_event *ne = realloc(b->events, sizeof *ne * (size_t)nc);
        TSR_CHECK(b->ctx, ne, TSR_ERR_MEMORY, "cannot record a rebalance");
        b->events = ne;
        b->cap = nc;
    }
    b->events[b->nevents++] = *e;
    return TSR_SUCCESS;
}

/* Moves the run to `to`: fields, ghosts, halo plan, sweep. On success the domain, *halo and
 * *sweep hold the new handles and the old ones are gone; `to` then belongs to the domain. */
int tsr__balance_new_halo(const tsr_domain *dom, tsr_map to, tsr_halo *nh) {
    *nh = NULL;
    if (!dom->halo)
        return TSR_SUCCESS;
    int err = tsr_halo_create(to, dom->width, dom->stencil, nh);
    if (!err) /* the boundary conditions go along */
        err = tsr_halo_set_bc(*nh, tsr_halo_bc(dom->halo));
    if (err)
        tsr_halo_destroy(nh);
    return err;
}

static int migrate(tsr_domain *dom, tsr_map to, tsr_sweep *sweep, tsr_halo *halo, tsr_field *fields,
                   int nfields) {
    tsr_ctx ctx = dom->ctx;
    tsr_halo nh = NULL;
    tsr_sweep ns = NULL;
    int err = tsr__balance_new_halo(dom, to, &nh);
    if (!err) /* one agreement for both steps */
        err = tsr__sweep_rebuild(*sweep, to, &ns);
    err = tsr_ctx_agree(ctx, err);
    if (err) {
        tsr_halo_destroy(&nh);
        tsr_sweep_destroy(&ns);
        tsr_map_destroy(&to);
        TSR_CALL(ctx, err);
    }
    /* From here on the fields live on `to`: the domain must own it whatever follows. */
    err = tsr_field_migrate(fields, nfields, to);
    tsr_map old = dom->map;
    dom->map = to;
    tsr_halo_destroy(&dom->halo); /* before its map, which keeps its idle plans */
    tsr_sweep_destroy(sweep);
    tsr_map_destroy(&old);
    dom->halo = *halo = nh;
    *sweep = ns;
    TSR_CALL(ctx, err);
    /* A migrated field's ghosts are unspecified; refilled, each field is again what a step left
     * it (for a two-level scheme, v keeps being a true previous state with its ghosts). As many
     * fields per exchange as it takes: one message per peer for all of them. */
    tsr_field batch[TSR_X_MAX_FIELDS];
    int n = 0, comps = 0;
    for (int f = 0; f <= nfields; f++) {
        bool take = f < nfields && fields[f]->width >= dom->width;
        bool full = n == TSR_X_MAX_FIELDS || (take && comps + fields[f]->ncomp > TSR_X_MAX_COMPS);
        if (n > 0 && (full || f == nfields)) {
            TSR_CALL(ctx, tsr_halo_exchange(nh, batch, n));
            n = comps = 0;
        }
        if (take) {
            batch[n++] = fields[f];
            comps += fields[f]->ncomp;
        }
    }
    return TSR_SUCCESS;
}

bool tsr__balance_due(const tsr_domain *dom, int64_t step) {
    tsr_balance b = dom ? dom->balance : NULL;
    return b && b->every > 0 && step > 0 && step % b->every == 0;
}

int tsr__balance_propose(tsr_domain *dom, double *mine, tsr_map *out, double *before,
                         double *after) {
    tsr_balance b = dom->balance;
    tsr_ctx ctx = b->ctx;
    tsr_map map = dom->map;
    const tsr__layout *lay = &map->decomp->lay;
    *out = NULL;
    TSR_CHECK(ctx, lay->nblocks <= INT_MAX, TSR_ERR_INPUT,
              "%lld blocks: rebalancing handles at most %d", (long long)lay->nblocks, INT_MAX);
    double *all = NULL;
    int *owner = NULL;
    int err = check_costs(ctx, map, mine);
    if (!err && ctx->rank == 0)
        err = tsr__calloc(ctx, (size_t)lay->nblocks, sizeof *all, &all);
    if (!err && ctx->rank == 0)
        err = tsr__calloc(ctx, (size_t)lay->nblocks, sizeof *owner, &owner);
    const int *now = NULL; /* rank 0 judges against every block's owner */
    if (!err && ctx->rank == 0 && !(now = tsr__map_owners(map)))
        err = tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                            "cannot allocate the owners of %lld blocks", (long long)lay->nblocks);
    err = tsr_ctx_agree(ctx, err);
    if (!err)
        err = gather_costs(map, mine, all);
    tsr__balance_plan plan = {0};
    if (!err && ctx->rank == 0 &&
        !tsr__balance_decide(lay, map->strategy, all, now, ctx->size, b->threshold, owner, &plan))
        err = tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                            "cannot allocate the rebalancing plan");
    err = tsr_ctx_agree(ctx, err);
    double verdict[3] = {plan.adopt, plan.before, plan.after};
    if (!err)
        err = tsr__bcast_bytes(ctx, verdict, sizeof verdict, 0);
    /* The map is computed again from the same weights by tsr_map_create (rank 0 alone reads
     * them), so every rank gets exactly the assignment rank 0 judged. */
    if (!err && verdict[0]) {
        if (ctx->rank == 0)
            tsr__balance_weights(lay->nblocks, all, all);
        err = tsr_map_create(map->decomp, tsr__balance_strategy(map->strategy), all, out);
    }
    free(all);
    free(owner);
    TSR_CALL(ctx, err);
    *before = verdict[1];
    *after = verdict[2];
    return TSR_SUCCESS;
}

int tsr__balance_finish(tsr_domain *dom, tsr_balance_event *e, double t0) {
    tsr_balance b = dom->balance;
    tsr_ctx ctx = b->ctx;
    if (b->migrated) {
        int rc = b->migrated(dom->map, b->user);
        int err = rc == 0
                      ? TSR_SUCCESS
                      : tsr_error_set(ctx, TSR_ERR_KERNEL, __FILE__, __LINE__, __func__,
                                      "the migration hook returned %d on rank %d", rc, ctx->rank);
        TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    }
    e->seconds = tsr_wtime() - t0;
    TSR_MPI(ctx, MPI_Allreduce(MPI_IN_PLACE, &e->seconds, 1, MPI_DOUBLE, MPI_MAX, ctx->comm));
    TSR_CALL(ctx, tsr_ctx_agree(ctx, record(b, e)));
    tsr_ctx_printf(ctx, stdout,
                   "%s: rebalance at step %lld: imbalance %.3f -> %.3f, %lld blocks (%.2f MiB) "
                   "moved in %.3f s\n",
                   ctx->name, (long long)e->step, e->before, e->after, (long long)e->blocks,
                   (double)e->bytes / (1024.0 * 1024.0), e->seconds);
    return TSR_SUCCESS;
}

int tsr__balance_propose_halo(tsr_domain *dom, double *mine, tsr_map *to, tsr_halo *nh,
                              tsr_balance_event *e) {
    tsr_ctx ctx = dom->ctx;
    *nh = NULL;
    TSR_CALL(ctx, tsr__balance_propose(dom, mine, to, &e->before, &e->after));
    if (!*to)
        return TSR_SUCCESS;
    int err = tsr__balance_moved(dom->map, *to, NULL, 0, &e->blocks, NULL);
    err = tsr_ctx_agree(ctx, err ? err : tsr__balance_new_halo(dom, *to, nh));
    if (err) {
        tsr_halo_destroy(nh);
        tsr_map_destroy(to);
    }
    return err;
}

int tsr__balance_maybe(tsr_domain *dom, int64_t step, tsr_sweep *sweep, tsr_halo *halo,
                       tsr_field *fields, int nfields) {
    if (!tsr__balance_due(dom, step))
        return TSR_SUCCESS;
    tsr_ctx ctx = dom->balance->ctx;
    tsr_map map = dom->map;
    double t0 = tsr_wtime();
    double *mine = NULL;
    /* Twice the local count: the app's costs, then the sweep's times being reset. */
    int err = tsr__calloc(ctx, (size_t)(2 * map->nlocal + 1), sizeof *mine, &mine);
    if (!err)
        err = local_costs(dom->balance, map, *sweep, mine);
    err = tsr_ctx_agree(ctx, err);
    tsr_map to = NULL;
    tsr_balance_event e = {.step = step};
    if (!err)
        err = tsr__balance_propose(dom, mine, &to, &e.before, &e.after);
    free(mine);
    TSR_CALL(ctx, err);
    if (!to)
        return TSR_SUCCESS;
    /* agreed: a rank that failed must not leave the others in the migration's collectives */
    err = tsr_ctx_agree(ctx, tsr__balance_moved(map, to, fields, nfields, &e.blocks, &e.bytes));
    if (err) {
        tsr_map_destroy(&to);
        TSR_CALL(ctx, err);
    }
    TSR_CALL(ctx, migrate(dom, to, sweep, halo, fields, nfields));
    return tsr__balance_finish(dom, &e, t0);
}

int tsr__balance_report(tsr_balance b) {
    if (!b || b->every <= 0 || b->ctx->rank != 0)
        return TSR_SUCCESS;
    tsr_ctx ctx = b->ctx;
    size_t len = 160 + 200 * (size_t)b->nevents, used = 0;
    char *json = NULL;
    TSR_CALL(ctx, tsr__calloc(ctx, len, 1, &json));
    used += (size_t)snprintf(json, len,
                             "\"rebalance\": {\"every\": %lld, \"threshold\": %.9g, "
                             "\"events\": [",
                             (long long)b->every, b->threshold);
    for (int64_t i = 0; i < b->nevents && used < len; i++) {
        const tsr_balance_event *e = &b->events[i];
        used += (size_t)snprintf(json + used, len - used,
                                 "%s{\"step\": %lld, \"imbalance_before\": %.6g, "
                                 "\"imbalance_after\": %.6g, \"blocks_moved\": %lld, "
                                 "\"bytes_moved\": %lld, \"seconds\": %.9g}",
                                 i ? ", " : "", (long long)e->step, e->before, e->after,
                                 (long long)e->blocks, (long long)e->bytes, e->seconds);
    }
    if (used < len)
        snprintf(json + used, len - used, "]}");
    tsr__report_set_json(ctx, json);
    return TSR_SUCCESS;
}
