/*
 * poisson_ref.c - plain serial reference for tessera-poisson.
 *
 * No library code: Jacobi iterations for -laplace(u) = f on the unit square or cube, cell-centred
 * (h = 1/N), u = prod sin(pi x_d) and f = ndim pi^2 u, the ghosts outside the domain holding u at
 * their centres, until h^(ndim/2) |u_new - u|_2 < tol (measured every K iterations and at
 * max-iter). The norm is summed in long double: the iteration count matches the app's exact one
 * unless a norm lies within rounding of tol.
 *
 * Usage: poisson_ref --grid NxN[xN] [--tol T] [--max-iter N] [--check-every K]
 *
 * Prints "iterations N", "max error E" and "checksum <16 hex digits>" on stdout; exit status 1 if
 * not converged. Errors go to stderr with exit status 2.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: poisson_ref --grid NxN[xN] [--tol T] [--max-iter N] [--check-every K]\n");
}

static _Noreturn void fail(const char *msg, const char *arg) {
    if (arg != NULL) {
        fprintf(stderr, "poisson_ref: %s: '%s'\n", msg, arg);
    } else {
        fprintf(stderr, "poisson_ref: %s\n", msg);
    }
    usage(stderr);
    exit(2);
}

#include "ref_common.h"

static const double pi = 3.14159265358979323846;

static int ndim;
static int64_t n; /* cells per dimension */
static int64_t e; /* cells per dimension with one ghost on each side */
static double h;

/* Index of cell (x, y, z), ghosts at -1 and n; z is 0 in 2D. */
static int64_t at(int64_t x, int64_t y, int64_t z) {
    return (x + 1) + e * ((y + 1) + e * (ndim == 3 ? z + 1 : 0));
}

static double exact(int64_t x, int64_t y, int64_t z) {
    double u = sin(pi * (((double)x + 0.5) * h)) * sin(pi * (((double)y + 0.5) * h));
    if (ndim == 3)
        u *= sin(pi * (((double)z + 0.5) * h));
    return u;
}

int main(int argc, char **argv) {
    int64_t g[3] = {0, 0, 0}, max_iter = 100000, check_every = 1;
    double tol = 1e-8;
    for (int i = 1; i < argc; i++) {
        const char *v;
        char *end = NULL;
        if ((v = opt_value(argc, argv, &i, "--grid")) != NULL) {
            ndim = parse_grid(v, g);
            if (ndim < 2 || g[1] != g[0] || (ndim == 3 && g[2] != g[0]))
                fail("need a square or cube grid", v);
        } else if ((v = opt_value(argc, argv, &i, "--tol")) != NULL) {
            tol = strtod(v, &end);
            if (*end || !(tol > 0))
                fail("bad --tol", v);
        } else if ((v = opt_value(argc, argv, &i, "--max-iter")) != NULL) {
            if (!parse_pos_i64(v, (const char **)&end, &max_iter) || *end)
                fail("bad --max-iter", v);
        } else if ((v = opt_value(argc, argv, &i, "--check-every")) != NULL) {
            if (!parse_pos_i64(v, (const char **)&end, &check_every) || *end)
                fail("bad --check-every", v);
        } else {
            fail("unknown argument", argv[i]);
        }
    }
    if (!ndim)
        fail("--grid is required", NULL);
    n = g[0];
    e = n + 2;
    h = 1.0 / (double)n;
    const int64_t nz = ndim == 3 ? n : 1, ez = ndim == 3 ? e : 1;
    double *u = calloc((size_t)(e * e * ez), sizeof *u),
           *v = calloc((size_t)(e * e * ez), sizeof *v);
    double *rhs = calloc((size_t)(e * e * ez), sizeof *rhs);
    if (!u || !v || !rhs)
        fail("out of memory", NULL);
    const double h2f = h * h * ((double)ndim * pi * pi), inv_k = 1.0 / (double)(2 * ndim);
    const int64_t zlo = ndim == 3 ? -1 : 0, zhi = ndim == 3 ? n + 1 : 1;
    for (int64_t z = zlo; z < zhi; z++)
        for (int64_t y = -1; y <= n; y++)
            for (int64_t x = -1; x <= n; x++) {
                bool inside = x >= 0 && x < n && y >= 0 && y < n && z >= 0 && z < nz;
                if (inside)
                    rhs[at(x, y, z)] = h2f * exact(x, y, z);
                else
                    u[at(x, y, z)] = v[at(x, y, z)] = exact(x, y, z);
            }
    const int64_t sy = e, sz = e * e;
    int64_t it = 1;
    for (;; it++) {
        bool measure = it % check_every == 0 || it == max_iter;
        long double squares = 0;
        for (int64_t z = 0; z < nz; z++)
            for (int64_t y = 0; y < n; y++)
                for (int64_t x = 0; x < n; x++) {
                    const double *c = &u[at(x, y, z)];
                    double sum = (c[-1] + c[1]) + (c[-sy] + c[sy]);
                    if (ndim == 3)
                        sum = sum + (c[-sz] + c[sz]);
                    double o = (sum + rhs[at(x, y, z)]) * inv_k;
                    v[at(x, y, z)] = o;
                    double d = o - *c;
                    squares += (long double)(d * d);
                }
        double *w = u;
        u = v;
        v = w;
        if (!measure)
            continue;
        double norm = (double)sqrtl(squares) * sqrt(pow(h, ndim));
        if (norm < tol)
            break;
        if (it >= max_iter) {
            fprintf(stderr, "poisson_ref: not converged after %" PRId64 " iterations\n", it);
            return 1;
        }
    }
    uint64_t sum = 0;
    double err = 0;
    for (int64_t z = 0; z < nz; z++)
        for (int64_t y = 0; y < n; y++)
            for (int64_t x = 0; x < n; x++) {
                double val = u[at(x, y, z)];
                uint64_t bits;
                memcpy(&bits, &val, sizeof bits);
                sum += splitmix64(splitmix64((uint64_t)(x + n * (y + n * z))) ^ bits);
                double d = fabs(val - exact(x, y, z));
                err = d > err ? d : err;
            }
    printf("iterations %" PRId64 "\nmax error %.9e\nchecksum %016" PRIx64 "\n", it, err, sum);
    free(u);
    free(v);
    free(rhs);
    return 0;
}
