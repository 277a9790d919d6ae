/* The no-framework 3D reference: plain C 7-point Jacobi, the same update, initial state and
 * boundary as `tessera-heat --grid NXxNYxNZ --init hotspot` (Dirichlet 0), serial or OpenMP.
 *
 *   bench/heat3d_ref --grid 256x256x256 --steps 20 [--threads T]
 *
 * Prints "MLUP/s <x>" and "checksum <hex>" like bench/jacobi, so a benchmark can check that it
 * computed exactly what tessera-heat computes. The loop is what a user would write first: one
 * parallel loop over z planes per step, rows along x. */
#include <omp.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plain.h"

int main(int argc, char **argv) {
    long long nx = 256, ny = 256, nz = 256, steps = 20;
    int threads = omp_get_max_threads();
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        bool ok = val != NULL;
        if (!strcmp(opt, "--grid") && val) {
            int used = 0;
            ok = sscanf(val, "%lldx%lldx%lld%n", &nx, &ny, &nz, &used) == 3 && !val[used] &&
                 nx >= 1 && ny >= 1 && nz >= 1;
        } else if (!strcmp(opt, "--steps") && val) {
            steps = strtoll(val, &end, 10);
            ok = *val && !*end && steps >= 0;
        } else if (!strcmp(opt, "--threads") && val) {
            threads = (int)strtol(val, &end, 10);
            ok = *val && !*end && threads >= 1;
        } else {
            fprintf(stderr, "usage: %s [--grid NXxNYxNZ] [--steps N] [--threads T]\n", argv[0]);
            return strcmp(opt, "--help") ? 2 : 0;
        }
        if (!ok) {
            fprintf(stderr, "heat3d_ref: %s %s: expected %s\n", opt, val,
                    !strcmp(opt, "--grid")    ? "NXxNYxNZ, each at least 1"
                    : !strcmp(opt, "--steps") ? "a count of 0 or more"
                                              : "a count of 1 or more");
            return 2;
        }
    }
    omp_set_num_threads(threads);
    const int64_t sx = nx + 2, sy = sx * (ny + 2); /* one ghost layer, held at 0 */
    size_t cells = (size_t)(sy * (nz + 2));
    double *u = aligned_alloc(64, (cells * 8 + 63) / 64 * 64),
           *v = aligned_alloc(64, (cells * 8 + 63) / 64 * 64);
    if (!u || !v) {
        fprintf(stderr, "heat3d_ref: out of memory\n");
        return 1;
    }
    const double a = 0.4 / 3, k = 6.0;
/* First touch by the thread that computes the plane. */
#pragma omp parallel for schedule(static) if (threads > 1)
    for (int64_t z = 0; z < nz + 2; z++)
        for (int64_t y = 0; y < ny + 2; y++)
            for (int64_t x = 0; x < sx; x++) {
                double val = 0.0;
                if (z >= 1 && z <= nz && y >= 1 && y <= ny && x >= 1 && x <= nx) {
                    double tx = ((double)(x - 1) + 0.5) / (double)nx - 0.5;
                    double ty = ((double)(y - 1) + 0.5) / (double)ny - 0.5;
                    double tz = ((double)(z - 1) + 0.5) / (double)nz - 0.5;
                    double r2 = 0.0;
                    r2 += tx * tx;
                    r2 += ty * ty;
                    r2 += tz * tz;
                    val = r2 < 0.04 ? 1.0 : 0.0;
                }
                u[z * sy + y * sx + x] = val;
                v[z * sy + y * sx + x] = 0.0;
            }
    double t0 = now();
    for (long long s = 0; s < steps; s++) {
#pragma omp parallel for schedule(static) if (threads > 1)
        for (int64_t z = 1; z <= nz; z++)
            for (int64_t y = 1; y <= ny; y++) {
                const double *restrict c = &u[z * sy + y * sx];
                const double *restrict sn = c - sx, *restrict no = c + sx, *restrict b = c - sy,
                                       *restrict t = c + sy;
                double *restrict o = &v[z * sy + y * sx];
                for (int64_t x = 1; x <= nx; x++) {
                    double sum = ((c[x - 1] + c[x + 1]) + (sn[x] + no[x])) + (b[x] + t[x]);
                    o[x] = c[x] + a * (sum - k * c[x]);
                }
            }
        double *t = u;
        u = v;
        v = t;
    }
    double dt = now() - t0;
    uint64_t sum = 0;
    for (int64_t z = 1; z <= nz; z++)
        for (int64_t y = 1; y <= ny; y++)
            for (int64_t x = 1; x <= nx; x++) {
                uint64_t bits;
                memcpy(&bits, &u[z * sy + y * sx + x], sizeof bits);
                sum += splitmix64(splitmix64((uint64_t)((x - 1) + nx * ((y - 1) + ny * (z - 1)))) ^
                                  bits);
            }
    printf("grid %lldx%lldx%lld, %lld steps, %d thread%s, %.3f s\n", nx, ny, nz, steps, threads,
           threads == 1 ? "" : "s", dt);
    printf("MLUP/s %.1f\n",
           dt > 0 ? (double)nx * (double)ny * (double)nz * (double)steps / dt / 1e6 : 0.0);
    printf("checksum %016llx\n", (unsigned long long)sum);
    free(u);
    free(v);
    return 0;
}
