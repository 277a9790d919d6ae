/* Remap of a field between two maps against MPI_Alltoallv moving the same bytes.
 *
 *   mpirun -np 2 build/bench/remap_bench --grid 4096x4096 --blocks 16x16 --from contiguous \
 *       --to sfc --rounds 5
 *
 * Both maps share the decomposition, so every block moves whole: the raw version sends each
 * destination rank the cells of the blocks it will own (this rank's own share included, as the
 * remap copies it) from one contiguous buffer. Rounds interleave the two; prints the medians and
 * their ratio. */
#include <stdlib.h>
#include <string.h>

#include <tessera.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct bench {
    tsr_domain_opts dom;
    int from, to;
    int64_t iters, rounds;
} bench;

static int parse(tsr_ctx ctx, int argc, char **argv, bench *b, bool *done) {
    tsr_extents grid = {.ndim = 2, .n = {4096, 4096, 1}};
    tsr_domain_opts_init(&b->dom, &grid, 1);
    b->from = TSR_MAP_CONTIGUOUS;
    b->to = TSR_MAP_SFC;
    b->iters = 3;
    b->rounds = 5;
    tsr_opts o = NULL;
    TSR_CALL(ctx, tsr_opts_create(ctx, "Remap between two maps vs MPI_Alltoallv.", &o));
    tsr_domain_add_options(o, &b->dom);
    tsr_opts_add_choice(o, "from", &b->from, tsr_map_strategy_names, "map of the source");
    tsr_opts_add_choice(o, "to", &b->to, tsr_map_strategy_names, "map of the destination");
    tsr_opts_add_int(o, "iters", &b->iters, 1, INT64_MAX, "N", "remaps per round");
    tsr_opts_add_int(o, "rounds", &b->rounds, 1, 1000, "R", "rounds (median taken)");
    int err = tsr_opts_parse(o, argc, argv, done);
    tsr_opts_destroy(&o);
    return err;
}

static int run(tsr_ctx ctx, int argc, char **argv) {
    bench b;
    bool done = false;
    TSR_CALL(ctx, parse(ctx, argc, argv, &b, &done));
    if (done)
        return TSR_SUCCESS;
    b.dom.map = b.from;
    tsr_domain dom;
    TSR_CALL(ctx, tsr_domain_create(ctx, &b.dom, TSR_STENCIL_STAR, &dom));
    int size = tsr_ctx_size(ctx), rank = tsr_ctx_rank(ctx);
    tsr_map to = NULL;
    tsr_field src = NULL, dst = NULL;
    tsr_remap plan = NULL;
    int *scount = calloc((size_t)size, sizeof *scount),
        *rcount = calloc((size_t)size, sizeof *rcount);
    int *sdisp = calloc((size_t)size, sizeof *sdisp), *rdisp = calloc((size_t)size, sizeof *rdisp);
    double *t_remap = calloc((size_t)b.rounds, sizeof *t_remap);
    double *t_raw = calloc((size_t)b.rounds, sizeof *t_raw);
    double *sbuf = NULL, *rbuf = NULL;
    int err = scount && rcount && sdisp && rdisp && t_remap && t_raw ? TSR_SUCCESS : TSR_ERR_MEMORY;
    if (!err)
        err = tsr_map_create(dom.decomp, (tsr_map_strategy)b.to, NULL, &to);
    if (!err)
        err = tsr_field_create(dom.map, 1, "u", &src);
    if (!err)
        err = tsr_field_create(to, 1, "u", &dst);
    if (!err)
        err = tsr_remap_create(dom.map, to, &plan);
    /* The same bytes, peer by peer: blocks this rank owns before and another (or it) after. */
    int64_t stot = 0, rtot = 0;
    for (int64_t blk = 0; !err && blk < tsr_decomp_nblocks(dom.decomp); blk++) {
        int a = tsr_map_owner(dom.map, blk), z = tsr_map_owner(to, blk);
        int64_t cells = tsr_decomp_block_cells(dom.decomp, blk);
        if (a == rank)
            scount[z] += (int)cells, stot += cells;
        if (z == rank)
            rcount[a] += (int)cells, rtot += cells;
    }
    for (int r = 1; r < size; r++) {
        sdisp[r] = sdisp[r - 1] + scount[r - 1];
        rdisp[r] = rdisp[r - 1] + rcount[r - 1];
    }
    if (!err) {
        sbuf = calloc((size_t)stot + 1, sizeof *sbuf);
        rbuf = calloc((size_t)rtot + 1, sizeof *rbuf);
        err = sbuf && rbuf ? TSR_SUCCESS : TSR_ERR_MEMORY;
    }
    /* Touched, like the fields' pages: calloc's untouched pages would all read the zero page. */
    for (int64_t i = 0; !err && i < stot; i++)
        sbuf[i] = (double)i;
    if (!err)
        memset(rbuf, 1, sizeof *rbuf * (size_t)rtot);
    MPI_Comm comm = tsr_ctx_comm(ctx);
    for (int64_t r = 0; !err && r < b.rounds; r++) {
        MPI_Barrier(comm);
        double t0 = tsr_wtime();
        for (int64_t i = 0; !err && i < b.iters; i++)
            err = tsr_remap_execute(plan, &src, &dst, 1);
        MPI_Barrier(comm);
        t_remap[r] = (tsr_wtime() - t0) / (double)b.iters;
        t0 = tsr_wtime();
        for (int64_t i = 0; i < b.iters; i++)
            MPI_Alltoallv(sbuf, scount, sdisp, MPI_DOUBLE, rbuf, rcount, rdisp, MPI_DOUBLE, comm);
        MPI_Barrier(comm);
        t_raw[r] = (tsr_wtime() - t0) / (double)b.iters;
    }
    if (!err) {
        qsort(t_remap, (size_t)b.rounds, sizeof *t_remap, cmp_double);
        qsort(t_raw, (size_t)b.rounds, sizeof *t_raw, cmp_double);
        double m = t_remap[b.rounds / 2], w = t_raw[b.rounds / 2];
        int64_t moved = 0, bytes = 0;
        tsr_remap_stats(plan, &moved, &bytes);
        tsr_ctx_printf(ctx, stdout, "bytes sent by rank 0 %lld\n", (long long)bytes);
        tsr_ctx_printf(ctx, stdout, "remap ms %.3f\n", 1e3 * m);
        tsr_ctx_printf(ctx, stdout, "raw alltoallv ms %.3f\n", 1e3 * w);
        tsr_ctx_printf(ctx, stdout, "ratio %.3f\n", w > 0 ? m / w : 0.0);
    }
    free(sbuf);
    free(rbuf);
    free(scount);
    free(rcount);
    free(sdisp);
    free(rdisp);
    free(t_remap);
    free(t_raw);
    tsr_remap_destroy(&plan);
    tsr_field_destroy(&dst);
    tsr_field_destroy(&src);
    tsr_map_destroy(&to);
    tsr_domain_destroy(&dom);
    return err;
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "remap_bench", &ctx);
    if (!err)
        err = run(ctx, argc, argv);
    return tsr_finalize(&ctx, err);
}
