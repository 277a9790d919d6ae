/* The main() of a unit test. Runs in this process, not Check's fork per test: the sanitizers
 * then see the whole run, and the tests that link MPI objects behave as under mpirun. */
#ifndef TSR_TESTS_CK_MAIN_H
#define TSR_TESTS_CK_MAIN_H

#include <check.h>
#include <stddef.h>
#include <stdlib.h>

/* Runs the suite (freed here) and returns main()'s exit status. */
static inline int tsr_ck_run_suite(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* One suite of one case holding the tests in order. */
static inline int tsr_ck_run(const char *suite, const char *tcase, const TTest *const *tests,
                             size_t n) {
    Suite *s = suite_create(suite);
    TCase *tc = tcase_create(tcase);
    for (size_t i = 0; i < n; i++)
        tcase_add_test(tc, tests[i]);
    suite_add_tcase(s, tc);
    return tsr_ck_run_suite(s);
}

/* main() for the tests named after the suite's and the case's names (START_TEST names). */
#define TSR_CK_MAIN(suite, tcase, ...)                                                             \
    int main(void) {                                                                               \
        const TTest *const tests_[] = {__VA_ARGS__};                                               \
        return tsr_ck_run(suite, tcase, tests_, sizeof tests_ / sizeof *tests_);                   \
    }

#endif
