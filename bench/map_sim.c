/* The coordinator at scale, simulated in one process: what computing a map costs for P ranks and
 * B blocks (a cube of blocks, Hilbert curve, cells as weights). "table": rank 0 computes every
 * owner and each rank keeps the table (what tessera does up to TESSERA_MAP_TABLE_MAX blocks);
 * "rule": each rank computes its own blocks and its neighbours' owners (src/map_rule.c), timed
 * for rank 0 and two other ranks. --weighted: measured costs instead of cells (a rebalance's map):
 * rank 0 holds every block's cost and cuts the curve into P + 1 cut points, every rank keeps those
 * and lists its own blocks from them. --map knapsack: rank 0 keeps the table and lists each other
 * rank's part (src/map_sparse.c). Uses the library's private objects; no MPI. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "layout_impl.h"

#include "plain.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: map_sim --ranks P --blocks B [--dims 2|3] [--table] [--weighted] [--owners]\n"
            "               [--map sfc|morton|contiguous|knapsack]\n"
            "Simulates the map of B blocks (rounded up to a square or cube) for P ranks; prints\n"
            "one line: rank 0's time and every rank's memory, per design (--table: also the\n"
            "table design, which needs ~28 bytes per block on rank 0; --weighted: pseudo-random\n"
            "costs as weights, cut on rank 0, which holds 8 bytes per block; --owners: rank 0's\n"
            "table of every owner made from the rule, as a rebalance or --plan needs it;\n"
            "--map knapsack: pseudo-random costs assigned by rank 0, which keeps the table and\n"
            "lists for every other rank its blocks and the owners around them).\n");
}

static bool number(const char *s, double lo, double hi, double *v) {
    char *end;
    *v = strtod(s, &end);
    return *s && !*end && *v >= lo && *v <= hi;
}

/* Rank `rank`'s blocks and the owners of their face and edge neighbours: what building a halo
 * plan asks of the map. Returns the seconds; *bytes: the rank's memory for the map. */
static double rule_rank(const tsr__rule *r, int rank, int64_t *nlocal, double *bytes,
                        int64_t *check) {
    double t0 = now();
    int64_t count, *ids;
    if (!tsr__rule_local(r, rank, &count, &ids)) {
        fprintf(stderr, "map_sim: out of memory\n");
        exit(1);
    }
    const tsr__layout *lay = r->lay;
    int64_t sum = 0;
    for (int64_t k = 0; k < count; k++) {
        int64_t c[TSR_MAX_DIM];
        tsr__block_coords(lay, ids[k], c);
        for (int d = 0; d < lay->ndim; d++)
            for (int s = -1; s <= 1; s += 2) {
                int64_t n[TSR_MAX_DIM] = {c[0], c[1], c[2]};
                n[d] += s;
                if (n[d] < 0 || n[d] >= lay->nb[d])
                    continue;
                sum += tsr__rule_owner(r, n[0] + lay->nb[0] * (n[1] + lay->nb[1] * n[2]));
            }
    }
    double t = now() - t0;
    *nlocal = count;
    *check += sum;
    *bytes = (double)count * sizeof *ids + sizeof *r;
    if (r->starts)
        *bytes += (double)(r->nranks + 1) * sizeof *r->starts;
    for (int d = 0; d < TSR_MAX_DIM; d++)
        *bytes += (double)(lay->nb[d] + 1) * sizeof(int64_t); /* the decomposition's cuts */
    free(ids);
    return t;
}

/* Costs 1 .. 4, pseudo-random by block id: like measured ones, which a rebalance's floor keeps
 * positive. */
static void measured_like(double *w, int64_t n) {
    for (int64_t id = 0; id < n; id++)
        w[id] = 1.0 + 3.0 * (double)(splitmix64((uint64_t)id) >> 11) * 0x1p-53;
}

/* --map knapsack: rank 0 assigns the weighted blocks (largest first onto the least loaded rank)
 * and keeps the table; then it lists, for every other rank, that rank's blocks and the owners
 * around them (src/map_sparse.c), which is all a rank keeps. Prints rank 0's times and memory and
 * the largest list's memory. */
static int knapsack_sim(const tsr__layout *lay, int P) {
    int64_t B = lay->nblocks;
    double *w = malloc(sizeof *w * (size_t)B);
    int *owner = malloc(sizeof *owner * (size_t)B);
    int64_t *first = calloc((size_t)P + 1, sizeof *first),
            *byrank = malloc(sizeof *byrank * (size_t)B);
    if (!w || !owner || !first || !byrank) {
        fprintf(stderr, "map_sim: out of memory\n");
        return 1;
    }
    measured_like(w, B);
    double ta = now();
    if (!tsr__map_assign(lay, TSR_MAP_KNAPSACK, w, P, owner)) {
        fprintf(stderr, "map_sim: out of memory\n");
        return 1;
    }
    ta = now() - ta;
    double tl = now();
    tsr__blocks_by_rank(owner, B, P, first, byrank);
    /* what rank 0 does per rank: list the part, look up its owners (the message) */
    int64_t *ids = NULL, count = 0, cap = 0, most = 0, most_rank = 1, sum = 0;
    int *buf = NULL;
    for (int r = 1; r < P; r++) {
        if (!tsr__map_around(lay, byrank + first[r], first[r + 1] - first[r], &ids, &count, &cap) ||
            !(buf = realloc(buf, sizeof *buf * (size_t)(count + 1)))) {
            fprintf(stderr, "map_sim: out of memory\n");
            return 1;
        }
        for (int64_t k = 0; k < count; k++)
            buf[k] = owner[ids[k]];
        sum += count;
        if (count > most) {
            most = count;
            most_rank = r;
        }
    }
    tl = now() - tl;
    /* what the rank with the largest part does with it: sort, drop repeats */
    int64_t local = P > 1 ? first[most_rank + 1] - first[most_rank] : 0, kept = 0;
    double ts = now();
    if (P > 1) {
        if (!tsr__map_around(lay, byrank + first[most_rank], local, &ids, &kept, &cap) ||
            !(buf = realloc(buf, sizeof *buf * (size_t)(kept + 1)))) {
            fprintf(stderr, "map_sim: out of memory\n");
            return 1;
        }
        for (int64_t k = 0; k < kept; k++)
            buf[k] = owner[ids[k]];
        if (!tsr__map_known_sort(ids, buf, &kept)) {
            fprintf(stderr, "map_sim: out of memory\n");
            return 1;
        }
    }
    ts = now() - ts;
    /* a rank keeps (id, owner) per known block and the ids of its own: 12 and 8 bytes */
    printf("ranks %d blocks %lld knapsack: rank 0 assigns s %.6f lists s %.6f rank 0 MiB %.1f "
           "largest part %lld (local %lld) sorted by its rank in s %.6f memory per rank MiB %.4f "
           "mean part sent %.1f\n",
           P, (long long)B, ta, tl, (double)B * (8 + 4 + 16 + 8) / 1048576.0, (long long)kept,
           (long long)local, ts, (double)(kept * 12 + local * 8) / 1048576.0,
           P > 1 ? (double)sum / (P - 1) : 0.0);
    free(buf);
    free(ids);
    free(w);
    free(owner);
    free(first);
    free(byrank);
    return 0;
}

int main(int argc, char **argv) {
    double ranks = 0, blocks = 0, dims = 3;
    bool table = false, weighted = false, owners = false;
    tsr_map_strategy s = TSR_MAP_SFC;
    static const struct option longs[] = {
        {"ranks", 1, 0, 'p'},  {"blocks", 1, 0, 'b'}, {"dims", 1, 0, 'd'},
        {"table", 0, 0, 't'},  {"map", 1, 0, 'm'},    {"weighted", 0, 0, 'w'},
        {"owners", 0, 0, 'o'}, {"help", 0, 0, 'h'},   {0, 0, 0, 0}};
    int which = 0;
    for (int c; (c = getopt_long(argc, argv, "", longs, &which)) != -1;) {
        bool ok = true;
        if (c == 'p')
            ok = number(optarg, 1, 1e7, &ranks);
        else if (c == 'b')
            ok = number(optarg, 1, 1e10, &blocks);
        else if (c == 'd')
            ok = number(optarg, 2, 3, &dims) && dims == floor(dims);
        else if (c == 't')
            table = true;
        else if (c == 'w')
            weighted = true;
        else if (c == 'o')
            owners = true;
        else if (c == 'm') {
            s = strcmp(optarg, "sfc") == 0          ? TSR_MAP_SFC
                : strcmp(optarg, "morton") == 0     ? TSR_MAP_MORTON
                : strcmp(optarg, "contiguous") == 0 ? TSR_MAP_CONTIGUOUS
                : strcmp(optarg, "knapsack") == 0   ? TSR_MAP_KNAPSACK
                                                    : TSR_MAP_COUNT;
            ok = s != TSR_MAP_COUNT;
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "map_sim: --%s %s: bad value (see --help)\n", longs[which].name,
                    optarg);
            return 2;
        }
    }
    if (ranks < 1 || blocks < 1) {
        usage(stderr);
        return 2;
    }
    int nd = (int)dims, P = (int)ranks;
    int64_t side = (int64_t)llround(pow(blocks, 1.0 / nd));
    if (pow((double)side, nd) < blocks) /* at least as many blocks as asked */
        side++;
    tsr__layout lay = {.ndim = nd};
    for (int d = 0; d < TSR_MAX_DIM; d++) {
        lay.nb[d] = d < nd ? side : 1;
        lay.n[d] = d < nd ? side * 16 : 1; /* 16 cells per block and dimension */
    }
    if (!tsr__layout_cut(&lay)) {
        fprintf(stderr, "map_sim: out of memory\n");
        return 1;
    }
    if (s == TSR_MAP_KNAPSACK) {
        int rc = knapsack_sim(&lay, P);
        tsr__layout_free(&lay);
        return rc;
    }
    if (weighted ? !tsr__starts_apply(&lay, s, P) : !tsr__rule_applies(&lay, s, P)) {
        fprintf(stderr, "map_sim: %lld blocks for %d ranks: fewer blocks than ranks\n",
                (long long)lay.nblocks, P);
        return 2;
    }
    tsr__rule r;
    tsr__rule_init(&r, &lay, s, P);
    double *w = NULL, tcut = 0;
    if (weighted) { /* costs 1 .. 4, as a rebalance's floor keeps them positive */
        w = malloc(sizeof *w * (size_t)lay.nblocks);
        r.starts = malloc(sizeof *r.starts * ((size_t)P + 1));
        if (!w || !r.starts) {
            fprintf(stderr, "map_sim: out of memory\n");
            return 1;
        }
        measured_like(w, lay.nblocks);
        tcut = now();
        tsr__weighted_starts(&lay, s, w, P, r.starts, NULL);
        tcut = now() - tcut;
    }
    int64_t check = 0, n0, nmid, nlast;
    double b0, bmid, blast;
    double t0 = rule_rank(&r, 0, &n0, &b0, &check);
    double tmid = rule_rank(&r, P / 2, &nmid, &bmid, &check);
    double tlast = rule_rank(&r, P - 1, &nlast, &blast, &check);
    double tmax = fmax(t0, fmax(tmid, tlast)), bmax = fmax(b0, fmax(bmid, blast));
    printf("ranks %d blocks %lld rule: rank 0 s %.6f max sampled rank s %.6f memory MiB %.4f "
           "local blocks %lld",
           P, (long long)lay.nblocks, t0, tmax, bmax / 1048576.0, (long long)n0);
    if (weighted) /* rank 0 also holds the gathered costs and cuts the curve */
        printf(" cuts: rank 0 s %.6f rank 0 MiB %.1f", tcut,
               ((double)lay.nblocks * sizeof *w + (double)(P + 1) * sizeof *r.starts + b0) /
                   1048576.0);
    if (owners) { /* the whole map on rank 0 from the rule: one walk, 4 bytes per block */
        int *owner = malloc(sizeof *owner * (size_t)lay.nblocks);
        if (!owner) {
            fprintf(stderr, "map_sim: out of memory\n");
            return 1;
        }
        double tw = now();
        tsr__rule_owners(&r, owner);
        tw = now() - tw;
        for (int64_t id = 0; id < lay.nblocks; id += lay.nblocks / 97 + 1)
            if (owner[id] != tsr__rule_owner(&r, id)) {
                fprintf(stderr, "map_sim: block %lld: walk %d, rule %d\n", (long long)id, owner[id],
                        tsr__rule_owner(&r, id));
                return 1;
            }
        printf(" owners: rank 0 s %.6f rank 0 MiB %.1f", tw, (double)lay.nblocks * 4 / 1048576.0);
        free(owner);
    }
    if (table) {
        int *owner = malloc(sizeof *owner * (size_t)lay.nblocks);
        if (!owner) {
            fprintf(stderr, "map_sim: out of memory\n");
            return 1;
        }
        double ts = now();
        bool ok = tsr__map_assign(&lay, s, w, P, owner);
        ts = now() - ts;
        if (!ok) {
            fprintf(stderr, "map_sim: out of memory\n");
            return 1;
        }
        /* The rule's owners are the table's: a few blocks checked. */
        for (int64_t id = 0; id < lay.nblocks; id += lay.nblocks / 97 + 1)
            if (owner[id] != tsr__rule_owner(&r, id)) {
                fprintf(stderr, "map_sim: block %lld: table %d, rule %d\n", (long long)id,
                        owner[id], tsr__rule_owner(&r, id));
                return 1;
            }
        printf(" table: rank 0 s %.6f rank 0 MiB %.1f every rank MiB %.1f", ts,
               (double)lay.nblocks * (weighted ? 36 : 28) / 1048576.0,
               (double)lay.nblocks * 4 / 1048576.0);
        free(owner);
    }
    printf(" (check %lld)\n", (long long)(check % 1000));
    free(w);
    free(r.starts);
    tsr__layout_free(&lay);
    return 0;
}
