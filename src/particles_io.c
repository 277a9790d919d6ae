/* Particles into HDF5 files, in global id order: written by every rank into a layout rank 0
 * made; an XDMF sidecar of points for viewers. Reading is particles_read.c. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "field_impl.h"
#include "file_impl.h"
#include "h5_impl.h"
#include "particles_impl.h"
#include "tessera/file.h"

static const tsr__layout *layout_of(tsr_particles p) {
    return &p->map->decomp->lay;
}

void tsr__pcomp_name(tsr_particles p, int k, char *out, size_t len) {
    if (p->cname[k][0])
        snprintf(out, len, "%s", p->cname[k]);
    else if (k < p->nreal)
        snprintf(out, len, "real%d", k);
    else
        snprintf(out, len, "int%d", k - p->nreal);
}

bool tsr__pname_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n >= TSR__PNAME_MAX || !strcmp(s, "id") || !strcmp(s, "position") ||
        !strcmp(s, "velocity"))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return false;
    return true;
}

/* Rank 0: every component name valid and distinct (names[k] NULL: component k keeps its
 * name). */
static int check_names(tsr_particles p, const char *const *names) {
    char cur[2][TSR__PNAME_MAX];
    for (int k = 0; k < p->nreal + p->nint; k++) {
        if (!names[k])
            continue;
        TSR_CHECK(p->ctx, tsr__pname_ok(names[k]), TSR_ERR_INPUT,
                  "particle component name '%.80s': use 1 to %d letters, digits, '_', '-' or '.', "
                  "not id, position or velocity",
                  names[k], TSR__PNAME_MAX - 1);
        for (int j = 0; j < k; j++) {
            const char *a = names[j], *b = names[k];
            if (!a) {
                tsr__pcomp_name(p, j, cur[0], sizeof cur[0]);
                a = cur[0];
            }
            TSR_CHECK(p->ctx, strcmp(a, b) != 0, TSR_ERR_INPUT,
                      "particle component name '%s' is given twice", b);
        }
        for (int j = k + 1; j < p->nreal + p->nint; j++) {
            if (names[j])
                continue;
            tsr__pcomp_name(p, j, cur[1], sizeof cur[1]);
            TSR_CHECK(p->ctx, strcmp(cur[1], names[k]) != 0, TSR_ERR_INPUT,
                      "particle component name '%s' is given twice", names[k]);
        }
    }
    return TSR_SUCCESS;
}

int tsr_particles_set_names(tsr_particles p, const char *const *real_names,
                            const char *const *int_names) {
    if (!p)
        return TSR_ERR_ARG;
    const char *names[128];
    for (int k = 0; k < p->nreal + p->nint; k++)
        names[k] = k < p->nreal ? (real_names ? real_names[k] : NULL)
                                : (int_names ? int_names[k - p->nreal] : NULL);
    /* Rank 0 checks: every rank must be given the same names. */
    int err = p->ctx->rank == 0 ? check_names(p, names) : TSR_SUCCESS;
    TSR_CALL(p->ctx, tsr_ctx_agree(p->ctx, err));
    for (int k = 0; k < p->nreal + p->nint; k++)
        if (names[k] && tsr__pname_ok(names[k]))
            snprintf(p->cname[k], TSR__PNAME_MAX, "%s", names[k]);
    return TSR_SUCCESS;
}

/* The local particles' word `col` (0 id, 1-3 x, 4-6 v, then components), blocks in order. */
static void gather_col(tsr_particles p, int col, int64_t *out) {
    int64_t at = 0;
    for (int64_t b = 0; b < p->nblocks; b++) {
        const tsr__pblock *blk = &p->blocks[b];
        if (blk->count > 0)
            memcpy(out + at, tsr__pcol(blk, col), (size_t)blk->count * 8);
        at += blk->count;
    }
}

typedef struct idkey {
    int64_t id, at; /* id, and its place in rank 0's gathered array */
} idkey;

static int idkey_cmp(const void *a, const void *b) {
    const idkey *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

/* Every rank's file row of each local particle (in gather_col order), from a sort of all ids on
 * rank 0. *n receives the global count. */
static int file_rows(tsr_particles p, int64_t *n, int64_t **rows_out) {
    tsr_ctx ctx = p->ctx;
    int64_t mine = tsr_particles_local_count(p);
    int64_t total = 0;
    TSR_MPI(ctx, MPI_Allreduce(&mine, &total, 1, MPI_INT64_T, MPI_SUM, ctx->comm));
    TSR_CHECK(ctx, total <= INT_MAX, TSR_ERR_INPUT,
              "%lld particles: a particle file holds at most %d", (long long)total, INT_MAX);
    *n = total;
    int cnt = (int)mine, *counts = NULL, *displs = NULL;
    int64_t *ids = NULL, *all = NULL, *rows = NULL, *allrows = NULL;
    idkey *keys = NULL;
    int err = tsr__calloc(ctx, (size_t)(mine ? mine : 1), 8, &ids);
    if (!err)
        err = tsr__calloc(ctx, (size_t)(mine ? mine : 1), 8, &rows);
    if (!err && ctx->rank == 0) {
        err = tsr__calloc(ctx, (size_t)ctx->size, sizeof(int), &counts);
        if (!err)
            err = tsr__calloc(ctx, (size_t)ctx->size, sizeof(int), &displs);
        if (!err)
            err = tsr__calloc(ctx, (size_t)(total ? total : 1), 8, &all);
        if (!err)
            err = tsr__calloc(ctx, (size_t)(total ? total : 1), 8, &allrows);
        if (!err)
            err = tsr__calloc(ctx, (size_t)(total ? total : 1), sizeof(idkey), &keys);
    }
    err = tsr_ctx_agree(ctx, err);
    if (!err) {
        gather_col(p, 0, ids);
        MPI_Gather(&cnt, 1, MPI_INT, counts, 1, MPI_INT, 0, ctx->comm);
        if (ctx->rank == 0)
            for (int r = 1; r < ctx->size; r++)
                displs[r] = displs[r - 1] + counts[r - 1];
        MPI_Gatherv(ids, cnt, MPI_INT64_T, all, counts, displs, MPI_INT64_T, 0, ctx->comm);
        if (ctx->rank == 0) {
            for (int64_t i = 0; i < total; i++)
                keys[i] = (idkey){all[i], i};
            qsort(keys, (size_t)total, sizeof *keys, idkey_cmp);
            for (int64_t i = 0; i < total; i++) {
                allrows[keys[i].at] = i;
                if (i > 0 && keys[i].id == keys[i - 1].id && !err)
                    err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                        "particle id %lld is held twice; ids must be unique",
                                        (long long)keys[i].id);
            }
        }
        MPI_Scatterv(allrows, counts, displs, MPI_INT64_T, rows, cnt, MPI_INT64_T, 0, ctx->comm);
        err = tsr_ctx_agree(ctx, err);
    }
    free(ids);
    free(counts);
    free(displs);
    free(all);
    free(allrows);
    free(keys);
    if (err) {
        free(rows);
        return err;
    }
    *rows_out = rows;
    return TSR_SUCCESS;
}

/* The datasets of a file: id, position, velocity, then the components. */
#define NFIXED 3

static bool write_root_attrs(tsr_particles p, hid_t file, const tsr_io_meta *meta, int64_t n) {
    return tsr__h5_run_attrs(file, layout_of(p), p->ctx->size, meta) &&
           tsr__h5_attr_write(file, "count", H5T_NATIVE_INT64, 0, &n);
}

/* Rank 0: the file's groups, attributes and datasets, their space allocated (not filled), and
 * where each dataset's data starts. */
static int layout(tsr_particles p, const char *tmp, const char *path, const tsr_io_meta *meta,
                  int64_t n, int64_t *offsets) {
    tsr_ctx ctx = p->ctx;
    int nc = p->nreal + p->nint;
    char names[128][TSR__PNAME_MAX];
    const char *rn[64], *in[64];
    for (int k = 0; k < nc; k++) {
        tsr__pcomp_name(p, k, names[k], TSR__PNAME_MAX);
        if (k < p->nreal)
            rn[k] = names[k];
        else
            in[k - p->nreal] = names[k];
    }
    int e = tsr__file_tmp_clear(tmp);
    TSR_CHECK(ctx, e == 0, TSR_ERR_IO, "cannot write '%s': %s", tmp, strerror(e));
    errno = 0;
    hid_t file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t grp = file >= 0 ? H5Gcreate2(file, "particles", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)
                          : H5I_INVALID_HID;
    bool ok = grp >= 0 && write_root_attrs(p, file, meta, n) &&
              tsr__h5_attr_strings(grp, "real_components", p->nreal, rn) &&
              tsr__h5_attr_strings(grp, "int_components", p->nint, in);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER); /* every row is written by its rank */
    for (int k = 0; k < NFIXED + nc && ok; k++) {
        hsize_t dims[2] = {(hsize_t)n, 3};
        bool vec = k == 1 || k == 2;
        bool integer = k == 0 || k >= NFIXED + p->nreal;
        const char *name = k == 0   ? "id"
                           : k == 1 ? "position"
                           : k == 2 ? "velocity"
                                    : names[k - NFIXED];
        hid_t sp = H5Screate_simple(vec ? 2 : 1, dims, NULL);
        hid_t ds = H5Dcreate2(grp, name, integer ? H5T_STD_I64LE : H5T_IEEE_F64LE, sp, H5P_DEFAULT,
                              dcpl, H5P_DEFAULT);
        haddr_t at = ds >= 0 && n > 0 ? H5Dget_offset(ds) : 0;
        ok = ds >= 0 && at != HADDR_UNDEF && at <= (haddr_t)INT64_MAX;
        offsets[k] = (int64_t)at;
        if (ds >= 0)
            H5Dclose(ds);
        H5Sclose(sp);
    }
    H5Pclose(dcpl);
    if (grp >= 0)
        H5Gclose(grp);
    if (file >= 0)
        ok = H5Fclose(file) >= 0 && ok;
    if (!ok) {
        char why[256];
        tsr__h5_reason(why, sizeof why);
        unlink(tmp);
        TSR_CHECK(ctx, 0, TSR_ERR_IO, "cannot write '%s': %s", path, why);
    }
    return TSR_SUCCESS;
}

static int write_all(int fd, const char *buf, size_t len, off_t at) {
    while (len > 0) {
        ssize_t w = pwrite(fd, buf, len, at);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? errno : EIO;
        buf += w;
        len -= (size_t)w;
        at += w;
    }
    return 0;
}

static int row_cmp(const void *a, const void *b) {
    const int64_t *x = a, *y = b; /* (row, local index) pairs */
    return (x[0] > y[0]) - (x[0] < y[0]);
}

/* This rank's rows of every dataset, sorted by file row and written as runs of consecutive
 * rows. Returns an errno value (0: done). */
static int write_rows(tsr_particles p, const char *tmp, const int64_t *rows,
                      const int64_t *offsets) {
    int64_t m = tsr_particles_local_count(p);
    if (m == 0)
        return 0;
    int words = TSR__PWORDS(p);
    int64_t *cols = malloc((size_t)m * (size_t)words * 8), *order = malloc((size_t)m * 16),
            *buf = malloc((size_t)m * 24);
    int e = cols && order && buf ? 0 : ENOMEM;
    int fd = e ? -1 : open(tmp, O_WRONLY | O_CLOEXEC);
    if (!e && fd < 0)
        e = errno;
    if (!e) {
        for (int k = 0; k < words; k++)
            gather_col(p, k, cols + (size_t)k * (size_t)m);
        for (int64_t i = 0; i < m; i++) {
            order[2 * i] = rows[i];
            order[2 * i + 1] = i;
        }
        qsort(order, (size_t)m, 16, row_cmp);
    }
    for (int k = 0; !e && k < NFIXED + p->nreal + p->nint; k++) {
        int w = k == 1 || k == 2 ? 3 : 1;
        int first = k == 0 ? 0 : k == 1 ? 1 : k == 2 ? 4 : 7 + (k - NFIXED);
        for (int64_t j = 0; j < m; j++)
            for (int c = 0; c < w; c++)
                buf[j * w + c] = cols[(size_t)(first + c) * (size_t)m + (size_t)order[2 * j + 1]];
        for (int64_t j0 = 0, j1; !e && j0 < m; j0 = j1) {
            for (j1 = j0 + 1; j1 < m && order[2 * j1] == order[2 * (j1 - 1)] + 1; j1++)
                ;
            e = write_all(fd, (const char *)(buf + j0 * w), (size_t)((j1 - j0) * w) * 8,
                          (off_t)(offsets[k] + order[2 * j0] * w * 8));
        }
    }
    if (!e && fsync(fd) != 0)
        e = errno;
    if (fd >= 0 && close(fd) != 0 && !e)
        e = errno;
    free(cols);
    free(order);
    free(buf);
    return e;
}

static void xml_text(FILE *out, const char *s) {
    for (; *s; s++) {
        const char *r = *s == '&'    ? "&amp;"
                        : *s == '<'  ? "&lt;"
                        : *s == '>'  ? "&gt;"
                        : *s == '"'  ? "&quot;"
                        : *s == '\'' ? "&apos;"
                                     : NULL;
        if (r)
            fputs(r, out);
        else
            fputc(*s, out);
    }
}

static void xdmf_item(FILE *f, const char *pad, const char *file, const char *name, int64_t n,
                      int w, bool integer) {
    if (w > 1)
        fprintf(f, "%s    <DataItem Dimensions=\"%lld %d\"", pad, (long long)n, w);
    else
        fprintf(f, "%s    <DataItem Dimensions=\"%lld\"", pad, (long long)n);
    fprintf(f, " NumberType=\"%s\" Precision=\"8\" Format=\"HDF\">", integer ? "Int" : "Float");
    xml_text(f, file);
    fprintf(f, ":/particles/%s</DataItem>\n", name);
}

/* One Polyvertex grid of the n points of `file` (a base name), at `time`, indented by `pad`. */
static void xdmf_grid(FILE *f, tsr_particles p, const char *file, int64_t n, double time,
                      const char *run_id, const char *pad) {
    fprintf(f, "%s<Grid Name=\"particles\" GridType=\"Uniform\">\n", pad);
    fprintf(f, "%s  <Time Value=\"%.17g\"/>\n", pad, time);
    if (run_id) {
        fprintf(f, "%s  <Information Name=\"run_id\" Value=\"", pad);
        xml_text(f, run_id);
        fprintf(f, "\"/>\n");
    }
    fprintf(f,
            "%s  <Topology TopologyType=\"Polyvertex\" NumberOfElements=\"%lld\" "
            "NodesPerElement=\"1\"/>\n%s  <Geometry GeometryType=\"XYZ\">\n",
            pad, (long long)n, pad);
    xdmf_item(f, pad, file, "position", n, 3, false);
    fprintf(f, "%s  </Geometry>\n", pad);
    for (int k = -2; k < p->nreal + p->nint; k++) {
        char name[TSR__PNAME_MAX];
        if (k >= 0)
            tsr__pcomp_name(p, k, name, sizeof name);
        else
            snprintf(name, sizeof name, "%s", k == -2 ? "id" : "velocity");
        fprintf(f, "%s  <Attribute Name=\"%s\" AttributeType=\"%s\" Center=\"Node\">\n", pad, name,
                k == -1 ? "Vector" : "Scalar");
        xdmf_item(f, pad, file, name, n, k == -1 ? 3 : 1, k == -2 || k >= p->nreal);
        fprintf(f, "%s  </Attribute>\n", pad);
    }
    fprintf(f, "%s</Grid>\n", pad);
}

/* Rank 0: the sidecar of points. */
static int write_xdmf(tsr_particles p, const char *xmf, const char *path, bool force,
                      const tsr_io_meta *meta, int64_t n) {
    tsr_ctx ctx = p->ctx;
    const char *slash = strrchr(path, '/');
    const char *file = slash ? slash + 1 : path;
    tsr_file_out out;
    TSR_CALL(ctx, tsr_file_open(ctx, xmf, force, &out));
    FILE *f = out.fp;
    fprintf(f, "<?xml version=\"1.0\" ?>\n<Xdmf Version=\"3.0\">\n  <Domain>\n");
    xdmf_grid(f, p, file, n, meta ? meta->time : 0.0, meta ? meta->run_id : NULL, "    ");
    fprintf(f, "  </Domain>\n</Xdmf>\n");
    int err = tsr_file_commit(ctx, &out);
    if (err)
        tsr_file_abandon(&out);
    return err;
}

int tsr__particles_write_series(tsr_particles p, const char *xmf, int n, const char *const *files,
                                const int64_t *counts, const double *times, const char *run_id) {
    tsr_ctx ctx = p->ctx;
    tsr_file_out out;
    TSR_CALL(ctx, tsr_file_open(ctx, xmf, true, &out));
    FILE *f = out.fp;
    fprintf(f, "<?xml version=\"1.0\" ?>\n<Xdmf Version=\"3.0\">\n  <Domain>\n");
    fprintf(f, "    <Grid Name=\"series\" GridType=\"Collection\" CollectionType=\"Temporal\">\n");
    if (run_id) {
        fprintf(f, "      <Information Name=\"run_id\" Value=\"");
        xml_text(f, run_id);
        fprintf(f, "\"/>\n");
    }
    for (int i = 0; i < n; i++)
        xdmf_grid(f, p, files[i], counts[i], times[i], NULL, "      ");
    fprintf(f, "    </Grid>\n  </Domain>\n</Xdmf>\n");
    int err = tsr_file_commit(ctx, &out);
    if (err)
        tsr_file_abandon(&out);
    return err;
}

int tsr_particles_write(tsr_particles p, const char *path, bool force, const tsr_io_meta *meta,
                        const char *xmf) {
    if (!p)
        return TSR_ERR_ARG;
    tsr_ctx ctx = p->ctx;
    tsr__h5_quiet();
    TSR_CHECK(ctx, path && *path && strlen(path) < TSR_PATH_MAX, TSR_ERR_ARG,
              "a particle file needs a path of 1 to %d characters", TSR_PATH_MAX - 1);
    TSR_CHECK(ctx, !xmf || tsr__file_same_dir(xmf, path), TSR_ERR_ARG,
              "'%s' must be in the directory of '%s', which it refers to by name", xmf, path);
    const char *whats[2] = {"particle file", "particle XDMF file"};
    const char *paths[2] = {path, xmf};
    TSR_CALL(ctx, tsr_file_check_outputs(ctx, xmf ? 2 : 1, whats, paths, force));
    double t0 = tsr_wtime();
    int64_t n = 0, *rows = NULL;
    TSR_CALL(ctx, file_rows(p, &n, &rows));
    char tmp[TSR_FILE_TMP_MAX];
    tsr_file_tmp_name(path, tmp, sizeof tmp);
    int64_t offsets[NFIXED + 128];
    int nd = NFIXED + p->nreal + p->nint;
    int err = ctx->rank == 0 ? layout(p, tmp, path, meta, n, offsets) : TSR_SUCCESS;
    err = tsr_ctx_agree(ctx, err);
    if (!err)
        MPI_Bcast(offsets, nd, MPI_INT64_T, 0, ctx->comm);
    if (!err) {
        int e = write_rows(p, tmp, rows, offsets);
        err = e ? tsr_error_set(ctx, TSR_ERR_IO, __FILE__, __LINE__, __func__,
                                "cannot write '%s': %s", path, strerror(e))
                : TSR_SUCCESS;
        err = tsr_ctx_agree(ctx, err);
    }
    free(rows);
    /* Every rank has written, synced and closed its rows before the file gets its name. */
    if (ctx->rank == 0) {
        if (!err)
            err = tsr_file_publish(ctx, tmp, path, force);
        else
            unlink(tmp);
        if (!err && xmf)
            err = write_xdmf(p, xmf, path, force, meta, n);
    }
    tsr_ctx_timer_add(ctx, TSR_TIMER_IO, tsr_wtime() - t0);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    return TSR_SUCCESS;
}
