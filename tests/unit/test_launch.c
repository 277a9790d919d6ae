/* Which MCA settings choose Open MPI's transport themselves, so that tessera leaves its start
 * alone, and the malloc defaults: kept only when nobody chose, and then freed memory is reused
 * without page faults (src/launch.c). */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ck_main.h"
#include "context_impl.h"
#include "sanitizer_impl.h"

START_TEST(exclusions_of_others_choose_nothing) {
    /* Debian's own file. */
    ck_assert(!tsr__launch_mca_chooses("pml", "^ucx"));
    ck_assert(!tsr__launch_mca_chooses("btl", "^uct,openib,ofi"));
    ck_assert(!tsr__launch_mca_chooses("mtl", "^ofi"));
    ck_assert(!tsr__launch_mca_chooses("osc", "ucx"));
}
END_TEST

START_TEST(choices_are_respected) {
    ck_assert(tsr__launch_mca_chooses("pml", "ucx"));
    ck_assert(tsr__launch_mca_chooses("pml", "ob1"));
    ck_assert(tsr__launch_mca_chooses("pml", "^ob1,ucx"));
    ck_assert(tsr__launch_mca_chooses("mtl", "psm2"));
    ck_assert(tsr__launch_mca_chooses("btl", "self,tcp"));
    ck_assert(tsr__launch_mca_chooses("btl", "^vader"));
    ck_assert(!tsr__launch_mca_chooses("btl", "self,vader,tcp"));
}
END_TEST

/* Whoever set malloc's parameters keeps them. */
START_TEST(malloc_choices_are_respected) {
    const char *vars[][2] = {{"TSR_MALLOC_DEFAULTS", "off"},
                             {"GLIBC_TUNABLES", "glibc.malloc.trim_threshold=0"},
                             {"MALLOC_TRIM_THRESHOLD_", "0"},
                             {"MALLOC_MMAP_THRESHOLD_", "4096"}};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        ck_assert_int_eq(setenv(vars[i][0], vars[i][1], 1), 0);
        ck_assert_msg(!tsr__launch_malloc_defaults(), "%s=%s", vars[i][0], vars[i][1]);
        ck_assert_int_eq(unsetenv(vars[i][0]), 0);
    }
}
END_TEST

/* The sanitizers' allocator ignores mallopt. */
#ifndef TSR_ASAN
static long minor_faults(void) {
    struct rusage u;
    ck_assert_int_eq(getrusage(RUSAGE_SELF, &u), 0);
    return u.ru_minflt;
}
#endif

/* Arrays of a few MiB freed and made again, as neighbour lists are at every rebuild: with the
 * defaults, later rounds touch pages the process already has (glibc's own defaults fault in
 * about a third of them every round). */
START_TEST(malloc_defaults_keep_freed_memory) {
    bool applied = tsr__launch_malloc_defaults();
#ifdef TSR_ASAN
    (void)applied;
#else
    ck_assert(applied);
    long before = 0, pages = 0;
    for (int round = 0; round < 6; round++) {
        if (round == 2)
            before = minor_faults();
        size_t size[4] = {1 << 20, 3 << 20, (5 << 20) + (size_t)round * 4096, 200 << 10};
        char *a[4];
        for (int i = 0; i < 4; i++) {
            ck_assert_ptr_nonnull(a[i] = malloc(size[i]));
            memset(a[i], round, size[i]);
            pages += round >= 2 ? (long)(size[i] / 4096) : 0;
        }
        for (int i = 0; i < 4; i++)
            free(a[i]);
    }
    long faults = minor_faults() - before;
    ck_assert_msg(faults * 100 < pages, "%ld page faults for %ld pages touched again", faults,
                  pages);
#endif
}
END_TEST

/* Fresh arrays of about a MiB, made one after another and written at once, as a pipeline's first
 * items are: the heap grows by whole 2 MiB ranges, on huge pages also where they come only on
 * request, so they fault in a page per 2 MiB rather than per 4 KiB (glibc's own top pad of 128
 * KiB grows the heap an array at a time, and then every 4 KiB page faults). */
START_TEST(malloc_defaults_grow_the_heap_in_huge_pages) {
    bool applied = tsr__launch_malloc_defaults();
#ifdef TSR_ASAN
    (void)applied;
#else
    ck_assert(applied);
    if (strcmp(tsr__launch_thp_mode(), "never") == 0) {
        fprintf(stderr, "launch: heap in huge pages not tested: transparent huge pages are off "
                        "here\n");
        return;
    }
    enum { N = 16 };
    const size_t size = 900 << 10;
    char *a[N];
    long before = minor_faults(), pages = 0;
    for (int i = 0; i < N; i++) {
        ck_assert_ptr_nonnull(a[i] = malloc(size));
        memset(a[i], i, size);
        pages += (long)(size / 4096);
    }
    long faults = minor_faults() - before;
    for (int i = 0; i < N; i++)
        free(a[i]);
    ck_assert_msg(faults * 16 < pages, "%ld page faults for %ld pages of fresh arrays", faults,
                  pages);
#endif
}
END_TEST

TSR_CK_MAIN("launch", "mca", exclusions_of_others_choose_nothing, choices_are_respected,
            malloc_choices_are_respected, malloc_defaults_keep_freed_memory,
            malloc_defaults_grow_the_heap_in_huge_pages)
