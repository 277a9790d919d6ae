/* Private state of the context, shared by the modules. */
#ifndef TESSERA_CONTEXT_IMPL_H
#define TESSERA_CONTEXT_IMPL_H

#include <stddef.h>

#include "tessera/context.h"

#define TSR_MSG_LEN 1024
#define TSR_TRACE_LEN 2048

/* MPI tags used by tessera; user code never sees them. */
enum tsr_tag {
    TSR_TAG_HALO = 0x7e50,
    TSR_TAG_GATHER,
    TSR_TAG_PARTICLES, /* redistribution: the particles that change rank */
    TSR_TAG_MAP,       /* rank 0 -> a rank: its part of a sparse map (map_sparse.c) */
    /* farm, on its own communicator */
    TSR_TAG_FARM_REQUEST, /* worker -> coordinator: results of a chunk (maybe none), wants more */
    TSR_TAG_FARM_WORK,    /* coordinator -> worker: a chunk, or none (stop) */
    TSR_TAG_FARM_ABORT,   /* coordinator -> worker: skip what is left */
    TSR_TAG_FARM_FAIL,    /* worker -> coordinator: a local error (memory, MPI): end the farm */
    /* pipeline, on its own communicator */
    TSR_TAG_PIPE_ITEM,   /* an item for the next group */
    TSR_TAG_PIPE_CREDIT, /* credits: a grant, a request for one, or a return (payload op) */
    TSR_TAG_PIPE_EOS,    /* a sender has no more items */
    TSR_TAG_PIPE_ABORT,  /* a failure somewhere: stop */
};

struct tsr_ctx_s {
    MPI_Comm comm;
    int rank, size, threads;
    int owns_mpi; /* tsr_init started MPI and finalises it */
    char name[128];
    int err_code;
    int err_collective; /* every rank holds this error (set by tsr_ctx_agree) */
    char err_msg[TSR_MSG_LEN];
    char err_trace[TSR_TRACE_LEN];
    int64_t tile_cells;         /* default tile size (TESSERA_TILE_CELLS) */
    int64_t min_parallel_cells; /* below this, loops stay on one thread
                                   (TESSERA_MIN_PARALLEL_CELLS) */
    int64_t l2_bytes;           /* one core's L2 cache (2 MiB when the system does not say) */
    double timers[TSR_TIMER_COUNT];
    uint64_t bytes_sent;
    uint64_t msgs_sent;   /* point-to-point messages started (halo, farm, pipeline) */
    double t_created;     /* tsr_wtime() when the context was made */
    char started_utc[32]; /* its date and time, ISO 8601 UTC */
    char *report_json;    /* rank 0: JSON members the farm or pipeline adds to the report; owned */
    char run_json[256];   /* the run loop's timed switch as JSON members (rank 0 reports it), or
                           * empty */
    char *report_options; /* the options as JSON (tsr_report_keep_options); owned */
    tsr_launch launch;
};

/* Rank 0: replaces what the last farm or pipeline run adds to the report (JSON object members,
 * e.g. "\"farm\": {...}"); `json` is taken over (freed by the context). Not collective. */
void tsr__report_set_json(tsr_ctx ctx, char *json);

/* Reads the launch (nodes, ranks per node, cores, affinity, Slurm job) and has rank 0 warn about
 * oversubscription or squeezed threads. Collective over ctx->comm. */
int tsr__launch_detect(tsr_ctx ctx);
/* True when the node has no high-speed network device (InfiniBand, Omni-Path, EFA, Slingshot). */
bool tsr__launch_no_fabric(void);
/* Before MPI_Init: on a node without any fabric device, tells Open MPI to take the ob1 PML it
 * would pick anyway, unless the launcher, the user or TSR_MPI_DEFAULTS=off says otherwise. */
void tsr__launch_mpi_defaults(void);
/* Before MPI_Init, in programs that tsr_init starts: glibc keeps freed memory up to 1 GiB and
 * serves blocks up to 32 MiB from its heap, unless the environment sets malloc's parameters or
 * TSR_MALLOC_DEFAULTS=off. True when applied. */
bool tsr__launch_malloc_defaults(void);
/* The kernel's transparent huge page mode: "always", "madvise" (on request) or "never" (also when
 * the system does not say). */
const char *tsr__launch_thp_mode(void);
/* Whether the MCA setting key = value chooses the PML, MTL or BTL itself (pure, unit-tested). */
bool tsr__launch_mca_chooses(const char *key, const char *value);

/* Default tile size in cells: a few rows of a large block, well inside L2. */
#define TSR_TILE_CELLS 32768

/* A need every rank has about alike (a field's blocks) against all the memory the processes on
 * this node can have (its RAM, or its cgroup's limit when lower): `bytes_per_rank` times the
 * ranks on the node. `code` when it exceeds it, with a message naming the figures; a shortage
 * below that is left to the allocation. TSR_ERR_INPUT (status 2) where only the problem's size
 * can cause it (a field created at the start), TSR_ERR_MEMORY during a run (a rebalance). `what`
 * names the need ("field 'u'"). A local verdict, to be agreed. */
int tsr__check_node_fits(tsr_ctx ctx, double bytes_per_rank, const char *what, int code);

/* Allocation helpers that record TSR_ERR_MEMORY in ctx. A request larger than the node's memory
 * fails before the allocation, with the figures (a kernel that overcommits would grant it and
 * the OOM killer end the run later). */
int tsr__calloc(tsr_ctx ctx, size_t n, size_t size, void *ptr);
/* Uninitialised, for arrays written whole before they are read (no zeroing pass over memory
 * that a rebuild reuses). */
int tsr__malloc(tsr_ctx ctx, size_t n, size_t size, void *ptr);
int tsr__aligned_alloc(tsr_ctx ctx, size_t bytes, void *ptr);
/* The same without a context: 64-byte aligned, on huge pages from 4 MiB on; NULL when out of
 * memory. Freed with free(). */
void *tsr__aligned_malloc(size_t bytes);

/* Broadcasts a buffer of bytes larger than INT_MAX in pieces. Collective. */
int tsr__bcast_bytes(tsr_ctx ctx, void *buf, size_t bytes, int root);

#endif
