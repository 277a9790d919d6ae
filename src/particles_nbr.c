/* Cell and neighbour lists of one block: its particles and ghosts binned into cells at least the
 * range wide over the block grown by the ghost width, then every local particle's partners
 * closer than the range, sorted by (id, image). Threads take contiguous shares of the local
 * particles, list them into their own arrays, then copy them into place. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "particles_impl.h"

typedef struct partner_key {
    int64_t id;
    int img;
    int32_t at;
} partner_key;

static int key_cmp(const void *a, const void *b) {
    const partner_key *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return (x->img > y->img) - (x->img < y->img);
}

/* Everything one block's lists need while they are built. */
typedef struct bins {
    int ndim;
    int64_t nc[3];
    double lo[3], len[3];
    int64_t *start; /* per cell + 1 */
    int32_t *item;  /* particle numbers (local, then nlocal + ghost) by cell */
    int64_t *cell;  /* per particle */
} bins;

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

/* One thread's share of the lists: partners of its particles, one after the other. */
typedef struct share {
    int32_t *part;
    int64_t n, cap;
    partner_key *keys;
    int64_t keycap;
    bool ok;
} share;

static bool grow_keys(share *sh) {
    int64_t cap = 2 * sh->keycap + 64;
    partner_key *k = realloc(sh->keys, (size_t)cap * sizeof *k);
    if (!k)
        return false;
    sh->keys = k;
    sh->keycap = cap;
    return true;
}

/* Appends the partners of local particle i, sorted by (id, image), to sh. */
static bool partners_of(tsr_neighbours nb, int64_t lb, const bins *g, int64_t i, share *sh) {
    const tsr__pblock *blk = &nb->p->blocks[lb];
    const tsr__nblock *nbk = &nb->blocks[lb];
    const int64_t *lid = (const int64_t *)(void *)tsr__pcol(blk, 0);
    int64_t nl = nbk->nlocal;
    double r2max = nb->range * nb->range, xi[3];
    position(blk, nbk, i, xi);
    int64_t ci[3] = {0, 0, 0}, lo[3] = {0, 0, 0}, hi[3] = {0, 0, 0}, rest = g->cell[i];
    for (int d = 0; d < g->ndim; d++) {
        ci[d] = rest % g->nc[d];
        rest /= g->nc[d];
        lo[d] = ci[d] > 0 ? ci[d] - 1 : 0;
        hi[d] = ci[d] + 1 < g->nc[d] ? ci[d] + 1 : g->nc[d] - 1;
    }
    int64_t m = 0;
    for (int64_t cz = lo[2]; cz <= hi[2]; cz++)
        for (int64_t cy = lo[1]; cy <= hi[1]; cy++)
            for (int64_t cx = lo[0]; cx <= hi[0]; cx++) {
                int64_t c = cx + g->nc[0] * (cy + g->nc[1] * cz);
                for (int64_t t = g->start[c]; t < g->start[c + 1]; t++) {
                    int64_t j = g->item[t];
                    if (j == i)
                        continue;
                    double yj[3], r2 = 0.0;
                    position(blk, nbk, j, yj);
                    for (int d = 0; d < g->ndim; d++) {
                        double dx = yj[d] - xi[d];
                        r2 += dx * dx;
                    }
                    if (!(r2 < r2max))
                        continue;
                    if (m == sh->keycap && !grow_keys(sh))
                        return false;
                    sh->keys[m].id = j < nl ? lid[j] : nbk->gid[j - nl];
                    sh->keys[m].img = j < nl ? 13 : nbk->gimg[j - nl];
                    sh->keys[m].at = (int32_t)j;
                    m++;
                }
            }
    qsort(sh->keys, (size_t)m, sizeof *sh->keys, key_cmp);
    if (sh->n + m > sh->cap) {
        int64_t cap = 2 * (sh->n + m) + 64;
        int32_t *q = realloc(sh->part, (size_t)cap * sizeof *q);
        if (!q)
            return false;
        sh->part = q;
        sh->cap = cap;
    }
    for (int64_t k = 0; k < m; k++)
        sh->part[sh->n++] = sh->keys[k].at;
    return true;
}

/* Bins of every particle and ghost of the block, items of a cell in particle order. */
static bool bin(tsr_neighbours nb, int64_t lb, bins *g) {
    const tsr__layout *lay = &nb->p->map->decomp->lay;
    const tsr__pblock *blk = &nb->p->blocks[lb];
    const tsr__nblock *nbk = &nb->blocks[lb];
    int64_t n = nbk->nlocal + nbk->nghost, ncells = 1;
    tsr_box box;
    tsr__block_box(lay, nb->p->map->local[lb], &box);
    for (int d = 0; d < lay->ndim; d++) {
        g->lo[d] = (double)(box.lo[d] - nb->width);
        g->len[d] = (double)(box.hi[d] - box.lo[d] + 2 * (int64_t)nb->width);
        double k = floor(g->len[d] / nb->range);
        g->nc[d] = k < 1.0 ? 1 : k > 1024.0 ? 1024 : (int64_t)k;
        ncells *= g->nc[d];
    }
    g->start = calloc((size_t)ncells + 1, 8);
    g->item = malloc((size_t)n * sizeof *g->item + 4);
    g->cell = malloc((size_t)n * 8 + 8);
    if (!g->start || !g->item || !g->cell)
        return false;
    for (int64_t j = 0; j < n; j++) {
        double y[3];
        position(blk, nbk, j, y);
        g->cell[j] = cell_of(g, y);
        g->start[g->cell[j] + 1]++;
    }
    for (int64_t c = 0; c < ncells; c++)
        g->start[c + 1] += g->start[c];
    for (int64_t j = 0; j < n; j++)
        g->item[g->start[g->cell[j]]++] = (int32_t)j;
    for (int64_t c = ncells; c > 0; c--)
        g->start[c] = g->start[c - 1];
    g->start[0] = 0;
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
                s->ok = partners_of(nb, lb, &g, i, s);
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
    for (int t = 0; sh && t < nt; t++) {
        free(sh[t].part);
        free(sh[t].keys);
    }
    free(sh);
    free(off);
    free(g.start);
    free(g.item);
    free(g.cell);
    return ok;
}
