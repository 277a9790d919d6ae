/* A particle run's outputs, checkpoints, restart and signals around the app's own loop; the
 * machinery is the field runs' (runio.c, checkpoint.c), the files tsr_particles_write's. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "field_impl.h"
#include "h5_impl.h"
#include "io_impl.h"
#include "particles_impl.h"
#include "runio_impl.h"
#include "tessera/particles_run.h"

/* Rank 0: the checkpoint's step and run identity, and that it is this app's, with these run
 * options, not beyond the last step. */
/* Rank 0: a checkpoint of this app, with these run options, not beyond the last step. */
static int check_restart(tsr_ctx ctx, const char *path, const tsr__file_meta *m, void *user) {
    const tsr_particles_run *r = user;
    TSR_CHECK(ctx, !r->meta.app || strcmp(m->app, r->meta.app) == 0, TSR_ERR_INPUT,
              "'%s' is a checkpoint of %s, not of %s", path,
              m->app[0] ? m->app : "an unknown program", r->meta.app);
    TSR_CHECK(ctx, !r->meta.run_options || strcmp(m->run_options, r->meta.run_options) == 0,
              TSR_ERR_INPUT, "'%s' was written with options '%s', this run has '%s'", path,
              m->run_options, r->meta.run_options ? r->meta.run_options : "");
    TSR_CHECK(ctx, m->step <= r->steps, TSR_ERR_INPUT, "'%s' is at step %lld, beyond --steps %lld",
              path, (long long)m->step, (long long)r->steps);
    return TSR_SUCCESS;
}

/* Rank 0: the points of an earlier file of the series, from its count attribute (-1: none). */
static int64_t file_count(tsr_ctx ctx, const char *path) {
    hid_t f;
    int64_t n = -1;
    if (tsr__h5_open_serial(ctx, "particle file", path, &f) != TSR_SUCCESS) {
        tsr_ctx_error_clear(ctx);
        return -1;
    }
    if (!tsr__h5_attr_read(f, "count", H5T_NATIVE_INT64, 1, &n))
        n = -1;
    H5Fclose(f);
    return n;
}

/* Rank 0, after a restart: the outputs up to `start` that this run wrote before stay listed. */
static int seed_series(tsr_particles_run *r, const tsr_run_opts *o, int64_t start) {
    tsr_ctx ctx = r->p->ctx;
    if (ctx->rank != 0 || !o->output[0] || o->output_every <= 0)
        return TSR_SUCCESS;
    for (int64_t s = 0; s <= start; s += o->output_every) {
        char path[TSR_OPT_STRLEN + 32];
        bool own = tsr__runio_own_output(o, s, r->run_id, path, sizeof path);
        int64_t n = own ? file_count(ctx, path) : -1;
        if (n >= 0)
            TSR_CALL(ctx, tsr__series_add(r->series, path, s, (double)s * r->dt, n, ctx));
    }
    return TSR_SUCCESS;
}

static int write_output(tsr_particles_run *r, const tsr_run_opts *o, int64_t step) {
    tsr_ctx ctx = r->p->ctx;
    char path[TSR_OPT_STRLEN + 32], xmf[TSR_OPT_STRLEN + 8];
    tsr_io_meta meta;
    tsr__runio_output_at(o->output, step, r->dt, &r->meta, path, sizeof path, xmf, sizeof xmf,
                         &meta);
    /* load checked that existing files of the series may go: --force, or this run's own. */
    TSR_CALL(ctx, tsr_particles_write(r->p, path, o->force || o->restart[0], &meta, NULL));
    int64_t n = 0;
    TSR_CALL(ctx, tsr_particles_global_count(r->p, &n));
    int err = TSR_SUCCESS;
    if (ctx->rank == 0) {
        tsr__series *sr = r->series;
        err = tsr__series_add(sr, path, step, meta.time, n, ctx);
        const char **files = err ? NULL : malloc(sizeof *files * (size_t)sr->n);
        if (!err && !files)
            err = tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                "cannot allocate the XDMF file list");
        for (int i = 0; files && i < sr->n; i++)
            files[i] = sr->files[i];
        if (!err)
            err = tsr__particles_write_series(r->p, xmf, sr->n, files, sr->counts, sr->times,
                                              r->run_id);
        free(files);
    }
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    return TSR_SUCCESS;
}

static int checkpoint(tsr_particles_run *r, const tsr_run_opts *o, int64_t step, char *path,
                      size_t len) {
    tsr_ctx ctx = r->p->ctx;
    TSR_CALL(ctx, tsr__runio_checkpoint_dir(ctx, o, &r->checkpoint_lock));
    tsr_io_meta meta = r->meta;
    meta.step = step;
    meta.time = (double)step * r->dt;
    double t0 = tsr_wtime();
    bool replace = false;
    TSR_CALL(ctx,
             tsr__checkpoint_target(ctx, o->checkpoint_dir, &meta, o->force, path, len, &replace));
    TSR_CALL(ctx, tsr_particles_write(r->p, path, replace, &meta, NULL));
    tsr__checkpoint_prune(ctx, o->checkpoint_dir, o->checkpoint_keep, &meta);
    int64_t n = 0;
    TSR_CALL(ctx, tsr_particles_global_count(r->p, &n));
    double secs = tsr_wtime() - t0;
    tsr_ctx_printf(ctx, stdout, "%s: checkpoint %s (%lld particles in %.3f s)\n", ctx->name, path,
                   (long long)n, secs);
    return TSR_SUCCESS;
}

int tsr_particles_run_load(tsr_particles_run *r, const tsr_run_opts *o, int64_t *start,
                           double *time) {
    if (start)
        *start = 0;
    if (time)
        *time = 0.0;
    r->output_lock.fd = r->checkpoint_lock.fd = -1;
    if (!r->p)
        return TSR_ERR_ARG; /* no context to report it on */
    tsr_ctx ctx = r->p->ctx;
    if (o->debug)
        setenv("TESSERA_DEBUG", "1", 1);
    int err = TSR_SUCCESS;
    if (ctx->rank == 0 && o->input[0])
        err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                            "--input: a particle run starts from its own particles or --restart");
    if (!err && ctx->rank == 0 && r->steps < 0)
        err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__, "a run of %lld steps",
                            (long long)r->steps);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    int64_t have = 0;
    TSR_CALL(ctx, tsr_particles_global_count(r->p, &have));
    TSR_CHECK(ctx, !o->restart[0] || have == 0, TSR_ERR_ARG,
              "--restart needs an empty particle container, this one holds %lld particles",
              (long long)have);
    tsr__series *sr = NULL;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, tsr__calloc(ctx, 1, sizeof *sr, &sr)));
    r->series = sr;
    char path[TSR_PATH_MAX] = "";
    int64_t from = 0;
    TSR_CALL(ctx,
             tsr__runio_begin(ctx, o, &r->p->map->decomp->lay, r->steps, check_restart, r, path,
                              sizeof path, r->run_id, &from, &r->output_lock, &r->checkpoint_lock));
    r->meta.run_id = r->run_id;
    tsr__runio_signals_reset();
    tsr__runio_signals_install();
    r->last_checkpoint = tsr_wtime();
    if (!o->restart[0]) {
        if (o->output[0] && (o->output_every > 0 || r->steps == 0))
            TSR_CALL(ctx, write_output(r, o, 0));
        return TSR_SUCCESS;
    }
    int64_t step = 0;
    double t = 0.0;
    TSR_CALL(ctx, tsr_particles_read(r->p, path, &step, &t));
    TSR_CALL(ctx, tsr_ctx_agree(ctx, seed_series(r, o, step)));
    tsr_ctx_printf(ctx, stdout, "%s: restarting from %s at step %lld\n", ctx->name, path,
                   (long long)step);
    if (start)
        *start = step;
    if (time)
        *time = t;
    return TSR_SUCCESS;
}

int tsr_particles_run_step(tsr_particles_run *r, const tsr_run_opts *o, int64_t step,
                           bool *stopped) {
    if (stopped)
        *stopped = false;
    if (!r || !r->p || !r->series)
        return TSR_ERR_ARG;
    tsr_ctx ctx = r->p->ctx;
    /* signal (any rank), wall-clock checkpoint due (rank 0's clock) */
    int64_t flags[2] = {tsr__runio_signal() != 0,
                        ctx->rank == 0 &&
                            tsr__runio_seconds_due(o, r->last_checkpoint, tsr_wtime())};
    TSR_MPI(ctx, MPI_Allreduce(MPI_IN_PLACE, flags, 2, MPI_INT64_T, MPI_MAX, ctx->comm));
    bool output =
        o->output[0] && ((o->output_every > 0 && step % o->output_every == 0) || step == r->steps);
    bool ckpt =
        (o->checkpoint_every > 0 && step % o->checkpoint_every == 0) || flags[0] || flags[1];
    if (output)
        TSR_CALL(ctx, write_output(r, o, step));
    if (!ckpt)
        return TSR_SUCCESS;
    char path[TSR_PATH_MAX];
    TSR_CALL(ctx, checkpoint(r, o, step, path, sizeof path));
    r->last_checkpoint = tsr_wtime();
    if (flags[0]) {
        tsr_ctx_printf(ctx, stdout,
                       "%s: stopped by a signal at step %lld; checkpoint written to %s\n",
                       ctx->name, (long long)step, path);
        if (stopped)
            *stopped = true;
    }
    return TSR_SUCCESS;
}

void tsr_particles_run_release(tsr_particles_run *r) {
    /* Without the series, load never got as far as the locks (which a zeroed struct would
     * otherwise name as fd 0). */
    if (!r || !r->series)
        return;
    tsr_lock_release(&r->output_lock);
    tsr_lock_release(&r->checkpoint_lock);
    tsr__series_free(r->series);
    free(r->series);
    r->series = NULL;
}
