/* Progress lines and end-of-run summaries. */
#ifndef TESSERA_REPORT_H
#define TESSERA_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "context.h"
#include "options.h"

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

/* What a run tells its report besides the per-rank timers, which the context keeps. */
typedef struct tsr_report {
    const char *app;          /* program name */
    const char *command_line; /* as typed (may be NULL) */
    const char *config_json;  /* the run's configuration as JSON object members, e.g.
                                 "\"grid\": [64, 64], \"map\": \"sfc\"" (may be NULL) */
    double seconds;           /* wall time of the measured part of the run */
    const char *rate_unit;    /* what the rate counts per second: "MLUP/s", "tasks/s", ... */
    double rate;
    bool force; /* replace an existing report file (otherwise refused) */
} tsr_report;

/* Registers --report FILE.json (path written into a TSR_OPT_STRLEN buffer). Not collective. */
int tsr_report_add_option(tsr_opts opts, char *path);

/* Gathers every rank's timers (compute, pack, wait, unpack, I/O), halo bytes sent and host name
 * to rank 0, which prints to `out` (NULL: nothing) a table of min / mean / max over ranks and the
 * imbalance (max / mean) of each timer, and, when `path` is neither NULL nor "", writes the JSON
 * report there: configuration, ranks, threads, hosts, per-rank timers and bytes, imbalance per
 * timer, wall time and rate, under a temporary name renamed when complete (an existing file is
 * replaced only with r->force). A file that cannot be written fails on every rank. Collective. */
int tsr_report_finish(tsr_ctx ctx, const tsr_report *r, const char *path, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
