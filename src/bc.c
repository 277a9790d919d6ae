/* Boundary conditions: per dimension and side, written into the ghosts outside the domain. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bc_impl.h"
#include "field_impl.h"
#include "options_impl.h"

const char *const tsr_bc_kind_names[] = {"none", "periodic", "dirichlet", "neumann", NULL};

static const char *const side_names[] = {"low", "high"};

typedef struct side {
    tsr_bc_kind kind;
    double value;  /* constant Dirichlet */
    tsr_bc_func f; /* Dirichlet function (NULL: the constant) */
    void *user;
} side;

struct tsr_bc_s {
    tsr_ctx ctx;
    tsr_grid grid;
    int ndim;
    int64_t n[TSR_MAX_DIM];
    side s[TSR_MAX_DIM][2];
    double t;
};

/* ---- descriptions by value ---- */

int tsr_bc_desc_init(tsr_bc_desc *desc, const bool *periodic, tsr_bc_kind kind, double value) {
    if (!desc || (int)kind < TSR_BC_NONE || kind > TSR_BC_NEUMANN || kind == TSR_BC_PERIODIC)
        return TSR_ERR_ARG;
    for (int d = 0; d < TSR_MAX_DIM; d++)
        for (int s = 0; s < 2; s++) {
            desc->kind[d][s] = periodic && periodic[d] ? TSR_BC_PERIODIC : kind;
            desc->value[d][s] = value;
        }
    return TSR_SUCCESS;
}

/* One "DIM[lo|hi]=KIND[:V]" item of n characters. */
static int parse_item(tsr_ctx ctx, const char *what, const char *item, size_t n, int ndim,
                      tsr_bc_desc *desc, bool given[TSR_MAX_DIM][2]) {
    char buf[128];
    TSR_CHECK(ctx, n > 0, TSR_ERR_INPUT, "%s: empty item (write DIM=KIND, separated by commas)",
              what);
    TSR_CHECK(ctx, n < sizeof buf, TSR_ERR_INPUT, "%s: item '%.40s...' is too long", what, item);
    memcpy(buf, item, n);
    buf[n] = '\0';
    char *eq = strchr(buf, '=');
    TSR_CHECK(ctx, eq, TSR_ERR_INPUT, "%s '%s': expected DIM=KIND (e.g. x=neumann)", what, buf);
    *eq = '\0';
    const char *name = buf, *kind = eq + 1;
    int d = -1, s0 = 0, s1 = 1;
    if (name[0] >= 'x' && name[0] <= 'z') {
        d = name[0] - 'x';
        if (strcmp(name + 1, "lo") == 0)
            s1 = 0;
        else if (strcmp(name + 1, "hi") == 0)
            s0 = 1;
        else if (name[1])
            d = -1;
    }
    TSR_CHECK(ctx, d >= 0, TSR_ERR_INPUT,
              "%s '%s=%s': unknown dimension '%s' (x, y or z, with lo or hi for one side)", what,
              name, kind, name);
    TSR_CHECK(ctx, d<ndim, TSR_ERR_INPUT, "%s '%s=%s': the grid has %d dimension%s", what, name,
                       kind, ndim, ndim> 1
                       ? "s"
                       : "");
    char *colon = strchr(kind, ':');
    if (colon)
        *colon = '\0';
    int k = -1;
    for (int i = 0; tsr_bc_kind_names[i]; i++)
        if (strcmp(kind, tsr_bc_kind_names[i]) == 0)
            k = i;
    TSR_CHECK(ctx, k >= 0, TSR_ERR_INPUT,
              "%s '%s=%s': unknown kind '%s' (choose from periodic, neumann, dirichlet, "
              "dirichlet:V, none)",
              what, name, kind, kind);
    double value = desc->value[d][s0];
    if (colon) {
        const char *v = colon + 1;
        TSR_CHECK(ctx, k == TSR_BC_DIRICHLET, TSR_ERR_INPUT, "%s '%s=%s:%s': %s takes no value",
                  what, name, kind, v, kind);
        TSR_CHECK(ctx, tsr__parse_real(v, &value), TSR_ERR_INPUT,
                  "%s '%s=%s:%s': expected a finite number after 'dirichlet:'", what, name, kind,
                  v);
    }
    TSR_CHECK(ctx, k != TSR_BC_PERIODIC || (s0 == 0 && s1 == 1), TSR_ERR_INPUT,
              "%s '%s=%s': periodic wraps both sides of a dimension (write %c=periodic)", what,
              name, kind, "xyz"[d]);
    for (int s = s0; s <= s1; s++) {
        TSR_CHECK(ctx, !given[d][s], TSR_ERR_INPUT, "%s: the %s side of %c is given twice", what,
                  side_names[s], "xyz"[d]);
        given[d][s] = true;
        desc->kind[d][s] = (tsr_bc_kind)k;
        desc->value[d][s] = value;
    }
    return TSR_SUCCESS;
}

int tsr_bc_desc_parse(tsr_ctx ctx, const char *what, const char *text, int ndim,
                      tsr_bc_desc *desc) {
    TSR_CHECK(ctx, what && text && desc && ndim >= 1 && ndim <= TSR_MAX_DIM, TSR_ERR_ARG,
              "tsr_bc_desc_parse: bad arguments");
    TSR_CHECK(ctx, *text, TSR_ERR_INPUT, "%s: empty value", what);
    /* Parsed into a copy, so that a refused text leaves desc as it was. */
    tsr_bc_desc out = *desc;
    bool given[TSR_MAX_DIM][2] = {{false}};
    for (const char *p = text;;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        TSR_CALL(ctx, parse_item(ctx, what, p, n, ndim, &out, given));
        if (!e)
            break;
        p = e + 1;
    }
    for (int d = 0; d < ndim; d++)
        TSR_CHECK(ctx, (out.kind[d][0] == TSR_BC_PERIODIC) == (out.kind[d][1] == TSR_BC_PERIODIC),
                  TSR_ERR_INPUT, "%s '%s': %c would be periodic on one side only", what, text,
                  "xyz"[d]);
    *desc = out;
    return TSR_SUCCESS;
}

/* "kind" or "dirichlet:V" for one side. */
static int format_side(const tsr_bc_desc *desc, int d, int s, char *buf, size_t len) {
    if (desc->kind[d][s] == TSR_BC_DIRICHLET)
        return snprintf(buf, len, "dirichlet:%.17g", desc->value[d][s]);
    return snprintf(buf, len, "%s", tsr_bc_kind_names[desc->kind[d][s]]);
}

int tsr_bc_desc_format(const tsr_bc_desc *desc, int ndim, char *buf, size_t len) {
    if (!desc || !buf || len == 0 || ndim < 1 || ndim > TSR_MAX_DIM)
        return TSR_ERR_ARG;
    size_t used = 0;
    buf[0] = '\0';
    for (int d = 0; d < ndim; d++)
        for (int s = 0; s < 2; s++) {
            char lo[64], hi[64];
            format_side(desc, d, 0, lo, sizeof lo);
            format_side(desc, d, 1, hi, sizeof hi);
            bool same = strcmp(lo, hi) == 0;
            if (same && s == 1)
                break;
            if (used < len)
                used +=
                    (size_t)snprintf(buf + used, len - used, "%s%c%s=%s", used ? "," : "", "xyz"[d],
                                     same ? ""
                                     : s  ? "hi"
                                          : "lo",
                                     s ? hi : lo);
        }
    return TSR_SUCCESS;
}

/* ---- the bc of a grid ---- */

static int check_dim(tsr_bc bc, int dim, tsr_bc_side side) {
    TSR_CHECK(bc->ctx, dim >= 0 && dim < bc->ndim, TSR_ERR_ARG,
              "boundary: dimension %d, the grid has %d", dim, bc->ndim);
    TSR_CHECK(bc->ctx, side == TSR_BC_LOW || side == TSR_BC_HIGH || side == TSR_BC_BOTH,
              TSR_ERR_ARG, "boundary: side %d is not TSR_BC_LOW, TSR_BC_HIGH or TSR_BC_BOTH",
              (int)side);
    return TSR_SUCCESS;
}

/* Periodic sides are the grid's periodic dimensions, no more, no fewer. */
static int check_periodic(tsr_bc bc, int dim, tsr_bc_kind kind) {
    bool wraps = tsr_grid_periodic(bc->grid, dim);
    TSR_CHECK(bc->ctx, kind != TSR_BC_PERIODIC || wraps, TSR_ERR_INPUT,
              "boundary: %c is periodic but the grid does not wrap along %c", "xyz"[dim],
              "xyz"[dim]);
    TSR_CHECK(bc->ctx, kind == TSR_BC_PERIODIC || !wraps, TSR_ERR_INPUT,
              "boundary: the grid wraps along %c, so both sides of %c are periodic, not %s",
              "xyz"[dim], "xyz"[dim], tsr_bc_kind_names[kind]);
    return TSR_SUCCESS;
}

static int set_side(tsr_bc bc, int dim, tsr_bc_side side, const struct side *v) {
    TSR_CALL(bc->ctx, check_dim(bc, dim, side));
    TSR_CHECK(bc->ctx, (int)v->kind >= TSR_BC_NONE && v->kind <= TSR_BC_NEUMANN, TSR_ERR_ARG,
              "boundary: unknown kind %d", (int)v->kind);
    TSR_CHECK(bc->ctx, v->kind != TSR_BC_DIRICHLET || v->f || isfinite(v->value), TSR_ERR_INPUT,
              "boundary: the Dirichlet value of %c is not finite", "xyz"[dim]);
    TSR_CALL(bc->ctx, check_periodic(bc, dim, v->kind));
    for (int s = 0; s < 2; s++)
        if (side == TSR_BC_BOTH || (int)side == s)
            bc->s[dim][s] = *v;
    return TSR_SUCCESS;
}

int tsr_bc_create(tsr_grid grid, const tsr_bc_desc *desc, tsr_bc *bc) {
    if (!bc)
        return TSR_ERR_ARG;
    *bc = NULL;
    if (!grid)
        return TSR_ERR_ARG;
    tsr_ctx ctx = tsr_grid_ctx(grid);
    tsr_bc b;
    TSR_CALL(ctx, tsr__calloc(ctx, 1, sizeof *b, &b));
    b->ctx = ctx;
    b->grid = grid;
    b->ndim = tsr_grid_ndim(grid);
    for (int d = 0; d < TSR_MAX_DIM; d++)
        b->n[d] = tsr_grid_size(grid, d);
    for (int d = 0; d < b->ndim; d++)
        for (int s = 0; s < 2; s++) {
            struct side v = {.kind = tsr_grid_periodic(grid, d) ? TSR_BC_PERIODIC : TSR_BC_NONE};
            if (desc)
                v = (struct side){.kind = desc->kind[d][s], .value = desc->value[d][s]};
            int err = set_side(b, d, (tsr_bc_side)s, &v);
            if (err) {
                free(b);
                return tsr_error_trace(ctx, err, __FILE__, __LINE__, __func__);
            }
        }
    *bc = b;
    return TSR_SUCCESS;
}

int tsr_bc_destroy(tsr_bc *bc) {
    if (bc) {
        free(*bc);
        *bc = NULL;
    }
    return TSR_SUCCESS;
}

int tsr_bc_set(tsr_bc bc, int dim, tsr_bc_side side, tsr_bc_kind kind, double value) {
    if (!bc)
        return TSR_ERR_ARG;
    struct side v = {.kind = kind, .value = kind == TSR_BC_DIRICHLET ? value : 0.0};
    TSR_CALL(bc->ctx, set_side(bc, dim, side, &v));
    return TSR_SUCCESS;
}

int tsr_bc_set_function(tsr_bc bc, int dim, tsr_bc_side side, tsr_bc_func f, void *user) {
    if (!bc)
        return TSR_ERR_ARG;
    TSR_CHECK(bc->ctx, f, TSR_ERR_ARG, "boundary: a Dirichlet function must not be NULL");
    struct side v = {.kind = TSR_BC_DIRICHLET, .f = f, .user = user};
    TSR_CALL(bc->ctx, set_side(bc, dim, side, &v));
    return TSR_SUCCESS;
}

int tsr_bc_get(tsr_bc bc, int dim, tsr_bc_side side, tsr_bc_kind *kind) {
    if (!bc || !kind)
        return TSR_ERR_ARG;
    TSR_CALL(bc->ctx, check_dim(bc, dim, side));
    TSR_CHECK(bc->ctx, side != TSR_BC_BOTH, TSR_ERR_ARG, "boundary: ask for one side at a time");
    *kind = bc->s[dim][side].kind;
    return TSR_SUCCESS;
}

int tsr_bc_set_time(tsr_bc bc, double t) {
    if (!bc)
        return TSR_ERR_ARG;
    bc->t = t;
    return TSR_SUCCESS;
}

int tsr_bc_time(tsr_bc bc, double *t) {
    if (!bc || !t)
        return TSR_ERR_ARG;
    *t = bc->t;
    return TSR_SUCCESS;
}

int tsr_bc_is_static(tsr_bc bc, bool *is_static) {
    if (!bc || !is_static)
        return TSR_ERR_ARG;
    *is_static = true;
    for (int d = 0; d < bc->ndim; d++)
        for (int s = 0; s < 2; s++) {
            const struct side *v = &bc->s[d][s];
            if (v->kind == TSR_BC_NEUMANN || (v->kind == TSR_BC_DIRICHLET && v->f))
                *is_static = false;
        }
    return TSR_SUCCESS;
}

bool tsr__bc_timeless(tsr_bc bc) {
    for (int d = 0; bc && d < bc->ndim; d++)
        for (int s = 0; s < 2; s++)
            if (bc->s[d][s].kind == TSR_BC_DIRICHLET && bc->s[d][s].f)
                return false;
    return true;
}

/* ---- applying ---- */

/* The ghost box of side s of dimension d of block b, whose ghosts are w wide: it spans the
 * block's whole extent, ghosts included, in the other dimensions. */
static void side_box(const tsr_bc bc, const tsr_block *b, int d, int s, int w,
                     int64_t lo[TSR_MAX_DIM], int64_t hi[TSR_MAX_DIM]) {
    for (int e = 0; e < TSR_MAX_DIM; e++) {
        lo[e] = e < bc->ndim ? -w : 0;
        hi[e] = e < bc->ndim ? b->n[e] + w : 1;
    }
    lo[d] = s ? b->n[d] : -w;
    hi[d] = s ? b->n[d] + w : 0;
}

/* The user's function on side s of dimension d of component c of block b: called from this
 * thread only, cell by cell. */
static void apply_func(const tsr_bc bc, const struct side *v, const tsr_block *b, int d, int s,
                       int w, int c) {
    int64_t lo[TSR_MAX_DIM], hi[TSR_MAX_DIM];
    side_box(bc, b, d, s, w, lo, hi);
    double *data = b->data + (ptrdiff_t)c * b->sc;
    for (int64_t z = lo[2]; z < hi[2]; z++)
        for (int64_t y = lo[1]; y < hi[1]; y++)
            for (int64_t x = lo[0]; x < hi[0]; x++) {
                int64_t g[TSR_MAX_DIM] = {0, 0, 0}, p[TSR_MAX_DIM] = {x, y, z};
                for (int e = 0; e < bc->ndim; e++)
                    g[e] = b->lo[e] + p[e];
                data[(ptrdiff_t)x + (ptrdiff_t)y * b->sy + (ptrdiff_t)z * b->sz] =
                    v->f(g, bc->t, c, v->user);
            }
}

/* A value or a mirror on side s of dimension d of component c of block b: only copies, so the
 * rows go to the threads of the enclosing region in any order (no barrier at the end). Ghost
 * -1-k mirrors cell k; ghost n+k mirrors cell n-1-k. */
static void apply_rows(const tsr_bc bc, const struct side *v, const tsr_block *b, int d, int s,
                       int w, int c) {
    int64_t lo[TSR_MAX_DIM], hi[TSR_MAX_DIM];
    side_box(bc, b, d, s, w, lo, hi);
    const ptrdiff_t st[TSR_MAX_DIM] = {1, b->sy, b->sz};
    double *data = b->data + (ptrdiff_t)c * b->sc;
    const bool mirror = v->kind == TSR_BC_NEUMANN;
    const double value = v->value;
    const int64_t n = b->n[d];
#pragma omp for collapse(2) schedule(static) nowait
    for (int64_t z = lo[2]; z < hi[2]; z++)
        for (int64_t y = lo[1]; y < hi[1]; y++) {
            double *row = data + (ptrdiff_t)y * b->sy + (ptrdiff_t)z * b->sz;
            if (!mirror) {
                for (int64_t x = lo[0]; x < hi[0]; x++)
                    row[x] = value;
            } else if (d == 0) {
                for (int64_t x = lo[0]; x < hi[0]; x++)
                    row[x] = row[s ? 2 * n - 1 - x : -1 - x];
            } else {
                int64_t p = d == 1 ? y : z, from = s ? 2 * n - 1 - p : -1 - p;
                const double *src = row + (ptrdiff_t)(from - p) * st[d];
                for (int64_t x = lo[0]; x < hi[0]; x++)
                    row[x] = src[x];
            }
        }
}

static int64_t side_cells(const tsr_bc bc, const tsr_block *b, int d, int s, int w) {
    int64_t lo[TSR_MAX_DIM], hi[TSR_MAX_DIM];
    side_box(bc, b, d, s, w, lo, hi);
    return (hi[0] - lo[0]) * (hi[1] - lo[1]) * (hi[2] - lo[2]);
}

/* Whether side s of dimension d is outside the grid at block b and written by the bc. */
static bool writes(const tsr_bc bc, const tsr_block *b, int d, int s) {
    const struct side *v = &bc->s[d][s];
    bool outside = s ? b->lo[d] + b->n[d] == bc->n[d] : b->lo[d] == 0;
    return outside && v->kind != TSR_BC_NONE && v->kind != TSR_BC_PERIODIC;
}

static int apply_field(tsr_bc bc, tsr_field f) {
    int w = f->width;
    for (int d = 0; d < bc->ndim; d++)
        for (int s = 0; s < 2; s++)
            TSR_CHECK(bc->ctx, bc->s[d][s].kind != TSR_BC_NEUMANN || w <= bc->n[d], TSR_ERR_ARG,
                      "a Neumann boundary along %c mirrors %d ghost layers (field '%s'), but the "
                      "grid has only %lld cells along %c",
                      "xyz"[d], w, f -> name, (long long)bc -> n[d], "xyz"[d]);
    /* Dimensions in order (a mirror of y reads the x ghosts at the edges, and a y side writes
     * over an x side's edge cells); blocks and sides of one dimension in any order. A side
     * worth the team gets an OpenMP loop of its own; the small sides of many small blocks
     * share one region per dimension instead of running serially. A user's function is
     * called from this thread. */
    for (int d = 0; d < bc->ndim; d++) {
        int64_t small = 0;
        for (int64_t i = 0; i < f->nblocks; i++)
            for (int s = 0; s < 2; s++) {
                const tsr_block *b = &f->blocks[i];
                if (!writes(bc, b, d, s))
                    continue;
                int64_t cells = side_cells(bc, b, d, s, w);
                for (int c = 0; c < b->ncomp; c++) {
                    if (bc->s[d][s].f) {
                        apply_func(bc, &bc->s[d][s], b, d, s, w, c);
                    } else if (cells > bc->ctx->min_parallel_cells) {
#pragma omp parallel
                        apply_rows(bc, &bc->s[d][s], b, d, s, w, c);
                    } else {
                        small += cells;
                    }
                }
            }
        if (!small)
            continue;
#pragma omp parallel if (small > bc->ctx->min_parallel_cells)
        for (int64_t i = 0; i < f->nblocks; i++)
            for (int s = 0; s < 2; s++) {
                const tsr_block *b = &f->blocks[i];
                if (!writes(bc, b, d, s) || bc->s[d][s].f ||
                    side_cells(bc, b, d, s, w) > bc->ctx->min_parallel_cells)
                    continue;
                for (int c = 0; c < b->ncomp; c++)
                    apply_rows(bc, &bc->s[d][s], b, d, s, w, c);
            }
    }
    return TSR_SUCCESS;
}

int tsr__bc_check_map(tsr_bc bc, tsr_map map) {
    tsr_ctx ctx = map->ctx;
    TSR_CHECK(ctx, !bc || bc->grid == map->decomp->grid, TSR_ERR_ARG,
              "boundary conditions of another grid than the halo plan's");
    return TSR_SUCCESS;
}

int tsr__bc_apply(tsr_bc bc, tsr_field *fields, int nfields) {
    if (!bc)
        return TSR_SUCCESS;
    for (int f = 0; f < nfields; f++)
        TSR_CALL(bc->ctx, apply_field(bc, fields[f]));
    return TSR_SUCCESS;
}

int tsr_bc_apply(tsr_bc bc, tsr_field *fields, int nfields) {
    if (!bc)
        return TSR_ERR_ARG;
    TSR_CHECK(bc->ctx, fields && nfields >= 0, TSR_ERR_ARG, "tsr_bc_apply: no fields");
    for (int f = 0; f < nfields; f++) {
        TSR_CHECK(bc->ctx, fields[f], TSR_ERR_ARG, "tsr_bc_apply: field %d is NULL", f);
        TSR_CALL(bc->ctx, tsr__bc_check_map(bc, fields[f]->map));
    }
    TSR_CALL(bc->ctx, tsr__bc_apply(bc, fields, nfields));
    return TSR_SUCCESS;
}
