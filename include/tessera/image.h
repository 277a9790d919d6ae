/* Colour-mapped PNG snapshots of a field. */
#ifndef TESSERA_IMAGE_H
#define TESSERA_IMAGE_H

#include <stdbool.h>

#include "field.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes the owned cells of a 2D field (for 3D, the plane z = zslice; -1 = the middle one) as an
 * 8-bit RGB PNG, y = 0 at the bottom, through a perceptual colour map from vmin to vmax (equal
 * values: the field's own min and max). Grids larger than 4096 cells across are averaged down.
 * Rank 0 gathers and writes it under a temporary name, renamed when complete; an existing file
 * is replaced only if `force`. A failure is reported on every rank. Collective. */
int tsr_field_write_png(tsr_field f, const char *path, int64_t zslice, double vmin, double vmax,
                        bool force);

#ifdef __cplusplus
}
#endif
#endif
