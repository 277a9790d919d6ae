/* Writes the seed corpus of fuzz_hdf5 with the library itself: an output file (tsr_io_write),
 * a checkpoint (tsr_checkpoint_write) and a truncated copy of it, on the fuzzer's 6 x 5 grid.
 * Usage: h5_seeds DIR (DIR must exist). Run once by hand; the seeds are committed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera.h"

static int copy_truncated(const char *from, const char *to, long keep) {
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    if (!in || !out)
        return 1;
    char buf[4096];
    size_t n;
    long left = keep;
    while (left > 0 &&
           (n = fread(buf, 1, left < (long)sizeof buf ? (size_t)left : sizeof buf, in)) > 0) {
        fwrite(buf, 1, n, out);
        left -= (long)n;
    }
    fclose(in);
    return fclose(out) != 0;
}

static int seeds(tsr_ctx ctx, const char *dir) {
    tsr_extents size = {.ndim = 2, .n = {6, 5, 1}};
    tsr_decomp_opts dopts = {.blocks = {.ndim = 2, .n = {2, 1, 1}}};
    tsr_grid grid = NULL;
    tsr_decomp decomp = NULL;
    tsr_map map = NULL;
    tsr_field u = NULL;
    TSR_CALL(ctx, tsr_grid_create(ctx, &size, NULL, &grid));
    TSR_CALL(ctx, tsr_decomp_create(grid, &dopts, &decomp));
    TSR_CALL(ctx, tsr_map_create(decomp, TSR_MAP_CONTIGUOUS, NULL, &map));
    TSR_CALL(ctx, tsr_field_create(map, 1, "u", &u));
    TSR_CALL(ctx, tsr_field_fill(u, 0.25));
    tsr_io_meta meta = {.app = "fuzz-hdf5",
                        .step = 7,
                        .time = 0.5,
                        .command_line = "fuzz-hdf5 --seeds",
                        .run_options = "alpha=0.2"};
    char path[512], ckpt[512];
    snprintf(path, sizeof path, "%s/output.h5", dir);
    TSR_CALL(ctx, tsr_io_write(path, &u, 1, &meta, true));
    TSR_CALL(ctx, tsr_checkpoint_write(dir, 1, &u, 1, &meta, ckpt, (int)sizeof ckpt));
    char trunc[512];
    snprintf(trunc, sizeof trunc, "%s/truncated.h5", dir);
    TSR_CHECK(ctx, copy_truncated(ckpt, trunc, 1500) == 0, TSR_ERR_IO, "cannot write '%s'", trunc);
    tsr_field_destroy(&u);
    tsr_map_destroy(&map);
    tsr_decomp_destroy(&decomp);
    tsr_grid_destroy(&grid);
    return TSR_SUCCESS;
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "h5_seeds", &ctx);
    if (!err && argc != 2)
        err =
            tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__, "usage: h5_seeds DIR");
    if (!err)
        err = seeds(ctx, argv[1]);
    return tsr_finalize(&ctx, err);
}
