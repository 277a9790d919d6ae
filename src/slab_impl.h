/* Block storage: the blocks one field allocates at once share one region, so that small blocks
 * sit on transparent huge pages too (tsr__aligned_alloc gives a region of 4 MiB and more huge
 * pages). 4 KiB pages cost every pass over a block page walks, and cost MPI's single-copy
 * transfers (CMA) twice the time of huge ones: a remap of 512 KiB blocks took 1.6x an
 * MPI_Alltoallv of the same bytes from one buffer.
 *
 * Each block is released on its own (a block that stays through a migration outlives the field
 * it was allocated for); the region goes when its last block does, and a released block's whole
 * pages go back to the system at once, so migrations do not pile up memory. Not thread-safe. */
#ifndef TSR_SLAB_IMPL_H
#define TSR_SLAB_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Allocates n blocks of bytes[i] each from one region: out[i] is 64-byte aligned, or NULL where
 * bytes[i] is 0. The contents are undefined. False when out of memory (nothing allocated then:
 * every out[i] is NULL). */
bool tsr__slab_alloc(int64_t n, const size_t *bytes, double **out);

/* Releases one block of tsr__slab_alloc; NULL is ignored. */
void tsr__slab_free(double *block);

#endif
