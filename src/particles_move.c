/* Redistribution of particles to the blocks holding their positions: classify, agree on the
 * particles that left the domain, exchange counts, one message per peer rank, then rebuild every
 * local block sorted by id. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "field_impl.h"
#include "particles_impl.h"

/* A particle in a message: its destination block, then its TSR__PWORDS words. */
#define RECORD_WORDS(p) (1 + TSR__PWORDS(p))

typedef struct move {
    tsr_map to;      /* the map the particles go to: the container's, or another (set_map) */
    bool remap;      /* every particle is sent (the local blocks change) */
    int64_t nlocal;  /* particles here before */
    int64_t *first;  /* per local block, index of its first particle in dest (nblocks + 1) */
    int64_t *dest;   /* per particle: destination block, -1 if outside the domain */
    int64_t *scount; /* per rank: particles sent (self included) */
    int64_t *rcount; /* per rank: particles received */
    int64_t *sdispl; /* per rank: first record in sbuf */
    int64_t *rdispl;
    int64_t removed; /* particles here that left the domain */
    int64_t bad_id;  /* the lowest id among them */
    double bad_x[3];
    char *sbuf, *rbuf; /* the container's */
    MPI_Request *req;
} move;

/* The last block's owner: particles of a block mostly go to the same block, and on a ruled map
 * (no owner table) each lookup walks the curve. */
typedef struct owner_memo {
    int64_t block;
    int owner;
} owner_memo;

static inline int memo_owner(owner_memo *o, tsr_map map, int64_t block) {
    if (block != o->block) {
        o->block = block;
        o->owner = tsr__map_owner_of(map, block);
    }
    return o->owner;
}

static void move_free(move *m) {
    free(m->first);
    free(m->dest);
    free(m->scount);
    free(m->rcount);
    free(m->sdispl);
    free(m->rdispl);
    free(m->req);
}

static int move_alloc(tsr_particles p, move *m) {
    tsr_ctx ctx = p->ctx;
    size_t nr = (size_t)ctx->size;
    m->first = NULL;
    TSR_CALL(ctx, tsr__calloc(ctx, (size_t)p->nblocks + 1, sizeof(int64_t), &m->first));
    for (int64_t b = 0; b < p->nblocks; b++)
        m->first[b + 1] = m->first[b] + p->blocks[b].count;
    m->nlocal = m->first[p->nblocks];
    TSR_CALL(ctx, tsr__malloc(ctx, (size_t)m->nlocal, sizeof(int64_t), &m->dest));
    TSR_CALL(ctx, tsr__calloc(ctx, nr, sizeof(int64_t), &m->scount));
    TSR_CALL(ctx, tsr__calloc(ctx, nr, sizeof(int64_t), &m->rcount));
    TSR_CALL(ctx, tsr__calloc(ctx, nr, sizeof(int64_t), &m->sdispl));
    TSR_CALL(ctx, tsr__calloc(ctx, nr, sizeof(int64_t), &m->rdispl));
    TSR_CALL(ctx, tsr__calloc(ctx, 2 * nr, sizeof(MPI_Request), &m->req));
    for (size_t r = 0; r < 2 * nr; r++)
        m->req[r] = MPI_REQUEST_NULL;
    return TSR_SUCCESS;
}

/* dest[] of a particle that stays where it is, in a block already sorted by id: it is not sent
 * but merged with the block's arrivals. */
#define KEEP (-2)
#define LEAVING (-1)

static inline int bits_differ(double a, double b) {
    return memcmp(&a, &b, sizeof a) != 0;
}

/* Wraps every position on the periodic dimensions and finds its block. */
static void classify(tsr_particles p, move *m) {
    const tsr__layout *lay = &m->to->decomp->lay;
    int changed = 0;
#pragma omp parallel for schedule(static) reduction(+ : changed)                                \
    if (m->nlocal > p->ctx->min_parallel_cells)
    for (int64_t b = 0; b < p->nblocks; b++) {
        tsr__pblock *blk = &p->blocks[b];
        const int64_t *id = (const int64_t *)(void *)tsr__pcol(blk, 0);
        double *x[3];
        for (int d = 0; d < 3; d++)
            x[d] = (double *)(void *)tsr__pcol(blk, 1 + d);
        /* adds and removes since the last redistribution may have broken the order: then every
         * particle of the block goes through the sort */
        bool sorted = true;
        for (int64_t i = 1; i < blk->count && sorted; i++)
            sorted = id[i - 1] < id[i];
        int64_t self = p->map->local[b];
        for (int64_t i = 0; i < blk->count; i++) {
            double pos[3] = {x[0][i], x[1][i], x[2][i]};
            int64_t to = LEAVING;
            if (tsr__particle_locate(lay, pos, &to))
                for (int d = 0; d < 3; d++) {
                    changed += bits_differ(x[d][i], pos[d]);
                    x[d][i] = pos[d];
                }
            else
                to = LEAVING;
            m->dest[m->first[b] + i] = !m->remap && sorted && to == self ? KEEP : to;
            changed += m->dest[m->first[b] + i] != KEEP;
        }
    }
    /* a redistribution that moved, sorted or wrapped nothing leaves neighbour lists valid */
    if (changed)
        p->gen++;
}

/* Particles per destination rank, and the lowest id of those that left the domain. */
static void count_by_rank(tsr_particles p, move *m) {
    m->removed = 0;
    m->bad_id = INT64_MAX;
    owner_memo memo = {-1, 0};
    for (int64_t b = 0; b < p->nblocks; b++) {
        const tsr__pblock *blk = &p->blocks[b];
        const int64_t *id = (const int64_t *)(void *)tsr__pcol(blk, 0);
        for (int64_t i = 0; i < blk->count; i++) {
            int64_t to = m->dest[m->first[b] + i];
            if (to >= 0)
                m->scount[memo_owner(&memo, m->to, to)]++;
            if (to != LEAVING)
                continue;
            if (m->removed++ == 0 || id[i] < m->bad_id) {
                m->bad_id = id[i];
                for (int d = 0; d < 3; d++)
                    m->bad_x[d] = ((const double *)(void *)tsr__pcol(blk, 1 + d))[i];
            }
        }
    }
}

/* Every particle's block under m->to, then the count per rank: a sparse map's owners of blocks
 * that particles entered and this rank does not know yet are fetched in between. Collective. */
static int classify_count(tsr_particles p, move *m) {
    classify(p, m);
    TSR_CALL(p->ctx, tsr__map_resolve_blocks(m->to, m->nlocal, m->dest));
    count_by_rank(p, m);
    return TSR_SUCCESS;
}

/* Every rank learns whether a particle left the domain; the lowest id among them is named. */
static int agree_leaving(tsr_particles p, move *m) {
    tsr_ctx ctx = p->ctx;
    int64_t mine[2] = {m->removed ? 0 : 1, m->removed ? m->bad_id : INT64_MAX}, all[2];
    TSR_MPI(ctx, MPI_Allreduce(mine, all, 2, MPI_INT64_T, MPI_MIN, ctx->comm));
    if (all[0] != 0)
        return TSR_SUCCESS;
    int err = TSR_SUCCESS;
    if (m->removed && m->bad_id == all[1]) {
        const tsr__layout *lay = &m->to->decomp->lay;
        /* The first coordinate that is not finite, else the first outside a side that is not
         * periodic (a periodic one only needed wrapping). */
        int d = 0;
        while (d < lay->ndim - 1 && isfinite(m->bad_x[d]))
            d++;
        if (isfinite(m->bad_x[d]))
            for (d = 0; d < lay->ndim - 1; d++)
                if (!lay->periodic[d] && !(m->bad_x[d] >= 0.0 && m->bad_x[d] < (double)lay->n[d]))
                    break;
        char why[128];
        if (!isfinite(m->bad_x[d]))
            snprintf(why, sizeof why, "its %c is not finite", "xyz"[d]);
        else
            snprintf(why, sizeof why, "%c outside [0, %lld), which is not periodic", "xyz"[d],
                     (long long)lay -> n[d]);
        err = tsr_error_set(ctx, TSR_ERR_VERIFY, __FILE__, __LINE__, __func__,
                            "particle %lld at (%.17g, %.17g, %.17g) left the domain: %s",
                            (long long)m->bad_id, m->bad_x[0], m->bad_x[1], m->bad_x[2], why);
    }
    return tsr_ctx_agree(ctx, err);
}

/* Counts to every rank; a message that MPI could not count in bytes is refused here, before
 * anything is posted. Local verdict. */
static int exchange_counts(tsr_particles p, move *m) {
    tsr_ctx ctx = p->ctx;
    TSR_MPI(ctx, MPI_Alltoall(m->scount, 1, MPI_INT64_T, m->rcount, 1, MPI_INT64_T, ctx->comm));
    int64_t limit = INT_MAX / (RECORD_WORDS(p) * 8);
    for (int r = 0; r < ctx->size; r++) {
        TSR_CHECK(ctx, r == ctx->rank || m->scount[r] <= limit, TSR_ERR_INPUT,
                  "%lld particles for rank %d: a message over INT_MAX bytes (at most %lld "
                  "particles of %d bytes per peer)",
                  (long long)m->scount[r], r, (long long)limit, RECORD_WORDS(p) * 8);
        TSR_CHECK(ctx, r == ctx->rank || m->rcount[r] <= limit, TSR_ERR_INPUT,
                  "%lld particles from rank %d: a message over INT_MAX bytes (at most %lld "
                  "particles of %d bytes per peer)",
                  (long long)m->rcount[r], r, (long long)limit, RECORD_WORDS(p) * 8);
    }
    return TSR_SUCCESS;
}

/* At least `need` bytes in *buf, contents not kept. */
static int grow(tsr_ctx ctx, char **buf, size_t *bytes, size_t need) {
    if (need <= *bytes && *buf)
        return TSR_SUCCESS;
    free(*buf);
    *bytes = 0;
    *buf = malloc(need + need / 8 + 64);
    TSR_CHECK(ctx, *buf, TSR_ERR_MEMORY, "cannot allocate %zu bytes for particle messages",
              need + need / 8 + 64);
    *bytes = need + need / 8 + 64;
    return TSR_SUCCESS;
}

/* Packs the records by destination rank, in block then particle order. Local. */
static int pack(tsr_particles p, move *m) {
    tsr_ctx ctx = p->ctx;
    size_t rec = (size_t)RECORD_WORDS(p) * 8;
    int64_t ns = 0, nrecv = 0;
    for (int r = 0; r < ctx->size; r++) {
        m->sdispl[r] = ns;
        m->rdispl[r] = nrecv;
        ns += m->scount[r];
        nrecv += m->rcount[r];
    }
    TSR_CALL(ctx, grow(ctx, &p->sbuf, &p->sbytes, (size_t)ns * rec));
    TSR_CALL(ctx, grow(ctx, &p->rbuf, &p->rbytes, (size_t)nrecv * rec));
    m->sbuf = p->sbuf;
    m->rbuf = p->rbuf;
    int64_t *at = NULL;
    TSR_CALL(ctx, tsr__calloc(ctx, (size_t)ctx->size, sizeof *at, &at));
    memcpy(at, m->sdispl, (size_t)ctx->size * sizeof *at);
    owner_memo memo = {-1, 0};
    for (int64_t b = 0; b < p->nblocks; b++) {
        const tsr__pblock *blk = &p->blocks[b];
        for (int64_t i = 0; i < blk->count; i++) {
            int64_t to = m->dest[m->first[b] + i];
            if (to < 0)
                continue;
            char *r = m->sbuf + (size_t)at[memo_owner(&memo, m->to, to)]++ * rec;
            memcpy(r, &to, 8);
            for (int k = 0; k < TSR__PWORDS(p); k++)
                memcpy(r + 8 * (size_t)(1 + k), tsr__pcol(blk, k) + (size_t)i * 8, 8);
        }
    }
    free(at);
    return TSR_SUCCESS;
}

/* One message per peer with particles to send or receive; this rank's own records are copied.
 * Local verdict (the caller agrees). */
static int transfer(tsr_particles p, move *m) {
    tsr_ctx ctx = p->ctx;
    size_t rec = (size_t)RECORD_WORDS(p) * 8;
    int me = ctx->rank, nreq = 0, err = TSR_SUCCESS;
    if (m->scount[me] > 0)
        memcpy(m->rbuf + (size_t)m->rdispl[me] * rec, m->sbuf + (size_t)m->sdispl[me] * rec,
               (size_t)m->scount[me] * rec);
    for (int r = 0; r < ctx->size && !err; r++) {
        if (r == me || m->rcount[r] == 0)
            continue;
        int rc = MPI_Irecv(m->rbuf + (size_t)m->rdispl[r] * rec, (int)((size_t)m->rcount[r] * rec),
                           MPI_BYTE, r, TSR_TAG_PARTICLES, ctx->comm, &m->req[nreq++]);
        if (rc != MPI_SUCCESS)
            err = tsr_error_mpi(ctx, rc, "MPI_Irecv", __FILE__, __LINE__, __func__);
    }
    for (int r = 0; r < ctx->size && !err; r++) {
        if (r == me || m->scount[r] == 0)
            continue;
        int bytes = (int)((size_t)m->scount[r] * rec);
        int rc = MPI_Isend(m->sbuf + (size_t)m->sdispl[r] * rec, bytes, MPI_BYTE, r,
                           TSR_TAG_PARTICLES, ctx->comm, &m->req[nreq++]);
        if (rc != MPI_SUCCESS)
            err = tsr_error_mpi(ctx, rc, "MPI_Isend", __FILE__, __LINE__, __func__);
        ctx->bytes_sent += (uint64_t)bytes;
        ctx->msgs_sent++;
    }
    int rc = MPI_Waitall(nreq, m->req, MPI_STATUSES_IGNORE);
    if (rc != MPI_SUCCESS && !err)
        err = tsr_error_mpi(ctx, rc, "MPI_Waitall", __FILE__, __LINE__, __func__);
    return err;
}

typedef struct key {
    int64_t id, rec;
} key;

static int key_cmp(const void *a, const void *b) {
    const key *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return (x->rec > y->rec) - (x->rec < y->rec);
}

static void copy_particle(tsr_particles p, tsr__pblock *to, int64_t i, const tsr__pblock *from,
                          int64_t j) {
    for (int k = 0; k < TSR__PWORDS(p); k++)
        memcpy(tsr__pcol(to, k) + (size_t)i * 8, tsr__pcol(from, k) + (size_t)j * 8, 8);
}

/* Local block b after the move: the particles it keeps (in order, sorted by id) merged with its
 * n arrivals kb (sorted by id). The storage is kept when it fits, else allocated here, by the
 * calling thread. Returns 1 if an allocation failed (the block is then empty), else 0. */
static int rebuild(tsr_particles p, const move *m, int64_t b, const key *kb, int64_t n) {
    tsr__pblock *blk = &p->blocks[b];
    const int64_t *dest = m->dest + m->first[b];
    int64_t kept = 0;
    for (int64_t i = 0; i < blk->count; i++)
        if (dest[i] == KEEP) {
            if (i != kept)
                copy_particle(p, blk, kept, blk, i);
            kept++;
        }
    blk->count = kept;
    int64_t total = kept + n;
    if (blk->cap < total || blk->cap > 4 * total + 64) {
        tsr__pblock fresh = *blk;
        fresh.cap = total + total / 8;
        fresh.mem = NULL;
        if (fresh.cap > 0) {
            fresh.mem =
                aligned_alloc(64, ((size_t)fresh.cap * (size_t)TSR__PWORDS(p) * 8 + 63) / 64 * 64);
            if (!fresh.mem) {
                free(blk->mem);
                blk->mem = NULL;
                blk->cap = blk->count = 0;
                tsr__pblock_point(p, blk);
                return 1;
            }
        }
        for (int64_t i = 0; i < kept; i++)
            copy_particle(p, &fresh, i, blk, i);
        free(blk->mem);
        *blk = fresh;
    }
    /* merge from the end: kept particles only move towards it */
    size_t rec = (size_t)RECORD_WORDS(p) * 8;
    const int64_t *id = (const int64_t *)(void *)tsr__pcol(blk, 0);
    int64_t i = kept - 1;
    for (int64_t j = n - 1, out = total - 1; j >= 0; out--) {
        if (i >= 0 && id[i] > kb[j].id) {
            copy_particle(p, blk, out, blk, i--);
            continue;
        }
        const char *r = m->rbuf + (size_t)kb[j--].rec * rec + 8;
        for (int k = 0; k < TSR__PWORDS(p); k++)
            memcpy(tsr__pcol(blk, k) + (size_t)out * 8, r + 8 * (size_t)k, 8);
    }
    blk->count = total;
    tsr__pblock_point(p, blk);
    return 0;
}

/* Rebuilds every local block from the particles it keeps and the records received for it,
 * sorted by id, one block per thread (static schedule, so a block's storage stays with one
 * thread from step to step). Local verdict. */
static int unpack(tsr_particles p, move *m) {
    tsr_ctx ctx = p->ctx;
    size_t rec = (size_t)RECORD_WORDS(p) * 8;
    int64_t nrecv = 0;
    for (int r = 0; r < ctx->size; r++)
        nrecv += m->rcount[r];
    if (nrecv > 0)
        p->gen++;
    key *keys = NULL;
    int64_t *start = NULL, *lbs = NULL;
    int err = tsr__malloc(ctx, (size_t)nrecv, sizeof *keys, &keys);
    if (!err)
        err = tsr__calloc(ctx, (size_t)p->nblocks + 1, sizeof *start, &start);
    if (!err)
        err = tsr__malloc(ctx, (size_t)nrecv, sizeof *lbs, &lbs);
    for (int64_t j = 0; !err && j < nrecv; j++) {
        int64_t block;
        memcpy(&block, m->rbuf + (size_t)j * rec, 8);
        lbs[j] = tsr__local_index(p->map, block);
        if (lbs[j] < 0)
            err = tsr_error_set(ctx, TSR_ERR_INTERNAL, __FILE__, __LINE__, __func__,
                                "received a particle for block %lld, not on rank %d",
                                (long long)block, ctx->rank);
        else
            start[lbs[j] + 1]++;
    }
    if (err) {
        free(keys);
        free(start);
        free(lbs);
        return err;
    }
    for (int64_t b = 0; b < p->nblocks; b++)
        start[b + 1] += start[b];
    for (int64_t j = 0; j < nrecv; j++) {
        key *k = &keys[start[lbs[j]]++];
        memcpy(&k->id, m->rbuf + (size_t)j * rec + 8, 8);
        k->rec = j;
    }
    for (int64_t b = p->nblocks; b > 0; b--) /* back to the first index of each block */
        start[b] = start[b - 1];
    start[0] = 0;
    int failed = 0;
#pragma omp parallel for schedule(static) reduction(+ : failed)                                 \
    if (nrecv + m->nlocal > ctx->min_parallel_cells)
    for (int64_t b = 0; b < p->nblocks; b++) {
        key *kb = keys + start[b];
        int64_t n = start[b + 1] - start[b];
        qsort(kb, (size_t)n, sizeof *kb, key_cmp);
        failed += rebuild(p, m, b, kb, n);
    }
    free(keys);
    free(start);
    free(lbs);
    TSR_CHECK(ctx, failed == 0, TSR_ERR_MEMORY,
              "cannot allocate the particles of %d blocks after redistribution", failed);
    return TSR_SUCCESS;
}

static int redistribute(tsr_particles p, int flags, int64_t *removed, move *m) {
    tsr_ctx ctx = p->ctx;
    m->to = p->map;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, move_alloc(p, m)));
    double t0 = tsr_wtime();
    TSR_CALL(ctx, classify_count(p, m));
    if (!(flags & TSR_PARTICLES_REMOVE_LEAVING))
        TSR_CALL(ctx, agree_leaving(p, m));
    TSR_CALL(ctx, tsr_ctx_agree(ctx, exchange_counts(p, m)));
    TSR_CALL(ctx, tsr_ctx_agree(ctx, pack(p, m)));
    double t1 = tsr_wtime();
    TSR_CALL(ctx, tsr_ctx_agree(ctx, transfer(p, m)));
    double t2 = tsr_wtime();
    TSR_CALL(ctx, tsr_ctx_agree(ctx, unpack(p, m)));
    tsr_ctx_timer_add(ctx, TSR_TIMER_PACK, t1 - t0);
    tsr_ctx_timer_add(ctx, TSR_TIMER_WAIT, t2 - t1);
    tsr_ctx_timer_add(ctx, TSR_TIMER_UNPACK, tsr_wtime() - t2);

    /* before - removed = after, over all ranks: every rank sees the same sums */
    int64_t mine[3] = {m->nlocal, m->removed, tsr_particles_local_count(p)}, all[3];
    TSR_MPI(ctx, MPI_Allreduce(mine, all, 3, MPI_INT64_T, MPI_SUM, ctx->comm));
    TSR_CHECK(ctx, all[0] - all[1] == all[2], TSR_ERR_INTERNAL,
              "redistribution lost particles: %lld before, %lld removed, %lld after",
              (long long)all[0], (long long)all[1], (long long)all[2]);
    if (removed)
        *removed = all[1];
    return TSR_SUCCESS;
}

int tsr_particles_redistribute(tsr_particles p, int flags, int64_t *removed) {
    if (!p)
        return TSR_ERR_ARG;
    if (removed)
        *removed = 0;
    TSR_CHECK(p->ctx, (flags & ~TSR_PARTICLES_REMOVE_LEAVING) == 0, TSR_ERR_ARG,
              "unknown redistribution flags %#x", (unsigned)flags);
    move m;
    memset(&m, 0, sizeof m);
    int err = redistribute(p, flags, removed, &m);
    move_free(&m);
    return err;
}

/* The grid of `to` must be the container's: same dimensions, sizes and periodicity. Rank 0. */
static int same_grid(tsr_particles p, tsr_map to) {
    const tsr__layout *a = &p->map->decomp->lay, *b = &to->decomp->lay;
    bool same = a->ndim == b->ndim;
    for (int d = 0; same && d < a->ndim; d++)
        same = a->n[d] == b->n[d] && a->periodic[d] == b->periodic[d];
    TSR_CHECK(p->ctx, same, TSR_ERR_ARG,
              "the particles cannot move to a map of another grid (sizes or periodicity differ)");
    return TSR_SUCCESS;
}

/* Empty blocks for the local blocks of `to`, with their component pointer arrays. */
static int new_blocks(tsr_particles p, tsr_map to, tsr__pblock **out) {
    tsr_ctx ctx = p->ctx;
    tsr__pblock *nb = NULL;
    TSR_CALL(ctx, tsr__calloc(ctx, (size_t)(to->nlocal ? to->nlocal : 1), sizeof *nb, &nb));
    int err = TSR_SUCCESS;
    for (int64_t b = 0; !err && b < to->nlocal; b++) {
        if (p->nreal > 0)
            err = tsr__calloc(ctx, (size_t)p->nreal, sizeof(double *), &nb[b].real);
        if (!err && p->nint > 0)
            err = tsr__calloc(ctx, (size_t)p->nint, sizeof(int64_t *), &nb[b].integ);
    }
    if (err) {
        for (int64_t b = 0; b < to->nlocal; b++) {
            free(nb[b].real);
            free(nb[b].integ);
        }
        free(nb);
        return err;
    }
    *out = nb;
    return TSR_SUCCESS;
}

/* The blocks of a container and their storage. */
static void free_blocks(tsr_particles p, tsr__pblock *blocks, int64_t n) {
    for (int64_t b = 0; blocks && b < n; b++) {
        free(blocks[b].mem);
        free(blocks[b].real);
        free(blocks[b].integ);
    }
    free(blocks);
    (void)p;
}

/* Like redistribute, but every particle is packed for its block under `to`; once the messages
 * are through the container swaps its blocks for those of `to`, then unpacks into them. */
static int set_map(tsr_particles p, tsr_map to, int64_t *bytes, move *m) {
    tsr_ctx ctx = p->ctx;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, ctx->rank == 0 ? same_grid(p, to) : TSR_SUCCESS));
    m->to = to;
    m->remap = true;
    p->gen++;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, move_alloc(p, m)));
    tsr__pblock *blocks = NULL;
    int64_t *first = NULL;
    int err = new_blocks(p, to, &blocks);
    if (!err)
        err = tsr__calloc(ctx, (size_t)to->nlocal + 1, sizeof *first, &first);
    err = tsr_ctx_agree(ctx, err);
    double t0 = tsr_wtime();
    if (!err)
        err = classify_count(p, m);
    if (!err)
        err = agree_leaving(p, m);
    if (!err)
        err = tsr_ctx_agree(ctx, exchange_counts(p, m));
    if (!err)
        err = tsr_ctx_agree(ctx, pack(p, m));
    double t1 = tsr_wtime();
    if (!err)
        err = tsr_ctx_agree(ctx, transfer(p, m));
    if (err) {
        free_blocks(p, blocks, to->nlocal);
        free(first);
        return err;
    }
    double t2 = tsr_wtime();
    /* Every particle is in the receive buffer now: the old blocks go, the new ones come. */
    free_blocks(p, p->blocks, p->nblocks);
    p->blocks = blocks;
    p->nblocks = to->nlocal;
    p->map = to;
    free(m->first);
    m->first = first;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, unpack(p, m)));
    tsr_ctx_timer_add(ctx, TSR_TIMER_PACK, t1 - t0);
    tsr_ctx_timer_add(ctx, TSR_TIMER_WAIT, t2 - t1);
    tsr_ctx_timer_add(ctx, TSR_TIMER_UNPACK, tsr_wtime() - t2);
    int64_t sent = 0;
    for (int r = 0; r < ctx->size; r++)
        sent += r == ctx->rank ? 0 : m->scount[r];
    int64_t mine[3] = {m->nlocal, tsr_particles_local_count(p), sent * TSR__PWORDS(p) * 8}, all[3];
    TSR_MPI(ctx, MPI_Allreduce(mine, all, 3, MPI_INT64_T, MPI_SUM, ctx->comm));
    TSR_CHECK(ctx, all[0] == all[1], TSR_ERR_INTERNAL,
              "moving particles to another map lost some: %lld before, %lld after",
              (long long)all[0], (long long)all[1]);
    if (bytes)
        *bytes = all[2];
    return TSR_SUCCESS;
}

int tsr__particles_set_map(tsr_particles p, tsr_map map, int64_t *bytes) {
    if (bytes)
        *bytes = 0;
    if (!p || !map)
        return TSR_ERR_ARG;
    move m;
    memset(&m, 0, sizeof m);
    int err = set_map(p, map, bytes, &m);
    move_free(&m);
    return err;
}

int tsr_particles_set_map(tsr_particles p, tsr_map map) {
    return tsr__particles_set_map(p, map, NULL);
}
