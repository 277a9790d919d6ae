/* Progress lines and end-of-run summaries. */
#ifndef TESSERA_REPORT_H
#define TESSERA_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Progress of a loop of `total` steps, printed by rank 0 to stderr at most once a second. */
typedef struct tsr_progress {
    tsr_ctx ctx;
    int64_t total;
    double start, last;
    bool enabled;
    const char *unit; /* what is counted, singular ("step", "task"); a string literal */
} tsr_progress;

/* Starts timing steps; `enabled` false keeps it silent. Set p->unit afterwards to count
 * something else. Not collective. */
void tsr_progress_start(tsr_progress *p, tsr_ctx ctx, int64_t total, bool enabled);
/* Reports `done` units: count, percent, rate and ETA, if a second has passed since the last
 * line. No communication. */
void tsr_progress_update(tsr_progress *p, int64_t done);
/* Ends the line started by updates, if any. */
void tsr_progress_end(tsr_progress *p);

#ifdef __cplusplus
}
#endif
#endif
