/* Ghost particles and neighbour lists against brute force in this file (plain C, no library code
 * in the reference). For 2D and 3D grids, periodic, mixed and not, every map, and a range
 * (cutoff + skin) smaller and larger than a block: particles are placed from their ids (added in
 * descending id order for every other map, and listed once before any redistribution, so that
 * the locals of a block are not sorted by id), jump to new positions across several blocks and are
 * redistributed; then, for every local particle, the list's partners (ids, images, positions bit
 * for bit) must equal the O(N^2) set over every particle and periodic image closer than the range,
 * sorted by (id, image), and the ghosts must be sorted and carry the right velocities. After a move
 * smaller than half the skin and an update (no rebuild) the partners closer than the cutoff must
 * equal the brute-force set at the moved positions, the half-skin trigger must say no on every
 * rank; after a redistribution and a rebuild the same holds at the wrapped positions; when one
 * particle moves by the skin the trigger must say yes on every rank.
 *
 * Must-fail options: --cutoff C S (neighbours on a 24 x 18 periodic grid with cutoff C and skin
 * S); --stale (a build after a move without redistribution). --bench N PER_CELL STEPS prints a
 * rough speed of build and update instead. Prints "PASS ..." lines on rank 0 and exits 0 when every
 * check passes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tessera.h>

#include "ptest.h"

typedef struct scenario {
    const char *name;
    int ndim;
    int64_t n[3];
    int64_t blocks[3];
    bool periodic[3];
    int npart;
    double cutoff[2], skin[2]; /* range below a block, then above */
} scenario;

static const scenario scenarios[] = {
    {"2d-periodic", 2, {24, 18, 1}, {4, 3, 1}, {true, true, false}, 300, {1.7, 6.5}, {0.3, 0.5}},
    {"2d-open", 2, {20, 16, 1}, {5, 4, 1}, {false, false, false}, 300, {1.5, 5.0}, {0.4, 0.5}},
    {"3d-periodic", 3, {12, 10, 9}, {3, 2, 3}, {true, true, true}, 400, {1.2, 4.0}, {0.3, 0.3}},
    {"3d-mixed", 3, {11, 9, 8}, {2, 3, 2}, {true, false, true}, 400, {1.3, 3.5}, {0.2, 0.3}},
    /* at most one block per rank from 2 ranks on (idle ranks from 3): the threads share each
     * block's ghost sort */
    {"3d-two-blocks", 3, {12, 10, 9}, {2, 1, 1}, {true, true, true}, 400, {1.2, 4.0}, {0.3, 0.3}},
};

/* The wrapping the library documents: x - n floor(x / n), 0 if rounding gives n. */
static double wrap(double x, double n) {
    if (x >= 0.0 && x < n)
        return x;
    x -= n * floor(x / n);
    return (x >= n || x < 0.0) ? 0.0 : x;
}

/* Position of particle id in phase `phase` (0: placed, 1: jumped anywhere in the domain). */
static void place(const scenario *s, int64_t id, int phase, double x[3]) {
    for (int d = 0; d < 3; d++)
        x[d] = d < s->ndim ? unit((uint64_t)id * 7 + (uint64_t)d + 1000u * (uint64_t)phase) *
                                 (double)s->n[d]
                           : 0.5;
}

/* The small move: each component under skin / 4, so the displacement is under half the skin. */
static double small_move(const scenario *s, int c, int64_t id, int d) {
    return d < s->ndim ? (unit((uint64_t)id * 5 + (uint64_t)d + 77777u) - 0.5) * 0.49 * s->skin[c]
                       : 0.0;
}

static double velocity(int64_t id, int d, int phase) {
    return (double)id * 0.001 + (double)d + 0.5 * (double)phase;
}

/* One partner: id, image code and position as seen from the particle. */

/* Compares every local particle's partners closer than sqrt(r2max) (all of the list when
 * `whole`) with brute force at positions pos; velocities of the ghosts with vel. Returns the
 * number of mismatches on this rank. */
static int64_t check(tsr_ctx ctx, const scenario *s, tsr_particles p, tsr_neighbours nb,
                     const double (*pos)[3], const double (*vel)[3], double r2max, bool whole,
                     const char *what) {
    int64_t bad = 0;
    entry *ref = malloc((size_t)s->npart * 27 * sizeof *ref);
    entry *got = malloc((size_t)s->npart * 27 * sizeof *got);
    for (int64_t lb = 0; lb < tsr_particles_local_blocks(p); lb++) {
        tsr_particle_block b;
        tsr_neighbour_block v;
        if (tsr_particles_block(p, lb, &b) || tsr_neighbours_block(nb, lb, &v) ||
            v.nlocal != b.count) {
            bad++;
            continue;
        }
        for (int64_t g = 0; g < v.nghost; g++) {
            if (g > 0 &&
                (v.ghost_id[g - 1] > v.ghost_id[g] ||
                 (v.ghost_id[g - 1] == v.ghost_id[g] && v.ghost_image[g - 1] >= v.ghost_image[g])))
                if (bad++ < 3)
                    fprintf(stderr, "rank %d %s: ghost %lld (image %d) after %lld (image %d)\n",
                            tsr_ctx_rank(ctx), what, (long long)v.ghost_id[g], v.ghost_image[g],
                            (long long)v.ghost_id[g - 1], v.ghost_image[g - 1]);
            for (int d = 0; d < 3; d++)
                if (bits(v.ghost_v[d][g]) != bits(vel[v.ghost_id[g]][d]) && bad++ < 3)
                    fprintf(stderr, "rank %d %s: ghost %lld has velocity %.17g, not %.17g\n",
                            tsr_ctx_rank(ctx), what, (long long)v.ghost_id[g], v.ghost_v[d][g],
                            vel[v.ghost_id[g]][d]);
        }
        for (int64_t i = 0; i < b.count; i++) {
            double xi[3] = {b.x[0][i], b.x[1][i], b.x[2][i]};
            int64_t nref = brute(&(brute_box){s->ndim,
                                              {s->n[0], s->n[1], s->n[2]},
                                              {s->periodic[0], s->periodic[1], s->periodic[2]},
                                              s->npart},
                                 pos, b.id[i], xi, r2max, ref),
                    ngot = 0;
            for (int64_t k = v.first[i]; k < v.first[i + 1]; k++) {
                int64_t j = v.partner[k];
                entry e;
                if (j < v.nlocal) {
                    e.id = b.id[j];
                    e.img = 13;
                    for (int d = 0; d < 3; d++)
                        e.y[d] = b.x[d][j];
                } else {
                    e.id = v.ghost_id[j - v.nlocal];
                    e.img = v.ghost_image[j - v.nlocal];
                    for (int d = 0; d < 3; d++)
                        e.y[d] = v.ghost_x[d][j - v.nlocal];
                }
                double r2 = 0.0;
                for (int d = 0; d < s->ndim; d++) {
                    double dx = e.y[d] - xi[d];
                    r2 += dx * dx;
                }
                if (whole || r2 < r2max)
                    got[ngot++] = e;
            }
            bool same = nref == ngot;
            for (int64_t k = 0; same && k < nref; k++) {
                same = ref[k].id == got[k].id && ref[k].img == got[k].img;
                for (int d = 0; d < s->ndim; d++)
                    same = same && bits(ref[k].y[d]) == bits(got[k].y[d]);
            }
            if (!same && bad++ < 3)
                fprintf(stderr, "rank %d %s: particle %lld has %lld partners, brute force %lld%s\n",
                        tsr_ctx_rank(ctx), what, (long long)b.id[i], (long long)ngot,
                        (long long)nref, nref == ngot ? " (different ones)" : "");
        }
    }
    free(ref);
    free(got);
    return bad;
}

typedef struct setup {
    tsr_grid grid;
    tsr_decomp decomp;
    tsr_map map;
    tsr_particles p;
    tsr_neighbours nb;
} setup;

static int setup_destroy(setup *u, int err) {
    tsr_neighbours_destroy(&u->nb);
    tsr_particles_destroy(&u->p);
    tsr_map_destroy(&u->map);
    tsr_decomp_destroy(&u->decomp);
    tsr_grid_destroy(&u->grid);
    return err;
}

/* The particles whose placed position lies in this rank's blocks, added in ascending id order
 * or (`descending`) not: then the lists are built from locals not sorted by id. */
static int populate(const scenario *s, setup *u, bool descending) {
    int64_t nlocal;
    const int64_t *ids;
    TRY(tsr_map_local_blocks(u->map, &nlocal, &ids));
    for (int64_t k = 0; k < s->npart; k++) {
        int64_t id = descending ? s->npart - 1 - k : k;
        double x[3], v[3];
        place(s, id, 0, x);
        for (int d = 0; d < 3; d++)
            v[d] = velocity(id, d, 0);
        for (int64_t b = 0; b < nlocal; b++) {
            tsr_box box;
            TRY(tsr_decomp_block_box(u->decomp, ids[b], &box));
            bool inside = true;
            for (int d = 0; d < s->ndim; d++)
                inside =
                    inside && floor(x[d]) >= (double)box.lo[d] && floor(x[d]) < (double)box.hi[d];
            if (inside)
                TRY(tsr_particles_add(u->p, id, x, v, NULL, NULL));
        }
    }
    return 0;
}

/* Applies f to every local particle: its new position and velocity from its id. */
typedef void (*mover)(const scenario *s, int c, int64_t id, double x[3], double v[3]);

static int move_local(const scenario *s, int c, tsr_particles p, mover f) {
    for (int64_t lb = 0; lb < tsr_particles_local_blocks(p); lb++) {
        tsr_particle_block b;
        TRY(tsr_particles_block(p, lb, &b));
        for (int64_t i = 0; i < b.count; i++) {
            double x[3] = {b.x[0][i], b.x[1][i], b.x[2][i]}, v[3];
            f(s, c, b.id[i], x, v);
            for (int d = 0; d < 3; d++) {
                b.x[d][i] = x[d];
                b.v[d][i] = v[d];
            }
        }
    }
    return 0;
}

static void jump(const scenario *s, int c, int64_t id, double x[3], double v[3]) {
    (void)c;
    place(s, id, 1, x);
    for (int d = 0; d < 3; d++)
        v[d] = velocity(id, d, 1);
}

/* On non-periodic sides the move turns back rather than leave the domain. */
static void nudge(const scenario *s, int c, int64_t id, double x[3], double v[3]) {
    for (int d = 0; d < 3; d++) {
        double dx = small_move(s, c, id, d);
        bool out = x[d] + dx < 0.0 || x[d] + dx >= (double)s->n[d];
        x[d] += d < s->ndim && !s->periodic[d] && out ? -dx : dx;
        v[d] = velocity(id, d, 2);
    }
}

/* Whether every rank holds the same flag, and its value. */
static int agreed(tsr_ctx ctx, bool flag, int *lo, int *hi) {
    int f = flag ? 1 : 0;
    if (MPI_Allreduce(&f, lo, 1, MPI_INT, MPI_MIN, tsr_ctx_comm(ctx)) ||
        MPI_Allreduce(&f, hi, 1, MPI_INT, MPI_MAX, tsr_ctx_comm(ctx)))
        return TSR_ERR_MPI;
    return 0;
}

static int run_steps(tsr_ctx ctx, const scenario *s, int c, setup *u, double (*pos)[3],
                     double (*vel)[3], int64_t *failures, const char *name) {
    double range = s->cutoff[c] + s->skin[c];
    double r2 = range * range, c2 = s->cutoff[c] * s->cutoff[c];
    char what[160];
    /* a build straight after the adds, before any redistribution */
    for (int64_t id = 0; id < s->npart; id++) {
        place(s, id, 0, pos[id]);
        for (int d = 0; d < 3; d++)
            vel[id][d] = velocity(id, d, 0);
    }
    TRY(tsr_neighbours_create(u->p, s->cutoff[c], s->skin[c], &u->nb));
    TRY(tsr_neighbours_build(u->nb));
    snprintf(what, sizeof what, "%s added", name);
    *failures += check(ctx, s, u->p, u->nb, (const double(*)[3])pos, (const double(*)[3])vel, r2,
                       true, what);

    /* the jump across blocks and its redistribution */
    TRY(move_local(s, c, u->p, jump));
    TRY(tsr_particles_redistribute(u->p, 0, NULL));
    for (int64_t id = 0; id < s->npart; id++)
        jump(s, c, id, pos[id], vel[id]);
    TRY(tsr_neighbours_build(u->nb));
    snprintf(what, sizeof what, "%s built", name);
    *failures += check(ctx, s, u->p, u->nb, (const double(*)[3])pos, (const double(*)[3])vel, r2,
                       true, what);

    /* a small move and an update: partners within the cutoff are still all listed */
    TRY(move_local(s, c, u->p, nudge));
    for (int64_t id = 0; id < s->npart; id++)
        nudge(s, c, id, pos[id], vel[id]);
    TRY(tsr_neighbours_update(u->nb, true));
    bool need = true;
    int lo, hi;
    TRY(tsr_neighbours_need_rebuild(u->nb, &need));
    TRY(agreed(ctx, need, &lo, &hi));
    if (lo != 0 || hi != 0) {
        if (tsr_ctx_rank(ctx) == 0)
            fprintf(stderr, "%s: rebuild asked after a move under half the skin\n", name);
        (*failures)++;
    }
    snprintf(what, sizeof what, "%s updated", name);
    *failures += check(ctx, s, u->p, u->nb, (const double(*)[3])pos, (const double(*)[3])vel, c2,
                       false, what);

    /* the same after a redistribution (positions wrapped) and a rebuild */
    TRY(tsr_particles_redistribute(u->p, 0, NULL));
    for (int64_t id = 0; id < s->npart; id++)
        for (int d = 0; d < s->ndim; d++)
            if (s->periodic[d])
                pos[id][d] = wrap(pos[id][d], (double)s->n[d]);
    TRY(tsr_neighbours_build(u->nb));
    snprintf(what, sizeof what, "%s rebuilt", name);
    *failures += check(ctx, s, u->p, u->nb, (const double(*)[3])pos, (const double(*)[3])vel, c2,
                       false, what);

    /* one particle moves by the skin: every rank must see it */
    int64_t mover_id = s->npart / 3;
    for (int64_t lb = 0; lb < tsr_particles_local_blocks(u->p); lb++) {
        tsr_particle_block b;
        TRY(tsr_particles_block(u->p, lb, &b));
        for (int64_t i = 0; i < b.count; i++)
            if (b.id[i] == mover_id)
                b.x[0][i] += s->skin[c] * 0.51;
    }
    TRY(tsr_neighbours_need_rebuild(u->nb, &need));
    TRY(agreed(ctx, need, &lo, &hi));
    if (lo != 1 || hi != 1) {
        if (tsr_ctx_rank(ctx) == 0)
            fprintf(stderr, "%s: no agreed rebuild after a move over half the skin\n", name);
        (*failures)++;
    }
    return 0;
}

static int run_case(tsr_ctx ctx, const scenario *s, int c, tsr_map_strategy strategy,
                    int64_t *failures, double (*pos)[3], double (*vel)[3]) {
    setup u = {0};
    tsr_extents size = {s->ndim, {s->n[0], s->n[1], s->n[2]}};
    tsr_decomp_opts dopts = {.blocks = {s->ndim, {s->blocks[0], s->blocks[1], s->blocks[2]}},
                             .allow_idle = true};
    char name[96];
    snprintf(name, sizeof name, "%s range %g %s", s->name, s->cutoff[c] + s->skin[c],
             tsr_map_strategy_names[strategy]);
    int err = tsr_grid_create(ctx, &size, s->periodic, &u.grid);
    if (!err)
        err = tsr_decomp_create(u.grid, &dopts, &u.decomp);
    if (!err)
        err = tsr_map_create(u.decomp, strategy, NULL, &u.map);
    if (!err)
        err = tsr_particles_create(u.map, 0, 0, &u.p);
    if (!err)
        err = tsr_ctx_agree(ctx, populate(s, &u, strategy % 2 == 1));
    if (!err)
        err = run_steps(ctx, s, c, &u, pos, vel, failures, name);
    return setup_destroy(&u, err);
}

/* Neighbours on a 24 x 18 periodic grid with the given cutoff and skin (must-fail cases). */
static int bad_cutoff(tsr_ctx ctx, double cutoff, double skin) {
    setup u = {0};
    tsr_extents size = {2, {24, 18, 1}};
    bool periodic[3] = {true, true, false};
    int err = tsr_grid_create(ctx, &size, periodic, &u.grid);
    if (!err)
        err = tsr_decomp_create(u.grid, &(tsr_decomp_opts){0}, &u.decomp);
    if (!err)
        err = tsr_map_create(u.decomp, TSR_MAP_CONTIGUOUS, NULL, &u.map);
    if (!err)
        err = tsr_particles_create(u.map, 0, 0, &u.p);
    if (!err)
        err = tsr_neighbours_create(u.p, cutoff, skin, &u.nb);
    return setup_destroy(&u, err);
}

/* A rough speed: n^3 cells, periodic, `per_cell` random particles per cell, cutoff 2.5 and skin
 * 0.3 (the LJ benchmark's), one build then `steps` updates. */
static int bench(tsr_ctx ctx, int64_t n, double per_cell, int steps) {
    scenario s = {"bench", 3, {n, n, n}, {0, 0, 0}, {true, true, true}, 0, {2.5, 2.5}, {0.3, 0.3}};
    s.npart = (int)((double)(n * n * n) * per_cell);
    setup u = {0};
    tsr_extents size = {3, {n, n, n}};
    TRY(tsr_grid_create(ctx, &size, s.periodic, &u.grid));
    TRY(tsr_decomp_create(u.grid, &(tsr_decomp_opts){0}, &u.decomp));
    TRY(tsr_map_create(u.decomp, TSR_MAP_CONTIGUOUS, NULL, &u.map));
    TRY(tsr_particles_create(u.map, 0, 0, &u.p));
    TRY(tsr_ctx_agree(ctx, populate(&s, &u, false)));
    TRY(tsr_neighbours_create(u.p, 2.5, 0.3, &u.nb));
    MPI_Barrier(tsr_ctx_comm(ctx));
    double t0 = tsr_wtime();
    TRY(tsr_neighbours_build(u.nb));
    double t1 = tsr_wtime();
    for (int k = 0; k < steps; k++)
        TRY(tsr_neighbours_update(u.nb, true));
    double t2 = tsr_wtime();
    int64_t pairs = 0, all = 0;
    for (int64_t lb = 0; lb < tsr_particles_local_blocks(u.p); lb++) {
        tsr_neighbour_block v;
        TRY(tsr_neighbours_block(u.nb, lb, &v));
        pairs += v.first[v.nlocal];
    }
    MPI_Allreduce(&pairs, &all, 1, MPI_INT64_T, MPI_SUM, tsr_ctx_comm(ctx));
    if (tsr_ctx_rank(ctx) == 0)
        printf("bench: %d particles, %.1f partners each, build %.4f s, update %.6f s\n", s.npart,
               (double)all / s.npart, t1 - t0, (t2 - t1) / (steps > 0 ? steps : 1));
    return setup_destroy(&u, 0);
}

/* A build after a move without redistribution (must fail, naming the particle). */
static int stale(tsr_ctx ctx) {
    const scenario *s = &scenarios[0];
    setup u = {0};
    tsr_extents size = {s->ndim, {s->n[0], s->n[1], s->n[2]}};
    tsr_decomp_opts dopts = {.blocks = {s->ndim, {s->blocks[0], s->blocks[1], s->blocks[2]}},
                             .allow_idle = true};
    int err = tsr_grid_create(ctx, &size, s->periodic, &u.grid);
    if (!err)
        err = tsr_decomp_create(u.grid, &dopts, &u.decomp);
    if (!err)
        err = tsr_map_create(u.decomp, TSR_MAP_CONTIGUOUS, NULL, &u.map);
    if (!err)
        err = tsr_particles_create(u.map, 0, 0, &u.p);
    if (!err)
        err = tsr_ctx_agree(ctx, populate(s, &u, false));
    for (int64_t lb = 0; !err && lb < tsr_particles_local_blocks(u.p); lb++) {
        tsr_particle_block b;
        err = tsr_particles_block(u.p, lb, &b);
        for (int64_t i = 0; !err && i < b.count; i++)
            if (b.id[i] == 42)
                b.x[0][i] = fmod(b.x[0][i] + 6.0, 24.0); /* one block along x */
    }
    if (!err)
        err = tsr_neighbours_create(u.p, 1.0, 0.2, &u.nb);
    if (!err)
        err = tsr_neighbours_build(u.nb);
    return setup_destroy(&u, err);
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "test_neighbours", &ctx);
    if (err)
        return tsr_finalize(&ctx, err);
    if (argc > 4 && strcmp(argv[1], "--bench") == 0)
        return tsr_finalize(&ctx, bench(ctx, atoll(argv[2]), atof(argv[3]), atoi(argv[4])));
    if (argc > 1 && strcmp(argv[1], "--stale") == 0)
        return tsr_finalize(&ctx, stale(ctx));
    if (argc > 3 && strcmp(argv[1], "--cutoff") == 0)
        return tsr_finalize(&ctx, bad_cutoff(ctx, atof(argv[2]), atof(argv[3])));
    int64_t failures = 0, maxpart = 0;
    int nscen = (int)(sizeof scenarios / sizeof scenarios[0]);
    for (int k = 0; k < nscen; k++)
        maxpart = scenarios[k].npart > maxpart ? scenarios[k].npart : maxpart;
    double(*pos)[3] = calloc((size_t)maxpart, sizeof *pos);
    double(*vel)[3] = calloc((size_t)maxpart, sizeof *vel);
    for (int k = 0; !err && k < nscen; k++)
        for (int c = 0; !err && c < 2; c++) {
            int64_t mine = failures;
            for (int m = 0; !err && m < TSR_MAP_COUNT; m++)
                err = run_case(ctx, &scenarios[k], c, (tsr_map_strategy)m, &failures, pos, vel);
            int64_t all = 0, fresh = failures - mine;
            if (!err && MPI_Allreduce(&fresh, &all, 1, MPI_INT64_T, MPI_SUM, tsr_ctx_comm(ctx)))
                err = TSR_ERR_MPI;
            if (!err && tsr_ctx_rank(ctx) == 0)
                printf("%s %s range %g: every map, built, updated, rebuilt\n",
                       all == 0 ? "PASS" : "FAIL", scenarios[k].name,
                       scenarios[k].cutoff[c] + scenarios[k].skin[c]);
        }
    free(pos);
    free(vel);
    int64_t total = 0;
    if (!err && MPI_Allreduce(&failures, &total, 1, MPI_INT64_T, MPI_SUM, tsr_ctx_comm(ctx)))
        err = TSR_ERR_MPI;
    if (!err && total > 0)
        err = tsr_ctx_agree(ctx, tsr_error_set(ctx, TSR_ERR_VERIFY, __FILE__, __LINE__, __func__,
                                               "%lld checks failed", (long long)total));
    if (!err && tsr_ctx_rank(ctx) == 0)
        printf("ok\n");
    return tsr_finalize(&ctx, err);
}
