/* Particles in the domain's rebalancing (tsr_particles_rebalance) and on another map
 * (tsr_particles_set_map), against serial code in this file. A periodic 16^3 grid of 8^3 blocks
 * holds 512 particles packed into the corner [0, 4)^3 (eight blocks, 64 particles each), so on 4
 * ranks the contiguous map leaves them all on rank 0 (imbalance 4). For every map, one check with
 * the particle counts as costs must spread them (imbalance, measured from the particles each rank
 * holds, at most 1.3), keep every particle (a checksum of ids, positions and components), record
 * one event with the bytes of the particles that changed rank and make the neighbour lists stale.
 * Then the particles move ballistically, are redistributed, and the rebuilt lists must equal
 * brute-force O(N^2) neighbour sets (ids, images, positions bit for bit); a second check keeps
 * every particle. Last, the container moves to a map of another decomposition (4^3 blocks) and its
 * lists are checked again. Prints "PASS ..." lines on rank 0 and exits 0 when every check passes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tessera.h>

#include "ptest.h"

#define N 16   /* grid cells per side */
#define SIDE 8 /* lattice points per side of the cluster */
#define NPART (SIDE * SIDE * SIDE)
#define CUTOFF 0.8
#define SKIN 0.2
#define DT 0.5

/* Particle id's starting position: a jittered lattice of spacing 0.5 filling [0, 4)^3, each
 * point inside the cell it starts in. */
static void start_pos(int64_t id, double x[3]) {
    int64_t c[3] = {id % SIDE, (id / SIDE) % SIDE, id / (SIDE * SIDE)};
    for (int d = 0; d < 3; d++)
        x[d] = 0.25 + 0.5 * (double)c[d] + 0.4 * (unit((uint64_t)id * 3 + (uint64_t)d) - 0.5);
}

/* Its velocity: up to 0.5 cells per step along each axis (a move crosses block boundaries). */
static void velocity(int64_t id, double v[3]) {
    for (int d = 0; d < 3; d++)
        v[d] = unit((uint64_t)id * 3 + (uint64_t)d + 99991u) - 0.5;
}

static double wrap(double x) {
    if (x >= 0.0 && x < N)
        return x;
    x -= N * floor(x / N);
    return (x >= N || x < 0.0) ? 0.0 : x;
}

/* Order-independent checksum of one particle's id, position and components. */
static uint64_t particle_hash(int64_t id, const double x[3], double r, int64_t k) {
    uint64_t h = splitmix64((uint64_t)id);
    for (int d = 0; d < 3; d++)
        h = splitmix64(h ^ bits(x[d]));
    h = splitmix64(h ^ bits(r));
    return splitmix64(h ^ (uint64_t)k);
}

/* Mismatches on this rank between the lists of nb and brute force at positions pos; also every
 * local particle's position and components against the serial values. */
static int64_t check_lists(tsr_particles p, tsr_neighbours nb, const double (*pos)[3]) {
    int64_t bad = 0;
    entry *ref = malloc(sizeof *ref * NPART * 27), *got = malloc(sizeof *got * NPART * 27);
    for (int64_t lb = 0; lb < tsr_particles_local_blocks(p); lb++) {
        tsr_particle_block b;
        tsr_neighbour_block v;
        if (tsr_particles_block(p, lb, &b) || tsr_neighbours_block(nb, lb, &v) ||
            v.nlocal != b.count) {
            bad++;
            continue;
        }
        for (int64_t i = 0; i < b.count; i++) {
            int64_t id = b.id[i];
            double xi[3] = {b.x[0][i], b.x[1][i], b.x[2][i]};
            bool same = b.real[0][i] == 0.5 * (double)id && b.integ[0][i] == 3 * id;
            for (int d = 0; d < 3; d++)
                same = same && bits(xi[d]) == bits(pos[id][d]);
            int64_t nref = brute(&(brute_box){3, {N, N, N}, {true, true, true}, NPART}, pos, id, xi,
                                 (CUTOFF + SKIN) * (CUTOFF + SKIN), ref),
                    ngot = 0;
            for (int64_t k = v.first[i]; k < v.first[i + 1]; k++) {
                int64_t j = v.partner[k];
                entry *e = &got[ngot++];
                e->id = j < v.nlocal ? b.id[j] : v.ghost_id[j - v.nlocal];
                e->img = j < v.nlocal ? 13 : v.ghost_image[j - v.nlocal];
                for (int d = 0; d < 3; d++)
                    e->y[d] = j < v.nlocal ? b.x[d][j] : v.ghost_x[d][j - v.nlocal];
            }
            same = same && nref == ngot;
            for (int64_t k = 0; same && k < nref; k++) {
                same = ref[k].id == got[k].id && ref[k].img == got[k].img;
                for (int d = 0; d < 3; d++)
                    same = same && bits(ref[k].y[d]) == bits(got[k].y[d]);
            }
            if (!same && bad++ < 3)
                fprintf(stderr, "particle %lld: %lld partners, brute force %lld%s\n", (long long)id,
                        (long long)ngot, (long long)nref,
                        nref == ngot ? " (different ones or values)" : "");
        }
    }
    free(ref);
    free(got);
    return bad;
}

/* Global checksum and the imbalance of the particles per rank (max / mean). */
static int measure(tsr_ctx ctx, tsr_particles p, uint64_t *sum, double *imbalance) {
    uint64_t h = 0;
    for (int64_t lb = 0; lb < tsr_particles_local_blocks(p); lb++) {
        tsr_particle_block b;
        TRY(tsr_particles_block(p, lb, &b));
        for (int64_t i = 0; i < b.count; i++) {
            double x[3] = {b.x[0][i], b.x[1][i], b.x[2][i]};
            h += particle_hash(b.id[i], x, b.real[0][i], b.integ[0][i]);
        }
    }
    int64_t n = tsr_particles_local_count(p), max = 0, total = 0;
    MPI_Comm comm = tsr_ctx_comm(ctx);
    if (MPI_Allreduce(&h, sum, 1, MPI_UINT64_T, MPI_SUM, comm) ||
        MPI_Allreduce(&n, &max, 1, MPI_INT64_T, MPI_MAX, comm) ||
        MPI_Allreduce(&n, &total, 1, MPI_INT64_T, MPI_SUM, comm))
        return TSR_ERR_MPI;
    *imbalance = (double)max * tsr_ctx_size(ctx) / (double)total;
    return 0;
}

/* rank[id] = the rank holding particle id, on every rank. */
static int owners(tsr_ctx ctx, tsr_particles p, int *rank) {
    int *mine = calloc(NPART, sizeof *mine);
    if (!mine)
        return TSR_ERR_MEMORY;
    for (int64_t lb = 0; lb < tsr_particles_local_blocks(p); lb++) {
        tsr_particle_block b;
        TRY(tsr_particles_block(p, lb, &b));
        for (int64_t i = 0; i < b.count; i++)
            mine[b.id[i]] = tsr_ctx_rank(ctx) + 1;
    }
    int rc = MPI_Allreduce(mine, rank, NPART, MPI_INT, MPI_MAX, tsr_ctx_comm(ctx));
    free(mine);
    return rc ? TSR_ERR_MPI : 0;
}

static int64_t fails(tsr_ctx ctx, bool ok, const char *fmt, double a, double b) {
    if (!ok && tsr_ctx_rank(ctx) == 0) {
        fprintf(stderr, fmt, a, b);
        fputc('\n', stderr);
    }
    return ok ? 0 : 1;
}

/* Every particle one ballistic step on (serially in pos, and in the container). */
static int advance(tsr_particles p, double (*pos)[3]) {
    for (int64_t id = 0; id < NPART; id++) {
        double v[3];
        velocity(id, v);
        for (int d = 0; d < 3; d++)
            pos[id][d] = wrap(pos[id][d] + DT * v[d]);
    }
    for (int64_t lb = 0; lb < tsr_particles_local_blocks(p); lb++) {
        tsr_particle_block b;
        TRY(tsr_particles_block(p, lb, &b));
        for (int64_t i = 0; i < b.count; i++)
            for (int d = 0; d < 3; d++)
                b.x[d][i] += DT * b.v[d][i];
    }
    return tsr_particles_redistribute(p, 0, NULL);
}

static int run_map(tsr_ctx ctx, tsr_map_strategy strategy, int64_t *failures, double (*pos)[3]) {
    tsr_extents grid = {3, {N, N, N}};
    tsr_domain_opts o;
    tsr_domain_opts_init(&o, &grid, 1);
    o.blocks = (tsr_extents){3, {8, 8, 8}};
    o.map = (int)strategy;
    snprintf(o.periodic, sizeof o.periodic, "all");
    o.rebalance_every = 3;
    tsr_domain d;
    TRY(tsr_domain_create(ctx, &o, TSR_STENCIL_BOX, &d));
    tsr_particles p = NULL;
    tsr_neighbours nb = NULL;
    TRY(tsr_particles_create(d.map, 1, 1, &p));
    for (int64_t id = 0; id < NPART; id++) {
        double x[3], v[3], r = 0.5 * (double)id;
        int64_t k = 3 * id;
        start_pos(id, x);
        velocity(id, v);
        memcpy(pos[id], x, sizeof x);
        int64_t block = 0;
        for (int dim = 2; dim >= 0; dim--)
            block = block * 8 + (int64_t)floor(x[dim] / 2.0);
        if (tsr_map_owner(d.map, block) == tsr_ctx_rank(ctx))
            TRY(tsr_particles_add(p, id, x, v, &r, &k));
    }
    TRY(tsr_particles_redistribute(p, 0, NULL));
    TRY(tsr_neighbours_create(p, CUTOFF, SKIN, &nb));
    TRY(tsr_neighbours_build(nb));
    int64_t bad = check_lists(p, nb, (const double(*)[3])pos);

    uint64_t sum0, sum1;
    double before, after;
    int *rank0 = calloc(NPART, sizeof *rank0), *rank1 = calloc(NPART, sizeof *rank1);
    TRY(measure(ctx, p, &sum0, &before));
    TRY(owners(ctx, p, rank0));
    bool moved = false, need = false;
    TRY(tsr_particles_rebalance(&d, 2, &p, 1, &moved)); /* not due */
    bad += moved;
    TRY(tsr_particles_rebalance(&d, 3, &p, 1, &moved));
    TRY(measure(ctx, p, &sum1, &after));
    TRY(owners(ctx, p, rank1));
    TRY(tsr_neighbours_need_rebuild(nb, &need));
    int size = tsr_ctx_size(ctx);
    int64_t moved_bytes = 0, nev = 0;
    for (int64_t id = 0; id < NPART; id++)
        moved_bytes += rank0[id] != rank1[id] ? 9 * 8 : 0;
    const tsr_balance_event *ev = NULL;
    TRY(tsr_balance_events(d.balance, &nev, &ev));
    *failures += fails(ctx, sum0 == sum1, "checksum changed by the rebalance", 0, 0);
    /* round-robin and knapsack already spread the corner's blocks over 2 ranks */
    *failures += fails(ctx, moved == (before >= 1.5), "moved %g at imbalance %g", moved, before);
    *failures += fails(ctx, !moved || need, "neighbour lists not stale after the move", 0, 0);
    *failures += fails(ctx, nev == (moved ? 1 : 0), "%g events, moved %g", (double)nev, moved);
    if (nev == 1)
        *failures += fails(ctx, ev[0].step == 3 && ev[0].bytes == moved_bytes,
                           "event bytes %g, expected %g", (double)ev[0].bytes, (double)moved_bytes);
    if (strategy == TSR_MAP_CONTIGUOUS)
        *failures +=
            fails(ctx, before == (double)size, "imbalance before %g, not %g", before, size);
    *failures += fails(ctx, after <= 1.3, "imbalance after %g > %g", after, 1.3);

    /* particles move on the new map; the lists follow */
    TRY(advance(p, pos));
    TRY(tsr_neighbours_build(nb));
    bad += check_lists(p, nb, (const double(*)[3])pos);
    /* a check after the move: whatever it decides, nothing is lost */
    TRY(tsr_particles_rebalance(&d, 6, &p, 1, &moved));
    int64_t nev2 = 0;
    TRY(tsr_balance_events(d.balance, &nev2, &ev));
    double imb;
    TRY(measure(ctx, p, &sum0, &imb));
    TRY(tsr_neighbours_need_rebuild(nb, &need));
    *failures += fails(ctx, nev2 == nev + moved && (!moved || need),
                       "second check: %g events, moved %g", (double)nev2, moved);
    nev = nev2;

    /* another decomposition of the same grid */
    tsr_decomp other = NULL;
    tsr_map omap = NULL;
    tsr_decomp_opts dopts = {.blocks = {3, {4, 4, 4}}};
    TRY(tsr_decomp_create(d.grid, &dopts, &other));
    TRY(measure(ctx, p, &sum1, &imb));
    TRY(tsr_map_create(other, TSR_MAP_ROUNDROBIN, NULL, &omap));
    TRY(tsr_particles_set_map(p, omap));
    uint64_t sum2;
    double imb2;
    TRY(measure(ctx, p, &sum2, &imb2));
    *failures += fails(ctx, sum2 == sum1, "checksum changed by set_map", 0, 0);
    TRY(tsr_neighbours_need_rebuild(nb, &need));
    *failures += fails(ctx, need, "neighbour lists not stale after set_map", 0, 0);
    TRY(advance(p, pos));
    TRY(tsr_neighbours_build(nb));
    bad += check_lists(p, nb, (const double(*)[3])pos);
    int64_t allbad = 0;
    MPI_Allreduce(&bad, &allbad, 1, MPI_INT64_T, MPI_SUM, tsr_ctx_comm(ctx));
    *failures += allbad;
    if (tsr_ctx_rank(ctx) == 0)
        printf("%s map %d: imbalance %.3f -> %.3f, %lld rebalance(s) (the first of particles "
               "moving %lld bytes), lists %s\n",
               allbad == 0 ? "PASS" : "FAIL", (int)strategy, before, after, (long long)nev,
               (long long)moved_bytes, allbad == 0 ? "equal to brute force" : "WRONG");
    free(rank0);
    free(rank1);
    tsr_neighbours_destroy(&nb);
    tsr_particles_destroy(&p);
    tsr_map_destroy(&omap);
    tsr_decomp_destroy(&other);
    return tsr_domain_destroy(&d);
}

/* A map of a grid of another size (must fail on every rank, before anything moves). */
static int other_grid(tsr_ctx ctx) {
    tsr_extents a = {3, {N, N, N}}, b = {3, {N, N, N + 1}};
    bool periodic[3] = {true, true, true};
    tsr_grid ga = NULL, gb = NULL;
    tsr_decomp da = NULL, db = NULL;
    tsr_map ma = NULL, mb = NULL;
    tsr_particles p = NULL;
    tsr_decomp_opts dopts = {.blocks = {3, {2, 2, 2}}};
    int err = tsr_grid_create(ctx, &a, periodic, &ga);
    if (!err)
        err = tsr_grid_create(ctx, &b, periodic, &gb);
    if (!err)
        err = tsr_decomp_create(ga, &dopts, &da);
    if (!err)
        err = tsr_decomp_create(gb, &dopts, &db);
    if (!err)
        err = tsr_map_create(da, TSR_MAP_CONTIGUOUS, NULL, &ma);
    if (!err)
        err = tsr_map_create(db, TSR_MAP_CONTIGUOUS, NULL, &mb);
    if (!err)
        err = tsr_particles_create(ma, 0, 0, &p);
    if (!err)
        err = tsr_particles_set_map(p, mb);
    tsr_particles_destroy(&p);
    tsr_map_destroy(&ma);
    tsr_map_destroy(&mb);
    tsr_decomp_destroy(&da);
    tsr_decomp_destroy(&db);
    tsr_grid_destroy(&ga);
    tsr_grid_destroy(&gb);
    return err;
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "test_prebalance", &ctx);
    if (err)
        return tsr_finalize(&ctx, err);
    if (argc > 1 && strcmp(argv[1], "--other-grid") == 0)
        return tsr_finalize(&ctx, other_grid(ctx));
    double(*pos)[3] = calloc(NPART, sizeof *pos);
    int64_t failures = 0;
    for (int m = 0; !err && m < TSR_MAP_COUNT; m++)
        err = run_map(ctx, (tsr_map_strategy)m, &failures, pos);
    free(pos);
    if (!err && failures > 0)
        err = tsr_ctx_agree(ctx, tsr_error_set(ctx, TSR_ERR_VERIFY, __FILE__, __LINE__, __func__,
                                               "%lld checks failed", (long long)failures));
    if (!err && tsr_ctx_rank(ctx) == 0)
        printf("ok\n");
    return tsr_finalize(&ctx, err);
}
