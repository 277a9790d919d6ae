/* tessera-md's initial state: the fcc lattice of LAMMPS's bench/in.lj and velocities that depend
 * on atom ids only, so they are the same for any ranks, blocks and map. */
#include <math.h>
#include <stdlib.h>

#include "md.h"

static const double basis[4][3] = {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}};

int md_lattice(tsr_ctx ctx, tsr_particles p, const md_box *box, int64_t *natoms) {
    /* Which grid cells along each dimension this rank's blocks cover is a per-block test; the
     * lattice is walked once and each atom tested against the local blocks' boxes. */
    const int64_t nb = tsr_particles_local_blocks(p), c = box->cells;
    tsr_box *boxes = malloc(sizeof *boxes * (size_t)(nb ? nb : 1));
    int err = boxes ? TSR_SUCCESS : TSR_ERR_MEMORY;
    for (int64_t b = 0; !err && b < nb; b++) {
        tsr_particle_block v;
        err = tsr_particles_block(p, b, &v);
        boxes[b] = v.box;
    }
    const double half = 0.5 * box->L;
    for (int64_t k = 0; !err && k < c; k++)
        for (int64_t j = 0; !err && j < c; j++)
            for (int64_t i = 0; !err && i < c; i++)
                for (int b = 0; !err && b < 4; b++) {
                    double r[3] = {((double)i + basis[b][0]) * box->a,
                                   ((double)j + basis[b][1]) * box->a,
                                   ((double)k + basis[b][2]) * box->a};
                    if (box->cluster && (r[0] >= half || r[1] >= half || r[2] >= half))
                        continue;
                    double x[3] = {r[0] * box->s, r[1] * box->s, r[2] * box->s};
                    int64_t cell[3] = {(int64_t)x[0], (int64_t)x[1], (int64_t)x[2]};
                    for (int64_t q = 0; q < nb; q++) {
                        const tsr_box *bx = &boxes[q];
                        if (cell[0] >= bx->lo[0] && cell[0] < bx->hi[0] && cell[1] >= bx->lo[1] &&
                            cell[1] < bx->hi[1] && cell[2] >= bx->lo[2] && cell[2] < bx->hi[2]) {
                            err = tsr_particles_add(p, 4 * (i + c * (j + c * k)) + b, x, NULL, NULL,
                                                    NULL);
                            break;
                        }
                    }
                }
    free(boxes);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    /* Sorted by id in each block from here on. */
    TSR_CALL(ctx, tsr_particles_redistribute(p, 0, NULL));
    return tsr_particles_global_count(p, natoms);
}

static double draw(uint64_t seed_hash, int64_t id, int c) {
    uint64_t h = tsr_splitmix64(seed_hash ^ tsr_splitmix64(3 * (uint64_t)id + (uint64_t)c));
    return (double)(h >> 11) * 0x1.0p-53 - 0.5;
}

/* The exact sum over all atoms of f(view, i), f written into buf first. */
#define SUM_OVER_ATOMS(expr, result)                                                               \
    do {                                                                                           \
        int64_t m_ = 0;                                                                            \
        for (int64_t b_ = 0; b_ < nb; b_++) {                                                      \
            tsr_particle_block v;                                                                  \
            tsr_particles_block(p, b_, &v);                                                        \
            for (int64_t i = 0; i < v.count; i++)                                                  \
                buf[m_++] = (expr);                                                                \
        }                                                                                          \
        err = tsr_reduce_doubles(ctx, buf, m_, TSR_REDUCE_SUM, (result));                          \
    } while (0)

int md_velocities(tsr_ctx ctx, tsr_particles p, int64_t natoms, int64_t seed, double temp) {
    const int64_t nb = tsr_particles_local_blocks(p), nloc = tsr_particles_local_count(p);
    const uint64_t seed_hash = tsr_splitmix64((uint64_t)seed);
    double *buf = malloc(sizeof *buf * (size_t)(nloc ? nloc : 1));
    TSR_CALL(ctx, tsr_ctx_agree(ctx, buf ? TSR_SUCCESS : TSR_ERR_MEMORY));
    for (int64_t b = 0; b < nb; b++) {
        tsr_particle_block v;
        tsr_particles_block(p, b, &v);
        for (int64_t i = 0; i < v.count; i++)
            for (int c = 0; c < 3; c++)
                v.v[c][i] = draw(seed_hash, v.id[i], c);
    }
    int err = TSR_SUCCESS;
    for (int c = 0; c < 3 && !err; c++) {
        double sum = 0;
        SUM_OVER_ATOMS(v.v[c][i], &sum);
        const double mean = sum / (double)natoms;
        for (int64_t b = 0; b < nb; b++) {
            tsr_particle_block v;
            tsr_particles_block(p, b, &v);
            for (int64_t i = 0; i < v.count; i++)
                v.v[c][i] -= mean;
        }
    }
    double v2 = 0;
    if (!err)
        SUM_OVER_ATOMS(v.v[0][i] * v.v[0][i] + v.v[1][i] * v.v[1][i] + v.v[2][i] * v.v[2][i], &v2);
    /* One atom has no degrees of freedom left: its velocity is zero after the mean is removed. */
    const double dof = 3.0 * (double)natoms - 3.0;
    const double scale = natoms > 1 && v2 > 0 ? sqrt(temp / (v2 / dof)) : 0.0;
    for (int64_t b = 0; !err && b < nb; b++) {
        tsr_particle_block v;
        tsr_particles_block(p, b, &v);
        for (int64_t i = 0; i < v.count; i++)
            for (int c = 0; c < 3; c++)
                v.v[c][i] *= scale;
    }
    free(buf);
    return err;
}
