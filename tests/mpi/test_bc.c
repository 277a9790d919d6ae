/* Boundary conditions at 1-4 ranks: after an exchange with a bc attached, every ghost cell of
 * every block (faces, edges, corners, between blocks and outside the domain) holds what a plain
 * per-cell rule computes — the exchanged neighbour, the Dirichlet constant or function, the
 * Neumann mirror, or the untouched sentinel — for 1D/2D/3D grids, periodic or not per
 * dimension, widths 1 and 2, one or many blocks per rank, every map. Then the refusals: periodic
 * sides that disagree with the grid, a bc of another grid, a Neumann mirror deeper than the
 * grid; and the text descriptions read back. Every check is on a collectively agreed value. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <tessera.h>

static int passed, failed;

#include "expect.h"
#include "scene.h"

#define SENTINEL -7777.0
#define TIME 2.5

typedef struct layout {
    int ndim;
    int64_t n[3];
    int64_t blocks[2][3]; /* one per rank (0), many */
} layout;

static const layout layouts[] = {
    {1, {37, 1, 1}, {{0}, {6, 1, 1}}},
    {2, {23, 17, 1}, {{0}, {5, 4, 1}}},
    {3, {11, 9, 7}, {{0}, {3, 2, 2}}},
};

/* A side's rule in the test's own terms; PERIODIC comes from the grid. */
enum { NONE, CONST, FUNC, NEUMANN, PERIODIC };

typedef struct setup {
    int ndim;
    int64_t n[3];
    int rule[3][2];
    double value[3][2];
} setup;

static double interior(const int64_t n[3], const int64_t g[3]) {
    return (double)(1 + g[0] + n[0] * (g[1] + n[1] * g[2]));
}

static double dirichlet_fn(const int64_t g[TSR_MAX_DIM], double t, int comp, void *user) {
    const double *scale = user;
    return *scale * (1000.0 * t + (double)g[0] + 0.01 * (double)g[1] + 1e-4 * (double)g[2]) +
           (double)comp;
}
static double fn_scale = 3.0;

/* What ghost cell g (global, unwrapped) must hold: the rule of the last dimension along which g
 * lies outside a non-periodic grid and whose rule writes, applied to what the earlier ones give;
 * inside (after wrapping periodic dimensions), the cell's own value. */
static double expected(const setup *S, const int64_t g0[3]) {
    int64_t g[3] = {g0[0], g0[1], g0[2]};
    for (int d = S->ndim - 1; d >= 0; d--) {
        if ((g[d] >= 0 && g[d] < S->n[d]) || S->rule[d][0] == PERIODIC)
            continue;
        int s = g[d] < 0 ? 0 : 1;
        switch (S->rule[d][s]) {
        case NONE:
            continue;
        case CONST:
            return S->value[d][s];
        case FUNC:
            return dirichlet_fn(g, TIME, 0, &fn_scale);
        case NEUMANN: {
            int64_t m[3] = {g[0], g[1], g[2]};
            m[d] = s ? 2 * S->n[d] - 1 - g[d] : -1 - g[d];
            return expected(S, m);
        }
        }
    }
    for (int d = 0; d < S->ndim; d++) {
        if (g[d] < 0 || g[d] >= S->n[d]) {
            if (S->rule[d][0] != PERIODIC)
                return SENTINEL; /* outside, and no rule wrote it */
            g[d] = (g[d] % S->n[d] + S->n[d]) % S->n[d];
        }
    }
    return interior(S->n, g);
}

/* Owned cells from their global index, ghosts the sentinel. */
static void fill(tsr_field f, const setup *S) {
    tsr_field_fill(f, SENTINEL);
    for (int64_t i = 0; i < tsr_field_local_blocks(f); i++) {
        tsr_block b;
        tsr_field_get_block(f, i, &b);
        for (int64_t z = 0; z < b.n[2]; z++)
            for (int64_t y = 0; y < b.n[1]; y++)
                for (int64_t x = 0; x < b.n[0]; x++) {
                    int64_t g[3] = {b.lo[0] + x, b.lo[1] + y, b.lo[2] + z};
                    TSR_AT(&b, x, y, z) = interior(S->n, g);
                }
        tsr_field_restore_block(f, i, &b);
    }
}

/* Wrong ghost cells on this rank; the first few printed. */
static int64_t check(tsr_field f, const setup *S, const char *what) {
    int64_t bad = 0;
    int w = tsr_field_width(f);
    for (int64_t i = 0; i < tsr_field_local_blocks(f); i++) {
        tsr_block b;
        tsr_field_get_block(f, i, &b);
        int64_t lo[3], hi[3];
        for (int d = 0; d < 3; d++) {
            lo[d] = d < S->ndim ? -w : 0;
            hi[d] = d < S->ndim ? b.n[d] + w : 1;
        }
        for (int64_t z = lo[2]; z < hi[2]; z++)
            for (int64_t y = lo[1]; y < hi[1]; y++)
                for (int64_t x = lo[0]; x < hi[0]; x++) {
                    int64_t g[3] = {b.lo[0] + x, b.lo[1] + y, b.lo[2] + z};
                    double want = expected(S, g), got = TSR_AT(&b, x, y, z);
                    if (got != want && bad++ < 3)
                        fprintf(stderr, "%s: block %lld cell (%lld,%lld,%lld) holds %g, not %g\n",
                                what, (long long)b.id, (long long)g[0], (long long)g[1],
                                (long long)g[2], got, want);
                }
        tsr_field_restore_block(f, i, &b);
    }
    return bad;
}

/* Pattern p gives every side a rule; dimension p % (ndim + 1) wraps (none when == ndim). */
static void make_setup(const layout *L, int p, setup *S, tsr_bc_desc *desc, bool per[3]) {
    memset(S, 0, sizeof *S);
    S->ndim = L->ndim;
    memcpy(S->n, L->n, sizeof S->n);
    for (int d = 0; d < 3; d++) {
        per[d] = d < L->ndim && p % (L->ndim + 1) == d;
        for (int s = 0; s < 2; s++) {
            S->rule[d][s] = per[d] ? PERIODIC : (p + 3 * d + s) % 4;
            S->value[d][s] = 0.5 + d + 0.25 * s;
            desc->kind[d][s] = per[d]                     ? TSR_BC_PERIODIC
                               : S->rule[d][s] == NEUMANN ? TSR_BC_NEUMANN
                               : S->rule[d][s] == NONE    ? TSR_BC_NONE
                                                          : TSR_BC_DIRICHLET;
            desc->value[d][s] = S->value[d][s];
        }
    }
}

static void test_ghosts(tsr_ctx ctx) {
    for (size_t li = 0; li < sizeof layouts / sizeof *layouts; li++)
        for (int bi = 0; bi < 2; bi++)
            for (int p = 0; p < 8; p++)
                for (int map = 0; map < TSR_MAP_COUNT; map += bi ? 1 : TSR_MAP_COUNT)
                    for (int w = 1; w <= 2; w++) {
                        const layout *L = &layouts[li];
                        setup S;
                        tsr_bc_desc desc;
                        bool per[3];
                        make_setup(L, p, &S, &desc, per);
                        scene sc;
                        tsr_field f = NULL;
                        int err = scene_create(ctx, L->ndim, L->n, per, L->blocks[bi], map, w,
                                               TSR_STENCIL_BOX, &desc, &sc);
                        if (!err)
                            err = tsr_field_create(sc.m, w, "f", &f);
                        /* FUNC sides: the function instead of the constant. */
                        for (int d = 0; d < L->ndim && !err; d++)
                            for (int s = 0; s < 2 && !err; s++)
                                if (S.rule[d][s] == FUNC)
                                    err = tsr_bc_set_function(sc.bc, d, (tsr_bc_side)s,
                                                              dirichlet_fn, &fn_scale);
                        if (!err)
                            err = tsr_bc_set_time(sc.bc, TIME);
                        if (!err)
                            err = tsr_halo_set_bc(sc.h, sc.bc);
                        char what[160];
                        snprintf(what, sizeof what, "%dD blocks#%d pattern %d map %s width %d",
                                 L->ndim, bi, p, tsr_map_strategy_names[map], w);
                        int64_t bad = -1;
                        if (!err) {
                            fill(f, &S);
                            err = tsr_halo_exchange(sc.h, &f, 1);
                        }
                        if (!err) {
                            int64_t mine = check(f, &S, what);
                            MPI_Allreduce(&mine, &bad, 1, MPI_INT64_T, MPI_SUM, tsr_ctx_comm(ctx));
                        }
                        err = tsr_ctx_agree(ctx, err);
                        EXPECT(ctx, !err && bad == 0, "%s: %lld ghosts wrong", what,
                               (long long)bad);
                        tsr_ctx_error_clear(ctx);
                        tsr_field_destroy(&f);
                        scene_destroy(&sc);
                    }
}

/* The refusals, each with its message. */
static void test_refused(tsr_ctx ctx) {
    tsr_extents size = {.ndim = 2, .n = {3, 12, 1}};
    bool per[3] = {false, true, false};
    tsr_grid g = NULL, g2 = NULL;
    tsr_decomp dc = NULL;
    tsr_map m = NULL;
    tsr_halo h = NULL;
    tsr_field f = NULL;
    tsr_bc bc = NULL, other = NULL;
    tsr_decomp_opts o = {.allow_idle = true};
    int err = tsr_grid_create(ctx, &size, per, &g);
    if (!err)
        err = tsr_grid_create(ctx, &size, per, &g2);
    if (!err)
        err = tsr_decomp_create(g, &o, &dc);
    if (!err)
        err = tsr_map_create(dc, TSR_MAP_CONTIGUOUS, NULL, &m);
    if (!err)
        err = tsr_halo_create(m, 1, TSR_STENCIL_STAR, &h);
    if (!err)
        err = tsr_field_create(m, 4, "deep", &f);
    EXPECT(ctx, !err, "refusals: set-up");
    if (err) {
        tsr_ctx_error_clear(ctx);
        goto out;
    }
    tsr_bc_desc desc;
    tsr_bc_desc_init(&desc, NULL, TSR_BC_NEUMANN, 0.0);
    err = tsr_bc_create(g, &desc, &bc);
    EXPECT(ctx,
           err == TSR_ERR_INPUT && bc == NULL &&
               strstr(tsr_ctx_error_message(ctx), "the grid wraps along y"),
           "a non-periodic side on a periodic dimension is refused");
    tsr_ctx_error_clear(ctx);
    err = tsr_bc_create(g, NULL, &bc);
    bool st = false;
    tsr_bc_kind k = TSR_BC_NONE, k2 = TSR_BC_PERIODIC;
    if (!err)
        err = tsr_bc_get(bc, 1, TSR_BC_HIGH, &k);
    if (!err)
        err = tsr_bc_get(bc, 0, TSR_BC_LOW, &k2);
    if (!err)
        err = tsr_bc_is_static(bc, &st);
    EXPECT(ctx, !err && k == TSR_BC_PERIODIC && k2 == TSR_BC_NONE && st,
           "the default bc follows the grid: y periodic, x none, static");
    tsr_ctx_error_clear(ctx);
    if (!bc)
        goto out;
    err = tsr_bc_set(bc, 0, TSR_BC_LOW, TSR_BC_PERIODIC, 0);
    EXPECT(ctx, err == TSR_ERR_INPUT && strstr(tsr_ctx_error_message(ctx), "does not wrap along x"),
           "periodic on a non-periodic dimension is refused");
    tsr_ctx_error_clear(ctx);
    err = tsr_bc_set(bc, 1, TSR_BC_BOTH, TSR_BC_DIRICHLET, 1.0);
    EXPECT(ctx, err == TSR_ERR_INPUT, "Dirichlet on a periodic dimension is refused");
    tsr_ctx_error_clear(ctx);
    err = tsr_bc_set(bc, 2, TSR_BC_LOW, TSR_BC_NEUMANN, 0);
    EXPECT(ctx, err == TSR_ERR_ARG, "a dimension past the grid's is refused");
    tsr_ctx_error_clear(ctx);
    err = tsr_bc_set(bc, 0, TSR_BC_HIGH, TSR_BC_NEUMANN, 0);
    if (!err)
        err = tsr_bc_is_static(bc, &st);
    EXPECT(ctx, !err && !st, "a Neumann side is not static");
    tsr_ctx_error_clear(ctx);
    /* The field's 4 ghost layers would mirror cells x = 0..3 of a grid 3 wide. */
    err = tsr_bc_apply(bc, &f, 1);
    EXPECT(ctx, err == TSR_ERR_ARG && strstr(tsr_ctx_error_message(ctx), "only 3 cells along x"),
           "a Neumann mirror deeper than the grid is refused");
    tsr_ctx_error_clear(ctx);
    err = tsr_bc_create(g2, NULL, &other);
    if (!err)
        err = tsr_halo_set_bc(h, other);
    EXPECT(ctx, err == TSR_ERR_ARG && strstr(tsr_ctx_error_message(ctx), "another grid"),
           "a bc of another grid is refused by the halo plan");
    tsr_ctx_error_clear(ctx);
out:
    tsr_bc_destroy(&other);
    tsr_bc_destroy(&bc);
    tsr_field_destroy(&f);
    tsr_halo_destroy(&h);
    tsr_map_destroy(&m);
    tsr_decomp_destroy(&dc);
    tsr_grid_destroy(&g2);
    tsr_grid_destroy(&g);
}

/* Same kinds, and same values where they count (Dirichlet sides). */
static bool same_desc(const tsr_bc_desc *a, const tsr_bc_desc *b, int ndim) {
    for (int d = 0; d < ndim; d++)
        for (int s = 0; s < 2; s++)
            if (a->kind[d][s] != b->kind[d][s] ||
                (a->kind[d][s] == TSR_BC_DIRICHLET && a->value[d][s] != b->value[d][s]))
                return false;
    return true;
}

/* Text in, text out: the parse changes only the named sides, and the format reads back. */
static void test_text(tsr_ctx ctx) {
    bool per[3] = {false, false, true};
    tsr_bc_desc d, back;
    tsr_bc_desc_init(&d, per, TSR_BC_DIRICHLET, 0.25);
    int err = tsr_bc_desc_parse(ctx, "--bc", "xlo=dirichlet:1e-3,xhi=neumann,y=dirichlet", 3, &d);
    char text[256] = "";
    if (!err)
        err = tsr_bc_desc_format(&d, 3, text, sizeof text);
    EXPECT(ctx,
           !err && strcmp(text, "xlo=dirichlet:0.001,xhi=neumann,y=dirichlet:0.25,z=periodic") == 0,
           "format gives '%s'", text);
    tsr_bc_desc_init(&back, NULL, TSR_BC_NONE, 0.0);
    if (!err)
        err = tsr_bc_desc_parse(ctx, "again", text, 3, &back);
    EXPECT(ctx, !err && same_desc(&back, &d, 3), "the format reads back");
    tsr_ctx_error_clear(ctx);
    tsr_bc_desc before = d;
    err = tsr_bc_desc_parse(ctx, "--bc", "x=neumann,zlo=none", 3, &d);
    EXPECT(ctx,
           err == TSR_ERR_INPUT && memcmp(&before, &d, sizeof d) == 0 &&
               strstr(tsr_ctx_error_message(ctx), "z would be periodic on one side only"),
           "a refused text leaves the description alone");
    tsr_ctx_error_clear(ctx);
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "test_bc", &ctx);
    if (err)
        return tsr_finalize(&ctx, err);
    test_ghosts(ctx);
    test_refused(ctx);
    test_text(ctx);
    if (tsr_ctx_rank(ctx) == 0)
        printf("test_bc on %d ranks x %d threads: %d passed, %d failed\n", tsr_ctx_size(ctx),
               tsr_ctx_threads(ctx), passed, failed);
    int status = failed ? 1 : 0;
    tsr_finalize(&ctx, TSR_SUCCESS);
    return status;
}
