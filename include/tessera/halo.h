/* Ghost-cell exchange: one plan per (map, width, stencil), one message per neighbouring rank.
 * The plan is the exchange engine's (see remap.h): the regions around each block are filled
 * from whichever blocks they intersect, so a halo may be wider than the blocks next to it. */
#ifndef TESSERA_HALO_H
#define TESSERA_HALO_H

#include <stdint.h>

#include "bc.h"
#include "field.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tsr_halo_s *tsr_halo;

/* Builds the exchange plan: which parts of its ghost layer (faces with a star stencil; faces,
 * edges and corners with a box stencil) each local block receives from which blocks, found by
 * box intersection, aggregated into one message per peer rank; parts from blocks on the same
 * rank are copied directly. The ghost layer may be wider than the neighbouring blocks: it is
 * then filled from blocks further away. Ghosts across a periodic boundary wrap; across a
 * non-periodic one they are left alone, or set by the boundary conditions (tsr_halo_set_bc). A
 * width of less than 1, or wider than a periodic grid, is refused (TSR_ERR_INPUT); validated on
 * rank 0. Collective. */
int tsr_halo_create(tsr_map map, int width, tsr_stencil stencil, tsr_halo *halo);
/* Ends the caller's use of the plan; the map keeps the plan's geometry for a later
 * tsr_halo_create of the same width and stencil (a few per map, freed with the map), so destroy
 * the halo before its map. Not collective. */
int tsr_halo_destroy(tsr_halo *halo);

/* Starts exchanging the ghosts of up to 8 fields (each at least the plan's width), all their
 * components (at most 64 in all) in one message per peer: posts receives,
 * packs and sends, copies same-rank neighbours. Between begin and end the owned cells may be
 * read but not written, and the ghosts are undefined. Every rank must call it (ranks without
 * neighbours return at once). */
int tsr_halo_begin(tsr_halo h, tsr_field *fields, int nfields);
/* Completes the exchange started by tsr_halo_begin and unpacks the ghosts; then, if the plan has
 * boundary conditions (tsr_halo_set_bc), writes them into the ghosts outside the domain
 * (conditions of constant values only are written by tsr_halo_begin already). */
int tsr_halo_end(tsr_halo h);
/* tsr_halo_begin followed by tsr_halo_end. */
int tsr_halo_exchange(tsr_halo h, tsr_field *fields, int nfields);

/* Attaches boundary conditions to the plan (NULL: none, ghosts outside a non-periodic grid left
 * alone): every exchange then applies them to the exchanged fields (tsr_bc_apply), by its end. The
 * bc must be of the plan's grid and stays the caller's: it must outlive the plan or be detached.
 * Refused (TSR_ERR_ARG) while an exchange is in flight. Not collective, but every rank should
 * attach the same conditions. */
int tsr_halo_set_bc(tsr_halo h, tsr_bc bc);

/* The boundary conditions attached with tsr_halo_set_bc (NULL: none). Not collective. */
tsr_bc tsr_halo_bc(tsr_halo h);
int tsr_halo_width(tsr_halo h);
tsr_stencil tsr_halo_stencil(tsr_halo h);
tsr_map tsr_halo_map(tsr_halo h);
/* Neighbouring ranks and bytes this rank sends per exchange of one field. Not collective. */
int tsr_halo_stats(tsr_halo h, int *peers, int64_t *bytes_sent);

/* Self-test: fills every owned cell with a value derived from its global index and every ghost
 * with a sentinel, exchanges, and checks every ghost cell: faces, edges and corners the stencil
 * covers hold their neighbour's value (wrapped when periodic); the rest keep the sentinel (the
 * plan's boundary conditions are set aside for the test). Rank
 * 0 prints the first mismatches per block and direction; *bad receives the global count. Returns
 * TSR_ERR_VERIFY on every rank if any ghost is wrong. Collective. */
int tsr_halo_verify(tsr_halo h, int64_t *bad);

#ifdef __cplusplus
}
#endif
#endif
