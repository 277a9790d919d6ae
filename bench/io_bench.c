/* HDF5 output and input of one field with many blocks per rank against one block per rank.
 *
 *   mpirun -np 2 build/bench/io_bench --grid 4096x4096 --blocks 16x8 --rounds 5 --dir /tmp
 *
 * Two layouts of the same grid: one block per rank (contiguous map) and the one the options give.
 * Each round writes a file of each (tsr_io_write: layout, writes, fsync, rename) and reads the
 * first file back into each (tsr_io_read), in turn (which goes first alternates), so both see
 * the same load; a time is the slowest rank's. Prints the medians and the ratios many/one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tessera.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct bench {
    tsr_domain_opts dom;
    int64_t rounds;
    char dir[TSR_OPT_STRLEN];
} bench;

static int parse(tsr_ctx ctx, int argc, char **argv, bench *b, bool *done) {
    tsr_extents grid = {.ndim = 2, .n = {4096, 4096, 1}};
    tsr_domain_opts_init(&b->dom, &grid, 1);
    b->rounds = 5;
    snprintf(b->dir, sizeof b->dir, ".");
    tsr_opts o = NULL;
    TSR_CALL(ctx, tsr_opts_create(ctx, "HDF5 output of many blocks per rank vs one.", &o));
    tsr_domain_add_options(o, &b->dom);
    tsr_opts_add_int(o, "rounds", &b->rounds, 1, 1000, "R", "rounds (median taken)");
    tsr_opts_add_string(o, "dir", b->dir, "DIR", "where the two files go [default: .]");
    int err = tsr_opts_parse(o, argc, argv, done);
    tsr_opts_destroy(&o);
    return err;
}

/* The slowest rank's time of f(field, path). */
static int timed(tsr_ctx ctx, bool write, tsr_field f, const char *path, double *t) {
    MPI_Barrier(tsr_ctx_comm(ctx));
    double t0 = tsr_wtime();
    if (write)
        TSR_CALL(ctx, tsr_io_write(path, &f, 1, NULL, true));
    else
        TSR_CALL(ctx, tsr_io_read(f, path, "/fields/u"));
    double mine = tsr_wtime() - t0;
    MPI_Allreduce(&mine, t, 1, MPI_DOUBLE, MPI_MAX, tsr_ctx_comm(ctx));
    return TSR_SUCCESS;
}

static double median(double *v, int64_t n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

static int run(tsr_ctx ctx, int argc, char **argv) {
    bench b;
    bool done = false;
    TSR_CALL(ctx, parse(ctx, argc, argv, &b, &done));
    if (done)
        return TSR_SUCCESS;
    tsr_domain_opts one_opts;
    tsr_domain_opts_init(&one_opts, &b.dom.grid, 1);
    tsr_domain one = {0}, many = {0};
    tsr_field f[2] = {NULL, NULL};
    double *t = calloc(4 * (size_t)b.rounds, sizeof *t);
    int err = t ? TSR_SUCCESS : TSR_ERR_MEMORY;
    if (!err)
        err = tsr_domain_create(ctx, &one_opts, TSR_STENCIL_STAR, &one);
    if (!err)
        err = tsr_domain_create(ctx, &b.dom, TSR_STENCIL_STAR, &many);
    if (!err)
        err = tsr_field_create(one.map, 1, "u", &f[0]);
    if (!err)
        err = tsr_field_create(many.map, 1, "u", &f[1]);
    for (int k = 0; k < 2 && !err; k++)
        err = tsr_field_fill(f[k], 1.0 + k);
    char path[2][TSR_OPT_STRLEN + 32];
    for (int k = 0; k < 2; k++)
        snprintf(path[k], sizeof path[k], "%s/io_bench_%s.h5", b.dir, k ? "many" : "one");
    /* t[(2 * write_or_read + layout) * rounds + r] */
    /* Odd rounds take the layouts the other way round: neither always follows the other's
     * writeback. */
    for (int64_t r = 0; !err && r < b.rounds; r++) {
        for (int j = 0; j < 2 && !err; j++) {
            int k = (int)((j + r) % 2);
            err = timed(ctx, true, f[k], path[k], &t[k * b.rounds + r]);
        }
        for (int j = 0; j < 2 && !err; j++) {
            int k = (int)((j + r) % 2);
            err = timed(ctx, false, f[k], path[0], &t[(2 + k) * b.rounds + r]);
        }
    }
    if (!err) {
        double w1 = median(t, b.rounds), wm = median(t + b.rounds, b.rounds);
        double r1 = median(t + 2 * b.rounds, b.rounds), rm = median(t + 3 * b.rounds, b.rounds);
        tsr_ctx_printf(ctx, stdout, "blocks %lld, one per rank: %lld\n",
                       (long long)tsr_decomp_nblocks(many.decomp),
                       (long long)tsr_decomp_nblocks(one.decomp));
        tsr_ctx_printf(ctx, stdout, "write s one %.4f many %.4f ratio %.3f\n", w1, wm, wm / w1);
        tsr_ctx_printf(ctx, stdout, "read s one %.4f many %.4f ratio %.3f\n", r1, rm, rm / r1);
    }
    if (tsr_ctx_rank(ctx) == 0)
        for (int k = 0; k < 2; k++)
            remove(path[k]);
    free(t);
    tsr_field_destroy(&f[1]);
    tsr_field_destroy(&f[0]);
    tsr_domain_destroy(&many);
    tsr_domain_destroy(&one);
    return err;
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "io_bench", &ctx);
    if (!err)
        err = run(ctx, argc, argv);
    return tsr_finalize(&ctx, err);
}
