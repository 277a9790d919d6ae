/* Unit tests of the duration histogram: its quantiles against the sorted samples. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ck_main.h"
#include "qhist_impl.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The sample a quantile names, from a sorted copy: the serial reference. */
static double exact(const double *v, int64_t n, double q) {
    double *s = malloc((size_t)n * sizeof *s);
    ck_assert_ptr_nonnull(s);
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double x = s[(int64_t)(q * (double)(n - 1))];
    free(s);
    return x;
}

static void assert_close(double got, double want) {
    double err = fabs(got - want) / want;
    ck_assert_msg(err <= 1.0 / (2 * TSR__QHIST_SUB) + 1e-12, "%.9g against %.9g (%.2f%%)", got,
                  want, 100 * err);
}

START_TEST(empty_is_zero) {
    tsr__qhist h = {0};
    ck_assert_double_eq(tsr__qhist_quantile(&h, 0.5), 0);
}
END_TEST

/* Durations from 10 ns to 1000 s, spread evenly in their logarithm, in a scrambled order. */
START_TEST(quantiles_of_a_wide_spread) {
    enum { N = 20001 };
    static double v[N];
    tsr__qhist h = {0};
    uint64_t x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        v[i] = pow(10, -8 + 11 * (double)(x >> 11) / 9007199254740992.0);
        tsr__qhist_add(&h, v[i]);
    }
    ck_assert_int_eq(h.n, N);
    const double qs[] = {0, 0.01, 0.25, 0.5, 0.9, 0.99, 1};
    for (size_t k = 0; k < sizeof qs / sizeof *qs; k++)
        assert_close(tsr__qhist_quantile(&h, qs[k]), exact(v, N, qs[k]));
}
END_TEST

/* A farm's request times: most near a microsecond, a tail of preempted ones far out. */
START_TEST(median_ignores_a_tail) {
    enum { N = 1000 };
    double v[N];
    tsr__qhist h = {0};
    for (int i = 0; i < N; i++) {
        v[i] = i % 50 == 0 ? 3e-3 : 0.8e-6 + 1e-9 * (i % 7);
        tsr__qhist_add(&h, v[i]);
    }
    assert_close(tsr__qhist_quantile(&h, 0.5), exact(v, N, 0.5));
    assert_close(tsr__qhist_quantile(&h, 0.99), 3e-3);
    /* The shortest sample and one exactly on a power of two. */
    assert_close(tsr__qhist_quantile(&h, 0), 0.8e-6);
    tsr__qhist one = {0};
    tsr__qhist_add(&one, 0.5);
    assert_close(tsr__qhist_quantile(&one, 0.5), 0.5);
}
END_TEST

/* Out of range: zero, negative and NaN count as the shortest, huge as the longest. */
START_TEST(out_of_range_samples) {
    tsr__qhist h = {0};
    tsr__qhist_add(&h, 0);
    tsr__qhist_add(&h, -1);
    tsr__qhist_add(&h, NAN);
    tsr__qhist_add(&h, 1e300);
    ck_assert_int_eq(h.n, 4);
    ck_assert_double_le(tsr__qhist_quantile(&h, 0), ldexp(1.1, TSR__QHIST_MIN_EXP));
    ck_assert_double_le(tsr__qhist_quantile(&h, 0.5), ldexp(1.1, TSR__QHIST_MIN_EXP));
    ck_assert_double_ge(tsr__qhist_quantile(&h, 1), ldexp(1.9, TSR__QHIST_MAX_EXP - 1));
    ck_assert(isfinite(tsr__qhist_quantile(&h, 1)));
}
END_TEST

TSR_CK_MAIN("qhist", "quantiles", empty_is_zero, quantiles_of_a_wide_spread, median_ignores_a_tail,
            out_of_range_samples)
