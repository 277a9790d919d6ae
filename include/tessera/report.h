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
} tsr_progress;

/* Starts timing; `enabled` false keeps it silent. Not collective. */
void tsr_progress_start(tsr_progress *p, tsr_ctx ctx, int64_t total, bool enabled);
/* Reports `done` steps: step, percent, steps/s and ETA, if a second has passed. No
 * communication. */
void tsr_progress_update(tsr_progress *p, int64_t done);
/* Ends the line started by updates, if any. */
void tsr_progress_end(tsr_progress *p);

#ifdef __cplusplus
}
#endif
#endif
