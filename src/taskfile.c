/* Task files of tessera-farm (taskfile_impl.h). */
#include "taskfile_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tessera/error.h"

typedef struct parser {
    const char *name;
    char *msg;
    size_t msglen;
    char *prefix, *suffix; /* current PREFIX and SUFFIX ("" none); owned */
    int64_t epoch;
    tsr__task_list *list;
} parser;

static int fail(parser *p, int64_t line, const char *fmt, ...) {
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(p->msg, p->msglen, "%s:%lld: %s", p->name, (long long)line, why);
    else
        snprintf(p->msg, p->msglen, "%s: %s", p->name, why);
    return TSR_ERR_INPUT;
}

static const char *skip_blanks(const char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* The next blank-separated word of *s, copied into w (at most wlen-1 chars); false at the end. */
static bool next_word(const char **s, char *w, size_t wlen) {
    const char *a = skip_blanks(*s);
    if (!*a)
        return false;
    size_t n = 0;
    while (a[n] && a[n] != ' ' && a[n] != '\t')
        n++;
    snprintf(w, wlen, "%.*s", (int)(n < wlen ? n : wlen - 1), a);
    *s = a + n;
    return true;
}

static bool parse_i64(const char *w, int64_t *v) {
    char *end = NULL;
    errno = 0;
    long long x = strtoll(w, &end, 10);
    if (errno || end == w || *end)
        return false;
    *v = x;
    return true;
}

static int add_task(parser *p, int64_t line, const char *cmd, bool repeated, int64_t repeat) {
    tsr__task_list *l = p->list;
    if (l->n >= TSR__TASKFILE_MAX_TASKS)
        return fail(p, line, "more than %lld tasks", (long long)TSR__TASKFILE_MAX_TASKS);
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 64;
        tsr__task_entry *t = realloc(l->t, (size_t)cap * sizeof *t);
        if (!t)
            return TSR_ERR_MEMORY;
        l->t = t;
        l->cap = cap;
    }
    size_t n = strlen(p->prefix) + strlen(cmd) + strlen(p->suffix) + 3;
    /* One argument of exec holds at most 128 KiB: a longer command could not start at all. */
    if (n - 3 > TSR__TASKFILE_MAX_LINE)
        return fail(p, line, "with PREFIX and SUFFIX the command is longer than %d characters",
                    TSR__TASKFILE_MAX_LINE);
    char *c = malloc(n);
    if (!c)
        return TSR_ERR_MEMORY;
    snprintf(c, n, "%s%s%s%s%s", p->prefix, p->prefix[0] && cmd[0] ? " " : "", cmd,
             p->suffix[0] && (cmd[0] || p->prefix[0]) ? " " : "", p->suffix);
    l->t[l->n++] = (tsr__task_entry){
        .line = line, .repeat = repeat, .repeated = repeated, .epoch = p->epoch, .command = c};
    return 0;
}

static int set_text(char **dst, const char *text) {
    char *c = strdup(text);
    if (!c)
        return TSR_ERR_MEMORY;
    free(*dst);
    *dst = c;
    return 0;
}

/* REPEAT N [start S] [step T] [command]. */
static int repeat(parser *p, int64_t line, const char *rest) {
    char w[64] = "";
    int64_t n = 0, start = 0, step = 1;
    if (!next_word(&rest, w, sizeof w) || !parse_i64(w, &n) || n < 0)
        return fail(p, line, "REPEAT: expected a count N >= 0, got '%s'", w[0] ? w : "");
    for (;;) {
        const char *save = rest;
        if (!next_word(&rest, w, sizeof w))
            break;
        int64_t *dst = !strcmp(w, "start") ? &start : !strcmp(w, "step") ? &step : NULL;
        if (!dst) {
            rest = save;
            break;
        }
        char v[64] = "";
        if (!next_word(&rest, v, sizeof v) || !parse_i64(v, dst))
            return fail(p, line, "REPEAT: '%s' needs an integer, got '%s'", w, v);
    }
    const char *cmd = skip_blanks(rest);
    if (!cmd[0] && !p->prefix[0] && !p->suffix[0])
        return fail(p, line, "REPEAT: no command (give one, or a PREFIX or SUFFIX before)");
    /* The indices must stay representable: |start| + n |step| within int64. */
    if (n > 0 && (step > INT32_MAX || step < -INT32_MAX || start > INT64_MAX / 4 ||
                  start < -INT64_MAX / 4 || n > TSR__TASKFILE_MAX_TASKS))
        return fail(p, line, "REPEAT: count, start or step too large");
    int err = 0;
    for (int64_t i = 0; i < n && !err; i++)
        err = add_task(p, line, cmd, true, start + i * step);
    return err;
}

static int directive(parser *p, int64_t line, const char *d) {
    char w[64] = "";
    const char *rest = d;
    if (!next_word(&rest, w, sizeof w))
        return fail(p, line, "'#TESSERA' without a directive (PREFIX, SUFFIX, BARRIER, REPEAT)");
    const char *text = *rest ? rest + 1 : rest; /* the one blank after the name separates */
    if (!strcmp(w, "PREFIX"))
        return set_text(&p->prefix, skip_blanks(text));
    if (!strcmp(w, "SUFFIX"))
        return set_text(&p->suffix, skip_blanks(text));
    if (!strcmp(w, "BARRIER")) {
        if (*skip_blanks(rest))
            return fail(p, line, "BARRIER takes nothing after it");
        p->epoch++;
        return 0;
    }
    if (!strcmp(w, "REPEAT"))
        return repeat(p, line, rest);
    return fail(p, line, "unknown directive '#TESSERA %s' (PREFIX, SUFFIX, BARRIER, REPEAT)", w);
}

static int parse_all(parser *p, const char *text, size_t len) {
    char *buf = malloc(TSR__TASKFILE_MAX_LINE + 2);
    if (!buf)
        return TSR_ERR_MEMORY;
    int err = 0;
    int64_t line = 0;
    for (size_t at = 0; at < len && !err;) {
        line++;
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (text + at)) : len - at;
        if (memchr(text + at, '\0', n)) {
            err = fail(p, line, "a NUL byte: not a text file");
            break;
        }
        if (n > 0 && text[at + n - 1] == '\r')
            n--;
        if (n > TSR__TASKFILE_MAX_LINE) {
            err = fail(p, line, "line longer than %d characters", TSR__TASKFILE_MAX_LINE);
            break;
        }
        memcpy(buf, text + at, n);
        buf[n] = '\0';
        at += (nl ? (size_t)(nl - (text + at)) + 1 : len - at);
        const char *s = skip_blanks(buf);
        if (!strncmp(s, "#TESSERA", 8) && (s[8] == '\0' || s[8] == ' ' || s[8] == '\t'))
            err = directive(p, line, s + 8);
        else if (*s && *s != '#')
            err = add_task(p, line, s, false, 0);
    }
    free(buf);
    if (!err && p->list->n == 0)
        err = fail(p, 0, "no tasks in the file");
    return err;
}

int tsr__taskfile_parse(const char *text, size_t len, const char *name, tsr__task_list *list,
                        char *msg, size_t msglen) {
    memset(list, 0, sizeof *list);
    if (msglen)
        msg[0] = '\0';
    parser p = {.name = name, .msg = msg, .msglen = msglen, .list = list};
    int err = set_text(&p.prefix, "");
    if (!err)
        err = set_text(&p.suffix, "");
    if (!err)
        err = parse_all(&p, text, len);
    free(p.prefix);
    free(p.suffix);
    if (err == TSR_ERR_MEMORY)
        snprintf(msg, msglen, "%s: out of memory", name);
    if (err)
        tsr__taskfile_free(list);
    return err;
}

static int read_fd(int fd, char **text, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    if (!b)
        return TSR_ERR_MEMORY;
    for (;;) {
        if (n == cap) {
            char *c = realloc(b, cap *= 2);
            if (!c) {
                free(b);
                return TSR_ERR_MEMORY;
            }
            b = c;
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(b);
            return TSR_ERR_IO;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *text = b;
    *len = n;
    return 0;
}

int tsr__taskfile_read(const char *path, tsr__task_list *list, char *msg, size_t msglen) {
    memset(list, 0, sizeof *list);
    bool in = !strcmp(path, "-");
    const char *name = in ? "(standard input)" : path;
    int fd = in ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(msg, msglen, "%s: cannot open the task file: %s", name, strerror(errno));
        return TSR_ERR_INPUT;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(msg, msglen, "%s: is a directory, not a task file", name);
        close(fd);
        return TSR_ERR_INPUT;
    }
    char *text = NULL;
    size_t len = 0;
    int err = read_fd(fd, &text, &len);
    int e = errno;
    if (!in)
        close(fd);
    if (err) {
        snprintf(msg, msglen, "%s: cannot read the task file: %s", name,
                 err == TSR_ERR_MEMORY ? "out of memory" : strerror(e));
        return err == TSR_ERR_MEMORY ? err : TSR_ERR_INPUT;
    }
    err = tsr__taskfile_parse(text, len, name, list, msg, msglen);
    free(text);
    return err;
}

void tsr__taskfile_free(tsr__task_list *list) {
    for (int64_t i = 0; i < list->n; i++)
        free(list->t[i].command);
    free(list->t);
    memset(list, 0, sizeof *list);
}
