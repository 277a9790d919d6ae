/* Sweep: a kernel over tiles of the local blocks, with the exchange overlapped. */
#include <stdlib.h>
#include <string.h>

#include "field_impl.h"
#include "tessera/report.h"

#define TSR_SWEEP_MAX_FIELDS 16

struct tsr_sweep_s {
    tsr_ctx ctx;
    tsr_map map;
    int reach;
    tsr__tile *all, *inner, *shell;
    int64_t nall, ninner, nshell;
    int64_t call, cinner, cshell; /* cells in each list */
};

/* The shell of a block: the cells within `r` of its faces, as up to 6 disjoint slabs. */
static int shell_boxes(int ndim, const int64_t n[TSR_MAX_DIM], int r, tsr_box out[6]) {
    tsr_box rest = {{0, 0, 0}, {n[0], n[1], n[2]}};
    int count = 0;
    for (int d = ndim - 1; d >= 0; d--) {
        int64_t lo = rest.lo[d], hi = rest.hi[d];
        int64_t cut_lo = lo + r < hi ? lo + r : hi;
        int64_t cut_hi = hi - r > cut_lo ? hi - r : cut_lo;
        tsr_box a = rest, b = rest;
        a.hi[d] = cut_lo;
        b.lo[d] = cut_hi;
        if (tsr__box_cells(&a) > 0)
            out[count++] = a;
        if (tsr__box_cells(&b) > 0)
            out[count++] = b;
        rest.lo[d] = cut_lo;
        rest.hi[d] = cut_hi;
    }
    return count;
}

static int sweep_build(tsr_sweep s, int64_t tile_cells) {
    tsr_ctx ctx = s->ctx;
    const tsr__layout *lay = &s->map->decomp->lay;
    int64_t cap_all = 0, cap_in = 0, cap_sh = 0;
    bool ok = true;
    for (int64_t i = 0; ok && i < s->map->nlocal; i++) {
        tsr_box own;
        tsr__block_box(lay, s->map->local[i], &own);
        int64_t n[TSR_MAX_DIM];
        for (int d = 0; d < TSR_MAX_DIM; d++) {
            n[d] = own.hi[d] - own.lo[d];
            own.lo[d] = 0;
            own.hi[d] = n[d];
        }
        ok = tsr__tile_box(lay->ndim, i, &own, tile_cells, &s->all, &s->nall, &cap_all);
        tsr_box inner = own;
        for (int d = 0; d < lay->ndim; d++) {
            inner.lo[d] = s->reach < n[d] ? s->reach : n[d];
            inner.hi[d] = n[d] - s->reach > inner.lo[d] ? n[d] - s->reach : inner.lo[d];
        }
        ok = ok && tsr__tile_box(lay->ndim, i, &inner, tile_cells, &s->inner, &s->ninner, &cap_in);
        tsr_box sh[6];
        int nsh = shell_boxes(lay->ndim, n, s->reach, sh);
        for (int k = 0; ok && k < nsh; k++)
            ok = tsr__tile_box(lay->ndim, i, &sh[k], tile_cells, &s->shell, &s->nshell, &cap_sh);
    }
    TSR_CHECK(ctx, ok, TSR_ERR_MEMORY, "cannot allocate the sweep's tile lists");
    for (int64_t t = 0; t < s->nall; t++)
        s->call += tsr__box_cells(&s->all[t].box);
    for (int64_t t = 0; t < s->ninner; t++)
        s->cinner += tsr__box_cells(&s->inner[t].box);
    for (int64_t t = 0; t < s->nshell; t++)
        s->cshell += tsr__box_cells(&s->shell[t].box);
    return TSR_SUCCESS;
}

int tsr_sweep_create(tsr_map map, int reach, int64_t tile_cells, tsr_sweep *sweep) {
    tsr_ctx ctx = map->ctx;
    *sweep = NULL;
    TSR_CHECK(ctx, reach >= 0, TSR_ERR_ARG, "sweep reach %d must be non-negative", reach);
    TSR_CHECK(ctx, tile_cells >= 0, TSR_ERR_ARG, "tile size %lld must be non-negative",
              (long long)tile_cells);
    tsr_sweep s;
    TSR_CALL(ctx, tsr__calloc(ctx, 1, sizeof *s, &s));
    s->ctx = ctx;
    s->map = map;
    s->reach = reach;
    int err = sweep_build(s, tile_cells ? tile_cells : ctx->tile_cells);
    if (err) {
        tsr_sweep_destroy(&s);
        return tsr_error_trace(ctx, err, __FILE__, __LINE__, __func__);
    }
    *sweep = s;
    return TSR_SUCCESS;
}

int tsr_sweep_destroy(tsr_sweep *sweep) {
    if (sweep && *sweep) {
        free((*sweep)->all);
        free((*sweep)->inner);
        free((*sweep)->shell);
        free(*sweep);
        *sweep = NULL;
    }
    return TSR_SUCCESS;
}

static int check_fields(tsr_sweep s, tsr_field *fields, int nfields) {
    TSR_CHECK(s->ctx, nfields >= 1 && nfields <= TSR_SWEEP_MAX_FIELDS, TSR_ERR_ARG,
              "%d fields in a sweep; 1 to %d are supported", nfields, TSR_SWEEP_MAX_FIELDS);
    for (int f = 0; f < nfields; f++)
        TSR_CHECK(s->ctx, fields[f] && fields[f]->map == s->map, TSR_ERR_ARG,
                  "field %d of the sweep is not on the sweep's map", f);
    return TSR_SUCCESS;
}

/* Runs the kernel on every tile; the first failure (lowest tile) is reported. */
static int run_tiles(tsr_sweep s, const tsr__tile *tiles, int64_t n, int64_t cells,
                     tsr_field *fields, int nfields, tsr_kernel kernel, void *user) {
    double t0 = tsr_wtime();
    int64_t failed = -1;
    int code = 0;
    /* Less than a tile of work is not worth waking the team for; oversubscribed ranks suffer
     * from threads spinning in between. */
#pragma omp parallel for schedule(static) if (cells > s->ctx->min_parallel_cells)
    for (int64_t t = 0; t < n; t++) {
        tsr_block views[TSR_SWEEP_MAX_FIELDS];
        for (int f = 0; f < nfields; f++)
            views[f] = fields[f]->blocks[tiles[t].block];
        int rc = kernel(views, nfields, &tiles[t].box, user);
        if (rc) {
#pragma omp critical(tsr_sweep_error)
            if (failed < 0 || t < failed) {
                failed = t;
                code = rc;
            }
        }
    }
    tsr_ctx_timer_add(s->ctx, TSR_TIMER_COMPUTE, tsr_wtime() - t0);
    TSR_CHECK(s->ctx, failed < 0, TSR_ERR_KERNEL, "kernel returned %d on block %lld", code,
              (long long)(failed >= 0 ? s->map->local[tiles[failed].block] : -1));
    return TSR_SUCCESS;
}

int tsr_sweep_apply(tsr_sweep s, tsr_field *fields, int nfields, tsr_kernel kernel, void *user) {
    TSR_CALL(s->ctx, check_fields(s, fields, nfields));
    TSR_CALL(s->ctx, run_tiles(s, s->all, s->nall, s->call, fields, nfields, kernel, user));
    return TSR_SUCCESS;
}

int tsr_sweep_apply_exchange(tsr_sweep s, tsr_halo halo, int nexchange, tsr_field *fields,
                             int nfields, tsr_kernel kernel, void *user, bool overlap) {
    tsr_ctx ctx = s->ctx;
    TSR_CALL(ctx, check_fields(s, fields, nfields));
    TSR_CHECK(ctx, nexchange >= 1 && nexchange <= nfields, TSR_ERR_ARG,
              "%d fields to exchange out of %d", nexchange, nfields);
    TSR_CHECK(ctx, s->reach <= tsr_halo_width(halo), TSR_ERR_ARG,
              "the kernel reads %d cells away but the halo is %d wide", s->reach,
              tsr_halo_width(halo));
    TSR_CALL(ctx, tsr_halo_begin(halo, fields, nexchange));
    if (!overlap) {
        TSR_CALL(ctx, tsr_halo_end(halo));
        TSR_CALL(ctx, run_tiles(s, s->all, s->nall, s->call, fields, nfields, kernel, user));
        return TSR_SUCCESS;
    }
    TSR_CALL(ctx, run_tiles(s, s->inner, s->ninner, s->cinner, fields, nfields, kernel, user));
    TSR_CALL(ctx, tsr_halo_end(halo));
    TSR_CALL(ctx, run_tiles(s, s->shell, s->nshell, s->cshell, fields, nfields, kernel, user));
    return TSR_SUCCESS;
}

int tsr_sweep_steps(tsr_sweep s, tsr_halo halo, tsr_field *u, tsr_field *v, int64_t steps,
                    tsr_kernel kernel, void *user, bool overlap, bool progress, double *seconds) {
    tsr_ctx ctx = s->ctx;
    tsr_progress prog;
    tsr_progress_start(&prog, ctx, steps, progress);
    TSR_MPI(ctx, MPI_Barrier(ctx->comm));
    double t0 = tsr_wtime();
    for (int64_t step = 0; step < steps; step++) {
        tsr_field fields[2] = {*u, *v};
        TSR_CALL(ctx, tsr_sweep_apply_exchange(s, halo, 1, fields, 2, kernel, user, overlap));
        *u = fields[1];
        *v = fields[0];
        tsr_progress_update(&prog, step + 1);
    }
    TSR_MPI(ctx, MPI_Barrier(ctx->comm));
    if (seconds)
        *seconds = tsr_wtime() - t0;
    tsr_progress_end(&prog);
    return TSR_SUCCESS;
}
