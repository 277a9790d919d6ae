/* The pipeline's run: rank 0's coordinator loop (source, reorder, sink), a group rank's loop
 * (receive, compute the fused stages, pass on), the one-rank serial loop, and the statistics
 * gathered at the end. */
#include <stdlib.h>
#include <string.h>

#include "pipeline_impl.h"
#include "tessera/report.h"

const stage_def *tsr__pipe_stage_of(const tsr_pipeline p, int s) {
    return s < 0 ? &p->source : s >= p->nstages ? &p->sink : &p->stages[s];
}

/* Calls stage s (-1 the source, S the sink) and checks what it did. */
static int call_stage(run *r, int s, tsr_item *it) {
    tsr_ctx ctx = r->ctx;
    const stage_def *d = tsr__pipe_stage_of(r->p, s);
    size_t room = it->out_bytes;
    it->message[0] = '\0';
    it->rank = r->rank;
    double t0 = tsr_wtime();
    int rc = d->fn(it, d->user);
    double dt = tsr_wtime() - t0;
    r->busy[s + 1] += dt;
    tsr_ctx_timer_add(ctx, TSR_TIMER_COMPUTE, dt); /* for the run report */
    if (rc != 0) {
        it->message[sizeof it->message - 1] = '\0';
        if (it->message[0])
            return tsr_error_set(ctx, TSR_ERR_KERNEL, __FILE__, __LINE__, __func__,
                                 "stage '%s' failed on item %lld: %s", d->name,
                                 (long long)it->index, it->message);
        return tsr_error_set(ctx, TSR_ERR_KERNEL, __FILE__, __LINE__, __func__,
                             "stage '%s' failed on item %lld: returned %d", d->name,
                             (long long)it->index, rc);
    }
    if (s < 0 && it->end)
        return TSR_SUCCESS;
    TSR_CHECK(ctx, s >= r->p->nstages || it->out_bytes <= room, TSR_ERR_KERNEL,
              "stage '%s' failed on item %lld: produced %zu bytes, more than its max_out_bytes "
              "%zu",
              d->name, (long long)it->index, it->out_bytes, room);
    r->items[s + 1]++;
    if (s == r->p->nstages)
        tsr_progress_update(&r->prog, r->items[s + 1]);
    return TSR_SUCCESS;
}

/* The lowest-index slot in a state, or -1. */
static int lowest(const run *r, int state) {
    int best = -1;
    for (int k = 0; k < r->nslots; k++)
        if (r->slots[k].state == state && (best < 0 || r->slots[k].index < r->slots[best].index))
            best = k;
    return best;
}

/* Runs the group's stages on one item, ping-ponging between the work buffers; the result takes
 * the slot's place and the slot's buffer becomes a work buffer. */
static int compute(run *r, slot *e) {
    tsr_ctx ctx = r->ctx;
    const plan *pl = r->pl;
    const unsigned char *in = e->buf + HDR;
    size_t in_bytes = e->len;
    int k = 0;
    for (int s = pl->first[r->group]; s <= pl->last[r->group]; s++, k ^= 1) {
        tsr_item it = {.index = e->index,
                       .in = in,
                       .in_bytes = in_bytes,
                       .out = r->work[k] + HDR,
                       .out_bytes = r->p->stages[s].max_out};
        TSR_CALL(ctx, call_stage(r, s, &it));
        in = r->work[k] + HDR;
        in_bytes = it.out_bytes;
    }
    k ^= 1; /* the buffer written last */
    unsigned char *b = e->buf;
    size_t cap = e->cap;
    e->buf = r->work[k];
    e->cap = r->work_cap;
    e->len = in_bytes;
    e->state = SLOT_OUT;
    if (cap < r->work_cap) {
        unsigned char *g = realloc(b, r->work_cap);
        if (!g)
            free(b);
        b = g;
    }
    r->work[k] = b;
    TSR_CHECK(ctx, b, TSR_ERR_MEMORY, "cannot allocate a %zu-byte item buffer", r->work_cap);
    return TSR_SUCCESS;
}

static int group_loop(run *r) {
    tsr_ctx ctx = r->ctx;
    for (;;) {
        TSR_CALL(ctx, tsr__pipe_poll(r, false));
        if (r->aborted)
            return TSR_SUCCESS;
        /* Pass on computed items, oldest first, while credits last. */
        int k;
        while (r->out.total > 0 && (k = lowest(r, SLOT_OUT)) >= 0) {
            slot *e = &r->slots[k];
            unsigned char *b = e->buf;
            e->buf = NULL;
            e->cap = 0;
            e->state = SLOT_FREE;
            TSR_CALL(ctx, tsr__pipe_send_item(r, b, e->len, e->index));
            TSR_CALL(ctx, tsr__pipe_released_item(r));
        }
        bool waiting = lowest(r, SLOT_OUT) >= 0;
        TSR_CALL(ctx, tsr__pipe_ask_or_return(r, waiting));
        if ((k = lowest(r, SLOT_IN)) >= 0) {
            TSR_CALL(ctx, compute(r, &r->slots[k]));
            continue; /* look at messages between items */
        }
        if (r->in.neos == r->in.n && r->in.held == 0)
            return tsr__pipe_send_eos(r);
        TSR_CALL(ctx, tsr__pipe_poll(r, true));
        if (r->aborted)
            return TSR_SUCCESS;
    }
}

static int coordinator_loop(run *r) {
    tsr_ctx ctx = r->ctx;
    tsr_pipeline p = r->p;
    int S = p->nstages, W = r->pl->window;
    size_t src_cap = HDR + p->source.max_out;
    for (;;) {
        TSR_CALL(ctx, tsr__pipe_poll(r, false));
        if (r->aborted)
            return TSR_SUCCESS;
        bool did = false;
        slot *e = &r->reorder[r->next_deliver % W];
        if (e->state == SLOT_OUT && e->index == r->next_deliver) {
            tsr_item it = {.index = e->index, .in = e->buf + HDR, .in_bytes = e->len};
            TSR_CALL(ctx, call_stage(r, S, &it));
            e->state = SLOT_FREE;
            r->next_deliver++;
            did = true;
        }
        if (!r->source_done && r->out.total > 0 && r->next_emit - r->next_deliver < W) {
            unsigned char *b = malloc(src_cap);
            TSR_CHECK(ctx, b, TSR_ERR_MEMORY, "cannot allocate a %zu-byte item", src_cap);
            tsr_item it = {.index = r->next_emit, .out = b + HDR, .out_bytes = p->source.max_out};
            int err = call_stage(r, -1, &it);
            if (err || it.end)
                free(b);
            TSR_CALL(ctx, err);
            if (it.end) {
                r->source_done = true;
                TSR_CALL(ctx, tsr__pipe_send_eos(r));
            } else {
                TSR_CALL(ctx, tsr__pipe_send_item(r, b, it.out_bytes, r->next_emit));
                r->next_emit++;
            }
            did = true;
        }
        if (r->source_done && r->in.neos == r->in.n && r->next_deliver == r->next_emit)
            return TSR_SUCCESS;
        if (!did) {
            TSR_CALL(ctx, tsr__pipe_poll(r, true));
            if (r->aborted)
                return TSR_SUCCESS;
        }
    }
}

/* One rank: source, every stage and the sink on each item in turn. */
static int serial_loop(run *r) {
    tsr_ctx ctx = r->ctx;
    tsr_pipeline p = r->p;
    int S = p->nstages;
    for (int64_t i = 0;; i++) {
        tsr_item it = {.index = i, .out = r->work[0], .out_bytes = p->source.max_out};
        TSR_CALL(ctx, call_stage(r, -1, &it));
        if (it.end)
            return TSR_SUCCESS;
        int k = 1;
        for (int s = 0; s < S; s++, k ^= 1) {
            tsr_item st = {.index = i,
                           .in = r->work[k ^ 1],
                           .in_bytes = it.out_bytes,
                           .out = r->work[k],
                           .out_bytes = p->stages[s].max_out};
            TSR_CALL(ctx, call_stage(r, s, &st));
            it.out_bytes = st.out_bytes;
        }
        tsr_item sk = {.index = i, .in = r->work[k ^ 1], .in_bytes = it.out_bytes};
        TSR_CALL(ctx, call_stage(r, S, &sk));
    }
}

static int setup_buffers(run *r) {
    tsr_ctx ctx = r->ctx;
    const plan *pl = r->pl;
    tsr_pipeline p = r->p;
    size_t most = 0;
    if (pl->nranks == 1) {
        most = p->source.max_out;
        for (int s = 0; s < p->nstages; s++)
            most = p->stages[s].max_out > most ? p->stages[s].max_out : most;
    } else if (r->rank == 0) {
        return tsr__calloc(ctx, (size_t)pl->window, sizeof *r->reorder, &r->reorder);
    } else {
        for (int s = pl->first[r->group]; s <= pl->last[r->group]; s++)
            most = p->stages[s].max_out > most ? p->stages[s].max_out : most;
        TSR_CALL(ctx, tsr__calloc(ctx, (size_t)r->in.slots, sizeof *r->slots, &r->slots));
        r->nslots = r->in.slots; /* only once the slots exist: run_free walks them */
    }
    r->work_cap = HDR + most;
    for (int k = 0; k < 2; k++)
        TSR_CALL(ctx, tsr__calloc(ctx, 1, r->work_cap, &r->work[k]));
    return TSR_SUCCESS;
}

static void run_free(run *r) {
    free(r->in.given);
    free(r->in.eos);
    free(r->in.queued);
    free(r->in.queue);
    free(r->out.credits);
    free(r->out.asked);
    for (int k = 0; k < r->nslots; k++)
        free(r->slots[k].buf);
    free(r->slots);
    if (r->reorder)
        for (int k = 0; k < r->pl->window; k++)
            free(r->reorder[k].buf);
    free(r->reorder);
    free(r->work[0]);
    free(r->work[1]);
    tsr__msg_free(&r->m);
}

/* A stage name inside a JSON string: quotes and backslashes escaped, control characters '?'. */
static void json_name(char *out, size_t len, const char *in) {
    size_t k = 0;
    for (; *in && k + 3 < len; in++) {
        if (*in == '"' || *in == '\\')
            out[k++] = '\\';
        out[k++] = (unsigned char)*in < 0x20 ? '?' : *in;
    }
    out[k] = '\0';
}

/* Rank 0: what the run report shows of this pipeline: per stage ranks, items, busy time and
 * throughput, the links' peaks, and the bottleneck (the lowest throughput). */
static int report_json(tsr_pipeline p) {
    tsr_ctx ctx = p->ctx;
    int S = p->nstages;
    size_t len = 512 + (size_t)(S + 2) * (2 * NAME_LEN + 160) + (size_t)p->nlinks * 64;
    char *j;
    TSR_CALL(ctx, tsr__calloc(ctx, len, 1, &j));
    int64_t done = p->stats[S + 1].items;
    size_t n =
        (size_t)snprintf(j, len,
                         "\"pipeline\": {\"items\": %lld, \"seconds\": %.9g, "
                         "\"items_per_second\": %.9g, \"stages\": [",
                         (long long)done, p->wall, p->wall > 0 ? (double)done / p->wall : 0.0);
    int worst = -2;
    for (int s = -1; s <= S && n < len; s++) {
        const tsr_stage_stats *st = &p->stats[s + 1];
        char name[2 * NAME_LEN];
        json_name(name, sizeof name, st->name);
        n += (size_t)snprintf(
            j + n, len - n,
            "%s{\"name\": \"%s\", \"role\": \"%s\", \"ranks\": %d, \"items\": %lld, "
            "\"busy_seconds\": %.9g, \"items_per_second\": %.9g}",
            s >= 0 ? ", " : "", name,
            s < 0    ? "source"
            : s == S ? "sink"
                     : "stage",
            st->nranks, (long long)st->items, st->busy, st->throughput);
        if (st->busy > 0 && (worst < -1 || st->throughput < p->stats[worst + 1].throughput))
            worst = s;
    }
    if (n < len)
        n += (size_t)snprintf(j + n, len - n, "], \"links\": [");
    for (int l = 0; l < p->nlinks && n < len; l++)
        n += (size_t)snprintf(j + n, len - n, "%s{\"credits\": %d, \"max_in_flight\": %d}",
                              l ? ", " : "", p->links[l].credits, p->links[l].max_in_flight);
    char name[2 * NAME_LEN] = "";
    if (worst >= -1)
        json_name(name, sizeof name, p->stats[worst + 1].name);
    if (n < len)
        snprintf(j + n, len - n, "], \"bottleneck\": %s%s%s}", worst < -1 ? "null" : "\"", name,
                 worst < -1 ? "" : "\"");
    tsr__report_set_json(ctx, j);
    return TSR_SUCCESS;
}

/* Sums what every rank did into the pipeline's stats. Collective. */
static int gather_stats(run *r, double wall) {
    tsr_ctx ctx = r->ctx;
    tsr_pipeline p = r->p;
    const plan *pl = r->pl;
    int S = p->nstages, L = pl->nranks > 1 ? pl->ngroups + 1 : 0;
    int64_t items[TSR_PIPELINE_MAX_STAGES + 2];
    double busy[TSR_PIPELINE_MAX_STAGES + 2];
    int peak[TSR_PIPELINE_MAX_STAGES + 1] = {0}, peaks[TSR_PIPELINE_MAX_STAGES + 1];
    if (L > 0)
        peak[r->rank == 0 ? pl->ngroups : r->group] = r->in.peak;
    TSR_MPI(ctx, MPI_Allreduce(r->items, items, S + 2, MPI_INT64_T, MPI_SUM, ctx->comm));
    TSR_MPI(ctx, MPI_Allreduce(r->busy, busy, S + 2, MPI_DOUBLE, MPI_SUM, ctx->comm));
    TSR_MPI(ctx, MPI_Allreduce(peak, peaks, L > 0 ? L : 1, MPI_INT, MPI_SUM, ctx->comm));
    TSR_MPI(ctx, MPI_Allreduce(&wall, &p->wall, 1, MPI_DOUBLE, MPI_MAX, ctx->comm));
    for (int s = -1; s <= S; s++) {
        tsr_stage_stats *st = &p->stats[s + 1];
        int nranks = 1;
        if (s >= 0 && s < S)
            TSR_CALL(ctx, tsr_pipeline_stage_ranks(p, s, &nranks, &(bool){false}));
        snprintf(st->name, sizeof st->name, "%s", tsr__pipe_stage_of(p, s)->name);
        st->items = items[s + 1];
        st->busy = busy[s + 1];
        st->nranks = nranks;
        st->throughput = st->busy > 0 ? (double)st->items * nranks / st->busy : 0.0;
    }
    p->nlinks = L;
    for (int l = 0; l < L; l++) {
        p->links[l].credits = pl->credits[l];
        p->links[l].max_in_flight = peaks[l];
    }
    return ctx->rank == 0 ? report_json(p) : TSR_SUCCESS;
}

int tsr_pipeline_run(tsr_pipeline p) {
    if (!p)
        return TSR_ERR_ARG;
    tsr_ctx ctx = p->ctx;
    TSR_CHECK(ctx, !p->started, TSR_ERR_ARG, "pipeline: run once per pipeline");
    p->started = true;

    /* Rank 0 checks the set-up and assigns the ranks; every rank learns the verdict. */
    p->oversubscribed = ctx->launch.node_ranks * ctx->threads > ctx->launch.node_cores;
    int err = ctx->rank == 0 ? tsr__pipe_make_plan(p, ctx->size, &p->plan) : TSR_SUCCESS;
    TSR_MPI(ctx, MPI_Bcast(&p->plan, (int)sizeof p->plan, MPI_BYTE, 0, ctx->comm));
    if (!err && ctx->rank != 0 && p->plan.nstages != p->nstages)
        err = tsr_error_set(ctx, TSR_ERR_ARG, __FILE__, __LINE__, __func__,
                            "pipeline: rank %d has %d stages but rank 0 has %d", ctx->rank,
                            p->nstages, p->plan.nstages);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));

    run r;
    memset(&r, 0, sizeof r);
    r.p = p;
    r.ctx = ctx;
    r.pl = &p->plan;
    r.rank = ctx->rank;
    r.size = ctx->size;
    r.group = -1;
    r.nap = ctx->launch.node_ranks * ctx->threads > ctx->launch.node_cores;
    for (int g = 0; g < p->plan.ngroups; g++)
        if (r.rank >= p->plan.rank0[g] && r.rank < p->plan.rank0[g] + p->plan.size[g])
            r.group = g;
    MPI_Comm comm = MPI_COMM_NULL;
    /* Own communicator: the pipeline's messages never meet anyone else's. */
    TSR_MPI(ctx, MPI_Comm_dup(ctx->comm, &comm));
    TSR_CALL(ctx, tsr__outbox_init(&r.ob, ctx, comm));

    tsr_progress_start(&r.prog, ctx, p->progress_items, p->progress);
    r.prog.unit = "item";
    double t0 = tsr_wtime();
    if (p->plan.nranks > 1)
        err = tsr__pipe_setup_links(&r);
    if (!err)
        err = setup_buffers(&r);
    if (!err)
        err = p->plan.nranks == 1 ? serial_loop(&r)
              : r.rank == 0       ? coordinator_loop(&r)
                                  : group_loop(&r);
    tsr_progress_end(&r.prog);
    if (err && p->plan.nranks > 1) {
        /* Tell everyone to stop; they learn why from the agreement below. */
        for (int d = 0; d < r.size; d++)
            if (d != r.rank)
                tsr__outbox_send(&r.ob, NULL, 0, d, TSR_TAG_PIPE_ABORT);
    }
    int qerr = tsr__quiesce(&r.ob);
    double wall = tsr_wtime() - t0;
    run_free(&r);
    tsr__outbox_free(&r.ob);
    MPI_Comm_free(&comm);
    /* The messaging itself broke: only this rank knows, and the agreement tells the others
     * (returning alone would leave them waiting in it). */
    err = err ? err : qerr;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    TSR_CALL(ctx, gather_stats(&r, wall));
    p->finished = true;
    return TSR_SUCCESS;
}
