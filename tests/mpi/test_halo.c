/* Multi-rank halo tests: --verify-halo over dimensions, widths, stencils, periodicity, maps and
 * block counts, widths up to three blocks (multi-hop ghosts); a width wider than a periodic grid
 * refused; several fields in one exchange; overlapped
 * and plain sweeps agreeing. Every check is on a collectively agreed value, so all ranks take
 * the same path and a failure never desynchronises them. */
#include <stdlib.h>
#include <string.h>

#include <tessera.h>

static int passed, failed;

#include "expect.h"

typedef struct layout {
    int ndim;
    int64_t n[3];
    int64_t blocks[3][3]; /* few, several, many blocks; 0 = one per rank */
} layout;

static const layout layouts[] = {
    {1, {37, 1, 1}, {{0}, {5, 1, 1}, {12, 1, 1}}},
    {2, {23, 17, 1}, {{0}, {4, 3, 1}, {7, 5, 1}}},
    {3, {11, 9, 7}, {{0}, {2, 2, 2}, {3, 3, 2}}},
};

/* Builds grid, blocks and map; the caller destroys them. */
static int build(tsr_ctx ctx, const layout *L, const int64_t *blocks, bool periodic, int map,
                 tsr_grid *g, tsr_decomp *d, tsr_map *m) {
    tsr_extents size = {.ndim = L->ndim, .n = {L->n[0], L->n[1], L->n[2]}};
    bool per[3] = {periodic, periodic, periodic};
    tsr_decomp_opts o = {.allow_idle = true};
    if (blocks && blocks[0]) {
        o.blocks.ndim = L->ndim;
        memcpy(o.blocks.n, blocks, sizeof o.blocks.n);
    }
    TSR_CALL(ctx, tsr_grid_create(ctx, &size, per, g));
    TSR_CALL(ctx, tsr_decomp_create(*g, &o, d));
    TSR_CALL(ctx, tsr_map_create(*d, (tsr_map_strategy)map, NULL, m));
    return TSR_SUCCESS;
}

static int64_t min_extent(tsr_decomp d, int ndim) {
    int64_t mn = INT64_MAX;
    for (int64_t b = 0; b < tsr_decomp_nblocks(d); b++) {
        tsr_box box;
        tsr_decomp_block_box(d, b, &box);
        for (int k = 0; k < ndim; k++)
            if (box.hi[k] - box.lo[k] < mn)
                mn = box.hi[k] - box.lo[k];
    }
    return mn;
}

static void test_verify_matrix(tsr_ctx ctx) {
    for (size_t li = 0; li < sizeof layouts / sizeof *layouts; li++)
        for (int bi = 0; bi < 3; bi++)
            for (int per = 0; per < 2; per++)
                for (int map = 0; map < TSR_MAP_COUNT; map++) {
                    const layout *L = &layouts[li];
                    tsr_grid g = NULL;
                    tsr_decomp d = NULL;
                    tsr_map m = NULL;
                    int err = build(ctx, L, L->blocks[bi], per, map, &g, &d, &m);
                    EXPECT(ctx, !err, "build %dD blocks#%d", L->ndim, bi);
                    if (err) {
                        tsr_ctx_error_clear(ctx);
                        continue;
                    }
                    /* Widths up to three times the narrowest block: ghosts then span
                     * several blocks (multi-hop). */
                    int64_t mn = min_extent(d, L->ndim), smallest = INT64_MAX;
                    for (int k = 0; k < L->ndim; k++)
                        smallest = L->n[k] < smallest ? L->n[k] : smallest;
                    int64_t widths[6] = {1, 2, 3, mn + 1, 2 * mn, 3 * mn};
                    for (int st = 0; st < 2; st++)
                        for (int wi = 0; wi < 6; wi++) {
                            int w = (int)widths[wi];
                            if (wi >= 3 && widths[wi] <= 3)
                                continue; /* already covered */
                            tsr_halo h = NULL;
                            err = tsr_halo_create(m, w, (tsr_stencil)st, &h);
                            if (per && w > smallest) {
                                EXPECT(ctx,
                                       err == TSR_ERR_INPUT &&
                                           strstr(tsr_ctx_error_message(ctx),
                                                  "wider than the periodic grid"),
                                       "%dD width %d > periodic grid extent %lld must be refused",
                                       L->ndim, w, (long long)smallest);
                                tsr_ctx_error_clear(ctx);
                                continue;
                            }
                            int64_t bad = -1;
                            if (!err)
                                err = tsr_halo_verify(h, &bad);
                            EXPECT(ctx, !err && bad == 0,
                                   "verify %dD blocks#%d %s map %s %s width %d: %lld bad", L->ndim,
                                   bi, per ? "periodic" : "bounded", tsr_map_strategy_names[map],
                                   st ? "box" : "star", w, (long long)bad);
                            tsr_ctx_error_clear(ctx);
                            tsr_halo_destroy(&h);
                        }
                    tsr_map_destroy(&m);
                    tsr_decomp_destroy(&d);
                    tsr_grid_destroy(&g);
                }
}

static double value_of(const int64_t n[3], int64_t x, int64_t y, int64_t z, double scale) {
    return scale * (double)(1 + x + n[0] * (y + n[1] * z));
}

/* Two fields exchanged in one call, box stencil, periodic: every ghost holds the wrapped
 * neighbour's value of its own field. */
static void test_multi_field(tsr_ctx ctx) {
    const layout *L = &layouts[1];
    const int64_t many[3] = {7, 5, 1};
    for (int map = 0; map < TSR_MAP_COUNT; map++) {
        tsr_grid g = NULL;
        tsr_decomp d = NULL;
        tsr_map m = NULL;
        tsr_halo h = NULL;
        tsr_field f[2] = {NULL, NULL};
        int err = build(ctx, L, many, true, map, &g, &d, &m);
        if (!err)
            err = tsr_halo_create(m, 2, TSR_STENCIL_BOX, &h);
        if (!err)
            err = tsr_field_create(m, 2, "a", &f[0]);
        if (!err)
            err = tsr_field_create(m, 2, "b", &f[1]);
        EXPECT(ctx, !err, "multi-field set-up, map %s", tsr_map_strategy_names[map]);
        if (err) {
            tsr_ctx_error_clear(ctx);
            continue;
        }
        for (int k = 0; k < 2; k++)
            for (int64_t i = 0; i < tsr_field_local_blocks(f[k]); i++) {
                tsr_block b;
                tsr_field_get_block(f[k], i, &b);
                for (int64_t y = 0; y < b.n[1]; y++)
                    for (int64_t x = 0; x < b.n[0]; x++)
                        TSR_AT(&b, x, y, 0) =
                            value_of(L->n, b.lo[0] + x, b.lo[1] + y, 0, k ? -2.0 : 1.0);
                tsr_field_restore_block(f[k], i, &b);
            }
        err = tsr_halo_exchange(h, f, 2);
        int64_t bad = 0;
        for (int k = 0; k < 2; k++)
            for (int64_t i = 0; i < tsr_field_local_blocks(f[k]); i++) {
                tsr_block b;
                tsr_field_get_block(f[k], i, &b);
                for (int64_t y = -2; y < b.n[1] + 2; y++)
                    for (int64_t x = -2; x < b.n[0] + 2; x++) {
                        int64_t gx = (b.lo[0] + x + L->n[0]) % L->n[0];
                        int64_t gy = (b.lo[1] + y + L->n[1]) % L->n[1];
                        bad += TSR_AT(&b, x, y, 0) != value_of(L->n, gx, gy, 0, k ? -2.0 : 1.0);
                    }
                tsr_field_restore_block(f[k], i, &b);
            }
        int64_t gbad = 0;
        MPI_Allreduce(&bad, &gbad, 1, MPI_INT64_T, MPI_SUM, tsr_ctx_comm(ctx));
        EXPECT(ctx, !err && gbad == 0, "two fields in one exchange, map %s: %lld wrong cells",
               tsr_map_strategy_names[map], (long long)gbad);
        tsr_field_destroy(&f[1]);
        tsr_field_destroy(&f[0]);
        tsr_halo_destroy(&h);
        tsr_map_destroy(&m);
        tsr_decomp_destroy(&d);
        tsr_grid_destroy(&g);
    }
}

/* Sums the 3x3x3 box around each cell (a reach-1 kernel that reads corners). */
static int box_sum(const tsr_block *f, int nf, const tsr_box *box, void *user) {
    (void)nf;
    int ndim = *(const int *)user;
    const tsr_block *u = &f[0], *v = &f[1];
    int rz = ndim >= 3, ry = ndim >= 2;
    for (int64_t z = box->lo[2]; z < box->hi[2]; z++)
        for (int64_t y = box->lo[1]; y < box->hi[1]; y++)
            for (int64_t x = box->lo[0]; x < box->hi[0]; x++) {
                double s = 0;
                for (int dz = -rz; dz <= rz; dz++)
                    for (int dy = -ry; dy <= ry; dy++)
                        for (int dx = -1; dx <= 1; dx++)
                            s += TSR_AT(u, x + dx, y + dy, z + dz) * (1 + dx + 3 * dy + 9 * dz);
                TSR_AT(v, x, y, z) = s;
            }
    return 0;
}

static int fill_index(const tsr_block *f, int nf, const tsr_box *box, void *user) {
    (void)nf;
    const int64_t *n = user;
    for (int64_t z = box->lo[2]; z < box->hi[2]; z++)
        for (int64_t y = box->lo[1]; y < box->hi[1]; y++)
            for (int64_t x = box->lo[0]; x < box->hi[0]; x++)
                TSR_AT(&f[0], x, y, z) =
                    value_of(n, f[0].lo[0] + x, f[0].lo[1] + y, f[0].lo[2] + z, 0.001);
    return 0;
}

/* Overlapped and plain sweeps give the same checksum; so does a sweep with tiny tiles. */
static void test_overlap(tsr_ctx ctx) {
    for (size_t li = 0; li < sizeof layouts / sizeof *layouts; li++) {
        const layout *L = &layouts[li];
        uint64_t sums[3] = {0, 0, 0};
        for (int mode = 0; mode < 3; mode++) {
            tsr_grid g = NULL;
            tsr_decomp d = NULL;
            tsr_map m = NULL;
            tsr_halo h = NULL;
            tsr_sweep s = NULL;
            tsr_field f[2] = {NULL, NULL};
            int ndim = L->ndim;
            int err = build(ctx, L, L->blocks[2], true, TSR_MAP_SFC, &g, &d, &m);
            if (!err)
                err = tsr_halo_create(m, 1, TSR_STENCIL_BOX, &h);
            if (!err)
                err = tsr_field_create(m, 1, "u", &f[0]);
            if (!err)
                err = tsr_field_create(m, 1, "v", &f[1]);
            if (!err)
                err = tsr_sweep_create(m, 1, mode == 2 ? 3 : 0, &s);
            if (!err)
                err = tsr_sweep_apply(s, f, 1, fill_index, (void *)L->n);
            if (!err)
                err = tsr_sweep_apply_exchange(s, h, 1, f, 2, box_sum, &ndim, mode != 1);
            if (!err)
                err = tsr_field_checksum(f[1], TSR_BITS_DOUBLE, &sums[mode]);
            EXPECT(ctx, !err, "%dD sweep mode %d", ndim, mode);
            tsr_ctx_error_clear(ctx);
            tsr_field_destroy(&f[1]);
            tsr_field_destroy(&f[0]);
            tsr_sweep_destroy(&s);
            tsr_halo_destroy(&h);
            tsr_map_destroy(&m);
            tsr_decomp_destroy(&d);
            tsr_grid_destroy(&g);
        }
        EXPECT(ctx, sums[0] == sums[1] && sums[1] == sums[2],
               "%dD overlapped/plain/tiny-tile sweeps differ: %016llx %016llx %016llx", L->ndim,
               (unsigned long long)sums[0], (unsigned long long)sums[1],
               (unsigned long long)sums[2]);
    }
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "test_halo", &ctx);
    if (err)
        return tsr_finalize(&ctx, err);
    test_verify_matrix(ctx);
    test_multi_field(ctx);
    test_overlap(ctx);
    if (tsr_ctx_rank(ctx) == 0)
        printf("test_halo on %d ranks x %d threads: %d passed, %d failed\n", tsr_ctx_size(ctx),
               tsr_ctx_threads(ctx), passed, failed);
    int status = failed ? 1 : 0;
    tsr_finalize(&ctx, TSR_SUCCESS);
    return status;
}
