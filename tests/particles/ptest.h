/* What the particle tests share: deterministic values from keys, written out here rather than
 * taken from the library, since the tests' serial models must not use library code. */
#ifndef TESSERA_TESTS_PTEST_H
#define TESSERA_TESTS_PTEST_H

#include <stdint.h>
#include <string.h>

static inline uint64_t splitmix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A uniform double in [0, 1) from a key (pio.py computes the same). */
static inline double unit(uint64_t key) {
    return (double)(splitmix64(key) >> 11) * 0x1.0p-53;
}

/* The bits of a double, for exact comparisons and checksums. */
static inline uint64_t bits(double v) {
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

/* Returns a non-zero status from the calling function. */
#define TRY(expr)                                                                                  \
    do {                                                                                           \
        int try_err_ = (expr);                                                                     \
        if (try_err_)                                                                              \
            return try_err_;                                                                       \
    } while (0)

#endif
