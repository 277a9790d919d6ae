/* Runs a kernel over the local blocks, tiled, with OpenMP threads. */
#ifndef TESSERA_SWEEP_H
#define TESSERA_SWEEP_H

#include "halo.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A kernel computes the cells of `box` (block-local, half-open) of one block. blocks[f] is the
 * view of fields[f] on that block, so a kernel reads some fields (ghosts included) and writes
 * others. It is called concurrently from several threads on disjoint boxes and returns 0, or
 * non-zero to stop the sweep with TSR_ERR_KERNEL. */
typedef int (*tsr_kernel)(const tsr_block *blocks, int nfields, const tsr_box *box, void *user);

typedef struct tsr_sweep_s *tsr_sweep;

/* Prepares the work lists for a map: tiles of about `tile_cells` cells (0: a default sized for
 * the cache). `reach` is how far the kernel reads past a cell (its stencil radius, at most the
 * halo width); it decides the interior that can be computed while ghosts are in flight. Tiles
 * depend only on block shapes, never on thread counts. Not collective. */
int tsr_sweep_create(tsr_map map, int reach, int64_t tile_cells, tsr_sweep *sweep);
/* Frees the sweep's tile lists and sets *sweep to NULL (NULL is fine). Not collective. */
int tsr_sweep_destroy(tsr_sweep *sweep);

/* Applies the kernel to every owned cell of every local block. Not collective. */
int tsr_sweep_apply(tsr_sweep s, tsr_field *fields, int nfields, tsr_kernel kernel, void *user);

/* The compute time the kernel spent on each local block (costs[i] for the map's i-th local
 * block) since the sweep was made or last reset, measured with one clock read per tile; with
 * `reset`, starts counting again. The rebalancer's default cost. Not collective. */
int tsr_sweep_block_costs(tsr_sweep s, double *costs, bool reset);

/* Exchanges the ghosts of fields[0 .. nexchange) with `halo`, then applies the kernel. With
 * `overlap`, the split phase: begin exchange, interiors, end exchange, boundary shells;
 * otherwise the exchange completes first. Results are identical either way. A kernel that
 * fails (returns non-zero) still lets the exchange complete, and TSR_ERR_KERNEL names the rank,
 * block and code on this rank only. Every rank must call it. */
int tsr_sweep_apply_exchange(tsr_sweep s, tsr_halo halo, int nexchange, tsr_field *fields,
                             int nfields, tsr_kernel kernel, void *user, bool overlap);

/* Advances a two-level scheme `steps` times: each step exchanges *u's ghosts, runs the kernel on
 * {*u, *v} (read u, write v) in the split-phase order, then swaps the handles, so that *u holds
 * the newest state at the end. With `progress`, rank 0 prints a progress line at most once a
 * second. *seconds (may be NULL) receives the loop's wall time between two barriers; with NULL
 * the loop makes no MPI call but the exchange's. When the kernel fails on this rank, the steps
 * that remain only exchange (so no neighbour waits for it) and TSR_ERR_KERNEL, naming the rank,
 * block and code, is returned at the end on this rank: agree on it (tsr_ctx_agree) before the
 * next collective call. Every rank must call it. */
int tsr_sweep_steps(tsr_sweep s, tsr_halo halo, tsr_field *u, tsr_field *v, int64_t steps,
                    tsr_kernel kernel, void *user, bool overlap, bool progress, double *seconds);

/* The deepest temporal blocking tsr_sweep_steps_blocked accepts. */
#define TSR_MAX_TIME_BLOCK 8

/* Like tsr_sweep_steps without overlap, but `k` steps per exchange (temporal blocking, 1 <= k <=
 * TSR_MAX_TIME_BLOCK): one exchange of *u's ghosts, then k steps over each block extended into
 * its ghost layer (step j computes (k - j) * reach cells past the block, never outside a
 * non-periodic grid), so the halo must be at least k * reach wide and, in 2D and 3D with k > 1,
 * carry corners (TSR_STENCIL_BOX). Within a block the k steps advance as a wavefront over slabs
 * of the outermost dimension, step j trailing step j-1 by reach slabs, in strips of the next
 * dimension sized for the cache (ctx's tile size) and skewed by at least reach per step, so a few
 * slabs of every step stay in cache while each array streams through memory once per k steps.
 * Threads take strips in turn, each waiting only for the strip before its own (no barrier per
 * slab). The results are bit-identical to tsr_sweep_steps. Kernel failures are handled as by
 * tsr_sweep_steps. Every rank must call it. */
int tsr_sweep_steps_blocked(tsr_sweep s, tsr_halo halo, tsr_field *u, tsr_field *v, int64_t steps,
                            int k, tsr_kernel kernel, void *user, bool progress, double *seconds);

#ifdef __cplusplus
}
#endif
#endif
