/* What page size does to Open MPI's transfer of many messages (plain MPI, no tessera).
 *
 *   mpirun -np 2 --bind-to none build/bench/pages_bench [--mib 32] [--rounds 30]
 *
 * Rank 0 sends --mib MiB to rank 1 as 1, 16 and 64 messages with MPI_Isend / MPI_Irecv, from and
 * into buffers laid out three ways: slices of one buffer on transparent huge pages, separate
 * allocations on 4 KiB pages (what small blocks each allocated alone got) and separate
 * allocations on huge pages. Open MPI's single-copy transfer between processes on one node
 * (process_vm_readv) pins and copies page by page, so the page size shows in the time. Prints
 * the best and the median of --rounds per case, in ms. Even rank counts only: rank r pairs with
 * r ^ 1. Where the system gives no huge pages the "huge" columns read like the 4 KiB one. */
#include <mpi.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE ((size_t)2 << 20)

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The length mapped for a buffer of `bytes`: whole huge pages. */
static size_t mapped(size_t bytes) {
    return (bytes + HUGE - 1) / HUGE * HUGE;
}

/* `bytes` at a huge-page boundary on pages of the kind `advice` asks (MADV_HUGEPAGE or
 * MADV_NOHUGEPAGE), touched; NULL when out of memory. Freed with munmap(p, mapped(bytes)). */
static char *get(size_t bytes, int advice) {
    /* one huge page more, so that the start can be aligned to one */
    size_t len = mapped(bytes) + HUGE;
    char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)m + HUGE - 1) / HUGE * HUGE;
    if (a > (uintptr_t)m)
        munmap(m, a - (uintptr_t)m);
    size_t keep = len - (a - (uintptr_t)m);
    if (keep > mapped(bytes))
        munmap((char *)a + mapped(bytes), keep - mapped(bytes));
    char *p = (char *)a;
    madvise(p, mapped(bytes), advice);
    memset(p, 1, bytes);
    return p;
}

typedef enum { ONE_HUGE, SEPARATE_SMALL, SEPARATE_HUGE, LAYOUTS } layout;
static const char *const layout_name[LAYOUTS] = {"one buffer, huge pages", "separate, 4 KiB pages",
                                                 "separate, huge pages"};

/* The k message buffers of one side in the layout; false when out of memory. */
static bool make(layout l, size_t total, int k, char **buf, char **mem) {
    size_t each = total / (size_t)k;
    for (int i = 0; i < k; i++)
        mem[i] = NULL;
    if (l == ONE_HUGE) {
        mem[0] = get(total, MADV_HUGEPAGE);
        for (int i = 0; i < k; i++)
            buf[i] = mem[0] ? mem[0] + (size_t)i * each : NULL;
        return mem[0];
    }
    for (int i = 0; i < k; i++) {
        mem[i] = buf[i] = get(each, l == SEPARATE_HUGE ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
        if (!buf[i])
            return false;
    }
    return true;
}

static void release(layout l, size_t total, int k, char **mem) {
    size_t each = l == ONE_HUGE ? total : total / (size_t)k;
    for (int i = 0; i < (l == ONE_HUGE ? 1 : k); i++)
        if (mem[i])
            munmap(mem[i], mapped(each));
}

/* Seconds of one transfer from rank r & ~1 to its partner, the slower side's. */
static double transfer(int rank, int k, size_t each, char **buf, MPI_Request *req) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    for (int i = 0; i < k; i++) {
        if (rank % 2 == 0)
            MPI_Isend(buf[i], (int)each, MPI_BYTE, rank ^ 1, i, MPI_COMM_WORLD, &req[i]);
        else
            MPI_Irecv(buf[i], (int)each, MPI_BYTE, rank ^ 1, i, MPI_COMM_WORLD, &req[i]);
    }
    MPI_Waitall(k, req, MPI_STATUSES_IGNORE);
    double t = MPI_Wtime() - t0, slowest = 0.0;
    MPI_Allreduce(&t, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return slowest;
}

static int usage(int rank, const char *msg, const char *prog) {
    if (rank == 0) {
        if (msg)
            fprintf(stderr, "pages_bench: %s\n", msg);
        fprintf(msg ? stderr : stdout,
                "usage: %s [--mib N (1-4096, default 32)] [--rounds R (1-1000, default 30)]\n",
                prog);
    }
    return msg ? 2 : 0;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long mib = 32, rounds = 30;
    int status = -1;
    char msg[160] = "";
    for (int i = 1; i < argc && status < 0; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        long *dst = !strcmp(opt, "--mib") ? &mib : !strcmp(opt, "--rounds") ? &rounds : NULL;
        long hi = dst == &mib ? 4096 : 1000;
        char *end = NULL;
        if (!strcmp(opt, "--help"))
            status = usage(rank, NULL, argv[0]);
        else if (!dst)
            snprintf(msg, sizeof msg, "unknown option '%s'", opt);
        else if (!val ||
                 (*dst = strtol(val, &end, 10), *end || end == val || *dst < 1 || *dst > hi))
            snprintf(msg, sizeof msg, "%s %s: expected a whole number from 1 to %ld", opt,
                     val ? val : "(missing)", hi);
        else
            i++;
        if (*msg)
            status = usage(rank, msg, argv[0]);
    }
    if (status < 0 && size % 2)
        status = usage(rank, "needs an even number of ranks (rank r pairs with r ^ 1)", argv[0]);
    if (status >= 0) {
        MPI_Finalize();
        return status;
    }
    const int counts[] = {1, 16, 64};
    size_t total = (size_t)mib << 20;
    double *t = malloc((size_t)rounds * sizeof *t);
    char *buf[64], *mem[64];
    MPI_Request req[64];
    if (rank == 0)
        printf("%ld MiB from rank 0 to rank 1, ms (best / median of %ld)\n%-10s", mib, rounds,
               "messages");
    for (int l = 0; l < LAYOUTS && rank == 0; l++)
        printf(" | %-24s", layout_name[l]);
    if (rank == 0)
        printf("\n");
    int failed = 0, none = !t;
    MPI_Allreduce(&none, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    for (size_t c = 0; c < sizeof counts / sizeof counts[0] && !failed; c++) {
        int k = counts[c];
        if (rank == 0)
            printf("%-10d", k);
        for (int l = 0; l < LAYOUTS && !failed; l++) {
            int bad = !make((layout)l, total, k, buf, mem), any = 0;
            MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
            if (!any) {
                transfer(rank, k, total / (size_t)k, buf, req); /* warm-up */
                for (long r = 0; r < rounds; r++)
                    t[r] = transfer(rank, k, total / (size_t)k, buf, req);
                qsort(t, (size_t)rounds, sizeof *t, cmp_double);
                if (rank == 0)
                    printf(" | %10.3f / %-11.3f", 1e3 * t[0], 1e3 * t[rounds / 2]);
            }
            release((layout)l, total, k, mem);
            failed = any;
        }
        if (rank == 0)
            printf("\n");
    }
    if (failed && rank == 0)
        fprintf(stderr, "pages_bench: cannot allocate %ld MiB twice over\n", mib);
    free(t);
    MPI_Finalize();
    return failed ? 1 : 0;
}
