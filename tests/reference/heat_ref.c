/*
 * heat_ref.c - plain serial reference for the tessera heat diffusion app.
 *
 * No library code: this program defines the expected result of the
 * distributed heat solver bit for bit.
 *
 * Usage: heat_ref --grid NX[xNY[xNZ]] [--steps N] [--periodic]
 *                 [--init hotspot|sine] [--alpha A]
 *
 * Prints exactly one line "checksum <16 hex digits>" on stdout.
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
    fprintf(f, "usage: heat_ref --grid NX[xNY[xNZ]] [--steps N] [--periodic]\n"
               "                [--init hotspot|sine] [--alpha A]\n");
}

static _Noreturn void fail(const char *msg, const char *arg) {
    if (arg != NULL) {
        fprintf(stderr, "heat_ref: %s: '%s'\n", msg, arg);
    } else {
        fprintf(stderr, "heat_ref: %s\n", msg);
    }
    usage(stderr);
    exit(2);
}

#include "ref_common.h"

static inline int64_t wrap(int64_t c, int64_t n) {
    if (c < 0) {
        return c + n;
    }
    if (c >= n) {
        return c - n;
    }
    return c;
}

int main(int argc, char **argv) {
    int64_t n[3] = {1, 1, 1};
    int ndim = 0;
    int64_t steps = 100;
    bool periodic = false;
    bool sine = false;
    bool have_alpha = false;
    double alpha = 0.0;

    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--periodic") == 0) {
            periodic = true;
        } else if ((v = opt_value(argc, argv, &i, "--grid")) != NULL) {
            int64_t t[3] = {1, 1, 1};
            ndim = parse_grid(v, t);
            if (ndim == 0) {
                fail("invalid --grid (expected NX[xNY[xNZ]] with positive sizes)", v);
            }
            n[0] = t[0];
            n[1] = ndim >= 2 ? t[1] : 1;
            n[2] = ndim >= 3 ? t[2] : 1;
        } else if ((v = opt_value(argc, argv, &i, "--steps")) != NULL) {
            errno = 0;
            char *e = NULL;
            long long s = strtoll(v, &e, 10);
            if (errno != 0 || e == v || *e != '\0' || s < 0) {
                fail("invalid --steps (expected non-negative integer)", v);
            }
            steps = (int64_t)s;
        } else if ((v = opt_value(argc, argv, &i, "--init")) != NULL) {
            if (strcmp(v, "hotspot") == 0) {
                sine = false;
            } else if (strcmp(v, "sine") == 0) {
                sine = true;
            } else {
                fail("invalid --init (expected hotspot or sine)", v);
            }
        } else if ((v = opt_value(argc, argv, &i, "--alpha")) != NULL) {
            errno = 0;
            char *e = NULL;
            double a = strtod(v, &e);
            if (errno != 0 || e == v || *e != '\0' || !isfinite(a)) {
                fail("invalid --alpha", v);
            }
            alpha = a;
            have_alpha = true;
        } else {
            fail("unknown option", argv[i]);
        }
    }
    if (ndim == 0) {
        fail("missing required option --grid", NULL);
    }
    if (!have_alpha) {
        alpha = 0.4 / (double)ndim;
    }

    const int64_t nx = n[0], ny = n[1], nz = n[2];
    if (nx > INT64_MAX / ny || nx * ny > INT64_MAX / nz ||
        (uint64_t)(nx * ny * nz) > SIZE_MAX / sizeof(double)) {
        fail("grid too large", NULL);
    }
    const int64_t ncell = nx * ny * nz;
    double *u = malloc((size_t)ncell * sizeof(double));
    double *un = malloc((size_t)ncell * sizeof(double));
    if (u == NULL || un == NULL) {
        fprintf(stderr, "heat_ref: out of memory\n");
        return 2;
    }

    /* Initial condition. */
    const double pi = 3.14159265358979323846;
    for (int64_t z = 0; z < nz; z++) {
        for (int64_t y = 0; y < ny; y++) {
            for (int64_t x = 0; x < nx; x++) {
                const int64_t coord[3] = {x, y, z};
                double c[3];
                for (int d = 0; d < ndim; d++) {
                    c[d] = ((double)coord[d] + 0.5) / (double)n[d];
                }
                double val;
                if (sine) {
                    val = sin(pi * c[0]);
                    if (ndim >= 2) {
                        val *= sin(pi * c[1]);
                    }
                    if (ndim == 3) {
                        val *= sin(pi * c[2]);
                    }
                } else {
                    double r2 = 0.0;
                    for (int d = 0; d < ndim; d++) {
                        double t = c[d] - 0.5;
                        r2 += t * t;
                    }
                    val = (r2 < 0.04) ? 1.0 : 0.0;
                }
                u[x + nx * (y + ny * z)] = val;
            }
        }
    }

    /* Jacobi time stepping. */
    const double diag = (double)(2 * ndim);
    for (int64_t step = 0; step < steps; step++) {
        for (int64_t z = 0; z < nz; z++) {
            for (int64_t y = 0; y < ny; y++) {
                for (int64_t x = 0; x < nx; x++) {
                    const int64_t i = x + nx * (y + ny * z);
                    const double uc = u[i];
                    double uW, uE, uS = 0.0, uN = 0.0, uB = 0.0, uT = 0.0;
                    if (periodic) {
                        uW = u[wrap(x - 1, nx) + nx * (y + ny * z)];
                        uE = u[wrap(x + 1, nx) + nx * (y + ny * z)];
                        if (ndim >= 2) {
                            uS = u[x + nx * (wrap(y - 1, ny) + ny * z)];
                            uN = u[x + nx * (wrap(y + 1, ny) + ny * z)];
                        }
                        if (ndim == 3) {
                            uB = u[x + nx * (y + ny * wrap(z - 1, nz))];
                            uT = u[x + nx * (y + ny * wrap(z + 1, nz))];
                        }
                    } else {
                        uW = (x > 0) ? u[i - 1] : 0.0;
                        uE = (x < nx - 1) ? u[i + 1] : 0.0;
                        if (ndim >= 2) {
                            uS = (y > 0) ? u[i - nx] : 0.0;
                            uN = (y < ny - 1) ? u[i + nx] : 0.0;
                        }
                        if (ndim == 3) {
                            uB = (z > 0) ? u[i - nx * ny] : 0.0;
                            uT = (z < nz - 1) ? u[i + nx * ny] : 0.0;
                        }
                    }
                    double s = uW + uE;
                    if (ndim >= 2) {
                        s = s + (uS + uN);
                    }
                    if (ndim == 3) {
                        s = s + (uB + uT);
                    }
                    un[i] = uc + alpha * (s - diag * uc);
                }
            }
        }
        double *tmp = u;
        u = un;
        un = tmp;
    }

    /* Checksum. */
    uint64_t sum = 0;
    for (int64_t i = 0; i < ncell; i++) {
        uint64_t bits;
        memcpy(&bits, &u[i], sizeof bits);
        sum += splitmix64(splitmix64((uint64_t)i) ^ bits);
    }
    printf("checksum %016" PRIx64 "\n", sum);

    free(u);
    free(un);
    return 0;
}
