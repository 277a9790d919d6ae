/* The run machinery that field runs (run.c, run_load.c) and particle runs (particles_run.c)
 * share: stop signals, the output series behind the XDMF index, the paths a run writes (checked
 * and locked at start) and the wall-clock checkpoint verdict. */
#ifndef TESSERA_RUNIO_IMPL_H
#define TESSERA_RUNIO_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "h5_impl.h"
#include "tessera/file.h"
#include "tessera/run.h"

/* SIGTERM and SIGUSR1 handlers, installed once per process and never removed (a signal after
 * the checkpoint, while the run ends, must not turn exit status 3 into death by SIGTERM); they
 * only set a flag, which the loop reads where its ranks agree anyway. */
void tsr__runio_signals_install(void);
/* Forgets a signal seen before (a new loop starts). */
void tsr__runio_signals_reset(void);
/* The signal received since the reset, 0 if none. */
int tsr__runio_signal(void);

/* Rank 0's list of the files of an output series (by base name: the .xmf sits next to them). */
typedef struct tsr__series {
    int n, cap;
    char (*files)[TSR_OPT_STRLEN + 64];
    int64_t *steps;
    double *times;
    int64_t *counts; /* particle series: points per file */
} tsr__series;

/* PREFIX_<step>.h5, the output file of a step. */
void tsr__runio_output_path(const char *prefix, int64_t step, char *path, size_t len);
/* What the output of step `step` is written as: path PREFIX_<step>.h5 (plen chars), the series'
 * index xmf PREFIX.xmf (xlen chars), and *meta the run's `base` at that step and time step * dt. */
void tsr__runio_output_at(const char *prefix, int64_t step, double dt, const tsr_io_meta *base,
                          char *path, size_t plen, char *xmf, size_t xlen, tsr_io_meta *meta);
/* Appends a file to the series (count: its points, 0 for fields). Local. */
int tsr__series_add(tsr__series *sr, const char *path, int64_t step, double time, int64_t count,
                    tsr_ctx ctx);
void tsr__series_free(tsr__series *sr);

/* Rank 0, after a restart: is step s of the output series on disk and this run's (its run_id)?
 * Its path into `path` either way. Another run's file of the same name (the series was replaced
 * with --force) is never listed as this run's. */
bool tsr__runio_own_output(const tsr_run_opts *o, int64_t s, const char *run_id, char *path,
                           size_t len);

/* Rank 0: every path of a run checked and locked before anything is computed: the output
 * series (no file of it replaced without --force, except this run's own, by run_id, after a
 * restart; PREFIX.tessera.lock taken) and, when the run checkpoints or restarts from latest, the
 * checkpoint directory (made; a fresh run refuses another run's checkpoints without --force;
 * DIR/.tessera.lock taken). `steps` is the run's last step, `from` its first. */
int tsr__runio_prepare_paths(tsr_ctx ctx, const tsr_run_opts *o, const char *run_id, int64_t steps,
                             int64_t from, bool fresh, tsr_lock *output_lock,
                             tsr_lock *checkpoint_lock);

/* Before a checkpoint: a run that did not plan checkpoints (a signal's) makes and locks the
 * directory now; a failure then is TSR_ERR_IO. Agreed. Collective. */
int tsr__runio_checkpoint_dir(tsr_ctx ctx, const tsr_run_opts *o, tsr_lock *checkpoint_lock);

/* Rank 0's verdict: is a wall-clock checkpoint due at `now`, the last one at `last`? */
bool tsr__runio_seconds_due(const tsr_run_opts *o, double last, double now);

/* Rank 0's look at the checkpoint a run restarts from, before it takes its paths. */
typedef int (*tsr__runio_check_fn)(tsr_ctx ctx, const char *path, const tsr__file_meta *m,
                                   void *user);

/* The start every run shares, collective: with --restart, the checkpoint resolved into `path`
 * (len chars) and its metadata read on rank 0 (its grid checked against lay, then `check`, which
 * may be NULL); the run's identity into run_id on every rank (new, or the checkpoint's); the
 * paths checked and locked by rank 0 (tsr__runio_prepare_paths, `steps` the last step). *from
 * receives the checkpoint's step on every rank (0 for a fresh run). */
int tsr__runio_begin(tsr_ctx ctx, const tsr_run_opts *o, const tsr__layout *lay, int64_t steps,
                     tsr__runio_check_fn check, void *user, char *path, size_t len, char run_id[32],
                     int64_t *from, tsr_lock *output_lock, tsr_lock *checkpoint_lock);

#endif
