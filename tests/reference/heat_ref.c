/*
 * heat_ref.c - plain serial reference for the tessera heat diffusion app.
 *
 * No library code: this program defines the expected result of the
 * distributed heat solver bit for bit.
 *
 * Usage: heat_ref --grid NX[xNY[xNZ]] [--steps N] [--periodic [DIMS]]
 *                 [--init hotspot|sine] [--alpha A] [--boundary V] [--bc SPEC]
 *
 * Boundaries as in the app: every side Dirichlet V (--boundary, default 0), periodic where
 * --periodic says (alone: every dimension; or a list such as x,z), then --bc
 * "DIM[lo|hi]=KIND,..." with KIND periodic, neumann (ghost -1-k = cell k) or dirichlet[:V].
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
    fprintf(f, "usage: heat_ref --grid NX[xNY[xNZ]] [--steps N] [--periodic [DIMS]]\n"
               "                [--init hotspot|sine] [--alpha A] [--boundary V] [--bc SPEC]\n");
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

enum { DIRICHLET, NEUMANN, PERIODIC };

/* The boundary of each side of each dimension: kind[d][0] below 0, kind[d][1] at n and above. */
typedef struct bcs {
    int kind[3][2];
    double value[3][2];
} bcs;

static double parse_number(const char *v, const char *what) {
    errno = 0;
    char *e = NULL;
    double a = strtod(v, &e);
    if (errno != 0 || e == v || *e != '\0' || !isfinite(a)) {
        fail(what, v);
    }
    return a;
}

/* "DIM[lo|hi]=KIND[:V],..." over b. */
static void parse_bc(const char *spec, int ndim, bcs *b) {
    char buf[512];
    if (strlen(spec) >= sizeof buf) {
        fail("--bc too long", spec);
    }
    strcpy(buf, spec);
    for (char *item = strtok(buf, ","); item; item = strtok(NULL, ",")) {
        char *eq = strchr(item, '=');
        if (!eq || item[0] < 'x' || item[0] > 'z' || item[0] - 'x' >= ndim) {
            fail("invalid --bc item", item);
        }
        *eq = '\0';
        int d = item[0] - 'x', s0 = 0, s1 = 1;
        if (strcmp(item + 1, "lo") == 0) {
            s1 = 0;
        } else if (strcmp(item + 1, "hi") == 0) {
            s0 = 1;
        } else if (item[1] != '\0') {
            fail("invalid --bc side", item);
        }
        const char *kind = eq + 1;
        int k;
        double v = b->value[d][s0];
        if (strcmp(kind, "periodic") == 0) {
            k = PERIODIC;
        } else if (strcmp(kind, "neumann") == 0) {
            k = NEUMANN;
        } else if (strcmp(kind, "dirichlet") == 0) {
            k = DIRICHLET;
        } else if (strncmp(kind, "dirichlet:", 10) == 0) {
            k = DIRICHLET;
            v = parse_number(kind + 10, "invalid --bc value");
        } else {
            fail("invalid --bc kind", kind);
        }
        for (int s = s0; s <= s1; s++) {
            b->kind[d][s] = k;
            b->value[d][s] = v;
        }
    }
}

/* u at cell c, which lies outside the grid along at most one dimension. */
static double at(const double *u, const int64_t n[3], const bcs *b, int64_t x, int64_t y,
                 int64_t z) {
    int64_t c[3] = {x, y, z};
    for (int d = 0; d < 3; d++) {
        if (c[d] >= 0 && c[d] < n[d]) {
            continue;
        }
        int s = c[d] < 0 ? 0 : 1;
        if (b->kind[d][s] == DIRICHLET) {
            return b->value[d][s];
        } else if (b->kind[d][s] == PERIODIC) {
            c[d] = s ? c[d] - n[d] : c[d] + n[d];
        } else {
            c[d] = s ? 2 * n[d] - 1 - c[d] : -1 - c[d];
        }
    }
    return u[c[0] + n[0] * (c[1] + n[1] * c[2])];
}

int main(int argc, char **argv) {
    int64_t n[3] = {1, 1, 1};
    int ndim = 0;
    int64_t steps = 100;
    const char *periodic = NULL; /* NULL: none; "": every dimension; else a list */
    const char *bc_spec = NULL;
    double boundary = 0.0;
    bool sine = false;
    bool have_alpha = false;
    double alpha = 0.0;

    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--periodic") == 0) {
            periodic = i + 1 < argc && argv[i + 1][0] != '-' ? argv[++i] : "";
        } else if (strncmp(argv[i], "--periodic=", 11) == 0) {
            periodic = argv[i] + 11;
        } else if ((v = opt_value(argc, argv, &i, "--bc")) != NULL) {
            bc_spec = v;
        } else if ((v = opt_value(argc, argv, &i, "--boundary")) != NULL) {
            boundary = parse_number(v, "invalid --boundary");
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
    bcs b;
    for (int d = 0; d < 3; d++) {
        bool wraps = periodic && (!periodic[0] || strchr(periodic, 'x' + d));
        for (int s = 0; s < 2; s++) {
            b.kind[d][s] = wraps ? PERIODIC : DIRICHLET;
            b.value[d][s] = boundary;
        }
    }
    if (bc_spec) {
        parse_bc(bc_spec, ndim, &b);
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
                    double uW = at(u, n, &b, x - 1, y, z), uE = at(u, n, &b, x + 1, y, z);
                    double uS = 0.0, uN = 0.0, uB = 0.0, uT = 0.0;
                    if (ndim >= 2) {
                        uS = at(u, n, &b, x, y - 1, z);
                        uN = at(u, n, &b, x, y + 1, z);
                    }
                    if (ndim == 3) {
                        uB = at(u, n, &b, x, y, z - 1);
                        uT = at(u, n, &b, x, y, z + 1);
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
