/* Options: the table shared by options.c (declaring, the collective parse), options_read.c
 * (reading on rank 0) and options_show.c (--help, ranges, JSON); and the pure line parser. */
#ifndef TESSERA_OPTIONS_IMPL_H
#define TESSERA_OPTIONS_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "context_impl.h"
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

/* Bounds this far out mean "no bound" and are not shown. */
#define TSR__OPT_INT_UNBOUNDED (INT64_MAX / 2)
#define TSR__OPT_DOUBLE_UNBOUNDED 1e300

/* Names only the command line may hold (and no program may declare). */
bool tsr__opts_command_line_only(const char *name);

/* The range of a numeric option, as --help shows it and as a rejected value is told: "between 0
 * and 0.5", ">= 0", "<= 7", or "" when unbounded; the one place where a range is written. `all`
 * shows far-out bounds too (for a value beyond one of them). */
void tsr__opts_range(const opt *p, bool all, char *buf, size_t len);

/* Prints --help to stdout (rank 0). */
void tsr__opts_print_help(tsr_opts o);

/* Rank 0's half of tsr_opts_parse: the environment, options files, then the command line.
 * *done set by --help/--version; argv[*rest..] follow "--". Local verdict. */
int tsr__opts_parse_root(tsr_opts o, int argc, char **argv, int *done, int *rest);

/* A number as a user writes it, whole: an optional sign, then decimal digits (an integer), or
 * digits with '.' and an exponent (a real, finite). No blank before (strtod and strtoll skip
 * them, but not a blank after: the two ends would disagree), no hexadecimal, no "inf" or "nan".
 * False also on overflow. */
bool tsr__parse_int(const char *text, long long *v);
bool tsr__parse_real(const char *text, double *v);

/* Splits one line of an options file. A line is "--name value", "--name=value", "name value",
 * "name = value", "name=value", or a name alone (a flag); the leading "--" is optional. '#' starts
 * a comment at the start of the line or after a blank. A value is one word, or is quoted whole
 * with "..." or '...' (no escapes) to hold blanks or '#'. `name` holds name_len chars and `value`
 * at least strlen(line) + 1. Returns 0 for a blank or comment line, 1 for an option (*has_value
 * tells whether a value, possibly empty, was given), -1 for a malformed line with *why set to the
 * reason. Pure: no I/O, no allocation. */
int tsr__opts_parse_line(const char *line, char *name, size_t name_len, char *value,
                         bool *has_value, const char **why);

#endif
