/* Halo exchange: plan once, then one aggregated message per neighbouring rank per exchange. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "bc_impl.h"
#include "field_impl.h"

#define TSR_HALO_MAX_FIELDS 8

/* One ghost slab: box sb of block src fills box db of block dst. */
typedef struct xfer {
    int peer;      /* the other rank (sends: receiver; receives: sender); -1 for local copies */
    int64_t dst;   /* global ids, for the canonical order both sides agree on */
    int dir;       /* direction index */
    int64_t local; /* local index of the block on this rank (src for sends, dst for receives) */
    int64_t other; /* local index of src for local copies */
    tsr_box sb, db;
    int64_t cells;
    int64_t offset; /* within one field's part of the peer's message */
    int pk;         /* index of the peer in the plan's peer list */
} xfer;

typedef struct peer {
    int rank;
    int64_t cells;        /* per field */
    int64_t first, count; /* range in the xfer array */
    int64_t base;         /* start of its message in the buffer, for the current exchange */
    bool direct; /* one slab that is one contiguous row: with one field, sent from (received
                    into) the field itself, no packing */
} peer;

struct tsr_halo_s {
    tsr_ctx ctx;
    tsr_map map;
    int width;
    tsr_stencil stencil;
    xfer *sends, *recvs, *copies;
    int64_t nsends, nrecvs, ncopies;
    int64_t copy_cells; /* per field, over all local copies */
    peer *speers, *rpeers;
    int nspeers, nrpeers;
    double *sbuf, *rbuf;
    int64_t sbuf_cap, rbuf_cap; /* elements */
    MPI_Request *reqs;          /* receives first, then sends */
    tsr_field fields[TSR_HALO_MAX_FIELDS];
    int nfields;
    bool active;
    tsr_bc bc; /* applied after every exchange; NULL: none */
};

static int cmp_xfer(const void *a, const void *b) {
    const xfer *x = a, *y = b;
    if (x->peer != y->peer)
        return x->peer < y->peer ? -1 : 1;
    if (x->dst != y->dst)
        return x->dst < y->dst ? -1 : 1;
    return (x->dir > y->dir) - (x->dir < y->dir);
}

static int push(tsr_ctx ctx, xfer **arr, int64_t *n, int64_t *cap, const xfer *x) {
    if (*n == *cap) {
        int64_t nc = *cap ? 2 * *cap : 64;
        xfer *a = realloc(*arr, sizeof *a * (size_t)nc);
        TSR_CHECK(ctx, a, TSR_ERR_MEMORY, "cannot allocate the halo plan");
        *arr = a;
        *cap = nc;
    }
    (*arr)[(*n)++] = *x;
    return TSR_SUCCESS;
}

/* Groups sorted transfers by peer and sets their offsets. */
static int group(tsr_ctx ctx, xfer *xs, int64_t n, peer **peers, int *npeers) {
    if (n > 0) /* a rank without neighbours has no list at all */
        qsort(xs, (size_t)n, sizeof *xs, cmp_xfer);
    int np = 0;
    for (int64_t i = 0; i < n; i++)
        np += i == 0 || xs[i].peer != xs[i - 1].peer;
    TSR_CALL(ctx, tsr__calloc(ctx, (size_t)np, sizeof **peers, peers));
    *npeers = np;
    int k = -1;
    for (int64_t i = 0; i < n; i++) {
        if (i == 0 || xs[i].peer != xs[i - 1].peer) {
            k++;
            (*peers)[k].rank = xs[i].peer;
            (*peers)[k].first = i;
        }
        peer *p = &(*peers)[k];
        xs[i].pk = k;
        xs[i].offset = p->cells;
        p->cells += xs[i].cells;
        p->count++;
    }
    return TSR_SUCCESS;
}

static int halo_validate(tsr_ctx ctx, const tsr__layout *lay, int width, tsr_stencil stencil) {
    TSR_CHECK(ctx, width >= 1, TSR_ERR_INPUT, "halo width %d must be at least 1", width);
    TSR_CHECK(ctx, stencil == TSR_STENCIL_STAR || stencil == TSR_STENCIL_BOX, TSR_ERR_INPUT,
              "unknown stencil shape %d", (int)stencil);
    int64_t blk;
    int d = tsr__width_violation(lay, width, &blk);
    if (d >= 0) {
        tsr_box b;
        tsr__block_box(lay, blk, &b);
        TSR_CHECK(ctx, 0, TSR_ERR_INPUT,
                  "halo width %d is wider than block %lld, which has %lld cells along %c "
                  "(use fewer blocks or a smaller width)",
                  width, (long long)blk, (long long)(b.hi[d] - b.lo[d]), "xyz"[d]);
    }
    return TSR_SUCCESS;
}

/* A box that is one run of consecutive cells in memory: part of a single row. */
static bool one_row(const tsr_box *b) {
    return b->hi[1] - b->lo[1] == 1 && b->hi[2] - b->lo[2] == 1;
}

static int halo_build(tsr_halo h) {
    tsr_ctx ctx = h->ctx;
    tsr_map m = h->map;
    const tsr__layout *lay = &m->decomp->lay;
    int dirs[TSR_MAX_DIRS][TSR_MAX_DIM];
    int ndirs = tsr__directions(lay->ndim, h->stencil, dirs);
    int64_t scap = 0, rcap = 0, ccap = 0;
    for (int64_t i = 0; i < m->nlocal; i++) {
        int64_t b = m->local[i];
        for (int k = 0; k < ndirs; k++) {
            /* What block b receives in direction k ... */
            int64_t src = tsr__neighbor(lay, b, dirs[k]);
            if (src >= 0) {
                xfer x = {.peer = m->owner[src], .dst = b, .dir = k, .local = i};
                tsr__transfer_boxes(lay, b, src, dirs[k], h->width, &x.db, &x.sb);
                x.cells = tsr__box_cells(&x.db);
                if (x.peer == ctx->rank) {
                    x.peer = -1;
                    x.other = tsr__local_index(m, src);
                    h->copy_cells += x.cells;
                    TSR_CALL(ctx, push(ctx, &h->copies, &h->ncopies, &ccap, &x));
                } else {
                    TSR_CALL(ctx, push(ctx, &h->recvs, &h->nrecvs, &rcap, &x));
                }
            }
            /* ... and what it sends: to the block whose k-neighbour it is. */
            int back[TSR_MAX_DIM] = {-dirs[k][0], -dirs[k][1], -dirs[k][2]};
            int64_t dst = tsr__neighbor(lay, b, back);
            if (dst >= 0 && m->owner[dst] != ctx->rank) {
                xfer x = {.peer = m->owner[dst], .dst = dst, .dir = k, .local = i};
                tsr__transfer_boxes(lay, dst, b, dirs[k], h->width, &x.db, &x.sb);
                x.cells = tsr__box_cells(&x.sb);
                TSR_CALL(ctx, push(ctx, &h->sends, &h->nsends, &scap, &x));
            }
        }
    }
    TSR_CALL(ctx, group(ctx, h->sends, h->nsends, &h->speers, &h->nspeers));
    TSR_CALL(ctx, group(ctx, h->recvs, h->nrecvs, &h->rpeers, &h->nrpeers));
    for (int k = 0; k < h->nspeers; k++)
        h->speers[k].direct = h->speers[k].count == 1 && one_row(&h->sends[h->speers[k].first].sb);
    for (int k = 0; k < h->nrpeers; k++)
        h->rpeers[k].direct = h->rpeers[k].count == 1 && one_row(&h->recvs[h->rpeers[k].first].db);
    TSR_CALL(ctx, tsr__calloc(ctx, (size_t)(h->nspeers + h->nrpeers), sizeof *h->reqs, &h->reqs));
    return TSR_SUCCESS;
}

int tsr_halo_create(tsr_map map, int width, tsr_stencil stencil, tsr_halo *halo) {
    tsr_ctx ctx = map->ctx;
    *halo = NULL;
    int err = ctx->rank == 0 ? halo_validate(ctx, &map->decomp->lay, width, stencil) : TSR_SUCCESS;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    tsr_halo h;
    TSR_CALL(ctx, tsr__calloc(ctx, 1, sizeof *h, &h));
    h->ctx = ctx;
    h->map = map;
    h->width = width;
    h->stencil = stencil;
    err = tsr_ctx_agree(ctx, halo_build(h));
    if (err) {
        tsr_halo_destroy(&h);
        return tsr_error_trace(ctx, err, __FILE__, __LINE__, __func__);
    }
    *halo = h;
    return TSR_SUCCESS;
}

int tsr_halo_destroy(tsr_halo *halo) {
    if (!halo || !*halo)
        return TSR_SUCCESS;
    tsr_halo h = *halo;
    free(h->sends);
    free(h->recvs);
    free(h->copies);
    free(h->speers);
    free(h->rpeers);
    free(h->sbuf);
    free(h->rbuf);
    free(h->reqs);
    free(h);
    *halo = NULL;
    return TSR_SUCCESS;
}

static int ensure(tsr_ctx ctx, double **buf, int64_t *cap, int64_t need) {
    if (need <= *cap)
        return TSR_SUCCESS;
    free(*buf);
    *buf = NULL;
    *cap = 0;
    TSR_CALL(ctx, tsr__aligned_alloc(ctx, sizeof(double) * (size_t)need, buf));
    *cap = need;
    return TSR_SUCCESS;
}

static void pack_box(const tsr_block *b, const tsr_box *box, double *out) {
    int64_t nx = box->hi[0] - box->lo[0];
    for (int64_t z = box->lo[2]; z < box->hi[2]; z++)
        for (int64_t y = box->lo[1]; y < box->hi[1]; y++) {
            memcpy(out, &TSR_AT(b, box->lo[0], y, z), sizeof(double) * (size_t)nx);
            out += nx;
        }
}

static void unpack_box(tsr_block *b, const tsr_box *box, const double *in) {
    int64_t nx = box->hi[0] - box->lo[0];
    for (int64_t z = box->lo[2]; z < box->hi[2]; z++)
        for (int64_t y = box->lo[1]; y < box->hi[1]; y++) {
            memcpy(&TSR_AT(b, box->lo[0], y, z), in, sizeof(double) * (size_t)nx);
            in += nx;
        }
}

/* Lays out messages of nfields parts per peer; returns the buffer length. */
static int64_t set_bases(peer *ps, int n, int nfields) {
    int64_t base = 0;
    for (int i = 0; i < n; i++) {
        ps[i].base = base;
        base += ps[i].cells * nfields;
    }
    return base;
}

/* One piece of work w of an exchange: pack, copy or unpack one slab of one field. */
static void pack_one(tsr_halo h, int64_t w) {
    const xfer *x = &h->sends[w % h->nsends];
    int f = (int)(w / h->nsends);
    const peer *p = &h->speers[x->pk];
    if (p->direct && h->nfields == 1)
        return;
    pack_box(&h->fields[f]->blocks[x->local], &x->sb, h->sbuf + p->base + f * p->cells + x->offset);
}

static void copy_one(tsr_halo h, int64_t w) {
    const xfer *x = &h->copies[w % h->ncopies];
    tsr_field fl = h->fields[w / h->ncopies];
    tsr__copy_box(&fl->blocks[x->other], &x->sb, &fl->blocks[x->local], &x->db);
}

static void unpack_one(tsr_halo h, int64_t w) {
    const xfer *x = &h->recvs[w % h->nrecvs];
    int f = (int)(w / h->nrecvs);
    const peer *p = &h->rpeers[x->pk];
    if (p->direct && h->nfields == 1)
        return;
    unpack_box(&h->fields[f]->blocks[x->local], &x->db,
               h->rbuf + p->base + f * p->cells + x->offset);
}

/* Runs n pieces of work; threads only for enough cells, since even an if(0) OpenMP region costs
 * a few hundred nanoseconds, which small exchanges would feel. */
static void for_each(tsr_halo h, int64_t n, int64_t cells, void (*one)(tsr_halo, int64_t)) {
    if (cells > h->ctx->min_parallel_cells) {
#pragma omp parallel for schedule(dynamic, 4)
        for (int64_t w = 0; w < n; w++)
            one(h, w);
    } else {
        for (int64_t w = 0; w < n; w++)
            one(h, w);
    }
}

int tsr_halo_begin(tsr_halo h, tsr_field *fields, int nfields) {
    tsr_ctx ctx = h->ctx;
    TSR_CHECK(ctx, !h->active, TSR_ERR_ARG, "tsr_halo_begin called twice without tsr_halo_end");
    TSR_CHECK(ctx, nfields >= 1 && nfields <= TSR_HALO_MAX_FIELDS, TSR_ERR_ARG,
              "%d fields in one exchange; 1 to %d are supported", nfields, TSR_HALO_MAX_FIELDS);
    for (int f = 0; f < nfields; f++) {
        TSR_CHECK(ctx, fields[f] && fields[f]->map == h->map, TSR_ERR_ARG,
                  "field %d of the exchange is not on the halo plan's map", f);
        TSR_CHECK(ctx, fields[f]->width >= h->width, TSR_ERR_ARG,
                  "field '%s' has ghost width %d, the halo plan needs %d", fields[f]->name,
                  fields[f]->width, h->width);
        h->fields[f] = fields[f];
    }
    h->nfields = nfields;
    double t0 = tsr_wtime();
    int64_t stotal = set_bases(h->speers, h->nspeers, nfields);
    int64_t rtotal = set_bases(h->rpeers, h->nrpeers, nfields);
    TSR_CALL(ctx, ensure(ctx, &h->sbuf, &h->sbuf_cap, stotal));
    TSR_CALL(ctx, ensure(ctx, &h->rbuf, &h->rbuf_cap, rtotal));

    /* Receives first, so that messages land straight in place. */
    for (int k = 0; k < h->nrpeers; k++) {
        int64_t count = h->rpeers[k].cells * nfields;
        TSR_CHECK(ctx, count <= INT_MAX, TSR_ERR_INPUT,
                  "halo message of %lld values from rank %d exceeds MPI's int count",
                  (long long)count, h->rpeers[k].rank);
        double *into = h->rbuf + h->rpeers[k].base;
        if (h->rpeers[k].direct && nfields == 1) {
            const xfer *x = &h->recvs[h->rpeers[k].first];
            into = &TSR_AT(&fields[0]->blocks[x->local], x->db.lo[0], x->db.lo[1], x->db.lo[2]);
        }
        TSR_MPI(ctx, MPI_Irecv(into, (int)count, MPI_DOUBLE, h->rpeers[k].rank, TSR_TAG_HALO,
                               ctx->comm, &h->reqs[k]));
    }
    /* Pack every slab of every field; offsets are fixed, so slabs pack in parallel. */
    for_each(h, h->nsends * nfields, stotal, pack_one);
    for (int k = 0; k < h->nspeers; k++) {
        int64_t count = h->speers[k].cells * nfields;
        TSR_CHECK(ctx, count <= INT_MAX, TSR_ERR_INPUT,
                  "halo message of %lld values to rank %d exceeds MPI's int count",
                  (long long)count, h->speers[k].rank);
        const double *from = h->sbuf + h->speers[k].base;
        if (h->speers[k].direct && nfields == 1) {
            const xfer *x = &h->sends[h->speers[k].first];
            from = &TSR_AT(&fields[0]->blocks[x->local], x->sb.lo[0], x->sb.lo[1], x->sb.lo[2]);
        }
        TSR_MPI(ctx, MPI_Isend(from, (int)count, MPI_DOUBLE, h->speers[k].rank, TSR_TAG_HALO,
                               ctx->comm, &h->reqs[h->nrpeers + k]));
        ctx->bytes_sent += (uint64_t)count * sizeof(double);
        ctx->msgs_sent++;
    }
    /* Neighbours on this rank: a direct copy, no MPI. */
    for_each(h, h->ncopies * nfields, h->copy_cells * nfields, copy_one);
    tsr_ctx_timer_add(ctx, TSR_TIMER_PACK, tsr_wtime() - t0);
    h->active = true;
    return TSR_SUCCESS;
}

int tsr_halo_end(tsr_halo h) {
    tsr_ctx ctx = h->ctx;
    TSR_CHECK(ctx, h->active, TSR_ERR_ARG, "tsr_halo_end without tsr_halo_begin");
    h->active = false;
    int nfields = h->nfields;
    /* Receives and sends in one call: one trip into MPI instead of two. */
    double t0 = tsr_wtime();
    TSR_MPI(ctx, MPI_Waitall(h->nrpeers + h->nspeers, h->reqs, MPI_STATUSES_IGNORE));
    double t1 = tsr_wtime();
    int64_t rtotal =
        h->nrpeers ? h->rpeers[h->nrpeers - 1].base + h->rpeers[h->nrpeers - 1].cells * nfields : 0;
    for_each(h, h->nrecvs * nfields, rtotal, unpack_one);
    TSR_CALL(ctx, tsr__bc_apply(h->bc, h->fields, nfields));
    tsr_ctx_timer_add(ctx, TSR_TIMER_WAIT, t1 - t0);
    tsr_ctx_timer_add(ctx, TSR_TIMER_UNPACK, tsr_wtime() - t1);
    return TSR_SUCCESS;
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
    *peers = h->nspeers;
    int64_t cells = 0;
    for (int k = 0; k < h->nspeers; k++)
        cells += h->speers[k].cells;
    *bytes_sent = cells * (int64_t)sizeof(double);
    return TSR_SUCCESS;
}
