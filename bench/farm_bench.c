/* Farm overhead: throughput of empty tasks for a chunk policy, repeated, median reported.
 *
 *   mpirun -np 3 build/bench/farm_bench --tasks 200000 --chunk fixed:64 --reps 5
 *
 * Prints one line per repetition and "median tasks/s <x>" last, then rank 0's time per request
 * (its request timers: tsr_farm_stats.request_seconds / requests), "median us/request <y>", and
 * the median and 99th percentile of the single requests' times, "request us median <m> p99 <t>"
 * (medians over the repetitions).
 * Every task returns 8 bytes so that the results path (gather to rank 0, in-order delivery) is
 * part of what is measured. --coordinator-only keeps rank 0 to handing out and collecting;
 * --nice-workers lowers the other ranks' priority (nice 19), so that with more ranks than cores
 * the workers, which spin while they wait, seldom preempt rank 0 in the middle of a request. They
 * still do now and then (each preemption adds a time slice, a millisecond or more, to a request
 * of a microsecond): the mean then grows with the number of ranks sharing the cores, the median
 * shows rank 0's own cost. So does memory: results that arrive ahead of a worker that has not
 * run yet wait on rank 0 (in task order), and the first run touches the pages that hold them;
 * each repetition's line gives the most results buffered and rank 0's page faults. */
#include <sys/resource.h>

#include <stdlib.h>
#include <string.h>

#include <tessera.h>

typedef struct bench {
    int64_t tasks, reps;
    bool coordinator_only, nice_workers;
    tsr_farm_opts farm;
} bench;

static int empty_task(tsr_task *t, void *user) {
    (void)user;
    memcpy(t->result, &t->id, sizeof t->id);
    t->result_bytes = sizeof t->id;
    return 0;
}

/* Checks the order on the way, so a broken farm cannot look fast. */
static int deliver(int64_t id, const void *result, size_t bytes, void *user) {
    int64_t *next = user, got;
    memcpy(&got, result, sizeof got);
    return bytes == sizeof got && got == id && id == (*next)++ ? 0 : 1;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int run(tsr_ctx ctx, int argc, char **argv) {
    bench b = {.tasks = 100000, .reps = 5};
    tsr_farm_opts_init(&b.farm);
    tsr_opts o = NULL;
    bool done = false;
    TSR_CALL(ctx, tsr_opts_create(ctx, "Throughput of empty farm tasks.", &o));
    tsr_farm_add_options(o, &b.farm);
    tsr_opts_add_int(o, "tasks", &b.tasks, 0, INT64_MAX, "N", "tasks per repetition");
    tsr_opts_add_int(o, "reps", &b.reps, 1, 1000, "R", "repetitions");
    tsr_opts_add_flag(o, "coordinator-only", &b.coordinator_only, "rank 0 runs no tasks");
    tsr_opts_add_flag(o, "nice-workers", &b.nice_workers, "the other ranks at nice 19");
    int err = tsr_opts_parse(o, argc, argv, &done);
    tsr_opts_destroy(&o);
    TSR_CALL(ctx, err);
    if (done)
        return TSR_SUCCESS;
    b.farm.ntasks = b.tasks;
    b.farm.result_bytes = sizeof(int64_t);
    b.farm.coordinator_works = !b.coordinator_only;
    if (b.nice_workers && tsr_ctx_rank(ctx) != 0)
        (void)setpriority(PRIO_PROCESS, 0, 19); /* best effort: only the measurement suffers */
    double *rate = NULL, *per_req = NULL;
    TSR_CHECK(ctx, (rate = calloc((size_t)b.reps, sizeof *rate)), TSR_ERR_MEMORY, "no memory");
    per_req = calloc((size_t)(3 * b.reps), sizeof *per_req);
    if (!per_req) {
        free(rate);
        TSR_CHECK(ctx, 0, TSR_ERR_MEMORY, "no memory");
    }
    double *med = per_req + b.reps, *p99 = per_req + 2 * b.reps;
    for (int64_t r = 0; r < b.reps && !err; r++) {
        tsr_farm farm = NULL;
        int64_t next = 0;
        err = tsr_farm_create(ctx, &b.farm, &farm);
        struct rusage ru0, ru1;
        getrusage(RUSAGE_SELF, &ru0);
        if (!err)
            err = tsr_farm_run(farm, empty_task, deliver, &next);
        getrusage(RUSAGE_SELF, &ru1);
        tsr_farm_stats st;
        if (!err)
            err = tsr_farm_get_stats(farm, &st);
        if (!err) {
            rate[r] = st.seconds > 0 ? (double)b.tasks / st.seconds : 0;
            per_req[r] = st.requests > 0 ? 1e6 * st.request_seconds / (double)st.requests : 0;
            med[r] = 1e6 * st.request_median_seconds;
            p99[r] = 1e6 * st.request_p99_seconds;
            tsr_ctx_printf(ctx, stdout,
                           "rep %lld: %lld tasks in %.4f s, %.0f tasks/s; rank 0: %lld requests, "
                           "%.3f us each (median %.3f, 99th percentile %.3f), at most %lld "
                           "results buffered, %ld page faults\n",
                           (long long)r, (long long)b.tasks, st.seconds, rate[r],
                           (long long)st.requests, per_req[r], med[r], p99[r],
                           (long long)st.max_buffered, ru1.ru_minflt - ru0.ru_minflt);
        }
        tsr_farm_destroy(&farm);
    }
    if (!err) {
        qsort(rate, (size_t)b.reps, sizeof *rate, cmp_double);
        char policy[64];
        tsr_chunk_policy_parse(ctx, b.farm.chunk_text[0] ? b.farm.chunk_text : "guided",
                               &b.farm.chunk);
        tsr_chunk_policy_format(&b.farm.chunk, policy, sizeof policy);
        tsr_ctx_printf(ctx, stdout, "ranks %d chunk %s median tasks/s %.0f\n", tsr_ctx_size(ctx),
                       policy, rate[b.reps / 2]);
        qsort(per_req, (size_t)b.reps, sizeof *per_req, cmp_double);
        tsr_ctx_printf(ctx, stdout, "ranks %d median us/request %.3f\n", tsr_ctx_size(ctx),
                       per_req[b.reps / 2]);
        qsort(med, (size_t)b.reps, sizeof *med, cmp_double);
        qsort(p99, (size_t)b.reps, sizeof *p99, cmp_double);
        tsr_ctx_printf(ctx, stdout, "ranks %d request us median %.3f p99 %.3f\n", tsr_ctx_size(ctx),
                       med[b.reps / 2], p99[b.reps / 2]);
    }
    free(rate);
    free(per_req);
    return err;
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "farm_bench", &ctx);
    if (!err)
        err = run(ctx, argc, argv);
    return tsr_finalize(&ctx, err);
}
