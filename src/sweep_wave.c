/* Temporal blocking: k steps per exchange, each block advanced as a wavefront. */
#include <omp.h>

#include "sweep_impl.h"
#include "tessera/report.h"

/* The wavefront of one block: `levels` steps from src (level 0, ghosts valid `levels * reach`
 * deep) alternating between the two fields. Level j covers the block grown by (levels - j) *
 * reach, clipped to the grid where it is not periodic. Slab q of level j is computed at
 * wavefront step q + lag * (j - 1): lag = reach + 1 slabs puts the rows level j+1 reads, and the
 * rows of level j-1 it overwrites, strictly behind level j, so all levels of one step are
 * independent and one barrier per step suffices. */
typedef struct wave {
    tsr_sweep s;
    int64_t block; /* local index */
    int levels, lag, seg_dim, dim;
    int64_t thick;                                  /* slab thickness along dim */
    int64_t lo[8][TSR_MAX_DIM], hi[8][TSR_MAX_DIM]; /* per level (1-based, up to 7) */
    int64_t base, nslabs;
} wave;

#define TSR_MAX_TIME_BLOCK 7

static void wave_bounds(wave *w, const tsr_block *b, const tsr__layout *lay) {
    int ndim = lay->ndim;
    w->dim = ndim - 1;
    w->seg_dim = ndim >= 2 ? ndim - 2 : -1;
    /* In 1D a slab of one cell would be one kernel call per cell: take chunks instead. */
    w->thick = ndim >= 2 ? 1 : 4096;
    int64_t reach_slabs = (w->s->reach + w->thick - 1) / w->thick;
    w->lag = (int)reach_slabs + 1;
    for (int j = 1; j <= w->levels; j++)
        for (int d = 0; d < TSR_MAX_DIM; d++) {
            int64_t ext = d < ndim ? (int64_t)(w->levels - j) * w->s->reach : 0;
            int64_t lo = -ext, hi = b->n[d] + ext;
            if (d < ndim && !lay->periodic[d]) {
                lo = lo < -b->lo[d] ? -b->lo[d] : lo;
                hi = hi > lay->n[d] - b->lo[d] ? lay->n[d] - b->lo[d] : hi;
            }
            w->lo[j][d] = lo;
            w->hi[j][d] = hi;
        }
    w->base = w->lo[1][w->dim];
    w->nslabs = (w->hi[1][w->dim] - w->base + w->thick - 1) / w->thick;
}

/* Runs one block's wavefront; returns the first failing kernel code (0 if none). */
static int wave_run(wave *w, tsr_field *fields, tsr_kernel kernel, void *user) {
    tsr_field f = fields[0], g = fields[1];
    const tsr_block *bu = &f->blocks[w->block], *bv = &g->blocks[w->block];
    int64_t nsteps = w->nslabs + (int64_t)w->lag * (w->levels - 1);
    int code = 0;
    int64_t cells = 1;
    for (int d = 0; d < TSR_MAX_DIM; d++)
        cells *= w->hi[1][d] - w->lo[1][d];
    bool parallel = cells > w->s->ctx->min_parallel_cells;
#pragma omp parallel if (parallel)
    {
        int nseg = parallel ? omp_get_num_threads() : 1;
        if (w->seg_dim < 0)
            nseg = 1;
        int64_t items = (int64_t)nseg * w->levels;
        for (int64_t y = 0; y < nsteps; y++) {
            /* Segment-major items: with a static schedule each thread keeps its own segment of
             * every level, so what it reads stays in its cache. */
#pragma omp for schedule(static)
            for (int64_t it = 0; it < items; it++) {
                int seg = (int)(it / w->levels), j = (int)(it % w->levels) + 1;
                int64_t q = y - (int64_t)w->lag * (j - 1);
                int64_t a = w->base + q * w->thick, b = a + w->thick;
                a = a > w->lo[j][w->dim] ? a : w->lo[j][w->dim];
                b = b < w->hi[j][w->dim] ? b : w->hi[j][w->dim];
                if (q < 0 || a >= b)
                    continue;
                tsr_box box;
                for (int d = 0; d < TSR_MAX_DIM; d++) {
                    box.lo[d] = w->lo[j][d];
                    box.hi[d] = w->hi[j][d];
                }
                box.lo[w->dim] = a;
                box.hi[w->dim] = b;
                if (w->seg_dim >= 0) {
                    int64_t lo = w->lo[j][w->seg_dim], n = w->hi[j][w->seg_dim] - lo;
                    box.lo[w->seg_dim] = lo + n * seg / nseg;
                    box.hi[w->seg_dim] = lo + n * (seg + 1) / nseg;
                    if (box.lo[w->seg_dim] >= box.hi[w->seg_dim])
                        continue;
                }
                /* Odd levels read f and write g, even levels the other way round. */
                tsr_block views[2] = {j % 2 ? *bu : *bv, j % 2 ? *bv : *bu};
                int rc = kernel(views, 2, &box, user);
                if (rc) {
#pragma omp critical(tsr_sweep_error)
                    if (!code)
                        code = rc;
                }
            }
        }
    }
    return code;
}

int tsr_sweep_steps_blocked(tsr_sweep s, tsr_halo halo, tsr_field *u, tsr_field *v, int64_t steps,
                            int k, tsr_kernel kernel, void *user, bool progress, double *seconds) {
    tsr_ctx ctx = s->ctx;
    const tsr__layout *lay = &s->map->decomp->lay;
    TSR_CHECK(ctx, k >= 1 && k <= TSR_MAX_TIME_BLOCK, TSR_ERR_INPUT,
              "time block %d: must be between 1 and %d", k, TSR_MAX_TIME_BLOCK);
    TSR_CHECK(ctx, (int64_t)k * s->reach <= tsr_halo_width(halo), TSR_ERR_INPUT,
              "time block %d needs a halo %d wide (k x the kernel's reach %d), the halo is %d", k,
              k * s->reach, s->reach, tsr_halo_width(halo));
    TSR_CHECK(ctx, k == 1 || lay->ndim == 1 || tsr_halo_stencil(halo) == TSR_STENCIL_BOX,
              TSR_ERR_ARG, "time block %d in %dD needs a halo with corners (TSR_STENCIL_BOX)", k,
              lay->ndim);
    bool fixed = true;
    if (k > 1 && tsr_halo_bc(halo))
        TSR_CALL(ctx, tsr_bc_is_static(tsr_halo_bc(halo), &fixed));
    TSR_CHECK(ctx, fixed, TSR_ERR_INPUT,
              "time block %d: the boundary conditions change between exchanges (Neumann or a "
              "function), but k steps per exchange read the ghosts k levels deep",
              k);
    TSR_CALL(ctx, tsr__sweep_check_fields(s, (tsr_field[]){*u, *v}, 2));
    tsr_progress prog;
    tsr_progress_start(&prog, ctx, steps, progress);
    if (seconds)
        TSR_MPI(ctx, MPI_Barrier(ctx->comm));
    double t0 = tsr_wtime();
    int kerr = TSR_SUCCESS;
    for (int64_t done = 0; done < steps;) {
        int levels = steps - done < k ? (int)(steps - done) : k;
        TSR_CALL(ctx, tsr_halo_exchange(halo, u, 1));
        double c0 = tsr_wtime();
        tsr_field fields[2] = {*u, *v};
        for (int64_t i = 0; i < s->map->nlocal; i++) {
            wave w = {.s = s, .block = i, .levels = levels};
            wave_bounds(&w, &(*u)->blocks[i], lay);
            double b0 = omp_get_wtime();
            int rc = wave_run(&w, fields, kerr ? tsr__skip_kernel : kernel, user);
            s->cost_block[i] += omp_get_wtime() - b0;
            if (rc && !kerr)
                kerr = tsr_error_set(ctx, TSR_ERR_KERNEL, __FILE__, __LINE__, __func__,
                                     "kernel returned %d on block %lld of rank %d", rc,
                                     (long long)s->map->local[i], ctx->rank);
        }
        tsr_ctx_timer_add(ctx, TSR_TIMER_COMPUTE, tsr_wtime() - c0);
        if (levels % 2) {
            tsr_field t = *u;
            *u = *v;
            *v = t;
        }
        done += levels;
        tsr_progress_update(&prog, done);
    }
    if (seconds) {
        TSR_MPI(ctx, MPI_Barrier(ctx->comm));
        *seconds = tsr_wtime() - t0;
    }
    tsr_progress_end(&prog);
    TSR_CALL(ctx, kerr);
    return TSR_SUCCESS;
}
