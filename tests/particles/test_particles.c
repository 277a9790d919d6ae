/* Particle containers and their redistribution, against plain serial code in this file (no
 * library code in the reference). For 1D, 2D and 3D grids, periodic, mixed and not, and every
 * map: particles placed from their ids are added by the rank owning their position, a few are
 * removed, then moved three times by displacements computed from (id, step), some across several
 * blocks and around periodic sides, and redistributed after each move. After every
 * redistribution each particle must lie in the block holding it, blocks must be sorted by id,
 * every value (position, velocity, components) must equal the reference's bits, and the global
 * count and a checksum over (id, position, velocity) must equal the reference's. On non-periodic
 * grids a fourth move pushes some particles out, and TSR_PARTICLES_REMOVE_LEAVING must drop
 * exactly those.
 *
 * --bench N STEPS prints a rough speed of redistribution instead. Options for the must-fail
 * cases: --leave (a particle leaves a non-periodic domain without the
 * flag: the run must end with one message naming it), --nreal N (components checked at
 * creation). Prints "PASS ..." lines on rank 0 and exits 0 when every check passes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tessera.h>

#include "ptest.h"

#define NPART 600
#define STEPS 3
#define NREAL 2
#define NINT 1

typedef struct scenario {
    const char *name;
    int ndim;
    int64_t n[3];
    int64_t blocks[3];
    bool periodic[3];
} scenario;

static const scenario scenarios[] = {
    {"1d-periodic", 1, {53, 1, 1}, {7, 1, 1}, {true, false, false}},
    {"2d-periodic", 2, {23, 17, 1}, {5, 3, 1}, {true, true, false}},
    {"2d-open", 2, {23, 17, 1}, {4, 4, 1}, {false, false, false}},
    {"3d-mixed", 3, {11, 9, 7}, {3, 3, 2}, {true, false, true}},
    {"3d-open", 3, {10, 8, 6}, {2, 2, 3}, {false, false, false}},
};

/* The serial model of one particle. */
typedef struct part {
    bool alive;
    double x[3], v[3];
} part;

static void initial(const scenario *s, int64_t id, part *q) {
    q->alive = id % 11 != 5; /* these are removed after being added */
    for (int d = 0; d < 3; d++) {
        q->x[d] = d < s->ndim ? unit((uint64_t)id * 3 + (uint64_t)d) * (double)s->n[d] : 0.5;
        q->v[d] = 0.0;
    }
}

static double real_comp(int64_t id, int k) {
    return k == 0 ? (double)id * 0.25 : -(double)id;
}
static int64_t int_comp(int64_t id) {
    return 3 * id + 1;
}

/* The wrapping the library documents: x - n floor(x / n), 0 if rounding gives n. */
static double wrap(double x, double n) {
    if (x >= 0.0 && x < n)
        return x;
    x -= n * floor(x / n);
    return (x >= n || x < 0.0) ? 0.0 : x;
}

/* Displacement of particle id at step `step` along d: a third of the particles jump up to 0.7 of
 * the domain (across several blocks, around periodic sides), the others move a little. On a
 * non-periodic side a move that would leave is reversed, and dropped if that leaves too.
 * Step STEPS + 1 pushes every seventh particle out along the first non-periodic dimension. */
static void move(const scenario *s, int64_t id, int step, double x[3], double v[3]) {
    int open = 0;
    while (open < s->ndim && s->periodic[open])
        open++;
    for (int d = 0; d < s->ndim; d++) {
        double n = (double)s->n[d];
        double u = unit((uint64_t)id * 131 + (uint64_t)step * 7 + (uint64_t)d + 0x5eedULL);
        double dx = (u - 0.5) * (id % 3 == 0 ? 1.4 : 0.1) * n;
        if (step > STEPS)
            dx = (id % 7 == 3 && d == open) ? n : 0.0;
        double to = x[d] + dx;
        if (!s->periodic[d] && step <= STEPS && (to < 0.0 || to >= n)) {
            to = x[d] - dx;
            if (to < 0.0 || to >= n)
                to = x[d];
        }
        v[d] = dx;
        x[d] = to;
    }
}

static uint64_t particle_hash(int64_t id, const double x[3], const double v[3]) {
    uint64_t h = splitmix64((uint64_t)id);
    for (int d = 0; d < 3; d++)
        h = splitmix64(h ^ bits(x[d])) + splitmix64(h ^ bits(v[d]));
    return h;
}

/* Checks every local particle against the reference; returns the number of problems (all
 * ranks). Also compares the global count and checksum. */
static int64_t check(tsr_ctx ctx, const scenario *s, tsr_particles p, const part *ref,
                     const char *what, bool sorted) {
    int64_t bad = 0;
    uint64_t sum = 0, ref_sum = 0;
    int64_t ref_count = 0;
    for (int64_t id = 0; id < NPART; id++)
        if (ref[id].alive) {
            ref_count++;
            ref_sum += particle_hash(id, ref[id].x, ref[id].v);
        }
    for (int64_t lb = 0; lb < tsr_particles_local_blocks(p); lb++) {
        tsr_particle_block b;
        if (tsr_particles_block(p, lb, &b)) {
            bad++;
            continue;
        }
        for (int64_t i = 0; i < b.count; i++) {
            int64_t id = b.id[i];
            double x[3] = {b.x[0][i], b.x[1][i], b.x[2][i]};
            double v[3] = {b.v[0][i], b.v[1][i], b.v[2][i]};
            bool ok =
                id >= 0 && id < NPART && ref[id].alive && (!sorted || i == 0 || b.id[i - 1] < id);
            for (int d = 0; ok && d < 3; d++) {
                ok = bits(x[d]) == bits(ref[id].x[d]) && bits(v[d]) == bits(ref[id].v[d]);
                if (ok && d < s->ndim) {
                    double c = floor(x[d]);
                    ok = c >= (double)b.box.lo[d] && c < (double)b.box.hi[d];
                }
            }
            for (int k = 0; ok && k < NREAL; k++)
                ok = bits(b.real[k][i]) == bits(real_comp(id, k));
            ok = ok && b.integ[0][i] == int_comp(id);
            if (!ok) {
                if (bad < 5)
                    fprintf(stderr,
                            "rank %d %s %s: particle %lld (index %lld of block %lld) at "
                            "(%.17g, %.17g, %.17g) is wrong\n",
                            tsr_ctx_rank(ctx), s->name, what, (long long)id, (long long)i,
                            (long long)b.block, x[0], x[1], x[2]);
                bad++;
            }
            sum += particle_hash(id, x, v);
        }
    }
    int64_t count = 0;
    if (tsr_particles_global_count(p, &count))
        bad++;
    uint64_t all_sum = 0;
    int64_t all_bad = 0;
    MPI_Allreduce(&sum, &all_sum, 1, MPI_UINT64_T, MPI_SUM, tsr_ctx_comm(ctx));
    MPI_Allreduce(&bad, &all_bad, 1, MPI_INT64_T, MPI_SUM, tsr_ctx_comm(ctx));
    if (count != ref_count || all_sum != ref_sum) {
        if (tsr_ctx_rank(ctx) == 0)
            fprintf(stderr, "%s %s: count %lld checksum %016llx, reference %lld %016llx\n", s->name,
                    what, (long long)count, (unsigned long long)all_sum, (long long)ref_count,
                    (unsigned long long)ref_sum);
        all_bad++;
    }
    return all_bad;
}

/* Adds the particles whose initial position lies in one of this rank's blocks. */
static int populate(tsr_ctx ctx, const scenario *s, tsr_map map, tsr_particles p) {
    int64_t nlocal;
    const int64_t *ids;
    TRY(tsr_map_local_blocks(map, &nlocal, &ids));
    for (int64_t id = 0; id < NPART; id++) {
        part q;
        initial(s, id, &q);
        for (int64_t k = 0; k < nlocal; k++) {
            tsr_box box;
            TRY(tsr_decomp_block_box(tsr_map_decomp(map), ids[k], &box));
            bool inside = true;
            for (int d = 0; d < s->ndim; d++)
                inside = inside && floor(q.x[d]) >= (double)box.lo[d] &&
                         floor(q.x[d]) < (double)box.hi[d];
            if (!inside)
                continue;
            double real[NREAL] = {real_comp(id, 0), real_comp(id, 1)};
            int64_t integ[NINT] = {int_comp(id)};
            TRY(tsr_particles_add(p, id, q.x, NULL, real, integ));
        }
    }
    /* the removed ones: from the end of each block backwards, as the swap with the last needs */
    for (int64_t lb = 0; lb < tsr_particles_local_blocks(p); lb++) {
        tsr_particle_block b;
        TRY(tsr_particles_block(p, lb, &b));
        for (int64_t i = b.count - 1; i >= 0; i--)
            if (b.id[i] % 11 == 5)
                TRY(tsr_particles_remove(p, lb, i));
    }
    (void)ctx;
    return 0;
}

/* Moves the local particles of step `step` in place, one block per OpenMP iteration. */
static int move_local(const scenario *s, tsr_particles p, int step) {
    int64_t nb = tsr_particles_local_blocks(p);
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : failed)
    for (int64_t lb = 0; lb < nb; lb++) {
        tsr_particle_block b;
        if (tsr_particles_block(p, lb, &b)) {
            failed++;
            continue;
        }
        for (int64_t i = 0; i < b.count; i++) {
            double x[3] = {b.x[0][i], b.x[1][i], b.x[2][i]}, v[3] = {0.0, 0.0, 0.0};
            move(s, b.id[i], step, x, v);
            for (int d = 0; d < 3; d++) {
                b.x[d][i] = x[d];
                b.v[d][i] = v[d];
            }
        }
    }
    return failed ? TSR_ERR_INTERNAL : 0;
}

static void move_ref(const scenario *s, part *ref, int step) {
    for (int64_t id = 0; id < NPART; id++) {
        if (!ref[id].alive)
            continue;
        move(s, id, step, ref[id].x, ref[id].v);
        for (int d = 0; d < s->ndim; d++) {
            if (s->periodic[d])
                ref[id].x[d] = wrap(ref[id].x[d], (double)s->n[d]);
            else if (ref[id].x[d] < 0.0 || ref[id].x[d] >= (double)s->n[d])
                ref[id].alive = false;
        }
    }
}

/* The layout and container of a scenario, freed on every path (the must-fail runs included). */
typedef struct setup {
    tsr_grid grid;
    tsr_decomp decomp;
    tsr_map map;
    tsr_particles p;
} setup;

static int setup_create(tsr_ctx ctx, const scenario *s, tsr_map_strategy strategy, setup *u) {
    tsr_extents size = {s->ndim, {s->n[0], s->n[1], s->n[2]}};
    tsr_decomp_opts dopts = {.blocks = {s->ndim, {s->blocks[0], s->blocks[1], s->blocks[2]}}};
    TRY(tsr_grid_create(ctx, &size, s->periodic, &u->grid));
    TRY(tsr_decomp_create(u->grid, &dopts, &u->decomp));
    TRY(tsr_map_create(u->decomp, strategy, NULL, &u->map));
    TRY(tsr_particles_create(u->map, NREAL, NINT, &u->p));
    return tsr_ctx_agree(ctx, populate(ctx, s, u->map, u->p));
}

static int setup_destroy(setup *u, int err) {
    tsr_particles_destroy(&u->p);
    tsr_map_destroy(&u->map);
    tsr_decomp_destroy(&u->decomp);
    tsr_grid_destroy(&u->grid);
    return err;
}

static int run_steps(tsr_ctx ctx, const scenario *s, tsr_map_strategy strategy, int64_t *failures,
                     part *ref, tsr_particles p) {
    for (int64_t id = 0; id < NPART; id++)
        initial(s, id, &ref[id]);
    char what[64];
    snprintf(what, sizeof what, "%s created", tsr_map_strategy_names[strategy]);
    *failures += check(ctx, s, p, ref, what, false);
    bool open = false;
    for (int d = 0; d < s->ndim; d++)
        open = open || !s->periodic[d];
    for (int step = 1; step <= STEPS + (open ? 1 : 0); step++) {
        TRY(tsr_ctx_agree(ctx, move_local(s, p, step)));
        move_ref(s, ref, step);
        int64_t removed = -1, expect = 0;
        TRY(tsr_particles_redistribute(p, step > STEPS ? TSR_PARTICLES_REMOVE_LEAVING : 0,
                                       &removed));
        if (step > STEPS)
            for (int64_t id = 0; id < NPART; id++)
                expect += id % 11 != 5 && id % 7 == 3;
        if (removed != expect) {
            if (tsr_ctx_rank(ctx) == 0)
                fprintf(stderr, "%s step %d: %lld removed, expected %lld\n", s->name, step,
                        (long long)removed, (long long)expect);
            (*failures)++;
        }
        snprintf(what, sizeof what, "%s step %d", tsr_map_strategy_names[strategy], step);
        *failures += check(ctx, s, p, ref, what, true);
    }
    return 0;
}

static int run_case(tsr_ctx ctx, const scenario *s, tsr_map_strategy strategy, int64_t *failures,
                    part *ref) {
    setup u = {0};
    int err = setup_create(ctx, s, strategy, &u);
    if (!err)
        err = run_steps(ctx, s, strategy, failures, ref, u.p);
    return setup_destroy(&u, err);
}

/* A particle pushed out of a non-periodic domain without the flag: the error to report. */
static int leave(tsr_ctx ctx) {
    const scenario *s = &scenarios[4];
    setup u = {0};
    int err = setup_create(ctx, s, TSR_MAP_ROUNDROBIN, &u);
    if (!err)
        err = tsr_ctx_agree(ctx, move_local(s, u.p, STEPS + 1));
    if (!err)
        err = tsr_particles_redistribute(u.p, 0, NULL);
    return setup_destroy(&u, err);
}

/* --leave-at X Y: one particle at (X, Y) in a 10x10 grid periodic in x only; the error names
 * the coordinate at fault, never a periodic one that only needed wrapping. */
static int leave_at(tsr_ctx ctx, double x, double y) {
    tsr_extents size = {2, {10, 10, 1}};
    bool periodic[3] = {true, false, false};
    tsr_grid grid = NULL;
    tsr_decomp decomp = NULL;
    tsr_map map = NULL;
    tsr_particles p = NULL;
    TRY(tsr_grid_create(ctx, &size, periodic, &grid));
    TRY(tsr_decomp_create(grid, NULL, &decomp));
    TRY(tsr_map_create(decomp, TSR_MAP_CONTIGUOUS, NULL, &map));
    TRY(tsr_particles_create(map, 0, 0, &p));
    if (tsr_ctx_rank(ctx) == 0) {
        double at[3] = {0.5, 0.5, 0.5};
        TRY(tsr_particles_add(p, 0, at, NULL, NULL, NULL));
        tsr_particle_block b;
        TRY(tsr_particles_block(p, 0, &b));
        b.x[0][0] = x;
        b.x[1][0] = y;
    }
    int err = tsr_particles_redistribute(p, 0, NULL);
    tsr_particles_destroy(&p);
    tsr_map_destroy(&map);
    tsr_decomp_destroy(&decomp);
    tsr_grid_destroy(&grid);
    return err;
}

/* --bench N STEPS: N particles in a periodic 64^3 grid of 4x4x4 blocks move up to a third of a
 * cell per step; prints the seconds per redistribution (median of the steps is not needed for
 * a rough figure: the mean). */
static int bench(tsr_ctx ctx, int64_t n, int steps) {
    const scenario s = {"bench", 3, {64, 64, 64}, {4, 4, 4}, {true, true, true}};
    tsr_extents size = {3, {64, 64, 64}};
    tsr_decomp_opts dopts = {.blocks = {3, {4, 4, 4}}};
    tsr_grid grid = NULL;
    tsr_decomp decomp = NULL;
    tsr_map map = NULL;
    tsr_particles p = NULL;
    TRY(tsr_grid_create(ctx, &size, s.periodic, &grid));
    TRY(tsr_decomp_create(grid, &dopts, &decomp));
    TRY(tsr_map_create(decomp, TSR_MAP_SFC, NULL, &map));
    TRY(tsr_particles_create(map, 0, 0, &p));
    /* rank r adds its share in its first block; the first redistribution places them */
    int64_t nlocal;
    const int64_t *ids;
    TRY(tsr_map_local_blocks(map, &nlocal, &ids));
    int64_t lo, hi;
    TRY(tsr_split_range(nlocal > 0 ? n : 0, tsr_ctx_size(ctx), tsr_ctx_rank(ctx), &lo, &hi));
    tsr_box box = {{0, 0, 0}, {1, 1, 1}};
    if (nlocal > 0)
        TRY(tsr_decomp_block_box(decomp, ids[0], &box));
    for (int64_t id = lo; id < hi; id++) {
        double x[3] = {(double)box.lo[0] + 0.5, (double)box.lo[1] + 0.5, (double)box.lo[2] + 0.5};
        TRY(tsr_particles_add(p, id, x, NULL, NULL, NULL));
    }
    /* then to their random places */
    for (int64_t lb = 0; lb < tsr_particles_local_blocks(p); lb++) {
        tsr_particle_block b;
        TRY(tsr_particles_block(p, lb, &b));
        for (int64_t i = 0; i < b.count; i++)
            for (int d = 0; d < 3; d++)
                b.x[d][i] = unit((uint64_t)b.id[i] * 3 + (uint64_t)d) * 64.0;
    }
    TRY(tsr_particles_redistribute(p, 0, NULL));
    double t = 0.0;
    for (int step = 1; step <= steps; step++) {
        int64_t nb = tsr_particles_local_blocks(p);
#pragma omp parallel for schedule(dynamic, 1)
        for (int64_t lb = 0; lb < nb; lb++) {
            tsr_particle_block b;
            if (tsr_particles_block(p, lb, &b))
                continue;
            for (int64_t i = 0; i < b.count; i++)
                for (int d = 0; d < 3; d++)
                    b.x[d][i] +=
                        (unit((uint64_t)b.id[i] * 131 + (uint64_t)(step * 3 + d)) - 0.5) / 1.5;
        }
        MPI_Barrier(tsr_ctx_comm(ctx));
        double t0 = tsr_wtime();
        TRY(tsr_particles_redistribute(p, 0, NULL));
        t += tsr_wtime() - t0;
    }
    int64_t count = 0;
    TRY(tsr_particles_global_count(p, &count));
    if (tsr_ctx_rank(ctx) == 0)
        printf("bench: %lld particles, %d redistributions, %.4f s each, %.3g particles/s\n",
               (long long)count, steps, t / steps, (double)count * steps / t);
    TRY(tsr_particles_destroy(&p));
    TRY(tsr_map_destroy(&map));
    TRY(tsr_decomp_destroy(&decomp));
    return tsr_grid_destroy(&grid);
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "test_particles", &ctx);
    if (err)
        return tsr_finalize(&ctx, err);
    if (argc > 3 && strcmp(argv[1], "--bench") == 0)
        return tsr_finalize(&ctx, bench(ctx, atoll(argv[2]), atoi(argv[3])));
    if (argc > 1 && strcmp(argv[1], "--leave") == 0)
        return tsr_finalize(&ctx, leave(ctx));
    if (argc > 3 && strcmp(argv[1], "--leave-at") == 0)
        return tsr_finalize(&ctx, leave_at(ctx, strtod(argv[2], NULL), strtod(argv[3], NULL)));
    if (argc > 2 && strcmp(argv[1], "--nreal") == 0) {
        tsr_grid grid = NULL;
        tsr_decomp decomp = NULL;
        tsr_map map = NULL;
        tsr_particles p = NULL;
        tsr_extents size = {2, {8, 8, 1}};
        err = tsr_grid_create(ctx, &size, NULL, &grid);
        if (!err)
            err = tsr_decomp_create(grid, &(tsr_decomp_opts){0}, &decomp);
        if (!err)
            err = tsr_map_create(decomp, TSR_MAP_CONTIGUOUS, NULL, &map);
        if (!err)
            err = tsr_particles_create(map, atoi(argv[2]), 0, &p);
        tsr_particles_destroy(&p);
        tsr_map_destroy(&map);
        tsr_decomp_destroy(&decomp);
        tsr_grid_destroy(&grid);
        return tsr_finalize(&ctx, err);
    }
    part *ref = calloc(NPART, sizeof *ref);
    int64_t failures = 0;
    int nscen = (int)(sizeof scenarios / sizeof scenarios[0]);
    for (int c = 0; !err && c < nscen; c++) {
        int64_t before = failures;
        for (int m = 0; !err && m < TSR_MAP_COUNT; m++)
            err = run_case(ctx, &scenarios[c], (tsr_map_strategy)m, &failures, ref);
        if (!err && tsr_ctx_rank(ctx) == 0)
            printf("%s %s: every map, %d moves\n", failures == before ? "PASS" : "FAIL",
                   scenarios[c].name, STEPS);
    }
    free(ref);
    if (!err && failures > 0) /* every rank holds the same count */
        err = tsr_ctx_agree(ctx, tsr_error_set(ctx, TSR_ERR_VERIFY, __FILE__, __LINE__, __func__,
                                               "%lld checks failed", (long long)failures));
    if (!err && tsr_ctx_rank(ctx) == 0)
        printf("ok\n");
    return tsr_finalize(&ctx, err);
}
