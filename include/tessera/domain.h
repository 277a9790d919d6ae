/* The usual set-up of a halo-coupled run in one call: grid, blocks, map and halo plan, from the
 * standard command-line options. */
#ifndef TESSERA_DOMAIN_H
#define TESSERA_DOMAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "balance.h"
#include "halo.h"
#include "options.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Values of the standard options; set defaults with tsr_domain_opts_init. */
typedef struct tsr_domain_opts {
    tsr_extents grid;              /* --grid */
    tsr_extents blocks;            /* --blocks (ndim 0: not given) */
    tsr_extents block_size;        /* --block-size (ndim 0: not given) */
    int map;                       /* --map, a tsr_map_strategy */
    char periodic[TSR_OPT_STRLEN]; /* --periodic [DIMS]: "" none, "all", or a list ("x,z") */
    bool allow_idle;               /* --allow-idle */
    int64_t halo_width;            /* --halo-width */
    bool plan;                     /* --plan: print the plan summary and exit */
    bool plan_full;                /* --plan-full: --plan with a line per rank at any size */
    bool verify_halo;              /* --verify-halo: run the halo self-test and exit */
    int64_t rebalance_every;       /* --rebalance-every N: check every N steps (0: off) */
    double rebalance_threshold;    /* --rebalance-threshold R: adopt when old/new imbalance > R */
} tsr_domain_opts;

/* Defaults: the given grid, one block per rank, contiguous map, not periodic, width 1, no
 * rebalancing (threshold 1.10). */
void tsr_domain_opts_init(tsr_domain_opts *o, const tsr_extents *grid, int64_t halo_width);

/* The dimensions that wrap, from o->periodic (read against o->grid's dimensions): "" none,
 * "all" every one, else a comma-separated list of x, y, z. An unknown dimension, one past the
 * grid's or one given twice is refused with TSR_ERR_INPUT naming --periodic. Not collective
 * (every rank reaches the same verdict). */
int tsr_domain_periodic(tsr_ctx ctx, const tsr_domain_opts *o, bool periodic[TSR_MAX_DIM]);

/* Registers --grid --blocks --block-size --map --periodic --allow-idle --halo-width --plan
 * --plan-full --verify-halo --rebalance-every --rebalance-threshold, writing into *o. Returns
 * tsr_opts_error(opts): a failure is also reported by tsr_opts_parse, so the result need not be
 * checked. Not collective. */
int tsr_domain_add_options(tsr_opts opts, tsr_domain_opts *o);

/* The handles of a domain; owned by it. halo is NULL in --plan(-full) mode. A run that rebalances
 * (tsr_run.domain) replaces map and halo with new ones and destroys the old: read them from the
 * domain after the run, never keep copies across it. */
typedef struct tsr_domain {
    tsr_ctx ctx;
    tsr_grid grid;
    tsr_decomp decomp;
    tsr_map map;
    tsr_halo halo;
    tsr_stencil stencil;
    int width;
    tsr_balance balance; /* from --rebalance-every/--rebalance-threshold; hooks: the app's */
} tsr_domain;

/* Builds grid, decomposition, map and (unless o->plan or o->plan_full) the halo plan of the given
 * stencil. Every check runs on rank 0 and fails on every rank with one message. Collective. */
int tsr_domain_create(tsr_ctx ctx, const tsr_domain_opts *o, tsr_stencil stencil, tsr_domain *d);
/* Frees everything the domain holds (rebalancer, halo, map, decomposition, grid); fields and
 * halos the caller made on its map must be destroyed first. Not collective. */
int tsr_domain_destroy(tsr_domain *d);

/* The coordinator's first job: when rebalancing is on (--rebalance-every > 0) and a cost hook is
 * installed (tsr_balance_set_hooks), asks it for every local block's cost (an estimate that needs
 * no field data: nothing has run yet), and maps the blocks by those costs exactly as a rebalance
 * would (same strategy, weights and threshold). When rank 0 adopts the new map, d->map and d->halo
 * are replaced (the old ones destroyed), the migration hook is called, one "rebalance at step 0"
 * line is printed and the event is recorded for the report. Nothing otherwise. Call it before any
 * field exists on d->map: a field made earlier would be left on the destroyed map (nothing
 * migrates). Owns nothing new. Collective. */
int tsr_domain_balance_initial(tsr_domain *d);

/* Handles --plan, --plan-full and --verify-halo: prints the plan or runs the self-test and sets
 * *done, so the program can exit. Collective. */
int tsr_domain_run_checks(tsr_domain *d, const tsr_domain_opts *o, bool *done);

/* One line on rank 0: grid, blocks, map, ranks x threads. Not collective. */
void tsr_domain_print_summary(tsr_domain *d, FILE *out);

/* The domain as JSON object members for tsr_report.config_json: grid, periodic, blocks, map,
 * halo width. Truncated to len. Not collective. */
void tsr_domain_config_json(const tsr_domain *d, char *buf, size_t len);

/* The end of a halo-coupled run of `steps` steps in `seconds`: rank 0 prints "MLUP/s <x>" and
 * the per-rank timer table to stdout, and the JSON report goes to report_path (NULL or "":
 * none) with the domain's configuration and its rebalances, replacing an existing file only if
 * `force`. Collective. */
int tsr_domain_report(const tsr_domain *d, const char *app, const char *command_line, int64_t steps,
                      double seconds, const char *report_path, bool force);

#ifdef __cplusplus
}
#endif
#endif
