/* Progress line on rank 0, and the end-of-run report of per-rank timers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <hdf5.h>

#include "context_impl.h"
#include "git_commit.h"
#include "plan_summary_impl.h"
#include "report_impl.h"
#include "tessera/file.h"
#include "tessera/report.h"

/* The batch cadence: a line per tenth of the work, at least a minute apart. */
#define PROGRESS_PARTS 10.0
#define PROGRESS_MIN_SECONDS 60.0
#define PROGRESS_FIRST_SECONDS 600.0

static const char *const progress_names[] = {"auto", "on", "off", NULL};

int tsr_progress_add_options(tsr_opts opts, tsr_progress_option *p) {
    p->choice = 0;
    p->quiet = false;
    tsr_opts_add_choice(opts, "progress", &p->choice, progress_names,
                        "progress on stderr: auto (in place on a terminal; in a log a "
                        "line per 10% of the work or 60 s, whichever is later), on "
                        "(every second), off");
    tsr_opts_add_flag(opts, "quiet", &p->quiet, "no progress (--progress off)");
    return tsr_opts_error(opts);
}

tsr_progress_mode tsr_progress_option_mode(const tsr_progress_option *p) {
    if (p->quiet || p->choice == 2)
        return TSR_PROGRESS_OFF;
    return p->choice == 1 ? TSR_PROGRESS_ON : TSR_PROGRESS_AUTO;
}

bool tsr_progress_due(bool each_second, double start, double last, double now, int64_t done,
                      int64_t last_done, int64_t total) {
    double since = now - last;
    if (each_second)
        return since >= 1.0;
    if (since < PROGRESS_MIN_SECONDS)
        return false;
    if (total > 0 && (double)(done - last_done) * PROGRESS_PARTS >= (double)total)
        return true;
    /* No tenth of the work since the last line: still a line once the time a tenth took at the
     * rate seen then has passed (a stalled run is not silent), or 10 min before any estimate. */
    double period = PROGRESS_FIRST_SECONDS;
    if (last_done > 0 && last > start && total > 0)
        period = (last - start) * (double)total / (double)last_done / PROGRESS_PARTS;
    return since >= period;
}

void tsr_progress_start(tsr_progress *p, tsr_ctx ctx, int64_t total, tsr_progress_mode mode) {
    memset(p, 0, sizeof *p);
    p->ctx = ctx;
    p->total = total;
    p->start = p->last = tsr_wtime();
    p->enabled = mode != TSR_PROGRESS_OFF && ctx->rank == 0;
    p->terminal = p->enabled && isatty(fileno(stderr));
    p->each_second = p->terminal || mode == TSR_PROGRESS_ON;
    p->unit = "step";
}

/* "42 s", "12 min 5 s", "3 h 20 min". */
static void format_duration(char *buf, size_t len, double s) {
    if (!(s >= 0) || s > 1e9)
        snprintf(buf, len, "?");
    else if (s < 60)
        snprintf(buf, len, "%.0f s", s);
    else if (s < 3600)
        snprintf(buf, len, "%d min %d s", (int)(s / 60), (int)s % 60);
    else
        snprintf(buf, len, "%d h %d min", (int)(s / 3600), (int)(s / 60) % 60);
}

void tsr__progress_format(char *buf, size_t len, const char *name, const char *unit, int64_t done,
                          int64_t total, double elapsed, const char *outcome) {
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    char el[32], eta[32];
    format_duration(el, sizeof el, elapsed);
    if (outcome)
        snprintf(eta, sizeof eta, "%s", outcome);
    else if (rate > 0)
        format_duration(eta, sizeof eta, (double)(total - done) / rate);
    else
        snprintf(eta, sizeof eta, "?");
    snprintf(buf, len, "%s: %s %lld/%lld (%.0f%%), %s elapsed, %.3g %ss/s, %s%s", name, unit,
             (long long)done, (long long)total,
             total ? 100.0 * (double)done / (double)total : 100.0, el, rate, unit,
             outcome ? "" : "ETA ", eta);
}

static void progress_line(tsr_progress *p, int64_t done, double now, const char *outcome) {
    char line[256];
    tsr__progress_format(line, sizeof line, p->ctx->name, p->unit, done, p->total, now - p->start,
                         outcome);
    for (int k = 0, shown = 0; k < TSR_PROGRESS_COUNTS; k++)
        if (p->count_name[k]) {
            size_t at = strlen(line);
            snprintf(line + at, sizeof line - at, "%s%lld %s", shown++ ? ", " : "; ",
                     (long long)p->count[k], p->count_name[k]);
        }
    fprintf(stderr, "%s%s%s", p->terminal ? "\r" : "", line, p->terminal ? "   " : "\n");
    fflush(stderr);
    p->lines++;
}

void tsr_progress_update(tsr_progress *p, int64_t done) {
    if (!p->enabled)
        return;
    p->done = done;
    double now = tsr_wtime();
    if (!tsr_progress_due(p->each_second, p->start, p->last, now, done, p->last_done, p->total))
        return;
    progress_line(p, done, now, NULL);
    p->last = now;
    p->last_done = done;
}

void tsr_progress_end(tsr_progress *p) {
    tsr_progress_end_as(p, NULL);
}

int tsr_progress_end_as(tsr_progress *p, const char *outcome) {
    if (!p)
        return TSR_ERR_ARG;
    if (!p->enabled || p->lines == 0)
        return TSR_SUCCESS;
    /* A terminal's in-place line already shows where the loop stopped, unless it has a word of
     * its own to say why. */
    if (outcome || (!p->terminal && p->last_done < p->done))
        progress_line(p, p->done, tsr_wtime(),
                      outcome               ? outcome
                      : p->done == p->total ? "done"
                                            : "stopped");
    if (p->terminal)
        fputc('\n', stderr);
    return TSR_SUCCESS;
}

static const char *const timer_names[TSR_TIMER_COUNT] = {"compute", "pack", "wait", "unpack", "io"};

int tsr_report_add_option(tsr_opts opts, char *path) {
    return tsr_opts_add_string(opts, "report", path, "FILE.json",
                               "write per-rank timers and the run's configuration as JSON");
}

void tsr__json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* Per rank: the timers, bytes and messages sent, cores it may use, ranks on its node, cells,
 * blocks, peak resident bytes, wall seconds; host names travel separately. */
enum {
    R_BYTES = TSR_TIMER_COUNT,
    R_MSGS,
    R_CORES,
    R_NODE_RANKS,
    R_CELLS,
    R_BLOCKS,
    R_RSS,
    R_WALL,
    REPORT_VALUES
};

static void timer_stats(const double *all, int nranks, int t, double *min, double *mean,
                        double *max) {
    *min = *max = all[t];
    double sum = 0;
    for (int r = 0; r < nranks; r++) {
        double v = all[r * REPORT_VALUES + t];
        sum += v;
        *min = v < *min ? v : *min;
        *max = v > *max ? v : *max;
    }
    *mean = sum / nranks;
}

/* The MPI library's version, its first line only. */
static void mpi_version(char *buf, size_t len) {
    char v[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    int n = 0;
    if (MPI_Get_library_version(v, &n) != MPI_SUCCESS)
        snprintf(v, sizeof v, "unknown");
    v[strcspn(v, "\r\n")] = '\0';
    snprintf(buf, len, "%s", v);
}

static int write_json(tsr_ctx ctx, const tsr_report *r, const char *path, const double *all,
                      const char *const *hosts) {
    tsr_file_out out;
    TSR_CALL(ctx, tsr_file_open(ctx, path, r->force, &out));
    FILE *f = out.fp;
    int n = ctx->size;
    char mpi[MPI_MAX_LIBRARY_VERSION_STRING], hdf5[48];
    mpi_version(mpi, sizeof mpi);
    unsigned maj = 0, min = 0, rel = 0;
    H5get_libversion(&maj, &min, &rel);
    snprintf(hdf5, sizeof hdf5, "%u.%u.%u", maj, min, rel);
    double wall = 0, wall_no_io = 0;
    for (int k = 0; k < n; k++) {
        const double *v = &all[k * REPORT_VALUES];
        wall = v[R_WALL] > wall ? v[R_WALL] : wall;
        double w = v[R_WALL] - v[TSR_TIMER_IO];
        wall_no_io = w > wall_no_io ? w : wall_no_io;
    }
    fprintf(f, "{\n  \"schema\": \"%s\",\n  \"app\": ", TSR_REPORT_SCHEMA);
    tsr__json_string(f, r->app ? r->app : ctx->name);
    fprintf(f, ",\n  \"command_line\": ");
    tsr__json_string(f, r->command_line);
    fprintf(f, ",\n  \"tessera_version\": \"%s\",\n  \"git_commit\": \"%s\",\n  \"compiler\": ",
            TESSERA_VERSION, TESSERA_GIT_COMMIT);
#if defined(__clang__)
    tsr__json_string(f, "clang " __VERSION__);
#elif defined(__GNUC__)
    tsr__json_string(f, "gcc " __VERSION__);
#else
    tsr__json_string(f, "unknown");
#endif
    fprintf(f, ",\n  \"mpi_library\": ");
    tsr__json_string(f, mpi);
    fprintf(f, ",\n  \"hdf5_version\": \"%s\",\n  \"started\": ", hdf5);
    tsr__json_string(f, ctx->started_utc);
    fprintf(f, ",\n  \"ranks\": %d,\n  \"threads\": %d,\n", n, ctx->threads);
    fprintf(f, "  \"nodes\": %d,\n  \"slurm_job_id\": ", ctx->launch.nodes);
    tsr__json_string(f, ctx->launch.job_id);
    fprintf(f, ",\n  \"slurm_nodelist\": ");
    tsr__json_string(f, ctx->launch.nodelist);
    const char *options = r->options_json ? r->options_json : ctx->report_options;
    fprintf(f, ",\n  \"options\": %s,\n", options && *options ? options : "{}");
    fprintf(f, "  \"config\": {%s},\n", r->config_json ? r->config_json : "");
    fprintf(f, "  \"seconds\": %.9g,\n  \"wall_seconds\": %.9g,\n", r->seconds, wall);
    fprintf(f, "  \"wall_seconds_without_io\": %.9g,\n  \"rate_unit\": ", wall_no_io);
    tsr__json_string(f, r->rate_unit ? r->rate_unit : "");
    fprintf(f, ",\n  \"rate\": %.9g,\n  \"imbalance\": {", r->rate);
    for (int t = 0; t < TSR_TIMER_COUNT; t++) {
        double mn, mean, mx;
        timer_stats(all, n, t, &mn, &mean, &mx);
        fprintf(f, "%s\"%s\": %.6g", t ? ", " : "", timer_names[t], mean > 0 ? mx / mean : 1.0);
    }
    fprintf(f, "},\n");
    if (ctx->report_json)
        fprintf(f, "  %s,\n", ctx->report_json);
    if (ctx->run_json[0])
        fprintf(f, "  %s,\n", ctx->run_json);
    fprintf(f, "  \"per_rank\": [\n");
    for (int k = 0; k < n; k++) {
        fprintf(f, "    {\"rank\": %d, \"host\": ", k);
        tsr__json_string(f, hosts[k]);
        for (int t = 0; t < TSR_TIMER_COUNT; t++)
            fprintf(f, ", \"%s\": %.9g", timer_names[t], all[k * REPORT_VALUES + t]);
        const double *v = &all[k * REPORT_VALUES];
        fprintf(f,
                ", \"cells\": %.0f, \"blocks\": %.0f, \"bytes_sent\": %.0f, \"messages_sent\": "
                "%.0f, \"peak_rss_bytes\": %.0f, \"wall_seconds\": %.9g, \"cores\": %.0f, "
                "\"node_ranks\": %.0f}%s\n",
                v[R_CELLS], v[R_BLOCKS], v[R_BYTES], v[R_MSGS], v[R_RSS], v[R_WALL], v[R_CORES],
                v[R_NODE_RANKS], k + 1 < n ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    TSR_CALL(ctx, tsr_file_commit(ctx, &out));
    return TSR_SUCCESS;
}

int tsr_report_keep_options(tsr_ctx ctx, tsr_opts opts) {
    char *json = NULL;
    TSR_CALL(ctx, tsr_opts_json(opts, &json));
    free(ctx->report_options);
    ctx->report_options = json;
    return TSR_SUCCESS;
}

void tsr__report_set_json(tsr_ctx ctx, char *json) {
    free(ctx->report_json);
    ctx->report_json = json;
}

/* Host names shown on the end-of-run table when the run spans several. */
#define HOSTS_SHOWN 8

/* Rank 0's copy of every rank's host name: the names as sent (each its own length, not
 * MPI_MAX_PROCESSOR_NAME, so P ranks cost P short names), and for each rank the lowest rank on
 * the same host. */
typedef struct gathered_hosts {
    char *text;
    char **names;
    int *first;
    int distinct;
} gathered_hosts;

static void free_hosts(gathered_hosts *h) {
    free(h->text);
    free(h->names);
    free(h->first);
}

/* Collective; on rank 0 fills *h. Returns the same error on every rank. */
static int gather_hosts(tsr_ctx ctx, const char *host, gathered_hosts *h) {
    int n = ctx->size, mylen = (int)strlen(host) + 1;
    int *lens = NULL, *displs = NULL, *order = NULL;
    int err = TSR_SUCCESS;
    if (ctx->rank == 0)
        err = tsr__calloc(ctx, (size_t)n, sizeof *lens, &lens);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    int mpi = MPI_Gather(&mylen, 1, MPI_INT, lens, 1, MPI_INT, 0, ctx->comm);
    int64_t total = 0;
    if (ctx->rank == 0) {
        for (int r = 0; r < n; r++)
            total += lens[r];
        if (total > INT32_MAX)
            err = tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                "%lld bytes of host names: more than one gather holds",
                                (long long)total);
        if (!err)
            err = tsr__calloc(ctx, (size_t)n, sizeof *displs, &displs);
        if (!err)
            err = tsr__calloc(ctx, (size_t)total, 1, &h->text);
        if (!err)
            err = tsr__calloc(ctx, (size_t)n, sizeof *h->names, &h->names);
        if (!err)
            err = tsr__calloc(ctx, (size_t)n, sizeof *h->first, &h->first);
        if (!err)
            err = tsr__calloc(ctx, (size_t)n, sizeof *order, &order);
        for (int r = 1; !err && r < n; r++)
            displs[r] = displs[r - 1] + lens[r - 1];
    }
    if (mpi != MPI_SUCCESS)
        err = tsr_error_mpi(ctx, mpi, "MPI_Gather", __FILE__, __LINE__, __func__);
    err = tsr_ctx_agree(ctx, err);
    if (!err) {
        mpi = MPI_Gatherv(host, mylen, MPI_CHAR, h->text, lens, displs, MPI_CHAR, 0, ctx->comm);
        err = tsr_ctx_agree(ctx, mpi != MPI_SUCCESS ? tsr_error_mpi(ctx, mpi, "MPI_Gatherv",
                                                                    __FILE__, __LINE__, __func__)
                                                    : TSR_SUCCESS);
    }
    if (!err && ctx->rank == 0) {
        for (int r = 0; r < n; r++)
            h->names[r] = h->text + displs[r];
        h->distinct = tsr__hosts_dedup((const char *const *)h->names, n, order, h->first);
    }
    free(lens);
    free(displs);
    free(order);
    if (err) {
        free_hosts(h);
        *h = (gathered_hosts){0};
    }
    return err;
}

int tsr_report_finish(tsr_ctx ctx, const tsr_report *r, const char *path, FILE *out) {
    int n = ctx->size;
    double mine[REPORT_VALUES];
    for (int t = 0; t < TSR_TIMER_COUNT; t++)
        mine[t] = ctx->timers[t];
    mine[R_BYTES] = (double)ctx->bytes_sent;
    mine[R_MSGS] = (double)ctx->msgs_sent;
    mine[R_CELLS] = (double)r->cells;
    mine[R_BLOCKS] = (double)r->blocks;
    struct rusage ru;
    /* ru_maxrss is in kilobytes on Linux. */
    mine[R_RSS] = getrusage(RUSAGE_SELF, &ru) == 0 ? 1024.0 * (double)ru.ru_maxrss : 0.0;
    mine[R_WALL] = tsr_wtime() - ctx->t_created;
    mine[R_CORES] = ctx->launch.affinity_cores;
    mine[R_NODE_RANKS] = ctx->launch.node_ranks;
    char host[MPI_MAX_PROCESSOR_NAME] = "";
    int len = 0;
    TSR_MPI(ctx, MPI_Get_processor_name(host, &len));
    /* Every rank's row only for the JSON report; the table needs three reductions, so a run
     * without --report costs rank 0 O(1) memory for it whatever P. */
    bool json = path && *path;
    double *all = NULL, lo[TSR_TIMER_COUNT], mean[TSR_TIMER_COUNT], hi[TSR_TIMER_COUNT];
    int err = TSR_SUCCESS;
    if (json && ctx->rank == 0)
        err = tsr__calloc(ctx, (size_t)n * REPORT_VALUES, sizeof *all, &all);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    if (json) {
        TSR_MPI(ctx, MPI_Gather(mine, REPORT_VALUES, MPI_DOUBLE, all, REPORT_VALUES, MPI_DOUBLE, 0,
                                ctx->comm));
        for (int t = 0; ctx->rank == 0 && t < TSR_TIMER_COUNT; t++)
            timer_stats(all, n, t, &lo[t], &mean[t], &hi[t]);
    } else {
        TSR_MPI(ctx, MPI_Reduce(mine, lo, TSR_TIMER_COUNT, MPI_DOUBLE, MPI_MIN, 0, ctx->comm));
        TSR_MPI(ctx, MPI_Reduce(mine, hi, TSR_TIMER_COUNT, MPI_DOUBLE, MPI_MAX, 0, ctx->comm));
        TSR_MPI(ctx, MPI_Reduce(mine, mean, TSR_TIMER_COUNT, MPI_DOUBLE, MPI_SUM, 0, ctx->comm));
        for (int t = 0; ctx->rank == 0 && t < TSR_TIMER_COUNT; t++)
            mean[t] /= n;
    }
    gathered_hosts h = {0};
    err = gather_hosts(ctx, host, &h);
    if (ctx->rank == 0) {
        if (out) {
            fprintf(out, "%-8s %10s %10s %10s %9s\n", "timer", "min s", "mean s", "max s",
                    "max/mean");
            for (int t = 0; t < TSR_TIMER_COUNT; t++)
                fprintf(out, "%-8s %10.4f %10.4f %10.4f %9.2f\n", timer_names[t], lo[t], mean[t],
                        hi[t], mean[t] > 0 ? hi[t] / mean[t] : 1.0);
            /* One node's runs keep their table as it was; the names only when there are
             * several, and a few of them, not P. */
            if (h.distinct > 1) {
                char line[512];
                tsr__hosts_line(line, sizeof line, (const char *const *)h.names, h.first, n,
                                h.distinct, HOSTS_SHOWN);
                fprintf(out, "%s\n", line);
            }
        }
        if (!err && json)
            err = write_json(ctx, r, path, all, (const char *const *)h.names);
    }
    free(all);
    free_hosts(&h);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    if (json && out)
        tsr_ctx_printf(ctx, out, "wrote report %s\n", path);
    return TSR_SUCCESS;
}
