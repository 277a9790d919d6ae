/* Private struct of a sweep, shared by the tiled sweeps (sweep.c) and the wavefront of temporal
 * blocking (sweep_wave.c). */
#ifndef TESSERA_SWEEP_IMPL_H
#define TESSERA_SWEEP_IMPL_H

#include "field_impl.h"

#define TSR_SWEEP_MAX_FIELDS 16

struct tsr_sweep_s {
    tsr_ctx ctx;
    tsr_map map;
    int reach;
    int64_t tile_cells; /* as asked (0: the context's default) */
    tsr__tile *all, *inner, *shell;
    int64_t nall, ninner, nshell;
    int64_t call, cinner, cshell; /* cells in each list */
    /* Seconds per tile of each list, and per local block for the blocked sweep, since the last
     * tsr_sweep_block_costs reset: each thread writes only its own tiles' slots. */
    double *cost_all, *cost_inner, *cost_shell, *cost_block;
    /* Blocks at rest (tsr__sweep_rest_step), per local block: which of the last two steps changed
     * it (TSR_X_CHANGED_*; both at first: nothing is known), whether a piece of its ghosts came
     * from a block the last step changed, and whether the current step changes it. */
    uint8_t *chg, *nbr, *now;
    /* The overlapped sweep's split for a halo (width, stencil): a block's shell is only the cells
     * near its late sides, those whose ghosts come from another rank or from boundary
     * conditions written at tsr_halo_end; ghosts copied from blocks of this rank, and constant
     * boundary values, are there after tsr_halo_begin. Built at the first overlapped step with
     * that halo. */
    bool split_built, split_remote; /* remote: some ghost comes from another rank */
    int split_width;
    tsr_stencil split_stencil;
    bool split_bc_early; /* the boundary was written at the exchange's begin (not late) */
    /* The halo whose same-rank x-face copies the tiles of the current step make (deferred:
     * tsr__sweep_step_exchange), or NULL. */
    tsr_halo cols;
    int64_t min_nx; /* the narrowest local block along x (INT64_MAX: none), for that deferral */
    tsr__tile *early, *late;
    int64_t nearly, nlate, cearly, clate;
    double *cost_early, *cost_late;
};

/* Checks that fields[0 .. nfields) are 1 to TSR_SWEEP_MAX_FIELDS fields on the sweep's map. */
int tsr__sweep_check_fields(tsr_sweep s, tsr_field *fields, int nfields);

#endif
