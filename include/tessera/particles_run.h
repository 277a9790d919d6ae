/* Outputs, checkpoints, restart and stop signals around an app's own particle time loop, with
 * the standard options of field runs (tsr_run_add_options):
 *
 *   fresh: add the particles; or --restart: leave the container empty
 *   tsr_particles_run_load -> start
 *   for step = start .. steps - 1:
 *       tsr_particles_rebalance (maybe) -> advance the particles to step + 1
 *       tsr_particles_run_step(step + 1) -> stop when *stopped (exit TSR_EXIT_CHECKPOINTED)
 *   tsr_particles_run_release
 */
#ifndef TESSERA_PARTICLES_RUN_H
#define TESSERA_PARTICLES_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "file.h"
#include "io.h"
#include "particles.h"
#include "run.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the calls share; the caller fills the first four fields and zeroes the rest. */
typedef struct tsr_particles_run {
    tsr_particles p;  /* the particles (the caller's) */
    double dt;        /* simulated time per step: files record step * dt */
    int64_t steps;    /* the last step */
    tsr_io_meta meta; /* app, command line, run options (run_id is set by load) */
    /* Set by tsr_particles_run_load, released by tsr_particles_run_release: */
    char run_id[32];          /* new at a fresh start, the checkpoint's after a restart */
    tsr_lock output_lock;     /* PREFIX.tessera.lock, held by rank 0 */
    tsr_lock checkpoint_lock; /* DIR/.tessera.lock, held by rank 0 */
    double last_checkpoint;   /* wall time of the last checkpoint (or of the load) */
    void *series;             /* rank 0's list of output files */
} tsr_particles_run;

/* Prepares the run as tsr_run_load does for fields: rank 0 checks and locks the output prefix
 * (no file of the series replaced without --force, except this run's own after a restart) and,
 * when checkpointing or restarting from latest, the checkpoint directory (a fresh run refuses
 * another run's checkpoints without --force). A fresh run (no --restart) starts at step 0 with
 * the particles the caller added, and writes PREFIX_000000.h5 when --output-every is set. With
 * --restart FILE|latest (the newest readable checkpoint in --checkpoint-dir) the container must
 * be empty (TSR_ERR_ARG otherwise): the checkpoint's particles are read into it, whatever ranks,
 * blocks or map wrote it (tsr_particles_read: bit for bit, sorted by id in their blocks); a
 * checkpoint of another app (meta.app), with other run options (meta.run_options) or beyond
 * r->steps is refused with TSR_ERR_INPUT. --input is refused (TSR_ERR_INPUT: particle runs have
 * no field input). *start and *time (may be NULL) receive the step and simulated time to go on
 * from. Call tsr_particles_run_release when the run is over, also after an error. Collective. */
int tsr_particles_run_load(tsr_particles_run *r, const tsr_run_opts *o, int64_t *start,
                           double *time);

/* After the step that reached `step`: PREFIX_<step>.h5 (tsr_particles_write, ids ascending)
 * every --output-every steps and at r->steps, each time rewriting PREFIX.xmf, a temporal
 * collection of Polyvertex grids (ParaView shows the series as points); a checkpoint
 * DIR/ckpt_<step>.h5 (the same file, as tsr_particles_write writes it) every --checkpoint-every
 * steps, when --checkpoint-seconds of wall time passed since the last one (rank 0's clock,
 * agreed), and when SIGTERM or SIGUSR1 arrived on any rank: then the path is printed and
 * *stopped set on every rank, and the app exits with TSR_EXIT_CHECKPOINTED. Only the newest
 * --checkpoint-keep checkpoints of the run stay. The signal handlers are installed by load and
 * kept until the process exits. One small Allreduce per call. For a restart that goes on bit
 * for bit, checkpoint where the app's particles are as it would rebuild them (e.g. right after
 * a redistribution). Collective. */
int tsr_particles_run_step(tsr_particles_run *r, const tsr_run_opts *o, int64_t step,
                           bool *stopped);

/* Releases the locks and the series (nothing if load was not called or failed before taking
 * them). Not collective. */
void tsr_particles_run_release(tsr_particles_run *r);

#ifdef __cplusplus
}
#endif
#endif
