/* Progress line on rank 0, and the end-of-run report of per-rank timers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "context_impl.h"
#include "tessera/file.h"
#include "tessera/report.h"

void tsr_progress_start(tsr_progress *p, tsr_ctx ctx, int64_t total, bool enabled) {
    p->ctx = ctx;
    p->total = total;
    p->start = p->last = tsr_wtime();
    p->enabled = enabled && ctx->rank == 0;
    p->unit = "step";
}

void tsr_progress_update(tsr_progress *p, int64_t done) {
    if (!p->enabled)
        return;
    double now = tsr_wtime();
    if (now - p->last < 1.0)
        return;
    p->last = now;
    double rate = done / (now - p->start);
    double eta = rate > 0 ? (p->total - done) / rate : 0;
    bool tty = isatty(fileno(stderr));
    fprintf(stderr, "%s%s: %s %lld/%lld (%.0f%%), %.1f %ss/s, ETA %.0f s%s", tty ? "\r" : "",
            p->ctx->name, p->unit, (long long)done, (long long)p->total,
            p->total ? 100.0 * done / p->total : 100.0, rate, p->unit, eta, tty ? "   " : "\n");
    fflush(stderr);
}

void tsr_progress_end(tsr_progress *p) {
    if (p->enabled && p->last > p->start && isatty(fileno(stderr)))
        fputc('\n', stderr);
}

static const char *const timer_names[TSR_TIMER_COUNT] = {"compute", "pack", "wait", "unpack", "io"};

int tsr_report_add_option(tsr_opts opts, char *path) {
    return tsr_opts_add_string(opts, "report", path, "FILE.json",
                               "write per-rank timers and the run's configuration as JSON");
}

/* A JSON string literal of s (quotes, backslashes and control characters escaped). */
static void json_string(FILE *f, const char *s) {
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

/* Per rank: the timers, bytes sent, cores it may use, ranks on its node; host names travel
 * separately. */
enum { R_BYTES = TSR_TIMER_COUNT, R_CORES, R_NODE_RANKS, REPORT_VALUES };

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

static int write_json(tsr_ctx ctx, const tsr_report *r, const char *path, const double *all,
                      const char *hosts) {
    tsr_file_out out;
    TSR_CALL(ctx, tsr_file_open(ctx, path, r->force, &out));
    FILE *f = out.fp;
    int n = ctx->size;
    fprintf(f, "{\n  \"app\": ");
    json_string(f, r->app ? r->app : ctx->name);
    fprintf(f, ",\n  \"command_line\": ");
    json_string(f, r->command_line);
    fprintf(f, ",\n  \"tessera_version\": \"%s\",\n  \"ranks\": %d,\n  \"threads\": %d,\n",
            TESSERA_VERSION, n, ctx->threads);
    fprintf(f, "  \"nodes\": %d,\n  \"slurm_job_id\": ", ctx->launch.nodes);
    json_string(f, ctx->launch.job_id);
    fprintf(f, ",\n  \"slurm_nodelist\": ");
    json_string(f, ctx->launch.nodelist);
    fprintf(f, ",\n");
    if (r->config_json && *r->config_json)
        fprintf(f, "  \"config\": {%s},\n", r->config_json);
    fprintf(f, "  \"seconds\": %.9g,\n  \"rate_unit\": ", r->seconds);
    json_string(f, r->rate_unit ? r->rate_unit : "");
    fprintf(f, ",\n  \"rate\": %.9g,\n  \"imbalance\": {", r->rate);
    for (int t = 0; t < TSR_TIMER_COUNT; t++) {
        double mn, mean, mx;
        timer_stats(all, n, t, &mn, &mean, &mx);
        fprintf(f, "%s\"%s\": %.6g", t ? ", " : "", timer_names[t], mean > 0 ? mx / mean : 1.0);
    }
    fprintf(f, "},\n  \"per_rank\": [\n");
    for (int k = 0; k < n; k++) {
        fprintf(f, "    {\"rank\": %d, \"host\": ", k);
        json_string(f, &hosts[(size_t)k * MPI_MAX_PROCESSOR_NAME]);
        for (int t = 0; t < TSR_TIMER_COUNT; t++)
            fprintf(f, ", \"%s\": %.9g", timer_names[t], all[k * REPORT_VALUES + t]);
        const double *v = &all[k * REPORT_VALUES];
        fprintf(f, ", \"bytes_sent\": %.0f, \"cores\": %.0f, \"node_ranks\": %.0f}%s\n", v[R_BYTES],
                v[R_CORES], v[R_NODE_RANKS], k + 1 < n ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    TSR_CALL(ctx, tsr_file_commit(ctx, &out));
    return TSR_SUCCESS;
}

int tsr_report_finish(tsr_ctx ctx, const tsr_report *r, const char *path, FILE *out) {
    int n = ctx->size;
    double mine[REPORT_VALUES];
    for (int t = 0; t < TSR_TIMER_COUNT; t++)
        mine[t] = ctx->timers[t];
    mine[R_BYTES] = (double)ctx->bytes_sent;
    mine[R_CORES] = ctx->launch.affinity_cores;
    mine[R_NODE_RANKS] = ctx->launch.node_ranks;
    char host[MPI_MAX_PROCESSOR_NAME] = "";
    int len = 0;
    TSR_MPI(ctx, MPI_Get_processor_name(host, &len));
    double *all = NULL;
    char *hosts = NULL;
    int err = TSR_SUCCESS;
    if (ctx->rank == 0) {
        err = tsr__calloc(ctx, (size_t)n * REPORT_VALUES, sizeof *all, &all);
        if (!err)
            err = tsr__calloc(ctx, (size_t)n, MPI_MAX_PROCESSOR_NAME, &hosts);
    }
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    TSR_MPI(ctx, MPI_Gather(mine, REPORT_VALUES, MPI_DOUBLE, all, REPORT_VALUES, MPI_DOUBLE, 0,
                            ctx->comm));
    TSR_MPI(ctx, MPI_Gather(host, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, hosts, MPI_MAX_PROCESSOR_NAME,
                            MPI_CHAR, 0, ctx->comm));
    if (ctx->rank == 0) {
        if (out) {
            fprintf(out, "%-8s %10s %10s %10s %9s\n", "timer", "min s", "mean s", "max s",
                    "max/mean");
            for (int t = 0; t < TSR_TIMER_COUNT; t++) {
                double mn, mean, mx;
                timer_stats(all, n, t, &mn, &mean, &mx);
                fprintf(out, "%-8s %10.4f %10.4f %10.4f %9.2f\n", timer_names[t], mn, mean, mx,
                        mean > 0 ? mx / mean : 1.0);
            }
        }
        if (path && *path)
            err = write_json(ctx, r, path, all, hosts);
    }
    free(all);
    free(hosts);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    if (path && *path && out)
        tsr_ctx_printf(ctx, out, "wrote report %s\n", path);
    return TSR_SUCCESS;
}
