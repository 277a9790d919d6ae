/* The command farm's job log on rank 0: one tab-separated line per ended run of a task, in
 * completion order, and its reading back for --resume. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmdfarm_impl.h"
#include "tessera/error.h"

#define HEADER "# id\tline\trepeat\thost\trank\tpid\tstatus\tstart\tend\telapsed\tbytes\tcommand\n"

void tsr__cf_status_text(const tsr__cf_end *e, char *buf, size_t len) {
    switch (e->how) {
    case TSR__CF_EXITED:
        snprintf(buf, len, "%d", e->status);
        break;
    case TSR__CF_SIGNALLED:
        snprintf(buf, len, "signal %d", e->status);
        break;
    case TSR__CF_TIMEOUT:
        snprintf(buf, len, "timeout");
        break;
    case TSR__CF_STOPPED:
        snprintf(buf, len, "stopped");
        break;
    default:
        snprintf(buf, len, "not started");
    }
}

/* Splits a line at tabs into at most 12 fields (the command, last, keeps its tabs). */
static int split(char *s, char **f) {
    int n = 0;
    f[n++] = s;
    while (n < 12 && (s = strchr(s, '\t'))) {
        *s++ = '\0';
        f[n++] = s;
    }
    return n;
}

/* The job log's repeat field: the REPEAT index, or "-". */
static const char *repeat_text(const tsr__task_entry *t, char *buf, size_t len) {
    if (!t->repeated)
        return "-";
    snprintf(buf, len, "%lld", (long long)t->repeat);
    return buf;
}

int tsr__cf_log_resume(const char *path, const tsr__task_list *tasks, bool only_ok, int64_t retries,
                       unsigned char *done, char *msg, size_t msglen) {
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return 0;
    if (fd < 0) {
        snprintf(msg, msglen, "--resume: cannot read the job log %s: %s", path, strerror(errno));
        return TSR_ERR_INPUT;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(msg, msglen, "--resume: the job log %s is not a regular file", path);
        close(fd);
        return TSR_ERR_INPUT;
    }
    size_t len = (size_t)st.st_size;
    char *text = malloc(len + 1);
    size_t got = 0;
    while (text && got < len) {
        ssize_t r = read(fd, text + got, len - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (!text || got != len) {
        snprintf(msg, msglen, "--resume: cannot read the job log %s", path);
        free(text);
        close(fd);
        return text ? TSR_ERR_INPUT : TSR_ERR_MEMORY;
    }
    text[len] = '\0';
    /* Failed runs per task: the failure is final only when the log holds all its attempts (a job
     * stopped between two attempts left it some). */
    int64_t *fails = calloc((size_t)(tasks->n ? tasks->n : 1), sizeof *fails);
    if (!fails) {
        free(text);
        close(fd);
        return TSR_ERR_MEMORY;
    }
    int err = 0;
    size_t at = 0;
    int64_t lineno = 0;
    while (at < len && !err) {
        char *nl = memchr(text + at, '\n', len - at);
        if (!nl) /* cut off when the job died mid-write: that run counts as not ended */
            break;
        *nl = '\0';
        char *line = text + at;
        lineno++;
        at = (size_t)(nl - text) + 1;
        if (memchr(line, '\0', (size_t)(nl - line))) {
            err = TSR_ERR_INPUT;
            snprintf(msg, msglen, "--resume: %s:%lld: a NUL byte: not a job log", path,
                     (long long)lineno);
            break;
        }
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *f[12];
        char *end = NULL;
        long long id = -1;
        if (split(line, f) == 12)
            id = strtoll(f[0], &end, 10);
        if (id < 0 || !end || *end) {
            err = TSR_ERR_INPUT;
            snprintf(msg, msglen, "--resume: %s:%lld: not a job log line (12 tab-separated fields)",
                     path, (long long)lineno);
            break;
        }
        if (id >= tasks->n || strcmp(f[11], tasks->t[id].command) != 0)
            continue; /* another task file's line: its task did not run with this command */
        char rep[32];
        if (strcmp(f[2], repeat_text(&tasks->t[id], rep, sizeof rep)) != 0)
            continue; /* a REPEAT changed since: the same command with another index */
        bool ok = !strcmp(f[6], "0");
        bool ended = strcmp(f[6], "stopped") != 0 && strcmp(f[6], "not started") != 0;
        if (ok)
            done[id] = 1;
        else if (ended)
            fails[id]++;
    }
    for (int64_t id = 0; !only_ok && id < tasks->n; id++)
        if (!done[id] && fails[id] > retries)
            done[id] = 2;
    free(fails);
    /* Appends go after the last whole line: what follows it (the line the job died writing, or
     * the zeros a crash can leave) is cut off. */
    size_t keep = at;
    if (!err && keep < len && ftruncate(fd, (off_t)keep) != 0) {
        err = TSR_ERR_INPUT;
        snprintf(msg, msglen, "--resume: cannot truncate the cut-off last line of %s: %s", path,
                 strerror(errno));
    }
    free(text);
    close(fd);
    return err;
}

int tsr__cf_log_open(tsr__cf_log *l, const char *path, bool append, char *msg, size_t msglen) {
    memset(l, 0, sizeof *l);
    snprintf(l->path, sizeof l->path, "%s", path);
    struct stat st;
    bool fresh = !append || stat(path, &st) != 0 || st.st_size == 0;
    l->f = fopen(path, fresh ? "we" : "ae");
    if (!l->f) {
        snprintf(msg, msglen, "--joblog: cannot write %s: %s", path, strerror(errno));
        return TSR_ERR_INPUT;
    }
    if (fresh)
        fputs(HEADER, l->f);
    fflush(l->f);
    l->last_sync = tsr__cf_now();
    return 0;
}

int tsr__cf_log_write(tsr__cf_log *l, const tsr__cf_end *e, const tsr__task_entry *t,
                      const char *host) {
    char st[32], rep[32];
    tsr__cf_status_text(e, st, sizeof st);
    fprintf(l->f, "%lld\t%lld\t%s\t%s\t%d\t%lld\t%s\t%.3f\t%.3f\t%.3f\t%lld\t%s\n",
            (long long)e->id, (long long)t->line, repeat_text(t, rep, sizeof rep), host, e->rank,
            (long long)e->pid, st, e->start, e->end, e->end - e->start, (long long)e->bytes,
            t->command);
    l->dirty = l->unflushed = true;
    return ferror(l->f) ? TSR_ERR_IO : 0;
}

int tsr__cf_log_flush(tsr__cf_log *l) {
    if (!l->f || !l->unflushed)
        return 0;
    l->unflushed = false;
    return fflush(l->f) == 0 ? 0 : TSR_ERR_IO;
}

int tsr__cf_log_sync(tsr__cf_log *l, double every) {
    if (!l->f || !l->dirty)
        return 0;
    double now = tsr__cf_now();
    if (every > 0 && now - l->last_sync < every)
        return 0;
    l->last_sync = now;
    l->dirty = false;
    return fsync(fileno(l->f)) == 0 ? 0 : TSR_ERR_IO;
}

int tsr__cf_log_close(tsr__cf_log *l) {
    if (!l->f)
        return 0;
    int err = tsr__cf_log_flush(l);
    if (!err)
        err = tsr__cf_log_sync(l, 0);
    if (fclose(l->f) != 0)
        err = TSR_ERR_IO;
    l->f = NULL;
    return err;
}
