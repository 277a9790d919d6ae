/* A toy particle run driven through tsr_particles_run_*: ballistic particles in a periodic box
 * (x += dt v, then redistribution and the domain's rebalancing at every step), with the standard
 * domain and run options. Particle id starts at a position and velocity computed from its id
 * (splitmix64, as prun.py recomputes them); one real component (mass) and one integer (kind).
 * Prints "particles <N>" and "checksum <hex>" (a sum over particles of a hash of the id and the
 * bits of position, velocity and components, so independent of order and layout) on rank 0.
 * --sleep S pauses S seconds per step (for the signal test); --app NAME sets the app recorded in
 * files (default test_prun); --speed V scales velocities and is a run option. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <tessera.h>

#include "ptest.h"

typedef struct options {
    tsr_domain_opts dom;
    tsr_run_opts run;
    int64_t particles, steps;
    double dt, speed, sleep;
    char app[TSR_OPT_STRLEN];
} options;

static int parse(tsr_ctx ctx, int argc, char **argv, options *o, char *cmd, char *run_options,
                 bool *done) {
    tsr_extents grid = {3, {12, 10, 8}};
    tsr_domain_opts_init(&o->dom, &grid, 1);
    snprintf(o->dom.periodic, sizeof o->dom.periodic, "all");
    tsr_run_opts_init(&o->run);
    o->particles = 300;
    o->steps = 20;
    o->dt = 0.25;
    o->speed = 1.0;
    o->sleep = 0.0;
    snprintf(o->app, sizeof o->app, "test_prun");
    tsr_opts opts = NULL;
    TRY(tsr_opts_create(ctx, "ballistic particles through tsr_particles_run", &opts));
    tsr_domain_add_options(opts, &o->dom);
    tsr_run_add_options(opts, &o->run);
    tsr_opts_add_int(opts, "particles", &o->particles, 0, 1000000, "N", "particles");
    tsr_opts_add_int(opts, "steps", &o->steps, 0, 1000000, "N", "last step");
    tsr_opts_add_double(opts, "speed", &o->speed, 0.0, 100.0, "V", "velocity scale");
    tsr_opts_add_double(opts, "sleep", &o->sleep, 0.0, 10.0, "S", "pause per step");
    tsr_opts_add_string(opts, "app", o->app, "NAME", "app name recorded in files");
    int err = tsr_opts_parse(opts, argc, argv, done);
    snprintf(run_options, TSR_OPT_STRLEN, "speed=%.17g dt=%.17g", o->speed, o->dt);
    return tsr_opts_finish(ctx, &opts, err, *done, cmd, NULL, NULL);
}

/* Adds the particles whose start lies in this rank's blocks. */
static int populate(tsr_domain *d, tsr_particles p, const options *o) {
    for (int64_t id = 0; id < o->particles; id++) {
        double x[3], v[3], mass = 1.0 + unit((uint64_t)id * 7 + 6);
        int64_t kind = id % 3;
        for (int k = 0; k < 3; k++) {
            x[k] = unit((uint64_t)id * 7 + (uint64_t)k) * (double)o->dom.grid.n[k];
            v[k] = (unit((uint64_t)id * 7 + 3 + (uint64_t)k) - 0.5) * 2.0 * o->speed;
        }
        int64_t c[3];
        for (int k = 0; k < 3; k++)
            c[k] = (int64_t)floor(x[k]);
        int64_t block = -1, nlocal;
        const int64_t *ids;
        TRY(tsr_map_local_blocks(d->map, &nlocal, &ids));
        for (int64_t b = 0; b < nlocal && block < 0; b++) {
            tsr_box box;
            TRY(tsr_decomp_block_box(d->decomp, ids[b], &box));
            bool in = true;
            for (int k = 0; k < 3; k++)
                in = in && c[k] >= box.lo[k] && c[k] < box.hi[k];
            if (in)
                block = ids[b];
        }
        if (block >= 0)
            TRY(tsr_particles_add(p, id, x, v, &mass, &kind));
    }
    return 0;
}

static int step_once(tsr_particles p, double dt) {
    for (int64_t lb = 0; lb < tsr_particles_local_blocks(p); lb++) {
        tsr_particle_block b;
        TRY(tsr_particles_block(p, lb, &b));
        for (int64_t i = 0; i < b.count; i++)
            for (int k = 0; k < 3; k++)
                b.x[k][i] += dt * b.v[k][i];
    }
    return tsr_particles_redistribute(p, 0, NULL);
}

static int checksum(tsr_ctx ctx, tsr_particles p) {
    uint64_t h = 0, all = 0;
    for (int64_t lb = 0; lb < tsr_particles_local_blocks(p); lb++) {
        tsr_particle_block b;
        TRY(tsr_particles_block(p, lb, &b));
        for (int64_t i = 0; i < b.count; i++) {
            uint64_t z = splitmix64((uint64_t)b.id[i]);
            for (int k = 0; k < 3; k++)
                z = splitmix64(z ^ bits(b.x[k][i]));
            for (int k = 0; k < 3; k++)
                z = splitmix64(z ^ bits(b.v[k][i]));
            z = splitmix64(z ^ bits(b.real[0][i]));
            z = splitmix64(z ^ (uint64_t)b.integ[0][i]);
            h += z;
        }
    }
    int64_t n = 0;
    TRY(tsr_particles_global_count(p, &n));
    if (MPI_Reduce(&h, &all, 1, MPI_UINT64_T, MPI_SUM, 0, tsr_ctx_comm(ctx)))
        return TSR_ERR_MPI;
    if (tsr_ctx_rank(ctx) == 0)
        printf("particles %lld\nchecksum %016llx\n", (long long)n, (unsigned long long)all);
    return 0;
}

static int run(tsr_ctx ctx, int argc, char **argv, bool *stopped) {
    options o;
    char cmd[TSR_OPT_STRLEN], run_options[TSR_OPT_STRLEN];
    bool done = false;
    TRY(parse(ctx, argc, argv, &o, cmd, run_options, &done));
    if (done)
        return 0;
    tsr_domain d;
    TRY(tsr_domain_create(ctx, &o.dom, TSR_STENCIL_BOX, &d));
    tsr_particles p = NULL;
    int err = tsr_particles_create(d.map, 1, 1, &p);
    const char *rn[] = {"mass"}, *in[] = {"kind"};
    if (!err)
        err = tsr_particles_set_names(p, rn, in);
    if (!err && !o.run.restart[0])
        err = tsr_ctx_agree(ctx, populate(&d, p, &o));
    tsr_particles_run r = {.p = p, .dt = o.dt, .steps = o.steps};
    r.meta.app = o.app;
    r.meta.command_line = cmd;
    r.meta.run_options = run_options;
    int64_t start = 0;
    if (!err)
        err = tsr_particles_run_load(&r, &o.run, &start, NULL);
    for (int64_t s = start; !err && s < o.steps && !*stopped; s++) {
        if (o.sleep > 0)
            usleep((useconds_t)(o.sleep * 1e6));
        err = tsr_particles_rebalance(&d, s, &r.p, 1, NULL);
        if (!err)
            err = step_once(r.p, o.dt);
        if (!err)
            err = tsr_particles_run_step(&r, &o.run, s + 1, stopped);
    }
    if (!err && !*stopped)
        err = checksum(ctx, r.p);
    tsr_particles_run_release(&r);
    tsr_particles_destroy(&p);
    tsr_domain_destroy(&d);
    return err;
}

int main(int argc, char **argv) {
    return tsr_main(argc, argv, "test_prun", run);
}
