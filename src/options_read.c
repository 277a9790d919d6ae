/* Options read on rank 0: the environment (TESSERA_OPTIONS), then options files, then the
 * command line; each value checked against its option's kind and range. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context_impl.h"
#include "options_impl.h"
#include "tessera/file.h"

bool tsr__opts_command_line_only(const char *name) {
    return strcmp(name, "help") == 0 || strcmp(name, "version") == 0 ||
           strcmp(name, "options-file") == 0;
}

/* The text starts as a decimal number does: a digit, or a sign or '.' before one. */
static bool decimal_start(const char *t, bool real) {
    if (*t == '+' || *t == '-')
        t++;
    if (real && *t == '.')
        t++;
    return isdigit((unsigned char)*t);
}

bool tsr__parse_int(const char *text, long long *v) {
    char *end = NULL;
    errno = 0;
    *v = decimal_start(text, false) ? strtoll(text, &end, 10) : 0;
    return end && *end == '\0' && errno != ERANGE;
}

bool tsr__parse_real(const char *text, double *v) {
    char *end = NULL;
    errno = 0;
    *v = decimal_start(text, true) && !strpbrk(text, "xX") ? strtod(text, &end) : 0;
    return end && *end == '\0' && errno != ERANGE && isfinite(*v);
}

int tsr_opts_read_reals(const char *text, char sep, int n, double *values) {
    const char *at = text;
    for (int i = 0; i < n; i++) {
        const char *end = i + 1 < n ? strchr(at, sep) : at + strlen(at);
        char one[64];
        if (!end || (size_t)(end - at) >= sizeof one)
            return TSR_ERR_INPUT;
        memcpy(one, at, (size_t)(end - at));
        one[end - at] = '\0';
        if (!tsr__parse_real(one, &values[i]))
            return TSR_ERR_INPUT;
        at = end + 1;
    }
    return TSR_SUCCESS;
}

static int parse_value(tsr_ctx ctx, opt *p, const char *text) {
    char range[96];
    switch (p->k) {
    case K_INT: {
        long long v;
        TSR_CHECK(ctx, tsr__parse_int(text, &v), TSR_ERR_INPUT, "--%s '%s': expected an integer",
                  p->name, text);
        if (v < p->imin || v > p->imax) {
            int64_t bound = v < p->imin ? p->imin : p->imax;
            tsr__opts_range(p, bound <= -TSR__OPT_INT_UNBOUNDED || bound >= TSR__OPT_INT_UNBOUNDED,
                            range, sizeof range);
            TSR_CHECK(ctx, false, TSR_ERR_INPUT, "--%s %s: must be %s", p->name, text, range);
        }
        *(int64_t *)p->value = v;
        break;
    }
    case K_DOUBLE: {
        double v;
        TSR_CHECK(ctx, tsr__parse_real(text, &v), TSR_ERR_INPUT, "--%s '%s': expected a number",
                  p->name, text);
        if (!(v >= p->dmin && v <= p->dmax)) {
            double bound = v < p->dmin ? p->dmin : p->dmax;
            tsr__opts_range(p, fabs(bound) >= TSR__OPT_DOUBLE_UNBOUNDED, range, sizeof range);
            TSR_CHECK(ctx, false, TSR_ERR_INPUT, "--%s %s: must be %s", p->name, text, range);
        }
        *(double *)p->value = v;
        break;
    }
    case K_STRING:
    case K_OPTIONAL:
        /* An empty path or name is never meant: "--output ''" from an unset shell variable. */
        TSR_CHECK(ctx, *text, TSR_ERR_INPUT, "--%s: empty value", p->name);
        TSR_CHECK(ctx, strlen(text) < TSR_OPT_STRLEN, TSR_ERR_INPUT,
                  "--%s: value longer than %d characters", p->name, TSR_OPT_STRLEN - 1);
        snprintf((char *)p->value, TSR_OPT_STRLEN, "%s", text);
        break;
    case K_CHOICE: {
        int found = -1;
        char list[256] = "";
        size_t used = 0;
        for (int c = 0; p->choices[c]; c++) {
            if (strcmp(p->choices[c], text) == 0)
                found = c;
            used +=
                (size_t)snprintf(list + used, sizeof list - used, c ? ", %s" : "%s", p->choices[c]);
            if (used >= sizeof list)
                used = sizeof list - 1;
        }
        TSR_CHECK(ctx, found >= 0, TSR_ERR_INPUT, "--%s '%s': unknown value (choose from %s)",
                  p->name, text, list);
        *(int *)p->value = found;
        break;
    }
    case K_EXTENTS: {
        char what[64];
        snprintf(what, sizeof what, "--%s", p->name);
        TSR_CALL(ctx, tsr_extents_parse(ctx, what, text, (tsr_extents *)p->value));
        break;
    }
    case K_FLAG:
        break;
    }
    return TSR_SUCCESS;
}

/* Sets option `name` from `val` (NULL: none given). */
static int set_option(tsr_opts o, const char *name, const char *val) {
    tsr_ctx ctx = o->ctx;
    opt *p = NULL;
    for (int k = 0; k < o->n && !p; k++)
        if (strcmp(o->list[k].name, name) == 0)
            p = &o->list[k];
    TSR_CHECK(ctx, p, TSR_ERR_INPUT, "unknown option '--%s' (see --help)", name);
    if (p->k == K_FLAG) {
        TSR_CHECK(ctx, !val, TSR_ERR_INPUT, "--%s takes no value", name);
        *(bool *)p->value = true;
        return TSR_SUCCESS;
    }
    if (p->k == K_OPTIONAL && !val)
        val = p->implicit;
    TSR_CHECK(ctx, val, TSR_ERR_INPUT, "--%s needs a value (%s)", name,
              p->metavar ? p->metavar : "see --help");
    return parse_value(ctx, p, val);
}

/* Whether option `name` reads the next argument `next` as its value: an optional value only
 * when the argument is not another option. */
static bool takes_value(tsr_opts o, const char *name, const char *next) {
    for (int k = 0; k < o->n; k++)
        if (strcmp(o->list[k].name, name) == 0)
            return o->list[k].k == K_OPTIONAL ? next[0] != '-' : o->list[k].k != K_FLAG;
    return strcmp(name, "options-file") == 0;
}

/* Reads arguments args[0..n-1] ("--name value" or "--name=value"). `where` prefixes messages
 * ("TESSERA_OPTIONS: "); on the command line (where == NULL) --options-file is skipped, having
 * been read already. */
static int parse_args(tsr_opts o, int n, char **args, const char *where) {
    tsr_ctx ctx = o->ctx;
    const char *pre = where ? where : "";
    for (int i = 0; i < n; i++) {
        const char *arg = args[i];
        TSR_CHECK(ctx, strncmp(arg, "--", 2) == 0 && arg[2], TSR_ERR_INPUT,
                  "%sunexpected argument '%s' (options start with --; see --help)", pre, arg);
        char name[64];
        const char *eq = strchr(arg + 2, '=');
        size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        TSR_CHECK(ctx, len < sizeof name, TSR_ERR_INPUT, "%sunknown option '%s' (see --help)", pre,
                  arg);
        memcpy(name, arg + 2, len);
        name[len] = '\0';
        const char *val = eq ? eq + 1 : NULL;
        if (!val && i + 1 < n && takes_value(o, name, args[i + 1]))
            val = args[++i];
        if (tsr__opts_command_line_only(name)) {
            TSR_CHECK(ctx, !where, TSR_ERR_INPUT, "%s--%s is read from the command line only", pre,
                      name);
            /* --help and --version were looked for first: here they came with "=". */
            TSR_CHECK(ctx, strcmp(name, "options-file") == 0, TSR_ERR_INPUT, "--%s takes no value",
                      name);
            continue;
        }
        int err = set_option(o, name, val);
        if (err && where) {
            char msg[TSR_MSG_LEN];
            snprintf(msg, sizeof msg, "%s", ctx->err_msg);
            return tsr_error_set(ctx, err, __FILE__, __LINE__, __func__, "%s%s", pre, msg);
        }
        TSR_CALL(ctx, err);
    }
    return TSR_SUCCESS;
}

int tsr__opts_parse_line(const char *line, char *name, size_t name_len, char *value,
                         bool *has_value, const char **why) {
#define BLANK(c)                                                                                   \
    ((c) == ' ' || (c) == '\t' || (c) == '\r' || (c) == '\n' || (c) == '\v' || (c) == '\f')
    const char *p = line;
    *has_value = false;
    *why = NULL;
    name[0] = value[0] = '\0';
    while (BLANK(*p))
        p++;
    if (*p == '\0' || *p == '#')
        return 0;
    if (p[0] == '-' && p[1] == '-')
        p += 2;
    const char *n0 = p;
    while (*p && !BLANK(*p) && *p != '=' && *p != '#')
        p++;
    size_t len = (size_t)(p - n0);
    if (len == 0 || n0[0] == '-') {
        *why = "expected an option name (\"name value\" or \"--name=value\")";
        return -1;
    }
    if (len >= name_len) {
        *why = "option name too long";
        return -1;
    }
    memcpy(name, n0, len);
    name[len] = '\0';
    while (BLANK(*p))
        p++;
    if (*p == '=') {
        *has_value = true;
        p++;
        while (BLANK(*p))
            p++;
    }
    if (*p == '\0' || *p == '#')
        return 1; /* a flag, or "name =" with an empty value */
    *has_value = true;
    const char *v0, *v1;
    if (*p == '"' || *p == '\'') {
        char q = *p++;
        v0 = p;
        while (*p && *p != q)
            p++;
        if (*p != q) {
            *why = "unterminated quote";
            return -1;
        }
        v1 = p++;
    } else {
        v0 = p;
        while (*p && !BLANK(*p))
            p++;
        v1 = p;
    }
    while (BLANK(*p))
        p++;
    if (*p && *p != '#') {
        *why = "more than one value (quote a value that holds blanks)";
        return -1;
    }
    memcpy(value, v0, (size_t)(v1 - v0));
    value[v1 - v0] = '\0';
    return 1;
#undef BLANK
}

/* Reads an options file (rank 0): a bad line is told as "FILE:LINE: reason". */
static int read_file(tsr_opts o, const char *path) {
    tsr_ctx ctx = o->ctx;
    /* A FIFO or a device would block; only a regular file is opened. */
    TSR_CALL(ctx, tsr_file_check_input(ctx, "--options-file", path));
    FILE *f = fopen(path, "r");
    TSR_CHECK(ctx, f, TSR_ERR_INPUT, "--options-file: cannot read '%s': %s", path, strerror(errno));
    char *line = NULL, *value = NULL;
    size_t cap = 0, vcap = 0;
    int err = TSR_SUCCESS;
    for (long lineno = 1; !err; lineno++) {
        errno = 0;
        ssize_t got = getline(&line, &cap, f);
        if (got < 0) {
            if (ferror(f))
                err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                    "--options-file: cannot read '%s': %s", path, strerror(errno));
            break;
        }
        if ((size_t)got + 1 > vcap) {
            char *v = realloc(value, (size_t)got + 1);
            if (!v) {
                err = tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                    "cannot allocate a line of '%s'", path);
                break;
            }
            value = v;
            vcap = (size_t)got + 1;
        }
        char name[64];
        bool has_value;
        const char *why;
        int kind = tsr__opts_parse_line(line, name, sizeof name, value, &has_value, &why);
        if (kind < 0) {
            err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__, "%s:%ld: %s",
                                path, lineno, why);
        } else if (kind > 0 && tsr__opts_command_line_only(name)) {
            err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                "%s:%ld: --%s is read from the command line only", path, lineno,
                                name);
        } else if (kind > 0) {
            err = set_option(o, name, has_value ? value : NULL);
            if (err) {
                char msg[TSR_MSG_LEN];
                snprintf(msg, sizeof msg, "%s", ctx->err_msg);
                err = tsr_error_set(ctx, err, __FILE__, __LINE__, __func__, "%s:%ld: %s", path,
                                    lineno, msg);
            }
        }
    }
    free(line);
    free(value);
    fclose(f);
    return err;
}

/* The environment's options, split on blanks. */
static int parse_env(tsr_opts o) {
    tsr_ctx ctx = o->ctx;
    const char *env = getenv("TESSERA_OPTIONS");
    if (!env || !*env)
        return TSR_SUCCESS;
    char *copy = strdup(env);
    char **args = calloc(strlen(env) / 2 + 1, sizeof *args);
    if (!copy || !args) {
        free(copy);
        free(args);
        TSR_CHECK(ctx, 0, TSR_ERR_MEMORY, "cannot allocate TESSERA_OPTIONS");
    }
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(copy, " \t\r\n\v\f", &save); t;
         t = strtok_r(NULL, " \t\r\n\v\f", &save))
        args[n++] = t;
    int err = parse_args(o, n, args, "TESSERA_OPTIONS: ");
    free(args);
    free(copy);
    return err;
}

int tsr__opts_parse_root(tsr_opts o, int argc, char **argv, int *done, int *rest) {
    tsr_ctx ctx = o->ctx;
    int end = 1;
    while (end < argc && strcmp(argv[end], "--") != 0)
        end++;
    *rest = end < argc ? end + 1 : argc;
    /* A failed registration is a bug in the program: its table is incomplete. */
    if (o->err)
        return tsr_error_set(ctx, o->err, __FILE__, __LINE__, __func__, "%s", o->err_msg);
    /* --help wins over any other error on the command line. */
    for (int i = 1; i < end; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            tsr__opts_print_help(o);
            *done = 1;
            return TSR_SUCCESS;
        }
    }
    for (int i = 1; i < end; i++) {
        if (strcmp(argv[i], "--version") == 0) {
            printf("%s (tessera %s)\n", ctx->name, TESSERA_VERSION);
            *done = 1;
            return TSR_SUCCESS;
        }
    }
    TSR_CALL(ctx, parse_env(o));
    for (int i = 1; i < end; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--options-file", 14) != 0 || (arg[14] && arg[14] != '='))
            continue;
        const char *path = arg[14] ? arg + 15 : NULL;
        if (!path) {
            TSR_CHECK(ctx, i + 1 < end, TSR_ERR_INPUT, "--options-file needs a value (FILE)");
            path = argv[++i];
        }
        TSR_CHECK(ctx, *path, TSR_ERR_INPUT, "--options-file: empty value");
        TSR_CALL(ctx, read_file(o, path));
    }
    if (end > 1)
        TSR_CALL(ctx, parse_args(o, end - 1, argv + 1, NULL));
    TSR_CHECK(ctx, *rest == argc || o->rest_metavar, TSR_ERR_INPUT,
              "unexpected argument '%s' after -- (%s takes no arguments)", argv[*rest], ctx->name);
    return TSR_SUCCESS;
}
