/* The no-framework reference: plain C 5-point Jacobi, the same update, initial state and
 * boundary as `tessera-heat --grid NXxNY --init hotspot` (Dirichlet 0), serial or OpenMP.
 *
 *   bench/jacobi --grid 4096x4096 --steps 100 [--threads T]
 *
 * Prints "MLUP/s <x>" and "checksum <hex>" (the DESIGN.md convention), so a benchmark can check
 * that it computed exactly what tessera-heat computes. T = 1 runs without an OpenMP team. */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plain.h"

int main(int argc, char **argv) {
    long long nx = 4096, ny = 4096, steps = 100;
    int threads = omp_get_max_threads();
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--grid") && i + 1 < argc) {
            if (sscanf(argv[++i], "%lldx%lld", &nx, &ny) != 2)
                nx = 0;
        } else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--grid NXxNY] [--steps N] [--threads T]\n", argv[0]);
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    if (nx < 1 || ny < 1 || steps < 0 || threads < 1) {
        fprintf(stderr, "jacobi: bad --grid, --steps or --threads\n");
        return 2;
    }
    omp_set_num_threads(threads);
    const int64_t sx = nx + 2; /* one ghost cell on each side, held at 0 */
    size_t cells = (size_t)(sx * (ny + 2));
    double *u = aligned_alloc(64, (cells * 8 + 63) / 64 * 64),
           *v = aligned_alloc(64, (cells * 8 + 63) / 64 * 64);
    if (!u || !v) {
        fprintf(stderr, "jacobi: out of memory\n");
        return 1;
    }
    const double a = 0.4 / 2, k = 4.0;
/* First touch by the thread that computes the row. */
#pragma omp parallel for schedule(static) if (threads > 1)
    for (int64_t y = 0; y < ny + 2; y++)
        for (int64_t x = 0; x < sx; x++) {
            double val = 0.0;
            if (y >= 1 && y <= ny && x >= 1 && x <= nx) {
                double tx = ((double)(x - 1) + 0.5) / (double)nx - 0.5;
                double ty = ((double)(y - 1) + 0.5) / (double)ny - 0.5;
                double r2 = 0.0;
                r2 += tx * tx;
                r2 += ty * ty;
                val = r2 < 0.04 ? 1.0 : 0.0;
            }
            u[y * sx + x] = val;
            v[y * sx + x] = 0.0;
        }
    double t0 = now();
    for (long long s = 0; s < steps; s++) {
#pragma omp parallel for schedule(static) if (threads > 1)
        for (int64_t y = 1; y <= ny; y++) {
            const double *restrict c = &u[y * sx], *restrict sn = c - sx, *restrict no = c + sx;
            double *restrict o = &v[y * sx];
            for (int64_t x = 1; x <= nx; x++) {
                double sum = (c[x - 1] + c[x + 1]) + (sn[x] + no[x]);
                o[x] = c[x] + a * (sum - k * c[x]);
            }
        }
        double *t = u;
        u = v;
        v = t;
    }
    double dt = now() - t0;
    uint64_t sum = 0;
    for (int64_t y = 1; y <= ny; y++)
        for (int64_t x = 1; x <= nx; x++) {
            uint64_t bits;
            memcpy(&bits, &u[y * sx + x], sizeof bits);
            sum += splitmix64(splitmix64((uint64_t)((x - 1) + nx * (y - 1))) ^ bits);
        }
    printf("grid %lldx%lld, %lld steps, %d thread%s, %.3f s\n", nx, ny, steps, threads,
           threads == 1 ? "" : "s", dt);
    printf("MLUP/s %.1f\n", dt > 0 ? (double)nx * (double)ny * (double)steps / dt / 1e6 : 0.0);
    printf("checksum %016llx\n", (unsigned long long)sum);
    free(u);
    free(v);
    return 0;
}
