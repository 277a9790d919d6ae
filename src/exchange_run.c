/* The exchange engine's execution: receives posted first, pieces packed (in parallel when there
 * are enough cells), same-rank pieces copied directly, whole remap blocks sent from the fields'
 * own memory, and tracked exchanges that skip pieces whose source did not change. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xplan_impl.h"

static int ensure(tsr_ctx ctx, double **buf, int64_t *cap, int64_t need) {
    if (need <= *cap)
        return TSR_SUCCESS;
    free(*buf);
    *buf = NULL;
    *cap = 0;
    TSR_CALL(ctx, tsr__aligned_alloc(ctx, sizeof(double) * (size_t)(need ? need : 1), buf));
    *cap = need;
    return TSR_SUCCESS;
}

/* Copies a box of nx x ny x nz cells between two strided arrays. Ghost pieces are often narrow
 * (a face along x is one cell per row, a corner one cell): those rows are copied inline, since a
 * memcpy call per cell would cost more than the cell. */
/* Rows ahead that a column copy asks for (about the loads a core keeps in flight). */
#define COL_AHEAD 16

static inline void copy_rows(double *restrict d, ptrdiff_t dsy, ptrdiff_t dsz,
                             const double *restrict s, ptrdiff_t ssy, ptrdiff_t ssz, int64_t nx,
                             int64_t ny, int64_t nz) {
    for (int64_t z = 0; z < nz; z++) {
        double *dr = d + z * dsz;
        const double *sr = s + z * ssz;
        if (nx == 1) {
            /* A line per cell on both sides, with strides the hardware prefetchers do not follow
             * across pages: each load would wait for memory alone. Asked for a few rows ahead,
             * the lines come in parallel. */
            int64_t y = 0;
            for (; y + COL_AHEAD < ny; y++) {
                __builtin_prefetch(sr + (y + COL_AHEAD) * ssy, 0, 3);
                __builtin_prefetch(dr + (y + COL_AHEAD) * dsy, 1, 3);
                dr[y * dsy] = sr[y * ssy];
            }
            for (; y < ny; y++)
                dr[y * dsy] = sr[y * ssy];
        } else if (nx < 16) {
            for (int64_t y = 0; y < ny; y++)
                for (int64_t x = 0; x < nx; x++)
                    dr[y * dsy + x] = sr[y * ssy + x];
        } else {
            for (int64_t y = 0; y < ny; y++)
                memcpy(dr + y * dsy, sr + y * ssy, sizeof(double) * (size_t)nx);
        }
    }
}

/* Cell (lo of box) of component c of a block. */
static inline double *corner(const tsr_block *b, int c, const tsr_box *box) {
    return &TSR_AT(b, box->lo[0], box->lo[1], box->lo[2]) + (ptrdiff_t)c * b->sc;
}

static inline void pack_box(const tsr_block *b, int c, const tsr_box *box, double *out) {
    int64_t nx = box->hi[0] - box->lo[0], ny = box->hi[1] - box->lo[1];
    copy_rows(out, nx, nx * ny, corner(b, c, box), b->sy, b->sz, nx, ny, box->hi[2] - box->lo[2]);
}

static inline void unpack_box(const tsr_block *b, int c, const tsr_box *box, const double *in) {
    int64_t nx = box->hi[0] - box->lo[0], ny = box->hi[1] - box->lo[1];
    copy_rows(corner(b, c, box), b->sy, b->sz, in, nx, nx * ny, nx, ny, box->hi[2] - box->lo[2]);
}

/* Doubles from the first owned cell of component 0 of a block to the last owned cell of its
 * component c: the span a whole piece covers (ghost columns, rows and planes in between). */
static inline int64_t whole_span(const tsr_block *b, int c) {
    return (int64_t)c * b->sc + (b->n[2] - 1) * b->sz + (b->n[1] - 1) * b->sy + b->n[0];
}

/* Lays out the current exchange's messages with each peer: dmask, the fields whose whole pieces
 * travel in their own messages (widths alike, spans within MPI's int), and the packed message of
 * the rest. Both sides of a message see the same pieces and the same field widths and
 * components, so they decide alike. Returns the buffer length. */
static int64_t lay_out(tsr__xplan *p, peer *ps, int n, const xlist *l, tsr_field *fields,
                       unsigned same) {
    int64_t base = 0;
    for (int k = 0; k < n; k++) {
        peer *pr = &ps[k];
        unsigned mask = pr->nwhole && !(pr->direct && p->ncomps == 1) ? same : 0;
        for (int64_t i = pr->first; mask && i < pr->first + pr->count; i++)
            for (int f = 0; l->a[i].whole && f < p->nfields; f++) {
                const tsr_block *b = &fields[f]->blocks[l->a[i].local];
                if (whole_span(b, b->ncomp - 1) > INT_MAX)
                    mask &= ~(1u << f);
            }
        int64_t len = 0;
        for (int fc = 0; fc < p->ncomps; fc++)
            len += mask >> p->comp_field[fc] & 1 ? pr->cells - pr->wcells : pr->cells;
        if (mask && len > INT_MAX) { /* all packed: the wide type covers it */
            mask = 0;
            len = pr->cells * p->ncomps;
        }
        pr->flags = pr->base = base;
        if (p->chg) { /* a halo's pieces (never whole), then one change flag per piece */
            pr->flags += len;
            len += pr->count;
        }
        pr->dmask = mask;
        pr->len = len;
        base += len;
    }
    return base;
}

/* Where component fc starts in a peer's packed message, and where piece x lies in that part. */
static inline int64_t packed_at(const tsr__xplan *p, const peer *pr, const xfer *x, int fc) {
    if (!pr->dmask)
        return pr->base + fc * pr->cells + x->offset;
    int64_t at = pr->base;
    for (int k = 0; k < fc; k++)
        at += pr->dmask >> p->comp_field[k] & 1 ? pr->cells - pr->wcells : pr->cells;
    return at + (pr->dmask >> p->comp_field[fc] & 1 ? x->poff : x->offset);
}

/* A piece whose source block changed in neither of the last two steps: the destination's ghosts,
 * filled from it when this field was last exchanged (two steps ago), still hold its values. */
static inline bool unchanged(uint8_t flags) {
    return (flags & (TSR_X_CHANGED_LAST | TSR_X_CHANGED_BEFORE)) == 0;
}

/* The change flags a received piece carries (tracked exchanges). */
static inline uint8_t recv_flags(const tsr__xplan *p, const xfer *x) {
    const peer *pr = &p->rpeers[x->pk];
    int64_t i = x - p->recvs.a - pr->first;
    return (uint8_t)p->rbuf[pr->flags + i];
}

void tsr__xplan_track(tsr__xplan *p, const uint8_t *chg, uint8_t *nbr) {
    p->chg = chg;
    p->nbr = nbr;
}

/* One piece of work w of an exchange: pack, copy or unpack one piece of one component. */
static void pack_one(tsr__xplan *p, int64_t w) {
    const xfer *x = &p->sends.a[w % p->sends.n];
    int fc = (int)(w / p->sends.n);
    const peer *pr = &p->speers[x->pk];
    if ((pr->direct && p->ncomps == 1 && !p->chg) || (p->chg && unchanged(p->chg[x->local])) ||
        (x->whole && (pr->dmask >> p->comp_field[fc] & 1)))
        return;
    pack_box(&p->src[p->comp_field[fc]]->blocks[x->local], p->comp_index[fc], &x->p.sb,
             p->sbuf + packed_at(p, pr, x, fc));
}

static void copy_piece(tsr__xplan *p, const xfer *x, int fc) {
    int f = p->comp_field[fc], c = p->comp_index[fc];
    const tsr_block *s = &p->src[f]->blocks[x->other], *d = &p->dst[f]->blocks[x->local];
    const tsr_box *sb = &x->p.sb;
    if (x->whole && s->sy == d->sy && s->sz == d->sz) { /* one span; none if the storage stayed */
        if (s->data != d->data)
            memcpy(d->data + c * d->sc, s->data + c * s->sc, sizeof(double) * whole_span(s, 0));
        return;
    }
    copy_rows(corner(d, c, &x->p.db), d->sy, d->sz, corner(s, c, sb), s->sy, s->sz,
              sb->hi[0] - sb->lo[0], sb->hi[1] - sb->lo[1], sb->hi[2] - sb->lo[2]);
}

static void copy_one(tsr__xplan *p, int64_t w) {
    copy_piece(p, &p->copies.a[w % p->copies.n], (int)(w / p->copies.n));
}

/* The copies that a deferring begin still makes (everything but the columns). */
static void copy_rest(tsr__xplan *p, int64_t w) {
    copy_piece(p, &p->copies.a[p->rest_idx[w % p->nrest]], (int)(w / p->nrest));
}

/* A copy into the x ghosts beside the destination block's owned rows (block-local box). */
static bool is_column(const tsr__xplan *p, const xfer *x) {
    tsr_box own;
    tsr__block_box(&p->to->decomp->lay, p->to->local[x->local], &own);
    const tsr_box *d = &x->p.db;
    if (d->hi[0] > 0 && d->lo[0] < own.hi[0] - own.lo[0])
        return false;
    for (int k = 1; k < TSR_MAX_DIM; k++)
        if (d->lo[k] < 0 || d->hi[k] > own.hi[k] - own.lo[k])
            return false;
    return true;
}

/* Sorts the copies into columns per destination block and the rest, once per plan. */
static int index_columns(tsr__xplan *p) {
    tsr_ctx ctx = p->ctx;
    int64_t nl = p->to->nlocal, n = p->copies.n;
    p->col_first = calloc((size_t)nl + 2, sizeof *p->col_first);
    p->col_idx = calloc((size_t)n + 1, sizeof *p->col_idx);
    p->rest_idx = calloc((size_t)n + 1, sizeof *p->rest_idx);
    bool *col = malloc((size_t)n + 1);
    if (!p->col_first || !p->col_idx || !p->rest_idx || !col) {
        free(p->col_first);
        free(p->col_idx);
        free(p->rest_idx);
        free(col);
        p->col_first = p->col_idx = p->rest_idx = NULL;
        TSR_CHECK(ctx, 0, TSR_ERR_MEMORY, "cannot allocate the exchange's column index");
    }
    for (int64_t i = 0; i < n; i++)
        if ((col[i] = is_column(p, &p->copies.a[i])))
            p->col_first[p->copies.a[i].local + 2]++;
    for (int64_t b = 0; b < nl; b++)
        p->col_first[b + 2] += p->col_first[b + 1];
    for (int64_t i = 0; i < n; i++) {
        const xfer *x = &p->copies.a[i];
        if (col[i]) {
            p->col_idx[p->col_first[x->local + 1]++] = i;
        } else {
            p->rest_idx[p->nrest++] = i;
            p->rest_cells += x->cells;
        }
    }
    free(col);
    return TSR_SUCCESS;
}

void tsr__xplan_defer_columns(tsr__xplan *p) {
    p->defer = true;
}

void tsr__xplan_copy_columns(tsr__xplan *p, int64_t local, const tsr_box *tile) {
    if (!p->left)
        return;
    const int64_t nx = p->dst[0]->blocks[local].n[0];
    for (int64_t i = p->col_first[local]; i < p->col_first[local + 1]; i++) {
        const xfer *x = &p->copies.a[p->col_idx[i]];
        const tsr_box *d = &x->p.db;
        /* Only the tile that holds a row's cells next to that side reads the row's ghosts. */
        if (d->hi[0] <= 0 ? tile->lo[0] != 0 : tile->hi[0] != nx)
            continue;
        tsr_box db = *d, sb = x->p.sb;
        bool rows = true;
        for (int k = 1; k < TSR_MAX_DIM; k++) {
            int64_t lo = d->lo[k] > tile->lo[k] ? d->lo[k] : tile->lo[k];
            int64_t hi = d->hi[k] < tile->hi[k] ? d->hi[k] : tile->hi[k];
            rows = rows && lo < hi;
            sb.lo[k] += lo - d->lo[k];
            sb.hi[k] = sb.lo[k] + (hi - lo);
            db.lo[k] = lo;
            db.hi[k] = hi;
        }
        for (int fc = 0; rows && fc < p->ncomps; fc++) {
            int f = p->comp_field[fc], c = p->comp_index[fc];
            const tsr_block *s = &p->src[f]->blocks[x->other], *t = &p->dst[f]->blocks[local];
            copy_rows(corner(t, c, &db), t->sy, t->sz, corner(s, c, &sb), s->sy, s->sz,
                      sb.hi[0] - sb.lo[0], sb.hi[1] - sb.lo[1], sb.hi[2] - sb.lo[2]);
        }
    }
}

void tsr__xplan_columns_done(tsr__xplan *p) {
    p->defer = p->left = false; /* also when the begin never came (an error before it) */
}

int64_t tsr__xplan_columns_deferred(const tsr__xplan *p) {
    return p->ndeferred;
}

/* Tracked exchanges: only the pieces whose source changed (p->live). */
static void copy_live(tsr__xplan *p, int64_t w) {
    copy_piece(p, &p->copies.a[p->live[w % p->nlive]], (int)(w / p->nlive));
}

static void unpack_one(tsr__xplan *p, int64_t w) {
    const xfer *x = &p->recvs.a[w % p->recvs.n];
    int fc = (int)(w / p->recvs.n);
    const peer *pr = &p->rpeers[x->pk];
    if ((pr->direct && p->ncomps == 1 && !p->chg) || (p->chg && unchanged(recv_flags(p, x))) ||
        (x->whole && (pr->dmask >> p->comp_field[fc] & 1)))
        return;
    unpack_box(&p->dst[p->comp_field[fc]]->blocks[x->local], p->comp_index[fc], &x->p.db,
               p->rbuf + packed_at(p, pr, x, fc));
}

/* Runs n pieces of work; threads only for enough cells, since even an if(0) OpenMP region costs
 * a few hundred nanoseconds, which small exchanges would feel. */
static void for_each(tsr__xplan *p, int64_t n, int64_t cells, void (*one)(tsr__xplan *, int64_t)) {
    if (cells > p->ctx->min_parallel_cells) {
#pragma omp parallel for schedule(dynamic, 4)
        for (int64_t w = 0; w < n; w++)
            one(p, w);
    } else {
        for (int64_t w = 0; w < n; w++)
            one(p, w);
    }
}

/* The count and type of a peer's packed message. */
static int message_type(tsr__xplan *p, const peer *pr, int *count, MPI_Datatype *type) {
    int T = p->ncomps;
    int64_t cells = pr->cells;
    /* Both sides of a message compute its length from the same plan: they fail together. */
    TSR_CHECK(p->ctx, !p->chg || pr->len <= INT_MAX, TSR_ERR_INPUT,
              "tracked exchange message of %lld values exceeds MPI's int count (use more blocks)",
              (long long)pr->len);
    if (pr->len <= INT_MAX) {
        *count = (int)pr->len;
        *type = MPI_DOUBLE;
        return TSR_SUCCESS;
    }
    if (p->wide[T] == MPI_DATATYPE_NULL) {
        TSR_MPI(p->ctx, MPI_Type_contiguous(T, MPI_DOUBLE, &p->wide[T]));
        TSR_MPI(p->ctx, MPI_Type_commit(&p->wide[T]));
    }
    /* The message is [component][cells]: cells units of T doubles cover it exactly. */
    *count = (int)cells;
    *type = p->wide[T];
    return TSR_SUCCESS;
}

static int check_fields(tsr__xplan *p, tsr_field *src, tsr_field *dst, int nfields) {
    tsr_ctx ctx = p->ctx;
    TSR_CHECK(ctx, nfields >= 1 && nfields <= TSR_X_MAX_FIELDS, TSR_ERR_ARG,
              "%d fields in one exchange; 1 to %d are supported", nfields, TSR_X_MAX_FIELDS);
    int T = 0;
    for (int f = 0; f < nfields; f++) {
        TSR_CHECK(ctx, src[f] && src[f]->map == p->from, TSR_ERR_ARG,
                  "field %d of the exchange is not on the plan's source map", f);
        TSR_CHECK(ctx, dst[f] && dst[f]->map == p->to, TSR_ERR_ARG,
                  "field %d of the exchange is not on the plan's destination map", f);
        TSR_CHECK(ctx, src[f]->ncomp == dst[f]->ncomp, TSR_ERR_ARG,
                  "field '%s' has %d components, its destination '%s' %d", src[f]->name,
                  src[f]->ncomp, dst[f]->name, dst[f]->ncomp);
        TSR_CHECK(ctx, T + src[f]->ncomp <= TSR_X_MAX_COMPS, TSR_ERR_ARG,
                  "more than %d components in one exchange", TSR_X_MAX_COMPS);
        for (int c = 0; c < src[f]->ncomp; c++) {
            p->comp_field[T] = f;
            p->comp_index[T++] = c;
        }
        p->src[f] = src[f];
        p->dst[f] = dst[f];
    }
    p->nfields = nfields;
    p->ncomps = T;
    return TSR_SUCCESS;
}

/* Posts the messages of a peer's whole pieces: one per piece and field of dmask, straight from
 * (into) the field's memory, in the plan's order on both sides, which is the order in which MPI
 * matches messages of one tag between two ranks. */
static int post_whole(tsr__xplan *p, const peer *pr, const xlist *l, tsr_field *fields,
                      bool sending) {
    tsr_ctx ctx = p->ctx;
    for (int64_t i = pr->first; pr->dmask && i < pr->first + pr->count; i++)
        for (int f = 0; l->a[i].whole && f < p->nfields; f++) {
            if (!(pr->dmask >> f & 1))
                continue;
            tsr_block *b = &fields[f]->blocks[l->a[i].local];
            int count = (int)whole_span(b, b->ncomp - 1);
            MPI_Request *r = &p->reqs[p->nreq++];
            if (sending) {
                TSR_MPI(ctx, MPI_Isend(b->data, count, MPI_DOUBLE, pr->rank, TSR_TAG_HALO,
                                       ctx->comm, r));
                ctx->bytes_sent += (uint64_t)count * sizeof(double);
                ctx->msgs_sent++;
            } else {
                TSR_MPI(ctx, MPI_Irecv(b->data, count, MPI_DOUBLE, pr->rank, TSR_TAG_HALO,
                                       ctx->comm, r));
            }
        }
    return TSR_SUCCESS;
}

int tsr__xplan_begin(tsr__xplan *p, tsr_field *src, tsr_field *dst, int nfields) {
    tsr_ctx ctx = p->ctx;
    TSR_CHECK(ctx, !p->active, TSR_ERR_ARG, "an exchange begun twice without its end");
    TSR_CALL(ctx, check_fields(p, src, dst, nfields));
    int T = p->ncomps;
    double t0 = tsr_wtime();
    bool tracked = p->chg != NULL, defer = p->defer && !tracked;
    p->defer = p->left = false;
    if (defer && !p->col_first)
        TSR_CALL(ctx, index_columns(p));
    unsigned same = 0; /* fields whose whole pieces can travel unpacked: same strides both sides */
    for (int f = 0; p->nwhole && !tracked && f < nfields; f++)
        same |= (unsigned)(src[f]->width == dst[f]->width) << f;
    int64_t stotal = lay_out(p, p->speers, p->nspeers, &p->sends, src, same);
    int64_t rtotal = lay_out(p, p->rpeers, p->nrpeers, &p->recvs, dst, same);
    TSR_CALL(ctx, ensure(ctx, &p->sbuf, &p->sbuf_cap, stotal));
    TSR_CALL(ctx, ensure(ctx, &p->rbuf, &p->rbuf_cap, rtotal));
    p->nreq = 0;

    /* Receives first, so that messages land straight in place; per peer its whole pieces, then
     * the packed rest (the sender posts them in the same order). */
    for (int k = 0; k < p->nrpeers; k++) {
        const peer *pr = &p->rpeers[k];
        TSR_CALL(ctx, post_whole(p, pr, &p->recvs, dst, false));
        if (pr->dmask && pr->len == 0)
            continue;
        int count;
        MPI_Datatype type;
        TSR_CALL(ctx, message_type(p, pr, &count, &type));
        double *into = p->rbuf + pr->base;
        if (pr->direct && T == 1 && !tracked) {
            const xfer *x = &p->recvs.a[pr->first];
            into = &TSR_AT(&dst[0]->blocks[x->local], x->p.db.lo[0], x->p.db.lo[1], x->p.db.lo[2]);
        }
        TSR_MPI(ctx, MPI_Irecv(into, count, type, pr->rank, TSR_TAG_HALO, ctx->comm,
                               &p->reqs[p->nreq++]));
    }
    /* Whole pieces leave before any packing, so the peer can copy them meanwhile. */
    for (int k = 0; k < p->nspeers; k++)
        TSR_CALL(ctx, post_whole(p, &p->speers[k], &p->sends, src, true));
    /* Pack every piece of every component; offsets are fixed, so pieces pack in parallel. */
    for_each(p, p->sends.n * T, stotal, pack_one);
    for (int64_t i = 0; tracked && i < p->sends.n; i++) {
        const xfer *x = &p->sends.a[i];
        const peer *pr = &p->speers[x->pk];
        p->sbuf[pr->flags + (i - pr->first)] = (double)p->chg[x->local];
    }
    for (int k = 0; k < p->nspeers; k++) {
        const peer *pr = &p->speers[k];
        if (pr->dmask && pr->len == 0)
            continue;
        int count;
        MPI_Datatype type;
        TSR_CALL(ctx, message_type(p, pr, &count, &type));
        const double *from = p->sbuf + pr->base;
        if (pr->direct && T == 1 && !tracked) {
            const xfer *x = &p->sends.a[pr->first];
            from = &TSR_AT(&src[0]->blocks[x->local], x->p.sb.lo[0], x->p.sb.lo[1], x->p.sb.lo[2]);
        }
        TSR_MPI(ctx, MPI_Isend(from, count, type, pr->rank, TSR_TAG_HALO, ctx->comm,
                               &p->reqs[p->nreq++]));
        ctx->bytes_sent += (uint64_t)pr->len * sizeof(double);
        ctx->msgs_sent++;
    }
    /* Pieces whose source is on this rank: a direct copy, no MPI. */
    if (tracked) {
        /* One pass picks the pieces to copy and marks the blocks next to a change: most of a
         * grid at rest then costs a flag test per piece. */
        int64_t cells = 0;
        p->nlive = 0;
        for (int64_t i = 0; i < p->copies.n; i++) {
            const xfer *x = &p->copies.a[i];
            uint8_t c = p->chg[x->other];
            if (c & TSR_X_CHANGED_LAST)
                p->nbr[x->local] = 1;
            if (!unchanged(c)) {
                p->live[p->nlive++] = i;
                cells += x->cells;
            }
        }
        for_each(p, p->nlive * T, cells * T, copy_live);
    } else if (defer) {
        for_each(p, p->nrest * T, p->rest_cells * T, copy_rest);
        p->left = true;
        p->ndeferred++;
    } else {
        for_each(p, p->copies.n * T, p->copy_cells * T, copy_one);
    }
    tsr_ctx_timer_add(ctx, TSR_TIMER_PACK, tsr_wtime() - t0);
    p->active = true;
    return TSR_SUCCESS;
}

int tsr__xplan_end(tsr__xplan *p) {
    tsr_ctx ctx = p->ctx;
    TSR_CHECK(ctx, p->active, TSR_ERR_ARG, "an exchange ended without its begin");
    p->active = false;
    /* Receives and sends in one call: one trip into MPI instead of two. */
    double t0 = tsr_wtime();
    TSR_MPI(ctx, MPI_Waitall(p->nreq, p->reqs, MPI_STATUSES_IGNORE));
    double t1 = tsr_wtime();
    int64_t rtotal = 0;
    for (int k = 0; k < p->nrpeers; k++)
        rtotal += p->rpeers[k].len;
    for (int64_t i = 0; p->chg && i < p->recvs.n; i++)
        if (recv_flags(p, &p->recvs.a[i]) & TSR_X_CHANGED_LAST)
            p->nbr[p->recvs.a[i].local] = 1;
    for_each(p, p->recvs.n * p->ncomps, rtotal, unpack_one);
    p->chg = NULL; /* tracking is asked for each exchange */
    p->nbr = NULL;
    tsr_ctx_timer_add(ctx, TSR_TIMER_WAIT, t1 - t0);
    tsr_ctx_timer_add(ctx, TSR_TIMER_UNPACK, tsr_wtime() - t1);
    return TSR_SUCCESS;
}
