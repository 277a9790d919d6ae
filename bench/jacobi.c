/* The no-framework reference: plain C 5-point Jacobi, the same update, initial state and
 * boundary as `tessera-heat --grid NXxNY --init hotspot` (Dirichlet 0), serial or OpenMP.
 *
 *   bench/jacobi --grid 4096x4096 --steps 100 [--threads T] [--strips S]
 *
 * Prints "MLUP/s <x>" and "checksum <hex>" (the DESIGN.md convention), so a benchmark can check
 * that it computed exactly what tessera-heat computes. T = 1 runs without an OpenMP team.
 * --strips S cuts x into S strips, each its own array with a ghost column on each side copied
 * from its neighbours every step (what blocks cut along x are, without a library): the same
 * checksum, and what such a cut costs the hardware. */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plain.h"

#define MAX_STRIPS 64

int main(int argc, char **argv) {
    long long nx = 4096, ny = 4096, steps = 100, nstrips = 1;
    int threads = omp_get_max_threads();
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--grid") && i + 1 < argc) {
            if (sscanf(argv[++i], "%lldx%lld", &nx, &ny) != 2)
                nx = 0;
        } else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--strips") && i + 1 < argc)
            nstrips = atoll(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--grid NXxNY] [--steps N] [--threads T] [--strips S]\n",
                    argv[0]);
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    if (nx < 1 || ny < 1 || steps < 0 || threads < 1 || nstrips < 1 || nstrips > MAX_STRIPS ||
        nstrips > nx) {
        fprintf(stderr,
                "jacobi: bad --grid, --steps, --threads or --strips (1 to %d, at most "
                "NX)\n",
                MAX_STRIPS);
        return 2;
    }
    omp_set_num_threads(threads);
    /* strip b holds global columns x0[b] + 1 ... x0[b + 1] (1-based; 0 and nx + 1 are the
     * boundary), as its columns 1 ... w, with ghost columns 0 and w + 1 */
    const int S = (int)nstrips;
    int64_t x0[MAX_STRIPS + 1], w[MAX_STRIPS], sx[MAX_STRIPS];
    double *u[MAX_STRIPS], *v[MAX_STRIPS];
    for (int b = 0; b <= S; b++)
        x0[b] = nx * b / S;
    for (int b = 0; b < S; b++) {
        w[b] = x0[b + 1] - x0[b];
        sx[b] = w[b] + 2;
        size_t bytes = ((size_t)(sx[b] * (ny + 2)) * 8 + 63) / 64 * 64;
        u[b] = aligned_alloc(64, bytes);
        v[b] = aligned_alloc(64, bytes);
        if (!u[b] || !v[b]) {
            fprintf(stderr, "jacobi: out of memory\n");
            return 1;
        }
    }
    const double a = 0.4 / 2, k = 4.0;
/* First touch by the thread that computes the row. */
#pragma omp parallel for schedule(static) collapse(2) if (threads > 1)
    for (int b = 0; b < S; b++)
        for (int64_t y = 0; y < ny + 2; y++)
            for (int64_t x = 0; x < sx[b]; x++) {
                int64_t gx = x0[b] + x; /* global column, boundary included */
                double val = 0.0;
                if (y >= 1 && y <= ny && gx >= 1 && gx <= nx) {
                    double tx = ((double)(gx - 1) + 0.5) / (double)nx - 0.5;
                    double ty = ((double)(y - 1) + 0.5) / (double)ny - 0.5;
                    double r2 = 0.0;
                    r2 += tx * tx;
                    r2 += ty * ty;
                    val = r2 < 0.04 ? 1.0 : 0.0;
                }
                u[b][y * sx[b] + x] = val;
                v[b][y * sx[b] + x] = 0.0;
            }
    double t0 = now();
    for (long long s = 0; s < steps; s++) {
        if (S > 1) { /* ghost columns between strips from this step's values */
#pragma omp parallel for schedule(static) if (threads > 1)
            for (int64_t y = 1; y <= ny; y++)
                for (int b = 0; b + 1 < S; b++) {
                    u[b][y * sx[b] + w[b] + 1] = u[b + 1][y * sx[b + 1] + 1];
                    u[b + 1][y * sx[b + 1]] = u[b][y * sx[b] + w[b]];
                }
        }
#pragma omp parallel for schedule(static) collapse(2) if (threads > 1)
        for (int b = 0; b < S; b++)
            for (int64_t y = 1; y <= ny; y++) {
                const int64_t sxb = sx[b], wb = w[b];
                const double *restrict c = &u[b][y * sxb], *restrict sn = c - sxb,
                                       *restrict no = c + sxb;
                double *restrict o = &v[b][y * sxb];
                for (int64_t x = 1; x <= wb; x++) {
                    double sum = (c[x - 1] + c[x + 1]) + (sn[x] + no[x]);
                    o[x] = c[x] + a * (sum - k * c[x]);
                }
            }
        for (int b = 0; b < S; b++) {
            double *t = u[b];
            u[b] = v[b];
            v[b] = t;
        }
    }
    double dt = now() - t0;
    uint64_t sum = 0;
    for (int b = 0; b < S; b++)
        for (int64_t y = 1; y <= ny; y++)
            for (int64_t x = 1; x <= w[b]; x++) {
                uint64_t bits;
                memcpy(&bits, &u[b][y * sx[b] + x], sizeof bits);
                int64_t gx = x0[b] + x;
                sum += splitmix64(splitmix64((uint64_t)((gx - 1) + nx * (y - 1))) ^ bits);
            }
    printf("grid %lldx%lld, %lld steps, %d thread%s, %.3f s\n", nx, ny, steps, threads,
           threads == 1 ? "" : "s", dt);
    printf("MLUP/s %.1f\n", dt > 0 ? (double)nx * (double)ny * (double)steps / dt / 1e6 : 0.0);
    printf("checksum %016llx\n", (unsigned long long)sum);
    for (int b = 0; b < S; b++) {
        free(u[b]);
        free(v[b]);
    }
    return 0;
}
