/* The chain of objects most multi-rank tests here build for one case: grid, decomposition, map,
 * halo and (optionally) boundary conditions, created in order and destroyed in reverse. */
#ifndef TESSERA_TESTS_MPI_SCENE_H
#define TESSERA_TESTS_MPI_SCENE_H

#include <string.h>

#include <tessera.h>

typedef struct scene {
    tsr_grid g;
    tsr_decomp dc;
    tsr_map m;
    tsr_halo h;
    tsr_bc bc; /* created from the description, not attached to h: the caller may still set
                * functions and time before tsr_halo_set_bc */
} scene;

/* A grid of n cells per dimension (periodic where per[d]), cut into blocks[d] blocks per
 * dimension (blocks NULL or {0}: the default of one block per rank), mapped by `map`, with a halo
 * of `width` and `stencil`, and the bc `desc` (NULL: none). Idle ranks allowed. Collective. On
 * an error the objects made so far stay in *s, for scene_destroy. */
static inline int scene_create(tsr_ctx ctx, int ndim, const int64_t n[3], const bool per[3],
                               const int64_t *blocks, int map, int width, tsr_stencil stencil,
                               const tsr_bc_desc *desc, scene *s) {
    memset(s, 0, sizeof *s);
    tsr_extents size = {.ndim = ndim, .n = {n[0], n[1], n[2]}};
    tsr_decomp_opts o = {.allow_idle = true};
    if (blocks && blocks[0]) {
        o.blocks.ndim = ndim;
        memcpy(o.blocks.n, blocks, sizeof o.blocks.n);
    }
    int err = tsr_grid_create(ctx, &size, per, &s->g);
    if (!err)
        err = tsr_decomp_create(s->g, &o, &s->dc);
    if (!err)
        err = tsr_map_create(s->dc, (tsr_map_strategy)map, NULL, &s->m);
    if (!err)
        err = tsr_halo_create(s->m, width, stencil, &s->h);
    if (!err && desc)
        err = tsr_bc_create(s->g, desc, &s->bc);
    return err;
}

/* Destroys what scene_create made (the halo before its bc). */
static inline void scene_destroy(scene *s) {
    tsr_halo_destroy(&s->h);
    tsr_bc_destroy(&s->bc);
    tsr_map_destroy(&s->m);
    tsr_decomp_destroy(&s->dc);
    tsr_grid_destroy(&s->g);
}

#endif
