/* The ghosts beside a block's rows along x, copied from another block of the same rank, are
 * copied by the tile that reads them when the kernel reads one level and writes another
 * (tsr_sweep_steps, the run loop), and in one pass at the exchange's begin otherwise
 * (tsr_sweep_apply_exchange). Both must leave the same bits in every cell, ghosts included,
 * step after step: 2D and 3D, halo widths 1 and 2, blocks narrower than two widths (not
 * deferred), every map, constant, periodic and mirror boundaries, with and without overlap. Run
 * with tiny tiles (TESSERA_TILE_CELLS) so that each block has many tiles, on 1 or 2 threads.
 * Each rank also checks, from the library's private count, that the run loop's steps deferred
 * exactly when they should and the public sweep never did.
 * Prints "N passed, N failed". */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <tessera.h>

#include "expect.h"
#include "field_impl.h" /* tsr__halo_columns_deferred */
#include "scene.h"

static int passed, failed;

typedef struct layout {
    int ndim;
    int64_t n[3];
    int64_t blocks[3];
} layout;

static const layout layouts[] = {
    {2, {37, 29, 1}, {4, 3, 1}},  {2, {40, 16, 1}, {8, 2, 1}},  {2, {13, 20, 1}, {6, 2, 1}},
    {3, {19, 17, 13}, {3, 2, 2}}, {3, {16, 12, 10}, {4, 2, 1}},
};

typedef struct stencil {
    int ndim, reach;
} stencil;

/* A star stencil of `reach` cells along each dimension: reads fields[0], writes fields[1]. */
static int star_kernel(const tsr_block *f, int nf, const tsr_box *box, void *user) {
    (void)nf;
    const stencil *st = user;
    const tsr_block *u = &f[0], *v = &f[1];
    for (int64_t z = box->lo[2]; z < box->hi[2]; z++)
        for (int64_t y = box->lo[1]; y < box->hi[1]; y++)
            for (int64_t x = box->lo[0]; x < box->hi[0]; x++) {
                double c = TSR_AT(u, x, y, z), sum = 0.0;
                for (int r = 1; r <= st->reach; r++) {
                    sum += TSR_AT(u, x - r, y, z) + TSR_AT(u, x + r, y, z);
                    if (st->ndim >= 2)
                        sum += TSR_AT(u, x, y - r, z) + TSR_AT(u, x, y + r, z);
                    if (st->ndim >= 3)
                        sum += TSR_AT(u, x, y, z - r) + TSR_AT(u, x, y, z + r);
                }
                TSR_AT(v, x, y, z) = c + 0.05 * (sum - 2.0 * st->ndim * st->reach * c);
            }
    return 0;
}

/* The cells of a block with its ghosts: [lo, hi) per dimension. */
static void with_ghosts(const tsr_block *b, int w, int64_t lo[3], int64_t hi[3]) {
    for (int d = 0; d < 3; d++) {
        lo[d] = d < b->ndim ? -w : 0;
        hi[d] = d < b->ndim ? b->n[d] + w : 1;
    }
}

/* Owned cells from their global position, ghosts zero. */
static void fill(tsr_field f) {
    for (int64_t i = 0; i < tsr_field_local_blocks(f); i++) {
        tsr_block b;
        tsr_field_get_block(f, i, &b);
        int64_t lo[3], hi[3];
        with_ghosts(&b, tsr_field_width(f), lo, hi);
        for (int64_t z = lo[2]; z < hi[2]; z++)
            for (int64_t y = lo[1]; y < hi[1]; y++)
                for (int64_t x = lo[0]; x < hi[0]; x++) {
                    bool own = x >= 0 && x < b.n[0] && y >= 0 && y < b.n[1] && z >= 0 && z < b.n[2];
                    uint64_t g = (uint64_t)(b.lo[0] + x) * 73856093u ^
                                 (uint64_t)(b.lo[1] + y) * 19349663u ^
                                 (uint64_t)(b.lo[2] + z) * 83492791u;
                    TSR_AT(&b, x, y, z) = own ? (double)(g % 1000) / 1000.0 : 0.0;
                }
        tsr_field_restore_block(f, i, &b);
    }
}

/* Cells (ghosts included) whose bits differ between a and b on this rank. */
static int64_t differ(tsr_field a, tsr_field b) {
    int64_t bad = 0;
    for (int64_t i = 0; i < tsr_field_local_blocks(a); i++) {
        tsr_block p, q;
        tsr_field_get_block(a, i, &p);
        tsr_field_get_block(b, i, &q);
        int64_t lo[3], hi[3];
        with_ghosts(&p, tsr_field_width(a), lo, hi);
        for (int64_t z = lo[2]; z < hi[2]; z++)
            for (int64_t y = lo[1]; y < hi[1]; y++)
                for (int64_t x = lo[0]; x < hi[0]; x++)
                    bad += memcmp(&TSR_AT(&p, x, y, z), &TSR_AT(&q, x, y, z), sizeof(double)) != 0;
        tsr_field_restore_block(a, i, &p);
        tsr_field_restore_block(b, i, &q);
    }
    return bad;
}

enum { CONSTANT, PERIODIC_X, MIRROR, NBOUNDARIES };
static const char *const boundary_names[] = {"constant", "periodic x", "mirror"};

static void test_case(tsr_ctx ctx, const layout *L, int boundary, int map, int w, bool overlap) {
    char what[160];
    snprintf(what, sizeof what, "%dD %lldx%lldx%lld in %lldx%lldx%lld, %s, map %s, width %d%s",
             L->ndim, (long long)L->n[0], (long long)L->n[1], (long long)L->n[2],
             (long long)L->blocks[0], (long long)L->blocks[1], (long long)L->blocks[2],
             boundary_names[boundary], tsr_map_strategy_names[map], w, overlap ? ", overlap" : "");
    bool per[3] = {boundary == PERIODIC_X, false, false};
    tsr_bc_desc desc;
    tsr_bc_desc_init(&desc, per, boundary == MIRROR ? TSR_BC_NEUMANN : TSR_BC_DIRICHLET, 0.25);
    scene sc;
    tsr_sweep s = NULL;
    tsr_field f[4] = {NULL, NULL, NULL, NULL};
    stencil st = {L->ndim, w};
    int err =
        scene_create(ctx, L->ndim, L->n, per, L->blocks, map, w, TSR_STENCIL_STAR, &desc, &sc);
    if (!err)
        err = tsr_halo_set_bc(sc.h, sc.bc);
    if (!err)
        err = tsr_sweep_create(sc.m, w, 0, &s);
    for (int k = 0; k < 4 && !err; k++)
        err = tsr_field_create(sc.m, w, "f", &f[k]);
    int64_t deferred[2] = {-1, -1};
    if (!err) {
        for (int k = 0; k < 4; k++)
            fill(f[k]);
        /* f[0], f[1]: the steps of the run loop; f[2], f[3]: the public sweep, step by step. */
        err = tsr_sweep_steps(s, sc.h, &f[0], &f[1], 5, star_kernel, &st, overlap, false, NULL);
        deferred[0] = tsr__halo_columns_deferred(sc.h);
        for (int step = 0; step < 5 && !err; step++) {
            tsr_field pair[2] = {f[2], f[3]};
            err = tsr_sweep_apply_exchange(s, sc.h, 1, pair, 2, star_kernel, &st, overlap);
            f[2] = pair[1];
            f[3] = pair[0];
        }
        deferred[1] = tsr__halo_columns_deferred(sc.h) - deferred[0];
    }
    /* Whether this rank's steps should have deferred: a boundary written at the begin and every
     * local block at least two widths wide (vacuously true without blocks). */
    int64_t want = boundary != MIRROR ? 5 : 0;
    for (int64_t i = 0; !err && i < tsr_field_local_blocks(f[0]); i++) {
        tsr_block b;
        tsr_field_get_block(f[0], i, &b);
        if (b.n[0] < 2 * w)
            want = 0;
        tsr_field_restore_block(f[0], i, &b);
    }
    int64_t mine[2] = {-1, 1}, sum[2] = {-1, -1};
    if (!err) {
        mine[0] = differ(f[0], f[2]) + differ(f[1], f[3]);
        mine[1] = deferred[0] != want || deferred[1] != 0;
        MPI_Allreduce(mine, sum, 2, MPI_INT64_T, MPI_SUM, tsr_ctx_comm(ctx));
    }
    err = tsr_ctx_agree(ctx, err);
    EXPECT(ctx, !err && sum[0] == 0, "%s: %lld cells differ", what, (long long)sum[0]);
    EXPECT(ctx, !err && sum[1] == 0,
           "%s: %lld ranks deferred the columns otherwise than expected (rank %d: %lld of 5 "
           "steps, %lld of 5 public ones)",
           what, (long long)sum[1], tsr_ctx_rank(ctx), (long long)deferred[0],
           (long long)deferred[1]);
    tsr_ctx_error_clear(ctx);
    for (int k = 0; k < 4; k++)
        tsr_field_destroy(&f[k]);
    tsr_sweep_destroy(&s);
    scene_destroy(&sc);
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "test_columns", &ctx);
    if (err)
        return tsr_finalize(&ctx, err);
    for (size_t li = 0; li < sizeof layouts / sizeof *layouts; li++)
        for (int boundary = 0; boundary < NBOUNDARIES; boundary++)
            for (int map = 0; map < TSR_MAP_COUNT; map++)
                for (int w = 1; w <= 2; w++)
                    test_case(ctx, &layouts[li], boundary, map, w, (map + w) % 2 == 0);
    if (tsr_ctx_rank(ctx) == 0)
        printf("test_columns on %d ranks x %d threads: %d passed, %d failed\n", tsr_ctx_size(ctx),
               tsr_ctx_threads(ctx), passed, failed);
    int status = failed ? 1 : 0;
    tsr_finalize(&ctx, TSR_SUCCESS);
    return status;
}
