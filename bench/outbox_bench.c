/* The farm's outbox with many sends in flight: rank 0's cost per request-and-answer.
 *
 *   mpirun -np 2 build/bench/outbox_bench --inflight 10000 --rounds 2000
 *
 * Rank 0 first starts --inflight synchronous sends to rank 1 that rank 1 receives only at the
 * end (as sends to busy workers stay in flight), then answers --rounds requests from rank 1 the
 * way the farm's coordinator does: tsr__msg_recv, then tsr__outbox_send of the answer. Rank 0
 * times each round from the request's arrival to the answer sent; prints "us per request <x>"
 * (the median of 5 blocks of rounds). Private API: the outbox is not public. */
#include <stdlib.h>
#include <string.h>

#include "msg_impl.h"
#include "tessera.h"

enum { TAG_PARKED = 901, TAG_REQUEST, TAG_ANSWER };

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int rank0(tsr_ctx ctx, tsr__outbox *ob, int64_t inflight, int64_t rounds, double *us) {
    int64_t payload[4] = {0};
    for (int64_t k = 0; k < inflight; k++)
        TSR_CALL(ctx, tsr__outbox_send(ob, payload, sizeof payload, 1, TAG_PARKED));
    tsr__msg m = {0};
    double block[5];
    int err = TSR_SUCCESS;
    for (int b = 0; b < 5 && !err; b++) {
        double busy = 0;
        for (int64_t i = 0; i < rounds / 5 && !err; i++) {
            bool got = false;
            err = tsr__msg_recv(ob, true, &m, &got);
            if (!err)
                err = tsr__outbox_send(ob, m.buf, m.len, m.source, TAG_ANSWER);
            busy += tsr_wtime() - m.arrived;
        }
        block[b] = 1e6 * busy / (double)(rounds / 5);
    }
    tsr__msg_free(&m);
    qsort(block, 5, sizeof *block, cmp_double);
    *us = block[2];
    return err;
}

static int rank1(tsr_ctx ctx, MPI_Comm comm, int64_t inflight, int64_t rounds) {
    int64_t payload[4] = {0};
    for (int64_t i = 0; i < rounds / 5 * 5; i++) {
        payload[0] = i;
        TSR_MPI(ctx, MPI_Send(payload, sizeof payload, MPI_BYTE, 0, TAG_REQUEST, comm));
        TSR_MPI(ctx, MPI_Recv(payload, sizeof payload, MPI_BYTE, 0, TAG_ANSWER, comm,
                              MPI_STATUS_IGNORE));
    }
    for (int64_t k = 0; k < inflight; k++)
        TSR_MPI(ctx, MPI_Recv(payload, sizeof payload, MPI_BYTE, 0, TAG_PARKED, comm,
                              MPI_STATUS_IGNORE));
    return TSR_SUCCESS;
}

static int run(tsr_ctx ctx, int argc, char **argv) {
    int64_t inflight = 1000, rounds = 2000;
    tsr_opts o = NULL;
    bool done = false;
    TSR_CALL(ctx, tsr_opts_create(ctx, "Rank 0's cost per request with sends in flight.", &o));
    tsr_opts_add_int(o, "inflight", &inflight, 0, 1000000, "N", "sends left in flight");
    tsr_opts_add_int(o, "rounds", &rounds, 5, 100000000, "N", "requests answered");
    int err = tsr_opts_parse(o, argc, argv, &done);
    tsr_opts_destroy(&o);
    TSR_CALL(ctx, err);
    if (done)
        return TSR_SUCCESS;
    TSR_CHECK(ctx, tsr_ctx_size(ctx) == 2, TSR_ERR_INPUT, "outbox_bench runs on 2 ranks, not %d",
              tsr_ctx_size(ctx));
    MPI_Comm comm;
    TSR_MPI(ctx, MPI_Comm_dup(ctx->comm, &comm));
    tsr__outbox ob;
    tsr__outbox_init(&ob, ctx, comm);
    double us = 0;
    err = tsr_ctx_rank(ctx) == 0 ? rank0(ctx, &ob, inflight, rounds, &us)
                                 : rank1(ctx, comm, inflight, rounds);
    if (!err)
        err = tsr__quiesce(&ob);
    tsr__outbox_free(&ob);
    MPI_Comm_free(&comm);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    tsr_ctx_printf(ctx, stdout, "inflight %lld us per request %.3f\n", (long long)inflight, us);
    return TSR_SUCCESS;
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "outbox_bench", &ctx);
    if (!err)
        err = run(ctx, argc, argv);
    return tsr_finalize(&ctx, err);
}
