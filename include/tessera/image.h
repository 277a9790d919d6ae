/* 8-bit images and their PNG files (one codec for the whole project), and colour-mapped PNG
 * snapshots of a field. */
#ifndef TESSERA_IMAGE_H
#define TESSERA_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "field.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest side a PNG can have (the format's 31-bit limit). */
#define TSR_IMAGE_MAX_SIDE INT64_C(2147483647)

/* An 8-bit image: w x h pixels of `channels` bytes (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA), rows
 * top to bottom, channels fastest. px is owned by the image (tsr_image_free). */
typedef struct tsr_image {
    int64_t w, h;
    int channels;
    uint8_t *px;
} tsr_image;

/* Decodes a PNG held in memory into *img (which it fills; free it with tsr_image_free). Every
 * PNG format becomes 8 bits per channel: palette to RGB, gray below 8 bits expanded, 16 bits
 * stripped to the high byte, interlaced images deinterlaced; alpha is kept (1, 2, 3 or 4
 * channels). Sides larger than max_side (at most TSR_IMAGE_MAX_SIDE; <= 0 means that) are
 * refused before any pixel memory is allocated, and so is pixel data that the file is too short
 * to hold. Any bytes are safe to give. On failure *img is zeroed and TSR_ERR_INPUT carries one
 * message naming `name` and the reason (TSR_ERR_MEMORY when a valid image does not fit in
 * memory). The bytes stay the caller's. Not collective. */
int tsr_image_decode_png(tsr_ctx ctx, const char *name, const void *bytes, size_t n,
                         int64_t max_side, tsr_image *img);

/* Checks `path` with tsr_file_check_input (regular files only: a FIFO is refused, not opened),
 * reads the whole file and decodes it (tsr_image_decode_png). TSR_ERR_INPUT for a path or a file
 * that is not a PNG this can decode, naming the file. Not collective. */
int tsr_image_read_png(tsr_ctx ctx, const char *path, int64_t max_side, tsr_image *img);

/* Reads only the header of the PNG file `path` (after tsr_file_check_input): its size and the
 * channels tsr_image_decode_png will give it. The pixel data is not looked at, so a file that
 * probes well may still fail to decode. TSR_ERR_INPUT naming the file. Not collective. */
int tsr_image_probe_png(tsr_ctx ctx, const char *path, int64_t max_side, int64_t *w, int64_t *h,
                        int *channels);

/* Writes img as an 8-bit PNG (gray, gray+alpha, RGB or RGBA by its channels; fast compression)
 * atomically through tsr_file_open/tsr_file_commit: a failure never leaves a partial file under
 * `path`, and an existing file is replaced only with `force`. TSR_ERR_IO naming the file and the
 * system's reason; TSR_ERR_ARG for an image that is not valid. The image stays the caller's. Not
 * collective. */
int tsr_image_write_png(tsr_ctx ctx, const char *path, bool force, const tsr_image *img);

/* Frees px and sets it to NULL (w, h, channels zeroed too); safe on a zeroed image. */
void tsr_image_free(tsr_image *img);

/* Writes the owned cells of a 2D scalar field (for 3D, the plane z = zslice; -1 = the middle one)
 * as an 8-bit RGB PNG, y = 0 at the bottom, through a perceptual colour map from vmin to vmax
 * (equal values: the field's own min and max). Grids larger than 4096 cells across are averaged
 * down. Rank 0 gathers and writes it with tsr_image_write_png (temporary name, renamed when
 * complete; an existing file is replaced only if `force`). A field of several components is
 * TSR_ERR_ARG. A failure is reported on every rank. Collective. */
int tsr_field_write_png(tsr_field f, const char *path, int64_t zslice, double vmin, double vmax,
                        bool force);

#ifdef __cplusplus
}
#endif
#endif
