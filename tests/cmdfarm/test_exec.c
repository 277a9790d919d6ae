/* Unit tests of one rank's executor in tessera-farm (tsr__cf_exec_*, cmdfarm_exec.c), without
 * MPI: a stop that finds a task already ended (not yet reaped) keeps the task's own status, so a
 * success is never logged as stopped and run again by --resume; a stop of a running task is
 * logged as stopped; the guard KILLs what a task left in the background, also in a rank whose
 * low descriptors were closed. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

/* Is process pid gone (or a zombie, waiting for a parent to reap it)? */
static bool gone(long pid) {
    char path[64], stat[256] = "";
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    bool z = fgets(stat, sizeof stat, f) && strstr(stat, ") Z ");
    fclose(f);
    return z;
}

/* The guard alone, started with descriptors 0-3 closed (a rank without standard input, say):
 * its memory file and pipe then get the lowest numbers, and its shell must still find them on 0
 * and 3. A task's process group (sh, and a sleep it left in the background) is registered;
 * ending the guard KILLs the group. */
START_TEST(guard_ends_the_background) {
    char pidfile[] = "/tmp/tsr-guard-test-XXXXXX";
    int fd = mkstemp(pidfile);
    ck_assert_int_ge(fd, 0);
    close(fd);
    unlink(pidfile);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "sleep 30 & echo $! > %s.tmp && mv %s.tmp %s; wait", pidfile, pidfile,
             pidfile);
    int saved[4];
    for (int k = 0; k < 4; k++)
        saved[k] = fcntl(k, F_DUPFD_CLOEXEC, 10);
    for (int k = 0; k < 4; k++)
        close(k);
    tsr__cf_guard g;
    tsr__cf_guard_start(&g, 2);
    bool started = g.pid > 0;
    pid_t task = fork();
    if (task == 0) {
        setpgid(0, 0);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    setpgid(task, task);
    tsr__cf_guard_set(&g, 1, task);
    long pid = 0;
    for (int i = 0; i < 500 && pid <= 0; i++) {
        FILE *f = fopen(pidfile, "r");
        if (f) {
            if (fscanf(f, "%ld", &pid) != 1)
                pid = 0;
            fclose(f);
        }
        struct timespec t = {0, 10 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    unlink(pidfile);
    bool alive = pid > 0 && !gone(pid);
    tsr__cf_guard_stop(&g); /* KILLs the group in slot 1 */
    bool ended = false;
    for (int i = 0; i < 200 && pid > 0 && !ended; i++) {
        ended = gone(pid);
        struct timespec t = {0, 10 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    kill(-task, SIGKILL);
    waitpid(task, NULL, 0);
    for (int k = 0; k < 4; k++)
        if (saved[k] >= 0) {
            dup2(saved[k], k);
            close(saved[k]);
        }
    ck_assert_msg(started, "no guard");
    ck_assert_msg(alive, "the task did not start its background sleep");
    ck_assert_msg(ended, "the background sleep (pid %ld) outlived the guard", pid);
}
END_TEST

TSR_CK_MAIN("cmdfarm_exec", "stop", stop_after_the_end_keeps_the_status, stop_of_a_running_task,
            guard_ends_the_background)
