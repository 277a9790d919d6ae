/* Private structs of fields, halo plans and sweeps. */
#ifndef TESSERA_FIELD_IMPL_H
#define TESSERA_FIELD_IMPL_H

#include "layout_impl.h"
#include "tessera/field.h"
#include "tessera/halo.h"
#include "tessera/sweep.h"

struct tsr_field_s {
    tsr_ctx ctx;
    tsr_map map;
    int width;
    int ncomp;                               /* components per cell */
    char (*comp_names)[TSR_FIELD_COMP_NAME]; /* ncomp names for files, or NULL */
    char name[64];
    char long_name[128]; /* "" when not set */
    char units[64];
    int64_t nblocks;   /* local blocks */
    double **storage;  /* per local block: the aligned allocation (ncomp arrays of sc doubles) */
    tsr_block *blocks; /* per local block: its view */
};

/* A piece of work: a box (block-local) of local block `block`. */
typedef struct tsr__tile {
    int64_t block;
    tsr_box box;
} tsr__tile;

/* Splits box of local block `block` into tiles of about tile_cells cells, whole x rows first,
 * and appends them to *tiles (growing it). Returns false on allocation failure. */
bool tsr__tile_box(int ndim, int64_t block, const tsr_box *box, int64_t tile_cells,
                   tsr__tile **tiles, int64_t *count, int64_t *cap);

/* Orders tiles of local blocks of `map` for a static schedule, so that each thread gets a band
 * of the grid. With short rows (any local block under 512 cells along x, or 1D), by position in
 * the grid (z, then y, then x of the first cell): the tiles of blocks side by side along x that
 * hold the same rows follow one another, and the ghost columns a tile copies from its neighbour
 * (one cache line per row) are in cache from the neighbour's tile. With long rows those columns
 * are a few lines per row, and block after block (each in position order) is faster: 1.01-1.08x
 * for 16 blocks of 1024^2 at 1x2, while 3D blocks 64 cells wide lose 0.91x that way. The order
 * changes no result. Returns false on allocation failure (the order then stays). */
bool tsr__tiles_order(tsr_map map, tsr__tile *tiles, int64_t n);

/* Rows at least this long (cells) put each block's tiles together. */
#define TSR__BLOCKS_FIRST_ROW 512

/* tsr__tiles_order on a layout and the sorted ids of the local blocks (tiles[].block indexes
 * local): no map, no MPI, for the unit test. */
bool tsr__tiles_order_on(const tsr__layout *lay, const int64_t *local, int64_t nlocal,
                         tsr__tile *tiles, int64_t n);

/* A field on `map` with the width, components, name and description of `like`. With keep (NULL
 * or one entry per local block of `map`), local block i with keep[i] >= 0 uses the storage of
 * like's local block keep[i], which must have the same box: both fields then point to it until
 * the caller takes it from one of them (sets its storage[] entry to NULL). Not collective (a
 * migration agrees once for all its fields); on failure nothing is left allocated. */
int tsr__field_create_like(tsr_field like, tsr_map map, const int64_t *keep, tsr_field *field);

/* Index of block id in a map's sorted local list, or -1. */
int64_t tsr__local_index(tsr_map m, int64_t id);

/* Stands in for a kernel that has failed on this rank: the steps that remain until the ranks
 * agree only exchange, so no neighbour waits for this rank. */
int tsr__skip_kernel(const tsr_block *f, int nf, const tsr_box *box, void *user);

/* An exchange of h's plan alone: the ghosts inside the domain (and across periodic sides), no
 * boundary conditions. Collective. */
int tsr__halo_exchange_inside(tsr_halo h, tsr_field *fields, int nfields);
/* The next exchange of h is tracked (tsr__xplan_track: chg per local block, nbr set per local
 * block). Not collective, but every rank must track the same exchanges. */
int tsr__halo_track(tsr_halo h, const uint8_t *chg, uint8_t *nbr);
/* The next exchange of h leaves its same-rank x-face copies to the caller's tiles
 * (tsr__xplan_defer_columns, tsr__xplan_copy_columns, tsr__xplan_columns_done). Not
 * collective. */
void tsr__halo_defer_columns(tsr_halo h);
void tsr__halo_copy_columns(tsr_halo h, int64_t local, const tsr_box *tile);
void tsr__halo_columns_done(tsr_halo h);
/* How many of h's exchanges left their columns to the tiles (for the tests). Not collective. */
int64_t tsr__halo_columns_deferred(tsr_halo h);
/* Whether h's boundary ghosts never depend on time (tsr__bc_timeless). */
bool tsr__halo_timeless(tsr_halo h);
/* One step of a two-level scheme that skips blocks at rest: fields[0 .. nstate) are the states,
 * exchanged, fields[nstate .. 2 nstate) what the step writes. A block is at rest when the last
 * step changed none of its cells and none of the cells of the blocks its ghosts come from; the
 * kernel is not called on it, and its unchanged ghost pieces are not moved. The sweep remembers
 * which blocks changed between calls: the fields must be the same pair, swapped each step, and
 * nothing else may write them (tsr__sweep_rest_forget starts over). Collective. */
int tsr__sweep_rest_step(tsr_sweep s, tsr_halo halo, tsr_field *fields, int nstate,
                         tsr_kernel kernel, void *user, bool overlap);
/* tsr_sweep_apply_exchange for a kernel that does not write fields[0 .. nexchange) (a state
 * read, a new level written, as in the run loop): the ghosts of x faces copied between blocks of
 * this rank are then copied tile by tile, just before the kernel reads them, instead of in one
 * pass at the exchange's begin (same bits). Collective. */
int tsr__sweep_step_exchange(tsr_sweep s, tsr_halo halo, int nexchange, tsr_field *fields,
                             int nfields, tsr_kernel kernel, void *user, bool overlap);
void tsr__sweep_rest_forget(tsr_sweep s);
/* After a migration that refilled the ghosts of both levels (fields as for tsr__sweep_rest_step),
 * for the blocks that arrived (those that stayed keep their bits through tsr__sweep_rebuild): a
 * block whose levels differ changed in the last step, one whose levels agree did not, and either
 * way every ghost holds what its level's next exchange would put there. Not collective. */
void tsr__sweep_rest_learn(tsr_sweep s, tsr_field *fields, int nstate);
/* A sweep like s (reach, tile size) over the local blocks of another map. Not collective. */
int tsr__sweep_rebuild(tsr_sweep s, tsr_map map, tsr_sweep *out);

#endif
