/* The pipeline's rank planner: which ranks run which stages and how many credits each link has.
 * Pure: no MPI, rank 0 runs it and broadcasts the plan (unit-tested in tests/unit). */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_impl.h"

/* Parses "2,1,1" into counts; TSR_ERR_INPUT naming the problem. */
static int parse_counts(tsr_pipeline p, int counts[TSR_PIPELINE_MAX_STAGES]) {
    tsr_ctx ctx = p->ctx;
    const char *s = p->stage_ranks;
    int n = 0;
    for (;;) {
        char *end = NULL;
        long v = s[0] >= '0' && s[0] <= '9' ? strtol(s, &end, 10) : -1;
        TSR_CHECK(ctx, v >= 0 && end && (*end == ',' || *end == '\0') && v <= INT_MAX,
                  TSR_ERR_INPUT,
                  "--stage-ranks '%s' is malformed: expected one count per stage, like 2,1,1",
                  p->stage_ranks);
        if (n < TSR_PIPELINE_MAX_STAGES)
            counts[n] = (int)v;
        n++;
        if (*end == '\0')
            break;
        s = end + 1;
    }
    TSR_CHECK(ctx, n == p->nstages, TSR_ERR_INPUT, "--stage-ranks has %d count%s for %d stage%s", n,
              n == 1 ? "" : "s", p->nstages, p->nstages == 1 ? "" : "s");
    for (int i = 0; i < n; i++)
        TSR_CHECK(ctx, counts[i] >= 1, TSR_ERR_INPUT,
                  "--stage-ranks gives stage '%s' %d ranks; every stage needs at least 1",
                  p->stages[i].name, counts[i]);
    return TSR_SUCCESS;
}

/* Ranks per stage when there are at least as many as stages: the requested counts, else one
 * each plus the rest one by one to the stage with the largest cost per rank. */
static int share_ranks(tsr_pipeline p, int avail, int counts[TSR_PIPELINE_MAX_STAGES]) {
    tsr_ctx ctx = p->ctx;
    int S = p->nstages, fixed = 0, nfree = 0;
    for (int s = 0; s < S; s++) {
        counts[s] = p->stages[s].ranks > 0 ? p->stages[s].ranks : 1;
        if (p->stages[s].ranks > 0)
            fixed += p->stages[s].ranks;
        else
            nfree++;
    }
    TSR_CHECK(ctx, (int64_t)fixed + nfree <= avail, TSR_ERR_INPUT,
              "the stages ask for %d ranks (%d requested, 1 for each of the %d others) but %d are "
              "available for stages",
              fixed + nfree, fixed, nfree, avail);
    for (int rest = avail - fixed - nfree; rest > 0; rest--) {
        int best = -1;
        for (int s = 0; s < S; s++) {
            if (nfree > 0 && p->stages[s].ranks > 0)
                continue; /* requested counts are exact while others can take the rest */
            if (best < 0 || p->stages[s].cost / counts[s] > p->stages[best].cost / counts[best])
                best = s;
        }
        counts[best]++;
    }
    return TSR_SUCCESS;
}

/* Cuts S stages into k contiguous groups minimising the largest summed cost. */
static void cut_stages(const tsr_pipeline p, int k, int last[TSR_PIPELINE_MAX_STAGES]) {
    enum { M = TSR_PIPELINE_MAX_STAGES + 1 };
    int S = p->nstages;
    double pre[M] = {0}, best[M][M];
    int from[M][M];
    for (int s = 0; s < S; s++)
        pre[s + 1] = pre[s] + p->stages[s].cost;
    /* best[g][i]: the first i stages in g groups. */
    for (int g = 0; g <= k; g++)
        for (int i = 0; i <= S; i++)
            best[g][i] = INFINITY;
    best[0][0] = 0;
    for (int g = 1; g <= k; g++)
        for (int i = g; i <= S; i++)
            for (int j = g - 1; j < i; j++) {
                double v = fmax(best[g - 1][j], pre[i] - pre[j]);
                if (v < best[g][i]) {
                    best[g][i] = v;
                    from[g][i] = j;
                }
            }
    for (int g = k, i = S; g >= 1; g--) {
        last[g - 1] = i - 1;
        i = from[g][i];
    }
}

int tsr__pipe_make_plan(tsr_pipeline p, int P, plan *pl) {
    tsr_ctx ctx = p->ctx;
    int S = p->nstages;
    memset(pl, 0, sizeof *pl);
    TSR_CHECK(ctx, p->has_source, TSR_ERR_INPUT, "pipeline: no source set");
    TSR_CHECK(ctx, p->has_sink, TSR_ERR_INPUT, "pipeline: no sink set");
    TSR_CHECK(ctx, S >= 1 && S <= TSR_PIPELINE_MAX_STAGES, TSR_ERR_INPUT,
              "pipeline: %d stages, expected 1 to %d", S, TSR_PIPELINE_MAX_STAGES);
    for (int s = 0; s < S; s++) {
        TSR_CHECK(ctx, p->stages[s].cost > 0 && isfinite(p->stages[s].cost), TSR_ERR_INPUT,
                  "pipeline: stage '%s' has cost %g, expected > 0", p->stages[s].name,
                  p->stages[s].cost);
        TSR_CHECK(ctx, p->stages[s].ranks >= 0, TSR_ERR_INPUT,
                  "pipeline: stage '%s' asks for %d ranks, expected >= 0", p->stages[s].name,
                  p->stages[s].ranks);
    }
    TSR_CHECK(ctx, p->credits >= 0, TSR_ERR_INPUT, "pipeline: credits %d, expected >= 1",
              p->credits);
    pl->nstages = S;
    pl->nranks = P;
    int counts[TSR_PIPELINE_MAX_STAGES] = {0};
    if (p->stage_ranks[0])
        TSR_CALL(ctx, parse_counts(p, counts));
    if (P == 1)
        return TSR_SUCCESS; /* rank 0 runs everything: no groups, no links */
    int avail = P - 1;
    if (p->stage_ranks[0]) {
        int64_t sum = 0;
        for (int s = 0; s < S; s++)
            sum += counts[s];
        TSR_CHECK(ctx, sum == avail, TSR_ERR_INPUT,
                  "--stage-ranks %s gives %lld rank%s but %d %s available for stages (%d rank%s "
                  "minus the coordinator)",
                  p->stage_ranks, (long long)sum, sum == 1 ? "" : "s", avail,
                  avail == 1 ? "is" : "are", P, P == 1 ? "" : "s");
    } else if (avail >= S) {
        TSR_CALL(ctx, share_ranks(p, avail, counts));
    }
    if (avail >= S) {
        pl->ngroups = S;
        for (int s = 0; s < S; s++) {
            pl->first[s] = pl->last[s] = s;
            pl->size[s] = counts[s];
        }
    } else {
        pl->ngroups = avail;
        cut_stages(p, avail, pl->last);
        for (int g = 0; g < avail; g++) {
            pl->first[g] = g ? pl->last[g - 1] + 1 : 0;
            pl->size[g] = 1;
        }
    }
    int64_t window = P - 1;
    for (int g = 0, r = 1; g < pl->ngroups; g++) {
        pl->rank0[g] = r;
        r += pl->size[g];
    }
    for (int l = 0; l <= pl->ngroups; l++) {
        int nrecv = l < pl->ngroups ? pl->size[l] : 1;
        /* Ranks sharing cores run in time slices: deeper links ride out a descheduled rank. */
        int depth = p->oversubscribed ? 4 : 2;
        int64_t c =
            p->credits > 0 ? (p->credits > nrecv ? p->credits : nrecv) : depth * (int64_t)nrecv;
        TSR_CHECK(ctx, c <= INT_MAX / 4, TSR_ERR_INPUT, "pipeline: %lld credits are too many",
                  (long long)c);
        pl->credits[l] = (int)c;
        window += c;
    }
    TSR_CHECK(ctx, window <= INT_MAX / 4, TSR_ERR_INPUT, "pipeline: %lld credits are too many",
              (long long)window);
    pl->window = (int)window;
    return TSR_SUCCESS;
}
