/* Private structs of grid, decomposition and map, and the pure algorithms behind them (no MPI),
 * which the unit tests call directly. */
#ifndef TESSERA_LAYOUT_IMPL_H
#define TESSERA_LAYOUT_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "context_impl.h"
#include "tessera/decomp.h"
#include "tessera/grid.h"
#include "tessera/map.h"

struct tsr_grid_s {
    tsr_ctx ctx;
    tsr_extents size;
    bool periodic[TSR_MAX_DIM];
};

/* The geometry of a decomposition: everything the algorithms need, nothing about MPI. */
typedef struct tsr__layout {
    int ndim;
    int64_t n[TSR_MAX_DIM]; /* grid cells per dimension (1 past ndim) */
    bool periodic[TSR_MAX_DIM];
    int64_t nb[TSR_MAX_DIM];    /* blocks per dimension (1 past ndim) */
    int64_t *cuts[TSR_MAX_DIM]; /* nb[d] + 1 offsets per dimension; block i spans cuts[i..i+1) */
    int64_t nblocks;
} tsr__layout;

struct tsr_decomp_s {
    tsr_ctx ctx;
    tsr_grid grid;
    tsr__layout lay;
};

/* A map every rank computes for itself (map_rule.c): a block's owner in O(curve levels), a rank's
 * blocks in O(its blocks), nothing of the size of the block count. */
typedef struct tsr__rule {
    const tsr__layout *lay;
    tsr_map_strategy strategy;
    int nranks, bits;
    bool curve;             /* Hilbert or Morton keys; otherwise the key is the block id */
    unsigned __int128 keys; /* the key space: [0, keys) */
    int64_t total;          /* cells of the grid */
    /* A weighted map: nranks + 1 keys, rank r's blocks those with keys in [starts[r],
     * starts[r + 1]) (starts[nranks] = keys); the map's. NULL: cells as weights. */
    uint64_t *starts;
} tsr__rule;

struct tsr_map_s {
    tsr_ctx ctx;
    tsr_decomp decomp;
    tsr_map_strategy strategy;
    bool ruled; /* owners from `rule` (cells or cut points), no table (above TESSERA_MAP_TABLE_MAX)
                 */
    tsr__rule rule;
    /* block -> rank, all blocks; NULL for a ruled map until needed, and for a sparse map on
     * ranks other than 0 */
    int *owner;
    /* A map neither ruled nor a table (knapsack, or blocks heavier than a rank's share, above
     * TESSERA_MAP_TABLE_MAX blocks; map_sparse.c): rank 0 keeps the table, every other rank the
     * owners it knows, sorted by id: its blocks', the blocks' around them, and those fetched for
     * plans (tsr__map_resolve_pieces, tsr__map_resolve_blocks). */
    bool sparse;
    int64_t nknown;
    int64_t *known_id;
    int *known_owner;
    int64_t nlocal;              /* blocks on this rank */
    int64_t *local;              /* their ids, increasing */
    struct tsr__xplan *plans[4]; /* idle halo plans of this map, kept for reuse (exchange.c) */
};

/* Offsets of nb near-equal pieces of n cells, remainders one cell each to the first pieces. */
void tsr__cuts(int64_t n, int64_t nb, int64_t *cuts);

/* The rank grid (one block per rank, or the smallest count >= nranks that factors onto the
 * grid) with the least halo surface. Returns false if the grid has fewer cells than ranks. */
bool tsr__default_blocks(const tsr_extents *size, const bool *periodic, int nranks,
                         tsr_extents *blocks);

/* Fills lay->cuts (allocated) from lay->n and lay->nb. Returns false on allocation failure. */
bool tsr__layout_cut(tsr__layout *lay);
void tsr__layout_free(tsr__layout *lay);
/* Block coordinates and box of block id. */
void tsr__block_coords(const tsr__layout *lay, int64_t id, int64_t c[TSR_MAX_DIM]);
void tsr__block_box(const tsr__layout *lay, int64_t id, tsr_box *box);
int64_t tsr__block_cells(const tsr__layout *lay, int64_t id);

/* Directions to neighbours: dir[d] in {-1, 0, 1}. A stencil visits TSR_MAX_DIRS at most. */
#define TSR_MAX_DIRS 26
int tsr__directions(int ndim, tsr_stencil stencil, int dirs[TSR_MAX_DIRS][TSR_MAX_DIM]);
/* The neighbour of block id in direction dir, wrapping periodic dimensions; -1 if none. */
int64_t tsr__neighbor(const tsr__layout *lay, int64_t id, const int dir[TSR_MAX_DIM]);
int64_t tsr__box_cells(const tsr_box *b);

/* The first dimension along which some block is narrower than `width` while having a neighbour
 * there; -1 if none. *block receives that block's id. */
int tsr__width_violation(const tsr__layout *lay, int width, int64_t *block);

/* Assigns every block an owner in [0, nranks). weights may be NULL (cells). Returns false on
 * allocation failure. */
bool tsr__map_assign(const tsr__layout *lay, tsr_map_strategy s, const double *weights, int nranks,
                     int *owner);
/* Hilbert and Morton indices of block coordinates on a 2^bits grid per dimension. */
uint64_t tsr__hilbert_index(int ndim, int bits, const uint32_t coord[TSR_MAX_DIM]);
/* The inverses: the coordinates of a key. */
void tsr__hilbert_axes(int ndim, int bits, uint64_t key, uint32_t coord[TSR_MAX_DIM]);
void tsr__morton_axes(int ndim, int bits, uint64_t key, uint32_t coord[TSR_MAX_DIM]);

/* Whether strategy s, weighted by block cells, can be computed so for nranks: contiguous,
 * round-robin, Morton or Hilbert with no block heavier than a rank's share. The owners then equal
 * tsr__map_assign's with no weights. */
bool tsr__rule_applies(const tsr__layout *lay, tsr_map_strategy s, int nranks);
void tsr__rule_init(tsr__rule *r, const tsr__layout *lay, tsr_map_strategy s, int nranks);
int tsr__rule_owner(const tsr__rule *r, int64_t id);
/* Rank `rank`'s blocks, increasing (*ids: the caller's, free()). False when out of memory. */
bool tsr__rule_local(const tsr__rule *r, int rank, int64_t *count, int64_t **ids);

/* Whether a weighted map of strategy s can be kept as cut points along its curve: contiguous,
 * Morton or Hilbert with keys in 63 bits (the owners rise along the curve). */
bool tsr__starts_apply(const tsr__layout *lay, tsr_map_strategy s, int nranks);
/* The cut points of tsr__map_assign's weighted map (weights by block id, checked finite and
 * >= 0) into starts[0 .. nranks], and when owner is not NULL every block's owner: the total in
 * id order, then the curve walked once in key order, O(blocks) time, nothing allocated. A rule
 * given them (r->starts) finds an owner by binary search, O(log nranks). */
void tsr__weighted_starts(const tsr__layout *lay, tsr_map_strategy s, const double *weights,
                          int nranks, uint64_t *starts, int *owner);
/* Every block's owner from a rule, in one walk along the curve: O(blocks + P), no sort. */
void tsr__rule_owners(const tsr__rule *r, int *owner);
/* The rank whose key range [starts[r], starts[r + 1]) holds `key`. */
int tsr__starts_owner(const uint64_t *starts, int nranks, uint64_t key);

/* A sparse map's owner of block id as this rank knows it, -1 if it does not: binary search. */
static inline int tsr__map_known(tsr_map m, int64_t id) {
    int64_t lo = 0, hi = m->nknown;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (m->known_id[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->nknown && m->known_id[lo] == id ? m->known_owner[lo] : -1;
}
/* A block's owner: the table's, the rule's, or what this rank knows of a sparse map (-1 for a
 * block it does not know; never one of its own). No allocation; safe from threads. */
static inline int tsr__map_owner_of(tsr_map m, int64_t id) {
    return m->owner    ? m->owner[id]
           : m->sparse ? tsr__map_known(m, id)
                       : tsr__rule_owner(&m->rule, id);
}
/* The blocks own[0..n) and every block within one cell of them (corners and periodic images
 * included), unsorted and with repeats, into *ids (grown as needed; *cap its capacity): what
 * rank 0 sends a rank of a sparse map. Pure; false when out of memory. */
bool tsr__map_around(const tsr__layout *lay, const int64_t *own, int64_t n, int64_t **ids,
                     int64_t *count, int64_t *cap);
/* The blocks of each rank, a counting sort of owner[0..n): rank r's ids, increasing, are
 * byrank[first[r] .. first[r + 1]). first has nranks + 1 entries. Pure. */
void tsr__blocks_by_rank(const int *owner, int64_t n, int nranks, int64_t *first, int64_t *byrank);
/* A map's list of local blocks: the ids (NULL: 0 .. n-1) whose owner[i] is this rank. Local. */
int tsr__map_list_local(tsr_map m, const int64_t *ids, const int *owner, int64_t n);
/* Sorts n (id, owner) pairs by id and drops repeated ids; *n becomes the count kept. Pure;
 * false when out of memory. */
bool tsr__map_known_sort(int64_t *ids, int *owners, int64_t *n);
/* A sparse map's lists, once rank 0 has its table in m->owner: rank 0 sends every other rank its
 * blocks and the owners around them; sets each rank's local list. Collective. */
int tsr__map_sparse_lists(tsr_map m);
/* Makes sure this rank knows the owners of ids[0..n) (block ids; negative ones ignored) of a
 * sparse map, fetching them from rank 0. Collective for a sparse map, nothing otherwise. */
int tsr__map_resolve_blocks(tsr_map m, int64_t n, const int64_t *ids);
/* Every block's owner, made (once, O(blocks)) for a ruled map; NULL when out of memory, and on
 * ranks other than 0 for a sparse map. For the rare whole-map users on rank 0 (rebalancing, the
 * plan); not from threads. */
const int *tsr__map_owners(tsr_map m);
uint64_t tsr__morton_index(int ndim, int bits, const uint32_t coord[TSR_MAX_DIM]);

/* Per-rank figures of a plan. */
typedef struct tsr__rank_stats {
    int64_t blocks;
    int64_t cells;
    int64_t halo_bytes; /* sent per exchange of one double field */
    int64_t peers;      /* ranks it sends to */
} tsr__rank_stats;

/* Fills stats[0 .. nranks) for one exchange of a double field. Returns false on allocation
 * failure. */
bool tsr__plan_stats(const tsr__layout *lay, const int *owner, int nranks, int width,
                     tsr_stencil stencil, tsr__rank_stats *stats);

#endif
