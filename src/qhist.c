/* Quantiles of durations from a log-linear histogram: within each power of two the buckets are
 * equal steps of the mantissa, so no logarithm is taken per sample. */
#include <math.h>

#include "qhist_impl.h"

static int bucket(double s) {
    if (!(s > 0))
        return 0;
    int e;
    double m = frexp(s, &e); /* s = m * 2^e, m in [0.5, 1) */
    if (e - 1 < TSR__QHIST_MIN_EXP)
        return 0;
    if (e - 1 >= TSR__QHIST_MAX_EXP)
        return TSR__QHIST_N - 1;
    int sub = (int)((2 * m - 1) * TSR__QHIST_SUB);
    return (e - 1 - TSR__QHIST_MIN_EXP) * TSR__QHIST_SUB + sub;
}

void tsr__qhist_add(tsr__qhist *h, double seconds) {
    h->count[bucket(seconds)]++;
    h->n++;
}

double tsr__qhist_quantile(const tsr__qhist *h, double q) {
    if (h->n == 0)
        return 0;
    q = q < 0 ? 0 : q > 1 ? 1 : q;
    int64_t rank = (int64_t)(q * (double)(h->n - 1)), seen = 0;
    int b = 0;
    while (b < TSR__QHIST_N - 1 && (seen += h->count[b]) <= rank)
        b++;
    int e = b / TSR__QHIST_SUB + TSR__QHIST_MIN_EXP, sub = b % TSR__QHIST_SUB;
    return ldexp(1 + (sub + 0.5) / TSR__QHIST_SUB, e);
}
