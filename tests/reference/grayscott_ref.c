/*
 * grayscott_ref.c - plain serial reference for the tessera Gray-Scott app.
 *
 * No library code: this program defines the expected result of the distributed
 * Gray-Scott solver bit for bit (periodic grid, explicit Euler, the app's
 * expression order and initial state).
 *
 * Usage: grayscott_ref --grid NXxNY[xNZ] [--steps N] [--F F] [--k K] [--Du D]
 *                      [--Dv D] [--dt DT] [--init square|spots] [--seed S]
 *
 * Prints "checksum U <hex> V <hex>" and then exactly one line
 * "checksum <16 hex digits>": checksum(U) xor splitmix64(checksum(V)).
 * Errors go to stderr with exit status 2.
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
    fprintf(f, "usage: grayscott_ref --grid NXxNY[xNZ] [--periodic [DIMS]] [--steps N] [--F F] "
               "[--k K] [--Du D]\n"
               "                     [--Dv D] [--dt DT] [--init square|spots] [--seed S]\n");
}

static _Noreturn void fail(const char *msg, const char *arg) {
    if (arg != NULL) {
        fprintf(stderr, "grayscott_ref: %s: '%s'\n", msg, arg);
    } else {
        fprintf(stderr, "grayscott_ref: %s\n", msg);
    }
    usage(stderr);
    exit(2);
}

#include "ref_common.h"

#define NSPOTS 8

static double parse_double(const char *v, const char *what) {
    errno = 0;
    char *e = NULL;
    double d = strtod(v, &e);
    if (errno != 0 || e == v || *e != '\0' || !isfinite(d)) {
        fail(what, v);
    }
    return d;
}

static int64_t parse_int(const char *v, const char *what) {
    errno = 0;
    char *e = NULL;
    long long s = strtoll(v, &e, 10);
    if (errno != 0 || e == v || *e != '\0' || s < 0) {
        fail(what, v);
    }
    return (int64_t)s;
}

/* The neighbour index along a dimension: wrapped when it is periodic, else the cell itself
 * (zero flux: the ghost mirrors the cell next to the side). */
static bool per[3] = {true, true, true};
static inline int64_t wrap_d(int64_t c, int64_t n, int d) {
    if (per[d])
        return c < 0 ? c + n : c >= n ? c - n : c;
    return c < 0 ? 0 : c >= n ? n - 1 : c;
}

static uint64_t checksum(const double *a, int64_t n) {
    uint64_t sum = 0;
    for (int64_t i = 0; i < n; i++) {
        uint64_t bits;
        memcpy(&bits, &a[i], sizeof bits);
        sum += splitmix64(splitmix64((uint64_t)i) ^ bits);
    }
    return sum;
}

int main(int argc, char **argv) {
    int64_t n[3] = {1, 1, 1};
    int ndim = 0;
    int64_t steps = 1000, seed = 1;
    double F = 0.035, k = 0.060, Du = 0.16, Dv = 0.08, dt = 1.0;
    bool spots = false;

    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--periodic") == 0) {
            /* alone: every dimension (the default); with a list: only those */
            if (i + 1 < argc && argv[i + 1][0] != '-') {
                const char *l = argv[++i];
                per[0] = strchr(l, 'x') != NULL;
                per[1] = strchr(l, 'y') != NULL;
                per[2] = strchr(l, 'z') != NULL;
            }
        } else if ((v = opt_value(argc, argv, &i, "--grid")) != NULL) {
            ndim = parse_grid(v, n);
            if (ndim < 2) {
                fail("invalid --grid (expected NXxNY[xNZ] with positive sizes)", v);
            }
            if (ndim == 2) {
                n[2] = 1;
            }
        } else if ((v = opt_value(argc, argv, &i, "--steps")) != NULL) {
            steps = parse_int(v, "invalid --steps");
        } else if ((v = opt_value(argc, argv, &i, "--seed")) != NULL) {
            seed = parse_int(v, "invalid --seed");
        } else if ((v = opt_value(argc, argv, &i, "--F")) != NULL) {
            F = parse_double(v, "invalid --F");
        } else if ((v = opt_value(argc, argv, &i, "--k")) != NULL) {
            k = parse_double(v, "invalid --k");
        } else if ((v = opt_value(argc, argv, &i, "--Du")) != NULL) {
            Du = parse_double(v, "invalid --Du");
        } else if ((v = opt_value(argc, argv, &i, "--Dv")) != NULL) {
            Dv = parse_double(v, "invalid --Dv");
        } else if ((v = opt_value(argc, argv, &i, "--dt")) != NULL) {
            dt = parse_double(v, "invalid --dt");
        } else if ((v = opt_value(argc, argv, &i, "--init")) != NULL) {
            if (strcmp(v, "square") == 0) {
                spots = false;
            } else if (strcmp(v, "spots") == 0) {
                spots = true;
            } else {
                fail("invalid --init (expected square or spots)", v);
            }
        } else {
            fail("unknown option", argv[i]);
        }
    }
    if (ndim == 0) {
        fail("missing required option --grid", NULL);
    }
    const int64_t nx = n[0], ny = n[1], nz = n[2], ncell = nx * ny * nz;
    double *u = malloc((size_t)ncell * sizeof(double));
    double *v = malloc((size_t)ncell * sizeof(double));
    double *un = malloc((size_t)ncell * sizeof(double));
    double *vn = malloc((size_t)ncell * sizeof(double));
    if (!u || !v || !un || !vn) {
        fprintf(stderr, "grayscott_ref: out of memory\n");
        return 2;
    }

    /* The squares: the central fifth of each dimension, or NSPOTS a tenth across at places drawn
     * from the seed. */
    const uint64_t seed_hash = splitmix64((uint64_t)seed);
    const int nsq = spots ? NSPOTS : 1;
    int64_t lo[NSPOTS][3], side[3];
    for (int d = 0; d < 3; d++) {
        side[d] = d >= ndim ? 1 : spots ? n[d] / 10 : 3 * n[d] / 5 - 2 * n[d] / 5;
        if (side[d] < 1) {
            side[d] = 1;
        }
        for (int s = 0; s < nsq; s++) {
            if (d >= ndim) {
                lo[s][d] = 0;
            } else if (!spots) {
                lo[s][d] = 2 * n[d] / 5;
            } else {
                lo[s][d] = (int64_t)(splitmix64(seed_hash + (uint64_t)(3 * s + d + 1)) %
                                     (uint64_t)(n[d] - side[d] + 1));
            }
        }
    }
    for (int64_t z = 0; z < nz; z++) {
        for (int64_t y = 0; y < ny; y++) {
            for (int64_t x = 0; x < nx; x++) {
                const int64_t i = x + nx * (y + ny * z), c[3] = {x, y, z};
                bool in = false;
                for (int s = 0; s < nsq && !in; s++) {
                    in = true;
                    for (int d = 0; d < ndim; d++) {
                        in = in && c[d] >= lo[s][d] && c[d] < lo[s][d] + side[d];
                    }
                }
                double r = (double)(splitmix64((uint64_t)i ^ seed_hash) >> 11) * 0x1p-53;
                u[i] = in ? 0.5 : 1.0;
                v[i] = in ? 0.25 + 0.01 * r : 0.0;
            }
        }
    }

    const double diag = (double)(2 * ndim), Fk = F + k;
    for (int64_t step = 0; step < steps; step++) {
        for (int64_t z = 0; z < nz; z++) {
            for (int64_t y = 0; y < ny; y++) {
                for (int64_t x = 0; x < nx; x++) {
                    const int64_t i = x + nx * (y + ny * z);
                    const int64_t w = wrap_d(x - 1, nx, 0) + nx * (y + ny * z);
                    const int64_t e = wrap_d(x + 1, nx, 0) + nx * (y + ny * z);
                    double su = u[w] + u[e], sv = v[w] + v[e];
                    const int64_t s = x + nx * (wrap_d(y - 1, ny, 1) + ny * z);
                    const int64_t nn = x + nx * (wrap_d(y + 1, ny, 1) + ny * z);
                    su = su + (u[s] + u[nn]);
                    sv = sv + (v[s] + v[nn]);
                    if (ndim == 3) {
                        const int64_t b = x + nx * (y + ny * wrap_d(z - 1, nz, 2));
                        const int64_t t = x + nx * (y + ny * wrap_d(z + 1, nz, 2));
                        su = su + (u[b] + u[t]);
                        sv = sv + (v[b] + v[t]);
                    }
                    const double uu = u[i], vv = v[i];
                    const double uvv = uu * vv * vv;
                    un[i] = uu + dt * ((Du * (su - diag * uu) - uvv) + F * (1.0 - uu));
                    vn[i] = vv + dt * ((Dv * (sv - diag * vv) + uvv) - Fk * vv);
                }
            }
        }
        double *t = u;
        u = un;
        un = t;
        t = v;
        v = vn;
        vn = t;
    }
    const uint64_t cu = checksum(u, ncell), cv = checksum(v, ncell);
    printf("checksum U %016" PRIx64 " V %016" PRIx64 "\n", cu, cv);
    printf("checksum %016" PRIx64 "\n", cu ^ splitmix64(cv));
    free(u);
    free(v);
    free(un);
    free(vn);
    return 0;
}
