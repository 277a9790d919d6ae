/* Halo exchange alone against raw MPI of the same bytes between the same ranks.
 *
 *   mpirun -np 2 build/bench/halo_bench --grid 128x64 --blocks 2x1 --iters 20000
 *
 * Times tsr_halo_exchange of one field (pack, messages, unpack) and, interleaved in rounds,
 * the raw equivalent: per neighbouring rank, MPI_Sendrecv of as many bytes as the plan sends it
 * (so with one peer, a ping-pong of the same bytes). Prints the median over rounds of the time
 * per exchange for both and their ratio. */
#include <stdlib.h>
#include <string.h>

#include <tessera.h>

typedef struct bench {
    tsr_domain_opts dom;
    int64_t iters, rounds;
} bench;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int run(tsr_ctx ctx, int argc, char **argv) {
    bench b;
    tsr_extents grid = {.ndim = 2, .n = {128, 64, 1}};
    tsr_domain_opts_init(&b.dom, &grid, 1);
    b.iters = 20000;
    b.rounds = 5;
    tsr_opts o = NULL;
    bool done = false;
    TSR_CALL(ctx, tsr_opts_create(ctx, "Halo exchange vs raw MPI of the same bytes.", &o));
    tsr_domain_add_options(o, &b.dom);
    tsr_opts_add_int(o, "iters", &b.iters, 1, INT64_MAX, "N", "exchanges per round");
    tsr_opts_add_int(o, "rounds", &b.rounds, 1, 1000, "R", "rounds (median taken)");
    int err = tsr_opts_parse(o, argc, argv, &done);
    tsr_opts_destroy(&o);
    TSR_CALL(ctx, err);
    if (done)
        return TSR_SUCCESS;
    tsr_domain dom;
    tsr_field u = NULL;
    TSR_CALL(ctx, tsr_domain_create(ctx, &b.dom, TSR_STENCIL_STAR, &dom));
    double *t_halo = calloc((size_t)b.rounds, sizeof *t_halo);
    double *t_raw = calloc((size_t)b.rounds, sizeof *t_raw);
    char *sbuf = NULL, *rbuf = NULL;
    int peers = 0;
    int64_t bytes = 0;
    err = !t_halo || !t_raw ? TSR_ERR_MEMORY : TSR_SUCCESS;
    if (!err)
        err = tsr_field_create(dom.map, dom.width, "u", &u);
    if (!err)
        err = tsr_halo_stats(dom.halo, &peers, &bytes);
    /* The raw version talks to the same peers: the ranks owning this rank's neighbour blocks.
     * With blocks 2x1 on 2 ranks that is the other rank. */
    int size = tsr_ctx_size(ctx), rank = tsr_ctx_rank(ctx);
    int peer = size == 2 ? 1 - rank : -1;
    int64_t per_peer = peers ? bytes / peers : 0;
    if (!err && (peer < 0 || peers != 1)) {
        tsr_ctx_warn(ctx, "the raw comparison needs 2 ranks with one peer each (e.g. --blocks "
                          "2x1); timing the exchange only");
        peer = -1;
    }
    if (!err && peer >= 0) {
        sbuf = calloc((size_t)per_peer + 1, 1);
        rbuf = calloc((size_t)per_peer + 1, 1);
        err = !sbuf || !rbuf ? TSR_ERR_MEMORY : TSR_SUCCESS;
    }
    MPI_Comm comm = tsr_ctx_comm(ctx);
    for (int64_t r = 0; !err && r < b.rounds; r++) {
        MPI_Barrier(comm);
        double t0 = tsr_wtime();
        for (int64_t i = 0; !err && i < b.iters; i++)
            err = tsr_halo_exchange(dom.halo, &u, 1);
        t_halo[r] = (tsr_wtime() - t0) / (double)b.iters;
        if (peer >= 0) {
            MPI_Barrier(comm);
            t0 = tsr_wtime();
            for (int64_t i = 0; i < b.iters; i++)
                MPI_Sendrecv(sbuf, (int)per_peer, MPI_BYTE, peer, 1, rbuf, (int)per_peer, MPI_BYTE,
                             peer, 1, comm, MPI_STATUS_IGNORE);
            t_raw[r] = (tsr_wtime() - t0) / (double)b.iters;
        }
    }
    if (!err) {
        qsort(t_halo, (size_t)b.rounds, sizeof *t_halo, cmp_double);
        qsort(t_raw, (size_t)b.rounds, sizeof *t_raw, cmp_double);
        double h = t_halo[b.rounds / 2], w = t_raw[b.rounds / 2];
        tsr_ctx_printf(ctx, stdout, "bytes per peer %lld, peers %d\n", (long long)per_peer, peers);
        tsr_ctx_printf(ctx, stdout, "exchange us %.3f\n", 1e6 * h);
        if (peer >= 0) {
            tsr_ctx_printf(ctx, stdout, "raw sendrecv us %.3f\n", 1e6 * w);
            tsr_ctx_printf(ctx, stdout, "ratio %.3f\n", w > 0 ? h / w : 0.0);
        }
    }
    free(sbuf);
    free(rbuf);
    free(t_halo);
    free(t_raw);
    tsr_field_destroy(&u);
    tsr_domain_destroy(&dom);
    return err;
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "halo_bench", &ctx);
    if (!err)
        err = run(ctx, argc, argv);
    return tsr_finalize(&ctx, err);
}
