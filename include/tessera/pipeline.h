/* Pipeline: a source, a chain of stages and a sink, like an assembly line. The coordinator
 * (rank 0) runs the source and the sink and assigns the other ranks to stages; items stream
 * between stages with bounded credits and reach the sink in source order. */
#ifndef TESSERA_PIPELINE_H
#define TESSERA_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "context.h"
#include "farm.h" /* TSR_TASK_MSG_LEN */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tsr_pipeline_s *tsr_pipeline;

/* Longest stage chain. */
#define TSR_PIPELINE_MAX_STAGES 16

/* One item as a source, stage or sink function sees it; owned by the pipeline, valid only
 * during the call. */
typedef struct tsr_item {
    int64_t index;  /* position in the stream, from 0 */
    const void *in; /* the input (NULL for the source) */
    size_t in_bytes;
    void *out;                      /* room for the output (NULL for the sink) */
    size_t out_bytes;               /* in: the room (the stage's max_out_bytes); out: produced */
    bool end;                       /* source only: set it to end the stream (item not sent) */
    char message[TSR_TASK_MSG_LEN]; /* on failure, why (optional) */
    int rank;                       /* the rank running it */
} tsr_item;

/* A source, stage or sink: returns 0, or non-zero for a failure, which stops the pipeline and
 * is reported as "stage '<name>' failed on item <index>: <message>". May use OpenMP inside. */
typedef int (*tsr_stage_fn)(tsr_item *item, void *user);

/* Creates an empty pipeline over the context's ranks. Not collective (tsr_pipeline_run is). */
int tsr_pipeline_create(tsr_ctx ctx, tsr_pipeline *pipeline);
/* Frees the pipeline and sets *pipeline to NULL. Not collective. */
int tsr_pipeline_destroy(tsr_pipeline *pipeline);

/* The set-up calls below must be made on every rank with the same arguments (each rank needs the
 * functions of the roles it may be given). Names are copied. Not collective. */

/* The source, run on rank 0 for index 0, 1, ... until it sets item->end; items at most
 * max_out_bytes. */
int tsr_pipeline_set_source(tsr_pipeline p, const char *name, tsr_stage_fn fn, void *user,
                            size_t max_out_bytes);
/* Appends a stage producing at most max_out_bytes per item. `cost` (> 0) is its relative cost
 * per item, used to share ranks between stages; `ranks` (>= 0) asks for that many ranks (0: from
 * the costs). A request is exact while some stage takes its share from the costs; when every
 * stage asks, ranks beyond their sum still go to the costliest per rank (none is left idle).
 * With fewer ranks than stages, requests give way to fusing (tsr_pipeline_run). */
int tsr_pipeline_add_stage(tsr_pipeline p, const char *name, tsr_stage_fn fn, void *user,
                           size_t max_out_bytes, double cost, int ranks);
/* The sink, run on rank 0 for every item in index order. */
int tsr_pipeline_set_sink(tsr_pipeline p, const char *name, tsr_stage_fn fn, void *user);
/* Progress of the items reaching the sink, on rank 0's stderr (tsr_progress_mode), when the run
 * is expected to stream `items` items (0 or less: none shown). Default off. Not collective. */
int tsr_pipeline_set_progress(tsr_pipeline p, tsr_progress_mode mode, int64_t items);

/* At most `credits` items in flight on each link between consecutive rank groups: sent and not
 * yet passed on by the receiving group. Raised to the receiving group's rank count if smaller.
 * Default: 2 per receiving rank, 4 when rank 0's node runs more ranks x threads than it has
 * cores (time-sliced ranks stall shallow links). */
int tsr_pipeline_set_credits(tsr_pipeline p, int credits);

/* Ranks per stage from a list "2,1,1" (one count per stage), the form of --stage-ranks. Rank 0
 * checks it when the pipeline runs. Not collective. */
int tsr_pipeline_set_stage_ranks(tsr_pipeline p, const char *list);

/* Assigns ranks and streams every item from the source through the stages to the sink.
 * With one rank, rank 0 runs everything in order. With P > 1, rank 0 runs the source and the
 * sink and the P-1 others are shared among the stages: by the --stage-ranks counts (which must
 * sum to P-1), else by the stages' own requests (tsr_pipeline_add_stage) and one rank each for
 * the others, the rest by cost (more asked than there are ranks is TSR_ERR_INPUT); with fewer
 * ranks than stages, consecutive stages share a rank, cut to balance the costs. End of stream
 * propagates and every rank returns; a failure anywhere ends every rank with the same error and
 * one message. Collective; run once per pipeline. */
int tsr_pipeline_run(tsr_pipeline p);

/* The group of ranks running stage `s` (0-based over the stages added): how many ranks and
 * whether this rank is one of them. Valid after tsr_pipeline_run started. Not collective. */
int tsr_pipeline_stage_ranks(tsr_pipeline p, int s, int *nranks, bool *mine);

/* What a stage did over the run, summed over its ranks (gathered on rank 0). Stage indices:
 * -1 the source, 0..S-1 the stages, S the sink. */
typedef struct tsr_stage_stats {
    char name[64];
    int64_t items;
    double busy;       /* seconds inside the function, summed over its ranks */
    int nranks;        /* ranks it ran on (fused stages share theirs) */
    double throughput; /* items per second of its own time: items / (busy / nranks) */
} tsr_stage_stats;

/* Per link (0: source -> first group, ..., last: last group -> sink): its credit limit and the
 * most items seen in flight on it (summed over receiving ranks' peaks, an upper bound). */
typedef struct tsr_link_stats {
    int credits;
    int max_in_flight;
} tsr_link_stats;

/* Stats of stage s (rank 0 after a run). Not collective. */
int tsr_pipeline_get_stage_stats(tsr_pipeline p, int s, tsr_stage_stats *stats);
/* Number of links and the stats of link l (rank 0 after a run). Not collective. */
int tsr_pipeline_links(tsr_pipeline p, int *nlinks);
int tsr_pipeline_get_link_stats(tsr_pipeline p, int l, tsr_link_stats *stats);
/* Rank 0 prints the assignment, per stage items, busy seconds and throughput, the wall time and
 * rate, and names the bottleneck stage (lowest throughput). Not collective. */
int tsr_pipeline_print_summary(tsr_pipeline p, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
