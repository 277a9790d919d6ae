/* Cell and neighbour lists of one block: its particles and ghosts binned into cells at least the
 * range wide over the block grown by the ghost width, then every local particle's partners
 * closer than the range, sorted by (id, image).
 *
 * Every particle and ghost of the block first gets its rank in (id, image) order, so a list is
 * sorted as plain integers; positions and ranks are copied in cell order so the search reads
 * them contiguously. Threads take contiguous shares of the local particles, list them into their
 * own arrays, then copy them into place. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "particles_impl.h"

typedef struct order_key {
    int64_t id;
    int img;
    int32_t at;
} order_key;

static int key_cmp(const void *a, const void *b) {
    const order_key *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return (x->img > y->img) - (x->img < y->img);
}

/* Everything one block's lists need while they are built. */
typedef struct bins {
    int ndim;
    int64_t nc[3];
    double lo[3], len[3];
    int64_t *start;  /* per cell + 1: the cell's first slot */
    int64_t *cell;   /* per particle (local, then nlocal + ghost) */
    int32_t *slot;   /* per particle: its slot in cell order */
    double *pos[3];  /* per slot */
    int32_t *rank;   /* per slot: (id, image) rank */
    int32_t *byrank; /* rank -> particle */
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

static int64_t cell_of(const bins *g, const double y[3]) {
    int64_t c = 0;
    for (int d = g->ndim - 1; d >= 0; d--) {
        double f = floor((y[d] - g->lo[d]) * (double)g->nc[d] / g->len[d]);
        int64_t k = f < 0.0 ? 0 : f >= (double)g->nc[d] ? g->nc[d] - 1 : (int64_t)f;
        c = c * g->nc[d] + k;
    }
    return c;
}

static void position(const tsr__pblock *blk, const tsr__nblock *nbk, int64_t j, double y[3]) {
    for (int d = 0; d < 3; d++)
        y[d] = j < nbk->nlocal ? ((const double *)(void *)tsr__pcol(blk, 1 + d))[j]
                               : nbk->gx[d][j - nbk->nlocal];
}

/* Ascending integers: insertion sort for short runs, quicksort (median of three) above. */
static void sort_ints(int32_t *a, int64_t n) {
    while (n > 24) {
        int32_t x = a[0], y = a[n / 2], z = a[n - 1];
        int32_t pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        int64_t i = 0, j = n - 1;
        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                int32_t t = a[i];
                a[i++] = a[j];
                a[j--] = t;
            }
        }
        /* recurse into the smaller side, loop on the larger */
        if (j + 1 < n - i) {
            sort_ints(a, j + 1);
            a += i;
            n -= i;
        } else {
            sort_ints(a + i, n - i);
            n = j + 1;
        }
    }
    for (int64_t i = 1; i < n; i++) {
        int32_t v = a[i];
        int64_t k = i;
        for (; k > 0 && a[k - 1] > v; k--)
            a[k] = a[k - 1];
        a[k] = v;
    }
}

/* One thread's share of the lists: partners of its particles, one after the other. */
typedef struct share {
    int32_t *part;
    int64_t n, cap;
    bool ok;
} share;

/* Appends the partners of local particle i, in rank order, to sh. */
static bool partners_of(tsr_neighbours nb, const bins *g, int64_t i, share *sh) {
    double r2max = nb->range * nb->range, xi[3] = {0.0, 0.0, 0.0};
    int32_t si = g->slot[i];
    for (int d = 0; d < g->ndim; d++)
        xi[d] = g->pos[d][si];
    int64_t ci[3] = {0, 0, 0}, lo[3] = {0, 0, 0}, hi[3] = {0, 0, 0}, rest = g->cell[i];
    int64_t most = 0;
    for (int d = 0; d < g->ndim; d++) {
        ci[d] = rest % g->nc[d];
        rest /= g->nc[d];
        lo[d] = ci[d] > 0 ? ci[d] - 1 : 0;
        hi[d] = ci[d] + 1 < g->nc[d] ? ci[d] + 1 : g->nc[d] - 1;
    }
    for (int64_t cz = lo[2]; cz <= hi[2]; cz++)
        for (int64_t cy = lo[1]; cy <= hi[1]; cy++) {
            int64_t c = g->nc[0] * (cy + g->nc[1] * cz);
            most += g->start[c + hi[0] + 1] - g->start[c + lo[0]];
        }
    if (sh->n + most > sh->cap) {
        int64_t cap = 2 * (sh->n + most) + 64;
        int32_t *q = realloc(sh->part, (size_t)cap * sizeof *q);
        if (!q)
            return false;
        sh->part = q;
        sh->cap = cap;
    }
    int32_t *out = sh->part + sh->n;
    int64_t m = 0;
    for (int64_t cz = lo[2]; cz <= hi[2]; cz++)
        for (int64_t cy = lo[1]; cy <= hi[1]; cy++) {
            /* the x-neighbouring cells of a row are consecutive slots */
            int64_t c = g->nc[0] * (cy + g->nc[1] * cz);
            int64_t t0 = g->start[c + lo[0]], t1 = g->start[c + hi[0] + 1];
            for (int64_t t = t0; t < t1; t++) {
                double r2 = 0.0;
                for (int d = 0; d < g->ndim; d++) {
                    double dx = g->pos[d][t] - xi[d];
                    r2 += dx * dx;
                }
                if (r2 < r2max && t != si)
                    out[m++] = g->rank[t];
            }
        }
    sort_ints(out, m);
    for (int64_t k = 0; k < m; k++)
        out[k] = g->byrank[out[k]];
    sh->n += m;
    return true;
}

/* Ranks, cells and the cell-ordered copies of every particle and ghost of the block. */
static bool bin(tsr_neighbours nb, int64_t lb, bins *g) {
    const tsr__layout *lay = &nb->p->map->decomp->lay;
    const tsr__pblock *blk = &nb->p->blocks[lb];
    const tsr__nblock *nbk = &nb->blocks[lb];
    int64_t nl = nbk->nlocal, n = nl + nbk->nghost, ncells = 1;
    tsr_box box;
    tsr__block_box(lay, nb->p->map->local[lb], &box);
    for (int d = 0; d < lay->ndim; d++) {
        g->lo[d] = (double)(box.lo[d] - nb->width);
        g->len[d] = (double)(box.hi[d] - box.lo[d] + 2 * (int64_t)nb->width);
        double k = floor(g->len[d] / nb->range);
        g->nc[d] = k < 1.0 ? 1 : k > 1024.0 ? 1024 : (int64_t)k;
        ncells *= g->nc[d];
    }
    size_t sz = (size_t)n + 1;
    g->start = calloc((size_t)ncells + 1, 8);
    g->cell = malloc(sz * 8);
    g->slot = malloc(sz * 4);
    g->rank = malloc(sz * 4);
    g->byrank = malloc(sz * 4);
    order_key *keys = malloc(sz * sizeof *keys);
    bool ok = g->start && g->cell && g->slot && g->rank && g->byrank && keys;
    for (int d = 0; d < 3; d++) {
        g->pos[d] = d < g->ndim ? malloc(sz * 8) : NULL;
        ok = ok && (d >= g->ndim || g->pos[d]);
    }
    if (!ok) {
        free(keys);
        return false;
    }
    const int64_t *lid = (const int64_t *)(void *)tsr__pcol(blk, 0);
    for (int64_t j = 0; j < n; j++) {
        double y[3];
        position(blk, nbk, j, y);
        g->cell[j] = cell_of(g, y);
        g->start[g->cell[j] + 1]++;
        keys[j].id = j < nl ? lid[j] : nbk->gid[j - nl];
        keys[j].img = j < nl ? 13 : nbk->gimg[j - nl];
        keys[j].at = (int32_t)j;
    }
    qsort(keys, (size_t)n, sizeof *keys, key_cmp);
    for (int64_t r = 0; r < n; r++)
        g->byrank[r] = keys[r].at;
    for (int64_t c = 0; c < ncells; c++)
        g->start[c + 1] += g->start[c];
    for (int64_t j = 0; j < n; j++)
        g->slot[j] = (int32_t)g->start[g->cell[j]]++;
    for (int64_t c = ncells; c > 0; c--)
        g->start[c] = g->start[c - 1];
    g->start[0] = 0;
    for (int64_t r = 0; r < n; r++) {
        int64_t j = g->byrank[r];
        double y[3];
        position(blk, nbk, j, y);
        for (int d = 0; d < g->ndim; d++)
            g->pos[d][g->slot[j]] = y[d];
        g->rank[g->slot[j]] = (int32_t)r;
    }
    free(keys);
    return true;
}

bool tsr__nbr_lists(tsr_neighbours nb, int64_t lb) {
    tsr__nblock *nbk = &nb->blocks[lb];
    int64_t nl = nbk->nlocal;
    if (nl + nbk->nghost >= INT32_MAX)
        return false;
    bins g = {.ndim = nb->p->map->decomp->lay.ndim, .nc = {1, 1, 1}};
    int nt = nl > nb->p->ctx->min_parallel_cells ? omp_get_max_threads() : 1;
    share *sh = calloc((size_t)nt, sizeof *sh);
    int64_t *off = calloc((size_t)nt + 1, sizeof *off);
    nbk->first = malloc((size_t)(nl + 1) * 8);
    bool ok = sh && off && nbk->first && bin(nb, lb, &g);
    if (ok) {
#pragma omp parallel num_threads(nt)
        {
            int t = omp_get_thread_num(), T = omp_get_num_threads();
            int64_t i0 = nl * t / T, i1 = nl * (t + 1) / T;
            share *s = &sh[t];
            s->ok = true;
            for (int64_t i = i0; i < i1 && s->ok; i++) {
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
                nbk->partner = ok ? malloc((size_t)off[T] * sizeof *nbk->partner + 4) : NULL;
                ok = ok && nbk->partner;
                nbk->first[nl] = off[T];
            }
            if (ok) {
                for (int64_t i = i0; i < i1; i++)
                    nbk->first[i] += off[t];
                if (s->n > 0)
                    memcpy(nbk->partner + off[t], s->part, (size_t)s->n * sizeof *s->part);
            }
        }
    }
    for (int t = 0; sh && t < nt; t++)
        free(sh[t].part);
    free(sh);
    free(off);
    bins_free(&g);
    return ok;
}
