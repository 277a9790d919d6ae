/*
 * life_ref.c - plain serial reference for the tessera Game of Life app.
 *
 * No library code: this program defines the expected result of the
 * distributed Game of Life bit for bit.
 *
 * Usage: life_ref --grid NXxNY [--steps N] [--periodic [x|y]]
 *                 [--init random|glider] [--seed S]
 *
 * Prints exactly one line "checksum <16 hex digits>" on stdout.
 * Errors go to stderr with exit status 2.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: life_ref --grid NXxNY [--steps N] [--periodic [x|y]]\n"
               "                [--init random|glider] [--seed S]\n");
}

static _Noreturn void fail(const char *msg, const char *arg) {
    if (arg != NULL) {
        fprintf(stderr, "life_ref: %s: '%s'\n", msg, arg);
    } else {
        fprintf(stderr, "life_ref: %s\n", msg);
    }
    usage(stderr);
    exit(2);
}

#include "ref_common.h"

int main(int argc, char **argv) {
    int64_t nx = 0, ny = 0;
    int ndim = 0;
    int64_t steps = 100;
    bool px = false, py = false; /* which dimensions wrap */
    bool glider = false;
    uint64_t seed = 1;

    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--periodic") == 0) {
            /* alone: both dimensions; or a list ("x", "y", "x,y") */
            const char *dims = i + 1 < argc && argv[i + 1][0] != '-' ? argv[++i] : "x,y";
            px = strchr(dims, 'x') != NULL;
            py = strchr(dims, 'y') != NULL;
        } else if ((v = opt_value(argc, argv, &i, "--grid")) != NULL) {
            int64_t t[3] = {1, 1, 1};
            ndim = parse_grid(v, t);
            if (ndim == 0) {
                fail("invalid --grid (expected NXxNY with positive sizes)", v);
            }
            if (ndim != 2) {
                fail("life is 2D only: --grid must have exactly 2 dimensions (NXxNY)", v);
            }
            nx = t[0];
            ny = t[1];
        } else if ((v = opt_value(argc, argv, &i, "--steps")) != NULL) {
            errno = 0;
            char *e = NULL;
            long long s = strtoll(v, &e, 10);
            if (errno != 0 || e == v || *e != '\0' || s < 0) {
                fail("invalid --steps (expected non-negative integer)", v);
            }
            steps = (int64_t)s;
        } else if ((v = opt_value(argc, argv, &i, "--init")) != NULL) {
            if (strcmp(v, "random") == 0) {
                glider = false;
            } else if (strcmp(v, "glider") == 0) {
                glider = true;
            } else {
                fail("invalid --init (expected random or glider)", v);
            }
        } else if ((v = opt_value(argc, argv, &i, "--seed")) != NULL) {
            errno = 0;
            char *e = NULL;
            if (*v < '0' || *v > '9') {
                fail("invalid --seed (expected unsigned 64-bit integer)", v);
            }
            unsigned long long s = strtoull(v, &e, 10);
            if (errno != 0 || e == v || *e != '\0') {
                fail("invalid --seed (expected unsigned 64-bit integer)", v);
            }
            seed = (uint64_t)s;
        } else {
            fail("unknown option", argv[i]);
        }
    }
    if (ndim == 0) {
        fail("missing required option --grid", NULL);
    }
    if (glider && (nx < 5 || ny < 5)) {
        fail("--init glider requires a grid of at least 5x5", NULL);
    }
    if (nx > INT64_MAX / ny || (uint64_t)(nx * ny) > SIZE_MAX / sizeof(unsigned char)) {
        fail("grid too large", NULL);
    }

    const int64_t ncell = nx * ny;
    unsigned char *a = calloc((size_t)ncell, 1);
    unsigned char *b = calloc((size_t)ncell, 1);
    if (a == NULL || b == NULL) {
        fprintf(stderr, "life_ref: out of memory\n");
        return 2;
    }

    /* Initial condition. */
    if (glider) {
        static const int64_t cells[5][2] = {{2, 1}, {3, 2}, {1, 3}, {2, 3}, {3, 3}};
        for (int k = 0; k < 5; k++) {
            a[cells[k][0] + nx * cells[k][1]] = 1;
        }
    } else {
        const uint64_t hs = splitmix64(seed);
        for (int64_t i = 0; i < ncell; i++) {
            uint64_t h = splitmix64(((uint64_t)i) ^ hs);
            a[i] = (h % 100) < 30 ? 1 : 0;
        }
    }

    /* Time stepping. */
    for (int64_t step = 0; step < steps; step++) {
        for (int64_t y = 0; y < ny; y++) {
            for (int64_t x = 0; x < nx; x++) {
                int n = 0;
                for (int dy = -1; dy <= 1; dy++) {
                    for (int dx = -1; dx <= 1; dx++) {
                        if (dx == 0 && dy == 0) {
                            continue;
                        }
                        int64_t xx = x + dx;
                        int64_t yy = y + dy;
                        if (px) {
                            xx = (xx < 0) ? xx + nx : (xx >= nx ? xx - nx : xx);
                        }
                        if (py) {
                            yy = (yy < 0) ? yy + ny : (yy >= ny ? yy - ny : yy);
                        }
                        if (xx < 0 || xx >= nx || yy < 0 || yy >= ny) {
                            continue;
                        }
                        n += a[xx + nx * yy];
                    }
                }
                const bool alive = a[x + nx * y] != 0;
                b[x + nx * y] = (n == 3 || (alive && n == 2)) ? 1 : 0;
            }
        }
        unsigned char *tmp = a;
        a = b;
        b = tmp;
    }

    /* Checksum: bits(v) is the integer cell value 0 or 1. */
    uint64_t sum = 0;
    for (int64_t i = 0; i < ncell; i++) {
        sum += splitmix64(splitmix64((uint64_t)i) ^ (uint64_t)a[i]);
    }
    printf("checksum %016" PRIx64 "\n", sum);

    free(a);
    free(b);
    return 0;
}
