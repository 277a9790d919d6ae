/* Quantiles of durations in O(1) time per sample and fixed memory: a histogram with
 * TSR__QHIST_SUB buckets per power of two. A quantile is known to within half a bucket: at
 * most 1/(2 * TSR__QHIST_SUB) of its value (3%). Used where a median or a tail of many short
 * times is wanted (the farm coordinator's requests, tessera-farm's tasks) without keeping every
 * sample. Not thread-safe; a zeroed struct is an empty histogram. */
#ifndef TSR_QHIST_IMPL_H
#define TSR_QHIST_IMPL_H

#include <stdint.h>

enum {
    TSR__QHIST_SUB = 16,
    TSR__QHIST_MIN_EXP = -30, /* 2^-30 s, about 1 ns: shorter samples count as this */
    TSR__QHIST_MAX_EXP = 20,  /* 2^20 s, 12 days: longer ones count as this */
    TSR__QHIST_N = (TSR__QHIST_MAX_EXP - TSR__QHIST_MIN_EXP) * TSR__QHIST_SUB
};

typedef struct tsr__qhist {
    int64_t n;
    int64_t count[TSR__QHIST_N];
} tsr__qhist;

/* Adds one sample (seconds; zero, negative and NaN count as the shortest). */
void tsr__qhist_add(tsr__qhist *h, double seconds);

/* The sample of rank floor(q * (n - 1)) in increasing order, as the middle of its bucket
 * (q in [0, 1]); 0 when the histogram is empty. */
double tsr__qhist_quantile(const tsr__qhist *h, double q);

#endif
