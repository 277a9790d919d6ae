/* The runtime handle: a private duplicate of a communicator, rank, size, threads, error state. */
#ifndef TESSERA_CONTEXT_H
#define TESSERA_CONTEXT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <mpi.h>

#include "error.h"
#include "tessera/version.h" /* generated: TESSERA_VERSION, _MAJOR, _MINOR, _PATCH */

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the library this program runs with (which may be newer than the headers it was
 * compiled with, TESSERA_VERSION_*). Any pointer may be NULL. Returns 0. Not collective; needs no
 * context and may be called before tsr_init. */
int tsr_version(int *major, int *minor, int *patch);

/* Initialises MPI (MPI_THREAD_FUNNELED) unless already initialised and creates a context over
 * a duplicate of MPI_COMM_WORLD with MPI_ERRORS_RETURN. `name` is the program name used in
 * messages. Collective over MPI_COMM_WORLD. On failure *ctx may still be set, so that
 * tsr_finalize can report the error. */
int tsr_init(int *argc, char ***argv, const char *name, tsr_ctx *ctx);

/* Like tsr_init but over a duplicate of `comm`; MPI must already be initialised. Collective. */
int tsr_ctx_create(MPI_Comm comm, const char *name, tsr_ctx *ctx);

/* Ends a run with error code `err` and returns the exit status for main(). If err is 0 it frees
 * the context and finalises MPI if tsr_init started it. If every rank holds the same error (see
 * tsr_ctx_agree) rank 0 prints the message once and every rank returns the same status. An
 * error only this rank knows is printed with its rank and the job is aborted with that status,
 * so the other ranks never hang. Collective unless aborting. Sets *ctx to NULL. */
int tsr_finalize(tsr_ctx *ctx, int err);

/* Frees a context made by tsr_ctx_create, without touching MPI's state. Collective. */
int tsr_ctx_destroy(tsr_ctx *ctx);

/* Makes a local verdict collective: every rank passes its own error code (0 if fine); the error
 * of the lowest failing rank, with its message, becomes every rank's error and is returned on
 * every rank. Collective. */
int tsr_ctx_agree(tsr_ctx ctx, int err);

/* Refuses a problem that cannot fit before it is allocated: `bytes_per_rank` (the program's own
 * estimate, e.g. particles per rank x bytes per particle) times the ranks on a node, against the
 * node's memory (its RAM, or the cgroup's limit when lower). TSR_ERR_INPUT (status 2) on every
 * rank otherwise, naming `what`, the figures and the host: without it the kernel's OOM killer
 * ends such a run later, with signal 9 and no message. Collective. */
int tsr_ctx_check_memory(tsr_ctx ctx, double bytes_per_rank, const char *what);

MPI_Comm tsr_ctx_comm(tsr_ctx ctx); /* the context's communicator; owned by ctx */
int tsr_ctx_rank(tsr_ctx ctx);
int tsr_ctx_size(tsr_ctx ctx);
int tsr_ctx_threads(tsr_ctx ctx);      /* OpenMP threads per rank */
const char *tsr_ctx_name(tsr_ctx ctx); /* program name; owned by ctx */
/* The current error message ("" if none); owned by ctx, valid until the next error. */
const char *tsr_ctx_error_message(tsr_ctx ctx);
/* Clears the error state, e.g. after a must-fail check in a test. Not collective. */
void tsr_ctx_error_clear(tsr_ctx ctx);

/* Prints a printf-style line on rank 0 only, prefixed with the program name. Not collective. */
void tsr_ctx_printf(tsr_ctx ctx, FILE *out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prints a warning once (rank 0 only): "<name>: warning: ...". Not collective. */
void tsr_ctx_warn(tsr_ctx ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* How the job was launched, read by tsr_init/tsr_ctx_create on every rank. */
typedef struct tsr_launch {
    int nodes;          /* distinct nodes (shared-memory domains) */
    int node_ranks;     /* ranks on this rank's node */
    int node_cores;     /* cores online on this rank's node */
    int affinity_cores; /* cores this rank may run on (its affinity mask) */
    char host[256];     /* this rank's host name */
    char job_id[64];    /* SLURM_JOB_ID, or "" outside Slurm */
    char nodelist[256]; /* SLURM_JOB_NODELIST, or "" */
} tsr_launch;

/* This rank's view of the launch. At start rank 0 warns once when the ranks x threads of a node
 * exceed its cores, or when a rank's threads are bound to fewer cores than there are threads.
 * Not collective. */
void tsr_ctx_launch(tsr_ctx ctx, tsr_launch *launch);

/* Wall-clock seconds (MPI_Wtime). */
double tsr_wtime(void);

/* Per-rank timers kept by the context; halo and sweep add to them. */
typedef enum tsr_timer {
    TSR_TIMER_COMPUTE,
    TSR_TIMER_PACK,
    TSR_TIMER_WAIT,
    TSR_TIMER_UNPACK,
    TSR_TIMER_IO,
    TSR_TIMER_COUNT
} tsr_timer;

/* Adds seconds to a timer. Not collective. */
void tsr_ctx_timer_add(tsr_ctx ctx, tsr_timer t, double seconds);
/* Reads a timer's accumulated seconds on this rank. Not collective. */
double tsr_ctx_timer(tsr_ctx ctx, tsr_timer t);
/* Bytes this rank has sent point to point so far (halo, farm and pipeline messages). Not
 * collective. */
uint64_t tsr_ctx_bytes_sent(tsr_ctx ctx);

#ifdef __cplusplus
}
#endif
#endif
