/* Private structs of the particle containers. */
#ifndef TESSERA_PARTICLES_IMPL_H
#define TESSERA_PARTICLES_IMPL_H

#include "layout_impl.h"
#include "tessera/particles.h"

/* Longest component name, with its NUL. */
#define TSR__PNAME_MAX 64

/* Words (8 bytes) per particle in a block's storage: id, x[3], v[3], reals, integers. */
#define TSR__PWORDS(p) (7 + (p)->nreal + (p)->nint)

/* One local block's particles: TSR__PWORDS arrays of `cap` words each in one allocation, in the
 * order id, x, y, z, vx, vy, vz, reals, integers. */
typedef struct tsr__pblock {
    int64_t count, cap;
    void *mem;       /* NULL while cap is 0 */
    double **real;   /* nreal pointers into mem, for the views (NULL when nreal is 0) */
    int64_t **integ; /* nint pointers into mem (NULL when nint is 0) */
} tsr__pblock;

struct tsr_particles_s {
    tsr_ctx ctx;
    tsr_map map;
    int nreal, nint;
    uint64_t gen;        /* bumped by every add, remove, redistribution and map change */
    int64_t nblocks;     /* local blocks (the map's) */
    tsr__pblock *blocks; /* per local block */
    /* redistribution's message buffers, kept (grow only) so that steady steps do not allocate */
    char *sbuf, *rbuf;
    size_t sbytes, rbytes;
    /* names of the real then integer components in files ("" until set: real<k>, int<k>) */
    char cname[2 * 64][TSR__PNAME_MAX];
};

/* Column k (0 id, 1-3 x, 4-6 v, then reals, then integers) of a block's storage. */
static inline char *tsr__pcol(const tsr__pblock *blk, int k) {
    return blk->mem ? (char *)blk->mem + (size_t)k * (size_t)blk->cap * 8 : NULL;
}

/* Points blk->real and blk->integ into blk->mem after it changed. Thread-safe per block. */
void tsr__pblock_point(tsr_particles p, tsr__pblock *blk);

/* Wraps x on the periodic dimensions of lay into [0, n) and finds the block holding it. Returns
 * false, x partly wrapped, for a non-finite position or one outside a non-periodic side. Pure. */
bool tsr__particle_locate(const tsr__layout *lay, double x[3], int64_t *block);

/* Files (particles_io.c, particles_read.c): component k's name (reals first, then integers; the
 * one set, else real<k> or int<k>), and whether a name may be one. Pure. */
void tsr__pcomp_name(tsr_particles p, int k, char *out, size_t len);
bool tsr__pname_ok(const char *s);

/* tsr_particles_set_map, with the global bytes of the particles that changed rank into *bytes
 * (may be NULL). Collective. */
int tsr__particles_set_map(tsr_particles p, tsr_map map, int64_t *bytes);

/* Rank 0: PREFIX.xmf at xmf, a temporal collection of the n particle files files[i] (base
 * names, in its directory) with counts[i] points at times[i], as tsr_particles_write's sidecar
 * describes one; replaces the file. Not collective. */
int tsr__particles_write_series(tsr_particles p, const char *xmf, int n, const char *const *files,
                                const int64_t *counts, const double *times, const char *run_id);

/* Ghosts and neighbour lists of one local block. */
typedef struct tsr__nblock {
    int64_t nlocal, nghost;
    int64_t *gid;
    int *gimg;
    double *gx[3], *gv[3];
    double *x0[3];  /* local positions at the build (the half-skin trigger) */
    int64_t *first; /* nlocal + 1 */
    int32_t *partner;
} tsr__nblock;

struct tsr_neighbours_s {
    tsr_particles p;
    double cutoff, skin, range;
    int width;       /* ghost regions: ceil(range) cells */
    int64_t nblocks; /* entries of blocks (the container's local blocks at the last build) */
    bool built;
    bool unshifted; /* ghosts hold their sources' positions, not shifted by the image */
    uint64_t gen;   /* the container's generation at the build */
    /* the send list, grouped by peer rank: record k sends particle s_i[k] of local block
     * s_lb[k] seen at image s_img[k] */
    int64_t nsend, nrecv;
    int64_t *s_lb, *s_i, *s_dst; /* s_dst: the destination block (the build's records) */
    int *s_img;
    int64_t *scount, *sdispl, *rcount, *rdispl; /* per rank */
    int64_t *r_lb, *r_slot; /* received record k: its local block and ghost slot */
    tsr__nblock *blocks;
    double *sbuf, *rbuf; /* 9 words per record: enough for the build's and the updates' */
    MPI_Request *req;
};

/* The build's send lists (nsend, s_*, scount, sdispl) from the local particles, which must lie
 * in their blocks. Local verdict. */
int tsr__ghost_send_lists(tsr_neighbours nb);

/* The lists of local block lb from its particles and ghosts (allocated here, by the calling
 * thread). Returns false if an allocation failed or a block has too many partners. */
bool tsr__nbr_lists(tsr_neighbours nb, int64_t lb);
void tsr__nblock_free(tsr__nblock *b);

#endif
