/* Map: block -> rank assignment by the coordinator, and the plan summary. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exchange_impl.h"
#include "plan_summary_impl.h"

const char *const tsr_map_strategy_names[] = {"contiguous", "roundrobin", "sfc",
                                              "morton",     "knapsack",   NULL};

uint64_t tsr__hilbert_index(int ndim, int bits, const uint32_t coord[TSR_MAX_DIM]) {
    /* Skilling's transform ("Programming the Hilbert curve", 2004): axes to transposed index. */
    uint32_t x[TSR_MAX_DIM] = {0, 0, 0};
    for (int i = 0; i < ndim; i++)
        x[i] = coord[i];
    if (bits <= 0)
        return 0;
    uint32_t m = 1u << (bits - 1);
    for (uint32_t q = m; q > 1; q >>= 1) {
        uint32_t p = q - 1;
        for (int i = 0; i < ndim; i++) {
            if (x[i] & q) {
                x[0] ^= p;
            } else {
                uint32_t t = (x[0] ^ x[i]) & p;
                x[0] ^= t;
                x[i] ^= t;
            }
        }
    }
    for (int i = 1; i < ndim; i++)
        x[i] ^= x[i - 1];
    uint32_t t = 0;
    for (uint32_t q = m; q > 1; q >>= 1)
        if (x[ndim - 1] & q)
            t ^= q - 1;
    for (int i = 0; i < ndim; i++)
        x[i] ^= t;
    uint64_t h = 0;
    for (int b = bits - 1; b >= 0; b--)
        for (int i = 0; i < ndim; i++)
            h = (h << 1) | ((x[i] >> b) & 1u);
    return h;
}

uint64_t tsr__morton_index(int ndim, int bits, const uint32_t coord[TSR_MAX_DIM]) {
    uint64_t h = 0;
    for (int b = bits - 1; b >= 0; b--)
        for (int i = ndim - 1; i >= 0; i--)
            h = (h << 1) | ((coord[i] >> b) & 1u);
    return h;
}

typedef struct {
    uint64_t key;
    int64_t id;
    double w;
} keyed;

static int by_key(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static int by_weight_desc(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    if (x->w != y->w)
        return x->w > y->w ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Cuts a sequence of blocks into nranks runs of about equal weight: a block goes to the rank
 * whose share contains the middle of its weight, but never skips a rank, and leaves enough
 * blocks for the ranks after it, so no rank is idle while there are blocks to go round. `total`:
 * the weights summed in block id order (so tsr__weighted_starts needs no walk for it). */
static void cut_sequence(const keyed *seq, int64_t n, int nranks, int *owner, bool cells,
                         double total) {
    int64_t itotal = 0, ibefore = 0; /* whole cells: exact, so that map_rule.c finds the same */
    for (int64_t k = 0; k < n; k++)
        itotal += (int64_t)seq[k].w;
    double before = 0;
    int prev = -1;
    for (int64_t k = 0; k < n; k++) {
        int64_t r;
        if (cells)
            r = (int64_t)(((unsigned __int128)ibefore * 2 + (unsigned __int128)seq[k].w) *
                          (unsigned)nranks / ((unsigned __int128)itotal * 2));
        else if (total > 0)
            r = (int64_t)floor((before + 0.5 * seq[k].w) * nranks / total);
        else
            r = k * nranks / n;
        int64_t lo = prev, hi = prev + 1;
        if (n - k <= nranks - 1 - prev)
            lo = prev + 1; /* as many blocks left as ranks still without one */
        if (lo < 0)
            lo = 0;
        if (hi > nranks - 1)
            hi = nranks - 1;
        r = r < lo ? lo : r > hi ? hi : r;
        owner[seq[k].id] = (int)r;
        prev = (int)r;
        before += seq[k].w;
        ibefore += (int64_t)seq[k].w;
    }
}

/* Largest weight first onto the least loaded rank, with a binary min-heap of (load, rank). */
static void knapsack(keyed *seq, int64_t n, int nranks, int *owner, double *load, int *heap) {
    qsort(seq, (size_t)n, sizeof *seq, by_weight_desc);
    for (int r = 0; r < nranks; r++) {
        load[r] = 0;
        heap[r] = r;
    }
#define LESS(a, b) (load[a] < load[b] || (load[a] == load[b] && (a) < (b)))
    for (int64_t k = 0; k < n; k++) {
        int r = heap[0];
        owner[seq[k].id] = r;
        load[r] += seq[k].w;
        int i = 0; /* sift down */
        for (;;) {
            int l = 2 * i + 1, rr = l + 1, m = i;
            if (l < nranks && LESS(heap[l], heap[m]))
                m = l;
            if (rr < nranks && LESS(heap[rr], heap[m]))
                m = rr;
            if (m == i)
                break;
            int t = heap[i];
            heap[i] = heap[m];
            heap[m] = t;
            i = m;
        }
    }
#undef LESS
}

bool tsr__map_assign(const tsr__layout *lay, tsr_map_strategy s, const double *weights, int nranks,
                     int *owner) {
    int64_t n = lay->nblocks;
    keyed *seq = malloc(sizeof *seq * (size_t)(n ? n : 1));
    if (!seq)
        return false;
    int bits = 0;
    for (int d = 0; d < TSR_MAX_DIM; d++)
        while ((INT64_C(1) << bits) < lay->nb[d])
            bits++;
    for (int64_t id = 0; id < n; id++) {
        int64_t c[TSR_MAX_DIM];
        tsr__block_coords(lay, id, c);
        uint32_t uc[TSR_MAX_DIM] = {(uint32_t)c[0], (uint32_t)c[1], (uint32_t)c[2]};
        seq[id].id = id;
        seq[id].w = weights ? weights[id] : (double)tsr__block_cells(lay, id);
        seq[id].key = s == TSR_MAP_SFC      ? tsr__hilbert_index(lay->ndim, bits, uc)
                      : s == TSR_MAP_MORTON ? tsr__morton_index(lay->ndim, bits, uc)
                                            : (uint64_t)id;
    }
    double total = 0;
    for (int64_t id = 0; id < n; id++)
        total += seq[id].w;
    bool ok = true;
    switch (s) {
    case TSR_MAP_ROUNDROBIN:
        for (int64_t id = 0; id < n; id++)
            owner[id] = (int)(id % nranks);
        break;
    case TSR_MAP_KNAPSACK: {
        double *load = malloc(sizeof *load * (size_t)nranks);
        int *heap = malloc(sizeof *heap * (size_t)nranks);
        ok = load && heap;
        if (ok)
            knapsack(seq, n, nranks, owner, load, heap);
        free(load);
        free(heap);
        break;
    }
    case TSR_MAP_SFC:
    case TSR_MAP_MORTON:
        qsort(seq, (size_t)n, sizeof *seq, by_key);
        cut_sequence(seq, n, nranks, owner, !weights, total);
        break;
    default:
        cut_sequence(seq, n, nranks, owner, !weights, total);
        break;
    }
    free(seq);
    return ok;
}

static int map_check(tsr_ctx ctx, const tsr__layout *lay, tsr_map_strategy s,
                     const double *weights) {
    TSR_CHECK(ctx, s >= 0 && s < TSR_MAP_COUNT, TSR_ERR_INPUT, "unknown map strategy %d", (int)s);
    if (weights)
        for (int64_t i = 0; i < lay->nblocks; i++)
            TSR_CHECK(ctx, isfinite(weights[i]) && weights[i] >= 0, TSR_ERR_INPUT,
                      "weight of block %lld is %g; weights must be finite and non-negative",
                      (long long)i, weights[i]);
    return TSR_SUCCESS;
}

static int map_compute(tsr_ctx ctx, const tsr__layout *lay, tsr_map_strategy s,
                       const double *weights, int *owner) {
    TSR_CALL(ctx, map_check(ctx, lay, s, weights));
    TSR_CHECK(ctx, tsr__map_assign(lay, s, weights, ctx->size, owner), TSR_ERR_MEMORY,
              "cannot allocate the map of %lld blocks", (long long)lay->nblocks);
    return TSR_SUCCESS;
}

/* Blocks above which a map every rank can compute for itself keeps no table of owners (each rank
 * then holds only its own blocks). TESSERA_MAP_TABLE_MAX sets it (0: whenever possible). */
static int64_t table_max(void) {
    const char *v = getenv("TESSERA_MAP_TABLE_MAX");
    char *end;
    long long n = v && *v ? strtoll(v, &end, 10) : -1;
    return n >= 0 && v && *end == '\0' ? (int64_t)n : INT64_C(1) << 22;
}

/* A ruled map's own blocks, listed by every rank from its rule; agreed. */
static int rule_local(tsr_map m) {
    tsr_ctx ctx = m->ctx;
    m->ruled = true;
    bool ok = tsr__rule_local(&m->rule, ctx->rank, &m->nlocal, &m->local);
    TSR_CALL(ctx, tsr_ctx_agree(
                      ctx, ok ? TSR_SUCCESS
                              : tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                              "cannot allocate the list of local blocks")));
    return TSR_SUCCESS;
}

/* Each rank lists its own blocks from the rule; no owner table anywhere. */
static int map_ruled(tsr_map m) {
    tsr_ctx ctx = m->ctx;
    tsr__rule_init(&m->rule, &m->decomp->lay, m->strategy, ctx->size);
    return rule_local(m);
}

/* Rank 0 cuts the curve by the weights (which only it reads) and broadcasts the P + 1 cut
 * points; each rank lists its own blocks from them. */
static int map_weighted(tsr_map m, const double *weights) {
    tsr_ctx ctx = m->ctx;
    const tsr__layout *lay = &m->decomp->lay;
    uint64_t *starts = malloc(sizeof *starts * ((size_t)ctx->size + 1));
    int err = starts ? TSR_SUCCESS
                     : tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                     "cannot allocate the cut points of %d ranks", ctx->size);
    if (!err && ctx->rank == 0)
        err = map_check(ctx, lay, m->strategy, weights);
    if (!err && ctx->rank == 0)
        tsr__weighted_starts(lay, m->strategy, weights, ctx->size, starts, NULL);
    err = tsr_ctx_agree(ctx, err);
    if (!err)
        err = tsr__bcast_bytes(ctx, starts, sizeof *starts * ((size_t)ctx->size + 1), 0);
    if (err) {
        free(starts);
        return tsr_error_trace(ctx, err, __FILE__, __LINE__, __func__);
    }
    tsr__rule_init(&m->rule, lay, m->strategy, ctx->size);
    m->rule.starts = starts; /* the map's from here */
    return rule_local(m);
}

/* Rank 0 computes every owner and broadcasts the table. */
static int map_table(tsr_map m, const double *weights) {
    tsr_ctx ctx = m->ctx;
    const tsr__layout *lay = &m->decomp->lay;
    int *owner = malloc(sizeof(int) * (size_t)(lay->nblocks ? lay->nblocks : 1));
    int err =
        owner ? TSR_SUCCESS
              : tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                              "cannot allocate the map of %lld blocks", (long long)lay->nblocks);
    if (!err && ctx->rank == 0)
        err = map_compute(ctx, lay, m->strategy, weights, owner);
    err = tsr_ctx_agree(ctx, err);
    if (!err)
        err = tsr__bcast_bytes(ctx, owner, sizeof(int) * (size_t)lay->nblocks, 0);
    if (err) {
        free(owner);
        return tsr_error_trace(ctx, err, __FILE__, __LINE__, __func__);
    }
    m->owner = owner;
    TSR_CALL(ctx, tsr__map_list_local(m, NULL, owner, lay->nblocks));
    return TSR_SUCCESS;
}

int tsr__map_list_local(tsr_map m, const int64_t *ids, const int *owner, int64_t n) {
    tsr_ctx ctx = m->ctx;
    m->nlocal = 0;
    for (int64_t i = 0; i < n; i++)
        m->nlocal += owner[i] == ctx->rank;
    m->local = malloc(sizeof(int64_t) * (size_t)(m->nlocal ? m->nlocal : 1));
    TSR_CHECK(ctx, m->local, TSR_ERR_MEMORY, "cannot allocate the list of local blocks");
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (owner[i] == ctx->rank)
            m->local[k++] = ids ? ids[i] : i;
    return TSR_SUCCESS;
}

/* Rank 0 computes every owner and keeps the table; the other ranks get their part of it
 * (map_sparse.c). */
static int map_sparse(tsr_map m, const double *weights) {
    tsr_ctx ctx = m->ctx;
    const tsr__layout *lay = &m->decomp->lay;
    int err = TSR_SUCCESS;
    if (ctx->rank == 0) {
        m->owner = malloc(sizeof(int) * (size_t)(lay->nblocks ? lay->nblocks : 1));
        err = m->owner ? map_compute(ctx, lay, m->strategy, weights, m->owner)
                       : tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                       "cannot allocate the map of %lld blocks",
                                       (long long)lay->nblocks);
    }
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    TSR_CALL(ctx, tsr__map_sparse_lists(m));
    return TSR_SUCCESS;
}

int tsr_map_create(tsr_decomp decomp, tsr_map_strategy strategy, const double *weights,
                   tsr_map *map) {
    tsr_ctx ctx = decomp->ctx;
    *map = NULL;
    tsr_map m = calloc(1, sizeof *m);
    int agreed = tsr_ctx_agree(ctx, m ? TSR_SUCCESS
                                      : tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__,
                                                      __func__, "cannot allocate a map"));
    if (agreed) {
        free(m); /* another rank's failure */
        return tsr_error_trace(ctx, agreed, __FILE__, __LINE__, __func__);
    }
    m->ctx = ctx;
    m->decomp = decomp;
    m->strategy = strategy;
    /* Rank 0's choice (only it has the weights), so that a different environment on another
     * rank cannot split them: a table everywhere, the rule, cut points, or rank 0's table
     * and every other rank its part. */
    enum { TABLE, RULE, CUTS, SPARSE };
    int how = TABLE;
    if (decomp->lay.nblocks > table_max()) {
        if (!weights && tsr__rule_applies(&decomp->lay, strategy, ctx->size))
            how = RULE;
        else if (weights && tsr__starts_apply(&decomp->lay, strategy, ctx->size))
            how = CUTS;
        else
            how = SPARSE;
    }
    int err = tsr__bcast_bytes(ctx, &how, sizeof how, 0);
    if (!err)
        err = how == RULE     ? map_ruled(m)
              : how == CUTS   ? map_weighted(m, weights)
              : how == SPARSE ? map_sparse(m, weights)
                              : map_table(m, weights);
    if (err) {
        tsr_map_destroy(&m);
        return tsr_error_trace(ctx, err, __FILE__, __LINE__, __func__);
    }
    *map = m;
    return TSR_SUCCESS;
}

const int *tsr__map_owners(tsr_map m) {
    if (!m->owner && !m->sparse) {
        const tsr__layout *lay = &m->decomp->lay;
        int *owner = malloc(sizeof(int) * (size_t)(lay->nblocks ? lay->nblocks : 1));
        if (!owner)
            return NULL;
        tsr__rule_owners(&m->rule, owner); /* one walk along the curve, no sort */
        m->owner = owner;
    }
    return m->owner;
}

int tsr_map_destroy(tsr_map *map) {
    if (map && *map) {
        tsr__xcache_free(*map);
        free((*map)->owner);
        free((*map)->known_id);
        free((*map)->known_owner);
        free((*map)->rule.starts);
        free((*map)->local);
        free(*map);
        *map = NULL;
    }
    return TSR_SUCCESS;
}

tsr_decomp tsr_map_decomp(tsr_map m) {
    return m->decomp;
}
tsr_map_strategy tsr_map_get_strategy(tsr_map m) {
    return m->strategy;
}
int tsr_map_owner(tsr_map m, int64_t block) {
    return block >= 0 && block < m->decomp->lay.nblocks ? tsr__map_owner_of(m, block) : -1;
}

int tsr_map_local_blocks(tsr_map m, int64_t *count, const int64_t **ids) {
    *count = m->nlocal;
    *ids = m->local;
    return TSR_SUCCESS;
}

static int cmp_pair(const void *a, const void *b) {
    const int64_t *x = a, *y = b;
    return (*x > *y) - (*x < *y);
}

typedef struct stats_ctx {
    const int *owner;
    int nranks, dst_owner;
    tsr__rank_stats *stats;
    int64_t *pairs, npairs, cap;
} stats_ctx;

static bool count_piece(const tsr__piece *p, void *user) {
    stats_ctx *c = user;
    int from = c->owner[p->src];
    if (from == c->dst_owner)
        return true;
    c->stats[from].halo_bytes += tsr__box_cells(&p->db) * (int64_t)sizeof(double);
    if (c->npairs == c->cap) {
        int64_t nc = c->cap ? 2 * c->cap : 1024;
        int64_t *a = realloc(c->pairs, sizeof *a * (size_t)nc);
        if (!a)
            return false;
        c->pairs = a;
        c->cap = nc;
    }
    c->pairs[c->npairs++] = (int64_t)from * c->nranks + c->dst_owner;
    return true;
}

bool tsr__plan_stats(const tsr__layout *lay, const int *owner, int nranks, int width,
                     tsr_stencil stencil, tsr__rank_stats *stats) {
    memset(stats, 0, sizeof *stats * (size_t)nranks);
    /* The exchange engine's own pieces, so that --plan shows what the halo will send. */
    tsr__regions R;
    tsr__regions_halo(lay->ndim, stencil, width, &R);
    stats_ctx c = {.owner = owner, .nranks = nranks, .stats = stats};
    bool ok = true;
    for (int64_t b = 0; ok && b < lay->nblocks; b++) {
        stats[owner[b]].blocks++;
        stats[owner[b]].cells += tsr__block_cells(lay, b);
        c.dst_owner = owner[b];
        ok = tsr__pieces_into(lay, b, lay, &R, count_piece, &c);
    }
    /* (sender, receiver) pairs, to count distinct peers. */
    if (ok && c.npairs > 0)
        qsort(c.pairs, (size_t)c.npairs, sizeof *c.pairs, cmp_pair);
    for (int64_t i = 0; ok && i < c.npairs; i++)
        if (i == 0 || c.pairs[i] != c.pairs[i - 1])
            stats[c.pairs[i] / nranks].peers++;
    free(c.pairs);
    return ok;
}

static int print_plan(tsr_map m, int width, tsr_stencil stencil, bool full, FILE *out) {
    tsr_ctx ctx = m->ctx;
    if (ctx->rank != 0)
        return TSR_SUCCESS;
    const tsr__layout *lay = &m->decomp->lay;
    tsr__rank_stats *st;
    TSR_CALL(ctx, tsr__calloc(ctx, (size_t)ctx->size, sizeof *st, &st));
    const int *owners = tsr__map_owners(m);
    if (!owners || !tsr__plan_stats(lay, owners, ctx->size, width, stencil, st)) {
        free(st);
        TSR_CHECK(ctx, 0, TSR_ERR_MEMORY, "cannot allocate the plan summary");
    }
    char gs[96], bs[96];
    tsr_extents ge = {.ndim = lay->ndim, .n = {lay->n[0], lay->n[1], lay->n[2]}};
    tsr_extents be = {.ndim = lay->ndim, .n = {lay->nb[0], lay->nb[1], lay->nb[2]}};
    tsr_extents_format(&ge, gs, sizeof gs);
    tsr_extents_format(&be, bs, sizeof bs);
    fprintf(out,
            "plan: grid %s (%lld cells), %s blocks (%lld), map %s, %d ranks, halo width %d %s\n",
            gs, (long long)tsr_extents_volume(&ge), bs, (long long)lay->nblocks,
            tsr_map_strategy_names[m->strategy], ctx->size, width,
            stencil == TSR_STENCIL_STAR ? "star" : "box");
    int64_t idle = 0;
    for (int r = 0; r < ctx->size; r++)
        idle += st[r].blocks == 0;
    tsr__plan_print_ranks(out, st, ctx->size, full);
    free(st);
    if (idle)
        tsr_ctx_warn(ctx, "%lld of %d ranks have no blocks and will be idle", (long long)idle,
                     ctx->size);
    int64_t blk;
    int d = tsr__width_violation(lay, width, &blk);
    if (d >= 0) {
        tsr_box b;
        tsr__block_box(lay, blk, &b);
        fprintf(out,
                "note: halo width %d is wider than block %lld (%lld cells along %c): its ghosts "
                "span several blocks\n",
                width, (long long)blk, (long long)(b.hi[d] - b.lo[d]), "xyz"[d]);
    }
    return TSR_SUCCESS;
}

int tsr_map_print_plan(tsr_map m, int width, tsr_stencil stencil, FILE *out) {
    return print_plan(m, width, stencil, false, out);
}

int tsr_map_print_plan_table(tsr_map m, int width, tsr_stencil stencil, FILE *out) {
    return print_plan(m, width, stencil, true, out);
}
