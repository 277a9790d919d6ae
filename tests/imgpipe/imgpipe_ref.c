/*
 * imgpipe_ref.c - plain serial reference for tessera-imgpipe.
 *
 * No library code: the same formulas as the app, written plainly pixel by pixel, define the
 * expected checksum bit for bit.
 *
 * Usage: imgpipe_ref (--frames N [--size WxH] [--seed S] | --input DIR)
 *                    [--sigma S] [--threshold T]
 *
 * Prints "checksum <16 hex digits>" on stdout. Errors go to stderr with exit status 2.
 */
#include <dirent.h>
#include <math.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void usage(FILE *f) {
    fprintf(f, "usage: imgpipe_ref (--frames N [--size WxH] [--seed S] | --input DIR)\n"
               "                   [--sigma S] [--threshold T]\n");
}

static _Noreturn void fail(const char *msg, const char *arg) {
    if (arg != NULL) {
        fprintf(stderr, "imgpipe_ref: %s: '%s'\n", msg, arg);
    } else {
        fprintf(stderr, "imgpipe_ref: %s\n", msg);
    }
    usage(stderr);
    exit(2);
}

#include "ref_common.h"

typedef struct image {
    int64_t w, h, c;
    uint8_t *px; /* row-major, channels fastest */
} image;

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fail("out of memory", NULL);
    }
    return p;
}

static int64_t clamp_index(int64_t v, int64_t n) {
    if (v < 0) {
        return 0;
    }
    if (v > n - 1) {
        return n - 1;
    }
    return v;
}

static int64_t clamp_byte(int64_t v) {
    return v < 0 ? 0 : (v > 255 ? 255 : v);
}

/* ---- Synthetic frames: gradient + noise, then 8 moving discs/squares painted in order. ---- */

static image synthetic(uint64_t seed_hash, int64_t f, int64_t w, int64_t h) {
    image im = {w, h, 3, xmalloc((size_t)(w * h * 3))};
    int64_t side = w < h ? w : h;
    for (int64_t y = 0; y < h; y++) {
        for (int64_t x = 0; x < w; x++) {
            uint64_t n = splitmix64(seed_hash ^ (uint64_t)((f * h + y) * w + x));
            int64_t r = ((x * 256) / w + 3 * f) % 256; /* non-negative, so % is & 255 */
            int64_t g = (y * 256) / h;
            int64_t b = ((x + y) * 128) / (w + h) + 64;
            uint8_t rgb[3] = {(uint8_t)clamp_byte(r + (int64_t)(n % 16) - 8),
                              (uint8_t)clamp_byte(g + (int64_t)((n >> 8) % 16) - 8),
                              (uint8_t)clamp_byte(b + (int64_t)((n >> 16) % 16) - 8)};
            for (int s = 0; s < 8; s++) {
                uint64_t hs = splitmix64(seed_hash + 1 + (uint64_t)s);
                int64_t vx = (int64_t)((hs >> 40) % 9) - 4;
                int64_t vy = (int64_t)((hs >> 44) % 9) - 4;
                int64_t cx = ((int64_t)(hs % (uint64_t)w) + vx * f) % w;
                int64_t cy = ((int64_t)((hs >> 20) % (uint64_t)h) + vy * f) % h;
                if (cx < 0) {
                    cx += w;
                }
                if (cy < 0) {
                    cy += h;
                }
                int64_t rad = 3 + (int64_t)((hs >> 48) % (uint64_t)(1 + side / 6));
                int64_t dx = x - cx, dy = y - cy;
                int inside;
                if (s % 2 == 0) {
                    inside = dx * dx + dy * dy <= rad * rad;
                } else {
                    inside = dx >= -rad && dx <= rad && dy >= -rad && dy <= rad;
                }
                if (inside) {
                    uint64_t col = splitmix64(hs);
                    rgb[0] = (uint8_t)(col & 255);
                    rgb[1] = (uint8_t)((col >> 8) & 255);
                    rgb[2] = (uint8_t)((col >> 16) & 255);
                }
            }
            memcpy(&im.px[3 * (y * w + x)], rgb, 3);
        }
    }
    return im;
}

/* ---- PNG input, converted to 8 bits per channel. ---- */

static int read_png(const char *path, image *im) {
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        return -1;
    }
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_bytep *rows = NULL;
    if (png == NULL || info == NULL || setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(rows);
        fclose(fp);
        return -1;
    }
    png_init_io(png, fp);
    png_read_info(png, info);
    int type = png_get_color_type(png, info);
    int depth = png_get_bit_depth(png, info);
    if (type == PNG_COLOR_TYPE_PALETTE) {
        png_set_palette_to_rgb(png);
    }
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) {
        png_set_expand_gray_1_2_4_to_8(png);
    }
    if (depth == 16) {
        png_set_strip_16(png);
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    im->w = png_get_image_width(png, info);
    im->h = png_get_image_height(png, info);
    im->c = png_get_channels(png, info);
    im->px = xmalloc((size_t)(im->w * im->h * im->c));
    rows = xmalloc(sizeof *rows * (size_t)im->h);
    for (int64_t y = 0; y < im->h; y++) {
        rows[y] = im->px + y * im->w * im->c;
    }
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    fclose(fp);
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- The filters, one pixel at a time. ---- */

static image to_gray(const image *in) {
    image out = {in->w, in->h, 1, xmalloc((size_t)(in->w * in->h))};
    for (int64_t i = 0; i < in->w * in->h; i++) {
        const uint8_t *p = &in->px[i * in->c];
        if (in->c >= 3) {
            out.px[i] = (uint8_t)((77 * p[0] + 150 * p[1] + 29 * p[2] + 128) / 256);
        } else {
            out.px[i] = p[0];
        }
    }
    return out;
}

static image gaussian(const image *in, double sigma) {
    int64_t w = in->w, h = in->h;
    int r = (int)ceil(3.0 * sigma);
    double *wt = xmalloc(sizeof(double) * (size_t)(2 * r + 1));
    if (r == 0) {
        wt[0] = 1.0;
    } else {
        double total = 0.0;
        for (int k = -r; k <= r; k++) {
            wt[k + r] = exp(-(double)(k * k) / (2.0 * sigma * sigma));
            total += wt[k + r];
        }
        for (int k = -r; k <= r; k++) {
            wt[k + r] = wt[k + r] / total;
        }
    }
    /* Vertical pass first, then horizontal. The weights are symmetric: each sum is
     * w_0 a_0 + w_1 (a_-1 + a_1) + ... + w_r (a_-r + a_r) in that order, the vertical pairs
     * added as integers. */
    double *v = xmalloc(sizeof(double) * (size_t)(w * h));
    for (int64_t y = 0; y < h; y++) {
        for (int64_t x = 0; x < w; x++) {
            double s = wt[r] * (double)in->px[y * w + x];
            for (int k = 1; k <= r; k++) {
                int pair =
                    in->px[clamp_index(y - k, h) * w + x] + in->px[clamp_index(y + k, h) * w + x];
                s += wt[r + k] * (double)pair;
            }
            v[y * w + x] = s;
        }
    }
    image out = {w, h, 1, xmalloc((size_t)(w * h))};
    for (int64_t y = 0; y < h; y++) {
        for (int64_t x = 0; x < w; x++) {
            const double *row = v + y * w;
            double s = wt[r] * row[x];
            for (int k = 1; k <= r; k++) {
                s += wt[r + k] * (row[clamp_index(x - k, w)] + row[clamp_index(x + k, w)]);
            }
            uint8_t q;
            if (s <= 0.0) {
                q = 0;
            } else if (s >= 255.0) {
                q = 255;
            } else {
                q = (uint8_t)floor(s + 0.5);
            }
            out.px[y * w + x] = q;
        }
    }
    free(v);
    free(wt);
    return out;
}

static image sobel(const image *in) {
    int64_t w = in->w, h = in->h;
    image out = {w, h, 1, xmalloc((size_t)(w * h))};
    for (int64_t y = 0; y < h; y++) {
        for (int64_t x = 0; x < w; x++) {
            int p[3][3]; /* p[dy + 1][dx + 1] */
            for (int dy = -1; dy <= 1; dy++) {
                for (int dx = -1; dx <= 1; dx++) {
                    p[dy + 1][dx + 1] = in->px[clamp_index(y + dy, h) * w + clamp_index(x + dx, w)];
                }
            }
            int gx = p[0][2] + 2 * p[1][2] + p[2][2] - p[0][0] - 2 * p[1][0] - p[2][0];
            int gy = p[2][0] + 2 * p[2][1] + p[2][2] - p[0][0] - 2 * p[0][1] - p[0][2];
            int m = (gx < 0 ? -gx : gx) + (gy < 0 ? -gy : gy);
            out.px[y * w + x] = (uint8_t)(m > 255 ? 255 : m);
        }
    }
    return out;
}

int main(int argc, char **argv) {
    int64_t frames = 0, size[3] = {640, 480, 1}, seed = 1, threshold = 64;
    double sigma = 1.0;
    const char *input = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if ((v = opt_value(argc, argv, &i, "--frames")) != NULL) {
            const char *e;
            if (!parse_pos_i64(v, &e, &frames) || *e) {
                fail("invalid --frames", v);
            }
        } else if ((v = opt_value(argc, argv, &i, "--size")) != NULL) {
            if (parse_grid(v, size) != 2) {
                fail("invalid --size (expected WxH)", v);
            }
        } else if ((v = opt_value(argc, argv, &i, "--seed")) != NULL) {
            char *e;
            seed = strtoll(v, &e, 10);
            if (*e || seed < 0) {
                fail("invalid --seed", v);
            }
        } else if ((v = opt_value(argc, argv, &i, "--threshold")) != NULL) {
            char *e;
            threshold = strtoll(v, &e, 10);
            if (*e || threshold < 0 || threshold > 255) {
                fail("invalid --threshold", v);
            }
        } else if ((v = opt_value(argc, argv, &i, "--sigma")) != NULL) {
            char *e;
            sigma = strtod(v, &e);
            if (*e || !(sigma >= 0.0 && sigma <= 20.0)) {
                fail("invalid --sigma", v);
            }
        } else if ((v = opt_value(argc, argv, &i, "--input")) != NULL) {
            input = v;
        } else {
            fail("unknown argument", argv[i]);
        }
    }
    if ((input == NULL) == (frames == 0)) {
        fail("give exactly one of --frames and --input", NULL);
    }

    char **names = NULL;
    int64_t nnames = 0;
    if (input != NULL) {
        DIR *d = opendir(input);
        if (d == NULL) {
            fail("cannot open directory", input);
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            size_t len = strlen(e->d_name);
            if (len >= 5 && strcasecmp(e->d_name + len - 4, ".png") == 0) {
                names = realloc(names, sizeof *names * (size_t)(nnames + 1));
                if (names == NULL) {
                    fail("out of memory", NULL);
                }
                names[nnames] = xmalloc(strlen(input) + len + 2);
                sprintf(names[nnames], "%s/%s", input, e->d_name);
                nnames++;
            }
        }
        closedir(d);
        if (nnames == 0) {
            fail("no .png files in", input);
        }
        qsort(names, (size_t)nnames, sizeof *names, by_name);
        frames = nnames;
    }

    uint64_t seed_hash = splitmix64((uint64_t)seed);
    uint64_t checksum = 0, index = 0;
    for (int64_t f = 0; f < frames; f++) {
        image src;
        if (input != NULL) {
            if (read_png(names[f], &src) != 0) {
                fail("cannot read PNG", names[f]);
            }
        } else {
            src = synthetic(seed_hash, f, size[0], size[1]);
        }
        image g = to_gray(&src);
        image b = gaussian(&g, sigma);
        image s = sobel(&b);
        for (int64_t i = 0; i < s.w * s.h; i++) {
            uint64_t value = s.px[i] >= threshold ? 255 : 0;
            checksum += splitmix64(splitmix64(index) ^ value);
            index++;
        }
        free(src.px);
        free(g.px);
        free(b.px);
        free(s.px);
    }
    for (int64_t i = 0; i < nnames; i++) {
        free(names[i]);
    }
    free(names);
    printf("checksum %016llx\n", (unsigned long long)checksum);
    return 0;
}
