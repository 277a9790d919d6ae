/* Serial HDF5 helper for the io tests, independent of tessera's I/O code:
 *   h5tool checksum FILE DATASET        prints `checksum <hex>` of the dataset (natural order)
 *   h5tool make FILE DATASET KIND DIMS  writes a dataset: KIND f64|f32|i32|f64nan|f64inf, DIMS
 *                                       like 45x67 (slowest first), values from the global
 *                                       index (f64nan/f64inf: cell 70 is NaN/+inf)
 *                                       (f64huge: every cell 1.5e308)
 *   h5tool hold FILE SECONDS            keeps FILE open for writing (HDF5 locks it)
 *   h5tool attr FILE NAME KIND VALUE    replaces a root attribute: KIND i64 (scalar), vstr
 *                                       (variable-length string, as h5py writes) or nstr
 *                                       (fixed-length, null-padded, no terminator) */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

static uint64_t splitmix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int checksum(const char *file, const char *dataset) {
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = f >= 0 ? H5Dopen2(f, dataset, H5P_DEFAULT) : -1;
    if (d < 0) {
        fprintf(stderr, "h5tool: cannot open %s:%s\n", file, dataset);
        return 1;
    }
    hid_t sp = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    double *v = malloc(sizeof(double) * (size_t)n);
    if (!v || H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
        fprintf(stderr, "h5tool: cannot read %s:%s\n", file, dataset);
        return 1;
    }
    uint64_t sum = 0;
    for (hssize_t i = 0; i < n; i++) {
        uint64_t bits;
        memcpy(&bits, &v[i], sizeof bits);
        sum += splitmix64(splitmix64((uint64_t)i) ^ bits);
    }
    printf("checksum %016" PRIx64 "\n", sum);
    free(v);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    return 0;
}

static int make(const char *file, const char *dataset, const char *kind, const char *dimstr) {
    hsize_t dims[3];
    int rank = 0;
    for (const char *p = dimstr; *p && rank < 3; rank++) {
        char *end;
        dims[rank] = strtoull(p, &end, 10);
        p = *end ? end + 1 : end;
    }
    hsize_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= dims[i];
    hid_t type = strcmp(kind, "f32") == 0   ? H5T_IEEE_F32LE
                 : strcmp(kind, "i32") == 0 ? H5T_STD_I32LE
                                            : H5T_IEEE_F64LE;
    double *v = malloc(sizeof(double) * n);
    for (hsize_t i = 0; i < n; i++)
        v[i] = (double)(i % 1000) * 0.25;
    if (n > 70 && strcmp(kind, "f64nan") == 0)
        v[70] = NAN;
    if (n > 70 && strcmp(kind, "f64inf") == 0)
        v[70] = INFINITY;
    for (hsize_t i = 0; i < n && strcmp(kind, "f64huge") == 0; i++)
        v[i] = 1.5e308; /* finite, but any sum of two overflows */
    hid_t f = H5Fcreate(file, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(f, "fields", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(f, dataset, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0;
    H5Dclose(d);
    H5Sclose(sp);
    H5Gclose(g);
    H5Fclose(f);
    free(v);
    return rc;
}

static int attr(const char *file, const char *name, const char *kind, const char *value) {
    hid_t f = H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0)
        return 1;
    if (H5Aexists(f, name) > 0)
        H5Adelete(f, name);
    hid_t sp = H5Screate(H5S_SCALAR), t, a;
    int rc;
    if (strcmp(kind, "i64") == 0) {
        long long v = atoll(value);
        a = H5Acreate2(f, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
        rc = H5Awrite(a, H5T_NATIVE_LLONG, &v) < 0;
    } else if (strcmp(kind, "vstr") == 0) {
        t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        H5Tset_cset(t, H5T_CSET_UTF8);
        a = H5Acreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
        rc = H5Awrite(a, t, &value) < 0;
        H5Tclose(t);
    } else {
        t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, strlen(value));
        H5Tset_strpad(t, H5T_STR_NULLPAD);
        a = H5Acreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
        rc = H5Awrite(a, t, value) < 0;
        H5Tclose(t);
    }
    H5Aclose(a);
    H5Sclose(sp);
    H5Fclose(f);
    return rc;
}

static int hold(const char *file, const char *seconds) {
    hid_t f = H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0)
        return 1;
    printf("holding\n");
    fflush(stdout);
    sleep((unsigned)atoi(seconds));
    H5Fclose(f);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "hold") == 0)
        return hold(argv[2], argv[3]);
    if (argc == 6 && strcmp(argv[1], "attr") == 0)
        return attr(argv[2], argv[3], argv[4], argv[5]);
    if (argc == 4 && strcmp(argv[1], "checksum") == 0)
        return checksum(argv[2], argv[3]);
    if (argc == 6 && strcmp(argv[1], "make") == 0)
        return make(argv[2], argv[3], argv[4], argv[5]);
    fprintf(stderr, "usage: h5tool checksum FILE DATASET | make FILE DATASET f64|f32|i32 DIMS\n");
    return 2;
}
