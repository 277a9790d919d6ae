/* Unit tests of the CPU dispatch's streaming stores: every alignment of the output and every
 * length around the vector widths stores exactly the source's bits (heads and tails included,
 * nothing outside), and chunks end on 64-byte lines. Run once per level with TSR_CPU set; a level
 * the CPU lacks runs the best one instead (tsr_cpu_path says which). No MPI. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/cpu.h"

/* The level TSR_CPU names runs whenever the CPU has it. */
START_TEST(test_forced_level) {
    const char *text = getenv("TSR_CPU");
    if (!text || !*text)
        return;
    for (int l = 0; l < TSR_CPU_NLEVELS; l++) {
        if (strcmp(text, tsr_cpu_level_names[l]))
            continue;
        bool has = false;
        ck_assert_int_eq(tsr_cpu_has((tsr_cpu_level)l, &has), 0);
        if (has)
            ck_assert_str_eq(tsr_cpu_level_names[tsr_cpu_path()], text);
    }
}
END_TEST

START_TEST(test_stream_store_exact) {
    enum { N = 300, PAD = 16 };
    _Alignas(64) double dst[N + 2 * PAD];
    double src[N];
    for (int i = 0; i < N; i++)
        src[i] = (double)i * 1.25 - 7.0;
    for (int off = 0; off < 8; off++)
        for (int n = 0; n <= 140; n++) {
            for (int i = 0; i < N + 2 * PAD; i++)
                dst[i] = -1.0;
            ck_assert_int_eq(tsr_stream_store(dst + PAD + off, src, n), 0);
            ck_assert_int_eq(tsr_stream_fence(), 0);
            for (int i = 0; i < N + 2 * PAD; i++) {
                int j = i - PAD - off;
                double want = j >= 0 && j < n ? src[j] : -1.0;
                ck_assert_msg(memcmp(&dst[i], &want, sizeof want) == 0,
                              "offset %d, n %d: dst[%d] = %g, want %g", off, n, i, dst[i], want);
            }
        }
}
END_TEST

START_TEST(test_stream_chunk_lines) {
    _Alignas(64) double row[4096];
    for (int off = 0; off < 8; off++)
        for (int64_t n = 1; n < 2000; n += 37) {
            int64_t x = 0;
            while (x < n) {
                int64_t m = tsr_stream_chunk(row + off + x, n - x, 512);
                ck_assert(m >= 1 && m <= 512 && m <= n - x);
                x += m;
                if (x < n) /* a chunk that does not finish the row ends on a line */
                    ck_assert_int_eq((uintptr_t)(row + off + x) % 64, 0);
            }
            ck_assert_int_eq(x, n);
        }
}
END_TEST

static Suite *cpu_suite(void) {
    Suite *s = suite_create("cpu");
    TCase *tc = tcase_create("stream");
    tcase_add_test(tc, test_forced_level);
    tcase_add_test(tc, test_stream_store_exact);
    tcase_add_test(tc, test_stream_chunk_lines);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(cpu_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
