/* Unit tests of the exchange engine's geometry (no MPI): the pieces that fill a block's regions
 * cover every cell of them exactly once from the right source cell, and the senders' view of the
 * pieces (from source blocks) is the receivers' view (into destination blocks), piece for piece,
 * for halos of any width (multi-hop included), both stencils, any periodicity, and remaps between
 * decompositions. */
#include <check.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "exchange_impl.h"
#include "ck_main.h"

#define CHECK_MSG(expr, ...)                                                                       \
    do {                                                                                           \
        if (!(expr))                                                                               \
            ck_assert_msg(expr, __VA_ARGS__);                                                      \
    } while (0)

static void make_layout(tsr__layout *lay, int ndim, const int64_t *n, const int64_t *nb,
                        const bool *periodic) {
    memset(lay, 0, sizeof *lay);
    lay->ndim = ndim;
    for (int d = 0; d < TSR_MAX_DIM; d++) {
        lay->n[d] = d < ndim ? n[d] : 1;
        lay->nb[d] = d < ndim ? nb[d] : 1;
        lay->periodic[d] = d < ndim && periodic && periodic[d];
    }
    ck_assert(tsr__layout_cut(lay));
}

typedef struct plist {
    tsr__piece *a;
    int64_t n, cap;
} plist;

static bool collect(const tsr__piece *p, void *user) {
    plist *l = user;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->a = realloc(l->a, sizeof *l->a * (size_t)l->cap);
        ck_assert(l->a);
    }
    l->a[l->n++] = *p;
    return true;
}

static int cmp_piece(const void *x, const void *y) {
    const tsr__piece *a = x, *b = y;
    if (a->dst != b->dst)
        return a->dst < b->dst ? -1 : 1;
    if (a->region != b->region)
        return a->region < b->region ? -1 : 1;
    if (a->src != b->src)
        return a->src < b->src ? -1 : 1;
    for (int d = 0; d < TSR_MAX_DIM; d++)
        if (a->image[d] != b->image[d])
            return a->image[d] < b->image[d] ? -1 : 1;
    return 0;
}

/* Is local cell c of block box b (extents nd) in the regions R? */
static bool in_regions(const tsr__regions *R, const int64_t c[3], const int64_t nd[3]) {
    int dir[3];
    for (int d = 0; d < 3; d++)
        dir[d] = c[d] < 0 ? -1 : c[d] >= nd[d] ? 1 : 0;
    for (int k = 0; k < R->n; k++)
        if (R->dirs[k][0] == dir[0] && R->dirs[k][1] == dir[1] && R->dirs[k][2] == dir[2])
            return true;
    return false;
}

/* Checks the pieces into every block of D from S against a brute-force cover of its regions,
 * and that the pieces from every block of S are the same list. */
static void check_plan(const tsr__layout *D, const tsr__layout *S, const tsr__regions *R,
                       const char *what) {
    plist into = {0}, from = {0};
    int64_t w = R->width;
    for (int64_t t = 0; t < D->nblocks; t++) {
        int64_t first = into.n;
        ck_assert(tsr__pieces_into(D, t, S, R, collect, &into));
        tsr_box tb;
        tsr__block_box(D, t, &tb);
        int64_t nd[3], r[3], ext[3];
        for (int d = 0; d < 3; d++) {
            nd[d] = tb.hi[d] - tb.lo[d];
            r[d] = d < D->ndim ? w : 0;
            ext[d] = nd[d] + 2 * r[d];
        }
        int *cover = calloc((size_t)(ext[0] * ext[1] * ext[2]), sizeof *cover);
        ck_assert(cover);
        for (int64_t i = first; i < into.n; i++) {
            const tsr__piece *p = &into.a[i];
            tsr_box sb;
            tsr__block_box(S, p->src, &sb);
            CHECK_MSG(p->dst == t, "%s: piece into %" PRId64 " names dst %" PRId64, what, t,
                      p->dst);
            for (int64_t z = p->db.lo[2]; z < p->db.hi[2]; z++)
                for (int64_t y = p->db.lo[1]; y < p->db.hi[1]; y++)
                    for (int64_t x = p->db.lo[0]; x < p->db.hi[0]; x++) {
                        int64_t c[3] = {x, y, z};
                        int64_t idx = 0;
                        for (int d = 2; d >= 0; d--) {
                            CHECK_MSG(c[d] >= -r[d] && c[d] < nd[d] + r[d],
                                      "%s: block %" PRId64 " piece outside its grown box", what, t);
                            idx = idx * ext[d] + (c[d] + r[d]);
                        }
                        cover[idx]++;
                        /* The source cell: same global cell, modulo periodic images. */
                        for (int d = 0; d < 3; d++) {
                            int64_t gd = tb.lo[d] + c[d];
                            int64_t gs = sb.lo[d] + p->sb.lo[d] + (c[d] - p->db.lo[d]);
                            CHECK_MSG(gs >= sb.lo[d] && gs < sb.hi[d],
                                      "%s: source cell outside block %" PRId64, what, p->src);
                            CHECK_MSG(gd - gs == (int64_t)p->image[d] * S->n[d],
                                      "%s: block %" PRId64 " cell %" PRId64 " along %d filled "
                                      "from %" PRId64 " (image %d)",
                                      what, t, gd, d, gs, p->image[d]);
                        }
                    }
        }
        for (int64_t z = -r[2]; z < nd[2] + r[2]; z++)
            for (int64_t y = -r[1]; y < nd[1] + r[1]; y++)
                for (int64_t x = -r[0]; x < nd[0] + r[0]; x++) {
                    int64_t c[3] = {x, y, z};
                    bool want = in_regions(R, c, nd);
                    for (int d = 0; d < 3 && want; d++) {
                        int64_t g = tb.lo[d] + c[d];
                        want = (R->width > 0 && S->periodic[d]) || (g >= 0 && g < S->n[d]);
                    }
                    int64_t idx = (z + r[2]) * ext[1] * ext[0] + (y + r[1]) * ext[0] + (x + r[0]);
                    CHECK_MSG(cover[idx] == (want ? 1 : 0),
                              "%s: block %" PRId64 " cell (%" PRId64 ",%" PRId64 ",%" PRId64
                              ") covered %d times, expected %d",
                              what, t, x, y, z, cover[idx], want ? 1 : 0);
                }
        free(cover);
    }
    for (int64_t s = 0; s < S->nblocks; s++)
        ck_assert(tsr__pieces_from(S, s, D, R, collect, &from));
    CHECK_MSG(into.n == from.n, "%s: %" PRId64 " pieces into blocks, %" PRId64 " from blocks", what,
              into.n, from.n);
    if (into.n > 0) { /* a lone bounded block has no pieces (and no list) */
        qsort(into.a, (size_t)into.n, sizeof *into.a, cmp_piece);
        qsort(from.a, (size_t)from.n, sizeof *from.a, cmp_piece);
    }
    for (int64_t i = 0; i < into.n; i++) {
        CHECK_MSG(cmp_piece(&into.a[i], &from.a[i]) == 0 &&
                      memcmp(&into.a[i].db, &from.a[i].db, sizeof(tsr_box)) == 0 &&
                      memcmp(&into.a[i].sb, &from.a[i].sb, sizeof(tsr_box)) == 0,
                  "%s: piece %" PRId64 " differs between receiver and sender", what, i);
        if (i > 0)
            CHECK_MSG(cmp_piece(&into.a[i - 1], &into.a[i]) < 0, "%s: duplicate piece key", what);
    }
    free(into.a);
    free(from.a);
}

typedef struct shape {
    int ndim;
    int64_t n[3], nb[3];
} shape;

static const shape shapes[] = {
    {1, {37}, {12}},           {1, {5}, {1}},       {2, {23, 17}, {7, 5}},
    {2, {9, 4}, {3, 4}},       {2, {6, 6}, {1, 1}}, {3, {11, 9, 7}, {3, 3, 2}},
    {3, {4, 5, 6}, {2, 1, 3}},
};

/* Calls fn on every shape's layout with every combination of periodic dimensions. */
static void each_layout(void (*fn)(const shape *s, size_t i, int per, const tsr__layout *lay)) {
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const shape *s = &shapes[i];
        for (int per = 0; per < (1 << s->ndim); per++) {
            bool periodic[3] = {per & 1, (per >> 1) & 1, (per >> 2) & 1};
            tsr__layout lay;
            make_layout(&lay, s->ndim, s->n, s->nb, periodic);
            fn(s, i, per, &lay);
            tsr__layout_free(&lay);
        }
    }
}

static void halo_pieces_of(const shape *s, size_t i, int per, const tsr__layout *L) {
    (void)i;
    tsr__layout lay = *L;
    int64_t extent = INT64_MAX, grid = INT64_MAX;
    for (int d = 0; d < s->ndim; d++) {
        int64_t e = lay.cuts[d][1] - lay.cuts[d][0];
        for (int64_t b = 0; b < lay.nb[d]; b++)
            e = lay.cuts[d][b + 1] - lay.cuts[d][b] < e ? lay.cuts[d][b + 1] - lay.cuts[d][b] : e;
        extent = e < extent ? e : extent;
        grid = s->n[d] < grid ? s->n[d] : grid;
    }
    int64_t widths[] = {1, 2, extent + 1, 2 * extent, 3 * extent};
    for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++) {
        if (per && widths[wi] > grid)
            continue; /* refused by tsr_halo_create */
        for (int st = 0; st < 2; st++) {
            tsr__regions R;
            tsr__regions_halo(s->ndim, st ? TSR_STENCIL_BOX : TSR_STENCIL_STAR, (int)widths[wi],
                              &R);
            char what[160];
            snprintf(what, sizeof what,
                     "%dD n=%" PRId64 "x%" PRId64 "x%" PRId64 " nb=%" PRId64 "x%" PRId64 "x%" PRId64
                     " per=%d width %" PRId64 " %s",
                     s->ndim, lay.n[0], lay.n[1], lay.n[2], lay.nb[0], lay.nb[1], lay.nb[2], per,
                     widths[wi], st ? "box" : "star");
            check_plan(&lay, &lay, &R, what);
        }
    }
}

START_TEST(test_halo_pieces) {
    each_layout(halo_pieces_of);
}
END_TEST

START_TEST(test_remap_pieces) {
    static const struct {
        int ndim;
        int64_t n[3], a[3], b[3];
    } pairs[] = {
        {1, {37}, {12}, {5}},
        {2, {23, 17}, {4, 4}, {8, 2}},
        {2, {16, 16}, {4, 4}, {8, 2}},
        {2, {9, 4}, {1, 1}, {3, 4}},
        {3, {11, 9, 7}, {3, 3, 2}, {2, 1, 5}},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++)
        for (int per = 0; per < 2; per++) {
            bool periodic[3] = {per, per, per}; /* a remap never wraps */
            tsr__layout A, B;
            make_layout(&A, pairs[i].ndim, pairs[i].n, pairs[i].a, periodic);
            make_layout(&B, pairs[i].ndim, pairs[i].n, pairs[i].b, periodic);
            tsr__regions R;
            tsr__regions_remap(&R);
            char what[64];
            snprintf(what, sizeof what, "remap pair %zu per=%d", i, per);
            check_plan(&B, &A, &R, what);
            check_plan(&A, &B, &R, what);
            check_plan(&A, &A, &R, what);
            tsr__layout_free(&A);
            tsr__layout_free(&B);
        }
}
END_TEST

/* A sparse map's part for a rank (tsr__map_around, then tsr__map_known_sort): its blocks and
 * every source block of the box halo of width 1 into them, found from block coordinates, equals
 * what the pieces give, sorted and without repeats. */
static void map_around_of(const shape *s, size_t i, int per, const tsr__layout *L) {
    tsr__layout lay = *L;
    tsr__regions R;
    tsr__regions_halo(s->ndim, TSR_STENCIL_BOX, 1, &R);
    /* every third block, from each of three starts: scattered like a knapsack's */
    for (int64_t start = 0; start < 3; start++) {
        int64_t own[64], n = 0;
        for (int64_t b = start; b < lay.nblocks && n < 64; b += 3)
            own[n++] = b;
        bool want[1024] = {false};
        ck_assert(lay.nblocks <= 1024);
        plist pl = {0};
        for (int64_t k = 0; k < n; k++) {
            want[own[k]] = true;
            ck_assert(tsr__pieces_into(&lay, own[k], &lay, &R, collect, &pl));
        }
        for (int64_t k = 0; k < pl.n; k++)
            want[pl.a[k].src] = true;
        free(pl.a);
        int64_t *ids = NULL, count = 0, cap = 0, expect = 0;
        ck_assert(tsr__map_around(&lay, own, n, &ids, &count, &cap));
        int *owners = calloc((size_t)count + 1, sizeof *owners);
        ck_assert(owners && tsr__map_known_sort(ids, owners, &count));
        free(owners);
        for (int64_t b = 0; b < lay.nblocks; b++)
            expect += want[b];
        CHECK_MSG(count == expect,
                  "%dD shape %zu per=%d start %" PRId64 ": %" PRId64
                  " blocks around, the pieces give %" PRId64,
                  s->ndim, i, per, start, count, expect);
        for (int64_t k = 0; k < count; k++)
            CHECK_MSG(want[ids[k]] && (k == 0 || ids[k] > ids[k - 1]),
                      "%dD shape %zu per=%d: block %" PRId64 " listed wrongly", s->ndim, i, per,
                      ids[k]);
        free(ids);
    }
}

START_TEST(test_map_around) {
    each_layout(map_around_of);
}
END_TEST

TSR_CK_MAIN("exchange", "geometry", test_halo_pieces, test_remap_pieces, test_map_around)
