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

/* The piece search's answer for one destination block: its single piece, if there is one. */
typedef struct single {
    int n;
    tsr__piece p;
} single;

static bool note_piece(const tsr__piece *pc, void *user) {
    single *s = user;
    if (s->n++ == 0)
        s->p = *pc;
    return true;
}

/* keep[i]: the local index in `from` of the block with the same box as local block i of `to`
 * when this rank holds it, else -1. */
static void staying_blocks(tsr_map from, tsr_map to, int64_t *keep) {
    const tsr__layout *S = &from->decomp->lay, *D = &to->decomp->lay;
    tsr__regions R;
    tsr__regions_remap(&R);
    for (int64_t i = 0; i < to->nlocal; i++) {
        single s = {0};
        tsr__pieces_into(D, to->local[i], S, &R, note_piece, &s);
        keep[i] = -1;
        if (s.n != 1 || tsr__map_owner_of(from, s.p.src) != from->ctx->rank)
            continue;
        tsr_box b;
        tsr__block_box(S, s.p.src, &b);
        bool whole = true; /* one piece covering the destination block is all of the source? */
        for (int d = 0; d < TSR_MAX_DIM; d++)
            whole = whole && s.p.sb.lo[d] == 0 && s.p.sb.hi[d] == b.hi[d] - b.lo[d];
        if (whole)
            keep[i] = tsr__local_index(from, s.p.src);
    }
}

int tsr_field_migrate(tsr_field *fields, int nfields, tsr_map to) {
    tsr_ctx ctx = to->ctx;
    TSR_CHECK(ctx, nfields >= 0, TSR_ERR_ARG, "%d fields to migrate", nfields);
    if (nfields == 0)
        return TSR_SUCCESS;
    for (int f = 0; f < nfields; f++)
        TSR_CHECK(ctx, fields[f] && fields[f]->map == fields[0]->map, TSR_ERR_ARG,
                  "fields to migrate together must share a map");
    tsr_map from = fields[0]->map;
    tsr_remap plan = NULL;
    TSR_CALL(ctx, tsr_remap_create(from, to, &plan));
    /* Blocks that stay lend their storage to the new fields: the plan's copy of a block onto its
     * own memory is skipped, and only arriving blocks are allocated and received. Nothing here
     * is collective until one agreement for all of it. */
    tsr_field *moved = NULL;
    int64_t *keep = NULL;
    int err = tsr__calloc(ctx, (size_t)nfields, sizeof *moved, &moved);
    if (!err)
        err = tsr__calloc(ctx, (size_t)to->nlocal + 1, sizeof *keep, &keep);
    if (!err)
        staying_blocks(from, to, keep);
    for (int f = 0; !err && f < nfields; f++)
        err = tsr__field_create_like(fields[f], to, keep, &moved[f]);
    err = tsr_ctx_agree(ctx, err);
    /* One plan, as many fields per message as an exchange takes (fields and components). */
    for (int f = 0, n = 0; !err && f < nfields; f += n) {
        int comps = fields[f]->ncomp;
        for (n = 1; f + n < nfields && n < TSR_X_MAX_FIELDS &&
                    comps + fields[f + n]->ncomp <= TSR_X_MAX_COMPS;
             n++)
            comps += fields[f + n]->ncomp;
        err = tsr_remap_execute(plan, fields + f, moved + f, n);
    }
    tsr_remap_destroy(&plan);
    /* The storage that stayed belongs to one field: the new one if all went well, else the old. */
    for (int f = 0; keep && f < nfields && moved[f]; f++)
        for (int64_t i = 0; i < to->nlocal; i++)
            if (keep[i] >= 0) {
                if (err)
                    moved[f]->storage[i] = NULL;
                else
                    fields[f]->storage[keep[i]] = NULL;
            }
    /* The handles keep their identity: each takes over its moved contents, and the temporary
     * handle takes the old storage away with it. */
    for (int f = 0; !err && f < nfields; f++) {
        struct tsr_field_s old = *fields[f];
        *fields[f] = *moved[f];
        *moved[f] = old;
        fields[f]->comp_names = old.comp_names; /* the names stay with the handle */
        moved[f]->comp_names = NULL;
    }
    for (int f = 0; moved && f < nfields; f++)
        tsr_field_destroy(&moved[f]);
    free(moved);
    free(keep);
    TSR_CALL(ctx, err);
    return TSR_SUCCESS;
}
