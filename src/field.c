/* Field: per-block ghosted arrays (one per component, back to back), aligned and first-touched
 * by the computing thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "field_impl.h"
#include "slab_impl.h"

static int64_t round8(int64_t v) {
    return (v + 7) / 8 * 8;
}

int64_t tsr__local_index(tsr_map m, int64_t id) {
    int64_t lo = 0, hi = m->nlocal - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (m->local[mid] == id)
            return mid;
        if (m->local[mid] < id)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

bool tsr__tile_box(int ndim, int64_t block, const tsr_box *box, int64_t tile_cells,
                   tsr__tile **tiles, int64_t *count, int64_t *cap) {
    int64_t nx = box->hi[0] - box->lo[0], ny = box->hi[1] - box->lo[1];
    if (tsr__box_cells(box) == 0)
        return true;
    for (int64_t z = box->lo[2]; z < box->hi[2];) {
        int64_t rows = tile_cells / (nx > 0 ? nx : 1);
        int64_t zstep = 1, ystep = rows < 1 ? 1 : rows, xstep = nx;
        if (ndim == 1) {
            xstep = tile_cells;
        } else if (ndim == 3 && rows >= ny) {
            zstep = rows / ny; /* whole planes fit in one tile */
            ystep = ny;
        }
        int64_t zend = z + zstep < box->hi[2] ? z + zstep : box->hi[2];
        for (int64_t y = box->lo[1]; y < box->hi[1]; y += ystep)
            for (int64_t x = box->lo[0]; x < box->hi[0]; x += xstep) {
                if (*count == *cap) {
                    int64_t nc = *cap ? 2 * *cap : 64;
                    tsr__tile *t = realloc(*tiles, sizeof *t * (size_t)nc);
                    if (!t)
                        return false;
                    *tiles = t;
                    *cap = nc;
                }
                tsr__tile *t = &(*tiles)[(*count)++];
                t->block = block;
                t->box = *box;
                t->box.lo[0] = x;
                t->box.hi[0] = x + xstep < box->hi[0] ? x + xstep : box->hi[0];
                t->box.lo[1] = y;
                t->box.hi[1] = y + ystep < box->hi[1] ? y + ystep : box->hi[1];
                t->box.lo[2] = z;
                t->box.hi[2] = zend;
            }
        z = zend;
    }
    return true;
}

typedef struct keyed_tile {
    /* the block (0 when by position alone), then the first cell in the grid: z, y, x */
    int64_t at[TSR_MAX_DIM + 1];
    tsr__tile tile;
} keyed_tile;

static int by_key(const void *a, const void *b) {
    const keyed_tile *p = a, *q = b;
    for (int d = 0; d < TSR_MAX_DIM + 1; d++)
        if (p->at[d] != q->at[d])
            return p->at[d] < q->at[d] ? -1 : 1;
    return 0;
}

bool tsr__tiles_order_on(const tsr__layout *lay, const int64_t *local, int64_t nlocal,
                         tsr__tile *tiles, int64_t n) {
    keyed_tile *k = malloc(sizeof *k * (size_t)(n ? n : 1));
    if (!k)
        return false;
    int64_t min_nx = INT64_MAX;
    for (int64_t i = 0; i < nlocal; i++) {
        tsr_box b;
        tsr__block_box(lay, local[i], &b);
        min_nx = b.hi[0] - b.lo[0] < min_nx ? b.hi[0] - b.lo[0] : min_nx;
    }
    bool blocks_first = lay->ndim >= 2 && min_nx >= TSR__BLOCKS_FIRST_ROW;
    for (int64_t t = 0; t < n; t++) {
        tsr_box b;
        tsr__block_box(lay, local[tiles[t].block], &b);
        k[t].at[0] = blocks_first ? tiles[t].block : 0;
        for (int d = 0; d < TSR_MAX_DIM; d++)
            k[t].at[TSR_MAX_DIM - d] = b.lo[d] + tiles[t].box.lo[d];
        k[t].tile = tiles[t];
    }
    qsort(k, (size_t)n, sizeof *k, by_key);
    for (int64_t t = 0; t < n; t++)
        tiles[t] = k[t].tile;
    free(k);
    return true;
}

bool tsr__tiles_order(tsr_map map, tsr__tile *tiles, int64_t n) {
    return tsr__tiles_order_on(&map->decomp->lay, map->local, map->nlocal, tiles, n);
}

/* Zeroes the tile's rows, extended into the ghost ring where the tile touches the block edge,
 * so that each page is first touched by the thread that will compute it. */
static void touch_tile(tsr_block *b, const tsr_box *t) {
    int w = b->width;
    int wy = b->ndim >= 2 ? w : 0, wz = b->ndim >= 3 ? w : 0;
    int64_t x0 = t->lo[0] == 0 ? -w : t->lo[0], x1 = t->hi[0] == b->n[0] ? b->n[0] + w : t->hi[0];
    int64_t y0 = t->lo[1] == 0 ? -wy : t->lo[1], y1 = t->hi[1] == b->n[1] ? b->n[1] + wy : t->hi[1];
    int64_t z0 = t->lo[2] == 0 ? -wz : t->lo[2], z1 = t->hi[2] == b->n[2] ? b->n[2] + wz : t->hi[2];
    for (int c = 0; c < b->ncomp; c++)
        for (int64_t z = z0; z < z1; z++)
            for (int64_t y = y0; y < y1; y++)
                memset(&TSR_ATC(b, x0, y, z, c), 0, sizeof(double) * (size_t)(x1 - x0));
}

/* Allocates the blocks' storage, except for block i with keep && keep[i] >= 0, which takes local
 * block keep[i] of `like` (the same box, width and components: the same layout). */
static int field_alloc(tsr_field f, tsr_field like, const int64_t *keep) {
    tsr_ctx ctx = f->ctx;
    const tsr__layout *lay = &f->map->decomp->lay;
    int w = f->width, wy = lay->ndim >= 2 ? w : 0, wz = lay->ndim >= 3 ? w : 0;
    TSR_CALL(ctx, tsr__calloc(ctx, (size_t)f->nblocks, sizeof *f->storage, &f->storage));
    TSR_CALL(ctx, tsr__calloc(ctx, (size_t)f->nblocks, sizeof *f->blocks, &f->blocks));
    size_t *bytes = NULL;
    TSR_CALL(ctx, tsr__calloc(ctx, (size_t)f->nblocks, sizeof *bytes, &bytes));
    int err = TSR_SUCCESS;
    for (int64_t i = 0; !err && i < f->nblocks; i++) {
        tsr_block *b = &f->blocks[i];
        tsr_box box;
        b->id = f->map->local[i];
        tsr__block_box(lay, b->id, &box);
        for (int d = 0; d < TSR_MAX_DIM; d++) {
            b->lo[d] = box.lo[d];
            b->n[d] = box.hi[d] - box.lo[d];
        }
        b->ndim = lay->ndim;
        b->width = w;
        /* Rows start on 64-byte boundaries: x = 0 of every row is aligned. A row's right ghosts
         * and the next row's left ghosts share the cache line between the two rows (the stride
         * is the row with both ghosts, rounded up), so a sweep streams rows without a line of
         * padding on each side. */
        int64_t front = round8(w);
        b->sy = (ptrdiff_t)round8(b->n[0] + 2 * w);
        b->sz = b->sy * (ptrdiff_t)(b->n[1] + 2 * wy);
        /* A multiple of 8 (front, sy and sz are): every component's rows stay aligned. */
        int64_t total = front + (int64_t)b->sz * (b->n[2] + 2 * wz);
        if (total > (int64_t)(SIZE_MAX / sizeof(double)) / f->ncomp)
            err = tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                "block %lld of field '%s' is too large to allocate",
                                (long long)b->id, f->name);
        else if (!keep || keep[i] < 0)
            bytes[i] = sizeof(double) * (size_t)total * (size_t)f->ncomp;
        b->ncomp = f->ncomp;
        b->sc = (ptrdiff_t)total;
    }
    double sum = 0;
    for (int64_t i = 0; !err && i < f->nblocks; i++)
        sum += (double)bytes[i];
    char what[sizeof f->name + 16];
    snprintf(what, sizeof what, "field '%s'", f->name);
    if (!err)
        /* A new field is the problem's size; one made like another, a remap's new layout. */
        err = tsr__check_node_fits(ctx, sum, what, like ? TSR_ERR_MEMORY : TSR_ERR_INPUT);
    /* The new blocks in one region (slab_impl.h): huge pages even for small blocks. */
    if (!err && !tsr__slab_alloc(f->nblocks, bytes, f->storage))
        err = tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                            "cannot allocate the blocks of field '%s'", f->name);
    free(bytes);
    TSR_CALL(ctx, err);
    for (int64_t i = 0; i < f->nblocks; i++) {
        tsr_block *b = &f->blocks[i];
        if (keep && keep[i] >= 0)
            f->storage[i] = like->storage[keep[i]];
        b->data = f->storage[i] + round8(w) + wz * b->sz + wy * b->sy;
    }
    /* First touch with the sweep's tiling and static schedule. */
    tsr__tile *tiles = NULL;
    int64_t nt = 0, cap = 0;
    for (int64_t i = 0; i < f->nblocks; i++) {
        tsr_box own = {{0, 0, 0}, {f->blocks[i].n[0], f->blocks[i].n[1], f->blocks[i].n[2]}};
        if (keep && keep[i] >= 0)
            continue; /* its pages are where they were */
        if (!tsr__tile_box(lay->ndim, i, &own, ctx->tile_cells, &tiles, &nt, &cap)) {
            free(tiles);
            TSR_CHECK(ctx, 0, TSR_ERR_MEMORY, "cannot allocate the tile list");
        }
    }
    if (!tsr__tiles_order(f->map, tiles, nt)) {
        free(tiles);
        TSR_CHECK(ctx, 0, TSR_ERR_MEMORY, "cannot allocate the tile list");
    }
    int64_t cells = 0;
    for (int64_t t = 0; t < nt; t++)
        cells += tsr__box_cells(&tiles[t].box);
#pragma omp parallel for schedule(static) if (cells > ctx->min_parallel_cells)
    for (int64_t t = 0; t < nt; t++)
        touch_tile(&f->blocks[tiles[t].block], &tiles[t].box);
    free(tiles);
    return TSR_SUCCESS;
}

int tsr_field_create(tsr_map map, int width, const char *name, tsr_field *field) {
    TSR_CALL(map->ctx, tsr_field_create_comp(map, width, 1, name, field));
    return TSR_SUCCESS;
}

/* Not collective: the caller agrees on the outcome. */
static int field_create(tsr_map map, int width, int ncomp, const char *name, tsr_field like,
                        const int64_t *keep, tsr_field *field) {
    tsr_ctx ctx = map->ctx;
    *field = NULL;
    int err = TSR_SUCCESS;
    tsr_field f = NULL;
    if (width < 1)
        err = tsr_error_set(ctx, TSR_ERR_ARG, __FILE__, __LINE__, __func__,
                            "field ghost width %d must be at least 1", width);
    else if (ncomp < 1 || ncomp > TSR_FIELD_MAX_COMP)
        err = tsr_error_set(ctx, TSR_ERR_ARG, __FILE__, __LINE__, __func__,
                            "field '%s' with %d components: 1 to %d allowed", name ? name : "field",
                            ncomp, TSR_FIELD_MAX_COMP);
    else if (!(f = calloc(1, sizeof *f)))
        err = tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                            "cannot allocate a field");
    if (!err) {
        f->ctx = ctx;
        f->map = map;
        f->width = width;
        f->ncomp = ncomp;
        f->nblocks = map->nlocal;
        snprintf(f->name, sizeof f->name, "%s", name ? name : "field");
        err = field_alloc(f, like, keep);
    }
    if (err) {
        for (int64_t i = 0; f && f->storage && keep && i < f->nblocks; i++)
            if (keep[i] >= 0)
                f->storage[i] = NULL; /* still like's */
        tsr_field_destroy(&f);
        return tsr_error_trace(ctx, err, __FILE__, __LINE__, __func__);
    }
    *field = f;
    return TSR_SUCCESS;
}

int tsr_field_create_comp(tsr_map map, int width, int ncomp, const char *name, tsr_field *field) {
    tsr_ctx ctx = map->ctx;
    int err = tsr_ctx_agree(ctx, field_create(map, width, ncomp, name, NULL, NULL, field));
    if (err)
        tsr_field_destroy(field);
    TSR_CALL(ctx, err);
    return TSR_SUCCESS;
}

int tsr__field_create_like(tsr_field like, tsr_map map, const int64_t *keep, tsr_field *field) {
    TSR_CALL(map->ctx, field_create(map, like->width, like->ncomp, like->name, like, keep, field));
    snprintf((*field)->long_name, sizeof(*field)->long_name, "%s", like->long_name);
    snprintf((*field)->units, sizeof(*field)->units, "%s", like->units);
    return TSR_SUCCESS;
}

int tsr_field_destroy(tsr_field *field) {
    if (!field || !*field)
        return TSR_SUCCESS;
    tsr_field f = *field;
    if (f->storage)
        for (int64_t i = 0; i < f->nblocks; i++)
            tsr__slab_free(f->storage[i]);
    free(f->storage);
    free(f->blocks);
    free(f->comp_names);
    free(f);
    *field = NULL;
    return TSR_SUCCESS;
}

tsr_map tsr_field_map(tsr_field f) {
    return f->map;
}
int tsr_field_width(tsr_field f) {
    return f->width;
}
int tsr_field_set_info(tsr_field f, const char *long_name, const char *units) {
    TSR_CHECK(f->ctx, !long_name || strlen(long_name) < sizeof f->long_name, TSR_ERR_ARG,
              "a long name of at most %zu characters", sizeof f->long_name - 1);
    TSR_CHECK(f->ctx, !units || strlen(units) < sizeof f->units, TSR_ERR_ARG,
              "units of at most %zu characters", sizeof f->units - 1);
    snprintf(f->long_name, sizeof f->long_name, "%s", long_name ? long_name : "");
    snprintf(f->units, sizeof f->units, "%s", units ? units : "");
    return TSR_SUCCESS;
}

const char *tsr_field_name(tsr_field f) {
    return f->name;
}
int tsr_field_ncomp(tsr_field f) {
    return f->ncomp;
}

int tsr_field_set_component_names(tsr_field f, const char *const *names) {
    if (!names) {
        free(f->comp_names);
        f->comp_names = NULL;
        return TSR_SUCCESS;
    }
    for (int c = 0; c < f->ncomp; c++) {
        size_t n = names[c] ? strlen(names[c]) : 0;
        TSR_CHECK(f->ctx, n >= 1 && n < TSR_FIELD_COMP_NAME, TSR_ERR_ARG,
                  "component %d of field '%s' needs a name of 1 to %d characters", c, f->name,
                  TSR_FIELD_COMP_NAME - 1);
        for (int k = 0; k < c; k++)
            TSR_CHECK(f->ctx, strcmp(names[k], names[c]) != 0, TSR_ERR_ARG,
                      "components %d and %d of field '%s' are both named '%s'", k, c, f->name,
                      names[c]);
    }
    if (!f->comp_names)
        TSR_CALL(f->ctx,
                 tsr__calloc(f->ctx, (size_t)f->ncomp, sizeof *f->comp_names, &f->comp_names));
    for (int c = 0; c < f->ncomp; c++)
        snprintf(f->comp_names[c], sizeof f->comp_names[c], "%s", names[c]);
    return TSR_SUCCESS;
}

const char *tsr_field_component_name(tsr_field f, int c) {
    return f->comp_names && c >= 0 && c < f->ncomp ? f->comp_names[c] : NULL;
}
int64_t tsr_field_local_blocks(tsr_field f) {
    return f->nblocks;
}

int tsr_field_get_block(tsr_field f, int64_t i, tsr_block *b) {
    TSR_CHECK(f->ctx, i >= 0 && i < f->nblocks, TSR_ERR_ARG,
              "local block %lld out of range [0, %lld)", (long long)i, (long long)f->nblocks);
    *b = f->blocks[i];
    return TSR_SUCCESS;
}

int tsr_field_restore_block(tsr_field f, int64_t i, tsr_block *b) {
    TSR_CHECK(f->ctx, i >= 0 && i < f->nblocks && b->data == f->blocks[i].data, TSR_ERR_ARG,
              "restoring block %lld that was not taken from this field", (long long)i);
    memset(b, 0, sizeof *b);
    return TSR_SUCCESS;
}

int tsr_field_fill(tsr_field f, double value) {
    for (int64_t i = 0; i < f->nblocks; i++) {
        tsr_block *b = &f->blocks[i];
        int w = b->width, wy = b->ndim >= 2 ? w : 0, wz = b->ndim >= 3 ? w : 0;
        for (int c = 0; c < b->ncomp; c++) {
#pragma omp parallel for collapse(2)                                                               \
    schedule(static) if (b->sz * b->n[2] > f->ctx->min_parallel_cells)
            for (int64_t z = -wz; z < b->n[2] + wz; z++)
                for (int64_t y = -wy; y < b->n[1] + wy; y++) {
                    double *row = &TSR_ATC(b, 0, y, z, c);
                    for (int64_t x = -w; x < b->n[0] + w; x++)
                        row[x] = value;
                }
        }
    }
    return TSR_SUCCESS;
}
