/* The time loop of a halo-coupled app with its I/O, for a state of any number of fields and time
 * levels: initial state from a file, a series of outputs with an XDMF index, checkpoints by steps
 * or seconds, restart on any layout, and SIGTERM/SIGUSR1. */
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
    char input[TSR_OPT_STRLEN];  /* --input FILE.h5[:/dataset] */
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

/* The state of a run is a set of fields (e.g. U and V of a reaction-diffusion model), each with
 * the same number of time levels. A step from s to s + 1 sees, for every state field i:
 *   level[0]  the state at s, its ghosts exchanged at the start of the step (all the fields'
 *             level 0 in one exchange);
 *   level[1]  written by the step with the state at s + 1;
 *   level[k]  (k >= 2) the state at s + 1 - k, ghosts as they were exchanged at its own step.
 * After the step the levels rotate: level 1 becomes level 0, level 0 level 2, level k level
 * k + 1, and the oldest becomes the new level 1. With two levels this is the swap of u and v. */
#define TSR_RUN_MAX_FIELDS 8  /* state fields exchanged together (tsr_halo_begin's limit) */
#define TSR_RUN_MAX_LEVELS 4  /* time levels of each state field */
#define TSR_RUN_MAX_OUTPUTS 8 /* the app's own output files tsr_run_load checks */

/* One state field: its time levels (handles owned by the caller, all on the run's map and
 * halo width) and the name it has in every file, whatever handle holds it. */
typedef struct tsr_run_field {
    const char *name; /* dataset name in outputs, checkpoints and XDMF; NULL: level[0]'s name */
    tsr_field level[TSR_RUN_MAX_LEVELS];
} tsr_run_field;

struct tsr_run;
/* A step that is not "one exchange, one kernel" (several stages, several exchanges): it reads
 * r->fields[i].level[0] (and older levels) and writes level[1] of every field, exchanging the
 * ghosts it needs itself (e.g. tsr_sweep_apply_exchange with r->sweep and r->halo); the loop
 * rotates the levels afterwards. Called on every rank at every step. A non-zero return is a
 * failure on this rank only (TSR_ERR_KERNEL from a sweep): the loop keeps calling it until the
 * next agreement, so it must keep exchanging (tsr_sweep_apply_exchange does, even when its kernel
 * fails), and then ends the run on every rank with this rank's message. */
typedef int (*tsr_run_advance)(struct tsr_run *r, int64_t step, void *user);

/* Everything the loop needs. The state is either u and v (one two-level field: u the state,
 * read, v the scratch, written, swapped each step) or, with nfields > 0, fields[0 .. nfields)
 * with nlevels levels each (u and v then left NULL). Each step exchanges level 0 of every field in
 * one call and runs the kernel on the blocks of every level, level-major: blocks[l * nfields + i]
 * is level l of field i (for u/v: blocks[0] = u, blocks[1] = v). meta.app and meta.run_options
 * identify the run in every file; meta.names is set by the loop. */
typedef struct tsr_run {
    tsr_sweep sweep;
    tsr_halo halo;
    tsr_field u, v;
    int nfields; /* 0: the state is u and v */
    int nlevels; /* time levels of each field, 2 .. TSR_RUN_MAX_LEVELS (0: 2); nfields * nlevels
                    at most 16, the fields one kernel sees */
    tsr_run_field fields[TSR_RUN_MAX_FIELDS];
    tsr_kernel kernel;
    tsr_run_advance advance; /* NULL: the exchange and the kernel above */
    void *user;              /* given to the kernel and to advance */
    bool overlap;
    /* Skip blocks at rest: a block the last step left unchanged, whose ghosts come from blocks it
     * left unchanged too, is not computed, and the ghost pieces of blocks unchanged for two steps
     * are not moved. Exact when the next state of a cell depends only on the current state
     * around it (no time, no older level, no randomness), as in a cellular automaton: what a
     * skipped step would write is what the block already holds. The library compares each
     * computed tile with its previous state. Two-level fields, the kernel (no advance), no time
     * blocking, and no Dirichlet function of time. */
    bool skip_at_rest;
    int time_block; /* > 1: that many steps per exchange (tsr_sweep_steps_blocked); one
                       two-level field and no advance only */
    /* A switch of the kernel the run loop sets by timing (NULL: none), such as streaming stores
     * of the new level: the kernel's results must be the same bits either way. The run's second
     * to ninth steps alternate it (on, off, off, on, on, off, off, on; the second to fifth on
     * runs of fewer than 81 steps); every rank keeps, for the rest of the run, the setting whose
     * fastest trial step was faster (on the rank where that step was slowest). Left as set with
     * time blocking, advance, skip_at_rest, or fewer than ten steps to run. */
    bool *tune;
    double tune_seconds[2]; /* set by tsr_run_loop when it timed *tune: per setting ([0] off, [1]
                               on) the fastest trial step's seconds, the largest over the ranks;
                               else zeros */
    tsr_progress_mode progress;
    double dt;        /* simulated time per step */
    int64_t steps;    /* total steps, counted from step 0 */
    tsr_io_meta meta; /* app, command line, run options (run_id is set by tsr_run_load) */
    /* The app's own output files (its --png, --report, ...), checked by tsr_run_load as
     * tsr_run_check_outputs does: output_whats[i] the option that names one (NULL ends the list),
     * output_paths[i] its path (NULL or "": not written). The strings stay the caller's. */
    const char *output_whats[TSR_RUN_MAX_OUTPUTS];
    const char *output_paths[TSR_RUN_MAX_OUTPUTS];
    /* The domain whose --rebalance-every/--rebalance-threshold apply (NULL: none). A rebalance
     * migrates every field of the run and replaces the domain's map and halo, and r->halo and
     * r->sweep, destroying the old ones: r->halo must be the domain's halo, and the caller takes
     * r->sweep back after the run (it is still the caller's to destroy). */
    tsr_domain *domain;
    /* Set by tsr_run_load, released by tsr_run_release: */
    char run_id[32];          /* new at a fresh start, the checkpoint's after a restart */
    tsr_lock output_lock;     /* PREFIX.tessera.lock, held by rank 0 */
    tsr_lock checkpoint_lock; /* DIR/.tessera.lock, held by rank 0 */
} tsr_run;

/* Prepares a run before it computes anything, then sets its initial state. Rank 0 checks every
 * path: the app's own outputs (r->output_paths), the input or checkpoint to read (a readable
 * regular file), the output and checkpoint directories (made if missing, writable), and that no
 * file of the output series would be replaced without --force (a restarted run may replace its
 * own); a fresh run refuses a checkpoint directory holding another run's checkpoints unless
 * --force. Rank 0 then locks the output prefix and the checkpoint directory for the run's
 * lifetime, so a second run using either fails at start. The initial state comes from --input or
 * --restart (returning the step to start from in *start), or stays as the caller initialised it
 * (*start = 0): level 0 of every field, and the older levels (k >= 2) of a scheme with more than
 * two, whose ghosts are then exchanged once. --input FILE reads each field's level 0 from
 * /fields/<name>; FILE:/DATASET names the dataset of a run with one field. A checkpoint holds level
 * 0 of every field under its name and each older level k >= 2 as <name>.prev<k-1>. A checkpoint of
 * another app, grid or run options, or non-finite input data, is refused (TSR_ERR_INPUT); so are
 * state fields that do not share the map and halo width, duplicate or reserved names (x, y, z), and
 * time blocking of anything but one two-level field without advance. Call tsr_run_release when the
 * run is over. Collective. */
int tsr_run_load(tsr_run *r, const tsr_run_opts *o, int64_t *start);

/* Releases the locks taken by tsr_run_load. Not collective. */
void tsr_run_release(tsr_run *r);

/* Advances from step `start` to r->steps, writing outputs (level 0 of every field, under the
 * field's name) and checkpoints as asked and installing
 * SIGTERM/SIGUSR1 handlers (kept until the process exits, so a second signal never kills it): on
 * a signal every rank finishes the step, a checkpoint is written, its path printed, and *stopped
 * set. About every half second the ranks agree on signals, on a kernel failure on any rank
 * (TSR_ERR_KERNEL on every rank, naming the rank, block and code) and on a state that became
 * non-finite (naming the step and the first cell). *seconds receives the compute time (outputs
 * excluded). Collective. */
int tsr_run_loop(tsr_run *r, const tsr_run_opts *o, int64_t start, double *seconds, bool *stopped);

/* Checks the app's own output files (its --png, --report, ...) before the run: as
 * tsr_file_check_outputs with o->force, and none may be a file the run writes itself: a file of
 * the --output series (PREFIX_<step>.h5), its XDMF file or lock, or a checkpoint or the lock in
 * --checkpoint-dir when the run checkpoints (directories compared as they will be once made). With
 * --force one would replace the other; without, the second write would fail after the run.
 * TSR_ERR_INPUT naming both. Collective. */
int tsr_run_check_outputs(tsr_ctx ctx, const tsr_run_opts *o, int n, const char *const *whats,
                          const char *const *paths);

/* What tsr_run_execute did. */
typedef struct tsr_run_result {
    int64_t start;  /* step it started from (0, or the checkpoint's) */
    int64_t steps;  /* steps it advanced */
    double seconds; /* compute time of those steps */
    bool stopped;   /* a signal stopped it after a checkpoint: exit with TSR_EXIT_CHECKPOINTED */
} tsr_run_result;

/* tsr_run_load, tsr_run_loop, tsr_run_release. r->fields[i].level[] (and for a u/v run r->u and
 * r->v) are the current handles afterwards, also on error: level 0 the newest state. Collective. */
int tsr_run_execute(tsr_run *r, const tsr_run_opts *o, tsr_run_result *res);

#ifdef __cplusplus
}
#endif
#endif
