/* What the row length alone costs a memory-bound sweep, without tessera's blocks: tessera-heat's
 * 2D update over one NX x NY array, rows laid out as a tessera block's (64-byte aligned, a shared
 * ghost line between rows), one thread, the fastest of the steps (as tessera-heat reports). The
 * row update is compiled per ISA level like heat's kernel (TSR_CPU_DISPATCH): TSR_CPU=baseline,
 * avx2 or avx512 picks the vector width, as it does for tessera-heat.
 *
 *   bench/rows --grid 4096x4096 --steps 40     rows of 4096 cells
 *   bench/rows --grid 1024x16384 --steps 40    the same cells in rows of 1024 (a 4x4 cut of 4096^2)
 *   bench/rows --grid 2048x16 --steps 2000     in cache: the update's own speed
 *
 * Prints "cpu path <level>", "MLUP/s <x>" and "checksum <16 hex digits>" (the same bits at every
 * level). Compare runs pinned to one core (taskset -c N). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "plain.h"
#include "tessera/cpu.h"

TSR_CPU_INLINE static void row(double *restrict o, const double *restrict c,
                               const double *restrict s, const double *restrict n, int64_t m,
                               double a, double k) {
    for (int64_t x = 0; x < m; x++) {
        double sum = (c[x - 1] + c[x + 1]) + (s[x] + n[x]);
        o[x] = c[x] + a * (sum - k * c[x]);
    }
}

/* One step: rows 1..ny of u (cell 0 of row y at u[y * sy]) into v. */
TSR_CPU_INLINE static int step_body(double *v, const double *u, int64_t nx, int64_t ny,
                                    int64_t sy) {
    for (int64_t y = 1; y <= ny; y++) {
        const double *c = u + y * sy;
        row(v + y * sy, c, c - sy, c + sy, nx, 0.1, 4.0);
    }
    return 0;
}

TSR_CPU_DISPATCH(static, int, step, step_body,
                 (double *v, const double *u, int64_t nx, int64_t ny, int64_t sy),
                 (v, u, nx, ny, sy))

/* An array of `bytes` on 2 MiB boundaries, huge pages asked for (as tessera's fields are). */
static double *alloc(size_t bytes) {
    size_t huge = (size_t)2 << 20;
    bytes = (bytes + huge - 1) / huge * huge;
    double *p = aligned_alloc(huge, bytes);
    if (p) {
        madvise(p, bytes, MADV_HUGEPAGE);
        memset(p, 0, bytes);
    }
    return p;
}

int main(int argc, char **argv) {
    long long nx = 4096, ny = 4096, steps = 40;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--grid") && i + 1 < argc) {
            if (sscanf(argv[++i], "%lldx%lld", &nx, &ny) != 2)
                nx = 0;
        } else if (!strcmp(argv[i], "--steps") && i + 1 < argc) {
            steps = atoll(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--grid NXxNY] [--steps N]\n", argv[0]);
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    if (nx < 8 || ny < 1 || nx % 8 || steps < 1 || nx > (1 << 24) || ny > (1 << 24)) {
        fprintf(stderr,
                "%s: --grid NXxNY with NX a multiple of 8 (8 to 2^24), NY 1 to 2^24, and "
                "--steps >= 1\n",
                argv[0]);
        return 2;
    }
    /* x = 0 of each row on a line; the line between two rows holds their ghosts. */
    const int64_t front = 8, sy = nx + 8;
    const size_t cells = (size_t)(front + sy * (ny + 2));
    double *u = alloc(cells * sizeof(double)), *v = alloc(cells * sizeof(double));
    if (!u || !v) {
        fprintf(stderr, "%s: cannot allocate 2 x %zu bytes\n", argv[0], cells * sizeof(double));
        return 1;
    }
    for (size_t i = 0; i < cells; i++)
        u[i] = (double)(i % 7);
    /* The ghosts (and the lines between rows) stay as set: v's too, so both hold the same. */
    memcpy(v, u, cells * sizeof(double));
    double best = 1e300;
    for (long long t = 0; t < steps; t++) {
        double t0 = now();
        step(v + front, u + front, nx, ny, sy);
        double dt = now() - t0;
        best = dt < best ? dt : best;
        double *w = u;
        u = v;
        v = w;
    }
    uint64_t sum = 0;
    for (int64_t y = 1; y <= ny; y++)
        for (int64_t x = 0; x < nx; x++) {
            uint64_t bits;
            memcpy(&bits, &u[front + y * sy + x], sizeof bits);
            sum = splitmix64(sum ^ bits);
        }
    printf("cpu path %s\n", tsr_cpu_level_names[tsr_cpu_path()]);
    printf("MLUP/s %.1f\n", (double)nx * (double)ny / best / 1e6);
    printf("checksum %016llx\n", (unsigned long long)sum);
    free(u);
    free(v);
    return 0;
}
