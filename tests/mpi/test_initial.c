/* The initial map (tsr_domain_balance_initial) at 1-4 ranks, through the public API: a no-op with
 * rebalancing off or without a cost hook; with a hook whose costs all sit on rank 0's blocks of
 * the contiguous map, a new map of the same strategy that spreads them (recorded as one event at
 * step 0 that moved no bytes), a halo plan that exchanges on it, and the same map on every rank.
 * Every check is on a collectively agreed value. */
#include <stdlib.h>
#include <string.h>

#include <tessera.h>

static int passed, failed;

#include "expect.h"

/* Cost 1 per cell of the lower-left 32x16 corner of the 64x64 grid (8x8 blocks of 8x8 cells): the
 * first eight blocks, all rank 0's on the contiguous map. */
static int corner_costs(const int64_t *ids, int64_t n, double *costs, void *user) {
    tsr_decomp dc = user;
    for (int64_t i = 0; i < n; i++) {
        tsr_box b;
        tsr_decomp_block_box(dc, ids[i], &b);
        costs[i] = b.lo[0] < 32 && b.lo[1] < 16 ? (double)tsr_decomp_block_cells(dc, ids[i]) : 0;
    }
    return 0;
}

/* Whether every rank holds the same owner for every block. */
static bool same_everywhere(tsr_ctx ctx, tsr_map map, int64_t nblocks) {
    int64_t diff = 0, total = 0;
    for (int64_t i = 0; i < nblocks; i++) {
        double mine = tsr_map_owner(map, i), lo = 0, hi = 0;
        tsr_reduce_doubles(ctx, &mine, 1, TSR_REDUCE_MIN, &lo);
        tsr_reduce_doubles(ctx, &mine, 1, TSR_REDUCE_MAX, &hi);
        diff += lo != hi;
        total++;
    }
    return diff == 0 && total == nblocks;
}

static void make(tsr_ctx ctx, int64_t every, tsr_domain *d) {
    tsr_extents grid = {.ndim = 2, .n = {64, 64, 1}};
    tsr_domain_opts o;
    tsr_domain_opts_init(&o, &grid, 1);
    o.blocks = (tsr_extents){.ndim = 2, .n = {8, 8, 1}};
    o.rebalance_every = every;
    int err = tsr_domain_create(ctx, &o, TSR_STENCIL_BOX, d);
    EXPECT(ctx, err == TSR_SUCCESS, "domain create");
}

static void test_noop(tsr_ctx ctx) {
    for (int every = 0; every <= 5; every += 5) { /* off; on without a hook */
        tsr_domain d;
        make(ctx, every, &d);
        tsr_map before = d.map;
        int err = tsr_domain_balance_initial(&d);
        int64_t count = -1;
        const tsr_balance_event *ev = NULL;
        tsr_balance_events(d.balance, &count, &ev);
        EXPECT(ctx, err == TSR_SUCCESS && d.map == before && count == 0,
               "every %d: no initial map without a hook (err %d, %lld events)", every, err,
               (long long)count);
        tsr_domain_destroy(&d);
    }
}

static void test_corner(tsr_ctx ctx) {
    int size = tsr_ctx_size(ctx);
    tsr_domain d;
    make(ctx, 5, &d);
    tsr_balance_set_hooks(d.balance, corner_costs, NULL, d.decomp);
    int err = tsr_domain_balance_initial(&d);
    EXPECT(ctx, err == TSR_SUCCESS, "initial map");
    int64_t count = -1;
    const tsr_balance_event *ev = NULL;
    tsr_balance_events(d.balance, &count, &ev);
    if (size == 1) {
        EXPECT(ctx, count == 0, "one rank: nothing to balance, %lld events", (long long)count);
    } else {
        EXPECT(ctx,
               count == 1 && ev[0].step == 0 && ev[0].bytes == 0 && ev[0].blocks > 0 &&
                   ev[0].before == (double)size && ev[0].after < ev[0].before,
               "%d ranks: one event at step 0 from %d, no bytes (%lld events)", size, size,
               (long long)count);
    }
    EXPECT(ctx, tsr_map_get_strategy(d.map) == TSR_MAP_CONTIGUOUS, "the map's strategy kept");
    EXPECT(ctx, same_everywhere(ctx, d.map, 64), "the same map on every rank");
    /* The costly blocks now spread: rank 0 no longer holds them all. */
    int busy = 0;
    for (int64_t i = 0; i < 16; i++)
        if (i % 8 < 4) /* blocks with lo x < 32 in the first two rows */
            busy += tsr_map_owner(d.map, i) == 0;
    EXPECT(ctx, size == 1 ? busy == 8 : busy < 8, "rank 0 keeps %d of the 8 costly blocks", busy);
    /* A field on the new map exchanges with the rebuilt halo plan. */
    tsr_field f = NULL;
    err = tsr_field_create(d.map, 1, "f", &f);
    if (!err)
        err = tsr_halo_exchange(d.halo, &f, 1);
    EXPECT(ctx, err == TSR_SUCCESS, "a field on the new map exchanges");
    tsr_field_destroy(&f);
    tsr_domain_destroy(&d);
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "test_initial", &ctx);
    if (err)
        return tsr_finalize(&ctx, err);
    test_noop(ctx);
    test_corner(ctx);
    if (tsr_ctx_rank(ctx) == 0)
        printf("test_initial on %d ranks: %d passed, %d failed\n", tsr_ctx_size(ctx), passed,
               failed);
    int status = failed ? 1 : 0;
    tsr_finalize(&ctx, TSR_SUCCESS);
    return status;
}
