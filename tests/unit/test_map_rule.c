/* Maps each rank computes for itself (src/map_rule.c) against the coordinator's table
 * (tsr__map_assign): the same owner for every block, and every rank's own list. */
#include <check.h>
#include <inttypes.h>
#include <stdlib.h>

#include "ck_main.h"
#include "layout_impl.h"
#include "sanitizer_impl.h"

/* Rank counts visited below 40: every one in the release build; under the sanitizers (about ten
 * times slower) 1, 8, 15, 22, 29 and 36, the same code paths on fewer cases, of which each test
 * still requires at least MIN_CASES of its release count. */
#ifdef TSR_ASAN
#define RANK_STEP 7
#define MIN_CASES(n) ((n)*3 / 4)
#else
#define RANK_STEP 1
#define MIN_CASES(n) (n)
#endif

static void make(tsr__layout *lay, int ndim, int64_t n0, int64_t n1, int64_t n2, int64_t b0,
                 int64_t b1, int64_t b2) {
    *lay = (tsr__layout){.ndim = ndim, .n = {n0, n1, n2}, .nb = {b0, b1, b2}};
    ck_assert(tsr__layout_cut(lay));
}

START_TEST(axes_invert_the_keys) {
    for (int ndim = 1; ndim <= 3; ndim++)
        for (int bits = 0; bits <= 6; bits++) {
            uint64_t keys = UINT64_C(1) << (bits * ndim);
            for (uint64_t k = 0; k < keys; k++) {
                uint32_t c[TSR_MAX_DIM];
                tsr__hilbert_axes(ndim, bits, k, c);
                ck_assert_uint_eq(tsr__hilbert_index(ndim, bits, c), k);
                tsr__morton_axes(ndim, bits, k, c);
                ck_assert_uint_eq(tsr__morton_index(ndim, bits, c), k);
            }
        }
}
END_TEST

static const struct {
    int ndim;
    int64_t n[3], nb[3];
} shapes[] = {
    {1, {100, 1, 1}, {37, 1, 1}},  {1, {64, 1, 1}, {64, 1, 1}},   {2, {67, 45, 1}, {5, 3, 1}},
    {2, {100, 90, 1}, {17, 9, 1}}, {2, {64, 64, 1}, {16, 16, 1}}, {2, {200, 50, 1}, {33, 2, 1}},
    {3, {30, 20, 24}, {5, 4, 6}},  {3, {40, 40, 40}, {9, 7, 8}},  {3, {16, 16, 16}, {8, 8, 8}},
};

static const tsr_map_strategy strategies[] = {TSR_MAP_CONTIGUOUS, TSR_MAP_ROUNDROBIN, TSR_MAP_SFC,
                                              TSR_MAP_MORTON};

START_TEST(same_owners_as_the_table) {
    int compared = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        tsr__layout lay;
        make(&lay, shapes[i].ndim, shapes[i].n[0], shapes[i].n[1], shapes[i].n[2], shapes[i].nb[0],
             shapes[i].nb[1], shapes[i].nb[2]);
        int64_t n = lay.nblocks;
        int *owner = malloc(sizeof *owner * (size_t)n);
        ck_assert(owner);
        for (size_t si = 0; si < sizeof strategies / sizeof *strategies; si++)
            for (int nranks = 1; nranks <= 40; nranks += RANK_STEP) {
                tsr_map_strategy s = strategies[si];
                if (!tsr__rule_applies(&lay, s, nranks))
                    continue;
                ck_assert(tsr__map_assign(&lay, s, NULL, nranks, owner));
                tsr__rule r;
                tsr__rule_init(&r, &lay, s, nranks);
                int *walked = malloc(sizeof *walked * (size_t)n);
                ck_assert(walked);
                tsr__rule_owners(&r, walked);
                for (int64_t b = 0; b < n; b++)
                    ck_assert_int_eq(walked[b], owner[b]);
                free(walked);
                for (int64_t b = 0; b < n; b++)
                    ck_assert_msg(tsr__rule_owner(&r, b) == owner[b],
                                  "shape %zu strategy %d %d ranks: block %" PRId64
                                  " on %d, table says %d",
                                  i, (int)s, nranks, b, tsr__rule_owner(&r, b), owner[b]);
                int64_t seen = 0;
                for (int rank = 0; rank < nranks; rank++) {
                    int64_t count, *ids;
                    ck_assert(tsr__rule_local(&r, rank, &count, &ids));
                    for (int64_t k = 0; k < count; k++) {
                        ck_assert_msg(owner[ids[k]] == rank,
                                      "shape %zu strategy %d %d ranks: rank %d lists block %" PRId64
                                      " of rank %d",
                                      i, (int)s, nranks, rank, ids[k], owner[ids[k]]);
                        ck_assert(k == 0 || ids[k] > ids[k - 1]);
                    }
                    seen += count;
                    free(ids);
                }
                ck_assert_int_eq(seen, n);
                compared++;
            }
        free(owner);
        tsr__layout_free(&lay);
    }
    ck_assert_int_ge(compared, MIN_CASES(200));
}
END_TEST

START_TEST(applies_only_without_heavy_blocks) {
    tsr__layout lay;
    make(&lay, 2, 64, 64, 1, 4, 4, 1);
    ck_assert(tsr__rule_applies(&lay, TSR_MAP_SFC, 16));
    ck_assert(!tsr__rule_applies(&lay, TSR_MAP_SFC, 17)); /* more ranks than blocks */
    ck_assert(tsr__rule_applies(&lay, TSR_MAP_ROUNDROBIN, 17));
    ck_assert(!tsr__rule_applies(&lay, TSR_MAP_KNAPSACK, 2));
    tsr__layout_free(&lay);
    /* 3D curve keys of 3 x 22 bits do not fit in 63: the table's way, not the rule's. */
    make(&lay, 3, 2097153, 1, 1, 2097153, 1, 1);
    ck_assert(!tsr__rule_applies(&lay, TSR_MAP_SFC, 2));
    ck_assert(!tsr__rule_applies(&lay, TSR_MAP_MORTON, 2));
    ck_assert(tsr__rule_applies(&lay, TSR_MAP_CONTIGUOUS, 2));
    tsr__layout_free(&lay);
}
END_TEST

/* Weights of every kind the cut must survive: measured-like, zeros, one block heavier than a
 * rank's share, all equal, all zero. */
static void weights_of(int kind, int64_t n, double *w) {
    uint64_t z = 12345;
    for (int64_t b = 0; b < n; b++) {
        z = z * 6364136223846793005u + 1442695040888963407u;
        double u = (double)(z >> 11) / 9007199254740992.0;
        w[b] = kind == 0   ? u * 1e-3
               : kind == 1 ? (u < 0.4 ? 0.0 : u)
               : kind == 2 ? (b == n / 3 ? 1e6 : 1.0 + u)
               : kind == 3 ? 0.25
                           : 0.0;
    }
}

static const tsr_map_strategy curves[] = {TSR_MAP_CONTIGUOUS, TSR_MAP_SFC, TSR_MAP_MORTON};

START_TEST(weighted_cuts_same_owners_as_the_table) {
    int compared = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        tsr__layout lay;
        make(&lay, shapes[i].ndim, shapes[i].n[0], shapes[i].n[1], shapes[i].n[2], shapes[i].nb[0],
             shapes[i].nb[1], shapes[i].nb[2]);
        int64_t n = lay.nblocks;
        int *owner = malloc(sizeof *owner * (size_t)n),
            *walked = malloc(sizeof *walked * (size_t)n);
        double *w = malloc(sizeof *w * (size_t)n);
        uint64_t *starts = malloc(sizeof *starts * 601);
        ck_assert(owner && walked && w && starts);
        for (int kind = 0; kind < 5; kind++) {
            weights_of(kind, n, w);
            for (size_t si = 0; si < sizeof curves / sizeof *curves; si++)
                for (int nranks = 1; nranks <= 600; nranks += nranks < 40 ? RANK_STEP : 97) {
                    tsr_map_strategy s = curves[si];
                    ck_assert(tsr__starts_apply(&lay, s, nranks));
                    ck_assert(tsr__map_assign(&lay, s, w, nranks, owner));
                    tsr__weighted_starts(&lay, s, w, nranks, starts, walked);
                    tsr__rule r;
                    tsr__rule_init(&r, &lay, s, nranks);
                    r.starts = starts;
                    for (int64_t b = 0; b < n; b++)
                        ck_assert_int_eq(walked[b], owner[b]);
                    tsr__rule_owners(&r, walked);
                    for (int64_t b = 0; b < n; b++)
                        ck_assert_int_eq(walked[b], owner[b]);
                    for (int64_t b = 0; b < n; b++)
                        ck_assert_msg(tsr__rule_owner(&r, b) == owner[b],
                                      "shape %zu weights %d strategy %d %d ranks: block %" PRId64
                                      " on %d, table says %d",
                                      i, kind, (int)s, nranks, b, tsr__rule_owner(&r, b), owner[b]);
                    int64_t seen = 0;
                    for (int rank = 0; rank < nranks; rank++) {
                        int64_t count, *ids;
                        ck_assert(tsr__rule_local(&r, rank, &count, &ids));
                        for (int64_t k = 0; k < count; k++) {
                            ck_assert_int_eq(owner[ids[k]], rank);
                            ck_assert(k == 0 || ids[k] > ids[k - 1]);
                        }
                        seen += count;
                        free(ids);
                    }
                    ck_assert_int_eq(seen, n);
                    compared++;
                }
        }
        free(owner);
        free(walked);
        free(w);
        free(starts);
        tsr__layout_free(&lay);
    }
    ck_assert_int_ge(compared, MIN_CASES(2000));
}
END_TEST

/* The search: the last rank starting at or before a key, past ranks without blocks (their start
 * is the next rank's) and before idle ranks at the end (their start is the end of the keys). */
START_TEST(cut_search) {
    const uint64_t starts[] = {0, 3, 3, 3, 10, 11, 50, 50, 50};
    int P = 8; /* starts[8]: the end of the keys; ranks 6 and 7 idle */
    for (uint64_t k = 0; k < 50; k++) {
        int want = k < 3 ? 0 : k < 10 ? 3 : k < 11 ? 4 : 5;
        ck_assert_int_eq(tsr__starts_owner(starts, P, k), want);
    }
    const uint64_t one[] = {0, 7};
    for (uint64_t k = 0; k < 7; k++)
        ck_assert_int_eq(tsr__starts_owner(one, 1, k), 0);
    /* Keys near 2^63: a 3D curve of 21 bits per dimension. */
    const uint64_t big[] = {0, UINT64_C(1) << 62, (UINT64_C(1) << 63) - 1, UINT64_C(1) << 63};
    ck_assert_int_eq(tsr__starts_owner(big, 3, (UINT64_C(1) << 62) - 1), 0);
    ck_assert_int_eq(tsr__starts_owner(big, 3, UINT64_C(1) << 62), 1);
    ck_assert_int_eq(tsr__starts_owner(big, 3, (UINT64_C(1) << 63) - 1), 2);
}
END_TEST

TSR_CK_MAIN("map_rule", "rule", axes_invert_the_keys, same_owners_as_the_table,
            applies_only_without_heavy_blocks, weighted_cuts_same_owners_as_the_table, cut_search)
