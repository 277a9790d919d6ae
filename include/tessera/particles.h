/* Particles decomposed on the blocks and map of a grid: per-block containers (structure of
 * arrays, 64-bit global ids) and their redistribution to the owning block as they move. */
#ifndef TESSERA_PARTICLES_H
#define TESSERA_PARTICLES_H

#include <stdbool.h>
#include <stdint.h>

#include "domain.h"
#include "io.h"
#include "map.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Geometry: the grid's cells have unit size and the domain of dimension d is [0, n_d), so a
 * particle at x lies in cell floor(x) and in the block whose box holds that cell. Positions,
 * velocities always have three components; those past the grid's dimensions are stored and moved
 * with the particle but never locate it. */

typedef struct tsr_particles_s *tsr_particles;

/* The particles of one local block, in structure-of-arrays form: element i of every array is
 * particle i. The arrays belong to the container; they stay valid until the next add, remove,
 * redistribute or destroy. Values may be changed in place (positions included: call
 * tsr_particles_redistribute before relying on the block again). */
typedef struct tsr_particle_block {
    int64_t block;   /* global block id */
    tsr_box box;     /* its cells */
    int64_t count;   /* particles in it */
    int64_t *id;     /* global ids */
    double *x[3];    /* positions along x, y, z */
    double *v[3];    /* velocities */
    double **real;   /* nreal arrays of user reals (NULL when nreal is 0) */
    int64_t **integ; /* nint arrays of user integers (NULL when nint is 0) */
} tsr_particle_block;

/* An empty container on the blocks of `map` with `nreal` user real and `nint` user integer
 * components per particle (0 to 64 each; checked on rank 0, TSR_ERR_INPUT on every rank
 * otherwise). Keeps a reference to `map`, which must outlive the container. Collective. */
int tsr_particles_create(tsr_map map, int nreal, int nint, tsr_particles *p);
/* Frees the container and its storage and sets *p to NULL (NULL is fine). Not collective. */
int tsr_particles_destroy(tsr_particles *p);

/* Adds one particle this rank owns: `id` (the caller's, unique over all ranks), position x[3],
 * velocity v[3] (NULL: zero), `real` (nreal values; NULL: zeros) and `integ` (nint values; NULL:
 * zeros); all are copied. On periodic dimensions the position is wrapped into the domain first.
 * The particle goes at the end of the local block holding its position; a position outside a
 * non-periodic domain, non-finite, or in a block of another rank gives TSR_ERR_INPUT naming the
 * id and position, on this rank only (make it collective with tsr_ctx_agree). Not collective. */
int tsr_particles_add(tsr_particles p, int64_t id, const double x[3], const double v[3],
                      const double *real, const int64_t *integ);

/* Removes particle `i` of local block `lb` (0 .. tsr_particles_local_blocks - 1) by moving the
 * block's last particle into its place, so the order of that block changes until the next
 * redistribution. TSR_ERR_ARG for indices out of range. Not collective. */
int tsr_particles_remove(tsr_particles p, int64_t lb, int64_t i);

/* Local blocks of the container (those of its map on this rank, in increasing id order). Not
 * collective. */
int64_t tsr_particles_local_blocks(tsr_particles p);
/* The view of local block `lb`: counts and pointers owned by the container (see
 * tsr_particle_block). TSR_ERR_ARG if lb is out of range. Not collective; safe to call from
 * several OpenMP threads at once. */
int tsr_particles_block(tsr_particles p, int64_t lb, tsr_particle_block *view);
/* Particles on this rank. Not collective. */
int64_t tsr_particles_local_count(tsr_particles p);
/* Particles on all ranks, into *n on every rank. Collective. */
int tsr_particles_global_count(tsr_particles p, int64_t *n);
/* Components per particle and the map given at creation (owned by the caller). Not
 * collective. */
int tsr_particles_nreal(tsr_particles p);
int tsr_particles_nint(tsr_particles p);
tsr_map tsr_particles_map(tsr_particles p);

/* Flags of tsr_particles_redistribute. */
enum {
    /* particles outside a non-periodic side are removed (and counted) instead of an error */
    TSR_PARTICLES_REMOVE_LEAVING = 1,
};

/* Sends every particle to the block, and rank, holding its current position. On periodic
 * dimensions a position outside [0, n) becomes x - n floor(x / n) (0 if that rounds to n);
 * positions inside are not touched. The particles for each other rank travel in one message
 * (counts exchanged first with MPI_Alltoall); a particle may land any number of blocks away.
 * Afterwards every block holds its particles sorted by id, so the contents do not depend on
 * ranks, threads, map or the order of adds; each block's new storage is allocated and written
 * first by the OpenMP thread that fills it. A particle outside a non-periodic side (or with a
 * non-finite position) is an error, TSR_ERR_VERIFY naming the lowest such id, its position and
 * the side, on every rank and before anything moves, unless `flags` has
 * TSR_PARTICLES_REMOVE_LEAVING: then such particles are dropped and *removed (may be NULL)
 * receives their global count on every rank. The global count is checked to be conserved
 * (TSR_ERR_INTERNAL on every rank otherwise). A message longer than INT_MAX bytes is refused
 * (TSR_ERR_INPUT on every rank) before anything is sent. Unknown flags give TSR_ERR_ARG. After an
 * error, positions may already be wrapped; after TSR_ERR_MEMORY the particles are lost.
 * Collective. */
int tsr_particles_redistribute(tsr_particles p, int flags, int64_t *removed);

/* Moves the container onto `map`, another map of the same grid (any blocks and strategy; same
 * sizes and periodicity, else TSR_ERR_ARG on every rank): every particle goes to the rank owning
 * its block under `map` in one message per peer, and each new local block holds its particles
 * sorted by id, as after tsr_particles_redistribute. The container then keeps a reference to
 * `map` (which must outlive it) and none to the old one, which the caller may destroy. Views
 * and neighbour lists of the old blocks are stale (tsr_neighbours_need_rebuild says so; the next
 * tsr_neighbours_build follows the new blocks). After an error past the exchange the particles
 * are lost. Collective. */
int tsr_particles_set_map(tsr_particles p, tsr_map map);

/* The rebalancing of a particle run (the domain's rebalancer, from --rebalance-every and
 * --rebalance-threshold), to call at every step of the loop, where the particles lie in their
 * blocks (after tsr_particles_redistribute). When a check is due at `step` (a positive multiple
 * of the period; nothing otherwise, or when d->balance is NULL or off), each block's cost is the
 * app's cost hook (tsr_balance_set_hooks) if installed, else its particles summed over the `n`
 * containers ps[0 .. n), all on d->map; rank 0 decides as for fields and, if a new map is
 * adopted, every container moves to it (tsr_particles_set_map), d->map and d->halo (if any) are
 * replaced, the old ones destroyed, and the migration hook runs. Rank 0 prints the same
 * "rebalance" line as field runs and the event is recorded (tsr_balance_events, the report),
 * with bytes = the particle bytes that changed rank. *moved (may be NULL) becomes true on every
 * rank when the map changed: rebuild the neighbour lists. Collective. */
int tsr_particles_rebalance(tsr_domain *d, int64_t step, tsr_particles *ps, int n, bool *moved);

/* ---- Ghost particles and neighbour lists ------------------------------------------------ */

/* Neighbours of the particles of a container within `cutoff`, found through lists built with a
 * `skin` (range = cutoff + skin). A build copies into every local block, as ghosts, the
 * particles of the cells within ceil(range) cells of its box (faces, edges, corners, any number
 * of blocks away, periodic images shifted by the domain length): the exchange engine's halo
 * regions of that width, kept whole (not filtered by distance). Then it lists, for every local
 * particle, all local and ghost partners closer than the range (squared distance summed over
 * the grid's dimensions, < range * range). Ghosts of a block and partners of a particle are
 * sorted by (id, image), so sums in list order have the same bits for any ranks, threads, maps
 * and blocks. Ghosts and lists use MPI tag TSR_TAG_PARTICLES, one message per peer rank. */
typedef struct tsr_neighbours_s *tsr_neighbours;

/* The ghosts and lists of one local block; everything is owned by the neighbours object, valid
 * until its next build or destroy. Partner k of local particle i is partner[k] for
 * first[i] <= k < first[i + 1]: below nlocal it is local particle partner[k] of the container's
 * block, otherwise ghost partner[k] - nlocal. A ghost's image is (kx + 1) + 3 (ky + 1) +
 * 9 (kz + 1): its position is the source's plus k times the grid size along each dimension
 * (13: not shifted), or exactly the source's with tsr_neighbours_set_unshifted. */
typedef struct tsr_neighbour_block {
    int64_t nlocal, nghost;
    const int64_t *ghost_id;
    const int *ghost_image;
    const double *ghost_x[3];
    const double *ghost_v[3];
    const int64_t *first;   /* nlocal + 1 offsets */
    const int32_t *partner; /* first[nlocal] entries */
} tsr_neighbour_block;

/* Neighbours of the particles of `p` (which must outlive it), nothing built yet. The cutoff must
 * be positive and finite, the skin finite and >= 0, and cutoff + skin below half the grid size
 * along every periodic dimension (so no particle meets its own image nor a partner twice);
 * checked on rank 0, TSR_ERR_INPUT on every rank otherwise. Collective. */
int tsr_neighbours_create(tsr_particles p, double cutoff, double skin, tsr_neighbours *nb);
/* Frees everything and sets *nb to NULL (NULL is fine). Not collective. */
int tsr_neighbours_destroy(tsr_neighbours *nb);
/* New ghosts and lists from the container's current particles, which must each lie in their
 * block (after tsr_particles_redistribute, before any move: TSR_ERR_ARG naming one that does not,
 * on every rank). Remembers the positions for tsr_neighbours_need_rebuild. After an error
 * nothing is built (update refuses). Collective. */
int tsr_neighbours_build(tsr_neighbours nb);
/* Sends the current positions (and velocities when `velocities`) of the particles again through
 * the build's send lists, shifted as at the build, into the same ghost slots: no allocation, no
 * new lists. The container must not have been added to, removed from or redistributed since the
 * build (TSR_ERR_ARG on every rank otherwise). Collective. */
int tsr_neighbours_update(tsr_neighbours nb, bool velocities);
/* *need becomes true on every rank when some particle on some rank moved by more than half the
 * skin since the build (then partners within the cutoff may be missing from the lists), when
 * the container changed or nothing is built. Collective. */
int tsr_neighbours_need_rebuild(tsr_neighbours nb, bool *need);
/* Ghost positions exactly as their sources hold them, not shifted by the image (the lists are
 * still found from shifted positions, and ghost_image still says which image a ghost stands
 * for). For an app that wraps every position into the domain as it moves and measures
 * distances by the nearest image: then nothing it computes depends on when lists were built,
 * and a run can rebalance, checkpoint and restart with the same bits as one that did not.
 * need_rebuild always measures displacements across a periodic side by the nearest image.
 * Takes effect at the next build (a change discards the current one). Not collective (every
 * rank sets the same). */
int tsr_neighbours_set_unshifted(tsr_neighbours nb, bool unshifted);
/* The view of local block lb (as in tsr_particles_local_blocks). TSR_ERR_ARG if out of range or
 * nothing is built. Not collective; thread-safe. */
int tsr_neighbours_block(tsr_neighbours nb, int64_t lb, tsr_neighbour_block *view);

/* ---- HDF5 files of particles: output, XDMF for viewers, restart ---- */

/* Names of the components in files: nreal names of the real components, nint of the integer
 * ones (either array may be NULL: keep those names). Each 1 to 63 characters of letters, digits,
 * '_', '-' or '.', all distinct and none of "id", "position", "velocity". Unset names are
 * real<k> and int<k>. Strings are copied; every rank passes the same names. TSR_ERR_INPUT on every
 * rank for a bad name (checked on rank 0). Collective. */
int tsr_particles_set_names(tsr_particles p, const char *const *real_names,
                            const char *const *int_names);

/* Writes every particle into one HDF5 file, in ascending global id order: /particles/id (N,
 * int64), /particles/position and /particles/velocity (N x 3, float64), and one dataset of N
 * values per component, /particles/<name> (float64 or int64). Root attributes as field files
 * (step, time, grid_size, periodic, app, command_line, run_options, run_id from meta, which may
 * be NULL) plus count; the group's attributes real_components and int_components list the
 * component names in order. The order comes from gathering every id on rank 0, which sorts them
 * and sends each rank the file row of each of its particles: about 40 bytes per particle on rank
 * 0, so up to about 10^8 particles, and at most INT_MAX. Rank 0 lays the file out with HDF5; every
 * rank then writes its own particles into place (positioned writes of runs of consecutive rows;
 * not MPI-IO, for the reasons given in io.c). When `xmf` is not NULL, rank 0 then writes an XDMF
 * sidecar there (it must be in the same directory, as it refers to the file by its name): a
 * Polyvertex topology of N points with the positions as XYZ geometry, velocity as a Vector and
 * id and the components as Scalars, which ParaView opens as N points. Files are written as
 * "<path>.tessera.tmp" and renamed once complete; an existing file is never replaced unless `force`
 * (TSR_ERR_INPUT naming it, nothing written); a duplicate id is TSR_ERR_INPUT; a failed write is
 * TSR_ERR_IO naming the file and the system's reason. Same status and message on every rank.
 * Collective. */
int tsr_particles_write(tsr_particles p, const char *path, bool force, const tsr_io_meta *meta,
                        const char *xmf);

/* Reads a file written by tsr_particles_write into the empty container p (TSR_ERR_ARG if it
 * holds particles), whatever the ranks, blocks or map that wrote it: each rank with local blocks
 * reads a slab of rows, then tsr_particles_redistribute puts every particle in place, so the
 * values are bit-identical to those written. The file must hold p's component counts and a grid
 * of p's size; its component names become p's. step and time (may be NULL) receive the file's.
 * A missing, unreadable, non-HDF5 or mismatched file, ids not strictly ascending (rank 0 reads
 * them all, in chunks), a particle outside the domain or one whose velocity is not finite, is
 * TSR_ERR_INPUT naming the file, on every rank. Collective. */
int tsr_particles_read(tsr_particles p, const char *path, int64_t *step, double *time);

#ifdef __cplusplus
}
#endif
#endif
