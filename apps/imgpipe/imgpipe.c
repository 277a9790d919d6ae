/* tessera-imgpipe: an image pipeline. A source (PNG files of a directory, or synthetic frames)
 * feeds grayscale -> Gaussian blur -> Sobel edge magnitude -> threshold, and a sink writes the
 * frames as 8-bit gray PNGs and checksums every output pixel.
 *
 * The filters (imgpipe_filters.c; tests/imgpipe/imgpipe_ref.c writes the same formulas
 * independently):
 *   grayscale  gray = (77 R + 150 G + 29 B + 128) >> 8 (alpha ignored; gray input copied)
 *   blur       separable Gaussian, radius r = ceil(3 sigma), weights w_k = e_k / sum(e),
 *              e_k = exp(-(k k) / (2 sigma sigma)) for k = -r..r (summed in that order);
 *              V[y][x] = w_0 in[y][x] + sum_{k=1..r} w_k (in[clamp(y-k)][x] + in[clamp(y+k)][x])
 *              (the pair added as integers), then H[y][x] = w_0 V[y][x] +
 *              sum_{k=1..r} w_k (V[y][clamp(x-k)] + V[y][clamp(x+k)]), each sum taken in k order
 *              (w_-k = w_k exactly); out = floor(H + 0.5) clamped to 0..255. sigma 0 is the
 *              identity.
 *   sobel      |gx| + |gy| of the 3x3 Sobel kernels, integers, edges clamped, capped at 255
 *   threshold  255 where the value is >= T, else 0
 * Every output pixel depends only on its inputs through a fixed sequence of operations, so
 * results do not depend on ranks, threads or stage assignment.
 *
 * Checksum: sum of tsr_checksum_term(i, v) over the output pixels, i running over all frames in
 * order (frame after frame, row-major, x fastest). The source numbers each frame's first pixel,
 * the threshold stage sums its frame's terms and the sink only adds the sums: rank 0, which runs
 * the source (the slowest stage) and the sink, keeps no per-pixel work besides the source. */
#include <dirent.h>
#include <errno.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <tessera.h>

#include "imgpipe_filters.h"

enum { ST_GRAY, ST_BLUR, ST_SOBEL, ST_THRESHOLD, NSTAGES };
static const char *const stage_names[NSTAGES] = {"grayscale", "blur", "sobel", "threshold"};
/* --stage-alone: none, the source, or one stage (index - 2). */
static const char *const alone_names[] = {"none",  "source",    "grayscale", "blur",
                                          "sobel", "threshold", NULL};
enum { ALONE_NONE, ALONE_SOURCE };

#define MAX_SIDE 16384
#define MAX_RADIUS 60

/* An item: this header, then width x height x channels bytes, row-major, channels fastest. */
typedef struct frame_hdr {
    int32_t width, height, channels, reserved;
    int64_t first; /* checksum index of the frame's first pixel (set by the source) */
    uint64_t sum;  /* the frame's checksum terms (set by the threshold stage) */
} frame_hdr;
#define HDR ((size_t)sizeof(frame_hdr))

typedef struct imgpipe {
    char input[TSR_OPT_STRLEN];
    char output[TSR_OPT_STRLEN];
    char stage_ranks[TSR_OPT_STRLEN];
    int64_t frames;
    tsr_extents size;
    int64_t seed;
    int64_t threshold;
    double sigma;
    int64_t credits;
    bool serial;
    tsr_progress_option progress; /* --quiet also drops the pipeline summary */
    int alone;
    char report[TSR_OPT_STRLEN];
    bool force;
    char cmdline[TSR_OPT_STRLEN]; /* for the report */
    /* Derived. */
    tsr_ctx ctx;
    uint64_t seed_hash;
    int radius;
    double weights[2 * MAX_RADIUS + 1];
    int64_t max_pixels; /* largest width x height over the frames */
    int64_t max_bytes;  /* largest width x height x channels */
    char **files;       /* --input: the PNG paths in name order (rank 0 only) */
    int64_t nfiles;
    bool bad_input;         /* rank 0: the source refused an input file (exit status 2, not 1) */
    int64_t emitted_pixels; /* rank 0: pixels of the frames the source made so far */
} imgpipe;

typedef struct stage {
    int kind;
    const imgpipe *ip;
    double *scratch; /* blur: per thread a padded row and a row of sums */
    size_t scratch_len;
} stage;

typedef struct sink {
    const imgpipe *ip;
    uint64_t checksum;
    int64_t pixels; /* output pixels so far: the next checksum index */
    int64_t frames;
} sink;

/* ---- Source, stages and sink as pipeline functions ---- */

static int fail(tsr_item *it, const char *why) {
    snprintf(it->message, sizeof it->message, "%s", why);
    return 1;
}

/* Reads and checks an item's header. */
static int frame_in(tsr_item *it, frame_hdr *h) {
    if (it->in_bytes < HDR)
        return fail(it, "item shorter than a frame header");
    memcpy(h, it->in, HDR);
    if (h->width < 1 || h->height < 1 || h->channels < 1 || h->channels > 4 ||
        it->in_bytes != HDR + (size_t)h->width * (size_t)h->height * (size_t)h->channels)
        return fail(it, "malformed frame");
    return 0;
}

/* Copies a failure's message from the context into the item's. */
static int fail_ctx(tsr_item *it, tsr_ctx ctx) {
    return fail(it, tsr_ctx_error_message(ctx));
}

static int source_fn(tsr_item *it, void *user) {
    imgpipe *ip = user;
    int64_t n = ip->input[0] ? ip->nfiles : ip->frames;
    if (it->index >= n) {
        it->end = true;
        return 0;
    }
    frame_hdr h;
    uint8_t *px = (uint8_t *)it->out + HDR;
    if (ip->input[0]) {
        /* Decoded from the whole file in memory; a bad file (header or data) is the user's to
         * fix, so it ends the run with status 2. */
        tsr_image img = {0};
        const char *path = ip->files[it->index];
        int err = tsr_image_read_png(ip->ctx, path, MAX_SIDE, &img);
        if (!err && (size_t)(img.w * img.h * img.channels) > it->out_bytes - HDR)
            err = tsr_error_set(ip->ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                "cannot read PNG '%s': larger than when the directory was scanned",
                                path);
        if (err) {
            tsr_image_free(&img);
            ip->bad_input = err == TSR_ERR_INPUT;
            return fail_ctx(it, ip->ctx);
        }
        h = (frame_hdr){
            .width = (int32_t)img.w, .height = (int32_t)img.h, .channels = img.channels};
        memcpy(px, img.px, (size_t)(img.w * img.h * img.channels));
        tsr_image_free(&img);
    } else {
        h = (frame_hdr){
            .width = (int32_t)ip->size.n[0], .height = (int32_t)ip->size.n[1], .channels = 3};
        synth_frame(ip->seed_hash, it->index, h.width, h.height, px);
    }
    h.first = ip->emitted_pixels; /* the source is called in frame order */
    ip->emitted_pixels += (int64_t)h.width * h.height;
    memcpy(it->out, &h, HDR);
    it->out_bytes = HDR + (size_t)h.width * (size_t)h.height * (size_t)h.channels;
    return 0;
}

static int stage_fn(tsr_item *it, void *user) {
    stage *st = user;
    frame_hdr h;
    if (frame_in(it, &h))
        return 1;
    int64_t w = h.width, hh = h.height;
    size_t need = HDR + (size_t)(w * hh);
    if (need > it->out_bytes)
        return fail(it, "frame larger than the output room");
    if (st->kind != ST_GRAY && h.channels != 1)
        return fail(it, "expected a gray frame");
    const uint8_t *in = (const uint8_t *)it->in + HDR;
    uint8_t *out = (uint8_t *)it->out + HDR;
    switch (st->kind) {
    case ST_GRAY:
        grayscale(in, w, hh, h.channels, out);
        break;
    case ST_BLUR: {
        size_t len = (size_t)omp_get_max_threads() * (size_t)(2 * w + 2 * st->ip->radius);
        if (len > st->scratch_len) {
            free(st->scratch);
            st->scratch_len = 0;
            if (!(st->scratch = malloc(sizeof(double) * len)))
                return fail(it, "out of memory");
            st->scratch_len = len;
        }
        blur(in, w, hh, st->ip->radius, st->ip->weights, st->scratch, out);
        break;
    }
    case ST_SOBEL:
        sobel(in, w, hh, out);
        break;
    default: {
        threshold(in, w * hh, (int)st->ip->threshold, out);
        int64_t n = w * hh;
        uint64_t sum = 0;
#pragma omp parallel for schedule(static) reduction(+ : sum)
        for (int64_t i = 0; i < n; i++)
            sum += tsr_checksum_term((uint64_t)(h.first + i), out[i]);
        h.sum = sum;
    }
    }
    h.channels = 1;
    memcpy(it->out, &h, HDR);
    it->out_bytes = need;
    return 0;
}

static int sink_fn(tsr_item *it, void *user) {
    sink *sk = user;
    frame_hdr h;
    if (frame_in(it, &h))
        return 1;
    if (h.channels != 1)
        return fail(it, "expected a gray frame");
    const uint8_t *px = (const uint8_t *)it->in + HDR;
    int64_t n = (int64_t)h.width * h.height, first = sk->pixels;
    if (sk->ip->output[0]) {
        char path[TSR_OPT_STRLEN + 32];
        snprintf(path, sizeof path, "%s/frame_%06lld.png", sk->ip->output, (long long)it->index);
        /* Atomic: a temporary name renamed when complete, never over a file without --force. */
        const tsr_image img = {
            .w = h.width, .h = h.height, .channels = 1, .px = (uint8_t *)(uintptr_t)px};
        if (tsr_image_write_png(sk->ip->ctx, path, sk->ip->force, &img))
            return fail_ctx(it, sk->ip->ctx);
    }
    if (h.first != first)
        return fail(it, "frame out of order");
    sk->checksum += h.sum;
    sk->pixels += n;
    sk->frames++;
    return 0;
}

/* ---- Set-up ---- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_files(imgpipe *ip) {
    for (int64_t i = 0; i < ip->nfiles; i++)
        free(ip->files[i]);
    free(ip->files);
    ip->files = NULL;
    ip->nfiles = 0;
}

/* Rank 0: the *.png files of --input in name order, each checked to be a regular file (a FIFO
 * would block the source forever) and its header read, the largest sizes. */
static int scan_input(tsr_ctx ctx, imgpipe *ip) {
    DIR *d = opendir(ip->input);
    TSR_CHECK(ctx, d, TSR_ERR_INPUT, "--input '%s': cannot open the directory: %s", ip->input,
              strerror(errno));
    int64_t cap = 0;
    struct dirent *e;
    bool nomem = false;
    while (!nomem && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcasecmp(e->d_name + len - 4, ".png") != 0)
            continue;
        if (ip->nfiles == cap) {
            cap = cap ? 2 * cap : 64;
            char **f = realloc(ip->files, sizeof *f * (size_t)cap);
            if (!f) {
                nomem = true;
                break;
            }
            ip->files = f;
        }
        size_t plen = strlen(ip->input) + len + 2;
        if (!(ip->files[ip->nfiles] = malloc(plen))) {
            nomem = true;
            break;
        }
        snprintf(ip->files[ip->nfiles++], plen, "%s/%s", ip->input, e->d_name);
    }
    closedir(d);
    TSR_CHECK(ctx, !nomem, TSR_ERR_MEMORY, "out of memory listing '%s'", ip->input);
    TSR_CHECK(ctx, ip->nfiles > 0, TSR_ERR_INPUT, "--input '%s': no .png files", ip->input);
    qsort(ip->files, (size_t)ip->nfiles, sizeof *ip->files, cmp_str);
    for (int64_t i = 0; i < ip->nfiles; i++) {
        int64_t w, h;
        int c;
        TSR_CALL(ctx, tsr_file_check_input(ctx, "--input", ip->files[i]));
        TSR_CALL(ctx, tsr_image_probe_png(ctx, ip->files[i], MAX_SIDE, &w, &h, &c));
        if (w * h > ip->max_pixels)
            ip->max_pixels = w * h;
        if (w * h * c > ip->max_bytes)
            ip->max_bytes = w * h * c;
    }
    return TSR_SUCCESS;
}

/* Rank 0: --output made if missing and writable, and none of the frame files this run writes
 * already there (unless --force, and then only regular files): refused now, before any frame is
 * computed. One pass over the directory, however many frames. */
static int check_output(tsr_ctx ctx, const imgpipe *ip, int64_t nframes) {
    TSR_CALL(ctx, tsr_dir_prepare(ctx, "--output", ip->output));
    DIR *d = opendir(ip->output);
    TSR_CHECK(ctx, d, TSR_ERR_INPUT, "--output '%s': cannot open the directory: %s", ip->output,
              strerror(errno));
    struct dirent *e;
    int err = TSR_SUCCESS;
    while (!err && (e = readdir(d))) {
        long long k = -1;
        char again[64];
        if (sscanf(e->d_name, "frame_%lld.png", &k) != 1 || k < 0 || k >= nframes)
            continue;
        snprintf(again, sizeof again, "frame_%06lld.png", k);
        if (strcmp(again, e->d_name) != 0)
            continue; /* not a name this run writes */
        char path[TSR_OPT_STRLEN + 64];
        snprintf(path, sizeof path, "%s/%s", ip->output, again);
        struct stat st;
        if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
            err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                "--output: '%s' exists and is not a regular file", path);
        else if (!ip->force)
            err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                "--output: '%s' exists; not replacing it (use --force)", path);
    }
    closedir(d);
    return err;
}

/* Rank 0: every check of the options, the input scan and the outputs, before any frame. */
static int check(tsr_ctx ctx, void *values) {
    imgpipe *ip = values;
    TSR_CHECK(ctx, !(ip->input[0] && ip->frames > 0), TSR_ERR_INPUT,
              "--input and --frames exclude each other: give one");
    TSR_CHECK(ctx, ip->input[0] || ip->frames > 0, TSR_ERR_INPUT,
              "give the frames: --input DIR or --frames N [--size WxH]");
    if (ip->input[0]) {
        TSR_CALL(ctx, scan_input(ctx, ip));
    } else {
        TSR_CHECK(ctx, ip->size.ndim == 2, TSR_ERR_INPUT,
                  "--size: frames are 2D (WxH), got %d dimension%s", ip->size.ndim,
                  ip->size.ndim == 1 ? "" : "s");
        TSR_CHECK(ctx, ip->size.n[0] <= MAX_SIDE && ip->size.n[1] <= MAX_SIDE, TSR_ERR_INPUT,
                  "--size %lldx%lld: at most %d pixels on a side", (long long)ip->size.n[0],
                  (long long)ip->size.n[1], MAX_SIDE);
        ip->max_pixels = ip->size.n[0] * ip->size.n[1];
        ip->max_bytes = 3 * ip->max_pixels;
    }
    if (ip->output[0])
        TSR_CALL(ctx, check_output(ctx, ip, ip->input[0] ? ip->nfiles : ip->frames));
    if (ip->report[0])
        TSR_CALL(ctx, tsr_file_check_output(ctx, "--report", ip->report, ip->force));
    return TSR_SUCCESS;
}

static int parse(tsr_ctx ctx, int argc, char **argv, imgpipe *ip, bool *done) {
    memset(ip, 0, sizeof *ip);
    ip->size = (tsr_extents){.ndim = 2, .n = {640, 480, 1}};
    ip->seed = 1;
    ip->threshold = 64;
    ip->sigma = 1.0;
    tsr_opts o = NULL;
    TSR_CALL(ctx, tsr_opts_create(ctx,
                                  "Image pipeline: source -> grayscale -> Gaussian blur -> Sobel "
                                  "edges -> threshold -> PNG sink, stages on ranks.",
                                  &o));
    tsr_opts_add_string(o, "input", ip->input, "DIR",
                        "read the *.png files of DIR in name order (regular files "
                        "only; any PNG as 8 bits; alpha ignored)");
    tsr_opts_add_int(o, "frames", &ip->frames, 0, INT32_MAX, "N",
                     "make N synthetic frames instead");
    tsr_opts_add_extents(o, "size", &ip->size, "WxH", "size of the synthetic frames");
    tsr_opts_add_int(o, "seed", &ip->seed, 0, INT64_MAX, "S", "seed of the synthetic frames");
    tsr_opts_add_string(o, "output", ip->output, "DIR",
                        "write DIR/frame_NNNNNN.png (DIR and its parents created if "
                        "missing; existing frame files are refused unless --force)");
    tsr_opts_add_flag(o, "force", &ip->force,
                      "replace existing frame files and --report (whole files, each "
                      "replaced atomically)");
    tsr_opts_add_double(o, "sigma", &ip->sigma, 0.0, MAX_RADIUS / 3.0, "S",
                        "Gaussian blur sigma (radius ceil(3 S))");
    tsr_opts_add_int(o, "threshold", &ip->threshold, 0, 255, "T",
                     "edge magnitudes >= T become 255, the rest 0");
    tsr_opts_add_string(o, "stage-ranks", ip->stage_ranks, "A,B,C,D",
                        "ranks per stage (summing to ranks - 1); default from costs");
    tsr_opts_add_int(o, "credits", &ip->credits, 0, 1 << 20, "C",
                     "items in flight per link (0: the pipeline's default)");
    tsr_opts_add_flag(o, "serial", &ip->serial,
                      "run the same functions in a plain loop on rank 0 (no pipeline)");
    tsr_opts_add_choice(o, "stage-alone", &ip->alone, alone_names,
                        "on rank 0, time the source or one stage alone over all frames");
    tsr_progress_add_options(o, &ip->progress);
    tsr_report_add_option(o, ip->report);
    int err = tsr_opts_parse(o, argc, argv, done);
    ip->ctx = ctx;
    TSR_CALL(ctx, tsr_opts_finish(ctx, &o, err, *done, ip->cmdline, check, ip));
    if (*done)
        return TSR_SUCCESS;
    /* Rank 0 scanned the input: everyone needs the item sizes. */
    int64_t sizes[3] = {ip->max_pixels, ip->max_bytes, ip->input[0] ? ip->nfiles : ip->frames};
    TSR_MPI(ctx, MPI_Bcast(sizes, 3, MPI_INT64_T, 0, tsr_ctx_comm(ctx)));
    ip->max_pixels = sizes[0];
    ip->max_bytes = sizes[1];
    ip->frames = sizes[2];
    ip->seed_hash = tsr_splitmix64((uint64_t)ip->seed);
    blur_weights(ip->sigma, &ip->radius, ip->weights);
    return TSR_SUCCESS;
}

/* Relative costs per pixel, measured with --stage-alone on 640x480 frames, one thread: grayscale
 * 0.33 ms, blur 0.75 ms + 0.135 ms per tap, sobel 0.16 ms, threshold 0.06 ms (integer sobel
 * and threshold vectorise well; the blur works in doubles) plus the checksum ~0.5 ms. */
static double stage_cost(const imgpipe *ip, int kind) {
    switch (kind) {
    case ST_GRAY:
        return 1.0;
    case ST_BLUR:
        return 0.63 + 0.19 * (2 * ip->radius + 1);
    case ST_SOBEL:
        return 0.5;
    default:
        return 1.8; /* threshold 0.2, its checksum 1.6 */
    }
}

static const char *source_name(const imgpipe *ip) {
    return ip->input[0] ? "read-png" : "synthetic";
}

static const char *sink_name(const imgpipe *ip) {
    return ip->output[0] ? "write-png" : "checksum";
}

/* --serial and --stage-alone: the same functions in a plain loop on rank 0. */
static int run_serial(tsr_ctx ctx, imgpipe *ip, stage *st, sink *sk, double *alone_seconds) {
    size_t cap[NSTAGES + 1];
    void *buf[NSTAGES + 1] = {0};
    int err = TSR_SUCCESS;
    for (int s = 0; s <= NSTAGES; s++) {
        cap[s] = HDR + (size_t)(s == 0 ? ip->max_bytes : ip->max_pixels);
        if (!(buf[s] = malloc(cap[s])))
            err = tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                "cannot allocate frame buffers of %zu bytes", cap[s]);
    }
    *alone_seconds = 0;
    for (int64_t i = 0; !err; i++) {
        tsr_item it = {.index = i, .out = buf[0], .out_bytes = cap[0]};
        const char *name = source_name(ip);
        double t0 = tsr_wtime();
        int rc = source_fn(&it, ip);
        if (ip->alone == ALONE_SOURCE)
            *alone_seconds += tsr_wtime() - t0;
        if (rc || it.end)
            goto done;
        const void *in = buf[0];
        size_t in_bytes = it.out_bytes;
        for (int s = 0; s < NSTAGES; s++) {
            it = (tsr_item){.index = i,
                            .in = in,
                            .in_bytes = in_bytes,
                            .out = buf[s + 1],
                            .out_bytes = cap[s + 1]};
            name = stage_names[s];
            t0 = tsr_wtime();
            rc = stage_fn(&it, &st[s]);
            if (ip->alone == s + 2)
                *alone_seconds += tsr_wtime() - t0;
            if (rc)
                goto done;
            in = buf[s + 1];
            in_bytes = it.out_bytes;
        }
        it = (tsr_item){.index = i, .in = in, .in_bytes = in_bytes};
        name = sink_name(ip);
        rc = sink_fn(&it, sk);
    done:
        if (rc)
            err = tsr_error_set(ctx, ip->bad_input ? TSR_ERR_INPUT : TSR_ERR_KERNEL, __FILE__,
                                __LINE__, __func__, "stage '%s' failed on item %lld: %s", name,
                                (long long)i, it.message[0] ? it.message : "no message");
        if (rc || it.end)
            break;
    }
    for (int s = 0; s <= NSTAGES; s++)
        free(buf[s]);
    return err;
}

static int run_pipeline(tsr_ctx ctx, imgpipe *ip, stage *st, sink *sk) {
    tsr_pipeline p = NULL;
    TSR_CALL(ctx, tsr_pipeline_create(ctx, &p));
    int err =
        tsr_pipeline_set_source(p, source_name(ip), source_fn, ip, HDR + (size_t)ip->max_bytes);
    for (int s = 0; s < NSTAGES && !err; s++)
        err = tsr_pipeline_add_stage(p, stage_names[s], stage_fn, &st[s],
                                     HDR + (size_t)ip->max_pixels, stage_cost(ip, s), 0);
    if (!err)
        err = tsr_pipeline_set_sink(p, sink_name(ip), sink_fn, sk);
    if (!err && ip->credits > 0)
        err = tsr_pipeline_set_credits(p, (int)ip->credits);
    if (!err && ip->stage_ranks[0])
        err = tsr_pipeline_set_stage_ranks(p, ip->stage_ranks);
    if (!err)
        err = tsr_pipeline_set_progress(p, tsr_progress_option_mode(&ip->progress), ip->frames);
    if (!err) {
        err = tsr_pipeline_run(p);
        /* A stage failure is agreed on every rank as a kernel failure; when it was the source
         * refusing an input file (rank 0 knows), it is the user's to fix: status 2 everywhere,
         * with the same message. */
        if (err == TSR_ERR_KERNEL) {
            int bad = ip->bad_input;
            int rc = MPI_Bcast(&bad, 1, MPI_INT, 0, tsr_ctx_comm(ctx));
            if (rc == MPI_SUCCESS && bad)
                err = tsr_ctx_agree(ctx, TSR_ERR_INPUT);
        }
    }
    if (!err && !ip->progress.quiet)
        err = tsr_pipeline_print_summary(p, stdout);
    tsr_pipeline_destroy(&p);
    TSR_CALL(ctx, err);
    return TSR_SUCCESS;
}

static int execute(tsr_ctx ctx, imgpipe *ip) {
    stage st[NSTAGES];
    for (int s = 0; s < NSTAGES; s++)
        st[s] = (stage){.kind = s, .ip = ip};
    sink sk = {.ip = ip};
    bool plain = ip->serial || ip->alone != ALONE_NONE;
    if (ip->input[0])
        tsr_ctx_printf(ctx, stdout, "frames %lld from %s, largest %lld pixels\n",
                       (long long)ip->frames, ip->input, (long long)ip->max_pixels);
    else
        tsr_ctx_printf(ctx, stdout, "frames %lld of %lldx%lld, synthetic, seed %lld\n",
                       (long long)ip->frames, (long long)ip->size.n[0], (long long)ip->size.n[1],
                       (long long)ip->seed);
    tsr_ctx_printf(ctx, stdout,
                   "%s, %d rank%s, %d thread%s per rank, sigma %g (radius %d), "
                   "threshold %lld\n",
                   plain ? "plain loop on rank 0" : "pipeline", tsr_ctx_size(ctx),
                   tsr_ctx_size(ctx) == 1 ? "" : "s", tsr_ctx_threads(ctx),
                   tsr_ctx_threads(ctx) == 1 ? "" : "s", ip->sigma, ip->radius,
                   (long long)ip->threshold);
    double alone = 0, t0 = tsr_wtime();
    int err;
    if (plain) {
        err = tsr_ctx_rank(ctx) == 0 ? run_serial(ctx, ip, st, &sk, &alone) : TSR_SUCCESS;
        err = tsr_ctx_agree(ctx, err);
    } else {
        err = run_pipeline(ctx, ip, st, &sk);
    }
    double seconds = tsr_wtime() - t0;
    for (int s = 0; s < NSTAGES; s++)
        free(st[s].scratch);
    TSR_CALL(ctx, err);
    tsr_ctx_printf(ctx, stdout, "frames %lld, %.3f s, %.2f frames/s\n", (long long)sk.frames,
                   seconds, seconds > 0 ? (double)sk.frames / seconds : 0.0);
    if (ip->alone != ALONE_NONE)
        tsr_ctx_printf(ctx, stdout, "stage %s alone: %.2f frames/s\n", alone_names[ip->alone],
                       alone > 0 ? (double)sk.frames / alone : 0.0);
    if (ip->output[0])
        tsr_ctx_printf(ctx, stdout, "wrote %lld PNG files to %s\n", (long long)sk.frames,
                       ip->output);
    char config[256];
    snprintf(config, sizeof config,
             "\"frames\": %lld, \"mode\": \"%s\", \"sigma\": %.17g, \"threshold\": %lld",
             (long long)sk.frames, plain ? "serial" : "pipeline", ip->sigma,
             (long long)ip->threshold);
    tsr_report rep = {.app = "tessera-imgpipe",
                      .force = ip->force,
                      .command_line = ip->cmdline,
                      .config_json = config,
                      .seconds = seconds,
                      .rate_unit = "frames/s",
                      .rate = seconds > 0 ? (double)sk.frames / seconds : 0.0};
    TSR_CALL(ctx, tsr_report_finish(ctx, &rep, ip->report, ip->progress.quiet ? NULL : stdout));
    tsr_ctx_printf(ctx, stdout, "checksum %016llx\n", (unsigned long long)sk.checksum);
    return TSR_SUCCESS;
}

static int run(tsr_ctx ctx, int argc, char **argv, bool *stopped) {
    (void)stopped; /* no checkpoints */
    imgpipe ip;
    bool done = false;
    int err = parse(ctx, argc, argv, &ip, &done);
    if (!err && !done)
        err = execute(ctx, &ip);
    free_files(&ip);
    return err;
}

int main(int argc, char **argv) {
    return tsr_main(argc, argv, "tessera-imgpipe", run);
}
