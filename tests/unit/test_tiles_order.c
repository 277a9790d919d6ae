/* Unit tests of the order a sweep runs its tiles in (tsr__tiles_order_on): block after block
 * when every local block's rows are long, by position in the grid otherwise. The order changes
 * no result, so the bit-identity tests cannot see it; this pins it. The expected orders are
 * checked here with plain comparisons of the tiles' grid coordinates. No MPI. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ck_main.h"
#include "field_impl.h"

typedef struct case_ {
    tsr__layout lay;
    int64_t local[64]; /* sorted block ids */
    int64_t nlocal;
    tsr__tile *tiles;
    int64_t ntiles, cap;
    int64_t cells; /* in all tiles, before ordering */
} case_;

/* A layout of n cells in nb blocks (dims past ndim: 1), its blocks with ids in `local` (every
 * block when nlocal is 0), each cut into tiles of about tile_cells cells. */
static void make_case(case_ *c, int ndim, const int64_t *n, const int64_t *nb, int64_t nlocal,
                      const int64_t *local, int64_t tile_cells) {
    memset(c, 0, sizeof *c);
    c->lay.ndim = ndim;
    for (int d = 0; d < TSR_MAX_DIM; d++) {
        c->lay.n[d] = d < ndim ? n[d] : 1;
        c->lay.nb[d] = d < ndim ? nb[d] : 1;
    }
    ck_assert(tsr__layout_cut(&c->lay));
    int64_t nblocks = c->lay.nb[0] * c->lay.nb[1] * c->lay.nb[2];
    c->nlocal = nlocal ? nlocal : nblocks;
    ck_assert(c->nlocal <= 64);
    for (int64_t i = 0; i < c->nlocal; i++)
        c->local[i] = nlocal ? local[i] : i;
    for (int64_t i = 0; i < c->nlocal; i++) {
        tsr_box b, own = {{0, 0, 0}, {0, 0, 0}};
        tsr__block_box(&c->lay, c->local[i], &b);
        for (int d = 0; d < TSR_MAX_DIM; d++)
            own.hi[d] = b.hi[d] - b.lo[d];
        c->cells += tsr__box_cells(&own);
        ck_assert(tsr__tile_box(ndim, i, &own, tile_cells, &c->tiles, &c->ntiles, &c->cap));
    }
}

static void free_case(case_ *c) {
    free(c->tiles);
    tsr__layout_free(&c->lay);
}

/* The grid coordinates of tile t's first cell, slowest first: z, y, x. */
static void first_cell(const case_ *c, const tsr__tile *t, int64_t at[TSR_MAX_DIM]) {
    tsr_box b;
    tsr__block_box(&c->lay, c->local[t->block], &b);
    for (int d = 0; d < TSR_MAX_DIM; d++)
        at[TSR_MAX_DIM - 1 - d] = b.lo[d] + t->box.lo[d];
}

static int compare_at(const int64_t *a, const int64_t *b) {
    for (int d = 0; d < TSR_MAX_DIM; d++)
        if (a[d] != b[d])
            return a[d] < b[d] ? -1 : 1;
    return 0;
}

/* Reverses the tiles (the input order must not matter), orders them, and checks that no tile
 * was lost or changed: the same count and the same cells. */
static void order(case_ *c) {
    for (int64_t i = 0, j = c->ntiles - 1; i < j; i++, j--) {
        tsr__tile t = c->tiles[i];
        c->tiles[i] = c->tiles[j];
        c->tiles[j] = t;
    }
    ck_assert(tsr__tiles_order_on(&c->lay, c->local, c->nlocal, c->tiles, c->ntiles));
    int64_t cells = 0;
    for (int64_t t = 0; t < c->ntiles; t++)
        cells += tsr__box_cells(&c->tiles[t].box);
    ck_assert_int_eq(cells, c->cells);
}

/* Block after block, and by position inside each block. */
static void assert_blocks_first(const case_ *c) {
    for (int64_t t = 1; t < c->ntiles; t++) {
        const tsr__tile *p = &c->tiles[t - 1], *q = &c->tiles[t];
        int64_t a[TSR_MAX_DIM], b[TSR_MAX_DIM];
        first_cell(c, p, a);
        first_cell(c, q, b);
        ck_assert_msg(p->block < q->block || (p->block == q->block && compare_at(a, b) < 0),
                      "tile %lld (block %lld) before tile %lld (block %lld)", (long long)t - 1,
                      (long long)p->block, (long long)t, (long long)q->block);
    }
}

/* By position in the grid alone (z, y, x), across blocks; returns how often the block changes
 * from one tile to the next. */
static int64_t assert_by_position(const case_ *c) {
    int64_t changes = 0;
    for (int64_t t = 1; t < c->ntiles; t++) {
        int64_t a[TSR_MAX_DIM], b[TSR_MAX_DIM];
        first_cell(c, &c->tiles[t - 1], a);
        first_cell(c, &c->tiles[t], b);
        ck_assert_msg(compare_at(a, b) < 0, "tile %lld is not after tile %lld in the grid",
                      (long long)t, (long long)t - 1);
        changes += c->tiles[t].block != c->tiles[t - 1].block;
    }
    return changes;
}

/* 2D blocks of 1024-cell rows, tiles of 8 rows: block after block. */
START_TEST(long_rows_2d_go_block_after_block) {
    case_ c;
    make_case(&c, 2, (int64_t[]){2048, 64}, (int64_t[]){2, 2}, 0, NULL, 1024 * 8);
    ck_assert_int_eq(c.ntiles, 16);
    order(&c);
    assert_blocks_first(&c);
    free_case(&c);
}
END_TEST

/* The same grid cut in blocks of 128-cell rows: the tiles of the two blocks side by side along
 * x alternate, band by band. */
START_TEST(short_rows_2d_go_by_position) {
    case_ c;
    make_case(&c, 2, (int64_t[]){256, 64}, (int64_t[]){2, 2}, 0, NULL, 128 * 8);
    ck_assert_int_eq(c.ntiles, 16);
    order(&c);
    ck_assert_int_eq(assert_by_position(&c), 15);
    free_case(&c);
}
END_TEST

/* The rule looks at the shortest local row: blocks of 512 cells go block after block, blocks of
 * 511 do not, and one block of 511 among longer ones keeps the whole list by position. */
START_TEST(threshold_is_the_shortest_local_row) {
    case_ c;
    make_case(&c, 2, (int64_t[]){1024, 16}, (int64_t[]){2, 1}, 0, NULL, 512 * 4);
    order(&c);
    assert_blocks_first(&c);
    free_case(&c);

    make_case(&c, 2, (int64_t[]){1022, 16}, (int64_t[]){2, 1}, 0, NULL, 511 * 4);
    order(&c);
    ck_assert_int_eq(assert_by_position(&c), 7);
    free_case(&c);

    /* 1535 cells in 3 blocks along x: 511, 512 and 512 (or a permutation): */
    make_case(&c, 2, (int64_t[]){1535, 16}, (int64_t[]){3, 1}, 0, NULL, 512 * 4);
    int64_t shortest = INT64_MAX;
    for (int64_t i = 0; i < c.nlocal; i++) {
        tsr_box b;
        tsr__block_box(&c.lay, c.local[i], &b);
        shortest = b.hi[0] - b.lo[0] < shortest ? b.hi[0] - b.lo[0] : shortest;
    }
    ck_assert_int_eq(shortest, TSR__BLOCKS_FIRST_ROW - 1);
    order(&c);
    assert_by_position(&c);
    free_case(&c);

    /* ...but a rank holding only the two long ones goes block after block. */
    int64_t longer[2], nl = 0;
    make_case(&c, 2, (int64_t[]){1535, 16}, (int64_t[]){3, 1}, 0, NULL, 512 * 4);
    for (int64_t i = 0; i < c.nlocal; i++) {
        tsr_box b;
        tsr__block_box(&c.lay, c.local[i], &b);
        if (b.hi[0] - b.lo[0] >= TSR__BLOCKS_FIRST_ROW)
            longer[nl++] = c.local[i];
    }
    free_case(&c);
    ck_assert_int_eq(nl, 2);
    make_case(&c, 2, (int64_t[]){1535, 16}, (int64_t[]){3, 1}, 2, longer, 512 * 4);
    order(&c);
    assert_blocks_first(&c);
    free_case(&c);
}
END_TEST

/* 3D: long rows go block after block; blocks 64 cells wide go by position. */
START_TEST(rows_decide_in_3d) {
    case_ c;
    make_case(&c, 3, (int64_t[]){1100, 4, 6}, (int64_t[]){2, 1, 2}, 0, NULL, 550 * 4);
    order(&c);
    assert_blocks_first(&c);
    free_case(&c);

    make_case(&c, 3, (int64_t[]){128, 8, 8}, (int64_t[]){2, 2, 2}, 0, NULL, 64 * 4 * 2);
    order(&c);
    ck_assert_int_gt(assert_by_position(&c), 7);
    free_case(&c);
}
END_TEST

TSR_CK_MAIN("tiles_order", "order", long_rows_2d_go_block_after_block, short_rows_2d_go_by_position,
            threshold_is_the_shortest_local_row, rows_decide_in_3d)
