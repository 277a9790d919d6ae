/* Block-to-rank assignment, computed by the coordinator on rank 0 and broadcast. */
#ifndef TESSERA_MAP_H
#define TESSERA_MAP_H

#include <stdint.h>
#include <stdio.h>

#include "decomp.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tsr_map_strategy {
    TSR_MAP_CONTIGUOUS, /* blocks in id order, cut into runs of about equal weight */
    TSR_MAP_ROUNDROBIN, /* block i to rank i mod size */
    TSR_MAP_SFC,        /* Hilbert order over block coordinates, then contiguous cuts */
    TSR_MAP_MORTON,     /* Morton (Z) order over block coordinates, then contiguous cuts */
    TSR_MAP_KNAPSACK,   /* largest weight first to the least loaded rank */
    TSR_MAP_COUNT
} tsr_map_strategy;

/* Names in enum order, NULL-terminated: usable with tsr_opts_add_choice. */
extern const char *const tsr_map_strategy_names[];

/* Halo shapes: faces only, or faces, edges and corners. */
typedef enum tsr_stencil { TSR_STENCIL_STAR, TSR_STENCIL_BOX } tsr_stencil;

typedef struct tsr_map_s *tsr_map;

/* Assigns blocks to ranks. weights[i] is block i's cost (NULL: its cell count) and is read on
 * rank 0 only. Rank 0 computes the assignment and broadcasts it. Above TESSERA_MAP_TABLE_MAX
 * blocks it broadcasts a curve map's cut points only, or nothing for a map by cells, which each
 * rank computes itself; any other map (knapsack) rank 0 keeps as a table and sends each other
 * rank its blocks and the owners of the blocks around them. Keeps a reference to `decomp`, which
 * must outlive the map. Collective. */
int tsr_map_create(tsr_decomp decomp, tsr_map_strategy strategy, const double *weights,
                   tsr_map *map);
/* Frees the map and the halo plans it caches, and sets *map to NULL (NULL is fine). Fields,
 * halos and sweeps on it must be destroyed first. Not collective. */
int tsr_map_destroy(tsr_map *map);

tsr_decomp tsr_map_decomp(tsr_map m);
tsr_map_strategy tsr_map_get_strategy(tsr_map m);
/* The rank owning a block, or -1 for an id out of range. On a knapsack map above
 * TESSERA_MAP_TABLE_MAX blocks a rank other than 0 knows only its blocks, those within one cell
 * of them, and those its exchange plans have needed: -1 for any other. Not collective. */
int tsr_map_owner(tsr_map m, int64_t block);
/* Blocks this rank owns, in increasing id order; the array is owned by the map. */
int tsr_map_local_blocks(tsr_map m, int64_t *count, const int64_t **ids);

/* Per rank: blocks, cells and halo bytes sent per exchange of one double field with this width
 * and stencil, plus imbalance (max/mean cells); warns about idle ranks and halos wider than a
 * block. Up to 64 ranks a line per rank; above, min/mean/max, a histogram of cells per rank and
 * the 10 most loaded ranks. Rank 0 writes to `out`; the others do nothing. Not collective. */
int tsr_map_print_plan(tsr_map m, int width, tsr_stencil stencil, FILE *out);
/* As tsr_map_print_plan, with a line per rank at any number of ranks (--plan-full). */
int tsr_map_print_plan_table(tsr_map m, int width, tsr_stencil stencil, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
