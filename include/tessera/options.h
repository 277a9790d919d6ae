/* Command-line options: declared once, parsed and validated on rank 0, broadcast to all. */
#ifndef TESSERA_OPTIONS_H
#define TESSERA_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "context.h"
#include "grid.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tsr_opts_s *tsr_opts;

/* Longest string option value, including the terminating NUL (a path up to PATH_MAX). */
#define TSR_OPT_STRLEN 4096

/* Creates an empty option table for a program; `summary` is the one-line description shown by
 * --help. --help, --version and --options-file are always understood. Not collective. */
int tsr_opts_create(tsr_ctx ctx, const char *summary, tsr_opts *opts);
/* Frees the table and sets *opts to NULL (NULL is fine); the variables it filled stay the
 * caller's. Not collective. */
int tsr_opts_destroy(tsr_opts *opts);

/* Each adder registers `--name` writing into *value, whose current content is the default shown
 * by --help. Values stay owned by the caller and must outlive tsr_opts_parse. Not collective.
 * A failed registration (a name declared twice or reserved, no memory) returns its code and is
 * also remembered by the table: tsr_opts_parse reports the first one, so a program may list its
 * options as plain calls and check only the parse.
 * A numeric option's [min, max] is written once: --help shows it ("[between 0 and 0.5, default:
 * 0.1]"; bounds beyond +-INT64_MAX/2 or +-1e300 count as none, so "[>= 0, ...]"), and a value
 * outside it is refused with the same words ("--alpha -1: must be between 0 and 0.5"). A double
 * minimum of nextafter(x, INFINITY) excludes x and is shown so ("above 1 and at most 10"). A string
 * option given an empty value ("--output ''", "--output=") is refused ("--output: empty value"). */
int tsr_opts_add_flag(tsr_opts o, const char *name, bool *value, const char *help);
int tsr_opts_add_int(tsr_opts o, const char *name, int64_t *value, int64_t min, int64_t max,
                     const char *metavar, const char *help);
int tsr_opts_add_double(tsr_opts o, const char *name, double *value, double min, double max,
                        const char *metavar, const char *help);
/* `value` points to a buffer of TSR_OPT_STRLEN chars. */
int tsr_opts_add_string(tsr_opts o, const char *name, char *value, const char *metavar,
                        const char *help);
/* A string option whose value may be left out: "--name" alone (last, or followed by an argument
 * starting with '-') and a line "name" in an options file store `implicit`; "--name VALUE",
 * "--name=VALUE" store VALUE (never empty). `value` points to a buffer of TSR_OPT_STRLEN chars;
 * --help shows "--name [METAVAR]". */
int tsr_opts_add_optional(tsr_opts o, const char *name, char *value, const char *implicit,
                          const char *metavar, const char *help);
/* One of `choices` (NULL-terminated); *value receives its index. */
int tsr_opts_add_choice(tsr_opts o, const char *name, int *value, const char *const *choices,
                        const char *help);
/* Sizes "N", "NxM" or "NxMxK" of positive 64-bit integers. */
int tsr_opts_add_extents(tsr_opts o, const char *name, tsr_extents *value, const char *metavar,
                         const char *help);

/* Reads n real numbers separated by `sep` (an option's "X,Y": n = 2, sep ','), each as a real
 * option's value is read: decimal and whole (no blank, no hexadecimal), finite. TSR_SUCCESS with
 * values[0..n) set, or TSR_ERR_INPUT and no message (the caller names its option). Not
 * collective. */
int tsr_opts_read_reals(const char *text, char sep, int n, double *values);

/* Lets arguments after "--" through, for tsr_opts_rest; `metavar` ("FILE...") is shown by
 * --help. Without it, anything after "--" is refused. Not collective. */
int tsr_opts_allow_rest(tsr_opts o, const char *metavar);

/* The first failed registration's code (0 if none). Not collective. */
int tsr_opts_error(tsr_opts o);

/* Parses on rank 0 and broadcasts every value. Options are read, later ones winning, from
 * TESSERA_OPTIONS (split on blanks), then from each `--options-file FILE` of the command line
 * (a regular file read by rank 0: "name value", "name = value", "--name value" or
 * "--name=value" per line, a flag's name alone, '#' comments, blank lines; a value with blanks
 * in "..." or '...'), then from argv. "--" ends the options. A failed registration, unknown
 * options, malformed values, missing arguments and bad lines ("FILE:LINE: reason") give
 * TSR_ERR_INPUT (or the registration's code) with a message naming the option, on every rank.
 * --help/-h anywhere before "--" prints the help on rank 0 and sets *done, whatever else is
 * wrong on the command line; --version likewise; nothing else sets *done. Collective. */
int tsr_opts_parse(tsr_opts o, int argc, char **argv, bool *done);

/* After tsr_opts_parse: the arguments after "--" (*argc may be 0), pointing into the argv given
 * to the parse (the caller's). Only with tsr_opts_allow_rest. Not collective. */
int tsr_opts_rest(tsr_opts o, int *argc, char ***argv);

/* The command line as one string, for reports; owned by o. Not collective. */
const char *tsr_opts_command_line(tsr_opts o);

/* Every option's current value as one JSON object ({"steps": 100, "init": "hot", "png": "",
 * "grid": [64, 64], ...}: flags as booleans, choices by name, extents as arrays, non-finite
 * numbers as null), for run reports. *json is allocated; the caller frees it. Not collective. */
int tsr_opts_json(tsr_opts o, char **json);

#ifdef __cplusplus
}
#endif
#endif
