/* Unit tests of the rebalancer's decision, a pure function of the block costs and the current
 * assignment: no MPI is initialised. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "balance_impl.h"
#include "ck_main.h"

/* A 2D layout of nbx x nby blocks of 8x8 cells. */
static void make_layout(tsr__layout *lay, int64_t nbx, int64_t nby) {
    memset(lay, 0, sizeof *lay);
    lay->ndim = 2;
    lay->n[0] = 8 * nbx;
    lay->n[1] = 8 * nby;
    lay->n[2] = 1;
    lay->nb[0] = nbx;
    lay->nb[1] = nby;
    lay->nb[2] = 1;
    ck_assert(tsr__layout_cut(lay));
}

START_TEST(imbalance_of_assignments) {
    const double costs[4] = {1, 1, 1, 1};
    const int one_rank[4] = {0, 0, 0, 0}, spread[4] = {0, 1, 0, 1};
    ck_assert_double_eq(tsr_balance_imbalance(4, costs, one_rank, 2), 2.0);
    ck_assert_double_eq(tsr_balance_imbalance(4, costs, spread, 2), 1.0);
    ck_assert_double_eq(tsr_balance_imbalance(4, costs, one_rank, 4), 4.0);
    const double zero[4] = {0, 0, 0, 0};
    ck_assert_double_eq(tsr_balance_imbalance(4, zero, one_rank, 2), 1.0);
}
END_TEST

/* The life benchmark's shape: all the work in the lower-left quarter, a contiguous map. */
START_TEST(hot_corner_is_spread) {
    tsr__layout lay;
    make_layout(&lay, 8, 8);
    double costs[64] = {0};
    for (int64_t y = 0; y < 4; y++)
        for (int64_t x = 0; x < 4; x++)
            costs[x + 8 * y] = 100 + (double)(x * y);
    tsr_map_strategy strategies[] = {TSR_MAP_CONTIGUOUS, TSR_MAP_SFC, TSR_MAP_MORTON,
                                     TSR_MAP_KNAPSACK, TSR_MAP_ROUNDROBIN};
    for (int k = 0; k < 5; k++) {
        int owner[64], proposed[64];
        ck_assert(tsr__map_assign(&lay, strategies[k], NULL, 4, owner));
        tsr__balance_plan plan;
        ck_assert(tsr__balance_decide(&lay, strategies[k], costs, owner, 4, 1.10, proposed, &plan));
        /* Knapsack and round-robin by cells happen to spread this corner already. */
        ck_assert_msg(plan.adopt == (plan.before > 1.10 * plan.after) && plan.after <= plan.before,
                      "strategy %d: %g -> %g, adopted %d", k, plan.before, plan.after, plan.adopt);
        if (k < 3)
            ck_assert_msg(plan.adopt && plan.before > 2, "strategy %d: %g -> %g not adopted", k,
                          plan.before, plan.after);
        ck_assert_double_eq(plan.before, tsr_balance_imbalance(64, costs, owner, 4));
        ck_assert_double_eq(plan.after, tsr_balance_imbalance(64, costs, proposed, 4));
        ck_assert_msg(plan.after < 1.25, "strategy %d: after %g", k, plan.after);
        int64_t moved = 0, per_rank[4] = {0};
        for (int i = 0; i < 64; i++) {
            moved += proposed[i] != owner[i];
            per_rank[proposed[i]]++;
        }
        ck_assert_int_eq(moved, plan.moved);
        /* The floor under zero costs keeps every rank holding blocks. */
        for (int r = 0; r < 4; r++)
            ck_assert_int_gt(per_rank[r], 0);
        /* Deciding is deterministic. */
        int again[64];
        tsr__balance_plan plan2;
        ck_assert(tsr__balance_decide(&lay, strategies[k], costs, owner, 4, 1.10, again, &plan2));
        ck_assert_mem_eq(again, proposed, sizeof again);
    }
    tsr__layout_free(&lay);
}
END_TEST

START_TEST(threshold_and_nothing_to_gain) {
    tsr__layout lay;
    make_layout(&lay, 4, 4);
    double costs[16];
    for (int i = 0; i < 16; i++)
        costs[i] = 10;
    int owner[16], proposed[16];
    ck_assert(tsr__map_assign(&lay, TSR_MAP_CONTIGUOUS, NULL, 4, owner));
    tsr__balance_plan plan;
    /* Already even: kept. */
    ck_assert(
        tsr__balance_decide(&lay, TSR_MAP_CONTIGUOUS, costs, owner, 4, 1.10, proposed, &plan));
    ck_assert(!plan.adopt);
    /* 1.5x more on one rank: gain 1.5/1 passes 1.10 but not 2. */
    for (int i = 0; i < 16; i++)
        costs[i] = owner[i] == 0 ? 25 : 10;
    ck_assert(tsr__balance_decide(&lay, TSR_MAP_KNAPSACK, costs, owner, 4, 1.10, proposed, &plan));
    ck_assert(plan.adopt);
    ck_assert(plan.before / plan.after > 1.10);
    ck_assert(tsr__balance_decide(&lay, TSR_MAP_KNAPSACK, costs, owner, 4, 2.0, proposed, &plan));
    ck_assert(!plan.adopt);
    /* Nothing measured: nothing decided. */
    memset(costs, 0, sizeof costs);
    ck_assert(tsr__balance_decide(&lay, TSR_MAP_KNAPSACK, costs, owner, 4, 1.01, proposed, &plan));
    ck_assert(!plan.adopt);
    ck_assert_double_eq(plan.before, 1.0);
    ck_assert_mem_eq(proposed, owner, sizeof owner);
    tsr__layout_free(&lay);
}
END_TEST

START_TEST(weights_and_strategy) {
    const double costs[4] = {0, 4, 0, 4};
    double w[4];
    tsr__balance_weights(4, costs, w);
    ck_assert_double_eq(w[0], 0.002);
    ck_assert_double_eq(w[1], 4.002);
    ck_assert_int_eq(tsr__balance_strategy(TSR_MAP_ROUNDROBIN), TSR_MAP_KNAPSACK);
    ck_assert_int_eq(tsr__balance_strategy(TSR_MAP_SFC), TSR_MAP_SFC);
}
END_TEST

TSR_CK_MAIN("balance", "decide", imbalance_of_assignments, hot_corner_is_spread,
            threshold_and_nothing_to_gain, weights_and_strategy)
