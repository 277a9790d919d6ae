/* Options: a declarative table, parsed on rank 0 (options_read.c), broadcast to every rank;
 * shown by options_show.c. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context_impl.h"
#include "options_impl.h"
#include "tessera/options.h"

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

static int add(tsr_opts o, const char *name, kind k, void *value, const char *metavar,
               const char *help, opt **out) {
    tsr_ctx ctx = o->ctx;
    TSR_CHECK(ctx, name && value && strlen(name) < sizeof o->list->name, TSR_ERR_ARG,
              "option needs a short name and a value");
    TSR_CHECK(ctx, !tsr__opts_command_line_only(name), TSR_ERR_ARG, "option --%s is reserved",
              name);
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
    opt *p = NULL; /* set when add() succeeds; GCC 12 warns otherwise */
    TSR_CALL(o->ctx, add(o, name, K_FLAG, value, NULL, help, &p));
    return TSR_SUCCESS;
}

static int add_int(tsr_opts o, const char *name, int64_t *value, int64_t min, int64_t max,
                   const char *metavar, const char *help) {
    opt *p = NULL;
    TSR_CALL(o->ctx, add(o, name, K_INT, value, metavar ? metavar : "N", help, &p));
    p->imin = min;
    p->imax = max;
    snprintf(p->deflt, sizeof p->deflt, "%" PRId64, *value);
    return TSR_SUCCESS;
}

static int add_double(tsr_opts o, const char *name, double *value, double min, double max,
                      const char *metavar, const char *help) {
    opt *p = NULL;
    TSR_CALL(o->ctx, add(o, name, K_DOUBLE, value, metavar ? metavar : "X", help, &p));
    p->dmin = min;
    p->dmax = max;
    snprintf(p->deflt, sizeof p->deflt, "%g", *value);
    return TSR_SUCCESS;
}

static int add_string(tsr_opts o, const char *name, char *value, const char *metavar,
                      const char *help) {
    opt *p = NULL;
    TSR_CALL(o->ctx, add(o, name, K_STRING, value, metavar ? metavar : "TEXT", help, &p));
    snprintf(p->deflt, sizeof p->deflt, "%.90s", value);
    return TSR_SUCCESS;
}

static int add_choice(tsr_opts o, const char *name, int *value, const char *const *choices,
                      const char *help) {
    opt *p = NULL;
    TSR_CALL(o->ctx, add(o, name, K_CHOICE, value, NULL, help, &p));
    p->choices = choices;
    snprintf(p->deflt, sizeof p->deflt, "%s", choices[*value]);
    return TSR_SUCCESS;
}

static int add_extents(tsr_opts o, const char *name, tsr_extents *value, const char *metavar,
                       const char *help) {
    opt *p = NULL;
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
    int err =
        ctx->rank == 0 ? tsr__opts_parse_root(o, argc, argv, &rest[0], &rest[1]) : TSR_SUCCESS;
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
