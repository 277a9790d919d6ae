/* tessera-mandelbrot: the Mandelbrot set as a task farm.
 *
 * A task is one row of the image (or one tile with --tile), and tasks cost very different
 * amounts: rows through the set run to --max-iter on every pixel, rows outside it stop after a
 * few iterations. That is what the farm's self-scheduling is for; --chunk static shows the
 * imbalance it removes. Rank 0 receives the rows/tiles in task order, adds them to the checksum
 * (over the iteration counts in natural order, x fastest) and, with --png, colours them into
 * the full image, written at the end through the library's PNG writer (atomically). Every pixel
 * depends only on its own c, so the image is the same for any ranks, threads and chunk policy. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <tessera.h>

/* Largest task result: 2^24 pixels = 64 MiB of counts. */
#define MAX_TASK_PIXELS (INT64_C(1) << 24)
/* PNG sides are 31-bit. */
#define MAX_SIDE TSR_IMAGE_MAX_SIDE

typedef struct mandel {
    tsr_extents size, tile;
    int64_t max_iter, fail_task;
    double cx, cy, width;
    char center[TSR_OPT_STRLEN];
    char png[TSR_OPT_STRLEN];
    char report[TSR_OPT_STRLEN];
    bool force;
    char cmdline[TSR_OPT_STRLEN]; /* for the report */
    tsr_farm_opts farm;
    /* Derived. */
    int64_t w, h, tw, th, ntx, nty;
    double x0, y0, dx, dy;
} mandel;

/* Rank 0's side of the results. */
typedef struct image {
    const mandel *m;
    tsr_image png; /* with --png: w x h RGB, y = 0 at the bottom; else px NULL */
    double scale;  /* colour scale of the counts: 1 / log(max_iter) */
    uint64_t checksum;
} image;

typedef struct task_box {
    int64_t x0, y0, nx, ny;
} task_box;

/* Tiles in row-major tile order; edge tiles are smaller. */
static task_box tile_of(const mandel *m, int64_t id) {
    task_box b = {.x0 = (id % m->ntx) * m->tw, .y0 = (id / m->ntx) * m->th};
    b.nx = m->w - b.x0 < m->tw ? m->w - b.x0 : m->tw;
    b.ny = m->h - b.y0 < m->th ? m->h - b.y0 : m->th;
    return b;
}

/* Iterations until |z|^2 > 4, max_iter if that never happens. The reference spells out the
 * same operations in the same order. */
static uint32_t escape(double cr, double ci, int64_t max_iter) {
    double zr = 0, zi = 0;
    int64_t n = 0;
    for (; n < max_iter; n++) {
        double zr2 = zr * zr, zi2 = zi * zi;
        if (zr2 + zi2 > 4.0)
            break;
        zi = 2.0 * zr * zi + ci;
        zr = zr2 - zi2 + cr;
    }
    return (uint32_t)n;
}

static int task_fn(tsr_task *t, void *user) {
    const mandel *m = ((const image *)user)->m;
    if (t->id == m->fail_task) {
        snprintf(t->message, sizeof t->message, "injected failure (--fail-task %lld)",
                 (long long)m->fail_task);
        return 1;
    }
    const task_box b = tile_of(m, t->id);
    const int64_t npix = b.nx * b.ny;
    uint32_t *out = t->result;
    /* Pixels differ in cost as much as rows do: hand them out dynamically. */
#pragma omp parallel for schedule(dynamic, 16) if (npix >= 64)
    for (int64_t k = 0; k < npix; k++) {
        int64_t x = b.x0 + k % b.nx, y = b.y0 + k / b.nx;
        out[k] = escape(m->x0 + ((double)x + 0.5) * m->dx, m->y0 + ((double)y + 0.5) * m->dy,
                        m->max_iter);
    }
    t->result_bytes = sizeof(uint32_t) * (size_t)npix;
    return 0;
}

/* Approximately matplotlib's "inferno" from t = 0 to 1. */
static void colormap(double t, unsigned char rgb[3]) {
    static const double stops[5][3] = {
        {0, 0, 4}, {87, 16, 110}, {188, 55, 84}, {249, 142, 9}, {252, 255, 164}};
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double s = t * 4;
    int i = s >= 4 ? 3 : (int)s;
    double u = s - i;
    for (int c = 0; c < 3; c++)
        rgb[c] = (unsigned char)lround(stops[i][c] + u * (stops[i + 1][c] - stops[i][c]));
}

/* Log-scaled escape counts, the set itself black. */
static void colour(const image *img, uint32_t count, unsigned char rgb[3]) {
    if (count >= img->m->max_iter)
        memset(rgb, 0, 3);
    else /* counts outside the set start at 1 */
        colormap(0.15 + 0.85 * log((double)count) * img->scale, rgb);
}

static int deliver(int64_t id, const void *result, size_t bytes, void *user) {
    image *img = user;
    const mandel *m = img->m;
    const task_box b = tile_of(m, id);
    if (bytes != sizeof(uint32_t) * (size_t)(b.nx * b.ny))
        return 1; /* cannot happen: the farm hands back what the task produced */
    const uint32_t *c = result;
    uint64_t sum = 0;
    for (int64_t y = 0; y < b.ny; y++) {
        uint64_t base = (uint64_t)(b.x0 + m->w * (b.y0 + y));
        for (int64_t x = 0; x < b.nx; x++)
            sum += tsr_checksum_term(base + (uint64_t)x, c[x + b.nx * y]);
        if (img->png.px) {
            /* Image rows top to bottom: y = 0 is the last one. */
            uint8_t *row = img->png.px + 3 * (size_t)(b.x0 + m->w * (m->h - 1 - (b.y0 + y)));
            for (int64_t x = 0; x < b.nx; x++)
                colour(img, c[x + b.nx * y], row + 3 * x);
        }
    }
    img->checksum += sum;
    return 0;
}

/* Rank 0: the view and the task shape make sense, the output files can be written. */
static int check(tsr_ctx ctx, void *values) {
    mandel *m = values;
    TSR_CHECK(ctx, m->size.ndim == 2, TSR_ERR_INPUT, "--size: expected WxH, got %d dimension%s",
              m->size.ndim, m->size.ndim == 1 ? "" : "s");
    TSR_CHECK(ctx, m->size.n[0] <= MAX_SIDE && m->size.n[1] <= MAX_SIDE, TSR_ERR_INPUT,
              "--size %lldx%lld: sides are at most %lld", (long long)m->size.n[0],
              (long long)m->size.n[1], (long long)MAX_SIDE);
    TSR_CHECK(ctx, m->tile.ndim == 0 || m->tile.ndim == 2, TSR_ERR_INPUT,
              "--tile: expected WxH, got %d dimension%s", m->tile.ndim,
              m->tile.ndim == 1 ? "" : "s");
    int64_t tw = m->tile.ndim ? m->tile.n[0] : m->size.n[0];
    int64_t th = m->tile.ndim ? m->tile.n[1] : 1;
    TSR_CHECK(ctx, tw <= m->size.n[0] && th <= m->size.n[1], TSR_ERR_INPUT,
              "--tile %lldx%lld is larger than the image (--size %lldx%lld)", (long long)tw,
              (long long)th, (long long)m->size.n[0], (long long)m->size.n[1]);
    TSR_CHECK(ctx, tw * th <= MAX_TASK_PIXELS, TSR_ERR_INPUT,
              "a task of %lldx%lld pixels is larger than %lld pixels: give a smaller --tile",
              (long long)tw, (long long)th, (long long)MAX_TASK_PIXELS);
    double c[2];
    TSR_CHECK(ctx, tsr_opts_read_reals(m->center, ',', 2, c) == TSR_SUCCESS, TSR_ERR_INPUT,
              "--center '%s': expected X,Y (two finite numbers)", m->center);
    m->cx = c[0];
    m->cy = c[1];
    TSR_CHECK(ctx, m->width > 0 && isfinite(m->width), TSR_ERR_INPUT,
              "--width %g: must be positive and finite", m->width);
    int64_t ntasks = ((m->size.n[0] + tw - 1) / tw) * ((m->size.n[1] + th - 1) / th);
    TSR_CHECK(ctx, m->fail_task < ntasks, TSR_ERR_INPUT,
              "--fail-task %lld: there are only %lld tasks", (long long)m->fail_task,
              (long long)ntasks);
    if (m->png[0] && (uint64_t)(m->size.n[0] * m->size.n[1]) > SIZE_MAX / 3 / 2)
        TSR_CHECK(ctx, 0, TSR_ERR_INPUT, "--png: an image of %lldx%lld is too large to hold",
                  (long long)m->size.n[0], (long long)m->size.n[1]);
    /* The files written at the end are checked now, before any task runs. */
    if (m->png[0])
        TSR_CALL(ctx, tsr_file_check_output(ctx, "--png", m->png, m->force));
    if (m->report[0])
        TSR_CALL(ctx, tsr_file_check_output(ctx, "--report", m->report, m->force));
    return TSR_SUCCESS;
}

static int parse(tsr_ctx ctx, int argc, char **argv, mandel *m, bool *done) {
    memset(m, 0, sizeof *m);
    m->size = (tsr_extents){.ndim = 2, .n = {1024, 1024, 1}};
    m->max_iter = 256;
    m->fail_task = -1;
    m->width = 3.0;
    snprintf(m->center, sizeof m->center, "-0.5,0");
    tsr_farm_opts_init(&m->farm);
    tsr_opts o = NULL;
    TSR_CALL(ctx,
             tsr_opts_create(ctx, "The Mandelbrot set, rows or tiles handed out by a farm.", &o));
    tsr_opts_add_extents(o, "size", &m->size, "WxH", "image size in pixels");
    tsr_opts_add_int(o, "max-iter", &m->max_iter, 1, INT32_MAX, "N",
                     "iterations before a point counts as inside");
    tsr_opts_add_string(o, "center", m->center, "X,Y", "centre of the view");
    tsr_opts_add_double(o, "width", &m->width, -HUGE_VAL, HUGE_VAL, "W",
                        "width of the view (the height follows from --size)");
    tsr_opts_add_extents(o, "tile", &m->tile, "WxH",
                         "tasks are tiles of this size (default: rows)");
    tsr_farm_add_options(o, &m->farm);
    tsr_opts_add_string(o, "png", m->png, "FILE",
                        "write the image as a PNG (directory made if missing; an "
                        "existing file is refused at start unless --force)");
    tsr_opts_add_flag(o, "force", &m->force,
                      "replace an existing --png or --report file (atomically, only "
                      "once the run has succeeded)");
    tsr_opts_add_int(o, "fail-task", &m->fail_task, -1, INT64_MAX, "ID",
                     "make task ID fail (for testing --on-error)");
    tsr_report_add_option(o, m->report);
    int err = tsr_opts_parse(o, argc, argv, done);
    TSR_CALL(ctx, tsr_opts_finish(ctx, &o, err, *done, m->cmdline, check, m));
    if (*done)
        return TSR_SUCCESS;
    /* Rank 0 parsed --center; every rank derives the same view from the same numbers. */
    double c[2] = {m->cx, m->cy};
    TSR_MPI(ctx, MPI_Bcast(c, 2, MPI_DOUBLE, 0, tsr_ctx_comm(ctx)));
    m->cx = c[0];
    m->cy = c[1];
    m->w = m->size.n[0];
    m->h = m->size.n[1];
    m->tw = m->tile.ndim ? m->tile.n[0] : m->w;
    m->th = m->tile.ndim ? m->tile.n[1] : 1;
    m->ntx = (m->w + m->tw - 1) / m->tw;
    m->nty = (m->h + m->th - 1) / m->th;
    /* Square pixels; pixel (x, y) is c = (x0 + (x + 0.5) dx, y0 + (y + 0.5) dy). */
    m->dx = m->width / (double)m->w;
    m->dy = m->dx;
    m->x0 = m->cx - 0.5 * m->width;
    m->y0 = m->cy - 0.5 * (m->dy * (double)m->h);
    return TSR_SUCCESS;
}

static int run(tsr_ctx ctx, int argc, char **argv, bool *stopped) {
    (void)stopped; /* no checkpoints */
    mandel m;
    bool done = false;
    TSR_CALL(ctx, parse(ctx, argc, argv, &m, &done));
    if (done)
        return TSR_SUCCESS;
    const bool root = tsr_ctx_rank(ctx) == 0;
    image img = {.m = &m, .scale = m.max_iter > 1 ? 1.0 / log((double)m.max_iter) : 1.0};
    int err = TSR_SUCCESS;
    if (root && m.png[0]) {
        img.png = (tsr_image){.w = m.w, .h = m.h, .channels = 3};
        if (!(img.png.px = malloc((size_t)(m.w * m.h) * 3)))
            err = tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                "cannot allocate the %lldx%lld image", (long long)m.w,
                                (long long)m.h);
    }
    if ((err = tsr_ctx_agree(ctx, err))) {
        tsr_image_free(&img.png);
        return err;
    }

    m.farm.ntasks = m.ntx * m.nty;
    m.farm.result_bytes = sizeof(uint32_t) * (size_t)(m.tw * m.th);
    tsr_farm farm = NULL;
    double seconds = 0;
    if ((err = tsr_farm_create(ctx, &m.farm, &farm)))
        goto out;
    if (m.tile.ndim)
        tsr_ctx_printf(ctx, stdout, "size %lldx%lld, max-iter %lld, %lld tiles of %lldx%lld\n",
                       (long long)m.w, (long long)m.h, (long long)m.max_iter,
                       (long long)m.farm.ntasks, (long long)m.tw, (long long)m.th);
    else
        tsr_ctx_printf(ctx, stdout, "size %lldx%lld, max-iter %lld, %lld row tasks\n",
                       (long long)m.w, (long long)m.h, (long long)m.max_iter,
                       (long long)m.farm.ntasks);
    double t0 = tsr_wtime();
    err = tsr_farm_run(farm, task_fn, deliver, &img);
    seconds = tsr_wtime() - t0;
    /* After failed tasks too: who ran what is part of the story (the farm's error stays). */
    if (!err || err == TSR_ERR_KERNEL) {
        tsr_ctx_printf(ctx, stdout, "wall %.3f s, Mpixel/s %.1f\n", seconds,
                       seconds > 0 ? (double)(m.w * m.h) / seconds / 1e6 : 0.0);
        int e = tsr_farm_print_summary(farm, stdout);
        err = err ? err : e;
    }
    if (err)
        goto out;
    /* Only a complete run writes: to a temporary name, renamed when complete, so a failed run
     * never touches an existing file. */
    err = root && m.png[0] ? tsr_image_write_png(ctx, m.png, m.force, &img.png) : TSR_SUCCESS;
    if ((err = tsr_ctx_agree(ctx, err)))
        goto out;
    if (m.png[0])
        tsr_ctx_printf(ctx, stdout, "wrote %s\n", m.png);
    char config[512], policy[64];
    tsr_farm_stats st;
    if ((err = tsr_farm_get_stats(farm, &st)))
        goto out;
    tsr_chunk_policy_format(&st.chunk, policy, sizeof policy);
    snprintf(config, sizeof config,
             "\"size\": [%lld, %lld], \"max_iter\": %lld, \"tasks\": %lld, \"chunk\": \"%s\"",
             (long long)m.w, (long long)m.h, (long long)m.max_iter, (long long)m.farm.ntasks,
             policy);
    tsr_report rep = {.app = "tessera-mandelbrot",
                      .force = m.force,
                      .command_line = m.cmdline,
                      .config_json = config,
                      .seconds = seconds,
                      .rate_unit = "Mpixel/s",
                      .rate = seconds > 0 ? (double)(m.w * m.h) / seconds / 1e6 : 0.0};
    if ((err = tsr_report_finish(ctx, &rep, m.report, stdout)))
        goto out;
    tsr_ctx_printf(ctx, stdout, "checksum %016llx\n", (unsigned long long)img.checksum);
out:
    tsr_farm_destroy(&farm);
    tsr_image_free(&img.png);
    return err;
}

int main(int argc, char **argv) {
    return tsr_main(argc, argv, "tessera-mandelbrot", run);
}
