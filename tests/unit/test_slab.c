/* Unit tests of block storage: blocks of one region are aligned and disjoint, any release order
 * frees the region once (the sanitizer pass checks leaks and use after release), and a released
 * block's whole pages leave memory while its neighbours keep their contents. */
#include <check.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ck_main.h"
#include "slab_impl.h"

/* Fills every block with its own pattern, and checks it (the serial reference: the pattern). */
static void fill(double **b, const size_t *bytes, int n) {
    for (int i = 0; i < n; i++)
        for (size_t k = 0; b[i] && k < bytes[i] / sizeof(double); k++)
            b[i][k] = 1000.0 * i + (double)k;
}

static void check(double **b, const size_t *bytes, int n) {
    for (int i = 0; i < n; i++)
        for (size_t k = 0; b[i] && k < bytes[i] / sizeof(double); k++)
            ck_assert_msg(b[i][k] == 1000.0 * i + (double)k, "block %d, value %zu", i, k);
}

START_TEST(blocks_are_aligned_and_disjoint) {
    enum { N = 6 };
    size_t bytes[N] = {8, 0, 520, 4096 * 3 + 8, 64, 1 << 20};
    double *b[N];
    ck_assert(tsr__slab_alloc(N, bytes, b));
    ck_assert_ptr_null(b[1]);
    for (int i = 0; i < N; i++)
        if (bytes[i])
            ck_assert_uint_eq((uintptr_t)b[i] % 64, 0);
    fill(b, bytes, N);
    check(b, bytes, N);
    /* Released out of order; the region goes with the last one. */
    int order[N] = {3, 0, 5, 1, 2, 4};
    for (int k = 0; k < N; k++) {
        tsr__slab_free(b[order[k]]);
        b[order[k]] = NULL;
        check(b, bytes, N);
    }
    tsr__slab_free(NULL);
}
END_TEST

START_TEST(nothing_to_allocate) {
    size_t bytes[2] = {0, 0};
    double *b[2] = {(double *)1, (double *)1};
    ck_assert(tsr__slab_alloc(2, bytes, b));
    ck_assert_ptr_null(b[0]);
    ck_assert_ptr_null(b[1]);
    ck_assert(tsr__slab_alloc(0, bytes, b));
}
END_TEST

START_TEST(too_large_fails_whole) {
    size_t bytes[2] = {64, SIZE_MAX / 2};
    double *b[2];
    ck_assert(!tsr__slab_alloc(2, bytes, b));
    ck_assert_ptr_null(b[0]);
    ck_assert_ptr_null(b[1]);
}
END_TEST

/* Pages of [lo, hi) resident now (mincore). */
static size_t resident(uintptr_t lo, uintptr_t hi) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = (hi - lo) / page, count = 0;
    unsigned char v[64];
    ck_assert_uint_le(n, sizeof v);
    ck_assert_int_eq(mincore((void *)lo, hi - lo, v), 0);
    for (size_t i = 0; i < n; i++)
        count += v[i] & 1;
    return count;
}

/* A migration releases blocks while others of their region stay: their memory must go then. */
START_TEST(released_pages_leave_memory) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    enum { N = 3 };
    size_t bytes[N] = {page, 16 * page, page};
    double *b[N];
    ck_assert(tsr__slab_alloc(N, bytes, b));
    fill(b, bytes, N);
    uintptr_t lo = ((uintptr_t)b[1] + page - 1) / page * page;
    uintptr_t hi = ((uintptr_t)b[1] + bytes[1]) / page * page;
    ck_assert_uint_ge(hi - lo, 15 * page);
    ck_assert_uint_eq(resident(lo, hi), (hi - lo) / page);
    tsr__slab_free(b[1]);
    b[1] = NULL;
    ck_assert_uint_eq(resident(lo, hi), 0);
    check(b, bytes, N);
    tsr__slab_free(b[0]);
    tsr__slab_free(b[2]);
}
END_TEST

TSR_CK_MAIN("slab", "block storage", blocks_are_aligned_and_disjoint, nothing_to_allocate,
            too_large_fails_whole, released_pages_leave_memory)
