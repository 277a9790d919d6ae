/* Temporal blocking with kernels that read 2 and 3 cells away, against a plain serial
 * reference.
 *
 * tessera-heat (reach 1) covers the wavefront at every rank count, thread count and map; this
 * program covers wider stencils, whose levels trail each other by more than one slab and whose
 * strips skew by more than one cell per level. Each case runs tsr_sweep_steps_blocked on many
 * small blocks with tiny tiles (many strips per block), then every rank compares the bits of its
 * own blocks with the whole grid computed serially here (plain arrays, no library code). Sides
 * are periodic or Dirichlet; the count of differing cells is summed over ranks. Prints "N passed,
 * N failed". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tessera.h>

#include "expect.h"

#define BOUNDARY 0.25

static int passed, failed;

typedef struct wcase {
    const char *name;
    int ndim;
    int64_t n[3], blocks[3];
    const char *periodic; /* --periodic's syntax; the other sides Dirichlet BOUNDARY */
    int reach, k;
    int64_t steps, tile;
} wcase;

/* The start value of global cell (x, y, z). */
static double start(int64_t x, int64_t y, int64_t z) {
    return (double)((x * 7 + y * 13 + z * 29) % 17) / 16.0;
}

/* The update of one cell, given the cell and a function for its neighbour s cells away along
 * dimension d, side -1 or +1: the same operations in the same order in kernel and reference. */
#define UPDATE(result, c, ndim, reach, AT)                                                         \
    do {                                                                                           \
        double sum_ = 0.0, w_ = 0.0;                                                               \
        for (int d_ = 0; d_ < (ndim); d_++)                                                        \
            for (int s_ = 1; s_ <= (reach); s_++) {                                                \
                sum_ += (AT(d_, -s_) + AT(d_, s_)) / (double)s_;                                   \
                w_ += 2.0 / (double)s_;                                                            \
            }                                                                                      \
        (result) = (c) + 0.2 * (sum_ / w_ - (c));                                                  \
    } while (0)

typedef struct kuser {
    int ndim, reach;
} kuser;

static int kernel(const tsr_block *f, int nf, const tsr_box *box, void *user) {
    (void)nf;
    const kuser *ku = user;
    const tsr_block *u = &f[0], *v = &f[1];
    ptrdiff_t stride[3] = {1, u->sy, u->sz};
    for (int64_t z = box->lo[2]; z < box->hi[2]; z++)
        for (int64_t y = box->lo[1]; y < box->hi[1]; y++)
            for (int64_t x = box->lo[0]; x < box->hi[0]; x++) {
                const double *c = &TSR_AT(u, x, y, z);
#define KAT(d, s) c[(ptrdiff_t)(s)*stride[d]]
                UPDATE(TSR_AT(v, x, y, z), *c, ku->ndim, ku->reach, KAT);
#undef KAT
            }
    return 0;
}

/* Cell p moved s along d in grid u: wrapped, or BOUNDARY outside a non-periodic side. */
static double neighbour(const double *u, const int64_t n[3], const bool periodic[3],
                        const int64_t p[3], int d, int s) {
    int64_t q[3] = {p[0], p[1], p[2]};
    q[d] += s;
    if (q[d] < 0 || q[d] >= n[d]) {
        if (!periodic[d])
            return BOUNDARY;
        q[d] = (q[d] % n[d] + n[d]) % n[d];
    }
    return u[(q[2] * n[1] + q[1]) * n[0] + q[0]];
}

/* The serial reference: `steps` updates of the whole grid, ghosts of width reach outside it
 * (wrapped where periodic, BOUNDARY elsewhere). Returns the final grid (owned cells, x fastest),
 * or NULL when out of memory. */
static double *reference(const wcase *c, const bool periodic[3]) {
    int64_t n[3] = {c->n[0], c->n[1], c->n[2]}, total = n[0] * n[1] * n[2];
    double *u = malloc((size_t)total * sizeof *u), *v = malloc((size_t)total * sizeof *v);
    if (!u || !v) {
        free(u);
        free(v);
        return NULL;
    }
    for (int64_t z = 0; z < n[2]; z++)
        for (int64_t y = 0; y < n[1]; y++)
            for (int64_t x = 0; x < n[0]; x++)
                u[(z * n[1] + y) * n[0] + x] = start(x, y, z);
    for (int64_t t = 0; t < c->steps; t++) {
        for (int64_t z = 0; z < n[2]; z++)
            for (int64_t y = 0; y < n[1]; y++)
                for (int64_t x = 0; x < n[0]; x++) {
                    int64_t p[3] = {x, y, z};
                    double here = u[(z * n[1] + y) * n[0] + x];
#define RAT(d, s) neighbour(u, n, periodic, p, d, s)
                    UPDATE(v[(z * n[1] + y) * n[0] + x], here, c->ndim, c->reach, RAT);
#undef RAT
                }
        double *w = u;
        u = v;
        v = w;
    }
    free(v);
    return u;
}

/* Sets u's owned cells to the start values; returns the cells differing from ref. */
static int64_t fill_or_compare(tsr_field f, const wcase *c, const double *ref) {
    int64_t bad = 0;
    for (int64_t i = 0; i < tsr_field_local_blocks(f); i++) {
        tsr_block b;
        if (tsr_field_get_block(f, i, &b))
            return -1;
        for (int64_t z = 0; z < b.n[2]; z++)
            for (int64_t y = 0; y < b.n[1]; y++)
                for (int64_t x = 0; x < b.n[0]; x++) {
                    int64_t gx = b.lo[0] + x, gy = b.lo[1] + y, gz = b.lo[2] + z;
                    double *cell = &TSR_AT(&b, x, y, z);
                    if (!ref)
                        *cell = start(gx, gy, gz);
                    else if (memcmp(cell, &ref[(gz * c->n[1] + gy) * c->n[0] + gx], sizeof *cell))
                        bad++;
                }
        if (tsr_field_restore_block(f, i, &b))
            return -1;
    }
    return bad;
}

static int check_case(tsr_ctx ctx, const wcase *c, int map) {
    tsr_extents grid = {.ndim = c->ndim, .n = {c->n[0], c->n[1], c->n[2]}};
    tsr_domain_opts d;
    tsr_domain_opts_init(&d, &grid, (int64_t)c->k * c->reach);
    d.blocks = (tsr_extents){.ndim = c->ndim, .n = {c->blocks[0], c->blocks[1], c->blocks[2]}};
    d.map = map;
    snprintf(d.periodic, sizeof d.periodic, "%s", c->periodic);
    bool periodic[TSR_MAX_DIM];
    TSR_CALL(ctx, tsr_domain_periodic(ctx, &d, periodic));
    tsr_domain dom;
    TSR_CALL(ctx, tsr_domain_create(ctx, &d, TSR_STENCIL_BOX, &dom));
    tsr_field u = NULL, v = NULL;
    tsr_sweep sw = NULL;
    tsr_bc bc = NULL;
    tsr_bc_desc desc;
    int err = tsr_bc_desc_init(&desc, periodic, TSR_BC_DIRICHLET, BOUNDARY);
    if (!err)
        err = tsr_bc_create(dom.grid, &desc, &bc);
    if (!err)
        err = tsr_halo_set_bc(dom.halo, bc);
    if (!err)
        err = tsr_field_create(dom.map, dom.width, "u", &u);
    if (!err)
        err = tsr_field_create(dom.map, dom.width, "v", &v);
    if (!err)
        err = tsr_sweep_create(dom.map, c->reach, c->tile, &sw);
    /* Ghosts outside a Dirichlet side hold the value in both fields: the exchange sets u's, and
     * the levels that write v never write there (as in tessera-heat). */
    if (!err)
        err = tsr_field_fill(u, BOUNDARY);
    if (!err)
        err = tsr_field_fill(v, BOUNDARY);
    if (!err)
        err = fill_or_compare(u, c, NULL) < 0 ? TSR_ERR_INTERNAL : 0;
    kuser ku = {c->ndim, c->reach};
    if (!err)
        err =
            tsr_sweep_steps_blocked(sw, dom.halo, &u, &v, c->steps, c->k, kernel, &ku, false, NULL);
    double *ref = NULL;
    long bad = 0, worst = 0;
    if (!err) {
        ref = reference(c, periodic);
        err = ref ? 0 : TSR_ERR_MEMORY;
    }
    if (!err) {
        bad = (long)fill_or_compare(u, c, ref);
        err = bad < 0 ? TSR_ERR_INTERNAL : 0;
    }
    if (!err)
        err =
            MPI_Allreduce(&bad, &worst, 1, MPI_LONG, MPI_SUM, tsr_ctx_comm(ctx)) ? TSR_ERR_MPI : 0;
    if (!err) {
        static const char *const maps[] = {"contiguous", "roundrobin"};
        EXPECT(ctx, worst == 0, "%s, map %s: %ld cells differ from the reference", c->name,
               maps[map], worst);
    }
    free(ref);
    tsr_sweep_destroy(&sw);
    tsr_field_destroy(&v);
    tsr_field_destroy(&u);
    tsr_domain_destroy(&dom);
    tsr_bc_destroy(&bc);
    return err;
}

static int run(tsr_ctx ctx) {
    static const wcase cases[] = {
        {"2D reach 2, k = 3, x periodic", 2, {53, 41, 1}, {3, 2, 1}, "x", 2, 3, 10, 61},
        {"2D reach 3, k = 2, y periodic", 2, {47, 38, 1}, {2, 3, 1}, "y", 3, 2, 9, 61},
        {"2D reach 2, k = 4, default tiles", 2, {90, 33, 1}, {2, 2, 1}, "", 2, 4, 11, 0},
        {"3D reach 2, k = 2, periodic", 3, {19, 15, 13}, {2, 2, 1}, "all", 2, 2, 7, 61},
        {"3D reach 2, k = 3, z periodic", 3, {17, 16, 14}, {1, 2, 2}, "z", 2, 3, 8, 61},
        {"1D reach 2, k = 3, not periodic", 1, {301, 1, 1}, {5, 1, 1}, "", 2, 3, 13, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int map = 0; map < 2; map++)
            TSR_CALL(ctx, check_case(ctx, &cases[i], map));
    return TSR_SUCCESS;
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "test_wave", &ctx);
    if (!err)
        err = run(ctx);
    if (!err && tsr_ctx_rank(ctx) == 0)
        printf("test_wave on %d ranks x %d threads: %d passed, %d failed\n", tsr_ctx_size(ctx),
               tsr_ctx_threads(ctx), passed, failed);
    int status = tsr_finalize(&ctx, err);
    return status ? status : failed != 0;
}
