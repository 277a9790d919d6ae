/* What the particle tests share: deterministic values from keys, written out here rather than
 * taken from the library, since the tests' serial models must not use library code. */
#ifndef TESSERA_TESTS_PTEST_H
#define TESSERA_TESTS_PTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
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

/* A partner in the brute-force reference: particle id seen at image img (the library's code,
 * (kx + 1) + 3 (ky + 1) + 9 (kz + 1)), at position y. */
typedef struct entry {
    int64_t id;
    int img;
    double y[3];
} entry;

static inline int entry_cmp(const void *a, const void *b) {
    const entry *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return (x->img > y->img) - (x->img < y->img);
}

/* The domain of the reference: ndim dimensions of n[d] cells, periodic or not, npart
 * particles at pos[0 .. npart). */
typedef struct brute_box {
    int ndim;
    int64_t n[3];
    bool periodic[3];
    int64_t npart;
} brute_box;

/* Every particle j and periodic image whose squared distance to xi is below r2max (the
 * library's expression: differences summed over the dimensions in order), except `self` itself,
 * sorted by (id, image) into out (room for 27 npart). Returns how many. */
static inline int64_t brute(const brute_box *bx, const double (*pos)[3], int64_t self,
                            const double xi[3], double r2max, entry *out) {
    int64_t m = 0;
    int kmax[3];
    for (int d = 0; d < 3; d++)
        kmax[d] = d < bx->ndim && bx->periodic[d] ? 1 : 0;
    for (int64_t j = 0; j < bx->npart; j++)
        for (int kz = -kmax[2]; kz <= kmax[2]; kz++)
            for (int ky = -kmax[1]; ky <= kmax[1]; ky++)
                for (int kx = -kmax[0]; kx <= kmax[0]; kx++) {
                    int k[3] = {kx, ky, kz};
                    if (j == self && kx == 0 && ky == 0 && kz == 0)
                        continue;
                    double y[3], r2 = 0.0;
                    for (int d = 0; d < 3; d++)
                        y[d] = d < bx->ndim ? pos[j][d] + (double)((int64_t)k[d] * bx->n[d])
                                            : pos[j][d];
                    for (int d = 0; d < bx->ndim; d++) {
                        double dx = y[d] - xi[d];
                        r2 += dx * dx;
                    }
                    if (!(r2 < r2max))
                        continue;
                    out[m].id = j;
                    out[m].img = (kx + 1) + 3 * (ky + 1) + 9 * (kz + 1);
                    memcpy(out[m].y, y, sizeof y);
                    m++;
                }
    qsort(out, (size_t)m, sizeof *out, entry_cmp);
    return m;
}

/* Returns a non-zero status from the calling function. */
#define TRY(expr)                                                                                  \
    do {                                                                                           \
        int try_err_ = (expr);                                                                     \
        if (try_err_)                                                                              \
            return try_err_;                                                                       \
    } while (0)

#endif
