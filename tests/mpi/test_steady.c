/* The steady-state loop allocates nothing and makes no MPI call but the exchange's own.
 *
 * This program counts, while the time loop runs after a warm-up: heap allocations (its own
 * malloc family, which forwards to glibc's; not in sanitizer builds, whose allocator must not be
 * replaced), except those made inside MPI itself, and MPI calls (PMPI wrappers). Exchange calls
 * (Irecv, Isend, Waitall) are expected on ranks with neighbours; any other wrapped MPI call is a
 * failure. Cases: the overlapped sweep, the plain one, and temporal blocking, on 4x4 blocks of a
 * 96x64 grid with any map, boundary conditions applied by every exchange. Prints "N passed, N
 * failed". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tessera.h>

static long n_alloc, n_mpi_alloc, n_exchange, n_other;
static int counting, in_mpi;
static char other_name[64];

#if defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCATIONS 0
#else
#define COUNT_ALLOCATIONS 1
/* Allocations inside MPI calls (Open MPI growing its free lists when a message arrives before
 * its receive is posted) are MPI's, not the library's: counted apart, not failed on. */
static void count_alloc(void) {
    if (counting) {
        if (in_mpi)
            n_mpi_alloc++;
        else
            n_alloc++;
    }
}

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

void *malloc(size_t n) {
    count_alloc();
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t m) {
    count_alloc();
    return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n) {
    count_alloc();
    return __libc_realloc(p, n);
}
void free(void *p) {
    __libc_free(p);
}
void *aligned_alloc(size_t a, size_t n) {
    count_alloc();
    return __libc_memalign(a, n);
}
int posix_memalign(void **p, size_t a, size_t n) {
    count_alloc();
    *p = __libc_memalign(a, n);
    return *p ? 0 : 12; /* ENOMEM */
}
#endif

static void other(const char *name) {
    if (counting) {
        n_other++;
        snprintf(other_name, sizeof other_name, "%s", name);
    }
}

/* The exchange's own calls. */
int MPI_Irecv(void *b, int c, MPI_Datatype t, int s, int tag, MPI_Comm comm, MPI_Request *r) {
    n_exchange += counting;
    in_mpi = 1;
    int rc = PMPI_Irecv(b, c, t, s, tag, comm, r);
    in_mpi = 0;
    return rc;
}
int MPI_Isend(const void *b, int c, MPI_Datatype t, int d, int tag, MPI_Comm comm, MPI_Request *r) {
    n_exchange += counting;
    in_mpi = 1;
    int rc = PMPI_Isend(b, c, t, d, tag, comm, r);
    in_mpi = 0;
    return rc;
}
int MPI_Waitall(int n, MPI_Request r[], MPI_Status s[]) {
    n_exchange += counting;
    in_mpi = 1;
    int rc = PMPI_Waitall(n, r, s);
    in_mpi = 0;
    return rc;
}
/* Anything else the library might call. */
int MPI_Barrier(MPI_Comm c) {
    other("MPI_Barrier");
    return PMPI_Barrier(c);
}
int MPI_Allreduce(const void *a, void *b, int n, MPI_Datatype t, MPI_Op o, MPI_Comm c) {
    other("MPI_Allreduce");
    return PMPI_Allreduce(a, b, n, t, o, c);
}
int MPI_Bcast(void *b, int n, MPI_Datatype t, int r, MPI_Comm c) {
    other("MPI_Bcast");
    return PMPI_Bcast(b, n, t, r, c);
}
int MPI_Reduce(const void *a, void *b, int n, MPI_Datatype t, MPI_Op o, int r, MPI_Comm c) {
    other("MPI_Reduce");
    return PMPI_Reduce(a, b, n, t, o, r, c);
}
int MPI_Gather(const void *a, int n, MPI_Datatype t, void *b, int m, MPI_Datatype u, int r,
               MPI_Comm c) {
    other("MPI_Gather");
    return PMPI_Gather(a, n, t, b, m, u, r, c);
}
int MPI_Send(const void *b, int n, MPI_Datatype t, int d, int tag, MPI_Comm c) {
    other("MPI_Send");
    return PMPI_Send(b, n, t, d, tag, c);
}
int MPI_Recv(void *b, int n, MPI_Datatype t, int s, int tag, MPI_Comm c, MPI_Status *st) {
    other("MPI_Recv");
    return PMPI_Recv(b, n, t, s, tag, c, st);
}
int MPI_Wait(MPI_Request *r, MPI_Status *s) {
    other("MPI_Wait");
    return PMPI_Wait(r, s);
}
int MPI_Test(MPI_Request *r, int *f, MPI_Status *s) {
    other("MPI_Test");
    return PMPI_Test(r, f, s);
}
int MPI_Iprobe(int s, int tag, MPI_Comm c, int *f, MPI_Status *st) {
    other("MPI_Iprobe");
    return PMPI_Iprobe(s, tag, c, f, st);
}
int MPI_Comm_dup(MPI_Comm c, MPI_Comm *n) {
    other("MPI_Comm_dup");
    return PMPI_Comm_dup(c, n);
}

static int kernel(const tsr_block *f, int nf, const tsr_box *box, void *user) {
    (void)nf;
    (void)user;
    for (int64_t y = box->lo[1]; y < box->hi[1]; y++)
        for (int64_t x = box->lo[0]; x < box->hi[0]; x++)
            TSR_AT(&f[1], x, y, 0) =
                0.25 * (TSR_AT(&f[0], x - 1, y, 0) + TSR_AT(&f[0], x + 1, y, 0) +
                        TSR_AT(&f[0], x, y - 1, 0) + TSR_AT(&f[0], x, y + 1, 0));
    return 0;
}

typedef struct outcome {
    int passed, failed;
} outcome;

/* One case; the verdict is reduced over ranks so every rank agrees. */
static int check_case(tsr_ctx ctx, const char *name, int map, int k, bool overlap, outcome *o) {
    tsr_domain_opts d;
    tsr_extents grid = {.ndim = 2, .n = {96, 64, 1}};
    tsr_domain_opts_init(&d, &grid, k);
    d.blocks = (tsr_extents){.ndim = 2, .n = {4, 4, 1}};
    d.map = map;
    tsr_domain dom;
    tsr_field u = NULL, v = NULL;
    tsr_sweep sw = NULL;
    tsr_bc bc = NULL;
    tsr_bc_desc desc;
    tsr_bc_desc_init(&desc, NULL, TSR_BC_DIRICHLET, 0.5);
    /* Applied after every exchange, inside the loop; temporal blocking takes only boundaries that
     * never change (it refuses a Neumann side). */
    if (k == 1)
        desc.kind[0][1] = TSR_BC_NEUMANN;
    TSR_CALL(ctx, tsr_domain_create(ctx, &d, k > 1 ? TSR_STENCIL_BOX : TSR_STENCIL_STAR, &dom));
    int err = tsr_bc_create(dom.grid, &desc, &bc);
    if (!err)
        err = tsr_halo_set_bc(dom.halo, bc);
    if (!err)
        err = tsr_field_create(dom.map, k, "u", &u);
    if (!err)
        err = tsr_field_create(dom.map, k, "v", &v);
    if (!err)
        err = tsr_sweep_create(dom.map, 1, 61, &sw);
    /* Warm-up: first exchanges, first parallel regions, MPI's free lists. */
    for (int pass = 0; !err && pass < 2; pass++) {
        counting = pass;
        n_alloc = n_mpi_alloc = n_exchange = n_other = 0;
        if (k > 1)
            err = tsr_sweep_steps_blocked(sw, dom.halo, &u, &v, 12, k, kernel, NULL, false, NULL);
        else
            for (int s = 0; !err && s < 12; s++) {
                tsr_field f[2] = {u, v};
                err = tsr_sweep_apply_exchange(sw, dom.halo, 1, f, 2, kernel, NULL, overlap);
                u = f[1];
                v = f[0];
            }
        counting = 0;
    }
    int peers = 0;
    int64_t bytes = 0;
    if (!err)
        err = tsr_halo_stats(dom.halo, &peers, &bytes);
    long bad[4] = {n_alloc, n_other, peers > 0 && n_exchange == 0, n_mpi_alloc}, worst[4];
    if (!err)
        err = MPI_Allreduce(bad, worst, 4, MPI_LONG, MPI_MAX, tsr_ctx_comm(ctx)) ? TSR_ERR_MPI : 0;
    if (!err) {
        bool ok = worst[0] == 0 && worst[1] == 0 && worst[2] == 0;
        tsr_ctx_printf(ctx, stdout,
                       "%s %s: %ld allocations (and %ld inside MPI), %ld other MPI calls%s%s%s\n",
                       ok ? "PASS" : "FAIL", name, worst[0], worst[3], worst[1],
                       worst[1] ? " (e.g. " : "", worst[1] ? other_name : "", worst[1] ? ")" : "");
        if (!COUNT_ALLOCATIONS)
            tsr_ctx_printf(ctx, stdout, "     (allocations not counted in a sanitizer build)\n");
        ok ? o->passed++ : o->failed++;
    }
    tsr_sweep_destroy(&sw);
    tsr_field_destroy(&v);
    tsr_field_destroy(&u);
    tsr_domain_destroy(&dom);
    tsr_bc_destroy(&bc);
    return err;
}

/* The counters must see what the library does, or the checks below prove nothing. */
static int check_instrumentation(tsr_ctx ctx, outcome *o) {
    n_alloc = n_mpi_alloc = n_exchange = n_other = 0;
    counting = 1;
    int err = tsr_ctx_agree(ctx, TSR_SUCCESS); /* one MPI_Allreduce inside libtessera */
    tsr_opts opts = NULL;
    if (!err)
        err = tsr_opts_create(ctx, "x", &opts); /* allocates inside libtessera */
    counting = 0;
    tsr_opts_destroy(&opts);
    TSR_CALL(ctx, err);
    bool ok = n_other >= 1 && (!COUNT_ALLOCATIONS || n_alloc >= 1);
    tsr_ctx_printf(ctx, stdout, "%s the counters see the library's MPI calls and allocations\n",
                   ok ? "PASS" : "FAIL");
    ok ? o->passed++ : o->failed++;
    return TSR_SUCCESS;
}

static int run(tsr_ctx ctx, outcome *o) {
    static const char *const maps[] = {"contiguous", "roundrobin", "sfc"};
    TSR_CALL(ctx, check_instrumentation(ctx, o));
    for (int m = 0; m < 3; m++) {
        char name[96];
        snprintf(name, sizeof name, "overlapped sweep, map %s", maps[m]);
        TSR_CALL(ctx, check_case(ctx, name, m == 2 ? TSR_MAP_SFC : m, 1, true, o));
        snprintf(name, sizeof name, "plain sweep, map %s", maps[m]);
        TSR_CALL(ctx, check_case(ctx, name, m == 2 ? TSR_MAP_SFC : m, 1, false, o));
        snprintf(name, sizeof name, "time block 3, map %s", maps[m]);
        TSR_CALL(ctx, check_case(ctx, name, m == 2 ? TSR_MAP_SFC : m, 3, false, o));
    }
    return TSR_SUCCESS;
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    outcome o = {0, 0};
    int err = tsr_init(&argc, &argv, "test_steady", &ctx);
    if (!err)
        err = run(ctx, &o);
    if (!err)
        tsr_ctx_printf(ctx, stdout, "%d passed, %d failed\n", o.passed, o.failed);
    int status = tsr_finalize(&ctx, err);
    return status ? status : o.failed != 0;
}
