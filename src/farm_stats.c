/* What a farm run did: per-rank counts gathered on rank 0, the run report's JSON, the summary. */
#include <stdlib.h>
#include <string.h>

#include "farm_impl.h"

/* Rank 0: what the run report shows of this farm: per rank tasks, chunks, busy and idle time. */
static int report_json(tsr_farm f) {
    tsr_ctx ctx = f->ctx;
    size_t len = 512 + (size_t)f->size * 160;
    char *j;
    TSR_CALL(ctx, tsr__calloc(ctx, len, 1, &j));
    char policy[64];
    tsr_chunk_policy_format(&f->o.chunk, policy, sizeof policy);
    size_t n = (size_t)snprintf(j, len,
                                "\"farm\": {\"tasks\": %lld, \"failed\": %lld, \"chunk\": \"%s\", "
                                "\"seconds\": %.9g, \"balance\": %.6g, \"max_buffered\": %lld, "
                                "\"requests\": %lld, \"request_seconds\": %.9g, "
                                "\"request_median_seconds\": %.9g, \"request_p99_seconds\": %.9g, "
                                "\"per_rank\": [",
                                (long long)f->o.ntasks, (long long)f->nfailed, policy, f->seconds,
                                f->balance, (long long)f->max_buffered, (long long)f->requests,
                                f->request_seconds, tsr__qhist_quantile(&f->request_times, 0.5),
                                tsr__qhist_quantile(&f->request_times, 0.99));
    for (int w = 0; w < f->size && n < len; w++) {
        const tsr_farm_worker *k = &f->workers[w];
        double idle = f->seconds > k->busy ? f->seconds - k->busy : 0.0;
        n += (size_t)snprintf(j + n, len - n,
                              "%s{\"rank\": %d, \"tasks\": %lld, \"chunks\": %lld, "
                              "\"busy_seconds\": %.9g, \"idle_seconds\": %.9g}",
                              w ? ", " : "", w, (long long)k->tasks, (long long)k->chunks, k->busy,
                              idle);
    }
    if (n < len)
        snprintf(j + n, len - n, "]}");
    tsr__report_set_json(ctx, j);
    return TSR_SUCCESS;
}

int tsr__farm_gather_stats(tsr_farm f) {
    tsr_ctx ctx = f->ctx;
    if (f->rank == 0) {
        free(f->workers);
        f->workers = NULL;
        TSR_CALL(ctx, tsr__calloc(ctx, (size_t)f->size, sizeof *f->workers, &f->workers));
    }
    TSR_MPI(ctx, MPI_Gather(&f->me, (int)sizeof f->me, MPI_BYTE, f->workers, (int)sizeof f->me,
                            MPI_BYTE, 0, f->comm));
    if (f->rank != 0)
        return TSR_SUCCESS;
    double max = 0, sum = 0;
    int n = 0;
    for (int w = 0; w < f->size; w++) {
        if ((w == 0 && f->size > 1 && !f->o.coordinator_works) || f->workers[w].serves > 0)
            continue; /* coordinators only */
        double b = f->workers[w].busy;
        max = b > max ? b : max;
        sum += b;
        n++;
    }
    f->balance = sum > 0 ? max / (sum / n) : 1.0;
    return report_json(f);
}

/* ---- statistics ---- */

int tsr_farm_get_stats(tsr_farm f, tsr_farm_stats *st) {
    if (!f || !st)
        return TSR_ERR_ARG;
    memset(st, 0, sizeof *st);
    st->ntasks = f->o.ntasks;
    st->failed = f->nfailed;
    st->chunk = f->o.chunk;
    st->seconds = f->seconds;
    st->balance = f->balance;
    st->max_buffered = f->max_buffered;
    st->requests = f->rank == 0 ? f->requests : 0;
    st->request_seconds = f->rank == 0 ? f->request_seconds : 0;
    st->request_median_seconds = f->rank == 0 ? tsr__qhist_quantile(&f->request_times, 0.5) : 0;
    st->request_p99_seconds = f->rank == 0 ? tsr__qhist_quantile(&f->request_times, 0.99) : 0;
    st->nranks = f->size;
    st->workers = f->rank == 0 ? f->workers : NULL;
    st->failed_ids = f->rank == 0 ? f->failed_ids : NULL;
    return TSR_SUCCESS;
}

int tsr_farm_print_summary(tsr_farm f, FILE *out) {
    if (!f || !out)
        return TSR_ERR_ARG;
    if (f->rank != 0 || !f->workers)
        return TSR_SUCCESS;
    char policy[64];
    tsr_chunk_policy_format(&f->o.chunk, policy, sizeof policy);
    fprintf(out, "farm: %lld tasks on %d rank%s, chunks %s, %.3f s, %.1f tasks/s\n",
            (long long)f->o.ntasks, f->size, f->size > 1 ? "s" : "", policy, f->seconds,
            f->seconds > 0 ? (double)f->o.ntasks / f->seconds : 0.0);
    if (f->nsub > 0)
        fprintf(out, "  %d sub-coordinator%s (--farm-groups), each serving its group\n", f->nsub,
                f->nsub > 1 ? "s" : "");
    fprintf(out, "  %6s %12s %10s %10s\n", "rank", "tasks", "chunks", "busy s");
    int64_t tasks = 0, chunks = 0;
    double busy = 0;
    for (int w = 0; w < f->size; w++) {
        const tsr_farm_worker *k = &f->workers[w];
        fprintf(out, "  %6d %12lld %10lld %10.3f", w, (long long)k->tasks, (long long)k->chunks,
                k->busy);
        if (k->serves > 0)
            fprintf(out, "  sub-coordinator of %lld", (long long)k->serves);
        fputc('\n', out);
        tasks += k->tasks;
        chunks += k->chunks;
        busy += k->busy;
    }
    fprintf(out, "  %6s %12lld %10lld %10.3f\n", "total", (long long)tasks, (long long)chunks,
            busy);
    fprintf(out, "  balance %.2f (max/mean busy time), at most %lld results buffered", f->balance,
            (long long)f->max_buffered);
    if (f->nfailed)
        fprintf(out, ", %lld failed", (long long)f->nfailed);
    fputc('\n', out);
    if (f->requests > 0)
        fprintf(out,
                "  rank 0 handled %lld requests in %.6f s, %.2f us each (median %.2f us, 99th "
                "percentile %.2f us)\n",
                (long long)f->requests, f->request_seconds,
                1e6 * f->request_seconds / (double)f->requests,
                1e6 * tsr__qhist_quantile(&f->request_times, 0.5),
                1e6 * tsr__qhist_quantile(&f->request_times, 0.99));
    return TSR_SUCCESS;
}
