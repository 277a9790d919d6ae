/* Serial HDF5 helper for the io tests, independent of tessera's I/O code:
 *   h5tool checksum FILE DATASET        prints `checksum <hex>` of the dataset (natural order)
 *   h5tool make FILE DATASET KIND DIMS  writes a dataset: KIND f64|f32|i32, DIMS like 45x67
 *                                       (slowest first), values from the global index */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "checksum") == 0)
        return checksum(argv[2], argv[3]);
    if (argc == 6 && strcmp(argv[1], "make") == 0)
        return make(argv[2], argv[3], argv[4], argv[5]);
    fprintf(stderr, "usage: h5tool checksum FILE DATASET | make FILE DATASET f64|f32|i32 DIMS\n");
    return 2;
}
