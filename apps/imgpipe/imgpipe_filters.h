/* tessera-imgpipe's synthetic frames and filters, whose formulas the top of imgpipe.c states.
 * Each runs over rows on the calling thread's OpenMP team; the caller owns every buffer. */
#ifndef TESSERA_IMGPIPE_FILTERS_H
#define TESSERA_IMGPIPE_FILTERS_H

#include <stdint.h>

/* Frame f of the synthetic sequence as w x h RGB bytes. */
void synth_frame(uint64_t seed_hash, int64_t f, int64_t w, int64_t h, uint8_t *rgb);
/* c channels (1-4) to gray; gray and gray + alpha copied. */
void grayscale(const uint8_t *in, int64_t w, int64_t h, int c, uint8_t *out);
/* The 2r + 1 Gaussian weights of sigma (r = ceil(3 sigma); sigma 0: r = 0, weight 1). */
void blur_weights(double sigma, int *radius, double *weights);
/* Separable blur of radius r with weights wt; rows: per OpenMP thread 2 w + 2 r doubles. */
void blur(const uint8_t *in, int64_t w, int64_t h, int r, const double *wt, double *rows,
          uint8_t *out);
/* |gx| + |gy| of the 3x3 Sobel kernels, edges clamped, capped at 255. */
void sobel(const uint8_t *in, int64_t w, int64_t h, uint8_t *out);
/* 255 where in >= t, else 0, over n bytes. */
void threshold(const uint8_t *in, int64_t n, int t, uint8_t *out);

#endif
