/* Cell and neighbour lists of one block: its particles and ghosts binned into cells about half
 * the range wide over the block grown by the ghost width, then every local particle's partners
 * closer than the range, sorted by (id, image).
 *
 * Every particle and ghost of the block first gets its rank in (id, image) order (a merge: the
 * ghosts come sorted from the build, the locals sorted by id from redistribution); positions
 * and ranks are copied in cell order so the search reads them contiguously. A particle visits
 * only the rows of cells that its sphere reaches, and in each row only the cells its chord
 * spans, with a margin that keeps every partner whatever the rounding. Its partners' ranks are
 * set in a two-level bitmap and read back in ascending order: a sort in time linear in the
 * partners (plus a scan of one word per 4096 ranks between the lowest and highest candidate).
 * Threads take contiguous shares of the local particles, list them into their own arrays, then
 * copy them into place; the binning is shared the same way (contiguous shares of the ranks, each
 * placed after the shares before it in every cell). */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "particles_impl.h"

/* Cells per range along each dimension (cells at least range / SPLIT wide). */
#define SPLIT 2
#define WINDOW (2 * SPLIT + 4)

typedef struct order_key {
    int64_t id;
    int32_t at;
} order_key;

static int key_cmp(const void *a, const void *b) {
    const order_key *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

/* Everything one block's lists need while they are built. */
typedef struct bins {
    int ndim;
    int64_t nc[3];
    double lo[3], len[3], scale[3], margin[3];
    int64_t *start;  /* per cell + 1: the cell's first slot */
    int64_t *cell;   /* per particle (local, then nlocal + ghost) */
    int32_t *slot;   /* per particle: its slot in cell order */
    double *pos[3];  /* per slot */
    int32_t *rank;   /* per slot: (id, image) rank */
    int32_t *byrank; /* rank -> particle */
    int64_t n;       /* particles and ghosts */
} bins;

static void bins_free(bins *g) {
    free(g->start);
    free(g->cell);
    free(g->slot);
    for (int d = 0; d < 3; d++)
        free(g->pos[d]);
    free(g->rank);
    free(g->byrank);
}

/* The cell index along d of coordinate y (clamped: ghosts at the far edge of the grown box). */
static inline int64_t cell_1d(const bins *g, int d, double y) {
    double f = floor((y - g->lo[d]) * g->scale[d]);
    return f < 0.0 ? 0 : f >= (double)g->nc[d] ? g->nc[d] - 1 : (int64_t)f;
}

/* Lower edge of cell k along d. */
static inline double edge(const bins *g, int d, int64_t k) {
    return g->lo[d] + (double)k * g->len[d] / (double)g->nc[d];
}

static void position(const tsr__pblock *blk, const tsr__nblock *nbk, int64_t j, double y[3]) {
    for (int d = 0; d < 3; d++)
        y[d] = j < nbk->nlocal ? ((const double *)(void *)tsr__pcol(blk, 1 + d))[j]
                               : nbk->gx[d][j - nbk->nlocal];
}

/* One thread's share of the lists: partners of its particles, one after the other, and its
 * bitmaps (bit r of low: rank r is a partner; bit w of high: word w of low is not zero). */
typedef struct share {
    int32_t *part;
    int64_t n, cap;
    int64_t done, todo; /* particles listed so far, of the share's */
    uint64_t *low, *high;
    int32_t *cand; /* candidate ranks of one particle */
    int64_t ncand;
    bool ok;
} share;

static bool reserve(share *sh, int64_t more) {
    int64_t need = sh->n + more;
    if (need <= sh->cap)
        return true;
    /* once a few lists are known, room for all the share's at their mean length and a tenth
     * more: one or two reallocations per build rather than a dozen */
    int64_t cap = 2 * need + 64;
    if (sh->done >= 32) {
        double est = (double)need / (double)sh->done * (double)sh->todo * 1.1;
        cap = est > (double)(need + 64) ? (int64_t)est : need + 64;
    }
    int32_t *q = realloc(sh->part, (size_t)cap * sizeof *q);
    if (!q)
        return false;
    sh->part = q;
    sh->cap = cap;
    return true;
}

/* Distance from coordinate x to cell k along d when the particle is in cell c (0 in the same
 * cell), less the margin that covers rounding in the binning. */
static inline double gap(const bins *g, int d, int64_t k, int64_t c, double x) {
    double s = k > c ? edge(g, d, k) - x : k < c ? x - edge(g, d, k + 1) : 0.0;
    s -= g->margin[d];
    return s > 0.0 ? s * s : 0.0;
}

/* Appends the partners of local particle i, in rank order, to sh. */
static bool partners_of(tsr_neighbours nb, const bins *g, int64_t i, share *sh) {
    double r2max = nb->range * nb->range, xi[3] = {0.0, 0.0, 0.0};
    /* a cell is skipped only beyond this (rounding of the squares) */
    double r2wide = r2max * (1.0 + 1e-9);
    int32_t si = g->slot[i];
    int64_t ci[3] = {0, 0, 0}, lo[3] = {0, 0, 0}, hi[3] = {0, 0, 0};
    for (int d = 0; d < g->ndim; d++) {
        xi[d] = g->pos[d][si];
        ci[d] = cell_1d(g, d, xi[d]);
        lo[d] = cell_1d(g, d, xi[d] - nb->range - g->margin[d]);
        hi[d] = cell_1d(g, d, xi[d] + nb->range + g->margin[d]);
    }
    /* squared gaps to the cells of the window along each dimension (cells are at least
     * range / SPLIT wide, so a window spans at most 2 SPLIT + 2 of them) */
    double gq[3][WINDOW] = {{0.0}};
    for (int d = 0; d < g->ndim; d++) {
        if (hi[d] - lo[d] >= WINDOW)
            return false;
        for (int64_t k = lo[d]; k <= hi[d]; k++)
            gq[d][k - lo[d]] = gap(g, d, k, ci[d], xi[d]);
    }
    int32_t *cand = sh->cand;
    int64_t m = 0;
    for (int64_t cz = lo[2]; cz <= hi[2]; cz++) {
        double gz = gq[2][cz - lo[2]];
        for (int64_t cy = lo[1]; cy <= hi[1]; cy++) {
            double gyz = gz + gq[1][cy - lo[1]];
            if (gyz >= r2wide)
                continue;
            /* the cells of the row within reach: those ends stop at the particle's own cell */
            int64_t x0 = lo[0], x1 = hi[0];
            while (gq[0][x0 - lo[0]] + gyz >= r2wide)
                x0++;
            while (gq[0][x1 - lo[0]] + gyz >= r2wide)
                x1--;
            /* the x-neighbouring cells of a row are consecutive slots */
            int64_t c = g->nc[0] * (cy + g->nc[1] * cz);
            int64_t t0 = g->start[c + x0], t1 = g->start[c + x1 + 1];
            /* unused dimensions hold zeros: adding their 0.0 leaves the sum's bits alone */
            const double *px = g->pos[0], *py = g->pos[1], *pz = g->pos[2];
            for (int64_t t = t0; t < t1; t++) {
                double dx = px[t] - xi[0], dy = py[t] - xi[1], dz = pz[t] - xi[2];
                double r2 = dx * dx + dy * dy + dz * dz;
                cand[m] = g->rank[t];
                m += r2 < r2max;
            }
        }
    }
    if (!reserve(sh, m))
        return false;
    /* the bitmap sort: ranks are distinct */
    uint64_t *low = sh->low, *high = sh->high;
    int64_t wlo = INT64_MAX, whi = -1;
    for (int64_t k = 0; k < m; k++) {
        int32_t r = cand[k];
        low[r >> 6] |= (uint64_t)1 << (r & 63);
        high[r >> 12] |= (uint64_t)1 << ((r >> 6) & 63);
        wlo = (r >> 12) < wlo ? r >> 12 : wlo;
        whi = (r >> 12) > whi ? r >> 12 : whi;
    }
    /* the particle itself (at distance 0) is left out here rather than tested per candidate */
    int32_t ri = g->rank[si];
    low[ri >> 6] &= ~((uint64_t)1 << (ri & 63));
    int32_t *out = sh->part + sh->n;
    int64_t k = 0;
    for (int64_t w = wlo; w <= whi; w++) {
        uint64_t hw = high[w];
        high[w] = 0;
        while (hw) {
            int64_t lw = w * 64 + __builtin_ctzll(hw);
            hw &= hw - 1;
            uint64_t bits = low[lw];
            low[lw] = 0;
            while (bits) {
                out[k++] = g->byrank[lw * 64 + __builtin_ctzll(bits)];
                bits &= bits - 1;
            }
        }
    }
    sh->n += k;
    return true;
}

/* Ranks, cells and the cell-ordered copies of every particle and ghost of the block, on up to
 * `threads` threads. */
static bool bin(tsr_neighbours nb, int64_t lb, int threads, bins *g) {
    const tsr__layout *lay = &nb->p->map->decomp->lay;
    const tsr__pblock *blk = &nb->p->blocks[lb];
    const tsr__nblock *nbk = &nb->blocks[lb];
    int64_t nl = nbk->nlocal, ng = nbk->nghost, n = nl + ng, ncells = 1;
    g->n = n;
    tsr_box box;
    tsr__block_box(lay, nb->p->map->local[lb], &box);
    for (int d = 0; d < lay->ndim; d++) {
        g->lo[d] = (double)(box.lo[d] - nb->width);
        g->len[d] = (double)(box.hi[d] - box.lo[d] + 2 * (int64_t)nb->width);
        double k = floor(g->len[d] * SPLIT / nb->range);
        g->nc[d] = k < 1.0 ? 1 : k > 1024.0 ? 1024 : (int64_t)k;
        g->scale[d] = (double)g->nc[d] / g->len[d];
        /* far above the rounding of coordinates of this size, far below a cell (at most a
         * sixteenth of the range, so a window never spans over 2 SPLIT + 2 cells) */
        g->margin[d] = fmin(1e-9 * (fabs(g->lo[d]) + g->len[d]), nb->range / 16.0);
        ncells *= g->nc[d];
    }
    size_t sz = (size_t)n + 1;
    g->start = calloc((size_t)ncells + 1, 8);
    g->cell = malloc(sz * 8);
    g->slot = malloc(sz * 4);
    g->rank = malloc(sz * 4);
    g->byrank = malloc(sz * 4);
    int32_t *lorder = malloc((size_t)(nl + 1) * 4);
    bool ok = g->start && g->cell && g->slot && g->rank && g->byrank && lorder;
    for (int d = 0; d < 3; d++) {
        g->pos[d] = d < g->ndim ? malloc(sz * 8) : calloc(sz, 8);
        ok = ok && g->pos[d];
    }
    const int64_t *lid = (const int64_t *)(void *)tsr__pcol(blk, 0);
    /* the locals in id order: as they are after redistribution, else sorted here */
    bool sorted = true;
    for (int64_t j = 1; j < nl && sorted; j++)
        sorted = lid[j - 1] < lid[j];
    if (ok && sorted) {
        for (int64_t j = 0; j < nl; j++)
            lorder[j] = (int32_t)j;
    } else if (ok) {
        order_key *keys = malloc((size_t)(nl + 1) * sizeof *keys);
        ok = keys;
        for (int64_t j = 0; ok && j < nl; j++)
            keys[j] = (order_key){lid[j], (int32_t)j};
        if (ok)
            qsort(keys, (size_t)nl, sizeof *keys, key_cmp);
        for (int64_t j = 0; ok && j < nl; j++)
            lorder[j] = keys[j].at;
        free(keys);
    }
    if (!ok) {
        free(lorder);
        return false;
    }
    /* merged with the ghosts, sorted by (id, image); a local is image 13 */
    for (int64_t r = 0, a = 0, b = 0; r < n; r++) {
        bool local = b == ng;
        if (a < nl && b < ng) {
            int64_t x = lid[lorder[a]], y = nbk->gid[b];
            local = x < y || (x == y && 13 < nbk->gimg[b]);
        }
        g->byrank[r] = local ? lorder[a++] : (int32_t)(nl + b++);
    }
    free(lorder);
    /* per-thread counts per cell: only where cells are not far more than particles */
    int nt = ncells <= 4 * n + 4096 ? threads : 1;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t j = 0; j < n; j++) {
        double y[3];
        position(blk, nbk, j, y);
        int64_t c = 0;
        for (int d = g->ndim - 1; d >= 0; d--)
            c = c * g->nc[d] + cell_1d(g, d, y[d]);
        g->cell[j] = c;
    }
    /* Slots in rank order within each cell: thread t places the ranks of its share after those
     * of the shares before it, from its own counts per cell (cnt + t * ncells, which become its
     * next slot in each cell). */
    int64_t *cnt = calloc((size_t)nt * (size_t)ncells, 8);
    if (!cnt)
        return false;
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        int64_t r0 = n * t / T, r1 = n * (t + 1) / T, *mine = cnt + (size_t)t * (size_t)ncells;
        for (int64_t r = r0; r < r1; r++)
            mine[g->cell[g->byrank[r]]]++;
#pragma omp barrier
#pragma omp for schedule(static)
        for (int64_t c = 0; c < ncells; c++) { /* per cell: the shares' counts, then offsets */
            int64_t sum = 0;
            for (int u = 0; u < T; u++) {
                int64_t k = cnt[(size_t)u * (size_t)ncells + (size_t)c];
                cnt[(size_t)u * (size_t)ncells + (size_t)c] = sum;
                sum += k;
            }
            g->start[c + 1] = sum;
        }
#pragma omp single
        for (int64_t c = 0; c < ncells; c++)
            g->start[c + 1] += g->start[c];
#pragma omp for schedule(static)
        for (int64_t c = 0; c < ncells; c++)
            for (int u = 0; u < T; u++)
                cnt[(size_t)u * (size_t)ncells + (size_t)c] += g->start[c];
        for (int64_t r = r0; r < r1; r++) {
            int32_t j = g->byrank[r];
            int64_t s = mine[g->cell[j]]++;
            g->slot[j] = (int32_t)s;
            g->rank[s] = (int32_t)r;
            double y[3];
            position(blk, nbk, j, y);
            for (int d = 0; d < g->ndim; d++)
                g->pos[d][s] = y[d];
        }
    }
    free(cnt);
    return true;
}

bool tsr__nbr_lists(tsr_neighbours nb, int64_t lb) {
    tsr__nblock *nbk = &nb->blocks[lb];
    int64_t nl = nbk->nlocal, n = nl + nbk->nghost;
    if (n >= INT32_MAX - 64)
        return false;
    bins g = {.ndim = nb->p->map->decomp->lay.ndim, .nc = {1, 1, 1}};
    /* a particle's list costs as much as a few dozen grid cells */
    int nt = nl * 64 > nb->p->ctx->min_parallel_cells ? omp_get_max_threads() : 1;
    share *sh = calloc((size_t)nt, sizeof *sh);
    int64_t *off = calloc((size_t)nt + 1, sizeof *off);
    nbk->first = malloc((size_t)(nl + 1) * 8);
    bool ok = sh && off && nbk->first && bin(nb, lb, nt, &g);
    if (ok) {
#pragma omp parallel num_threads(nt)
        {
            int t = omp_get_thread_num(), T = omp_get_num_threads();
            int64_t i0 = nl * t / T, i1 = nl * (t + 1) / T;
            share *s = &sh[t];
            s->low = calloc((size_t)(n >> 6) + 1, 8);
            s->high = calloc((size_t)(n >> 12) + 1, 8);
            s->cand = malloc((size_t)(n + 1) * 4);
            s->ok = s->low && s->high && s->cand;
            s->todo = i1 - i0;
            for (int64_t i = i0; i < i1 && s->ok; i++) {
                s->done = i - i0;
                nbk->first[i] = s->n;
                s->ok = partners_of(nb, &g, i, s);
            }
#pragma omp barrier
#pragma omp single
            {
                for (int u = 0; u < T; u++) {
                    ok = ok && sh[u].ok;
                    off[u + 1] = off[u] + sh[u].n;
                }
                /* the first share's array becomes the block's, the others are copied after it */
                nbk->partner =
                    ok ? realloc(sh[0].part, (size_t)off[T] * sizeof *nbk->partner + 4) : NULL;
                ok = ok && nbk->partner;
                if (ok)
                    sh[0].part = NULL;
                nbk->first[nl] = off[T];
            }
            if (ok) {
                for (int64_t i = i0; i < i1; i++)
                    nbk->first[i] += off[t];
                if (t > 0 && s->n > 0)
                    memcpy(nbk->partner + off[t], s->part, (size_t)s->n * sizeof *s->part);
            }
        }
    }
    for (int t = 0; sh && t < nt; t++) {
        free(sh[t].part);
        free(sh[t].low);
        free(sh[t].high);
        free(sh[t].cand);
    }
    free(sh);
    free(off);
    bins_free(&g);
    return ok;
}
