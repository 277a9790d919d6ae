/* Particle files: writes NPART particles with sparse ids (placed, moving and carrying components
 * computed from their ids) from any ranks, blocks and map, or reads such a file back under
 * another decomposition and checks every value against the same formulas, bit for bit. The
 * python driver (pio.py) runs it across rank counts and maps and checks the files with h5py and
 * ParaView.
 *
 *   test_pio write FILE XMF MAP BX BY BZ [--force]
 *   test_pio read FILE MAP BX BY BZ
 *   test_pio names NAME   (sets the first real component's name: the must-fail case)
 *
 * The grid is 12 x 10 x 8 cells, periodic along x and z. Prints "PASS ..." on rank 0. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tessera.h>

#include "ptest.h"

#define NPART 400
#define NREAL 2
#define NINT 1

static const int64_t grid_n[3] = {12, 10, 8};
static const bool grid_periodic[3] = {true, false, true};
static const char *const real_names[NREAL] = {"mass", "charge"};
static const char *const int_names[NINT] = {"species"};

/* Particle k's id, position, velocity and components. */
static int64_t id_of(int64_t k) {
    return 5 * k + 2;
}
static void particle(int64_t id, double x[3], double v[3], double real[NREAL],
                     int64_t integ[NINT]) {
    for (int d = 0; d < 3; d++) {
        x[d] = unit((uint64_t)id * 3 + (uint64_t)d) * (double)grid_n[d];
        v[d] = unit((uint64_t)id * 7 + (uint64_t)d) - 0.5;
    }
    real[0] = 1.0 + (double)id * 0.5;
    real[1] = unit((uint64_t)id * 11) - 0.5;
    integ[0] = id % 4 - 1;
}

static bool same(double a, double b) {
    return memcmp(&a, &b, sizeof a) == 0;
}

typedef struct setup {
    tsr_grid grid;
    tsr_decomp decomp;
    tsr_map map;
    tsr_particles p;
} setup;

static int setup_create(tsr_ctx ctx, const char *map_name, char **blocks, setup *u) {
    tsr_extents size = {3, {grid_n[0], grid_n[1], grid_n[2]}};
    /* fewer blocks than ranks is allowed: an idle rank writes and reads nothing */
    tsr_decomp_opts dopts = {.blocks = {3, {atoll(blocks[0]), atoll(blocks[1]), atoll(blocks[2])}},
                             .allow_idle = true};
    int m = 0;
    while (m < TSR_MAP_COUNT && strcmp(tsr_map_strategy_names[m], map_name) != 0)
        m++;
    int err = tsr_grid_create(ctx, &size, grid_periodic, &u->grid);
    if (!err)
        err = tsr_decomp_create(u->grid, &dopts, &u->decomp);
    if (!err)
        err = tsr_map_create(u->decomp, m < TSR_MAP_COUNT ? (tsr_map_strategy)m : TSR_MAP_SFC, NULL,
                             &u->map);
    if (!err)
        err = tsr_particles_create(u->map, NREAL, NINT, &u->p);
    return err;
}

static int setup_destroy(setup *u, int err) {
    tsr_particles_destroy(&u->p);
    tsr_map_destroy(&u->map);
    tsr_decomp_destroy(&u->decomp);
    tsr_grid_destroy(&u->grid);
    return err;
}

/* Each rank adds the particles lying in its blocks, in decreasing id order (the file must not
 * depend on it), and writes. */
static int write_file(tsr_ctx ctx, setup *u, const char *path, const char *xmf, bool force) {
    int err = tsr_particles_set_names(u->p, real_names, int_names);
    int64_t nlocal = 0;
    const int64_t *ids = NULL;
    if (!err)
        err = tsr_map_local_blocks(u->map, &nlocal, &ids);
    for (int64_t k = NPART - 1; !err && k >= 0; k--) {
        double x[3], v[3], real[NREAL];
        int64_t integ[NINT];
        particle(id_of(k), x, v, real, integ);
        for (int64_t j = 0; !err && j < nlocal; j++) {
            tsr_box box;
            err = tsr_decomp_block_box(u->decomp, ids[j], &box);
            bool inside = true;
            for (int d = 0; d < 3; d++)
                inside =
                    inside && floor(x[d]) >= (double)box.lo[d] && floor(x[d]) < (double)box.hi[d];
            if (!err && inside)
                err = tsr_particles_add(u->p, id_of(k), x, v, real, integ);
        }
    }
    err = tsr_ctx_agree(ctx, err);
    tsr_io_meta meta = {.app = "test_pio", .step = 42, .time = 0.125, .run_id = "pio-test"};
    if (!err)
        err = tsr_particles_write(u->p, path, force, &meta, xmf);
    if (!err && tsr_ctx_rank(ctx) == 0)
        printf("PASS write %s at %d ranks\n", path, tsr_ctx_size(ctx));
    return err;
}

static int read_file(tsr_ctx ctx, setup *u, const char *path) {
    int64_t step = -1;
    double time = -1.0;
    int err = tsr_particles_read(u->p, path, &step, &time);
    if (err)
        return err;
    int64_t bad = step != 42 || time != 0.125, n = 0;
    for (int64_t lb = 0; lb < tsr_particles_local_blocks(u->p); lb++) {
        tsr_particle_block b;
        if (tsr_particles_block(u->p, lb, &b)) {
            bad++;
            continue;
        }
        n += b.count;
        for (int64_t i = 0; i < b.count; i++) {
            double x[3], v[3], real[NREAL];
            int64_t integ[NINT], id = b.id[i];
            particle(id, x, v, real, integ);
            bool ok = id >= 2 && (id - 2) % 5 == 0 && id_of(NPART - 1) >= id &&
                      (i == 0 || b.id[i - 1] < id) && b.integ[0][i] == integ[0];
            for (int d = 0; d < 3; d++) {
                ok = ok && same(b.x[d][i], x[d]) && same(b.v[d][i], v[d]);
                ok = ok && floor(x[d]) >= (double)b.box.lo[d] && floor(x[d]) < (double)b.box.hi[d];
            }
            for (int k = 0; k < NREAL; k++)
                ok = ok && same(b.real[k][i], real[k]);
            if (!ok && bad < 5)
                fprintf(stderr, "rank %d: particle %lld (index %lld of block %lld) is wrong\n",
                        tsr_ctx_rank(ctx), (long long)id, (long long)i, (long long)b.block);
            bad += !ok;
        }
    }
    int64_t all[2], mine[2] = {bad, n};
    MPI_Allreduce(mine, all, 2, MPI_INT64_T, MPI_SUM, tsr_ctx_comm(ctx));
    if (all[0] > 0 || all[1] != NPART)
        return tsr_ctx_agree(ctx, tsr_error_set(ctx, TSR_ERR_VERIFY, __FILE__, __LINE__, __func__,
                                                "%lld particles read, %lld wrong (of %d)",
                                                (long long)all[1], (long long)all[0], NPART));
    if (tsr_ctx_rank(ctx) == 0)
        printf("PASS read %s at %d ranks: %d particles bit-identical\n", path, tsr_ctx_size(ctx),
               NPART);
    return TSR_SUCCESS;
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "test_pio", &ctx);
    if (err)
        return tsr_finalize(&ctx, err);
    setup u = {0};
    char *two[3] = {"2", "2", "2"};
    if (argc >= 8 && strcmp(argv[1], "write") == 0) {
        err = setup_create(ctx, argv[4], argv + 5, &u);
        if (!err)
            err = write_file(ctx, &u, argv[2], argv[3][0] ? argv[3] : NULL,
                             argc > 8 && strcmp(argv[8], "--force") == 0);
    } else if (argc >= 7 && strcmp(argv[1], "read") == 0) {
        err = setup_create(ctx, argv[3], argv + 4, &u);
        if (!err)
            err = read_file(ctx, &u, argv[2]);
    } else if (argc >= 3 && strcmp(argv[1], "names") == 0) {
        err = setup_create(ctx, "sfc", two, &u);
        const char *names[NREAL] = {argv[2], "charge"};
        if (!err)
            err = tsr_particles_set_names(u.p, names, NULL);
    } else {
        if (tsr_ctx_rank(ctx) == 0)
            fprintf(stderr, "usage: see the head of test_pio.c\n");
        err = tsr_ctx_agree(
            ctx, tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__, "bad arguments"));
    }
    return tsr_finalize(&ctx, setup_destroy(&u, err));
}
