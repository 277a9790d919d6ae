/* Reductions inside kernels: every cell's value, of magnitudes from 2^-E to 2^E (--spread E, 200 by
 * default), is added by the kernel (with zeros and subnormals among them) to four accumulators
 * (sum, min, max, L2 norm), one value at a time, a row at a time, and from a nested parallel
 * region, over tiles of several sizes. Every way gives the same bits, equal to tsr_field_reduce of
 * the same values in a field and, on rank 0, to plain serial long-double sums within rounding.
 * Prints one `checksum` line (the bits of the four results) that the drivers compare across ranks,
 * threads and maps. */
#include <math.h>
#include <string.h>

#include <tessera.h>

enum { ADD_ONE, ADD_ROWS, ADD_NESTED, MODES };
#define CHUNK 16

static int64_t spread = 200; /* exponents in [-spread, spread] */

static double value(uint64_t i) {
    if (i % 89 == 0)
        return i % 2 ? -0.0 : 0.0;
    uint64_t h = tsr_splitmix64(i);
    if (i % 97 == 0) /* subnormal */
        return ldexp((double)(h >> 40) - 8388608.0, -1074);
    double mant = (double)(h >> 11) / 9007199254740992.0 - 0.5; /* [-0.5, 0.5) */
    int e = (int)(tsr_splitmix64(h) % (uint64_t)(2 * spread + 1)) - (int)spread;
    return ldexp(mant, e);
}

typedef struct job {
    int64_t n[3];
    int mode;
    tsr_accum acc[4]; /* indexed by tsr_reduce_op */
} job;

static double cell_value(const job *j, const tsr_block *b, int64_t x, int64_t y, int64_t z) {
    return value(
        (uint64_t)((b->lo[0] + x) + j->n[0] * ((b->lo[1] + y) + j->n[1] * (b->lo[2] + z))));
}

static int add_all(const job *j, const double *v, int64_t n) {
    int err = 0;
    for (int op = 0; op < 4; op++)
        err |= n == 1 ? tsr_accum_add(j->acc[op], v[0]) : tsr_accum_add_n(j->acc[op], v, n);
    return err;
}

/* Writes each value into the field and contributes it. */
static int contribute(const tsr_block *f, int nf, const tsr_box *box, void *user) {
    (void)nf;
    const job *j = user;
    int err = 0;
    if (j->mode == ADD_NESTED) {
        /* Another parallel level inside the sweep's: inactive unless nesting is on, so the
         * accumulator must find the thread's slot at the level that is. */
        int64_t ny = box->hi[1] - box->lo[1], rows = ny * (box->hi[2] - box->lo[2]);
#pragma omp parallel for schedule(static) reduction(| : err)
        for (int64_t r = 0; r < rows; r++) {
            int64_t y = box->lo[1] + r % ny, z = box->lo[2] + r / ny;
            for (int64_t x = box->lo[0]; x < box->hi[0]; x++) {
                double v = cell_value(j, f, x, y, z);
                TSR_AT(f, x, y, z) = v;
                err |= add_all(j, &v, 1);
            }
        }
        return err;
    }
    for (int64_t z = box->lo[2]; z < box->hi[2]; z++)
        for (int64_t y = box->lo[1]; y < box->hi[1]; y++) {
            double buf[CHUNK];
            int k = 0;
            for (int64_t x = box->lo[0]; x < box->hi[0]; x++) {
                double v = cell_value(j, f, x, y, z);
                TSR_AT(f, x, y, z) = v;
                if (j->mode == ADD_ONE) {
                    err |= add_all(j, &v, 1);
                } else {
                    buf[k++] = v;
                    if (k == CHUNK || x + 1 == box->hi[0]) {
                        err |= add_all(j, buf, k);
                        k = 0;
                    }
                }
            }
        }
    return err;
}

static uint64_t bits(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

/* Rank 0: the results agree with plain long-double arithmetic (sums within their rounding, the
 * extremes exactly). */
static int check_serial(const int64_t *n, const double *r) {
    long double plain = 0, mag = 0, squares = 0;
    double mn = INFINITY, mx = -INFINITY;
    for (int64_t i = 0; i < n[0] * n[1] * n[2]; i++) {
        double v = value((uint64_t)i);
        plain += v;
        mag += fabsl((long double)v);
        squares += (long double)v * v;
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
    }
    long double norm = sqrtl(squares);
    if (fabsl((long double)r[0] - plain) > 1e-15L * mag || r[1] != mn || r[2] != mx ||
        fabsl((long double)r[3] - norm) > 1e-14L * norm) {
        fprintf(stderr, "results %a %a %a %a differ from serial %La %a %a %La\n", r[0], r[1], r[2],
                r[3], plain, mn, mx, norm);
        return TSR_ERR_VERIFY;
    }
    return TSR_SUCCESS;
}

/* Every tile size and way of adding gives the bits of tsr_field_reduce; reset empties. */
static int check_all(tsr_ctx ctx, tsr_domain *dom, job *j, tsr_field f, double *r) {
    static const int64_t tiles[] = {0, 7, 61, 1000};
    double want[4];
    for (int op = 0; op < 4; op++)
        TSR_CALL(ctx, tsr_field_reduce(f, (tsr_reduce_op)op, &want[op]));
    for (size_t t = 0; t < sizeof tiles / sizeof tiles[0]; t++)
        for (int mode = 0; mode < MODES; mode++) {
            tsr_sweep s = NULL;
            TSR_CALL(ctx, tsr_sweep_create(dom->map, 0, tiles[t], &s));
            j->mode = mode;
            for (int op = 0; op < 4; op++)
                tsr_accum_reset(j->acc[op]);
            int err = tsr_sweep_apply(s, &f, 1, contribute, j);
            tsr_sweep_destroy(&s);
            TSR_CALL(ctx, tsr_ctx_agree(ctx, err)); /* before the collective results */
            for (int op = 0; op < 4; op++) {
                TSR_CALL(ctx, tsr_accum_result(j->acc[op], &r[op]));
                TSR_CHECK(ctx, bits(r[op]) == bits(want[op]), TSR_ERR_VERIFY,
                          "tiles of %lld cells, mode %d, op %d: %a, the field gives %a",
                          (long long)tiles[t], mode, op, r[op], want[op]);
            }
        }
    /* Contributions stay until reset: adding everything again doubles the sum exactly. */
    double twice;
    tsr_sweep s = NULL;
    TSR_CALL(ctx, tsr_sweep_create(dom->map, 0, 0, &s));
    int err = tsr_sweep_apply(s, &f, 1, contribute, j);
    tsr_sweep_destroy(&s);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    TSR_CALL(ctx, tsr_accum_result(j->acc[TSR_REDUCE_SUM], &twice));
    TSR_CHECK(ctx, twice == 2 * r[0], TSR_ERR_VERIFY, "sum added twice: %a, not 2 * %a", twice,
              r[0]);
    /* Specials: an infinity wins a sum, both infinities or a NaN make it NaN; NaN wins min/max. */
    tsr_accum_reset(j->acc[TSR_REDUCE_SUM]);
    tsr_accum_reset(j->acc[TSR_REDUCE_MAX]);
    double special[2];
    if (tsr_ctx_rank(ctx) == tsr_ctx_size(ctx) - 1) {
        tsr_accum_add(j->acc[TSR_REDUCE_SUM], INFINITY);
        tsr_accum_add(j->acc[TSR_REDUCE_MAX], 1.0);
    }
    TSR_CALL(ctx, tsr_accum_result(j->acc[TSR_REDUCE_SUM], &special[0]));
    TSR_CHECK(ctx, special[0] == INFINITY, TSR_ERR_VERIFY, "inf summed to %a", special[0]);
    if (tsr_ctx_rank(ctx) == 0) {
        tsr_accum_add(j->acc[TSR_REDUCE_SUM], -INFINITY);
        tsr_accum_add(j->acc[TSR_REDUCE_MAX], NAN);
    }
    TSR_CALL(ctx, tsr_accum_result(j->acc[TSR_REDUCE_SUM], &special[0]));
    TSR_CALL(ctx, tsr_accum_result(j->acc[TSR_REDUCE_MAX], &special[1]));
    TSR_CHECK(ctx, isnan(special[0]) && isnan(special[1]), TSR_ERR_VERIFY,
              "inf - inf summed to %a, max with a NaN %a", special[0], special[1]);
    double empty[4];
    for (int op = 0; op < 4; op++) {
        tsr_accum_reset(j->acc[op]);
        TSR_CALL(ctx, tsr_accum_result(j->acc[op], &empty[op]));
    }
    TSR_CHECK(ctx,
              bits(empty[0]) == bits(0.0) && empty[1] == INFINITY && empty[2] == -INFINITY &&
                  bits(empty[3]) == bits(0.0),
              TSR_ERR_VERIFY, "empty accumulators give %a %a %a %a", empty[0], empty[1], empty[2],
              empty[3]);
    return TSR_SUCCESS;
}

static int run(tsr_ctx ctx, int argc, char **argv) {
    tsr_extents grid = {.ndim = 2, .n = {97, 61, 1}};
    tsr_domain_opts dopts;
    tsr_domain_opts_init(&dopts, &grid, 1);
    tsr_opts o = NULL;
    bool done = false;
    TSR_CALL(ctx, tsr_opts_create(ctx, "In-kernel reduction determinism test.", &o));
    tsr_domain_add_options(o, &dopts);
    tsr_opts_add_int(o, "spread", &spread, 0, 500, "E", "values from 2^-E to 2^E");
    int err = tsr_opts_parse(o, argc, argv, &done);
    tsr_opts_destroy(&o);
    TSR_CALL(ctx, err);
    if (done)
        return TSR_SUCCESS;
    tsr_domain dom;
    tsr_field f = NULL;
    job j = {.n = {dopts.grid.n[0], dopts.grid.n[1], dopts.grid.n[2]}};
    double r[4] = {0, 0, 0, 0};
    err = tsr_domain_create(ctx, &dopts, TSR_STENCIL_STAR, &dom);
    if (!err)
        err = tsr_field_create(dom.map, 1, "v", &f);
    for (int op = 0; op < 4 && !err; op++)
        err = tsr_accum_create(ctx, (tsr_reduce_op)op, &j.acc[op]);
    if (!err) {
        /* The field's values first, so that check_all has its reductions to compare with. */
        tsr_sweep s = NULL;
        err = tsr_sweep_create(dom.map, 0, 0, &s);
        if (!err)
            err = tsr_sweep_apply(s, &f, 1, contribute, &j);
        tsr_sweep_destroy(&s);
        err = tsr_ctx_agree(ctx, err);
    }
    if (!err)
        err = check_all(ctx, &dom, &j, f, r);
    if (!err && tsr_ctx_rank(ctx) == 0)
        err = check_serial(j.n, r);
    if (!err) {
        uint64_t c = 0;
        for (int op = 0; op < 4; op++)
            c = tsr_splitmix64(c ^ bits(r[op]));
        tsr_ctx_printf(ctx, stdout, "sum %a min %a max %a norm2 %a\n", r[0], r[1], r[2], r[3]);
        tsr_ctx_printf(ctx, stdout, "checksum %016llx\n", (unsigned long long)c);
    }
    for (int op = 0; op < 4; op++)
        tsr_accum_destroy(&j.acc[op]);
    tsr_field_destroy(&f);
    tsr_domain_destroy(&dom);
    return tsr_ctx_agree(ctx, err);
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "test_accum", &ctx);
    if (!err)
        err = run(ctx, argc, argv);
    return tsr_finalize(&ctx, err);
}
