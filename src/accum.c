/* Kernel contributions to exact reductions: one accumulator per thread, merged at the end. */
#include <stdlib.h>

#include <omp.h>

#include "context_impl.h"
#include "tessera/accum.h"
#include "xsum_impl.h"

/* Adding to the exact accumulator costs three digit updates with a 128-bit shift per value;
 * kernels add one value per cell, so sums first go into one integer bin per binary exponent
 * (Neal's "large superaccumulator"): a value is its signed 53-bit significand added to the bin of
 * its exponent, exact in an int64 for BIN_ROUNDS additions, after which the bins that may be
 * non-zero are folded into the exact accumulator. */
#define BINS 2048
#define BIN_ROUNDS 1024 /* 1024 * (2^53 - 1) < 2^63 */
/* Consecutive values of a kernel tend to share an exponent: four banks of bins, taken in turn,
 * let four additions be in flight instead of waiting on the same memory word. */
#define BANKS 4

/* One thread's share, on cache lines of its own. */
typedef struct slot {
    _Alignas(64) int64_t bins[BINS * BANKS]; /* bins[e * BANKS + k]: significands of exponent
                                                 field e (0 as 1) added in bank k */
    tsr__acc sum;                            /* everything folded so far, and the specials */
    int count;                               /* additions since the last fold */
    int emin, emax;                          /* the bins touched since then */
    tsr__extreme ext;
} slot;

struct tsr_accum_s {
    tsr_ctx ctx;
    tsr_reduce_op op;
    int nslots;   /* threads that own a slot: omp_get_max_threads() at creation */
    slot *slots;  /* nslots + 1; the last one is shared under a lock */
    void *memory; /* the aligned allocation behind slots */
};

/* Adds b * 2^(e - 1075) to the exact accumulator (|b| < 2^63, 1 <= e <= 2046). */
static void acc_add_bin(tsr__acc *a, int64_t b, int e) {
    tsr__acc_add_scaled(a, b < 0 ? -(uint64_t)b : (uint64_t)b, e - 1, b < 0);
}

/* Empties the touched bins into the exact accumulator; the bins end all zero. */
static void slot_fold(slot *s) {
    for (int e = s->emin; e <= s->emax; e++)
        for (int k = 0; k < BANKS; k++)
            if (s->bins[e * BANKS + k]) {
                acc_add_bin(&s->sum, s->bins[e * BANKS + k], e);
                s->bins[e * BANKS + k] = 0;
            }
    s->count = 0;
    s->emin = BINS;
    s->emax = -1;
}

static void slot_reset(slot *s, tsr_reduce_op op) {
    slot_fold(s); /* zeroes the bins that were used: cheaper than all of them */
    memset(&s->sum, 0, sizeof s->sum);
    s->ext = tsr__extreme_identity(op == TSR_REDUCE_MIN);
}

/* The hot loop: locals in registers, one indexed add per value. */
static void slot_add_sum(slot *s, const double *v, int64_t n, bool squares) {
    int64_t *bins = s->bins;
    int emin = s->emin, emax = s->emax;
    for (int64_t i0 = 0; i0 < n;) {
        /* As many values as the bins can take before a fold, with no check inside. */
        int64_t i1 = n - i0 < BIN_ROUNDS - s->count ? n : i0 + (BIN_ROUNDS - s->count);
        s->count += (int)(i1 - i0);
        for (int64_t i = i0; i < i1; i++) {
            double x = squares ? v[i] * v[i] : v[i];
            uint64_t b;
            memcpy(&b, &x, sizeof b);
            int e = (int)((b >> 52) & 0x7ff);
            int64_t m = (int64_t)(b & ((UINT64_C(1) << 52) - 1));
            if (e == 0x7ff) { /* an infinity or a NaN: counted by the exact accumulator */
                tsr__acc_add(&s->sum, x);
                continue;
            }
            if (e)
                m |= INT64_C(1) << 52;
            else if (m)
                e = 1; /* subnormal: the weight of exponent field 1 */
            else
                continue; /* a zero */
            bins[e * BANKS + (int)(i & (BANKS - 1))] += (b >> 63) ? -m : m;
            emin = e < emin ? e : emin;
            emax = e > emax ? e : emax;
        }
        i0 = i1;
        if (s->count == BIN_ROUNDS) {
            s->emin = emin;
            s->emax = emax;
            slot_fold(s);
            emin = BINS;
            emax = -1;
        }
    }
    s->emin = emin;
    s->emax = emax;
}

int tsr_accum_create(tsr_ctx ctx, tsr_reduce_op op, tsr_accum *acc) {
    TSR_CHECK(ctx, acc, TSR_ERR_ARG, "tsr_accum_create: NULL handle");
    *acc = NULL;
    TSR_CHECK(ctx, op >= TSR_REDUCE_SUM && op <= TSR_REDUCE_NORM2, TSR_ERR_ARG,
              "unknown reduction %d", (int)op);
    tsr_accum a = NULL;
    TSR_CALL(ctx, tsr__calloc(ctx, 1, sizeof *a, &a));
    a->ctx = ctx;
    a->op = op;
    a->nslots = omp_get_max_threads();
    int err = tsr__aligned_alloc(ctx, sizeof(slot) * (size_t)(a->nslots + 1), &a->memory);
    if (err) {
        free(a);
        return tsr_error_trace(ctx, err, __FILE__, __LINE__, __func__);
    }
    a->slots = a->memory;
    memset(a->slots, 0, sizeof(slot) * (size_t)(a->nslots + 1));
    for (int i = 0; i <= a->nslots; i++) {
        a->slots[i].emin = BINS;
        a->slots[i].emax = -1;
        slot_reset(&a->slots[i], op);
    }
    *acc = a;
    return TSR_SUCCESS;
}

int tsr_accum_destroy(tsr_accum *acc) {
    if (!acc || !*acc)
        return TSR_SUCCESS;
    free((*acc)->memory);
    free(*acc);
    *acc = NULL;
    return TSR_SUCCESS;
}

int tsr_accum_reset(tsr_accum acc) {
    if (!acc)
        return TSR_ERR_ARG;
    for (int i = 0; i <= acc->nslots; i++)
        slot_reset(&acc->slots[i], acc->op);
    return TSR_SUCCESS;
}

/* The calling thread's own slot, or NULL when it has none (nested parallelism, or more threads
 * than at creation). Threads that may run concurrently never share a slot: at most one level of
 * the nest is active, and the thread number at that level tells them apart. */
static inline slot *own_slot(tsr_accum a) {
    int level = omp_get_level();
    int t = 0;
    if (level == 1) {
        t = omp_get_thread_num();
    } else if (level > 1) {
        if (omp_get_active_level() > 1)
            return NULL;
        for (int l = 1; l <= level; l++)
            if (omp_get_team_size(l) > 1)
                t = omp_get_ancestor_thread_num(l);
    }
    return t < a->nslots ? &a->slots[t] : NULL;
}

static inline void slot_add(slot *s, tsr_reduce_op op, const double *v, int64_t n) {
    switch (op) {
    case TSR_REDUCE_SUM:
    case TSR_REDUCE_NORM2:
        slot_add_sum(s, v, n, op == TSR_REDUCE_NORM2);
        break;
    case TSR_REDUCE_MIN:
        for (int64_t i = 0; i < n; i++)
            tsr__extreme_add(&s->ext, v[i], true);
        break;
    default:
        for (int64_t i = 0; i < n; i++)
            tsr__extreme_add(&s->ext, v[i], false);
        break;
    }
}

int tsr_accum_add_n(tsr_accum acc, const double *values, int64_t n) {
    /* No message: this runs on kernel threads, and the context's error state is not theirs. */
    if (!acc || n < 0 || (n > 0 && !values))
        return TSR_ERR_ARG;
    slot *s = own_slot(acc);
    if (s) {
        slot_add(s, acc->op, values, n);
    } else {
#pragma omp critical(tsr_accum_shared)
        slot_add(&acc->slots[acc->nslots], acc->op, values, n);
    }
    return TSR_SUCCESS;
}

int tsr_accum_add(tsr_accum acc, double value) {
    return tsr_accum_add_n(acc, &value, 1);
}

int tsr_accum_result(tsr_accum acc, double *result) {
    if (!acc)
        return TSR_ERR_ARG;
    tsr_ctx ctx = acc->ctx;
    TSR_CHECK(ctx, result, TSR_ERR_ARG, "tsr_accum_result: NULL result");
    if (acc->op == TSR_REDUCE_MIN || acc->op == TSR_REDUCE_MAX) {
        bool is_min = acc->op == TSR_REDUCE_MIN;
        tsr__extreme best = tsr__extreme_identity(is_min);
        for (int i = 0; i <= acc->nslots; i++)
            tsr__extreme_merge(&best, &acc->slots[i].ext, is_min);
        TSR_CALL(ctx, tsr__minmax_finish(ctx, is_min, &best, result));
        return TSR_SUCCESS;
    }
    tsr__acc total;
    memset(&total, 0, sizeof total);
    for (int i = 0; i <= acc->nslots; i++) {
        slot_fold(&acc->slots[i]);
        tsr__acc_merge(&total, &acc->slots[i].sum);
    }
    TSR_CALL(ctx, tsr__sum_finish(ctx, &total, acc->op == TSR_REDUCE_NORM2, result));
    return TSR_SUCCESS;
}
