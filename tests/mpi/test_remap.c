/* Multi-rank tests of the exchange engine beyond the halo self-test: remap between every pair of
 * maps and several decompositions, in-place migration, and the halo fill of fields with several
 * components at widths wider than a block. Values are derived from global indices, so every
 * owned and ghost cell is checked exactly; every check is on a collectively agreed value. */
#include <stdlib.h>
#include <string.h>

#include <tessera.h>

static int passed, failed;

#include "expect.h"

typedef struct layout {
    int ndim;
    int64_t n[3];
    int64_t blocks[3][3]; /* decompositions; 0 = one block per rank */
} layout;

static const layout layouts[] = {
    {1, {37, 1, 1}, {{0}, {5, 1, 1}, {12, 1, 1}}},
    {2, {23, 17, 1}, {{4, 4, 1}, {8, 2, 1}, {0}}},
    {3, {11, 9, 7}, {{0}, {2, 2, 2}, {3, 1, 2}}},
};

typedef struct setup {
    tsr_grid g;
    tsr_decomp d;
    tsr_map m;
} setup;

static int build(tsr_ctx ctx, const layout *L, const int64_t *blocks, bool periodic, int map,
                 tsr_grid g, setup *s) {
    tsr_extents size = {.ndim = L->ndim, .n = {L->n[0], L->n[1], L->n[2]}};
    bool per[3] = {periodic, periodic, periodic};
    tsr_decomp_opts o = {.allow_idle = true};
    if (blocks[0]) {
        o.blocks.ndim = L->ndim;
        memcpy(o.blocks.n, blocks, sizeof o.blocks.n);
    }
    memset(s, 0, sizeof *s);
    if (!g)
        TSR_CALL(ctx, tsr_grid_create(ctx, &size, per, &s->g));
    TSR_CALL(ctx, tsr_decomp_create(g ? g : s->g, &o, &s->d));
    TSR_CALL(ctx, tsr_map_create(s->d, (tsr_map_strategy)map, NULL, &s->m));
    return TSR_SUCCESS;
}

static void teardown(setup *s) {
    tsr_map_destroy(&s->m);
    tsr_decomp_destroy(&s->d);
    tsr_grid_destroy(&s->g);
}

/* The value of component c of global cell g (wrapped into the grid). */
static double value(const int64_t n[3], const int64_t g[3], int c) {
    int64_t w[3];
    for (int d = 0; d < 3; d++)
        w[d] = ((g[d] % n[d]) + n[d]) % n[d];
    return (double)(1 + w[0] + n[0] * (w[1] + n[1] * w[2])) + 0.25 * c;
}

static void fill(tsr_field f, const int64_t n[3]) {
    for (int64_t i = 0; i < tsr_field_local_blocks(f); i++) {
        tsr_block b;
        tsr_field_get_block(f, i, &b);
        for (int c = 0; c < b.ncomp; c++)
            for (int64_t z = 0; z < b.n[2]; z++)
                for (int64_t y = 0; y < b.n[1]; y++)
                    for (int64_t x = 0; x < b.n[0]; x++) {
                        int64_t g[3] = {b.lo[0] + x, b.lo[1] + y, b.lo[2] + z};
                        TSR_ATC(&b, x, y, z, c) = value(n, g, c);
                    }
        tsr_field_restore_block(f, i, &b);
    }
}

/* Owned cells (and, with `ghosts`, every ghost inside the grid or across a periodic side that the
 * box stencil covers) hold their value. Returns the number of wrong cells on all ranks. */
static int64_t count_bad(tsr_ctx ctx, tsr_field f, const int64_t n[3], bool ghosts, bool periodic) {
    int64_t bad = 0;
    for (int64_t i = 0; i < tsr_field_local_blocks(f); i++) {
        tsr_block b;
        tsr_field_get_block(f, i, &b);
        int w = ghosts ? b.width : 0;
        int64_t r[3] = {w, b.ndim >= 2 ? w : 0, b.ndim >= 3 ? w : 0};
        for (int c = 0; c < b.ncomp; c++)
            for (int64_t z = -r[2]; z < b.n[2] + r[2]; z++)
                for (int64_t y = -r[1]; y < b.n[1] + r[1]; y++)
                    for (int64_t x = -r[0]; x < b.n[0] + r[0]; x++) {
                        int64_t g[3] = {b.lo[0] + x, b.lo[1] + y, b.lo[2] + z};
                        bool inside = true;
                        for (int d = 0; d < 3; d++)
                            inside &= g[d] >= 0 && g[d] < n[d];
                        if (!inside && !periodic)
                            continue; /* the boundary's cells: not the exchange's */
                        bad += TSR_ATC(&b, x, y, z, c) != value(n, g, c);
                    }
        tsr_field_restore_block(f, i, &b);
    }
    int64_t total = 0;
    MPI_Allreduce(&bad, &total, 1, MPI_INT64_T, MPI_SUM, tsr_ctx_comm(ctx));
    return total;
}

/* Every pair of maps, between several decompositions, 1 and 3 components. */
static void test_remap_pairs(tsr_ctx ctx) {
    for (size_t li = 0; li < sizeof layouts / sizeof *layouts; li++) {
        const layout *L = &layouts[li];
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++)
                for (int ma = 0; ma < TSR_MAP_COUNT; ma++)
                    for (int mb = 0; mb < TSR_MAP_COUNT; mb++) {
                        if (a == b && ma == mb && ma != 0)
                            continue; /* the identity once per layout is enough */
                        setup A, B;
                        int err = build(ctx, L, L->blocks[a], false, ma, NULL, &A);
                        if (!err)
                            err = build(ctx, L, L->blocks[b], false, mb, A.g, &B);
                        int ncomp = (ma + mb) % 2 ? 3 : 1;
                        tsr_field src = NULL, dst = NULL;
                        tsr_remap plan = NULL;
                        if (!err)
                            err = tsr_field_create_comp(A.m, 1, ncomp, "u", &src);
                        if (!err)
                            err = tsr_field_create_comp(B.m, 2, ncomp, "u", &dst);
                        if (!err)
                            fill(src, L->n);
                        if (!err)
                            err = tsr_remap_create(A.m, B.m, &plan);
                        if (!err)
                            err = tsr_remap_execute(plan, &src, &dst, 1);
                        int64_t bad = err ? -1 : count_bad(ctx, dst, L->n, false, false);
                        EXPECT(ctx, !err && bad == 0,
                               "%dD remap blocks#%d %s -> blocks#%d %s, %d components: %lld bad",
                               L->ndim, a, tsr_map_strategy_names[ma], b,
                               tsr_map_strategy_names[mb], ncomp, (long long)bad);
                        tsr_ctx_error_clear(ctx);
                        tsr_remap_destroy(&plan);
                        tsr_field_destroy(&dst);
                        tsr_field_destroy(&src);
                        teardown(&B);
                        teardown(&A);
                    }
    }
}

/* Migration in place: the handles stay, their values follow the new map, a second exchange
 * plan on the new map fills the ghosts. Two fields move together. */
static void test_migrate(tsr_ctx ctx) {
    const layout *L = &layouts[1];
    setup A, B;
    int err = build(ctx, L, L->blocks[0], true, TSR_MAP_CONTIGUOUS, NULL, &A);
    if (!err)
        err = build(ctx, L, L->blocks[1], true, TSR_MAP_SFC, A.g, &B);
    tsr_field f[2] = {NULL, NULL};
    tsr_halo h = NULL;
    if (!err)
        err = tsr_field_create(A.m, 3, "u", &f[0]);
    if (!err)
        err = tsr_field_create_comp(A.m, 3, 2, "velocity", &f[1]);
    if (!err)
        err = tsr_field_set_info(f[1], "flow velocity", "m/s");
    uint64_t before[2] = {0, 0}, after[2] = {1, 1};
    tsr_field keep = f[0];
    if (!err) {
        fill(f[0], L->n);
        fill(f[1], L->n);
        err = tsr_field_checksum(f[0], TSR_BITS_DOUBLE, &before[0]);
    }
    if (!err)
        err = tsr_field_checksum(f[1], TSR_BITS_DOUBLE, &before[1]);
    if (!err)
        err = tsr_field_migrate(f, 2, B.m);
    if (!err)
        err = tsr_field_checksum(f[0], TSR_BITS_DOUBLE, &after[0]);
    if (!err)
        err = tsr_field_checksum(f[1], TSR_BITS_DOUBLE, &after[1]);
    EXPECT(ctx, !err && before[0] == after[0] && before[1] == after[1],
           "migrate keeps the checksums: %016llx %016llx -> %016llx %016llx",
           (unsigned long long)before[0], (unsigned long long)before[1],
           (unsigned long long)after[0], (unsigned long long)after[1]);
    EXPECT(ctx,
           !err && f[0] == keep && tsr_field_map(f[0]) == B.m && tsr_field_map(f[1]) == B.m &&
               strcmp(tsr_field_name(f[1]), "velocity") == 0 && tsr_field_ncomp(f[1]) == 2 &&
               tsr_field_width(f[1]) == 3,
           "migrated handles keep their identity, name, width and components");
    int64_t bad = err ? -1 : count_bad(ctx, f[1], L->n, false, true);
    EXPECT(ctx, bad == 0, "migrated owned cells: %lld bad", (long long)bad);
    if (!err)
        err = tsr_halo_create(B.m, 3, TSR_STENCIL_BOX, &h);
    if (!err)
        err = tsr_halo_exchange(h, f, 2);
    bad = err ? -1 : count_bad(ctx, f[1], L->n, true, true);
    EXPECT(ctx, !err && bad == 0, "ghosts after migration and exchange: %lld bad", (long long)bad);
    tsr_ctx_error_clear(ctx);
    tsr_halo_destroy(&h);
    tsr_field_destroy(&f[1]);
    tsr_field_destroy(&f[0]);
    teardown(&B);
    teardown(&A);
}

/* Components through the halo: every component of every ghost, widths up to three blocks. */
static void test_components_halo(tsr_ctx ctx) {
    for (size_t li = 0; li < sizeof layouts / sizeof *layouts; li++)
        for (int per = 0; per < 2; per++) {
            const layout *L = &layouts[li];
            setup A;
            int err = build(ctx, L, L->blocks[2], per, TSR_MAP_MORTON, NULL, &A);
            int64_t widths[3] = {1, 3, 7};
            for (int wi = 0; !err && wi < 3; wi++) {
                int w = (int)widths[wi];
                bool fits = true;
                for (int d = 0; d < L->ndim; d++)
                    fits &= !per || w <= L->n[d];
                if (!fits)
                    continue;
                tsr_field f[2] = {NULL, NULL};
                tsr_halo h = NULL;
                err = tsr_field_create_comp(A.m, w, 3, "v", &f[0]);
                if (!err)
                    err = tsr_field_create(A.m, w, "s", &f[1]);
                if (!err) {
                    fill(f[0], L->n);
                    fill(f[1], L->n);
                    err = tsr_halo_create(A.m, w, TSR_STENCIL_BOX, &h);
                }
                if (!err)
                    err = tsr_halo_exchange(h, f, 2);
                /* A second plan of the same shape reuses the first one's (kept by the map). */
                tsr_halo_destroy(&h);
                if (!err) {
                    tsr_field_fill(f[0], -1.0);
                    tsr_field_fill(f[1], -1.0);
                    fill(f[0], L->n);
                    fill(f[1], L->n);
                    err = tsr_halo_create(A.m, w, TSR_STENCIL_BOX, &h);
                }
                if (!err)
                    err = tsr_halo_exchange(h, f, 2);
                int64_t bad = err ? -1 : count_bad(ctx, f[0], L->n, true, per);
                bad += err ? 0 : count_bad(ctx, f[1], L->n, true, per);
                EXPECT(ctx, !err && bad == 0, "%dD %s width %d, 3+1 components: %lld bad ghosts",
                       L->ndim, per ? "periodic" : "bounded", w, (long long)bad);
                tsr_ctx_error_clear(ctx);
                err = TSR_SUCCESS;
                tsr_halo_destroy(&h);
                tsr_field_destroy(&f[1]);
                tsr_field_destroy(&f[0]);
            }
            tsr_ctx_error_clear(ctx);
            teardown(&A);
        }
}

/* Decompositions that cut some blocks alike: n = 9 in 3 blocks is cut at 0, 3, 6, 9, in 4 blocks
 * at 0, 3, 5, 7, 9, so the blocks starting at 0 along the first dimension are the same box in
 * both and move whole, the others in parts. */
static const layout coinciding[] = {
    {1, {9, 1, 1}, {{3, 1, 1}, {4, 1, 1}}},
    {2, {9, 9, 1}, {{3, 3, 1}, {4, 3, 1}}},
    {3, {9, 9, 5}, {{3, 3, 2}, {4, 3, 2}}},
};

/* Whole-block pieces (sent from and received into the fields' memory) mixed with partial ones
 * in one remap of three fields: one scalar and one of three components whose widths match on
 * both sides (whole blocks travel unpacked), and one whose width differs (all packed). Both
 * directions, several map pairs, the identity decomposition too (every piece whole). */
static void test_remap_whole(tsr_ctx ctx) {
    for (size_t li = 0; li < sizeof coinciding / sizeof *coinciding; li++) {
        const layout *L = &coinciding[li];
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++)
                for (int mp = 0; mp < 3; mp++) {
                    static const int maps[3][2] = {{TSR_MAP_CONTIGUOUS, TSR_MAP_ROUNDROBIN},
                                                   {TSR_MAP_SFC, TSR_MAP_CONTIGUOUS},
                                                   {TSR_MAP_ROUNDROBIN, TSR_MAP_MORTON}};
                    setup A, B;
                    int err = build(ctx, L, L->blocks[a], false, maps[mp][0], NULL, &A);
                    if (!err)
                        err = build(ctx, L, L->blocks[b], false, maps[mp][1], A.g, &B);
                    tsr_field src[3] = {NULL, NULL, NULL}, dst[3] = {NULL, NULL, NULL};
                    static const int ncomp[3] = {1, 3, 2}, wsrc[3] = {1, 2, 1}, wdst[3] = {1, 2, 3};
                    for (int f = 0; !err && f < 3; f++) {
                        err = tsr_field_create_comp(A.m, wsrc[f], ncomp[f], "u", &src[f]);
                        if (!err)
                            err = tsr_field_create_comp(B.m, wdst[f], ncomp[f], "u", &dst[f]);
                        if (!err) {
                            fill(src[f], L->n);
                            tsr_field_fill(dst[f], -1.0);
                        }
                    }
                    tsr_remap plan = NULL;
                    if (!err)
                        err = tsr_remap_create(A.m, B.m, &plan);
                    /* Twice: a plan is reused, with its buffers laid out again. */
                    for (int rep = 0; !err && rep < 2; rep++)
                        err = tsr_remap_execute(plan, src, dst, 3);
                    int64_t bad = 0;
                    for (int f = 0; f < 3; f++)
                        bad += err ? -1 : count_bad(ctx, dst[f], L->n, false, false);
                    EXPECT(ctx, !err && bad == 0,
                           "%dD remap of 3 fields, blocks#%d %s -> blocks#%d %s: %lld bad", L->ndim,
                           a, tsr_map_strategy_names[maps[mp][0]], b,
                           tsr_map_strategy_names[maps[mp][1]], (long long)bad);
                    tsr_ctx_error_clear(ctx);
                    tsr_remap_destroy(&plan);
                    for (int f = 0; f < 3; f++) {
                        tsr_field_destroy(&dst[f]);
                        tsr_field_destroy(&src[f]);
                    }
                    teardown(&B);
                    teardown(&A);
                }
    }
}

/* Where this rank's blocks live, by box, before a migration. */
typedef struct kept {
    int64_t n;
    tsr_box box[64];
    double *data[64];
} kept;

static void note_blocks(tsr_field f, kept *k) {
    k->n = 0;
    for (int64_t i = 0; i < tsr_field_local_blocks(f) && k->n < 64; i++, k->n++) {
        tsr_block b;
        tsr_field_get_block(f, i, &b);
        for (int d = 0; d < 3; d++) {
            k->box[k->n].lo[d] = b.lo[d];
            k->box[k->n].hi[d] = b.lo[d] + b.n[d];
        }
        k->data[k->n] = b.data;
        tsr_field_restore_block(f, i, &b);
    }
}

/* Blocks of f whose box this rank held before (stayed) and whether each kept its storage. */
static void count_kept(tsr_field f, const kept *k, int64_t *stayed, int64_t *moved_storage) {
    for (int64_t i = 0; i < tsr_field_local_blocks(f); i++) {
        tsr_block b;
        tsr_field_get_block(f, i, &b);
        for (int64_t j = 0; j < k->n; j++) {
            bool same = true;
            for (int d = 0; d < 3; d++)
                same &= k->box[j].lo[d] == b.lo[d] && k->box[j].hi[d] == b.lo[d] + b.n[d];
            if (same) {
                (*stayed)++;
                *moved_storage += k->data[j] != b.data;
            }
        }
        tsr_field_restore_block(f, i, &b);
    }
}

/* Migration keeps what stays: blocks that stay on this rank with the same box keep their storage
 * (same memory, same values), arriving ones are received; every owned cell of fields of several
 * widths and components is checked, then the ghosts after an exchange. Same decomposition with
 * another map, and a decomposition that cuts some blocks alike. */
static void test_migrate_keep(tsr_ctx ctx) {
    const layout *L = &coinciding[2];
    for (int to_blocks = 0; to_blocks < 2; to_blocks++) {
        setup A, B;
        int err = build(ctx, L, L->blocks[0], true, TSR_MAP_CONTIGUOUS, NULL, &A);
        if (!err)
            err = build(ctx, L, L->blocks[to_blocks], true, TSR_MAP_ROUNDROBIN, A.g, &B);
        tsr_field f[3] = {NULL, NULL, NULL}, handles[3];
        static const int ncomp[3] = {1, 3, 1}, width[3] = {1, 2, 3};
        for (int i = 0; !err && i < 3; i++) {
            err = tsr_field_create_comp(A.m, width[i], ncomp[i], "u", &f[i]);
            if (!err)
                fill(f[i], L->n);
            handles[i] = f[i];
        }
        kept before[3];
        for (int i = 0; !err && i < 3; i++)
            note_blocks(f[i], &before[i]);
        if (!err)
            err = tsr_field_migrate(f, 3, B.m);
        int64_t stayed = 0, moved_storage = 0, bad = 0;
        for (int i = 0; !err && i < 3; i++) {
            count_kept(f[i], &before[i], &stayed, &moved_storage);
            bad += count_bad(ctx, f[i], L->n, false, true);
        }
        int64_t counts[2] = {stayed, moved_storage};
        MPI_Allreduce(MPI_IN_PLACE, counts, 2, MPI_INT64_T, MPI_SUM, tsr_ctx_comm(ctx));
        EXPECT(ctx, !err && bad == 0 && counts[0] > 0 && counts[1] == 0,
               "migrate to blocks#%d: %lld bad cells, %lld blocks stayed, %lld of them moved",
               to_blocks, (long long)bad, (long long)counts[0], (long long)counts[1]);
        bool same = true;
        for (int i = 0; i < 3; i++)
            same &= f[i] == handles[i] && (err || tsr_field_map(f[i]) == B.m);
        EXPECT(ctx, !err && same, "migrated handles stay the same");
        tsr_halo h = NULL;
        if (!err)
            err = tsr_halo_create(B.m, 1, TSR_STENCIL_BOX, &h);
        if (!err)
            err = tsr_halo_exchange(h, f, 3);
        bad = 0;
        for (int i = 0; i < 3; i++)
            bad += err ? -1 : count_bad(ctx, f[i], L->n, true, true) * (width[i] == 1);
        EXPECT(ctx, !err && bad == 0, "ghosts after migrate to blocks#%d: %lld bad", to_blocks,
               (long long)bad);
        tsr_ctx_error_clear(ctx);
        tsr_halo_destroy(&h);
        for (int i = 0; i < 3; i++)
            tsr_field_destroy(&f[i]);
        teardown(&B);
        teardown(&A);
    }
}

/* More components than one exchange moves (64): the migration splits them over exchanges. */
static void test_migrate_components(tsr_ctx ctx) {
    const layout *L = &coinciding[0];
    setup A, B;
    int err = build(ctx, L, L->blocks[0], false, TSR_MAP_CONTIGUOUS, NULL, &A);
    if (!err)
        err = build(ctx, L, L->blocks[1], false, TSR_MAP_ROUNDROBIN, A.g, &B);
    tsr_field f[2] = {NULL, NULL};
    for (int i = 0; !err && i < 2; i++) {
        err = tsr_field_create_comp(A.m, 1, 40, "w", &f[i]);
        if (!err)
            fill(f[i], L->n);
    }
    if (!err)
        err = tsr_field_migrate(f, 2, B.m);
    int64_t bad = 0;
    for (int i = 0; i < 2; i++)
        bad += err ? -1 : count_bad(ctx, f[i], L->n, false, false);
    EXPECT(ctx, !err && bad == 0, "migrate of 2 fields of 40 components: %lld bad", (long long)bad);
    tsr_ctx_error_clear(ctx);
    for (int i = 0; i < 2; i++)
        tsr_field_destroy(&f[i]);
    teardown(&B);
    teardown(&A);
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "test_remap", &ctx);
    if (!err) {
        test_remap_pairs(ctx);
        test_migrate(ctx);
        test_remap_whole(ctx);
        test_migrate_keep(ctx);
        test_migrate_components(ctx);
        test_components_halo(ctx);
        if (tsr_ctx_rank(ctx) == 0)
            printf("test_remap on %d ranks x %d threads: %d passed, %d failed\n", tsr_ctx_size(ctx),
                   tsr_ctx_threads(ctx), passed, failed);
    }
    int code = tsr_finalize(&ctx, err);
    return code ? code : failed ? 1 : 0;
}
