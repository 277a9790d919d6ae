/* Sweep: a kernel over tiles of the local blocks, with the exchange overlapped. */
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "exchange_impl.h"
#include "sweep_impl.h"
#include "tessera/report.h"

/* What a tile of a step that skips blocks at rest is: */
enum { REST_OFF, REST_INNER, REST_SHELL };
/* The bits of a block that has just arrived (tsr__sweep_rebuild), until tsr__sweep_rest_learn. */
#define REST_UNKNOWN 0xff

/* The shell of a block: the cells within `r` of the faces whose bit is set in `sides` (bit 2d:
 * low side of dimension d, bit 2d+1: high side), as up to 6 disjoint slabs. */
static int shell_boxes(int ndim, const int64_t n[TSR_MAX_DIM], int r, unsigned sides,
                       tsr_box out[6]) {
    tsr_box rest = {{0, 0, 0}, {n[0], n[1], n[2]}};
    int count = 0;
    for (int d = ndim - 1; d >= 0; d--) {
        int64_t lo = rest.lo[d], hi = rest.hi[d];
        int rl = sides >> (2 * d) & 1 ? r : 0, rh = sides >> (2 * d + 1) & 1 ? r : 0;
        int64_t cut_lo = lo + rl < hi ? lo + rl : hi;
        int64_t cut_hi = hi - rh > cut_lo ? hi - rh : cut_lo;
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
    s->min_nx = INT64_MAX;
    for (int64_t i = 0; ok && i < s->map->nlocal; i++) {
        tsr_box own;
        tsr__block_box(lay, s->map->local[i], &own);
        int64_t n[TSR_MAX_DIM];
        for (int d = 0; d < TSR_MAX_DIM; d++) {
            n[d] = own.hi[d] - own.lo[d];
            own.lo[d] = 0;
            own.hi[d] = n[d];
        }
        if (n[0] < s->min_nx)
            s->min_nx = n[0];
        ok = tsr__tile_box(lay->ndim, i, &own, tile_cells, &s->all, &s->nall, &cap_all);
        tsr_box inner = own;
        for (int d = 0; d < lay->ndim; d++) {
            inner.lo[d] = s->reach < n[d] ? s->reach : n[d];
            inner.hi[d] = n[d] - s->reach > inner.lo[d] ? n[d] - s->reach : inner.lo[d];
        }
        ok = ok && tsr__tile_box(lay->ndim, i, &inner, tile_cells, &s->inner, &s->ninner, &cap_in);
        tsr_box sh[6];
        int nsh = shell_boxes(lay->ndim, n, s->reach, 0x3f, sh);
        for (int k = 0; ok && k < nsh; k++)
            ok = tsr__tile_box(lay->ndim, i, &sh[k], tile_cells, &s->shell, &s->nshell, &cap_sh);
    }
    ok = ok && tsr__tiles_order(s->map, s->all, s->nall) &&
         (s->cost_all = calloc((size_t)s->nall + 1, sizeof(double))) &&
         (s->cost_inner = calloc((size_t)s->ninner + 1, sizeof(double))) &&
         (s->cost_shell = calloc((size_t)s->nshell + 1, sizeof(double))) &&
         (s->cost_block = calloc((size_t)s->map->nlocal + 1, sizeof(double))) &&
         (s->chg = malloc((size_t)s->map->nlocal + 1)) &&
         (s->nbr = calloc((size_t)s->map->nlocal + 1, 1)) &&
         (s->now = calloc((size_t)s->map->nlocal + 1, 1));
    TSR_CHECK(ctx, ok, TSR_ERR_MEMORY, "cannot allocate the sweep's tile lists");
    tsr__sweep_rest_forget(s);
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
    s->tile_cells = tile_cells;
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
        free((*sweep)->cost_all);
        free((*sweep)->cost_inner);
        free((*sweep)->cost_shell);
        free((*sweep)->cost_block);
        free((*sweep)->chg);
        free((*sweep)->nbr);
        free((*sweep)->now);
        free((*sweep)->early);
        free((*sweep)->late);
        free((*sweep)->cost_early);
        free((*sweep)->cost_late);
        free(*sweep);
        *sweep = NULL;
    }
    return TSR_SUCCESS;
}

int tsr__sweep_check_fields(tsr_sweep s, tsr_field *fields, int nfields) {
    TSR_CHECK(s->ctx, nfields >= 1 && nfields <= TSR_SWEEP_MAX_FIELDS, TSR_ERR_ARG,
              "%d fields in a sweep; 1 to %d are supported", nfields, TSR_SWEEP_MAX_FIELDS);
    for (int f = 0; f < nfields; f++)
        TSR_CHECK(s->ctx, fields[f] && fields[f]->map == s->map, TSR_ERR_ARG,
                  "field %d of the sweep is not on the sweep's map", f);
    return TSR_SUCCESS;
}

/* Did the step write, on the box, anything else than the state it read? fields[0 .. n) are the
 * states read, fields[n .. 2n) those written. Bits, not doubles: -0.0 and NaN count. */
static bool box_changed(tsr_field *fields, int n, int64_t block, const tsr_box *box) {
    for (int f = 0; f < n; f++) {
        const tsr_block *a = &fields[f]->blocks[block], *b = &fields[n + f]->blocks[block];
        size_t bytes = sizeof(double) * (size_t)(box->hi[0] - box->lo[0]);
        for (int c = 0; c < a->ncomp; c++)
            for (int64_t z = box->lo[2]; z < box->hi[2]; z++)
                for (int64_t y = box->lo[1]; y < box->hi[1]; y++)
                    if (memcmp(&TSR_AT(a, box->lo[0], y, z) + (ptrdiff_t)c * a->sc,
                               &TSR_AT(b, box->lo[0], y, z) + (ptrdiff_t)c * b->sc, bytes))
                        return true;
    }
    return false;
}

/* Runs the kernel on tile t; a failure is kept if it is the lowest tile so far. With `rest`, a
 * tile of a block at rest is skipped (an inner tile reads only its own block: false), and a
 * computed tile that changes its block marks it. */
static inline bool run_tile(tsr_sweep s, int rest, const tsr__tile *tile, int64_t t,
                            tsr_field *fields, int nfields, tsr_kernel kernel, void *user,
                            int64_t *failed, int *code) {
    int64_t b = tile->block;
    if (rest && !(s->chg[b] & TSR_X_CHANGED_LAST) && (rest == REST_INNER || !s->nbr[b]))
        return false;
    if (s->cols)
        tsr__halo_copy_columns(s->cols, b, &tile->box);
    tsr_block views[TSR_SWEEP_MAX_FIELDS];
    views[0] = fields[0]->blocks[b]; /* tsr__sweep_check_fields: at least one */
    for (int f = 1; f < nfields; f++)
        views[f] = fields[f]->blocks[b];
    int rc = kernel(views, nfields, &tile->box, user);
    if (rest && !rc && !__atomic_load_n(&s->now[b], __ATOMIC_RELAXED) &&
        box_changed(fields, nfields / 2, b, &tile->box))
        __atomic_store_n(&s->now[b], 1, __ATOMIC_RELAXED);
    if (rc) {
#pragma omp critical(tsr_sweep_error)
        if (*failed < 0 || t < *failed) {
            *failed = t;
            *code = rc;
        }
    }
    return true;
}

/* Runs the kernel on every tile, adding each tile's time to cost[t]; the first failure (lowest
 * tile) is reported. */
static int run_tiles(tsr_sweep s, int rest, const tsr__tile *tiles, double *cost, int64_t n,
                     int64_t cells, tsr_field *fields, int nfields, tsr_kernel kernel, void *user) {
    double t0 = tsr_wtime();
    int64_t failed = -1;
    int code = 0;
    /* Less than a tile of work is not worth waking the team for (oversubscribed ranks suffer
     * from threads spinning in between), and even an if(0) region costs a few hundred
     * nanoseconds, which small blocks feel: no region at all then. One clock read per tile: a
     * static schedule gives each thread consecutive tiles, so a tile ends where the next
     * begins. */
    if (cells > s->ctx->min_parallel_cells) {
#pragma omp parallel
        {
            double prev = omp_get_wtime();
#pragma omp for schedule(static)
            for (int64_t t = 0; t < n; t++) {
                /* A skipped tile costs nothing: no clock read (its few ns go to the next). */
                if (!run_tile(s, rest, &tiles[t], t, fields, nfields, kernel, user, &failed, &code))
                    continue;
                double now = omp_get_wtime();
                cost[t] += now - prev;
                prev = now;
            }
        }
    } else {
        double prev = omp_get_wtime();
        for (int64_t t = 0; t < n; t++) {
            if (!run_tile(s, rest, &tiles[t], t, fields, nfields, kernel, user, &failed, &code))
                continue;
            double now = omp_get_wtime();
            cost[t] += now - prev;
            prev = now;
        }
    }
    tsr_ctx_timer_add(s->ctx, TSR_TIMER_COMPUTE, tsr_wtime() - t0);
    TSR_CHECK(s->ctx, failed < 0, TSR_ERR_KERNEL, "kernel returned %d on block %lld of rank %d",
              code, (long long)(failed >= 0 ? s->map->local[tiles[failed].block] : -1),
              s->ctx->rank);
    return TSR_SUCCESS;
}

int tsr_sweep_apply(tsr_sweep s, tsr_field *fields, int nfields, tsr_kernel kernel, void *user) {
    TSR_CALL(s->ctx, tsr__sweep_check_fields(s, fields, nfields));
    TSR_CALL(s->ctx, run_tiles(s, REST_OFF, s->all, s->cost_all, s->nall, s->call, fields, nfields,
                               kernel, user));
    return TSR_SUCCESS;
}

/* The late sides of one block (shell_boxes' bits), from the pieces of its halo. */
typedef struct sides_of {
    tsr_map map;
    int rank;
    const int64_t *n;
    unsigned late;
    bool remote;
} sides_of;

/* A piece from another rank makes every side it lies beyond late: a ghost cell beyond sides S
 * is read only by cells within the reach of all of S, which are then in the shell. */
static bool note_piece(const tsr__piece *p, void *user) {
    sides_of *o = user;
    if (tsr_map_owner(o->map, p->src) == o->rank)
        return true;
    o->remote = true;
    for (int d = 0; d < TSR_MAX_DIM; d++) {
        if (p->db.lo[d] < 0)
            o->late |= 1u << (2 * d);
        if (p->db.hi[d] > o->n[d])
            o->late |= 1u << (2 * d + 1);
    }
    return true;
}

static int build_split(tsr_sweep s, tsr_halo halo) {
    tsr_ctx ctx = s->ctx;
    const tsr__layout *lay = &s->map->decomp->lay;
    free(s->early);
    free(s->late);
    free(s->cost_early);
    free(s->cost_late);
    s->early = s->late = NULL;
    s->cost_early = s->cost_late = NULL;
    s->nearly = s->nlate = s->cearly = s->clate = 0;
    s->split_built = s->split_remote = false;
    tsr__regions R;
    tsr__regions_halo(lay->ndim, tsr_halo_stencil(halo), tsr_halo_width(halo), &R);
    bool bc_early = tsr__halo_bc_early(halo);
    int64_t cap_e = 0, cap_l = 0;
    bool ok = true;
    for (int64_t i = 0; ok && i < s->map->nlocal; i++) {
        tsr_box own;
        tsr__block_box(lay, s->map->local[i], &own);
        int64_t n[TSR_MAX_DIM];
        sides_of o = {.map = s->map, .rank = ctx->rank, .n = n};
        for (int d = 0; d < TSR_MAX_DIM; d++) {
            n[d] = own.hi[d] - own.lo[d];
            /* Ghosts outside a non-periodic grid: the boundary conditions', at the end unless
             * written at the begin. */
            if (d < lay->ndim && !lay->periodic[d] && !bc_early)
                o.late |= (own.lo[d] == 0 ? 1u << (2 * d) : 0) |
                          (own.hi[d] == lay->n[d] ? 1u << (2 * d + 1) : 0);
            own.lo[d] = 0;
            own.hi[d] = n[d];
        }
        ok = tsr__pieces_into(lay, s->map->local[i], lay, &R, note_piece, &o);
        s->split_remote |= o.remote;
        tsr_box inner = own;
        for (int d = 0; d < lay->ndim; d++) {
            int rl = o.late >> (2 * d) & 1 ? s->reach : 0;
            int rh = o.late >> (2 * d + 1) & 1 ? s->reach : 0;
            inner.lo[d] = rl < n[d] ? rl : n[d];
            inner.hi[d] = n[d] - rh > inner.lo[d] ? n[d] - rh : inner.lo[d];
        }
        ok = ok &&
             tsr__tile_box(lay->ndim, i, &inner, s->tile_cells ? s->tile_cells : ctx->tile_cells,
                           &s->early, &s->nearly, &cap_e);
        tsr_box sh[6];
        int nsh = shell_boxes(lay->ndim, n, s->reach, o.late, sh);
        for (int k = 0; ok && k < nsh; k++)
            ok =
                tsr__tile_box(lay->ndim, i, &sh[k], s->tile_cells ? s->tile_cells : ctx->tile_cells,
                              &s->late, &s->nlate, &cap_l);
    }
    ok = ok && tsr__tiles_order(s->map, s->early, s->nearly) &&
         tsr__tiles_order(s->map, s->late, s->nlate) &&
         (s->cost_early = calloc((size_t)s->nearly + 1, sizeof(double))) &&
         (s->cost_late = calloc((size_t)s->nlate + 1, sizeof(double)));
    TSR_CHECK(ctx, ok, TSR_ERR_MEMORY, "cannot allocate the sweep's tile lists");
    for (int64_t t = 0; t < s->nearly; t++)
        s->cearly += tsr__box_cells(&s->early[t].box);
    for (int64_t t = 0; t < s->nlate; t++)
        s->clate += tsr__box_cells(&s->late[t].box);
    s->split_width = tsr_halo_width(halo);
    s->split_stencil = tsr_halo_stencil(halo);
    s->split_bc_early = bc_early;
    s->split_built = true;
    return TSR_SUCCESS;
}

/* The exchange and the kernel, the kernel overlapped with the exchange or after it; `rest`: skip
 * blocks at rest (tsr__sweep_rest_step). */
static int exchange_tiles(tsr_sweep s, int rest, tsr_halo halo, int nexchange, tsr_field *fields,
                          int nfields, tsr_kernel kernel, void *user, bool overlap);

/* With `defer` (the kernel does not write the exchanged fields), the x-face ghosts copied
 * between this rank's blocks are copied by the tile that reads them, just before its kernel:
 * with short rows, tiles are ordered by position in the grid (tsr__tiles_order), so the source
 * rows are those the tile before it (of the block on the left) or after it (the block on the
 * right) reads, and the lines are fetched once for both instead of in a separate pass; with
 * long rows they are a few lines per row. Only with a star stencil (a
 * face's ghosts are read by the tile holding the rows beside them, in 2D and 3D tiles of whole
 * rows) and boundary values written at the begin (a mirror written at the end would read them). */
static int apply_exchange(tsr_sweep s, int rest, tsr_halo halo, int nexchange, tsr_field *fields,
                          int nfields, tsr_kernel kernel, void *user, bool overlap, bool defer) {
    s->cols = NULL;
    TSR_CALL(s->ctx, tsr__sweep_check_fields(s, fields, nfields));
    /* Blocks at least two widths wide: the cells that read a side's ghosts are then in the tile
     * that touches that side (a shell of a late x side is `reach` wide). */
    defer = defer && !rest && s->map->decomp->lay.ndim >= 2 &&
            tsr_halo_stencil(halo) == TSR_STENCIL_STAR && tsr__halo_bc_early(halo) &&
            s->min_nx >= 2 * (int64_t)tsr_halo_width(halo);
    if (defer)
        tsr__halo_defer_columns(halo);
    int err = exchange_tiles(s, rest, halo, nexchange, fields, nfields, kernel, user, overlap);
    if (defer)
        tsr__halo_columns_done(halo);
    s->cols = NULL;
    return err;
}

static int exchange_tiles(tsr_sweep s, int rest, tsr_halo halo, int nexchange, tsr_field *fields,
                          int nfields, tsr_kernel kernel, void *user, bool overlap) {
    tsr_ctx ctx = s->ctx;
    TSR_CHECK(ctx, nexchange >= 1 && nexchange <= nfields, TSR_ERR_ARG,
              "%d fields to exchange out of %d", nexchange, nfields);
    TSR_CHECK(ctx, s->reach <= tsr_halo_width(halo), TSR_ERR_ARG,
              "the kernel reads %d cells away but the halo is %d wide", s->reach,
              tsr_halo_width(halo));
    if (rest)
        TSR_CALL(ctx, tsr__halo_track(halo, s->chg, s->nbr));
    TSR_CALL(ctx, tsr_halo_begin(halo, fields, nexchange));
    s->cols = halo; /* copies nothing unless the begin left the columns */
    if (!overlap) {
        TSR_CALL(ctx, tsr_halo_end(halo));
        TSR_CALL(ctx, run_tiles(s, rest ? REST_SHELL : REST_OFF, s->all, s->cost_all, s->nall,
                                s->call, fields, nfields, kernel, user));
        return TSR_SUCCESS;
    }
    int kerr;
    if (rest) {
        /* Blocks at rest: an inner tile must read only its own block (run_tile). */
        /* A failed kernel still completes the exchange: the neighbours are waiting for it. */
        kerr = run_tiles(s, REST_INNER, s->inner, s->cost_inner, s->ninner, s->cinner, fields,
                         nfields, kernel, user);
        TSR_CALL(ctx, tsr_halo_end(halo));
        if (!kerr)
            kerr = run_tiles(s, REST_SHELL, s->shell, s->cost_shell, s->nshell, s->cshell, fields,
                             nfields, kernel, user);
        TSR_CALL(ctx, kerr);
        return TSR_SUCCESS;
    }
    if (!s->split_built || s->split_width != tsr_halo_width(halo) ||
        s->split_stencil != tsr_halo_stencil(halo) ||
        s->split_bc_early != tsr__halo_bc_early(halo)) {
        /* Collective only in the agreement on failure, which every rank reaches here. */
        int err = build_split(s, halo);
        int e2 = tsr_halo_end(halo);
        TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
        TSR_CALL(ctx, e2);
        TSR_CALL(ctx, run_tiles(s, REST_OFF, s->all, s->cost_all, s->nall, s->call, fields, nfields,
                                kernel, user));
        return TSR_SUCCESS;
    }
    if (!s->split_remote) {
        /* Nothing to overlap with (every ghost is copied here or set at the end): one pass over
         * every tile, no shell read again after the interior. */
        TSR_CALL(ctx, tsr_halo_end(halo));
        TSR_CALL(ctx, run_tiles(s, REST_OFF, s->all, s->cost_all, s->nall, s->call, fields, nfields,
                                kernel, user));
        return TSR_SUCCESS;
    }
    /* A failed kernel still completes the exchange: the neighbours are waiting for it. */
    kerr = run_tiles(s, REST_OFF, s->early, s->cost_early, s->nearly, s->cearly, fields, nfields,
                     kernel, user);
    TSR_CALL(ctx, tsr_halo_end(halo));
    if (!kerr)
        kerr = run_tiles(s, REST_OFF, s->late, s->cost_late, s->nlate, s->clate, fields, nfields,
                         kernel, user);
    TSR_CALL(ctx, kerr);
    return TSR_SUCCESS;
}

int tsr_sweep_apply_exchange(tsr_sweep s, tsr_halo halo, int nexchange, tsr_field *fields,
                             int nfields, tsr_kernel kernel, void *user, bool overlap) {
    TSR_CALL(s->ctx, apply_exchange(s, REST_OFF, halo, nexchange, fields, nfields, kernel, user,
                                    overlap, false));
    return TSR_SUCCESS;
}

int tsr__sweep_step_exchange(tsr_sweep s, tsr_halo halo, int nexchange, tsr_field *fields,
                             int nfields, tsr_kernel kernel, void *user, bool overlap) {
    TSR_CALL(s->ctx, apply_exchange(s, REST_OFF, halo, nexchange, fields, nfields, kernel, user,
                                    overlap, true));
    return TSR_SUCCESS;
}

void tsr__sweep_rest_forget(tsr_sweep s) {
    memset(s->chg, TSR_X_CHANGED_LAST | TSR_X_CHANGED_BEFORE, (size_t)s->map->nlocal + 1);
}

void tsr__sweep_rest_learn(tsr_sweep s, tsr_field *fields, int nstate) {
    const tsr__layout *lay = &s->map->decomp->lay;
    for (int64_t i = 0; i < s->map->nlocal; i++) {
        if (s->chg[i] != REST_UNKNOWN)
            continue; /* stayed on this rank: its bits still hold */
        tsr_box own;
        tsr__block_box(lay, s->map->local[i], &own);
        for (int d = 0; d < TSR_MAX_DIM; d++) {
            own.hi[d] -= own.lo[d];
            own.lo[d] = 0;
        }
        s->chg[i] = box_changed(fields, nstate, i, &own)
                        ? (uint8_t)(TSR_X_CHANGED_LAST | TSR_X_CHANGED_BEFORE)
                        : 0;
    }
}

int tsr__sweep_rest_step(tsr_sweep s, tsr_halo halo, tsr_field *fields, int nstate,
                         tsr_kernel kernel, void *user, bool overlap) {
    int64_t n = s->map->nlocal;
    memset(s->nbr, 0, (size_t)n + 1);
    memset(s->now, 0, (size_t)n + 1);
    int err = apply_exchange(s, REST_SHELL, halo, nstate, fields, 2 * nstate, kernel, user, overlap,
                             false);
    /* Even after a failure: the neighbours' view of this rank's blocks must stay true. */
    for (int64_t i = 0; i < n; i++)
        s->chg[i] =
            (uint8_t)(((s->chg[i] << 1) | s->now[i]) & (TSR_X_CHANGED_LAST | TSR_X_CHANGED_BEFORE));
    TSR_CALL(s->ctx, err);
    return TSR_SUCCESS;
}

int tsr_sweep_block_costs(tsr_sweep s, double *costs, bool reset) {
    for (int64_t i = 0; i < s->map->nlocal; i++)
        costs[i] = s->cost_block[i];
    const tsr__tile *lists[5] = {s->all, s->inner, s->shell, s->early, s->late};
    double *cost[5] = {s->cost_all, s->cost_inner, s->cost_shell, s->cost_early, s->cost_late};
    int64_t counts[5] = {s->nall, s->ninner, s->nshell, s->nearly, s->nlate};
    for (int k = 0; k < 5; k++)
        for (int64_t t = 0; t < counts[k]; t++) {
            costs[lists[k][t].block] += cost[k][t];
            if (reset)
                cost[k][t] = 0;
        }
    if (reset)
        memset(s->cost_block, 0, sizeof(double) * (size_t)s->map->nlocal);
    return TSR_SUCCESS;
}

int tsr__sweep_rebuild(tsr_sweep s, tsr_map map, tsr_sweep *out) {
    TSR_CALL(s->ctx, tsr_sweep_create(map, s->reach, s->tile_cells, out));
    /* What is known about blocks at rest stays with the blocks that stay (same decomposition:
     * same boxes); blocks that arrive are unknown until tsr__sweep_rest_learn. Both local lists
     * are sorted by id. */
    tsr_sweep n = *out;
    memset(n->chg, REST_UNKNOWN, (size_t)map->nlocal + 1);
    for (int64_t i = 0, j = 0; map->decomp == s->map->decomp && i < map->nlocal; i++) {
        while (j < s->map->nlocal && s->map->local[j] < map->local[i])
            j++;
        if (j < s->map->nlocal && s->map->local[j] == map->local[i])
            n->chg[i] = s->chg[j];
    }
    return TSR_SUCCESS;
}

int tsr__skip_kernel(const tsr_block *f, int nf, const tsr_box *box, void *user) {
    (void)f;
    (void)nf;
    (void)box;
    (void)user;
    return 0;
}

int tsr_sweep_steps(tsr_sweep s, tsr_halo halo, tsr_field *u, tsr_field *v, int64_t steps,
                    tsr_kernel kernel, void *user, bool overlap, bool progress, double *seconds) {
    tsr_ctx ctx = s->ctx;
    tsr_progress prog;
    tsr_progress_start(&prog, ctx, steps, progress);
    /* Barriers only when timing: the steady-state loop makes no MPI call but the exchange's. */
    if (seconds)
        TSR_MPI(ctx, MPI_Barrier(ctx->comm));
    double t0 = tsr_wtime();
    int kerr = TSR_SUCCESS;
    for (int64_t step = 0; step < steps; step++) {
        tsr_field fields[2] = {*u, *v};
        int err = tsr__sweep_step_exchange(s, halo, 1, fields, 2, kerr ? tsr__skip_kernel : kernel,
                                           user, overlap);
        if (err == TSR_ERR_KERNEL && !kerr)
            kerr = err; /* keep exchanging, so that no neighbour waits for this rank */
        else
            TSR_CALL(ctx, err);
        *u = fields[1];
        *v = fields[0];
        tsr_progress_update(&prog, step + 1);
    }
    if (seconds) {
        TSR_MPI(ctx, MPI_Barrier(ctx->comm));
        *seconds = tsr_wtime() - t0;
    }
    tsr_progress_end(&prog);
    TSR_CALL(ctx, kerr);
    return TSR_SUCCESS;
}
