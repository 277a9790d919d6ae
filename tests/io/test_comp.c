/* Fields with components in files: writes a field of --ncomp components ("velocity") and a scalar
 * ("p") with values computed from the global index, then reads them back, on any layout, from
 * the file or a checkpoint, and checks every owned value.
 *   test_comp --write PREFIX   PREFIX.h5, PREFIX.xmf (one step) and PREFIX_ck/ckpt_000007.h5
 *   test_comp --read FILE      reads /fields/velocity and /fields/p of FILE and checks them
 *   test_comp --restart FILE   restores both fields with tsr_checkpoint_read and checks them
 *   test_comp --png FILE       asks for a PNG of velocity (refused for more than one component)
 * Element (cell i, component c) of velocity, i in natural order, holds (i*ncomp + c)/8 - 7: the
 * value of element i*ncomp + c of its dataset in C order. p holds i/2 + 1. Prints
 * "checked N values" on success; a wrong value is TSR_ERR_VERIFY. */
#include <string.h>

#include <tessera.h>

static double vel(int64_t cell, int ncomp, int c) {
    return (double)(cell * ncomp + c) * 0.125 - 7.0;
}

static double pres(int64_t cell) {
    return (double)cell * 0.5 + 1.0;
}

static int64_t cell_index(const tsr_block *b, const int64_t *n, int64_t x, int64_t y, int64_t z) {
    return (b->lo[0] + x) + n[0] * ((b->lo[1] + y) + n[1] * (b->lo[2] + z));
}

/* Sets (check = false) or compares (check = true) every owned value; returns the mismatches. */
static int64_t visit(tsr_field v, tsr_field p, const int64_t *n, bool check, int64_t *count) {
    int64_t bad = 0;
    int nc = tsr_field_ncomp(v);
    for (int64_t i = 0; i < tsr_field_local_blocks(v); i++) {
        tsr_block b, q;
        tsr_field_get_block(v, i, &b);
        tsr_field_get_block(p, i, &q);
        for (int64_t z = 0; z < b.n[2]; z++)
            for (int64_t y = 0; y < b.n[1]; y++)
                for (int64_t x = 0; x < b.n[0]; x++) {
                    int64_t g = cell_index(&b, n, x, y, z);
                    for (int c = 0; c < nc; c++) {
                        if (!check)
                            TSR_ATC(&b, x, y, z, c) = vel(g, nc, c);
                        else if (TSR_ATC(&b, x, y, z, c) != vel(g, nc, c) && bad++ < 5)
                            fprintf(stderr, "velocity cell %lld component %d: %.17g, not %.17g\n",
                                    (long long)g, c, TSR_ATC(&b, x, y, z, c), vel(g, nc, c));
                    }
                    if (!check)
                        TSR_AT(&q, x, y, z) = pres(g);
                    else if (TSR_AT(&q, x, y, z) != pres(g) && bad++ < 5)
                        fprintf(stderr, "p cell %lld: %.17g, not %.17g\n", (long long)g,
                                TSR_AT(&q, x, y, z), pres(g));
                    *count += nc + 1;
                }
        tsr_field_restore_block(v, i, &b);
        tsr_field_restore_block(p, i, &q);
    }
    return bad;
}

/* The API's refusals: a component count out of range, component names missing or repeated.
 * Each is reported and cleared; the field stays usable. */
static int check_api(tsr_ctx ctx, tsr_map map, tsr_field v) {
    tsr_field bad = NULL;
    int e0 = tsr_field_create_comp(map, 1, 0, "bad", &bad);
    tsr_ctx_error_clear(ctx);
    int e1 = tsr_field_create_comp(map, 1, TSR_FIELD_MAX_COMP + 1, "bad", &bad);
    tsr_ctx_error_clear(ctx);
    int e2 = tsr_field_ncomp(v) >= 2
                 ? tsr_field_set_component_names(v, (const char *const[]){"a", "a", "b", "c", "d"})
                 : TSR_ERR_ARG;
    tsr_ctx_error_clear(ctx);
    const char *none[TSR_FIELD_MAX_COMP] = {"only"};
    int e3 = tsr_field_ncomp(v) >= 2 ? tsr_field_set_component_names(v, none) : TSR_ERR_ARG;
    tsr_ctx_error_clear(ctx);
    TSR_CHECK(
        ctx,
        e0 == TSR_ERR_ARG && e1 == TSR_ERR_ARG && e2 == TSR_ERR_ARG && e3 == TSR_ERR_ARG && !bad,
        TSR_ERR_VERIFY, "bad component counts or names accepted (%d %d %d %d)", e0, e1, e2, e3);
    return TSR_SUCCESS;
}

static int write_all(tsr_ctx ctx, tsr_field *fs, const char *prefix, const tsr_io_meta *meta) {
    char h5[TSR_OPT_STRLEN + 16], xmf[TSR_OPT_STRLEN + 16], dir[TSR_OPT_STRLEN + 16];
    snprintf(h5, sizeof h5, "%s.h5", prefix);
    snprintf(xmf, sizeof xmf, "%s.xmf", prefix);
    snprintf(dir, sizeof dir, "%s_ck", prefix);
    TSR_CALL(ctx, tsr_io_write(h5, fs, 2, meta, true));
    /* The .xmf names its file relative to itself. */
    const char *slash = strrchr(h5, '/');
    const char *files[1] = {slash ? slash + 1 : h5};
    const char *names[2] = {tsr_field_name(fs[0]), tsr_field_name(fs[1])};
    int64_t steps[1] = {meta->step};
    double times[1] = {meta->time};
    TSR_CALL(ctx, tsr_io_write_xdmf(fs[0], xmf, 1, files, steps, times, 2, names, meta));
    TSR_CALL(ctx, tsr_checkpoint_write(dir, 2, fs, 2, meta, NULL, 0));
    return TSR_SUCCESS;
}

static int run(tsr_ctx ctx, int argc, char **argv) {
    tsr_extents grid = {.ndim = 2, .n = {23, 17, 1}};
    tsr_domain_opts dopts;
    tsr_domain_opts_init(&dopts, &grid, 1);
    char wr[TSR_OPT_STRLEN] = "", rd[TSR_OPT_STRLEN] = "", rs[TSR_OPT_STRLEN] = "",
         png[TSR_OPT_STRLEN] = "";
    int64_t ncomp = 3;
    tsr_opts o = NULL;
    bool done = false;
    TSR_CALL(ctx, tsr_opts_create(ctx, "Fields with components in files.", &o));
    tsr_domain_add_options(o, &dopts);
    tsr_opts_add_int(o, "ncomp", &ncomp, 1, TSR_FIELD_MAX_COMP, "N", "components of velocity");
    tsr_opts_add_string(o, "write", wr, "PREFIX", "write PREFIX.h5, .xmf and a checkpoint");
    tsr_opts_add_string(o, "read", rd, "FILE", "read FILE and check it");
    tsr_opts_add_string(o, "restart", rs, "FILE", "restore a checkpoint and check it");
    tsr_opts_add_string(o, "png", png, "FILE", "write a PNG of velocity");
    int err = tsr_opts_parse(o, argc, argv, &done);
    tsr_opts_destroy(&o);
    TSR_CALL(ctx, err);
    if (done)
        return TSR_SUCCESS;
    tsr_domain dom;
    TSR_CALL(ctx, tsr_domain_create(ctx, &dopts, TSR_STENCIL_STAR, &dom));
    tsr_field fs[2] = {NULL, NULL};
    int64_t n[3] = {dopts.grid.n[0], dopts.grid.n[1], dopts.grid.n[2]}, count = 0;
    err = tsr_field_create_comp(dom.map, 1, (int)ncomp, "velocity", &fs[0]);
    if (!err)
        err = tsr_field_create(dom.map, 1, "p", &fs[1]);
    if (!err)
        err = check_api(ctx, dom.map, fs[0]);
    if (!err && ncomp == 3)
        err = tsr_field_set_component_names(fs[0], (const char *const[]){"vx", "vy", "vz"});
    if (!err)
        err = tsr_field_set_info(fs[0], "flow velocity", "m/s");
    tsr_io_meta meta = {.app = "test_comp", .step = 7, .time = 0.75, .run_id = "comp-test"};
    if (!err && png[0]) {
        visit(fs[0], fs[1], n, false, &count);
        err = tsr_field_write_png(fs[0], png, -1, 0, 0, true);
    } else if (!err && wr[0]) {
        visit(fs[0], fs[1], n, false, &count);
        err = write_all(ctx, fs, wr, &meta);
    } else if (!err && (rd[0] || rs[0])) {
        tsr_field_fill(fs[0], -1.0);
        tsr_field_fill(fs[1], -1.0);
        if (rd[0]) {
            err = tsr_io_read(fs[0], rd, "/fields/velocity");
            if (!err)
                err = tsr_io_read(fs[1], rd, "/fields/p");
        } else {
            int64_t step;
            double time;
            err = tsr_checkpoint_read(rs, "test_comp", fs, 2, &step, &time, NULL, 0, NULL, 0);
            if (!err && (step != 7 || time != 0.75))
                err = tsr_error_set(ctx, TSR_ERR_VERIFY, __FILE__, __LINE__, __func__,
                                    "restored step %lld time %g, not 7 and 0.75", (long long)step,
                                    time);
        }
        int64_t bad = err ? 0 : visit(fs[0], fs[1], n, true, &count);
        if (bad > 0)
            err = tsr_error_set(ctx, TSR_ERR_VERIFY, __FILE__, __LINE__, __func__,
                                "%lld values read on rank %d are wrong", (long long)bad,
                                tsr_ctx_rank(ctx));
    }
    err = tsr_ctx_agree(ctx, err);
    if (!err)
        tsr_ctx_printf(ctx, stdout, "checked %lld values on rank 0\n", (long long)count);
    tsr_field_destroy(&fs[0]);
    tsr_field_destroy(&fs[1]);
    tsr_domain_destroy(&dom);
    return err;
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "test_comp", &ctx);
    if (!err)
        err = run(ctx, argc, argv);
    return tsr_finalize(&ctx, err);
}
