/* Private HDF5 helpers shared by the io and checkpoint modules: quiet error stacks, attributes,
 * the OS reason behind a failure, and rank 0's serial look at a file before any collective open. */
#ifndef TESSERA_H5_IMPL_H
#define TESSERA_H5_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include <hdf5.h>

#include "context_impl.h"
#include "layout_impl.h"
#include "tessera/io.h"

/* Hides HDF5's error stack unless TESSERA_DEBUG is set. */
void tsr__h5_quiet(void);
/* The most specific reason HDF5's error stack (or errno) gives for the last failure, e.g.
 * "No space left on device". */
void tsr__h5_reason(char *buf, size_t len);

/* Attribute writers; return false on failure. n numbers as an array, or n = 0 for a scalar. */
bool tsr__h5_attr_write(hid_t loc, const char *name, hid_t type, int n, const void *v);
bool tsr__h5_attr_string(hid_t loc, const char *name, const char *v);
/* n strings as a 1D array of variable-length UTF-8 strings (h5py reads a list of str). */
bool tsr__h5_attr_strings(hid_t loc, const char *name, int n, const char *const *v);
/* Reads a string attribute of any form (fixed length null-terminated or null-padded, or
 * variable length, as h5py writes) into out (len chars). False if absent or not a string. */
bool tsr__h5_attr_read_string(hid_t loc, const char *name, char *out, int len);
/* Reads n numbers (converted to `type`). False if absent or of another size. */
bool tsr__h5_attr_read(hid_t loc, const char *name, hid_t type, int n, void *v);

/* The root attributes every tessera file carries: grid_size, periodic, ranks, step, time and
 * tessera_version, then app, command_line, run_options and run_id when meta is given. */
bool tsr__h5_run_attrs(hid_t file, const tsr__layout *lay, int nranks, const tsr_io_meta *meta);

/* Rank 0 opens a file alone and read-only, after checking that it is a readable regular file,
 * not locked by a writer, and HDF5. Every problem is TSR_ERR_INPUT naming the file. */
int tsr__h5_open_serial(tsr_ctx ctx, const char *what, const char *path, hid_t *file);

/* What a tessera file records besides its fields. */
typedef struct tsr__file_meta {
    int64_t step;
    double time;
    char app[256];
    char run_options[1024];
    char run_id[32];
} tsr__file_meta;

/* Rank 0: reads a tessera file's metadata and checks that its grid is lay's. TSR_ERR_INPUT. */
int tsr__h5_read_meta(tsr_ctx ctx, const tsr__layout *lay, const char *path, tsr__file_meta *m);

/* Rank 0: the run identity recorded in a file ("" when it has none). False when the file cannot
 * be opened as HDF5 at all. */
bool tsr__h5_run_id(const char *path, char *id, int len);

/* File-space shape, slowest first: (NZ, NY, NX) for 3D. Returns the rank. */
int tsr__h5_file_dims(const tsr__layout *lay, hsize_t dims[3]);

/* This rank's owned cells of every field into the laid-out file fd at the datasets' offsets
 * (x fastest, slowest dimension first; components fastest of all) by positioned writes. Returns
 * 0 or an errno. Not collective. (io_rows.c) */
int tsr__io_write_rows(tsr_field *fields, int nfields, int fd, const int64_t *offsets);

/* This rank's blocks of f from dataset dset. False on failure, with HDF5's
 * stack or errno telling why. Independent reads, not collective. (io_rows.c) */
bool tsr__io_read_blocks(tsr_field f, hid_t dset);

#endif
