/* Moving fields between two maps or decompositions of the same grid: the exchange engine's copy
 * plan with the destination blocks' owned boxes as targets. */
#ifndef TESSERA_REMAP_H
#define TESSERA_REMAP_H

#include <stdint.h>

#include "field.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tsr_remap_s *tsr_remap;

/* Builds the plan that copies every owned cell of a field on map `from` to the field on map `to`
 * that owns it: both maps may have different decompositions (block counts and cuts) of grids of
 * the same size, and different strategies. One aggregated message per peer rank; blocks that stay
 * on this rank are copied directly. Keeps references to both maps, which must outlive the plan.
 * Collective. */
int tsr_remap_create(tsr_map from, tsr_map to, tsr_remap *plan);
/* Frees the plan (not the maps). Not collective. */
int tsr_remap_destroy(tsr_remap *plan);

/* Copies the owned cells of src[f] (on `from`) into dst[f] (on `to`), all components, for f <
 * nfields (at most 8). src[f] and dst[f] must have the same number of components. The ghost
 * cells of dst[f] are unspecified afterwards, until its next halo exchange: a block that both
 * decompositions cut alike, with src[f] and dst[f] of the same width, travels as one span of
 * memory from its first owned cell to its last, ghosts in between included. Collective. */
int tsr_remap_execute(tsr_remap plan, tsr_field *src, tsr_field *dst, int nfields);

/* Cells this rank receives from other ranks (not counting local copies), and bytes it sends, per
 * remap of one scalar field. Not collective. */
int tsr_remap_stats(tsr_remap plan, int64_t *cells_received, int64_t *bytes_sent);

/* Moves fields to map `to` in place: each handle stays valid and afterwards holds the same
 * values (owned cells; ghosts are unspecified until the next exchange) on the blocks `to` gives
 * this rank, with its name, width, components and description unchanged. A block that stays on
 * this rank with the same box keeps its storage (tsr_field_get_block gives the same data
 * pointer); only arriving blocks are allocated. `to` must be a map of a grid of the same size;
 * the fields keep a reference to it, so it must outlive them. Collective. */
int tsr_field_migrate(tsr_field *fields, int nfields, tsr_map to);

#ifdef __cplusplus
}
#endif
#endif
