/* The time loop of a halo-coupled app with outputs, checkpoints, restart and signals, for a state
 * of any number of fields and time levels. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "balance_impl.h"
#include "h5_impl.h"
#include "io_impl.h"
#include "run_impl.h"
#include "runio_impl.h"

/* A u/v run sees its current handles in u and v at every moment. */
static void sync_uv(tsr_run *r) {
    if (r->u) {
        r->u = r->fields[0].level[0];
        r->v = r->fields[0].level[1];
    }
}

/* After a step, level 1 (the new state) becomes level 0, level 0 becomes level 2 and each older
 * level k becomes k + 1, and the oldest is the next step's scratch: with two levels, the swap. */
static void rotate(tsr_run *r) {
    int nl = r->nlevels;
    for (int i = 0; i < r->nfields; i++) {
        tsr_field *l = r->fields[i].level, old[TSR_RUN_MAX_LEVELS];
        memcpy(old, l, sizeof old);
        l[0] = old[1];
        l[1] = nl > 2 ? old[nl - 1] : old[0];
        for (int k = 2; k < nl; k++)
            l[k] = k == 2 ? old[0] : old[k - 1];
    }
    sync_uv(r);
}

/* The state as the sweep sees it, level-major: level l of field i at l * nfields + i. */
static int state_blocks(const tsr_run *r, tsr_field *all) {
    for (int l = 0; l < r->nlevels; l++)
        for (int i = 0; i < r->nfields; i++)
            all[l * r->nfields + i] = r->fields[i].level[l];
    return r->nlevels * r->nfields;
}

static int write_output(tsr_run *r, const tsr_run_opts *o, tsr__series *sr, int64_t step) {
    tsr_ctx ctx = tsr__run_ctx(r);
    char path[TSR_OPT_STRLEN + 32], xmf[TSR_OPT_STRLEN + 8];
    tsr_io_meta meta;
    tsr__runio_output_at(o->output, step, r->dt, &r->meta, path, sizeof path, xmf, sizeof xmf,
                         &meta);
    /* tsr_run_load checked that existing files of the series may go: --force, or this run's own
     * files from before a restart. */
    tsr_field f[TSR_RUN_MAX_FIELDS];
    const char *names[TSR_RUN_MAX_FIELDS];
    for (int i = 0; i < r->nfields; i++) {
        f[i] = r->fields[i].level[0];
        names[i] = r->fields[i].name;
    }
    meta.names = names;
    TSR_CALL(ctx, tsr_io_write(path, f, r->nfields, &meta, o->force || o->restart[0]));
    /* Only rank 0 writes the .xmf, so only rank 0 keeps the series; its failure is agreed
     * before the collective XDMF call. */
    const char **files = NULL;
    int err = ctx->rank == 0 ? tsr__series_add(sr, path, step, meta.time, 0, ctx) : TSR_SUCCESS;
    if (!err && ctx->rank == 0) {
        files = malloc(sizeof *files * (size_t)sr->n);
        if (!files)
            err = tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                "cannot allocate the XDMF file list");
        for (int i = 0; files && i < sr->n; i++)
            files[i] = sr->files[i];
    }
    err = tsr_ctx_agree(ctx, err);
    if (!err)
        err = tsr_io_write_xdmf(f[0], xmf, sr->n, files, sr->steps, sr->times, r->nfields, names,
                                &r->meta);
    free(files);
    TSR_CALL(ctx, err);
    return TSR_SUCCESS;
}

/* After a restart the earlier outputs (and the state at `start`, already written by the run
 * that checkpointed it) are on disk: the .xmf keeps listing those this run wrote. Only rank 0
 * writes the .xmf, so only rank 0 needs the list. */
static int seed_series(tsr_run *r, const tsr_run_opts *o, tsr__series *sr, int64_t start) {
    tsr_ctx ctx = tsr__run_ctx(r);
    if (ctx->rank != 0 || o->output_every <= 0)
        return TSR_SUCCESS;
    for (int64_t s = 0; s <= start; s += o->output_every) {
        char path[TSR_OPT_STRLEN + 32];
        if (tsr__runio_own_output(o, s, r->run_id, path, sizeof path))
            TSR_CALL(ctx, tsr__series_add(sr, path, s, (double)s * r->dt, 0, ctx));
    }
    return TSR_SUCCESS;
}

static int checkpoint(tsr_run *r, const tsr_run_opts *o, int64_t step, char *path, int len) {
    tsr_ctx ctx = tsr__run_ctx(r);
    tsr_io_meta meta = r->meta;
    meta.step = step;
    meta.time = (double)step * r->dt;
    /* Checkpoints not asked for at start (a signal's) lock the directory now. */
    TSR_CALL(ctx, tsr__runio_checkpoint_dir(ctx, o, &r->checkpoint_lock));
    double t0 = tsr_wtime();
    /* With --force a run may share a directory with another run's checkpoints: one at the same
     * step is replaced (the start-up message said so), atomically. */
    tsr_field f[MAX_STATE];
    char names[MAX_STATE][80];
    const char *ptrs[MAX_STATE];
    int n = tsr__run_history(r, f, names, ptrs);
    meta.names = ptrs;
    TSR_CALL(ctx, tsr__checkpoint_write(o->checkpoint_dir, o->checkpoint_keep, f, n, &meta,
                                        o->force, path, len));
    double secs = tsr_wtime() - t0;
    double mib = (double)tsr_grid_cells(tsr_decomp_grid(tsr_map_decomp(f[0]->map))) * 8.0 * n /
                 (1024.0 * 1024.0);
    tsr_ctx_printf(ctx, stdout, "%s: checkpoint %s (%.1f MiB in %.3f s, %.0f MiB/s)\n", ctx->name,
                   path, mib, secs, secs > 0 ? mib / secs : 0.0);
    return TSR_SUCCESS;
}

static int64_t next_multiple(int64_t s, int64_t every) {
    return (s / every + 1) * every;
}

/* Test hook: TESSERA_TEST_KERNEL_FAIL=RANK:STEP makes the kernel fail on rank RANK from step
 * STEP on, to check that one rank's failure ends the run on every rank. */
static int64_t failing_step(tsr_ctx ctx, bool *here) {
    const char *v = getenv("TESSERA_TEST_KERNEL_FAIL");
    long long hook[2] = {-1, -1}; /* rank, step: rank 0's reading, so every rank cuts alike */
    if (ctx->rank == 0 && (!v || sscanf(v, "%lld:%lld", &hook[0], &hook[1]) != 2 || hook[1] < 0))
        hook[0] = hook[1] = -1;
    if (MPI_Bcast(hook, 2, MPI_LONG_LONG, 0, ctx->comm) != MPI_SUCCESS)
        hook[0] = hook[1] = -1;
    *here = hook[0] == ctx->rank;
    return hook[1];
}

static int failing_kernel(const tsr_block *f, int nf, const tsr_box *box, void *user) {
    (void)f;
    (void)nf;
    (void)box;
    (void)user;
    return -7;
}

/* A state that stopped being finite ends the run: nothing after it would mean anything. */
static int check_state(tsr_run *r, int64_t step) {
    char what[64];
    snprintf(what, sizeof what, "the state at step %lld", (long long)step);
    for (int i = 0; i < r->nfields; i++)
        TSR_CALL(tsr__run_ctx(r),
                 tsr__io_check_finite(r->fields[i].level[0], TSR_ERR_VERIFY, what, NULL, 0));
    return TSR_SUCCESS;
}

/* The timing of r->tune: trial steps [first, first + n), first < 0 for none. */
typedef struct tuner {
    int64_t first, n;
    double t[2]; /* this rank's fastest trial step per setting */
} tuner;

static void tune_start(tsr_run *r, int64_t start, tuner *tn) {
    memset(tn, 0, sizeof *tn);
    tn->t[0] = tn->t[1] = HUGE_VAL;
    memset(r->tune_seconds, 0, sizeof r->tune_seconds);
    tsr__run_ctx(r)->run_json[0] = '\0';
    /* The first step touches memory for the first time: not timed. Eight trial steps, four
     * when the run is short, so that the slower setting's steps stay a small part of it. */
    int64_t after = r->steps - start - 1;
    tn->n = after >= 80 ? 8 : after >= 9 ? 4 : 0;
    bool timed = r->tune && r->time_block <= 1 && !r->advance && !r->skip_at_rest && tn->n;
    tn->first = timed ? start + 1 : -1;
}

/* The setting of step s if it is a trial step (on, off, off, on, ..., so that a drift favours
 * neither), which it sets; -1 otherwise. */
static int tune_before(tsr_run *r, const tuner *tn, int64_t s) {
    if (tn->first < 0 || s < tn->first || s >= tn->first + tn->n)
        return -1;
    int64_t k = s - tn->first;
    *r->tune = (k + 1) / 2 % 2 == 0;
    return *r->tune;
}

/* After trial step s, which took `seconds` with `setting`: after the last one the ranks agree on
 * the setting whose fastest step was faster, on the rank where it was slowest. Not sums: on a
 * shared machine one step in a few loses milliseconds to another process, and a sum then
 * picks the wrong setting for the rest of the run (streaming stores kept at 0.7 the speed in
 * two of five runs of the default build here). Collective at that step. */
static int tune_after(tsr_run *r, tuner *tn, int64_t s, int setting, double seconds) {
    tn->t[setting] = seconds < tn->t[setting] ? seconds : tn->t[setting];
    if (s == tn->first + tn->n - 1) {
        tsr_ctx ctx = tsr__run_ctx(r);
        TSR_MPI(ctx, MPI_Allreduce(tn->t, r->tune_seconds, 2, MPI_DOUBLE, MPI_MAX, ctx->comm));
        *r->tune = r->tune_seconds[1] < r->tune_seconds[0];
        /* for --report: what was chosen, and from which figures */
        snprintf(ctx->run_json, sizeof ctx->run_json,
                 "\"tune\": {\"setting\": %s, \"trial_steps\": %lld, \"seconds_on\": %.9g, "
                 "\"seconds_off\": %.9g}",
                 *r->tune ? "true" : "false", (long long)tn->n, r->tune_seconds[1],
                 r->tune_seconds[0]);
    }
    return TSR_SUCCESS;
}

/* Advances steps [from, to) of a stretch. Returns this rank's first kernel failure (agreed by
 * the caller) or another error; `failing` is the test hook's kernel from step fail_at on. */
static int advance_stretch(tsr_run *r, int64_t from, int64_t to, tsr_kernel failing,
                           int64_t fail_at, tuner *tn) {
    tsr_ctx ctx = tsr__run_ctx(r);
    tsr_run_field *f0 = &r->fields[0];
    if (r->time_block > 1) {
        tsr_kernel kernel = failing && from >= fail_at ? failing : r->kernel;
        int err = tsr_sweep_steps_blocked(r->sweep, r->halo, &f0->level[0], &f0->level[1],
                                          to - from, r->time_block, kernel, r->user, false, NULL);
        sync_uv(r);
        return err;
    }
    int kerr = TSR_SUCCESS;
    for (int64_t s = from; s < to; s++) {
        int err;
        bool fail = failing && s >= fail_at;
        int trial = tune_before(r, tn, s);
        double t0 = trial >= 0 ? tsr_wtime() : 0;
        if (r->advance) {
            err = r->advance(r, s, r->user);
            if (!err && fail && !kerr)
                err = tsr_error_set(ctx, TSR_ERR_KERNEL, __FILE__, __LINE__, __func__,
                                    "kernel returned %d on rank %d (test hook)",
                                    failing(NULL, 0, NULL, NULL), ctx->rank);
        } else {
            tsr_field all[MAX_KERNEL_FIELDS];
            int n = state_blocks(r, all);
            tsr_kernel kernel = kerr ? tsr__skip_kernel : fail ? failing : r->kernel;
            err = r->skip_at_rest ? tsr__sweep_rest_step(r->sweep, r->halo, all, r->nfields, kernel,
                                                         r->user, r->overlap)
                                  : tsr__sweep_step_exchange(r->sweep, r->halo, r->nfields, all, n,
                                                             kernel, r->user, r->overlap);
        }
        if (err == TSR_ERR_KERNEL && !kerr)
            kerr = err; /* keep exchanging, so that no neighbour waits for this rank */
        else if (err && err != TSR_ERR_KERNEL)
            return err;
        rotate(r);
        if (trial >= 0)
            TSR_CALL(ctx, tune_after(r, tn, s, trial, tsr_wtime() - t0));
    }
    return kerr;
}

int tsr_run_loop(tsr_run *r, const tsr_run_opts *o, int64_t start, double *seconds,
                 bool *stopped_out) {
    tsr_ctx ctx = tsr__run_ctx(r);
    tsr__runio_signals_reset();
    if (r->skip_at_rest) /* the state was just set: no block is known to be at rest */
        tsr__sweep_rest_forget(r->sweep);
    tsr__runio_signals_install();
    bool fail_here;
    int64_t fail_at = failing_step(ctx, &fail_here);
    tuner tn;
    tune_start(r, start, &tn);

    tsr__series sr = {0};
    tsr_progress prog;
    tsr_progress_start(&prog, ctx, r->steps, r->progress);
    double compute = 0, last_ckpt = tsr_wtime();
    /* Every rank agrees, at the end of each stretch of steps, on signals, wall-clock checkpoints
     * and failures: one small Allreduce. Stretches end at outputs, checkpoints, and checks sized
     * by rank 0 to about half a second, in whole time blocks: a stretch of a few steps would
     * cut the wavefronts short (the first check after one block, not after one step). */
    int64_t block = r->time_block > 1 ? r->time_block : 1;
    int64_t interval = block, next_check = start + block, check_step = start;
    double check_time = tsr_wtime();
    int err = TSR_SUCCESS, stopped = 0;
    if (o->output[0] && start > 0)
        err = tsr_ctx_agree(ctx, seed_series(r, o, &sr, start)); /* rank 0's list */
    else if (o->output[0] && o->output_every > 0)
        err = write_output(r, o, &sr, start);
    for (int64_t s = start; !err && s < r->steps;) {
        int64_t next = r->steps;
        if (o->output[0] && o->output_every > 0)
            next =
                next_multiple(s, o->output_every) < next ? next_multiple(s, o->output_every) : next;
        if (o->checkpoint_every > 0 && next_multiple(s, o->checkpoint_every) < next)
            next = next_multiple(s, o->checkpoint_every);
        if (next_check < next)
            next = next_check;
        next = tsr__balance_next(r->domain, s, next);
        if (fail_at > s && fail_at < next)
            next = fail_at;
        double t0 = tsr_wtime();
        /* A kernel failure here is this rank's alone: it keeps exchanging to the end of the
         * stretch, and the agreement below ends the run on every rank. */
        int local = advance_stretch(r, s, next, fail_here ? failing_kernel : NULL, fail_at, &tn);
        compute += tsr_wtime() - t0;
        bool checked = next == next_check;
        s = next;
        tsr_progress_update(&prog, s);
        /* A signal is looked at whenever the ranks agree anyway, not only at checks. */
        int64_t flags[4] = {tsr__runio_signal() != 0, 0, 0, local != 0}; /* signal, checkpoint due,
                                                                     interval, failed */
        if (checked) {
            if (ctx->rank == 0) {
                /* The rate over everything since the last check (outputs included), not over
                 * one stretch, which may be a single fast step after a checkpoint. */
                double now = tsr_wtime(), per_step = (now - check_time) / (double)(s - check_step);
                check_time = now;
                check_step = s;
                flags[1] = tsr__runio_seconds_due(o, last_ckpt, now);
                /* Half a second, or half the checkpoint period if that is shorter, so that
                 * wall-clock checkpoints are not late by more than half their period. */
                double every = 0.5;
                if (o->checkpoint_seconds > 0 && o->checkpoint_seconds / 2 < every)
                    every = o->checkpoint_seconds / 2;
                flags[2] = per_step > 0 ? (int64_t)(every / per_step) : 1000;
                if (flags[2] < 1)
                    flags[2] = 1;
            }
        }
        int rc = MPI_Allreduce(MPI_IN_PLACE, flags, 4, MPI_INT64_T, MPI_MAX, ctx->comm);
        if (rc != MPI_SUCCESS) {
            err = tsr_error_mpi(ctx, rc, "MPI_Allreduce", __FILE__, __LINE__, __func__);
            break;
        }
        if (flags[3]) {
            err = tsr_ctx_agree(ctx, local);
            break;
        }
        if (checked) {
            interval = (flags[2] + block - 1) / block * block;
            next_check = s + interval;
        }
        bool output =
            o->output[0] && ((o->output_every > 0 && s % o->output_every == 0) || s == r->steps);
        bool by_steps = o->checkpoint_every > 0 && s % o->checkpoint_every == 0;
        bool ckpt = by_steps || flags[1] || flags[0];
        if ((checked || output || ckpt || s == r->steps) && (err = check_state(r, s)))
            break;
        if (output && (err = write_output(r, o, &sr, s)))
            break;
        if (ckpt) {
            char path[TSR_PATH_MAX];
            if ((err = checkpoint(r, o, s, path, sizeof path)))
                break;
            last_ckpt = tsr_wtime();
            if (flags[0]) {
                tsr_ctx_printf(ctx, stdout,
                               "%s: stopped by a signal at step %lld; checkpoint written to %s\n",
                               ctx->name, (long long)s, path);
                stopped = 1;
                break;
            }
        }
        tsr_field all[MAX_KERNEL_FIELDS];
        int nall = state_blocks(r, all);
        tsr_sweep before = r->sweep;
        if (s < r->steps &&
            (err = tsr__balance_maybe(r->domain, s, &r->sweep, &r->halo, all, nall)))
            break;
        /* Migrated, with every level's ghosts refilled: what is at rest can be read off the
         * two levels, so the blocks that stayed and those that came are not all recomputed. */
        if (r->skip_at_rest && r->sweep != before)
            tsr__sweep_rest_learn(r->sweep, all, r->nfields);
        sync_uv(r);
    }
    if (!err && !stopped && o->output[0] && o->output_every == 0 && r->steps == start)
        err = write_output(r, o, &sr, start);
    tsr_progress_end(&prog);
    tsr__series_free(&sr);
    /* The loop has no barriers: the run took as long as its slowest rank. */
    if (!err) {
        int rc = MPI_Allreduce(MPI_IN_PLACE, &compute, 1, MPI_DOUBLE, MPI_MAX, ctx->comm);
        if (rc != MPI_SUCCESS)
            err = tsr_error_mpi(ctx, rc, "MPI_Allreduce", __FILE__, __LINE__, __func__);
    }
    if (seconds)
        *seconds = compute;
    if (stopped_out)
        *stopped_out = stopped;
    TSR_CALL(ctx, err);
    return TSR_SUCCESS;
}

int tsr_run_execute(tsr_run *r, const tsr_run_opts *o, tsr_run_result *res) {
    memset(res, 0, sizeof *res);
    int err = tsr_run_load(r, o, &res->start);
    if (err == TSR_ERR_ARG && !r->fields[0].level[0])
        return err;
    tsr_ctx ctx = tsr__run_ctx(r);
    if (!err)
        err = tsr_run_loop(r, o, res->start, &res->seconds, &res->stopped);
    tsr_run_release(r);
    TSR_CALL(ctx, err);
    res->steps = r->steps - res->start;
    return TSR_SUCCESS;
}
