/* Reductions and checksums independent of ranks, threads, blocks and maps. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include <omp.h>

#include "field_impl.h"
#include "tessera/reduce.h"
#include "xsum_impl.h"

#define ACC_DIGITS TSR__ACC_DIGITS

typedef tsr__acc acc;

void tsr__acc_normalize(tsr__acc *a) {
    for (int i = 0; i < ACC_DIGITS - 1; i++) {
        int64_t carry = a->d[i] >> 32; /* floor division: digits end up in [0, 2^32) */
        a->d[i] -= carry * (INT64_C(1) << 32);
        a->d[i + 1] += carry;
    }
    a->pending = 0;
}

void tsr__acc_merge(tsr__acc *a, const tsr__acc *b) {
    for (int i = 0; i < ACC_DIGITS; i++)
        a->d[i] += b->d[i];
    a->nan += b->nan;
    a->pinf += b->pinf;
    a->ninf += b->ninf;
    tsr__acc_normalize(a);
}

/* Rounds the exact value; a deterministic function of the normalised digits. */
static double acc_value(acc *a) {
    if (a->nan || (a->pinf && a->ninf))
        return NAN;
    if (a->pinf)
        return INFINITY;
    if (a->ninf)
        return -INFINITY;
    tsr__acc_normalize(a);
    double sign = 1.0;
    if (a->d[ACC_DIGITS - 1] < 0) {
        for (int i = 0; i < ACC_DIGITS; i++)
            a->d[i] = -a->d[i];
        tsr__acc_normalize(a);
        sign = -1.0;
    }
    int top = ACC_DIGITS - 1;
    while (top >= 0 && a->d[top] == 0)
        top--;
    if (top < 0)
        return 0.0;
    double r = 0.0;
    /* Four digits carry 128 bits, more than a double keeps; a sticky bit from below breaks
     * ties the same way every time. */
    int low = top - 3 < 0 ? 0 : top - 3;
    bool sticky = false;
    for (int i = 0; i < low; i++)
        sticky = sticky || a->d[i] != 0;
    uint64_t lowest = (uint64_t)a->d[low] | (sticky ? 1u : 0u);
    for (int i = top; i > low; i--)
        r += ldexp((double)a->d[i], 32 * i - 1074);
    r += ldexp((double)lowest, 32 * low - 1074);
    return sign * r;
}

static inline double key_value(int64_t k) {
    k = k < 0 ? k ^ INT64_MAX : k;
    double v;
    memcpy(&v, &k, sizeof v);
    return v;
}

static inline void extreme_row(tsr__extreme *e, const double *v, int64_t n, bool is_min) {
    for (int64_t x = 0; x < n; x++)
        tsr__extreme_add(e, v[x], is_min);
}

static inline void acc_row(acc *a, const double *v, int64_t n, bool squares) {
    for (int64_t x = 0; x < n; x++)
        tsr__acc_add(a, squares ? v[x] * v[x] : v[x]);
}

/* One MAX over (key, NaN seen); a min is the max of negated keys (never INT64_MIN, which only a
 * NaN could produce). */
int tsr__minmax_finish(tsr_ctx ctx, bool is_min, const tsr__extreme *e, double *result) {
    int64_t v[2] = {is_min ? -e->key : e->key, e->nan};
    TSR_MPI(ctx, MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_INT64_T, MPI_MAX, ctx->comm));
    *result = v[1] ? NAN : key_value(is_min ? -v[0] : v[0]);
    return TSR_SUCCESS;
}

int tsr__sum_finish(tsr_ctx ctx, acc *total, bool squares, double *result) {
    tsr__acc_normalize(total);
    /* Normalised digits are below 2^32, so an integer sum over ranks cannot overflow. */
    acc global;
    TSR_MPI(ctx,
            MPI_Allreduce(total->d, global.d, ACC_DIGITS + 3, MPI_INT64_T, MPI_SUM, ctx->comm));
    global.pending = 0;
    double v = acc_value(&global);
    *result = squares ? sqrt(v) : v;
    return TSR_SUCCESS;
}

int tsr_field_reduce(tsr_field f, tsr_reduce_op op, double *result) {
    tsr_ctx ctx = f->ctx;
    TSR_CHECK(ctx, op >= TSR_REDUCE_SUM && op <= TSR_REDUCE_NORM2, TSR_ERR_ARG,
              "unknown reduction %d", (int)op);
    double t0 = tsr_wtime();
    if (op == TSR_REDUCE_MIN || op == TSR_REDUCE_MAX) {
        bool is_min = op == TSR_REDUCE_MIN;
        /* Ordered keys make -0.0 < +0.0 and the choice independent of the visiting order. */
        const tsr__extreme identity = tsr__extreme_identity(is_min);
        tsr__extreme best = identity;
        for (int64_t i = 0; i < f->nblocks; i++) {
            const tsr_block *b = &f->blocks[i];
            const int64_t nc = b->ncomp;
#pragma omp parallel if (b->n[0] * b->n[1] * b->n[2] * nc > ctx->min_parallel_cells)
            {
                tsr__extreme mine = identity;
#pragma omp for collapse(3) schedule(static) nowait
                for (int64_t c = 0; c < nc; c++)
                    for (int64_t z = 0; z < b->n[2]; z++)
                        for (int64_t y = 0; y < b->n[1]; y++)
                            extreme_row(&mine, &TSR_ATC(b, 0, y, z, c), b->n[0], is_min);
#pragma omp critical(tsr_reduce_minmax)
                tsr__extreme_merge(&best, &mine, is_min);
            }
        }
        TSR_CALL(ctx, tsr__minmax_finish(ctx, is_min, &best, result));
        tsr_ctx_timer_add(ctx, TSR_TIMER_COMPUTE, tsr_wtime() - t0);
        return TSR_SUCCESS;
    }
    bool squares = op == TSR_REDUCE_NORM2;
    acc total;
    memset(&total, 0, sizeof total);
    for (int64_t i = 0; i < f->nblocks; i++) {
        const tsr_block *b = &f->blocks[i];
        const int64_t nc = b->ncomp;
#pragma omp parallel if (b->n[0] * b->n[1] * b->n[2] * nc > ctx->min_parallel_cells)
        {
            acc mine;
            memset(&mine, 0, sizeof mine);
#pragma omp for collapse(3) schedule(static) nowait
            for (int64_t c = 0; c < nc; c++)
                for (int64_t z = 0; z < b->n[2]; z++)
                    for (int64_t y = 0; y < b->n[1]; y++)
                        acc_row(&mine, &TSR_ATC(b, 0, y, z, c), b->n[0], squares);
            tsr__acc_normalize(&mine);
#pragma omp critical(tsr_reduce_sum)
            tsr__acc_merge(&total, &mine);
        }
    }
    TSR_CALL(ctx, tsr__sum_finish(ctx, &total, squares, result));
    tsr_ctx_timer_add(ctx, TSR_TIMER_COMPUTE, tsr_wtime() - t0);
    return TSR_SUCCESS;
}

int tsr_reduce_doubles(tsr_ctx ctx, const double *values, int64_t n, tsr_reduce_op op,
                       double *result) {
    TSR_CHECK(ctx, op >= TSR_REDUCE_SUM && op <= TSR_REDUCE_NORM2, TSR_ERR_ARG,
              "unknown reduction %d", (int)op);
    TSR_CHECK(ctx, n >= 0 && (values || n == 0) && result, TSR_ERR_ARG,
              "tsr_reduce_doubles: bad arguments (n = %lld)", (long long)n);
    bool parallel = n > ctx->min_parallel_cells;
    if (op == TSR_REDUCE_MIN || op == TSR_REDUCE_MAX) {
        bool is_min = op == TSR_REDUCE_MIN;
        const tsr__extreme identity = tsr__extreme_identity(is_min);
        tsr__extreme best = identity;
#pragma omp parallel if (parallel)
        {
            tsr__extreme mine = identity;
            /* Each thread takes one contiguous share, like a static schedule. */
            int nt = omp_get_num_threads(), t = omp_get_thread_num();
            int64_t lo = n * t / nt, hi = n * (t + 1) / nt;
            extreme_row(&mine, values + lo, hi - lo, is_min);
#pragma omp critical(tsr_reduce_minmax)
            tsr__extreme_merge(&best, &mine, is_min);
        }
        return tsr__minmax_finish(ctx, is_min, &best, result);
    }
    bool squares = op == TSR_REDUCE_NORM2;
    acc total;
    memset(&total, 0, sizeof total);
#pragma omp parallel if (parallel)
    {
        acc mine;
        memset(&mine, 0, sizeof mine);
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
        int64_t lo = n * t / nt, hi = n * (t + 1) / nt;
        acc_row(&mine, values + lo, hi - lo, squares);
        tsr__acc_normalize(&mine);
#pragma omp critical(tsr_reduce_sum)
        tsr__acc_merge(&total, &mine);
    }
    return tsr__sum_finish(ctx, &total, squares, result);
}

int tsr_checksum_doubles(tsr_ctx ctx, const double *values, int64_t n, int64_t first,
                         uint64_t *checksum) {
    TSR_CHECK(ctx, n >= 0 && first >= 0 && (values || n == 0) && checksum, TSR_ERR_ARG,
              "tsr_checksum_doubles: bad arguments (n = %lld, first = %lld)", (long long)n,
              (long long)first);
    uint64_t sum = 0;
#pragma omp parallel for schedule(static) reduction(+ : sum) if (n > ctx->min_parallel_cells)
    for (int64_t i = 0; i < n; i++) {
        uint64_t v;
        memcpy(&v, &values[i], sizeof v);
        sum += tsr_checksum_term((uint64_t)(first + i), v);
    }
    TSR_MPI(ctx, MPI_Allreduce(&sum, checksum, 1, MPI_UINT64_T, MPI_SUM, ctx->comm));
    return TSR_SUCCESS;
}

int tsr_field_checksum(tsr_field f, tsr_bits bits, uint64_t *checksum) {
    tsr_ctx ctx = f->ctx;
    const tsr__layout *lay = &f->map->decomp->lay;
    uint64_t sum = 0;
    bool as_int = bits == TSR_BITS_INTEGER;
    for (int64_t i = 0; i < f->nblocks; i++) {
        const tsr_block *b = &f->blocks[i];
        const int64_t nc = b->ncomp;
#pragma omp parallel for collapse(3) schedule(static) reduction(+ : sum) if (b->n[0] * b->n[1] * b->n[2] * nc > ctx->min_parallel_cells)
        for (int64_t c = 0; c < nc; c++)
            for (int64_t z = 0; z < b->n[2]; z++)
                for (int64_t y = 0; y < b->n[1]; y++) {
                    const double *row = &TSR_ATC(b, 0, y, z, c);
                    /* Element index: cell index * ncomp + component (the cell index for a
                     * scalar field). */
                    uint64_t cell = (uint64_t)(b->lo[0] + lay->n[0] * ((b->lo[1] + y) +
                                                                       lay->n[1] * (b->lo[2] + z)));
                    for (int64_t x = 0; x < b->n[0]; x++) {
                        uint64_t v;
                        if (as_int) {
                            v = (uint64_t)(int64_t)row[x];
                        } else {
                            memcpy(&v, &row[x], sizeof v);
                        }
                        uint64_t e = (cell + (uint64_t)x) * (uint64_t)nc + (uint64_t)c;
                        sum += tsr_checksum_term(e, v);
                    }
                }
    }
    uint64_t global = 0;
    TSR_MPI(ctx, MPI_Allreduce(&sum, &global, 1, MPI_UINT64_T, MPI_SUM, ctx->comm));
    *checksum = global;
    return TSR_SUCCESS;
}
