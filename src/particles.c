/* Particle containers on the blocks of a map, and their redistribution to the owning blocks. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "field_impl.h"
#include "particles_impl.h"

#define TSR__PMAX_COMPONENTS 64

static const tsr__layout *layout_of(tsr_particles p) {
    return &p->map->decomp->lay;
}

void tsr__pblock_point(tsr_particles p, tsr__pblock *blk) {
    for (int k = 0; k < p->nreal; k++)
        blk->real[k] = blk->mem ? (double *)(void *)tsr__pcol(blk, 7 + k) : NULL;
    for (int k = 0; k < p->nint; k++)
        blk->integ[k] = blk->mem ? (int64_t *)(void *)tsr__pcol(blk, 7 + p->nreal + k) : NULL;
}

bool tsr__particle_locate(const tsr__layout *lay, double x[3], int64_t *block) {
    int64_t c[TSR_MAX_DIM] = {0, 0, 0};
    for (int d = 0; d < lay->ndim; d++) {
        double n = (double)lay->n[d];
        if (!isfinite(x[d]))
            return false;
        if (lay->periodic[d] && (x[d] < 0.0 || x[d] >= n)) {
            x[d] -= n * floor(x[d] / n);
            /* a tiny negative x rounds to n: its image is 0 */
            if (x[d] >= n || x[d] < 0.0)
                x[d] = 0.0;
        }
        if (!(x[d] >= 0.0 && x[d] < n))
            return false;
        int64_t cell = (int64_t)floor(x[d]);
        if (cell >= lay->n[d]) /* x just below n */
            cell = lay->n[d] - 1;
        /* the last cut at or below the cell */
        int64_t lo = 0, hi = lay->nb[d] - 1;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo + 1) / 2;
            if (lay->cuts[d][mid] <= cell)
                lo = mid;
            else
                hi = mid - 1;
        }
        c[d] = lo;
    }
    *block = c[0] + lay->nb[0] * (c[1] + lay->nb[1] * c[2]);
    return true;
}

int tsr_particles_create(tsr_map map, int nreal, int nint, tsr_particles *out) {
    if (!map || !out)
        return TSR_ERR_ARG;
    *out = NULL;
    tsr_ctx ctx = map->ctx;
    int err = TSR_SUCCESS;
    if (ctx->rank == 0) {
        if (nreal < 0 || nreal > TSR__PMAX_COMPONENTS)
            err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                "particle real components must be 0 to %d, not %d",
                                TSR__PMAX_COMPONENTS, nreal);
        else if (nint < 0 || nint > TSR__PMAX_COMPONENTS)
            err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                "particle integer components must be 0 to %d, not %d",
                                TSR__PMAX_COMPONENTS, nint);
    }
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    tsr_particles p = NULL;
    err = tsr__calloc(ctx, 1, sizeof *p, &p);
    if (!err) {
        p->ctx = ctx;
        p->map = map;
        p->nreal = nreal;
        p->nint = nint;
        p->nblocks = map->nlocal;
        err =
            tsr__calloc(ctx, (size_t)(p->nblocks ? p->nblocks : 1), sizeof *p->blocks, &p->blocks);
    }
    for (int64_t b = 0; !err && b < p->nblocks; b++) {
        if (nreal > 0)
            err = tsr__calloc(ctx, (size_t)nreal, sizeof(double *), &p->blocks[b].real);
        if (!err && nint > 0)
            err = tsr__calloc(ctx, (size_t)nint, sizeof(int64_t *), &p->blocks[b].integ);
    }
    err = tsr_ctx_agree(ctx, err);
    if (err) {
        tsr_particles_destroy(&p);
        return err;
    }
    *out = p;
    return TSR_SUCCESS;
}

int tsr_particles_destroy(tsr_particles *pp) {
    if (!pp || !*pp)
        return TSR_SUCCESS;
    tsr_particles p = *pp;
    if (p->blocks)
        for (int64_t b = 0; b < p->nblocks; b++) {
            free(p->blocks[b].mem);
            free(p->blocks[b].real);
            free(p->blocks[b].integ);
        }
    free(p->blocks);
    free(p->sbuf);
    free(p->rbuf);
    free(p);
    *pp = NULL;
    return TSR_SUCCESS;
}

/* Room for `cap` particles in blk, keeping its contents. */
static int pblock_reserve(tsr_particles p, tsr__pblock *blk, int64_t cap) {
    if (cap <= blk->cap)
        return TSR_SUCCESS;
    tsr__pblock grown = *blk;
    grown.cap = cap;
    TSR_CALL(p->ctx,
             tsr__aligned_alloc(p->ctx, (size_t)cap * (size_t)TSR__PWORDS(p) * 8, &grown.mem));
    for (int k = 0; k < TSR__PWORDS(p) && blk->count > 0; k++)
        memcpy(tsr__pcol(&grown, k), tsr__pcol(blk, k), (size_t)blk->count * 8);
    free(blk->mem);
    *blk = grown;
    tsr__pblock_point(p, blk);
    return TSR_SUCCESS;
}

int tsr_particles_add(tsr_particles p, int64_t id, const double x[3], const double v[3],
                      const double *real, const int64_t *integ) {
    if (!p || !x)
        return TSR_ERR_ARG;
    tsr_ctx ctx = p->ctx;
    double pos[3] = {x[0], x[1], x[2]};
    int64_t block = -1;
    TSR_CHECK(ctx, tsr__particle_locate(layout_of(p), pos, &block), TSR_ERR_INPUT,
              "particle %lld at (%.17g, %.17g, %.17g) lies outside the domain", (long long)id, x[0],
              x[1], x[2]);
    int64_t lb = tsr__local_index(p->map, block);
    TSR_CHECK(ctx, lb >= 0, TSR_ERR_INPUT,
              "particle %lld at (%.17g, %.17g, %.17g) lies in block %lld of rank %d, not on "
              "rank %d",
              (long long)id, x[0], x[1], x[2], (long long)block, tsr__map_owner_of(p->map, block),
              ctx->rank);
    tsr__pblock *blk = &p->blocks[lb];
    p->gen++;
    if (blk->count == blk->cap)
        TSR_CALL(ctx, pblock_reserve(p, blk, blk->cap ? 2 * blk->cap : 16));
    int64_t i = blk->count++;
    ((int64_t *)(void *)tsr__pcol(blk, 0))[i] = id;
    for (int d = 0; d < 3; d++) {
        ((double *)(void *)tsr__pcol(blk, 1 + d))[i] = pos[d];
        ((double *)(void *)tsr__pcol(blk, 4 + d))[i] = v ? v[d] : 0.0;
    }
    for (int k = 0; k < p->nreal; k++)
        blk->real[k][i] = real ? real[k] : 0.0;
    for (int k = 0; k < p->nint; k++)
        blk->integ[k][i] = integ ? integ[k] : 0;
    return TSR_SUCCESS;
}

int tsr_particles_remove(tsr_particles p, int64_t lb, int64_t i) {
    if (!p)
        return TSR_ERR_ARG;
    TSR_CHECK(p->ctx, lb >= 0 && lb < p->nblocks, TSR_ERR_ARG,
              "local block %lld out of range (%lld local blocks)", (long long)lb,
              (long long)p->nblocks);
    tsr__pblock *blk = &p->blocks[lb];
    TSR_CHECK(p->ctx, i >= 0 && i < blk->count, TSR_ERR_ARG,
              "particle %lld out of range (%lld in local block %lld)", (long long)i,
              (long long)blk->count, (long long)lb);
    p->gen++;
    int64_t last = --blk->count;
    for (int k = 0; k < TSR__PWORDS(p); k++)
        memcpy(tsr__pcol(blk, k) + (size_t)i * 8, tsr__pcol(blk, k) + (size_t)last * 8, 8);
    return TSR_SUCCESS;
}

int64_t tsr_particles_local_blocks(tsr_particles p) {
    return p ? p->nblocks : 0;
}

int tsr_particles_block(tsr_particles p, int64_t lb, tsr_particle_block *view) {
    if (!p || !view || lb < 0 || lb >= p->nblocks)
        return TSR_ERR_ARG;
    const tsr__pblock *blk = &p->blocks[lb];
    memset(view, 0, sizeof *view);
    view->block = p->map->local[lb];
    tsr__block_box(layout_of(p), view->block, &view->box);
    view->count = blk->count;
    if (!blk->mem)
        return TSR_SUCCESS;
    view->id = (int64_t *)(void *)tsr__pcol(blk, 0);
    for (int d = 0; d < 3; d++) {
        view->x[d] = (double *)(void *)tsr__pcol(blk, 1 + d);
        view->v[d] = (double *)(void *)tsr__pcol(blk, 4 + d);
    }
    view->real = blk->real;
    view->integ = blk->integ;
    return TSR_SUCCESS;
}

int64_t tsr_particles_local_count(tsr_particles p) {
    int64_t n = 0;
    for (int64_t b = 0; p && b < p->nblocks; b++)
        n += p->blocks[b].count;
    return n;
}

int tsr_particles_global_count(tsr_particles p, int64_t *n) {
    if (!p || !n)
        return TSR_ERR_ARG;
    int64_t mine = tsr_particles_local_count(p);
    TSR_MPI(p->ctx, MPI_Allreduce(&mine, n, 1, MPI_INT64_T, MPI_SUM, p->ctx->comm));
    return TSR_SUCCESS;
}

int tsr_particles_nreal(tsr_particles p) {
    return p ? p->nreal : 0;
}
int tsr_particles_nint(tsr_particles p) {
    return p ? p->nint : 0;
}
tsr_map tsr_particles_map(tsr_particles p) {
    return p ? p->map : NULL;
}
