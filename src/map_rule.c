/* Maps that every rank computes for itself, in memory of its own blocks: contiguous, round-robin,
 * Morton and Hilbert with block cells as weights. A block's owner comes from the cells before it
 * along the curve, summed over aligned subcubes of the curve's tree (their cells are products of
 * per-dimension sums), so nothing of the size of the block count is stored or sent. The owners
 * equal tsr__map_assign's whenever tsr__rule_applies.
 *
 * With measured weights only rank 0 has them: it walks the curve in key order, cuts it as
 * tsr__map_assign would, and every rank keeps just the P + 1 cut points (the keys where each
 * rank's run starts), searched in O(log P) for any block's owner. */
#include <math.h>
#include <stdlib.h>

#include "layout_impl.h"

typedef unsigned __int128 u128;

/* Contiguous, or a curve whose keys fit in 63 bits (past that, the table's keys wrap). */
static bool keys_fit(const tsr__layout *lay, tsr_map_strategy s) {
    if (s != TSR_MAP_CONTIGUOUS && s != TSR_MAP_SFC && s != TSR_MAP_MORTON)
        return false;
    int bits = 0;
    for (int d = 0; d < TSR_MAX_DIM; d++)
        while ((INT64_C(1) << bits) < lay->nb[d])
            bits++;
    return s == TSR_MAP_CONTIGUOUS || bits * lay->ndim <= 63;
}

bool tsr__starts_apply(const tsr__layout *lay, tsr_map_strategy s, int nranks) {
    return nranks >= 1 && lay->nblocks >= 1 && keys_fit(lay, s);
}

bool tsr__rule_applies(const tsr__layout *lay, tsr_map_strategy s, int nranks) {
    if (nranks < 1 || lay->nblocks < 1)
        return false;
    if (s == TSR_MAP_ROUNDROBIN)
        return true;
    if (!keys_fit(lay, s))
        return false;
    /* No block heavier than a rank's share: the owners then rise by at most one per block along
     * the curve and reach the last rank, so cut_sequence's clamps never act. */
    int64_t maxw = 1, total = 1;
    for (int d = 0; d < TSR_MAX_DIM; d++) {
        int64_t widest = 0;
        for (int64_t i = 0; i < lay->nb[d]; i++) {
            int64_t w = lay->cuts[d][i + 1] - lay->cuts[d][i];
            widest = w > widest ? w : widest;
        }
        maxw *= widest;
        total *= lay->cuts[d][lay->nb[d]];
    }
    return (u128)maxw * (u128)nranks <= (u128)total;
}

void tsr__hilbert_axes(int ndim, int bits, uint64_t h, uint32_t coord[TSR_MAX_DIM]) {
    /* Skilling's inverse: the transposed index back to axes. */
    uint32_t x[TSR_MAX_DIM] = {0, 0, 0};
    for (int b = 0; b < bits; b++)
        for (int i = 0; i < ndim; i++)
            x[i] |= (uint32_t)((h >> (b * ndim + (ndim - 1 - i))) & 1u) << b;
    if (bits > 0) {
        uint32_t n = 2u << (bits - 1), t = x[ndim - 1] >> 1;
        for (int i = ndim - 1; i > 0; i--)
            x[i] ^= x[i - 1];
        x[0] ^= t;
        for (uint32_t q = 2; q != n; q <<= 1) {
            uint32_t p = q - 1;
            for (int i = ndim - 1; i >= 0; i--) {
                if (x[i] & q) {
                    x[0] ^= p;
                } else {
                    t = (x[0] ^ x[i]) & p;
                    x[0] ^= t;
                    x[i] ^= t;
                }
            }
        }
    }
    for (int i = 0; i < TSR_MAX_DIM; i++)
        coord[i] = i < ndim ? x[i] : 0;
}

void tsr__morton_axes(int ndim, int bits, uint64_t h, uint32_t coord[TSR_MAX_DIM]) {
    for (int i = 0; i < TSR_MAX_DIM; i++)
        coord[i] = 0;
    for (int b = 0; b < bits; b++)
        for (int i = 0; i < ndim; i++)
            coord[i] |= (uint32_t)((h >> (b * ndim + i)) & 1u) << b;
}

void tsr__rule_init(tsr__rule *r, const tsr__layout *lay, tsr_map_strategy s, int nranks) {
    r->lay = lay;
    r->strategy = s;
    r->nranks = nranks;
    r->bits = 0;
    for (int d = 0; d < TSR_MAX_DIM; d++)
        while ((INT64_C(1) << r->bits) < lay->nb[d])
            r->bits++;
    r->curve = s == TSR_MAP_SFC || s == TSR_MAP_MORTON;
    r->keys = r->curve ? (u128)1 << (r->bits * lay->ndim) : (u128)lay->nblocks;
    r->total = 1;
    for (int d = 0; d < TSR_MAX_DIM; d++)
        r->total *= lay->cuts[d][lay->nb[d]];
    r->starts = NULL;
}

static void axes(const tsr__rule *r, uint64_t key, uint32_t c[TSR_MAX_DIM]) {
    if (r->strategy == TSR_MAP_SFC)
        tsr__hilbert_axes(r->lay->ndim, r->bits, key, c);
    else
        tsr__morton_axes(r->lay->ndim, r->bits, key, c);
}

static uint64_t key_of(const tsr__rule *r, int64_t id) {
    if (!r->curve)
        return (uint64_t)id;
    int64_t c[TSR_MAX_DIM];
    tsr__block_coords(r->lay, id, c);
    uint32_t uc[TSR_MAX_DIM] = {(uint32_t)c[0], (uint32_t)c[1], (uint32_t)c[2]};
    return r->strategy == TSR_MAP_SFC ? tsr__hilbert_index(r->lay->ndim, r->bits, uc)
                                      : tsr__morton_index(r->lay->ndim, r->bits, uc);
}

/* Cells of the blocks in the cube of side 2^level at origin o (blocks past the grid: none). */
static int64_t cube_cells(const tsr__layout *lay, const uint32_t o[TSR_MAX_DIM], int level) {
    int64_t cells = 1;
    for (int d = 0; d < TSR_MAX_DIM; d++) {
        int64_t lo = o[d], hi = d < lay->ndim ? lo + (INT64_C(1) << level) : lo + 1;
        lo = lo < lay->nb[d] ? lo : lay->nb[d];
        hi = hi < lay->nb[d] ? hi : lay->nb[d];
        cells *= lay->cuts[d][hi] - lay->cuts[d][lo];
    }
    return cells;
}

/* Cells of the blocks whose key is below `key`. */
static int64_t prefix(const tsr__rule *r, u128 key) {
    const tsr__layout *lay = r->lay;
    if (key >= r->keys)
        return r->total;
    if (!r->curve) { /* row-major: whole slabs, then rows, then cells */
        int64_t c[TSR_MAX_DIM];
        tsr__block_coords(lay, (int64_t)key, c);
        int64_t n0 = lay->cuts[0][lay->nb[0]], n1 = lay->cuts[1][lay->nb[1]];
        int64_t w1 = lay->cuts[1][c[1] + 1] - lay->cuts[1][c[1]];
        int64_t w2 = lay->cuts[2][c[2] + 1] - lay->cuts[2][c[2]];
        return n0 * n1 * lay->cuts[2][c[2]] +
               w2 * (n0 * lay->cuts[1][c[1]] + w1 * lay->cuts[0][c[0]]);
    }
    int nd = lay->ndim;
    int64_t sum = 0;
    uint64_t above = 0; /* the key's digits above the level */
    for (int level = r->bits; level > 0; level--) {
        int shift = (level - 1) * nd;
        uint64_t digit = (uint64_t)(key >> shift) & ((UINT64_C(1) << nd) - 1);
        for (uint64_t j = 0; j < digit; j++) {
            uint32_t o[TSR_MAX_DIM];
            axes(r, ((above << nd) | j) << shift, o);
            for (int d = 0; d < nd; d++)
                o[d] &= ~((UINT32_C(1) << (level - 1)) - 1);
            sum += cube_cells(lay, o, level - 1);
        }
        above = (above << nd) | digit;
    }
    return sum;
}

static int64_t key_cells(const tsr__rule *r, uint64_t key) {
    return prefix(r, (u128)key + 1) - prefix(r, key);
}

/* The rank of a block whose cells start `before` cells along the curve: the share that holds
 * the block's middle (cut_sequence's formula, in integers). */
static int rank_at(const tsr__rule *r, int64_t before, int64_t w) {
    return (int)(((u128)before * 2 + (u128)w) * (u128)r->nranks / ((u128)2 * (u128)r->total));
}

int tsr__starts_owner(const uint64_t *starts, int nranks, uint64_t key) {
    /* The last rank starting at or before the key: a rank without blocks starts where the next
     * one does, so the search passes over it. */
    int lo = 0, hi = nranks - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if (starts[mid] <= key)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

int tsr__rule_owner(const tsr__rule *r, int64_t id) {
    if (r->strategy == TSR_MAP_ROUNDROBIN)
        return (int)(id % r->nranks);
    uint64_t key = key_of(r, id);
    if (r->starts)
        return tsr__starts_owner(r->starts, r->nranks, key);
    int64_t before = prefix(r, key);
    return rank_at(r, before, prefix(r, (u128)key + 1) - before);
}

/* The smallest key k with prefix(k + 1) >= target (a block's key when target > 0). */
static u128 first_reaching(const tsr__rule *r, int64_t target) {
    u128 lo = 0, hi = r->keys; /* answer in [lo, hi] */
    while (lo < hi) {
        u128 mid = lo + (hi - lo) / 2;
        if (prefix(r, mid + 1) >= target)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* The key of the first block owned by rank `rank` or a later one (r->keys: none). */
static u128 start_key(const tsr__rule *r, int rank) {
    if (rank <= 0)
        return 0;
    if (rank >= r->nranks)
        return r->keys;
    if (r->starts)
        return r->starts[rank];
    /* rank_at >= rank  <=>  (2 before + w) * P >= rank * 2 total. The first block whose end
     * reaches half of that is the answer or the block after it. */
    u128 t = (u128)rank * 2 * (u128)r->total;
    int64_t half = (int64_t)((t + 2 * (u128)r->nranks - 1) / (2 * (u128)r->nranks));
    u128 k = first_reaching(r, half);
    if (k >= r->keys)
        return r->keys;
    int64_t before = prefix(r, k), w = key_cells(r, (uint64_t)k);
    if (rank_at(r, before, w) >= rank)
        return k;
    return first_reaching(r, before + w + 1);
}

typedef struct {
    const tsr__rule *r;
    u128 lo, hi;
    int64_t *ids, n, cap;                               /* the blocks found, or: */
    void (*each)(void *user, uint64_t key, int64_t id); /* called on each in key order */
    void *user;
    bool ok; /* false: out of memory */
} visit_ctx;

/* Skilling's inverse (tsr__hilbert_axes) one level at a time. The coordinate bits at one
 * position are a fixed map F of the Gray-decoded key digit there, F made of the flips and swaps
 * that the digits above select; those act alike on every lower position, so a child's map is
 * F after its own digit's. Walking down the tree so costs O(1) per block instead of one inverse
 * of O(levels) each. Maps act on vectors whose bit i is dimension i's bit. */
typedef struct {
    uint8_t f[1 << TSR_MAX_DIM];
} curve_map;

static unsigned gray_of(int nd, unsigned digit, unsigned up) {
    unsigned g = 0; /* dimension i's raw bit is the digit's bit nd - 1 - i */
    for (int i = 0; i < nd; i++) {
        unsigned xi = (digit >> (nd - 1 - i)) & 1u;
        unsigned before = i == 0 ? up : (digit >> (nd - i)) & 1u;
        g |= (xi ^ before) << i;
    }
    return g;
}

static unsigned digit_ops(int nd, unsigned g, unsigned v) {
    for (int i = nd - 1; i >= 0; i--) {
        if ((g >> i) & 1u)
            v ^= 1u;
        else if (i > 0 && (((v >> i) ^ v) & 1u))
            v ^= 1u | (1u << i);
    }
    return v;
}

static bool emit(visit_ctx *v, uint64_t key, const uint32_t c[TSR_MAX_DIM]) {
    const tsr__layout *lay = v->r->lay;
    int64_t id = (int64_t)c[0] + lay->nb[0] * ((int64_t)c[1] + lay->nb[1] * c[2]);
    if (v->each) {
        v->each(v->user, key, id);
        return true;
    }
    if (v->n == v->cap) { /* a weighted rank's count is not known beforehand */
        int64_t nc = 2 * v->cap + 16;
        int64_t *a = realloc(v->ids, sizeof *a * (size_t)nc);
        if (!a)
            return v->ok = false;
        v->ids = a;
        v->cap = nc;
    }
    v->ids[v->n++] = id;
    return true;
}

/* The blocks in [lo, hi) below the cube with this key prefix (side 2^level, origin o, the map F
 * of its children's digits, `up`: the raw last-dimension bit of its own digit). */
static void visit(visit_ctx *v, uint64_t pre, int level, const uint32_t o[TSR_MAX_DIM],
                  const curve_map *F, unsigned up) {
    const tsr__rule *r = v->r;
    int nd = r->lay->ndim, b = level - 1, shift = b * nd;
    bool hilbert = r->strategy == TSR_MAP_SFC;
    for (unsigned digit = 0; v->ok && digit < (1u << nd); digit++) {
        uint64_t key = (pre << nd) | digit;
        u128 first = (u128)key << shift, last = first + ((u128)1 << shift);
        if (last <= v->lo || first >= v->hi)
            continue;
        unsigned g = hilbert ? gray_of(nd, digit, up) : 0;
        unsigned bits = hilbert ? F->f[g] : digit;
        uint32_t c[TSR_MAX_DIM] = {o[0], o[1], o[2]};
        bool inside = true;
        for (int d = 0; d < nd; d++) {
            c[d] |= ((bits >> d) & 1u) << b;
            inside = inside && c[d] < r->lay->nb[d];
        }
        if (!inside)
            continue;
        if (b == 0) {
            emit(v, key, c);
            continue;
        }
        curve_map child;
        if (hilbert)
            for (unsigned w = 0; w < (1u << nd); w++)
                child.f[w] = F->f[digit_ops(nd, g, w)];
        visit(v, key, b, c, &child, digit & 1u);
    }
}

/* Every block with a key in [v->lo, v->hi), in key order. */
static void descend(visit_ctx *v) {
    static const uint32_t origin[TSR_MAX_DIM] = {0, 0, 0};
    if (v->r->bits == 0) { /* one block, key 0 */
        if (v->lo == 0 && v->hi > 0)
            emit(v, 0, origin);
        return;
    }
    curve_map id;
    for (unsigned w = 0; w < (1u << TSR_MAX_DIM); w++)
        id.f[w] = (uint8_t)w;
    visit(v, 0, v->r->bits, origin, &id, 0);
}

static int by_id(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

bool tsr__rule_local(const tsr__rule *r, int rank, int64_t *count, int64_t **ids) {
    const tsr__layout *lay = r->lay;
    *count = 0;
    *ids = NULL;
    if (r->strategy == TSR_MAP_ROUNDROBIN) {
        int64_t n = lay->nblocks > rank ? (lay->nblocks - 1 - rank) / r->nranks + 1 : 0;
        *ids = malloc(sizeof **ids * (size_t)(n ? n : 1));
        if (!*ids)
            return false;
        for (int64_t k = 0; k < n; k++)
            (*ids)[k] = rank + k * r->nranks;
        *count = n;
        return true;
    }
    u128 lo = start_key(r, rank), hi = start_key(r, rank + 1);
    if (r->starts && !r->curve) {
        *ids = malloc(sizeof **ids * (size_t)(hi > lo ? hi - lo : 1));
        if (!*ids)
            return false;
        for (u128 k = lo; k < hi; k++)
            (*ids)[(*count)++] = (int64_t)k;
        return true;
    }
    if (r->starts) { /* the list grows as the blocks come */
        visit_ctx v = {.r = r, .lo = lo, .hi = hi, .ok = true};
        if (lo < hi)
            descend(&v);
        if (!v.ok) {
            free(v.ids);
            return false;
        }
        *ids = v.ids ? v.ids : malloc(sizeof **ids);
        if (!*ids)
            return false;
        qsort(*ids, (size_t)v.n, sizeof **ids, by_id);
        *count = v.n;
        return true;
    }
    /* At most as many blocks as keys, and as cells in the range over the smallest block's. */
    int64_t minw = 1;
    for (int d = 0; d < TSR_MAX_DIM; d++) {
        int64_t narrowest = INT64_MAX;
        for (int64_t i = 0; i < lay->nb[d]; i++) {
            int64_t w = lay->cuts[d][i + 1] - lay->cuts[d][i];
            narrowest = w < narrowest ? w : narrowest;
        }
        minw *= narrowest > 0 ? narrowest : 1;
    }
    int64_t cap = (prefix(r, hi) - prefix(r, lo)) / minw;
    if ((u128)cap > hi - lo)
        cap = (int64_t)(hi - lo);
    *ids = malloc(sizeof **ids * (size_t)(cap > 0 ? cap : 1));
    if (!*ids)
        return false;
    if (!r->curve) {
        for (u128 k = lo; k < hi; k++)
            (*ids)[(*count)++] = (int64_t)k;
        return true;
    }
    visit_ctx v = {.r = r, .lo = lo, .hi = hi, .ids = *ids, .n = 0, .cap = cap, .ok = true};
    descend(&v);
    *ids = v.ids; /* emit may have grown the array */
    if (!v.ok) {
        free(v.ids);
        *ids = NULL;
        return false;
    }
    qsort(v.ids, (size_t)v.n, sizeof *v.ids, by_id);
    *count = v.n;
    return true;
}

/* tsr__map_assign's cut_sequence with weights, one block at a time along the curve. */
typedef struct {
    const double *w;
    double total, before;
    int64_t n, k;
    int nranks, prev;
    uint64_t *starts;
    int *owner; /* or NULL */
} cut_walk;

static void cut_step(void *user, uint64_t key, int64_t id) {
    cut_walk *c = user;
    double w = c->w[id];
    int64_t r;
    if (c->total > 0)
        r = (int64_t)floor((c->before + 0.5 * w) * c->nranks / c->total);
    else
        r = c->k * c->nranks / c->n;
    int64_t lo = c->prev, hi = c->prev + 1;
    if (c->n - c->k <= c->nranks - 1 - c->prev)
        lo = c->prev + 1;
    if (lo < 0)
        lo = 0;
    if (hi > c->nranks - 1)
        hi = c->nranks - 1;
    r = r < lo ? lo : r > hi ? hi : r;
    for (int64_t q = c->prev + 1; q <= r; q++)
        c->starts[q] = key;
    c->prev = (int)r;
    if (c->owner)
        c->owner[id] = (int)r;
    c->before += w;
    c->k++;
}

/* Calls each(user, key, id) on every block in key order. */
static void walk(const tsr__rule *r, void (*each)(void *, uint64_t, int64_t), void *user) {
    if (!r->curve) {
        for (int64_t id = 0; id < r->lay->nblocks; id++)
            each(user, (uint64_t)id, id);
        return;
    }
    visit_ctx v = {.r = r, .lo = 0, .hi = r->keys, .each = each, .user = user, .ok = true};
    descend(&v);
}

void tsr__weighted_starts(const tsr__layout *lay, tsr_map_strategy s, const double *weights,
                          int nranks, uint64_t *starts, int *owner) {
    tsr__rule r;
    tsr__rule_init(&r, lay, s, nranks);
    starts[0] = 0;
    for (int q = 1; q <= nranks; q++)
        starts[q] = (uint64_t)r.keys;
    /* The total in id order, as the table sums it, so that the shares agree. */
    cut_walk c = {.w = weights,
                  .n = lay->nblocks,
                  .nranks = nranks,
                  .prev = -1,
                  .starts = starts,
                  .owner = owner};
    for (int64_t id = 0; id < lay->nblocks; id++)
        c.total += weights[id];
    walk(&r, cut_step, &c);
}

typedef struct {
    const uint64_t *starts;
    int nranks, rank;
    int *owner;
} owner_walk;

static void owner_step(void *user, uint64_t key, int64_t id) {
    owner_walk *o = user;
    while (o->rank + 1 < o->nranks && o->starts[o->rank + 1] <= key)
        o->rank++;
    o->owner[id] = o->rank;
}

typedef struct {
    const tsr__rule *r;
    int64_t before; /* cells of the blocks walked */
    int *owner;
} cells_walk;

static void cells_step(void *user, uint64_t key, int64_t id) {
    (void)key;
    cells_walk *c = user;
    int64_t w = tsr__block_cells(c->r->lay, id);
    c->owner[id] = rank_at(c->r, c->before, w);
    c->before += w;
}

void tsr__rule_owners(const tsr__rule *r, int *owner) {
    if (r->strategy == TSR_MAP_ROUNDROBIN) {
        for (int64_t id = 0; id < r->lay->nblocks; id++)
            owner[id] = (int)(id % r->nranks);
    } else if (r->starts) {
        owner_walk o = {.starts = r->starts, .nranks = r->nranks, .owner = owner};
        walk(r, owner_step, &o);
    } else { /* the rule's share of the cells, block after block along the curve */
        cells_walk c = {.r = r, .owner = owner};
        walk(r, cells_step, &c);
    }
}
