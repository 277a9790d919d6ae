/* test_outbox: the farm's outbox with many sends in flight, at any rank count.
 *
 * Every rank sends SENDS numbered messages of varying sizes to every other rank before any of
 * them receives one (so thousands stay in flight and the outbox grows through its full tests),
 * then receives through tsr__msg_recv until it has every message it expects, checking that each
 * source's messages arrive whole and in order (MPI does not let them overtake), while its own
 * sends complete a few at a time. After tsr__quiesce nothing may be left in flight. Prints
 * "N passed, N failed". Private API: the outbox is not public. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg_impl.h"
#include "tessera.h"

enum { SENDS = 3000, TAG = 77 };

/* Message k to `dest`: 8 + k % 61 bytes, the first 8 the number k, the rest a pattern. */
static size_t fill(unsigned char *buf, int64_t k, int dest) {
    size_t len = 8 + (size_t)(k % 61);
    memcpy(buf, &k, 8);
    for (size_t i = 8; i < len; i++)
        buf[i] = (unsigned char)(k * 31 + (int64_t)i + dest);
    return len;
}

static int run(tsr_ctx ctx, int *bad) {
    int rank = tsr_ctx_rank(ctx), size = tsr_ctx_size(ctx);
    MPI_Comm comm;
    TSR_MPI(ctx, MPI_Comm_dup(ctx->comm, &comm));
    tsr__outbox ob;
    tsr__outbox_init(&ob, ctx, comm);
    int64_t *next = calloc((size_t)size, sizeof *next);
    unsigned char buf[128], want[128];
    int err = next ? TSR_SUCCESS : TSR_ERR_MEMORY;
    int64_t most = 0;
    for (int64_t k = 0; k < SENDS && !err; k++)
        for (int d = 0; d < size && !err; d++)
            if (d != rank) {
                err = tsr__outbox_send(&ob, buf, fill(buf, k, d), d, TAG);
                most = tsr__outbox_pending(&ob) > most ? tsr__outbox_pending(&ob) : most;
            }
    /* Everyone has sent before anyone receives: the sends were really in flight together. */
    err = tsr_ctx_agree(ctx, err);
    if (!err && size > 1 && most < SENDS)
        (*bad)++, fprintf(stderr, "rank %d: at most %lld sends in flight\n", rank, (long long)most);
    tsr__msg m = {0};
    int64_t expected = (int64_t)SENDS * (size - 1), got_all = 0;
    while (!err && got_all < expected) {
        bool got = false;
        err = tsr__msg_recv(&ob, true, &m, &got);
        if (err || !got)
            continue;
        int64_t k;
        memcpy(&k, m.buf, 8);
        size_t len = fill(want, next[m.source], rank);
        if (m.tag != TAG || k != next[m.source] || m.len != len || memcmp(m.buf, want, len)) {
            (*bad)++;
            fprintf(stderr, "rank %d: message %lld from %d wrong (expected %lld)\n", rank,
                    (long long)k, m.source, (long long)next[m.source]);
        }
        next[m.source]++;
        got_all++;
    }
    tsr__msg_free(&m);
    if (!err)
        err = tsr__quiesce(&ob);
    if (!err && tsr__outbox_pending(&ob) != 0) {
        (*bad)++;
        fprintf(stderr, "rank %d: %d sends left after quiescence\n", rank,
                tsr__outbox_pending(&ob));
    }
    tsr__outbox_free(&ob);
    MPI_Comm_free(&comm);
    free(next);
    return err;
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "test_outbox", &ctx);
    int bad = 0;
    if (!err)
        err = run(ctx, &bad);
    if (!err) {
        MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        tsr_ctx_printf(ctx, stdout, "%d passed, %d failed\n", bad ? 0 : 1, bad);
        if (bad)
            err = tsr_error_set(ctx, TSR_ERR_VERIFY, __FILE__, __LINE__, __func__,
                                "%d outbox checks failed", bad);
    }
    return tsr_finalize(&ctx, err);
}
