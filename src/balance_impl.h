/* Private part of the balance module: the rank-0 decision as a pure function (unit-tested), and
 * the run loop's two entry points. */
#ifndef TESSERA_BALANCE_IMPL_H
#define TESSERA_BALANCE_IMPL_H

#include "layout_impl.h"
#include "tessera/balance.h"
#include "tessera/domain.h"
#include "tessera/sweep.h"

/* Rank 0's verdict on one set of block costs. */
typedef struct tsr__balance_plan {
    double before, after; /* predicted imbalance of the current and the proposed map */
    bool adopt;           /* before / after > threshold */
    int64_t moved;        /* blocks whose rank would change */
} tsr__balance_plan;

/* The strategy a rebalance uses: the map's own, or knapsack for round-robin (which ignores
 * weights). */
tsr_map_strategy tsr__balance_strategy(tsr_map_strategy s);

/* The weights handed to the map: every cost plus a floor of 1e-3 of the mean, so that blocks
 * measured at zero still spread over the ranks instead of piling onto one. */
void tsr__balance_weights(int64_t nblocks, const double *costs, double *weights);

/* The decision, a pure function: proposes new_owner (nblocks entries) from the costs with the
 * rebalance strategy and the weights above, and fills *plan. Nothing is adopted when every cost
 * is 0. Returns false on allocation failure. */
bool tsr__balance_decide(const tsr__layout *lay, tsr_map_strategy strategy, const double *costs,
                         const int *owner, int nranks, double threshold, int *new_owner,
                         tsr__balance_plan *plan);

/* The step at which the stretch starting at `step` must end at the latest (`next`, or the next
 * rebalancing check before it). Not collective. */
int64_t tsr__balance_next(const tsr_domain *dom, int64_t step, int64_t next);

/* The domain's halo plan rebuilt for `to`, boundary conditions included (NULL when the domain
 * has none). Local: the caller agrees. */
int tsr__balance_new_halo(const tsr_domain *dom, tsr_map to, tsr_halo *nh);

/* At a step where the ranks agree: when a check is due, gathers the block costs, and if rank 0
 * adopts a new map, migrates fields[0 .. nfields) to it, exchanges their ghosts with the new halo
 * plan and replaces dom->map, dom->halo, *halo and *sweep, destroying the old ones. Prints one
 * line and records the event. Nothing when dom is NULL or rebalancing is off. Collective. */
int tsr__balance_maybe(tsr_domain *dom, int64_t step, tsr_sweep *sweep, tsr_halo *halo,
                       tsr_field *fields, int nfields);

/* The pieces of tsr__balance_maybe that a particle run shares (particles_balance.c). */

/* Whether a rebalancing check is due at `step`. Not collective. */
bool tsr__balance_due(const tsr_domain *dom, int64_t step);
/* This rank's block costs from the app's hook into costs[0 .. map->nlocal), *given true; or
 * nothing, *given false, when no hook is installed. Local verdict. */
int tsr__balance_app_costs(tsr_balance b, tsr_map map, double *costs, bool *given);
/* From this rank's block costs `mine` (checked finite and >= 0): rank 0 gathers them, decides,
 * and when it adopts, every rank gets the new map of dom->map's decomposition in *to (the
 * caller's; NULL otherwise); *before and *after receive the predicted imbalances. Collective. */
int tsr__balance_propose(tsr_domain *dom, double *mine, tsr_map *to, double *before, double *after);
/* tsr__balance_propose, then, when rank 0 adopts a map *to: e->before, e->after and e->blocks,
 * and the domain's halo plan rebuilt for *to in *nh (agreed; on failure both are freed and the
 * error returned). *to NULL: nothing adopted. For runs whose data moves after the plan is built
 * (the initial map, particles). Collective. */
int tsr__balance_propose_halo(tsr_domain *dom, double *mine, tsr_map *to, tsr_halo *nh,
                              tsr_balance_event *e);
/* Blocks whose rank differs between two maps of one decomposition into *blocks, and the bytes
 * of fields[0 .. nfields) they carry into *bytes (may be NULL): each rank counts the blocks it
 * gets from others, one MPI_Allreduce sums them. Collective. */
int tsr__balance_moved(tsr_map from, tsr_map to, const tsr_field *fields, int nfields,
                       int64_t *blocks, int64_t *bytes);
/* After the data moved to dom->map: the migration hook, e->seconds (since t0, slowest rank), the
 * record and rank 0's "rebalance" line. Collective. */
int tsr__balance_finish(tsr_domain *dom, tsr_balance_event *e, double t0);

/* Rank 0: puts the "rebalance" member (period, threshold, every event) into the context's report
 * (tsr__report_set_json); nothing when rebalancing is off. Not collective. */
int tsr__balance_report(tsr_balance b);

#endif
