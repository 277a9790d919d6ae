/* Unit tests of the progress cadence (tsr_progress_due) on simulated clocks, and of the line's
 * text (tsr__progress_format): no MPI, no sleeping. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "report_impl.h"
#include "tessera/report.h"
#include "ck_main.h"

/* Lines a job of `total` units, each taking `unit_s` seconds, prints when the cadence is checked
 * after every unit; `stall_from`: from that unit on, units take `stall_s` instead. The longest
 * silence between lines (or from the start) goes to *gap. */
static int lines(bool each_second, int64_t total, double unit_s, int64_t stall_from, double stall_s,
                 double *gap) {
    double now = 0, last = 0;
    int64_t last_done = 0;
    int n = 0;
    *gap = 0;
    for (int64_t done = 1; done <= total; done++) {
        now += done > stall_from ? stall_s : unit_s;
        if (tsr_progress_due(each_second, 0, last, now, done, last_done, total)) {
            *gap = now - last > *gap ? now - last : *gap;
            last = now;
            last_done = done;
            n++;
        }
    }
    return n;
}

START_TEST(test_terminal_each_second) {
    ck_assert(!tsr_progress_due(true, 0, 0, 0.99, 5, 0, 100));
    ck_assert(tsr_progress_due(true, 0, 0, 1.0, 5, 0, 100));
    double gap;
    /* 100 s of work in 0.1 s units: one line a second. */
    int n = lines(true, 1000, 0.1, INT64_MAX, 0, &gap);
    ck_assert_int_ge(n, 90); /* 0.1 s steps land on 1.0 s or just after */
    ck_assert_int_le(n, 100);
}
END_TEST

START_TEST(test_batch_short_job_silent) {
    double gap;
    /* 50 s in all: never 60 s since the start, so nothing in the log. */
    ck_assert_int_eq(lines(false, 5000, 0.01, INT64_MAX, 0, &gap), 0);
}
END_TEST

START_TEST(test_batch_minute_floor) {
    double gap;
    /* 10 min of 1 s steps: a tenth is 60 s, so about ten lines, never closer than 60 s. */
    int n = lines(false, 600, 1.0, INT64_MAX, 0, &gap);
    ck_assert_int_ge(n, 9);
    ck_assert_int_le(n, 10);
    /* 20 min: a tenth is 2 min, still about ten lines. */
    ck_assert_int_le(lines(false, 1200, 1.0, INT64_MAX, 0, &gap), 10);
    /* 3 min in 0.5 s steps: 60 s apart (the later of the two), three lines. */
    ck_assert_int_eq(lines(false, 360, 0.5, INT64_MAX, 0, &gap), 3);
}
END_TEST

START_TEST(test_batch_day_long_job) {
    double gap;
    /* 24 h of 1 s steps: 86,400 updates, about ten lines (one per 2.4 h after the first at
     * 10 min), not 86,400. */
    int n = lines(false, 86400, 1.0, INT64_MAX, 0, &gap);
    ck_assert_int_ge(n, 10);
    ck_assert_int_le(n, 11);
    ck_assert(gap <= 8640.0 + 1.0);
}
END_TEST

START_TEST(test_batch_stall_not_silent) {
    /* 300 of 1000 tasks done in 300 s, a line then; the period that rate gives a tenth is 100 s:
     * a line 100 s later even though no task has finished since. */
    ck_assert(!tsr_progress_due(false, 0, 300, 399, 300, 300, 1000));
    ck_assert(tsr_progress_due(false, 0, 300, 400, 300, 300, 1000));
    /* Tasks of 1 s, then of 10 min from task 300 on: more lines than the tenths alone (10)
     * would give, each gap within the period the rate at the line before predicts. */
    double gap;
    int n = lines(false, 1000, 1.0, 300, 600.0, &gap);
    ck_assert_int_gt(n, 15);
    /* Nothing done at all for a long time: a line every 10 min. */
    ck_assert(!tsr_progress_due(false, 0, 0, 599, 0, 0, 1000));
    ck_assert(tsr_progress_due(false, 0, 0, 600, 0, 0, 1000));
    ck_assert(tsr_progress_due(false, 0, 600, 1200, 0, 0, 1000));
}
END_TEST

START_TEST(test_unknown_total) {
    /* No total (0): lines only by time, 10 min apart. */
    ck_assert(!tsr_progress_due(false, 0, 0, 300, 50, 0, 0));
    ck_assert(tsr_progress_due(false, 0, 0, 600, 50, 0, 0));
}
END_TEST

START_TEST(test_line_text) {
    char line[256];
    tsr__progress_format(line, sizeof line, "tessera-heat", "step", 250, 1000, 5.0, NULL);
    ck_assert_str_eq(line, "tessera-heat: step 250/1000 (25%), 5 s elapsed, 50 steps/s, ETA 15 s");
    tsr__progress_format(line, sizeof line, "tessera-heat", "step", 1000, 1000, 80.0, "done");
    ck_assert_str_eq(line,
                     "tessera-heat: step 1000/1000 (100%), 1 min 20 s elapsed, 12.5 steps/s, done");
    /* A loop that ends before its cap says why, with the count it reached. */
    tsr__progress_format(line, sizeof line, "tessera-poisson", "iteration", 340, 100000, 2.0,
                         "converged");
    ck_assert_str_eq(line, "tessera-poisson: iteration 340/100000 (0%), 2 s elapsed, 170 "
                           "iterations/s, converged");
    tsr__progress_format(line, sizeof line, "tessera-heat", "step", 0, 10, 0.0, NULL);
    ck_assert_str_eq(line, "tessera-heat: step 0/10 (0%), 0 s elapsed, 0 steps/s, ETA ?");
}
END_TEST

static Suite *progress_suite(void) {
    Suite *s = suite_create("progress");
    TCase *tc = tcase_create("cadence");
    tcase_add_test(tc, test_terminal_each_second);
    tcase_add_test(tc, test_batch_short_job_silent);
    tcase_add_test(tc, test_batch_minute_floor);
    tcase_add_test(tc, test_batch_day_long_job);
    tcase_add_test(tc, test_batch_stall_not_silent);
    tcase_add_test(tc, test_unknown_total);
    tcase_add_test(tc, test_line_text);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return tsr_ck_run_suite(progress_suite());
}
