/* Private structs of fields, halo plans and sweeps. */
#ifndef TESSERA_FIELD_IMPL_H
#define TESSERA_FIELD_IMPL_H

#include "layout_impl.h"
#include "tessera/field.h"
#include "tessera/halo.h"
#include "tessera/sweep.h"

struct tsr_field_s {
    tsr_ctx ctx;
    tsr_map map;
    int width;
    int ncomp;                               /* components per cell */
    char (*comp_names)[TSR_FIELD_COMP_NAME]; /* ncomp names for files, or NULL */
    char name[64];
    char long_name[128]; /* "" when not set */
    char units[64];
    int64_t nblocks;   /* local blocks */
    double **storage;  /* per local block: the aligned allocation (ncomp arrays of sc doubles) */
    tsr_block *blocks; /* per local block: its view */
};

/* A piece of work: a box (block-local) of local block `block`. */
typedef struct tsr__tile {
    int64_t block;
    tsr_box box;
} tsr__tile;

/* Splits box of local block `block` into tiles of about tile_cells cells, whole x rows first,
 * and appends them to *tiles (growing it). Returns false on allocation failure. */
bool tsr__tile_box(int ndim, int64_t block, const tsr_box *box, int64_t tile_cells,
                   tsr__tile **tiles, int64_t *count, int64_t *cap);

/* A field on `map` with the width, components, name and description of `like`. With keep (NULL
 * or one entry per local block of `map`), local block i with keep[i] >= 0 uses the storage of
 * like's local block keep[i], which must have the same box: both fields then point to it until
 * the caller takes it from one of them (sets its storage[] entry to NULL). Not collective (a
 * migration agrees once for all its fields); on failure nothing is left allocated. */
int tsr__field_create_like(tsr_field like, tsr_map map, const int64_t *keep, tsr_field *field);

/* Index of block id in a map's sorted local list, or -1. */
int64_t tsr__local_index(tsr_map m, int64_t id);

/* Stands in for a kernel that has failed on this rank: the steps that remain until the ranks
 * agree only exchange, so no neighbour waits for this rank. */
int tsr__skip_kernel(const tsr_block *f, int nf, const tsr_box *box, void *user);

/* A sweep like s (reach, tile size) over the local blocks of another map. Not collective. */
int tsr__sweep_rebuild(tsr_sweep s, tsr_map map, tsr_sweep *out);

#endif
