/* Unit tests of one rank's executor in tessera-farm (tsr__cf_exec_*, cmdfarm_exec.c), without
 * MPI: a stop that finds a task already ended (not yet reaped) keeps the task's own status, so a
 * success is never logged as stopped and run again by --resume; a stop of a running task is
 * logged as stopped. */
#include <check.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "ck_main.h"
#include "cmdfarm_impl.h"

/* Polls until the one task has ended; returns its end. */
static tsr__cf_end wait_end(tsr__cf_exec *x) {
    tsr__cf_end e[4];
    for (int i = 0; i < 500; i++) {
        int n = tsr__cf_exec_poll(x, 20, e, 4);
        if (n > 0)
            return e[0];
    }
    ck_abort_msg("the task did not end in 10 s");
    return e[0];
}

static void start(tsr__cf_exec *x, const char *command) {
    tsr__cf_job job = {.id = 0, .line = 1, .repeat = -1, .attempt = 1};
    tsr__cf_end e;
    ck_assert_msg(!tsr__cf_exec_start(x, &job, command, &e), "'%s' did not start", command);
}

START_TEST(stop_after_the_end_keeps_the_status) {
    tsr__cf_exec x;
    ck_assert_int_eq(tsr__cf_exec_init(&x, 0, 1, 1, 0, 1.0, "", NULL), 0);
    start(&x, "exit 0");
    struct timespec t = {0, 300 * 1000 * 1000};
    while (nanosleep(&t, &t) != 0) /* SIGCHLD interrupts it */
        ;
    /* It has exited; nobody reaped it. */
    tsr__cf_exec_stop(&x);
    tsr__cf_end e = wait_end(&x);
    ck_assert_int_eq(e.how, TSR__CF_EXITED);
    ck_assert_int_eq(e.status, 0);
    tsr__cf_exec_free(&x);
}
END_TEST

START_TEST(stop_of_a_running_task) {
    tsr__cf_exec x;
    ck_assert_int_eq(tsr__cf_exec_init(&x, 0, 1, 1, 0, 1.0, "", NULL), 0);
    start(&x, "sleep 30; exit 0");
    tsr__cf_exec_stop(&x);
    tsr__cf_end e = wait_end(&x);
    ck_assert_int_eq(e.how, TSR__CF_STOPPED);
    ck_assert_int_eq(e.status, SIGTERM);
    tsr__cf_exec_free(&x);
}
END_TEST

TSR_CK_MAIN("cmdfarm_exec", "stop", stop_after_the_end_keeps_the_status, stop_of_a_running_task)
