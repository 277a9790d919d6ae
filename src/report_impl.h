/* What run reports share: the text of a progress line, a pure function (no clock, no MPI) that
 * tsr_progress prints and the unit tests call; and JSON string literals. */
#ifndef TESSERA_REPORT_IMPL_H
#define TESSERA_REPORT_IMPL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

/* Writes "NAME: UNIT DONE/TOTAL (P%), ELAPSED elapsed, RATE UNITs/s, " followed by "ETA T" while
 * the loop runs (outcome NULL) or by the outcome at its end ("done", "stopped", "converged"),
 * without a line end, truncated to len. */
void tsr__progress_format(char *buf, size_t len, const char *name, const char *unit, int64_t done,
                          int64_t total, double elapsed, const char *outcome);

/* Writes s as a JSON string literal (quotes, backslashes and control characters escaped; NULL
 * as ""). */
void tsr__json_string(FILE *f, const char *s);

#endif
