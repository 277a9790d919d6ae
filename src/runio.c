/* What field and particle runs share around their loops: signals, output series, the paths a
 * run writes and the wall-clock checkpoint verdict. */
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "field_impl.h"
#include "file_impl.h"
#include "h5_impl.h"
#include "io_impl.h"
#include "runio_impl.h"

static volatile sig_atomic_t stop_signal;

/* Only a flag: the loop notices it at the next check, finishes the step and checkpoints. A
 * second signal while writing just sets the flag again. */
static void on_signal(int sig) {
    stop_signal = sig;
}

void tsr__runio_signals_install(void) {
    static int installed;
    if (installed)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    installed = 1;
}

void tsr__runio_signals_reset(void) {
    stop_signal = 0;
}

int tsr__runio_signal(void) {
    return stop_signal;
}

void tsr__runio_output_path(const char *prefix, int64_t step, char *path, size_t len) {
    snprintf(path, len, "%s_%06lld.h5", prefix, (long long)step);
}

void tsr__runio_output_at(const char *prefix, int64_t step, double dt, const tsr_io_meta *base,
                          char *path, size_t plen, char *xmf, size_t xlen, tsr_io_meta *meta) {
    tsr__runio_output_path(prefix, step, path, plen);
    snprintf(xmf, xlen, "%s.xmf", prefix);
    *meta = *base;
    meta->step = step;
    meta->time = (double)step * dt;
}

int tsr__series_add(tsr__series *sr, const char *path, int64_t step, double time, int64_t count,
                    tsr_ctx ctx) {
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
        void *c = realloc(sr->counts, sizeof *sr->counts * (size_t)nc);
        if (c)
            sr->counts = c;
        TSR_CHECK(ctx, f && s && t && c, TSR_ERR_MEMORY, "cannot grow the output series");
        sr->cap = nc;
    }
    const char *base = strrchr(path, '/');
    snprintf(sr->files[sr->n], sizeof sr->files[sr->n], "%s", base ? base + 1 : path);
    sr->steps[sr->n] = step;
    sr->times[sr->n] = time;
    sr->counts[sr->n] = count;
    sr->n++;
    return TSR_SUCCESS;
}

void tsr__series_free(tsr__series *sr) {
    free(sr->files);
    free(sr->steps);
    free(sr->times);
    free(sr->counts);
    memset(sr, 0, sizeof *sr);
}

/* Does the output series of a run starting at `from` write step s? A fresh run also writes its
 * first state (with --output-every) and a run of zero steps its only one. */
static bool in_series(const tsr_run_opts *o, int64_t s, int64_t from, int64_t steps, bool fresh) {
    if (s > steps || s < from || (s == from && !fresh))
        return false;
    if (s == steps)
        return true;
    return o->output_every > 0 && s % o->output_every == 0;
}

bool tsr__runio_own_output(const tsr_run_opts *o, int64_t s, const char *run_id, char *path,
                           size_t len) {
    tsr__runio_output_path(o->output, s, path, len);
    char id[32];
    return access(path, R_OK) == 0 && tsr__h5_run_id(path, id, sizeof id) && *run_id &&
           strcmp(id, run_id) == 0;
}

/* Rank 0: is the .xmf at path this run's own (it records the run id)? */
static bool xmf_is_ours(const char *path, const char *run_id) {
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char head[4096];
    size_t n = fread(head, 1, sizeof head - 1, f);
    fclose(f);
    head[n] = '\0';
    char want[96];
    snprintf(want, sizeof want, "<Information Name=\"run_id\" Value=\"%s\"/>", run_id);
    return strstr(head, want) != NULL;
}

/* Rank 0: the output series may be written. Files of the series that exist are refused without
 * --force, except, after a restart, those this same run wrote. */
static int check_series(tsr_ctx ctx, const tsr_run_opts *o, const char *run_id, int64_t steps,
                        int64_t from, bool fresh) {
    char xmf[TSR_PATH_MAX + 8], dir[TSR_PATH_MAX];
    TSR_CHECK(ctx, strlen(o->output) < TSR_PATH_MAX - 32, TSR_ERR_INPUT,
              "--output: prefix longer than %d characters", TSR_PATH_MAX - 33);
    snprintf(xmf, sizeof xmf, "%s.xmf", o->output);
    TSR_CALL(ctx, tsr_file_check_output(ctx, "--output", xmf, true));
    /* The series' longest name, its last file's (the lock's, PREFIX.tessera.lock, is shorter). */
    char last[TSR_PATH_MAX + 32];
    tsr__runio_output_path(o->output, steps, last, sizeof last);
    TSR_CALL(ctx, tsr_file_check_name(ctx, "--output", last));
    const char *slash = strrchr(o->output, '/');
    const char *base = slash ? slash + 1 : o->output;
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - o->output) + 1 : 1,
             slash ? o->output : ".");
    TSR_CHECK(ctx, *base, TSR_ERR_INPUT, "--output '%s': the prefix needs a file name part",
              o->output);
    if (o->force)
        return TSR_SUCCESS;
    char first[2 * TSR_PATH_MAX] = "";
    int64_t clash = 0;
    if (access(xmf, F_OK) == 0 && (fresh || !xmf_is_ours(xmf, run_id))) {
        snprintf(first, sizeof first, "%s", xmf);
        clash++;
    }
    DIR *dp = opendir(dir);
    size_t blen = strlen(base);
    for (struct dirent *e; dp && (e = readdir(dp));) {
        const char *nm = e->d_name;
        if (strncmp(nm, base, blen) != 0 || nm[blen] != '_')
            continue;
        char *end = NULL;
        long long step = strtoll(nm + blen + 1, &end, 10);
        if (end == nm + blen + 1 || strcmp(end, ".h5") != 0 ||
            !in_series(o, step, from, steps, fresh))
            continue;
        char path[2 * TSR_PATH_MAX], id[32];
        snprintf(path, sizeof path, "%s/%s", dir, nm);
        if (!fresh) {
            tsr__h5_run_id(path, id, sizeof id);
            if (strcmp(id, run_id) == 0)
                continue; /* this run's own, from before the restart */
        }
        if (!first[0])
            snprintf(first, sizeof first, "%s", path);
        clash++;
    }
    if (dp)
        closedir(dp);
    if (clash > 1)
        TSR_CHECK(ctx, 0, TSR_ERR_INPUT,
                  "--output: '%s' and %lld more files of the series exist; not replacing them "
                  "(use --force, or another --output)",
                  first, (long long)(clash - 1));
    TSR_CHECK(ctx, clash == 0, TSR_ERR_INPUT,
              "--output: '%s' exists; not replacing it (use --force, or another --output)", first);
    return TSR_SUCCESS;
}

/* Rank 0: a fresh run refuses a checkpoint directory holding another run's checkpoints, which a
 * later --restart latest would confuse with its own. */
static int check_checkpoint_dir(tsr_ctx ctx, const tsr_run_opts *o, bool fresh) {
    TSR_CHECK(ctx, strlen(o->checkpoint_dir) < TSR_PATH_MAX - 32, TSR_ERR_INPUT,
              "--checkpoint-dir: longer than %d characters", TSR_PATH_MAX - 33);
    TSR_CALL(ctx, tsr_dir_prepare(ctx, "--checkpoint-dir", o->checkpoint_dir));
    if (!fresh || o->force)
        return TSR_SUCCESS;
    int64_t steps[3];
    int64_t n = tsr__checkpoint_scan(o->checkpoint_dir, steps, 3);
    if (n <= 0)
        return TSR_SUCCESS;
    char list[256] = "";
    for (int64_t i = 0, used = 0; i < n && i < 3; i++)
        used += snprintf(list + used, sizeof list - (size_t)used, "%sckpt_%06lld.h5", i ? ", " : "",
                         (long long)steps[i]);
    TSR_CHECK(ctx, 0, TSR_ERR_INPUT,
              "checkpoint directory '%s' holds another run's checkpoints (%s%s): give another "
              "--checkpoint-dir, continue that run with --restart latest, or add --force to run "
              "beside them (only those at this run's checkpoint steps are replaced)",
              o->checkpoint_dir, list, n > 3 ? ", ..." : "");
}

static bool checkpointing(const tsr_run_opts *o) {
    return o->checkpoint_every > 0 || o->checkpoint_seconds > 0 ||
           strcmp(o->restart, "latest") == 0;
}

/* The lock file of the checkpoint directory, DIR/.tessera.lock. */
static void checkpoint_lock_path(const tsr_run_opts *o, char *path, size_t len) {
    snprintf(path, len, "%s/" TSR_FILE_LOCK_SUFFIX, o->checkpoint_dir);
}

/* Rank 0: the run's lock on its checkpoint directory. */
static int lock_checkpoint_dir(tsr_ctx ctx, const tsr_run_opts *o, tsr_lock *lock) {
    char path[TSR_PATH_MAX + 32], what[TSR_PATH_MAX + 32];
    checkpoint_lock_path(o, path, sizeof path);
    snprintf(what, sizeof what, "checkpoint directory '%s'", o->checkpoint_dir);
    TSR_CALL(ctx, tsr_lock_acquire(ctx, what, path, lock));
    return TSR_SUCCESS;
}

/* Which of the run's own files `path` is or may be ("named like the --output series' files"),
 * or NULL. Any step's name is the series' (tsr__runio_output_path: at least 6 digits), whichever
 * steps this run writes. */
static const char *run_file(const tsr_run_opts *o, const char *path) {
    const char *name = strrchr(path, '/');
    name = name ? name + 1 : path;
    if (o->output[0] && tsr__file_same_dir(path, o->output)) {
        const char *base = strrchr(o->output, '/');
        base = base ? base + 1 : o->output;
        size_t n = strlen(base);
        if (!strncmp(name, base, n)) {
            const char *tail = name + n;
            size_t nd = tail[0] == '_' ? strspn(tail + 1, "0123456789") : 0;
            if (nd >= 6 && !strcmp(tail + 1 + nd, ".h5"))
                return "named like the --output series' files";
            if (!strcmp(tail, ".xmf"))
                return "the --output series' XDMF file";
            if (!strcmp(tail, TSR_FILE_LOCK_SUFFIX))
                return "the --output series' lock";
        }
    }
    int64_t step;
    char lock[TSR_PATH_MAX + 32];
    checkpoint_lock_path(o, lock, sizeof lock);
    if (checkpointing(o) && tsr__file_same_dir(path, lock)) {
        if (tsr__checkpoint_name(name, &step))
            return "a checkpoint's file in --checkpoint-dir";
        if (!strcmp(name, TSR_FILE_LOCK_SUFFIX))
            return "--checkpoint-dir's lock";
    }
    return NULL;
}

int tsr_run_check_outputs(tsr_ctx ctx, const tsr_run_opts *o, int n, const char *const *whats,
                          const char *const *paths) {
    /* First: --force is no remedy for this, so it is not what the first message asks for. */
    int err = TSR_SUCCESS;
    for (int i = 0; i < n && !err && tsr_ctx_rank(ctx) == 0; i++) {
        const char *what = paths[i] && paths[i][0] ? run_file(o, paths[i]) : NULL;
        if (what)
            err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                "%s: '%s' is %s, which the run writes; choose another name",
                                whats[i], paths[i], what);
    }
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    TSR_CALL(ctx, tsr_file_check_outputs(ctx, n, whats, paths, o->force));
    return TSR_SUCCESS;
}

int tsr__runio_prepare_paths(tsr_ctx ctx, const tsr_run_opts *o, const char *run_id, int64_t steps,
                             int64_t from, bool fresh, tsr_lock *output_lock,
                             tsr_lock *checkpoint_lock) {
    if (o->output[0]) {
        TSR_CALL(ctx, check_series(ctx, o, run_id, steps, from, fresh));
        char lock[TSR_PATH_MAX + 16], what[TSR_PATH_MAX + 32];
        snprintf(lock, sizeof lock, "%s" TSR_FILE_LOCK_SUFFIX, o->output);
        snprintf(what, sizeof what, "output prefix '%s'", o->output);
        TSR_CALL(ctx, tsr_lock_acquire(ctx, what, lock, output_lock));
    }
    if (checkpointing(o)) {
        TSR_CALL(ctx, check_checkpoint_dir(ctx, o, fresh));
        TSR_CALL(ctx, lock_checkpoint_dir(ctx, o, checkpoint_lock));
    }
    return TSR_SUCCESS;
}

int tsr__runio_checkpoint_dir(tsr_ctx ctx, const tsr_run_opts *o, tsr_lock *checkpoint_lock) {
    int err = TSR_SUCCESS;
    if (ctx->rank == 0 && checkpoint_lock->fd < 0) {
        err = tsr_dir_prepare(ctx, "--checkpoint-dir", o->checkpoint_dir);
        if (!err)
            err = lock_checkpoint_dir(ctx, o, checkpoint_lock);
        if (err)
            ctx->err_code = err = TSR_ERR_IO; /* found during the run */
    }
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    return TSR_SUCCESS;
}

bool tsr__runio_seconds_due(const tsr_run_opts *o, double last, double now) {
    return o->checkpoint_seconds > 0 && now - last >= o->checkpoint_seconds;
}

int tsr__runio_begin(tsr_ctx ctx, const tsr_run_opts *o, const tsr__layout *lay, int64_t steps,
                     tsr__runio_check_fn check, void *user, char *path, size_t len, char run_id[32],
                     int64_t *from, tsr_lock *output_lock, tsr_lock *checkpoint_lock) {
    *from = 0;
    path[0] = '\0';
    if (o->restart[0])
        TSR_CALL(ctx, tsr_checkpoint_resolve(ctx, o->checkpoint_dir, o->restart, path, (int)len));
    int err = TSR_SUCCESS;
    if (ctx->rank == 0) {
        tsr_run_id_new(run_id);
        if (o->restart[0]) {
            tsr__file_meta m;
            memset(&m, 0, sizeof m);
            err = tsr__h5_read_meta(ctx, lay, path, &m);
            if (!err && check)
                err = check(ctx, path, &m, user);
            *from = m.step;
            if (m.run_id[0])
                snprintf(run_id, 32, "%s", m.run_id);
        }
        if (!err)
            err = tsr__runio_prepare_paths(ctx, o, run_id, steps, *from, !o->restart[0],
                                           output_lock, checkpoint_lock);
    }
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    TSR_MPI(ctx, MPI_Bcast(run_id, 32, MPI_CHAR, 0, ctx->comm));
    TSR_MPI(ctx, MPI_Bcast(from, 1, MPI_INT64_T, 0, ctx->comm));
    return TSR_SUCCESS;
}
