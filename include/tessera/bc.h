/* Boundary conditions: what the ghost cells outside the domain hold, per dimension and side. */
#ifndef TESSERA_BC_H
#define TESSERA_BC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "field.h"
#include "grid.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The rule of one side of one dimension (PETSc's DM_BOUNDARY_*, AMReX's BCRec). */
typedef enum tsr_bc_kind {
    TSR_BC_NONE = 0,  /* ghosts outside the domain are left alone: the application's */
    TSR_BC_PERIODIC,  /* wrapped by the exchange; exactly the grid's periodic dimensions, both sides
                       */
    TSR_BC_DIRICHLET, /* the ghosts hold a value: a constant, or a function of position and time */
    TSR_BC_NEUMANN,   /* zero gradient: the ghost mirrors the interior, ghost -1-k holds cell k and
                         ghost N+k holds cell N-1-k */
} tsr_bc_kind;

/* The kinds' names, indexed by tsr_bc_kind, NULL-terminated: "none", "periodic", "dirichlet",
 * "neumann". */
extern const char *const tsr_bc_kind_names[];

/* A side of a dimension: low (ghosts below 0), high (ghosts at N and above), or both. */
typedef enum tsr_bc_side { TSR_BC_LOW = 0, TSR_BC_HIGH = 1, TSR_BC_BOTH = 2 } tsr_bc_side;

/* A Dirichlet value per ghost cell. g holds the ghost cell's global integer coordinates: outside
 * [0, N) along the side's dimension, and possibly along others too at edges and corners (see
 * tsr_bc_apply); coordinates past the grid's dimensions are 0. t is the bc's time
 * (tsr_bc_set_time), comp the field component. Called from the thread that applies the bc. */
typedef double (*tsr_bc_func)(const int64_t g[TSR_MAX_DIM], double t, int comp, void *user);

/* A boundary description by value, as options text is parsed into and a bc is built from:
 * kind[d][side] and, for a constant Dirichlet side, its value (side 0 low, 1 high). */
typedef struct tsr_bc_desc {
    tsr_bc_kind kind[TSR_MAX_DIM][2];
    double value[TSR_MAX_DIM][2];
} tsr_bc_desc;

/* Every side of the dimensions where periodic[d] (NULL: none) periodic, every other side
 * `kind` (not TSR_BC_PERIODIC: TSR_ERR_ARG) with `value`. Not collective. */
int tsr_bc_desc_init(tsr_bc_desc *desc, const bool *periodic, tsr_bc_kind kind, double value);

/* Reads "SPEC[,SPEC...]" into desc, changing only the sides the text names. SPEC is DIM=KIND
 * (both sides) or DIMlo=KIND / DIMhi=KIND (one side); DIM is x, y or z (below ndim); KIND is
 * periodic, neumann, none, dirichlet (keeps the side's current value) or dirichlet:V (V a finite
 * number). Example: "x=periodic,ylo=dirichlet:1,yhi=neumann". Refused with TSR_ERR_INPUT and a
 * message starting with `what` (the option's name): an unknown or absent dimension, an unknown
 * kind, a bad value, periodic on one side only, a side given twice. Not collective (every rank
 * reading the same text reaches the same verdict). */
int tsr_bc_desc_parse(tsr_ctx ctx, const char *what, const char *text, int ndim, tsr_bc_desc *desc);

/* Writes desc for dimensions below ndim as text tsr_bc_desc_parse reads back
 * ("x=periodic,ylo=dirichlet:1,yhi=neumann"; values with 17 significant digits), e.g. for the
 * run options a restart must match. Truncated to len. Not collective. */
int tsr_bc_desc_format(const tsr_bc_desc *desc, int ndim, char *buf, size_t len);

typedef struct tsr_bc_s *tsr_bc;

/* Creates the boundary conditions of a grid from desc (NULL: periodic on the grid's periodic
 * dimensions, none elsewhere). Periodic sides must be exactly the grid's periodic dimensions:
 * otherwise TSR_ERR_INPUT naming the dimension. Sides past the grid's dimensions are ignored.
 * The grid must outlive the bc. Not collective. */
int tsr_bc_create(tsr_grid grid, const tsr_bc_desc *desc, tsr_bc *bc);
/* Frees the bc and sets *bc to NULL. A halo plan it is attached to must not be used afterwards
 * (detach it with tsr_halo_set_bc(h, NULL) first). Not collective. */
int tsr_bc_destroy(tsr_bc *bc);

/* Sets one side (or both) of dimension dim to kind; value is a Dirichlet constant (ignored by
 * the other kinds). Periodic is set and unset by the grid only: a change from or to periodic is
 * refused (TSR_ERR_INPUT). Not collective. */
int tsr_bc_set(tsr_bc bc, int dim, tsr_bc_side side, tsr_bc_kind kind, double value);
/* Sets one side (or both) of dimension dim to a Dirichlet function; `user` stays the caller's.
 * Refused on a periodic dimension. Not collective. */
int tsr_bc_set_function(tsr_bc bc, int dim, tsr_bc_side side, tsr_bc_func f, void *user);
/* The kind of one side (TSR_BC_LOW or TSR_BC_HIGH). Not collective. */
int tsr_bc_get(tsr_bc bc, int dim, tsr_bc_side side, tsr_bc_kind *kind);

/* The time handed to Dirichlet functions (0 at creation). Nothing in the library advances it:
 * the application sets it before the exchange whose ghosts should hold that time's values. Not
 * collective. */
int tsr_bc_set_time(tsr_bc bc, double t);
int tsr_bc_time(tsr_bc bc, double *t);

/* Whether the ghosts outside the domain never change once set: every side periodic, none or a
 * constant Dirichlet. Only then does a scheme that advances several steps per exchange (temporal
 * blocking, which reads ghosts several levels deep but sees the bc applied once) stay exact;
 * Neumann and Dirichlet functions are not. Not collective. */
int tsr_bc_is_static(tsr_bc bc, bool *is_static);

/* Writes the boundary values into the ghost cells outside the domain of every local block of
 * fields[0 .. nfields), every component, across each field's whole ghost width. Dimensions are
 * done in order, x then y then z, each over the block's full extent in the other dimensions,
 * ghosts included: an edge or corner ghost outside the domain in several dimensions takes the
 * rule of the last of them, applied to what the earlier ones wrote (two Neumann sides give the
 * diagonal mirror; Dirichlet along y wins over anything along x). Ghosts between blocks are
 * read, never written, so they must be exchanged first. A Neumann side needs the field's ghost
 * width to be at most the grid's size along that dimension (TSR_ERR_ARG otherwise). A halo
 * plan with a bc (tsr_halo_set_bc) calls this at the end of every exchange. Not collective. */
int tsr_bc_apply(tsr_bc bc, tsr_field *fields, int nfields);

#ifdef __cplusplus
}
#endif
#endif
