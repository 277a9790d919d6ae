/* tessera-md's set-up, shared by md.c and md_setup.c: the fcc lattice and the initial
 * velocities. */
#ifndef TESSERA_APPS_MD_H
#define TESSERA_APPS_MD_H

#include <stdbool.h>

#include <tessera.h>

/* The box [0, L)^3 of `cells` fcc unit cells of side a = (4 / density)^(1/3), on a grid of n^3
 * unit grid cells: a position x in the box's units is x * s in grid units, s = n / L. */
typedef struct md_box {
    int64_t cells, n;
    double a, L, s;
    bool cluster; /* keep only the atoms in [0, L/2)^3 */
} md_box;

/* Adds to p (empty, on a periodic n^3 grid) this rank's atoms of the lattice, with zero
 * velocities: atom (i, j, k, b), the basis atom b of unit cell (i, j, k), has id
 * 4 (i + cells (j + cells k)) + b and position ((i, j, k) + basis[b]) a, basis (0,0,0),
 * (.5,.5,0), (.5,0,.5), (0,.5,.5) as LAMMPS's fcc. Each rank walks the whole lattice and keeps the
 * atoms whose grid cell is in one of its blocks. *natoms receives the global count. Collective. */
int md_lattice(tsr_ctx ctx, tsr_particles p, const md_box *box, int64_t *natoms);

/* Sets every velocity from the atom's id alone: component c is
 * (splitmix64(splitmix64(seed) ^ splitmix64(3 id + c)) >> 11) 2^-53 - 0.5, then the mean
 * (total momentum / N, m = 1) is removed and the velocities are scaled so that
 * sum v^2 / (3 N - 3) = temp exactly as computed (both sums exact: tsr_reduce_doubles).
 * Collective. */
int md_velocities(tsr_ctx ctx, tsr_particles p, int64_t natoms, int64_t seed, double temp);

/* This rank's arrays beside the container: per-atom forces, energies and virials in block
 * order (block b's atoms at off[b] ..), and per block the local then ghost positions in one
 * contiguous run (at goff[b] ..), so the force loop reads one array per coordinate. */
typedef struct md_work {
    int64_t nb, cap, gcap;
    int64_t *off, *goff;
    tsr_particle_block *pv;
    tsr_neighbour_block *nv;
    double *f[3], *e, *w, *xs[3];
} md_work;

/* Cutoff squared, 1/s, 1/s^2, dt/2, dt s (a drift in grid units), the grid's side n and the
 * pair energy subtracted below the cutoff (0, or its value at the cutoff with --shift). */
typedef struct md_lj {
    double rc2, inv_s, inv_s2, hdt, dts, n, ecut;
} md_lj;

/* After a neighbour build: the views, offsets and array sizes (off, goff, pv and nv hold one
 * entry per local block and one more). Not collective. */
int md_work_views(md_work *w, tsr_particles p, tsr_neighbours nb);
/* Frees the arrays (not the struct). */
void md_work_free(md_work *w);
/* Copies positions into the contiguous runs, then computes every force, and every energy and
 * virial when `energy` (full lists: halves of the pair sums). */
void md_compute(const md_work *w, const md_lj *k, bool energy);
/* Half a kick (v += dt/2 f), then when `drift` a drift (x += dt s v, grid units) and the
 * position wrapped into [0, n) at once: positions never depend on when atoms change blocks. */
void md_integrate(const md_work *w, const md_lj *k, bool drift);

#endif
