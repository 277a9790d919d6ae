/* --verify-halo: fill owned cells from their global index, exchange, check every ghost. */
#include <stdlib.h>
#include <string.h>

#include "field_impl.h"

#define SENTINEL (-1.0)
#define REPORT_LEN 8192
#define MAX_LINES_PER_RANK 20

/* What a ghost cell must hold after an exchange: its owner's value, or the sentinel where the
 * stencil or a non-periodic boundary leaves it alone. */
static double expected(const tsr__layout *lay, tsr_stencil st, const tsr_block *b,
                       const int64_t c[TSR_MAX_DIM], int dir[TSR_MAX_DIM]) {
    int outside = 0;
    int64_t g[TSR_MAX_DIM];
    bool beyond_domain = false;
    for (int d = 0; d < TSR_MAX_DIM; d++) {
        dir[d] = c[d] < 0 ? -1 : c[d] >= b->n[d] ? 1 : 0;
        outside += dir[d] != 0;
        g[d] = b->lo[d] + c[d];
        if (g[d] < 0 || g[d] >= lay->n[d]) {
            if (lay->periodic[d])
                g[d] = ((g[d] % lay->n[d]) + lay->n[d]) % lay->n[d];
            else
                beyond_domain = true;
        }
    }
    if (beyond_domain || (st == TSR_STENCIL_STAR && outside > 1))
        return SENTINEL;
    return (double)(g[0] + lay->n[0] * (g[1] + lay->n[1] * g[2])) + 1.0;
}

static int check_block(const tsr__layout *lay, tsr_stencil st, const tsr_block *b, char *report,
                       size_t *used, int *lines) {
    int w = b->width, wy = b->ndim >= 2 ? w : 0, wz = b->ndim >= 3 ? w : 0;
    int64_t bad = 0;
    int64_t per_dir[27] = {0};
    for (int64_t z = -wz; z < b->n[2] + wz; z++)
        for (int64_t y = -wy; y < b->n[1] + wy; y++)
            for (int64_t x = -w; x < b->n[0] + w; x++) {
                int64_t c[TSR_MAX_DIM] = {x, y, z};
                int dir[TSR_MAX_DIM];
                if (x >= 0 && x < b->n[0] && y >= 0 && y < b->n[1] && z >= 0 && z < b->n[2])
                    continue;
                double want = expected(lay, st, b, c, dir);
                double got = TSR_AT(b, x, y, z);
                if (got == want)
                    continue;
                bad++;
                int k = (dir[0] + 1) + 3 * (dir[1] + 1) + 9 * (dir[2] + 1);
                if (per_dir[k]++ == 0 && *lines < MAX_LINES_PER_RANK && *used < REPORT_LEN) {
                    (*lines)++;
                    *used += (size_t)snprintf(report + *used, REPORT_LEN - *used,
                                              "  block %lld, ghost side (%+d,%+d,%+d): cell "
                                              "(%lld,%lld,%lld) holds %.17g, "
                                              "expected %.17g\n",
                                              (long long)b->id, dir[0], dir[1], dir[2],
                                              (long long)x, (long long)y, (long long)z, got, want);
                }
            }
    return bad > INT32_MAX ? INT32_MAX : (int)bad;
}

int tsr_halo_verify(tsr_halo h, int64_t *bad_out) {
    tsr_ctx ctx = tsr_map_decomp(tsr_halo_map(h))->ctx;
    tsr_map m = tsr_halo_map(h);
    const tsr__layout *lay = &m->decomp->lay;
    tsr_field f = NULL;
    TSR_CALL(ctx, tsr_field_create(m, tsr_halo_width(h), "verify", &f));
    TSR_CALL(ctx, tsr_field_fill(f, SENTINEL));
    for (int64_t i = 0; i < f->nblocks; i++) {
        tsr_block *b = &f->blocks[i];
        for (int64_t z = 0; z < b->n[2]; z++)
            for (int64_t y = 0; y < b->n[1]; y++)
                for (int64_t x = 0; x < b->n[0]; x++)
                    TSR_AT(b, x, y, z) =
                        (double)((b->lo[0] + x) +
                                 lay->n[0] * ((b->lo[1] + y) + lay->n[1] * (b->lo[2] + z))) +
                        1.0;
    }
    /* The exchange alone is checked: ghosts outside the domain keep the sentinel. */
    int err = tsr__halo_exchange_inside(h, &f, 1);
    char *report = calloc(1, REPORT_LEN + 1);
    int64_t bad = 0;
    size_t used = 0;
    int lines = 0;
    if (!report && !err)
        err = tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                            "cannot allocate the verification report");
    for (int64_t i = 0; !err && i < f->nblocks; i++)
        bad += check_block(lay, tsr_halo_stencil(h), &f->blocks[i], report, &used, &lines);
    tsr_field_destroy(&f);
    err = tsr_ctx_agree(ctx, err);
    if (err) {
        free(report);
        return tsr_error_trace(ctx, err, __FILE__, __LINE__, __func__);
    }
    /* Rank 0 prints every rank's first mismatches, in rank order. */
    int len = (int)used;
    int *lens = NULL, *displs = NULL;
    char *all = NULL;
    if (ctx->rank == 0) {
        lens = calloc((size_t)ctx->size, sizeof *lens);
        displs = calloc((size_t)ctx->size, sizeof *displs);
    }
    MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, ctx->comm);
    int total = 0;
    if (ctx->rank == 0) {
        for (int r = 0; r < ctx->size; r++) {
            displs[r] = total;
            total += lens[r];
        }
        all = calloc((size_t)total + 1, 1);
    }
    MPI_Gatherv(report, len, MPI_CHAR, all, lens, displs, MPI_CHAR, 0, ctx->comm);
    int64_t gbad = 0;
    TSR_MPI(ctx, MPI_Allreduce(&bad, &gbad, 1, MPI_INT64_T, MPI_SUM, ctx->comm));
    if (ctx->rank == 0 && all && total > 0)
        fprintf(stderr, "%s: halo verification mismatches (first per block and side):\n%s",
                ctx->name, all);
    free(all);
    free(lens);
    free(displs);
    free(report);
    if (bad_out)
        *bad_out = gbad;
    int64_t blocks = lay->nblocks;
    err = gbad ? tsr_error_set(ctx, TSR_ERR_VERIFY, __FILE__, __LINE__, __func__,
                               "halo verification failed: %lld wrong ghost cells", (long long)gbad)
               : TSR_SUCCESS;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    tsr_ctx_printf(ctx, stdout,
                   "halo verification passed: %lld blocks, width %d, %s stencil, every ghost "
                   "cell checked\n",
                   (long long)blocks, tsr_halo_width(h),
                   tsr_halo_stencil(h) == TSR_STENCIL_STAR ? "star" : "box");
    return TSR_SUCCESS;
}
