/* Parallel HDF5: fields as global datasets in natural order, XDMF series, checkpoints. */
#ifndef TESSERA_IO_H
#define TESSERA_IO_H

#include <stdbool.h>
#include <stdint.h>

#include "field.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a file records besides the fields. Strings are copied; NULL means "not recorded". */
typedef struct tsr_io_meta {
    const char *app;          /* program that wrote it, e.g. "tessera-heat" */
    int64_t step;             /* time step of the state */
    double time;              /* simulated time of the state */
    const char *command_line; /* the run's command line */
    const char *run_options;  /* options that define the run, e.g. "alpha=0.2 boundary=0" */
} tsr_io_meta;

/* Writes fields (all on one map) into one HDF5 file: /fields/<name>, float64, shape (NX), (NY, NX)
 * or (NZ, NY, NX), each rank writing its blocks' hyperslabs with collective MPI-IO. Root
 * attributes: grid size (x, y, z order), periodicity, step, time, blocks, map, ranks, app,
 * tessera version, command line, run options. An existing file is refused unless `overwrite`.
 * Collective. */
int tsr_io_write(const char *path, tsr_field *fields, int nfields, const tsr_io_meta *meta,
                 bool overwrite);

/* Reads `dataset` (e.g. "/fields/u") of `path` into the owned cells of f, whatever the
 * decomposition that wrote it. The dataset must have the grid's shape and be float64 or float32
 * (converted). Rank 0 checks the file first, so a missing, truncated or mismatched file gives one
 * message naming the file and the problem, on every rank. Collective. */
int tsr_io_read(tsr_field f, const char *path, const char *dataset);

/* Reads the step, time, app and run options recorded in a file written by tsr_io_write, and
 * checks that its grid is f's grid. app and run_options (buffers of `len` chars) may be NULL.
 * Collective. */
int tsr_io_read_meta(tsr_field f, const char *path, int64_t *step, double *time, char *app,
                     char *run_options, int len);

/* Writes an XDMF file (rank 0) describing a time series of n files written by tsr_io_write, each
 * holding the named fields, so ParaView and VisIt open it directly. `files` are paths as the
 * .xmf should refer to them (relative to the .xmf). Collective. */
int tsr_io_write_xdmf(tsr_field like, const char *xmf_path, int n, const char *const *files,
                      const int64_t *steps, const double *times, int nfields,
                      const char *const *names);

/* Writes a checkpoint of the fields into dir as ckpt_<step, 6 digits>.h5: first under a
 * temporary name, flushed and closed, then renamed, so a crash never leaves a partial file under
 * a final name. Keeps the newest `keep` checkpoints and deletes older ones. path (len chars,
 * may be NULL) receives the file's name. Collective. */
int tsr_checkpoint_write(const char *dir, int64_t keep, tsr_field *fields, int nfields,
                         const tsr_io_meta *meta, char *path, int len);

/* Resolves "latest" (the newest complete checkpoint in dir) or a file name into path, checked to
 * exist. Collective. */
int tsr_checkpoint_resolve(tsr_ctx ctx, const char *dir, const char *which, char *path, int len);

/* Restores fields from a checkpoint: checks it was written by `app` on the same grid, fills the
 * fields (any decomposition) and returns its step and time. Collective. */
int tsr_checkpoint_read(const char *path, const char *app, tsr_field *fields, int nfields,
                        int64_t *step, double *time, char *run_options, int len);

#ifdef __cplusplus
}
#endif
#endif
