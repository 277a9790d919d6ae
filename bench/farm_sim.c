/* Discrete-event simulation of tessera-farm's protocol, for worker counts this machine cannot run.
 *
 *   build/bench/farm_sim --c-req 2.1 --latency 3.5 --task-start 900 --table
 *   build/bench/farm_sim --workers 10000 --task-ms 10 --node 64 --batch 256
 *   build/bench/farm_sim --check
 *
 * The model (src/cmdfarm.c, src/cmdfarm_worker.c): rank 0 is one server that handles one message
 * at a time, each for --c-req microseconds (receive, bookkeeping, and the send of one job in
 * reply) plus --c-task for each task end it records (its job-log line: bench/cmdfarm_cost); every
 * message takes --latency microseconds to arrive. At the start rank 0 hands every worker one job
 * plus --ahead queued ones (TSR__CF_AHEAD), round by round; a worker runs its jobs one after the
 * other, each costing --task-start microseconds before its --task-ms of work, and reports every end
 * to rank 0, which answers with the next job while there is one. The run ends when rank 0 has
 * handled the last report. Parallel efficiency is the total task time over the workers, divided by
 * that makespan.
 *
 * With --node G the workers are grouped G per node under a sub-coordinator (same cost per message,
 * --node-latency to its workers) that asks rank 0 for jobs, one message each way, when it holds no
 * more than half a batch; rank 0 answers with --batch jobs, or fewer near the end (guided: half
 * the node's share of what is left), so that the last jobs spread over every node; the run then
 * ends one latency and one rank-0 message after the last report reached its sub-coordinator.
 * Rank 0 records the ends a sub-coordinator gathered when it asks (--c-task each). tessera-farm's
 * relays (src/cmdfarm_relay.c) ask by sending their ends in a batch, and rank 0 answers with as
 * many jobs; their batches do not shrink near the end.
 *
 * Times are integer nanoseconds and events at the same time run in the order they were made, so a
 * run is exactly reproducible; --check compares three cases with their closed-form answers. */
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { JOB_ARRIVE, JOB_END, REPORT, BATCH_ASK, BATCH_ARRIVE };

typedef struct event {
    int64_t t;
    uint64_t seq; /* ties in creation order: reproducible */
    int type, who, count;
} event;

typedef struct heap {
    event *e;
    size_t n, cap;
    uint64_t seq;
} heap;

typedef struct params {
    int64_t workers, tasks_per_worker, ahead, node, batch;
    double task_ms, jitter, c_req_us, c_sub_us, c_task_us, latency_us, node_latency_us, start_us;
    uint64_t seed;
} params;

typedef struct result {
    double makespan, efficiency, root_busy; /* seconds, fraction, fraction of the makespan */
    int64_t events;
} result;

/* One coordinator: rank 0, or a node's sub-coordinator. Demands (a worker's free place) wait in a
 * ring while it has no job to give. */
typedef struct server {
    int64_t busy_until, jobs, head, len, cap;
    int64_t reported; /* a sub-coordinator's ends not yet passed to rank 0 */
    int32_t *ring;
    bool asking;
} server;

static bool early(const event *a, const event *b) {
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static int push(heap *h, int64_t t, int type, int who, int count) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 1024;
        event *e = realloc(h->e, cap * sizeof *e);
        if (!e)
            return 1;
        h->e = e, h->cap = cap;
    }
    event x = {t, h->seq++, type, who, count};
    size_t i = h->n++;
    while (i > 0 && early(&x, &h->e[(i - 1) / 2])) {
        h->e[i] = h->e[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->e[i] = x;
    return 0;
}

static event pop(heap *h) {
    event top = h->e[0], last = h->e[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && early(&h->e[c + 1], &h->e[c]))
            c++;
        if (!early(&h->e[c], &last))
            break;
        h->e[i] = h->e[c];
        i = c;
    }
    if (h->n)
        h->e[i] = last;
    return top;
}

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static int64_t ns(double us) {
    return (int64_t)llround(us * 1e3);
}

typedef struct sim {
    params p;
    heap h;
    server root, *sub; /* sub: one per node with --node, else NULL */
    int64_t *queued, n, done, total_work, end, root_busy, c_root, c_sub, c_task, lat, node_lat,
        start;
    bool *running;
    uint64_t rng;
} sim;

static server *server_of(sim *s, int w) {
    return s->sub ? &s->sub[w / s->p.node] : &s->root;
}

static int64_t worker_latency(const sim *s) {
    return s->sub ? s->node_lat : s->lat;
}

static int64_t server_cost(const sim *s) {
    return s->sub ? s->c_sub : s->c_root;
}

/* The server takes one message arriving at t: after the ones before it, for its cost. */
static int64_t serve_at(sim *s, server *v, int64_t t, int64_t cost) {
    int64_t begin = t > v->busy_until ? t : v->busy_until;
    v->busy_until = begin + cost;
    if (v == &s->root)
        s->root_busy += cost;
    return v->busy_until;
}

static int give_or_wait(sim *s, server *v, int w, int64_t when) {
    if (v->jobs > 0) {
        v->jobs--;
        return push(&s->h, when + worker_latency(s), JOB_ARRIVE, w, 1);
    }
    if (v->len == v->cap)
        return 1; /* cannot happen: a worker holds at most 1 + ahead places */
    v->ring[(v->head + v->len++) % v->cap] = w;
    return 0;
}

static int64_t node_workers(const sim *s, int node) {
    int64_t rest = s->p.workers - node * s->p.node;
    return rest < s->p.node ? rest : s->p.node;
}

/* A node's batch: --batch for a full node, in proportion for a smaller last one. */
static int64_t node_batch(const sim *s, int node) {
    return (s->p.batch * node_workers(s, node) + s->p.node - 1) / s->p.node;
}

/* A sub-coordinator asks rank 0 for a batch when it holds half a batch or less. */
static int maybe_ask(sim *s, int node, int64_t when) {
    server *v = &s->sub[node];
    if (v->asking || v->jobs > node_batch(s, node) / 2 || s->root.jobs == 0)
        return 0;
    v->asking = true;
    int ends = (int)v->reported; /* the ask carries the ends since the last one */
    v->reported = 0;
    return push(&s->h, when + s->lat, BATCH_ASK, node, ends);
}

static int start_job(sim *s, int w, int64_t t) {
    s->queued[w]--;
    s->running[w] = true;
    double d = s->p.task_ms * 1e6;
    if (s->p.jitter > 0)
        d *= 1 + s->p.jitter * (2 * ((double)(splitmix64(&s->rng) >> 11) * 0x1p-53) - 1);
    int64_t work = (int64_t)llround(d);
    s->total_work += work;
    return push(&s->h, t + s->start + work, JOB_END, w, 0);
}

static int step(sim *s, event e) {
    int w = e.who;
    switch (e.type) {
    case JOB_ARRIVE:
        s->queued[w]++;
        return s->running[w] ? 0 : start_job(s, w, e.t);
    case JOB_END:
        s->running[w] = false;
        if (push(&s->h, e.t + worker_latency(s), REPORT, w, 0))
            return 1;
        return s->queued[w] ? start_job(s, w, e.t) : 0;
    case REPORT: {
        server *v = server_of(s, w);
        /* Rank 0 records each end (--c-task): with one coordinator as it comes, else when its
         * sub-coordinator passes it on. */
        int64_t when = serve_at(s, v, e.t, server_cost(s) + (s->sub ? 0 : s->c_task));
        v->reported += s->sub != NULL;
        if (++s->done == s->n)
            s->end = s->sub
                         ? serve_at(s, &s->root, when + s->lat, s->c_root + v->reported * s->c_task)
                         : when;
        if (give_or_wait(s, v, w, when))
            return 1;
        return s->sub ? maybe_ask(s, w / (int)s->p.node, when) : 0;
    }
    case BATCH_ASK: {
        /* Guided: at most a batch, and no more than half this node's share of what is left, so
         * that the last jobs spread over every node instead of queueing behind a few. */
        int64_t k = (s->root.jobs * node_workers(s, w) + 2 * s->p.workers - 1) / (2 * s->p.workers);
        k = k < node_batch(s, w) ? k : node_batch(s, w);
        k = k < s->root.jobs ? k : s->root.jobs;
        s->root.jobs -= k;
        int64_t when = serve_at(s, &s->root, e.t, s->c_root + e.count * s->c_task);
        return push(&s->h, when + s->lat, BATCH_ARRIVE, w, (int)k);
    }
    case BATCH_ARRIVE: {
        server *v = &s->sub[w];
        v->jobs += e.count;
        v->asking = false;
        int64_t when = serve_at(s, v, e.t, s->c_sub);
        while (v->jobs > 0 && v->len > 0) {
            int worker = v->ring[v->head];
            v->head = (v->head + 1) % v->cap, v->len--;
            when = serve_at(s, v, when, s->c_sub);
            if (give_or_wait(s, v, worker, when))
                return 1;
        }
        return maybe_ask(s, w, when);
    }
    }
    return 1;
}

static int server_init(server *v, int64_t places) {
    *v = (server){.cap = places};
    v->ring = malloc((size_t)places * sizeof *v->ring);
    return v->ring == NULL;
}

static int simulate(const params *p, result *r) {
    sim s = {.p = *p, .rng = p->seed};
    int err = 0;
    s.n = p->workers * p->tasks_per_worker;
    s.c_root = ns(p->c_req_us), s.c_sub = ns(p->c_sub_us >= 0 ? p->c_sub_us : p->c_req_us);
    s.c_task = ns(p->c_task_us);
    s.lat = ns(p->latency_us), s.start = ns(p->start_us);
    s.node_lat = ns(p->node_latency_us >= 0 ? p->node_latency_us : p->latency_us);
    int64_t places = 1 + p->ahead, nodes = p->node ? (p->workers + p->node - 1) / p->node : 0;
    s.queued = calloc((size_t)p->workers, sizeof *s.queued);
    s.running = calloc((size_t)p->workers, sizeof *s.running);
    if (!s.queued || !s.running)
        err = 1;
    if (!err && nodes)
        err = !(s.sub = calloc((size_t)nodes, sizeof *s.sub)) ||
              server_init(&s.root, nodes); /* rank 0 queues no demands with --node */
    else if (!err)
        err = server_init(&s.root, p->workers * places);
    for (int64_t i = 0; i < nodes && !err; i++)
        err = server_init(
            &s.sub[i],
            (p->workers - i * p->node < p->node ? p->workers - i * p->node : p->node) * places);
    s.root.jobs = s.n;
    /* The start: every worker's places are demands, round by round (one job each first). */
    for (int64_t k = 0; k < places && !err; k++)
        for (int64_t w = 0; w < p->workers && !err; w++) {
            server *v = server_of(&s, (int)w);
            if (s.sub) {
                v->ring[v->len++] = (int32_t)w;
            } else {
                int64_t when = serve_at(&s, v, 0, s.c_root);
                err = give_or_wait(&s, v, (int)w, when);
            }
        }
    for (int64_t i = 0; i < nodes && !err; i++)
        err = maybe_ask(&s, (int)i, -s.lat); /* the first asks reach rank 0 at time 0 */
    if (!err && s.n == 0)
        s.end = 0;
    while (!err && s.h.n > 0 && s.done < s.n) {
        err = step(&s, pop(&s.h));
        r->events++;
    }
    if (!err && s.done != s.n)
        err = 1;
    if (!err) {
        r->makespan = (double)s.end * 1e-9;
        r->efficiency = s.end > 0 ? (double)s.total_work / (double)p->workers / (double)s.end : 1;
        r->root_busy = s.end > 0 ? (double)s.root_busy / (double)s.end : 0;
    }
    free(s.h.e);
    free(s.queued);
    free(s.running);
    free(s.root.ring);
    for (int64_t i = 0; s.sub && i < nodes; i++)
        free(s.sub[i].ring);
    free(s.sub);
    return err;
}

/* Cases with a known answer: the simulation checked against arithmetic. */
static int check(void) {
    int bad = 0;
    result r = {0};
    /* One worker without look-ahead: rank 0 sends the first job; then each job is the way
     * there, the start and the work, the way back, and rank 0's message (report in, next out). */
    params one = {.workers = 1,
                  .tasks_per_worker = 50,
                  .task_ms = 1,
                  .c_req_us = 3,
                  .c_sub_us = -1,
                  .latency_us = 7,
                  .node_latency_us = -1,
                  .start_us = 100};
    double want = (3 + 50 * (7 + 100 + 1000 + 7 + 3)) * 1e-6;
    bad |= simulate(&one, &r) || fabs(r.makespan - want) > 1e-12;
    printf("one worker: makespan %.9f s, closed form %.9f s\n", r.makespan, want);
    /* Free messages: every worker always busy, efficiency exactly 1, one or two levels. */
    params free_msg = {.workers = 1000,
                       .tasks_per_worker = 20,
                       .task_ms = 10,
                       .ahead = 4,
                       .c_sub_us = -1,
                       .node_latency_us = -1};
    bad |= simulate(&free_msg, &r) || r.efficiency != 1.0;
    printf("free messages: efficiency %.6f, closed form 1\n", r.efficiency);
    free_msg.workers = 64, free_msg.node = 64, free_msg.batch = 256; /* one node: no tail */
    bad |= simulate(&free_msg, &r) || r.efficiency != 1.0;
    printf("free messages, 64 per node: efficiency %.6f, closed form 1\n", r.efficiency);
    /* Empty tasks: rank 0 never idles, it handles W(1 + ahead) first sends and n reports. */
    params busy = {.workers = 100,
                   .tasks_per_worker = 20,
                   .ahead = 4,
                   .c_req_us = 2,
                   .c_sub_us = -1,
                   .node_latency_us = -1};
    want = (100 * 5 + 2000) * 2e-6;
    bad |= simulate(&busy, &r) || fabs(r.makespan - want) > 1e-12;
    printf("empty tasks: makespan %.9f s, closed form %.9f s\n", r.makespan, want);
    printf(bad ? "farm_sim check: FAILED\n" : "farm_sim check: ok\n");
    return bad;
}

static void table(params p) {
    static const int64_t workers[] = {100, 1000, 10000, 100000};
    static const double ms[] = {1, 10, 100};
    printf("| workers | 1 ms | 10 ms | 100 ms |\n|---|---|---|---|\n");
    for (size_t i = 0; i < sizeof workers / sizeof *workers; i++) {
        printf("| %lld |", (long long)workers[i]);
        for (size_t j = 0; j < sizeof ms / sizeof *ms; j++) {
            result r = {0};
            p.workers = workers[i], p.task_ms = ms[j];
            if (simulate(&p, &r))
                printf(" failed |");
            else
                printf(" %.1f%% (rank 0 %.0f%% busy) |", 100 * r.efficiency, 100 * r.root_busy);
        }
        printf("\n");
        fflush(stdout);
    }
    /* What no coordinator can beat: a worker pays the task start for every task. */
    printf("| bound d / (d + start) |");
    for (size_t j = 0; j < sizeof ms / sizeof *ms; j++)
        printf(" %.1f%% |", 100 * ms[j] * 1e3 / (ms[j] * 1e3 + p.start_us));
    printf("\n");
}

static void usage(FILE *f) {
    fprintf(f, "usage: farm_sim [--workers W] [--tasks-per-worker N] [--task-ms D] [--jitter F]\n"
               "  [--c-req US] [--c-task US] [--latency US] [--task-start US] [--ahead A]\n"
               "  [--node G]"
               " [--batch B] [--c-sub US] [--node-latency US] [--seed S] [--table] [--check]\n"
               "Simulates tessera-farm's coordinator (times in microseconds, tasks in ms);\n"
               "--table: efficiency for 1e2..1e5 workers and 1, 10, 100 ms tasks;\n"
               "--node G: a sub-coordinator per G workers taking --batch jobs from rank 0;\n"
               "--check: the closed-form cases (exit 1 when one differs).\n");
}

static int number(const char *name, const char *text, double lo, double hi, double *out) {
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "farm_sim: --%s %s: expected a number in [%g, %g]\n", name, text, lo, hi);
        return 2;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv) {
    params p = {.workers = 10000,
                .tasks_per_worker = 20,
                .task_ms = 10,
                .ahead = 4,
                .c_sub_us = -1,
                .node_latency_us = -1,
                .seed = 1};
    bool do_table = false;
    static const struct option longs[] = {
        {"workers", 1, 0, 'w'},      {"tasks-per-worker", 1, 0, 'n'},
        {"task-ms", 1, 0, 'd'},      {"jitter", 1, 0, 'j'},
        {"c-req", 1, 0, 'c'},        {"c-task", 1, 0, 'T'},
        {"latency", 1, 0, 'l'},      {"task-start", 1, 0, 's'},
        {"ahead", 1, 0, 'a'},        {"node", 1, 0, 'g'},
        {"batch", 1, 0, 'b'},        {"c-sub", 1, 0, 'C'},
        {"node-latency", 1, 0, 'L'}, {"seed", 1, 0, 'S'},
        {"table", 0, 0, 't'},        {"check", 0, 0, 'k'},
        {"help", 0, 0, 'h'},         {0, 0, 0, 0}};
    int opt, err = 0;
    double v = 0;
    while (!err && (opt = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        const char *name = "";
        for (const struct option *o = longs; o->name; o++)
            if (o->val == opt)
                name = o->name;
        switch (opt) {
        case 'w':
            err = number(name, optarg, 1, 1e7, &v), p.workers = (int64_t)v;
            break;
        case 'n':
            err = number(name, optarg, 1, 1e6, &v), p.tasks_per_worker = (int64_t)v;
            break;
        case 'd':
            err = number(name, optarg, 0, 1e6, &p.task_ms);
            break;
        case 'j':
            err = number(name, optarg, 0, 1, &p.jitter);
            break;
        case 'c':
            err = number(name, optarg, 0, 1e6, &p.c_req_us);
            break;
        case 'T':
            err = number(name, optarg, 0, 1e6, &p.c_task_us);
            break;
        case 'l':
            err = number(name, optarg, 0, 1e6, &p.latency_us);
            break;
        case 's':
            err = number(name, optarg, 0, 1e9, &p.start_us);
            break;
        case 'a':
            err = number(name, optarg, 0, 1000, &v), p.ahead = (int64_t)v;
            break;
        case 'g':
            err = number(name, optarg, 0, 1e6, &v), p.node = (int64_t)v;
            break;
        case 'b':
            err = number(name, optarg, 1, 1e9, &v), p.batch = (int64_t)v;
            break;
        case 'C':
            err = number(name, optarg, 0, 1e6, &p.c_sub_us);
            break;
        case 'L':
            err = number(name, optarg, 0, 1e6, &p.node_latency_us);
            break;
        case 'S':
            err = number(name, optarg, 0, 1e18, &v), p.seed = (uint64_t)v;
            break;
        case 't':
            do_table = true;
            break;
        case 'k':
            return check() ? 1 : 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (err)
        return err;
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (p.node && !p.batch)
        p.batch = 4 * p.node;
    printf("c_req %.3f us, c_task %.3f us, latency %.3f us, task start %.3f us, ahead %lld, %lld "
           "tasks per worker",
           p.c_req_us, p.c_task_us, p.latency_us, p.start_us, (long long)p.ahead,
           (long long)p.tasks_per_worker);
    if (p.node)
        printf(", %lld workers per node, batches of %lld", (long long)p.node, (long long)p.batch);
    printf("\n");
    if (do_table) {
        table(p);
        return 0;
    }
    result r = {0};
    if (simulate(&p, &r)) {
        fprintf(stderr, "farm_sim: out of memory\n");
        return 1;
    }
    printf("workers %lld task %g ms: makespan %.6f s, efficiency %.4f, rank 0 busy %.3f, %lld "
           "events\n",
           (long long)p.workers, p.task_ms, r.makespan, r.efficiency, r.root_busy,
           (long long)r.events);
    return 0;
}
