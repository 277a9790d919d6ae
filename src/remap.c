/* Remap and migration: the exchange engine's plan between two maps, onto owned boxes. */
#include <stdlib.h>

#include "exchange_impl.h"
#include "tessera/remap.h"

struct tsr_remap_s {
    tsr_ctx ctx;
    tsr__xplan *plan;
};

/* Every rank holds both layouts, so this check gives the same verdict everywhere. */
static int same_grid(tsr_ctx ctx, tsr_map from, tsr_map to) {
    const tsr__layout *a = &from->decomp->lay, *b = &to->decomp->lay;
    TSR_CHECK(ctx, from->ctx == to->ctx, TSR_ERR_ARG, "remap between maps of different contexts");
    bool same = a->ndim == b->ndim;
    for (int d = 0; d < TSR_MAX_DIM; d++)
        same = same && a->n[d] == b->n[d];
    TSR_CHECK(ctx, same, TSR_ERR_ARG, "remap between grids of different sizes");
    return TSR_SUCCESS;
}

int tsr_remap_create(tsr_map from, tsr_map to, tsr_remap *plan) {
    tsr_ctx ctx = from->ctx;
    *plan = NULL;
    TSR_CALL(ctx, same_grid(ctx, from, to));
    tsr_remap r;
    TSR_CALL(ctx, tsr__calloc(ctx, 1, sizeof *r, &r));
    r->ctx = ctx;
    tsr__regions R;
    tsr__regions_remap(&R);
    int err = tsr__xplan_create(from, to, &R, &r->plan);
    if (err) {
        free(r);
        return tsr_error_trace(ctx, err, __FILE__, __LINE__, __func__);
    }
    *plan = r;
    return TSR_SUCCESS;
}

int tsr_remap_destroy(tsr_remap *plan) {
    if (plan && *plan) {
        tsr__xplan_destroy(&(*plan)->plan);
        free(*plan);
        *plan = NULL;
    }
    return TSR_SUCCESS;
}

int tsr_remap_execute(tsr_remap plan, tsr_field *src, tsr_field *dst, int nfields) {
    TSR_CALL(plan->ctx, tsr__xplan_begin(plan->plan, src, dst, nfields));
    TSR_CALL(plan->ctx, tsr__xplan_end(plan->plan));
    return TSR_SUCCESS;
}

int tsr_remap_stats(tsr_remap plan, int64_t *cells_received, int64_t *bytes_sent) {
    int peers;
    int64_t sent, copied;
    tsr__xplan_stats(plan->plan, &peers, &sent, cells_received, &copied);
    *bytes_sent = sent * (int64_t)sizeof(double);
    return TSR_SUCCESS;
}

int tsr_field_migrate(tsr_field *fields, int nfields, tsr_map to) {
    TSR_CHECK(to->ctx, nfields >= 0 && nfields <= TSR_X_MAX_FIELDS, TSR_ERR_ARG,
              "%d fields to migrate; 0 to %d are supported", nfields, TSR_X_MAX_FIELDS);
    if (nfields == 0)
        return TSR_SUCCESS;
    tsr_ctx ctx = to->ctx;
    tsr_field moved[TSR_X_MAX_FIELDS] = {NULL};
    tsr_remap plan = NULL;
    int err = tsr_remap_create(fields[0]->map, to, &plan);
    for (int f = 0; !err && f < nfields; f++) {
        err = fields[f]->map == fields[0]->map
                  ? TSR_SUCCESS
                  : tsr_error_set(ctx, TSR_ERR_ARG, __FILE__, __LINE__, __func__,
                                  "fields to migrate together must share a map");
        if (!err)
            err = tsr__field_create_like(fields[f], to, &moved[f]);
    }
    if (!err)
        err = tsr_remap_execute(plan, fields, moved, nfields);
    tsr_remap_destroy(&plan);
    /* The handles keep their identity: each takes over its moved contents, and the temporary
     * handle takes the old storage away with it. */
    for (int f = 0; !err && f < nfields; f++) {
        struct tsr_field_s old = *fields[f];
        *fields[f] = *moved[f];
        *moved[f] = old;
        fields[f]->comp_names = old.comp_names; /* the names stay with the handle */
        moved[f]->comp_names = NULL;
    }
    for (int f = 0; f < nfields; f++)
        tsr_field_destroy(&moved[f]);
    TSR_CALL(ctx, err);
    return TSR_SUCCESS;
}
