/* Grid: global sizes and periodicity; parsing of size strings. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "layout_impl.h"

int tsr_extents_parse(tsr_ctx ctx, const char *what, const char *text, tsr_extents *e) {
    memset(e, 0, sizeof *e);
    const char *p = text;
    TSR_CHECK(ctx, text && *text, TSR_ERR_INPUT, "%s: empty value, expected N, NxM or NxMxK", what);
    for (int d = 0;; d++) {
        TSR_CHECK(ctx, d < TSR_MAX_DIM, TSR_ERR_INPUT,
                  "%s '%s': more than %d dimensions (expected N, NxM or NxMxK)", what, text,
                  TSR_MAX_DIM);
        TSR_CHECK(ctx, *p != '-', TSR_ERR_INPUT, "%s '%s': sizes must be positive", what, text);
        TSR_CHECK(ctx, isdigit((unsigned char)*p), TSR_ERR_INPUT,
                  "%s '%s': malformed, expected N, NxM or NxMxK with positive integers", what,
                  text);
        errno = 0;
        char *end = NULL;
        long long v = strtoll(p, &end, 10);
        TSR_CHECK(ctx, errno != ERANGE, TSR_ERR_INPUT, "%s '%s': size too large", what, text);
        TSR_CHECK(ctx, v > 0, TSR_ERR_INPUT, "%s '%s': sizes must be positive", what, text);
        e->n[d] = v;
        e->ndim = d + 1;
        p = end;
        if (*p == '\0')
            break;
        TSR_CHECK(ctx, *p == 'x' || *p == 'X', TSR_ERR_INPUT,
                  "%s '%s': malformed, expected N, NxM or NxMxK with positive integers", what,
                  text);
        p++;
    }
    for (int d = e->ndim; d < TSR_MAX_DIM; d++)
        e->n[d] = 1;
    TSR_CHECK(ctx, tsr_extents_volume(e) > 0, TSR_ERR_INPUT,
              "%s '%s': the number of cells overflows 64 bits", what, text);
    return TSR_SUCCESS;
}

void tsr_extents_format(const tsr_extents *e, char *buf, int len) {
    int used = 0;
    buf[0] = '\0';
    for (int d = 0; d < e->ndim && used < len; d++)
        used +=
            snprintf(buf + used, (size_t)(len - used), d ? "x%lld" : "%lld", (long long)e->n[d]);
}

int64_t tsr_extents_volume(const tsr_extents *e) {
    int64_t v = 1;
    for (int d = 0; d < e->ndim; d++) {
        if (e->n[d] <= 0 || v > INT64_MAX / e->n[d])
            return 0;
        v *= e->n[d];
    }
    return v;
}

static int grid_validate(tsr_ctx ctx, const tsr_extents *size) {
    TSR_CHECK(ctx, size->ndim >= 1 && size->ndim <= TSR_MAX_DIM, TSR_ERR_INPUT,
              "grid: %d dimensions, expected 1 to %d", size->ndim, TSR_MAX_DIM);
    for (int d = 0; d < size->ndim; d++)
        TSR_CHECK(ctx, size->n[d] > 0, TSR_ERR_INPUT,
                  "grid: size %lld along dimension %d must be positive", (long long)size->n[d], d);
    TSR_CHECK(ctx, tsr_extents_volume(size) > 0, TSR_ERR_INPUT,
              "grid: the number of cells overflows 64 bits");
    return TSR_SUCCESS;
}

int tsr_grid_create(tsr_ctx ctx, const tsr_extents *size, const bool *periodic, tsr_grid *grid) {
    *grid = NULL;
    int err = ctx->rank == 0 ? grid_validate(ctx, size) : TSR_SUCCESS;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    tsr_grid g;
    TSR_CALL(ctx, tsr__calloc(ctx, 1, sizeof *g, &g));
    g->ctx = ctx;
    g->size = *size;
    for (int d = 0; d < TSR_MAX_DIM; d++) {
        if (d >= size->ndim)
            g->size.n[d] = 1;
        g->periodic[d] = periodic && d < size->ndim ? periodic[d] : false;
    }
    *grid = g;
    return TSR_SUCCESS;
}

int tsr_grid_destroy(tsr_grid *grid) {
    if (grid) {
        free(*grid);
        *grid = NULL;
    }
    return TSR_SUCCESS;
}

int tsr_grid_ndim(tsr_grid g) {
    return g->size.ndim;
}
int64_t tsr_grid_size(tsr_grid g, int d) {
    return d < TSR_MAX_DIM ? g->size.n[d] : 1;
}
int64_t tsr_grid_cells(tsr_grid g) {
    return tsr_extents_volume(&g->size);
}
bool tsr_grid_periodic(tsr_grid g, int d) {
    return d < TSR_MAX_DIM && g->periodic[d];
}
tsr_ctx tsr_grid_ctx(tsr_grid g) {
    return g->ctx;
}
