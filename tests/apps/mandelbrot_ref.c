/*
 * mandelbrot_ref.c - plain serial reference for tessera-mandelbrot.
 *
 * No library code: every pixel in natural order (x fastest), the same view and the same
 * iteration as the app, written plainly.
 *
 * Usage: mandelbrot_ref [--size WxH] [--max-iter N] [--center X,Y] [--width W]
 *
 * Prints exactly one line "checksum <16 hex digits>" on stdout: the sum over pixels
 * i = x + W y of splitmix64(splitmix64(i) ^ count). Errors go to stderr with exit status 2.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *f) {
    fprintf(f, "usage: mandelbrot_ref [--size WxH] [--max-iter N] [--center X,Y] [--width W]\n");
}

static _Noreturn void fail(const char *msg, const char *arg) {
    if (arg != NULL) {
        fprintf(stderr, "mandelbrot_ref: %s: '%s'\n", msg, arg);
    } else {
        fprintf(stderr, "mandelbrot_ref: %s\n", msg);
    }
    usage(stderr);
    exit(2);
}

#include "ref_common.h"

int main(int argc, char **argv) {
    int64_t w = 1024, h = 1024, max_iter = 256;
    double cx = -0.5, cy = 0.0, width = 3.0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if ((v = opt_value(argc, argv, &i, "--size")) != NULL) {
            int64_t n[3];
            if (parse_grid(v, n) != 2) {
                fail("invalid --size (expected WxH with positive sizes)", v);
            }
            w = n[0];
            h = n[1];
        } else if ((v = opt_value(argc, argv, &i, "--max-iter")) != NULL) {
            const char *e = NULL;
            if (!parse_pos_i64(v, &e, &max_iter) || *e != '\0' || max_iter > INT32_MAX) {
                fail("invalid --max-iter (expected a positive integer)", v);
            }
        } else if ((v = opt_value(argc, argv, &i, "--center")) != NULL) {
            char *e = NULL;
            cx = strtod(v, &e);
            if (e == v || *e != ',') {
                fail("invalid --center (expected X,Y)", v);
            }
            const char *s = e + 1;
            cy = strtod(s, &e);
            if (e == s || *e != '\0') {
                fail("invalid --center (expected X,Y)", v);
            }
        } else if ((v = opt_value(argc, argv, &i, "--width")) != NULL) {
            char *e = NULL;
            width = strtod(v, &e);
            if (e == v || *e != '\0' || !(width > 0) || !isfinite(width)) {
                fail("invalid --width (expected a positive number)", v);
            }
        } else {
            fail("unknown option", argv[i]);
        }
    }

    /* Square pixels, the view centred on (cx, cy); pixel centres. */
    const double dx = width / (double)w, dy = dx;
    const double x0 = cx - 0.5 * width;
    const double y0 = cy - 0.5 * (dy * (double)h);
    uint64_t checksum = 0;
    for (int64_t y = 0; y < h; y++) {
        for (int64_t x = 0; x < w; x++) {
            const double cr = x0 + ((double)x + 0.5) * dx;
            const double ci = y0 + ((double)y + 0.5) * dy;
            double zr = 0.0, zi = 0.0;
            int64_t n = 0;
            while (n < max_iter) {
                const double zr2 = zr * zr, zi2 = zi * zi;
                if (zr2 + zi2 > 4.0) {
                    break;
                }
                zi = 2.0 * zr * zi + ci;
                zr = zr2 - zi2 + cr;
                n++;
            }
            checksum += splitmix64(splitmix64((uint64_t)(x + w * y)) ^ (uint64_t)n);
        }
    }
    printf("checksum %016" PRIx64 "\n", checksum);
    return 0;
}
