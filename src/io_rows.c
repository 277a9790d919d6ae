/* A rank's blocks to and from the rows of a field file: rows in the file's order over all of a
 * rank's blocks (the union of their hyperslabs), so rows of neighbouring blocks that meet in the
 * file move in one call. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "field_impl.h"
#include "h5_impl.h"

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
int tsr__io_write_rows(tsr_field *fields, int nfields, int fd, const int64_t *offsets) {
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

/* Where the memory space of component c of local block i starts: x = 0 of its first ghosted row
 * and plane (the left ghosts before it belong to the row before, as the right ghosts after a
 * row's last cell do: rows are sy apart). */
static double *block_membase(tsr_field f, int64_t i, int c) {
    const tsr_block *b = &f->blocks[i];
    int wy = b->ndim >= 2 ? b->width : 0, wz = b->ndim >= 3 ? b->width : 0;
    return b->data - wz * b->sz - wy * b->sy + (ptrdiff_t)c * b->sc;
}

/* Memory space of local block i from block_membase: its ghosted planes of ghosted rows of sy
 * doubles, owned cells selected. */
static hid_t block_memspace(tsr_field f, int64_t i) {
    const tsr_block *b = &f->blocks[i];
    int wy = b->ndim >= 2 ? b->width : 0, wz = b->ndim >= 3 ? b->width : 0;
    hsize_t dims[3] = {(hsize_t)(b->n[2] + 2 * wz), (hsize_t)(b->n[1] + 2 * wy), (hsize_t)b->sy};
    hsize_t start[3] = {(hsize_t)wz, (hsize_t)wy, 0};
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
             H5Dread(dset, H5T_NATIVE_DOUBLE, msp, fsp, H5P_DEFAULT, block_membase(f, 0, c)) >= 0;
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
static int read_rows_raw(tsr_field f, hid_t dset) {
    hid_t dcpl = H5Dget_create_plist(dset), t = H5Dget_type(dset);
    bool plain = f->ncomp == 1 && dcpl >= 0 && t >= 0 && H5Pget_layout(dcpl) == H5D_CONTIGUOUS &&
                 H5Pget_external_count(dcpl) == 0 && H5Tequal(t, H5T_IEEE_F64LE) > 0 &&
                 H5Tequal(H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE) > 0;
    if (t >= 0)
        H5Tclose(t);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    /* The address is past a user block, and the dataset may live in another file than `path`
     * (an external link), which may also have been replaced since: read only from a file
     * without one, through HDF5's own descriptor of it (a duplicate, with the POSIX driver). */
    hid_t file = plain ? H5Iget_file_id(dset) : H5I_INVALID_HID;
    hid_t fcpl = file >= 0 ? H5Fget_create_plist(file) : H5I_INVALID_HID;
    hid_t fapl = file >= 0 ? H5Fget_access_plist(file) : H5I_INVALID_HID;
    hsize_t userblock = 1;
    void *handle = NULL;
    int hfd = -1;
    if (fcpl >= 0 && fapl >= 0 && H5Pget_userblock(fcpl, &userblock) >= 0 && userblock == 0 &&
        H5Pget_driver(fapl) == H5FD_SEC2 && H5Fget_vfd_handle(file, fapl, &handle) >= 0 && handle)
        hfd = dup(*(int *)handle);
    if (fapl >= 0)
        H5Pclose(fapl);
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (file >= 0)
        H5Fclose(file);
    haddr_t at = hfd >= 0 ? H5Dget_offset(dset) : HADDR_UNDEF;
    if (at == HADDR_UNDEF || at > (haddr_t)INT64_MAX) {
        if (hfd >= 0)
            close(hfd);
        return -1;
    }
    int64_t nrows = 0;
    row_ref *rows = sorted_rows(f, (int64_t)at, &nrows);
    pending *p = malloc(sizeof *p);
    int fd = hfd;
    int e = !rows || !p ? ENOMEM : 0;
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
bool tsr__io_read_blocks(tsr_field f, hid_t dset) {
    const tsr__layout *lay = &f->map->decomp->lay;
    if (f->nblocks <= 1)
        return f->nblocks == 0 || read_one_block(f, dset);
    int raw = read_rows_raw(f, dset);
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
