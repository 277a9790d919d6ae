/* The time loop of a halo-coupled app with its I/O: initial state from a file, a series of
 * outputs with an XDMF index, checkpoints by steps or seconds, restart, and SIGTERM/SIGUSR1. */
#ifndef TESSERA_RUN_H
#define TESSERA_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "domain.h"
#include "file.h"
#include "io.h"
#include "options.h"
#include "report.h"
#include "sweep.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exit status of a run stopped by SIGTERM or SIGUSR1 after writing a checkpoint: distinct from
 * success (0), failure (1) and bad input (2). */
#define TSR_EXIT_CHECKPOINTED 3

typedef struct tsr_run_opts {
    char output[TSR_OPT_STRLEN]; /* --output PREFIX: PREFIX_<step>.h5 and PREFIX.xmf */
    int64_t output_every;        /* --output-every K (0: final step only) */
    char input[TSR_OPT_STRLEN];  /* --input FILE.h5:/dataset */
    int64_t checkpoint_every;    /* --checkpoint-every N steps (0: off) */
    double checkpoint_seconds;   /* --checkpoint-seconds T (0: off) */
    char checkpoint_dir[TSR_OPT_STRLEN];
    int64_t checkpoint_keep;
    char restart[TSR_OPT_STRLEN]; /* --restart FILE|latest */
    bool force;                   /* --force: overwrite existing output files */
    bool debug;                   /* --debug: HDF5 error stack and error traces */
} tsr_run_opts;

/* Defaults: no output, checkpoints off, directory "checkpoints", keep 2. */
void tsr_run_opts_init(tsr_run_opts *o);
/* Registers --output --output-every --input --checkpoint-every --checkpoint-seconds
 * --checkpoint-dir --checkpoint-keep --restart --force --debug. Returns tsr_opts_error(opts): a
 * failure is also reported by tsr_opts_parse, so the result need not be checked. Not collective. */
int tsr_run_add_options(tsr_opts opts, tsr_run_opts *o);

/* Everything the loop needs; u is the state (read), v the scratch (written), swapped each step.
 * meta.app and meta.run_options identify the run in every file. */
typedef struct tsr_run {
    tsr_sweep sweep;
    tsr_halo halo;
    tsr_field u, v;
    tsr_kernel kernel;
    void *user;
    bool overlap;
    int time_block; /* > 1: that many steps per exchange (tsr_sweep_steps_blocked) */
    tsr_progress_mode progress;
    double dt;        /* simulated time per step */
    int64_t steps;    /* total steps, counted from step 0 */
    tsr_io_meta meta; /* app, command line, run options (run_id is set by tsr_run_load) */
    /* The domain whose --rebalance-every/--rebalance-threshold apply (NULL: none). A rebalance
     * migrates every field of the run and replaces the domain's map and halo, and r->halo and
     * r->sweep, destroying the old ones: r->halo must be the domain's halo, and the caller takes
     * r->sweep back after the run (it is still the caller's to destroy). */
    tsr_domain *domain;
    /* Set by tsr_run_load, released by tsr_run_release: */
    char run_id[32];          /* new at a fresh start, the checkpoint's after a restart */
    tsr_lock output_lock;     /* PREFIX.lock, held by rank 0 */
    tsr_lock checkpoint_lock; /* DIR/.tessera.lock, held by rank 0 */
} tsr_run;

/* Prepares a run before it computes anything, then sets its initial state. Rank 0 checks every
 * path: the input or checkpoint to read (a readable regular file), the output and checkpoint
 * directories (made if missing, writable), and that no file of the output series would be
 * replaced without --force (a restarted run may replace its own); a fresh run refuses a
 * checkpoint directory holding another run's checkpoints unless --force. Rank 0 then locks the
 * output prefix and the checkpoint directory for the run's lifetime, so a second run using
 * either fails at start. The initial state comes from --input or --restart (returning the step
 * to start from in *start), or u stays as the caller initialised it (*start = 0). A checkpoint
 * of another app, grid or run options, or non-finite input data, is refused (TSR_ERR_INPUT).
 * Call tsr_run_release when the run is over. Collective. */
int tsr_run_load(tsr_run *r, const tsr_run_opts *o, int64_t *start);

/* Releases the locks taken by tsr_run_load. Not collective. */
void tsr_run_release(tsr_run *r);

/* Advances from step `start` to r->steps, writing outputs and checkpoints as asked and installing
 * SIGTERM/SIGUSR1 handlers (kept until the process exits, so a second signal never kills it): on
 * a signal every rank finishes the step, a checkpoint is written, its path printed, and *stopped
 * set. About every half second the ranks agree on signals, on a kernel failure on any rank
 * (TSR_ERR_KERNEL on every rank, naming the rank, block and code) and on a state that became
 * non-finite (naming the step and the first cell). *seconds receives the compute time (outputs
 * excluded). Collective. */
int tsr_run_loop(tsr_run *r, const tsr_run_opts *o, int64_t start, double *seconds, bool *stopped);

/* What tsr_run_execute did. */
typedef struct tsr_run_result {
    int64_t start;  /* step it started from (0, or the checkpoint's) */
    int64_t steps;  /* steps it advanced */
    double seconds; /* compute time of those steps */
    bool stopped;   /* a signal stopped it after a checkpoint: exit with TSR_EXIT_CHECKPOINTED */
} tsr_run_result;

/* tsr_run_load, tsr_run_loop, tsr_run_release. r->u and r->v are the current handles
 * afterwards, also on error. Collective. */
int tsr_run_execute(tsr_run *r, const tsr_run_opts *o, tsr_run_result *res);

#ifdef __cplusplus
}
#endif
#endif
