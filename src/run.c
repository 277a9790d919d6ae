/* The time loop of a halo-coupled app with outputs, checkpoints, restart and signals. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "field_impl.h"
#include "tessera/report.h"
#include "tessera/run.h"

void tsr_run_opts_init(tsr_run_opts *o) {
    memset(o, 0, sizeof *o);
    snprintf(o->checkpoint_dir, sizeof o->checkpoint_dir, "checkpoints");
    o->checkpoint_keep = 2;
}

int tsr_run_add_options(tsr_opts opts, tsr_run_opts *o) {
    int err;
#define ADD(call)                                                                                  \
    if ((err = (call)) != TSR_SUCCESS)                                                             \
        return err;
    ADD(tsr_opts_add_string(opts, "output", o->output, "PREFIX",
                            "write PREFIX_<step>.h5 files and PREFIX.xmf (for ParaView/VisIt)"));
    ADD(tsr_opts_add_int(opts, "output-every", &o->output_every, 0, INT64_MAX, "K",
                         "output every K steps and at the end (0: the end only)"));
    ADD(tsr_opts_add_string(opts, "input", o->input, "FILE.h5:/DATASET",
                            "initial state from an HDF5 dataset (float64 or float32)"));
    ADD(tsr_opts_add_int(opts, "checkpoint-every", &o->checkpoint_every, 0, INT64_MAX, "N",
                         "checkpoint every N steps (0: off)"));
    ADD(tsr_opts_add_double(opts, "checkpoint-seconds", &o->checkpoint_seconds, 0, 1e12, "T",
                            "checkpoint every T seconds of wall time (0: off)"));
    ADD(tsr_opts_add_string(opts, "checkpoint-dir", o->checkpoint_dir, "DIR",
                            "where checkpoints go"));
    ADD(tsr_opts_add_int(opts, "checkpoint-keep", &o->checkpoint_keep, 1, 1000000, "K",
                         "keep the newest K checkpoints"));
    ADD(tsr_opts_add_string(opts, "restart", o->restart, "FILE|latest",
                            "continue from a checkpoint (latest: the newest in --checkpoint-dir)"));
    ADD(tsr_opts_add_flag(opts, "force", &o->force, "overwrite existing output files"));
    ADD(tsr_opts_add_flag(opts, "debug", &o->debug,
                          "show HDF5's error stack and where errors passed (TESSERA_DEBUG=1)"));
#undef ADD
    return TSR_SUCCESS;
}

static int check_options(tsr_ctx ctx, const char *file, const char *have, const char *want) {
    TSR_CHECK(ctx, strcmp(have, want) == 0, TSR_ERR_INPUT,
              "'%s' was written with options '%s', this run has '%s'", file, have, want);
    return TSR_SUCCESS;
}

int tsr_run_load(tsr_run *r, const tsr_run_opts *o, int64_t *start) {
    tsr_ctx ctx = r->u->ctx;
    *start = 0;
    if (o->debug)
        setenv("TESSERA_DEBUG", "1", 1); /* read by the io module and by tsr_finalize */
    int err = ctx->rank == 0 && o->input[0] && o->restart[0]
                  ? tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                  "give --input or --restart, not both")
                  : TSR_SUCCESS;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    if (o->restart[0]) {
        char path[4096], opts[1024];
        double time;
        TSR_CALL(ctx,
                 tsr_checkpoint_resolve(ctx, o->checkpoint_dir, o->restart, path, sizeof path));
        TSR_CALL(ctx,
                 tsr_checkpoint_read(path, r->meta.app, &r->u, 1, start, &time, opts, sizeof opts));
        if (ctx->rank == 0 && r->meta.run_options)
            err = check_options(ctx, path, opts, r->meta.run_options);
        if (!err && ctx->rank == 0 && *start > r->steps)
            err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                "'%s' is at step %lld, beyond --steps %lld", path,
                                (long long)*start, (long long)r->steps);
        TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
        tsr_ctx_printf(ctx, stdout, "%s: restarting from %s at step %lld\n", ctx->name, path,
                       (long long)*start);
    } else if (o->input[0]) {
        char file[TSR_OPT_STRLEN], dataset[TSR_OPT_STRLEN];
        const char *colon = strrchr(o->input, ':');
        if (colon) {
            snprintf(file, sizeof file, "%.*s", (int)(colon - o->input), o->input);
            snprintf(dataset, sizeof dataset, "%s", colon + 1);
        } else {
            snprintf(file, sizeof file, "%s", o->input);
            snprintf(dataset, sizeof dataset, "/fields/%s", r->u->name);
        }
        TSR_CALL(ctx, tsr_io_read(r->u, file, dataset));
    }
    return TSR_SUCCESS;
}

static volatile sig_atomic_t stop_signal;

/* Only a flag: the loop notices it at the next check, finishes the step and checkpoints. A
 * second signal while writing just sets the flag again. */
static void on_signal(int sig) {
    stop_signal = sig;
}

typedef struct series {
    int n, cap;
    char (*files)[TSR_OPT_STRLEN + 64];
    int64_t *steps;
    double *times;
} series;

/* Appends a file (by base name: the .xmf sits next to it) to the series. */
static int series_add(series *sr, const char *path, int64_t step, double time, tsr_ctx ctx) {
    if (sr->n == sr->cap) {
        int nc = sr->cap ? 2 * sr->cap : 16;
        void *f = realloc(sr->files, sizeof *sr->files * (size_t)nc);
        if (f)
            sr->files = f;
        void *s = realloc(sr->steps, sizeof *sr->steps * (size_t)nc);
        if (s)
            sr->steps = s;
        void *t = realloc(sr->times, sizeof *sr->times * (size_t)nc);
        if (t)
            sr->times = t;
        TSR_CHECK(ctx, f && s && t, TSR_ERR_MEMORY, "cannot grow the output series");
        sr->cap = nc;
    }
    const char *base = strrchr(path, '/');
    snprintf(sr->files[sr->n], sizeof sr->files[sr->n], "%s", base ? base + 1 : path);
    sr->steps[sr->n] = step;
    sr->times[sr->n] = time;
    sr->n++;
    return TSR_SUCCESS;
}

static int write_output(tsr_run *r, const tsr_run_opts *o, series *sr, int64_t step) {
    tsr_ctx ctx = r->u->ctx;
    char path[TSR_OPT_STRLEN + 32], xmf[TSR_OPT_STRLEN + 8];
    snprintf(path, sizeof path, "%s_%06lld.h5", o->output, (long long)step);
    snprintf(xmf, sizeof xmf, "%s.xmf", o->output);
    tsr_io_meta meta = r->meta;
    meta.step = step;
    meta.time = (double)step * r->dt;
    TSR_CALL(ctx, tsr_io_write(path, &r->u, 1, &meta, o->force));
    TSR_CALL(ctx, series_add(sr, path, step, meta.time, ctx));
    const char *names[1] = {r->u->name};
    const char **files = malloc(sizeof *files * (size_t)sr->n);
    TSR_CHECK(ctx, files, TSR_ERR_MEMORY, "cannot allocate the XDMF file list");
    for (int i = 0; i < sr->n; i++)
        files[i] = sr->files[i];
    int err = tsr_io_write_xdmf(r->u, xmf, sr->n, files, sr->steps, sr->times, 1, names);
    free(files);
    TSR_CALL(ctx, err);
    return TSR_SUCCESS;
}

/* After a restart the earlier outputs (and the state at `start`, already written by the run
 * that checkpointed it) are on disk: the .xmf keeps listing them. Only rank 0 writes the .xmf,
 * so only rank 0 needs the list. */
static int seed_series(tsr_run *r, const tsr_run_opts *o, series *sr, int64_t start) {
    tsr_ctx ctx = r->u->ctx;
    if (ctx->rank != 0 || o->output_every <= 0)
        return TSR_SUCCESS;
    for (int64_t s = 0; s <= start; s += o->output_every) {
        char path[TSR_OPT_STRLEN + 32];
        snprintf(path, sizeof path, "%s_%06lld.h5", o->output, (long long)s);
        if (access(path, R_OK) == 0)
            TSR_CALL(ctx, series_add(sr, path, s, (double)s * r->dt, ctx));
    }
    return TSR_SUCCESS;
}

static int checkpoint(tsr_run *r, const tsr_run_opts *o, int64_t step, char *path, int len) {
    tsr_ctx ctx = r->u->ctx;
    tsr_io_meta meta = r->meta;
    meta.step = step;
    meta.time = (double)step * r->dt;
    double t0 = tsr_wtime();
    TSR_CALL(ctx, tsr_checkpoint_write(o->checkpoint_dir, o->checkpoint_keep, &r->u, 1, &meta, path,
                                       len));
    double secs = tsr_wtime() - t0;
    double mib = (double)tsr_grid_cells(tsr_decomp_grid(tsr_map_decomp(r->u->map))) * 8.0 /
                 (1024.0 * 1024.0);
    tsr_ctx_printf(ctx, stdout, "%s: checkpoint %s (%.1f MiB in %.3f s, %.0f MiB/s)\n", ctx->name,
                   path, mib, secs, secs > 0 ? mib / secs : 0.0);
    return TSR_SUCCESS;
}

static int64_t next_multiple(int64_t s, int64_t every) {
    return (s / every + 1) * every;
}

int tsr_run_loop(tsr_run *r, const tsr_run_opts *o, int64_t start, double *seconds,
                 bool *stopped_out) {
    tsr_ctx ctx = r->u->ctx;
    struct sigaction sa, old_term, old_usr1;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    stop_signal = 0;
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGUSR1, &sa, &old_usr1);

    series sr = {0};
    tsr_progress prog;
    tsr_progress_start(&prog, ctx, r->steps, r->progress);
    double compute = 0, last_ckpt = tsr_wtime();
    /* Signals and wall-clock checkpoints need every rank to agree; the check is one small
     * Allreduce every `interval` steps, the interval sized by rank 0 to about half a second. */
    int64_t interval = 1, next_check = start + 1;
    int err = TSR_SUCCESS, stopped = 0;
    if (o->output[0] && start > 0)
        err = seed_series(r, o, &sr, start);
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
        double t0 = tsr_wtime();
        if (r->time_block > 1)
            err = tsr_sweep_steps_blocked(r->sweep, r->halo, &r->u, &r->v, next - s, r->time_block,
                                          r->kernel, r->user, false, NULL);
        else
            err = tsr_sweep_steps(r->sweep, r->halo, &r->u, &r->v, next - s, r->kernel, r->user,
                                  r->overlap, false, NULL);
        compute += tsr_wtime() - t0;
        if (err)
            break;
        int64_t done = next - s;
        s = next;
        tsr_progress_update(&prog, s);
        int64_t flags[3] = {0, 0, 0}; /* signal, checkpoint due, new interval */
        if (s == next_check) {
            flags[0] = stop_signal != 0;
            if (ctx->rank == 0) {
                double now = tsr_wtime(), per_step = (tsr_wtime() - t0) / (double)done;
                flags[1] = o->checkpoint_seconds > 0 && now - last_ckpt >= o->checkpoint_seconds;
                /* Half a second, or half the checkpoint period if that is shorter, so that
                 * wall-clock checkpoints are not late by more than half their period. */
                double every = 0.5;
                if (o->checkpoint_seconds > 0 && o->checkpoint_seconds / 2 < every)
                    every = o->checkpoint_seconds / 2;
                flags[2] = per_step > 0 ? (int64_t)(every / per_step) : 1000;
                if (flags[2] < 1)
                    flags[2] = 1;
            }
            int rc = MPI_Allreduce(MPI_IN_PLACE, flags, 3, MPI_INT64_T, MPI_MAX, ctx->comm);
            if (rc != MPI_SUCCESS) {
                err = tsr_error_mpi(ctx, rc, "MPI_Allreduce", __FILE__, __LINE__, __func__);
                break;
            }
            interval = flags[2];
            next_check = s + interval;
        }
        if (o->output[0] && ((o->output_every > 0 && s % o->output_every == 0) || s == r->steps))
            if ((err = write_output(r, o, &sr, s)))
                break;
        bool by_steps = o->checkpoint_every > 0 && s % o->checkpoint_every == 0;
        if (by_steps || flags[1] || flags[0]) {
            char path[4096];
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
    }
    if (!err && !stopped && o->output[0] && o->output_every == 0 && r->steps == start)
        err = write_output(r, o, &sr, start);
    tsr_progress_end(&prog);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGUSR1, &old_usr1, NULL);
    free(sr.files);
    free(sr.steps);
    free(sr.times);
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
    tsr_ctx ctx = r->u->ctx;
    memset(res, 0, sizeof *res);
    TSR_CALL(ctx, tsr_run_load(r, o, &res->start));
    TSR_CALL(ctx, tsr_run_loop(r, o, res->start, &res->seconds, &res->stopped));
    res->steps = r->steps - res->start;
    return TSR_SUCCESS;
}
