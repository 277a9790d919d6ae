/* The exchange engine's geometry (no MPI): the regions a destination block wants and the
 * pieces of source blocks that fill them.
 *
 * Both sides of a message enumerate the same pieces with the same arithmetic: the receiver from
 * its destination blocks' regions, the sender from its source blocks grown by the width. Blocks
 * are found by binary search in the cuts of the block grid, so the pieces of a block cost
 * O(pieces + log blocks), never a scan of every block. */
#include <string.h>

#include "exchange_impl.h"

void tsr__regions_halo(int ndim, tsr_stencil stencil, int width, tsr__regions *r) {
    r->n = tsr__directions(ndim, stencil, r->dirs);
    r->width = width;
}

void tsr__regions_remap(tsr__regions *r) {
    memset(r, 0, sizeof *r);
    r->n = 1;
}

static int64_t floordiv(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The block index i along a dimension with cuts[i] <= x < cuts[i + 1] (x inside the grid). */
static int64_t block_at(const int64_t *cuts, int64_t nb, int64_t x) {
    int64_t lo = 0, hi = nb - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo + 1) / 2;
        if (cuts[mid] <= x)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* Region k of block t, in global coordinates (may reach outside the grid). */
static void region_box(const tsr__layout *L, int64_t t, const tsr__regions *R, int k, tsr_box *g) {
    tsr_box b;
    tsr__block_box(L, t, &b);
    for (int d = 0; d < TSR_MAX_DIM; d++) {
        int dir = R->dirs[k][d];
        g->lo[d] = dir < 0 ? b.lo[d] - R->width : dir > 0 ? b.hi[d] : b.lo[d];
        g->hi[d] = dir < 0 ? b.lo[d] : dir > 0 ? b.hi[d] + R->width : b.hi[d];
    }
}

static bool wraps(const tsr__layout *L, const tsr__regions *R, int d) {
    return R->width > 0 && d < L->ndim && L->periodic[d];
}

/* Visits the blocks of L whose boxes intersect q (inside the grid), x fastest. */
typedef bool (*block_fn)(int64_t id, const tsr_box *box, void *user);
static bool blocks_in(const tsr__layout *L, const tsr_box *q, block_fn fn, void *user) {
    int64_t i0[TSR_MAX_DIM], i1[TSR_MAX_DIM];
    for (int d = 0; d < TSR_MAX_DIM; d++) {
        i0[d] = block_at(L->cuts[d], L->nb[d], q->lo[d]);
        i1[d] = block_at(L->cuts[d], L->nb[d], q->hi[d] - 1);
    }
    for (int64_t iz = i0[2]; iz <= i1[2]; iz++)
        for (int64_t iy = i0[1]; iy <= i1[1]; iy++)
            for (int64_t ix = i0[0]; ix <= i1[0]; ix++) {
                tsr_box b = {{L->cuts[0][ix], L->cuts[1][iy], L->cuts[2][iz]},
                             {L->cuts[0][ix + 1], L->cuts[1][iy + 1], L->cuts[2][iz + 1]}};
                if (!fn(ix + L->nb[0] * (iy + L->nb[1] * iz), &b, user))
                    return false;
            }
    return true;
}

static bool intersect(const tsr_box *a, const tsr_box *b, tsr_box *out) {
    for (int d = 0; d < TSR_MAX_DIM; d++) {
        out->lo[d] = a->lo[d] > b->lo[d] ? a->lo[d] : b->lo[d];
        out->hi[d] = a->hi[d] < b->hi[d] ? a->hi[d] : b->hi[d];
        if (out->lo[d] >= out->hi[d])
            return false;
    }
    return true;
}

/* Emits the piece where region g (global) of block t meets source block s seen at image K. */
static bool emit(int64_t t, const tsr_box *tb, int k, const tsr_box *g, int64_t s,
                 const tsr_box *sb, const int64_t K[TSR_MAX_DIM], const int64_t N[TSR_MAX_DIM],
                 tsr__piece_fn fn, void *user) {
    tsr_box img, I;
    for (int d = 0; d < TSR_MAX_DIM; d++) {
        img.lo[d] = sb->lo[d] + K[d] * N[d];
        img.hi[d] = sb->hi[d] + K[d] * N[d];
    }
    if (!intersect(g, &img, &I))
        return true;
    tsr__piece p = {.dst = t, .src = s, .region = k};
    for (int d = 0; d < TSR_MAX_DIM; d++) {
        p.image[d] = (int)K[d];
        p.db.lo[d] = I.lo[d] - tb->lo[d];
        p.db.hi[d] = I.hi[d] - tb->lo[d];
        p.sb.lo[d] = I.lo[d] - img.lo[d];
        p.sb.hi[d] = I.hi[d] - img.lo[d];
    }
    return fn(&p, user);
}

typedef struct into_ctx {
    int64_t t;
    tsr_box tb, g;
    int k;
    int64_t K[TSR_MAX_DIM], N[TSR_MAX_DIM];
    tsr__piece_fn fn;
    void *user;
} into_ctx;

static bool into_block(int64_t s, const tsr_box *sb, void *user) {
    into_ctx *c = user;
    return emit(c->t, &c->tb, c->k, &c->g, s, sb, c->K, c->N, c->fn, c->user);
}

bool tsr__pieces_into(const tsr__layout *D, int64_t t, const tsr__layout *S, const tsr__regions *R,
                      tsr__piece_fn fn, void *user) {
    into_ctx c = {.t = t, .fn = fn, .user = user};
    tsr__block_box(D, t, &c.tb);
    for (int d = 0; d < TSR_MAX_DIM; d++)
        c.N[d] = S->n[d];
    for (c.k = 0; c.k < R->n; c.k++) {
        region_box(D, t, R, c.k, &c.g);
        int64_t kmin[TSR_MAX_DIM], kmax[TSR_MAX_DIM];
        bool empty = false;
        for (int d = 0; d < TSR_MAX_DIM; d++) {
            if (wraps(S, R, d)) {
                kmin[d] = floordiv(c.g.lo[d], c.N[d]);
                kmax[d] = floordiv(c.g.hi[d] - 1, c.N[d]);
            } else {
                /* Outside a bounded grid nothing is filled: the boundary condition's cells. */
                c.g.lo[d] = c.g.lo[d] < 0 ? 0 : c.g.lo[d];
                c.g.hi[d] = c.g.hi[d] > c.N[d] ? c.N[d] : c.g.hi[d];
                empty |= c.g.lo[d] >= c.g.hi[d];
                kmin[d] = kmax[d] = 0;
            }
        }
        if (empty)
            continue;
        for (c.K[2] = kmin[2]; c.K[2] <= kmax[2]; c.K[2]++)
            for (c.K[1] = kmin[1]; c.K[1] <= kmax[1]; c.K[1]++)
                for (c.K[0] = kmin[0]; c.K[0] <= kmax[0]; c.K[0]++) {
                    tsr_box q; /* the part of the region in image K, shifted into the grid */
                    for (int d = 0; d < TSR_MAX_DIM; d++) {
                        int64_t base = c.K[d] * c.N[d];
                        q.lo[d] = (c.g.lo[d] > base ? c.g.lo[d] : base) - base;
                        q.hi[d] = (c.g.hi[d] < base + c.N[d] ? c.g.hi[d] : base + c.N[d]) - base;
                    }
                    if (!blocks_in(S, &q, into_block, &c))
                        return false;
                }
    }
    return true;
}

typedef struct from_ctx {
    const tsr__layout *D;
    const tsr__regions *R;
    int64_t s;
    tsr_box sb;
    int64_t K[TSR_MAX_DIM], N[TSR_MAX_DIM];
    tsr__piece_fn fn;
    void *user;
} from_ctx;

static bool from_block(int64_t t, const tsr_box *tb, void *user) {
    from_ctx *c = user;
    for (int k = 0; k < c->R->n; k++) {
        tsr_box g;
        region_box(c->D, t, c->R, k, &g);
        if (!emit(t, tb, k, &g, c->s, &c->sb, c->K, c->N, c->fn, c->user))
            return false;
    }
    return true;
}

bool tsr__pieces_from(const tsr__layout *S, int64_t s, const tsr__layout *D, const tsr__regions *R,
                      tsr__piece_fn fn, void *user) {
    from_ctx c = {.D = D, .R = R, .s = s, .fn = fn, .user = user};
    tsr__block_box(S, s, &c.sb);
    int64_t kmin[TSR_MAX_DIM], kmax[TSR_MAX_DIM], w[TSR_MAX_DIM];
    for (int d = 0; d < TSR_MAX_DIM; d++) {
        c.N[d] = D->n[d];
        w[d] = d < D->ndim ? R->width : 0;
        if (wraps(D, R, d)) {
            /* The images of s whose width-grown box still meets the grid. */
            kmin[d] = floordiv(-(c.sb.hi[d] + w[d]), c.N[d]) + 1;
            kmax[d] = floordiv(c.N[d] - c.sb.lo[d] + w[d] - 1, c.N[d]);
        } else {
            kmin[d] = kmax[d] = 0;
        }
    }
    for (c.K[2] = kmin[2]; c.K[2] <= kmax[2]; c.K[2]++)
        for (c.K[1] = kmin[1]; c.K[1] <= kmax[1]; c.K[1]++)
            for (c.K[0] = kmin[0]; c.K[0] <= kmax[0]; c.K[0]++) {
                tsr_box q;
                bool empty = false;
                for (int d = 0; d < TSR_MAX_DIM; d++) {
                    int64_t lo = c.sb.lo[d] + c.K[d] * c.N[d] - w[d];
                    int64_t hi = c.sb.hi[d] + c.K[d] * c.N[d] + w[d];
                    q.lo[d] = lo < 0 ? 0 : lo;
                    q.hi[d] = hi > c.N[d] ? c.N[d] : hi;
                    empty |= q.lo[d] >= q.hi[d];
                }
                if (!empty && !blocks_in(D, &q, from_block, &c))
                    return false;
            }
    return true;
}
