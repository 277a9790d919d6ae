/* Halo exchange: the exchange engine's plan from a map to itself, with the stencil's regions. */
#include <stdlib.h>

#include "bc_impl.h"
#include "exchange_impl.h"

struct tsr_halo_s {
    tsr_ctx ctx;
    tsr_map map;
    int width;
    tsr_stencil stencil;
    tsr__xplan *plan;
    tsr_bc bc; /* applied after every exchange; NULL: none */
    tsr_field fields[TSR_X_MAX_FIELDS];
    int nfields;
    bool active;
    bool bc_begun; /* the current exchange wrote the boundary at its begin */
};

static int halo_validate(tsr_ctx ctx, const tsr__layout *lay, int width, tsr_stencil stencil) {
    TSR_CHECK(ctx, width >= 1, TSR_ERR_INPUT, "halo width %d must be at least 1", width);
    TSR_CHECK(ctx, stencil == TSR_STENCIL_STAR || stencil == TSR_STENCIL_BOX, TSR_ERR_INPUT,
              "unknown stencil shape %d", (int)stencil);
    /* Ghosts may span several blocks, but not wrap around a periodic grid more than once. */
    for (int d = 0; d < lay->ndim; d++)
        TSR_CHECK(ctx, !lay->periodic[d] || width <= lay->n[d], TSR_ERR_INPUT,
                  "halo width %d is wider than the periodic grid, which has %lld cells along %c",
                  width, (long long)lay->n[d], "xyz"[d]);
    return TSR_SUCCESS;
}

int tsr_halo_create(tsr_map map, int width, tsr_stencil stencil, tsr_halo *halo) {
    tsr_ctx ctx = map->ctx;
    *halo = NULL;
    const tsr__layout *lay = &map->decomp->lay;
    int err = ctx->rank == 0 ? halo_validate(ctx, lay, width, stencil) : TSR_SUCCESS;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    tsr_halo h;
    TSR_CALL(ctx, tsr__calloc(ctx, 1, sizeof *h, &h));
    h->ctx = ctx;
    h->map = map;
    h->width = width;
    h->stencil = stencil;
    tsr__regions R;
    tsr__regions_halo(lay->ndim, stencil, width, &R);
    err = tsr__xplan_acquire(map, map, &R, &h->plan);
    if (err) {
        free(h);
        return tsr_error_trace(ctx, err, __FILE__, __LINE__, __func__);
    }
    *halo = h;
    return TSR_SUCCESS;
}

int tsr_halo_destroy(tsr_halo *halo) {
    if (!halo || !*halo)
        return TSR_SUCCESS;
    tsr__xplan_release(&(*halo)->plan);
    free(*halo);
    *halo = NULL;
    return TSR_SUCCESS;
}

int tsr_halo_begin(tsr_halo h, tsr_field *fields, int nfields) {
    tsr_ctx ctx = h->ctx;
    for (int f = 0; f < nfields; f++)
        TSR_CHECK(ctx, !fields[f] || fields[f]->map != h->map || fields[f]->width >= h->width,
                  TSR_ERR_ARG, "field '%s' has ghost width %d, the halo plan needs %d",
                  fields[f]->name, fields[f]->width, h->width);
    TSR_CALL(ctx, tsr__xplan_begin(h->plan, fields, fields, nfields));
    for (int f = 0; f < nfields; f++)
        h->fields[f] = fields[f];
    h->nfields = nfields;
    h->active = true;
    /* Constant values depend on nothing the exchange brings: written now, they are there for
     * the interior, and the sweep need not leave the cells next to them for after the end. */
    h->bc_begun = tsr__halo_bc_early(h);
    if (h->bc_begun && h->bc) {
        double t0 = tsr_wtime();
        TSR_CALL(ctx, tsr__bc_apply(h->bc, h->fields, h->nfields));
        tsr_ctx_timer_add(ctx, TSR_TIMER_UNPACK, tsr_wtime() - t0);
    }
    return TSR_SUCCESS;
}

bool tsr__halo_bc_early(tsr_halo h) {
    bool fixed = true;
    if (h->bc && tsr_bc_is_static(h->bc, &fixed) != TSR_SUCCESS)
        fixed = false;
    return fixed;
}

int tsr_halo_end(tsr_halo h) {
    tsr_ctx ctx = h->ctx;
    h->active = false;
    TSR_CALL(ctx, tsr__xplan_end(h->plan));
    /* Written at the begin, unless a side became a mirror or a function since then. */
    if (h->bc_begun && tsr__halo_bc_early(h))
        return TSR_SUCCESS;
    /* The cells outside the domain, from their neighbours inside it. */
    double t0 = tsr_wtime();
    TSR_CALL(ctx, tsr__bc_apply(h->bc, h->fields, h->nfields));
    tsr_ctx_timer_add(ctx, TSR_TIMER_UNPACK, tsr_wtime() - t0);
    return TSR_SUCCESS;
}

int tsr__halo_exchange_inside(tsr_halo h, tsr_field *fields, int nfields) {
    TSR_CHECK(h->ctx, !h->active, TSR_ERR_ARG, "an exchange during another");
    TSR_CALL(h->ctx, tsr__xplan_begin(h->plan, fields, fields, nfields));
    TSR_CALL(h->ctx, tsr__xplan_end(h->plan));
    return TSR_SUCCESS;
}

int tsr__halo_track(tsr_halo h, const uint8_t *chg, uint8_t *nbr) {
    TSR_CHECK(h->ctx, !h->active, TSR_ERR_ARG, "change tracking set during an exchange");
    tsr__xplan_track(h->plan, chg, nbr);
    return TSR_SUCCESS;
}

void tsr__halo_defer_columns(tsr_halo h) {
    tsr__xplan_defer_columns(h->plan);
}

void tsr__halo_copy_columns(tsr_halo h, int64_t local, const tsr_box *tile) {
    tsr__xplan_copy_columns(h->plan, local, tile);
}

void tsr__halo_columns_done(tsr_halo h) {
    tsr__xplan_columns_done(h->plan);
}

int64_t tsr__halo_columns_deferred(tsr_halo h) {
    return tsr__xplan_columns_deferred(h->plan);
}

bool tsr__halo_timeless(tsr_halo h) {
    return tsr__bc_timeless(h->bc);
}

int tsr_halo_exchange(tsr_halo h, tsr_field *fields, int nfields) {
    TSR_CALL(h->ctx, tsr_halo_begin(h, fields, nfields));
    TSR_CALL(h->ctx, tsr_halo_end(h));
    return TSR_SUCCESS;
}

int tsr_halo_set_bc(tsr_halo h, tsr_bc bc) {
    TSR_CHECK(h->ctx, !h->active, TSR_ERR_ARG, "tsr_halo_set_bc during an exchange");
    TSR_CALL(h->ctx, tsr__bc_check_map(bc, h->map));
    h->bc = bc;
    return TSR_SUCCESS;
}

tsr_bc tsr_halo_bc(tsr_halo h) {
    return h->bc;
}

int tsr_halo_width(tsr_halo h) {
    return h->width;
}
tsr_stencil tsr_halo_stencil(tsr_halo h) {
    return h->stencil;
}
tsr_map tsr_halo_map(tsr_halo h) {
    return h->map;
}

int tsr_halo_stats(tsr_halo h, int *peers, int64_t *bytes_sent) {
    int64_t sent, received, copied;
    tsr__xplan_stats(h->plan, peers, &sent, &received, &copied);
    *bytes_sent = sent * (int64_t)sizeof(double);
    return TSR_SUCCESS;
}
