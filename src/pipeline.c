/* Pipeline: its definition (source, stages, sink, options) and the queries after a run. The
 * rank planner is in pipeline_plan.c, a link's credit protocol in pipeline_link.c, the run loop
 * in pipeline_run.c. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_impl.h"

int tsr_pipeline_create(tsr_ctx ctx, tsr_pipeline *pipeline) {
    if (!pipeline)
        return TSR_ERR_ARG;
    *pipeline = NULL;
    tsr_pipeline p = NULL;
    TSR_CALL(ctx, tsr__calloc(ctx, 1, sizeof *p, &p));
    p->ctx = ctx;
    *pipeline = p;
    return TSR_SUCCESS;
}

int tsr_pipeline_destroy(tsr_pipeline *pipeline) {
    if (!pipeline || !*pipeline)
        return TSR_SUCCESS;
    free(*pipeline);
    *pipeline = NULL;
    return TSR_SUCCESS;
}

static int set_def(tsr_pipeline p, stage_def *d, const char *name, tsr_stage_fn fn, void *user,
                   size_t max_out) {
    TSR_CHECK(p->ctx, name && fn, TSR_ERR_ARG, "pipeline: a stage needs a name and a function");
    TSR_CHECK(p->ctx, max_out <= (size_t)INT_MAX - HDR, TSR_ERR_ARG,
              "pipeline: stage '%s' max_out_bytes %zu exceeds a message", name, max_out);
    snprintf(d->name, sizeof d->name, "%s", name);
    d->fn = fn;
    d->user = user;
    d->max_out = max_out;
    return TSR_SUCCESS;
}

int tsr_pipeline_set_source(tsr_pipeline p, const char *name, tsr_stage_fn fn, void *user,
                            size_t max_out_bytes) {
    if (!p)
        return TSR_ERR_ARG;
    TSR_CALL(p->ctx, set_def(p, &p->source, name, fn, user, max_out_bytes));
    p->has_source = true;
    return TSR_SUCCESS;
}

int tsr_pipeline_add_stage(tsr_pipeline p, const char *name, tsr_stage_fn fn, void *user,
                           size_t max_out_bytes, double cost, int ranks) {
    if (!p)
        return TSR_ERR_ARG;
    /* Too many stages, bad costs and counts are reported by rank 0 when the pipeline runs. */
    if (p->nstages < TSR_PIPELINE_MAX_STAGES) {
        stage_def *d = &p->stages[p->nstages];
        TSR_CALL(p->ctx, set_def(p, d, name, fn, user, max_out_bytes));
        d->cost = cost;
        d->ranks = ranks;
    }
    p->nstages++;
    return TSR_SUCCESS;
}

int tsr_pipeline_set_sink(tsr_pipeline p, const char *name, tsr_stage_fn fn, void *user) {
    if (!p)
        return TSR_ERR_ARG;
    TSR_CALL(p->ctx, set_def(p, &p->sink, name, fn, user, 0));
    p->has_sink = true;
    return TSR_SUCCESS;
}

int tsr_pipeline_set_progress(tsr_pipeline p, tsr_progress_mode mode, int64_t items) {
    if (!p)
        return TSR_ERR_ARG;
    p->progress = items > 0 ? mode : TSR_PROGRESS_OFF;
    p->progress_items = items;
    return TSR_SUCCESS;
}

int tsr_pipeline_set_credits(tsr_pipeline p, int credits) {
    if (!p)
        return TSR_ERR_ARG;
    p->credits = credits;
    return TSR_SUCCESS;
}

int tsr_pipeline_set_stage_ranks(tsr_pipeline p, const char *list) {
    if (!p)
        return TSR_ERR_ARG;
    TSR_CHECK(p->ctx, !list || strlen(list) < sizeof p->stage_ranks, TSR_ERR_INPUT,
              "--stage-ranks: list longer than %zu characters", sizeof p->stage_ranks - 1);
    snprintf(p->stage_ranks, sizeof p->stage_ranks, "%s", list ? list : "");
    return TSR_SUCCESS;
}

/* ---- queries ---- */

int tsr_pipeline_stage_ranks(tsr_pipeline p, int s, int *nranks, bool *mine) {
    if (!p)
        return TSR_ERR_ARG;
    tsr_ctx ctx = p->ctx;
    TSR_CHECK(ctx, p->started, TSR_ERR_ARG, "pipeline: not run yet");
    TSR_CHECK(ctx, s >= 0 && s < p->plan.nstages, TSR_ERR_ARG, "pipeline: no stage %d", s);
    const plan *pl = &p->plan;
    int n = 1;
    bool me = ctx->rank == 0;
    if (pl->nranks > 1) {
        for (int g = 0; g < pl->ngroups; g++)
            if (s >= pl->first[g] && s <= pl->last[g]) {
                n = pl->size[g];
                me = ctx->rank >= pl->rank0[g] && ctx->rank < pl->rank0[g] + n;
            }
    }
    if (nranks)
        *nranks = n;
    if (mine)
        *mine = me;
    return TSR_SUCCESS;
}

int tsr_pipeline_get_stage_stats(tsr_pipeline p, int s, tsr_stage_stats *stats) {
    if (!p || !stats)
        return TSR_ERR_ARG;
    TSR_CHECK(p->ctx, p->finished, TSR_ERR_ARG, "pipeline: no finished run");
    TSR_CHECK(p->ctx, s >= -1 && s <= p->nstages, TSR_ERR_ARG, "pipeline: no stage %d", s);
    *stats = p->stats[s + 1];
    return TSR_SUCCESS;
}

int tsr_pipeline_links(tsr_pipeline p, int *nlinks) {
    if (!p || !nlinks)
        return TSR_ERR_ARG;
    TSR_CHECK(p->ctx, p->finished, TSR_ERR_ARG, "pipeline: no finished run");
    *nlinks = p->nlinks;
    return TSR_SUCCESS;
}

int tsr_pipeline_get_link_stats(tsr_pipeline p, int l, tsr_link_stats *stats) {
    if (!p || !stats)
        return TSR_ERR_ARG;
    TSR_CHECK(p->ctx, p->finished, TSR_ERR_ARG, "pipeline: no finished run");
    TSR_CHECK(p->ctx, l >= 0 && l < p->nlinks, TSR_ERR_ARG, "pipeline: no link %d", l);
    *stats = p->links[l];
    return TSR_SUCCESS;
}

static void print_ranks(FILE *out, int lo, int n) {
    if (n == 1)
        fprintf(out, "  rank %d:", lo);
    else
        fprintf(out, "  ranks %d-%d:", lo, lo + n - 1);
}

int tsr_pipeline_print_summary(tsr_pipeline p, FILE *out) {
    if (!p || !out)
        return TSR_ERR_ARG;
    tsr_ctx ctx = p->ctx;
    TSR_CHECK(ctx, p->finished, TSR_ERR_ARG, "pipeline: no finished run");
    if (ctx->rank != 0)
        return TSR_SUCCESS;
    const plan *pl = &p->plan;
    int S = p->nstages;
    int64_t done = p->stats[S + 1].items;
    fprintf(out, "pipeline: %d stage%s on %d rank%s, %lld items in %.3f s (%.1f items/s)\n", S,
            S == 1 ? "" : "s", pl->nranks, pl->nranks == 1 ? "" : "s", (long long)done, p->wall,
            p->wall > 0 ? (double)done / p->wall : 0.0);
    if (pl->nranks == 1) {
        fprintf(out, "  rank 0: source '%s', every stage, sink '%s'\n", p->source.name,
                p->sink.name);
    } else {
        fprintf(out, "  rank 0: source '%s', sink '%s'\n", p->source.name, p->sink.name);
        for (int g = 0; g < pl->ngroups; g++) {
            print_ranks(out, pl->rank0[g], pl->size[g]);
            fprintf(out, " stage%s", pl->first[g] == pl->last[g] ? "" : "s");
            for (int s = pl->first[g]; s <= pl->last[g]; s++)
                fprintf(out, "%s '%s'", s == pl->first[g] ? "" : ",", p->stages[s].name);
            fputc('\n', out);
        }
    }
    fprintf(out, "  %-24s %5s %10s %10s %12s\n", "stage", "ranks", "items", "busy s", "items/s");
    int worst = -2;
    for (int s = -1; s <= S; s++) {
        const tsr_stage_stats *st = &p->stats[s + 1];
        char label[NAME_LEN + 16];
        snprintf(label, sizeof label, "%s'%s'",
                 s < 0    ? "source "
                 : s == S ? "sink "
                          : "",
                 st->name);
        fprintf(out, "  %-24s %5d %10lld %10.3f %12.1f\n", label, st->nranks, (long long)st->items,
                st->busy, st->throughput);
        if (st->busy > 0 && (worst < -1 || st->throughput < p->stats[worst + 1].throughput))
            worst = s;
    }
    if (p->nlinks > 0) {
        fprintf(out, "  links (most in flight / credits):");
        for (int l = 0; l < p->nlinks; l++)
            fprintf(out, " %d/%d", p->links[l].max_in_flight, p->links[l].credits);
        fputc('\n', out);
    }
    if (worst < -1)
        fprintf(out, "bottleneck: none (no busy time measured)\n");
    else
        fprintf(out, "bottleneck: stage '%s' (%.1f items/s)\n", p->stats[worst + 1].name,
                p->stats[worst + 1].throughput);
    return TSR_SUCCESS;
}
