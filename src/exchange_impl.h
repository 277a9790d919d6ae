/* The exchange engine: every movement of field data between blocks (halo fill of any width,
 * remap between maps and decompositions) is a copy plan built from box intersections. */
#ifndef TESSERA_EXCHANGE_IMPL_H
#define TESSERA_EXCHANGE_IMPL_H

#include "field_impl.h"

/* Fields and components one exchange moves at most. */
#define TSR_X_MAX_FIELDS 8
#define TSR_X_MAX_COMPS 64

/* What a destination block receives: regions around (halo) or equal to (remap) its box. Region
 * k spans, along each dimension d, [lo - width, lo) when dirs[k][d] < 0, [hi, hi + width) when
 * dirs[k][d] > 0 and [lo, hi) when 0. A halo's regions are the stencil's directions; a remap has
 * one region, direction 0, width 0. Periodic images are taken only when width > 0. */
typedef struct tsr__regions {
    int n;
    int width;
    int dirs[TSR_MAX_DIRS][TSR_MAX_DIM];
} tsr__regions;

/* One piece of a plan: box sb of source block src fills box db of destination block dst
 * (block-local coordinates), through region `region` and periodic image `image` (the source
 * seen shifted by image[d] grid lengths). (dst, region, src, image) is unique and orders the
 * pieces the same way on both sides of a message. */
typedef struct tsr__piece {
    int64_t dst, src;
    int region;
    int image[TSR_MAX_DIM];
    tsr_box db, sb;
} tsr__piece;

/* Receives each piece; returns false to stop (allocation failure). */
typedef bool (*tsr__piece_fn)(const tsr__piece *p, void *user);

/* The halo's regions for a stencil and width. */
void tsr__regions_halo(int ndim, tsr_stencil stencil, int width, tsr__regions *r);
/* The remap's single region. */
void tsr__regions_remap(tsr__regions *r);

/* Every piece that fills destination block t of layout D from the blocks of layout S (same grid
 * size), found by searching S's cuts: O(pieces + log blocks). False if fn stopped. */
bool tsr__pieces_into(const tsr__layout *D, int64_t t, const tsr__layout *S, const tsr__regions *R,
                      tsr__piece_fn fn, void *user);
/* Every piece that source block s of layout S sends to the blocks of layout D. */
bool tsr__pieces_from(const tsr__layout *S, int64_t s, const tsr__layout *D, const tsr__regions *R,
                      tsr__piece_fn fn, void *user);

/* Sparse maps (map_sparse.c): makes sure this rank knows the owner of every source block of the
 * pieces into its blocks of `to` when `from` is sparse, and of every destination block of the
 * pieces from its blocks of `from` when `to` is. Collective when either map is sparse (the same
 * on every rank), nothing otherwise. */
int tsr__map_resolve_pieces(tsr_map from, tsr_map to, const tsr__regions *R);

typedef struct tsr__xplan tsr__xplan;

/* Builds the plan of this rank: receives for the local blocks of `to`, sends from the local
 * blocks of `from`, same-rank pieces copied directly. Checks that no message exceeds MPI's int
 * count and agrees on the outcome. Collective. */
int tsr__xplan_create(tsr_map from, tsr_map to, const tsr__regions *R, tsr__xplan **plan);
void tsr__xplan_destroy(tsr__xplan **plan);

/* Starts moving src[f] (on `from`) into dst[f] (on `to`), all components: posts receives, packs
 * and sends, copies local pieces. src and dst may be the same fields (halo fill). */
int tsr__xplan_begin(tsr__xplan *p, tsr_field *src, tsr_field *dst, int nfields);
/* Waits and unpacks. */
int tsr__xplan_end(tsr__xplan *p);

/* Columns, for the next tsr__xplan_begin only (never with tracking): the same-rank copies into
 * the ghosts beside a block's owned rows along x (star-stencil faces; a cache line per row on
 * both sides, the costly part of copying ghosts between a rank's own blocks) are left out of the
 * begin. The caller copies them with tsr__xplan_copy_columns, tile by tile, just before a kernel
 * reads them, from sources that the sweep reads at about the same time, and then calls
 * tsr__xplan_columns_done. Sound only while nothing writes the exchanged fields between the
 * begin and the last copy. */
void tsr__xplan_defer_columns(tsr__xplan *p);
/* Copies the columns into local block `local` that tile box `tile` (block-local coordinates)
 * reads with a star stencil: those on the x sides the tile touches, rows within the tile's. Safe
 * from concurrent threads on tiles that do not share a row. */
void tsr__xplan_copy_columns(tsr__xplan *p, int64_t local, const tsr_box *tile);
/* Ends the deferral (and cancels a request whose begin never came). */
void tsr__xplan_columns_done(tsr__xplan *p);
/* How many begins of p left their columns to the tiles (for the tests). */
int64_t tsr__xplan_columns_deferred(const tsr__xplan *p);

/* Change tracking, for the next tsr__xplan_begin/end pair only: chg[i] tells, for local block i
 * of `from`, whether the last step (TSR_X_CHANGED_LAST) or the one before (TSR_X_CHANGED_BEFORE)
 * changed it, the same for every field of the exchange. A piece whose source changed in neither
 * is not moved: that needs the destination's ghosts to hold what the previous exchange of the
 * same fields, two steps ago, put there, so every exchange of those fields must be tracked.
 * nbr[i] is set to 1 for each local block i of `to` that receives a piece whose source changed
 * in the last step (the caller clears it). Messages carry one flag per piece, so both sides of
 * every message must track alike. */
#define TSR_X_CHANGED_LAST 1u
#define TSR_X_CHANGED_BEFORE 2u
void tsr__xplan_track(tsr__xplan *p, const uint8_t *chg, uint8_t *nbr);

/* Whether tsr_halo_begin writes the boundary conditions (none, or only constant values, which
 * depend on nothing an exchange brings), so that the ghosts outside the grid are in place for the
 * interior of an overlapped sweep; otherwise tsr_halo_end writes them. Not collective. */
bool tsr__halo_bc_early(tsr_halo h);

/* Plans from a map to itself (halos) are kept when their user is done with them and handed out
 * again for the same regions: tsr__xplan_acquire builds a plan or takes an idle one (every rank
 * agrees on which, so it stays collective), tsr__xplan_release gives it back (the oldest idle
 * plan of a map goes when more than 4 wait). tsr__xcache_free frees a map's idle plans when the
 * map goes. */
int tsr__xplan_acquire(tsr_map from, tsr_map to, const tsr__regions *R, tsr__xplan **plan);
void tsr__xplan_release(tsr__xplan **plan);
void tsr__xcache_free(tsr_map map);

/* Peers this rank sends to, cells it sends and receives from other ranks, and cells copied on
 * the rank, per scalar field. */
void tsr__xplan_stats(const tsr__xplan *p, int *send_peers, int64_t *send_cells,
                      int64_t *recv_cells, int64_t *copy_cells);

#endif
