/* The command farm's guard: a small /bin/sh per rank that ends the process groups of the rank's
 * running tasks when the rank dies, even by SIGKILL. PR_SET_PDEATHSIG reaches only the task's
 * own shell, never what it started in the background. The rank keeps a table of its slots'
 * process groups in a memory file the guard shares; at the end of its pipe (the rank is gone,
 * or done) the guard KILLs the groups the table still holds. A shell, not a fork of the rank:
 * forking an MPI process is unsafe on some networks. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmdfarm_impl.h"

/* One record per slot: its task's process group, or 0. */
#define RECORD 12

/* Waits for end of file on its standard input (the rank never writes: the end is the rank's),
 * then KILLs the groups of the table on descriptor 3. It ignores the signals a terminal or a job
 * manager sends to the rank: only the rank's end ends it. The rank writes the table in place, so
 * a task costs it two pwrite calls and wakes nothing. */
static const char script[] =
    "trap '' INT TERM HUP QUIT USR1 USR2\n"
    "while read -r x; do :; done\n"
    "while read -r p; do\n"
    "  [ \"$p\" -gt 0 ] 2>/dev/null && kill -s KILL -- -\"$p\" 2>/dev/null\n"
    "done <&3\n";

void tsr__cf_child_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int sig = 1; sig < 32; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

void tsr__cf_guard_start(tsr__cf_guard *g, int nslots) {
    g->fd = g->table = -1;
    g->pid = 0;
    g->table = memfd_create("tessera-farm-tasks", MFD_CLOEXEC);
    if (g->table < 0)
        return;
    for (int i = 0; i < nslots; i++)
        tsr__cf_guard_set(g, i, 0);
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        tsr__cf_guard_stop(g);
        return;
    }
    /* Both above 3, so that the child's dup2 to 0 and 3 neither clobbers one nor leaves one
     * close-on-exec (dup2 onto itself keeps the flag): a rank with stdin closed gets fd 0. */
    int ends[2] = {p[0], g->table}, *fds[2] = {&p[0], &g->table};
    for (int k = 0; k < 2; k++)
        if (ends[k] < 4) {
            int moved = fcntl(ends[k], F_DUPFD_CLOEXEC, 4);
            close(ends[k]);
            *fds[k] = moved;
        }
    if (p[0] < 0 || g->table < 0) {
        if (p[0] >= 0)
            close(p[0]);
        close(p[1]);
        tsr__cf_guard_stop(g);
        return;
    }
    char *argv[] = {"sh", "-c", (char *)script, NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    pid_t pid = vfork();
    if (pid == 0) {
        /* Its own group: a Ctrl-C to the job's group must not end it before the tasks. */
        setpgid(0, 0);
        if (chdir("/") != 0) /* holds no directory busy */
            _exit(126);
        dup2(p[0], 0);
        dup2(g->table, 3);
        close(1); /* nothing else of the rank's, not even its output */
        close(2);
        close_range(4, ~0U, 0);
        tsr__cf_child_signals();
        execve("/bin/sh", argv, envp);
        _exit(127);
    }
    close(p[0]);
    g->fd = p[1];
    g->pid = pid > 0 ? pid : 0;
    if (pid < 0)
        tsr__cf_guard_stop(g);
}

/* Right-aligned decimal and a newline, without stdio: the vfork child writes one too. */
static bool put(int table, int slot, pid_t pgid) {
    char rec[RECORD];
    memset(rec, ' ', RECORD);
    rec[RECORD - 1] = '\n';
    long long v = pgid > 0 ? pgid : 0;
    int at = RECORD - 1;
    do
        rec[--at] = (char)('0' + v % 10);
    while ((v /= 10) > 0 && at > 0);
    return pwrite(table, rec, RECORD, (off_t)slot * RECORD) == RECORD;
}

void tsr__cf_guard_enter(const tsr__cf_guard *g, int slot) {
    if (g->table >= 0)
        put(g->table, slot, getpid());
}

void tsr__cf_guard_set(tsr__cf_guard *g, int slot, pid_t pgid) {
    if (g->table < 0)
        return;
    if (!put(g->table, slot, pgid)) {
        /* A table it cannot keep would KILL stale groups: no guard then (the tasks keep
         * PR_SET_PDEATHSIG alone), ended before it reads the table. */
        if (g->pid > 0)
            kill(g->pid, SIGKILL);
        tsr__cf_guard_stop(g);
    }
}

void tsr__cf_guard_stop(tsr__cf_guard *g) {
    if (g->fd >= 0)
        close(g->fd);
    g->fd = -1;
    if (g->pid > 0)
        while (waitpid(g->pid, NULL, 0) < 0 && errno == EINTR) {
        }
    g->pid = 0;
    if (g->table >= 0)
        close(g->table);
    g->table = -1;
}
