/* The command farm (cmdfarm.h): its options, and a run's set-up. Rank 0 coordinates
 * (cmdfarm_coord.c), the other ranks run commands (cmdfarm_worker.c; rank 0 runs them itself when
 * alone). Rank 0 knows every rank's free slots and sends a task to a rank with one; a rank
 * reports each ended run, which frees the slot. Tasks after a BARRIER wait until every earlier
 * task has ended; a failed run goes back to the front of the queue, to another rank when there
 * is one, until its retries are spent. */
#include <errno.h>
#include <limits.h>
#include <mpi.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmdfarm_impl.h"
#include "groups_impl.h"
#include "tessera/error.h"

static volatile sig_atomic_t stop_signal;

int tsr__cf_stop_signal(void) {
    return stop_signal;
}

static void on_signal(int sig) {
    stop_signal = sig;
}

void tsr_cmdfarm_opts_init(tsr_cmdfarm_opts *o) {
    memset(o, 0, sizeof *o);
    o->grace = 2.0;
    o->threads = 1;
    snprintf(o->groups, sizeof o->groups, "auto");
}

int tsr_cmdfarm_add_options(tsr_opts opts, tsr_cmdfarm_opts *o) {
    tsr_opts_add_string(opts, "tasks", o->tasks, "FILE",
                        "the task file, one command per line ('-': standard input); also "
                        "given as the first argument");
    tsr_opts_add_string(opts, "joblog", o->joblog, "FILE",
                        "job log (default TASKFILE.joblog; farm.joblog for standard input)");
    tsr_opts_add_string(opts, "log-dir", o->log_dir, "DIR",
                        "each task's output in DIR/<id/1000>/<id>.out and .err (default: "
                        "passed through, each line prefixed by [id])");
    tsr_opts_add_flag(opts, "resume", &o->resume,
                      "skip the tasks the job log shows ended (ok or failed)");
    tsr_opts_add_flag(opts, "resume-failed", &o->resume_failed,
                      "skip only the tasks the job log shows ended with status 0");
    tsr_opts_add_int(opts, "retries", &o->retries, 0, 1000, "N",
                     "reruns of a failing task, on another rank when there is one");
    tsr_opts_add_double(opts, "timeout", &o->timeout, 0, 1e9, "S",
                        "seconds a task may run before TERM (0: no limit)");
    tsr_opts_add_double(opts, "grace", &o->grace, 0, 3600, "S",
                        "seconds between TERM and KILL when a task is ended");
    tsr_opts_add_int(opts, "slots", &o->slots, 0, TSR__CF_MAX_SLOTS, "K",
                     "tasks at once per rank (0: the node's cores / --threads, shared by its "
                     "ranks)");
    tsr_opts_add_int(opts, "threads", &o->threads, 1, 4096, "T", "OMP_NUM_THREADS of each task");
    tsr_opts_add_double(opts, "end-time", &o->end_time, 0, 1e12, "T",
                        "the job's end, seconds since the epoch (0: Slurm's EndTime)");
    tsr_opts_add_double(opts, "min-time-left", &o->min_time_left, 0, 1e9, "S",
                        "start no task with less time left before the job's end (also not "
                        "with less than the median task time)");
    tsr_opts_add_string(opts, "farm-groups", o->groups, "auto|off|N",
                        "relays between rank 0 and the others: one per node (auto: from 1024 "
                        "ranks on), none, or one per N ranks");
    return tsr_progress_add_options(opts, &o->progress);
}

static int cores_available(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* The ranks of this node that run tasks (not rank 0 with others, not relays). */
static int node_working_ranks(MPI_Comm comm, int rank, bool works, int *working) {
    MPI_Comm node;
    int err = MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
    if (err)
        return err;
    int mine = works;
    err = MPI_Allreduce(&mine, working, 1, MPI_INT, MPI_SUM, node);
    MPI_Comm_free(&node);
    return err;
}

/* With groups (leader >= 0), the leader learns the rank and slots of each rank of its group
 * (gsize of them), in rank order, into *info (the leader's own first): a node's ranks need not
 * be consecutive (`srun -m cyclic`). Collective; every rank agrees on the outcome. */
static int group_members(tsr_ctx ctx, MPI_Comm comm, int leader, int gsize, int slots, int **info) {
    int rank = tsr_ctx_rank(ctx);
    *info = NULL;
    int err = gsize > 0 && !(*info = calloc(2 * (size_t)gsize, sizeof **info))
                  ? tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__, "no memory")
                  : 0;
    MPI_Comm group = MPI_COMM_NULL;
    int mpi = MPI_Comm_split(comm, leader >= 0 ? leader : MPI_UNDEFINED, rank, &group);
    if (mpi && !err)
        err = tsr_error_mpi(ctx, mpi, "MPI_Comm_split", __FILE__, __LINE__, __func__);
    err = tsr_ctx_agree(ctx, err);
    int mine[2] = {rank, slots};
    if (!err && leader >= 0) {
        mpi = MPI_Gather(mine, 2, MPI_INT, *info, 2, MPI_INT, 0, group);
        if (mpi)
            err = tsr_error_mpi(ctx, mpi, "MPI_Gather", __FILE__, __LINE__, __func__);
    }
    if (group != MPI_COMM_NULL)
        MPI_Comm_free(&group);
    err = tsr_ctx_agree(ctx, err);
    if (err) {
        free(*info);
        *info = NULL;
    }
    return err;
}

/* Where a rank sits in the farm. */
typedef struct placement {
    int leader, gsize; /* its group (leader 0: none) */
    bool is_relay;     /* the first rank of a group of two or more */
    int parent;        /* whom it reports to: its relay, else rank 0 */
    bool runs;         /* runs commands (not rank 0 with others, not a relay) */
    int slots;         /* commands at once */
    int *group;        /* a relay's: the rank and slots of each rank of its group */
} placement;

/* Every rank's group, role and slots. Collective; every rank agrees on the outcome. */
static int place(tsr_ctx ctx, MPI_Comm comm, const tsr_cmdfarm_opts *o, int groups, placement *pl) {
    int rank = tsr_ctx_rank(ctx), size = tsr_ctx_size(ctx);
    *pl = (placement){.gsize = 1};
    TSR_CALL(ctx, tsr__groups_find(ctx, comm, groups, &pl->leader, &pl->gsize));
    bool grouped = pl->leader != 0 && pl->gsize >= 2;
    pl->is_relay = grouped && rank == pl->leader;
    pl->parent = grouped && !pl->is_relay ? pl->leader : 0;
    pl->runs = !(rank == 0 && size > 1) && !pl->is_relay;
    int working = 1;
    int mpi = node_working_ranks(comm, rank, pl->runs, &working);
    int err =
        mpi ? tsr_error_mpi(ctx, mpi, "MPI_Comm_split_type", __FILE__, __LINE__, __func__) : 0;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    if (!pl->runs) {
        pl->slots = 0; /* a coordinator */
    } else if (o->slots > 0) {
        pl->slots = (int)o->slots;
    } else {
        int per = cores_available() / (int)o->threads / (working > 0 ? working : 1);
        pl->slots = per < 1 ? 1 : per > TSR__CF_MAX_SLOTS ? TSR__CF_MAX_SLOTS : per;
    }
    return group_members(ctx, comm, grouped ? pl->leader : -1, pl->is_relay ? pl->gsize : 0,
                         pl->slots, &pl->group);
}

/* Rank 0: its per-rank tables from every rank's slots and relay (pairs), its free-slot rings
 * and its send queue. To rank 0 a relay holds its workers' slots. */
static int coord_tables(tsr__cf_coord *c, const int *pairs) {
    int size = c->size, first = size > 1 ? 1 : 0;
    int *held = calloc((size_t)size, sizeof *held);
    for (int r = 0; r < size && held; r++) {
        c->slots[r] = pairs[2 * r];
        c->via[r] = pairs[2 * r + 1] ? pairs[2 * r + 1] : r;
        held[c->via[r]] += c->slots[r];
        c->children += r >= 1 && c->via[r] == r;
    }
    int err = held ? tsr__cf_slots_init(&c->free, first, size - first, held, TSR__CF_AHEAD)
                   : TSR_ERR_MEMORY;
    /* At most every slot's runs and queue in flight at once, plus a margin. */
    int64_t cap = 64;
    for (int r = first; r < size && held; r++)
        cap += (1 + TSR__CF_AHEAD) * (int64_t)held[r];
    free(held);
    if (!err)
        err = tsr__cf_sendq_init(&c->sends,
                                 size > 1 ? (int)(cap < INT_MAX / 2 ? cap : INT_MAX / 2) : 1);
    if (!err)
        err = tsr__cf_coord_relays(c);
    if (err)
        err = tsr_error_set(c->ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                            "no memory for %d ranks' slots", size);
    return err;
}

/* Rank 0 learns every rank's slots, relay and host, and sets up its tables. Collective; every
 * rank agrees on the outcome. */
static int gather_ranks(tsr__cf_coord *c, const placement *pl) {
    tsr_ctx ctx = c->ctx;
    int rank = tsr_ctx_rank(ctx), size = c->size;
    char host[TSR__CF_HOSTLEN] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        snprintf(host, sizeof host, "unknown");
    int *pairs = NULL; /* per rank: its slots, its relay (0: none) */
    int err = 0;
    if (rank == 0) {
        c->slots = calloc((size_t)size, sizeof *c->slots);
        c->via = calloc((size_t)size, sizeof *c->via);
        c->rank_tasks = calloc((size_t)size, sizeof *c->rank_tasks);
        c->rank_failed = calloc((size_t)size, sizeof *c->rank_failed);
        c->rank_busy = calloc((size_t)size, sizeof *c->rank_busy);
        c->hosts = calloc((size_t)size, sizeof *c->hosts);
        pairs = calloc(2 * (size_t)size, sizeof *pairs);
        if (!(c->slots && c->via && c->rank_tasks && c->rank_failed && c->rank_busy && c->hosts &&
              pairs))
            err = tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__, "no memory");
    }
    err = tsr_ctx_agree(ctx, err);
    int mine[2] = {pl->slots, pl->parent}, mpi = 0;
    if (!err)
        mpi = MPI_Gather(mine, 2, MPI_INT, pairs, 2, MPI_INT, 0, c->comm);
    if (!err && !mpi)
        mpi = MPI_Gather(host, TSR__CF_HOSTLEN, MPI_CHAR, c->hosts, TSR__CF_HOSTLEN, MPI_CHAR, 0,
                         c->comm);
    if (!err && mpi)
        err = tsr_error_mpi(ctx, mpi, "MPI_Gather", __FILE__, __LINE__, __func__);
    if (!err && rank == 0)
        err = coord_tables(c, pairs);
    free(pairs);
    return tsr_ctx_agree(ctx, err);
}

/* Runs this rank's part: rank 0 coordinates (and runs commands when alone), a relay relays,
 * the others run commands. Collective. */
static int run_part(tsr__cf_coord *c, const placement *pl, const char *cwd) {
    tsr_ctx ctx = c->ctx;
    const tsr_cmdfarm_opts *o = c->o;
    int rank = tsr_ctx_rank(ctx);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);

    tsr__cf_exec x;
    tsr__cf_relay relay = {.pend = NULL};
    int err = 0;
    if (pl->runs) {
        err = tsr__cf_exec_init(&x, rank, pl->slots, o->threads, o->timeout, o->grace, o->log_dir,
                                cwd);
        if (err)
            err = tsr_error_set(ctx, err, __FILE__, __LINE__, __func__,
                                "cannot set up the task slots: %s", strerror(errno));
    } else if (pl->is_relay) {
        err = tsr__cf_relay_init(&relay, ctx, c->comm, pl->gsize - 1, pl->group + 2);
    }
    err = tsr_ctx_agree(ctx, err);
    if (!err) {
        if (rank == 0) {
            c->local = pl->runs ? &x : NULL;
            tsr_progress p;
            tsr_progress_start(&p, ctx, c->tasks.n - c->res.skipped - c->failed_before,
                               tsr_progress_option_mode(&o->progress));
            p.unit = "task";
            p.count_name[0] = "running";
            p.count_name[1] = "failed";
            err = tsr__cf_coordinate(c, &p);
            tsr_progress_end(&p);
            if (!err)
                err = tsr__cf_write_failed(c);
            int lerr = tsr__cf_log_close(&c->log);
            if (!err && lerr)
                err = tsr_error_set(ctx, TSR_ERR_IO, __FILE__, __LINE__, __func__,
                                    "--joblog %s: cannot write: %s", c->joblog, strerror(errno));
            /* After a rank's failure too: what ran, and where. */
            if ((!err || c->failure) && !o->progress.quiet)
                tsr__cf_summary(c, stdout);
        } else if (pl->is_relay) {
            err = tsr__cf_relay_run(&relay);
        } else {
            err = tsr__cf_work(ctx, c->comm, pl->parent, &x);
        }
    }
    if (pl->runs)
        tsr__cf_exec_free(&x);
    if (pl->is_relay)
        tsr__cf_relay_free(&relay);
    return tsr_ctx_agree(ctx, err);
}

/* Every rank learns rank 0's counts; failed tasks (without a stop) fail the run. Collective. */
static int finish(tsr__cf_coord *c, tsr_cmdfarm_result *res) {
    tsr_ctx ctx = c->ctx;
    int64_t v[6] = {c->res.ntasks,    c->res.ok,      c->res.failed,
                    c->res.timed_out, c->res.skipped, c->res.stopped};
    TSR_MPI(ctx, MPI_Bcast(v, 6, MPI_INT64_T, 0, c->comm));
    *res = (tsr_cmdfarm_result){.ntasks = v[0],
                                .ok = v[1],
                                .failed = v[2],
                                .timed_out = v[3],
                                .skipped = v[4],
                                .stopped = v[5] != 0};
    res->not_run = res->ntasks - res->ok - res->failed - res->skipped;
    if (res->stopped || !res->failed)
        return TSR_SUCCESS;
    return tsr_ctx_agree(ctx, tsr_ctx_rank(ctx) == 0 ? tsr__cf_failed_error(c) : 0);
}

int tsr_cmdfarm_run(tsr_ctx ctx, const tsr_cmdfarm_opts *o, tsr_cmdfarm_result *res) {
    memset(res, 0, sizeof *res);
    MPI_Comm comm = tsr_ctx_comm(ctx);
    tsr__cf_coord c = {
        .ctx = ctx, .comm = comm, .size = tsr_ctx_size(ctx), .o = o, .t0 = tsr__cf_now()};
    char cwd[4096] = "";
    int err = tsr_ctx_rank(ctx) == 0 ? tsr__cf_coord_prepare(&c, cwd, sizeof cwd) : 0;
    err = tsr_ctx_agree(ctx, err);
    int mpi = err ? 0 : MPI_Bcast(cwd, (int)sizeof cwd, MPI_CHAR, 0, comm);
    if (!err && !mpi)
        mpi = MPI_Bcast(&c.groups, 1, MPI_INT, 0, comm);
    if (!err && mpi)
        err = tsr_error_mpi(ctx, mpi, "MPI_Bcast", __FILE__, __LINE__, __func__);
    placement pl = {.group = NULL};
    if (!err)
        err = place(ctx, comm, o, c.groups, &pl);
    if (!err)
        err = gather_ranks(&c, &pl);
    if (!err)
        err = run_part(&c, &pl, cwd);
    free(pl.group);
    if (!err)
        err = finish(&c, res);
    tsr__cf_coord_free(&c);
    return err;
}
