/* The farm's messaging alone: rank 0's cost per request-and-answer, without the farm's
 * bookkeeping, with sends in flight and with any number of ranks.
 *
 *   mpirun -np 2 build/bench/outbox_bench --inflight 10000 --rounds 2000
 *   mpirun -np 16 build/bench/outbox_bench --inflight 0 --rounds 20000
 *
 * Rank 0 first starts --inflight synchronous sends to rank 1 that rank 1 receives only at the
 * end (as sends to busy workers stay in flight), then answers --rounds requests, spread over the
 * other ranks, the way the farm's coordinator does: tsr__msg_recv, then tsr__outbox_send of the
 * answer. Rank 0 times each from its arrival to the answer sent (the farm's request timers);
 * prints "ranks <p> inflight <k> us per request <x>" (the median of 5 blocks of rounds). The
 * other ranks run at nice 19 (see farm_bench.c). With --sync-requests they send each request
 * synchronously, as the farm's workers do (rank 0 then owes each an acknowledgement), and rank
 * 0 keeps each request's buffer, as the farm's coordinator does with results.
 * Private API: the outbox is not public. */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "msg_impl.h"
#include "tessera.h"

enum { TAG_PARKED = 901, TAG_REQUEST, TAG_ANSWER };

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Rounds rank w asks for: `rounds` spread over the other ranks, in 5 equal blocks. */
static int64_t share(int64_t rounds, int size, int w) {
    int64_t per = rounds / 5 / (size - 1);
    return 5 * per + (w <= rounds / 5 % (size - 1) ? 5 : 0);
}

static bool sync_requests;

static int rank0(tsr_ctx ctx, tsr__outbox *ob, int64_t inflight, int64_t rounds, double *us) {
    int64_t payload[4] = {0};
    for (int64_t k = 0; k < inflight; k++)
        TSR_CALL(ctx, tsr__outbox_send(ob, payload, sizeof payload, 1, TAG_PARKED));
    tsr__msg m = {0};
    double block[5];
    int err = TSR_SUCCESS;
    for (int b = 0; b < 5 && !err; b++) {
        double busy = 0;
        int64_t n = 0;
        for (int w = 1; w < tsr_ctx_size(ctx); w++)
            n += share(rounds, tsr_ctx_size(ctx), w) / 5;
        for (int64_t i = 0; i < n && !err; i++) {
            bool got = false;
            err = tsr__msg_recv(ob, true, &m, &got);
            if (!err)
                err = tsr__outbox_send(ob, m.buf, m.len, m.source, TAG_ANSWER);
            if (sync_requests) { /* taken over, as the farm stores results */
                free(m.buf);
                m.buf = NULL;
                m.cap = 0;
            }
            busy += tsr_wtime() - m.arrived;
        }
        block[b] = n ? 1e6 * busy / (double)n : 0;
    }
    tsr__msg_free(&m);
    qsort(block, 5, sizeof *block, cmp_double);
    *us = block[2];
    return err;
}

static int worker(tsr_ctx ctx, MPI_Comm comm, int64_t inflight, int64_t rounds) {
    int64_t payload[4] = {0};
    (void)setpriority(PRIO_PROCESS, 0, 19);
    int64_t mine = share(rounds, tsr_ctx_size(ctx), tsr_ctx_rank(ctx));
    if (tsr_ctx_rank(ctx) != 1)
        inflight = 0;
    for (int64_t i = 0; i < mine; i++) {
        payload[0] = i;
        MPI_Request req = MPI_REQUEST_NULL;
        if (sync_requests)
            TSR_MPI(ctx, MPI_Issend(payload, sizeof payload, MPI_BYTE, 0, TAG_REQUEST, comm, &req));
        else
            TSR_MPI(ctx, MPI_Send(payload, sizeof payload, MPI_BYTE, 0, TAG_REQUEST, comm));
        TSR_MPI(ctx, MPI_Recv(payload, sizeof payload, MPI_BYTE, 0, TAG_ANSWER, comm,
                              MPI_STATUS_IGNORE));
        TSR_MPI(ctx, MPI_Wait(&req, MPI_STATUS_IGNORE));
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
    tsr_opts_add_flag(o, "sync-requests", &sync_requests,
                      "requests sent synchronously, their buffers kept (as in the farm)");
    int err = tsr_opts_parse(o, argc, argv, &done);
    tsr_opts_destroy(&o);
    TSR_CALL(ctx, err);
    if (done)
        return TSR_SUCCESS;
    TSR_CHECK(ctx, tsr_ctx_size(ctx) >= 2, TSR_ERR_INPUT, "outbox_bench needs 2 ranks or more");
    MPI_Comm comm;
    TSR_MPI(ctx, MPI_Comm_dup(ctx->comm, &comm));
    tsr__outbox ob;
    tsr__outbox_init(&ob, ctx, comm);
    double us = 0;
    err = tsr_ctx_rank(ctx) == 0 ? rank0(ctx, &ob, inflight, rounds, &us)
                                 : worker(ctx, comm, inflight, rounds);
    if (!err)
        err = tsr__quiesce(&ob);
    tsr__outbox_free(&ob);
    MPI_Comm_free(&comm);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    tsr_ctx_printf(ctx, stdout, "ranks %d inflight %lld us per request %.3f\n", tsr_ctx_size(ctx),
                   (long long)inflight, us);
    return TSR_SUCCESS;
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "outbox_bench", &ctx);
    if (!err)
        err = run(ctx, argc, argv);
    return tsr_finalize(&ctx, err);
}
