/* Context: communicator, error state, collective agreement on errors, timers. */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/mman.h>

#include <omp.h>

#include "context_impl.h"
#include "message_impl.h"

static const char *const error_names[] = {
    [TSR_SUCCESS] = "success",
    [TSR_ERR_INPUT] = "bad input",
    [TSR_ERR_ARG] = "bad argument",
    [TSR_ERR_MEMORY] = "out of memory",
    [TSR_ERR_MPI] = "MPI error",
    [TSR_ERR_IO] = "I/O error",
    [TSR_ERR_VERIFY] = "verification failed",
    [TSR_ERR_KERNEL] = "kernel failed",
    [TSR_ERR_INTERNAL] = "internal error",
};

const char *tsr_error_name(int code) {
    if (code < 0 || code > TSR_ERR_INTERNAL)
        return "unknown error";
    return error_names[code];
}

int tsr_error_exit_status(int code) {
    if (code == TSR_SUCCESS)
        return 0;
    return code == TSR_ERR_INPUT ? 2 : 1;
}

int tsr_error_set(tsr_ctx ctx, int code, const char *file, int line, const char *func,
                  const char *fmt, ...) {
    if (!ctx)
        return code;
    /* Formatted whole first, then shortened where it does not lose the reason. */
    char local[4 * TSR_MSG_LEN], *msg = local;
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int len = vsnprintf(local, sizeof local, fmt, ap);
    va_end(ap);
    if (len >= (int)sizeof local) {
        char *big = malloc((size_t)len + 1);
        if (big) {
            vsnprintf(big, (size_t)len + 1, fmt, again);
            msg = big;
        }
    }
    va_end(again);
    size_t n = tsr__msg_shorten(msg, sizeof ctx->err_msg);
    memcpy(ctx->err_msg, msg, n + 1);
    if (msg != local)
        free(msg);
    ctx->err_code = code;
    ctx->err_collective = 0;
    snprintf(ctx->err_trace, sizeof ctx->err_trace, "  raised at %s:%d (%s)\n", file, line, func);
    return code;
}

int tsr_error_trace(tsr_ctx ctx, int code, const char *file, int line, const char *func) {
    if (!ctx)
        return code;
    if (ctx->err_code == TSR_SUCCESS) {
        /* An error code with no message: a caller returned a bare code. */
        ctx->err_code = code;
        snprintf(ctx->err_msg, sizeof ctx->err_msg, "%s", tsr_error_name(code));
    }
    size_t used = strlen(ctx->err_trace);
    if (used + 1 < sizeof ctx->err_trace)
        snprintf(ctx->err_trace + used, sizeof ctx->err_trace - used, "  from %s:%d (%s)\n", file,
                 line, func);
    return code;
}

int tsr_error_mpi(tsr_ctx ctx, int mpi_code, const char *call, const char *file, int line,
                  const char *func) {
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    if (MPI_Error_string(mpi_code, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "MPI error code %d", mpi_code);
    return tsr_error_set(ctx, TSR_ERR_MPI, file, line, func, "%s failed: %s", call, text);
}

/* A tuning knob from the environment; malformed values keep the default. */
static int64_t env_int(const char *name, int64_t deflt, int64_t min) {
    const char *v = getenv(name);
    if (!v || !*v)
        return deflt;
    char *end = NULL;
    long long x = strtoll(v, &end, 10);
    return end && *end == '\0' && x >= min ? (int64_t)x : deflt;
}

static int ctx_new(MPI_Comm comm, const char *name, tsr_ctx *out) {
    tsr_ctx ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return TSR_ERR_MEMORY;
    *out = ctx;
    ctx->comm = MPI_COMM_NULL;
    snprintf(ctx->name, sizeof ctx->name, "%s", name ? name : "tessera");
    ctx->t_created = tsr_wtime();
    time_t now = time(NULL);
    struct tm utc;
    if (gmtime_r(&now, &utc))
        strftime(ctx->started_utc, sizeof ctx->started_utc, "%Y-%m-%dT%H:%M:%SZ", &utc);
    ctx->threads = omp_get_max_threads();
    ctx->tile_cells = env_int("TESSERA_TILE_CELLS", TSR_TILE_CELLS, 1);
    ctx->min_parallel_cells = env_int("TESSERA_MIN_PARALLEL_CELLS", TSR_TILE_CELLS, 0);
    long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE); /* cpuid, which a VM traps: once */
    ctx->l2_bytes = l2 > 0 ? l2 : 2 << 20;
    TSR_MPI(ctx, MPI_Comm_dup(comm, &ctx->comm));
    TSR_MPI(ctx, MPI_Comm_set_errhandler(ctx->comm, MPI_ERRORS_RETURN));
    TSR_MPI(ctx, MPI_Comm_rank(ctx->comm, &ctx->rank));
    TSR_MPI(ctx, MPI_Comm_size(ctx->comm, &ctx->size));
    TSR_CALL(ctx, tsr__launch_detect(ctx));
    return TSR_SUCCESS;
}

int tsr_ctx_create(MPI_Comm comm, const char *name, tsr_ctx *ctx) {
    if (!ctx)
        return TSR_ERR_ARG;
    *ctx = NULL;
    return ctx_new(comm, name, ctx);
}

int tsr_init(int *argc, char ***argv, const char *name, tsr_ctx *ctx) {
    if (!ctx)
        return TSR_ERR_ARG;
    *ctx = NULL;
    int initialized = 0, provided = 0, owns = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
        (void)tsr__launch_malloc_defaults();
        tsr__launch_mpi_defaults();
        if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
            fprintf(stderr, "%s: error: MPI_Init_thread failed\n", name ? name : "tessera");
            return TSR_ERR_MPI;
        }
        owns = 1;
    }
    /* Errors on MPI_COMM_WORLD itself return too, so nothing aborts behind our back. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int err = ctx_new(MPI_COMM_WORLD, name, ctx);
    if (*ctx)
        (*ctx)->owns_mpi = owns;
    return err;
}

int tsr_ctx_destroy(tsr_ctx *ctx) {
    if (!ctx || !*ctx)
        return TSR_SUCCESS;
    if ((*ctx)->comm != MPI_COMM_NULL)
        MPI_Comm_free(&(*ctx)->comm);
    free((*ctx)->report_json);
    free((*ctx)->report_options);
    free(*ctx);
    *ctx = NULL;
    return TSR_SUCCESS;
}

static int debug_enabled(void) {
    const char *d = getenv("TESSERA_DEBUG");
    return d && *d && strcmp(d, "0") != 0;
}

int tsr_finalize(tsr_ctx *pctx, int err) {
    tsr_ctx ctx = pctx ? *pctx : NULL;
    int status = tsr_error_exit_status(err);
    if (!ctx) {
        int fin = 0;
        MPI_Finalized(&fin);
        if (err && !fin)
            MPI_Abort(MPI_COMM_WORLD, status);
        return status;
    }
    if (err) {
        if (ctx->err_code == TSR_SUCCESS)
            snprintf(ctx->err_msg, sizeof ctx->err_msg, "%s", tsr_error_name(err));
        if (ctx->err_collective) {
            if (ctx->rank == 0) {
                fprintf(stderr, "%s: error: %s\n", ctx->name, ctx->err_msg);
                if (debug_enabled())
                    fputs(ctx->err_trace, stderr);
            }
        } else {
            /* Only this rank knows: say which rank, then take the job down rather than let the
             * others wait for it forever. */
            fprintf(stderr, "%s: error on rank %d of %d: %s\n", ctx->name, ctx->rank, ctx->size,
                    ctx->err_msg);
            if (debug_enabled())
                fputs(ctx->err_trace, stderr);
            fflush(stderr);
            MPI_Abort(MPI_COMM_WORLD, status);
        }
    }
    fflush(stdout);
    fflush(stderr);
    int owns = ctx->owns_mpi;
    tsr_ctx_destroy(pctx);
    if (owns)
        MPI_Finalize();
    return status;
}

int tsr_ctx_agree(tsr_ctx ctx, int err) {
    int mine = err ? ctx->rank : INT_MAX, first = INT_MAX;
    TSR_MPI(ctx, MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, ctx->comm));
    if (first == INT_MAX)
        return TSR_SUCCESS;
    /* The message travels whole: tsr_error_set already fitted it into err_msg, reason included. */
    struct {
        int code;
        char msg[sizeof ctx->err_msg];
    } verdict;
    memset(&verdict, 0, sizeof verdict);
    if (ctx->rank == first) {
        verdict.code = err;
        snprintf(verdict.msg, sizeof verdict.msg, "%s",
                 ctx->err_code ? ctx->err_msg : tsr_error_name(err));
    }
    TSR_MPI(ctx, MPI_Bcast(&verdict, (int)sizeof verdict, MPI_BYTE, first, ctx->comm));
    ctx->err_code = verdict.code;
    memcpy(ctx->err_msg, verdict.msg, sizeof ctx->err_msg);
    ctx->err_collective = 1;
    return verdict.code;
}

int tsr_version(int *major, int *minor, int *patch) {
    if (major)
        *major = TESSERA_VERSION_MAJOR;
    if (minor)
        *minor = TESSERA_VERSION_MINOR;
    if (patch)
        *patch = TESSERA_VERSION_PATCH;
    return 0;
}

MPI_Comm tsr_ctx_comm(tsr_ctx ctx) {
    return ctx->comm;
}
int tsr_ctx_rank(tsr_ctx ctx) {
    return ctx->rank;
}
int tsr_ctx_size(tsr_ctx ctx) {
    return ctx->size;
}
int tsr_ctx_threads(tsr_ctx ctx) {
    return ctx->threads;
}
const char *tsr_ctx_name(tsr_ctx ctx) {
    return ctx->name;
}
const char *tsr_ctx_error_message(tsr_ctx ctx) {
    return ctx->err_msg;
}

void tsr_ctx_error_clear(tsr_ctx ctx) {
    ctx->err_code = TSR_SUCCESS;
    ctx->err_collective = 0;
    ctx->err_msg[0] = '\0';
    ctx->err_trace[0] = '\0';
}

void tsr_ctx_printf(tsr_ctx ctx, FILE *out, const char *fmt, ...) {
    if (ctx->rank != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
}

void tsr_ctx_warn(tsr_ctx ctx, const char *fmt, ...) {
    if (ctx->rank != 0)
        return;
    fprintf(stderr, "%s: warning: ", ctx->name);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

double tsr_wtime(void) {
    return MPI_Wtime();
}

void tsr_ctx_timer_add(tsr_ctx ctx, tsr_timer t, double seconds) {
    ctx->timers[t] += seconds;
}
double tsr_ctx_timer(tsr_ctx ctx, tsr_timer t) {
    return ctx->timers[t];
}
uint64_t tsr_ctx_bytes_sent(tsr_ctx ctx) {
    return ctx->bytes_sent;
}

/* The lowest memory limit on the path of this process's cgroup and its parents (a batch
 * system's job limit, a container's), v2 (memory.max) or v1 (memory.limit_in_bytes), below
 * `mem`; `mem` when none is. "max" (v2's no limit) does not scan; v1's is huge. */
static double cgroup_limit(double mem) {
    FILE *f = fopen("/proc/self/cgroup", "r");
    char line[4096], file[4300];
    while (f && fgets(line, sizeof line, f)) {
        /* "0::/path" (v2) or "4:memory:/path" (v1, maybe among other controllers) */
        char *ctrl = strchr(line, ':'), *path = ctrl ? strchr(ctrl + 1, ':') : NULL;
        if (!path)
            continue;
        *path++ = '\0';
        ctrl++;
        path[strcspn(path, "\n")] = '\0';
        const char *dir = "/sys/fs/cgroup", *name = "memory.max";
        if (*ctrl) {
            size_t n = strlen(ctrl);
            const char *m = strstr(ctrl, "memory");
            if (!m || (m > ctrl && m[-1] != ',') || (m[6] != ',' && m + 6 != ctrl + n))
                continue;
            dir = "/sys/fs/cgroup/memory";
            name = "memory.limit_in_bytes";
        }
        for (bool more = path[0] == '/'; more;) {
            snprintf(file, sizeof file, "%s%s/%s", dir, path[1] ? path : "", name);
            FILE *g = fopen(file, "r");
            double v;
            if (g && fscanf(g, "%lf", &v) == 1 && v > 0 && (mem == 0 || v < mem))
                mem = v;
            if (g)
                fclose(g);
            char *slash = strrchr(path, '/');
            more = path[1] != '\0';
            slash[slash == path] = '\0'; /* "/a/b" -> "/a" -> "/" */
        }
    }
    if (f)
        fclose(f);
    return mem;
}

/* The node's RAM, or the cgroup's limit when lower; 0 when unknown. Read once. */
static double node_memory(void) {
    static double cached = -1;
    double mem;
    __atomic_load(&cached, &mem, __ATOMIC_RELAXED);
    if (mem >= 0)
        return mem;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    mem = cgroup_limit(pages > 0 && page > 0 ? (double)pages * (double)page : 0);
    __atomic_store(&cached, &mem, __ATOMIC_RELAXED);
    return mem;
}

/* `bytes` on each of `ranks` ranks of this node against its memory; ranks 0: a request of this
 * rank alone (an array during a run), which more ranks would make smaller. */
static int check_fits(tsr_ctx ctx, double bytes, int ranks, const char *what, int code) {
    double mem = node_memory(), need = bytes * (ranks > 0 ? ranks : 1);
    if (mem == 0 || need <= mem)
        return TSR_SUCCESS;
    const char *host = ctx ? ctx->launch.host : "this node";
    if (ranks == 0)
        return tsr_error_set(ctx, code, __FILE__, __LINE__, __func__,
                             "%s of %.3g GiB on one rank is more than the memory of %s (%.3g "
                             "GiB); use more ranks or a smaller problem",
                             what, bytes / 0x1p30, host, mem / 0x1p30);
    return tsr_error_set(ctx, code, __FILE__, __LINE__, __func__,
                         "%s needs about %.3g GiB per rank, %.3g GiB for the %d on %s: more than "
                         "its memory (%.3g GiB); use more nodes or a smaller problem",
                         what, bytes / 0x1p30, need / 0x1p30, ranks, host, mem / 0x1p30);
}

int tsr__check_node_fits(tsr_ctx ctx, double bytes_per_rank, const char *what, int code) {
    int ranks = ctx->launch.node_ranks > 0 ? ctx->launch.node_ranks : 1;
    return check_fits(ctx, bytes_per_rank, ranks, what, code);
}

int tsr_ctx_check_memory(tsr_ctx ctx, double bytes_per_rank, const char *what) {
    int err = tsr__check_node_fits(ctx, bytes_per_rank, what, TSR_ERR_INPUT);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    return TSR_SUCCESS;
}

/* One home for the element-count overflow test and the message, zeroed or not. */
static int alloc_array(tsr_ctx ctx, size_t n, size_t size, bool zero, void *ptr) {
    n = n ? n : 1;
    size = size ? size : 1;
    TSR_CALL(ctx, check_fits(ctx, (double)n * (double)size, 0, "an array", TSR_ERR_MEMORY));
    void *p = zero ? calloc(n, size) : n <= SIZE_MAX / size ? malloc(n * size) : NULL;
    TSR_CHECK(ctx, p, TSR_ERR_MEMORY, "cannot allocate %zu x %zu bytes", n, size);
    *(void **)ptr = p;
    return TSR_SUCCESS;
}

int tsr__calloc(tsr_ctx ctx, size_t n, size_t size, void *ptr) {
    return alloc_array(ctx, n, size, true, ptr);
}

int tsr__malloc(tsr_ctx ctx, size_t n, size_t size, void *ptr) {
    return alloc_array(ctx, n, size, false, ptr);
}

/* Arrays of a few megabytes and more (the fields' blocks) go on transparent huge pages where the
 * system gives them on request (madvise mode, the usual default): a 3D sweep and the column
 * copies of x faces touch many pages per plane, and 4 KiB pages cost them page walks (256^3
 * heat: +6-7% at one block per rank). Rounded up to whole huge pages: at most 2 MiB more per
 * block, so only from 4 MiB on. */
#define HUGE_PAGE ((size_t)2 << 20)
#define HUGE_MIN ((size_t)4 << 20)

void *tsr__aligned_malloc(size_t bytes) {
    if (bytes > SIZE_MAX - HUGE_PAGE)
        return NULL;
    size_t rounded = (bytes + 63) / 64 * 64;
    if (bytes < HUGE_MIN)
        return aligned_alloc(64, rounded ? rounded : 64);
    rounded = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    void *p = aligned_alloc(HUGE_PAGE, rounded);
    if (p)
        (void)madvise(p, rounded, MADV_HUGEPAGE);
    return p;
}

int tsr__aligned_alloc(tsr_ctx ctx, size_t bytes, void *ptr) {
    TSR_CALL(ctx, check_fits(ctx, (double)bytes, 0, "an array", TSR_ERR_MEMORY));
    void *p = tsr__aligned_malloc(bytes);
    TSR_CHECK(ctx, p, TSR_ERR_MEMORY, "cannot allocate %zu bytes", bytes);
    *(void **)ptr = p;
    return TSR_SUCCESS;
}

int tsr__bcast_bytes(tsr_ctx ctx, void *buf, size_t bytes, int root) {
    char *p = buf;
    while (bytes > 0) {
        int piece = bytes > (size_t)INT_MAX ? INT_MAX : (int)bytes;
        TSR_MPI(ctx, MPI_Bcast(p, piece, MPI_BYTE, root, ctx->comm));
        p += piece;
        bytes -= (size_t)piece;
    }
    return TSR_SUCCESS;
}
