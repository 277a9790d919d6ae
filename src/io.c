/* Parallel HDF5 I/O: collective hyperslab writes and reads of fields, XDMF, checkpoints. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <hdf5.h>

#include "field_impl.h"
#include "tessera/io.h"

#define H5OK(ctx, call, ...)                                                                       \
    do {                                                                                           \
        if ((call) < 0)                                                                            \
            return tsr_error_set((ctx), TSR_ERR_IO, __FILE__, __LINE__, __func__, __VA_ARGS__);    \
    } while (0)

/* HDF5 prints its error stack by default; users get our one-line message instead, and the
 * stack only with TESSERA_DEBUG=1. */
static void quiet_hdf5(void) {
    const char *d = getenv("TESSERA_DEBUG");
    if (!(d && *d && strcmp(d, "0") != 0))
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* File-space shape, slowest first: (NZ, NY, NX) for 3D. */
static int file_dims(const tsr__layout *lay, hsize_t dims[3]) {
    for (int d = 0; d < lay->ndim; d++)
        dims[d] = (hsize_t)lay->n[lay->ndim - 1 - d];
    return lay->ndim;
}

static hid_t open_parallel(tsr_ctx ctx, const char *path, bool create) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_mpio(fapl, ctx->comm, MPI_INFO_NULL);
    hid_t f = create ? H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)
                     : H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    return f;
}

static void attr_write(hid_t loc, const char *name, hid_t type, int n, const void *v) {
    hsize_t dim = (hsize_t)n;
    hid_t sp = H5Screate_simple(1, &dim, NULL);
    hid_t a = H5Acreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, type, v);
    H5Aclose(a);
    H5Sclose(sp);
}

static void attr_string(hid_t loc, const char *name, const char *v) {
    if (!v)
        return;
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(v) + 1);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, v);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
}

static bool attr_read_string(hid_t loc, const char *name, char *out, int len) {
    out[0] = '\0';
    if (H5Aexists(loc, name) <= 0)
        return false;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t ft = H5Aget_type(a);
    size_t size = H5Tget_size(ft);
    bool ok = H5Tget_class(ft) == H5T_STRING && size < (size_t)len;
    if (ok) {
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, size);
        ok = H5Aread(a, t, out) >= 0;
        out[size] = '\0';
        H5Tclose(t);
    }
    H5Tclose(ft);
    H5Aclose(a);
    return ok;
}

static bool attr_read(hid_t loc, const char *name, hid_t type, int n, void *v) {
    if (H5Aexists(loc, name) <= 0)
        return false;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t sp = H5Aget_space(a);
    bool ok = H5Sget_simple_extent_npoints(sp) == n && H5Aread(a, type, v) >= 0;
    H5Sclose(sp);
    H5Aclose(a);
    return ok;
}

static void write_attrs(hid_t file, tsr_field f, const tsr_io_meta *meta) {
    tsr_ctx ctx = f->ctx;
    const tsr__layout *lay = &f->map->decomp->lay;
    int per[TSR_MAX_DIM];
    for (int d = 0; d < TSR_MAX_DIM; d++)
        per[d] = lay->periodic[d];
    attr_write(file, "grid_size", H5T_NATIVE_INT64, lay->ndim, lay->n);
    attr_write(file, "periodic", H5T_NATIVE_INT, lay->ndim, per);
    attr_write(file, "blocks", H5T_NATIVE_INT64, lay->ndim, lay->nb);
    attr_write(file, "ranks", H5T_NATIVE_INT, 1, &ctx->size);
    int64_t step = meta ? meta->step : 0;
    double time = meta ? meta->time : 0;
    attr_write(file, "step", H5T_NATIVE_INT64, 1, &step);
    attr_write(file, "time", H5T_NATIVE_DOUBLE, 1, &time);
    attr_string(file, "map", tsr_map_strategy_names[f->map->strategy]);
    attr_string(file, "tessera_version", TESSERA_VERSION);
    if (meta) {
        attr_string(file, "app", meta->app);
        attr_string(file, "command_line", meta->command_line);
        attr_string(file, "run_options", meta->run_options);
    }
}

/* Memory space of local block i: its whole ghosted allocation, owned cells selected. */
static hid_t block_memspace(tsr_field f, int64_t i) {
    const tsr_block *b = &f->blocks[i];
    int wy = b->ndim >= 2 ? b->width : 0, wz = b->ndim >= 3 ? b->width : 0;
    hsize_t dims[3] = {(hsize_t)(b->n[2] + 2 * wz), (hsize_t)(b->n[1] + 2 * wy), (hsize_t)b->sy};
    hsize_t front = (hsize_t)(b->data - f->storage[i] - wz * b->sz - wy * b->sy);
    hsize_t start[3] = {(hsize_t)wz, (hsize_t)wy, front};
    hsize_t count[3] = {(hsize_t)b->n[2], (hsize_t)b->n[1], (hsize_t)b->n[0]};
    hid_t sp = H5Screate_simple(3, dims, NULL);
    H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL);
    return sp;
}

static void block_fileselect(const tsr__layout *lay, const tsr_block *b, hid_t fsp) {
    hsize_t start[3], count[3];
    for (int d = 0; d < lay->ndim; d++) {
        start[d] = (hsize_t)b->lo[lay->ndim - 1 - d];
        count[d] = (hsize_t)b->n[lay->ndim - 1 - d];
    }
    H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL);
}

/* Every rank makes the same number of collective calls: one per block of the busiest rank,
 * with empty selections once its own blocks are done. */
static int transfer(tsr_field f, hid_t dset, bool write) {
    tsr_ctx ctx = f->ctx;
    const tsr__layout *lay = &f->map->decomp->lay;
    int64_t mine = f->nblocks, most = 0;
    TSR_MPI(ctx, MPI_Allreduce(&mine, &most, 1, MPI_INT64_T, MPI_MAX, ctx->comm));
    hid_t fsp = H5Dget_space(dset);
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
    H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
    herr_t bad = 0;
    static double dummy;
    for (int64_t i = 0; i < most; i++) {
        hid_t msp;
        void *buf;
        if (i < mine) {
            msp = block_memspace(f, i);
            block_fileselect(lay, &f->blocks[i], fsp);
            buf = f->storage[i];
        } else {
            hsize_t one = 1;
            msp = H5Screate_simple(1, &one, NULL);
            H5Sselect_none(msp);
            H5Sselect_none(fsp);
            buf = &dummy; /* HDF5 wants a buffer even for an empty selection */
        }
        herr_t rc = write ? H5Dwrite(dset, H5T_NATIVE_DOUBLE, msp, fsp, dxpl, buf)
                          : H5Dread(dset, H5T_NATIVE_DOUBLE, msp, fsp, dxpl, buf);
        if (rc < 0)
            bad = rc;
        H5Sclose(msp);
    }
    H5Pclose(dxpl);
    H5Sclose(fsp);
    TSR_CHECK(ctx, bad >= 0, TSR_ERR_IO, "%s of dataset failed", write ? "write" : "read");
    return TSR_SUCCESS;
}

static int check_new_file(tsr_ctx ctx, const char *path, bool overwrite) {
    TSR_CHECK(ctx, overwrite || access(path, F_OK) != 0, TSR_ERR_IO,
              "'%s' exists; not overwriting it (use --force)", path);
    return TSR_SUCCESS;
}

static int write_file(tsr_field *fields, int nfields, const char *path, const tsr_io_meta *meta) {
    tsr_ctx ctx = fields[0]->ctx;
    const tsr__layout *lay = &fields[0]->map->decomp->lay;
    hid_t file = open_parallel(ctx, path, true);
    TSR_CHECK(ctx, file >= 0, TSR_ERR_IO, "cannot create HDF5 file '%s'", path);
    int err = TSR_SUCCESS;
    hid_t grp = H5Gcreate2(file, "fields", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[3];
    int rank = file_dims(lay, dims);
    for (int k = 0; k < nfields && !err; k++) {
        hid_t sp = H5Screate_simple(rank, dims, NULL);
        hid_t ds = H5Dcreate2(grp, fields[k]->name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT,
                              H5P_DEFAULT);
        if (ds < 0)
            err = tsr_error_set(ctx, TSR_ERR_IO, __FILE__, __LINE__, __func__,
                                "cannot create dataset /fields/%s in '%s'", fields[k]->name, path);
        else
            err = transfer(fields[k], ds, true);
        if (ds >= 0)
            H5Dclose(ds);
        H5Sclose(sp);
    }
    write_attrs(file, fields[0], meta);
    H5Gclose(grp);
    if (H5Fclose(file) < 0 && !err)
        err = tsr_error_set(ctx, TSR_ERR_IO, __FILE__, __LINE__, __func__,
                            "cannot finish writing '%s'", path);
    return err;
}

int tsr_io_write(const char *path, tsr_field *fields, int nfields, const tsr_io_meta *meta,
                 bool overwrite) {
    tsr_ctx ctx = fields[0]->ctx;
    quiet_hdf5();
    for (int k = 1; k < nfields; k++)
        TSR_CHECK(ctx, fields[k]->map == fields[0]->map, TSR_ERR_ARG,
                  "fields written together must share a map");
    int err = ctx->rank == 0 ? check_new_file(ctx, path, overwrite) : TSR_SUCCESS;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    double t0 = tsr_wtime();
    err = write_file(fields, nfields, path, meta);
    tsr_ctx_timer_add(ctx, TSR_TIMER_IO, tsr_wtime() - t0);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    return TSR_SUCCESS;
}

/* Rank 0 opens a file on its own first, so that a bad file becomes one clear message instead of
 * a failure inside a collective open. */
static int open_serial(tsr_ctx ctx, const char *path, hid_t *file) {
    TSR_CHECK(ctx, access(path, R_OK) == 0, TSR_ERR_IO, "cannot read '%s': %s", path,
              strerror(errno));
    TSR_CHECK(ctx, H5Fis_hdf5(path) > 0, TSR_ERR_IO,
              "'%s' is not an HDF5 file (or is truncated or corrupt)", path);
    *file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    TSR_CHECK(ctx, *file >= 0, TSR_ERR_IO, "cannot open '%s': truncated or corrupt HDF5 file",
              path);
    return TSR_SUCCESS;
}

/* Rank 0's look at a file before anyone opens it collectively. */
static int check_dataset(tsr_ctx ctx, const tsr__layout *lay, const char *path,
                         const char *dataset) {
    hid_t file;
    TSR_CALL(ctx, open_serial(ctx, path, &file));
    int err = TSR_SUCCESS;
    hid_t ds = H5Lexists(file, dataset, H5P_DEFAULT) > 0 ? H5Dopen2(file, dataset, H5P_DEFAULT)
                                                         : H5I_INVALID_HID;
    if (ds < 0) {
        err = tsr_error_set(ctx, TSR_ERR_IO, __FILE__, __LINE__, __func__,
                            "'%s' has no dataset '%s'", path, dataset);
    } else {
        hid_t sp = H5Dget_space(ds), t = H5Dget_type(ds);
        int rank = H5Sget_simple_extent_ndims(sp);
        hsize_t dims[H5S_MAX_RANK], want[3];
        file_dims(lay, want);
        H5Sget_simple_extent_dims(sp, dims, NULL);
        char got[128] = "", exp[128] = "";
        for (int d = 0, u = 0, v = 0; d < rank || d < lay->ndim; d++) {
            if (d < rank)
                u += snprintf(got + u, sizeof got - (size_t)u, d ? "x%llu" : "%llu",
                              (unsigned long long)dims[d]);
            if (d < lay->ndim)
                v += snprintf(exp + v, sizeof exp - (size_t)v, d ? "x%llu" : "%llu",
                              (unsigned long long)want[d]);
        }
        if (rank != lay->ndim)
            err = tsr_error_set(ctx, TSR_ERR_IO, __FILE__, __LINE__, __func__,
                                "'%s:%s' has %d dimensions, the grid has %d", path, dataset, rank,
                                lay->ndim);
        else if (memcmp(dims, want, sizeof(hsize_t) * (size_t)rank) != 0)
            err = tsr_error_set(ctx, TSR_ERR_IO, __FILE__, __LINE__, __func__,
                                "'%s:%s' has shape %s (slowest first), the grid needs %s", path,
                                dataset, got, exp);
        else if (H5Tget_class(t) != H5T_FLOAT || (H5Tget_size(t) != 4 && H5Tget_size(t) != 8))
            err = tsr_error_set(ctx, TSR_ERR_IO, __FILE__, __LINE__, __func__,
                                "'%s:%s' is not float64 or float32 data", path, dataset);
        H5Tclose(t);
        H5Sclose(sp);
        H5Dclose(ds);
    }
    H5Fclose(file);
    return err;
}

int tsr_io_read(tsr_field f, const char *path, const char *dataset) {
    tsr_ctx ctx = f->ctx;
    const tsr__layout *lay = &f->map->decomp->lay;
    quiet_hdf5();
    int err = ctx->rank == 0 ? check_dataset(ctx, lay, path, dataset) : TSR_SUCCESS;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    double t0 = tsr_wtime();
    hid_t file = open_parallel(ctx, path, false);
    hid_t ds = file >= 0 ? H5Dopen2(file, dataset, H5P_DEFAULT) : H5I_INVALID_HID;
    if (ds < 0)
        err = tsr_error_set(ctx, TSR_ERR_IO, __FILE__, __LINE__, __func__, "cannot open '%s:%s'",
                            path, dataset);
    err = tsr_ctx_agree(ctx, err);
    if (!err) {
        err = transfer(f, ds, false);
        if (err)
            tsr_error_set(ctx, TSR_ERR_IO, __FILE__, __LINE__, __func__,
                          "cannot read '%s:%s': truncated or corrupt data", path, dataset);
    }
    if (ds >= 0)
        H5Dclose(ds);
    if (file >= 0)
        H5Fclose(file);
    tsr_ctx_timer_add(ctx, TSR_TIMER_IO, tsr_wtime() - t0);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    return TSR_SUCCESS;
}

typedef struct file_meta {
    int64_t step;
    double time;
    char app[256];
    char run_options[1024];
} file_meta;

static int read_meta_root(tsr_ctx ctx, const tsr__layout *lay, const char *path, file_meta *m) {
    hid_t file;
    TSR_CALL(ctx, open_serial(ctx, path, &file));
    int64_t n[TSR_MAX_DIM] = {0, 0, 0};
    bool ok = attr_read(file, "grid_size", H5T_NATIVE_INT64, lay->ndim, n) &&
              attr_read(file, "step", H5T_NATIVE_INT64, 1, &m->step) &&
              attr_read(file, "time", H5T_NATIVE_DOUBLE, 1, &m->time);
    attr_read_string(file, "app", m->app, sizeof m->app);
    attr_read_string(file, "run_options", m->run_options, sizeof m->run_options);
    H5Fclose(file);
    TSR_CHECK(ctx, ok, TSR_ERR_IO,
              "'%s' is not a tessera file of a %dD grid (grid_size, step or time missing)", path,
              lay->ndim);
    for (int d = 0; d < lay->ndim; d++)
        TSR_CHECK(ctx, n[d] == lay->n[d], TSR_ERR_IO,
                  "'%s' holds a grid of %lld cells along %c, this run has %lld", path,
                  (long long)n[d], "xyz"[d], (long long)lay -> n[d]);
    return TSR_SUCCESS;
}

int tsr_io_read_meta(tsr_field f, const char *path, int64_t *step, double *time, char *app,
                     char *run_options, int len) {
    tsr_ctx ctx = f->ctx;
    quiet_hdf5();
    file_meta m;
    memset(&m, 0, sizeof m);
    int err = ctx->rank == 0 ? read_meta_root(ctx, &f->map->decomp->lay, path, &m) : TSR_SUCCESS;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    TSR_MPI(ctx, MPI_Bcast(&m, (int)sizeof m, MPI_BYTE, 0, ctx->comm));
    *step = m.step;
    *time = m.time;
    if (app)
        snprintf(app, (size_t)len, "%s", m.app);
    if (run_options)
        snprintf(run_options, (size_t)len, "%s", m.run_options);
    return TSR_SUCCESS;
}

static int xdmf_root(tsr_field like, const char *xmf, int n, const char *const *files,
                     const int64_t *steps, const double *times, int nfields,
                     const char *const *names) {
    tsr_ctx ctx = like->ctx;
    const tsr__layout *lay = &like->map->decomp->lay;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", xmf);
    FILE *out = fopen(tmp, "w");
    TSR_CHECK(ctx, out, TSR_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    hsize_t dims[3];
    int rank = file_dims(lay, dims);
    char cells[96] = "", points[96] = "", origin[32] = "", spacing[32] = "";
    for (int d = 0, u = 0, v = 0, a = 0, b = 0; d < rank; d++) {
        u += snprintf(cells + u, sizeof cells - (size_t)u, d ? " %llu" : "%llu",
                      (unsigned long long)dims[d]);
        v += snprintf(points + v, sizeof points - (size_t)v, d ? " %llu" : "%llu",
                      (unsigned long long)dims[d] + 1);
        a += snprintf(origin + a, sizeof origin - (size_t)a, d ? " 0" : "0");
        b += snprintf(spacing + b, sizeof spacing - (size_t)b, d ? " 1" : "1");
    }
    const char *topo = rank == 3 ? "3DCoRectMesh" : rank == 2 ? "2DCoRectMesh" : "Polyvertex";
    const char *geo = rank == 3 ? "ORIGIN_DXDYDZ" : "ORIGIN_DXDY";
    fprintf(out, "<?xml version=\"1.0\" ?>\n<!DOCTYPE Xdmf SYSTEM \"Xdmf.dtd\" []>\n"
                 "<Xdmf Version=\"3.0\">\n <Domain>\n"
                 "  <Grid Name=\"series\" GridType=\"Collection\" CollectionType=\"Temporal\">\n");
    for (int i = 0; i < n; i++) {
        fprintf(out, "   <Grid Name=\"step_%06lld\" GridType=\"Uniform\">\n", (long long)steps[i]);
        fprintf(out, "    <Time Value=\"%.17g\"/>\n", times[i]);
        fprintf(out, "    <Topology TopologyType=\"%s\" Dimensions=\"%s\"/>\n", topo, points);
        if (rank >= 2)
            fprintf(out,
                    "    <Geometry GeometryType=\"%s\">\n"
                    "     <DataItem Dimensions=\"%d\" Format=\"XML\">%s</DataItem>\n"
                    "     <DataItem Dimensions=\"%d\" Format=\"XML\">%s</DataItem>\n"
                    "    </Geometry>\n",
                    geo, rank, origin, rank, spacing);
        for (int k = 0; k < nfields; k++)
            fprintf(out,
                    "    <Attribute Name=\"%s\" AttributeType=\"Scalar\" Center=\"Cell\">\n"
                    "     <DataItem Dimensions=\"%s\" NumberType=\"Float\" Precision=\"8\" "
                    "Format=\"HDF\">%s:/fields/%s</DataItem>\n    </Attribute>\n",
                    names[k], cells, files[i], names[k]);
        fprintf(out, "   </Grid>\n");
    }
    fprintf(out, "  </Grid>\n </Domain>\n</Xdmf>\n");
    bool ok = fflush(out) == 0 && fsync(fileno(out)) == 0;
    ok = fclose(out) == 0 && ok;
    TSR_CHECK(ctx, ok && rename(tmp, xmf) == 0, TSR_ERR_IO, "cannot write '%s': %s", xmf,
              strerror(errno));
    return TSR_SUCCESS;
}

int tsr_io_write_xdmf(tsr_field like, const char *xmf_path, int n, const char *const *files,
                      const int64_t *steps, const double *times, int nfields,
                      const char *const *names) {
    tsr_ctx ctx = like->ctx;
    int err = ctx->rank == 0 ? xdmf_root(like, xmf_path, n, files, steps, times, nfields, names)
                             : TSR_SUCCESS;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    return TSR_SUCCESS;
}

static bool is_checkpoint_name(const char *name, int64_t *step) {
    char tail[16];
    long long s;
    return sscanf(name, "ckpt_%lld.%15s", &s, tail) == 2 && strcmp(tail, "h5") == 0 &&
           (*step = s) >= 0;
}

/* Deletes all but the newest `keep` checkpoints in dir (rank 0). */
static void prune(const char *dir, int64_t keep) {
    DIR *dp = opendir(dir);
    if (!dp)
        return;
    int64_t steps[4096];
    int n = 0;
    for (struct dirent *e; (e = readdir(dp)) && n < 4096;) {
        int64_t s;
        if (is_checkpoint_name(e->d_name, &s))
            steps[n++] = s;
    }
    closedir(dp);
    for (int i = 0; i < n; i++) {
        int newer = 0;
        for (int j = 0; j < n; j++)
            newer += steps[j] > steps[i];
        if (newer >= keep) {
            char path[4096];
            snprintf(path, sizeof path, "%s/ckpt_%06lld.h5", dir, (long long)steps[i]);
            unlink(path);
        }
    }
}

static int ensure_dir(tsr_ctx ctx, const char *dir) {
    if (mkdir(dir, 0755) != 0)
        TSR_CHECK(ctx, errno == EEXIST, TSR_ERR_IO, "cannot create checkpoint directory '%s': %s",
                  dir, strerror(errno));
    return TSR_SUCCESS;
}

int tsr_checkpoint_write(const char *dir, int64_t keep, tsr_field *fields, int nfields,
                         const tsr_io_meta *meta, char *path, int len) {
    tsr_ctx ctx = fields[0]->ctx;
    char final[4096], tmp[4200];
    snprintf(final, sizeof final, "%s/ckpt_%06lld.h5", dir, (long long)(meta ? meta->step : 0));
    snprintf(tmp, sizeof tmp, "%s.tmp", final);
    int err = ctx->rank == 0 ? ensure_dir(ctx, dir) : TSR_SUCCESS;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    TSR_CALL(ctx, tsr_io_write(tmp, fields, nfields, meta, true));
    /* Test hook: a pause while the checkpoint is still unconfirmed, to kill a rank in it. */
    const char *delay = getenv("TESSERA_TEST_CHECKPOINT_DELAY");
    if (delay && *delay)
        usleep((useconds_t)(atof(delay) * 1e6));
    /* Every rank confirms its part before the file gets its final name; a rank that died
     * never confirms, and the job ends with the previous checkpoint as the latest. */
    TSR_CALL(ctx, tsr_ctx_agree(ctx, TSR_SUCCESS));
    if (ctx->rank == 0) {
        /* The file is complete and closed on every rank (H5Fclose is collective): only now does
         * it get its final name. */
        int fd = open(tmp, O_RDONLY);
        if (fd >= 0) {
            fsync(fd);
            close(fd);
        }
        if (rename(tmp, final) != 0)
            err = tsr_error_set(ctx, TSR_ERR_IO, __FILE__, __LINE__, __func__,
                                "cannot rename '%s' to '%s': %s", tmp, final, strerror(errno));
        else if (keep > 0)
            prune(dir, keep);
    }
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    if (path)
        snprintf(path, (size_t)len, "%s", final);
    return TSR_SUCCESS;
}

static int resolve_root(tsr_ctx ctx, const char *dir, const char *which, char *path, int len) {
    if (strcmp(which, "latest") != 0) {
        snprintf(path, (size_t)len, "%s", which);
        TSR_CHECK(ctx, access(path, R_OK) == 0, TSR_ERR_IO, "cannot read checkpoint '%s': %s", path,
                  strerror(errno));
        return TSR_SUCCESS;
    }
    DIR *dp = opendir(dir);
    TSR_CHECK(ctx, dp, TSR_ERR_IO, "--restart latest: cannot open checkpoint directory '%s': %s",
              dir, strerror(errno));
    int64_t best = -1;
    for (struct dirent *e; (e = readdir(dp));) {
        int64_t s;
        if (is_checkpoint_name(e->d_name, &s) && s > best)
            best = s;
    }
    closedir(dp);
    TSR_CHECK(ctx, best >= 0, TSR_ERR_IO, "--restart latest: no checkpoint in '%s'", dir);
    snprintf(path, (size_t)len, "%s/ckpt_%06lld.h5", dir, (long long)best);
    return TSR_SUCCESS;
}

int tsr_checkpoint_resolve(tsr_ctx ctx, const char *dir, const char *which, char *path, int len) {
    char buf[4096] = "";
    int err = ctx->rank == 0 ? resolve_root(ctx, dir, which, buf, sizeof buf) : TSR_SUCCESS;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    TSR_MPI(ctx, MPI_Bcast(buf, sizeof buf, MPI_CHAR, 0, ctx->comm));
    snprintf(path, (size_t)len, "%s", buf);
    return TSR_SUCCESS;
}

int tsr_checkpoint_read(const char *path, const char *app, tsr_field *fields, int nfields,
                        int64_t *step, double *time, char *run_options, int len) {
    tsr_ctx ctx = fields[0]->ctx;
    char who[256];
    TSR_CALL(ctx, tsr_io_read_meta(fields[0], path, step, time, who, run_options, len));
    int err = TSR_SUCCESS;
    if (ctx->rank == 0 && app && strcmp(who, app) != 0)
        err = tsr_error_set(ctx, TSR_ERR_IO, __FILE__, __LINE__, __func__,
                            "'%s' is a checkpoint of %s, not of %s", path,
                            who[0] ? who : "an unknown program", app);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    for (int k = 0; k < nfields; k++) {
        char ds[128];
        snprintf(ds, sizeof ds, "/fields/%s", fields[k]->name);
        TSR_CALL(ctx, tsr_io_read(fields[k], path, ds));
    }
    return TSR_SUCCESS;
}
