/* Sparse maps: owners no rank can compute for itself (knapsack, or blocks heavier than a rank's
 * share) above TESSERA_MAP_TABLE_MAX blocks. Rank 0 computes the table and keeps it; every other
 * rank gets only its blocks and the owners of the blocks around them (what halos of up to a
 * block's width read), and fetches any other owner a plan needs from rank 0 (tsr__map_resolve).
 * Memory: O(B) on rank 0, O(local blocks x 3^d) elsewhere. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "exchange_impl.h"

/* A growing list of block ids. */
typedef struct idlist {
    int64_t *a;
    int64_t n, cap;
} idlist;

static bool id_push(idlist *l, int64_t id) {
    if (l->n == l->cap) {
        int64_t nc = l->cap ? 2 * l->cap : 256;
        int64_t *a = realloc(l->a, sizeof *a * (size_t)nc);
        if (!a)
            return false;
        l->a = a;
        l->cap = nc;
    }
    l->a[l->n++] = id;
    return true;
}

static int cmp_id(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorts and drops repeats. */
static void id_unique(idlist *l) {
    if (l->n > 1)
        qsort(l->a, (size_t)l->n, sizeof *l->a, cmp_id);
    int64_t k = 0;
    for (int64_t i = 0; i < l->n; i++)
        if (k == 0 || l->a[i] != l->a[k - 1])
            l->a[k++] = l->a[i];
    l->n = k;
}

static bool push_src(const tsr__piece *p, void *user) {
    return id_push(user, p->src);
}

static bool push_dst(const tsr__piece *p, void *user) {
    return id_push(user, p->dst);
}

bool tsr__map_around(const tsr__layout *lay, const int64_t *own, int64_t n, int64_t **ids,
                     int64_t *count, int64_t *cap) {
    /* Blocks form a tensor grid of at least one cell each: those within one cell of a block are
     * its neighbours in block coordinates, wrapped where the grid is periodic. */
    idlist l = {.a = *ids, .cap = *cap};
    int64_t span[TSR_MAX_DIM];
    for (int d = 0; d < TSR_MAX_DIM; d++)
        span[d] = d < lay->ndim ? 1 : 0;
    bool ok = true;
    for (int64_t i = 0; ok && i < n; i++) {
        int64_t c[TSR_MAX_DIM];
        tsr__block_coords(lay, own[i], c);
        for (int64_t dz = -span[2]; ok && dz <= span[2]; dz++)
            for (int64_t dy = -span[1]; ok && dy <= span[1]; dy++)
                for (int64_t dx = -span[0]; ok && dx <= span[0]; dx++) {
                    int64_t q[TSR_MAX_DIM] = {c[0] + dx, c[1] + dy, c[2] + dz};
                    bool inside = true;
                    for (int d = 0; d < lay->ndim; d++) {
                        if (lay->periodic[d])
                            q[d] = (q[d] + lay->nb[d]) % lay->nb[d];
                        inside = inside && q[d] >= 0 && q[d] < lay->nb[d];
                    }
                    if (inside)
                        ok = id_push(&l, q[0] + lay->nb[0] * (q[1] + lay->nb[1] * q[2]));
                }
    }
    *ids = l.a;
    *count = ok ? l.n : 0;
    *cap = l.cap;
    return ok;
}

typedef struct known_pair {
    int64_t id;
    int owner;
} known_pair;

static int cmp_pair(const void *a, const void *b) {
    int64_t x = ((const known_pair *)a)->id, y = ((const known_pair *)b)->id;
    return (x > y) - (x < y);
}

bool tsr__map_known_sort(int64_t *ids, int *owners, int64_t *n) {
    known_pair *p = malloc(sizeof *p * (size_t)(*n ? *n : 1));
    if (!p)
        return false;
    for (int64_t i = 0; i < *n; i++)
        p[i] = (known_pair){ids[i], owners[i]};
    if (*n > 1)
        qsort(p, (size_t)*n, sizeof *p, cmp_pair);
    int64_t k = 0;
    for (int64_t i = 0; i < *n; i++)
        if (k == 0 || p[i].id != ids[k - 1]) {
            ids[k] = p[i].id;
            owners[k++] = p[i].owner;
        }
    *n = k;
    free(p);
    return true;
}

void tsr__blocks_by_rank(const int *owner, int64_t n, int nranks, int64_t *first, int64_t *byrank) {
    memset(first, 0, sizeof *first * ((size_t)nranks + 1));
    for (int64_t i = 0; i < n; i++)
        first[owner[i] + 1]++;
    for (int r = 0; r < nranks; r++)
        first[r + 1] += first[r];
    for (int64_t i = 0; i < n; i++)
        byrank[first[owner[i]]++] = i;
    for (int r = nranks; r > 0; r--) /* each rank's start was advanced to the next's */
        first[r] = first[r - 1];
    first[0] = 0;
}

/* Rank 0 sends rank r its list (count -1: rank 0 failed). */
static int send_list(tsr_ctx ctx, int r, const idlist *l, const int *owner, int *buf) {
    int64_t n = l ? l->n : -1;
    TSR_MPI(ctx, MPI_Send(&n, 1, MPI_INT64_T, r, TSR_TAG_MAP, ctx->comm));
    if (n <= 0)
        return TSR_SUCCESS;
    for (int64_t i = 0; i < n; i++)
        buf[i] = owner[l->a[i]];
    TSR_MPI(ctx, MPI_Send(l->a, (int)n, MPI_INT64_T, r, TSR_TAG_MAP, ctx->comm));
    TSR_MPI(ctx, MPI_Send(buf, (int)n, MPI_INT, r, TSR_TAG_MAP, ctx->comm));
    return TSR_SUCCESS;
}

/* Rank 0: every other rank's list (unsorted, repeats kept: the receiver sorts), built and sent
 * one rank at a time. */
static int send_lists(tsr_map m) {
    tsr_ctx ctx = m->ctx;
    const tsr__layout *lay = &m->decomp->lay;
    int P = ctx->size;
    /* The blocks by owner: a counting sort of the table. */
    int64_t *first = calloc((size_t)P + 1, sizeof *first);
    int64_t *byrank = malloc(sizeof *byrank * (size_t)(lay->nblocks ? lay->nblocks : 1));
    idlist l = {0};
    int *buf = NULL;
    int err = first && byrank ? TSR_SUCCESS
                              : tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                              "cannot allocate the sparse map's lists");
    if (!err)
        tsr__blocks_by_rank(m->owner, lay->nblocks, P, first, byrank);
    for (int r = 1; r < P; r++) {
        if (!err &&
            !tsr__map_around(lay, byrank + first[r], first[r + 1] - first[r], &l.a, &l.n, &l.cap))
            err = tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                "cannot allocate the sparse map's list of rank %d", r);
        if (!err && l.n > INT_MAX)
            err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                "rank %d would know %lld owners, more than MPI's int count", r,
                                (long long)l.n);
        if (!err && !(buf = realloc(buf, sizeof *buf * (size_t)(l.n ? l.n : 1))))
            err = tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                "cannot allocate the sparse map's list of rank %d", r);
        int e2 = send_list(ctx, r, err ? NULL : &l, m->owner, buf);
        err = err ? err : e2;
    }
    free(first);
    free(byrank);
    free(l.a);
    free(buf);
    return err;
}

/* A rank other than 0: its list from rank 0. A rank that cannot allocate still takes both
 * messages (into one element: truncated, but matched), so that rank 0 is not left waiting. */
static int recv_list(tsr_map m) {
    tsr_ctx ctx = m->ctx;
    int64_t n = 0;
    TSR_MPI(ctx, MPI_Recv(&n, 1, MPI_INT64_T, 0, TSR_TAG_MAP, ctx->comm, MPI_STATUS_IGNORE));
    if (n < 0) /* rank 0 failed: its error comes with the agreement */
        return tsr_error_set(ctx, TSR_ERR_INTERNAL, __FILE__, __LINE__, __func__,
                             "rank 0 could not send the map");
    m->known_id = malloc(sizeof *m->known_id * (size_t)(n + 1));
    m->known_owner = malloc(sizeof *m->known_owner * (size_t)(n + 1));
    bool ok = m->known_id && m->known_owner;
    int64_t id1;
    int owner1;
    if (n > 0) {
        int rc = MPI_Recv(ok ? m->known_id : &id1, ok ? (int)n : 1, MPI_INT64_T, 0, TSR_TAG_MAP,
                          ctx->comm, MPI_STATUS_IGNORE);
        int rc2 = MPI_Recv(ok ? m->known_owner : &owner1, ok ? (int)n : 1, MPI_INT, 0, TSR_TAG_MAP,
                           ctx->comm, MPI_STATUS_IGNORE);
        if (ok && rc != MPI_SUCCESS)
            return tsr_error_mpi(ctx, rc, "MPI_Recv", __FILE__, __LINE__, __func__);
        if (ok && rc2 != MPI_SUCCESS)
            return tsr_error_mpi(ctx, rc2, "MPI_Recv", __FILE__, __LINE__, __func__);
    }
    /* sorted here, not on rank 0, which then only lists: the ranks sort their parts at once */
    TSR_CHECK(ctx, ok && tsr__map_known_sort(m->known_id, m->known_owner, &n), TSR_ERR_MEMORY,
              "cannot allocate the owners of %lld blocks", (long long)n);
    m->nknown = n;
    return TSR_SUCCESS;
}

int tsr__map_sparse_lists(tsr_map m) {
    tsr_ctx ctx = m->ctx;
    m->sparse = true;
    /* A receiver that failed to allocate still reads rank 0's messages: none is left unmatched. */
    int err = ctx->rank == 0 ? send_lists(m) : recv_list(m);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    err = ctx->rank == 0 ? tsr__map_list_local(m, NULL, m->owner, m->decomp->lay.nblocks)
                         : tsr__map_list_local(m, m->known_id, m->known_owner, m->nknown);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    return TSR_SUCCESS;
}

/* Adds n sorted (id, owner) pairs unknown so far to what this rank knows: one merge. */
static int merge_known(tsr_map m, const int64_t *ids, const int *owners, int64_t n) {
    tsr_ctx ctx = m->ctx;
    int64_t total = m->nknown + n;
    int64_t *id = malloc(sizeof *id * (size_t)(total ? total : 1));
    int *own = malloc(sizeof *own * (size_t)(total ? total : 1));
    if (!id || !own) {
        free(id);
        free(own);
        TSR_CHECK(ctx, 0, TSR_ERR_MEMORY, "cannot allocate the owners of %lld blocks",
                  (long long)total);
    }
    int64_t i = 0, j = 0, k = 0;
    while (i < m->nknown || j < n) {
        if (j == n || (i < m->nknown && m->known_id[i] < ids[j])) {
            id[k] = m->known_id[i];
            own[k++] = m->known_owner[i++];
        } else {
            id[k] = ids[j];
            own[k++] = owners[j++];
        }
    }
    free(m->known_id);
    free(m->known_owner);
    m->known_id = id;
    m->known_owner = own;
    m->nknown = total;
    return TSR_SUCCESS;
}

/* Rank 0 answers every rank's ids (gathered) with their owners (scattered back). */
static int ask_rank0(tsr_map m, const int64_t *ids, int n, int *owners) {
    tsr_ctx ctx = m->ctx;
    int P = ctx->size;
    int *counts = NULL, *displs = NULL, *answers = NULL;
    int64_t *all = NULL;
    int err = TSR_SUCCESS;
    if (ctx->rank == 0) {
        err = tsr__calloc(ctx, (size_t)P, sizeof *counts, &counts);
        if (!err)
            err = tsr__calloc(ctx, (size_t)P, sizeof *displs, &displs);
    }
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    int rc = MPI_Gather(&n, 1, MPI_INT, counts, 1, MPI_INT, 0, ctx->comm);
    if (rc != MPI_SUCCESS)
        err = tsr_error_mpi(ctx, rc, "MPI_Gather", __FILE__, __LINE__, __func__);
    int64_t total = 0;
    for (int r = 0; !err && ctx->rank == 0 && r < P; r++) {
        displs[r] = (int)total;
        total += counts[r];
        if (total > INT_MAX)
            err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                "%lld owners asked of rank 0 at once: more than MPI's int count",
                                (long long)total);
    }
    if (!err && ctx->rank == 0)
        err = tsr__calloc(ctx, (size_t)total + 1, sizeof *all, &all);
    if (!err && ctx->rank == 0)
        err = tsr__calloc(ctx, (size_t)total + 1, sizeof *answers, &answers);
    err = tsr_ctx_agree(ctx, err);
    if (!err) {
        rc = MPI_Gatherv(ids, n, MPI_INT64_T, all, counts, displs, MPI_INT64_T, 0, ctx->comm);
        if (rc != MPI_SUCCESS)
            err = tsr_error_mpi(ctx, rc, "MPI_Gatherv", __FILE__, __LINE__, __func__);
    }
    for (int64_t i = 0; !err && ctx->rank == 0 && i < total; i++)
        answers[i] = m->owner[all[i]];
    if (!err) {
        rc = MPI_Scatterv(answers, counts, displs, MPI_INT, owners, n, MPI_INT, 0, ctx->comm);
        if (rc != MPI_SUCCESS)
            err = tsr_error_mpi(ctx, rc, "MPI_Scatterv", __FILE__, __LINE__, __func__);
    }
    free(counts);
    free(displs);
    free(all);
    free(answers);
    TSR_CALL(ctx, err);
    return TSR_SUCCESS;
}

/* Fetches from rank 0 the owners among ids that this rank does not know, and keeps them; ids is
 * scratch. `err`: this rank's state so far, agreed first. Collective for a sparse map; returns
 * err untouched for any other. */
static int map_resolve(tsr_map m, idlist *l, int err) {
    tsr_ctx ctx = m->ctx;
    if (!m->sparse)
        return err;
    /* What this rank does not know yet (rank 0 knows everything). */
    int64_t n = 0;
    if (!err && !m->owner) {
        id_unique(l);
        for (int64_t i = 0; i < l->n; i++)
            if (tsr__map_known(m, l->a[i]) < 0)
                l->a[n++] = l->a[i];
        if (n > INT_MAX)
            err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                "%lld owners to ask at once: more than MPI's int count",
                                (long long)n);
    }
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    int64_t any = n;
    TSR_MPI(ctx, MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_INT64_T, MPI_MAX, ctx->comm));
    if (!any)
        return TSR_SUCCESS;
    int *owners = NULL;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, tsr__calloc(ctx, (size_t)n + 1, sizeof *owners, &owners)));
    err = ask_rank0(m, l->a, (int)n, owners);
    if (!err)
        err = tsr_ctx_agree(ctx, merge_known(m, l->a, owners, n));
    free(owners);
    TSR_CALL(ctx, err);
    return TSR_SUCCESS;
}

int tsr__map_resolve_pieces(tsr_map from, tsr_map to, const tsr__regions *R) {
    if (!from->sparse && !to->sparse)
        return TSR_SUCCESS; /* alike on every rank */
    const tsr__layout *S = &from->decomp->lay, *D = &to->decomp->lay;
    idlist src = {0}, dst = {0};
    bool ok = true;
    for (int64_t i = 0; ok && from->sparse && i < to->nlocal; i++)
        ok = tsr__pieces_into(D, to->local[i], S, R, push_src, &src);
    for (int64_t i = 0; ok && to->sparse && i < from->nlocal; i++)
        ok = tsr__pieces_from(S, from->local[i], D, R, push_dst, &dst);
    int err = ok ? TSR_SUCCESS
                 : tsr_error_set(from->ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                 "cannot list the blocks of an exchange plan");
    /* a map that is not sparse passes err on (the same on every rank) */
    err = map_resolve(from, &src, err);
    err = map_resolve(to, &dst, err);
    free(src.a);
    free(dst.a);
    return err;
}

int tsr__map_resolve_blocks(tsr_map m, int64_t n, const int64_t *ids) {
    if (!m->sparse)
        return TSR_SUCCESS;
    idlist l = {0};
    int err = TSR_SUCCESS;
    for (int64_t i = 0; i < n && !err; i++)
        if (ids[i] >= 0 && !id_push(&l, ids[i]))
            err = tsr_error_set(m->ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                "cannot list %lld blocks", (long long)n);
    err = map_resolve(m, &l, err);
    free(l.a);
    return err;
}
