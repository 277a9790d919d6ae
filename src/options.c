/* Options: a declarative table, parsed on rank 0, broadcast to every rank. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "context_impl.h"
#include "options_impl.h"
#include "tessera/file.h"
#include "tessera/options.h"

/* K_OPTIONAL: a string whose value may be left out (the option alone stores `implicit`). */
typedef enum kind { K_FLAG, K_INT, K_DOUBLE, K_STRING, K_CHOICE, K_EXTENTS, K_OPTIONAL } kind;

typedef struct opt {
    char name[48];
    kind k;
    void *value;
    const char *metavar, *help;
    const char *const *choices;
    const char *implicit; /* K_OPTIONAL: the value of the option given alone */
    int64_t imin, imax;
    double dmin, dmax;
    char deflt[96]; /* the default, as shown by --help */
} opt;

struct tsr_opts_s {
    tsr_ctx ctx;
    const char *summary;
    opt *list;
    int n, cap;
    char cmdline[4096];
    int err;                   /* the first failed registration, reported by tsr_opts_parse */
    char err_msg[TSR_MSG_LEN]; /* its message (ctx's may be overwritten before the parse) */
    const char *rest_metavar;  /* arguments after "--" are the program's (NULL: refused) */
    int argc, rest;            /* argv[rest .. argc-1] follow "--" */
    char **argv;
};

/* Remembers the first failed registration, so that the adders need no error plumbing. */
static int remember(tsr_opts o, int err) {
    if (err && !o->err) {
        o->err = err;
        snprintf(o->err_msg, sizeof o->err_msg, "%s", o->ctx->err_msg);
    }
    return err;
}

int tsr_opts_create(tsr_ctx ctx, const char *summary, tsr_opts *opts) {
    tsr_opts o;
    TSR_CALL(ctx, tsr__calloc(ctx, 1, sizeof *o, &o));
    o->ctx = ctx;
    o->summary = summary;
    *opts = o;
    return TSR_SUCCESS;
}

int tsr_opts_destroy(tsr_opts *opts) {
    if (opts && *opts) {
        free((*opts)->list);
        free(*opts);
        *opts = NULL;
    }
    return TSR_SUCCESS;
}

/* Names only the command line may hold (and no program may declare). */
static bool command_line_only(const char *name) {
    return strcmp(name, "help") == 0 || strcmp(name, "version") == 0 ||
           strcmp(name, "options-file") == 0;
}

static int add(tsr_opts o, const char *name, kind k, void *value, const char *metavar,
               const char *help, opt **out) {
    tsr_ctx ctx = o->ctx;
    TSR_CHECK(ctx, name && value && strlen(name) < sizeof o->list->name, TSR_ERR_ARG,
              "option needs a short name and a value");
    TSR_CHECK(ctx, !command_line_only(name), TSR_ERR_ARG, "option --%s is reserved", name);
    for (int i = 0; i < o->n; i++)
        TSR_CHECK(ctx, strcmp(o->list[i].name, name) != 0, TSR_ERR_ARG,
                  "option --%s declared twice", name);
    if (o->n == o->cap) {
        int nc = o->cap ? 2 * o->cap : 32;
        opt *l = realloc(o->list, sizeof *l * (size_t)nc);
        TSR_CHECK(ctx, l, TSR_ERR_MEMORY, "cannot allocate the option table");
        o->list = l;
        o->cap = nc;
    }
    opt *p = &o->list[o->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->k = k;
    p->value = value;
    p->metavar = metavar;
    p->help = help ? help : "";
    *out = p;
    return TSR_SUCCESS;
}

static int add_flag(tsr_opts o, const char *name, bool *value, const char *help) {
    opt *p;
    TSR_CALL(o->ctx, add(o, name, K_FLAG, value, NULL, help, &p));
    return TSR_SUCCESS;
}

static int add_int(tsr_opts o, const char *name, int64_t *value, int64_t min, int64_t max,
                   const char *metavar, const char *help) {
    opt *p;
    TSR_CALL(o->ctx, add(o, name, K_INT, value, metavar ? metavar : "N", help, &p));
    p->imin = min;
    p->imax = max;
    snprintf(p->deflt, sizeof p->deflt, "%" PRId64, *value);
    return TSR_SUCCESS;
}

static int add_double(tsr_opts o, const char *name, double *value, double min, double max,
                      const char *metavar, const char *help) {
    opt *p;
    TSR_CALL(o->ctx, add(o, name, K_DOUBLE, value, metavar ? metavar : "X", help, &p));
    p->dmin = min;
    p->dmax = max;
    snprintf(p->deflt, sizeof p->deflt, "%g", *value);
    return TSR_SUCCESS;
}

static int add_string(tsr_opts o, const char *name, char *value, const char *metavar,
                      const char *help) {
    opt *p;
    TSR_CALL(o->ctx, add(o, name, K_STRING, value, metavar ? metavar : "TEXT", help, &p));
    snprintf(p->deflt, sizeof p->deflt, "%.90s", value);
    return TSR_SUCCESS;
}

static int add_choice(tsr_opts o, const char *name, int *value, const char *const *choices,
                      const char *help) {
    opt *p;
    TSR_CALL(o->ctx, add(o, name, K_CHOICE, value, NULL, help, &p));
    p->choices = choices;
    snprintf(p->deflt, sizeof p->deflt, "%s", choices[*value]);
    return TSR_SUCCESS;
}

static int add_extents(tsr_opts o, const char *name, tsr_extents *value, const char *metavar,
                       const char *help) {
    opt *p;
    TSR_CALL(o->ctx, add(o, name, K_EXTENTS, value, metavar ? metavar : "NxM", help, &p));
    tsr_extents_format(value, p->deflt, sizeof p->deflt);
    return TSR_SUCCESS;
}

static int add_optional(tsr_opts o, const char *name, char *value, const char *implicit,
                        const char *metavar, const char *help) {
    opt *p;
    TSR_CHECK(o->ctx, implicit && strlen(implicit) < TSR_OPT_STRLEN, TSR_ERR_ARG,
              "option --%s needs the value it takes when given alone", name ? name : "");
    TSR_CALL(o->ctx, add(o, name, K_OPTIONAL, value, metavar ? metavar : "TEXT", help, &p));
    p->implicit = implicit;
    snprintf(p->deflt, sizeof p->deflt, "%.90s", value);
    return TSR_SUCCESS;
}

int tsr_opts_add_flag(tsr_opts o, const char *name, bool *value, const char *help) {
    return o ? remember(o, add_flag(o, name, value, help)) : TSR_ERR_ARG;
}

int tsr_opts_add_int(tsr_opts o, const char *name, int64_t *value, int64_t min, int64_t max,
                     const char *metavar, const char *help) {
    return o ? remember(o, add_int(o, name, value, min, max, metavar, help)) : TSR_ERR_ARG;
}

int tsr_opts_add_double(tsr_opts o, const char *name, double *value, double min, double max,
                        const char *metavar, const char *help) {
    return o ? remember(o, add_double(o, name, value, min, max, metavar, help)) : TSR_ERR_ARG;
}

int tsr_opts_add_string(tsr_opts o, const char *name, char *value, const char *metavar,
                        const char *help) {
    return o ? remember(o, add_string(o, name, value, metavar, help)) : TSR_ERR_ARG;
}

int tsr_opts_add_choice(tsr_opts o, const char *name, int *value, const char *const *choices,
                        const char *help) {
    return o ? remember(o, add_choice(o, name, value, choices, help)) : TSR_ERR_ARG;
}

int tsr_opts_add_extents(tsr_opts o, const char *name, tsr_extents *value, const char *metavar,
                         const char *help) {
    return o ? remember(o, add_extents(o, name, value, metavar, help)) : TSR_ERR_ARG;
}

int tsr_opts_add_optional(tsr_opts o, const char *name, char *value, const char *implicit,
                          const char *metavar, const char *help) {
    return o ? remember(o, add_optional(o, name, value, implicit, metavar, help)) : TSR_ERR_ARG;
}

int tsr_opts_allow_rest(tsr_opts o, const char *metavar) {
    if (!o)
        return TSR_ERR_ARG;
    o->rest_metavar = metavar ? metavar : "ARG...";
    return TSR_SUCCESS;
}

int tsr_opts_error(tsr_opts o) {
    return o ? o->err : TSR_ERR_ARG;
}

/* The shortest text that reads back as x. */
static void format_double(double x, char *buf, size_t len) {
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            return;
    }
}

/* Bounds this far out mean "no bound" and are not shown. */
#define INT_UNBOUNDED (INT64_MAX / 2)
#define DOUBLE_UNBOUNDED 1e300

/* The range of a numeric option, as --help shows it and as a rejected value is told: "between 0
 * and 0.5", ">= 0", "<= 7", or "" when unbounded; the one place where a range is written. `all`
 * shows far-out bounds too (for a value beyond one of them). */
static void format_range(const opt *p, bool all, char *buf, size_t len) {
    buf[0] = '\0';
    if (p->k == K_INT) {
        bool lo = all || p->imin > -INT_UNBOUNDED, hi = all || p->imax < INT_UNBOUNDED;
        if (lo && hi)
            snprintf(buf, len, "between %" PRId64 " and %" PRId64, p->imin, p->imax);
        else if (lo)
            snprintf(buf, len, ">= %" PRId64, p->imin);
        else if (hi)
            snprintf(buf, len, "<= %" PRId64, p->imax);
    } else if (p->k == K_DOUBLE) {
        bool lo = all || p->dmin > -DOUBLE_UNBOUNDED, hi = all || p->dmax < DOUBLE_UNBOUNDED;
        char a[32], b[32];
        format_double(p->dmin, a, sizeof a);
        format_double(p->dmax, b, sizeof b);
        if (lo && hi)
            snprintf(buf, len, "between %s and %s", a, b);
        else if (lo)
            snprintf(buf, len, ">= %s", a);
        else if (hi)
            snprintf(buf, len, "<= %s", b);
    }
}

/* ---- --help: 80 columns, descriptions aligned and wrapped ---- */

#define HELP_WIDTH 80
#define HELP_LEFT 26 /* option column, after a 2-space indent */
#define HELP_DESC (2 + HELP_LEFT + 2)

/* Prints `text` word-wrapped within HELP_WIDTH, the first line after `col` characters already
 * printed on it, the next ones indented by `indent`. */
static void print_wrapped(const char *text, int col, int indent) {
    const char *p = text;
    bool first = true;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if (*p == '[' && e[-1] != ']' && strchr(e, ']')) /* "[range, default]" stays whole */
            e = strchr(e, ']') + 1;
        int w = (int)(e - p);
        if (w == 0)
            break;
        if (!first && col + 1 + w > HELP_WIDTH) {
            printf("\n%*s", indent, "");
            col = indent;
            first = true;
        }
        if (!first) {
            putchar(' ');
            col++;
        }
        printf("%.*s", w, p);
        col += w;
        first = false;
        p = e;
    }
    putchar('\n');
}

/* One option: "  --name METAVAR" then its description, aligned at HELP_DESC (on the next line
 * when the left part is too wide). */
static void print_option(const char *left, const char *desc) {
    int col = printf("  %s", left);
    if (col + 2 > HELP_DESC) {
        printf("\n%*s", HELP_DESC, "");
    } else {
        printf("%*s", HELP_DESC - col, "");
    }
    print_wrapped(desc, HELP_DESC, HELP_DESC);
}

static void print_help(tsr_opts o) {
    tsr_ctx ctx = o->ctx;
    printf("Usage: mpirun -np R %s [options]", ctx->name);
    if (o->rest_metavar)
        printf(" [--] %s", o->rest_metavar);
    printf("\n");
    print_wrapped(o->summary ? o->summary : "", 0, 0);
    printf("\nOptions:\n");
    for (int i = 0; i < o->n; i++) {
        const opt *p = &o->list[i];
        char left[160], range[96], desc[1024];
        if (p->k == K_FLAG) {
            snprintf(left, sizeof left, "--%s", p->name);
        } else if (p->k == K_CHOICE) {
            int used = snprintf(left, sizeof left, "--%s ", p->name);
            for (int c = 0; p->choices[c] && used < (int)sizeof left; c++)
                used += snprintf(left + used, sizeof left - (size_t)used, c ? "|%s" : "%s",
                                 p->choices[c]);
        } else if (p->k == K_OPTIONAL) {
            snprintf(left, sizeof left, "--%s [%s]", p->name, p->metavar);
        } else {
            snprintf(left, sizeof left, "--%s %s", p->name, p->metavar);
        }
        format_range(p, false, range, sizeof range);
        bool deflt = p->deflt[0] && !strstr(p->help, "default");
        if (range[0] && deflt)
            snprintf(desc, sizeof desc, "%s [%s, default: %s]", p->help, range, p->deflt);
        else if (range[0])
            snprintf(desc, sizeof desc, "%s [%s]", p->help, range);
        else if (deflt)
            snprintf(desc, sizeof desc, "%s [default: %s]", p->help, p->deflt);
        else
            snprintf(desc, sizeof desc, "%s", p->help);
        print_option(left, desc);
    }
    print_option("--options-file FILE",
                 "read options from FILE: one per line (\"name value\", \"--name=value\", ...), "
                 "# comments, blank lines");
    print_option("--help", "show this help and exit");
    print_option("--version", "show the version and exit");
    printf("\n");
    print_wrapped("Options are also read from TESSERA_OPTIONS (split on blanks). The command line "
                  "wins over an options file, which wins over TESSERA_OPTIONS; a later occurrence "
                  "wins over an earlier one. -- ends the options.",
                  0, 0);
    print_wrapped("Threads per rank come from OMP_NUM_THREADS. TESSERA_DEBUG=1 adds error traces.",
                  0, 0);
}

static int parse_value(tsr_ctx ctx, opt *p, const char *text) {
    char *end = NULL, range[96];
    switch (p->k) {
    case K_INT: {
        errno = 0;
        long long v = strtoll(text, &end, 10);
        TSR_CHECK(ctx, *text && end && *end == '\0' && errno != ERANGE, TSR_ERR_INPUT,
                  "--%s '%s': expected an integer", p->name, text);
        if (v < p->imin || v > p->imax) {
            int64_t bound = v < p->imin ? p->imin : p->imax;
            format_range(p, bound <= -INT_UNBOUNDED || bound >= INT_UNBOUNDED, range, sizeof range);
            TSR_CHECK(ctx, false, TSR_ERR_INPUT, "--%s %s: must be %s", p->name, text, range);
        }
        *(int64_t *)p->value = v;
        break;
    }
    case K_DOUBLE: {
        errno = 0;
        double v = strtod(text, &end);
        TSR_CHECK(ctx, *text && end && *end == '\0' && errno != ERANGE && isfinite(v),
                  TSR_ERR_INPUT, "--%s '%s': expected a number", p->name, text);
        if (!(v >= p->dmin && v <= p->dmax)) {
            double bound = v < p->dmin ? p->dmin : p->dmax;
            format_range(p, fabs(bound) >= DOUBLE_UNBOUNDED, range, sizeof range);
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

/* ---- reading the options: the environment, then files, then the command line ---- */

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
        if (command_line_only(name)) {
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
        } else if (kind > 0 && command_line_only(name)) {
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

/* Rank 0's half: *done set by --help/--version; argv[*rest..] follow "--". */
static int parse_root(tsr_opts o, int argc, char **argv, int *done, int *rest) {
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
            print_help(o);
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

static size_t value_size(const opt *p) {
    switch (p->k) {
    case K_FLAG:
        return sizeof(bool);
    case K_INT:
        return sizeof(int64_t);
    case K_DOUBLE:
        return sizeof(double);
    case K_STRING:
    case K_OPTIONAL:
        return TSR_OPT_STRLEN;
    case K_CHOICE:
        return sizeof(int);
    case K_EXTENTS:
        return sizeof(tsr_extents);
    }
    return 0;
}

int tsr_opts_parse(tsr_opts o, int argc, char **argv, bool *done) {
    tsr_ctx ctx = o->ctx;
    int d = 0;
    size_t used = 0;
    for (int i = 0; i < argc && used < sizeof o->cmdline; i++)
        used += (size_t)snprintf(o->cmdline + used, sizeof o->cmdline - used, i ? " %s" : "%s",
                                 argv[i]);
    int rest[2] = {0, argc};
    int err = ctx->rank == 0 ? parse_root(o, argc, argv, &rest[0], &rest[1]) : TSR_SUCCESS;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    TSR_MPI(ctx, MPI_Bcast(rest, 2, MPI_INT, 0, ctx->comm));
    d = rest[0];
    *done = d != 0;
    /* Every rank has the same argv from the launcher; rank 0 says where the rest begins. */
    o->argc = argc;
    o->argv = argv;
    o->rest = rest[1] < argc ? rest[1] : argc;
    if (d)
        return TSR_SUCCESS;
    /* Rank 0's reading of the command line is the one every rank uses. */
    for (int i = 0; i < o->n; i++)
        TSR_CALL(ctx, tsr__bcast_bytes(ctx, o->list[i].value, value_size(&o->list[i]), 0));
    return TSR_SUCCESS;
}

int tsr_opts_rest(tsr_opts o, int *argc, char ***argv) {
    if (!o || !argc || !argv)
        return TSR_ERR_ARG;
    *argc = o->argc - o->rest;
    *argv = o->argv ? o->argv + o->rest : NULL;
    return TSR_SUCCESS;
}

const char *tsr_opts_command_line(tsr_opts o) {
    return o->cmdline;
}

/* ---- the options as JSON, for run reports ---- */

static void json_text(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(f, "\\%c", *c);
        else if (*c < 0x20)
            fprintf(f, "\\u%04x", *c);
        else
            fputc(*c, f);
    }
    fputc('"', f);
}

int tsr_opts_json(tsr_opts o, char **json) {
    tsr_ctx ctx = o->ctx;
    TSR_CHECK(ctx, json, TSR_ERR_ARG, "tsr_opts_json needs a result pointer");
    *json = NULL;
    size_t len = 0;
    FILE *f = open_memstream(json, &len);
    TSR_CHECK(ctx, f, TSR_ERR_MEMORY, "cannot allocate the options as JSON");
    fputc('{', f);
    for (int i = 0; i < o->n; i++) {
        const opt *p = &o->list[i];
        fprintf(f, "%s\"%s\": ", i ? ", " : "", p->name);
        switch (p->k) {
        case K_FLAG:
            fputs(*(const bool *)p->value ? "true" : "false", f);
            break;
        case K_INT:
            fprintf(f, "%" PRId64, *(const int64_t *)p->value);
            break;
        case K_DOUBLE: {
            double v = *(const double *)p->value;
            if (isfinite(v))
                fprintf(f, "%.17g", v);
            else
                fputs("null", f);
            break;
        }
        case K_STRING:
        case K_OPTIONAL:
            json_text(f, (const char *)p->value);
            break;
        case K_CHOICE:
            json_text(f, p->choices[*(const int *)p->value]);
            break;
        case K_EXTENTS: {
            const tsr_extents *e = p->value;
            fputc('[', f);
            for (int d = 0; d < e->ndim; d++)
                fprintf(f, "%s%" PRId64, d ? ", " : "", e->n[d]);
            fputc(']', f);
            break;
        }
        }
    }
    fputc('}', f);
    if (fclose(f) != 0) {
        free(*json);
        *json = NULL;
        TSR_CHECK(ctx, 0, TSR_ERR_MEMORY, "cannot allocate the options as JSON");
    }
    return TSR_SUCCESS;
}
