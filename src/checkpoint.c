/* Checkpoints: atomic files named by step, pruned per run, "latest" with a fallback. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "field_impl.h"
#include "h5_impl.h"
#include "io_impl.h"
#include "tessera/file.h"

bool tsr__checkpoint_name(const char *name, int64_t *step) {
    char tail[16];
    long long s;
    return sscanf(name, "ckpt_%lld.%15s", &s, tail) == 2 && strcmp(tail, "h5") == 0 &&
           (*step = s) >= 0;
}

void tsr__checkpoint_path(const char *dir, int64_t step, char *path, size_t len) {
    snprintf(path, len, "%s/ckpt_%06lld.h5", dir, (long long)step);
}

static int cmp_desc(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The steps of dir's checkpoints, newest first, in *out (malloc'd, the caller frees; NULL when
 * none); -1 when dir cannot be read. One listing, so a caller's view is consistent. */
static int64_t list_steps(const char *dir, int64_t **out) {
    *out = NULL;
    DIR *dp = opendir(dir);
    if (!dp)
        return -1;
    int64_t n = 0, cap = 0, *all = NULL;
    for (struct dirent *e; (e = readdir(dp));) {
        int64_t s;
        if (!tsr__checkpoint_name(e->d_name, &s))
            continue;
        if (n == cap) {
            int64_t nc = cap ? 2 * cap : 64;
            int64_t *g = realloc(all, sizeof *all * (size_t)nc);
            if (!g)
                break;
            all = g;
            cap = nc;
        }
        all[n++] = s;
    }
    closedir(dp);
    if (n > 1)
        qsort(all, (size_t)n, sizeof *all, cmp_desc);
    *out = all;
    return n;
}

int64_t tsr__checkpoint_scan(const char *dir, int64_t *steps, int64_t max) {
    int64_t *all, n = list_steps(dir, &all);
    for (int64_t i = 0; i < n && i < max; i++)
        steps[i] = all[i];
    free(all);
    return n;
}

/* Rank 0: deletes this run's checkpoints but the newest `keep`; other runs' files, and files
 * without a run identity, are never touched, whatever their age. */
static void prune(const char *dir, int64_t keep, const char *run_id) {
    int64_t *steps, n = list_steps(dir, &steps), mine = 0;
    if (n <= keep || !run_id || !*run_id)
        n = 0;
    for (int64_t i = 0; i < n; i++) {
        char path[TSR_PATH_MAX], id[32];
        tsr__checkpoint_path(dir, steps[i], path, sizeof path);
        tsr__h5_run_id(path, id, sizeof id);
        if (strcmp(id, run_id) != 0)
            continue;
        if (++mine > keep)
            unlink(path);
    }
    free(steps);
}

static const char *delay_env = "TESSERA_TEST_CHECKPOINT_DELAY";

/* Test hook: a pause while the checkpoint is still unconfirmed, to kill a rank in it. */
static void test_delay(void) {
    const char *delay = getenv(delay_env);
    if (delay && *delay)
        usleep((useconds_t)(atof(delay) * 1e6));
}

int tsr_checkpoint_write(const char *dir, int64_t keep, tsr_field *fields, int nfields,
                         const tsr_io_meta *meta, char *path, int len) {
    TSR_CALL(fields[0]->ctx,
             tsr__checkpoint_write(dir, keep, fields, nfields, meta, false, path, len));
    return TSR_SUCCESS;
}

int tsr__checkpoint_target(tsr_ctx ctx, const char *dir, const tsr_io_meta *meta, bool force,
                           char *final, size_t len, bool *replace) {
    TSR_CHECK(ctx, dir && strlen(dir) < TSR_PATH_MAX - 32, TSR_ERR_ARG,
              "a checkpoint directory needs a name of 1 to %d characters", TSR_PATH_MAX - 33);
    tsr__checkpoint_path(dir, meta ? meta->step : 0, final, len);
    const char *id = meta && meta->run_id ? meta->run_id : "";
    int err = TSR_SUCCESS, rep = 0;
    if (ctx->rank == 0) {
        err = tsr_dir_prepare(ctx, "checkpoint directory", dir);
        /* The same step of this same run (a restart from an older checkpoint) is replaced, as is
         * a damaged file (--restart latest skipped it) or, with force, another run's; otherwise
         * another run's checkpoint never is. The replacement is the atomic rename itself. */
        char other[32];
        if (!err && access(final, F_OK) == 0) {
            bool readable = tsr__h5_run_id(final, other, sizeof other);
            rep = force || !readable || (*id && strcmp(other, id) == 0);
            if (!rep)
                err = tsr_error_set(ctx, TSR_ERR_IO, __FILE__, __LINE__, __func__,
                                    "'%s' belongs to another run; not replacing it", final);
        }
    }
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    TSR_MPI(ctx, MPI_Bcast(&rep, 1, MPI_INT, 0, ctx->comm));
    *replace = rep != 0;
    return TSR_SUCCESS;
}

void tsr__checkpoint_prune(tsr_ctx ctx, const char *dir, int64_t keep, const tsr_io_meta *meta) {
    if (ctx->rank == 0 && keep > 0)
        prune(dir, keep, meta && meta->run_id ? meta->run_id : "");
}

int tsr__checkpoint_write(const char *dir, int64_t keep, tsr_field *fields, int nfields,
                          const tsr_io_meta *meta, bool force, char *path, int len) {
    tsr_ctx ctx = fields[0]->ctx;
    char final[TSR_PATH_MAX];
    bool replace = false;
    TSR_CALL(ctx, tsr__checkpoint_target(ctx, dir, meta, force, final, sizeof final, &replace));
    TSR_CALL(ctx, tsr__io_write_file(fields, nfields, final, meta, replace, test_delay));
    tsr__checkpoint_prune(ctx, dir, keep, meta);
    if (path)
        snprintf(path, (size_t)len, "%s", final);
    return TSR_SUCCESS;
}

/* Rank 0: is this checkpoint whole enough to restart from? A quick look: a readable HDF5 file
 * with a step; its run identity into id ("" when it records none). The full check comes when it
 * is read. */
static bool readable(tsr_ctx ctx, const char *path, char *id, int idlen, char *why, size_t len) {
    hid_t f;
    id[0] = '\0';
    int err = tsr__h5_open_serial(ctx, "checkpoint", path, &f);
    if (!err) {
        int64_t step = -1;
        bool ok = tsr__h5_attr_read(f, "step", H5T_NATIVE_INT64, 1, &step) && step >= 0;
        tsr__h5_attr_read_string(f, "run_id", id, idlen);
        H5Fclose(f);
        if (ok)
            return true;
        snprintf(why, len, "no valid step recorded");
    } else {
        snprintf(why, len, "%s", ctx->err_msg);
    }
    tsr_ctx_error_clear(ctx);
    return false;
}

/* The newest readable checkpoint of each run in the directory, newest first. */
typedef struct run_newest {
    char id[32];
    int64_t step;
} run_newest;

/* Rank 0: "latest" is the newest readable checkpoint, when the directory holds one run's. A
 * directory holding several runs' (a run that checkpointed only when a signal stopped it, or
 * one given --force, wrote beside another's) is refused: its newest step may be another run's. */
static int resolve_latest(tsr_ctx ctx, const char *dir, char *path, int len) {
    int64_t *steps, n = list_steps(dir, &steps);
    TSR_CHECK(ctx, n >= 0, TSR_ERR_INPUT, "cannot open checkpoint directory '%s': %s", dir,
              strerror(errno));
    TSR_CHECK(ctx, n > 0, TSR_ERR_INPUT, "no checkpoint in '%s' to restart from", dir);
    char first[TSR_PATH_MAX] = "", why[TSR_MSG_LEN] = "";
    run_newest runs[4];
    int nruns = 0, more = 0;
    for (int64_t i = 0; i < n; i++) {
        char p[TSR_PATH_MAX], id[32], reason[TSR_MSG_LEN];
        tsr__checkpoint_path(dir, steps[i], p, sizeof p);
        if (!readable(ctx, p, id, sizeof id, reason, sizeof reason)) {
            if (!nruns && !first[0]) { /* the newest: damaged, it falls back to the one before */
                snprintf(first, sizeof first, "%s", p);
                snprintf(why, sizeof why, "%s", reason);
            }
            continue;
        }
        int r = 0;
        while (r < nruns && strcmp(runs[r].id, id) != 0)
            r++;
        if (r < nruns)
            continue;
        if (nruns == 4) {
            more++;
            continue;
        }
        snprintf(runs[nruns].id, sizeof runs[nruns].id, "%s", id);
        runs[nruns++].step = steps[i];
        if (nruns == 1)
            snprintf(path, (size_t)len, "%s", p);
    }
    free(steps);
    TSR_CHECK(ctx, nruns > 0, TSR_ERR_INPUT, "no readable checkpoint in '%s' (newest '%s': %s)",
              dir, first, why);
    if (nruns > 1) {
        char list[512] = "";
        for (int r = 0, used = 0; r < nruns && used < (int)sizeof list; r++)
            used += snprintf(list + used, sizeof list - (size_t)used, "%sckpt_%06lld.h5 (run %s)",
                             r ? ", " : "", (long long)runs[r].step,
                             runs[r].id[0] ? runs[r].id : "unknown");
        TSR_CHECK(ctx, 0, TSR_ERR_INPUT,
                  "--restart latest: checkpoint directory '%s' holds the checkpoints of %d%s "
                  "runs, newest first: %s%s; name the one to continue (--restart %s/ckpt_...h5)",
                  dir, nruns + (more > 0), more ? " or more" : "", list, more ? ", ..." : "", dir);
    }
    if (first[0])
        tsr_ctx_warn(ctx, "newest checkpoint '%s' is unreadable (%s); using '%s'", first, why,
                     path);
    return TSR_SUCCESS;
}

static int resolve_root(tsr_ctx ctx, const char *dir, const char *which, char *path, int len) {
    if (strcmp(which, "latest") == 0)
        return resolve_latest(ctx, dir, path, len);
    snprintf(path, (size_t)len, "%s", which);
    TSR_CALL(ctx, tsr_file_check_input(ctx, "checkpoint", path));
    return TSR_SUCCESS;
}

int tsr_checkpoint_resolve(tsr_ctx ctx, const char *dir, const char *which, char *path, int len) {
    char buf[TSR_PATH_MAX] = "";
    int err = ctx->rank == 0 ? resolve_root(ctx, dir, which, buf, sizeof buf) : TSR_SUCCESS;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    TSR_MPI(ctx, MPI_Bcast(buf, sizeof buf, MPI_CHAR, 0, ctx->comm));
    snprintf(path, (size_t)len, "%s", buf);
    return TSR_SUCCESS;
}

int tsr_checkpoint_read(const char *path, const char *app, tsr_field *fields, int nfields,
                        int64_t *step, double *time, char *run_options, int len, char *run_id,
                        int id_len) {
    tsr_ctx ctx = fields[0]->ctx;
    tsr__h5_quiet();
    tsr__file_meta m;
    memset(&m, 0, sizeof m);
    int err = TSR_SUCCESS;
    if (ctx->rank == 0) {
        err = tsr__h5_read_meta(ctx, &fields[0]->map->decomp->lay, path, &m);
        if (!err && app && strcmp(m.app, app) != 0)
            err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                "'%s' is a checkpoint of %s, not of %s", path,
                                m.app[0] ? m.app : "an unknown program", app);
    }
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    TSR_MPI(ctx, MPI_Bcast(&m, (int)sizeof m, MPI_BYTE, 0, ctx->comm));
    *step = m.step;
    *time = m.time;
    if (run_options)
        snprintf(run_options, (size_t)len, "%s", m.run_options);
    if (run_id)
        snprintf(run_id, (size_t)id_len, "%s", m.run_id);
    for (int k = 0; k < nfields; k++) {
        char ds[128];
        snprintf(ds, sizeof ds, "/fields/%s", fields[k]->name);
        TSR_CALL(ctx, tsr_io_read(fields[k], path, ds));
    }
    return TSR_SUCCESS;
}
