/* tessera-heat: explicit heat diffusion on a 1D, 2D or 3D grid.
 *
 * u_new = u + alpha * (sum of the 2*ndim neighbours - 2*ndim*u). Boundaries per dimension and
 * side (--bc): Dirichlet (ghost cells outside the grid hold a value, --boundary by default),
 * Neumann (zero gradient: the total heat is conserved) or periodic; the library writes them
 * into the ghosts after every exchange. The example shows the whole halo-coupled pattern:
 * options, domain, boundary conditions, fields, an initial-state kernel, the overlapped time
 * loop, a checksum and a PNG. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <tessera.h>

static const char *const init_names[] = {"hotspot", "sine", NULL};
static const char *const streaming_names[] = {"auto", "on", "off", NULL};
enum { STREAMING_AUTO, STREAMING_ON, STREAMING_OFF };
/* Above this many bytes of u and v per rank (twice the last-level cache of the machines we
 * measured on), auto turns streaming stores on. */
#define STREAMING_MIN_BYTES (INT64_C(64) << 20)
/* Measured on AMD Zen 3: 32-byte streaming stores gain ~9% on 2D 8192^2, 16-byte ones (SSE2
 * only, the x86-64 baseline) lose ~15%, and in 3D (256^3) they lose ~35%, the planes above and
 * below no longer coming from cache; on AMD Zen 5 they lose ~30% in 2D as well. So auto
 * considers them only in 2D on AVX2 or AVX-512 paths, and there times both. */
enum { INIT_HOTSPOT, INIT_SINE };

typedef struct heat {
    tsr_domain_opts dom;
    int64_t steps;
    double alpha;
    double boundary;
    char bc_text[TSR_OPT_STRLEN];
    tsr_bc_desc bc; /* resolved from --boundary, --periodic and --bc */
    int init;
    bool no_overlap;
    int64_t time_block;
    int streaming;
    tsr_progress_option progress;
    char png[TSR_OPT_STRLEN];
    char report[TSR_OPT_STRLEN];
    tsr_run_opts io;
    char cmdline[TSR_OPT_STRLEN]; /* for the report and the files written */
} heat;

typedef struct params {
    int ndim;
    int64_t n[TSR_MAX_DIM];
    double alpha;
    int init;
    bool streaming; /* non-temporal stores of the output */
} params;

/* Initial state from global coordinates, so it is the same on any decomposition. */
static int init_kernel(const tsr_block *f, int nf, const tsr_box *box, void *user) {
    (void)nf;
    const params *p = user;
    const tsr_block *u = &f[0];
    const double pi = 3.14159265358979323846;
    for (int64_t z = box->lo[2]; z < box->hi[2]; z++)
        for (int64_t y = box->lo[1]; y < box->hi[1]; y++)
            for (int64_t x = box->lo[0]; x < box->hi[0]; x++) {
                int64_t g[TSR_MAX_DIM] = {u->lo[0] + x, u->lo[1] + y, u->lo[2] + z};
                double v;
                if (p->init == INIT_HOTSPOT) {
                    double r2 = 0.0;
                    for (int d = 0; d < p->ndim; d++) {
                        double t = ((double)g[d] + 0.5) / (double)p->n[d] - 0.5;
                        r2 += t * t;
                    }
                    v = r2 < 0.04 ? 1.0 : 0.0;
                } else {
                    v = sin(pi * (((double)g[0] + 0.5) / (double)p->n[0]));
                    for (int d = 1; d < p->ndim; d++)
                        v *= sin(pi * (((double)g[d] + 0.5) / (double)p->n[d]));
                }
                TSR_AT(u, x, y, z) = v;
            }
    return 0;
}

/* The rows of one step; the expression order is part of the result (the serial reference uses
 * the same one). out[i] is cell x0 + i: the output row itself, or a buffer for streaming stores.
 * TSR_CPU_INLINE: compiled into each ISA level of step_kernel, where the compiler vectorises it
 * (lanes compute what the scalar loop computes, so every level gives the same bits). */
TSR_CPU_INLINE static void row2(double *restrict out, const double *restrict c,
                                const double *restrict s, const double *restrict n, int64_t x0,
                                int64_t m, double a, double k) {
    for (int64_t i = 0; i < m; i++) {
        int64_t x = x0 + i;
        double sum = (c[x - 1] + c[x + 1]) + (s[x] + n[x]);
        out[i] = c[x] + a * (sum - k * c[x]);
    }
}

TSR_CPU_INLINE static void row3(double *restrict out, const double *restrict c,
                                const double *restrict s, const double *restrict n,
                                const double *restrict b, const double *restrict t, int64_t x0,
                                int64_t m, double a, double k) {
    for (int64_t i = 0; i < m; i++) {
        int64_t x = x0 + i;
        double sum = ((c[x - 1] + c[x + 1]) + (s[x] + n[x])) + (b[x] + t[x]);
        out[i] = c[x] + a * (sum - k * c[x]);
    }
}

/* Doubles computed into an L1 buffer per streaming store: 8 cache lines. Measured on a Xeon with
 * AVX-512 (4096^2, 1x2 and 2x1): 64 gives 1690-1740 MLUP/s, 32 and 128 about 3% less, 512 about
 * 12% less (the buffer's round trip then no longer overlaps the stores). */
#define STREAM_CHUNK 64

/* One Jacobi step: fields[0] is read (ghosts included), fields[1] written. With streaming, each
 * row goes through a small buffer that the library stores past the cache. */
TSR_CPU_INLINE static int step_body(const tsr_block *f, int nf, const tsr_box *box, void *user) {
    (void)nf;
    const params *p = user;
    const double a = p->alpha, k = (double)(2 * p->ndim);
    const tsr_block *u = &f[0], *v = &f[1];
    const int64_t x0 = box->lo[0], x1 = box->hi[0];
    _Alignas(64) double buf[STREAM_CHUNK];
    for (int64_t z = box->lo[2]; z < box->hi[2]; z++)
        for (int64_t y = box->lo[1]; y < box->hi[1]; y++) {
            const double *restrict c = &TSR_AT(u, 0, y, z);
            double *restrict o = &TSR_AT(v, 0, y, z);
            if (p->ndim == 1) {
                for (int64_t x = x0; x < x1; x++)
                    o[x] = c[x] + a * ((c[x - 1] + c[x + 1]) - k * c[x]);
                continue;
            }
            const double *restrict s = c - u->sy, *restrict n = c + u->sy;
            const double *restrict b = p->ndim == 3 ? c - u->sz : c;
            const double *restrict t = p->ndim == 3 ? c + u->sz : c;
            if (!p->streaming) {
                if (p->ndim == 2)
                    row2(o + x0, c, s, n, x0, x1 - x0, a, k);
                else
                    row3(o + x0, c, s, n, b, t, x0, x1 - x0, a, k);
                continue;
            }
            for (int64_t x = x0, m; x < x1; x += m) {
                m = tsr_stream_chunk(o + x, x1 - x, STREAM_CHUNK);
                if (p->ndim == 2)
                    row2(buf, c, s, n, x, m, a, k);
                else
                    row3(buf, c, s, n, b, t, x, m, a, k);
                tsr_stream_store(o + x, buf, m);
            }
        }
    if (p->streaming)
        tsr_stream_fence(); /* the streamed rows are visible before the next step reads them */
    return 0;
}

TSR_CPU_DISPATCH(static, int, step_kernel, step_body,
                 (const tsr_block *f, int nf, const tsr_box *box, void *user), (f, nf, box, user))

/* The boundary of every side: Dirichlet --boundary, periodic where --periodic says, then --bc.
 * A dimension --bc makes periodic wraps in the grid too (h->dom.periodic is rewritten). */
static int resolve_bc(tsr_ctx ctx, heat *h) {
    int ndim = h->dom.grid.ndim;
    bool periodic[TSR_MAX_DIM];
    TSR_CALL(ctx, tsr_domain_periodic(ctx, &h->dom, periodic));
    TSR_CALL(ctx, tsr_bc_desc_init(&h->bc, periodic, TSR_BC_DIRICHLET, h->boundary));
    if (!h->bc_text[0])
        return TSR_SUCCESS;
    TSR_CALL(ctx, tsr_bc_desc_parse(ctx, "--bc", h->bc_text, ndim, &h->bc));
    char list[8] = "";
    int nwrap = 0;
    for (int d = 0; d < ndim; d++) {
        /* Periodic on both sides or neither: the parse saw to that. */
        bool wraps = h->bc.kind[d][0] == TSR_BC_PERIODIC;
        TSR_CHECK(ctx, wraps || !periodic[d], TSR_ERR_INPUT,
                  "--bc '%s' sets %c to %s, but --periodic makes %c wrap", h->bc_text, "xyz"[d],
                  tsr_bc_kind_names[h->bc.kind[d][0]], "xyz"[d]);
        if (wraps) {
            size_t len = strlen(list);
            snprintf(list + len, sizeof list - len, "%s%c", nwrap++ ? "," : "", "xyz"[d]);
        }
    }
    snprintf(h->dom.periodic, sizeof h->dom.periodic, "%s", nwrap == ndim ? "all" : list);
    return TSR_SUCCESS;
}

/* Rank 0: values the options' ranges cannot express. A mirror of W ghost layers needs W cells to
 * mirror. (Temporal blocking with a mirror, which would see it written once per exchange, is the
 * run loop's to refuse.) */
static int check(tsr_ctx ctx, void *values) {
    const heat *h = values;
    int ndim = h->dom.grid.ndim;
    TSR_CHECK(ctx, h->alpha > 0 && h->alpha <= 0.5 / ndim, TSR_ERR_INPUT,
              "--alpha %g: unstable for %dD, must be in (0, %g]", h->alpha, ndim, 0.5 / ndim);
    for (int d = 0; d < ndim; d++)
        for (int s = 0; s < 2; s++) {
            if (h->bc.kind[d][s] != TSR_BC_NEUMANN)
                continue;
            TSR_CHECK(ctx, h->dom.halo_width <= h->dom.grid.n[d], TSR_ERR_INPUT,
                      "--bc: a Neumann side of %c mirrors %lld ghost layers, but the grid has "
                      "%lld cells along %c",
                      "xyz"[d], (long long)h -> dom.halo_width, (long long)h->dom.grid.n[d],
                      "xyz"[d]);
        }
    return TSR_SUCCESS;
}

static int parse(tsr_ctx ctx, int argc, char **argv, heat *h, bool *done) {
    tsr_extents grid = {.ndim = 2, .n = {512, 512, 1}};
    memset(h, 0, sizeof *h);
    tsr_domain_opts_init(&h->dom, &grid, 1);
    h->steps = 100;
    h->time_block = 1;
    h->alpha = 0; /* auto: 0.4 / ndim once the grid is known */
    tsr_opts o = NULL;
    TSR_CALL(ctx, tsr_opts_create(ctx,
                                  "Explicit heat diffusion (2D 5-point, 3D 7-point) on a "
                                  "block-decomposed grid.",
                                  &o));
    tsr_run_opts_init(&h->io);
    tsr_domain_add_options(o, &h->dom);
    tsr_run_add_options(o, &h->io);
    tsr_opts_add_int(o, "steps", &h->steps, 0, INT64_MAX, "N", "total time steps");
    tsr_opts_add_double(o, "alpha", &h->alpha, 0, 0.5, "A",
                        "diffusion number, 0 = auto (0.4/ndim); stable up to 1/(2*ndim)");
    tsr_opts_add_double(o, "boundary", &h->boundary, -1e300, 1e300, "V",
                        "fixed value outside a non-periodic grid (the default Dirichlet value)");
    tsr_opts_add_string(o, "bc", h->bc_text, "SPEC",
                        "boundaries per dimension and side: DIM=KIND or DIMlo=/DIMhi=KIND, "
                        "comma-separated; DIM x, y or z; KIND periodic, neumann (zero "
                        "gradient), dirichlet (the --boundary value) or dirichlet:V. E.g. "
                        "x=periodic,ylo=dirichlet:1,yhi=neumann. Sides not given: dirichlet, "
                        "or periodic where --periodic says");
    tsr_opts_add_choice(o, "init", &h->init, init_names, "initial state");
    tsr_opts_add_string(o, "png", h->png, "FILE",
                        "write the final field (middle z plane in 3D) as a PNG");
    tsr_opts_add_flag(o, "no-overlap", &h->no_overlap,
                      "finish each exchange before computing (for comparison)");
    tsr_opts_add_int(o, "time-block", &h->time_block, 1, TSR_MAX_TIME_BLOCK, "K",
                     "K steps per exchange on a K-wide halo with corners, run as a "
                     "cache-resident wavefront (same results)");
    tsr_opts_add_choice(o, "streaming-stores", &h->streaming, streaming_names,
                        "non-temporal stores of the new state (auto: in 2D on AVX2/AVX-512 CPUs, "
                        "when a rank's arrays exceed 64 MiB and no time blocking)");
    tsr_progress_add_options(o, &h->progress);
    tsr_report_add_option(o, h->report);
    int err = tsr_opts_parse(o, argc, argv, done);
    if (!err && !*done) {
        /* The defaults resolved first, so that the report shows the values the run uses. k steps
         * per exchange read k cells into the ghosts, corners included. */
        if (h->dom.halo_width < h->time_block)
            h->dom.halo_width = h->time_block;
        if (h->alpha == 0)
            h->alpha = 0.4 / (double)h->dom.grid.ndim;
        /* Every rank reads the same text: the same verdict, agreed. */
        err = tsr_ctx_agree(ctx, resolve_bc(ctx, h));
    }
    return tsr_opts_finish(ctx, &o, err, *done, h->cmdline, check, h);
}

/* What a migration must restore: blocks arrive with zero ghosts, and the exchange never writes
 * those outside a non-periodic grid, which hold the boundary value. */
static int run(tsr_ctx ctx, int argc, char **argv, bool *stopped) {
    heat h;
    bool done = false;
    TSR_CALL(ctx, parse(ctx, argc, argv, &h, &done));
    if (done)
        return TSR_SUCCESS;
    /* The ISA level step_kernel runs: the CPU's best, or the one TSR_CPU forces. */
    TSR_CALL(ctx, tsr_cpu_select(ctx));

    tsr_domain dom;
    tsr_field u = NULL, v = NULL;
    tsr_sweep sweep = NULL;
    tsr_bc bc = NULL;
    int err =
        tsr_domain_create(ctx, &h.dom, h.time_block > 1 ? TSR_STENCIL_BOX : TSR_STENCIL_STAR, &dom);
    if (!err)
        err = tsr_domain_run_checks(&dom, &h.dom, &done);
    if (err || done)
        goto out;

    params p = {.ndim = tsr_grid_ndim(dom.grid), .alpha = h.alpha, .init = h.init};
    for (int d = 0; d < TSR_MAX_DIM; d++)
        p.n[d] = tsr_grid_size(dom.grid, d);
    tsr_domain_print_summary(&dom, stdout);

    if ((err = tsr_field_create(dom.map, dom.width, "u", &u)) ||
        (err = tsr_field_create(dom.map, dom.width, "u", &v)) ||
        (err = tsr_field_set_info(u, "temperature", "1")) ||
        (err = tsr_field_set_info(v, "temperature", "1")) ||
        (err = tsr_sweep_create(dom.map, 1, 0, &sweep)))
        goto out;
    /* The library writes the boundary into the ghosts outside the grid after every exchange of u.
     * The kernel never writes there, so a constant set in both fields now also holds at every
     * level of a temporal block, which reads v's ghosts between exchanges. */
    tsr_field_fill(u, h.boundary);
    tsr_field_fill(v, h.boundary);
    err = tsr_bc_create(dom.grid, &h.bc, &bc);
    if (!err)
        err = tsr_halo_set_bc(dom.halo, bc);
    if (!err)
        err = tsr_sweep_apply(sweep, &u, 1, init_kernel, &p);
    if (!err)
        err = tsr_bc_apply(bc, (tsr_field[]){u, v}, 2);
    if ((err = tsr_ctx_agree(ctx, err))) /* one rank's failure ends every rank's run */
        goto out;
    /* Streaming stores pay off only when the two arrays stream from memory anyway; each rank
     * decides for its own blocks (the bits are the same either way). */
    int64_t local_cells = 0;
    for (int64_t i = 0; i < tsr_field_local_blocks(u); i++) {
        tsr_block b;
        tsr_field_get_block(u, i, &b);
        local_cells += b.n[0] * b.n[1] * b.n[2];
        tsr_field_restore_block(u, i, &b);
    }
    /* auto: where they may pay, the run loop times both and keeps the faster (tsr_run.tune). */
    bool timed = h.streaming == STREAMING_AUTO && tsr_cpu_path() >= TSR_CPU_AVX2 &&
                 h.time_block == 1 && p.ndim == 2 && 2 * 8 * local_cells > STREAMING_MIN_BYTES;
    p.streaming = h.streaming == STREAMING_ON || timed;
    if (!h.progress.quiet) /* rank 0's choice; every rank's bits are the same either way */
        tsr_ctx_printf(ctx, stdout, "cpu path %s, streaming stores %s\n",
                       tsr_cpu_level_names[tsr_cpu_path()],
                       timed         ? "timed over the first steps"
                       : p.streaming ? "on"
                                     : "off");

    /* What a restart must match, besides the app and the grid: periodic=1 when every dimension
     * wraps, 0 when none (as before --bc existed), else the list; bc=... when --bc changed the
     * boundary from what --boundary and --periodic alone give. */
    char run_options[1024], periodic[8] = "", bcs[512], plain[512];
    bool wraps[TSR_MAX_DIM];
    int nwrap = 0;
    for (int d = 0; d < p.ndim; d++) {
        wraps[d] = tsr_grid_periodic(dom.grid, d);
        if (wraps[d]) {
            size_t len = strlen(periodic);
            snprintf(periodic + len, sizeof periodic - len, "%s%c", nwrap++ ? "," : "", "xyz"[d]);
        }
    }
    tsr_bc_desc plain_desc;
    tsr_bc_desc_init(&plain_desc, wraps, TSR_BC_DIRICHLET, h.boundary);
    tsr_bc_desc_format(&plain_desc, p.ndim, plain, sizeof plain);
    tsr_bc_desc_format(&h.bc, p.ndim, bcs, sizeof bcs);
    snprintf(run_options, sizeof run_options, "alpha=%.17g boundary=%.17g periodic=%s%s%s", h.alpha,
             h.boundary,
             nwrap == p.ndim ? "1"
             : nwrap         ? periodic
                             : "0",
             strcmp(bcs, plain) ? " bc=" : "", strcmp(bcs, plain) ? bcs : "");
    tsr_run r = {
        .sweep = sweep,
        .halo = dom.halo,
        /* One state field of two levels, written as "u" whichever handle holds it. */
        .nfields = 1,
        .fields = {{.name = "u", .level = {u, v}}},
        .kernel = step_kernel,
        .user = &p,
        .overlap = !h.no_overlap,
        .time_block = (int)h.time_block,
        .tune = timed ? &p.streaming : NULL,
        .progress = tsr_progress_option_mode(&h.progress),
        .dt = 1.0,
        .steps = h.steps,
        .meta = {.app = "tessera-heat", .command_line = h.cmdline, .run_options = run_options},
        /* Checked with the run's own files before it computes anything. */
        .output_whats = {"--png", "--report"},
        .output_paths = {h.png, h.report},
        .domain = &dom};
    tsr_run_result res;
    err = tsr_run_execute(&r, &h.io, &res);
    u = r.fields[0].level[0]; /* the newest state */
    v = r.fields[0].level[1];
    sweep = r.sweep; /* a rebalance replaces it */
    *stopped = res.stopped;
    if (err || res.stopped)
        goto out;
    int64_t advanced = res.steps;
    double elapsed = res.seconds;

    double sum = 0, mn = 0, mx = 0;
    uint64_t checksum = 0;
    if ((err = tsr_field_reduce(u, TSR_REDUCE_SUM, &sum)) ||
        (err = tsr_field_reduce(u, TSR_REDUCE_MIN, &mn)) ||
        (err = tsr_field_reduce(u, TSR_REDUCE_MAX, &mx)) ||
        (err = tsr_field_checksum(u, TSR_BITS_DOUBLE, &checksum)))
        goto out;
    if (h.png[0] && (err = tsr_field_write_png(u, h.png, -1, 0, 0, h.io.force)))
        goto out;
    tsr_ctx_printf(ctx, stdout, "steps %lld, %.3f s, %.3f ms/step\n", (long long)advanced, elapsed,
                   advanced ? 1e3 * elapsed / (double)advanced : 0.0);
    if (r.tune_seconds[0] > 0 && !h.progress.quiet)
        tsr_ctx_printf(ctx, stdout,
                       "streaming stores %s: %.4f s on, %.4f s off (the fastest of the timed "
                       "steps)\n",
                       p.streaming ? "on" : "off", r.tune_seconds[1], r.tune_seconds[0]);
    tsr_ctx_printf(ctx, stdout, "sum %.17g min %.17g max %.17g\n", sum, mn, mx);
    if (h.png[0])
        tsr_ctx_printf(ctx, stdout, "wrote %s\n", h.png);
    if ((err = tsr_domain_report(&dom, "tessera-heat", h.cmdline, advanced, elapsed, h.report,
                                 h.io.force)))
        goto out;
    tsr_ctx_printf(ctx, stdout, "checksum %016llx\n", (unsigned long long)checksum);
out:
    tsr_sweep_destroy(&sweep);
    tsr_field_destroy(&v);
    tsr_field_destroy(&u);
    tsr_domain_destroy(&dom);
    tsr_bc_destroy(&bc); /* after the halo plan that applies it */
    return err;
}

/* Exit status 0, 1 on a failure during the run, 2 on bad input, 3 when a signal stopped the run
 * after a checkpoint (run sets *stopped), the same on every rank. */
int main(int argc, char **argv) {
    return tsr_main(argc, argv, "tessera-heat", run);
}
