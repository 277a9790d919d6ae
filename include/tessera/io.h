/* HDF5 files of fields (global datasets in natural order, written and read by every rank for its
 * own blocks), XDMF series, checkpoints. */
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
    const char *run_id;       /* the run's identity (tsr_run_id_new), carried across restarts */
    double origin[3];         /* physical position of the grid's low corner (x, y, z); 0 */
    double spacing[3];        /* physical cell size (x, y, z); 0 means 1 */
    const char *length_units; /* units of origin and spacing, e.g. "m" (NULL: not recorded) */
    /* Dataset name of each field written (NULL, or a NULL entry: the field's own name), so that
     * a state whose handles rotate is written under stable names. */
    const char *const *names;
} tsr_io_meta;

/* Writes fields (all on one map) into one HDF5 file: /fields/<name>, float64, shape (NX), (NY, NX)
 * or (NZ, NY, NX), with x, y, z cell-centre coordinates as dimension scales. A field of ncomp > 1
 * components has them last, (NY, NX, ncomp) etc. in C order, numbered by the dimension scale
 * "component" ("component<ncomp>" when the file mixes counts), with its component names (if set)
 * in the attribute component_names. Rank 0 lays the file
 * out; each rank writes its blocks' cells into place with positioned writes. Root
 * attributes: grid size (x, y, z order), periodicity, step, time, blocks, map, ranks, app,
 * tessera version, command line, run options, run id. The file is written as "<path>.tessera.tmp"
 * and renamed only once complete on every rank; an existing file is never replaced unless
 * `overwrite`. A failure anywhere (a full disk, EIO) is agreed by every rank before the next
 * collective call: TSR_ERR_IO on every rank, naming the file and the system's reason, and the
 * temporary file removed. Collective. */
int tsr_io_write(const char *path, tsr_field *fields, int nfields, const tsr_io_meta *meta,
                 bool overwrite);

/* Reads `dataset` (e.g. "/fields/u") of `path` into the owned cells of f, whatever the
 * decomposition that wrote it. The dataset must have the grid's shape (followed by f's component
 * count for a field of several components) and be float64 or float32
 * (converted) with finite values. Rank 0 checks the file first (a regular file, not locked by a
 * writer, HDF5, the right shape and type), so a missing, truncated, mismatched or non-finite file
 * gives TSR_ERR_INPUT on every rank, with one message naming the file and the problem (and the
 * first non-finite cell). Collective. */
int tsr_io_read(tsr_field f, const char *path, const char *dataset);

/* Reads the step, time, app and run options recorded in a file written by tsr_io_write, and
 * checks that its grid is f's grid. app and run_options (buffers of `len` chars) may be NULL.
 * Collective. */
int tsr_io_read_meta(tsr_field f, const char *path, int64_t *step, double *time, char *app,
                     char *run_options, int len);

/* Writes an XDMF file (rank 0) describing a time series of n files written by tsr_io_write, each
 * holding the named fields, so ParaView and VisIt open it directly: cell-centred values on an
 * image with x, y and z along the viewer's axes (1D and 2D grids one cell thick along the
 * missing axes), meta's origin and spacing (meta may be NULL: origin 0, cells of size 1), and
 * meta's run id. `files` are paths as the .xmf should refer to them (relative to the .xmf); names
 * and paths are XML-escaped. Each field's component count is read from the newest file (a field
 * missing there counts as `like` if it has like's name, else as a scalar): 3 components are an
 * XDMF Vector, other counts > 1 a Matrix (ParaView: an array of that many components). The file is
 * replaced atomically (it is rewritten as a series grows). Collective. */
int tsr_io_write_xdmf(tsr_field like, const char *xmf_path, int n, const char *const *files,
                      const int64_t *steps, const double *times, int nfields,
                      const char *const *names, const tsr_io_meta *meta);

/* Writes a checkpoint of the fields into dir (made if missing) as ckpt_<step, 6 digits>.h5,
 * atomically (tsr_io_write): a crash or a full disk never leaves a partial file under a final
 * name, and the previous checkpoints stay. Then keeps the newest `keep` checkpoints of this run
 * (meta->run_id) and deletes its older ones; other runs' checkpoints are never deleted or
 * replaced. path (len chars, may be NULL) receives the file's name. Collective. */
int tsr_checkpoint_write(const char *dir, int64_t keep, tsr_field *fields, int nfields,
                         const tsr_io_meta *meta, char *path, int len);

/* Resolves "latest" (the newest readable checkpoint in dir; when the newest is damaged, the one
 * before it, with a warning) or a file name (a readable regular file) into path. TSR_ERR_INPUT
 * when there is none. Collective. */
int tsr_checkpoint_resolve(tsr_ctx ctx, const char *dir, const char *which, char *path, int len);

/* Restores fields from a checkpoint: checks it was written by `app` on the same grid with a
 * valid step, fills the fields (any decomposition) and returns its step, time, run options and
 * run identity (run_id, id_len chars, may be NULL). A checkpoint of another app or grid is
 * TSR_ERR_INPUT. Collective. */
int tsr_checkpoint_read(const char *path, const char *app, tsr_field *fields, int nfields,
                        int64_t *step, double *time, char *run_options, int len, char *run_id,
                        int id_len);

#ifdef __cplusplus
}
#endif
#endif
