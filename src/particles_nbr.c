/* Cell and neighbour lists of one block: its particles and ghosts binned into cells at least the
 * range wide over the block grown by the ghost width, then every local particle's partners
 * closer than the range, sorted by (id, image). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

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

bool tsr__nbr_lists(tsr_neighbours nb, int64_t lb) {
    tsr_particles p = nb->p;
    const tsr__layout *lay = &p->map->decomp->lay;
    const tsr__pblock *blk = &p->blocks[lb];
    tsr__nblock *nbk = &nb->blocks[lb];
    int64_t nl = nbk->nlocal, n = nl + nbk->nghost;
    if (n >= INT32_MAX)
        return false;
    tsr_box box;
    tsr__block_box(lay, p->map->local[lb], &box);
    bins g = {.ndim = lay->ndim, .nc = {1, 1, 1}};
    int64_t ncells = 1;
    for (int d = 0; d < lay->ndim; d++) {
        g.lo[d] = (double)(box.lo[d] - nb->width);
        g.len[d] = (double)(box.hi[d] - box.lo[d] + 2 * (int64_t)nb->width);
        double k = floor(g.len[d] / nb->range);
        g.nc[d] = k < 1.0 ? 1 : k > 1024.0 ? 1024 : (int64_t)k;
        ncells *= g.nc[d];
    }
    g.start = calloc((size_t)ncells + 1, 8);
    g.item = malloc((size_t)n * sizeof *g.item + 4);
    g.cell = malloc((size_t)n * 8 + 8);
    nbk->first = malloc((size_t)(nl + 1) * 8);
    int64_t cap = nl * 16 + 16, used = 0;
    nbk->partner = malloc((size_t)cap * sizeof *nbk->partner);
    int64_t keycap = 64;
    partner_key *keys = malloc((size_t)keycap * sizeof *keys);
    bool ok = g.start && g.item && g.cell && nbk->first && nbk->partner && keys;
    for (int64_t j = 0; ok && j < n; j++) {
        double y[3];
        position(blk, nbk, j, y);
        g.cell[j] = cell_of(&g, y);
        g.start[g.cell[j] + 1]++;
    }
    for (int64_t c = 0; ok && c < ncells; c++)
        g.start[c + 1] += g.start[c];
    for (int64_t j = 0; ok && j < n; j++) /* items of a cell in particle order */
        g.item[g.start[g.cell[j]]++] = (int32_t)j;
    for (int64_t c = ncells; ok && c > 0; c--)
        g.start[c] = g.start[c - 1];
    if (ok)
        g.start[0] = 0;
    const int64_t *gid = nbk->gid;
    const int64_t *lid = (const int64_t *)(void *)tsr__pcol(blk, 0);
    double r2max = nb->range * nb->range;
    for (int64_t i = 0; ok && i < nl; i++) {
        nbk->first[i] = used;
        double xi[3];
        position(blk, nbk, i, xi);
        int64_t ci[3] = {0, 0, 0}, rest = g.cell[i];
        for (int d = 0; d < lay->ndim; d++) {
            ci[d] = rest % g.nc[d];
            rest /= g.nc[d];
        }
        int64_t lo[3] = {0, 0, 0}, hi[3] = {0, 0, 0};
        for (int d = 0; d < lay->ndim; d++) {
            lo[d] = ci[d] > 0 ? ci[d] - 1 : 0;
            hi[d] = ci[d] + 1 < g.nc[d] ? ci[d] + 1 : g.nc[d] - 1;
        }
        int64_t m = 0;
        for (int64_t cz = lo[2]; cz <= hi[2] && ok; cz++)
            for (int64_t cy = lo[1]; cy <= hi[1] && ok; cy++)
                for (int64_t cx = lo[0]; cx <= hi[0] && ok; cx++) {
                    int64_t c = cx + g.nc[0] * (cy + g.nc[1] * cz);
                    for (int64_t t = g.start[c]; t < g.start[c + 1]; t++) {
                        int64_t j = g.item[t];
                        if (j == i)
                            continue;
                        double yj[3], r2 = 0.0;
                        position(blk, nbk, j, yj);
                        for (int d = 0; d < lay->ndim; d++) {
                            double dx = yj[d] - xi[d];
                            r2 += dx * dx;
                        }
                        if (!(r2 < r2max))
                            continue;
                        if (m == keycap) {
                            keycap *= 2;
                            partner_key *k2 = realloc(keys, (size_t)keycap * sizeof *keys);
                            if (!k2) {
                                ok = false;
                                break;
                            }
                            keys = k2;
                        }
                        keys[m].id = j < nl ? lid[j] : gid[j - nl];
                        keys[m].img = j < nl ? 13 : nbk->gimg[j - nl];
                        keys[m].at = (int32_t)j;
                        m++;
                    }
                }
        if (!ok)
            break;
        qsort(keys, (size_t)m, sizeof *keys, key_cmp);
        if (used + m > cap) {
            cap = 2 * (used + m);
            int32_t *q = realloc(nbk->partner, (size_t)cap * sizeof *q);
            if (!q) {
                ok = false;
                break;
            }
            nbk->partner = q;
        }
        for (int64_t k = 0; k < m; k++)
            nbk->partner[used++] = keys[k].at;
    }
    if (ok)
        nbk->first[nl] = used;
    free(keys);
    free(g.start);
    free(g.item);
    free(g.cell);
    return ok;
}
