/* Ghost particles: the build's exchange (ids, positions, velocities, sorted into canonical
 * ghost slots), the updates through the same lists, and the half-skin trigger. The send lists
 * are found in particles_send.c, the neighbour lists in particles_nbr.c. */
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "exchange_impl.h"
#include "particles_impl.h"

/* Words of a build record: destination block, id, image, x[3], v[3]. */
#define BUILD_WORDS 9

int tsr_neighbours_create(tsr_particles p, double cutoff, double skin, tsr_neighbours *out) {
    if (!p || !out)
        return TSR_ERR_ARG;
    *out = NULL;
    tsr_ctx ctx = p->ctx;
    const tsr__layout *lay = &p->map->decomp->lay;
    int err = TSR_SUCCESS;
    if (ctx->rank == 0) {
        if (!(isfinite(cutoff) && cutoff > 0.0))
            err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                "neighbour cutoff must be positive and finite, not %g", cutoff);
        else if (!(isfinite(skin) && skin >= 0.0))
            err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                "neighbour skin must be finite and >= 0, not %g", skin);
        for (int d = 0; !err && d < lay->ndim; d++)
            if (lay->periodic[d] && !(cutoff + skin < 0.5 * (double)lay->n[d]))
                err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                    "cutoff + skin %g is not below half the periodic size %lld "
                                    "along %c: a particle would meet its own image",
                                    cutoff + skin, (long long)lay->n[d], "xyz"[d]);
    }
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    tsr_neighbours nb = NULL;
    err = tsr__calloc(ctx, 1, sizeof *nb, &nb);
    size_t nr = (size_t)ctx->size;
    if (!err) {
        nb->p = p;
        nb->cutoff = cutoff;
        nb->skin = skin;
        nb->range = cutoff + skin;
        nb->nblocks = p->nblocks;
        int64_t maxn = 1;
        for (int d = 0; d < lay->ndim; d++)
            maxn = lay->n[d] > maxn ? lay->n[d] : maxn;
        double w = ceil(nb->range);
        nb->width = w > (double)maxn ? (int)maxn : (int)w; /* wider sees nothing more */
        err = tsr__calloc(ctx, (size_t)p->nblocks + 1, sizeof *nb->blocks, &nb->blocks);
    }
    if (!err)
        err = tsr__calloc(ctx, nr, sizeof(int64_t), &nb->scount);
    if (!err)
        err = tsr__calloc(ctx, nr, sizeof(int64_t), &nb->sdispl);
    if (!err)
        err = tsr__calloc(ctx, nr, sizeof(int64_t), &nb->rcount);
    if (!err)
        err = tsr__calloc(ctx, nr, sizeof(int64_t), &nb->rdispl);
    if (!err)
        err = tsr__calloc(ctx, 2 * nr, sizeof(MPI_Request), &nb->req);
    if (err)
        tsr_neighbours_destroy(&nb);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    *out = nb;
    return TSR_SUCCESS;
}

void tsr__nblock_free(tsr__nblock *b) {
    free(b->gid);
    free(b->gimg);
    for (int d = 0; d < 3; d++) {
        free(b->gx[d]);
        free(b->gv[d]);
        free(b->x0[d]);
    }
    free(b->first);
    free(b->partner);
    memset(b, 0, sizeof *b);
}

/* Everything the build made, so that a failed build leaves nothing half-valid. */
static void unbuild(tsr_neighbours nb) {
    nb->built = false;
    for (int64_t b = 0; b < nb->nblocks; b++)
        tsr__nblock_free(&nb->blocks[b]);
    free(nb->s_lb);
    free(nb->s_i);
    free(nb->s_dst);
    free(nb->s_img);
    free(nb->r_lb);
    free(nb->r_slot);
    free(nb->sbuf);
    free(nb->rbuf);
    nb->s_lb = nb->s_i = nb->s_dst = nb->r_lb = nb->r_slot = NULL;
    nb->s_img = NULL;
    nb->sbuf = nb->rbuf = NULL;
    nb->nsend = nb->nrecv = 0;
}

int tsr_neighbours_destroy(tsr_neighbours *nbp) {
    if (!nbp || !*nbp)
        return TSR_SUCCESS;
    tsr_neighbours nb = *nbp;
    if (nb->blocks)
        unbuild(nb);
    free(nb->blocks);
    free(nb->scount);
    free(nb->sdispl);
    free(nb->rcount);
    free(nb->rdispl);
    free(nb->req);
    free(nb);
    *nbp = NULL;
    return TSR_SUCCESS;
}

/* The shift of image code c along d, in grid lengths. */
static double image_shift(const tsr__layout *lay, int c, int d) {
    int k = d == 0 ? c % 3 : d == 1 ? c / 3 % 3 : c / 9;
    return (double)((int64_t)(k - 1) * lay->n[d]);
}

/* Packs `words` doubles per send record (positions shifted, then velocities, or the build's
 * records), each peer's into sbuf except this rank's, which goes straight to its place in rbuf.
 * The build's records are always shifted: the lists are found from them. */
static void pack(tsr_neighbours nb, int words) {
    tsr_particles p = nb->p;
    const tsr__layout *lay = &p->map->decomp->lay;
    int me = p->ctx->rank;
#pragma omp parallel for schedule(static) if (nb->nsend > p->ctx->min_parallel_cells)
    for (int64_t k = 0; k < nb->nsend; k++) {
        const tsr__pblock *blk = &p->blocks[nb->s_lb[k]];
        int64_t i = nb->s_i[k];
        bool self = k >= nb->sdispl[me] && k < nb->sdispl[me] + nb->scount[me];
        double *r = self ? nb->rbuf + (size_t)(k - nb->sdispl[me] + nb->rdispl[me]) * (size_t)words
                         : nb->sbuf + (size_t)k * (size_t)words;
        double *x = r;
        if (words == BUILD_WORDS) {
            int64_t head[3] = {nb->s_dst[k], 0, nb->s_img[k]};
            memcpy(&head[1], tsr__pcol(blk, 0) + (size_t)i * 8, 8);
            memcpy(r, head, sizeof head);
            x = r + 3;
        }
        bool shift = words == BUILD_WORDS || !nb->unshifted;
        for (int d = 0; d < 3; d++) {
            double xd = ((const double *)(void *)tsr__pcol(blk, 1 + d))[i];
            x[d] = d < lay->ndim && shift ? xd + image_shift(lay, nb->s_img[k], d) : xd;
        }
        if (words != 3)
            for (int d = 0; d < 3; d++)
                x[3 + d] = ((const double *)(void *)tsr__pcol(blk, 4 + d))[i];
    }
}

/* One message per peer with records to send or receive; local verdict. */
static int transfer(tsr_neighbours nb, int words) {
    tsr_ctx ctx = nb->p->ctx;
    int me = ctx->rank, nreq = 0, err = TSR_SUCCESS;
    size_t rec = (size_t)words * 8;
    for (int r = 0; r < ctx->size && !err; r++) {
        if (r == me || nb->rcount[r] == 0)
            continue;
        int rc = MPI_Irecv(nb->rbuf + (size_t)nb->rdispl[r] * (size_t)words,
                           (int)((size_t)nb->rcount[r] * rec), MPI_BYTE, r, TSR_TAG_PARTICLES,
                           ctx->comm, &nb->req[nreq++]);
        if (rc != MPI_SUCCESS)
            err = tsr_error_mpi(ctx, rc, "MPI_Irecv", __FILE__, __LINE__, __func__);
    }
    for (int r = 0; r < ctx->size && !err; r++) {
        if (r == me || nb->scount[r] == 0)
            continue;
        int bytes = (int)((size_t)nb->scount[r] * rec);
        int rc = MPI_Isend(nb->sbuf + (size_t)nb->sdispl[r] * (size_t)words, bytes, MPI_BYTE, r,
                           TSR_TAG_PARTICLES, ctx->comm, &nb->req[nreq++]);
        if (rc != MPI_SUCCESS)
            err = tsr_error_mpi(ctx, rc, "MPI_Isend", __FILE__, __LINE__, __func__);
        ctx->bytes_sent += (uint64_t)bytes;
        ctx->msgs_sent++;
    }
    int rc = MPI_Waitall(nreq, nb->req, MPI_STATUSES_IGNORE);
    if (rc != MPI_SUCCESS && !err)
        err = tsr_error_mpi(ctx, rc, "MPI_Waitall", __FILE__, __LINE__, __func__);
    return err;
}

/* Counts to every rank and the buffers, sized for the build's records. Local verdict. */
static int counts(tsr_neighbours nb) {
    tsr_ctx ctx = nb->p->ctx;
    TSR_MPI(ctx, MPI_Alltoall(nb->scount, 1, MPI_INT64_T, nb->rcount, 1, MPI_INT64_T, ctx->comm));
    int64_t limit = INT_MAX / (BUILD_WORDS * 8), n = 0;
    for (int r = 0; r < ctx->size; r++) {
        TSR_CHECK(ctx, r == ctx->rank || (nb->scount[r] <= limit && nb->rcount[r] <= limit),
                  TSR_ERR_INPUT, "ghost messages with rank %d over INT_MAX bytes", r);
        nb->rdispl[r] = n;
        n += nb->rcount[r];
    }
    nb->nrecv = n;
    TSR_CALL(ctx, tsr__malloc(ctx, (size_t)nb->nsend * BUILD_WORDS + 1, 8, &nb->sbuf));
    TSR_CALL(ctx, tsr__malloc(ctx, (size_t)n * BUILD_WORDS + 1, 8, &nb->rbuf));
    TSR_CALL(ctx, tsr__malloc(ctx, (size_t)n + 1, 8, &nb->r_lb));
    TSR_CALL(ctx, tsr__malloc(ctx, (size_t)n + 1, 8, &nb->r_slot));
    return TSR_SUCCESS;
}

typedef struct gkey {
    int64_t id, img, rec;
} gkey;

static int gkey_cmp(const void *a, const void *b) {
    const gkey *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return (x->img > y->img) - (x->img < y->img);
}

/* Sorts k[0, m) with up to T threads: T runs sorted at once, then merged pairwise through tmp.
 * The keys are distinct, so the order is the one a serial sort gives. Called from a parallel
 * region by every thread; the result is in k. */
static void sort_keys(gkey *k, gkey *tmp, int64_t m) {
    int T = omp_get_num_threads(), t = omp_get_thread_num();
    qsort(k + m * t / T, (size_t)(m * (t + 1) / T - m * t / T), sizeof *k, gkey_cmp);
    gkey *from = k, *to = tmp;
    for (int w = 1; w < T; w *= 2) { /* runs of w shares become runs of 2w */
#pragma omp barrier
        if (t % (2 * w) == 0) {
            int64_t a = m * t / T, mid = m * (t + w < T ? t + w : T) / T,
                    end = m * (t + 2 * w < T ? t + 2 * w : T) / T, i = a, j = mid, o = a;
            while (i < mid && j < end)
                to[o++] = gkey_cmp(&from[j], &from[i]) < 0 ? from[j++] : from[i++];
            while (i < mid)
                to[o++] = from[i++];
            while (j < end)
                to[o++] = from[j++];
        }
        gkey *x = from;
        from = to;
        to = x;
    }
    if (from != k) {
#pragma omp barrier
#pragma omp for schedule(static)
        for (int64_t i = 0; i < m; i++)
            k[i] = from[i];
    }
#pragma omp barrier
}

/* Block b's ghost arrays for m ghosts: false when out of memory (tsr__nblock_free frees any). */
static bool alloc_block(tsr__nblock *nbk, int64_t m) {
    nbk->nghost = m;
    size_t sz = (size_t)m + 1;
    nbk->gid = malloc(sz * 8);
    nbk->gimg = malloc(sz * sizeof(int));
    bool ok = nbk->gid && nbk->gimg;
    for (int d = 0; d < 3; d++) {
        nbk->gx[d] = malloc(sz * 8);
        nbk->gv[d] = malloc(sz * 8);
        ok = ok && nbk->gx[d] && nbk->gv[d];
    }
    return ok;
}

/* Ghosts j0 <= j < j1 of block b from its sorted keys kb. */
static void fill_block(tsr_neighbours nb, int64_t b, const gkey *kb, int64_t j0, int64_t j1) {
    tsr__nblock *nbk = &nb->blocks[b];
    for (int64_t j = j0; j < j1; j++) {
        const double *r = nb->rbuf + (size_t)kb[j].rec * BUILD_WORDS;
        nbk->gid[j] = kb[j].id;
        nbk->gimg[j] = (int)kb[j].img;
        for (int d = 0; d < 3; d++) {
            nbk->gx[d][j] = r[3 + d];
            nbk->gv[d][j] = r[6 + d];
        }
        nb->r_slot[kb[j].rec] = j;
    }
}

/* Ghost slots sorted by (id, image) per block, from the build's records; the blocks' ghost
 * arrays. With as many blocks as threads each thread takes whole blocks; with fewer (one block
 * per rank, as in a threaded run) all threads sort and fill each block. Local verdict. */
static int place(tsr_neighbours nb) {
    tsr_particles p = nb->p;
    tsr_ctx ctx = p->ctx;
    int64_t n = nb->nrecv, *start = NULL;
    gkey *keys = NULL, *tmp = NULL;
    TSR_CALL(ctx, tsr__calloc(ctx, (size_t)p->nblocks + 2, 8, &start));
    int err = tsr__malloc(ctx, (size_t)n + 1, sizeof *keys, &keys);
    for (int64_t k = 0; !err && k < n; k++) {
        int64_t block;
        memcpy(&block, nb->rbuf + (size_t)k * BUILD_WORDS, 8);
        nb->r_lb[k] = tsr__local_index(p->map, block);
        if (nb->r_lb[k] < 0)
            err = tsr_error_set(ctx, TSR_ERR_INTERNAL, __FILE__, __LINE__, __func__,
                                "received a ghost for block %lld, not on rank %d", (long long)block,
                                ctx->rank);
        else
            start[nb->r_lb[k] + 1]++;
    }
    /* a sort costs a few dozen cell updates per key */
    bool whole = p->nblocks >= omp_get_max_threads() || n * 16 <= ctx->min_parallel_cells;
    if (!err && !whole)
        err = tsr__malloc(ctx, (size_t)n + 1, sizeof *tmp, &tmp);
    if (err) {
        free(start);
        free(keys);
        return err;
    }
    for (int64_t b = 0; b < p->nblocks; b++)
        start[b + 1] += start[b];
    for (int64_t k = 0; k < n; k++) {
        gkey *g = &keys[start[nb->r_lb[k]]++];
        memcpy(&g->id, nb->rbuf + (size_t)k * BUILD_WORDS + 1, 8);
        memcpy(&g->img, nb->rbuf + (size_t)k * BUILD_WORDS + 2, 8);
        g->rec = k;
    }
    for (int64_t b = p->nblocks; b > 0; b--)
        start[b] = start[b - 1];
    start[0] = 0;
    int failed = 0;
    if (whole) {
#pragma omp parallel for schedule(static) reduction(+ : failed) if (n > ctx->min_parallel_cells)
        for (int64_t b = 0; b < p->nblocks; b++) {
            int64_t m = start[b + 1] - start[b];
            qsort(keys + start[b], (size_t)m, sizeof *keys, gkey_cmp);
            if (alloc_block(&nb->blocks[b], m))
                fill_block(nb, b, keys + start[b], 0, m);
            else
                failed++;
        }
    } else {
        bool ok = true;
#pragma omp parallel
        for (int64_t b = 0; b < p->nblocks; b++) {
            int64_t m = start[b + 1] - start[b];
            int T = omp_get_num_threads(), t = omp_get_thread_num();
            sort_keys(keys + start[b], tmp + start[b], m);
#pragma omp single
            {
                ok = alloc_block(&nb->blocks[b], m);
                failed += !ok;
            } /* its barrier: every thread sees the arrays and ok */
            if (ok)
                fill_block(nb, b, keys + start[b], m * t / T, m * (t + 1) / T);
#pragma omp barrier
        }
    }
    free(start);
    free(keys);
    free(tmp);
    TSR_CHECK(ctx, failed == 0, TSR_ERR_MEMORY, "cannot allocate the ghosts of %d blocks", failed);
    return TSR_SUCCESS;
}

/* The lists and the positions of the build, per block. Local verdict. */
static int lists(tsr_neighbours nb) {
    tsr_particles p = nb->p;
    int failed = 0;
    for (int64_t b = 0; b < p->nblocks; b++) { /* threads share each block's particles */
        tsr__nblock *nbk = &nb->blocks[b];
        const tsr__pblock *blk = &p->blocks[b];
        nbk->nlocal = blk->count;
        for (int d = 0; d < 3; d++) {
            nbk->x0[d] = malloc((size_t)blk->count * 8 + 8);
            if (!nbk->x0[d])
                break;
            if (blk->count > 0)
                memcpy(nbk->x0[d], tsr__pcol(blk, 1 + d), (size_t)blk->count * 8);
        }
        if (!nbk->x0[0] || !nbk->x0[1] || !nbk->x0[2] || !tsr__nbr_lists(nb, b))
            failed++;
    }
    TSR_CHECK(p->ctx, failed == 0, TSR_ERR_MEMORY,
              "cannot allocate the neighbour lists of %d blocks (or over 2^31 partners)", failed);
    return TSR_SUCCESS;
}

static int refresh(tsr_neighbours nb, bool velocities);

static int build(tsr_neighbours nb) {
    tsr_ctx ctx = nb->p->ctx;
    /* a sparse map's owners of the blocks the ghosts go to, unknown here yet (collective) */
    tsr__regions R;
    tsr__regions_halo(nb->p->map->decomp->lay.ndim, TSR_STENCIL_BOX, nb->width, &R);
    TSR_CALL(ctx, tsr__map_resolve_pieces(nb->p->map, nb->p->map, &R));
    TSR_CALL(ctx, tsr_ctx_agree(ctx, tsr__ghost_send_lists(nb)));
    TSR_CALL(ctx, tsr_ctx_agree(ctx, counts(nb)));
    double t0 = tsr_wtime();
    pack(nb, BUILD_WORDS);
    double t1 = tsr_wtime();
    TSR_CALL(ctx, tsr_ctx_agree(ctx, transfer(nb, BUILD_WORDS)));
    double t2 = tsr_wtime();
    TSR_CALL(ctx, tsr_ctx_agree(ctx, place(nb)));
    tsr_ctx_timer_add(ctx, TSR_TIMER_PACK, t1 - t0);
    tsr_ctx_timer_add(ctx, TSR_TIMER_WAIT, t2 - t1);
    tsr_ctx_timer_add(ctx, TSR_TIMER_UNPACK, tsr_wtime() - t2);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, lists(nb)));
    if (nb->unshifted) /* the lists came from shifted positions; the app sees its own */
        TSR_CALL(ctx, refresh(nb, false));
    return TSR_SUCCESS;
}

int tsr_neighbours_build(tsr_neighbours nb) {
    if (!nb)
        return TSR_ERR_ARG;
    unbuild(nb);
    tsr_particles p = nb->p;
    int err = TSR_SUCCESS;
    if (nb->nblocks != p->nblocks) { /* the container moved to another map */
        tsr__nblock *blocks = NULL;
        err = tsr__calloc(p->ctx, (size_t)p->nblocks + 1, sizeof *blocks, &blocks);
        if (!err) {
            free(nb->blocks);
            nb->blocks = blocks;
            nb->nblocks = p->nblocks;
        }
    }
    err = tsr_ctx_agree(p->ctx, err);
    if (!err)
        err = build(nb);
    if (err)
        unbuild(nb);
    else {
        nb->built = true;
        nb->gen = p->gen;
    }
    return err;
}

/* Whether the container still has the build's particle counts. Local. */
static bool unchanged(tsr_neighbours nb) {
    if (!nb->built || nb->gen != nb->p->gen || nb->nblocks != nb->p->nblocks)
        return false;
    for (int64_t b = 0; b < nb->p->nblocks; b++)
        if (nb->p->blocks[b].count != nb->blocks[b].nlocal)
            return false;
    return true;
}

/* Sends the current positions (and velocities) through the build's send lists into the ghost
 * slots. Collective. */
static int refresh(tsr_neighbours nb, bool velocities) {
    tsr_ctx ctx = nb->p->ctx;
    int words = velocities ? 6 : 3;
    double t0 = tsr_wtime();
    pack(nb, words);
    double t1 = tsr_wtime();
    TSR_CALL(ctx, tsr_ctx_agree(ctx, transfer(nb, words)));
    double t2 = tsr_wtime();
#pragma omp parallel for schedule(static) if (nb->nrecv > ctx->min_parallel_cells)
    for (int64_t k = 0; k < nb->nrecv; k++) {
        tsr__nblock *nbk = &nb->blocks[nb->r_lb[k]];
        const double *r = nb->rbuf + (size_t)k * (size_t)words;
        int64_t j = nb->r_slot[k];
        for (int d = 0; d < 3; d++)
            nbk->gx[d][j] = r[d];
        if (velocities)
            for (int d = 0; d < 3; d++)
                nbk->gv[d][j] = r[3 + d];
    }
    tsr_ctx_timer_add(ctx, TSR_TIMER_PACK, t1 - t0);
    tsr_ctx_timer_add(ctx, TSR_TIMER_WAIT, t2 - t1);
    tsr_ctx_timer_add(ctx, TSR_TIMER_UNPACK, tsr_wtime() - t2);
    return TSR_SUCCESS;
}

int tsr_neighbours_update(tsr_neighbours nb, bool velocities) {
    if (!nb)
        return TSR_ERR_ARG;
    tsr_ctx ctx = nb->p->ctx;
    int err = TSR_SUCCESS;
    if (!unchanged(nb))
        err = tsr_error_set(ctx, TSR_ERR_ARG, __FILE__, __LINE__, __func__,
                            "ghost update on rank %d without a build of the current particles",
                            ctx->rank);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    return refresh(nb, velocities);
}

int tsr_neighbours_need_rebuild(tsr_neighbours nb, bool *need) {
    if (!nb || !need)
        return TSR_ERR_ARG;
    tsr_particles p = nb->p;
    const tsr__layout *lay = &p->map->decomp->lay;
    int mine = unchanged(nb) ? 0 : 1, all = 1;
    double half = 0.5 * nb->skin, lim = half * half;
    for (int64_t b = 0; b < p->nblocks && !mine; b++) {
        const tsr__pblock *blk = &p->blocks[b];
        const tsr__nblock *nbk = &nb->blocks[b];
        /* every step asks: the threads share a block (no early exit then, which only a step that
         * rebuilds anyway would take) */
        bool par = blk->count > p->ctx->min_parallel_cells;
#pragma omp parallel for schedule(static) reduction(max : mine) if (par)
        for (int64_t i = 0; i < blk->count; i++) {
            double r2 = 0.0;
            for (int d = 0; d < lay->ndim; d++) {
                double dx = ((const double *)(void *)tsr__pcol(blk, 1 + d))[i] - nbk->x0[d][i];
                if (lay->periodic[d] && fabs(dx) > 0.5 * (double)lay->n[d])
                    dx -= copysign((double)lay->n[d], dx); /* wrapped since: the nearest image */
                r2 += dx * dx;
            }
            if (!(r2 <= lim)) /* a non-finite position asks for a rebuild too */
                mine = 1;
        }
    }
    TSR_MPI(p->ctx, MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MAX, p->ctx->comm));
    *need = all != 0;
    return TSR_SUCCESS;
}

int tsr_neighbours_set_unshifted(tsr_neighbours nb, bool unshifted) {
    if (!nb)
        return TSR_ERR_ARG;
    if (nb->unshifted != unshifted)
        unbuild(nb);
    nb->unshifted = unshifted;
    return TSR_SUCCESS;
}

int tsr_neighbours_block(tsr_neighbours nb, int64_t lb, tsr_neighbour_block *view) {
    if (!nb || !view || !nb->built || lb < 0 || lb >= nb->p->nblocks || lb >= nb->nblocks)
        return TSR_ERR_ARG;
    const tsr__nblock *b = &nb->blocks[lb];
    view->nlocal = b->nlocal;
    view->nghost = b->nghost;
    view->ghost_id = b->gid;
    view->ghost_image = b->gimg;
    for (int d = 0; d < 3; d++) {
        view->ghost_x[d] = b->gx[d];
        view->ghost_v[d] = b->gv[d];
    }
    view->first = b->first;
    view->partner = b->partner;
    return TSR_SUCCESS;
}
