/* PNG snapshots: rank 0 gathers one plane of a field and writes it through libpng. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

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

/* The libpng part, kept apart so that nothing it uses changes after setjmp. */
static int encode(tsr_ctx ctx, FILE *fp, const char *path, const float *plane, int64_t nx,
                  int64_t ny, int64_t step, double vmin, double vmax) {
    int64_t w = (nx + step - 1) / step, h = (ny + step - 1) / step;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    unsigned char *row = malloc((size_t)w * 3);
    if (!png || !info || !row || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(row);
        TSR_CHECK(ctx, 0, TSR_ERR_IO, "cannot write PNG '%s'", path);
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int64_t r = 0; r < h; r++) {
        int64_t y0 = (h - 1 - r) * step; /* y = 0 at the bottom */
        for (int64_t c = 0; c < w; c++) {
            int64_t x0 = c * step;
            double sum = 0;
            int64_t cnt = 0;
            for (int64_t y = y0; y < y0 + step && y < ny; y++)
                for (int64_t x = x0; x < x0 + step && x < nx; x++, cnt++)
                    sum += plane[x + nx * y];
            colormap((sum / (double)cnt - vmin) / (vmax - vmin), &row[3 * c]);
        }
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(row);
    return TSR_SUCCESS;
}

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
    /* Written under a temporary name: a failure never leaves a partial PNG under the final one. */
    tsr_file_out out;
    TSR_CALL(ctx, tsr_file_open(ctx, path, force, &out));
    int err = encode(ctx, out.fp, path, plane, nx, ny, step, vmin, vmax);
    if (err) {
        tsr_file_abandon(&out);
        return tsr_error_trace(ctx, err, __FILE__, __LINE__, __func__);
    }
    TSR_CALL(ctx, tsr_file_commit(ctx, &out));
    return TSR_SUCCESS;
}

static int64_t plane_cells(const tsr__layout *lay, int64_t id, int64_t z) {
    tsr_box b;
    tsr__block_box(lay, id, &b);
    return z >= b.lo[2] && z < b.hi[2] ? (b.hi[0] - b.lo[0]) * (b.hi[1] - b.lo[1]) : 0;
}

/* Cells of the plane z each rank sends: its blocks cutting the plane, in id order. */
static void plane_counts(const tsr__layout *lay, const int *owner, int64_t z, int64_t *counts,
                         int nranks) {
    memset(counts, 0, sizeof *counts * (size_t)nranks);
    for (int64_t id = 0; id < lay->nblocks; id++)
        counts[owner[id]] += plane_cells(lay, id, z);
}

/* Rank 0 places the gathered blocks: one pass in id order, a cursor per sending rank. */
static void place(const tsr__layout *lay, const int *owner, int64_t z, const float *gathered,
                  int64_t *cursor, float *plane) {
    for (int64_t id = 0; id < lay->nblocks; id++) {
        if (plane_cells(lay, id, z) == 0)
            continue;
        tsr_box b;
        tsr__block_box(lay, id, &b);
        const float *in = gathered + cursor[owner[id]];
        for (int64_t y = b.lo[1]; y < b.hi[1]; y++) {
            memcpy(plane + b.lo[0] + lay->n[0] * y, in,
                   sizeof(float) * (size_t)(b.hi[0] - b.lo[0]));
            in += b.hi[0] - b.lo[0];
        }
        cursor[owner[id]] += (b.hi[0] - b.lo[0]) * (b.hi[1] - b.lo[1]);
    }
}

int tsr_field_write_png(tsr_field f, const char *path, int64_t zslice, double vmin, double vmax,
                        bool force) {
    tsr_ctx ctx = f->ctx;
    const tsr__layout *lay = &f->map->decomp->lay;
    const int *owner = f->map->owner;
    int64_t nx = lay->n[0], ny = lay->n[1];
    if (zslice < 0)
        zslice = lay->n[2] / 2;
    int err = TSR_SUCCESS;
    if (lay->ndim < 2)
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
    int64_t *sizes = malloc(sizeof *sizes * (size_t)ctx->size);
    if (sizes)
        plane_counts(lay, owner, zslice, sizes, ctx->size);
    int64_t mine = sizes ? sizes[ctx->rank] : 0;
    float *send = malloc(sizeof(float) * (size_t)(mine ? mine : 1));
    float *gathered = NULL, *plane = NULL;
    int *counts = NULL, *displs = NULL;
    if (ctx->rank == 0) {
        gathered = malloc(sizeof(float) * (size_t)(nx * ny));
        plane = malloc(sizeof(float) * (size_t)(nx * ny));
        counts = malloc(sizeof(int) * (size_t)ctx->size);
        displs = malloc(sizeof(int) * (size_t)ctx->size);
    }
    bool ok = sizes && send && (ctx->rank != 0 || (gathered && plane && counts && displs));
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
        if (ctx->rank == 0)
            for (int r = 0, off = 0; r < ctx->size; r++) {
                counts[r] = (int)sizes[r];
                displs[r] = off;
                sizes[r] = off; /* from here on: rank r's cursor in the gathered buffer */
                off += counts[r];
            }
        int rc = MPI_Gatherv(send, (int)mine, MPI_FLOAT, gathered, counts, displs, MPI_FLOAT, 0,
                             ctx->comm);
        if (rc != MPI_SUCCESS)
            err = tsr_error_mpi(ctx, rc, "MPI_Gatherv", __FILE__, __LINE__, __func__);
        else if (ctx->rank == 0) {
            place(lay, owner, zslice, gathered, sizes, plane);
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
