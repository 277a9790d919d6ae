/* Unit tests of rank 0's free slots in tessera-farm (tsr__cf_slots_*, cmdfarm_slots.c): pure,
 * no MPI. The ranks take turns, a retry avoids its last rank when another has room, queued room
 * is used only when asked and only when no slot is free, and the cost of a take and a give does
 * not grow with the number of ranks. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cmdfarm_impl.h"

static tsr__cf_slots s;

static void setup(int first, int n, int per, int ahead) {
    int *slots = calloc((size_t)(first + n), sizeof *slots);
    ck_assert_ptr_nonnull(slots);
    for (int r = first; r < first + n; r++)
        slots[r] = per;
    tsr__cf_slots_free(&s);
    ck_assert_int_eq(tsr__cf_slots_init(&s, first, n, slots, ahead), 0);
    free(slots);
}

START_TEST(test_turns) {
    setup(1, 3, 2, 4);
    int want[] = {1, 2, 3, 1, 2, 3};
    for (int k = 0; k < 6; k++)
        ck_assert_int_eq(tsr__cf_slots_take(&s, -1, false), want[k]);
    ck_assert_int_eq(s.running, 6);
    ck_assert_int_eq(tsr__cf_slots_take(&s, -1, false), -1);
    /* Room ahead only when asked, in turns too; a slot freed comes first. */
    ck_assert_int_eq(tsr__cf_slots_take(&s, -1, true), 1);
    ck_assert_int_eq(tsr__cf_slots_take(&s, -1, true), 2);
    ck_assert_int_eq(s.running, 6);
    tsr__cf_slots_give(&s, 3);
    ck_assert_int_eq(s.running, 5);
    ck_assert_int_eq(tsr__cf_slots_take(&s, -1, true), 3);
    ck_assert_int_eq(s.running, 6);
    /* Rank 1 holds 2 running and 1 queued: an end there frees room, not a slot. */
    tsr__cf_slots_give(&s, 1);
    ck_assert_int_eq(s.running, 6);
    ck_assert_int_eq(tsr__cf_slots_take(&s, -1, false), -1);
}
END_TEST

START_TEST(test_retry_elsewhere) {
    setup(1, 2, 1, 4);
    ck_assert_int_eq(tsr__cf_slots_take(&s, 1, false), 2);
    ck_assert_int_eq(tsr__cf_slots_take(&s, 1, false), -1); /* only rank 1 free: wait */
    ck_assert_int_eq(tsr__cf_slots_take(&s, 1, true), 2);   /* rank 2's queue has room */
    ck_assert_int_eq(tsr__cf_slots_take(&s, 2, false), 1);
    /* One rank only: the retry runs there. */
    setup(0, 1, 1, 0);
    ck_assert_int_eq(tsr__cf_slots_take(&s, 0, false), 0);
    ck_assert_int_eq(tsr__cf_slots_take(&s, 0, true), -1);
}
END_TEST

/* With relays rank 0 sees ranks without slots (a relay's workers): one rank with slots is still
 * the only place to retry, and a rank outside the table (a worker behind another relay) is no
 * rank to avoid. Without this a retry waited for ever at 3 ranks with --farm-groups 2. */
START_TEST(test_retry_one_serving) {
    int slots[4] = {0, 2, 0, 0};
    tsr__cf_slots_free(&s);
    ck_assert_int_eq(tsr__cf_slots_init(&s, 1, 3, slots, 4), 0);
    ck_assert_int_eq(s.serving, 1);
    ck_assert_int_eq(tsr__cf_slots_take(&s, 1, false), 1);
    tsr__cf_slots_free(&s);
    ck_assert_int_eq(tsr__cf_slots_init(&s, 1, 2, slots, 4), 0);
    ck_assert_int_eq(tsr__cf_slots_take(&s, 7, false), 1);
}
END_TEST

/* Random takes and gives against a plain model of every rank's count. */
START_TEST(test_model) {
    srand(7);
    for (int trial = 0; trial < 50; trial++) {
        int n = 1 + rand() % 6, ahead = rand() % 3;
        int per[8] = {0}, out[8] = {0};
        for (int r = 1; r <= n; r++)
            per[r] = 1 + rand() % 3;
        tsr__cf_slots_free(&s);
        ck_assert_int_eq(tsr__cf_slots_init(&s, 1, n, per, ahead), 0);
        for (int step = 0; step < 2000; step++) {
            int busy[8], nb = 0;
            for (int r = 1; r <= n; r++)
                if (out[r])
                    busy[nb++] = r;
            if (nb && rand() % 2) {
                int r = busy[rand() % nb];
                tsr__cf_slots_give(&s, r);
                out[r]--;
                continue;
            }
            int avoid = rand() % 3 ? -1 : 1 + rand() % n;
            bool use = rand() % 2;
            int free_other = 0, room_other = 0, free_any = 0, room_any = 0;
            for (int r = 1; r <= n; r++) {
                free_any += out[r] < per[r];
                room_any += use && out[r] < (1 + ahead) * per[r];
                free_other += out[r] < per[r] && (r != avoid || n == 1);
                room_other += use && out[r] < (1 + ahead) * per[r] && (r != avoid || n == 1);
            }
            int r = tsr__cf_slots_take(&s, avoid, use);
            if (r < 0) {
                ck_assert_int_eq(free_other + room_other, 0);
                continue;
            }
            ck_assert(r >= 1 && r <= n);
            ck_assert(n == 1 || r != avoid);
            if (free_other)
                ck_assert_int_lt(out[r], per[r]); /* a free slot before any queue */
            ck_assert_int_lt(out[r], (1 + (use ? ahead : 0)) * per[r]);
            out[r]++;
            int64_t running = 0;
            for (int k = 1; k <= n; k++)
                running += out[k] < per[k] ? out[k] : per[k];
            ck_assert_int_eq(s.running, running);
            (void)free_any;
            (void)room_any;
        }
    }
}
END_TEST

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Nanoseconds per take and give with every rank busy, tasks ending in random order. */
static double cost(int n) {
    setup(1, n, 2, 4);
    int cap = 2 * 5 * n, len = 0;
    int *held = malloc((size_t)cap * sizeof *held);
    ck_assert_ptr_nonnull(held);
    int r;
    while ((r = tsr__cf_slots_take(&s, -1, true)) >= 0)
        held[len++] = r;
    unsigned x = 12345;
    int bad = 0;
    const int ops = 2000000;
    double t0 = now();
    for (int k = 0; k < ops; k++) {
        x = x * 1103515245u + 12345u;
        int i = (int)((x >> 8) % (unsigned)len);
        tsr__cf_slots_give(&s, held[i]);
        /* Some retries: elsewhere if another rank has room, else (every rank full) none. */
        r = tsr__cf_slots_take(&s, (int)(x % 7) == 0 ? held[i] : -1, true);
        held[i] = r >= 0 ? r : tsr__cf_slots_take(&s, -1, true);
        bad += held[i] < 1; /* no ck_assert in the timed loop: each costs a message to Check */
    }
    double ns = (now() - t0) / ops * 1e9;
    ck_assert_int_eq(bad, 0);
    free(held);
    return ns;
}

START_TEST(test_cost_flat) {
    double small = cost(16), large = cost(100000);
    printf("take + give: %.1f ns at 16 ranks, %.1f ns at 100000 ranks\n", small, large);
    /* Cache misses grow with the arrays; a scan over the ranks would be ~6000 times slower. */
    ck_assert(large < 20 * small + 200);
}
END_TEST

int main(void) {
    Suite *su = suite_create("cmdfarm-slots");
    TCase *tc = tcase_create("slots");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_turns);
    tcase_add_test(tc, test_retry_elsewhere);
    tcase_add_test(tc, test_retry_one_serving);
    tcase_add_test(tc, test_model);
    tcase_add_test(tc, test_cost_flat);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    tsr__cf_slots_free(&s);
    return failed ? 1 : 0;
}
