/* The global index space: 1 to 3 dimensions, 64-bit sizes, periodicity per dimension. */
#ifndef TESSERA_GRID_H
#define TESSERA_GRID_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TSR_MAX_DIM 3

/* Sizes along x, y, z (x varies fastest); dimensions past ndim are 1. */
typedef struct tsr_extents {
    int ndim;
    int64_t n[TSR_MAX_DIM];
} tsr_extents;

/* A half-open box [lo, hi) of cells. */
typedef struct tsr_box {
    int64_t lo[TSR_MAX_DIM];
    int64_t hi[TSR_MAX_DIM];
} tsr_box;

typedef struct tsr_grid_s *tsr_grid;

/* Parses "N", "NxM" or "NxMxK" into e. Returns TSR_ERR_INPUT with a message on malformed,
 * zero, negative or overflowing sizes. Not collective. */
int tsr_extents_parse(tsr_ctx ctx, const char *what, const char *text, tsr_extents *e);
/* Writes e as "NxM" into buf. */
void tsr_extents_format(const tsr_extents *e, char *buf, int len);
/* Product of the sizes; 0 on overflow. */
int64_t tsr_extents_volume(const tsr_extents *e);

/* Creates a grid of the given sizes; periodic[d] says whether dimension d wraps (NULL: none).
 * Sizes are validated on rank 0 and the verdict is shared. Collective. */
int tsr_grid_create(tsr_ctx ctx, const tsr_extents *size, const bool *periodic, tsr_grid *grid);
/* Frees the grid and sets *grid to NULL (NULL is fine). Decompositions of it must be destroyed
 * first. Not collective. */
int tsr_grid_destroy(tsr_grid *grid);

int tsr_grid_ndim(tsr_grid g);
int64_t tsr_grid_size(tsr_grid g, int d); /* cells along dimension d (1 past ndim) */
int64_t tsr_grid_cells(tsr_grid g);       /* total cells */
bool tsr_grid_periodic(tsr_grid g, int d);
tsr_ctx tsr_grid_ctx(tsr_grid g);

#ifdef __cplusplus
}
#endif
#endif
