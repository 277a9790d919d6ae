/* The pure geometry of redistribution (tsr__particle_locate): the periodic wrap at its rounding
 * edges, cells on the cuts between blocks, block ids in 3D, refusals (outside a non-periodic
 * side, non-finite) and coordinates past the grid's dimensions ignored. No MPI. Prints one line
 * per failed case and "ok" when all pass. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "particles_impl.h"

static int failures = 0;

/* Locates x; expects `ok`, then block `block` and the wrapped position `to` (bits). */
static void expect(const tsr__layout *lay, double x0, double x1, double x2, bool ok, int64_t block,
                   double to0) {
    double x[3] = {x0, x1, x2};
    int64_t b = -7;
    bool got = tsr__particle_locate(lay, x, &b);
    bool pass = got == ok && (!ok || (b == block && memcmp(&x[0], &to0, sizeof to0) == 0));
    if (!pass) {
        printf("FAIL (%.17g, %.17g, %.17g): %s block %lld at x %.17g, expected %s block %lld at "
               "%.17g\n",
               x0, x1, x2, got ? "found" : "refused", (long long)b, x[0], ok ? "found" : "refused",
               (long long)block, to0);
        failures++;
    }
}

static void layout(tsr__layout *lay, int ndim, int64_t n0, int64_t n1, int64_t n2, int64_t b0,
                   int64_t b1, int64_t b2, bool periodic) {
    memset(lay, 0, sizeof *lay);
    lay->ndim = ndim;
    int64_t n[3] = {n0, n1, n2}, nb[3] = {b0, b1, b2};
    for (int d = 0; d < 3; d++) {
        lay->n[d] = n[d];
        lay->nb[d] = nb[d];
        lay->periodic[d] = periodic && d < ndim;
    }
    if (!tsr__layout_cut(lay)) {
        printf("FAIL: out of memory\n");
        failures++;
    }
}

int main(void) {
    tsr__layout lay;
    /* 10 cells in 3 blocks: cuts 0, 4, 7, 10 */
    layout(&lay, 1, 10, 1, 1, 3, 1, 1, true);
    expect(&lay, 0.0, 0, 0, true, 0, 0.0);
    expect(&lay, 3.9999999999999996, 0, 0, true, 0, 3.9999999999999996);
    expect(&lay, 4.0, 0, 0, true, 1, 4.0);
    expect(&lay, 6.9999999999999991, 0, 0, true, 1, 6.9999999999999991);
    expect(&lay, 7.0, 0, 0, true, 2, 7.0);
    expect(&lay, 9.9999999999999982, 0, 0, true, 2, 9.9999999999999982);
    expect(&lay, 10.0, 0, 0, true, 0, 0.0);
    expect(&lay, -10.0, 0, 0, true, 0, 0.0);
    expect(&lay, -1e-20, 0, 0, true, 0, 0.0); /* -1e-20 + 10 rounds to 10 */
    expect(&lay, -0.5, 0, 0, true, 2, 9.5);
    expect(&lay, 25.5, 0, 0, true, 1, 5.5);
    expect(&lay, -31.25, 0, 0, true, 2, 8.75);
    expect(&lay, NAN, 0, 0, false, 0, 0.0);
    expect(&lay, INFINITY, 0, 0, false, 0, 0.0);
    tsr__layout_free(&lay);

    layout(&lay, 1, 10, 1, 1, 3, 1, 1, false);
    expect(&lay, -0.0, 0, 0, true, 0, -0.0);
    expect(&lay, -1e-300, 0, 0, false, 0, 0.0);
    expect(&lay, 10.0, 0, 0, false, 0, 0.0);
    expect(&lay, 9.9999999999999982, 0, 0, true, 2, 9.9999999999999982);
    tsr__layout_free(&lay);

    /* 2D: z is not looked at, whatever it holds */
    layout(&lay, 2, 6, 5, 1, 3, 2, 1, false);
    expect(&lay, 5.5, 4.5, 1e300, true, 5, 5.5);
    expect(&lay, 1.0, 2.9999, NAN, true, 0, 1.0);
    expect(&lay, 1.0, 3.0, -4.0, true, 3, 1.0);
    expect(&lay, 1.0, 5.0, 0.0, false, 0, 0.0);
    tsr__layout_free(&lay);

    /* 3D block ids, x fastest */
    layout(&lay, 3, 4, 6, 8, 2, 3, 4, true);
    expect(&lay, 3.5, 5.5, 7.5, true, 23, 3.5);
    expect(&lay, 0.5, 0.5, 0.5, true, 0, 0.5);
    expect(&lay, 2.0, 2.0, 2.0, true, 1 + 2 * (1 + 3 * 1), 2.0);
    expect(&lay, -0.5, 6.5, -8.5, true, 1 + 2 * (0 + 3 * 3), 3.5);
    tsr__layout_free(&lay);

    if (failures == 0)
        printf("ok\n");
    return failures ? 1 : 0;
}
