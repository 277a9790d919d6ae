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

/* Whether and how a loop reports its progress on rank 0's stderr. */
typedef enum tsr_progress_mode {
    TSR_PROGRESS_OFF = 0,  /* nothing */
    TSR_PROGRESS_AUTO = 1, /* on a terminal, one line updated in place at most once a second;
                              into a file or pipe (batch logs), a new line only when both 10% of
                              the work and 60 s have passed since the last (about ten lines for
                              a steady run of any length; see tsr_progress_due) */
    TSR_PROGRESS_ON = 2    /* a line every second wherever stderr goes (watching a pipe) */
} tsr_progress_mode;

/* The --progress auto|on|off and --quiet options of a program. */
typedef struct tsr_progress_option {
    int choice; /* index into auto, on, off */
    bool quiet; /* --quiet: the same as --progress off (apps may also drop their summaries) */
} tsr_progress_option;

/* Registers --progress auto|on|off (default auto) and --quiet into *p, which must outlive
 * tsr_opts_parse. Returns tsr_opts_error(opts): a failure is also reported by tsr_opts_parse.
 * Not collective. */
int tsr_progress_add_options(tsr_opts opts, tsr_progress_option *p);
/* The mode the parsed options ask for. Not collective. */
tsr_progress_mode tsr_progress_option_mode(const tsr_progress_option *p);

/* The cadence, a pure function (no clock, no MPI): whether a line is due at time `now`, given the
 * start, the time of the previous line `last` (the start before any), `done` of `total` units done
 * now and `last_done` at the previous line. `each_second`: due once a second (terminals,
 * --progress on). Otherwise due once 60 s have passed and either a tenth of the total has been
 * done since the previous line, or the time a tenth took at the rate seen at the previous line
 * (600 s before the first line) has passed, so a stalled run still shows a line every period. */
bool tsr_progress_due(bool each_second, double start, double last, double now, int64_t done,
                      int64_t last_done, int64_t total);

/* Other counts a progress line may show (see tsr_progress.count). */
#define TSR_PROGRESS_COUNTS 3

/* Progress of a loop of `total` units, printed by rank 0 to stderr. */
typedef struct tsr_progress {
    tsr_ctx ctx;
    int64_t total, done, last_done; /* done: at the last update */
    double start, last;
    bool enabled, terminal, each_second;
    int lines;        /* lines printed */
    const char *unit; /* what is counted, singular ("step", "task"); a string literal */
    /* Counts shown at the end of each line as "; N name, N name" (a farm's "3 running, 1
     * failed"): set count_name[k] (a string literal; NULL: not shown) after tsr_progress_start
     * and keep count[k] current before each update (storing a number costs nothing). */
    const char *count_name[TSR_PROGRESS_COUNTS];
    int64_t count[TSR_PROGRESS_COUNTS];
} tsr_progress;

/* Starts timing units in the given mode (off keeps it silent; only rank 0 prints). Set p->unit
 * afterwards to count something else. Not collective. */
void tsr_progress_start(tsr_progress *p, tsr_ctx ctx, int64_t total, tsr_progress_mode mode);
/* Reports `done` units, when tsr_progress_due says so: count, percent, elapsed time, rate and
 * ETA. Not collective (no communication); cheap enough to call every step. */
void tsr_progress_update(tsr_progress *p, int64_t done);
/* Ends the line a terminal shows; in batch logs, a last line with the totals if any line was
 * printed, ending with "done" (all `total` units) or "stopped" (fewer). Not collective. */
void tsr_progress_end(tsr_progress *p);
/* The same for a loop that knows why it ended, e.g. an iteration that converged before its cap:
 * if any line was printed, a last one (on a terminal too) ends with `outcome` ("converged"; a
 * string of at most 31 characters) instead of "done" or "stopped". NULL: tsr_progress_end.
 * TSR_ERR_ARG for a NULL p. Not collective. */
int tsr_progress_end_as(tsr_progress *p, const char *outcome);

/* What a run tells its report besides the per-rank timers, which the context keeps. */
typedef struct tsr_report {
    const char *app;          /* program name */
    const char *command_line; /* as typed (may be NULL) */
    const char *config_json;  /* the run's configuration as JSON object members, e.g.
                                 "\"grid\": [64, 64], \"map\": \"sfc\"" (may be NULL) */
    const char *options_json; /* every option of the run as one JSON object (tsr_opts_json);
                                 NULL: those kept by tsr_report_keep_options */
    int64_t cells, blocks;    /* this rank's share of the work (0 where it does not apply) */
    double seconds;           /* wall time of the measured part of the run */
    const char *rate_unit;    /* what the rate counts per second: "MLUP/s", "tasks/s", ... */
    double rate;
    bool force; /* replace an existing report file (otherwise refused) */
} tsr_report;

/* Registers --report FILE.json (path written into a TSR_OPT_STRLEN buffer). Not collective. */
int tsr_report_add_option(tsr_opts opts, char *path);
/* After tsr_opts_parse: keeps every option's value (tsr_opts_json) in the context, for the
 * "options" of the report when r->options_json is NULL. Not collective (every rank holds the
 * same values after the parse). */
int tsr_report_keep_options(tsr_ctx ctx, tsr_opts opts);

/* The version of the JSON report's layout (docs/report.schema.json, docs/REPORT.md). */
#define TSR_REPORT_SCHEMA "tessera-report/2"

/* Gathers every rank's timers (compute, pack, wait, unpack, I/O), cells, blocks, bytes and
 * messages sent, peak resident memory and host name to rank 0, which prints to `out` (NULL:
 * nothing) a table of min / mean / max over ranks and the imbalance (max / mean) of each timer,
 * and, when `path` is neither NULL nor "", writes the JSON report there (docs/REPORT.md): schema
 * version, tessera version and git commit, compiler, MPI and HDF5 versions, start time, options
 * and configuration, per-rank values, imbalance per timer, wall time with and without I/O, rate,
 * and what the last farm or pipeline run added; under a temporary name renamed when complete (an
 * existing file is replaced only with r->force). A file that cannot be written fails on every
 * rank. Collective. */
int tsr_report_finish(tsr_ctx ctx, const tsr_report *r, const char *path, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
