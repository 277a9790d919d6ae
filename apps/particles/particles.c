/* tessera-particles: the textbook particle simulator. N non-interacting particles each circle
 * the origin with their own angular velocity w (acceleration -w^2 r), integrated with velocity
 * Verlet for T steps of a fixed dt.
 *
 * Particles are split in contiguous blocks over the ranks and threads; no communication happens
 * until the end. A particle's initial state depends only on the seed and its global index, and
 * its update only on itself, so the final state is the same bits for any ranks and threads; the
 * kinetic energy is an exactly rounded sum (tsr_reduce_doubles), the checksum covers the final
 * positions interleaved x0, y0, x1, y1, ...
 *
 * Every CHECK_EVERY steps the ranks agree that every position and velocity is still finite; a
 * state that overflowed (a --dt far too large: the integrator is stable only for w dt < 2, and
 * w goes up to 2) stops the run with status 1 and one message naming the first step at which a
 * particle left the finite numbers, found by replaying the offending particles alone. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <tessera.h>

/* Particles a thread advances through all steps while they stay in cache: 5 arrays of 512
 * doubles = 20 KiB. */
#define BLOCK 512
/* Steps between the checks that the state is finite (one small reduction each). */
#define CHECK_EVERY 1000
/* --dt at most this: any positive finite step is accepted (a huge one fails at the first check,
 * naming the step), but not values whose half (the half kick) would be denormal or zero. */
#define MIN_DT 1e-300

typedef struct particles {
    int64_t n, steps, seed;
    double dt;
    char report[TSR_OPT_STRLEN];
    bool force;
    tsr_progress_option progress;
    char cmdline[TSR_OPT_STRLEN]; /* for the report */
    /* This rank's particles [lo, hi), structure of arrays. */
    int64_t lo, hi;
    double *x, *y, *vx, *vy, *w;
    double *scratch; /* 2 (hi - lo): per-particle energies, then interleaved positions */
} particles;

/* A 53-bit fraction in [0, 1) of draw k of particle g: the same formula as the reference. */
static double draw(uint64_t seed_hash, int64_t g, int k) {
    uint64_t h = tsr_splitmix64(seed_hash ^ tsr_splitmix64(3 * (uint64_t)g + (uint64_t)k));
    return (double)(h >> 11) * 0x1.0p-53;
}

/* Particle g's initial state: radius, angle and angular velocity from the seed. */
typedef struct one {
    double x, y, vx, vy, w;
} one;

static one initial(uint64_t seed_hash, int64_t g) {
    const double two_pi = 6.283185307179586476925286766559;
    double r = 0.5 + draw(seed_hash, g, 0);
    double a = two_pi * draw(seed_hash, g, 1);
    double w = 0.5 + 1.5 * draw(seed_hash, g, 2);
    one o = {.x = r * cos(a), .y = r * sin(a), .w = w};
    o.vx = -w * o.y;
    o.vy = w * o.x;
    return o;
}

static void init_state(particles *p) {
    const uint64_t seed_hash = tsr_splitmix64((uint64_t)p->seed);
    const int64_t n = p->hi - p->lo;
    /* Each thread first touches the particles it later advances (same static split of blocks). */
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < n; b += BLOCK)
        for (int64_t i = b; i < b + BLOCK && i < n; i++) {
            one o = initial(seed_hash, p->lo + i);
            p->x[i] = o.x;
            p->y[i] = o.y;
            p->vx[i] = o.vx;
            p->vy[i] = o.vy;
            p->w[i] = o.w;
        }
}

/* Velocity Verlet, a = -w^2 (x, y): half kick, drift, half kick. Particles are independent, so
 * each cache-sized block runs all its steps before the next one; the inner loop vectorises and
 * gives the same bits as the scalar reference (no FMA contraction). */
static void advance(particles *p, int64_t steps) {
    const int64_t n = p->hi - p->lo;
    const double dt = p->dt, hdt = 0.5 * p->dt;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < n; b += BLOCK) {
        const int64_t m = n - b < BLOCK ? n - b : BLOCK;
        double *restrict x = p->x + b, *restrict y = p->y + b;
        double *restrict vx = p->vx + b, *restrict vy = p->vy + b;
        const double *restrict w = p->w + b;
        for (int64_t t = 0; t < steps; t++) {
#pragma omp simd
            for (int64_t i = 0; i < m; i++) {
                double w2 = w[i] * w[i];
                double hx = vx[i] + hdt * (-w2 * x[i]);
                double hy = vy[i] + hdt * (-w2 * y[i]);
                x[i] = x[i] + dt * hx;
                y[i] = y[i] + dt * hy;
                vx[i] = hx + hdt * (-w2 * x[i]);
                vy[i] = hy + hdt * (-w2 * y[i]);
            }
        }
    }
}

static bool finite4(double x, double y, double vx, double vy) {
    return isfinite(x) && isfinite(y) && isfinite(vx) && isfinite(vy);
}

/* The first step (from 1) after which particle g is no longer finite, replaying it alone from its
 * initial state through at most `limit` steps; INT64_MAX if it stays finite that long. The same
 * operations as advance(). */
static int64_t first_bad_step(const particles *p, int64_t g, int64_t limit) {
    one o = initial(tsr_splitmix64((uint64_t)p->seed), g);
    const double dt = p->dt, hdt = 0.5 * p->dt, w2 = o.w * o.w;
    for (int64_t t = 1; t <= limit; t++) {
        double hx = o.vx + hdt * (-w2 * o.x);
        double hy = o.vy + hdt * (-w2 * o.y);
        o.x = o.x + dt * hx;
        o.y = o.y + dt * hy;
        o.vx = hx + hdt * (-w2 * o.x);
        o.vy = hy + hdt * (-w2 * o.y);
        if (!finite4(o.x, o.y, o.vx, o.vy))
            return t;
    }
    return INT64_MAX;
}

/* After `done` steps: every rank agrees whether the state is still finite. If not, every rank
 * returns TSR_ERR_KERNEL with one message naming the first step and particle (lowest index at
 * that step) that overflowed. Collective. */
static int check_finite(tsr_ctx ctx, const particles *p, int64_t done) {
    const int64_t n = p->hi - p->lo;
    int64_t bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad)
    for (int64_t i = 0; i < n; i++)
        bad += !finite4(p->x[i], p->y[i], p->vx[i], p->vy[i]);
    int64_t step = INT64_MAX, who = INT64_MAX;
    for (int64_t i = 0; bad && i < n; i++)
        if (!finite4(p->x[i], p->y[i], p->vx[i], p->vy[i])) {
            int64_t t = first_bad_step(p, p->lo + i, step < done ? step : done);
            if (t < step) {
                step = t;
                who = p->lo + i;
            }
        }
    int64_t first = INT64_MAX;
    TSR_MPI(ctx, MPI_Allreduce(&step, &first, 1, MPI_INT64_T, MPI_MIN, tsr_ctx_comm(ctx)));
    if (first == INT64_MAX)
        return TSR_SUCCESS;
    int64_t mine = step == first ? who : INT64_MAX, particle = INT64_MAX;
    TSR_MPI(ctx, MPI_Allreduce(&mine, &particle, 1, MPI_INT64_T, MPI_MIN, tsr_ctx_comm(ctx)));
    /* Every rank knows the same verdict: each records it, and agree makes it collective. */
    int err = tsr_error_set(ctx, TSR_ERR_KERNEL, __FILE__, __LINE__, __func__,
                            "the state is no longer finite at step %lld (particle %lld first): "
                            "--dt %g is too large (the orbits are stable only for dt < 1)",
                            (long long)first, (long long)particle, p->dt);
    return tsr_ctx_agree(ctx, err);
}

/* Rank 0: the values make sense and the report can be written, before anything runs. */
static int check(tsr_ctx ctx, void *values) {
    const particles *p = values;
    TSR_CHECK(ctx, p->dt > 0 && isfinite(p->dt), TSR_ERR_INPUT,
              "--dt %g: must be positive and finite", p->dt);
    TSR_CHECK(ctx, p->dt >= MIN_DT, TSR_ERR_INPUT, "--dt %g: must be at least %g", p->dt, MIN_DT);
    if (p->report[0])
        TSR_CALL(ctx, tsr_file_check_output(ctx, "--report", p->report, p->force));
    return TSR_SUCCESS;
}

static int parse(tsr_ctx ctx, int argc, char **argv, particles *p, bool *done) {
    memset(p, 0, sizeof *p);
    p->n = 100000;
    p->steps = 1000;
    p->seed = 1;
    p->dt = 1e-3;
    tsr_opts o = NULL;
    TSR_CALL(ctx, tsr_opts_create(ctx,
                                  "N independent particles circling the origin, velocity Verlet, "
                                  "split in blocks over ranks and threads.",
                                  &o));
    /* 2 N position values are indexed with 64-bit integers. */
    tsr_opts_add_int(o, "particles", &p->n, 1, INT64_MAX / 2, "N", "particles (1 to 2^62)");
    tsr_opts_add_int(o, "steps", &p->steps, 0, INT64_MAX, "T", "time steps (0 or more)");
    tsr_opts_add_double(o, "dt", &p->dt, -HUGE_VAL, HUGE_VAL, "DT",
                        "time step, positive and finite, at least 1e-300; stable below "
                        "1 (a state that overflows stops the run, naming the step)");
    tsr_opts_add_int(o, "seed", &p->seed, 0, INT64_MAX, "S",
                     "seed of the initial radii, angles and angular velocities");
    tsr_report_add_option(o, p->report);
    tsr_opts_add_flag(o, "force", &p->force, "replace an existing --report file");
    tsr_progress_add_options(o, &p->progress);
    int err = tsr_opts_parse(o, argc, argv, done);
    return tsr_opts_finish(ctx, &o, err, *done, p->cmdline, check, p);
}

static int barrier(tsr_ctx ctx) {
    TSR_MPI(ctx, MPI_Barrier(tsr_ctx_comm(ctx)));
    return TSR_SUCCESS;
}

static void free_state(particles *p) {
    free(p->x);
    free(p->y);
    free(p->vx);
    free(p->vy);
    free(p->w);
    free(p->scratch);
}

static int run(tsr_ctx ctx, int argc, char **argv, bool *stopped) {
    (void)stopped; /* no checkpoints */
    particles p;
    bool done = false;
    TSR_CALL(ctx, parse(ctx, argc, argv, &p, &done));
    if (done)
        return TSR_SUCCESS;
    /* Ranks beyond N own nothing and only take part in the reductions. */
    TSR_CALL(ctx, tsr_split_range(p.n, tsr_ctx_size(ctx), tsr_ctx_rank(ctx), &p.lo, &p.hi));
    const size_t n = (size_t)(p.hi - p.lo), bytes = sizeof(double) * (n ? n : 1);
    p.x = malloc(bytes);
    p.y = malloc(bytes);
    p.vx = malloc(bytes);
    p.vy = malloc(bytes);
    p.w = malloc(bytes);
    p.scratch = malloc(2 * bytes);
    int err = TSR_SUCCESS;
    if (!p.x || !p.y || !p.vx || !p.vy || !p.w || !p.scratch)
        err = tsr_error_set(ctx, TSR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                            "cannot allocate %zu particles on rank %d", n, tsr_ctx_rank(ctx));
    if ((err = tsr_ctx_agree(ctx, err)))
        goto out;

    init_state(&p);
    /* Barriers: time the slowest rank, not the first one done. */
    if ((err = barrier(ctx)))
        goto out;
    double t0 = tsr_wtime();
    tsr_progress prog;
    tsr_progress_start(&prog, ctx, p.steps, tsr_progress_option_mode(&p.progress));
    for (int64_t done = 0; done < p.steps;) {
        int64_t k = p.steps - done < CHECK_EVERY ? p.steps - done : CHECK_EVERY;
        advance(&p, k);
        done += k;
        if ((err = check_finite(ctx, &p, done)))
            break;
        tsr_progress_update(&prog, done);
    }
    tsr_progress_end(&prog);
    if (err)
        goto out;
    if ((err = barrier(ctx)))
        goto out;
    double seconds = tsr_wtime() - t0;
    tsr_ctx_timer_add(ctx, TSR_TIMER_COMPUTE, seconds);

    double *e = p.scratch;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        e[i] = 0.5 * (p.vx[i] * p.vx[i] + p.vy[i] * p.vy[i]);
    double energy = 0;
    if ((err = tsr_reduce_doubles(ctx, e, (int64_t)n, TSR_REDUCE_SUM, &energy)))
        goto out;
    double *xy = p.scratch;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        xy[2 * i] = p.x[i];
        xy[2 * i + 1] = p.y[i];
    }
    uint64_t checksum = 0;
    if ((err = tsr_checksum_doubles(ctx, xy, 2 * (int64_t)n, 2 * p.lo, &checksum)))
        goto out;

    tsr_ctx_printf(ctx, stdout, "particles %lld, steps %lld, dt %g, %d rank%s x %d thread%s\n",
                   (long long)p.n, (long long)p.steps, p.dt, tsr_ctx_size(ctx),
                   tsr_ctx_size(ctx) == 1 ? "" : "s", tsr_ctx_threads(ctx),
                   tsr_ctx_threads(ctx) == 1 ? "" : "s");
    tsr_ctx_printf(ctx, stdout, "wall %.3f s, Mparticle-steps/s %.1f\n", seconds,
                   seconds > 0 ? (double)p.n * (double)p.steps / seconds / 1e6 : 0.0);
    tsr_ctx_printf(ctx, stdout, "kinetic_energy %.17g\n", energy);
    char config[256];
    snprintf(config, sizeof config, "\"particles\": %lld, \"steps\": %lld, \"dt\": %.17g",
             (long long)p.n, (long long)p.steps, p.dt);
    tsr_report rep = {.app = "tessera-particles",
                      .force = p.force,
                      .command_line = p.cmdline,
                      .config_json = config,
                      .cells = p.hi - p.lo, /* particles here */
                      .seconds = seconds,
                      .rate_unit = "Mparticle-steps/s",
                      .rate = seconds > 0 ? (double)p.n * (double)p.steps / seconds / 1e6 : 0.0};
    if ((err = tsr_report_finish(ctx, &rep, p.report, stdout)))
        goto out;
    tsr_ctx_printf(ctx, stdout, "checksum %016llx\n", (unsigned long long)checksum);
out:
    free_state(&p);
    return err;
}

int main(int argc, char **argv) {
    return tsr_main(argc, argv, "tessera-particles", run);
}
