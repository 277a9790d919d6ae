/* The exchange engine's plans: copy plans from box intersections (pieces.c), one aggregated
 * message per peer rank. Both sides sort the same pieces by (peer, dst, region, src, image), so
 * offsets in a message agree without any negotiation; a plan costs O(local blocks x pieces).
 * Executing them is exchange_run.c. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xplan_impl.h"

static int cmp_xfer(const void *a, const void *b) {
    const xfer *x = a, *y = b;
    if (x->peer != y->peer)
        return x->peer < y->peer ? -1 : 1;
    if (x->p.dst != y->p.dst)
        return x->p.dst < y->p.dst ? -1 : 1;
    if (x->p.region != y->p.region)
        return x->p.region < y->p.region ? -1 : 1;
    if (x->p.src != y->p.src)
        return x->p.src < y->p.src ? -1 : 1;
    for (int d = TSR_MAX_DIM - 1; d >= 0; d--)
        if (x->p.image[d] != y->p.image[d])
            return x->p.image[d] < y->p.image[d] ? -1 : 1;
    return 0;
}

static bool push(xlist *l, const xfer *x) {
    if (l->n == l->cap) {
        int64_t nc = l->cap ? 2 * l->cap : 64;
        xfer *a = realloc(l->a, sizeof *a * (size_t)nc);
        if (!a)
            return false;
        l->a = a;
        l->cap = nc;
    }
    l->a[l->n++] = *x;
    return true;
}

/* A remap piece that is the whole owned box of its source and of its destination block: where
 * both fields have the same width and components, their padded arrays have the same strides, so
 * the piece is one contiguous span on both sides (see whole_span). */
static bool whole_piece(const tsr__xplan *p, const tsr__piece *pc) {
    if (p->R.width != 0)
        return false;
    tsr_box s, d;
    tsr__block_box(&p->from->decomp->lay, pc->src, &s);
    tsr__block_box(&p->to->decomp->lay, pc->dst, &d);
    for (int k = 0; k < TSR_MAX_DIM; k++)
        if (pc->image[k] || pc->sb.lo[k] != 0 || pc->db.lo[k] != 0 ||
            pc->sb.hi[k] != s.hi[k] - s.lo[k] || pc->db.hi[k] != d.hi[k] - d.lo[k])
            return false;
    return true;
}

typedef struct build_ctx {
    tsr__xplan *p;
    int64_t local;
    bool sending;
} build_ctx;

static bool add_piece(const tsr__piece *pc, void *user) {
    build_ctx *b = user;
    tsr__xplan *p = b->p;
    int rank = p->ctx->rank;
    xfer x = {
        .p = *pc, .local = b->local, .cells = tsr__box_cells(&pc->db), .whole = whole_piece(p, pc)};
    if (b->sending) {
        x.peer = tsr__map_owner_of(p->to, pc->dst);
        return x.peer == rank || push(&p->sends, &x); /* local pieces: the receiving side */
    }
    x.peer = tsr__map_owner_of(p->from, pc->src);
    if (x.peer != rank)
        return push(&p->recvs, &x);
    x.peer = -1;
    x.other = tsr__local_index(p->from, pc->src);
    p->copy_cells += x.cells;
    return push(&p->copies, &x);
}

/* Groups sorted transfers by peer and sets their offsets. */
static int group(tsr_ctx ctx, xlist *l, peer **peers, int *npeers) {
    if (l->n > 0) /* a rank without neighbours has no list at all */
        qsort(l->a, (size_t)l->n, sizeof *l->a, cmp_xfer);
    int np = 0;
    for (int64_t i = 0; i < l->n; i++)
        np += i == 0 || l->a[i].peer != l->a[i - 1].peer;
    TSR_CALL(ctx, tsr__calloc(ctx, (size_t)np + 1, sizeof **peers, peers));
    *npeers = np;
    int k = -1;
    for (int64_t i = 0; i < l->n; i++) {
        xfer *x = &l->a[i];
        if (i == 0 || x->peer != l->a[i - 1].peer) {
            k++;
            (*peers)[k].rank = x->peer;
            (*peers)[k].first = i;
        }
        peer *pr = &(*peers)[k];
        x->pk = k;
        x->offset = pr->cells;
        x->poff = pr->cells - pr->wcells;
        pr->cells += x->cells;
        pr->count++;
        pr->wcells += x->whole ? x->cells : 0;
        pr->nwhole += x->whole;
    }
    return TSR_SUCCESS;
}

/* A box that is one run of consecutive cells in memory: part of a single row. */
static bool one_row(const tsr_box *b) {
    return b->hi[1] - b->lo[1] == 1 && b->hi[2] - b->lo[2] == 1;
}

static int xplan_build(tsr__xplan *p, const tsr__regions *R) {
    tsr_ctx ctx = p->ctx;
    const tsr__layout *S = &p->from->decomp->lay, *D = &p->to->decomp->lay;
    bool ok = true;
    build_ctx b = {.p = p};
    for (int64_t i = 0; ok && i < p->to->nlocal; i++) {
        b.local = i;
        ok = tsr__pieces_into(D, p->to->local[i], S, R, add_piece, &b);
    }
    b.sending = true;
    for (int64_t i = 0; ok && i < p->from->nlocal; i++) {
        b.local = i;
        ok = tsr__pieces_from(S, p->from->local[i], D, R, add_piece, &b);
    }
    TSR_CHECK(ctx, ok, TSR_ERR_MEMORY, "cannot allocate the exchange plan");
    TSR_CALL(ctx, group(ctx, &p->sends, &p->speers, &p->nspeers));
    TSR_CALL(ctx, group(ctx, &p->recvs, &p->rpeers, &p->nrpeers));
    TSR_CALL(ctx, tsr__calloc(ctx, (size_t)p->copies.n + 1, sizeof *p->live, &p->live));
    for (int k = 0; k < p->nspeers; k++)
        p->nwhole += p->speers[k].nwhole;
    for (int k = 0; k < p->nrpeers; k++)
        p->nwhole += p->rpeers[k].nwhole;
    for (int k = 0; k < p->nspeers; k++)
        p->speers[k].direct =
            p->speers[k].count == 1 && one_row(&p->sends.a[p->speers[k].first].p.sb);
    for (int k = 0; k < p->nrpeers; k++)
        p->rpeers[k].direct =
            p->rpeers[k].count == 1 && one_row(&p->recvs.a[p->rpeers[k].first].p.db);
    /* One component's message is counted in doubles, more than one in T-double units: either
     * way the count is the cells, which must fit MPI's int. */
    for (int k = 0; k < p->nspeers; k++)
        TSR_CHECK(ctx, p->speers[k].cells <= INT_MAX, TSR_ERR_INPUT,
                  "exchange message of %lld cells to rank %d exceeds MPI's int count (use more "
                  "blocks)",
                  (long long)p->speers[k].cells, p->speers[k].rank);
    for (int k = 0; k < p->nrpeers; k++)
        TSR_CHECK(ctx, p->rpeers[k].cells <= INT_MAX, TSR_ERR_INPUT,
                  "exchange message of %lld cells from rank %d exceeds MPI's int count (use more "
                  "blocks)",
                  (long long)p->rpeers[k].cells, p->rpeers[k].rank);
    /* A packed message per peer, and a message per whole piece and field at most. */
    int64_t nreq = p->nspeers + p->nrpeers + p->nwhole * TSR_X_MAX_FIELDS;
    TSR_CHECK(ctx, nreq <= INT_MAX, TSR_ERR_INPUT,
              "%lld exchange messages on rank %d exceed MPI's int count (use fewer blocks)",
              (long long)nreq, ctx->rank);
    TSR_CALL(ctx, tsr__calloc(ctx, (size_t)nreq + 1, sizeof *p->reqs, &p->reqs));
    return TSR_SUCCESS;
}

int tsr__xplan_create(tsr_map from, tsr_map to, const tsr__regions *R, tsr__xplan **plan) {
    tsr_ctx ctx = from->ctx;
    *plan = NULL;
    tsr__xplan *p = calloc(1, sizeof *p);
    int err = p ? TSR_SUCCESS
                : tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                "cannot allocate an exchange plan");
    if (p) {
        p->ctx = ctx;
        p->from = from;
        p->to = to;
        p->R = *R;
        for (int i = 0; i <= TSR_X_MAX_COMPS; i++)
            p->wide[i] = MPI_DATATYPE_NULL;
    }
    /* Owners of sparse maps a plan needs and this rank does not know yet: collective, so only
     * for sparse maps (alike on every rank) do the ranks agree first. */
    if (from->sparse || to->sparse) {
        err = tsr_ctx_agree(ctx, err);
        if (!err)
            err = tsr__map_resolve_pieces(from, to, R);
    }
    if (!err)
        err = xplan_build(p, R);
    err = tsr_ctx_agree(ctx, err);
    if (err) {
        tsr__xplan_destroy(&p);
        return tsr_error_trace(ctx, err, __FILE__, __LINE__, __func__);
    }
    *plan = p;
    return TSR_SUCCESS;
}

void tsr__xplan_destroy(tsr__xplan **plan) {
    if (!plan || !*plan)
        return;
    tsr__xplan *p = *plan;
    for (int i = 0; i <= TSR_X_MAX_COMPS; i++)
        if (p->wide[i] != MPI_DATATYPE_NULL)
            MPI_Type_free(&p->wide[i]);
    free(p->sends.a);
    free(p->recvs.a);
    free(p->copies.a);
    free(p->live);
    free(p->col_first);
    free(p->col_idx);
    free(p->rest_idx);
    free(p->speers);
    free(p->rpeers);
    free(p->sbuf);
    free(p->rbuf);
    free(p->reqs);
    free(p);
    *plan = NULL;
}

static bool same_regions(const tsr__regions *a, const tsr__regions *b) {
    return a->n == b->n && a->width == b->width &&
           memcmp(a->dirs, b->dirs, sizeof a->dirs[0] * (size_t)a->n) == 0;
}

#define NCACHE (int)(sizeof((tsr_map)0)->plans / sizeof((tsr_map)0)->plans[0])

int tsr__xplan_acquire(tsr_map from, tsr_map to, const tsr__regions *R, tsr__xplan **plan) {
    tsr_ctx ctx = from->ctx;
    int slot = -1;
    for (int i = 0; from == to && i < NCACHE && slot < 0; i++)
        if (from->plans[i] && same_regions(&from->plans[i]->R, R))
            slot = i;
    /* Caches evolve alike on every rank when the calls are collective; agreeing costs one small
     * reduction and keeps a mismatch from deadlocking the build below. */
    int all = slot >= 0;
    TSR_MPI(ctx, MPI_Allreduce(MPI_IN_PLACE, &all, 1, MPI_INT, MPI_MIN, ctx->comm));
    if (all) {
        *plan = from->plans[slot];
        from->plans[slot] = NULL;
        return TSR_SUCCESS;
    }
    TSR_CALL(ctx, tsr__xplan_create(from, to, R, plan));
    return TSR_SUCCESS;
}

void tsr__xplan_release(tsr__xplan **plan) {
    tsr__xplan *p = plan ? *plan : NULL;
    if (!p)
        return;
    *plan = NULL;
    tsr_map m = p->from;
    if (p->from != p->to || p->active) {
        tsr__xplan_destroy(&p);
        return;
    }
    tsr__xplan_destroy(&m->plans[NCACHE - 1]); /* the oldest */
    memmove(&m->plans[1], &m->plans[0], sizeof m->plans[0] * (NCACHE - 1));
    m->plans[0] = p;
}

void tsr__xcache_free(tsr_map map) {
    for (int i = 0; i < NCACHE; i++)
        tsr__xplan_destroy(&map->plans[i]);
}

void tsr__xplan_stats(const tsr__xplan *p, int *send_peers, int64_t *send_cells,
                      int64_t *recv_cells, int64_t *copy_cells) {
    int64_t s = 0, r = 0;
    for (int k = 0; k < p->nspeers; k++)
        s += p->speers[k].cells;
    for (int k = 0; k < p->nrpeers; k++)
        r += p->rpeers[k].cells;
    *send_peers = p->nspeers;
    *send_cells = s;
    *recv_cells = r;
    *copy_cells = p->copy_cells;
}
