/* Unit tests of the pure layout algorithms (decomposition, map, plan figures, size parsing).
 * No MPI is initialised: everything here runs on plain arrays. */
#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout_impl.h"
#include "tessera/grid.h"
#include "ck_main.h"

/* ck_assert_msg only when the condition fails: a passing ck_assert records its location in
 * check's message file, which costs a system call, and the sweeps below make millions of them.
 * The condition must be free of side effects (it is evaluated again on failure). */
#define CHECK_MSG(expr, ...)                                                                       \
    do {                                                                                           \
        if (!(expr))                                                                               \
            ck_assert_msg(expr, __VA_ARGS__);                                                      \
    } while (0)

#define NSTRATEGIES 5
static const tsr_map_strategy all_strategies[NSTRATEGIES] = {
    TSR_MAP_CONTIGUOUS, TSR_MAP_ROUNDROBIN, TSR_MAP_SFC, TSR_MAP_MORTON, TSR_MAP_KNAPSACK};
static const char *const strategy_name[NSTRATEGIES] = {"contiguous", "roundrobin", "sfc", "morton",
                                                       "knapsack"};

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

/* Fills lay from ndim, n[], nb[] and periodic[] (NULL: none); dims past ndim get n = nb = 1. */
static void make_layout(tsr__layout *lay, int ndim, const int64_t *n, const int64_t *nb,
                        const bool *periodic) {
    memset(lay, 0, sizeof *lay);
    lay->ndim = ndim;
    for (int d = 0; d < TSR_MAX_DIM; d++) {
        lay->n[d] = d < ndim ? n[d] : 1;
        lay->nb[d] = d < ndim ? nb[d] : 1;
        lay->periodic[d] = d < ndim && periodic ? periodic[d] : false;
        lay->cuts[d] = NULL;
    }
    ck_assert_msg(tsr__layout_cut(lay), "tsr__layout_cut failed for ndim=%d", ndim);
}

/* "n=AxBxC nb=DxExF per=xyz" for failure messages. */
static const char *describe(const tsr__layout *lay) {
    static char buf[256];
    snprintf(buf, sizeof buf,
             "ndim=%d n=%" PRId64 "x%" PRId64 "x%" PRId64 " nb=%" PRId64 "x%" PRId64 "x%" PRId64
             " periodic=%d%d%d",
             lay->ndim, lay->n[0], lay->n[1], lay->n[2], lay->nb[0], lay->nb[1], lay->nb[2],
             (int)lay->periodic[0], (int)lay->periodic[1], (int)lay->periodic[2]);
    return buf;
}

static int64_t block_id(const tsr__layout *lay, const int64_t c[TSR_MAX_DIM]) {
    return c[0] + lay->nb[0] * (c[1] + lay->nb[1] * c[2]);
}

/* Deterministic PRNG (splitmix64). */
static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}
static double rng_unit(uint64_t *s) {
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* Pairs of face-adjacent blocks (non-periodic sense) with different owners. */
static int64_t cut_edges(const tsr__layout *lay, const int *owner) {
    int64_t cut = 0;
    for (int64_t b = 0; b < lay->nblocks; b++)
        for (int d = 0; d < lay->ndim; d++) {
            int dir[TSR_MAX_DIM] = {0, 0, 0};
            dir[d] = 1;
            int64_t c[TSR_MAX_DIM];
            tsr__block_coords(lay, b, c);
            if (c[d] + 1 >= lay->nb[d])
                continue;
            int64_t nbr = tsr__neighbor(lay, b, dir);
            ck_assert_msg(nbr >= 0, "%s: block %" PRId64 " has no +%c neighbour", describe(lay), b,
                          "xyz"[d]);
            cut += owner[nbr] != owner[b];
        }
    return cut;
}

/* Whether the blocks of every rank form a face-connected set (non-periodic adjacency). */
static bool owners_connected(const tsr__layout *lay, const int *owner, int nranks, int *bad_rank) {
    int64_t n = lay->nblocks;
    bool *seen = calloc((size_t)n, sizeof *seen);
    int64_t *stack = malloc(sizeof *stack * (size_t)n);
    ck_assert(seen && stack);
    bool ok = true;
    for (int r = 0; r < nranks && ok; r++) {
        int64_t total = 0, start = -1;
        for (int64_t b = 0; b < n; b++)
            if (owner[b] == r) {
                total++;
                if (start < 0)
                    start = b;
            }
        if (total == 0)
            continue;
        int64_t sp = 0, reached = 0;
        stack[sp++] = start;
        seen[start] = true;
        while (sp > 0) {
            int64_t b = stack[--sp];
            reached++;
            int64_t c[TSR_MAX_DIM];
            tsr__block_coords(lay, b, c);
            for (int d = 0; d < lay->ndim; d++)
                for (int s = -1; s <= 1; s += 2) {
                    if (c[d] + s < 0 || c[d] + s >= lay->nb[d])
                        continue;
                    int64_t cc[TSR_MAX_DIM] = {c[0], c[1], c[2]};
                    cc[d] += s;
                    int64_t nb = block_id(lay, cc);
                    if (owner[nb] == r && !seen[nb]) {
                        seen[nb] = true;
                        stack[sp++] = nb;
                    }
                }
        }
        if (reached != total) {
            ok = false;
            *bad_rank = r;
        }
    }
    free(seen);
    free(stack);
    return ok;
}

/* ---------------------------------------------------------------------------------------------
 * 1. Decomposition
 * ------------------------------------------------------------------------------------------- */

START_TEST(test_cuts_monotone) {
    static const int64_t big[] = {INT64_C(1) << 31, INT64_C(10000000000), INT64_C(1) << 40,
                                  INT64_C(4611686018427387903)};
    for (int64_t n = 1; n <= 150; n++)
        for (int64_t nb = 1; nb <= n; nb++) {
            int64_t *cuts = malloc(sizeof *cuts * (size_t)(nb + 1));
            ck_assert(cuts);
            tsr__cuts(n, nb, cuts);
            CHECK_MSG(cuts[0] == 0, "n=%" PRId64 " nb=%" PRId64 ": cuts[0]=%" PRId64, n, nb,
                      cuts[0]);
            CHECK_MSG(cuts[nb] == n, "n=%" PRId64 " nb=%" PRId64 ": cuts[nb]=%" PRId64, n, nb,
                      cuts[nb]);
            for (int64_t i = 0; i < nb; i++) {
                int64_t w = cuts[i + 1] - cuts[i];
                CHECK_MSG(w >= 1, "n=%" PRId64 " nb=%" PRId64 ": piece %" PRId64 " is empty", n, nb,
                          i);
                CHECK_MSG(w == n / nb || w == n / nb + 1,
                          "n=%" PRId64 " nb=%" PRId64 ": piece %" PRId64 " has %" PRId64 " cells",
                          n, nb, i, w);
                if (i > 0)
                    CHECK_MSG(w <= cuts[i] - cuts[i - 1],
                              "n=%" PRId64 " nb=%" PRId64 ": piece %" PRId64
                              " larger than the one before",
                              n, nb, i);
            }
            free(cuts);
        }
    /* 64-bit sizes. */
    for (size_t k = 0; k < sizeof big / sizeof big[0]; k++)
        for (int64_t nb = 1; nb <= 13; nb++) {
            int64_t cuts[14];
            tsr__cuts(big[k], nb, cuts);
            CHECK_MSG(cuts[0] == 0 && cuts[nb] == big[k], "n=%" PRId64 " nb=%" PRId64, big[k], nb);
            for (int64_t i = 0; i < nb; i++) {
                int64_t w = cuts[i + 1] - cuts[i];
                CHECK_MSG(w == big[k] / nb || w == big[k] / nb + 1,
                          "n=%" PRId64 " nb=%" PRId64 ": piece %" PRId64 " has %" PRId64, big[k],
                          nb, i, w);
            }
        }
}
END_TEST

/* Checks one layout: exact cover, block sizes, coordinates and cell counts. */
static void check_cover(int ndim, const int64_t *n, const int64_t *nb) {
    tsr__layout lay;
    make_layout(&lay, ndim, n, nb, NULL);
    const char *what = describe(&lay);
    CHECK_MSG(lay.nblocks == lay.nb[0] * lay.nb[1] * lay.nb[2], "%s: nblocks=%" PRId64, what,
              lay.nblocks);
    int64_t total = lay.n[0] * lay.n[1] * lay.n[2];
    int *count = calloc((size_t)total, sizeof *count);
    ck_assert(count);
    int64_t sum_cells = 0;
    for (int64_t b = 0; b < lay.nblocks; b++) {
        int64_t c[TSR_MAX_DIM];
        tsr__block_coords(&lay, b, c);
        for (int d = 0; d < TSR_MAX_DIM; d++)
            CHECK_MSG(c[d] >= 0 && c[d] < lay.nb[d], "%s: block %" PRId64 " coord %d = %" PRId64,
                      what, b, d, c[d]);
        CHECK_MSG(block_id(&lay, c) == b, "%s: coords of block %" PRId64 " do not round-trip", what,
                  b);
        tsr_box box;
        tsr__block_box(&lay, b, &box);
        int64_t vol = 1;
        for (int d = 0; d < TSR_MAX_DIM; d++) {
            CHECK_MSG(0 <= box.lo[d] && box.lo[d] < box.hi[d] && box.hi[d] <= lay.n[d],
                      "%s: block %" PRId64 " dim %d box [%" PRId64 ", %" PRId64 ")", what, b, d,
                      box.lo[d], box.hi[d]);
            vol *= box.hi[d] - box.lo[d];
        }
        CHECK_MSG(tsr__block_cells(&lay, b) == vol,
                  "%s: block %" PRId64 " cells %" PRId64 " != box volume %" PRId64, what, b,
                  tsr__block_cells(&lay, b), vol);
        sum_cells += vol;
        for (int64_t z = box.lo[2]; z < box.hi[2]; z++)
            for (int64_t y = box.lo[1]; y < box.hi[1]; y++)
                for (int64_t x = box.lo[0]; x < box.hi[0]; x++)
                    count[x + lay.n[0] * (y + lay.n[1] * z)]++;
    }
    CHECK_MSG(sum_cells == total, "%s: blocks hold %" PRId64 " cells of %" PRId64, what, sum_cells,
              total);
    for (int64_t i = 0; i < total; i++)
        CHECK_MSG(count[i] == 1, "%s: cell %" PRId64 " is covered %d times", what, i, count[i]);
    free(count);
    /* Sizes along each dimension: at most 1 apart, larger ones first. */
    for (int d = 0; d < TSR_MAX_DIM; d++) {
        CHECK_MSG(lay.cuts[d][0] == 0 && lay.cuts[d][lay.nb[d]] == lay.n[d],
                  "%s: cuts of dim %d do not span [0, n)", what, d);
        int64_t lo = INT64_MAX, hi = 0;
        for (int64_t i = 0; i < lay.nb[d]; i++) {
            int64_t w = lay.cuts[d][i + 1] - lay.cuts[d][i];
            lo = w < lo ? w : lo;
            hi = w > hi ? w : hi;
            if (i > 0)
                CHECK_MSG(w <= lay.cuts[d][i] - lay.cuts[d][i - 1],
                          "%s: dim %d piece %" PRId64 " larger than the one before", what, d, i);
        }
        CHECK_MSG(hi - lo <= 1, "%s: dim %d block sizes range %" PRId64 "..%" PRId64, what, d, lo,
                  hi);
    }
    tsr__layout_free(&lay);
    for (int d = 0; d < TSR_MAX_DIM; d++)
        CHECK_MSG(lay.cuts[d] == NULL, "tsr__layout_free left cuts[%d]", d);
}

START_TEST(test_cover_exactly_once) {
    /* 1D: every nb from 1 (one block) to n (1-cell blocks). */
    for (int64_t n = 1; n <= 40; n++)
        for (int64_t nb = 1; nb <= n; nb++)
            check_cover(1, (int64_t[]){n}, (int64_t[]){nb});
    /* 2D: uneven and even sizes. */
    static const int64_t sz2[] = {1, 2, 3, 5, 7, 8, 13, 16};
    for (size_t i = 0; i < 8; i++)
        for (size_t j = 0; j < 8; j++) {
            int64_t n[2] = {sz2[i], sz2[j]};
            for (int64_t a = 1; a <= n[0]; a++)
                for (int64_t b = 1; b <= n[1]; b++)
                    check_cover(2, n, (int64_t[]){a, b});
        }
    /* 3D. */
    static const int64_t sz3[] = {1, 3, 4, 7};
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < 4; j++)
            for (size_t k = 0; k < 4; k++) {
                int64_t n[3] = {sz3[i], sz3[j], sz3[k]};
                for (int64_t a = 1; a <= n[0]; a++)
                    for (int64_t b = 1; b <= n[1]; b++)
                        for (int64_t c = 1; c <= n[2]; c++)
                            check_cover(3, n, (int64_t[]){a, b, c});
            }
    check_cover(3, (int64_t[]){17, 9, 11}, (int64_t[]){4, 2, 3});
    check_cover(2, (int64_t[]){100, 37}, (int64_t[]){7, 37});
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * 2. Map strategies
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    int ndim;
    int64_t n[3];
    int64_t nb[3];
} shape;

static const shape map_shapes[] = {
    {1, {1}, {1}},
    {1, {5}, {5}},
    {1, {17}, {17}},
    {1, {64}, {16}},
    {1, {23}, {7}},
    {1, {100}, {33}},
    {2, {8, 8}, {4, 4}},
    {2, {6, 10}, {3, 5}},
    {2, {64, 64}, {16, 16}},
    {2, {7, 3}, {7, 1}},
    {2, {13, 9}, {4, 3}},
    {2, {5, 5}, {5, 5}},
    {3, {4, 4, 4}, {2, 2, 2}},
    {3, {6, 4, 10}, {3, 2, 5}},
    {3, {8, 8, 8}, {4, 4, 4}},
    {3, {7, 5, 9}, {3, 2, 4}},
    {3, {3, 3, 3}, {3, 3, 3}},
};

static bool uniform_blocks(const tsr__layout *lay) {
    for (int d = 0; d < TSR_MAX_DIM; d++)
        if (lay->n[d] % lay->nb[d])
            return false;
    return true;
}

/* Owners increase along the order given by key(ids). */
static int bits_for(const tsr__layout *lay) {
    int bits = 0;
    for (int d = 0; d < TSR_MAX_DIM; d++)
        while ((INT64_C(1) << bits) < lay->nb[d])
            bits++;
    return bits;
}

typedef struct {
    uint64_t key;
    int64_t id;
} key_id;
static int cmp_key_id(const void *a, const void *b) {
    const key_id *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static void check_runs_along_curve(const tsr__layout *lay, tsr_map_strategy s, const int *owner,
                                   int nranks) {
    int64_t n = lay->nblocks;
    key_id *seq = malloc(sizeof *seq * (size_t)n);
    ck_assert(seq);
    int bits = bits_for(lay);
    for (int64_t id = 0; id < n; id++) {
        int64_t c[TSR_MAX_DIM];
        tsr__block_coords(lay, id, c);
        uint32_t uc[TSR_MAX_DIM] = {(uint32_t)c[0], (uint32_t)c[1], (uint32_t)c[2]};
        seq[id].id = id;
        seq[id].key = s == TSR_MAP_SFC      ? tsr__hilbert_index(lay->ndim, bits, uc)
                      : s == TSR_MAP_MORTON ? tsr__morton_index(lay->ndim, bits, uc)
                                            : (uint64_t)id;
    }
    qsort(seq, (size_t)n, sizeof *seq, cmp_key_id);
    for (int64_t k = 1; k < n; k++)
        CHECK_MSG(owner[seq[k].id] >= owner[seq[k - 1].id],
                  "%s, %s, %d ranks: owners not monotone along the curve at block %" PRId64,
                  describe(lay),
                  s == TSR_MAP_SFC      ? "sfc"
                  : s == TSR_MAP_MORTON ? "morton"
                                        : "contiguous",
                  nranks, seq[k].id);
    free(seq);
}

START_TEST(test_map_every_block_owned) {
    size_t nshapes = sizeof map_shapes / sizeof map_shapes[0];
    for (size_t i = 0; i < nshapes; i++) {
        tsr__layout lay;
        make_layout(&lay, map_shapes[i].ndim, map_shapes[i].n, map_shapes[i].nb, NULL);
        int64_t n = lay.nblocks;
        int *owner = malloc(sizeof *owner * (size_t)n);
        double *ones = malloc(sizeof *ones * (size_t)n);
        ck_assert(owner && ones);
        for (int64_t b = 0; b < n; b++)
            ones[b] = 1.0;
        bool uniform = uniform_blocks(&lay);
        for (int si = 0; si < NSTRATEGIES; si++)
            for (int nranks = 1; nranks <= 17; nranks++)
                for (int wmode = 0; wmode < 2; wmode++) {
                    const double *weights = wmode ? ones : NULL;
                    tsr_map_strategy s = all_strategies[si];
                    for (int64_t b = 0; b < n; b++)
                        owner[b] = -1;
                    ck_assert_msg(tsr__map_assign(&lay, s, weights, nranks, owner),
                                  "%s %s %d ranks: tsr__map_assign failed", describe(&lay),
                                  strategy_name[si], nranks);
                    int *count = calloc((size_t)nranks, sizeof *count);
                    ck_assert(count);
                    for (int64_t b = 0; b < n; b++) {
                        CHECK_MSG(owner[b] >= 0 && owner[b] < nranks,
                                  "%s %s %d ranks weights=%s: block %" PRId64 " owner %d",
                                  describe(&lay), strategy_name[si], nranks,
                                  wmode ? "ones" : "NULL", b, owner[b]);
                        count[owner[b]]++;
                    }
                    int cmin = (int)n, cmax = 0, idle = 0;
                    for (int r = 0; r < nranks; r++) {
                        cmin = count[r] < cmin ? count[r] : cmin;
                        cmax = count[r] > cmax ? count[r] : cmax;
                        idle += count[r] == 0;
                    }
                    /* Equal weights (uniform blocks, or explicit equal weights): no idle rank
                     * when there are enough blocks, counts at most 1 apart, and no rank with two
                     * blocks when there are more ranks than blocks. */
                    if (uniform || wmode) {
                        if (n >= nranks)
                            CHECK_MSG(idle == 0,
                                      "%s %s %d ranks weights=%s: %d idle ranks with %" PRId64
                                      " equal blocks",
                                      describe(&lay), strategy_name[si], nranks,
                                      wmode ? "ones" : "NULL", idle, n);
                        CHECK_MSG(cmax - cmin <= 1,
                                  "%s %s %d ranks weights=%s: block counts %d..%d", describe(&lay),
                                  strategy_name[si], nranks, wmode ? "ones" : "NULL", cmin, cmax);
                    }
                    if (s == TSR_MAP_ROUNDROBIN)
                        for (int64_t b = 0; b < n; b++)
                            CHECK_MSG(owner[b] == (int)(b % nranks),
                                      "%s roundrobin %d ranks: block %" PRId64 " on %d",
                                      describe(&lay), nranks, b, owner[b]);
                    if (s == TSR_MAP_CONTIGUOUS || s == TSR_MAP_SFC || s == TSR_MAP_MORTON)
                        check_runs_along_curve(&lay, s, owner, nranks);
                    free(count);
                }
        free(owner);
        free(ones);
        tsr__layout_free(&lay);
    }
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * 3. Knapsack
 * ------------------------------------------------------------------------------------------- */

static double max_load(const int *owner, const double *w, int64_t n, int nranks) {
    double *load = calloc((size_t)nranks, sizeof *load);
    ck_assert(load);
    for (int64_t b = 0; b < n; b++)
        load[owner[b]] += w[b];
    double m = 0;
    for (int r = 0; r < nranks; r++)
        m = load[r] > m ? load[r] : m;
    free(load);
    return m;
}

/* Regression: one block per rank with uneven block sizes (13 cells on 8 ranks gives blocks of
 * 2 and 1 cells) once left a rank idle under weight-based cuts while another got two blocks. */
START_TEST(test_no_idle_with_uneven_blocks) {
    for (int ndim = 1; ndim <= 3; ndim++)
        for (int64_t n = 1; n <= 40; n++)
            for (int nranks = 1; nranks <= 17; nranks++) {
                tsr_extents size = {ndim, {n, ndim > 1 ? 3 : 1, ndim > 2 ? 3 : 1}}, b;
                if (!tsr__default_blocks(&size, NULL, nranks, &b))
                    continue;
                tsr__layout lay;
                make_layout(&lay, ndim, size.n, b.n, NULL);
                int *owner = malloc(sizeof(int) * (size_t)lay.nblocks);
                int *count = malloc(sizeof(int) * (size_t)nranks);
                for (int s = 0; s < NSTRATEGIES; s++) {
                    ck_assert(tsr__map_assign(&lay, all_strategies[s], NULL, nranks, owner));
                    memset(count, 0, sizeof(int) * (size_t)nranks);
                    for (int64_t i = 0; i < lay.nblocks; i++)
                        count[owner[i]]++;
                    for (int r = 0; r < nranks; r++)
                        CHECK_MSG(count[r] >= 1, "%s: %s leaves rank %d of %d idle", describe(&lay),
                                  strategy_name[s], r, nranks);
                }
                free(count);
                free(owner);
                tsr__layout_free(&lay);
            }
}
END_TEST

START_TEST(test_knapsack_lpt_bound) {
    static const int64_t nblocks[] = {1, 2, 7, 16, 50, 333, 1000};
    static const int ranks[] = {1, 2, 3, 5, 8, 13, 17, 64};
    uint64_t seed = 12345;
    for (size_t i = 0; i < sizeof nblocks / sizeof nblocks[0]; i++) {
        tsr__layout lay;
        int64_t nb = nblocks[i];
        make_layout(&lay, 1, (int64_t[]){nb * 3}, (int64_t[]){nb}, NULL);
        double *w = malloc(sizeof *w * (size_t)nb);
        int *ok = malloc(sizeof *ok * (size_t)nb), *orr = malloc(sizeof *orr * (size_t)nb);
        ck_assert(w && ok && orr);
        for (int dist = 0; dist < 4; dist++) {
            double total = 0, wmax = 0;
            for (int64_t b = 0; b < nb; b++) {
                double u = rng_unit(&seed);
                switch (dist) {
                case 0: /* uniform */
                    w[b] = 100.0 * u;
                    break;
                case 1: /* heavy tail */
                    w[b] = 1000.0 * u * u * u * u;
                    break;
                case 2: /* some zeros */
                    w[b] = u < 0.3 ? 0.0 : 1.0 + 10.0 * u;
                    break;
                default: /* integers, many ties */
                    w[b] = (double)(rng_next(&seed) % 5);
                    break;
                }
                total += w[b];
                wmax = w[b] > wmax ? w[b] : wmax;
            }
            for (size_t k = 0; k < sizeof ranks / sizeof ranks[0]; k++) {
                int nranks = ranks[k];
                ck_assert(tsr__map_assign(&lay, TSR_MAP_KNAPSACK, w, nranks, ok));
                ck_assert(tsr__map_assign(&lay, TSR_MAP_ROUNDROBIN, w, nranks, orr));
                for (int64_t b = 0; b < nb; b++)
                    ck_assert_msg(ok[b] >= 0 && ok[b] < nranks,
                                  "knapsack nb=%" PRId64 " dist=%d ranks=%d: block %" PRId64
                                  " owner %d",
                                  nb, dist, nranks, b, ok[b]);
                double kmax = max_load(ok, w, nb, nranks);
                double rmax = max_load(orr, w, nb, nranks);
                double eps = 1e-9 * (total + wmax + 1.0);
                double bound = total / nranks + wmax;
                ck_assert_msg(kmax <= bound + eps,
                              "knapsack nb=%" PRId64 " dist=%d ranks=%d: max load %.17g > "
                              "total/nranks + max weight = %.17g",
                              nb, dist, nranks, kmax, bound);
                ck_assert_msg(kmax <= rmax + wmax + eps,
                              "knapsack nb=%" PRId64 " dist=%d ranks=%d: max load %.17g worse than "
                              "roundrobin's %.17g by more than max weight %.17g",
                              nb, dist, nranks, kmax, rmax, wmax);
                /* Lower bounds every assignment obeys. */
                ck_assert_msg(kmax + eps >= total / nranks && kmax + eps >= wmax,
                              "knapsack nb=%" PRId64 " dist=%d ranks=%d: max load %.17g impossible",
                              nb, dist, nranks, kmax);
            }
        }
        free(w);
        free(ok);
        free(orr);
        tsr__layout_free(&lay);
    }
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * 4. Space-filling curves
 * ------------------------------------------------------------------------------------------- */

START_TEST(test_sfc_locality_2d) {
    tsr__layout lay;
    make_layout(&lay, 2, (int64_t[]){64, 64}, (int64_t[]){16, 16}, NULL);
    int oc[256], orr[256], os[256];
    ck_assert(tsr__map_assign(&lay, TSR_MAP_CONTIGUOUS, NULL, 16, oc));
    ck_assert(tsr__map_assign(&lay, TSR_MAP_ROUNDROBIN, NULL, 16, orr));
    ck_assert(tsr__map_assign(&lay, TSR_MAP_SFC, NULL, 16, os));
    int64_t cc = cut_edges(&lay, oc), cr = cut_edges(&lay, orr), cs = cut_edges(&lay, os);
    /* Hilbert: 16 aligned 4x4 squares (96 cut edges); contiguous: 16 rows (240); roundrobin on
     * 16 ranks: 16 columns (also 240). */
    ck_assert_msg(cs < cc, "16x16 blocks, 16 ranks: sfc cut %" PRId64 " !< contiguous cut %" PRId64,
                  cs, cc);
    ck_assert_msg(cc <= cr,
                  "16x16 blocks, 16 ranks: contiguous cut %" PRId64 " > roundrobin cut %" PRId64,
                  cc, cr);
    ck_assert_msg(cs == 96, "16x16 blocks, 16 ranks: sfc cut %" PRId64 ", expected 96", cs);
    int bad = -1;
    ck_assert_msg(owners_connected(&lay, os, 16, &bad),
                  "16x16 blocks, 16 ranks: sfc blocks of rank %d not 4-connected", bad);
    /* Rank counts where roundrobin does not happen to produce stripes: strict ordering. */
    for (int nranks = 2; nranks <= 17; nranks++) {
        ck_assert(tsr__map_assign(&lay, TSR_MAP_CONTIGUOUS, NULL, nranks, oc));
        ck_assert(tsr__map_assign(&lay, TSR_MAP_ROUNDROBIN, NULL, nranks, orr));
        ck_assert(tsr__map_assign(&lay, TSR_MAP_SFC, NULL, nranks, os));
        cc = cut_edges(&lay, oc), cr = cut_edges(&lay, orr), cs = cut_edges(&lay, os);
        /* Power-of-two rank counts: Hilbert runs are aligned squares or 2:1 rectangles. (For
         * other counts contiguous stripes can win: 3 ranks give sfc 38, contiguous 34.) */
        if ((nranks & (nranks - 1)) == 0)
            ck_assert_msg(cs <= cc,
                          "16x16 blocks, %d ranks: sfc cut %" PRId64 " > contiguous %" PRId64,
                          nranks, cs, cc);
        if (16 % nranks != 0 && nranks % 16 != 0)
            ck_assert_msg(cc < cr,
                          "16x16 blocks, %d ranks: contiguous cut %" PRId64
                          " !< roundrobin %" PRId64,
                          nranks, cc, cr);
        /* Any run of a Hilbert curve is connected. */
        ck_assert_msg(owners_connected(&lay, os, nranks, &bad),
                      "16x16 blocks, %d ranks: sfc blocks of rank %d not 4-connected", nranks, bad);
    }
    tsr__layout_free(&lay);
}
END_TEST

START_TEST(test_sfc_locality_3d) {
    tsr__layout lay;
    make_layout(&lay, 3, (int64_t[]){16, 16, 16}, (int64_t[]){8, 8, 8}, NULL);
    int oc[512], os[512];
    for (int nranks = 1; nranks <= 17; nranks++) {
        ck_assert(tsr__map_assign(&lay, TSR_MAP_CONTIGUOUS, NULL, nranks, oc));
        ck_assert(tsr__map_assign(&lay, TSR_MAP_SFC, NULL, nranks, os));
        int64_t cc = cut_edges(&lay, oc), cs = cut_edges(&lay, os);
        if (nranks == 8) {
            ck_assert_msg(cs <= cc,
                          "8x8x8 blocks, 8 ranks: sfc cut %" PRId64 " > contiguous cut %" PRId64,
                          cs, cc);
            ck_assert_msg(cs == 192, "8x8x8 blocks, 8 ranks: sfc cut %" PRId64 ", expected 192",
                          cs);
        }
        int bad = -1;
        ck_assert_msg(owners_connected(&lay, os, nranks, &bad),
                      "8x8x8 blocks, %d ranks: sfc blocks of rank %d not 6-connected", nranks, bad);
    }
    tsr__layout_free(&lay);
}
END_TEST

/* Checks a curve on a 2^bits grid: a bijection onto [0, 2^(bits*ndim)); optionally that
 * consecutive indices are face-adjacent. */
static void check_curve(int ndim, int bits, bool hilbert) {
    uint64_t size = UINT64_C(1) << (bits * ndim);
    uint32_t side = 1u << bits;
    uint32_t(*pos)[TSR_MAX_DIM] = malloc(sizeof *pos * (size_t)size);
    bool *seen = calloc((size_t)size, sizeof *seen);
    ck_assert(pos && seen);
    uint32_t c[TSR_MAX_DIM] = {0, 0, 0};
    for (c[2] = 0; c[2] < (ndim >= 3 ? side : 1u); c[2]++)
        for (c[1] = 0; c[1] < (ndim >= 2 ? side : 1u); c[1]++)
            for (c[0] = 0; c[0] < side; c[0]++) {
                uint64_t h =
                    hilbert ? tsr__hilbert_index(ndim, bits, c) : tsr__morton_index(ndim, bits, c);
                CHECK_MSG(h < size, "%s ndim=%d bits=%d: (%u,%u,%u) -> %" PRIu64 " >= %" PRIu64,
                          hilbert ? "hilbert" : "morton", ndim, bits, c[0], c[1], c[2], h, size);
                CHECK_MSG(!seen[h], "%s ndim=%d bits=%d: index %" PRIu64 " hit twice",
                          hilbert ? "hilbert" : "morton", ndim, bits, h);
                seen[h] = true;
                memcpy(pos[h], c, sizeof c);
            }
    if (hilbert)
        for (uint64_t h = 1; h < size; h++) {
            int64_t dist = 0;
            for (int d = 0; d < TSR_MAX_DIM; d++)
                dist += llabs((long long)pos[h][d] - (long long)pos[h - 1][d]);
            CHECK_MSG(dist == 1,
                      "hilbert ndim=%d bits=%d: indices %" PRIu64 " (%u,%u,%u) and %" PRIu64
                      " (%u,%u,%u) are %" PRId64 " apart",
                      ndim, bits, h - 1, pos[h - 1][0], pos[h - 1][1], pos[h - 1][2], h, pos[h][0],
                      pos[h][1], pos[h][2], dist);
        }
    free(pos);
    free(seen);
}

START_TEST(test_curves) {
    for (int k = 1; k <= 5; k++) {
        check_curve(2, k, true);
        check_curve(2, k, false);
    }
    for (int k = 1; k <= 3; k++) {
        check_curve(3, k, true);
        check_curve(3, k, false);
    }
    for (int k = 1; k <= 8; k++) {
        check_curve(1, k, true);
        check_curve(1, k, false);
        /* In 1D both curves are the identity. */
        for (uint32_t x = 0; x < (1u << k); x++) {
            uint32_t c[TSR_MAX_DIM] = {x, 0, 0};
            ck_assert_msg(tsr__hilbert_index(1, k, c) == x && tsr__morton_index(1, k, c) == x,
                          "1D bits=%d: x=%u not mapped to itself", k, x);
        }
    }
    /* Morton interleaves x in the lowest bit. */
    uint32_t c10[TSR_MAX_DIM] = {1, 0, 0}, c01[TSR_MAX_DIM] = {0, 1, 0},
             c001[TSR_MAX_DIM] = {0, 0, 1}, c33[TSR_MAX_DIM] = {3, 3, 0};
    ck_assert_uint_eq(tsr__morton_index(2, 2, c10), 1);
    ck_assert_uint_eq(tsr__morton_index(2, 2, c01), 2);
    ck_assert_uint_eq(tsr__morton_index(3, 2, c001), 4);
    ck_assert_uint_eq(tsr__morton_index(2, 2, c33), 15);
    /* Hilbert starts at the origin. */
    uint32_t zero[TSR_MAX_DIM] = {0, 0, 0};
    for (int ndim = 1; ndim <= 3; ndim++)
        ck_assert_msg(tsr__hilbert_index(ndim, 4, zero) == 0, "hilbert ndim=%d: origin not 0",
                      ndim);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * 5. Default blocks
 * ------------------------------------------------------------------------------------------- */

static bool call_default(int ndim, const int64_t *n, const bool *periodic, int nranks,
                         tsr_extents *blocks) {
    tsr_extents size = {.ndim = ndim, .n = {1, 1, 1}};
    for (int d = 0; d < ndim; d++)
        size.n[d] = n[d];
    memset(blocks, 0, sizeof *blocks);
    return tsr__default_blocks(&size, periodic, nranks, blocks);
}

/* Whether m factors as p0*p1*p2 with p[d] <= n[d] (1 past ndim). */
static bool factors_onto(int ndim, const int64_t *n, int64_t m) {
    int64_t lim[3] = {1, 1, 1};
    for (int d = 0; d < ndim; d++)
        lim[d] = n[d];
    for (int64_t a = 1; a <= lim[0] && a <= m; a++) {
        if (m % a)
            continue;
        for (int64_t b = 1; b <= lim[1] && b <= m / a; b++) {
            if ((m / a) % b)
                continue;
            if (m / a / b <= lim[2])
                return true;
        }
    }
    return false;
}

START_TEST(test_default_blocks) {
    tsr_extents b;
    ck_assert(call_default(2, (int64_t[]){64, 64}, NULL, 4, &b));
    ck_assert_msg(b.ndim == 2 && b.n[0] == 2 && b.n[1] == 2 && b.n[2] == 1,
                  "64x64 on 4 ranks: got %dD %" PRId64 "x%" PRId64 "x%" PRId64, b.ndim, b.n[0],
                  b.n[1], b.n[2]);
    ck_assert(call_default(2, (int64_t[]){1024, 64}, NULL, 4, &b));
    ck_assert_msg(b.ndim == 2 && b.n[0] == 4 && b.n[1] == 1 && b.n[2] == 1,
                  "1024x64 on 4 ranks: got %" PRId64 "x%" PRId64 "x%" PRId64, b.n[0], b.n[1],
                  b.n[2]);
    ck_assert(call_default(2, (int64_t[]){64, 1024}, NULL, 4, &b));
    ck_assert_msg(b.n[0] == 1 && b.n[1] == 4,
                  "64x1024 on 4 ranks: got %" PRId64 "x%" PRId64 "x%" PRId64, b.n[0], b.n[1],
                  b.n[2]);
    ck_assert(call_default(3, (int64_t[]){64, 64, 64}, NULL, 8, &b));
    ck_assert_msg(b.ndim == 3 && b.n[0] == 2 && b.n[1] == 2 && b.n[2] == 2,
                  "64^3 on 8 ranks: got %" PRId64 "x%" PRId64 "x%" PRId64, b.n[0], b.n[1], b.n[2]);
    ck_assert(call_default(1, (int64_t[]){100}, NULL, 7, &b));
    ck_assert_msg(b.ndim == 1 && b.n[0] == 7 && b.n[1] == 1 && b.n[2] == 1,
                  "1D 100 on 7 ranks: got %" PRId64 "x%" PRId64 "x%" PRId64, b.n[0], b.n[1],
                  b.n[2]);
    /* Fewer cells than ranks. */
    ck_assert_msg(!call_default(2, (int64_t[]){3, 3}, NULL, 10, &b), "3x3 on 10 ranks accepted");
    ck_assert_msg(!call_default(1, (int64_t[]){5}, NULL, 6, &b), "1D 5 on 6 ranks accepted");
    ck_assert_msg(!call_default(3, (int64_t[]){2, 2, 2}, NULL, 9, &b), "2x2x2 on 9 ranks accepted");

    /* Sweep: product >= nranks, fits the grid, == nranks when nranks factors onto it, and is
     * the smallest count >= nranks that does. */
    static const shape grids[] = {
        {1, {1}, {0}},          {1, {7}, {0}},         {1, {64}, {0}},      {2, {1, 1}, {0}},
        {2, {3, 3}, {0}},       {2, {5, 2}, {0}},      {2, {2, 17}, {0}},   {2, {64, 64}, {0}},
        {2, {1000, 3}, {0}},    {3, {2, 2, 2}, {0}},   {3, {3, 5, 7}, {0}}, {3, {1, 1, 40}, {0}},
        {3, {16, 16, 16}, {0}}, {3, {100, 2, 3}, {0}}, {2, {11, 13}, {0}},
    };
    for (size_t g = 0; g < sizeof grids / sizeof grids[0]; g++)
        for (int per = 0; per < 2; per++)
            for (int nranks = 1; nranks <= 40; nranks++) {
                const shape *s = &grids[g];
                bool periodic[3] = {per != 0, per != 0, per != 0};
                int64_t cells = 1;
                for (int d = 0; d < s->ndim; d++)
                    cells *= s->n[d];
                bool ok = call_default(s->ndim, s->n, periodic, nranks, &b);
                if (cells < nranks) {
                    ck_assert_msg(!ok, "grid %zu (%" PRId64 " cells) on %d ranks accepted", g,
                                  cells, nranks);
                    continue;
                }
                ck_assert_msg(ok, "grid %zu on %d ranks rejected", g, nranks);
                ck_assert_msg(b.ndim == s->ndim, "grid %zu on %d ranks: ndim %d", g, nranks,
                              b.ndim);
                int64_t prod = 1;
                for (int d = 0; d < TSR_MAX_DIM; d++) {
                    int64_t lim = d < s->ndim ? s->n[d] : 1;
                    ck_assert_msg(b.n[d] >= 1 && b.n[d] <= lim,
                                  "grid %zu on %d ranks periodic=%d: %" PRId64
                                  " blocks along %d for %" PRId64 " cells",
                                  g, nranks, per, b.n[d], d, lim);
                    prod *= b.n[d];
                }
                ck_assert_msg(prod >= nranks, "grid %zu on %d ranks: %" PRId64 " blocks", g, nranks,
                              prod);
                if (factors_onto(s->ndim, s->n, nranks))
                    ck_assert_msg(prod == nranks,
                                  "grid %zu on %d ranks periodic=%d: %" PRId64
                                  " blocks although %d factors onto the grid",
                                  g, nranks, per, prod, nranks);
                for (int64_t m = nranks; m < prod; m++)
                    ck_assert_msg(!factors_onto(s->ndim, s->n, m),
                                  "grid %zu on %d ranks: %" PRId64 " blocks but %" PRId64 " fits",
                                  g, nranks, prod, m);
            }
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * 6. Plan figures in 64 bits
 * ------------------------------------------------------------------------------------------- */

/* Halo bytes sent and peers per rank, computed straight from the cuts. */
static void expected_stats(const tsr__layout *lay, const int *owner, int nranks, int width,
                           tsr_stencil stencil, int64_t *bytes, int64_t *peers) {
    bool *link = calloc((size_t)nranks * (size_t)nranks, sizeof *link);
    ck_assert(link);
    for (int r = 0; r < nranks; r++)
        bytes[r] = peers[r] = 0;
    int zr = lay->ndim >= 3, yr = lay->ndim >= 2;
    for (int64_t b = 0; b < lay->nblocks; b++) {
        int64_t c[3] = {b % lay->nb[0], (b / lay->nb[0]) % lay->nb[1],
                        b / (lay->nb[0] * lay->nb[1])};
        for (int dz = -zr; dz <= zr; dz++)
            for (int dy = -yr; dy <= yr; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int dir[3] = {dx, dy, dz};
                    int nz = (dx != 0) + (dy != 0) + (dz != 0);
                    if (nz == 0 || (stencil == TSR_STENCIL_STAR && nz > 1))
                        continue;
                    int64_t s[3];
                    bool exists = true;
                    int64_t vol = 1;
                    for (int d = 0; d < 3; d++) {
                        s[d] = c[d] + dir[d];
                        if (s[d] < 0 || s[d] >= lay->nb[d]) {
                            if (!lay->periodic[d])
                                exists = false;
                            s[d] = (s[d] + lay->nb[d]) % lay->nb[d];
                        }
                        vol *= dir[d] ? width : lay->cuts[d][c[d] + 1] - lay->cuts[d][c[d]];
                    }
                    if (!exists)
                        continue;
                    int64_t src = s[0] + lay->nb[0] * (s[1] + lay->nb[1] * s[2]);
                    if (owner[src] == owner[b])
                        continue;
                    bytes[owner[src]] += vol * 8;
                    link[(size_t)owner[src] * (size_t)nranks + (size_t)owner[b]] = true;
                }
    }
    for (int r = 0; r < nranks; r++)
        for (int q = 0; q < nranks; q++)
            peers[r] += link[(size_t)r * (size_t)nranks + (size_t)q];
    free(link);
}

static void check_plan(const tsr__layout *lay, const int *owner, int nranks, int width,
                       tsr_stencil stencil) {
    tsr__rank_stats *st = malloc(sizeof *st * (size_t)nranks);
    int64_t *bytes = malloc(sizeof *bytes * (size_t)nranks);
    int64_t *peers = malloc(sizeof *peers * (size_t)nranks);
    ck_assert(st && bytes && peers);
    ck_assert_msg(tsr__plan_stats(lay, owner, nranks, width, stencil, st),
                  "%s: tsr__plan_stats failed", describe(lay));
    expected_stats(lay, owner, nranks, width, stencil, bytes, peers);
    int64_t cells = 0, blocks = 0;
    for (int r = 0; r < nranks; r++) {
        cells += st[r].cells;
        blocks += st[r].blocks;
        ck_assert_msg(st[r].halo_bytes == bytes[r],
                      "%s %d ranks width %d %s: rank %d halo bytes %" PRId64 ", expected %" PRId64,
                      describe(lay), nranks, width, stencil == TSR_STENCIL_STAR ? "star" : "box", r,
                      st[r].halo_bytes, bytes[r]);
        ck_assert_msg(st[r].peers == peers[r],
                      "%s %d ranks width %d %s: rank %d peers %" PRId64 ", expected %" PRId64,
                      describe(lay), nranks, width, stencil == TSR_STENCIL_STAR ? "star" : "box", r,
                      st[r].peers, peers[r]);
    }
    ck_assert_msg(cells == lay->n[0] * lay->n[1] * lay->n[2],
                  "%s: ranks hold %" PRId64 " cells in all", describe(lay), cells);
    ck_assert_msg(blocks == lay->nblocks, "%s: ranks hold %" PRId64 " blocks in all", describe(lay),
                  blocks);
    free(st);
    free(bytes);
    free(peers);
}

START_TEST(test_plan_64bit) {
    static const shape big[] = {
        {2, {100000, 100000}, {4, 4}},
        {3, {4096, 4096, 4096}, {8, 8, 8}},
        {2, {100000, 100000}, {2, 2}},
        {3, {4096, 4096, 4096}, {2, 2, 1}},
        {3, {100000, 100000, 100000}, {3, 2, 5}},
    };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
        for (int per = 0; per < 2; per++) {
            bool periodic[3] = {per != 0, per != 0, per != 0};
            tsr__layout lay;
            make_layout(&lay, big[i].ndim, big[i].n, big[i].nb, periodic);
            int64_t total = lay.n[0] * lay.n[1] * lay.n[2];
            ck_assert(total > INT32_MAX);
            /* block cells in 64 bits */
            for (int64_t b = 0; b < lay.nblocks; b++) {
                int64_t c[3];
                tsr__block_coords(&lay, b, c);
                int64_t expect = 1;
                for (int d = 0; d < 3; d++) {
                    int64_t base = lay.n[d] / lay.nb[d];
                    expect *= c[d] < lay.n[d] % lay.nb[d] ? base + 1 : base;
                }
                int64_t got = tsr__block_cells(&lay, b);
                ck_assert_msg(got == expect,
                              "%s: block %" PRId64 " has %" PRId64 " cells, expected %" PRId64,
                              describe(&lay), b, got, expect);
                ck_assert_msg((got > INT32_MAX) == (expect > INT32_MAX), "%s: block %" PRId64,
                              describe(&lay), b);
            }
            int *owner = malloc(sizeof *owner * (size_t)lay.nblocks);
            ck_assert(owner);
            for (int si = 0; si < NSTRATEGIES; si++) {
                int nranks = 5;
                ck_assert(tsr__map_assign(&lay, all_strategies[si], NULL, nranks, owner));
                for (int width = 1; width <= 2; width++) {
                    check_plan(&lay, owner, nranks, width, TSR_STENCIL_STAR);
                    check_plan(&lay, owner, nranks, width, TSR_STENCIL_BOX);
                }
            }
            free(owner);
            tsr__layout_free(&lay);
        }
    /* Blocks of more than 2^31 cells. */
    {
        tsr__layout lay;
        make_layout(&lay, 2, (int64_t[]){100000, 100000}, (int64_t[]){2, 2}, NULL);
        for (int64_t b = 0; b < 4; b++)
            ck_assert_msg(tsr__block_cells(&lay, b) == INT64_C(2500000000),
                          "1e5^2 / 2x2: block %" PRId64 " has %" PRId64 " cells", b,
                          tsr__block_cells(&lay, b));
        tsr__layout_free(&lay);
        make_layout(&lay, 3, (int64_t[]){4096, 4096, 4096}, (int64_t[]){8, 8, 8}, NULL);
        ck_assert_int_eq(tsr__block_cells(&lay, 0), INT64_C(512) * 512 * 512);
        tsr__layout_free(&lay);
    }
}
END_TEST

/* Two blocks along x on two ranks: every rank sends one face (two when x wraps), plus corners
 * with a box stencil when y wraps too. Values worked out by hand. */
START_TEST(test_plan_by_hand) {
    int owner[2] = {0, 1};
    tsr__rank_stats st[2];
    for (int width = 1; width <= 20; width++)
        for (int per = 0; per < 4; per++) {
            bool px = per & 1, py = per & 2;
            /* 2D 100000 x 100000 (1e10 cells) */
            tsr__layout lay;
            make_layout(&lay, 2, (int64_t[]){100000, 100000}, (int64_t[]){2, 1}, (bool[]){px, py});
            for (int stc = 0; stc < 2; stc++) {
                tsr_stencil s = stc ? TSR_STENCIL_BOX : TSR_STENCIL_STAR;
                ck_assert(tsr__plan_stats(&lay, owner, 2, width, s, st));
                int64_t faces = px ? 2 : 1;
                int64_t expect = faces * width * INT64_C(100000) * 8;
                if (s == TSR_STENCIL_BOX && py)
                    expect += 2 * faces * (int64_t)width * width * 8;
                for (int r = 0; r < 2; r++) {
                    ck_assert_msg(st[r].halo_bytes == expect,
                                  "2D 2x1 blocks width %d px=%d py=%d %s: rank %d sends %" PRId64
                                  " bytes, expected %" PRId64,
                                  width, px, py, stc ? "box" : "star", r, st[r].halo_bytes, expect);
                    ck_assert_int_eq(st[r].cells, INT64_C(5000000000));
                    ck_assert_int_eq(st[r].blocks, 1);
                    ck_assert_int_eq(st[r].peers, 1);
                }
            }
            tsr__layout_free(&lay);
            /* 3D 4096^3: one face is 4096^2 cells; width 20 sends > 2^31 bytes. */
            make_layout(&lay, 3, (int64_t[]){4096, 4096, 4096}, (int64_t[]){2, 1, 1},
                        (bool[]){px, false, false});
            ck_assert(tsr__plan_stats(&lay, owner, 2, width, TSR_STENCIL_STAR, st));
            int64_t expect = (px ? 2 : 1) * (int64_t)width * 4096 * 4096 * 8;
            for (int r = 0; r < 2; r++) {
                ck_assert_msg(st[r].halo_bytes == expect,
                              "3D 2x1x1 width %d px=%d: rank %d sends %" PRId64
                              " bytes, expected %" PRId64,
                              width, px, r, st[r].halo_bytes, expect);
                ck_assert_int_eq(st[r].cells, INT64_C(4096) * 4096 * 2048);
            }
            tsr__layout_free(&lay);
        }
    /* One rank: nothing to send. */
    tsr__layout lay;
    make_layout(&lay, 2, (int64_t[]){100000, 100000}, (int64_t[]){2, 1}, (bool[]){true, true});
    int one[2] = {0, 0};
    ck_assert(tsr__plan_stats(&lay, one, 1, 2, TSR_STENCIL_BOX, st));
    ck_assert_int_eq(st[0].halo_bytes, 0);
    ck_assert_int_eq(st[0].peers, 0);
    ck_assert_int_eq(st[0].cells, INT64_C(10000000000));
    tsr__layout_free(&lay);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * 7. Neighbours, transfer boxes, width violations
 * ------------------------------------------------------------------------------------------- */

START_TEST(test_directions) {
    static const int star[] = {2, 4, 6}, box[] = {2, 8, 26};
    int dirs[TSR_MAX_DIRS][TSR_MAX_DIM];
    for (int ndim = 1; ndim <= 3; ndim++)
        for (int stc = 0; stc < 2; stc++) {
            tsr_stencil s = stc ? TSR_STENCIL_BOX : TSR_STENCIL_STAR;
            int k = tsr__directions(ndim, s, dirs);
            int want = stc ? box[ndim - 1] : star[ndim - 1];
            ck_assert_msg(k == want, "%dD %s: %d directions", ndim, stc ? "box" : "star", k);
            for (int i = 0; i < k; i++) {
                int nz = 0;
                for (int d = 0; d < TSR_MAX_DIM; d++) {
                    ck_assert_msg(dirs[i][d] >= -1 && dirs[i][d] <= 1, "%dD: bad component", ndim);
                    if (d >= ndim)
                        ck_assert_msg(dirs[i][d] == 0, "%dD %s: direction %d moves along dim %d",
                                      ndim, stc ? "box" : "star", i, d);
                    nz += dirs[i][d] != 0;
                }
                ck_assert_msg(nz >= 1, "%dD: zero direction", ndim);
                if (!stc)
                    ck_assert_msg(nz == 1, "%dD star: direction %d not a face", ndim, i);
                for (int j = 0; j < i; j++)
                    ck_assert_msg(memcmp(dirs[i], dirs[j], sizeof dirs[i]) != 0,
                                  "%dD %s: directions %d and %d equal", ndim, stc ? "box" : "star",
                                  i, j);
                /* the opposite direction is in the list too */
                bool found = false;
                for (int j = 0; j < k; j++)
                    found |= dirs[j][0] == -dirs[i][0] && dirs[j][1] == -dirs[i][1] &&
                             dirs[j][2] == -dirs[i][2];
                ck_assert_msg(found, "%dD %s: direction %d has no opposite", ndim,
                              stc ? "box" : "star", i);
            }
        }
}
END_TEST

static const shape nbr_shapes[] = {
    {1, {1}, {1}},
    {1, {2}, {2}},
    {1, {11}, {5}},
    {2, {1, 1}, {1, 1}},
    {2, {2, 1}, {2, 1}},
    {2, {9, 12}, {3, 4}},
    {2, {4, 7}, {1, 3}},
    {3, {1, 1, 1}, {1, 1, 1}},
    {3, {7, 4, 9}, {3, 2, 4}},
    {3, {4, 4, 4}, {2, 2, 2}},
    {3, {5, 3, 8}, {1, 3, 2}},
};

START_TEST(test_neighbors) {
    int dirs[TSR_MAX_DIRS][TSR_MAX_DIM];
    for (size_t i = 0; i < sizeof nbr_shapes / sizeof nbr_shapes[0]; i++) {
        const shape *s = &nbr_shapes[i];
        int ndirs = tsr__directions(s->ndim, TSR_STENCIL_BOX, dirs);
        for (int per = 0; per < (1 << s->ndim); per++) {
            bool periodic[3] = {per & 1, (per >> 1) & 1, (per >> 2) & 1};
            tsr__layout lay;
            make_layout(&lay, s->ndim, s->n, s->nb, periodic);
            const char *what = describe(&lay);
            for (int64_t b = 0; b < lay.nblocks; b++) {
                int64_t c[3];
                tsr__block_coords(&lay, b, c);
                for (int k = 0; k < ndirs; k++) {
                    int64_t nb = tsr__neighbor(&lay, b, dirs[k]);
                    /* expected, from coordinates */
                    bool exists = true;
                    int64_t e[3];
                    for (int d = 0; d < 3; d++) {
                        e[d] = c[d] + dirs[k][d];
                        if (e[d] < 0 || e[d] >= lay.nb[d]) {
                            exists &= lay.periodic[d];
                            e[d] = (e[d] + lay.nb[d]) % lay.nb[d];
                        }
                    }
                    int64_t expect = exists ? block_id(&lay, e) : -1;
                    CHECK_MSG(nb == expect,
                              "%s: neighbour of %" PRId64 " in (%d,%d,%d) is %" PRId64
                              ", expected %" PRId64,
                              what, b, dirs[k][0], dirs[k][1], dirs[k][2], nb, expect);
                    if (lay.nblocks == 1 && per == (1 << s->ndim) - 1)
                        CHECK_MSG(nb == b, "%s: single periodic block's neighbour is %" PRId64,
                                  what, nb);
                    if (nb < 0)
                        continue;
                    int back[3] = {-dirs[k][0], -dirs[k][1], -dirs[k][2]};
                    int64_t bb = tsr__neighbor(&lay, nb, back);
                    CHECK_MSG(bb == b,
                              "%s: neighbour(neighbour(%" PRId64 ", (%d,%d,%d)), -dir) = %" PRId64,
                              what, b, dirs[k][0], dirs[k][1], dirs[k][2], bb);
                }
            }
            tsr__layout_free(&lay);
        }
    }
}
END_TEST

START_TEST(test_width_violation) {
    tsr__layout lay;
    int64_t blk;
    /* 10x3 cells, 2x1 blocks: x blocks are 5 wide; y has one block of 3. */
    make_layout(&lay, 2, (int64_t[]){10, 3}, (int64_t[]){2, 1}, (bool[]){false, false});
    blk = -7;
    ck_assert_int_eq(tsr__width_violation(&lay, 4, &blk), -1);
    ck_assert_int_eq(tsr__width_violation(&lay, 5, &blk), -1);
    blk = -7;
    ck_assert_int_eq(tsr__width_violation(&lay, 6, &blk), 0);
    ck_assert_int_eq(blk, 0);
    tsr__layout_free(&lay);
    /* Periodic y: the single y block is its own neighbour, so its 3 cells count. */
    make_layout(&lay, 2, (int64_t[]){10, 3}, (int64_t[]){2, 1}, (bool[]){false, true});
    ck_assert_int_eq(tsr__width_violation(&lay, 3, &blk), -1);
    blk = -7;
    ck_assert_int_eq(tsr__width_violation(&lay, 4, &blk), 1);
    ck_assert_int_eq(blk, 0);
    tsr__layout_free(&lay);
    /* Uneven: 11 cells in 2 blocks (6, 5): width 6 is too wide for block 1 only. */
    make_layout(&lay, 1, (int64_t[]){11}, (int64_t[]){2}, NULL);
    blk = -7;
    ck_assert_int_eq(tsr__width_violation(&lay, 6, &blk), 0);
    ck_assert_int_eq(blk, 1);
    tsr__layout_free(&lay);
    /* Violation along y at the third y block: id = 0 + nb[0] * 2. */
    make_layout(&lay, 2, (int64_t[]){20, 8}, (int64_t[]){2, 3}, NULL);
    blk = -7;
    ck_assert_int_eq(tsr__width_violation(&lay, 3, &blk), 1);
    ck_assert_int_eq(blk, 4);
    tsr__layout_free(&lay);
    /* Non-periodic single-block dims are ignored however thin. */
    make_layout(&lay, 3, (int64_t[]){100, 1, 1}, (int64_t[]){10, 1, 1}, NULL);
    ck_assert_int_eq(tsr__width_violation(&lay, 10, &blk), -1);
    blk = -7;
    ck_assert_int_eq(tsr__width_violation(&lay, 11, &blk), 0);
    ck_assert_int_eq(blk, 0);
    tsr__layout_free(&lay);
    make_layout(&lay, 3, (int64_t[]){100, 1, 1}, (int64_t[]){10, 1, 1},
                (bool[]){false, false, true});
    blk = -7;
    ck_assert_int_eq(tsr__width_violation(&lay, 2, &blk), 2);
    ck_assert_int_eq(blk, 0);
    tsr__layout_free(&lay);
    /* Sweep against a direct computation. */
    for (size_t i = 0; i < sizeof nbr_shapes / sizeof nbr_shapes[0]; i++) {
        const shape *s = &nbr_shapes[i];
        for (int per = 0; per < (1 << s->ndim); per++) {
            bool periodic[3] = {per & 1, (per >> 1) & 1, (per >> 2) & 1};
            make_layout(&lay, s->ndim, s->n, s->nb, periodic);
            for (int width = 1; width <= 6; width++) {
                int expect = -1;
                for (int d = 0; d < s->ndim && expect < 0; d++) {
                    if (lay.nb[d] == 1 && !lay.periodic[d])
                        continue;
                    if (lay.n[d] / lay.nb[d] < width)
                        expect = d;
                }
                int got = tsr__width_violation(&lay, width, &blk);
                ck_assert_msg(got == expect, "%s width %d: violation along %d, expected %d",
                              describe(&lay), width, got, expect);
                if (got >= 0) {
                    tsr_box box;
                    tsr__block_box(&lay, blk, &box);
                    ck_assert_msg(box.hi[got] - box.lo[got] < width,
                                  "%s width %d: reported block %" PRId64 " is wide enough",
                                  describe(&lay), width, blk);
                }
            }
            tsr__layout_free(&lay);
        }
    }
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * 8. Size strings
 * ------------------------------------------------------------------------------------------- */

START_TEST(test_extents_parse) {
    static const struct {
        const char *text;
        int ndim;
        int64_t n[3];
    } good[] = {
        {"64", 1, {64, 1, 1}},
        {"64x32", 2, {64, 32, 1}},
        {"8x4x2", 3, {8, 4, 2}},
        {"1", 1, {1, 1, 1}},
        {"100000x100000", 2, {100000, 100000, 1}},
        {"9223372036854775807", 1, {INT64_MAX, 1, 1}},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        tsr_extents e;
        int rc = tsr_extents_parse(NULL, "test", good[i].text, &e);
        ck_assert_msg(rc == TSR_SUCCESS, "'%s' rejected (%d)", good[i].text, rc);
        ck_assert_msg(e.ndim == good[i].ndim, "'%s': ndim %d", good[i].text, e.ndim);
        for (int d = 0; d < 3; d++)
            ck_assert_msg(e.n[d] == good[i].n[d], "'%s': n[%d] = %" PRId64, good[i].text, d,
                          e.n[d]);
    }
    static const char *const bad[] = {"",
                                      "0x4",
                                      "-3x4",
                                      "4x",
                                      "x4",
                                      "4x4x4x4",
                                      "12ab",
                                      "99999999999999999999",
                                      "4x-1",
                                      "4x0",
                                      "4x4x",
                                      " 4",
                                      "+4",
                                      "4 x4",
                                      "4,4",
                                      "4x4 ",
                                      "4294967296x4294967296",
                                      "3037000500x3037000500"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tsr_extents e;
        int rc = tsr_extents_parse(NULL, "test", bad[i], &e);
        ck_assert_msg(rc == TSR_ERR_INPUT, "'%s' gave %d, expected TSR_ERR_INPUT", bad[i], rc);
    }
    {
        tsr_extents e;
        ck_assert_int_eq(tsr_extents_parse(NULL, "test", NULL, &e), TSR_ERR_INPUT);
    }
    /* Volume. */
    tsr_extents e = {.ndim = 3, .n = {2, 3, 4}};
    ck_assert_int_eq(tsr_extents_volume(&e), 24);
    e = (tsr_extents){.ndim = 2, .n = {100000, 100000, 77}};
    ck_assert_int_eq(tsr_extents_volume(&e), INT64_C(10000000000));
    e = (tsr_extents){.ndim = 3, .n = {4096, 4096, 4096}};
    ck_assert_int_eq(tsr_extents_volume(&e), INT64_C(68719476736));
    e = (tsr_extents){.ndim = 2, .n = {INT64_C(1) << 32, INT64_C(1) << 31, 1}};
    ck_assert_int_eq(tsr_extents_volume(&e), 0); /* 2^63 overflows */
    e = (tsr_extents){.ndim = 2, .n = {INT64_C(1) << 31, INT64_C(1) << 31, 1}};
    ck_assert_int_eq(tsr_extents_volume(&e), INT64_C(1) << 62);
    e = (tsr_extents){.ndim = 1, .n = {0, 1, 1}};
    ck_assert_int_eq(tsr_extents_volume(&e), 0);
    e = (tsr_extents){.ndim = 2, .n = {5, -2, 1}};
    ck_assert_int_eq(tsr_extents_volume(&e), 0);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Suite
 * ------------------------------------------------------------------------------------------- */

static Suite *layout_suite(void) {
    Suite *s = suite_create("layout");
    TCase *tc;

    tc = tcase_create("decomposition");
    tcase_add_test(tc, test_cuts_monotone);
    tcase_add_test(tc, test_cover_exactly_once);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("map");
    tcase_add_test(tc, test_map_every_block_owned);
    tcase_add_test(tc, test_no_idle_with_uneven_blocks);
    tcase_add_test(tc, test_knapsack_lpt_bound);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("sfc");
    tcase_add_test(tc, test_sfc_locality_2d);
    tcase_add_test(tc, test_sfc_locality_3d);
    tcase_add_test(tc, test_curves);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("default_blocks");
    tcase_add_test(tc, test_default_blocks);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("plan");
    tcase_add_test(tc, test_plan_64bit);
    tcase_add_test(tc, test_plan_by_hand);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("neighbors");
    tcase_add_test(tc, test_directions);
    tcase_add_test(tc, test_neighbors);
    tcase_add_test(tc, test_width_violation);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("extents");
    tcase_add_test(tc, test_extents_parse);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return tsr_ck_run_suite(layout_suite());
}
