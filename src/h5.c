/* HDF5 helpers: quiet stacks, attributes, failure reasons, rank 0's serial checks. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "h5_impl.h"
#include "tessera/file.h"

void tsr__h5_quiet(void) {
    const char *d = getenv("TESSERA_DEBUG");
    if (!(d && *d && strcmp(d, "0") != 0))
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

typedef struct reason {
    char text[256];
    bool os; /* text came from an errno message */
} reason;

static herr_t reason_walk(unsigned n, const H5E_error2_t *e, void *data) {
    (void)n;
    reason *r = data;
    const char *d = e->desc ? e->desc : "";
    const char *m = strstr(d, "error message = '");
    if (m && !r->os) {
        m += strlen("error message = '");
        size_t k = strcspn(m, "'");
        snprintf(r->text, sizeof r->text, "%.*s", (int)k, m);
        r->os = true;
    } else if (!r->os && !r->text[0] && *d) {
        snprintf(r->text, sizeof r->text, "%s", d);
    }
    return 0;
}

void tsr__h5_reason(char *buf, size_t len) {
    int saved = errno;
    reason r = {{0}, false};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, reason_walk, &r);
    if (!r.os && saved)
        snprintf(buf, len, "%s", strerror(saved));
    else
        snprintf(buf, len, "%s", r.text[0] ? r.text : "HDF5 error");
    H5Eclear2(H5E_DEFAULT);
}

bool tsr__h5_attr_write(hid_t loc, const char *name, hid_t type, int n, const void *v) {
    hsize_t dim = (hsize_t)n;
    /* n = 0: one value as a scalar, as readers expect of step and time. */
    hid_t sp = n == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL);
    hid_t a = sp >= 0 ? H5Acreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT) : -1;
    bool ok = a >= 0 && H5Awrite(a, type, v) >= 0;
    if (a >= 0)
        ok = H5Aclose(a) >= 0 && ok;
    if (sp >= 0)
        H5Sclose(sp);
    return ok;
}

bool tsr__h5_attr_string(hid_t loc, const char *name, const char *v) {
    if (!v)
        return true;
    /* Variable-length UTF-8: what h5py hands back as str (fixed-length strings come back as
     * bytes) and what netCDF readers expect. */
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    bool ok = a >= 0 && H5Awrite(a, t, &v) >= 0;
    if (a >= 0)
        ok = H5Aclose(a) >= 0 && ok;
    H5Sclose(sp);
    H5Tclose(t);
    return ok;
}

bool tsr__h5_attr_strings(hid_t loc, const char *name, int n, const char *const *v) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hsize_t dim = (hsize_t)n;
    hid_t sp = H5Screate_simple(1, &dim, NULL);
    hid_t a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    bool ok = a >= 0 && H5Awrite(a, t, v) >= 0;
    if (a >= 0)
        ok = H5Aclose(a) >= 0 && ok;
    H5Sclose(sp);
    H5Tclose(t);
    return ok;
}

bool tsr__h5_attr_read_string(hid_t loc, const char *name, char *out, int len) {
    out[0] = '\0';
    if (H5Aexists(loc, name) <= 0)
        return false;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0)
        return false;
    hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
    bool ok = ft >= 0 && H5Tget_class(ft) == H5T_STRING && H5Sget_simple_extent_npoints(sp) == 1;
    if (ok && H5Tis_variable_str(ft) > 0) {
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        H5Tset_cset(t, H5Tget_cset(ft));
        char *s = NULL;
        ok = H5Aread(a, t, &s) >= 0 && s;
        if (ok)
            snprintf(out, (size_t)len, "%s", s);
        if (s)
            H5free_memory(s);
        H5Tclose(t);
    } else if (ok) {
        /* One byte more than stored, null-terminated: a null-padded string of exactly `size`
         * characters (h5py's fixed-length strings) keeps its last character. */
        size_t size = H5Tget_size(ft);
        ok = size + 1 <= (size_t)len;
        if (ok) {
            hid_t t = H5Tcopy(H5T_C_S1);
            H5Tset_size(t, size + 1);
            H5Tset_strpad(t, H5T_STR_NULLTERM);
            H5Tset_cset(t, H5Tget_cset(ft));
            ok = H5Aread(a, t, out) >= 0;
            out[size] = '\0';
            H5Tclose(t);
        }
    }
    if (sp >= 0)
        H5Sclose(sp);
    if (ft >= 0)
        H5Tclose(ft);
    H5Aclose(a);
    if (!ok)
        out[0] = '\0';
    return ok;
}

bool tsr__h5_attr_read(hid_t loc, const char *name, hid_t type, int n, void *v) {
    if (H5Aexists(loc, name) <= 0)
        return false;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0)
        return false;
    hid_t sp = H5Aget_space(a), ft = H5Aget_type(a);
    H5T_class_t c = H5Tget_class(ft);
    bool ok = (c == H5T_INTEGER || c == H5T_FLOAT) && H5Sget_simple_extent_npoints(sp) == n &&
              H5Aread(a, type, v) >= 0;
    H5Tclose(ft);
    H5Sclose(sp);
    H5Aclose(a);
    return ok;
}

int tsr__h5_open_serial(tsr_ctx ctx, const char *what, const char *path, hid_t *file) {
    tsr__h5_quiet();
    TSR_CALL(ctx, tsr_file_check_input(ctx, what, path));
    /* HDF5 writers hold an exclusive flock on their file: say so, rather than call the file
     * corrupt. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    TSR_CHECK(ctx, fd >= 0, TSR_ERR_INPUT, "cannot read '%s': %s", path, strerror(errno));
    bool locked = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    TSR_CHECK(ctx, !locked, TSR_ERR_INPUT,
              "'%s' is locked by another program that is writing it; try again when it is done",
              path);
    TSR_CHECK(ctx, H5Fis_hdf5(path) > 0, TSR_ERR_INPUT,
              "'%s' is not an HDF5 file (or is truncated or corrupt)", path);
    *file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    TSR_CHECK(ctx, *file >= 0, TSR_ERR_INPUT, "cannot open '%s': truncated or corrupt HDF5 file",
              path);
    return TSR_SUCCESS;
}

int tsr__h5_read_meta(tsr_ctx ctx, const tsr__layout *lay, const char *path, tsr__file_meta *m) {
    hid_t file;
    TSR_CALL(ctx, tsr__h5_open_serial(ctx, "file", path, &file));
    int64_t n[TSR_MAX_DIM] = {0, 0, 0};
    bool ok = tsr__h5_attr_read(file, "grid_size", H5T_NATIVE_INT64, lay->ndim, n) &&
              tsr__h5_attr_read(file, "step", H5T_NATIVE_INT64, 1, &m->step) &&
              tsr__h5_attr_read(file, "time", H5T_NATIVE_DOUBLE, 1, &m->time);
    tsr__h5_attr_read_string(file, "app", m->app, sizeof m->app);
    tsr__h5_attr_read_string(file, "run_options", m->run_options, sizeof m->run_options);
    tsr__h5_attr_read_string(file, "run_id", m->run_id, sizeof m->run_id);
    H5Fclose(file);
    TSR_CHECK(ctx, ok, TSR_ERR_INPUT,
              "'%s' is not a tessera file of a %dD grid (grid_size, step or time missing)", path,
              lay->ndim);
    for (int d = 0; d < lay->ndim; d++)
        TSR_CHECK(ctx, n[d] == lay->n[d], TSR_ERR_INPUT,
                  "'%s' holds a grid of %lld cells along %c, this run has %lld", path,
                  (long long)n[d], "xyz"[d], (long long)lay -> n[d]);
    TSR_CHECK(ctx, m->step >= 0, TSR_ERR_INPUT, "'%s' records step %lld; a step cannot be negative",
              path, (long long)m->step);
    TSR_CHECK(ctx, m->time == m->time, TSR_ERR_INPUT, "'%s' records time NaN", path);
    return TSR_SUCCESS;
}

bool tsr__h5_run_id(const char *path, char *id, int len) {
    id[0] = '\0';
    tsr__h5_quiet();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return false;
    tsr__h5_attr_read_string(f, "run_id", id, len);
    H5Fclose(f);
    return true;
}

int tsr__h5_file_dims(const tsr__layout *lay, hsize_t dims[3]) {
    for (int d = 0; d < lay->ndim; d++)
        dims[d] = (hsize_t)lay->n[lay->ndim - 1 - d];
    return lay->ndim;
}

bool tsr__h5_run_attrs(hid_t file, const tsr__layout *lay, int nranks, const tsr_io_meta *meta) {
    int per[TSR_MAX_DIM];
    for (int d = 0; d < TSR_MAX_DIM; d++)
        per[d] = lay->periodic[d];
    int64_t step = meta ? meta->step : 0;
    double time = meta ? meta->time : 0;
    bool ok = tsr__h5_attr_write(file, "grid_size", H5T_NATIVE_INT64, lay->ndim, lay->n) &&
              tsr__h5_attr_write(file, "periodic", H5T_NATIVE_INT, lay->ndim, per) &&
              tsr__h5_attr_write(file, "ranks", H5T_NATIVE_INT, 0, &nranks) &&
              tsr__h5_attr_write(file, "step", H5T_NATIVE_INT64, 0, &step) &&
              tsr__h5_attr_write(file, "time", H5T_NATIVE_DOUBLE, 0, &time) &&
              tsr__h5_attr_string(file, "tessera_version", TESSERA_VERSION);
    if (ok && meta)
        ok = tsr__h5_attr_string(file, "app", meta->app) &&
             tsr__h5_attr_string(file, "command_line", meta->command_line) &&
             tsr__h5_attr_string(file, "run_options", meta->run_options) &&
             tsr__h5_attr_string(file, "run_id", meta->run_id);
    return ok;
}
