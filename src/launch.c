/* Launch awareness: where the ranks landed, how many cores they may use, which Slurm job. */
#include <dirent.h>
#ifdef __GLIBC__
#include <malloc.h>
#include <stdint.h>
#include <sys/mman.h>
#endif
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "context_impl.h"

void tsr_ctx_launch(tsr_ctx ctx, tsr_launch *launch) {
    *launch = ctx->launch;
}

static void env_copy(const char *name, char *dst, size_t len) {
    const char *v = getenv(name);
    snprintf(dst, len, "%s", v ? v : "");
}

/* The rank with the largest `excess` (> 0) tells rank 0 its figures; -1 if nobody has any. */
static int worst_rank(tsr_ctx ctx, int excess, int *who) {
    struct {
        int value, rank;
    } in = {excess, ctx->rank}, out;
    TSR_MPI(ctx, MPI_Allreduce(&in, &out, 1, MPI_2INT, MPI_MAXLOC, ctx->comm));
    *who = out.value > 0 ? out.rank : -1;
    return TSR_SUCCESS;
}

int tsr__launch_detect(tsr_ctx ctx) {
    tsr_launch *l = &ctx->launch;
    memset(l, 0, sizeof *l);
    if (gethostname(l->host, sizeof l->host - 1) != 0)
        snprintf(l->host, sizeof l->host, "unknown");
    env_copy("SLURM_JOB_ID", l->job_id, sizeof l->job_id);
    env_copy("SLURM_JOB_NODELIST", l->nodelist, sizeof l->nodelist);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    l->node_cores = online > 0 ? (int)online : 1;
    cpu_set_t mask;
    CPU_ZERO(&mask);
    l->affinity_cores =
        sched_getaffinity(0, sizeof mask, &mask) == 0 ? CPU_COUNT(&mask) : l->node_cores;

    MPI_Comm node;
    TSR_MPI(ctx,
            MPI_Comm_split_type(ctx->comm, MPI_COMM_TYPE_SHARED, ctx->rank, MPI_INFO_NULL, &node));
    int node_rank = 0, rc = MPI_Comm_rank(node, &node_rank);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_size(node, &l->node_ranks);
    MPI_Comm_free(&node);
    if (rc != MPI_SUCCESS)
        return tsr_error_mpi(ctx, rc, "MPI_Comm_size", __FILE__, __LINE__, __func__);
    int leader = node_rank == 0;
    TSR_MPI(ctx, MPI_Allreduce(&leader, &l->nodes, 1, MPI_INT, MPI_SUM, ctx->comm));

    /* Warnings, once, from rank 0, with the figures of the worst rank. */
    int over = 0, squeezed = 0;
    TSR_CALL(ctx, worst_rank(ctx, l->node_ranks * ctx->threads - l->node_cores, &over));
    TSR_CALL(ctx, worst_rank(ctx, ctx->threads - l->affinity_cores, &squeezed));
    struct {
        int node_ranks, threads, node_cores, affinity_cores;
        char host[sizeof l->host];
    } fig;
    for (int k = 0; k < 2; k++) {
        int who = k == 0 ? over : squeezed;
        if (who < 0)
            continue;
        memset(&fig, 0, sizeof fig);
        fig.node_ranks = l->node_ranks;
        fig.threads = ctx->threads;
        fig.node_cores = l->node_cores;
        fig.affinity_cores = l->affinity_cores;
        snprintf(fig.host, sizeof fig.host, "%s", l->host);
        TSR_MPI(ctx, MPI_Bcast(&fig, (int)sizeof fig, MPI_BYTE, who, ctx->comm));
        if (k == 0)
            tsr_ctx_warn(ctx,
                         "%d ranks x %d threads share the %d cores of %s (oversubscribed: expect "
                         "slow runs; OMP_WAIT_POLICY=passive lets idle threads yield)",
                         fig.node_ranks, fig.threads, fig.node_cores, fig.host);
        else
            tsr_ctx_warn(ctx,
                         "rank %d runs %d threads on %d core%s of %s (bound too tightly: with "
                         "mpirun use --bind-to none or --map-by slot:PE=%d, with srun -c %d)",
                         who, fig.threads, fig.affinity_cores, fig.affinity_cores == 1 ? "" : "s",
                         fig.host, fig.threads, fig.threads);
    }
    return TSR_SUCCESS;
}

/* True when the directory has an entry other than . and .. (false when it does not exist). */
static bool dir_has_entries(const char *path) {
    DIR *d = opendir(path);
    if (!d)
        return false;
    bool any = false;
    for (struct dirent *e; !any && (e = readdir(d));)
        any = e->d_name[0] != '.';
    closedir(d);
    return any;
}

/* True when a /dev entry's name starts with one of the prefixes. */
static bool dev_has(const char *const *prefixes) {
    DIR *d = opendir("/dev");
    if (!d)
        return false;
    bool any = false;
    for (struct dirent *e; !any && (e = readdir(d));)
        for (const char *const *p = prefixes; *p && !any; p++)
            any = strncmp(e->d_name, *p, strlen(*p)) == 0;
    closedir(d);
    return any;
}

bool tsr__launch_no_fabric(void) {
    static const char *const psm[] = {"hfi1", "ipath", "qib", NULL};
    return !dir_has_entries("/sys/class/infiniband") && !dir_has_entries("/sys/class/cxi") &&
           !dev_has(psm);
}

/* Whether the launcher put every rank on this node (a singleton too). Only then can no other
 * rank's Open MPI pick a different PML. */
static bool one_node(void) {
    const char *size = getenv("OMPI_COMM_WORLD_SIZE"),
               *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (size && local)
        return strcmp(size, local) == 0;
    const char *nodes = getenv("SLURM_STEP_NUM_NODES");
    if (!nodes)
        nodes = getenv("SLURM_NNODES");
    return !nodes || strcmp(nodes, "1") == 0;
}

/* Whether an MCA parameter setting chooses the transport itself: a PML or MTL named outright, ob1
 * left out, or shared memory (vader) left out of the BTLs. Exclusions of other components (as
 * Debian's pml = ^ucx) choose nothing. */
bool tsr__launch_mca_chooses(const char *key, const char *value) {
    bool exclude = value[0] == '^';
    if (strcmp(key, "pml") == 0)
        return !exclude || strstr(value, "ob1");
    if (strcmp(key, "mtl") == 0)
        return !exclude;
    if (strcmp(key, "btl") == 0)
        return exclude ? strstr(value, "vader") != NULL : strstr(value, "vader") == NULL;
    return false;
}

/* Whether an MCA parameter file (the site's, the user's, or those OMPI_MCA_mca_base_param_files
 * names) chooses the transport. */
static bool file_chooses(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[512];
    bool chooses = false;
    while (!chooses && fgets(line, sizeof line, f)) {
        char key[64], value[256];
        if (sscanf(line, " %63[a-z_] = %255s", key, value) == 2)
            chooses = tsr__launch_mca_chooses(key, value);
    }
    fclose(f);
    return chooses;
}

static bool params_choose(void) {
    const char *listed = getenv("OMPI_MCA_mca_base_param_files");
    char paths[4][1024];
    int n = 0;
    if (listed) {
        char buf[4096];
        snprintf(buf, sizeof buf, "%s", listed);
        for (char *save = NULL, *p = strtok_r(buf, ":", &save); p && n < 4;
             p = strtok_r(NULL, ":", &save))
            snprintf(paths[n++], sizeof paths[0], "%s", p);
    } else {
        const char *home = getenv("HOME"), *prefix = getenv("OPAL_PREFIX");
        snprintf(paths[n++], sizeof paths[0], "/etc/openmpi/openmpi-mca-params.conf");
        snprintf(paths[n++], sizeof paths[0], "%s/etc/openmpi-mca-params.conf",
                 prefix ? prefix : "/usr/local");
        if (home)
            snprintf(paths[n++], sizeof paths[0], "%s/.openmpi/mca-params.conf", home);
    }
    for (int i = 0; i < n; i++)
        if (file_chooses(paths[i]))
            return true;
    return false;
}

void tsr__launch_mpi_defaults(void) {
#ifdef OMPI_MAJOR_VERSION
    /* Open MPI probes its fabric libraries (PSM, PSM2, OFI, UCX) at every start, 0.2 s here; on
     * a node without any fabric device Debian's build then takes ob1 with shared memory, so
     * choosing it first saves the probe. Only when every rank is on this node (no rank can pick
     * differently), and only when nobody chose: the environment (OMPI_MCA_pml, _mtl or _btl,
     * which mpirun --mca also passes), the MCA parameter files, or TSR_MPI_DEFAULTS=off. */
    const char *off = getenv("TSR_MPI_DEFAULTS");
    if ((off && strcmp(off, "off") == 0) || getenv("OMPI_MCA_pml") || getenv("OMPI_MCA_mtl") ||
        getenv("OMPI_MCA_btl"))
        return;
    if (one_node() && tsr__launch_no_fabric() && !params_choose())
        setenv("OMPI_MCA_pml", "ob1", 0);
#endif
}

const char *tsr__launch_thp_mode(void) {
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char line[128] = "";
    if (f) {
        if (!fgets(line, sizeof line, f))
            line[0] = '\0';
        fclose(f);
    }
    return strstr(line, "[always]") ? "always" : strstr(line, "[madvise]") ? "madvise" : "never";
}

#ifdef __GLIBC__
#define TOP_PAD (64 << 20)

/* Where huge pages come only on request, asks for them on the heap's next TOP_PAD bytes: grows
 * the heap once (an array beyond its top: glibc adds the pad) and advises the range up to the
 * new top. The heap's later growth is not covered (the kernel does not merge it into an advised
 * range), but a run's item buffers and small blocks live in this first stretch. */
static void advise_heap_top(void) {
    if (strcmp(tsr__launch_thp_mode(), "madvise") != 0)
        return;
    long page = sysconf(_SC_PAGESIZE);
    void *grow = malloc((size_t)1 << 20);
    char *top = sbrk(0);
    if (grow && top != (char *)-1 && page > 0) {
        uintptr_t lo = ((uintptr_t)grow + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
        /* Only if the array did come from the brk heap (not from mmap, or another allocator's
         * arena, as under AddressSanitizer): then the top lies at most a pad beyond it. */
        if ((uintptr_t)top > lo && (uintptr_t)top - lo <= (uintptr_t)TOP_PAD + (2u << 20))
            (void)madvise((void *)lo, (uintptr_t)top - lo, MADV_HUGEPAGE);
    }
    free(grow);
}
#endif

bool tsr__launch_malloc_defaults(void) {
#ifdef __GLIBC__
    /* glibc returns a freed block of a few MiB to the system (munmap, or trimming the heap's
     * top), so the next build of the same arrays faults every page in again: neighbour lists
     * rebuilt every few steps spent 17% of tessera-md's run in page faults on this VM. Blocks up
     * to 32 MiB (glibc's own ceiling for its adaptive threshold) then come from the heap, and up
     * to 1 GiB of free heap stays in the process, as Open MPI's leave-pinned mode also arranges.
     * The heap also grows 64 MiB at a time: with transparent huge pages on for all memory
     * ("always") whole 2 MiB ranges then lie inside it and fault in as one huge page instead of
     * 512 pages (tessera-imgpipe's first frames of 0.9 MiB: 3400 faults fewer on the source's
     * rank, 60 frames 1.45x as fast); where they come on request ("madvise"), the first 64 MiB
     * are asked for (60 frames 1.59x). Address space only; what is never touched costs nothing.
     * Only when nobody chose: the malloc variables or tunables, or TSR_MALLOC_DEFAULTS=off. */
    const char *off = getenv("TSR_MALLOC_DEFAULTS"), *tun = getenv("GLIBC_TUNABLES");
    if ((off && strcmp(off, "off") == 0) || getenv("MALLOC_TRIM_THRESHOLD_") ||
        getenv("MALLOC_MMAP_THRESHOLD_") || getenv("MALLOC_TOP_PAD_") ||
        getenv("MALLOC_MMAP_MAX_") || (tun && strstr(tun, "glibc.malloc.")))
        return false;
    if (mallopt(M_MMAP_THRESHOLD, 32 << 20) != 1 || mallopt(M_TRIM_THRESHOLD, 1 << 30) != 1 ||
        mallopt(M_TOP_PAD, TOP_PAD) != 1)
        return false;
    advise_heap_top();
    return true;
#else
    return false;
#endif
}
