/* Decomposition: tensor-product cuts of the grid into blocks, computed on rank 0. */
#include <stdlib.h>
#include <string.h>

#include "layout_impl.h"

void tsr__cuts(int64_t n, int64_t nb, int64_t *cuts) {
    int64_t base = n / nb, rem = n % nb;
    for (int64_t i = 0; i <= nb; i++)
        cuts[i] = i * base + (i < rem ? i : rem);
}

/* Halo surface of a rank grid: cut planes times their cross-section. */
static double surface(const tsr_extents *size, const bool *periodic, const int64_t p[3]) {
    double s = 0;
    for (int d = 0; d < size->ndim; d++) {
        double cross = 1;
        for (int e = 0; e < size->ndim; e++)
            if (e != d)
                cross *= (double)size->n[e];
        int64_t planes = p[d] == 1 ? 0 : (periodic && periodic[d]) ? p[d] : p[d] - 1;
        s += (double)planes * cross;
    }
    return s;
}

/* Best factorisation of m onto the grid, or false if none fits. */
static bool best_factorization(const tsr_extents *size, const bool *periodic, int64_t m,
                               int64_t best[3]) {
    bool found = false;
    double best_s = 0;
    int64_t p[3] = {1, 1, 1};
    for (p[0] = 1; p[0] <= m; p[0]++) {
        if (m % p[0] || p[0] > size->n[0])
            continue;
        int64_t rest = m / p[0];
        for (p[1] = 1; p[1] <= rest; p[1]++) {
            if (rest % p[1])
                continue;
            p[2] = rest / p[1];
            bool fits = true;
            for (int d = 0; d < TSR_MAX_DIM; d++)
                if (p[d] > (d < size->ndim ? size->n[d] : 1))
                    fits = false;
            if (!fits)
                continue;
            double s = surface(size, periodic, p);
            if (!found || s < best_s) {
                found = true;
                best_s = s;
                memcpy(best, p, sizeof p);
            }
        }
    }
    return found;
}

bool tsr__default_blocks(const tsr_extents *size, const bool *periodic, int nranks,
                         tsr_extents *blocks) {
    int64_t cells = tsr_extents_volume(size);
    if (cells < nranks)
        return false;
    int64_t p[3];
    for (int64_t m = nranks; m <= cells; m++) {
        if (best_factorization(size, periodic, m, p)) {
            blocks->ndim = size->ndim;
            for (int d = 0; d < TSR_MAX_DIM; d++)
                blocks->n[d] = p[d];
            return true;
        }
    }
    return false;
}

bool tsr__layout_cut(tsr__layout *lay) {
    lay->nblocks = 1;
    for (int d = 0; d < TSR_MAX_DIM; d++) {
        lay->cuts[d] = malloc(sizeof(int64_t) * (size_t)(lay->nb[d] + 1));
        if (!lay->cuts[d])
            return false;
        tsr__cuts(lay->n[d], lay->nb[d], lay->cuts[d]);
        lay->nblocks *= lay->nb[d];
    }
    return true;
}

void tsr__layout_free(tsr__layout *lay) {
    for (int d = 0; d < TSR_MAX_DIM; d++) {
        free(lay->cuts[d]);
        lay->cuts[d] = NULL;
    }
}

void tsr__block_coords(const tsr__layout *lay, int64_t id, int64_t c[TSR_MAX_DIM]) {
    c[0] = id % lay->nb[0];
    c[1] = (id / lay->nb[0]) % lay->nb[1];
    c[2] = id / (lay->nb[0] * lay->nb[1]);
}

void tsr__block_box(const tsr__layout *lay, int64_t id, tsr_box *box) {
    int64_t c[TSR_MAX_DIM];
    tsr__block_coords(lay, id, c);
    for (int d = 0; d < TSR_MAX_DIM; d++) {
        box->lo[d] = lay->cuts[d][c[d]];
        box->hi[d] = lay->cuts[d][c[d] + 1];
    }
}

int64_t tsr__box_cells(const tsr_box *b) {
    int64_t v = 1;
    for (int d = 0; d < TSR_MAX_DIM; d++)
        v *= b->hi[d] > b->lo[d] ? b->hi[d] - b->lo[d] : 0;
    return v;
}

int64_t tsr__block_cells(const tsr__layout *lay, int64_t id) {
    tsr_box b;
    tsr__block_box(lay, id, &b);
    return tsr__box_cells(&b);
}

/* Checks a request on rank 0 and fills nb. */
static int decomp_plan(tsr_ctx ctx, const tsr__layout *g, const tsr_decomp_opts *o,
                       int64_t nb[TSR_MAX_DIM]) {
    const tsr_extents *req = NULL;
    const char *what = NULL;
    TSR_CHECK(ctx, !(o && o->blocks.ndim && o->block_size.ndim), TSR_ERR_INPUT,
              "give either --blocks or --block-size, not both");
    if (o && o->blocks.ndim)
        req = &o->blocks, what = "--blocks";
    else if (o && o->block_size.ndim)
        req = &o->block_size, what = "--block-size";
    static const char axis[] = "xyz";
    if (req) {
        TSR_CHECK(ctx, req->ndim == g->ndim, TSR_ERR_INPUT,
                  "%s has %d dimension%s but the grid has %d", what, req->ndim,
                  req->ndim == 1 ? "" : "s", g->ndim);
        for (int d = 0; d < g->ndim; d++) {
            TSR_CHECK(ctx, req->n[d] > 0, TSR_ERR_INPUT, "%s: sizes must be positive", what);
            nb[d] = req == &o->blocks ? req->n[d] : (g->n[d] + req->n[d] - 1) / req->n[d];
            TSR_CHECK(ctx, nb[d] <= g->n[d], TSR_ERR_INPUT,
                      "partition too fine: %lld blocks along %c for a grid of %lld cells",
                      (long long)nb[d], axis[d], (long long)g->n[d]);
        }
        for (int d = g->ndim; d < TSR_MAX_DIM; d++)
            nb[d] = 1;
    } else {
        tsr_extents size = {.ndim = g->ndim, .n = {g->n[0], g->n[1], g->n[2]}};
        tsr_extents blocks;
        TSR_CHECK(ctx, tsr__default_blocks(&size, g->periodic, ctx->size, &blocks), TSR_ERR_INPUT,
                  "the grid has %lld cells, fewer than the %d ranks",
                  (long long)tsr_extents_volume(&size), ctx->size);
        for (int d = 0; d < TSR_MAX_DIM; d++)
            nb[d] = blocks.n[d];
    }
    int64_t total = nb[0] * nb[1] * nb[2];
    TSR_CHECK(ctx, total >= ctx->size || (o && o->allow_idle), TSR_ERR_INPUT,
              "partition too coarse: %lld blocks for %d ranks (use more blocks, or allow idle "
              "ranks with --allow-idle)",
              (long long)total, ctx->size);
    return TSR_SUCCESS;
}

int tsr_decomp_create(tsr_grid grid, const tsr_decomp_opts *opts, tsr_decomp *decomp) {
    tsr_ctx ctx = grid->ctx;
    *decomp = NULL;
    tsr__layout g = {.ndim = grid->size.ndim};
    for (int d = 0; d < TSR_MAX_DIM; d++) {
        g.n[d] = grid->size.n[d];
        g.periodic[d] = grid->periodic[d];
    }
    int64_t nb[TSR_MAX_DIM] = {1, 1, 1};
    int err = ctx->rank == 0 ? decomp_plan(ctx, &g, opts, nb) : TSR_SUCCESS;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    /* The coordinator's block counts are the ones everybody uses. */
    TSR_MPI(ctx, MPI_Bcast(nb, TSR_MAX_DIM, MPI_INT64_T, 0, ctx->comm));

    tsr_decomp dc;
    TSR_CALL(ctx, tsr__calloc(ctx, 1, sizeof *dc, &dc));
    dc->ctx = ctx;
    dc->grid = grid;
    dc->lay = g;
    memcpy(dc->lay.nb, nb, sizeof nb);
    bool ok = tsr__layout_cut(&dc->lay);
    err = tsr_ctx_agree(ctx, ok ? TSR_SUCCESS
                                : tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                                "cannot allocate the block cuts"));
    if (err) {
        tsr_decomp_destroy(&dc);
        return tsr_error_trace(ctx, err, __FILE__, __LINE__, __func__);
    }
    *decomp = dc;
    return TSR_SUCCESS;
}

int tsr_decomp_destroy(tsr_decomp *decomp) {
    if (decomp && *decomp) {
        tsr__layout_free(&(*decomp)->lay);
        free(*decomp);
        *decomp = NULL;
    }
    return TSR_SUCCESS;
}

tsr_grid tsr_decomp_grid(tsr_decomp d) {
    return d->grid;
}
int64_t tsr_decomp_nblocks(tsr_decomp d) {
    return d->lay.nblocks;
}
int64_t tsr_decomp_blocks_along(tsr_decomp d, int dim) {
    return dim >= 0 && dim < TSR_MAX_DIM ? d->lay.nb[dim] : 1;
}

int tsr_decomp_block_box(tsr_decomp d, int64_t id, tsr_box *box) {
    TSR_CHECK(d->ctx, id >= 0 && id < d->lay.nblocks, TSR_ERR_ARG,
              "block id %lld out of range [0, %lld)", (long long)id, (long long)d->lay.nblocks);
    tsr__block_box(&d->lay, id, box);
    return TSR_SUCCESS;
}

int64_t tsr_decomp_block_cells(tsr_decomp d, int64_t id) {
    return tsr__block_cells(&d->lay, id);
}

int tsr__directions(int ndim, tsr_stencil stencil, int dirs[TSR_MAX_DIRS][TSR_MAX_DIM]) {
    int count = 0;
    int zr = ndim >= 3 ? 1 : 0, yr = ndim >= 2 ? 1 : 0;
    for (int dz = -zr; dz <= zr; dz++)
        for (int dy = -yr; dy <= yr; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                int nonzero = (dx != 0) + (dy != 0) + (dz != 0);
                if (nonzero == 0 || (stencil == TSR_STENCIL_STAR && nonzero > 1))
                    continue;
                dirs[count][0] = dx;
                dirs[count][1] = dy;
                dirs[count][2] = dz;
                count++;
            }
    return count;
}

int64_t tsr__neighbor(const tsr__layout *lay, int64_t id, const int dir[TSR_MAX_DIM]) {
    int64_t c[TSR_MAX_DIM];
    tsr__block_coords(lay, id, c);
    for (int d = 0; d < TSR_MAX_DIM; d++) {
        c[d] += dir[d];
        if (c[d] < 0 || c[d] >= lay->nb[d]) {
            if (!lay->periodic[d])
                return -1;
            c[d] = (c[d] + lay->nb[d]) % lay->nb[d];
        }
    }
    return c[0] + lay->nb[0] * (c[1] + lay->nb[1] * c[2]);
}

int tsr__width_violation(const tsr__layout *lay, int width, int64_t *block) {
    for (int d = 0; d < lay->ndim; d++) {
        if (lay->nb[d] == 1 && !lay->periodic[d])
            continue; /* no neighbours along d */
        for (int64_t i = 0; i < lay->nb[d]; i++) {
            if (lay->cuts[d][i + 1] - lay->cuts[d][i] < width) {
                int64_t c[TSR_MAX_DIM] = {0, 0, 0};
                c[d] = i;
                *block = c[0] + lay->nb[0] * (c[1] + lay->nb[1] * c[2]);
                return d;
            }
        }
    }
    return -1;
}

int tsr_split_range(int64_t n, int parts, int part, int64_t *lo, int64_t *hi) {
    if (n < 0 || parts < 1 || part < 0 || part >= parts || !lo || !hi)
        return TSR_ERR_ARG;
    int64_t base = n / parts, extra = n % parts;
    *lo = part * base + (part < extra ? part : extra);
    *hi = *lo + base + (part < extra ? 1 : 0);
    return TSR_SUCCESS;
}
