/* tessera-imgpipe's synthetic frames and filters (imgpipe_filters.h): plain image code, OpenMP
 * over rows, no tessera. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include <tessera.h>

#include "imgpipe_filters.h"

/* ---- Synthetic frames ---- */

static uint8_t clamp255(int64_t v) {
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static int64_t pos_mod(int64_t a, int64_t n) {
    int64_t m = a % n;
    return m < 0 ? m + n : m;
}

#define NSHAPES 8

/* Frame f of the synthetic sequence, RGB: a gradient scrolling along x with a little noise,
 * then NSHAPES discs and squares drawn in order, each moving with its own velocity (wrapping
 * around the frame), so that the frames have edges that move. */
void synth_frame(uint64_t seed_hash, int64_t f, int64_t w, int64_t h, uint8_t *rgb) {
    int64_t cx[NSHAPES], cy[NSHAPES], rad[NSHAPES];
    uint8_t col[NSHAPES][3];
    int64_t side = w < h ? w : h;
    for (int s = 0; s < NSHAPES; s++) {
        uint64_t hs = tsr_splitmix64(seed_hash + 1 + (uint64_t)s);
        int64_t vx = (int64_t)((hs >> 40) % 9) - 4, vy = (int64_t)((hs >> 44) % 9) - 4;
        cx[s] = pos_mod((int64_t)(hs % (uint64_t)w) + vx * f, w);
        cy[s] = pos_mod((int64_t)((hs >> 20) % (uint64_t)h) + vy * f, h);
        rad[s] = 3 + (int64_t)((hs >> 48) % (uint64_t)(1 + side / 6));
        uint64_t c = tsr_splitmix64(hs);
        for (int k = 0; k < 3; k++)
            col[s][k] = (uint8_t)(c >> (8 * k));
    }
#pragma omp parallel for schedule(static)
    for (int64_t y = 0; y < h; y++) {
        uint8_t *row = rgb + 3 * w * y;
        for (int64_t x = 0; x < w; x++) {
            uint64_t n = tsr_splitmix64(seed_hash ^ (uint64_t)((f * h + y) * w + x));
            int64_t r = (x * 256 / w + 3 * f) & 255, g = y * 256 / h,
                    b = (x + y) * 128 / (w + h) + 64;
            row[3 * x + 0] = clamp255(r + (int64_t)(n & 15) - 8);
            row[3 * x + 1] = clamp255(g + (int64_t)((n >> 8) & 15) - 8);
            row[3 * x + 2] = clamp255(b + (int64_t)((n >> 16) & 15) - 8);
        }
        for (int s = 0; s < NSHAPES; s++) {
            int64_t dy = y - cy[s];
            if (dy < -rad[s] || dy > rad[s])
                continue;
            int64_t x0 = cx[s] - rad[s] < 0 ? 0 : cx[s] - rad[s];
            int64_t x1 = cx[s] + rad[s] > w - 1 ? w - 1 : cx[s] + rad[s];
            for (int64_t x = x0; x <= x1; x++) {
                int64_t dx = x - cx[s];
                if ((s & 1) == 0 && dx * dx + dy * dy > rad[s] * rad[s])
                    continue; /* even shapes are discs, odd ones squares */
                memcpy(row + 3 * x, col[s], 3);
            }
        }
    }
}

/* ---- The filters ---- */

void grayscale(const uint8_t *in, int64_t w, int64_t h, int c, uint8_t *out) {
#pragma omp parallel for schedule(static)
    for (int64_t y = 0; y < h; y++) {
        const uint8_t *p = in + y * w * c;
        uint8_t *o = out + y * w;
        if (c <= 2)
            for (int64_t x = 0; x < w; x++)
                o[x] = p[c * x];
        else
            for (int64_t x = 0; x < w; x++)
                o[x] =
                    (uint8_t)((77 * p[c * x] + 150 * p[c * x + 1] + 29 * p[c * x + 2] + 128) >> 8);
    }
}

void blur_weights(double sigma, int *radius, double *weights) {
    int r = (int)ceil(3.0 * sigma);
    *radius = r;
    if (r == 0) {
        weights[0] = 1.0;
        return;
    }
    double sum = 0.0;
    for (int k = -r; k <= r; k++) {
        weights[k + r] = exp(-(double)(k * k) / (2.0 * sigma * sigma));
        sum += weights[k + r];
    }
    for (int k = -r; k <= r; k++)
        weights[k + r] = weights[k + r] / sum;
}

static int64_t clampi(int64_t v, int64_t n) {
    return v < 0 ? 0 : v >= n ? n - 1 : v;
}

/* One row at a time per thread, both passes in a thread's scratch row, which stays in cache.
 * The weights are symmetric (w_-k = w_k), so each pass sums pairs first: a pixel is
 * w_0 a_0 + w_1 (a_-1 + a_1) + ... + w_r (a_-r + a_r), in that order; the vertical pairs are
 * added as integers (exact). The horizontal pass reads a row padded by r clamped cells. */
void blur(const uint8_t *in, int64_t w, int64_t h, int r, const double *wt, double *rows,
          uint8_t *out) {
#pragma omp parallel
    {
        double *restrict t = rows + (size_t)omp_get_thread_num() * (size_t)(2 * w + 2 * r) + r;
        double *restrict acc = t + w + r;
#pragma omp for schedule(static)
        for (int64_t y = 0; y < h; y++) {
            const uint8_t *restrict s0 = in + y * w;
            for (int64_t x = 0; x < w; x++)
                t[x] = wt[r] * (double)s0[x];
            for (int k = 1; k <= r; k++) {
                const uint8_t *restrict sm = in + clampi(y - k, h) * w;
                const uint8_t *restrict sp = in + clampi(y + k, h) * w;
                double wk = wt[r + k];
                for (int64_t x = 0; x < w; x++)
                    t[x] += wk * (double)(sm[x] + sp[x]);
            }
            for (int k = 1; k <= r; k++) {
                t[-k] = t[0];
                t[w - 1 + k] = t[w - 1];
            }
            for (int64_t x = 0; x < w; x++)
                acc[x] = wt[r] * t[x];
            for (int k = 1; k <= r; k++) {
                double wk = wt[r + k];
                for (int64_t x = 0; x < w; x++)
                    acc[x] += wk * (t[x - k] + t[x + k]);
            }
            uint8_t *o = out + y * w;
            for (int64_t x = 0; x < w; x++) {
                double v = acc[x];
                o[x] = v <= 0.0 ? 0 : v >= 255.0 ? 255 : (uint8_t)(v + 0.5);
            }
        }
    }
}

static uint8_t sobel_at(const uint8_t *a, const uint8_t *b, const uint8_t *c, int64_t xm, int64_t x,
                        int64_t xp) {
    /* a, b, c: rows y-1, y, y+1 (clamped); xm, xp: x-1, x+1 (clamped). */
    int gx = (a[xp] + 2 * b[xp] + c[xp]) - (a[xm] + 2 * b[xm] + c[xm]);
    int gy = (c[xm] + 2 * c[x] + c[xp]) - (a[xm] + 2 * a[x] + a[xp]);
    int m = abs(gx) + abs(gy);
    return (uint8_t)(m > 255 ? 255 : m);
}

void sobel(const uint8_t *in, int64_t w, int64_t h, uint8_t *out) {
#pragma omp parallel for schedule(static)
    for (int64_t y = 0; y < h; y++) {
        const uint8_t *a = in + clampi(y - 1, h) * w, *b = in + y * w,
                      *c = in + clampi(y + 1, h) * w;
        uint8_t *o = out + y * w;
        o[0] = sobel_at(a, b, c, 0, 0, clampi(1, w));
        for (int64_t x = 1; x < w - 1; x++)
            o[x] = sobel_at(a, b, c, x - 1, x, x + 1);
        if (w > 1)
            o[w - 1] = sobel_at(a, b, c, w - 2, w - 1, w - 1);
    }
}

void threshold(const uint8_t *in, int64_t n, int t, uint8_t *out) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++)
        out[i] = in[i] >= t ? 255 : 0;
}
