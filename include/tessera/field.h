/* ncomp doubles per cell (1 for a scalar field), stored per local block with a ghost layer. */
#ifndef TESSERA_FIELD_H
#define TESSERA_FIELD_H

#include <stddef.h>
#include <stdint.h>

#include "map.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tsr_field_s *tsr_field;

/* A view of one block of a field. data points at owned cell (0,0,0) of component 0; cell (x,y,z)
 * of the block, with -width <= x < n[0] + width in active dimensions, is data[x + y*sy + z*sz].
 * A field of ncomp components stores them one after another (structure of arrays): component c
 * of that cell is data[x + y*sy + z*sz + c*sc]. The memory stays owned by the field. */
typedef struct tsr_block {
    int64_t id;              /* global block id */
    int64_t lo[TSR_MAX_DIM]; /* global coordinates of owned cell (0,0,0) */
    int64_t n[TSR_MAX_DIM];  /* owned cells per dimension (1 past ndim) */
    int ndim;
    int width;    /* ghost width in each active dimension */
    ptrdiff_t sy; /* stride between rows (y) */
    ptrdiff_t sz; /* stride between planes (z) */
    int ncomp;    /* components per cell (1 for a scalar field) */
    ptrdiff_t sc; /* stride between components */
    double *data;
} tsr_block;

/* The cell (x, y, z) of a block view, in block-local coordinates. */
#define TSR_AT(b, x, y, z)                                                                         \
    ((b)->data[(ptrdiff_t)(x) + (ptrdiff_t)(y) * (b)->sy + (ptrdiff_t)(z) * (b)->sz])
/* Component c of cell (x, y, z). */
#define TSR_ATC(b, x, y, z, c)                                                                     \
    ((b)->data[(ptrdiff_t)(x) + (ptrdiff_t)(y) * (b)->sy + (ptrdiff_t)(z) * (b)->sz +              \
               (ptrdiff_t)(c) * (b)->sc])

/* Most components a field may hold, and the longest component name (with its terminator). */
#define TSR_FIELD_MAX_COMP 64
#define TSR_FIELD_COMP_NAME 32

/* Allocates a field on the map's local blocks with ghost width `width` (>= 1). Arrays are 64-byte
 * aligned with owned rows starting on a 64-byte boundary, zeroed (ghosts included) by the OpenMP
 * thread that computes that part in a sweep. `name` (may be NULL) is copied. Collective (an
 * allocation failure on any rank is reported on all). */
int tsr_field_create(tsr_map map, int width, const char *name, tsr_field *field);

/* tsr_field_create for ncomp (1 to TSR_FIELD_MAX_COMP) values per cell, e.g. 3 for a velocity.
 * Each block holds its components' ghosted arrays back to back (structure of arrays): component
 * c starts sc doubles after component c-1, sc a multiple of 8 (every component's rows are
 * 64-byte aligned like a scalar field's), and every component is first-touched with the same
 * tiling. In files (tsr_io_write) such a field is one dataset with the components last:
 * (NX, ncomp), (NY, NX, ncomp) or (NZ, NY, NX, ncomp), x fastest after the component; element
 * (cell i, component c) is element i*ncomp + c of the dataset in C order. Collective. */
int tsr_field_create_comp(tsr_map map, int width, int ncomp, const char *name, tsr_field *field);

/* Frees the field and sets *field to NULL (NULL or a NULL handle: nothing). Not collective. */
int tsr_field_destroy(tsr_field *field);

tsr_map tsr_field_map(tsr_field f);
int tsr_field_width(tsr_field f);
const char *tsr_field_name(tsr_field f);
/* Components per cell (1 for a field made by tsr_field_create). */
int tsr_field_ncomp(tsr_field f);
/* Names the components in the files the field is written to (the `component_names` attribute
 * of its dataset, e.g. "vx", "vy", "vz"): names[0..ncomp-1], each 1 to TSR_FIELD_COMP_NAME-1
 * characters; names = NULL removes them. Strings are copied. Not collective. */
int tsr_field_set_component_names(tsr_field f, const char *const *names);
/* The name of component c, or NULL when none was set. */
const char *tsr_field_component_name(tsr_field f, int c);
/* Describes the field in the files it is written to: long_name and units attributes (either may
 * be NULL: not recorded), as netCDF/CF readers such as xarray show them. Strings are copied. Not
 * collective. */
int tsr_field_set_info(tsr_field f, const char *long_name, const char *units);
int64_t tsr_field_local_blocks(tsr_field f); /* number of blocks on this rank */

/* Get/Restore access to local block i (0 <= i < tsr_field_local_blocks). Not collective. */
int tsr_field_get_block(tsr_field f, int64_t i, tsr_block *b);
int tsr_field_restore_block(tsr_field f, int64_t i, tsr_block *b);

/* Sets every cell of every component, ghosts included, to value. Not collective. */
int tsr_field_fill(tsr_field f, double value);

#ifdef __cplusplus
}
#endif
#endif
