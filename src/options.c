/* Options: a declarative table, parsed on rank 0, broadcast to every rank. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "context_impl.h"
#include "tessera/options.h"

typedef enum kind { K_FLAG, K_INT, K_DOUBLE, K_STRING, K_CHOICE, K_EXTENTS } kind;

typedef struct opt {
    char name[48];
    kind k;
    void *value;
    const char *metavar, *help;
    const char *const *choices;
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
};

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

static int add(tsr_opts o, const char *name, kind k, void *value, const char *metavar,
               const char *help, opt **out) {
    tsr_ctx ctx = o->ctx;
    TSR_CHECK(ctx, name && value && strlen(name) < sizeof o->list->name, TSR_ERR_ARG,
              "option needs a short name and a value");
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

int tsr_opts_add_flag(tsr_opts o, const char *name, bool *value, const char *help) {
    opt *p;
    TSR_CALL(o->ctx, add(o, name, K_FLAG, value, NULL, help, &p));
    return TSR_SUCCESS;
}

int tsr_opts_add_int(tsr_opts o, const char *name, int64_t *value, int64_t min, int64_t max,
                     const char *metavar, const char *help) {
    opt *p;
    TSR_CALL(o->ctx, add(o, name, K_INT, value, metavar ? metavar : "N", help, &p));
    p->imin = min;
    p->imax = max;
    snprintf(p->deflt, sizeof p->deflt, "%" PRId64, *value);
    return TSR_SUCCESS;
}

int tsr_opts_add_double(tsr_opts o, const char *name, double *value, double min, double max,
                        const char *metavar, const char *help) {
    opt *p;
    TSR_CALL(o->ctx, add(o, name, K_DOUBLE, value, metavar ? metavar : "X", help, &p));
    p->dmin = min;
    p->dmax = max;
    snprintf(p->deflt, sizeof p->deflt, "%g", *value);
    return TSR_SUCCESS;
}

int tsr_opts_add_string(tsr_opts o, const char *name, char *value, const char *metavar,
                        const char *help) {
    opt *p;
    TSR_CALL(o->ctx, add(o, name, K_STRING, value, metavar ? metavar : "TEXT", help, &p));
    snprintf(p->deflt, sizeof p->deflt, "%.90s", value);
    return TSR_SUCCESS;
}

int tsr_opts_add_choice(tsr_opts o, const char *name, int *value, const char *const *choices,
                        const char *help) {
    opt *p;
    TSR_CALL(o->ctx, add(o, name, K_CHOICE, value, NULL, help, &p));
    p->choices = choices;
    snprintf(p->deflt, sizeof p->deflt, "%s", choices[*value]);
    return TSR_SUCCESS;
}

int tsr_opts_add_extents(tsr_opts o, const char *name, tsr_extents *value, const char *metavar,
                         const char *help) {
    opt *p;
    TSR_CALL(o->ctx, add(o, name, K_EXTENTS, value, metavar ? metavar : "NxM", help, &p));
    tsr_extents_format(value, p->deflt, sizeof p->deflt);
    return TSR_SUCCESS;
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

static void print_help(tsr_opts o) {
    tsr_ctx ctx = o->ctx;
    printf("Usage: mpirun -np R %s [options]\n%s\n\nOptions:\n", ctx->name, o->summary);
    for (int i = 0; i < o->n; i++) {
        const opt *p = &o->list[i];
        char left[160], range[96];
        if (p->k == K_FLAG) {
            snprintf(left, sizeof left, "--%s", p->name);
        } else if (p->k == K_CHOICE) {
            int used = snprintf(left, sizeof left, "--%s ", p->name);
            for (int c = 0; p->choices[c] && used < (int)sizeof left; c++)
                used += snprintf(left + used, sizeof left - (size_t)used, c ? "|%s" : "%s",
                                 p->choices[c]);
        } else {
            snprintf(left, sizeof left, "--%s %s", p->name, p->metavar);
        }
        printf("  %-30s %s", left, p->help);
        format_range(p, false, range, sizeof range);
        bool deflt = p->deflt[0] && !strstr(p->help, "default");
        if (range[0] && deflt)
            printf(" [%s, default: %s]", range, p->deflt);
        else if (range[0])
            printf(" [%s]", range);
        else if (deflt)
            printf(" [default: %s]", p->deflt);
        printf("\n");
    }
    printf("  %-30s %s\n  %-30s %s\n", "--help", "show this help and exit", "--version",
           "show the version and exit");
    printf("\nThreads per rank come from OMP_NUM_THREADS. TESSERA_DEBUG=1 adds error traces.\n");
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

/* Rank 0's half: *done set by --help/--version. */
static int parse_root(tsr_opts o, int argc, char **argv, int *done) {
    tsr_ctx ctx = o->ctx;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            print_help(o);
            *done = 1;
            return TSR_SUCCESS;
        }
        if (strcmp(arg, "--version") == 0) {
            printf("%s (tessera %s)\n", ctx->name, TESSERA_VERSION);
            *done = 1;
            return TSR_SUCCESS;
        }
        TSR_CHECK(ctx, strncmp(arg, "--", 2) == 0 && arg[2], TSR_ERR_INPUT,
                  "unexpected argument '%s' (options start with --; see --help)", arg);
        char name[64];
        const char *eq = strchr(arg + 2, '=');
        size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        TSR_CHECK(ctx, len < sizeof name, TSR_ERR_INPUT, "unknown option '%s' (see --help)", arg);
        memcpy(name, arg + 2, len);
        name[len] = '\0';
        opt *p = NULL;
        for (int k = 0; k < o->n && !p; k++)
            if (strcmp(o->list[k].name, name) == 0)
                p = &o->list[k];
        TSR_CHECK(ctx, p, TSR_ERR_INPUT, "unknown option '--%s' (see --help)", name);
        if (p->k == K_FLAG) {
            TSR_CHECK(ctx, !eq, TSR_ERR_INPUT, "--%s takes no value", name);
            *(bool *)p->value = true;
            continue;
        }
        const char *val = eq ? eq + 1 : NULL;
        if (!val) {
            TSR_CHECK(ctx, i + 1 < argc, TSR_ERR_INPUT, "--%s needs a value (%s)", name,
                      p->metavar ? p->metavar : "see --help");
            val = argv[++i];
        }
        TSR_CALL(ctx, parse_value(ctx, p, val));
    }
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
    int err = ctx->rank == 0 ? parse_root(o, argc, argv, &d) : TSR_SUCCESS;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    TSR_MPI(ctx, MPI_Bcast(&d, 1, MPI_INT, 0, ctx->comm));
    *done = d != 0;
    if (d)
        return TSR_SUCCESS;
    /* Rank 0's reading of the command line is the one every rank uses. */
    for (int i = 0; i < o->n; i++)
        TSR_CALL(ctx, tsr__bcast_bytes(ctx, o->list[i].value, value_size(&o->list[i]), 0));
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
