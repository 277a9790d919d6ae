/* Rebalancing: per-block costs (measured by the sweep, or given by the app) gathered by rank 0,
 * a new map from the weighted strategies when the predicted imbalance gain passes a threshold,
 * and the blocks migrated with every field of the run. */
#ifndef TESSERA_BALANCE_H
#define TESSERA_BALANCE_H

#include <stdbool.h>
#include <stdint.h>

#include "map.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tsr_balance_s *tsr_balance;

/* The app's own cost of each of this rank's blocks since the previous call (ids: the map's local
 * blocks, increasing; costs: n values to fill, finite and >= 0). A deterministic measure (cells
 * updated, particles) makes the decisions reproducible; without one the sweep's measured compute
 * time is used. Called on every rank at every rebalancing check; returns 0 or an error code. */
typedef int (*tsr_balance_cost_fn)(const int64_t *ids, int64_t n, double *costs, void *user);

/* Called on every rank right after the blocks migrated to `map` (the fields are on it, their
 * ghosts exchanged), before the next step: what the app keeps per local block is stale. Also
 * called by tsr_domain_balance_initial when it adopts a map, before any field exists. Returns
 * 0 or an error code. */
typedef int (*tsr_balance_migrated_fn)(tsr_map map, void *user);

/* What one rebalance did (the same on every rank). */
typedef struct tsr_balance_event {
    int64_t step;
    double before, after; /* predicted imbalance, max/mean rank cost, of the old and new maps */
    int64_t blocks;       /* blocks that changed rank */
    int64_t bytes;        /* bytes of field data they carried (every field, every component) */
    double seconds;       /* wall time of the decision and the migration, slowest rank */
} tsr_balance_event;

/* A rebalancer checking every `every` steps (0: never) and adopting a new map when the predicted
 * imbalance improves by more than `threshold` (old/new > threshold; must be > 1). Rank 0
 * validates both values; every rank fails alike. Collective. */
int tsr_balance_create(tsr_ctx ctx, int64_t every, double threshold, tsr_balance *b);
/* Frees the rebalancer (NULL is fine) and sets *b to NULL. Not collective. */
int tsr_balance_destroy(tsr_balance *b);

/* Installs the app's cost and migration hooks (either may be NULL); `user` is passed to both.
 * Not collective (every rank must install the same kind of cost). */
int tsr_balance_set_hooks(tsr_balance b, tsr_balance_cost_fn cost, tsr_balance_migrated_fn migrated,
                          void *user);

/* The checking period (0: off) and the threshold. Not collective. */
int64_t tsr_balance_every(tsr_balance b);
double tsr_balance_threshold(tsr_balance b);

/* The rebalances done so far, oldest first; the array is owned by b and valid until the next
 * rebalance. Not collective. */
int tsr_balance_events(tsr_balance b, int64_t *count, const tsr_balance_event **events);

/* Imbalance of an assignment: max over ranks of the summed costs of their blocks, divided by the
 * mean; 1 when every cost is 0. A pure function. */
double tsr_balance_imbalance(int64_t nblocks, const double *costs, const int *owner, int nranks);

#ifdef __cplusplus
}
#endif
#endif
