/* Options: the pure pieces, for unit tests. */
#ifndef TESSERA_OPTIONS_IMPL_H
#define TESSERA_OPTIONS_IMPL_H

#include <stdbool.h>
#include <stddef.h>

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
