/* The exact accumulators behind every reduction (reduce.c's fields and sequences, accum.c's
 * kernel contributions): one implementation, so a sum of the same values has the same bits
 * whichever way it was taken. */
#ifndef TESSERA_XSUM_IMPL_H
#define TESSERA_XSUM_IMPL_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "context_impl.h"

/* An exact sum of doubles: 32-bit digits (each in an int64 for headroom) weighted by
 * 2^(32 i - 1074), enough for any double times 2^60 terms. Integer addition is associative, so
 * the sum is the same in any order; it is rounded to a double once, at the end. */
#define TSR__ACC_DIGITS 72
#define TSR__ACC_FLUSH (INT64_C(1) << 29)

typedef struct tsr__acc {
    int64_t d[TSR__ACC_DIGITS];
    int64_t nan, pinf, ninf; /* specials, counted */
    int64_t pending;         /* additions since the last normalisation */
} tsr__acc;

/* The sums are sent over MPI as one int64 array of digits and the three counters. */
_Static_assert(offsetof(tsr__acc, ninf) == sizeof(int64_t) * (TSR__ACC_DIGITS + 2),
               "tsr__acc must hold digits, nan, pinf, ninf contiguously");

/* Carries every digit into [0, 2^32) (the top one keeps the sign). */
void tsr__acc_normalize(tsr__acc *a);
/* Adds (neg ? -1 : 1) * mag * 2^(p - 1074) (mag < 2^63, 0 <= p <= 2045) to the accumulator:
 * mag shifted into three 32-bit digits. */
static inline void tsr__acc_add_scaled(tsr__acc *a, uint64_t mag, int p, int neg) {
    int idx = p >> 5;
    unsigned __int128 m = (unsigned __int128)mag << (p & 31);
    int64_t d0 = (int64_t)(uint32_t)m, d1 = (int64_t)(uint32_t)(m >> 32),
            d2 = (int64_t)(uint32_t)(m >> 64);
    if (neg) {
        a->d[idx] -= d0;
        a->d[idx + 1] -= d1;
        a->d[idx + 2] -= d2;
    } else {
        a->d[idx] += d0;
        a->d[idx + 1] += d1;
        a->d[idx + 2] += d2;
    }
    if (++a->pending == TSR__ACC_FLUSH)
        tsr__acc_normalize(a);
}

/* a += b (b normalised or not); a ends normalised. */
void tsr__acc_merge(tsr__acc *a, const tsr__acc *b);

static inline void tsr__acc_add(tsr__acc *a, double v) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    int exp = (int)((bits >> 52) & 0x7ff);
    uint64_t man = bits & ((UINT64_C(1) << 52) - 1);
    int neg = (int)(bits >> 63);
    if (exp == 0x7ff) {
        if (man)
            a->nan++;
        else if (neg)
            a->ninf++;
        else
            a->pinf++;
        return;
    }
    if (exp == 0) {
        if (!man)
            return;
        exp = 1; /* subnormal */
    } else {
        man |= UINT64_C(1) << 52;
    }
    tsr__acc_add_scaled(a, man, exp - 1, neg); /* v = man * 2^(exp - 1075) */
}

/* An integer whose order is the total order of doubles (-inf < ... < -0 < +0 < ... < +inf). */
static inline int64_t tsr__order_key(double v) {
    int64_t k;
    memcpy(&k, &v, sizeof k);
    return k < 0 ? k ^ INT64_MAX : k;
}

/* A running extreme: the best ordered key seen and whether a NaN was. */
typedef struct tsr__extreme {
    int64_t key, nan;
} tsr__extreme;

/* The identity of a min (key of +inf) or a max (key of -inf). */
static inline tsr__extreme tsr__extreme_identity(bool is_min) {
    tsr__extreme e = {tsr__order_key(is_min ? (double)INFINITY : -(double)INFINITY), 0};
    return e;
}

static inline void tsr__extreme_add(tsr__extreme *e, double v, bool is_min) {
    if (v != v) {
        e->nan = 1;
        return;
    }
    int64_t k = tsr__order_key(v);
    if (is_min ? k < e->key : k > e->key)
        e->key = k;
}

static inline void tsr__extreme_merge(tsr__extreme *into, const tsr__extreme *e, bool is_min) {
    into->nan |= e->nan;
    if (is_min ? e->key < into->key : e->key > into->key)
        into->key = e->key;
}

/* Combines the ranks' sums, rounds once, and takes the square root for a norm. The local `total`
 * is normalised in place. Collective. */
int tsr__sum_finish(tsr_ctx ctx, tsr__acc *total, bool squares, double *result);
/* Combines the ranks' extremes (NaN wins). Collective. */
int tsr__minmax_finish(tsr_ctx ctx, bool is_min, const tsr__extreme *e, double *result);

#endif
