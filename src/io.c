/* HDF5 files of fields: rank 0 lays a file out, every rank writes its blocks' cells into place
 * (io_rows.c) and reads them back with its own read-only open. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include "field_impl.h"
#include "file_impl.h"
#include "h5_impl.h"
#include <hdf5_hl.h>
#include "tessera/file.h"
#include "tessera/io.h"

static bool write_attrs(hid_t file, tsr_field f, const tsr_io_meta *meta) {
    const tsr__layout *lay = &f->map->decomp->lay;
    return tsr__h5_run_attrs(file, lay, f->ctx->size, meta) &&
           tsr__h5_attr_write(file, "blocks", H5T_NATIVE_INT64, lay->ndim, lay->nb) &&
           tsr__h5_attr_string(file, "map", tsr_map_strategy_names[f->map->strategy]);
}

/* Copies the parts of `from` that hold data into fd (holes stay holes) and gives fd from's size.
 * Returns 0 or an errno. */
static int copy_extents(const char *from, int fd) {
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return errno;
    int e = 0;
    off_t end = lseek(in, 0, SEEK_END), off = 0;
    char *buf = malloc(1 << 20);
    if (!buf || end < 0)
        e = buf ? errno : ENOMEM;
    while (!e && off < end) {
        off_t d = lseek(in, off, SEEK_DATA);
        if (d < 0) {
            if (errno != ENXIO)
                e = errno;
            break;
        }
        off_t h = lseek(in, d, SEEK_HOLE);
        h = h < 0 ? end : h;
        for (off_t at = d; !e && at < h;) {
            size_t n = (size_t)(h - at) < (size_t)(1 << 20) ? (size_t)(h - at) : (size_t)(1 << 20);
            ssize_t r = pread(in, buf, n, at);
            if (r <= 0) {
                e = r < 0 ? errno : EIO;
                break;
            }
            for (ssize_t done = 0; !e && done < r;) {
                ssize_t w = pwrite(fd, buf + done, (size_t)(r - done), at + done);
                if (w < 0 && errno != EINTR)
                    e = errno;
                else if (w == 0)
                    e = EIO; /* no progress: never loop on it */
                else if (w > 0)
                    done += w;
            }
            at += r;
        }
        off = h;
    }
    if (!e && ftruncate(fd, end) != 0)
        e = errno;
    free(buf);
    close(in);
    return e;
}

/* Free space a scratch directory must have: the layout's metadata is a few KiB to a few MiB (the
 * coordinates), and HDF5 writes it when the file closes. A close that fails (a full /dev/shm,
 * which MPI libraries and containers keep small) leaves the file in HDF5's list of open files,
 * and its clean-up when MPI finalises then crashes: such a directory is passed over. */
#define SCRATCH_FREE_MIN (16 << 20)

/* A private scratch file for HDF5's layout: memory-backed where there is one. */
static int scratch_file(char *path, size_t len) {
    const char *dirs[3] = {"/dev/shm", getenv("TMPDIR"), "/tmp"};
    int e = ENOENT;
    for (int i = 0; i < 3; i++) {
        struct statvfs fs;
        if (!dirs[i] || !*dirs[i] || access(dirs[i], W_OK | X_OK) != 0) {
            e = dirs[i] && *dirs[i] ? errno : e;
            continue;
        }
        if (statvfs(dirs[i], &fs) == 0 &&
            (double)fs.f_bavail * (double)fs.f_frsize < SCRATCH_FREE_MIN) {
            e = ENOSPC;
            continue;
        }
        snprintf(path, len, "%s/tessera-layout-XXXXXX", dirs[i]);
        int fd = mkstemp(path);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        e = errno;
    }
    return e;
}

/* The name field k is written under: meta's, or the field's own. */
static const char *dataset_name(tsr_field *fields, int k, const tsr_io_meta *meta) {
    return meta && meta->names && meta->names[k] ? meta->names[k] : fields[k]->name;
}

/* The name of the dimension scale that numbers the components of a field of ncomp > 1:
 * "component", or "component<ncomp>" when the file holds fields of different component counts
 * (a netCDF dimension has one length). */
static void component_scale(tsr_field *fields, int nfields, int ncomp, char *name, size_t len) {
    bool mixed = false;
    for (int k = 0; k < nfields; k++)
        mixed = mixed || (fields[k]->ncomp > 1 && fields[k]->ncomp != ncomp);
    if (mixed)
        snprintf(name, len, "component%d", ncomp);
    else
        snprintf(name, len, "component");
}

/* Component numbers 0..ncomp-1 as the dimension scale of the components, attached as the last
 * dimension of every field of ncomp components, and the fields' component names. */
static bool write_component_scales(hid_t grp, tsr_field *fields, int nfields,
                                   const tsr_io_meta *meta) {
    int nd = fields[0]->map->decomp->lay.ndim;
    bool ok = true;
    for (int k = 0; k < nfields && ok; k++) {
        int nc = fields[k]->ncomp;
        bool first = nc > 1;
        for (int j = 0; j < k && first; j++)
            first = fields[j]->ncomp != nc;
        if (!first)
            continue;
        char name[32];
        component_scale(fields, nfields, nc, name, sizeof name);
        hsize_t n = (hsize_t)nc;
        int64_t v[TSR_FIELD_MAX_COMP];
        for (int c = 0; c < nc; c++)
            v[c] = c;
        hid_t sp = H5Screate_simple(1, &n, NULL);
        hid_t sc = H5Dcreate2(grp, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        ok = sc >= 0 && H5Dwrite(sc, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0 &&
             H5DSset_scale(sc, name) >= 0 &&
             tsr__h5_attr_string(sc, "long_name", "component number");
        for (int j = k; j < nfields && ok; j++) {
            if (fields[j]->ncomp != nc)
                continue;
            hid_t ds = H5Dopen2(grp, dataset_name(fields, j, meta), H5P_DEFAULT);
            ok = ds >= 0 && H5DSattach_scale(ds, sc, (unsigned)nd) >= 0;
            if (ok && fields[j]->comp_names) {
                const char *names[TSR_FIELD_MAX_COMP];
                for (int c = 0; c < nc; c++)
                    names[c] = fields[j]->comp_names[c];
                ok = tsr__h5_attr_strings(ds, "component_names", nc, names);
            }
            if (ds >= 0)
                H5Dclose(ds);
        }
        if (sc >= 0)
            H5Dclose(sc);
        H5Sclose(sp);
    }
    return ok;
}

/* Cell-centre coordinates x, y, z (origin + (i + 0.5) * spacing) as HDF5 dimension scales
 * attached to every field, with each field's long_name and units: netCDF readers (xarray through
 * h5netcdf) then open each field with named dimensions and coordinates. */
static bool write_coordinates(hid_t grp, tsr_field *fields, int nfields, const tsr_io_meta *meta) {
    const tsr__layout *lay = &fields[0]->map->decomp->lay;
    int nd = lay->ndim;
    hid_t scale[TSR_MAX_DIM];
    bool ok = write_component_scales(grp, fields, nfields, meta);
    for (int d = 0; d < nd; d++) {
        const char *name = (const char *[]){"x", "y", "z"}[d];
        double o = meta ? meta->origin[d] : 0,
               h = meta && meta->spacing[d] > 0 ? meta->spacing[d] : 1;
        hsize_t n = (hsize_t)lay->n[d];
        double *c = malloc(sizeof *c * (size_t)n);
        hid_t sp = H5Screate_simple(1, &n, NULL);
        scale[d] =
            c ? H5Dcreate2(grp, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)
              : H5I_INVALID_HID;
        for (hsize_t i = 0; c && i < n; i++)
            c[i] = o + ((double)i + 0.5) * h;
        ok = ok && scale[d] >= 0 &&
             H5Dwrite(scale[d], H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, c) >= 0 &&
             H5DSset_scale(scale[d], name) >= 0 &&
             tsr__h5_attr_string(
                 scale[d], "long_name",
                 (const char *[]){"cell centre x", "cell centre y", "cell centre z"}[d]) &&
             tsr__h5_attr_string(scale[d], "axis", (const char *[]){"X", "Y", "Z"}[d]);
        if (ok && meta && meta->length_units)
            ok = tsr__h5_attr_string(scale[d], "units", meta->length_units);
        free(c);
        H5Sclose(sp);
    }
    for (int k = 0; k < nfields && ok; k++) {
        hid_t ds = H5Dopen2(grp, dataset_name(fields, k, meta), H5P_DEFAULT);
        ok = ds >= 0;
        /* The dataset's dimensions run slowest first: (z, y, x). */
        for (int d = 0; d < nd && ok; d++)
            ok = H5DSattach_scale(ds, scale[d], (unsigned)(nd - 1 - d)) >= 0;
        if (ok && fields[k]->long_name[0])
            ok = tsr__h5_attr_string(ds, "long_name", fields[k]->long_name);
        if (ok && fields[k]->units[0])
            ok = tsr__h5_attr_string(ds, "units", fields[k]->units);
        if (ds >= 0)
            H5Dclose(ds);
    }
    for (int d = 0; d < nd; d++)
        if (scale[d] >= 0)
            H5Dclose(scale[d]);
    return ok;
}

/* HDF5 writes the layout (groups, datasets with their space allocated but never filled,
 * attributes) into a private scratch file, which leaves the file sparse: only the metadata holds
 * data. Returns false with HDF5's reason in why. */
static bool layout_scratch(tsr_field *fields, int nfields, const char *scratch,
                           const tsr_io_meta *meta, int64_t *offsets, char *why, size_t len) {
    const tsr__layout *lay = &fields[0]->map->decomp->lay;
    errno = 0; /* the reason reported is HDF5's, or an errno set by this write */
    hid_t file = H5Fcreate(scratch, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) {
        tsr__h5_reason(why, len);
        return false;
    }
    hid_t grp = H5Gcreate2(file, "fields", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    bool ok = grp >= 0;
    hsize_t dims[4];
    int rank = tsr__h5_file_dims(lay, dims);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER); /* every cell is written by its rank */
    for (int k = 0; k < nfields && ok; k++) {
        /* Components, if more than one, are the fastest dimension. */
        dims[rank] = (hsize_t)fields[k]->ncomp;
        hid_t sp = H5Screate_simple(rank + (fields[k]->ncomp > 1), dims, NULL);
        hid_t ds = H5Dcreate2(grp, dataset_name(fields, k, meta), H5T_IEEE_F64LE, sp, H5P_DEFAULT,
                              dcpl, H5P_DEFAULT);
        haddr_t at = ds >= 0 ? H5Dget_offset(ds) : HADDR_UNDEF;
        ok = at != HADDR_UNDEF && at <= (haddr_t)INT64_MAX;
        offsets[k] = ok ? (int64_t)at : -1;
        if (ds >= 0)
            H5Dclose(ds);
        H5Sclose(sp);
    }
    H5Pclose(dcpl);
    ok = ok && write_coordinates(grp, fields, nfields, meta) && write_attrs(file, fields[0], meta);
    if (grp >= 0)
        H5Gclose(grp);
    ok = H5Fclose(file) >= 0 && ok;
    if (!ok)
        tsr__h5_reason(why, len);
    return ok;
}

/* Rank 0 lays the file out alone, recording where each dataset's data starts; every rank then
 * writes its cells into place and the ranks agree. So a failure on one rank can always be agreed
 * on: HDF5's collective metadata flush, which a failing rank leaves early (the hang of a full
 * disk inside H5Fclose), is never involved. HDF5 itself never writes to the target file system
 * either: its layout goes to a scratch file first and is copied, because an HDF5 file whose
 * close failed (EIO, a full disk) crashes HDF5's clean-up when MPI finalises. */
static int layout_file(tsr_field *fields, int nfields, const char *tmp, const char *path,
                       const tsr_io_meta *meta, int64_t *offsets) {
    tsr_ctx ctx = fields[0]->ctx;
    char scratch[TSR_PATH_MAX], why[256] = "";
    int e = scratch_file(scratch, sizeof scratch);
    TSR_CHECK(ctx, e == 0, TSR_ERR_IO, "cannot write '%s': no scratch space for its layout: %s",
              path, strerror(e));
    bool ok = layout_scratch(fields, nfields, scratch, meta, offsets, why, sizeof why);
    if (!ok) {
        unlink(scratch);
        TSR_CHECK(ctx, 0, TSR_ERR_IO, "cannot write '%s': %s", path, why);
    }
    int fd = -1;
    e = tsr__file_tmp_clear(tmp);
    if (!e) {
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
        e = fd < 0 ? errno : copy_extents(scratch, fd);
    }
    if (fd >= 0 && close(fd) != 0 && !e)
        e = errno;
    unlink(scratch);
    if (e) {
        unlink(tmp);
        TSR_CHECK(ctx, 0, TSR_ERR_IO, "cannot write '%s': %s", path, strerror(e));
    }
    return TSR_SUCCESS;
}

/* Every rank writes its blocks into the file rank 0 laid out, syncs and closes it, and the ranks
 * agree on the verdict: a full disk or an I/O error on any rank is TSR_ERR_IO on every rank,
 * with the failing rank's reason. Plain writes, not MPI-IO's collective ones: Open MPI's default
 * collective writer (OMPIO) was seen to drop a failed write's error and report success, leaving
 * a hole in the file. Collective. */
static int write_raw(tsr_field *fields, int nfields, const char *tmp, const char *path,
                     const int64_t *offsets) {
    tsr_ctx ctx = fields[0]->ctx;
    int e = 0;
    int64_t mine = 0;
    for (int k = 0; k < nfields; k++)
        mine += fields[k]->nblocks;
    if (mine > 0) {
        int fd = open(tmp, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            e = errno;
        if (!e)
            e = tsr__io_write_rows(fields, nfields, fd, offsets);
        /* Each rank makes its own writes durable (on a parallel file system no other can). */
        if (!e && fsync(fd) != 0)
            e = errno;
        if (fd >= 0 && close(fd) != 0 && !e)
            e = errno;
    }
    int err = e ? tsr_error_set(ctx, TSR_ERR_IO, __FILE__, __LINE__, __func__,
                                "cannot write '%s': %s", path, strerror(e))
                : TSR_SUCCESS;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    return TSR_SUCCESS;
}

/* Rank 0: enough free space for the file, so a full disk is one clear message before anyone
 * writes (a disk filling meanwhile is still caught by the writes themselves). */
static int check_space(tsr_ctx ctx, const char *path, double bytes) {
    char dir[TSR_PATH_MAX];
    const char *slash = strrchr(path, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
    struct statvfs v;
    if (statvfs(dir, &v) != 0)
        return TSR_SUCCESS;
    double avail = (double)v.f_bavail * (double)v.f_frsize;
    TSR_CHECK(ctx, avail >= bytes, TSR_ERR_IO,
              "cannot write '%s': No space left on device (needs %.1f MiB, %.1f MiB free)", path,
              bytes / 1048576.0, avail / 1048576.0);
    return TSR_SUCCESS;
}

int tsr__io_write_file(tsr_field *fields, int nfields, const char *path, const tsr_io_meta *meta,
                       bool overwrite, void (*before_publish)(void)) {
    tsr_ctx ctx = fields[0]->ctx;
    tsr__h5_quiet();
    TSR_CHECK(ctx, nfields >= 1 && nfields <= 64, TSR_ERR_ARG, "%d fields in one file", nfields);
    TSR_CHECK(ctx, path && *path && strlen(path) < TSR_PATH_MAX, TSR_ERR_ARG,
              "an output file needs a path of 1 to %d characters", TSR_PATH_MAX - 1);
    for (int k = 0; k < nfields; k++) {
        const char *name = dataset_name(fields, k, meta);
        TSR_CHECK(ctx, fields[k]->map == fields[0]->map, TSR_ERR_ARG,
                  "fields written together must share a map");
        TSR_CHECK(ctx, strcmp(name, "x") && strcmp(name, "y") && strcmp(name, "z"), TSR_ERR_ARG,
                  "field '%s': x, y and z name the coordinates in a file", name);
        for (int j = 0; j < nfields; j++) {
            char scale[32];
            component_scale(fields, nfields, fields[j]->ncomp, scale, sizeof scale);
            TSR_CHECK(ctx, fields[j]->ncomp == 1 || strcmp(name, scale) != 0, TSR_ERR_ARG,
                      "field '%s': %s numbers the components in this file", name, scale);
        }
    }
    char tmp[TSR_FILE_TMP_MAX];
    tsr_file_tmp_name(path, tmp, sizeof tmp);
    int64_t offsets[64];
    /* The fields, the coordinate scales and room for the metadata. */
    const tsr__layout *lay = &fields[0]->map->decomp->lay;
    double bytes = 65536 + 8.0 * (double)(lay->n[0] + lay->n[1] + lay->n[2]);
    for (int k = 0; k < nfields; k++)
        bytes += 8.0 * fields[k]->ncomp *
                 (double)tsr_grid_cells(tsr_decomp_grid(tsr_map_decomp(fields[k]->map)));
    double t0 = tsr_wtime();
    int err = TSR_SUCCESS;
    if (ctx->rank == 0) {
        if (!err && !overwrite && access(path, F_OK) == 0)
            err = tsr_error_set(ctx, TSR_ERR_IO, __FILE__, __LINE__, __func__,
                                "'%s' exists; not replacing it (use --force)", path);
        if (!err)
            err = check_space(ctx, path, bytes);
        if (!err)
            err = layout_file(fields, nfields, tmp, path, meta, offsets);
    }
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    TSR_MPI(ctx, MPI_Bcast(offsets, nfields, MPI_INT64_T, 0, ctx->comm));
    err = write_raw(fields, nfields, tmp, path, offsets);
    if (!err && before_publish)
        before_publish();
    /* Every rank has written, synced and closed its part; a rank that died never gets here, and
     * the file never gets its final name. */
    if (!err)
        err = tsr_ctx_agree(ctx, TSR_SUCCESS);
    if (ctx->rank == 0) {
        if (!err)
            err = tsr_file_publish(ctx, tmp, path, overwrite);
        else
            unlink(tmp);
    }
    tsr_ctx_timer_add(ctx, TSR_TIMER_IO, tsr_wtime() - t0);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    return TSR_SUCCESS;
}

int tsr_io_write(const char *path, tsr_field *fields, int nfields, const tsr_io_meta *meta,
                 bool overwrite) {
    TSR_CALL(fields[0]->ctx, tsr__io_write_file(fields, nfields, path, meta, overwrite, NULL));
    return TSR_SUCCESS;
}

/* Rank 0's look at a file before anyone opens it collectively. */
static int check_dataset(tsr_ctx ctx, const tsr__layout *lay, int ncomp, const char *path,
                         const char *dataset) {
    hid_t file;
    TSR_CALL(ctx, tsr__h5_open_serial(ctx, "input", path, &file));
    int err = TSR_SUCCESS;
    hid_t ds = H5Lexists(file, dataset, H5P_DEFAULT) > 0 ? H5Dopen2(file, dataset, H5P_DEFAULT)
                                                         : H5I_INVALID_HID;
    if (ds < 0) {
        err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                            "'%s' has no dataset '%s'", path, dataset);
    } else {
        hid_t sp = H5Dget_space(ds), t = H5Dget_type(ds);
        int rank = H5Sget_simple_extent_ndims(sp);
        hsize_t dims[H5S_MAX_RANK], want[4];
        int wrank = tsr__h5_file_dims(lay, want);
        want[wrank] = (hsize_t)ncomp;
        wrank += ncomp > 1; /* components: the last dimension */
        H5Sget_simple_extent_dims(sp, dims, NULL);
        char got[128] = "", exp[128] = "";
        for (int d = 0, u = 0, v = 0; d < rank || d < wrank; d++) {
            if (d < rank && u < (int)sizeof got)
                u += snprintf(got + u, sizeof got - (size_t)u, d ? "x%llu" : "%llu",
                              (unsigned long long)dims[d]);
            if (d < wrank)
                v += snprintf(exp + v, sizeof exp - (size_t)v, d ? "x%llu" : "%llu",
                              (unsigned long long)want[d]);
        }
        if (ncomp == 1 && rank != lay->ndim)
            err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                "'%s:%s' has %d dimensions, the grid has %d", path, dataset, rank,
                                lay->ndim);
        else if (ncomp > 1 && rank != wrank)
            err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                "'%s:%s' has %d dimensions, a %dD field of %d components needs %d "
                                "(the components last)",
                                path, dataset, rank, lay->ndim, ncomp, wrank);
        else if (memcmp(dims, want, sizeof(hsize_t) * (size_t)rank) != 0)
            err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                "'%s:%s' has shape %s (slowest first), the grid needs %s", path,
                                dataset, got, exp);
        else if (H5Tget_class(t) != H5T_FLOAT || (H5Tget_size(t) != 4 && H5Tget_size(t) != 8))
            err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                "'%s:%s' is not float64 or float32 data", path, dataset);
        H5Tclose(t);
        H5Sclose(sp);
        H5Dclose(ds);
    }
    H5Fclose(file);
    return err;
}

/* Whether a row holds an infinity or a NaN: an OR of exponent tests, which vectorizes (the
 * common case: a scan of the whole state once per stretch). */
static bool row_nonfinite(const double *row, int64_t n) {
    const uint64_t exp = UINT64_C(0x7ff0000000000000);
    uint64_t any = 0;
    for (int64_t x = 0; x < n; x++) {
        uint64_t u;
        memcpy(&u, &row[x], sizeof u);
        any |= (u & exp) == exp;
    }
    return any != 0;
}

/* The first non-finite owned value in the file's order (cell * ncomp + component), over all
 * ranks. Collective. */
static int first_nonfinite(tsr_field f, int64_t *cell, double *value) {
    tsr_ctx ctx = f->ctx;
    const tsr__layout *lay = &f->map->decomp->lay;
    int64_t best = INT64_MAX;
    double v = 0.0;
    for (int64_t i = 0; i < f->nblocks; i++) {
        const tsr_block *b = &f->blocks[i];
        const bool par = b->n[0] * b->n[1] * b->n[2] > ctx->min_parallel_cells;
        for (int c = 0; c < f->ncomp; c++) {
            int64_t first = INT64_MAX;
#pragma omp parallel for collapse(2) schedule(static) reduction(min : first) if (par)
            for (int64_t z = 0; z < b->n[2]; z++)
                for (int64_t y = 0; y < b->n[1]; y++) {
                    const double *row = &TSR_ATC(b, 0, y, z, c);
                    if (!row_nonfinite(row, b->n[0]))
                        continue;
                    int64_t x = 0;
                    while (isfinite(row[x])) /* later cells of this row come after it */
                        x++;
                    int64_t k =
                        (b->lo[0] + x) + lay->n[0] * ((b->lo[1] + y) + lay->n[1] * (b->lo[2] + z));
                    int64_t g = k * f->ncomp + c;
                    if (g < first)
                        first = g;
                }
            if (first < best) {
                best = first;
                int64_t k = first / f->ncomp;
                v = TSR_ATC(b, k % lay->n[0] - b->lo[0], (k / lay->n[0]) % lay->n[1] - b->lo[1],
                            k / (lay->n[0] * lay->n[1]) - b->lo[2], c);
            }
        }
    }
    int64_t global = best;
    TSR_MPI(ctx, MPI_Allreduce(&best, &global, 1, MPI_INT64_T, MPI_MIN, ctx->comm));
    /* The owner of that cell tells its value. */
    int has = global != INT64_MAX && global == best ? ctx->rank : -1, owner = -1;
    TSR_MPI(ctx, MPI_Allreduce(&has, &owner, 1, MPI_INT, MPI_MAX, ctx->comm));
    if (owner >= 0)
        TSR_MPI(ctx, MPI_Bcast(&v, 1, MPI_DOUBLE, owner, ctx->comm));
    *cell = global;
    *value = v;
    return TSR_SUCCESS;
}

int tsr__io_check_finite(tsr_field f, int code, const char *what, char *where, size_t len) {
    tsr_ctx ctx = f->ctx;
    const tsr__layout *lay = &f->map->decomp->lay;
    int64_t cell = INT64_MAX;
    double v = 0.0;
    TSR_CALL(ctx, first_nonfinite(f, &cell, &v));
    if (cell == INT64_MAX)
        return TSR_SUCCESS;
    int comp = (int)(cell % f->ncomp);
    cell /= f->ncomp;
    int64_t c[3] = {cell % lay->n[0], (cell / lay->n[0]) % lay->n[1],
                    cell / (lay->n[0] * lay->n[1])};
    char at[96];
    if (lay->ndim == 1)
        snprintf(at, sizeof at, "(%lld)", (long long)c[0]);
    else if (lay->ndim == 2)
        snprintf(at, sizeof at, "(%lld, %lld)", (long long)c[0], (long long)c[1]);
    else
        snprintf(at, sizeof at, "(%lld, %lld, %lld)", (long long)c[0], (long long)c[1],
                 (long long)c[2]);
    if (where)
        snprintf(where, len, "%s", at);
    char of[48] = "";
    if (f->ncomp > 1)
        snprintf(of, sizeof of, " (component %d)", comp);
    int err = tsr_error_set(ctx, code, __FILE__, __LINE__, __func__,
                            "%s holds a non-finite value (%g) in cell %s%s of field '%s'", what, v,
                            at, of, f->name);
    /* Every rank computed the same verdict. */
    ctx->err_collective = 1;
    return err;
}

int tsr_io_read(tsr_field f, const char *path, const char *dataset) {
    tsr_ctx ctx = f->ctx;
    const tsr__layout *lay = &f->map->decomp->lay;
    tsr__h5_quiet();
    int err = ctx->rank == 0 ? check_dataset(ctx, lay, f->ncomp, path, dataset) : TSR_SUCCESS;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    /* Every rank opens the file on its own, read-only, and reads its blocks. Not MPI-IO: Open
     * MPI's MPI_File_open overflows a buffer on paths of about 250 characters, and its default
     * component was seen to drop I/O errors. */
    double t0 = tsr_wtime();
    errno = 0;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = file >= 0 ? H5Dopen2(file, dataset, H5P_DEFAULT) : H5I_INVALID_HID;
    if (ds < 0 || !tsr__io_read_blocks(f, ds)) {
        char why[256];
        tsr__h5_reason(why, sizeof why);
        err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                            "cannot read '%s:%s' on rank %d: %s", path, dataset, ctx->rank, why);
    }
    if (ds >= 0)
        H5Dclose(ds);
    if (file >= 0)
        H5Fclose(file);
    tsr_ctx_timer_add(ctx, TSR_TIMER_IO, tsr_wtime() - t0);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    char what[TSR_PATH_MAX + 200];
    snprintf(what, sizeof what, "'%.4000s:%.150s'", path, dataset);
    TSR_CALL(ctx, tsr__io_check_finite(f, TSR_ERR_INPUT, what, NULL, 0));
    return TSR_SUCCESS;
}

int tsr_io_read_meta(tsr_field f, const char *path, int64_t *step, double *time, char *app,
                     char *run_options, int len) {
    tsr_ctx ctx = f->ctx;
    tsr__h5_quiet();
    tsr__file_meta m;
    memset(&m, 0, sizeof m);
    int err = ctx->rank == 0 ? tsr__h5_read_meta(ctx, &f->map->decomp->lay, path, &m) : TSR_SUCCESS;
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
