/* Options shown: --help, the range of a numeric option, and the options as JSON. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context_impl.h"
#include "options_impl.h"
#include "report_impl.h"

/* The shortest text that reads back as x: "10", not the "1e+01" of the fewest digits. */
static void format_double(double x, char *buf, size_t len) {
    snprintf(buf, len, "%.17g", x);
    for (int prec = 1; prec < 17; prec++) {
        char t[32];
        snprintf(t, sizeof t, "%.*g", prec, x);
        if (strtod(t, NULL) == x && strlen(t) < strlen(buf))
            snprintf(buf, len, "%s", t);
    }
}

void tsr__opts_range(const opt *p, bool all, char *buf, size_t len) {
    buf[0] = '\0';
    if (p->k == K_INT) {
        bool lo = all || p->imin > -TSR__OPT_INT_UNBOUNDED,
             hi = all || p->imax < TSR__OPT_INT_UNBOUNDED;
        if (lo && hi)
            snprintf(buf, len, "between %" PRId64 " and %" PRId64, p->imin, p->imax);
        else if (lo)
            snprintf(buf, len, ">= %" PRId64, p->imin);
        else if (hi)
            snprintf(buf, len, "<= %" PRId64, p->imax);
    } else if (p->k == K_DOUBLE) {
        bool lo = all || p->dmin > -TSR__OPT_DOUBLE_UNBOUNDED,
             hi = all || p->dmax < TSR__OPT_DOUBLE_UNBOUNDED;
        char a[32], b[32], below[32];
        format_double(p->dmin, a, sizeof a);
        format_double(p->dmax, b, sizeof b);
        /* A minimum one step above a short number is that number, excluded. */
        format_double(nextafter(p->dmin, -INFINITY), below, sizeof below);
        bool open = strlen(below) + 8 < strlen(a);
        if (lo && hi && open)
            snprintf(buf, len, "above %s and at most %s", below, b);
        else if (lo && open)
            snprintf(buf, len, "> %s", below);
        else if (lo && hi)
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

void tsr__opts_print_help(tsr_opts o) {
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
        tsr__opts_range(p, false, range, sizeof range);
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

/* ---- the options as JSON, for run reports ---- */

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
            tsr__json_string(f, (const char *)p->value);
            break;
        case K_CHOICE:
            tsr__json_string(f, p->choices[*(const int *)p->value]);
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
