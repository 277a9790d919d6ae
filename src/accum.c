/* Kernel contributions to exact reductions: one accumulator per thread, merged at the end. */
#include <stdlib.h>

#include <omp.h>

#include "context_impl.h"
#include "tessera/accum.h"
#include "xsum_impl.h"

/* One thread's share, on cache lines of its own: kernels add to it on every cell. */
typedef struct slot {
    _Alignas(64) tsr__acc sum;
    tsr__extreme ext;
} slot;

struct tsr_accum_s {
    tsr_ctx ctx;
    tsr_reduce_op op;
    int nslots;   /* threads that own a slot: omp_get_max_threads() at creation */
    slot *slots;  /* nslots + 1; the last one is shared under a lock */
    void *memory; /* the aligned allocation behind slots */
};

static void slot_reset(slot *s, tsr_reduce_op op) {
    memset(&s->sum, 0, sizeof s->sum);
    s->ext = tsr__extreme_identity(op == TSR_REDUCE_MIN);
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
    for (int i = 0; i <= a->nslots; i++)
        slot_reset(&a->slots[i], op);
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
        for (int64_t i = 0; i < n; i++)
            tsr__acc_add(&s->sum, v[i]);
        break;
    case TSR_REDUCE_NORM2:
        for (int64_t i = 0; i < n; i++)
            tsr__acc_add(&s->sum, v[i] * v[i]);
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
    for (int i = 0; i <= acc->nslots; i++)
        tsr__acc_merge(&total, &acc->slots[i].sum);
    TSR_CALL(ctx, tsr__sum_finish(ctx, &total, acc->op == TSR_REDUCE_NORM2, result));
    return TSR_SUCCESS;
}
