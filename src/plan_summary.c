/* The per-rank lines of --plan (a table up to 64 ranks, a summary above) and the distinct host
 * names of the end-of-run report. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "plan_summary_impl.h"

static void rank_header(FILE *out) {
    fprintf(out, "%6s %8s %14s %8s %16s\n", "rank", "blocks", "cells", "peers", "halo bytes/exch");
}

static void rank_row(FILE *out, const tsr__rank_stats *st, int r) {
    fprintf(out, "%6d %8" PRId64 " %14" PRId64 " %8" PRId64 " %16" PRId64 "\n", r, st[r].blocks,
            st[r].cells, st[r].peers, st[r].halo_bytes);
}

static int64_t field(const tsr__rank_stats *s, int k) {
    return k == 0 ? s->blocks : k == 1 ? s->cells : k == 2 ? s->peers : s->halo_bytes;
}

static void summary_stats(FILE *out, const tsr__rank_stats *st, int n) {
    static const char *const names[4] = {"blocks", "cells", "peers", "halo bytes/exch"};
    fprintf(out, "%-16s %14s %16s %14s\n", "per rank", "min", "mean", "max");
    for (int k = 0; k < 4; k++) {
        int64_t mn = field(&st[0], k), mx = mn, sum = 0;
        for (int r = 0; r < n; r++) {
            int64_t v = field(&st[r], k);
            mn = v < mn ? v : mn;
            mx = v > mx ? v : mx;
            sum += v;
        }
        fprintf(out, "%-16s %14" PRId64 " %16.1f %14" PRId64 "\n", names[k], mn, (double)sum / n,
                mx);
    }
}

/* Bins of equal integer width from the least to the most cells, so that every bin's bounds are
 * exact cell counts. */
static void histogram(FILE *out, const tsr__rank_stats *st, int n) {
    int64_t mn = st[0].cells, mx = mn, count[TSR__PLAN_BINS] = {0}, most = 0;
    for (int r = 0; r < n; r++) {
        mn = st[r].cells < mn ? st[r].cells : mn;
        mx = st[r].cells > mx ? st[r].cells : mx;
    }
    int64_t w = (mx - mn) / TSR__PLAN_BINS + 1;
    int bins = (int)((mx - mn) / w) + 1;
    for (int r = 0; r < n; r++)
        count[(st[r].cells - mn) / w]++;
    for (int i = 0; i < bins; i++)
        most = count[i] > most ? count[i] : most;
    fprintf(out, "cells per rank: %d bin%s of %" PRId64 "\n", bins, bins > 1 ? "s" : "", w);
    for (int i = 0; i < bins; i++) {
        char bar[41];
        int len = (int)((count[i] * 40 + most - 1) / most);
        memset(bar, '#', (size_t)len);
        bar[len] = '\0';
        fprintf(out, "  %14" PRId64 " .. %-14" PRId64 " %8" PRId64 "%s%s\n", mn + i * w,
                mn + (i + 1) * w - 1, count[i], len ? "  " : "", bar);
    }
}

/* The most cells first; among equals the lowest rank, so the list does not depend on order. */
static void most_loaded(FILE *out, const tsr__rank_stats *st, int n) {
    int top[TSR__PLAN_TOP], k = 0;
    for (int r = 0; r < n; r++) {
        if (k == TSR__PLAN_TOP && st[r].cells <= st[top[k - 1]].cells)
            continue;
        int i = k < TSR__PLAN_TOP ? k++ : k - 1;
        for (; i > 0 && st[top[i - 1]].cells < st[r].cells; i--)
            top[i] = top[i - 1];
        top[i] = r;
    }
    fprintf(out, "most loaded ranks (cells):\n");
    rank_header(out);
    for (int i = 0; i < k; i++)
        rank_row(out, st, top[i]);
}

void tsr__plan_print_ranks(FILE *out, const tsr__rank_stats *st, int nranks, bool full) {
    if (full || nranks <= TSR__PLAN_TABLE_MAX_RANKS) {
        rank_header(out);
        for (int r = 0; r < nranks; r++)
            rank_row(out, st, r);
    } else {
        summary_stats(out, st, nranks);
        histogram(out, st, nranks);
        most_loaded(out, st, nranks);
    }
    int64_t maxc = 0, sumc = 0, sumbytes = 0;
    for (int r = 0; r < nranks; r++) {
        maxc = st[r].cells > maxc ? st[r].cells : maxc;
        sumc += st[r].cells;
        sumbytes += st[r].halo_bytes;
    }
    double mean = (double)sumc / nranks;
    fprintf(out,
            "imbalance (max/mean cells): %.3f; halo bytes per exchange, all ranks: %" PRId64 "\n",
            mean > 0 ? (double)maxc / mean : 0.0, sumbytes);
}

static const char *const *sort_names;

static int cmp_rank_name(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    int c = strcmp(sort_names[x], sort_names[y]);
    return c ? c : (x > y) - (x < y);
}

int tsr__hosts_dedup(const char *const *names, int n, int *order, int *first) {
    for (int r = 0; r < n; r++)
        order[r] = r;
    sort_names = names;
    qsort(order, (size_t)n, sizeof *order, cmp_rank_name);
    sort_names = NULL;
    int distinct = 0;
    for (int i = 0, lead = 0; i < n; i++) {
        if (i == 0 || strcmp(names[order[i]], names[lead])) {
            lead = order[i];
            distinct++;
        }
        first[order[i]] = lead;
    }
    return distinct;
}

void tsr__hosts_line(char *buf, size_t len, const char *const *names, const int *first, int n,
                     int distinct, int show) {
    size_t at = (size_t)snprintf(buf, len, "hosts: %d distinct", distinct);
    int shown = 0;
    for (int r = 0; r < n && shown < show && at < len; r++)
        if (first[r] == r)
            at += (size_t)snprintf(buf + at, len - at, "%s%s", shown++ ? ", " : ": ", names[r]);
    if (shown < distinct && at < len)
        snprintf(buf + at, len - at, ", ... (%d more)", distinct - shown);
}
