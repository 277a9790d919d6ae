/* The ghost send lists of a build: which local particles go to which block at which image.
 *
 * The exchange engine's halo pieces of every local block are listed first; each piece is then
 * one task of the search, scanning its block's particles for those whose cell lies in the piece.
 * Tasks run on all threads (a block has a few dozen pieces, so one block per rank keeps every
 * thread busy) and each keeps its own finds. The records are then grouped by peer rank in
 * (block, piece, particle) order, the order of a serial search: each task's place in its peer's
 * range is known from the counts, so the tasks fill their records in parallel too. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exchange_impl.h"
#include "particles_impl.h"

/* One piece of a local block, and the particles found in it. */
typedef struct ptask {
    int64_t lb, peer, dst, at; /* at: the first record in the send list, once known */
    int img;
    tsr_box sb; /* the piece relative to its block's lower corner */
    int64_t *i, n, cap;
    bool failed;
} ptask;

typedef struct tasks {
    tsr_neighbours nb;
    int64_t lb;
    ptask *t;
    int64_t n, cap;
    bool failed;
    /* Every local particle's cell relative to its block's lower corner, found once for the
     * block's few dozen pieces (floor is a libm call in the default build); block lb's
     * particles start at first[lb]. */
    int64_t *cell[TSR_MAX_DIM], *first;
} tasks;

static int image_code(const int image[TSR_MAX_DIM]) {
    return (image[0] + 1) + 3 * (image[1] + 1) + 9 * (image[2] + 1);
}

static bool keep_piece(const tsr__piece *pc, void *user) {
    tasks *ts = user;
    if (ts->n == ts->cap) {
        int64_t cap = 2 * ts->cap + 32;
        ptask *t = realloc(ts->t, (size_t)cap * sizeof *t);
        if (!t) {
            ts->failed = true;
            return false;
        }
        ts->t = t;
        ts->cap = cap;
    }
    ts->t[ts->n++] = (ptask){.lb = ts->lb,
                             .peer = tsr__map_owner_of(ts->nb->p->map, pc->dst),
                             .dst = pc->dst,
                             .img = image_code(pc->image),
                             .sb = pc->sb};
    return true;
}

/* The particles of the task's block whose cell lies in its piece, in index order. */
static void scan(tsr_particles p, int ndim, const tasks *ts, ptask *t) {
    const int64_t count = p->blocks[t->lb].count;
    const int64_t *cell[TSR_MAX_DIM];
    for (int d = 0; d < ndim; d++)
        cell[d] = ts->cell[d] + ts->first[t->lb];
    for (int64_t i = 0; i < count; i++) {
        bool in = true;
        for (int d = 0; d < ndim && in; d++)
            in = cell[d][i] >= t->sb.lo[d] && cell[d][i] < t->sb.hi[d];
        if (!in)
            continue;
        if (t->n == t->cap) {
            int64_t cap = 2 * t->cap + 64, *a = realloc(t->i, (size_t)cap * sizeof *a);
            if (!a) {
                t->failed = true;
                return;
            }
            t->i = a;
            t->cap = cap;
        }
        t->i[t->n++] = i;
    }
}

/* Fills ts's cells, and refuses a particle outside its block (the caller did not
 * redistribute): the lowest such index of the first such block, as a serial check would name.
 * Local verdict. */
static int locate(tsr_particles p, tasks *ts) {
    tsr_ctx ctx = p->ctx;
    const tsr__layout *lay = &p->map->decomp->lay;
    TSR_CALL(ctx, tsr__malloc(ctx, (size_t)p->nblocks + 1, sizeof(int64_t), &ts->first));
    int64_t total = 0;
    for (int64_t lb = 0; lb < p->nblocks; lb++) {
        ts->first[lb] = total;
        total += p->blocks[lb].count;
    }
    ts->first[p->nblocks] = total;
    for (int d = 0; d < lay->ndim; d++)
        TSR_CALL(ctx, tsr__malloc(ctx, (size_t)total + 1, sizeof(int64_t), &ts->cell[d]));
    for (int64_t lb = 0; lb < p->nblocks; lb++) {
        const tsr__pblock *blk = &p->blocks[lb];
        const double *x[3];
        int64_t *cell[TSR_MAX_DIM], ext[TSR_MAX_DIM];
        tsr_box box;
        tsr__block_box(lay, p->map->local[lb], &box);
        for (int d = 0; d < lay->ndim; d++) {
            x[d] = (const double *)(void *)tsr__pcol(blk, 1 + d);
            cell[d] = ts->cell[d] + ts->first[lb];
            ext[d] = box.hi[d] - box.lo[d];
        }
        int64_t bad = INT64_MAX;
        bool par = blk->count > ctx->min_parallel_cells;
#pragma omp parallel for schedule(static) reduction(min : bad) if (par)
        for (int64_t i = 0; i < blk->count; i++) {
            bool in = true;
            for (int d = 0; d < lay->ndim; d++) {
                double c = floor(x[d][i]) - (double)box.lo[d];
                in = in && c >= 0.0 && c < (double)ext[d];
                cell[d][i] = in ? (int64_t)c : -1;
            }
            if (!in && i < bad)
                bad = i;
        }
        if (bad != INT64_MAX) {
            int64_t id;
            memcpy(&id, tsr__pcol(blk, 0) + (size_t)bad * 8, 8);
            const double *pos[3];
            for (int d = 0; d < 3; d++)
                pos[d] = (const double *)(void *)tsr__pcol(blk, 1 + d) + bad;
            return tsr_error_set(ctx, TSR_ERR_ARG, __FILE__, __LINE__, __func__,
                                 "particle %lld at (%.17g, %.17g, %.17g) is outside block %lld: "
                                 "redistribute before building neighbours",
                                 (long long)id, *pos[0], *pos[1], *pos[2],
                                 (long long)p->map->local[lb]);
        }
    }
    return TSR_SUCCESS;
}

/* Groups the tasks' finds by peer rank into the send list. Local verdict. */
static int gather(tsr_neighbours nb, tasks *ts) {
    tsr_ctx ctx = nb->p->ctx;
    int64_t n = 0;
    for (int r = 0; r < ctx->size; r++)
        nb->scount[r] = 0;
    for (int64_t k = 0; k < ts->n; k++) {
        nb->scount[ts->t[k].peer] += ts->t[k].n;
        n += ts->t[k].n;
    }
    nb->nsend = n;
    TSR_CALL(ctx, tsr__malloc(ctx, (size_t)n + 1, 8, &nb->s_lb));
    TSR_CALL(ctx, tsr__malloc(ctx, (size_t)n + 1, 8, &nb->s_i));
    TSR_CALL(ctx, tsr__malloc(ctx, (size_t)n + 1, 8, &nb->s_dst));
    TSR_CALL(ctx, tsr__malloc(ctx, (size_t)n + 1, sizeof(int), &nb->s_img));
    int64_t at = 0;
    for (int r = 0; r < ctx->size; r++) {
        nb->sdispl[r] = at;
        at += nb->scount[r];
    }
    for (int64_t k = 0; k < ts->n; k++) { /* sdispl walks, then is rewound */
        ts->t[k].at = nb->sdispl[ts->t[k].peer];
        nb->sdispl[ts->t[k].peer] += ts->t[k].n;
    }
    for (int r = 0; r < ctx->size; r++)
        nb->sdispl[r] -= nb->scount[r];
#pragma omp parallel for schedule(dynamic, 1) if (n > ctx->min_parallel_cells)
    for (int64_t k = 0; k < ts->n; k++) {
        const ptask *t = &ts->t[k];
        for (int64_t j = 0; j < t->n; j++) {
            nb->s_lb[t->at + j] = t->lb;
            nb->s_i[t->at + j] = t->i[j];
            nb->s_dst[t->at + j] = t->dst;
            nb->s_img[t->at + j] = t->img;
        }
    }
    return TSR_SUCCESS;
}

/* The pieces of every local block, each scanned for its particles. Local verdict. */
static int search(tsr_particles p, tasks *ts) {
    tsr_ctx ctx = p->ctx;
    const tsr__layout *lay = &p->map->decomp->lay;
    TSR_CALL(ctx, locate(p, ts));
    tsr__regions R;
    tsr__regions_halo(lay->ndim, TSR_STENCIL_BOX, ts->nb->width, &R);
    for (int64_t lb = 0; lb < p->nblocks && !ts->failed; lb++) {
        ts->lb = lb;
        tsr__pieces_from(lay, p->map->local[lb], lay, &R, keep_piece, ts);
    }
    /* a piece's scan reads all its block's particles */
    bool many = ts->first[p->nblocks] * (ts->n / (p->nblocks + 1) + 1) > ctx->min_parallel_cells;
#pragma omp parallel for schedule(dynamic, 1) if (many)
    for (int64_t k = 0; k < ts->n; k++)
        scan(p, lay->ndim, ts, &ts->t[k]);
    bool failed = ts->failed;
    for (int64_t k = 0; k < ts->n; k++)
        failed = failed || ts->t[k].failed;
    TSR_CHECK(ctx, !failed, TSR_ERR_MEMORY, "cannot allocate the ghost send lists");
    return TSR_SUCCESS;
}

int tsr__ghost_send_lists(tsr_neighbours nb) {
    tasks ts = {.nb = nb};
    int err = search(nb->p, &ts);
    if (!err)
        err = gather(nb, &ts);
    for (int64_t k = 0; k < ts.n; k++)
        free(ts.t[k].i);
    free(ts.t);
    for (int d = 0; d < TSR_MAX_DIM; d++)
        free(ts.cell[d]);
    free(ts.first);
    return err;
}
