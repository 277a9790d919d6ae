/* Stopgap tsr_field_migrate (scalar fields, one message per moved block) so that rebalancing can
 * be built and tested before the exchange engine's migration lands on main; this file goes away
 * at that merge. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "field_impl.h"
#include "tessera/remap.h"

enum { TAG_MIGRATE = 0x6d67 };

static void owned_box(const tsr_block *b, tsr_box *box) {
    for (int d = 0; d < TSR_MAX_DIM; d++) {
        box->lo[d] = 0;
        box->hi[d] = b->n[d];
    }
}

static void pack(const tsr_block *b, double *buf, bool in) {
    int64_t nx = b->n[0], k = 0;
    for (int64_t z = 0; z < b->n[2]; z++)
        for (int64_t y = 0; y < b->n[1]; y++, k += nx) {
            double *row = &TSR_AT(b, 0, y, z);
            if (in)
                memcpy(row, buf + k, sizeof(double) * (size_t)nx);
            else
                memcpy(buf + k, row, sizeof(double) * (size_t)nx);
        }
}

/* Copies the owned cells of f (on its map) into nf (on the new map). */
static int transfer(tsr_field f, tsr_field nf) {
    tsr_ctx ctx = f->ctx;
    tsr_map from = f->map, to = nf->map;
    int64_t nreq = 0;
    MPI_Request *req = calloc((size_t)(from->nlocal + to->nlocal + 1), sizeof *req);
    double **bufs = calloc((size_t)(from->nlocal + to->nlocal + 1), sizeof *bufs);
    int err = req && bufs ? TSR_SUCCESS
                          : tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                          "cannot allocate the migration");
    int64_t nb = 0;
    for (int64_t i = 0; !err && i < to->nlocal; i++) {
        int64_t id = to->local[i];
        tsr_block *d = &nf->blocks[i];
        int src = from->owner[id];
        if (src == ctx->rank) {
            tsr_box box;
            owned_box(d, &box);
            tsr__copy_box(&f->blocks[tsr__local_index(from, id)], &box, d, &box);
            continue;
        }
        int64_t cells = d->n[0] * d->n[1] * d->n[2];
        if (cells > INT_MAX || !(bufs[nb] = malloc(sizeof(double) * (size_t)cells))) {
            err = tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                "cannot receive block %lld", (long long)id);
            break;
        }
        int rc = MPI_Irecv(bufs[nb++], (int)cells, MPI_DOUBLE, src, TAG_MIGRATE, ctx->comm,
                           &req[nreq++]);
        if (rc != MPI_SUCCESS)
            err = tsr_error_mpi(ctx, rc, "MPI_Irecv", __FILE__, __LINE__, __func__);
    }
    int64_t nrecv = nb;
    for (int64_t i = 0; !err && i < from->nlocal; i++) {
        int64_t id = from->local[i];
        int dst = to->owner[id];
        if (dst == ctx->rank)
            continue;
        const tsr_block *s = &f->blocks[i];
        int64_t cells = s->n[0] * s->n[1] * s->n[2];
        if (cells > INT_MAX || !(bufs[nb] = malloc(sizeof(double) * (size_t)cells))) {
            err = tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                "cannot send block %lld", (long long)id);
            break;
        }
        pack(s, bufs[nb], false);
        int rc = MPI_Isend(bufs[nb++], (int)cells, MPI_DOUBLE, dst, TAG_MIGRATE, ctx->comm,
                           &req[nreq++]);
        if (rc != MPI_SUCCESS)
            err = tsr_error_mpi(ctx, rc, "MPI_Isend", __FILE__, __LINE__, __func__);
    }
    if (!err && nreq > 0) {
        int rc = MPI_Waitall((int)nreq, req, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS)
            err = tsr_error_mpi(ctx, rc, "MPI_Waitall", __FILE__, __LINE__, __func__);
    }
    for (int64_t i = 0, k = 0; !err && i < to->nlocal; i++)
        if (from->owner[to->local[i]] != ctx->rank)
            pack(&nf->blocks[i], bufs[k++], true);
    (void)nrecv;
    for (int64_t k = 0; bufs && k < nb; k++)
        free(bufs[k]);
    free(bufs);
    free(req);
    return err;
}

int tsr_field_migrate(tsr_field *fields, int nfields, tsr_map to) {
    tsr_ctx ctx = to->ctx;
    TSR_CHECK(ctx, nfields >= 1 && nfields <= 8, TSR_ERR_ARG, "%d fields to migrate; 1 to 8",
              nfields);
    for (int f = 0; f < nfields; f++) {
        tsr_field old = fields[f], nf = NULL;
        TSR_CHECK(ctx, old->ncomp == 1, TSR_ERR_ARG, "the stopgap migration moves scalar fields");
        TSR_CALL(ctx, tsr_field_create(to, old->width, old->name, &nf));
        snprintf(nf->long_name, sizeof nf->long_name, "%s", old->long_name);
        snprintf(nf->units, sizeof nf->units, "%s", old->units);
        int err = tsr_ctx_agree(ctx, transfer(old, nf));
        if (err) {
            tsr_field_destroy(&nf);
            TSR_CALL(ctx, err);
        }
        struct tsr_field_s tmp = *old;
        *old = *nf;
        *nf = tmp;
        tsr_field_destroy(&nf);
    }
    return TSR_SUCCESS;
}
