/* Unit tests of the pure parts of --plan's per-rank lines (tsr__plan_print_ranks) and of the
 * end-of-run report's host names (tsr__hosts_dedup, tsr__hosts_line). The expected text of the
 * P = 1000 summary was computed by a separate Python script from the same synthetic figures. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan_summary_impl.h"
#include "ck_main.h"

/* What tsr__plan_print_ranks writes, as a string the caller frees. */
static char *printed(const tsr__rank_stats *st, int n, bool full) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    tsr__plan_print_ranks(f, st, n, full);
    fclose(f);
    return text;
}

/* Rank r: 1..3 blocks, cells 1000 + (37 r mod 500) (each value twice, so the most loaded list
 * breaks ties by rank) and one outlier, rank 999 with 2463 cells. */
static tsr__rank_stats *synthetic(int n) {
    tsr__rank_stats *st = calloc((size_t)n, sizeof *st);
    ck_assert_ptr_nonnull(st);
    for (int r = 0; r < n; r++) {
        st[r].blocks = 1 + r % 3;
        st[r].cells = r == 999 ? 2463 : 1000 + (r * 37) % 500;
        st[r].peers = r % 7;
        st[r].halo_bytes = 8 * (r % 50);
    }
    return st;
}

START_TEST(test_summary_1000_ranks) {
    tsr__rank_stats *st = synthetic(1000);
    char *text = printed(st, 1000, false);
    const char *expected =
        "per rank                    min             mean            max\n"
        "blocks                        1              2.0              3\n"
        "cells                      1000           1250.5           2463\n"
        "peers                         0              3.0              6\n"
        "halo bytes/exch               0            196.0            392\n"
        "cells per rank: 10 bins of 147\n"
        "            1000 .. 1146                294  ########################################\n"
        "            1147 .. 1293                294  ########################################\n"
        "            1294 .. 1440                294  ########################################\n"
        "            1441 .. 1587                117  ################\n"
        "            1588 .. 1734                  0\n"
        "            1735 .. 1881                  0\n"
        "            1882 .. 2028                  0\n"
        "            2029 .. 2175                  0\n"
        "            2176 .. 2322                  0\n"
        "            2323 .. 2469                  1  #\n"
        "most loaded ranks (cells):\n"
        "  rank   blocks          cells    peers  halo bytes/exch\n"
        "   999        1           2463        5              392\n"
        "    27        1           1499        6              216\n"
        "   527        3           1499        2              216\n"
        "    54        1           1498        5               32\n"
        "   554        3           1498        1               32\n"
        "    81        1           1497        4              248\n"
        "   581        3           1497        0              248\n"
        "   108        1           1496        3               64\n"
        "   608        3           1496        6               64\n"
        "   135        1           1495        2              280\n"
        "imbalance (max/mean cells): 1.970; halo bytes per exchange, all ranks: 196000\n";
    ck_assert_str_eq(text, expected);
    free(text);
    free(st);
}
END_TEST

START_TEST(test_full_table_any_size) {
    tsr__rank_stats *st = synthetic(1000);
    char *text = printed(st, 1000, true);
    int lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    ck_assert_int_eq(lines, 1 + 1000 + 1); /* header, a line per rank, imbalance */
    ck_assert(strstr(text, "   999        1           2463        5              392\n"));
    free(text);
    free(st);
}
END_TEST

/* Up to 64 ranks: the table --plan always printed. */
START_TEST(test_small_is_table) {
    tsr__rank_stats st[2] = {{1, 2048, 512, 1}, {1, 2048, 512, 1}};
    char *text = printed(st, 2, false);
    ck_assert_str_eq(text, "  rank   blocks          cells    peers  halo bytes/exch\n"
                           "     0        1           2048        1              512\n"
                           "     1        1           2048        1              512\n"
                           "imbalance (max/mean cells): 1.000; halo bytes per exchange, all "
                           "ranks: 1024\n");
    free(text);
    tsr__rank_stats *many = synthetic(64);
    char *t64 = printed(many, 64, false), *f64 = printed(many, 64, true);
    ck_assert_str_eq(t64, f64);
    free(t64);
    free(f64);
    free(many);
}
END_TEST

/* Every rank alike: one bin. */
START_TEST(test_uniform_one_bin) {
    tsr__rank_stats *st = calloc(100, sizeof *st);
    for (int r = 0; r < 100; r++)
        st[r] = (tsr__rank_stats){.blocks = 1, .cells = 64, .halo_bytes = 0, .peers = 0};
    char *text = printed(st, 100, false);
    ck_assert(strstr(text, "cells per rank: 1 bin of 1\n"
                           "              64 .. 64                  100  "
                           "########################################\n"));
    ck_assert(strstr(text, "\n     9        1             64        0                0\n"
                           "imbalance"));
    free(text);
    free(st);
}
END_TEST

START_TEST(test_hosts) {
    const char *names[] = {"node-b", "node-a", "node-b", "node-c", "node-a", "node-b"};
    int order[6], first[6];
    ck_assert_int_eq(tsr__hosts_dedup(names, 6, order, first), 3);
    int want[6] = {0, 1, 0, 3, 1, 0};
    for (int r = 0; r < 6; r++)
        ck_assert_int_eq(first[r], want[r]);
    char line[128];
    tsr__hosts_line(line, sizeof line, names, first, 6, 3, 8);
    ck_assert_str_eq(line, "hosts: 3 distinct: node-b, node-a, node-c");
    tsr__hosts_line(line, sizeof line, names, first, 6, 3, 2);
    ck_assert_str_eq(line, "hosts: 3 distinct: node-b, node-a, ... (1 more)");
    tsr__hosts_line(line, 12, names, first, 6, 3, 8);
    ck_assert_str_eq(line, "hosts: 3 di");
}
END_TEST

/* 10^5 ranks on 1000 nodes of 100: 1000 distinct names, the list cut at 8. */
START_TEST(test_hosts_many) {
    enum { N = 100000 };
    char(*text)[16] = malloc(sizeof *text * N);
    const char **names = malloc(sizeof *names * N);
    int *order = malloc(sizeof *order * N), *first = malloc(sizeof *first * N);
    for (int r = 0; r < N; r++) {
        snprintf(text[r], sizeof text[r], "n%04d", r / 100);
        names[r] = text[r];
    }
    ck_assert_int_eq(tsr__hosts_dedup(names, N, order, first), 1000);
    ck_assert_int_eq(first[12345], 12300);
    char line[256];
    tsr__hosts_line(line, sizeof line, names, first, N, 1000, 8);
    ck_assert_str_eq(line, "hosts: 1000 distinct: n0000, n0001, n0002, n0003, n0004, n0005, "
                           "n0006, n0007, ... (992 more)");
    free(text);
    free(names);
    free(order);
    free(first);
}
END_TEST

static Suite *plan_summary_suite(void) {
    Suite *s = suite_create("plan_summary");
    TCase *tc = tcase_create("summary");
    tcase_add_test(tc, test_summary_1000_ranks);
    tcase_add_test(tc, test_full_table_any_size);
    tcase_add_test(tc, test_small_is_table);
    tcase_add_test(tc, test_uniform_one_bin);
    tcase_add_test(tc, test_hosts);
    tcase_add_test(tc, test_hosts_many);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return tsr_ck_run_suite(plan_summary_suite());
}
