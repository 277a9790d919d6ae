/* Setting up a run: its options, the paths it will read and write (checked and locked before
 * anything is computed), and its initial state from an input file or a checkpoint. */
#include <stdlib.h>
#include <string.h>

#include "h5_impl.h"
#include "io_impl.h"
#include "run_impl.h"
#include "runio_impl.h"

void tsr_run_opts_init(tsr_run_opts *o) {
    memset(o, 0, sizeof *o);
    snprintf(o->checkpoint_dir, sizeof o->checkpoint_dir, "checkpoints");
    o->checkpoint_keep = 2;
}

int tsr_run_add_options(tsr_opts opts, tsr_run_opts *o) {
    tsr_opts_add_string(opts, "output", o->output, "PREFIX",
                        "write PREFIX_<step>.h5 files and PREFIX.xmf (for ParaView/VisIt)");
    tsr_opts_add_int(opts, "output-every", &o->output_every, 0, INT64_MAX, "K",
                     "output every K steps and at the end (0: the end only)");
    tsr_opts_add_string(opts, "input", o->input, "FILE.h5[:/DATASET]",
                        "initial state from an HDF5 dataset (float64 or float32); the file "
                        "alone: every state field from /fields/<name>");
    tsr_opts_add_int(opts, "checkpoint-every", &o->checkpoint_every, 0, INT64_MAX, "N",
                     "checkpoint every N steps (0: off)");
    tsr_opts_add_double(opts, "checkpoint-seconds", &o->checkpoint_seconds, 0, 1e12, "T",
                        "checkpoint every T seconds of wall time (0: off)");
    tsr_opts_add_string(opts, "checkpoint-dir", o->checkpoint_dir, "DIR", "where checkpoints go");
    tsr_opts_add_int(opts, "checkpoint-keep", &o->checkpoint_keep, 1, 1000000, "K",
                     "keep the newest K checkpoints");
    tsr_opts_add_string(opts, "restart", o->restart, "FILE|latest",
                        "continue from a checkpoint (latest: the newest in --checkpoint-dir)");
    tsr_opts_add_flag(opts, "force", &o->force, "overwrite existing output files");
    tsr_opts_add_flag(opts, "debug", &o->debug,
                      "show HDF5's error stack and where errors passed (TESSERA_DEBUG=1)");
    return tsr_opts_error(opts);
}

static int check_options(tsr_ctx ctx, const char *file, const char *have, const char *want) {
    TSR_CHECK(ctx, strcmp(have, want) == 0, TSR_ERR_INPUT,
              "'%s' was written with options '%s', this run has '%s'", file, have, want);
    return TSR_SUCCESS;
}

/* The handles a u/v run gave become the one two-level field of the general state set. */
static void normalize(tsr_run *r) {
    if (r->nfields > 0) {
        if (r->nlevels == 0)
            r->nlevels = 2;
        return;
    }
    r->nfields = 1;
    r->nlevels = 2;
    memset(&r->fields[0], 0, sizeof r->fields[0]);
    r->fields[0].level[0] = r->u;
    r->fields[0].level[1] = r->v;
}

/* The fields a checkpoint holds, and their names: level 0 of every field under its name, then
 * the older levels k >= 2 as <name>.prev<k-1> (what a scheme with more levels needs to go on
 * exactly). Returns how many. */
int tsr__run_history(const tsr_run *r, tsr_field *f, char (*names)[80], const char **ptrs) {
    int n = 0;
    for (int k = 0; k < r->nlevels; k++) {
        if (k == 1)
            continue; /* the scratch */
        for (int i = 0; i < r->nfields; i++, n++) {
            f[n] = r->fields[i].level[k];
            if (k == 0)
                snprintf(names[n], sizeof names[n], "%s", r->fields[i].name);
            else
                snprintf(names[n], sizeof names[n], "%s.prev%d", r->fields[i].name, k - 1);
            ptrs[n] = names[n];
        }
    }
    return n;
}

/* Rank 0: the state set is one the loop can run. */
static int check_state_set(tsr_run *r) {
    tsr_ctx ctx = tsr__run_ctx(r);
    TSR_CHECK(ctx, r->nfields >= 1 && r->nfields <= TSR_RUN_MAX_FIELDS, TSR_ERR_ARG,
              "a run has 1 to %d state fields, not %d", TSR_RUN_MAX_FIELDS, r->nfields);
    TSR_CHECK(ctx, r->nlevels >= 2 && r->nlevels <= TSR_RUN_MAX_LEVELS, TSR_ERR_ARG,
              "a state field has 2 to %d time levels, not %d", TSR_RUN_MAX_LEVELS, r->nlevels);
    TSR_CHECK(ctx, r->nfields * r->nlevels <= MAX_KERNEL_FIELDS, TSR_ERR_ARG,
              "%d fields of %d levels: a kernel sees at most %d fields", r->nfields, r->nlevels,
              MAX_KERNEL_FIELDS);
    TSR_CHECK(ctx, r->kernel || r->advance, TSR_ERR_ARG, "a run needs a kernel or an advance");
    tsr_field first = r->fields[0].level[0];
    for (int i = 0; i < r->nfields; i++) {
        for (int l = 0; l < r->nlevels; l++) {
            tsr_field f = r->fields[i].level[l];
            TSR_CHECK(ctx, f, TSR_ERR_ARG, "state field %d has no level %d", i, l);
            TSR_CHECK(ctx, f->map == first->map && f->width == first->width, TSR_ERR_ARG,
                      "level %d of state field %d is not on the map and halo width of the first", l,
                      i);
        }
        const char *name = r->fields[i].name;
        TSR_CHECK(ctx,
                  *name && strlen(name) < 64 && !strchr(name, '/') && strcmp(name, "x") &&
                      strcmp(name, "y") && strcmp(name, "z"),
                  TSR_ERR_ARG,
                  "state field '%s': a name of 1 to 63 characters, without '/', and not x, y "
                  "or z",
                  name);
        for (int j = 0; j < i; j++)
            TSR_CHECK(ctx, strcmp(name, r->fields[j].name) != 0, TSR_ERR_ARG,
                      "two state fields are named '%s'", name);
    }
    TSR_CHECK(ctx, r->time_block <= 1 || (r->nfields == 1 && r->nlevels == 2 && !r->advance),
              TSR_ERR_INPUT,
              "time blocking (%d steps per exchange) runs one two-level state field with a "
              "kernel; this run has %d field%s of %d levels%s",
              r->time_block, r->nfields, r->nfields == 1 ? "" : "s", r->nlevels,
              r->advance ? " and its own advance" : "");
    /* The sweep refuses this too, but only once the loop starts: after the first output. */
    tsr_bc bc = r->time_block > 1 && r->halo ? tsr_halo_bc(r->halo) : NULL;
    bool fixed = true;
    if (bc)
        TSR_CALL(ctx, tsr_bc_is_static(bc, &fixed));
    for (int d = 0; !fixed && d < first->map->decomp->lay.ndim; d++)
        for (int s = 0; s < 2; s++) {
            tsr_bc_kind kind = TSR_BC_NONE;
            TSR_CALL(ctx, tsr_bc_get(bc, d, s ? TSR_BC_HIGH : TSR_BC_LOW, &kind));
            TSR_CHECK(ctx, kind != TSR_BC_NEUMANN, TSR_ERR_INPUT,
                      "time blocking (%d steps per exchange) with a Neumann boundary (%c %s): the "
                      "ghosts mirror the state once per exchange, not at every step of the block",
                      r->time_block, "xyz"[d], s ? "high" : "low");
        }
    TSR_CHECK(ctx, fixed, TSR_ERR_INPUT,
              "time blocking (%d steps per exchange) with a boundary function: its ghosts are "
              "set once per exchange, not at every step of the block",
              r->time_block);
    TSR_CHECK(ctx, !r->skip_at_rest || (r->nlevels == 2 && !r->advance && r->time_block <= 1),
              TSR_ERR_INPUT,
              "skipping blocks at rest needs two-level state fields stepped by the kernel, one "
              "step per exchange");
    TSR_CHECK(ctx, !r->skip_at_rest || tsr__halo_timeless(r->halo), TSR_ERR_INPUT,
              "skipping blocks at rest needs boundary values that do not change with time (a "
              "Dirichlet function does)");
    return TSR_SUCCESS;
}

/* Rank 0: the checkpoint to restart from, its step and its run identity. */
/* The state from a checkpoint: every field's level 0 and older levels, by name. */
static int read_checkpoint(tsr_run *r, const char *path, int64_t *start) {
    tsr_ctx ctx = tsr__run_ctx(r);
    char opts[1024];
    double time;
    /* The metadata and the app, checked once; the fields by their names in the file. */
    TSR_CALL(ctx, tsr_checkpoint_read(path, r->meta.app, r->fields[0].level, 0, start, &time, opts,
                                      sizeof opts, NULL, 0));
    tsr_field f[MAX_STATE];
    char names[MAX_STATE][80];
    const char *ptrs[MAX_STATE];
    int n = tsr__run_history(r, f, names, ptrs);
    for (int k = 0; k < n; k++) {
        char ds[sizeof names[k] + 8];
        snprintf(ds, sizeof ds, "/fields/%.79s", names[k]);
        TSR_CALL(ctx, tsr_io_read(f[k], path, ds));
    }
    int err = TSR_SUCCESS;
    if (ctx->rank == 0 && r->meta.run_options)
        err = check_options(ctx, path, opts, r->meta.run_options);
    if (!err && ctx->rank == 0 && *start > r->steps)
        err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                            "'%s' is at step %lld, beyond --steps %lld", path, (long long)*start,
                            (long long)r->steps);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    tsr_ctx_printf(ctx, stdout, "%s: restarting from %s at step %lld\n", ctx->name, path,
                   (long long)*start);
    return TSR_SUCCESS;
}

/* --input FILE reads every field's level 0 from /fields/<name>; FILE:/DATASET one field's. */
static int read_input(tsr_run *r, const char *input) {
    tsr_ctx ctx = tsr__run_ctx(r);
    char file[TSR_OPT_STRLEN], dataset[TSR_OPT_STRLEN];
    const char *colon = strrchr(input, ':');
    int err = ctx->rank == 0 && colon && r->nfields > 1
                  ? tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                  "--input '%s': this run has %d state fields, read from "
                                  "/fields/<name> each: give the file alone",
                                  input, r->nfields)
                  : TSR_SUCCESS;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    snprintf(file, sizeof file, "%.*s", colon ? (int)(colon - input) : (int)strlen(input), input);
    for (int i = 0; i < r->nfields; i++) {
        if (colon)
            snprintf(dataset, sizeof dataset, "%s", colon + 1);
        else
            snprintf(dataset, sizeof dataset, "/fields/%s", r->fields[i].name);
        TSR_CALL(ctx, tsr_io_read(r->fields[i].level[0], file, dataset));
    }
    return TSR_SUCCESS;
}

int tsr_run_load(tsr_run *r, const tsr_run_opts *o, int64_t *start) {
    *start = 0;
    r->output_lock.fd = r->checkpoint_lock.fd = -1;
    normalize(r);
    if (!r->fields[0].level[0])
        return TSR_ERR_ARG; /* no context to report it on */
    tsr_ctx ctx = tsr__run_ctx(r);
    for (int i = 0; i < r->nfields && i < TSR_RUN_MAX_FIELDS; i++)
        if (!r->fields[i].name && r->fields[i].level[0])
            r->fields[i].name = r->fields[i].level[0]->name;
    if (o->debug)
        setenv("TESSERA_DEBUG", "1", 1); /* read by the io module and by tsr_finalize */
    int err = ctx->rank == 0 ? check_state_set(r) : TSR_SUCCESS;
    if (!err && ctx->rank == 0 && o->input[0] && o->restart[0])
        err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                            "give --input or --restart, not both");
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    int nout = 0;
    while (nout < TSR_RUN_MAX_OUTPUTS && r->output_whats[nout])
        nout++;
    TSR_CALL(ctx, tsr_run_check_outputs(ctx, o, nout, r->output_whats, r->output_paths));
    /* The run's identity: new at a fresh start, the checkpoint's after a restart. */
    char path[TSR_PATH_MAX] = "";
    int64_t from = 0;
    TSR_CALL(ctx, tsr__runio_begin(ctx, o, &r->fields[0].level[0]->map->decomp->lay, r->steps, NULL,
                                   NULL, path, sizeof path, r->run_id, &from, &r->output_lock,
                                   &r->checkpoint_lock));
    r->meta.run_id = r->run_id;
    if (o->restart[0])
        TSR_CALL(ctx, read_checkpoint(r, path, start));
    else if (o->input[0])
        TSR_CALL(ctx, read_input(r, o->input));
    /* The older levels are read as they were when they were level 0: with their ghosts. */
    for (int k = 2; k < r->nlevels; k++) {
        tsr_field f[TSR_RUN_MAX_FIELDS];
        for (int i = 0; i < r->nfields; i++)
            f[i] = r->fields[i].level[k];
        TSR_CALL(ctx, tsr_halo_exchange(r->halo, f, r->nfields));
    }
    return TSR_SUCCESS;
}

void tsr_run_release(tsr_run *r) {
    tsr_lock_release(&r->output_lock);
    tsr_lock_release(&r->checkpoint_lock);
}
