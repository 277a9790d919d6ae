/* Temporal blocking: k steps per exchange, each block advanced as a wavefront. */
#include <sched.h>

#include <omp.h>

#include "sweep_impl.h"
#include "tessera/report.h"

/* The wavefront of one block: `levels` steps from level 0 (ghosts valid `levels * reach` deep),
 * alternating between the two fields. Level j covers the block grown by (levels - j) * reach,
 * clipped to the grid where it is not periodic.
 *
 * Along `dim` (the outermost dimension) the levels advance as a wavefront of slabs: slab q of
 * level j is computed at step q + lag * (j - 1), lag = reach slabs, levels in increasing order
 * within a step. The slabs of level j-1 that level j reads were then computed at this step or
 * before (the last one earlier in this step), and the slabs of level j-2 that level j overwrites
 * were last read by level j-1 at this step or before. One slab less of lag than putting them
 * strictly behind, so about half the slabs live per level. Against that, measured (bench/ab.py,
 * medians of 6 pairs, 1x2 / 2x1): 8192^2 at k = 8 1.17 / 1.22x faster, k = 6 1.16 / 1.21x,
 * 256^3 at k = 8 1.26 / 1.11x; k = 4 and 2, whose slabs fitted the cache already, unchanged.
 *
 * Along `seg_dim` (the next one) the block is cut into strips, each small enough that the slabs
 * its wavefront keeps live (about levels * lag of them) stay in a core's cache, and skewed: strip
 * m of level j is [c_m - j * skew, c_{m+1} - j * skew), skew >= reach (a whole cache line when
 * strips cut rows, so that no line is written by two strips), so level j of strip m reads level
 * j-1 only in strips m-1 and m (strips at least skew + reach wide), and what it overwrites is
 * read only by strips m-1 and m. Strip m therefore depends on strip m-1 alone, never on m+1: step y
 * of strip m may start once strip m-1 has completed step y (what step y reads of strip m-1 may be
 * what strip m-1 computes at step y). Threads take strips round-robin and wait only for the
 * progress counter of the strip below theirs (release/acquire), never in a barrier; strip 0
 * never waits, and the others follow it one step behind, as a pipeline. Which cells are computed
 * from which values does not depend on the strips or the threads: the bits are those of one
 * step at a time. */
typedef struct wave {
    tsr_sweep s;
    int64_t block; /* local index */
    int levels, lag, seg_dim, dim;
    int64_t thick; /* slab thickness along dim */
    int64_t lo[TSR_MAX_TIME_BLOCK + 1][TSR_MAX_DIM], hi[TSR_MAX_TIME_BLOCK + 1][TSR_MAX_DIM];
    int64_t base, nslabs;
    int64_t nstrips, strip_lo, strip_n; /* strips of [strip_lo, strip_lo + strip_n) along seg_dim */
    int64_t skew, align;                /* shift of a strip per level; its boundaries' multiple */
} wave;

/* One strip's progress: steps completed, on a cache line of its own. */
typedef struct wave_flag {
    _Alignas(64) int64_t done;
    char pad[64 - sizeof(int64_t)];
} wave_flag;

/* Cells the live slabs of one strip may hold: a quarter of a 2 MiB L2 cache with the default tile
 * size (the rest: the band read from the strip below, the rows streaming in, the other field).
 * Measured at 8192^2 and 256^3, k = 8, 1x2 and 2x1 (MLUP/s): 2 tiles 4050 / 2780 (3D), 4 tiles
 * 4140 / 2370, 8 tiles 2400 / 1500. */
#define WAVE_STRIP_CELLS(tile_cells) (2 * (tile_cells))

/* At most this many cells in the live rows of a strip cut along rows: 7/16 of the L2. With the
 * 1 MiB L2 of a Zen 5 core, 8192^2 at k = 8 then runs in strips of 2048 cells instead of 4096:
 * 1.14x (1x2) and 1.18x (2x1) faster; k = 6 and 4 keep 4096 (2048 measured 0.95x / 1.04x at
 * k = 6, 0.91x at k = 4). With a 2 MiB L2 it changes nothing. */
#define WAVE_ROW_CELLS(l2_bytes) ((l2_bytes)*7 / 16 / (int64_t)sizeof(double))

/* At most this many strips per block (their progress counters live on the stack: the steady
 * state allocates nothing); far more than the cache asks for with the default tile size. */
#define WAVE_MAX_STRIPS 256

/* The widest strip along rows (cells). */
#define WAVE_MAX_ROW 4096

static void wave_bounds(wave *w, const tsr_block *b, const tsr__layout *lay, int threads) {
    int ndim = lay->ndim;
    int64_t r = w->s->reach;
    w->dim = ndim - 1;
    w->seg_dim = ndim >= 2 ? ndim - 2 : -1;
    /* In 1D a slab of one cell would be one kernel call per cell: take chunks instead. */
    w->thick = ndim >= 2 ? 1 : 4096;
    int64_t reach_slabs = (r + w->thick - 1) / w->thick;
    w->lag = (int)reach_slabs;
    for (int j = 1; j <= w->levels; j++)
        for (int d = 0; d < TSR_MAX_DIM; d++) {
            int64_t ext = d < ndim ? (int64_t)(w->levels - j) * r : 0;
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
    w->nstrips = 1;
    if (w->seg_dim < 0)
        return;
    /* Strips of level 1's extent (the others are skewed from it); as many as the cache asks
     * for, a multiple of the threads so that none idles in the last round, none narrower than
     * skew + reach (then strip m reads only strips m-1 and m). */
    int64_t slab = w->thick; /* cells of one slab per unit of seg_dim */
    for (int d = 0; d < ndim; d++)
        if (d != w->dim && d != w->seg_dim)
            slab *= w->hi[1][d] - w->lo[1][d];
    int64_t live = (int64_t)w->levels * w->lag + 2;
    /* Strips cut along rows twice as large: short rows cost more than the cache they save. */
    int64_t budget = WAVE_STRIP_CELLS(w->s->ctx->tile_cells) * (w->seg_dim == 0 ? 2 : 1);
    if (w->seg_dim == 0 && budget > WAVE_ROW_CELLS(w->s->ctx->l2_bytes))
        budget = WAVE_ROW_CELLS(w->s->ctx->l2_bytes);
    int64_t n = w->hi[1][w->seg_dim] - w->lo[1][w->seg_dim];
    int64_t width = budget / (live * (slab > 0 ? slab : 1));
    /* Rows of at most 32 KiB: 8192^2 at k = 6 in one strip of whole rows ran 20% slower (2x1). */
    if (w->seg_dim == 0 && width > WAVE_MAX_ROW)
        width = WAVE_MAX_ROW;
    width = width > 1 ? width : 1;
    int64_t m = (n + width - 1) / width;
    m = (m + threads - 1) / threads * threads;
    m = m < WAVE_MAX_STRIPS ? m : WAVE_MAX_STRIPS;
    /* Strips cut along rows (x) share no cache line: boundaries and skew by whole lines. */
    w->align = w->seg_dim == 0 ? 8 : 1;
    w->skew = (r + w->align - 1) / w->align * w->align;
    int64_t least = w->skew + r + w->align - 1;
    int64_t widest = least > 0 ? n / least : n;
    m = m < widest ? m : widest;
    w->nstrips = m > 1 ? m : 1;
    w->strip_lo = w->lo[1][w->seg_dim];
    w->strip_n = n;
}

/* c_m: the lower edge of strip m at level 0, a multiple of w->align. Shifted up by the mean
 * skew, so that the first strip (whose levels shrink as they skew down) and the last (whose
 * levels grow) get as many cells as the others over all levels. */
static int64_t strip_edge(const wave *w, int64_t m) {
    int64_t c = w->strip_lo + w->strip_n * m / w->nstrips + w->skew * (w->levels + 1) / 2;
    int64_t rem = c % w->align;
    return rem < 0 ? c - rem - w->align : c - rem;
}

/* Level j's range along seg_dim in strip m: [c_m - j skew, c_{m+1} - j skew) within the level, the
 * first strip open below and the last open above. */
static void strip_range(const wave *w, int64_t m, int j, int64_t *a, int64_t *b) {
    int64_t lo = w->lo[j][w->seg_dim], hi = w->hi[j][w->seg_dim];
    int64_t shift = (int64_t)j * w->skew;
    int64_t ca = strip_edge(w, m) - shift, cb = strip_edge(w, m + 1) - shift;
    *a = m == 0 || ca < lo ? lo : ca;
    *b = m == w->nstrips - 1 || cb > hi ? hi : cb;
}

/* Waits until *done reaches `until`: spinning a little, then yielding the core (ranks and
 * threads may outnumber the cores, and the strip below may be waiting for one). */
static void wave_wait(int64_t *done, int64_t until) {
    for (int spin = 0; __atomic_load_n(done, __ATOMIC_ACQUIRE) < until; spin++) {
        if (spin < 4096) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        } else {
            sched_yield();
        }
    }
}

/* One strip's wavefront; returns the first failing kernel code (0 if none). */
static int strip_run(const wave *w, int64_t m, wave_flag *flags, tsr_field *fields,
                     tsr_kernel kernel, void *user) {
    const tsr_block *bu = &fields[0]->blocks[w->block], *bv = &fields[1]->blocks[w->block];
    int64_t nsteps = w->nslabs + (int64_t)w->lag * (w->levels - 1);
    int64_t below = 0; /* what strip m-1 was last seen to have completed */
    int code = 0;
    for (int64_t y = 0; y < nsteps; y++) {
        if (m > 0 && below <= y) {
            wave_wait(&flags[m - 1].done, y + 1);
            below = __atomic_load_n(&flags[m - 1].done, __ATOMIC_ACQUIRE);
        }
        for (int j = 1; j <= w->levels; j++) {
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
                strip_range(w, m, j, &box.lo[w->seg_dim], &box.hi[w->seg_dim]);
                if (box.lo[w->seg_dim] >= box.hi[w->seg_dim])
                    continue;
            }
            /* Odd levels read f and write g, even levels the other way round. */
            tsr_block views[2] = {j % 2 ? *bu : *bv, j % 2 ? *bv : *bu};
            int rc = kernel(views, 2, &box, user);
            if (rc && !code)
                code = rc;
        }
        __atomic_store_n(&flags[m].done, y + 1, __ATOMIC_RELEASE);
    }
    return code;
}

/* Runs one block's wavefront, strips round-robin over the threads; returns the first failing
 * kernel code (0 if none). */
static int wave_run(wave *w, bool parallel, wave_flag *flags, tsr_field *fields, tsr_kernel kernel,
                    void *user) {
    int code = 0;
    for (int64_t m = 0; m < w->nstrips; m++)
        flags[m].done = 0;
#pragma omp parallel if (parallel)
    {
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
        int mine = 0;
        for (int64_t m = t; m < w->nstrips; m += nt) {
            int rc = strip_run(w, m, flags, fields, kernel, user);
            mine = mine ? mine : rc;
        }
        if (mine) {
#pragma omp critical(tsr_sweep_error)
            if (!code)
                code = mine;
        }
    }
    return code;
}

/* Threads for one block's wavefront: one unless the block is worth a parallel region and has a
 * dimension to cut into strips. */
static int wave_threads(tsr_sweep s, const tsr_block *b) {
    int64_t cells = b->n[0] * b->n[1] * b->n[2];
    return s->map->decomp->lay.ndim >= 2 && cells > s->ctx->min_parallel_cells ? s->ctx->threads
                                                                               : 1;
}

/* The exchanges and wavefronts of tsr_sweep_steps_blocked, once its arguments are checked. */
static int blocked_loop(tsr_sweep s, tsr_halo halo, tsr_field *u, tsr_field *v, int64_t steps,
                        int k, tsr_kernel kernel, void *user, tsr_progress *prog) {
    tsr_ctx ctx = s->ctx;
    wave_flag flags[WAVE_MAX_STRIPS];
    const tsr__layout *lay = &s->map->decomp->lay;
    int kerr = TSR_SUCCESS;
    for (int64_t done = 0; done < steps;) {
        int levels = steps - done < k ? (int)(steps - done) : k;
        TSR_CALL(ctx, tsr_halo_exchange(halo, u, 1));
        double c0 = tsr_wtime();
        tsr_field fields[2] = {*u, *v};
        for (int64_t i = 0; i < s->map->nlocal; i++) {
            wave w = {.s = s, .block = i, .levels = levels};
            int threads = wave_threads(s, &(*u)->blocks[i]);
            wave_bounds(&w, &(*u)->blocks[i], lay, threads);
            double b0 = omp_get_wtime();
            int rc =
                wave_run(&w, threads > 1, flags, fields, kerr ? tsr__skip_kernel : kernel, user);
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
        tsr_progress_update(prog, done);
    }
    return kerr;
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
    /* A kernel failure (this rank's alone) comes back after the last exchange. */
    int err = blocked_loop(s, halo, u, v, steps, k, kernel, user, &prog);
    TSR_CALL(ctx, err == TSR_ERR_KERNEL ? TSR_SUCCESS : err);
    if (seconds) {
        TSR_MPI(ctx, MPI_Barrier(ctx->comm));
        *seconds = tsr_wtime() - t0;
    }
    tsr_progress_end(&prog);
    TSR_CALL(ctx, err);
    return TSR_SUCCESS;
}
