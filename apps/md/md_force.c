/* tessera-md's per-step work: forces from the neighbour lists, and the velocity Verlet halves.
 * OpenMP over each block's atoms (schedule static); nothing here communicates. */
#include <stdlib.h>

#include <math.h>

#include "md.h"

void md_work_free(md_work *w) {
    free(w->off);
    free(w->goff);
    free(w->pv);
    free(w->nv);
    for (int c = 0; c < 3; c++) {
        free(w->f[c]);
        free(w->xs[c]);
    }
    free(w->e);
    free(w->w);
}

static int grow(double **a, int64_t n) {
    double *q = realloc(*a, sizeof *q * (size_t)(n ? n : 1));
    if (!q)
        return TSR_ERR_MEMORY;
    *a = q;
    return TSR_SUCCESS;
}

int md_work_views(md_work *w, tsr_particles p, tsr_neighbours nb) {
    int err = TSR_SUCCESS;
    w->nb = tsr_particles_local_blocks(p);
    int64_t n = 0, g = 0;
    for (int64_t b = 0; b < w->nb; b++) {
        w->off[b] = n;
        w->goff[b] = g;
        if ((err = tsr_particles_block(p, b, &w->pv[b])) ||
            (err = tsr_neighbours_block(nb, b, &w->nv[b])))
            return err;
        n += w->pv[b].count;
        g += w->nv[b].nlocal + w->nv[b].nghost;
    }
    w->off[w->nb] = n;
    w->goff[w->nb] = g;
    if (n > w->cap) {
        for (int c = 0; c < 3 && !err; c++)
            err = grow(&w->f[c], n);
        if (!err)
            err = grow(&w->e, n);
        if (!err)
            err = grow(&w->w, n);
        w->cap = n;
    }
    if (!err && g > w->gcap) {
        for (int c = 0; c < 3 && !err; c++)
            err = grow(&w->xs[c], g);
        w->gcap = g;
    }
    return err;
}

/* The force loop works on W atoms at once, one vector lane each, every lane walking its own
 * list in order: lane l computes exactly the scalar sum of its atom (the same operations in the
 * same order, IEEE per lane, no contraction), so the bits do not depend on which atoms share a
 * vector, nor on W (checked: the same checksum with W = 1, 4, 8). Lanes past their list's end, or
 * beyond the cutoff, add +0.0 (or -0.0) through a bit mask, which leaves every sum unchanged: a sum
 * that starts at +0.0 never becomes -0.0 in round-to-nearest. */
#if defined(__AVX512F__)
#define W 8
#elif defined(__AVX__)
#define W 4
#else
#define W 1 /* baseline x86-64 (SSE2): wider vectors would be built from scalar loads, slower */
#endif
typedef double vd __attribute__((vector_size(8 * W)));
typedef int64_t vi __attribute__((vector_size(8 * W)));

#define MASKED(v, m) ((vd)((vi)(v) & (m)))

/* Forces (and energies and virials when `energy`) of local atoms i of block b. */
static inline void forces(const md_work *w, int64_t b, const md_lj *k, bool energy) {
    const tsr_particle_block *pv = &w->pv[b];
    const tsr_neighbour_block *nv = &w->nv[b];
    const double *restrict X = w->xs[0] + w->goff[b], *restrict Y = w->xs[1] + w->goff[b],
                           *restrict Z = w->xs[2] + w->goff[b];
    double *restrict fx = w->f[0] + w->off[b], *restrict fy = w->f[1] + w->off[b],
                     *restrict fz = w->f[2] + w->off[b];
    double *restrict e = w->e + w->off[b], *restrict vir = w->w + w->off[b];
    const int64_t *restrict first = nv->first;
    const int32_t *restrict partner = nv->partner;
    const int64_t n = pv->count, groups = (n + W - 1) / W;
    const vd rc2 = k->rc2 - (vd){0}, inv_s2 = k->inv_s2 - (vd){0}, one = 1.0 - (vd){0},
             c48 = 48.0 - (vd){0}, half = 0.5 - (vd){0}, four = 4.0 - (vd){0},
             ecut = k->ecut - (vd){0}, side = k->n - (vd){0}, hside = 0.5 * k->n - (vd){0},
             mhalf = -0.5 * k->n - (vd){0};
#pragma omp for schedule(static) nowait
    for (int64_t g = 0; g < groups; g++) {
        int64_t at[W], q0[W], len[W], most = 0;
        vd xi, yi, zi;
        for (int l = 0; l < W; l++) {
            at[l] = g * W + l < n ? g * W + l : n - 1;
            q0[l] = first[at[l]];
            len[l] = g * W + l < n ? first[at[l] + 1] - q0[l] : 0;
            most = len[l] > most ? len[l] : most;
            xi[l] = X[at[l]];
            yi[l] = Y[at[l]];
            zi[l] = Z[at[l]];
        }
        vd ax = {0}, ay = {0}, az = {0}, ei = {0}, wi = {0};
        for (int64_t q = 0; q < most; q++) {
            vd xj, yj, zj;
            vi live;
            for (int l = 0; l < W; l++) {
                const int64_t j = q < len[l] ? partner[q0[l] + q] : at[l];
                live[l] = q < len[l] ? -1 : 0;
                xj[l] = X[j];
                yj[l] = Y[j];
                zj[l] = Z[j];
            }
            /* Positions stay in [0, n) and ghosts are not shifted: the nearest image. */
            vd dx = xi - xj, dy = yi - yj, dz = zi - zj;
            dx += MASKED(side, dx < mhalf) - MASKED(side, dx > hside);
            dy += MASKED(side, dy < mhalf) - MASKED(side, dy > hside);
            dz += MASKED(side, dz < mhalf) - MASKED(side, dz > hside);
            const vd r2 = (dx * dx + dy * dy + dz * dz) * inv_s2;
            const vi in = (r2 < rc2) & live;
            /* A dead lane's r2 may be 0: its infinities are masked away below. */
            const vd sr2 = one / r2, sr6 = sr2 * sr2 * sr2;
            const vd fpair = MASKED(c48 * sr6 * (sr6 - half) * sr2, in);
            ax += fpair * dx;
            ay += fpair * dy;
            az += fpair * dz;
            if (energy) {
                ei += MASKED(four * sr6 * (sr6 - one) - ecut, in);
                wi += fpair * r2;
            }
        }
        /* dx is in grid units: one more factor 1/s gives the box's units. Every pair is seen
         * from both sides, hence the halves. */
        for (int l = 0; l < W && g * W + l < n; l++) {
            const int64_t i = g * W + l;
            fx[i] = ax[l] * k->inv_s;
            fy[i] = ay[l] * k->inv_s;
            fz[i] = az[l] * k->inv_s;
            if (energy) {
                e[i] = 0.5 * ei[l];
                vir[i] = 0.5 * wi[l];
            }
        }
    }
}

void md_compute(const md_work *w, const md_lj *k, bool energy) {
#pragma omp parallel
    {
        for (int64_t b = 0; b < w->nb; b++) {
            const tsr_particle_block *pv = &w->pv[b];
            const tsr_neighbour_block *nv = &w->nv[b];
            for (int c = 0; c < 3; c++) {
                double *restrict xs = w->xs[c] + w->goff[b];
#pragma omp for schedule(static) nowait
                for (int64_t i = 0; i < pv->count; i++)
                    xs[i] = pv->x[c][i];
#pragma omp for schedule(static) nowait
                for (int64_t i = 0; i < nv->nghost; i++)
                    xs[pv->count + i] = nv->ghost_x[c][i];
            }
        }
#pragma omp barrier
        for (int64_t b = 0; b < w->nb; b++) {
            if (energy)
                forces(w, b, k, true);
            else
                forces(w, b, k, false);
        }
    }
}

void md_integrate(const md_work *w, const md_lj *k, bool drift) {
#pragma omp parallel
    for (int64_t b = 0; b < w->nb; b++) {
        const tsr_particle_block *pv = &w->pv[b];
        const int64_t o = w->off[b];
        for (int c = 0; c < 3; c++) {
            double *restrict x = pv->x[c], *restrict v = pv->v[c];
            const double *restrict f = w->f[c] + o;
#pragma omp for schedule(static) nowait
            for (int64_t i = 0; i < pv->count; i++) {
                v[i] = v[i] + k->hdt * f[i];
                if (drift) {
                    double y = x[i] + k->dts * v[i];
                    if (y < 0 || y >= k->n) {
                        y -= k->n * floor(y / k->n);
                        y = y < k->n ? y : 0.0; /* -tiny + n rounds to n */
                    }
                    x[i] = y;
                }
            }
        }
    }
}
