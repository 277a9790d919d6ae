/* HDF5 files of fields: rank 0 lays a file out, every rank writes its blocks' cells into place
 * and reads them back with its own read-only open; XDMF series. */
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

/* A private scratch file for HDF5's layout: memory-backed where there is one. */
static int scratch_file(char *path, size_t len) {
    const char *dirs[3] = {"/dev/shm", getenv("TMPDIR"), "/tmp"};
    for (int i = 0; i < 3; i++) {
        if (!dirs[i] || !*dirs[i] || access(dirs[i], W_OK | X_OK) != 0)
            continue;
        snprintf(path, len, "%s/tessera-layout-XXXXXX", dirs[i]);
        int fd = mkstemp(path);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
    }
    return errno ? errno : ENOENT;
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
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
    e = fd < 0 ? errno : copy_extents(scratch, fd);
    if (fd >= 0 && close(fd) != 0 && !e)
        e = errno;
    unlink(scratch);
    if (e) {
        unlink(tmp);
        TSR_CHECK(ctx, 0, TSR_ERR_IO, "cannot write '%s': %s", path, strerror(e));
    }
    return TSR_SUCCESS;
}

/* Rows waiting to be written by one pwritev (or read by one preadv): contiguous in the file,
 * anywhere in memory. */
typedef struct pending {
    int fd;
    bool read;  /* preadv into the rows instead of pwritev from them */
    off_t at;   /* file offset of the first row */
    size_t len; /* bytes gathered */
    int n;      /* rows gathered */
    struct iovec iov[IOV_MAX < 1024 ? IOV_MAX : 1024];
} pending;

static int flush_rows(pending *p) {
    int i = 0;
    while (i < p->n) {
        ssize_t w = p->read ? preadv(p->fd, p->iov + i, p->n - i, p->at)
                            : pwritev(p->fd, p->iov + i, p->n - i, p->at);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (w == 0)
            return EIO; /* no progress, or the end of a truncated file */
        p->at += w;
        /* A short write (read): skip what went out (came in), resume mid-row if need be. */
        while (i < p->n && (size_t)w >= p->iov[i].iov_len)
            w -= (ssize_t)p->iov[i++].iov_len;
        if (i < p->n) {
            p->iov[i].iov_base = (char *)p->iov[i].iov_base + w;
            p->iov[i].iov_len -= (size_t)w;
        }
    }
    p->n = 0;
    p->len = 0;
    return 0;
}

static int add_row(pending *p, off_t at, const void *row, size_t len) {
    if (p->n > 0 &&
        (at != p->at + (off_t)p->len || p->n == (int)(sizeof p->iov / sizeof *p->iov))) {
        int e = flush_rows(p);
        if (e)
            return e;
    }
    if (p->n == 0)
        p->at = at;
    p->iov[p->n].iov_base = (void *)row;
    p->iov[p->n].iov_len = len;
    p->n++;
    p->len += len;
    return 0;
}

/* Rows of fields with components are interleaved (component fastest) into a pack buffer of at
 * least this many bytes, reused once its rows are written. */
enum { PACK_BYTES = 1 << 20 };

/* A row of ncomp components interleaved into buf: the file's order. */
static void pack_row(const tsr_block *b, int64_t y, int64_t z, double *buf) {
    int nc = b->ncomp;
    for (int c = 0; c < nc; c++) {
        const double *src = &TSR_ATC(b, 0, y, z, c);
        for (int64_t x = 0; x < b->n[0]; x++)
            buf[x * nc + c] = src[x];
    }
}

/* One row of a block: where it goes in the file and where it comes from. */
typedef struct row_ref {
    int64_t at; /* file offset */
    int64_t block;
    int64_t y, z;
} row_ref;

static int row_cmp(const void *a, const void *b) {
    int64_t x = ((const row_ref *)a)->at, y = ((const row_ref *)b)->at;
    return (x > y) - (x < y);
}

/* The rows of field k's blocks sorted by file offset: the union of the blocks' hyperslabs in the
 * file's own order (row-major, not block by block), so that rows of neighbouring blocks that meet
 * in the file go out in one write. With 64 blocks per rank written block by block, every row of
 * a block was a write of its own. NULL when out of memory. */
static row_ref *sorted_rows(tsr_field f, const int64_t offset, int64_t *nrows) {
    const tsr__layout *lay = &f->map->decomp->lay;
    int64_t n = 0;
    for (int64_t i = 0; i < f->nblocks; i++)
        n += f->blocks[i].n[1] * f->blocks[i].n[2];
    row_ref *r = malloc(sizeof *r * (size_t)(n > 0 ? n : 1));
    if (!r)
        return NULL;
    int64_t j = 0;
    for (int64_t i = 0; i < f->nblocks; i++) {
        const tsr_block *b = &f->blocks[i];
        for (int64_t z = 0; z < b->n[2]; z++)
            for (int64_t y = 0; y < b->n[1]; y++) {
                int64_t cell = b->lo[0] + lay->n[0] * ((b->lo[1] + y) + lay->n[1] * (b->lo[2] + z));
                r[j++] = (row_ref){offset + 8 * f->ncomp * cell, i, y, z};
            }
    }
    /* Blocks own disjoint cells: no two rows share an offset, so any sort gives one order. */
    qsort(r, (size_t)n, sizeof *r, row_cmp);
    *nrows = n;
    return r;
}

/* This rank's owned cells of every field into the laid-out file (x fastest, slowest dimension
 * first; components fastest of all), with plain positioned writes in the file's order: rows that
 * follow each other in the file, of one block or of several, go out in one call. A scalar
 * field's rows go straight from the blocks; the rows of a field with components are packed into
 * one bounded buffer, written out whenever it is full. Returns 0 or an errno. Not collective. */
static int write_rows(tsr_field *fields, int nfields, int fd, const int64_t *offsets) {
    size_t pack_cap = 0;
    for (int k = 0; k < nfields; k++)
        for (int64_t i = 0; i < fields[k]->nblocks && fields[k]->ncomp > 1; i++) {
            size_t row =
                sizeof(double) * (size_t)fields[k]->blocks[i].n[0] * (size_t)fields[k]->ncomp;
            pack_cap = row > pack_cap ? row : pack_cap;
        }
    if (pack_cap > 0 && pack_cap < PACK_BYTES)
        pack_cap = PACK_BYTES;
    pending *p = malloc(sizeof *p);
    double *pack = pack_cap ? malloc(pack_cap) : NULL;
    if (!p || (pack_cap && !pack)) {
        free(p);
        free(pack);
        return ENOMEM;
    }
    p->fd = fd;
    p->read = false;
    p->n = 0;
    p->len = 0;
    size_t used = 0; /* doubles of pack held by pending rows */
    int e = 0;
    for (int k = 0; k < nfields && !e; k++) {
        int nc = fields[k]->ncomp;
        int64_t nrows = 0;
        row_ref *rows = sorted_rows(fields[k], offsets[k], &nrows);
        if (!rows)
            e = ENOMEM;
        for (int64_t j = 0; j < nrows && !e; j++) {
            const tsr_block *b = &fields[k]->blocks[rows[j].block];
            size_t len = sizeof(double) * (size_t)b->n[0] * (size_t)nc;
            off_t at = (off_t)rows[j].at;
            if (nc == 1) {
                e = add_row(p, at, &TSR_AT(b, 0, rows[j].y, rows[j].z), len);
                continue;
            }
            if (sizeof(double) * used + len > pack_cap) {
                e = p->n ? flush_rows(p) : 0;
                used = 0;
            }
            if (!e) {
                pack_row(b, rows[j].y, rows[j].z, pack + used);
                e = add_row(p, at, pack + used, len);
                used += len / sizeof(double);
            }
        }
        free(rows);
    }
    if (!e && p->n)
        e = flush_rows(p);
    free(pack);
    free(p);
    return e;
}

/* A rank reads its cells in slabs of the file's slowest dimension of at least this many bytes
 * (all of a 1D field at once): the buffer they pass through stays bounded. */
enum { READ_BYTES = 4 << 20 };

/* The slab of the file's slowest dimension a row lies in (0 for the one row of a 1D block). */
static int64_t row_slab(const tsr__layout *lay, const tsr_block *b, const row_ref *r) {
    return lay->ndim == 3 ? b->lo[2] + r->z : lay->ndim == 2 ? b->lo[1] + r->y : 0;
}

/* Rows [0, n) of the sorted rows, slabs s0..s1-1 of the slowest dimension: one read of the
 * union of the blocks' hyperslabs (clipped to the slabs) into buf, which HDF5 fills in the
 * file's order, the rows' order; then each row goes to its block, components apart. */
static bool read_slabs(tsr_field f, hid_t dset, hid_t fsp, const row_ref *rows, int64_t n,
                       int64_t s0, int64_t s1, double *buf) {
    const tsr__layout *lay = &f->map->decomp->lay;
    int nd = lay->ndim, nc = f->ncomp;
    hsize_t cells = 0;
    bool ok = true, first = true;
    for (int64_t i = 0; i < f->nblocks && ok; i++) {
        const tsr_block *b = &f->blocks[i];
        hsize_t start[4], count[4];
        for (int d = 0; d < nd; d++) {
            start[d] = (hsize_t)b->lo[nd - 1 - d];
            count[d] = (hsize_t)b->n[nd - 1 - d];
        }
        if (nd >= 2) {
            int64_t lo = b->lo[nd - 1] > s0 ? b->lo[nd - 1] : s0;
            int64_t hi = b->lo[nd - 1] + b->n[nd - 1] < s1 ? b->lo[nd - 1] + b->n[nd - 1] : s1;
            if (hi <= lo)
                continue;
            start[0] = (hsize_t)lo;
            count[0] = (hsize_t)(hi - lo);
        }
        start[nd] = 0;
        count[nd] = (hsize_t)nc;
        ok = H5Sselect_hyperslab(fsp, first ? H5S_SELECT_SET : H5S_SELECT_OR, start, NULL, count,
                                 NULL) >= 0;
        first = false;
        hsize_t k = 1;
        for (int d = 0; d <= nd; d++)
            k *= count[d];
        cells += k;
    }
    hid_t msp = H5Screate_simple(1, &cells, NULL);
    ok = ok && msp >= 0 && H5Dread(dset, H5T_NATIVE_DOUBLE, msp, fsp, H5P_DEFAULT, buf) >= 0;
    if (msp >= 0)
        H5Sclose(msp);
    const double *src = buf;
    for (int64_t j = 0; j < n && ok; j++) {
        const tsr_block *b = &f->blocks[rows[j].block];
        if (nc == 1)
            memcpy(&TSR_AT(b, 0, rows[j].y, rows[j].z), src, sizeof(double) * (size_t)b->n[0]);
        for (int c = 0; c < nc && nc > 1; c++) {
            double *dst = &TSR_ATC(b, 0, rows[j].y, rows[j].z, c);
            for (int64_t x = 0; x < b->n[0]; x++)
                dst[x] = src[x * nc + c];
        }
        src += b->n[0] * nc;
    }
    return ok;
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

/* A rank of one block reads it straight into place, one hyperslab per component (the block is
 * the whole union; a pass through a buffer would only add a copy). */
static bool read_one_block(tsr_field f, hid_t dset) {
    const tsr__layout *lay = &f->map->decomp->lay;
    const tsr_block *b = &f->blocks[0];
    hid_t fsp = H5Dget_space(dset), msp = block_memspace(f, 0);
    bool ok = fsp >= 0 && msp >= 0;
    for (int c = 0; c < f->ncomp && ok; c++) {
        hsize_t start[4] = {0}, count[4] = {0};
        for (int d = 0; d < lay->ndim; d++) {
            start[d] = (hsize_t)b->lo[lay->ndim - 1 - d];
            count[d] = (hsize_t)b->n[lay->ndim - 1 - d];
        }
        start[lay->ndim] = (hsize_t)c;
        count[lay->ndim] = 1;
        ok = H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
             H5Dread(dset, H5T_NATIVE_DOUBLE, msp, fsp, H5P_DEFAULT,
                     f->storage[0] + (ptrdiff_t)c * b->sc) >= 0;
    }
    if (msp >= 0)
        H5Sclose(msp);
    if (fsp >= 0)
        H5Sclose(fsp);
    return ok;
}

/* A scalar field from a float64 little-endian dataset stored contiguously (every tessera file;
 * not chunked, compressed, external or converted data): its rows straight from the file into
 * the blocks by preadv, in the file's order, rows that follow each other in one call, as they
 * were written; no copy through a buffer. Returns 0, an errno, or -1 when the dataset is not
 * such. */
static int read_rows_raw(tsr_field f, hid_t dset, const char *path) {
    hid_t dcpl = H5Dget_create_plist(dset), t = H5Dget_type(dset);
    bool plain = f->ncomp == 1 && dcpl >= 0 && t >= 0 && H5Pget_layout(dcpl) == H5D_CONTIGUOUS &&
                 H5Pget_external_count(dcpl) == 0 && H5Tequal(t, H5T_IEEE_F64LE) > 0 &&
                 H5Tequal(H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE) > 0;
    if (t >= 0)
        H5Tclose(t);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    haddr_t at = plain ? H5Dget_offset(dset) : HADDR_UNDEF;
    if (at == HADDR_UNDEF || at > (haddr_t)INT64_MAX)
        return -1;
    int64_t nrows = 0;
    row_ref *rows = sorted_rows(f, (int64_t)at, &nrows);
    pending *p = malloc(sizeof *p);
    int fd = rows && p ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    int e = !rows || !p ? ENOMEM : fd < 0 ? errno : 0;
    if (p) {
        p->fd = fd;
        p->read = true;
        p->n = 0;
        p->len = 0;
    }
    for (int64_t j = 0; j < nrows && !e; j++) {
        const tsr_block *b = &f->blocks[rows[j].block];
        e = add_row(p, (off_t)rows[j].at, &TSR_AT(b, 0, rows[j].y, rows[j].z),
                    sizeof(double) * (size_t)b->n[0]);
    }
    if (!e && p->n)
        e = flush_rows(p);
    if (fd >= 0)
        close(fd);
    free(p);
    free(rows);
    return e;
}

/* This rank's blocks from the dataset: the union of their hyperslabs, a few slabs of the slowest
 * dimension at a time, each one read in the file's order (not one read per block and component,
 * whose rows HDF5 fetched one by one). Independent reads, no collective call, so a failure is
 * this rank's alone until the agreement that follows. */
static bool read_blocks(tsr_field f, hid_t dset, const char *path) {
    const tsr__layout *lay = &f->map->decomp->lay;
    if (f->nblocks <= 1)
        return f->nblocks == 0 || read_one_block(f, dset);
    int raw = read_rows_raw(f, dset, path);
    if (raw >= 0) {
        errno = raw; /* the reason reported, HDF5's stack being empty */
        return raw == 0;
    }
    int64_t nrows = 0;
    row_ref *rows = sorted_rows(f, 0, &nrows);
    /* Batches end at a slab boundary once they hold READ_BYTES; the buffer fits the largest. */
    size_t cap = 0, bytes = 0;
    for (int64_t j = 0; rows && j < nrows; j++) {
        const tsr_block *b = &f->blocks[rows[j].block];
        bytes += sizeof(double) * (size_t)b->n[0] * (size_t)f->ncomp;
        cap = bytes > cap ? bytes : cap;
        if (j + 1 < nrows && bytes >= READ_BYTES &&
            row_slab(lay, b, &rows[j]) !=
                row_slab(lay, &f->blocks[rows[j + 1].block], &rows[j + 1]))
            bytes = 0;
    }
    double *buf = rows ? malloc(cap) : NULL;
    hid_t fsp = H5Dget_space(dset);
    bool ok = buf && fsp >= 0;
    for (int64_t j0 = 0, j = 0; j < nrows && ok; j++) {
        const tsr_block *b = &f->blocks[rows[j].block];
        bytes = j == j0 ? 0 : bytes;
        bytes += sizeof(double) * (size_t)b->n[0] * (size_t)f->ncomp;
        int64_t s = row_slab(lay, b, &rows[j]);
        bool last =
            j + 1 == nrows || (bytes >= READ_BYTES &&
                               s != row_slab(lay, &f->blocks[rows[j + 1].block], &rows[j + 1]));
        if (!last)
            continue;
        int64_t s0 = row_slab(lay, &f->blocks[rows[j0].block], &rows[j0]);
        ok = read_slabs(f, dset, fsp, rows + j0, j + 1 - j0, s0, s + 1, buf);
        j0 = j + 1;
    }
    if (fsp >= 0)
        H5Sclose(fsp);
    free(buf);
    free(rows);
    return ok;
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
            e = write_rows(fields, nfields, fd, offsets);
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
    char tmp[TSR_PATH_MAX + 8];
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

/* The first non-finite owned value in the file's order (cell * ncomp + component), over all
 * ranks. Collective. */
static int first_nonfinite(tsr_field f, int64_t *cell, double *value) {
    tsr_ctx ctx = f->ctx;
    const tsr__layout *lay = &f->map->decomp->lay;
    int64_t best = INT64_MAX;
    double v = 0.0;
    for (int64_t i = 0; i < f->nblocks; i++) {
        const tsr_block *b = &f->blocks[i];
        for (int c = 0; c < f->ncomp; c++)
            for (int64_t z = 0; z < b->n[2]; z++)
                for (int64_t y = 0; y < b->n[1]; y++) {
                    const double *row = &TSR_ATC(b, 0, y, z, c);
                    for (int64_t x = 0; x < b->n[0]; x++) {
                        if (isfinite(row[x]))
                            continue;
                        int64_t k = (b->lo[0] + x) +
                                    lay->n[0] * ((b->lo[1] + y) + lay->n[1] * (b->lo[2] + z));
                        int64_t g = k * f->ncomp + c;
                        if (g < best) {
                            best = g;
                            v = row[x];
                        }
                        break; /* later cells of this row come after it */
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
    if (ds < 0 || !read_blocks(f, ds, path)) {
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

/* Writes s with the five XML special characters escaped. */
static void xml_text(FILE *out, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&apos;", out);
            break;
        default:
            fputc(*s, out);
        }
    }
}

/* Components per cell of each named field, as the newest file of the series holds them (a
 * dataset with one dimension more than the grid has its components last); a field that cannot be
 * looked up there is taken as `like` is when it has like's name, as a scalar otherwise. */
static void xdmf_ncomp(tsr_field like, const char *xmf, const char *file, int nfields,
                       const char *const *names, int *ncomp) {
    int nd = like->map->decomp->lay.ndim;
    tsr__h5_quiet();
    for (int k = 0; k < nfields; k++)
        ncomp[k] = strcmp(names[k], like->name) == 0 ? like->ncomp : 1;
    char path[2 * TSR_PATH_MAX + 8];
    const char *slash = strrchr(xmf, '/');
    if (file[0] == '/' || !slash)
        snprintf(path, sizeof path, "%s", file);
    else
        snprintf(path, sizeof path, "%.*s/%s", (int)(slash - xmf), xmf, file);
    hid_t f = H5Fis_hdf5(path) > 0 ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : H5I_INVALID_HID;
    for (int k = 0; k < nfields && f >= 0; k++) {
        char ds[128];
        snprintf(ds, sizeof ds, "/fields/%s", names[k]);
        hid_t d = H5Lexists(f, "fields", H5P_DEFAULT) > 0 && H5Lexists(f, ds, H5P_DEFAULT) > 0
                      ? H5Dopen2(f, ds, H5P_DEFAULT)
                      : H5I_INVALID_HID;
        if (d < 0)
            continue;
        hid_t sp = H5Dget_space(d);
        hsize_t dims[H5S_MAX_RANK];
        int r = sp >= 0 ? H5Sget_simple_extent_dims(sp, dims, NULL) : -1;
        ncomp[k] = r == nd + 1 ? (int)dims[nd] : 1;
        if (sp >= 0)
            H5Sclose(sp);
        H5Dclose(d);
    }
    if (f >= 0)
        H5Fclose(f);
    H5Eclear2(H5E_DEFAULT);
}

/* Every grid is written as a 3D image: 2D and 1D grids get one cell along the missing axes, so
 * that ParaView puts x along its x axis and y along y (a 2DCoRectMesh lands in the YZ plane, and
 * 1D topologies load with no cells). XDMF lists dimensions, origin and spacing slowest first:
 * z, y, x. */
static int xdmf_root(tsr_field like, const char *xmf, int n, const char *const *files,
                     const int64_t *steps, const double *times, int nfields,
                     const char *const *names, const tsr_io_meta *meta) {
    tsr_ctx ctx = like->ctx;
    const tsr__layout *lay = &like->map->decomp->lay;
    /* The series is rewritten at every output: this run's own file is replaced each time (the
     * run checked at start that an existing one was its own, or was allowed to go). */
    TSR_CHECK(ctx, nfields >= 1 && nfields <= 64, TSR_ERR_ARG,
              "%d fields in one XDMF series: 1 to 64 allowed", nfields);
    tsr_file_out fo;
    TSR_CALL(ctx, tsr_file_open(ctx, xmf, true, &fo));
    FILE *out = fo.fp;
    long long c[3];
    double o[3], h[3];
    for (int d = 0; d < 3; d++) {
        c[d] = d < lay->ndim ? (long long)lay->n[d] : 1;
        o[d] = meta ? meta->origin[d] : 0.0;
        h[d] = meta && meta->spacing[d] > 0 ? meta->spacing[d] : 1.0;
    }
    fprintf(out, "<?xml version=\"1.0\" ?>\n<!DOCTYPE Xdmf SYSTEM \"Xdmf.dtd\" []>\n"
                 "<Xdmf Version=\"3.0\">\n <Domain>\n");
    if (meta && meta->run_id && *meta->run_id) {
        fputs("  <Information Name=\"run_id\" Value=\"", out);
        xml_text(out, meta->run_id);
        fputs("\"/>\n", out);
    }
    int ncomp[64];
    if (n > 0)
        xdmf_ncomp(like, xmf, files[n - 1], nfields, names, ncomp);
    fprintf(out, "  <Grid Name=\"series\" GridType=\"Collection\" CollectionType=\"Temporal\">\n");
    for (int i = 0; i < n; i++) {
        fprintf(out, "   <Grid Name=\"step_%06lld\" GridType=\"Uniform\">\n", (long long)steps[i]);
        fprintf(out, "    <Time Value=\"%.17g\"/>\n", times[i]);
        fprintf(out,
                "    <Topology TopologyType=\"3DCoRectMesh\" Dimensions=\"%lld %lld %lld\"/>\n"
                "    <Geometry GeometryType=\"ORIGIN_DXDYDZ\">\n"
                "     <DataItem Dimensions=\"3\" Format=\"XML\">%.17g %.17g %.17g</DataItem>\n"
                "     <DataItem Dimensions=\"3\" Format=\"XML\">%.17g %.17g %.17g</DataItem>\n"
                "    </Geometry>\n",
                c[2] + 1, c[1] + 1, c[0] + 1, o[2], o[1], o[0], h[2], h[1], h[0]);
        for (int k = 0; k < nfields; k++) {
            /* Three components are a vector (ParaView shows magnitude, components and glyphs);
             * any other count a matrix: ParaView's array of exactly that many components (it
             * would pad a two-component "Vector" with a zero). */
            const char *type = ncomp[k] == 1 ? "Scalar" : ncomp[k] == 3 ? "Vector" : "Matrix";
            char last[24] = "";
            if (ncomp[k] > 1)
                snprintf(last, sizeof last, " %d", ncomp[k]);
            fputs("    <Attribute Name=\"", out);
            xml_text(out, names[k]);
            fprintf(out,
                    "\" AttributeType=\"%s\" Center=\"Cell\">\n"
                    "     <DataItem Dimensions=\"%lld %lld %lld%s\" NumberType=\"Float\" "
                    "Precision=\"8\" Format=\"HDF\">",
                    type, c[2], c[1], c[0], last);
            xml_text(out, files[i]);
            fputs(":/fields/", out);
            xml_text(out, names[k]);
            fputs("</DataItem>\n    </Attribute>\n", out);
        }
        fprintf(out, "   </Grid>\n");
    }
    fprintf(out, "  </Grid>\n </Domain>\n</Xdmf>\n");
    TSR_CALL(ctx, tsr_file_commit(ctx, &fo));
    return TSR_SUCCESS;
}

int tsr_io_write_xdmf(tsr_field like, const char *xmf_path, int n, const char *const *files,
                      const int64_t *steps, const double *times, int nfields,
                      const char *const *names, const tsr_io_meta *meta) {
    tsr_ctx ctx = like->ctx;
    int err = ctx->rank == 0
                  ? xdmf_root(like, xmf_path, n, files, steps, times, nfields, names, meta)
                  : TSR_SUCCESS;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    return TSR_SUCCESS;
}
