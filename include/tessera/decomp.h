/* The grid cut into blocks: a tensor product of cuts per dimension, uneven sizes allowed. */
#ifndef TESSERA_DECOMP_H
#define TESSERA_DECOMP_H

#include <stdbool.h>
#include <stdint.h>

#include "grid.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tsr_decomp_s *tsr_decomp;

/* How to cut. Give at most one of `blocks` and `block_size` (ndim 0 = not given); with neither,
 * one block per rank on the rank grid with the least halo surface. */
typedef struct tsr_decomp_opts {
    tsr_extents blocks;     /* blocks per dimension, e.g. 8x8 */
    tsr_extents block_size; /* target cells per block per dimension; blocks = ceil(n / size) */
    bool allow_idle;        /* allow fewer blocks than ranks (some ranks get none) */
} tsr_decomp_opts;

/* Cuts the grid. Remainders are spread one cell at a time over the first blocks. The cuts are
 * computed and validated on rank 0 and broadcast; bad requests (more blocks than cells, fewer
 * blocks than ranks without allow_idle, mismatched dimensions) give TSR_ERR_INPUT on every
 * rank. Keeps a reference to `grid`, which must outlive the decomposition. Collective. */
int tsr_decomp_create(tsr_grid grid, const tsr_decomp_opts *opts, tsr_decomp *decomp);
/* Frees the decomposition and sets *decomp to NULL (NULL is fine). Maps made from it must be
 * destroyed first. Not collective. */
int tsr_decomp_destroy(tsr_decomp *decomp);

tsr_grid tsr_decomp_grid(tsr_decomp d);
int64_t tsr_decomp_nblocks(tsr_decomp d);
int64_t tsr_decomp_blocks_along(tsr_decomp d, int dim);
/* The global box of block `id` (ids run x fastest over the block grid). Not collective. */
int tsr_decomp_block_box(tsr_decomp d, int64_t id, tsr_box *box);
int64_t tsr_decomp_block_cells(tsr_decomp d, int64_t id);

/* The contiguous share [*lo, *hi) of `n` items for part `part` of `parts`: sizes differ by at
 * most one, the larger shares first. For splitting a 1D set of items (particles, rows) without a
 * grid. TSR_ERR_ARG for n < 0, parts < 1 or part outside 0..parts-1. Not collective. */
int tsr_split_range(int64_t n, int parts, int part, int64_t *lo, int64_t *hi);

#ifdef __cplusplus
}
#endif
#endif
