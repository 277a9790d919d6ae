/* Memory bandwidth, STREAM style: copy (c = a), scale (b = s c), triad (a = b + s c) over arrays
 * far larger than the last-level cache, with 1 and with all OpenMP threads, interleaved.
 *
 *   bench/stream [--mib 256] [--reps 5] [--threads 1,2]
 *
 * Bytes are counted as STREAM does (16 per element for copy and scale, 24 for triad, without
 * write-allocate traffic). Prints one line per kernel and thread count: median GB/s of the
 * repetitions, then min and max. No MPI, no tessera: a reference for the benchmark tables. */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plain.h"

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int64_t mib = 256, reps = 5;
    int threads[8] = {1, omp_get_max_threads()}, nthreads = threads[1] > 1 ? 2 : 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mib") && i + 1 < argc)
            mib = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            nthreads = 0;
            for (char *t = strtok(argv[++i], ","); t && nthreads < 8; t = strtok(NULL, ","))
                threads[nthreads++] = atoi(t);
        } else {
            fprintf(stderr, "usage: %s [--mib MiB per array] [--reps R] [--threads 1,2]\n",
                    argv[0]);
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    if (mib < 1 || reps < 1 || nthreads < 1) {
        fprintf(stderr, "stream: --mib and --reps must be positive\n");
        return 2;
    }
    int64_t n = mib * 1024 * 1024 / (int64_t)sizeof(double);
    double *a = aligned_alloc(64, (size_t)n * sizeof *a), *b = aligned_alloc(64, (size_t)n * 8),
           *c = aligned_alloc(64, (size_t)n * 8);
    if (!a || !b || !c) {
        fprintf(stderr, "stream: cannot allocate 3 x %lld MiB\n", (long long)mib);
        return 1;
    }
    const double s = 3.0;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        a[i] = 1.0;
        b[i] = 2.0;
        c[i] = 0.0;
    }
    const char *names[3] = {"copy", "scale", "triad"};
    const double bytes[3] = {16, 16, 24};
    double *gbs = calloc((size_t)(3 * nthreads * reps), sizeof *gbs);
    if (!gbs)
        return 1;
    for (int64_t r = 0; r < reps; r++)
        for (int t = 0; t < nthreads; t++) {
            omp_set_num_threads(threads[t]);
            for (int k = 0; k < 3; k++) {
                double t0 = now();
                if (k == 0) {
#pragma omp parallel for schedule(static)
                    for (int64_t i = 0; i < n; i++)
                        c[i] = a[i];
                } else if (k == 1) {
#pragma omp parallel for schedule(static)
                    for (int64_t i = 0; i < n; i++)
                        b[i] = s * c[i];
                } else {
#pragma omp parallel for schedule(static)
                    for (int64_t i = 0; i < n; i++)
                        a[i] = b[i] + s * c[i];
                }
                double dt = now() - t0;
                gbs[(k * nthreads + t) * reps + r] = bytes[k] * (double)n / dt / 1e9;
            }
        }
    printf("%-6s %7s %10s %10s %10s   (arrays of %lld MiB, %lld reps)\n", "kernel", "threads",
           "median", "min", "max", (long long)mib, (long long)reps);
    for (int k = 0; k < 3; k++)
        for (int t = 0; t < nthreads; t++) {
            double *v = &gbs[(k * nthreads + t) * reps];
            qsort(v, (size_t)reps, sizeof *v, cmp);
            printf("%-6s %7d %10.2f %10.2f %10.2f GB/s\n", names[k], threads[t], v[reps / 2], v[0],
                   v[reps - 1]);
        }
    /* Keep the results alive so the loops are not optimised away. */
    volatile double sink = a[n / 2] + b[1] + c[n - 1];
    (void)sink;
    free(gbs);
    free(a);
    free(b);
    free(c);
    return 0;
}
