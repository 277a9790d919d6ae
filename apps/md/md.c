/* tessera-md: a Lennard-Jones fluid set up as LAMMPS's bench/in.lj (fcc lattice, reduced units,
 * cutoff 2.5 sigma, skin 0.3, velocity Verlet at constant energy), decomposed in blocks of a
 * periodic grid of particles, ghosts and neighbour lists.
 *
 * The grid has n^3 unit cells for a box of side L, n the largest with L / n >= cutoff + skin,
 * so ghosts come from the next cell layer only. Positions are kept in grid units (x n / L),
 * velocities and forces in the box's reduced units. The force on an atom sums its full neighbour
 * list (every partner, in ascending (id, image) order, as the library sorts it) with one
 * expression; nothing in it depends on ranks, threads, blocks or map, so neither does the
 * trajectory: the checksum is the same bits everywhere. Energies, virial and temperature are
 * exact sums (tsr_reduce_doubles). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "md.h"

/* Steps between two checks that the state is finite (also checked at rebuilds and thermo). */
#define CHECK_EVERY 100

static const char *const init_names[] = {"lattice", "cluster", NULL};

typedef struct md {
    int64_t cells, steps, thermo, neigh_every, seed, rebalance_every;
    double density, cutoff, skin, temp, dt, rebalance_threshold;
    int init, map;
    bool shift, allow_idle;
    tsr_extents blocks;
    char report[TSR_OPT_STRLEN];
    tsr_run_opts run; /* --output, --checkpoint-*, --restart, --force */
    tsr_progress_option progress;
    char cmdline[TSR_OPT_STRLEN];
} md;

static int check(tsr_ctx ctx, void *values) {
    const md *m = values;
    TSR_CHECK(
        ctx, m->cells >= 1 && 4.0 * (double)m->cells * (double)m->cells * (double)m->cells < 0x1p62,
        TSR_ERR_INPUT, "--cells %lld: must be at least 1 and 4 cells^3 atoms below 2^62",
        (long long)m->cells);
    TSR_CHECK(ctx, m->density > 0 && isfinite(m->density), TSR_ERR_INPUT,
              "--density %g: must be positive and finite", m->density);
    TSR_CHECK(ctx, m->cutoff > 0 && isfinite(m->cutoff), TSR_ERR_INPUT,
              "--cutoff %g: must be positive and finite", m->cutoff);
    TSR_CHECK(ctx, m->skin >= 0 && isfinite(m->skin), TSR_ERR_INPUT,
              "--skin %g: must be finite and >= 0", m->skin);
    TSR_CHECK(ctx, m->dt > 0 && isfinite(m->dt), TSR_ERR_INPUT,
              "--dt %g: must be positive and finite", m->dt);
    TSR_CHECK(ctx, m->temp >= 0 && isfinite(m->temp), TSR_ERR_INPUT,
              "--temp %g: must be finite and >= 0", m->temp);
    /* An atom of the mean thermal speed must not cross half the interaction range in a step:
     * beyond that the forces miss it (and a huge --temp overflows the kinetic energy). */
    const double hop = sqrt(3.0) * sqrt(m->temp) * m->dt;
    TSR_CHECK(ctx, hop <= 0.5 * (m->cutoff + m->skin), TSR_ERR_INPUT,
              "--temp %g: at --dt %g a thermal atom moves %.3g per step, more than half of "
              "--cutoff + --skin (%g): lower --temp or --dt",
              m->temp, m->dt, hop, m->cutoff + m->skin);
    const double L = (double)m->cells * cbrt(4.0 / m->density);
    TSR_CHECK(ctx, m->cutoff + m->skin < 0.5 * L, TSR_ERR_INPUT,
              "--cutoff %g + --skin %g must be below half the box, %.6g (--cells %lld at "
              "--density %g): an atom would meet its own image",
              m->cutoff, m->skin, 0.5 * L, (long long)m->cells, m->density);
    /* The grid has L / (cutoff + skin) cells per side: a count an int64 holds, cubed. */
    TSR_CHECK(ctx, L / (m->cutoff + m->skin) < 0x1p20, TSR_ERR_INPUT,
              "--density %g: the box (%.6g) holds more than 2^20 cells of cutoff + skin per side",
              m->density, L);
    /* Empty cells cost memory and time like full ones: a gas sparser than this is not what the
     * binned grid is for. */
    const double side = floor(L / (m->cutoff + m->skin)), atoms = 4.0 * pow((double)m->cells, 3);
    TSR_CHECK(ctx, side * side * side <= fmax(0x1p24, 64 * atoms), TSR_ERR_INPUT,
              "--density %g: the box (%.6g) holds %.3g cells of cutoff + skin for %.0f atoms, "
              "more than 64 per atom (or 2^24): raise --density",
              m->density, L, side * side * side, atoms);
    return TSR_SUCCESS;
}

static int parse(tsr_ctx ctx, int argc, char **argv, md *m, bool *done) {
    memset(m, 0, sizeof *m);
    m->cells = 20;
    m->density = 0.8442;
    m->cutoff = 2.5;
    m->skin = 0.3;
    m->temp = 1.44;
    m->dt = 0.005;
    m->steps = 100;
    m->seed = 87287;
    m->rebalance_threshold = 1.10;
    tsr_run_opts_init(&m->run);
    tsr_opts o = NULL;
    TSR_CALL(ctx, tsr_opts_create(ctx,
                                  "Lennard-Jones fluid as LAMMPS bench/in.lj (reduced units, NVE), "
                                  "bit-identical for any ranks, threads, blocks and map.",
                                  &o));
    tsr_opts_add_int(o, "cells", &m->cells, INT64_MIN, INT64_MAX, "N",
                     "fcc unit cells per side: 4 N^3 atoms");
    tsr_opts_add_double(o, "density", &m->density, -HUGE_VAL, HUGE_VAL, "RHO",
                        "reduced density (lattice fcc RHO)");
    tsr_opts_add_double(o, "cutoff", &m->cutoff, -HUGE_VAL, HUGE_VAL, "RC",
                        "pair cutoff (lj/cut, energy not shifted)");
    tsr_opts_add_double(o, "skin", &m->skin, -HUGE_VAL, HUGE_VAL, "S", "neighbour list skin");
    tsr_opts_add_double(o, "temp", &m->temp, -HUGE_VAL, HUGE_VAL, "T",
                        "initial temperature (3N-3 degrees of freedom)");
    tsr_opts_add_double(o, "dt", &m->dt, -HUGE_VAL, HUGE_VAL, "DT",
                        "time step (a state that overflows stops the run, naming the step)");
    tsr_opts_add_int(o, "steps", &m->steps, 0, INT64_MAX, "T", "time steps");
    tsr_opts_add_int(o, "thermo", &m->thermo, 0, INT64_MAX, "K",
                     "thermo line every K steps (0: first and last step only)");
    tsr_opts_add_flag(o, "shift", &m->shift,
                      "pair energy shifted to 0 at the cutoff (LAMMPS pair_modify shift yes): the "
                      "same forces and trajectory, an energy without jumps");
    tsr_opts_add_int(o, "neigh-every", &m->neigh_every, 0, INT64_MAX, "K",
                     "rebuild neighbour lists every K steps (0: when an atom moved over half the "
                     "skin, checked every step)");
    tsr_opts_add_int(o, "seed", &m->seed, 0, INT64_MAX, "S", "seed of the initial velocities");
    tsr_opts_add_choice(o, "init", &m->init, init_names,
                        "lattice: the whole box; cluster: only the atoms in [0, L/2)^3");
    tsr_opts_add_extents(o, "blocks", &m->blocks, "BXxBYxBZ",
                         "blocks per dimension (default: one per rank)");
    tsr_opts_add_choice(o, "map", &m->map, tsr_map_strategy_names, "block-to-rank map");
    tsr_opts_add_flag(o, "allow-idle", &m->allow_idle,
                      "allow fewer blocks than ranks (some ranks idle)");
    tsr_opts_add_int(o, "rebalance-every", &m->rebalance_every, 0, INT64_MAX, "N",
                     "move blocks between ranks every N steps by their atom counts (0: never)");
    tsr_opts_add_double(o, "rebalance-threshold", &m->rebalance_threshold, nextafter(1.0, 2.0), 1e6,
                        "R",
                        "rebalance when the predicted imbalance (max/mean) improves by a factor "
                        "over R");
    tsr_run_add_options(o, &m->run);
    tsr_report_add_option(o, m->report);
    tsr_progress_add_options(o, &m->progress);
    int err = tsr_opts_parse(o, argc, argv, done);
    return tsr_opts_finish(ctx, &o, err, *done, m->cmdline, check, m);
}

/* The thermo values, from exact sums over every atom. Collective. */
typedef struct thermo {
    double temp, pe, ke, etotal, press;
} thermo;

static int measure(tsr_ctx ctx, const md_work *w, int64_t natoms, double volume, thermo *t) {
    const int64_t n = w->off[w->nb];
    double *v2 = w->xs[0]; /* free until the next compute */
    for (int64_t b = 0; b < w->nb; b++) {
        const tsr_particle_block *pv = &w->pv[b];
        for (int64_t i = 0; i < pv->count; i++)
            v2[w->off[b] + i] =
                pv->v[0][i] * pv->v[0][i] + pv->v[1][i] * pv->v[1][i] + pv->v[2][i] * pv->v[2][i];
    }
    double sv2 = 0, pe = 0, vir = 0;
    TSR_CALL(ctx, tsr_reduce_doubles(ctx, v2, n, TSR_REDUCE_SUM, &sv2));
    TSR_CALL(ctx, tsr_reduce_doubles(ctx, w->e, n, TSR_REDUCE_SUM, &pe));
    TSR_CALL(ctx, tsr_reduce_doubles(ctx, w->w, n, TSR_REDUCE_SUM, &vir));
    const double dof = 3.0 * (double)natoms - 3.0, N = (double)natoms;
    t->temp = dof > 0 ? sv2 / dof : 0.0;
    t->pe = pe / N;
    t->ke = 0.5 * sv2 / N;
    t->etotal = t->pe + t->ke;
    /* As LAMMPS: (dof k T + virial) / (3 V), and dof k T = sum m v^2. */
    t->press = (sv2 + vir) / (3.0 * volume);
    return TSR_SUCCESS;
}

/* Every rank agrees whether every position and velocity is finite; if not, all fail with one
 * message naming the step and the lowest id among the atoms found non-finite. Collective. */
static int check_finite(tsr_ctx ctx, const md_work *w, int64_t step, double dt) {
    int64_t bad = INT64_MAX, first = INT64_MAX;
    for (int64_t b = 0; b < w->nb; b++) {
        const tsr_particle_block *pv = &w->pv[b];
        for (int64_t i = 0; i < pv->count; i++)
            if (!(isfinite(pv->x[0][i]) && isfinite(pv->x[1][i]) && isfinite(pv->x[2][i]) &&
                  isfinite(pv->v[0][i]) && isfinite(pv->v[1][i]) && isfinite(pv->v[2][i])) &&
                pv->id[i] < bad)
                bad = pv->id[i];
    }
    TSR_MPI(ctx, MPI_Allreduce(&bad, &first, 1, MPI_INT64_T, MPI_MIN, tsr_ctx_comm(ctx)));
    if (first == INT64_MAX)
        return TSR_SUCCESS;
    int err = tsr_error_set(ctx, TSR_ERR_KERNEL, __FILE__, __LINE__, __func__,
                            "the state is no longer finite at step %lld (atom %lld first): "
                            "--dt %g is too large",
                            (long long)step, (long long)first, dt);
    return tsr_ctx_agree(ctx, err);
}

/* Checksum of positions (grid units, in [0, n): wrapped at every step) and velocities: element
 * 6 id + c, c = x, y, z, vx, vy, vz. Collective. */
static int checksum(tsr_ctx ctx, const md_work *w, uint64_t *sum) {
    uint64_t local = 0;
    for (int64_t b = 0; b < w->nb; b++) {
        const tsr_particle_block *pv = &w->pv[b];
        for (int64_t i = 0; i < pv->count; i++)
            for (int c = 0; c < 6; c++) {
                double v = c < 3 ? pv->x[c][i] : pv->v[c - 3][i];
                uint64_t bits;
                memcpy(&bits, &v, sizeof bits);
                local += tsr_checksum_term(6 * (uint64_t)pv->id[i] + (uint64_t)c, bits);
            }
    }
    TSR_MPI(ctx, MPI_Allreduce(&local, sum, 1, MPI_UINT64_T, MPI_SUM, tsr_ctx_comm(ctx)));
    return TSR_SUCCESS;
}

static int barrier(tsr_ctx ctx) {
    TSR_MPI(ctx, MPI_Barrier(tsr_ctx_comm(ctx)));
    return TSR_SUCCESS;
}

/* A neighbour rebuild: atoms to their blocks, new ghosts and lists, new views. Collective. */
static int rebuild(tsr_ctx ctx, tsr_particles p, tsr_neighbours nb, md_work *w) {
    TSR_CALL(ctx, tsr_particles_redistribute(p, 0, NULL));
    TSR_CALL(ctx, tsr_neighbours_build(nb));
    int64_t blocks = tsr_particles_local_blocks(p);
    if (!w->off || blocks != w->nb) { /* the first build, or the blocks moved */
        md_work_free(w);
        *w = (md_work){0};
        w->off = calloc((size_t)blocks + 1, sizeof *w->off);
        w->goff = calloc((size_t)blocks + 1, sizeof *w->goff);
        w->pv = calloc((size_t)blocks + 1, sizeof *w->pv);
        w->nv = calloc((size_t)blocks + 1, sizeof *w->nv);
        if (!w->off || !w->goff || !w->pv || !w->nv)
            return tsr_ctx_agree(ctx, TSR_ERR_MEMORY);
    }
    return tsr_ctx_agree(ctx, md_work_views(w, p, nb));
}

static void print_thermo(tsr_ctx ctx, int64_t step, const thermo *t) {
    tsr_ctx_printf(ctx, stdout, "thermo %lld %.17g %.17g %.17g %.17g %.17g\n", (long long)step,
                   t->temp, t->pe, t->ke, t->etotal, t->press);
}

/* Rank 0 prints the atoms per rank, max / mean (what --init cluster makes uneven). Collective. */
static int print_imbalance(tsr_ctx ctx, tsr_particles p, int64_t natoms, const char *when) {
    int64_t mine = tsr_particles_local_count(p), most = 0;
    TSR_MPI(ctx, MPI_Allreduce(&mine, &most, 1, MPI_INT64_T, MPI_MAX, tsr_ctx_comm(ctx)));
    tsr_ctx_printf(ctx, stdout, "atom imbalance%s %.3f (max/mean atoms per rank)\n", when,
                   natoms ? (double)most * tsr_ctx_size(ctx) / (double)natoms : 1.0);
    return TSR_SUCCESS;
}

/* The box of m's lattice on a grid of n^3 cells, n the largest with L / n >= cutoff + skin (so
 * ghosts come from the next cell layer only). */
static md_box make_box(const md *m) {
    md_box box = {.cells = m->cells, .a = cbrt(4.0 / m->density), .cluster = m->init == 1};
    box.L = (double)m->cells * box.a;
    const double range = m->cutoff + m->skin;
    box.n = (int64_t)(box.L / range);
    while (box.n > 1 && box.L / (double)box.n < range)
        box.n--;
    while (box.L / (double)(box.n + 1) >= range)
        box.n++;
    box.s = (double)box.n / box.L;
    return box;
}

/* Seconds per part of a step, rank 0's. */
typedef struct split {
    double force, ghost, build, integ;
    int64_t builds;
} split;

/* Steps start + 1 .. m->steps of velocity Verlet; after each, the run's outputs and checkpoints
 * (stopping after a signal's checkpoint). Returns the steps done in *done. Collective. */
static int advance(tsr_ctx ctx, const md *m, const md_lj *k, tsr_domain *dom, tsr_particles p,
                   tsr_neighbours nb, md_work *w, tsr_particles_run *r, int64_t start,
                   int64_t natoms, double volume, split *t, int64_t *done, bool *stopped) {
    tsr_progress prog;
    tsr_progress_start(&prog, ctx, m->steps - start, tsr_progress_option_mode(&m->progress));
    int err = TSR_SUCCESS;
    int64_t step = start + 1;
    for (; step <= m->steps && !err && !*stopped; step++) {
        const bool show = step == m->steps || (m->thermo && step % m->thermo == 0);
        double t1 = tsr_wtime();
        md_integrate(w, k, true);
        double t2 = tsr_wtime();
        t->integ += t2 - t1;
        const bool balance = m->rebalance_every && step % m->rebalance_every == 0;
        bool need = balance;
        if (!need && m->neigh_every)
            need = step % m->neigh_every == 0;
        else if (!need && (err = tsr_neighbours_need_rebuild(nb, &need)))
            break;
        if (need) {
            /* The library refuses non-finite positions: say why first. Before a rebalance the
             * atoms go to their blocks, so that each block's count is its cost; positions are
             * wrapped already, so neither this nor the rebuild changes any bits. */
            if ((err = check_finite(ctx, w, step, m->dt)) ||
                (balance && (err = tsr_particles_redistribute(p, 0, NULL))) ||
                (balance && (err = tsr_particles_rebalance(dom, step, &p, 1, NULL))) ||
                (err = rebuild(ctx, p, nb, w)))
                break;
            t->builds++;
            t->build += (t1 = tsr_wtime()) - t2;
        } else {
            if ((err = tsr_neighbours_update(nb, false)))
                break;
            t->ghost += (t1 = tsr_wtime()) - t2;
        }
        md_compute(w, k, show);
        t2 = tsr_wtime();
        t->force += t2 - t1;
        md_integrate(w, k, false);
        t->integ += tsr_wtime() - t2;
        if ((show || step % CHECK_EVERY == 0) && (err = check_finite(ctx, w, step, m->dt)))
            break;
        thermo th;
        if (show) {
            if ((err = measure(ctx, w, natoms, volume, &th)))
                break;
            print_thermo(ctx, step, &th);
        }
        err = tsr_particles_run_step(r, &m->run, step, stopped);
        tsr_progress_update(&prog, step - start);
    }
    tsr_progress_end(&prog);
    *done = step - 1 - start;
    return err;
}

/* A box the nodes cannot hold is refused now, not by the OOM killer later. About 128 bytes of
 * state, ghosts and buffers per atom and 4 per neighbour-list entry: a low estimate (655 bytes
 * per atom measured at the defaults), so that nothing that fits is refused. --init cluster keeps
 * the sites below L/2 on every axis: per axis ceil(c/2) at offset 0 and floor(c/2) at offset a/2,
 * and an fcc cell has one site with no offset, three with two. Collective. */
static int check_memory(tsr_ctx ctx, const md *m) {
    const double lo = (double)((m->cells + 1) / 2), hi = (double)(m->cells / 2),
                 atoms = m->init == 1 ? lo * lo * lo + 3 * lo * hi * hi
                                      : 4.0 * pow((double)m->cells, 3),
                 neighbours = 4.0 / 3.0 * acos(-1.0) * pow(m->cutoff + m->skin, 3) * m->density;
    char what[96];
    snprintf(what, sizeof what, "--cells %lld (%.4g atoms)", (long long)m->cells, atoms);
    return tsr_ctx_check_memory(ctx, atoms / tsr_ctx_size(ctx) * (128 + 4 * neighbours), what);
}

static int run(tsr_ctx ctx, int argc, char **argv, bool *stopped) {
    md m;
    bool done = false;
    TSR_CALL(ctx, parse(ctx, argc, argv, &m, &done));
    if (done)
        return TSR_SUCCESS;

    const char *whats[] = {"--report"}, *paths[] = {m.report};
    TSR_CALL(ctx, tsr_run_check_outputs(ctx, &m.run, 1, whats, paths));
    const md_box box = make_box(&m);
    TSR_CALL(ctx, check_memory(ctx, &m));
    const md_lj k = {.rc2 = m.cutoff * m.cutoff,
                     .inv_s = box.L / (double)box.n,
                     .inv_s2 = (box.L / (double)box.n) * (box.L / (double)box.n),
                     .hdt = 0.5 * m.dt,
                     .dts = m.dt * box.s,
                     .n = (double)box.n,
                     .ecut = m.shift ? 4.0 * (pow(m.cutoff, -12.0) - pow(m.cutoff, -6.0)) : 0.0};
    /* What a checkpoint must match to be restarted (not --steps: a run may be extended). */
    char options[512];
    snprintf(
        options, sizeof options,
        "cells=%lld density=%.17g cutoff=%.17g skin=%.17g temp=%.17g dt=%.17g seed=%lld shift=%d "
        "init=%s grid=%lld (positions in grid units: box units x %.17g)",
        (long long)m.cells, m.density, m.cutoff, m.skin, m.temp, m.dt, (long long)m.seed,
        (int)m.shift, init_names[m.init], (long long)box.n, box.s);
    tsr_domain_opts dopts;
    tsr_domain_opts_init(&dopts, &(tsr_extents){3, {box.n, box.n, box.n}}, 1);
    dopts.blocks = m.blocks;
    dopts.allow_idle = m.allow_idle;
    dopts.map = m.map;
    snprintf(dopts.periodic, sizeof dopts.periodic, "all");
    dopts.rebalance_every = m.rebalance_every;
    dopts.rebalance_threshold = m.rebalance_threshold;

    tsr_domain dom = {0};
    tsr_particles p = NULL;
    tsr_neighbours nb = NULL;
    md_work w = {0};
    tsr_particles_run r = {
        .dt = m.dt,
        .steps = m.steps,
        .meta = {.app = "tessera-md", .command_line = m.cmdline, .run_options = options}};
    int64_t natoms = 0, start = 0;
    int err = tsr_domain_create(ctx, &dopts, TSR_STENCIL_STAR, &dom);
    if (!err)
        err = tsr_particles_create(dom.map, 0, 0, &p);
    r.p = p;
    if (!err && !m.run.restart[0]) { /* a restart reads the atoms instead */
        err = md_lattice(ctx, p, &box, &natoms);
        if (!err)
            err = md_velocities(ctx, p, natoms, m.seed, m.temp);
    }
    if (!err)
        err = tsr_particles_run_load(&r, &m.run, &start, NULL);
    if (!err)
        err = tsr_particles_global_count(p, &natoms);
    if (!err)
        err = tsr_neighbours_create(p, m.cutoff * box.s, m.skin * box.s, &nb);
    if (!err) /* positions wrap as they move; distances by the nearest image */
        err = tsr_neighbours_set_unshifted(nb, true);
    if (err)
        goto out;
    tsr_ctx_printf(ctx, stdout,
                   "atoms %lld, box %.17g, grid %lld^3, blocks %lld, map %s, %d rank%s x %d "
                   "thread%s%s\n",
                   (long long)natoms, box.L, (long long)box.n,
                   (long long)tsr_decomp_nblocks(dom.decomp), tsr_map_strategy_names[m.map],
                   tsr_ctx_size(ctx), tsr_ctx_size(ctx) == 1 ? "" : "s", tsr_ctx_threads(ctx),
                   tsr_ctx_threads(ctx) == 1 ? "" : "s", start ? ", restarted" : "");
    if ((err = print_imbalance(ctx, p, natoms, "")))
        goto out;
    const double volume = box.L * box.L * box.L;
    split t = {.builds = 1};
    thermo th;
    if ((err = barrier(ctx)))
        goto out;
    double t0 = tsr_wtime(), t1;
    if ((err = rebuild(ctx, p, nb, &w)))
        goto out;
    t.build += (t1 = tsr_wtime()) - t0;
    md_compute(&w, &k, true);
    t.force += tsr_wtime() - t1;
    if ((err = measure(ctx, &w, natoms, volume, &th)))
        goto out;
    print_thermo(ctx, start, &th);
    int64_t steps = 0;
    err = advance(ctx, &m, &k, &dom, p, nb, &w, &r, start, natoms, volume, &t, &steps, stopped);
    if (err || (err = barrier(ctx)))
        goto out;
    const double seconds = tsr_wtime() - t0;
    tsr_ctx_timer_add(ctx, TSR_TIMER_COMPUTE, t.force + t.integ);
    const double rate = seconds > 0 ? (double)natoms * (double)steps / seconds : 0.0;
    tsr_ctx_printf(ctx, stdout,
                   "rank 0: force %.3f s, ghost update %.3f s, neighbour builds %.3f s (%lld), "
                   "integrate %.3f s, total %.3f s\n",
                   t.force, t.ghost, t.build, (long long)t.builds, t.integ, seconds);
    if ((err = print_imbalance(ctx, p, natoms, " at the end")))
        goto out;
    char config[256];
    snprintf(config, sizeof config,
             "\"atoms\": %lld, \"cells\": %lld, \"density\": %.17g, \"cutoff\": %.17g, "
             "\"skin\": %.17g, \"dt\": %.17g, \"steps\": %lld, \"grid\": %lld",
             (long long)natoms, (long long)m.cells, m.density, m.cutoff, m.skin, m.dt,
             (long long)steps, (long long)box.n);
    int64_t nlocal_blocks = 0;
    const int64_t *ids = NULL;
    tsr_map_local_blocks(dom.map, &nlocal_blocks, &ids);
    tsr_report rep = {.app = "tessera-md",
                      .force = m.run.force,
                      .command_line = m.cmdline,
                      .config_json = config,
                      .cells = tsr_particles_local_count(p), /* atoms here */
                      .blocks = nlocal_blocks,
                      .seconds = seconds,
                      .rate_unit = "atom-steps/s",
                      .rate = rate};
    uint64_t sum = 0;
    if ((err = tsr_report_finish(ctx, &rep, m.report, stdout)) || (err = checksum(ctx, &w, &sum)))
        goto out;
    tsr_ctx_printf(ctx, stdout, "atom-steps/s %.6g\n", rate);
    tsr_ctx_printf(ctx, stdout, "checksum %016llx\n", (unsigned long long)sum);
out:
    tsr_particles_run_release(&r);
    md_work_free(&w);
    tsr_neighbours_destroy(&nb);
    tsr_particles_destroy(&p);
    tsr_domain_destroy(&dom);
    return err;
}

int main(int argc, char **argv) {
    return tsr_main(argc, argv, "tessera-md", run);
}
