/* A program outside tessera, built against an installed copy (pkg-config, meson, CMake): 20 steps
 * of explicit diffusion on a periodic 48x32 grid in 6x4 blocks, public API only. Prints the
 * library version, the sum and the checksum of the final state. */
#include <inttypes.h>
#include <stdio.h>

#include <tessera.h>

static int init(const tsr_block *b, int nf, const tsr_box *box, void *user) {
    (void)nf, (void)user;
    for (int64_t y = box->lo[1]; y < box->hi[1]; y++)
        for (int64_t x = box->lo[0]; x < box->hi[0]; x++)
            TSR_AT(b, x, y, 0) = (double)((7 * (b->lo[0] + x) + 13 * (b->lo[1] + y)) % 17) / 16.0;
    return 0;
}

static int diffuse(const tsr_block *b, int nf, const tsr_box *box, void *user) {
    (void)nf, (void)user;
    const tsr_block *u = &b[0], *v = &b[1];
    for (int64_t y = box->lo[1]; y < box->hi[1]; y++)
        for (int64_t x = box->lo[0]; x < box->hi[0]; x++) {
            double c = TSR_AT(u, x, y, 0);
            double s = TSR_AT(u, x - 1, y, 0) + TSR_AT(u, x + 1, y, 0) + TSR_AT(u, x, y - 1, 0) +
                       TSR_AT(u, x, y + 1, 0);
            TSR_AT(v, x, y, 0) = c + 0.1 * (s - 4.0 * c);
        }
    return 0;
}

static int run(tsr_ctx ctx, tsr_grid *grid, tsr_decomp *decomp, tsr_map *map, tsr_field f[2],
               tsr_halo *halo, tsr_sweep *sweep) {
    tsr_extents size = {.ndim = 2, .n = {48, 32, 1}};
    bool periodic[3] = {true, true, false};
    tsr_decomp_opts dopts = {.blocks = {.ndim = 2, .n = {6, 4, 1}}};
    int major, minor, patch;
    double sum;
    uint64_t checksum;
    TSR_CALL(ctx, tsr_version(&major, &minor, &patch));
    TSR_CALL(ctx, tsr_grid_create(ctx, &size, periodic, grid));
    TSR_CALL(ctx, tsr_decomp_create(*grid, &dopts, decomp));
    TSR_CALL(ctx, tsr_map_create(*decomp, TSR_MAP_SFC, NULL, map));
    TSR_CALL(ctx, tsr_field_create(*map, 1, "u", &f[0]));
    TSR_CALL(ctx, tsr_field_create(*map, 1, "v", &f[1]));
    TSR_CALL(ctx, tsr_halo_create(*map, 1, TSR_STENCIL_STAR, halo));
    TSR_CALL(ctx, tsr_sweep_create(*map, 1, 0, sweep));
    TSR_CALL(ctx, tsr_sweep_apply(*sweep, f, 1, init, NULL));
    TSR_CALL(ctx,
             tsr_sweep_steps(*sweep, *halo, &f[0], &f[1], 20, diffuse, NULL, true, false, NULL));
    TSR_CALL(ctx, tsr_field_reduce(f[0], TSR_REDUCE_SUM, &sum));
    TSR_CALL(ctx, tsr_field_checksum(f[0], TSR_BITS_DOUBLE, &checksum));
    tsr_ctx_printf(ctx, stdout, "tessera %d.%d.%d (headers %s) on %d ranks: sum %.17g\n", major,
                   minor, patch, TESSERA_VERSION, tsr_ctx_size(ctx), sum);
    if (tsr_ctx_rank(ctx) == 0)
        printf("checksum %016" PRIx64 "\n", checksum);
    return TSR_SUCCESS;
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    tsr_grid grid = NULL;
    tsr_decomp decomp = NULL;
    tsr_map map = NULL;
    tsr_field f[2] = {NULL, NULL};
    tsr_halo halo = NULL;
    tsr_sweep sweep = NULL;
    int err = tsr_init(&argc, &argv, "consumer", &ctx);
    if (!err)
        err = run(ctx, &grid, &decomp, &map, f, &halo, &sweep);
    tsr_sweep_destroy(&sweep);
    tsr_halo_destroy(&halo);
    tsr_field_destroy(&f[1]);
    tsr_field_destroy(&f[0]);
    tsr_map_destroy(&map);
    tsr_decomp_destroy(&decomp);
    tsr_grid_destroy(&grid);
    return tsr_finalize(&ctx, err);
}
