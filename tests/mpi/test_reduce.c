/* Reductions across ranks, threads, maps and blocks: prints the bits of sum, min, max and L2
 * norm of a field with values of wildly different magnitudes (so the order of additions would
 * show), and its checksum, folded into one `checksum` line the drivers compare with a serial
 * run. With --ncomp N the field has N components, element (cell i, component c) holding
 * value(i*N + c). Also checks, on rank 0, the sum against a plain serial long-double sum within
 * rounding and the field's checksum against the convention computed over the elements. */
#include <math.h>
#include <string.h>

#include <tessera.h>

static double value(uint64_t i) {
    uint64_t h = tsr_splitmix64(i);
    double mant = (double)(h >> 11) / 9007199254740992.0 - 0.5; /* [-0.5, 0.5) */
    int e = (int)(tsr_splitmix64(h) % 61) - 30;
    return ldexp(mant, e);
}

static int fill(const tsr_block *f, int nf, const tsr_box *box, void *user) {
    (void)nf;
    const int64_t *n = user;
    for (int64_t z = box->lo[2]; z < box->hi[2]; z++)
        for (int64_t y = box->lo[1]; y < box->hi[1]; y++)
            for (int64_t x = box->lo[0]; x < box->hi[0]; x++)
                for (int c = 0; c < f->ncomp; c++) {
                    uint64_t i = (uint64_t)((f->lo[0] + x) +
                                            n[0] * ((f->lo[1] + y) + n[1] * (f->lo[2] + z)));
                    TSR_ATC(f, x, y, z, c) = value(i * (uint64_t)f->ncomp + (uint64_t)c);
                }
    return 0;
}

static uint64_t bits(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static int run(tsr_ctx ctx, int argc, char **argv) {
    tsr_extents grid = {.ndim = 2, .n = {97, 61, 1}};
    tsr_domain_opts dopts;
    tsr_domain_opts_init(&dopts, &grid, 1);
    tsr_opts o = NULL;
    bool done = false;
    int64_t ncomp = 1;
    TSR_CALL(ctx, tsr_opts_create(ctx, "Reduction determinism test.", &o));
    tsr_domain_add_options(o, &dopts);
    tsr_opts_add_int(o, "ncomp", &ncomp, 1, TSR_FIELD_MAX_COMP, "N", "components per cell");
    int err = tsr_opts_parse(o, argc, argv, &done);
    tsr_opts_destroy(&o);
    TSR_CALL(ctx, err);
    if (done)
        return TSR_SUCCESS;
    tsr_domain dom;
    tsr_field f = NULL;
    tsr_sweep s = NULL;
    double r[4] = {0, 0, 0, 0};
    int64_t n[3] = {dopts.grid.n[0], dopts.grid.n[1], dopts.grid.n[2]};
    err = tsr_domain_create(ctx, &dopts, TSR_STENCIL_STAR, &dom);
    if (!err)
        err = tsr_field_create_comp(dom.map, 1, (int)ncomp, "r", &f);
    if (!err)
        err = tsr_sweep_create(dom.map, 0, 0, &s);
    if (!err)
        err = tsr_sweep_apply(s, &f, 1, fill, n);
    for (int op = 0; op < 4 && !err; op++)
        err = tsr_field_reduce(f, (tsr_reduce_op)op, &r[op]);
    uint64_t field_sum = 0;
    if (!err)
        err = tsr_field_checksum(f, TSR_BITS_DOUBLE, &field_sum);
    if (!err && tsr_ctx_rank(ctx) == 0) {
        long double plain = 0, mag = 0, squares = 0;
        double mn = INFINITY, mx = -INFINITY;
        uint64_t want = 0;
        int64_t elements = n[0] * n[1] * n[2] * ncomp;
        for (int64_t i = 0; i < elements; i++) {
            double v = value((uint64_t)i);
            want += tsr_checksum_term((uint64_t)i, bits(v));
            plain += v;
            mag += fabsl((long double)v);
            squares += (long double)v * v;
            mn = v < mn ? v : mn;
            mx = v > mx ? v : mx;
        }
        /* The sums agree with long-double sums to within their rounding; min and max exactly. */
        long double norm = sqrtl(squares);
        if (fabsl((long double)r[0] - plain) > 1e-15L * mag + 1e-300L) {
            fprintf(stderr, "sum %.17g differs from the serial sum %.17Lg\n", r[0], plain);
            err = TSR_ERR_VERIFY;
        }
        if (r[1] != mn || r[2] != mx) {
            fprintf(stderr, "min/max %a %a differ from the serial %a %a\n", r[1], r[2], mn, mx);
            err = TSR_ERR_VERIFY;
        }
        if (fabsl((long double)r[3] - norm) > 1e-14L * norm) {
            fprintf(stderr, "norm2 %.17g differs from the serial %.17Lg\n", r[3], norm);
            err = TSR_ERR_VERIFY;
        }
        if (field_sum != want) {
            fprintf(stderr, "field checksum %016llx differs from the serial %016llx\n",
                    (unsigned long long)field_sum, (unsigned long long)want);
            err = TSR_ERR_VERIFY;
        }
    }
    if (!err) {
        uint64_t c = 0;
        for (int op = 0; op < 4; op++)
            c = tsr_splitmix64(c ^ bits(r[op]));
        c = tsr_splitmix64(c ^ field_sum);
        tsr_ctx_printf(ctx, stdout, "sum %a min %a max %a norm2 %a\n", r[0], r[1], r[2], r[3]);
        tsr_ctx_printf(ctx, stdout, "checksum %016llx\n", (unsigned long long)c);
    }
    tsr_sweep_destroy(&s);
    tsr_field_destroy(&f);
    tsr_domain_destroy(&dom);
    return tsr_ctx_agree(ctx, err);
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "test_reduce", &ctx);
    if (!err)
        err = run(ctx, argc, argv);
    return tsr_finalize(&ctx, err);
}
