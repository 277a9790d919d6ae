/* Particles read back from their HDF5 files on any decomposition: rank 0 checks the file, every
 * rank with blocks reads a slab of rows, and redistribution puts each particle home. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "field_impl.h"
#include "h5_impl.h"
#include "particles_impl.h"

static const tsr__layout *layout_of(tsr_particles p) {
    return &p->map->decomp->lay;
}

/* Rank 0: n names of a string-array attribute into names (false if absent or of another
 * count). */
static bool read_names(hid_t loc, const char *attr, int n, char (*names)[TSR__PNAME_MAX]) {
    if (H5Aexists(loc, attr) <= 0)
        return n == 0;
    hid_t a = H5Aopen(loc, attr, H5P_DEFAULT);
    hid_t sp = a >= 0 ? H5Aget_space(a) : H5I_INVALID_HID;
    bool ok = sp >= 0 && H5Sget_simple_extent_npoints(sp) == n;
    char *v[64] = {0};
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    ok = ok && n <= 64 && (n == 0 || H5Aread(a, t, v) >= 0);
    for (int k = 0; ok && k < n; k++) {
        ok = v[k] && strlen(v[k]) < TSR__PNAME_MAX && tsr__pname_ok(v[k]);
        if (ok)
            snprintf(names[k], TSR__PNAME_MAX, "%s", v[k]);
    }
    for (int k = 0; k < n && k < 64; k++)
        if (v[k])
            H5free_memory(v[k]);
    H5Tclose(t);
    if (sp >= 0)
        H5Sclose(sp);
    if (a >= 0)
        H5Aclose(a);
    return ok;
}

/* Rank 0: dataset `name` of the group has n rows of w values of the integer or float class. */
static bool dataset_ok(hid_t grp, const char *name, int64_t n, int w, bool integer) {
    if (H5Lexists(grp, name, H5P_DEFAULT) <= 0)
        return false;
    hid_t ds = H5Dopen2(grp, name, H5P_DEFAULT);
    if (ds < 0)
        return false;
    hid_t sp = H5Dget_space(ds), t = H5Dget_type(ds);
    hsize_t dims[2] = {0, 0};
    int r = H5Sget_simple_extent_ndims(sp);
    bool ok = r == (w > 1 ? 2 : 1) && H5Sget_simple_extent_dims(sp, dims, NULL) == r &&
              dims[0] == (hsize_t)n && (w == 1 || dims[1] == (hsize_t)w) &&
              H5Tget_class(t) == (integer ? H5T_INTEGER : H5T_FLOAT) && H5Tget_size(t) == 8;
    H5Tclose(t);
    H5Sclose(sp);
    H5Dclose(ds);
    return ok;
}

/* Reads rows [lo, hi) of dataset `name` (w values per row) into out, converted to `type`. */
static bool read_slab(hid_t grp, const char *name, int64_t lo, int64_t hi, int w, hid_t type,
                      void *out) {
    hid_t ds = H5Dopen2(grp, name, H5P_DEFAULT);
    if (ds < 0)
        return false;
    hid_t fsp = H5Dget_space(ds);
    hsize_t start[2] = {(hsize_t)lo, 0}, count[2] = {(hsize_t)(hi - lo), (hsize_t)w};
    hid_t msp = H5Screate_simple(w > 1 ? 2 : 1, count, NULL);
    bool ok = H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
              H5Dread(ds, type, msp, fsp, H5P_DEFAULT, out) >= 0;
    H5Sclose(msp);
    H5Sclose(fsp);
    H5Dclose(ds);
    return ok;
}

/* Rank 0: the ids strictly ascending (so unique), read in chunks. *at receives the first row out
 * of order. False also when they cannot be read. */
static bool ids_ascending(hid_t grp, int64_t n, int64_t *at) {
    enum { CHUNK = 1 << 20 };
    int64_t *buf = malloc((size_t)(n < CHUNK ? (n ? n : 1) : CHUNK) * 8), last = INT64_MIN;
    bool ok = buf != NULL;
    *at = -1;
    for (int64_t lo = 0; ok && lo < n; lo += CHUNK) {
        int64_t hi = n - lo < CHUNK ? n : lo + CHUNK;
        ok = read_slab(grp, "id", lo, hi, 1, H5T_NATIVE_INT64, buf);
        for (int64_t i = 0; ok && i < hi - lo; i++) {
            ok = lo + i == 0 || buf[i] > last;
            last = buf[i];
            if (!ok)
                *at = lo + i;
        }
    }
    free(buf);
    return ok;
}

typedef struct file_info {
    int64_t n, step;
    double time;
    char names[128][TSR__PNAME_MAX];
} file_info;

/* Rank 0's look at the file before every rank reads it. */
static int check_file(tsr_particles p, const char *path, file_info *fi) {
    tsr_ctx ctx = p->ctx;
    const tsr__layout *lay = layout_of(p);
    hid_t file;
    TSR_CALL(ctx, tsr__h5_open_serial(ctx, "particle file", path, &file));
    int64_t size[TSR_MAX_DIM] = {0, 0, 0};
    bool meta = tsr__h5_attr_read(file, "grid_size", H5T_NATIVE_INT64, lay->ndim, size) &&
                tsr__h5_attr_read(file, "step", H5T_NATIVE_INT64, 1, &fi->step) &&
                tsr__h5_attr_read(file, "time", H5T_NATIVE_DOUBLE, 1, &fi->time) &&
                tsr__h5_attr_read(file, "count", H5T_NATIVE_INT64, 1, &fi->n);
    hid_t grp = meta && H5Lexists(file, "particles", H5P_DEFAULT) > 0
                    ? H5Gopen2(file, "particles", H5P_DEFAULT)
                    : H5I_INVALID_HID;
    bool reals = false, ints = false, data = false, sorted = false;
    int64_t unsorted = -1;
    const char *bad = "";
    if (grp >= 0) {
        reals = read_names(grp, "real_components", p->nreal, fi->names);
        ints = read_names(grp, "int_components", p->nint, fi->names + p->nreal);
        data = fi->n >= 0 && dataset_ok(grp, "id", fi->n, 1, true) &&
               dataset_ok(grp, "position", fi->n, 3, false) &&
               dataset_ok(grp, "velocity", fi->n, 3, false);
        for (int k = 0; data && reals && ints && k < p->nreal + p->nint; k++) {
            data = dataset_ok(grp, fi->names[k], fi->n, 1, k >= p->nreal);
            bad = fi->names[k];
        }
        if (data)
            bad = "";
        sorted = data && ids_ascending(grp, fi->n, &unsorted);
        H5Gclose(grp);
    }
    H5Fclose(file);
    TSR_CHECK(ctx, grp >= 0, TSR_ERR_INPUT,
              "'%s' is not a tessera particle file (step, time, count, grid_size or /particles "
              "missing)",
              path);
    TSR_CHECK(ctx, reals && ints, TSR_ERR_INPUT,
              "'%s' does not hold %d real and %d integer particle components, as this container "
              "has",
              path, p->nreal, p->nint);
    TSR_CHECK(ctx, data, TSR_ERR_INPUT,
              "'%s': dataset /particles/%s is missing or not %lld 64-bit values per row", path,
              bad[0] ? bad : "id, position or velocity", (long long)fi->n);
    TSR_CHECK(ctx, sorted, TSR_ERR_INPUT,
              "'%s': /particles/id is not strictly ascending (row %lld); the file is damaged", path,
              (long long)unsorted);
    for (int d = 0; d < lay->ndim; d++)
        TSR_CHECK(ctx, size[d] == lay->n[d], TSR_ERR_INPUT,
                  "'%s' holds particles of a grid of %lld cells along %c, this run has %lld", path,
                  (long long)size[d], "xyz"[d], (long long)lay -> n[d]);
    return TSR_SUCCESS;
}

/* This rank's slab of rows into local block 0 (where they may not belong: redistribution moves
 * them). Returns an error set on this rank only. */
static int read_rows(tsr_particles p, const char *path, const file_info *fi, int64_t lo,
                     int64_t hi) {
    tsr_ctx ctx = p->ctx;
    int64_t m = hi - lo;
    if (m == 0)
        return TSR_SUCCESS;
    tsr__pblock *blk = &p->blocks[0];
    double *xyz = NULL;
    void *mem = NULL;
    TSR_CALL(ctx, tsr__calloc(ctx, (size_t)m * 3, 8, &xyz));
    int err = tsr__aligned_alloc(ctx, (size_t)m * (size_t)TSR__PWORDS(p) * 8, &mem);
    if (err) {
        free(xyz);
        return err;
    }
    free(blk->mem);
    blk->mem = mem;
    blk->cap = m;
    blk->count = 0;
    tsr__pblock_point(p, blk);
    errno = 0;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t grp = file >= 0 ? H5Gopen2(file, "particles", H5P_DEFAULT) : H5I_INVALID_HID;
    bool ok = grp >= 0 && read_slab(grp, "id", lo, hi, 1, H5T_NATIVE_INT64, tsr__pcol(blk, 0));
    for (int v = 0; ok && v < 2; v++) {
        ok = read_slab(grp, v ? "velocity" : "position", lo, hi, 3, H5T_NATIVE_DOUBLE, xyz);
        for (int64_t i = 0; ok && i < m; i++)
            for (int d = 0; d < 3; d++)
                ((double *)(void *)tsr__pcol(blk, 1 + 3 * v + d))[i] = xyz[3 * i + d];
    }
    for (int k = 0; ok && k < p->nreal + p->nint; k++)
        ok = read_slab(grp, fi->names[k], lo, hi, 1,
                       k < p->nreal ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64, tsr__pcol(blk, 7 + k));
    free(xyz);
    if (grp >= 0)
        H5Gclose(grp);
    if (file >= 0)
        H5Fclose(file);
    if (!ok) {
        char why[256];
        tsr__h5_reason(why, sizeof why);
        TSR_CHECK(ctx, 0, TSR_ERR_INPUT, "cannot read '%s' on rank %d: %s", path, ctx->rank, why);
    }
    blk->count = m;
    /* A particle outside the domain is the file's fault, not a run-time failure. */
    const tsr__layout *lay = layout_of(p);
    const int64_t *id = (const int64_t *)(void *)tsr__pcol(blk, 0);
    for (int64_t i = 0; i < m; i++) {
        double x[3];
        int64_t b;
        for (int d = 0; d < 3; d++)
            x[d] = ((const double *)(void *)tsr__pcol(blk, 1 + d))[i];
        TSR_CHECK(ctx, tsr__particle_locate(lay, x, &b), TSR_ERR_INPUT,
                  "'%s': particle %lld at (%.17g, %.17g, %.17g) lies outside the domain", path,
                  (long long)id[i], x[0], x[1], x[2]);
        for (int d = 0; d < 3; d++)
            x[d] = ((const double *)(void *)tsr__pcol(blk, 4 + d))[i];
        TSR_CHECK(ctx, isfinite(x[0]) && isfinite(x[1]) && isfinite(x[2]), TSR_ERR_INPUT,
                  "'%s': particle %lld has a velocity that is not finite (%.17g, %.17g, %.17g)",
                  path, (long long)id[i], x[0], x[1], x[2]);
    }
    return TSR_SUCCESS;
}

int tsr_particles_read(tsr_particles p, const char *path, int64_t *step, double *time) {
    if (!p)
        return TSR_ERR_ARG;
    tsr_ctx ctx = p->ctx;
    tsr__h5_quiet();
    int64_t have = 0;
    TSR_CALL(ctx, tsr_particles_global_count(p, &have));
    TSR_CHECK(ctx, have == 0, TSR_ERR_ARG,
              "particles are read into an empty container; this one holds %lld", (long long)have);
    file_info *fi = NULL;
    TSR_CALL(ctx, tsr__calloc(ctx, 1, sizeof *fi, &fi));
    double t0 = tsr_wtime();
    int err = ctx->rank == 0 ? check_file(p, path, fi) : TSR_SUCCESS;
    err = tsr_ctx_agree(ctx, err);
    if (!err)
        MPI_Bcast(fi, (int)sizeof *fi, MPI_BYTE, 0, ctx->comm);
    /* Ranks with local blocks share the rows (ranks without any have nowhere to put them). */
    int with = p->nblocks > 0, before = 0, ranks = 0;
    if (!err) {
        MPI_Exscan(&with, &before, 1, MPI_INT, MPI_SUM, ctx->comm);
        if (ctx->rank == 0)
            before = 0;
        MPI_Allreduce(&with, &ranks, 1, MPI_INT, MPI_SUM, ctx->comm);
    }
    int64_t lo = 0, hi = 0;
    if (!err && with)
        err = tsr_split_range(fi->n, ranks, before, &lo, &hi);
    if (!err)
        err = read_rows(p, path, fi, lo, hi);
    err = tsr_ctx_agree(ctx, err);
    if (!err) {
        memcpy(p->cname, fi->names, (size_t)(p->nreal + p->nint) * TSR__PNAME_MAX);
        err = tsr_particles_redistribute(p, 0, NULL);
    }
    tsr_ctx_timer_add(ctx, TSR_TIMER_IO, tsr_wtime() - t0);
    if (!err && step)
        *step = fi->step;
    if (!err && time)
        *time = fi->time;
    free(fi);
    if (err) /* nothing half-read stays behind */
        for (int64_t b = 0; b < p->nblocks; b++)
            p->blocks[b].count = 0;
    return err;
}
