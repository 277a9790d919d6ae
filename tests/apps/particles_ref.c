/*
 * particles_ref.c - plain serial reference for tessera-particles.
 *
 * No library code: N independent particles circling the origin, initial state from splitmix64
 * of (seed, particle index), velocity Verlet with a = -w^2 (x, y), one particle at a time.
 *
 * Usage: particles_ref [--particles N] [--steps T] [--dt DT] [--seed S]
 *
 * Prints "kinetic_energy <%.17g>" (a compensated sum: close to, not necessarily equal to, the
 * app's exactly rounded one) and "checksum <16 hex digits>" of the final positions
 * x0, y0, x1, y1, ...  Errors go to stderr with exit status 2.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *f) {
    fprintf(f, "usage: particles_ref [--particles N] [--steps T] [--dt DT] [--seed S]\n");
}

static _Noreturn void fail(const char *msg, const char *arg) {
    if (arg != NULL) {
        fprintf(stderr, "particles_ref: %s: '%s'\n", msg, arg);
    } else {
        fprintf(stderr, "particles_ref: %s\n", msg);
    }
    usage(stderr);
    exit(2);
}

#include "ref_common.h"

static int64_t parse_i64(const char *v, int64_t min, const char *what) {
    errno = 0;
    char *e = NULL;
    long long s = strtoll(v, &e, 10);
    if (errno != 0 || e == v || *e != '\0' || s < min) {
        fail(what, v);
    }
    return (int64_t)s;
}

/* Draw k (0: radius, 1: angle, 2: angular velocity) of particle g: a 53-bit fraction in [0, 1). */
static double draw(uint64_t seed_hash, int64_t g, int k) {
    uint64_t h = splitmix64(seed_hash ^ splitmix64(3 * (uint64_t)g + (uint64_t)k));
    return (double)(h >> 11) * 0x1.0p-53;
}

int main(int argc, char **argv) {
    int64_t n = 100000, steps = 1000, seed = 1;
    double dt = 1e-3;
    (void)parse_grid; /* shared helper this reference does not need */
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if ((v = opt_value(argc, argv, &i, "--particles")) != NULL) {
            n = parse_i64(v, 1, "invalid --particles (expected a positive integer)");
        } else if ((v = opt_value(argc, argv, &i, "--steps")) != NULL) {
            steps = parse_i64(v, 0, "invalid --steps (expected a non-negative integer)");
        } else if ((v = opt_value(argc, argv, &i, "--seed")) != NULL) {
            seed = parse_i64(v, 0, "invalid --seed (expected a non-negative integer)");
        } else if ((v = opt_value(argc, argv, &i, "--dt")) != NULL) {
            errno = 0;
            char *e = NULL;
            dt = strtod(v, &e);
            if (errno != 0 || e == v || *e != '\0' || !(dt > 0) || !isfinite(dt)) {
                fail("invalid --dt (expected a positive number)", v);
            }
        } else {
            fail("unknown option", argv[i]);
        }
    }

    const double two_pi = 6.283185307179586476925286766559;
    const uint64_t seed_hash = splitmix64((uint64_t)seed);
    const double hdt = 0.5 * dt;
    uint64_t checksum = 0;
    long double sum = 0, comp = 0; /* Neumaier-compensated kinetic energy */
    for (int64_t g = 0; g < n; g++) {
        double r = 0.5 + draw(seed_hash, g, 0);
        double a = two_pi * draw(seed_hash, g, 1);
        double w = 0.5 + 1.5 * draw(seed_hash, g, 2);
        double x = r * cos(a), y = r * sin(a);
        double vx = -w * y, vy = w * x;
        double w2 = w * w;
        for (int64_t t = 0; t < steps; t++) {
            /* half kick, drift, half kick */
            double hx = vx + hdt * (-w2 * x);
            double hy = vy + hdt * (-w2 * y);
            x = x + dt * hx;
            y = y + dt * hy;
            vx = hx + hdt * (-w2 * x);
            vy = hy + hdt * (-w2 * y);
        }
        long double e = 0.5 * (vx * vx + vy * vy);
        long double s = sum + e;
        comp += fabsl(sum) >= fabsl(e) ? (sum - s) + e : (e - s) + sum;
        sum = s;
        uint64_t bx, by;
        memcpy(&bx, &x, sizeof bx);
        memcpy(&by, &y, sizeof by);
        checksum += splitmix64(splitmix64((uint64_t)(2 * g)) ^ bx);
        checksum += splitmix64(splitmix64((uint64_t)(2 * g + 1)) ^ by);
    }
    printf("kinetic_energy %.17g\n", (double)(sum + comp));
    printf("checksum %016" PRIx64 "\n", checksum);
    return 0;
}
