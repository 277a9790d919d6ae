/* Maps from weights given to tsr_map_create (read on rank 0 only) at 1-4 ranks, through the
 * public API: contiguous, Hilbert, Morton and knapsack, 2D and 3D, uneven and all-zero weights.
 * Every rank must see the same owner for every block, list exactly its own blocks, and exchange
 * a halo on the map and remap to and from it; a bad weight fails on every rank with one message.
 * Run with the default table limit and with TESSERA_MAP_TABLE_MAX=0 (curve maps then keep only
 * their cut points, knapsack maps only rank 0 its table: the other ranks may not know far owners).
 * Every check is on a collectively agreed value. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <tessera.h>

static int passed, failed;

#include "expect.h"

static double sum_all(tsr_ctx ctx, double v, tsr_reduce_op op) {
    double out = 0;
    tsr_reduce_doubles(ctx, &v, 1, op, &out);
    return out;
}

/* Whether every rank that knows a block's owner holds the same one, in range, and rank 0 knows
 * every block. With `partial` (a knapsack map above TESSERA_MAP_TABLE_MAX: rank 0 keeps the
 * table, every other rank its blocks and those around them) other ranks may answer -1. */
static bool same_everywhere(tsr_ctx ctx, tsr_map map, int64_t nblocks, bool partial) {
    int64_t diff = 0;
    bool root = tsr_ctx_rank(ctx) == 0;
    for (int64_t i = 0; i < nblocks; i++) {
        double mine = tsr_map_owner(map, i);
        bool known = mine >= 0;
        double lo = sum_all(ctx, known ? mine : INFINITY, TSR_REDUCE_MIN);
        double hi = sum_all(ctx, known ? mine : -INFINITY, TSR_REDUCE_MAX);
        diff += lo != hi;
        diff += !known && (root || !partial);
        diff += mine >= tsr_ctx_size(ctx);
    }
    return sum_all(ctx, (double)diff, TSR_REDUCE_SUM) == 0;
}

/* Whether every rank knows the owner of each block next to one of its own (what a halo of one
 * cell reads), corners and all. */
static bool knows_around(tsr_ctx ctx, tsr_decomp d, tsr_map map, int ndim) {
    int64_t count = 0, bad = 0;
    const int64_t *ids = NULL;
    tsr_map_local_blocks(map, &count, &ids);
    int64_t nb[3] = {1, 1, 1};
    for (int k = 0; k < ndim; k++)
        nb[k] = tsr_decomp_blocks_along(d, k);
    for (int64_t k = 0; k < count; k++) {
        int64_t c[3] = {ids[k] % nb[0], ids[k] / nb[0] % nb[1], ids[k] / (nb[0] * nb[1])};
        for (int dz = -1; dz <= 1; dz++)
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int64_t x = c[0] + dx, y = c[1] + dy, z = c[2] + dz;
                    if (x < 0 || y < 0 || z < 0 || x >= nb[0] || y >= nb[1] || z >= nb[2])
                        continue;
                    bad += tsr_map_owner(map, x + nb[0] * (y + nb[1] * z)) < 0;
                }
    }
    return sum_all(ctx, (double)bad, TSR_REDUCE_SUM) == 0;
}

/* A field of each block's id remapped to the contiguous map and back: every cell right (the
 * remap plans need owners far from a rank's blocks). */
static bool remap_round_trip(tsr_ctx ctx, tsr_decomp d, tsr_map m) {
    tsr_map c = NULL;
    tsr_field f = NULL, g = NULL;
    tsr_remap there = NULL, back = NULL;
    int err = tsr_map_create(d, TSR_MAP_CONTIGUOUS, NULL, &c);
    if (!err)
        err = tsr_field_create(m, 1, "f", &f);
    if (!err)
        err = tsr_field_create(c, 1, "g", &g);
    for (int64_t i = 0; !err && i < tsr_field_local_blocks(f); i++) {
        tsr_block b;
        tsr_field_get_block(f, i, &b);
        for (int64_t z = 0; z < b.n[2]; z++)
            for (int64_t y = 0; y < b.n[1]; y++)
                for (int64_t x = 0; x < b.n[0]; x++)
                    TSR_AT(&b, x, y, z) = (double)b.id;
        tsr_field_restore_block(f, i, &b);
    }
    if (!err)
        err = tsr_remap_create(m, c, &there);
    if (!err)
        err = tsr_remap_create(c, m, &back);
    if (!err)
        err = tsr_remap_execute(there, &f, &g, 1);
    if (!err)
        err = tsr_field_fill(f, -1.0);
    if (!err)
        err = tsr_remap_execute(back, &g, &f, 1);
    int64_t bad = err ? 1 : 0;
    for (int pass = 0; !err && pass < 2; pass++) {
        tsr_field h = pass ? f : g;
        for (int64_t i = 0; i < tsr_field_local_blocks(h); i++) {
            tsr_block b;
            tsr_field_get_block(h, i, &b);
            for (int64_t z = 0; z < b.n[2]; z++)
                for (int64_t y = 0; y < b.n[1]; y++)
                    for (int64_t x = 0; x < b.n[0]; x++)
                        bad += TSR_AT(&b, x, y, z) != (double)b.id;
            tsr_field_restore_block(h, i, &b);
        }
    }
    tsr_remap_destroy(&back);
    tsr_remap_destroy(&there);
    tsr_field_destroy(&g);
    tsr_field_destroy(&f);
    tsr_map_destroy(&c);
    return sum_all(ctx, (double)bad, TSR_REDUCE_SUM) == 0;
}

/* Whether each rank lists, increasing, exactly the blocks the map gives it. */
static bool lists_own(tsr_ctx ctx, tsr_map map, int64_t nblocks) {
    int64_t count = 0, bad = 0, mine = 0;
    const int64_t *ids = NULL;
    tsr_map_local_blocks(map, &count, &ids);
    for (int64_t k = 0; k < count; k++)
        bad += tsr_map_owner(map, ids[k]) != tsr_ctx_rank(ctx) || (k > 0 && ids[k] <= ids[k - 1]);
    for (int64_t i = 0; i < nblocks; i++)
        mine += tsr_map_owner(map, i) == tsr_ctx_rank(ctx);
    bad += mine != count;
    return sum_all(ctx, (double)bad, TSR_REDUCE_SUM) == 0 &&
           sum_all(ctx, (double)count, TSR_REDUCE_SUM) == (double)nblocks;
}

static void weights_of(int kind, int64_t n, double *w) {
    for (int64_t i = 0; i < n; i++)
        w[i] = kind == 0   ? 1.0 + (double)((i * 7919) % 13)
               : kind == 1 ? (i == n / 2 ? 1e9 : 1.0)
                           : 0;
}

static void test_shape(tsr_ctx ctx, int ndim, const int64_t *n, const int64_t *nb) {
    tsr_extents size = {.ndim = ndim, .n = {n[0], n[1], n[2]}};
    tsr_decomp_opts o = {.allow_idle = true, .blocks = {.ndim = ndim, .n = {nb[0], nb[1], nb[2]}}};
    tsr_grid g = NULL;
    tsr_decomp d = NULL;
    int err = tsr_grid_create(ctx, &size, NULL, &g);
    if (!err)
        err = tsr_decomp_create(g, &o, &d);
    EXPECT(ctx, err == TSR_SUCCESS, "%dD decomposition", ndim);
    if (err)
        return;
    int64_t nblocks = nb[0] * nb[1] * nb[2];
    double *w = malloc(sizeof *w * (size_t)nblocks);
    static const tsr_map_strategy strategies[] = {TSR_MAP_CONTIGUOUS, TSR_MAP_SFC, TSR_MAP_MORTON,
                                                  TSR_MAP_KNAPSACK};
    for (int kind = 0; w && kind < 3; kind++)
        for (size_t s = 0; s < sizeof strategies / sizeof *strategies; s++) {
            weights_of(kind, nblocks, w);
            tsr_map m = NULL;
            err = tsr_map_create(d, strategies[s], tsr_ctx_rank(ctx) == 0 ? w : NULL, &m);
            EXPECT(ctx, err == TSR_SUCCESS, "%dD strategy %d weights %d: map", ndim,
                   (int)strategies[s], kind);
            if (err)
                continue;
            const char *table_max = getenv("TESSERA_MAP_TABLE_MAX");
            bool partial =
                strategies[s] == TSR_MAP_KNAPSACK && table_max && strcmp(table_max, "0") == 0;
            EXPECT(ctx, same_everywhere(ctx, m, nblocks, partial),
                   "%dD strategy %d weights %d: owners", ndim, (int)strategies[s], kind);
            EXPECT(ctx, knows_around(ctx, d, m, ndim),
                   "%dD strategy %d weights %d: owners around a rank's blocks", ndim,
                   (int)strategies[s], kind);
            EXPECT(ctx, remap_round_trip(ctx, d, m), "%dD strategy %d weights %d: remap", ndim,
                   (int)strategies[s], kind);
            EXPECT(ctx, lists_own(ctx, m, nblocks), "%dD strategy %d weights %d: local lists", ndim,
                   (int)strategies[s], kind);
            tsr_halo h = NULL;
            tsr_field f = NULL;
            err = tsr_halo_create(m, 1, TSR_STENCIL_BOX, &h);
            if (!err)
                err = tsr_field_create(m, 1, "f", &f);
            if (!err)
                err = tsr_halo_exchange(h, &f, 1);
            EXPECT(ctx, err == TSR_SUCCESS, "%dD strategy %d weights %d: halo exchange", ndim,
                   (int)strategies[s], kind);
            tsr_field_destroy(&f);
            tsr_halo_destroy(&h);
            tsr_map_destroy(&m);
        }
    /* A bad weight: refused on every rank, by a curve map (cut points above the table limit)
     * and by knapsack (rank 0's table, sparse above it). */
    static const tsr_map_strategy refusing[] = {TSR_MAP_SFC, TSR_MAP_KNAPSACK};
    for (int k = 0; w && k < 2; k++) {
        weights_of(0, nblocks, w);
        w[1] = NAN;
        tsr_map m = NULL;
        err = tsr_map_create(d, refusing[k], tsr_ctx_rank(ctx) == 0 ? w : NULL, &m);
        EXPECT(ctx,
               err == TSR_ERR_INPUT && !m &&
                   strstr(tsr_ctx_error_message(ctx), "weight of block 1 is nan"),
               "%dD strategy %d: a NaN weight refused (err %d)", ndim, (int)refusing[k], err);
        tsr_ctx_error_clear(ctx);
    }
    free(w);
    tsr_decomp_destroy(&d);
    tsr_grid_destroy(&g);
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "test_wmap", &ctx);
    if (err)
        return tsr_finalize(&ctx, err);
    test_shape(ctx, 2, (int64_t[]){40, 30, 1}, (int64_t[]){7, 5, 1});
    test_shape(ctx, 3, (int64_t[]){12, 10, 8}, (int64_t[]){3, 3, 2});
    test_shape(ctx, 1, (int64_t[]){50, 1, 1}, (int64_t[]){3, 1, 1}); /* 4 ranks: one idle */
    if (tsr_ctx_rank(ctx) == 0)
        printf("test_wmap on %d ranks: %d passed, %d failed\n", tsr_ctx_size(ctx), passed, failed);
    int status = failed ? 1 : 0;
    tsr_finalize(&ctx, TSR_SUCCESS);
    return status;
}
