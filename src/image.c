/* The PNG codec (decode from memory, read, probe, atomic write) and PNG snapshots of fields:
 * rank 0 gathers one plane of a field and writes it through the same writer. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <limits.h>
#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "field_impl.h"
#include "tessera/file.h"
#include "tessera/image.h"

#define MAX_SIDE 4096

/* Approximately matplotlib's "inferno": black, purple, red, orange, pale yellow. */
static void colormap(double t, unsigned char rgb[3]) {
    static const double stops[5][3] = {
        {0, 0, 4}, {87, 16, 110}, {188, 55, 84}, {249, 142, 9}, {252, 255, 164}};
    if (!(t > 0))
        t = 0;
    if (t > 1)
        t = 1;
    double s = t * 4;
    int i = s >= 4 ? 3 : (int)s;
    double u = s - i;
    for (int c = 0; c < 3; c++)
        rgb[c] = (unsigned char)lround(stops[i][c] + u * (stops[i + 1][c] - stops[i][c]));
}

/* ---- The PNG codec ---- */

/* libpng reports through longjmp; the message is kept for ours. */
typedef struct png_msg {
    char text[160];
} png_msg;

static void on_png_error(png_structp png, png_const_charp msg) {
    png_msg *m = png_get_error_ptr(png);
    if (m)
        snprintf(m->text, sizeof m->text, "%s", msg);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg; /* recoverable: not worth a message */
}

static int64_t side_limit(int64_t max_side) {
    return max_side <= 0 || max_side > TSR_IMAGE_MAX_SIDE ? TSR_IMAGE_MAX_SIDE : max_side;
}

/* Channels after the decoder's transforms, for a colour type; 0 for an invalid one. */
static int channels_of(int color_type) {
    switch (color_type) {
    case PNG_COLOR_TYPE_GRAY:
        return 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        return 2;
    case PNG_COLOR_TYPE_RGB:
    case PNG_COLOR_TYPE_PALETTE:
        return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA:
        return 4;
    default:
        return 0;
    }
}

typedef struct mem_src {
    const uint8_t *p;
    size_t n, pos;
} mem_src;

static void mem_read(png_structp png, png_bytep out, size_t len) {
    mem_src *s = png_get_io_ptr(png);
    if (len > s->n - s->pos)
        png_error(png, "truncated: the file ends inside the image");
    memcpy(out, s->p + s->pos, len);
    s->pos += len;
}

/* What a decode owns, kept in the caller's frame so that nothing changes under setjmp. */
typedef struct dec_state {
    png_structp png;
    png_infop info;
    png_bytep *rows;
    tsr_image img;
    png_msg msg;
    bool nomem;
} dec_state;

/* libpng's own allocations (chunk buffers, rows, zlib) never need more than this; a chunk that
 * claims gigabytes (found by fuzzing: libpng 1.6 zero-fills a buffer of the claimed size before
 * reading it) fails as an error instead of taking the memory. The image itself is allocated by
 * decode, after checking the data can hold it. */
#define PNG_MALLOC_CAP ((png_alloc_size_t)64 << 20)

static png_voidp capped_malloc(png_structp png, png_alloc_size_t size) {
    (void)png;
    return size <= PNG_MALLOC_CAP ? malloc(size) : NULL;
}

static void capped_free(png_structp png, png_voidp p) {
    (void)png;
    free(p);
}

/* The libpng part: 0, or -1 with the reason in st->msg (st->nomem for a failed allocation). */
static int decode(dec_state *st, mem_src *src, int64_t max_side) {
    if (setjmp(png_jmpbuf(st->png)))
        return -1;
    png_structp png = st->png;
    png_infop info = st->info;
    png_set_read_fn(png, src, mem_read);
    png_set_user_limits(png, (png_uint_32)max_side, (png_uint_32)max_side);
    /* No chunk can be longer than the input, nor than 8 MiB: a chunk header claiming 1.7 GB (found
     * by fuzzing) is refused instead of allocated. */
    png_set_chunk_malloc_max(png, src->n < (8u << 20) ? (png_alloc_size_t)src->n + 1 : 8u << 20);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    /* Deflate expands at most 1032 times: data that cannot hold the rows is refused before
     * anything the size of the image is allocated. Rows are rowbytes + 1 (filter byte). */
    uint64_t raw = (uint64_t)h * ((uint64_t)png_get_rowbytes(png, info) + 1);
    if (raw / 1032 > (uint64_t)(src->n - src->pos) + 64)
        png_error(png, "truncated: too few bytes for the image's size");
    int type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    /* A palette's or a colour type's transparency (tRNS) would become an alpha channel the
     * header probe does not count: alpha is ignored. */
    if (png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_strip_alpha(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16)
        png_set_strip_16(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int c = png_get_channels(png, info);
    if (c < 1 || c > 4 || png_get_bit_depth(png, info) != 8 ||
        png_get_rowbytes(png, info) != (size_t)w * (size_t)c)
        png_error(png, "unsupported pixel format");
    if ((uint64_t)w * h > SIZE_MAX / 4) {
        st->nomem = true;
        png_error(png, "too large to hold in memory");
    }
    st->img.px = malloc((size_t)w * h * (size_t)c);
    st->rows = malloc(sizeof(png_bytep) * h);
    if (!st->img.px || !st->rows) {
        st->nomem = true;
        png_error(png, "out of memory");
    }
    for (png_uint_32 y = 0; y < h; y++)
        st->rows[y] = st->img.px + (size_t)y * w * (size_t)c;
    png_read_image(png, st->rows);
    png_read_end(png, NULL);
    st->img.w = w;
    st->img.h = h;
    st->img.channels = c;
    return 0;
}

int tsr_image_decode_png(tsr_ctx ctx, const char *name, const void *bytes, size_t n,
                         int64_t max_side, tsr_image *img) {
    memset(img, 0, sizeof *img);
    if (!name)
        name = "(memory)";
    TSR_CHECK(ctx, bytes || n == 0, TSR_ERR_ARG, "PNG '%s': no bytes given", name);
    TSR_CHECK(ctx, n >= 8 && png_sig_cmp(bytes, 0, 8) == 0, TSR_ERR_INPUT,
              "cannot read PNG '%s': not a PNG file", name);
    dec_state st;
    memset(&st, 0, sizeof st);
    mem_src src = {.p = bytes, .n = n, .pos = 0};
    st.png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &st.msg, on_png_error, on_png_warning,
                                      NULL, capped_malloc, capped_free);
    st.info = st.png ? png_create_info_struct(st.png) : NULL;
    int rc = st.png && st.info ? decode(&st, &src, side_limit(max_side)) : -1;
    if (!st.png || !st.info)
        st.nomem = true;
    png_destroy_read_struct(&st.png, &st.info, NULL);
    free(st.rows);
    if (rc != 0) {
        free(st.img.px);
        TSR_CHECK(ctx, 0, st.nomem ? TSR_ERR_MEMORY : TSR_ERR_INPUT, "cannot read PNG '%s': %s",
                  name, st.msg.text[0] ? st.msg.text : "out of memory");
    }
    *img = st.img;
    return TSR_SUCCESS;
}

/* Reads at most `max` bytes of a file: the whole file, or its first bytes. The file is checked
 * to be a regular one first and opened without blocking, so a FIFO swapped in meanwhile cannot
 * hang the read. */
static int read_bytes(tsr_ctx ctx, const char *path, size_t max, uint8_t **bytes, size_t *n) {
    *bytes = NULL;
    *n = 0;
    TSR_CALL(ctx, tsr_file_check_input(ctx, "PNG", path));
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    TSR_CHECK(ctx, fd >= 0, TSR_ERR_INPUT, "cannot read PNG '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        TSR_CHECK(ctx, 0, TSR_ERR_INPUT, "cannot read PNG '%s': not a regular file", path);
    }
    size_t want = (uint64_t)sb.st_size < max ? (size_t)sb.st_size : max;
    uint8_t *buf = malloc(want ? want : 1);
    if (!buf) {
        close(fd);
        TSR_CHECK(ctx, 0, TSR_ERR_MEMORY, "cannot read PNG '%s': no memory for %zu bytes", path,
                  want);
    }
    size_t got = 0;
    int e = 0;
    while (got < want) {
        ssize_t r = read(fd, buf + got, want - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            e = errno;
        if (r <= 0)
            break; /* an error, or the file shrank: what is there gets decoded (and refused) */
        got += (size_t)r;
    }
    close(fd);
    if (e) {
        free(buf);
        TSR_CHECK(ctx, 0, TSR_ERR_IO, "cannot read PNG '%s': %s", path, strerror(e));
    }
    *bytes = buf;
    *n = got;
    return TSR_SUCCESS;
}

int tsr_image_read_png(tsr_ctx ctx, const char *path, int64_t max_side, tsr_image *img) {
    memset(img, 0, sizeof *img);
    uint8_t *bytes = NULL;
    size_t n = 0;
    TSR_CALL(ctx, read_bytes(ctx, path, SIZE_MAX, &bytes, &n));
    int err = tsr_image_decode_png(ctx, path, bytes, n, max_side, img);
    free(bytes);
    TSR_CALL(ctx, err);
    return TSR_SUCCESS;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int tsr_image_probe_png(tsr_ctx ctx, const char *path, int64_t max_side, int64_t *w, int64_t *h,
                        int *channels) {
    uint8_t *b = NULL;
    size_t n = 0;
    TSR_CALL(ctx, read_bytes(ctx, path, 33, &b, &n)); /* signature, then the IHDR chunk */
    const char *why = NULL;
    int64_t wi = 0, hi = 0;
    int c = 0;
    if (n < 8 || png_sig_cmp(b, 0, 8) != 0)
        why = "not a PNG file";
    else if (n < 33 || be32(b + 8) != 13 || memcmp(b + 12, "IHDR", 4) != 0)
        why = "truncated or missing header (IHDR)";
    else {
        wi = be32(b + 16);
        hi = be32(b + 20);
        int depth = b[24], type = b[25];
        c = channels_of(type);
        bool depth_ok = depth == 8 || depth == 16 ||
                        ((type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_PALETTE) &&
                         (depth == 1 || depth == 2 || depth == 4));
        if (type == PNG_COLOR_TYPE_PALETTE && depth == 16)
            depth_ok = false;
        if (wi < 1 || hi < 1 || wi > TSR_IMAGE_MAX_SIDE || hi > TSR_IMAGE_MAX_SIDE)
            why = "invalid image size in the header";
        else if (c == 0 || !depth_ok || b[26] != 0 || b[27] != 0 || b[28] > 1)
            why = "unsupported pixel format";
        else if (wi > side_limit(max_side) || hi > side_limit(max_side))
            why = "too large";
        /* As in decoding: deflate expands at most 1032 times, so a file too short for the image
         * it announces is refused before anyone allocates frames of that size. */
        struct stat st;
        uint64_t row = ((uint64_t)wi * (uint64_t)c * (uint64_t)depth + 7) / 8 + 1;
        if (!why && stat(path, &st) == 0 && (uint64_t)hi * row / 1032 > (uint64_t)st.st_size + 64)
            why = "truncated: too few bytes for the image's size";
    }
    free(b);
    if (why && strcmp(why, "too large") == 0)
        TSR_CHECK(ctx, 0, TSR_ERR_INPUT,
                  "cannot read PNG '%s': %lldx%lld is larger than %lld "
                  "pixels on a side",
                  path, (long long)wi, (long long)hi, (long long)side_limit(max_side));
    TSR_CHECK(ctx, !why, TSR_ERR_INPUT, "cannot read PNG '%s': %s", path, why);
    *w = wi;
    *h = hi;
    *channels = c;
    return TSR_SUCCESS;
}

typedef struct enc_state {
    png_structp png;
    png_infop info;
    png_msg msg;
} enc_state;

/* The libpng part of a write: 0, or -1 with libpng's reason in st->msg. */
static int encode(enc_state *st, FILE *fp, const tsr_image *img) {
    static const int types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                 PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    if (setjmp(png_jmpbuf(st->png)))
        return -1;
    png_init_io(st->png, fp);
    png_set_compression_level(st->png, 1); /* fast: writers are often on the coordinator */
    png_set_IHDR(st->png, st->info, (png_uint_32)img->w, (png_uint_32)img->h, 8,
                 types[img->channels], PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(st->png, st->info);
    const size_t stride = (size_t)img->w * (size_t)img->channels;
    for (int64_t y = 0; y < img->h; y++)
        png_write_row(st->png, img->px + (size_t)y * stride);
    png_write_end(st->png, NULL);
    return 0;
}

int tsr_image_write_png(tsr_ctx ctx, const char *path, bool force, const tsr_image *img) {
    TSR_CHECK(ctx,
              img && img->px && img->w >= 1 && img->h >= 1 && img->w <= TSR_IMAGE_MAX_SIDE &&
                  img->h <= TSR_IMAGE_MAX_SIDE && img->channels >= 1 && img->channels <= 4,
              TSR_ERR_ARG, "PNG '%s': not a valid image (%lldx%lld, %d channels)", path ? path : "",
              img ? (long long)img->w : 0LL, img ? (long long)img->h : 0LL,
              img ? img->channels : 0);
    tsr_file_out out;
    TSR_CALL(ctx, tsr_file_open(ctx, path, force, &out));
    enc_state st;
    memset(&st, 0, sizeof st);
    st.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &st.msg, on_png_error, on_png_warning);
    st.info = st.png ? png_create_info_struct(st.png) : NULL;
    errno = 0;
    int rc = st.png && st.info ? encode(&st, out.fp, img) : -1;
    int e = errno;
    png_destroy_write_struct(&st.png, &st.info);
    if (rc != 0) {
        bool os = ferror(out.fp) && e != 0;
        tsr_file_abandon(&out);
        TSR_CHECK(ctx, 0, TSR_ERR_IO, "cannot write PNG '%s': %s", path,
                  os               ? strerror(e)
                  : st.msg.text[0] ? st.msg.text
                                   : "out of memory");
    }
    TSR_CALL(ctx, tsr_file_commit(ctx, &out));
    return TSR_SUCCESS;
}

void tsr_image_free(tsr_image *img) {
    if (!img)
        return;
    free(img->px);
    memset(img, 0, sizeof *img);
}

/* ---- PNG snapshots of fields ---- */

/* Rank 0: the plane averaged down to at most MAX_SIDE a side, colour-mapped, written. */
static int write_png(tsr_ctx ctx, const char *path, bool force, const float *plane, int64_t nx,
                     int64_t ny, double vmin, double vmax) {
    int64_t step = 1;
    while ((nx + step - 1) / step > MAX_SIDE || (ny + step - 1) / step > MAX_SIDE)
        step++;
    if (vmin == vmax) {
        vmin = INFINITY;
        vmax = -INFINITY;
        for (int64_t i = 0; i < nx * ny; i++) {
            if (plane[i] < vmin)
                vmin = plane[i];
            if (plane[i] > vmax)
                vmax = plane[i];
        }
        if (!(vmax > vmin))
            vmax = vmin + 1;
    }
    int64_t w = (nx + step - 1) / step, h = (ny + step - 1) / step;
    tsr_image img = {.w = w, .h = h, .channels = 3, .px = malloc((size_t)(w * h * 3))};
    TSR_CHECK(ctx, img.px, TSR_ERR_MEMORY, "cannot allocate the %lldx%lld PNG image", (long long)w,
              (long long)h);
    for (int64_t r = 0; r < h; r++) {
        int64_t y0 = (h - 1 - r) * step; /* y = 0 at the bottom */
        for (int64_t c = 0; c < w; c++) {
            int64_t x0 = c * step;
            double sum = 0;
            int64_t cnt = 0;
            for (int64_t y = y0; y < y0 + step && y < ny; y++)
                for (int64_t x = x0; x < x0 + step && x < nx; x++, cnt++)
                    sum += plane[x + nx * y];
            colormap((sum / (double)cnt - vmin) / (vmax - vmin), &img.px[3 * (c + w * r)]);
        }
    }
    int err = tsr_image_write_png(ctx, path, force, &img);
    tsr_image_free(&img);
    TSR_CALL(ctx, err);
    return TSR_SUCCESS;
}

/* The blocks cutting the plane z: ids first, first + 1, ..., first + count - 1 (one layer of
 * blocks along z, ids x-fastest). */
static void plane_blocks(const tsr__layout *lay, int64_t z, int64_t *first, int64_t *count) {
    int64_t lo = 0, hi = lay->nb[2] - 1; /* the layer k with cuts[2][k] <= z < cuts[2][k + 1] */
    const int64_t *cz = lay->ndim > 2 ? lay->cuts[2] : NULL;
    while (cz && lo < hi) {
        int64_t mid = lo + (hi - lo + 1) / 2;
        if (cz[mid] <= z)
            lo = mid;
        else
            hi = mid - 1;
    }
    *count = lay->nb[0] * lay->nb[1];
    *first = lo * *count;
}

/* Rank 0 places the gathered blocks: one pass over the plane's blocks in id order, a cursor per
 * sending rank (each rank sent its blocks in id order). Owners are looked up block by block, so
 * no rank needs the whole map's table. */
static void place(tsr_map map, int64_t z, const float *gathered, int64_t *cursor, float *plane) {
    const tsr__layout *lay = &map->decomp->lay;
    int64_t first, count;
    plane_blocks(lay, z, &first, &count);
    for (int64_t id = first; id < first + count; id++) {
        tsr_box b;
        tsr__block_box(lay, id, &b);
        int owner = tsr__map_owner_of(map, id);
        const float *in = gathered + cursor[owner];
        for (int64_t y = b.lo[1]; y < b.hi[1]; y++) {
            memcpy(plane + b.lo[0] + lay->n[0] * y, in,
                   sizeof(float) * (size_t)(b.hi[0] - b.lo[0]));
            in += b.hi[0] - b.lo[0];
        }
        cursor[owner] += (b.hi[0] - b.lo[0]) * (b.hi[1] - b.lo[1]);
    }
}

int tsr_field_write_png(tsr_field f, const char *path, int64_t zslice, double vmin, double vmax,
                        bool force) {
    tsr_ctx ctx = f->ctx;
    const tsr__layout *lay = &f->map->decomp->lay;
    int64_t nx = lay->n[0], ny = lay->n[1];
    if (zslice < 0)
        zslice = lay->n[2] / 2;
    int err = TSR_SUCCESS;
    if (f->ncomp > 1)
        err = tsr_error_set(ctx, TSR_ERR_ARG, __FILE__, __LINE__, __func__,
                            "field '%s' has %d components; a PNG shows a field of one", f->name,
                            f->ncomp);
    else if (lay->ndim < 2)
        err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                            "PNG output needs a 2D or 3D grid");
    else if (zslice >= lay->n[2])
        err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                            "PNG slice z = %lld is outside the grid", (long long)zslice);
    else if (nx * ny > INT_MAX)
        err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                            "PNG plane of %lld cells is larger than 2^31", (long long)(nx * ny));
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    double t0 = tsr_wtime();
    int64_t mine = 0; /* the cells of the plane in this rank's blocks */
    for (int64_t i = 0; i < f->nblocks; i++) {
        const tsr_block *b = &f->blocks[i];
        if (zslice >= b->lo[2] && zslice < b->lo[2] + b->n[2])
            mine += b->n[0] * b->n[1];
    }
    int64_t *sizes = ctx->rank == 0 ? malloc(sizeof *sizes * (size_t)ctx->size) : NULL;
    float *send = malloc(sizeof(float) * (size_t)(mine ? mine : 1));
    float *gathered = NULL, *plane = NULL;
    int *counts = NULL, *displs = NULL;
    if (ctx->rank == 0) {
        gathered = malloc(sizeof(float) * (size_t)(nx * ny));
        plane = malloc(sizeof(float) * (size_t)(nx * ny));
        counts = malloc(sizeof(int) * (size_t)ctx->size);
        displs = malloc(sizeof(int) * (size_t)ctx->size);
    }
    bool ok = send && (ctx->rank != 0 || (sizes && gathered && plane && counts && displs));
    err = ok ? TSR_SUCCESS
             : tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                             "cannot allocate the PNG plane of %lld cells", (long long)(nx * ny));
    err = tsr_ctx_agree(ctx, err);
    if (!err) {
        int64_t k = 0;
        for (int64_t i = 0; i < f->nblocks; i++) {
            const tsr_block *b = &f->blocks[i];
            int64_t z = zslice - b->lo[2];
            if (z < 0 || z >= b->n[2])
                continue;
            for (int64_t y = 0; y < b->n[1]; y++)
                for (int64_t x = 0; x < b->n[0]; x++)
                    send[k++] = (float)TSR_AT(b, x, y, z);
        }
        int rc = MPI_Gather(&mine, 1, MPI_INT64_T, sizes, 1, MPI_INT64_T, 0, ctx->comm);
        if (rc != MPI_SUCCESS)
            err = tsr_error_mpi(ctx, rc, "MPI_Gather", __FILE__, __LINE__, __func__);
        if (rc == MPI_SUCCESS && ctx->rank == 0)
            for (int r = 0, off = 0; r < ctx->size; r++) {
                counts[r] = (int)sizes[r];
                displs[r] = off;
                sizes[r] = off; /* from here on: rank r's cursor in the gathered buffer */
                off += counts[r];
            }
        err = tsr_ctx_agree(ctx, err); /* nobody waits in the Gatherv for a rank that failed */
        if (!err) {
            rc = MPI_Gatherv(send, (int)mine, MPI_FLOAT, gathered, counts, displs, MPI_FLOAT, 0,
                             ctx->comm);
            if (rc != MPI_SUCCESS)
                err = tsr_error_mpi(ctx, rc, "MPI_Gatherv", __FILE__, __LINE__, __func__);
        }
        if (!err && ctx->rank == 0) {
            place(f->map, zslice, gathered, sizes, plane);
            err = write_png(ctx, path, force, plane, nx, ny, vmin, vmax);
        }
    }
    free(sizes);
    free(send);
    free(gathered);
    free(plane);
    free(counts);
    free(displs);
    tsr_ctx_timer_add(ctx, TSR_TIMER_IO, tsr_wtime() - t0);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    return TSR_SUCCESS;
}
