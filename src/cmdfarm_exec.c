/* The command farm's executor: one rank's running commands, each a /bin/sh -c in its own
 * process group, with its output copied (prefixed by the task id) or sent to files. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmdfarm_impl.h"
#include "tessera/error.h"

extern char **environ;

/* Partial lines longer than this are written out without waiting for their end. */
#define LINE_MAX_HOLD 65536

struct tsr__cf_slot {
    pid_t pid; /* 0: free */
    tsr__cf_job job;
    int fd[2];     /* stdout, stderr: pipes (pass-through) or log files; -1 closed */
    bool pipes;    /* fd[] are pipes */
    char *hold[2]; /* pass-through: the partial line of each stream */
    size_t held[2];
    int64_t bytes;
    double start, kill_at; /* kill_at: KILL due (0: not yet asked to end) */
    int how;               /* TSR__CF_TIMEOUT or TSR__CF_STOPPED once asked to end, else -1 */
};

static int wake_fd = -1;

static void on_sigchld(int sig) {
    (void)sig;
    int e = errno;
    if (wake_fd >= 0) {
        char c = 0;
        ssize_t r = write(wake_fd, &c, 1);
        (void)r;
    }
    errno = e;
}

double tsr__cf_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool own_var(const char *kv) {
    return !strncmp(kv, "TESSERA_TASK_ID=", 16) || !strncmp(kv, "TESSERA_TASK_LINE=", 18) ||
           !strncmp(kv, "TESSERA_REPEAT_INDEX=", 21) || !strncmp(kv, "TESSERA_RANK=", 13) ||
           !strncmp(kv, "TESSERA_HOST=", 13) || !strncmp(kv, "OMP_NUM_THREADS=", 16);
}

/* Whether a command may skip /bin/sh -c: one or more words of the characters below, separated
 * by spaces or tabs (at most 63 words, 4095 bytes), whose first word is no assignment (no '='),
 * shell builtin or reserved word.
 * The shell would only split such a line into words and run the first word's program (through
 * PATH unless it holds a '/') with them: nothing to expand, quote, redirect or list. */
static bool direct_word(const char *w, size_t n, bool first) {
    /* dash's builtins and reserved words, and bash's (for systems whose /bin/sh is bash: `time`
     * is a keyword there, and a program too). */
    static const char *const shell_words[] = {
        ".",         ":",        "[",       "alias",   "bg",      "bind",     "break",    "builtin",
        "caller",    "case",     "cd",      "chdir",   "command", "compgen",  "complete", "compopt",
        "continue",  "coproc",   "declare", "dirs",    "disown",  "do",       "done",     "echo",
        "elif",      "else",     "enable",  "esac",    "eval",    "exec",     "exit",     "export",
        "false",     "fc",       "fg",      "fi",      "for",     "function", "getopts",  "hash",
        "help",      "history",  "if",      "in",      "jobs",    "kill",     "let",      "local",
        "logout",    "mapfile",  "newgrp",  "popd",    "printf",  "pushd",    "pwd",      "read",
        "readarray", "readonly", "return",  "select",  "set",     "shift",    "shopt",    "source",
        "suspend",   "test",     "then",    "time",    "times",   "trap",     "true",     "type",
        "typeset",   "ulimit",   "umask",   "unalias", "unset",   "until",    "wait",     "while"};
    for (size_t i = 0; i < n; i++) {
        char ch = w[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || strchr("_-./,+:@%", ch) || (ch == '=' && !first);
        if (!ok)
            return false;
    }
    if (first)
        for (size_t k = 0; k < sizeof shell_words / sizeof *shell_words; k++)
            if (strlen(shell_words[k]) == n && !memcmp(shell_words[k], w, n))
                return false;
    return true;
}

/* Splits a command into argv (words in `buf`, at most `max` - 1 of them) when it may run without
 * the shell (direct_word); returns the number of words, 0 when it needs the shell. */
static int direct_argv(const char *command, char *buf, size_t buflen, char **argv, int max) {
    size_t len = strlen(command);
    if (len >= buflen)
        return 0;
    memcpy(buf, command, len + 1);
    int n = 0;
    char *p = buf;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        char *w = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (n == max - 1 || !direct_word(w, (size_t)(p - w), n == 0))
            return 0;
        if (*p)
            *p++ = '\0';
        argv[n++] = w;
    }
    argv[n] = NULL;
    return n;
}

/* Whether an environment entry's name is a shell identifier. dash passes on only those, and
 * bash runs the functions exported under other names (BASH_FUNC_f%%): with any other entry in
 * the environment, a command run without the shell would see a different environment, so none
 * is. */
static bool shell_name(const char *entry) {
    const char *p = entry;
    if (!(isalpha((unsigned char)*p) || *p == '_'))
        return false;
    while (isalnum((unsigned char)*p) || *p == '_')
        p++;
    return *p == '=';
}

/* The environment's PWD as /bin/sh would export it to the task: kept when it names the task's
 * directory, else the directory (so a task run without the shell sees the same). */
static void set_pwd(tsr__cf_exec *x) {
    const char *dir = x->cwd && x->cwd[0] ? x->cwd : NULL;
    char here[4096];
    if (!dir)
        dir = getcwd(here, sizeof here);
    if (!dir)
        return;
    const char *pwd = getenv("PWD");
    struct stat a, b;
    if (pwd && pwd[0] == '/' && stat(pwd, &a) == 0 && stat(dir, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino)
        return;
    snprintf(x->pwd, sizeof x->pwd, "PWD=%s", dir);
    for (int i = 0; i < x->nenv; i++)
        if (!strncmp(x->env_base[i], "PWD=", 4)) {
            x->env_base[i] = x->pwd;
            return;
        }
    x->env_base[x->nenv++] = x->pwd;
}

int tsr__cf_exec_init(tsr__cf_exec *x, int rank, int nslots, int64_t threads, double timeout,
                      double grace, const char *log_dir, const char *cwd) {
    memset(x, 0, sizeof *x);
    x->devnull = -1;
    x->guard.fd = x->guard.table = -1;
    x->rank = rank;
    x->nslots = nslots;
    x->timeout = timeout;
    x->grace = grace;
    x->log_dir = log_dir && log_dir[0] ? log_dir : NULL;
    x->cwd = cwd;
    x->sigpipe[0] = x->sigpipe[1] = -1;
    if (gethostname(x->host, sizeof x->host - 1) != 0)
        snprintf(x->host, sizeof x->host, "unknown");
    snprintf(x->threads, sizeof x->threads, "%lld", (long long)threads);
    x->slots = calloc((size_t)nslots, sizeof *x->slots);
    x->pfd = calloc(1 + 2 * (size_t)nslots, sizeof *x->pfd);
    x->owner = calloc(1 + 2 * (size_t)nslots, sizeof *x->owner);
    int n = 0;
    while (environ[n])
        n++;
    x->env_base = calloc((size_t)n + 2, sizeof *x->env_base);
    if (!x->slots || !x->env_base || !x->pfd || !x->owner)
        return TSR_ERR_MEMORY;
    for (int i = 0; i < n; i++) {
        if (!own_var(environ[i]))
            x->env_base[x->nenv++] = environ[i];
        x->env_odd = x->env_odd || !shell_name(environ[i]);
    }
    set_pwd(x);
    const char *delay = getenv("TESSERA_TEST_SPAWN_DELAY");
    x->test_spawn_delay = delay ? atof(delay) : 0;
    const char *path = getenv("PATH");
    x->path = strdup(path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    x->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (!x->path)
        return TSR_ERR_MEMORY;
    if (x->devnull < 0 || pipe2(x->sigpipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return TSR_ERR_IO;
    wake_fd = x->sigpipe[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    tsr__cf_guard_start(&x->guard, nslots);
    return 0;
}

void tsr__cf_exec_free(tsr__cf_exec *x) {
    tsr__cf_guard_stop(&x->guard); /* with the wake-up pipe still open: its end is a SIGCHLD */
    if (x->slots)
        for (int i = 0; i < x->nslots; i++) {
            free(x->slots[i].hold[0]);
            free(x->slots[i].hold[1]);
        }
    if (x->sigpipe[0] >= 0) {
        wake_fd = -1;
        close(x->sigpipe[0]);
        close(x->sigpipe[1]);
    }
    if (x->devnull >= 0)
        close(x->devnull);
    free(x->path);
    free(x->slots);
    free(x->pfd);
    free(x->owner);
    free(x->env_base);
    memset(x, 0, sizeof *x);
}

static void write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Writes "[ID] " and n bytes of a line (adding the newline when missing) in one write. */
static void emit(int fd, int64_t id, const char *p, size_t n) {
    char pre[32];
    int k = snprintf(pre, sizeof pre, "[%lld] ", (long long)id);
    char stackbuf[4096];
    size_t total = (size_t)k + n + 1;
    char *b = total <= sizeof stackbuf ? stackbuf : malloc(total);
    if (!b)
        return;
    memcpy(b, pre, (size_t)k);
    memcpy(b + k, p, n);
    b[total - 1] = '\n';
    if (n > 0 && p[n - 1] == '\n')
        total--;
    write_all(fd, b, total);
    if (b != stackbuf)
        free(b);
}

/* Copies what stream s of a slot has to read; closes it at its end. */
static void pump(tsr__cf_slot *sl, int s) {
    char buf[16384];
    for (;;) {
        ssize_t r = read(sl->fd[s], buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            if (sl->held[s])
                emit(s + 1, sl->job.id, sl->hold[s], sl->held[s]);
            sl->held[s] = 0;
            close(sl->fd[s]);
            sl->fd[s] = -1;
            return;
        }
        sl->bytes += r;
        size_t at = 0;
        while (at < (size_t)r) {
            char *nl = memchr(buf + at, '\n', (size_t)r - at);
            size_t n = nl ? (size_t)(nl - (buf + at)) + 1 : (size_t)r - at;
            if (!sl->hold[s])
                sl->hold[s] = malloc(LINE_MAX_HOLD);
            if (!sl->hold[s])
                return;
            if (nl && sl->held[s] == 0) {
                emit(s + 1, sl->job.id, buf + at, n);
            } else {
                size_t room = LINE_MAX_HOLD - sl->held[s];
                size_t c = n < room ? n : room;
                memcpy(sl->hold[s] + sl->held[s], buf + at, c);
                sl->held[s] += c;
                n = c;
                if ((nl && c == (size_t)(nl - (buf + at)) + 1) || sl->held[s] == LINE_MAX_HOLD) {
                    emit(s + 1, sl->job.id, sl->hold[s], sl->held[s]);
                    sl->held[s] = 0;
                }
            }
            at += n;
        }
    }
}

/* A relative --log-dir is in the submission directory, where rank 0 made it, whatever this
 * rank's own directory is (Open MPI starts a rank in $HOME where that directory is missing). */
static int open_log(const tsr__cf_exec *x, int64_t id, const char *ext) {
    char path[8192];
    bool rel = x->log_dir[0] != '/' && x->cwd && x->cwd[0];
    const char *in = rel ? x->cwd : "", *sep = rel ? "/" : "";
    snprintf(path, sizeof path, "%s%s%s/%lld", in, sep, x->log_dir, (long long)(id / 1000));
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return -1;
    snprintf(path, sizeof path, "%s%s%s/%lld/%lld.%s", in, sep, x->log_dir, (long long)(id / 1000),
             (long long)id, ext);
    return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
}

static void close_fds(tsr__cf_slot *sl) {
    for (int s = 0; s < 2; s++)
        if (sl->fd[s] >= 0) {
            close(sl->fd[s]);
            sl->fd[s] = -1;
        }
}

/* Whether a task killed by `sig` was stopped with the farm: a batch system signals every
 * process of the job step (Slurm's scancel --signal, its time limit), the tasks as well as the
 * ranks, so a task may die of the same SIGTERM or SIGUSR1 that stops this rank. Such a task did
 * not fail: it runs again with --resume. The rank's own handler may run a moment after the
 * task's death is seen, hence the short wait. */
static bool stopped_with_us(int sig) {
    if (sig != SIGTERM && sig != SIGUSR1 && sig != SIGINT)
        return false;
    for (int i = 0; i < 200 && !tsr__cf_stop_signal(); i++) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return tsr__cf_stop_signal() != 0;
}

/* vfork, not fork: no copy of a large MPI process's page tables (half the cost of a short
 * task). The child makes only system calls until exec. `direct` (NULL: none) is the command's
 * words when it may run without the shell: the child then looks its program up in PATH as the
 * shell would, and when no exec succeeds (not found, not executable, a script without #!) falls
 * back to /bin/sh -c, which does it all again and reports it the shell's way. */
static pid_t spawn(const tsr__cf_guard *guard, int slot, const char *cwd, const char *path, int in,
                   const int out[2], char **argv, char **direct, char **envp) {
    pid_t parent = getpid();
    pid_t pid = vfork();
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) /* the rank died already */
            _exit(137);
        tsr__cf_guard_enter(guard, slot);
        dup2(in, 0);
        dup2(out[0], 1);
        dup2(out[1], 2);
        /* Only 0-2: the rank's other descriptors (MPI's sockets, other tasks' logs) would stay
         * open in the task. Kernels before 5.9 lack the call and leave them. */
        close_range(3, ~0U, 0);
        tsr__cf_child_signals();
        if (cwd && chdir(cwd) != 0) {
            /* The task's own stderr (its log) says why it never ran; write(2) only. */
            static const char a[] = "tessera-farm: cannot enter the submission directory ";
            if (write(2, a, sizeof a - 1) > 0 && write(2, cwd, strlen(cwd)) > 0 &&
                write(2, "\n", 1) > 0) {
            }
            _exit(126);
        }
        if (direct && strchr(direct[0], '/')) {
            execve(direct[0], direct, envp);
        } else if (direct) {
            char file[4096];
            size_t wl = strlen(direct[0]);
            for (const char *p = path; p;) {
                const char *colon = strchr(p, ':');
                size_t dl = colon ? (size_t)(colon - p) : strlen(p);
                if (dl + wl + 2 <= sizeof file) {
                    memcpy(file, p, dl);
                    size_t at = dl;
                    if (dl > 0)
                        file[at++] = '/';
                    memcpy(file + at, direct[0], wl + 1);
                    execve(file, direct, envp);
                    if (errno == ENOEXEC)
                        break;
                }
                p = colon ? colon + 1 : NULL;
            }
        }
        execve("/bin/sh", argv, envp);
        _exit(127);
    }
    return pid;
}

bool tsr__cf_exec_start(tsr__cf_exec *x, const tsr__cf_job *job, const char *command,
                        tsr__cf_end *ended) {
    tsr__cf_slot *sl = NULL;
    for (int i = 0; i < x->nslots && !sl; i++)
        if (!x->slots[i].pid)
            sl = &x->slots[i];
    double now = tsr__cf_now();
    *ended = (tsr__cf_end){.id = job->id,
                           .attempt = job->attempt,
                           .rank = x->rank,
                           .how = TSR__CF_NOSTART,
                           .status = 127,
                           .start = now,
                           .end = now};
    if (!sl)
        return true;
    sl->job = *job;
    sl->bytes = 0;
    sl->held[0] = sl->held[1] = 0;
    sl->kill_at = 0;
    sl->how = -1;
    sl->fd[0] = sl->fd[1] = -1;
    int child[2] = {-1, -1};
    sl->pipes = !x->log_dir;
    bool ok = true;
    for (int s = 0; s < 2 && ok; s++) {
        if (sl->pipes) {
            int p[2];
            ok = pipe2(p, O_CLOEXEC) == 0;
            if (ok) {
                sl->fd[s] = p[0];
                child[s] = p[1];
                fcntl(p[0], F_SETFL, O_NONBLOCK);
            }
        } else {
            child[s] = open_log(x, job->id, s ? "err" : "out");
            ok = child[s] >= 0;
            if (ok)
                sl->fd[s] = fcntl(child[s], F_DUPFD_CLOEXEC, 0); /* no other task inherits it */
            ok = ok && sl->fd[s] >= 0;
        }
    }
    char vars[6][96];
    char **envp = ok ? calloc((size_t)x->nenv + 8, sizeof *envp) : NULL;
    pid_t pid = -1;
    if (envp) {
        memcpy(envp, x->env_base, (size_t)x->nenv * sizeof *envp);
        snprintf(vars[0], sizeof vars[0], "TESSERA_TASK_ID=%lld", (long long)job->id);
        snprintf(vars[1], sizeof vars[1], "TESSERA_TASK_LINE=%lld", (long long)job->line);
        snprintf(vars[2], sizeof vars[2], "TESSERA_REPEAT_INDEX=%lld", (long long)job->repeat);
        snprintf(vars[3], sizeof vars[3], "TESSERA_RANK=%d", x->rank);
        snprintf(vars[4], sizeof vars[4], "TESSERA_HOST=%.80s", x->host);
        snprintf(vars[5], sizeof vars[5], "OMP_NUM_THREADS=%s", x->threads);
        for (int i = 0; i < 6; i++)
            envp[x->nenv + i] = vars[i];
        char *argv[] = {"sh", "-c", (char *)command, NULL};
        char words[4096], *direct[64];
        bool simple = !x->env_odd && direct_argv(command, words, sizeof words, direct, 64) > 0;
        int slot = (int)(sl - x->slots);
        pid = spawn(&x->guard, slot, x->cwd, x->path, x->devnull, child, argv,
                    simple ? direct : NULL, envp);
        if (pid > 0) {
            setpgid(pid, pid); /* also here: the parent may signal the group before the child ran */
            if (x->test_spawn_delay > 0) {
                double d = x->test_spawn_delay;
                struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
                nanosleep(&ts, NULL);
            }
            tsr__cf_guard_set(&x->guard, slot, pid); /* the child's record, checked */
        }
    }
    free(envp);
    for (int s = 0; s < 2; s++)
        if (child[s] >= 0)
            close(child[s]);
    if (pid <= 0) {
        close_fds(sl);
        return true;
    }
    sl->pid = pid;
    sl->start = now;
    x->running++;
    return false;
}

static void finish(tsr__cf_exec *x, tsr__cf_slot *sl, int wstatus, tsr__cf_end *e) {
    if (sl->pipes) {
        for (int s = 0; s < 2; s++)
            if (sl->fd[s] >= 0) {
                pump(sl, s);
                if (sl->fd[s] >= 0) { /* a background process still holds it: stop copying */
                    if (sl->held[s])
                        emit(s + 1, sl->job.id, sl->hold[s], sl->held[s]);
                    sl->held[s] = 0;
                }
            }
    } else {
        for (int s = 0; s < 2; s++) {
            struct stat st;
            if (sl->fd[s] >= 0 && fstat(sl->fd[s], &st) == 0)
                sl->bytes += st.st_size;
        }
    }
    close_fds(sl);
    kill(-sl->pid, SIGKILL); /* what the task left running in its group ends with it */
    tsr__cf_guard_set(&x->guard, (int)(sl - x->slots), 0);
    *e = (tsr__cf_end){.id = sl->job.id,
                       .attempt = sl->job.attempt,
                       .pid = sl->pid,
                       .bytes = sl->bytes,
                       .rank = x->rank,
                       .start = sl->start,
                       .end = tsr__cf_now()};
    if (sl->how >= 0) {
        e->how = sl->how;
        e->status = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : WEXITSTATUS(wstatus);
    } else if (WIFSIGNALED(wstatus)) {
        e->how = stopped_with_us(WTERMSIG(wstatus)) ? TSR__CF_STOPPED : TSR__CF_SIGNALLED;
        e->status = WTERMSIG(wstatus);
    } else {
        e->how = TSR__CF_EXITED;
        e->status = WEXITSTATUS(wstatus);
    }
    sl->pid = 0;
    x->running--;
}

int tsr__cf_exec_poll(tsr__cf_exec *x, int wait_ms, tsr__cf_end *ended, int max) {
    struct pollfd *fds = x->pfd;
    tsr__cf_slot **owner = x->owner;
    int nf = 0;
    fds[nf++] = (struct pollfd){.fd = x->sigpipe[0], .events = POLLIN};
    double now = tsr__cf_now();
    for (int i = 0; i < x->nslots; i++) {
        tsr__cf_slot *sl = &x->slots[i];
        if (!sl->pid)
            continue;
        double due = sl->kill_at ? sl->kill_at : x->timeout > 0 ? sl->start + x->timeout : 0;
        if (due > 0) {
            /* In double: a timeout of weeks is more milliseconds than an int holds. */
            double ms = due <= now ? 0 : (due - now) * 1000 + 1;
            if (ms < wait_ms)
                wait_ms = (int)ms;
        }
        for (int s = 0; s < 2 && sl->pipes; s++)
            if (sl->fd[s] >= 0) {
                owner[nf] = sl;
                fds[nf++] = (struct pollfd){.fd = sl->fd[s], .events = POLLIN};
            }
    }
    if (poll(fds, (nfds_t)nf, wait_ms) > 0) {
        char b[256];
        while (read(x->sigpipe[0], b, sizeof b) > 0) {
        }
        for (int k = 1; k < nf; k++)
            if (fds[k].revents)
                pump(owner[k], fds[k].fd == owner[k]->fd[0] ? 0 : 1);
    }
    int n = 0;
    now = tsr__cf_now();
    for (int i = 0; i < x->nslots && n < max; i++) {
        tsr__cf_slot *sl = &x->slots[i];
        if (!sl->pid)
            continue;
        int ws = 0;
        pid_t r = waitpid(sl->pid, &ws, WNOHANG);
        if (r == sl->pid) {
            finish(x, sl, ws, &ended[n++]);
            continue;
        }
        if (sl->kill_at && now >= sl->kill_at) {
            kill(-sl->pid, SIGKILL);
            sl->kill_at = now + 3600; /* once */
        } else if (!sl->kill_at && x->timeout > 0 && now - sl->start >= x->timeout) {
            sl->how = TSR__CF_TIMEOUT;
            kill(-sl->pid, SIGTERM);
            sl->kill_at = now + x->grace;
        }
    }
    return n;
}

void tsr__cf_exec_stop(tsr__cf_exec *x) {
    double now = tsr__cf_now();
    for (int i = 0; i < x->nslots; i++) {
        tsr__cf_slot *sl = &x->slots[i];
        if (!sl->pid || sl->kill_at)
            continue;
        /* A task that has ended but is not reaped yet ended by itself: its own status goes to the
         * job log (an exit 0 logged as stopped would run again under --resume). */
        siginfo_t si;
        si.si_pid = 0;
        if (waitid(P_PID, (id_t)sl->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid)
            continue;
        sl->how = TSR__CF_STOPPED;
        kill(-sl->pid, SIGTERM);
        sl->kill_at = now + x->grace;
    }
}

void tsr__cf_start_error(const tsr__cf_exec *x, int64_t id, int why, char *buf, size_t len) {
    if (x->log_dir && x->log_dir[0])
        snprintf(buf, len,
                 "cannot start task %lld (its output files in %.300s/%lld/, or the process): %s",
                 (long long)id, x->log_dir, (long long)(id / 1000), strerror(why));
    else
        snprintf(buf, len, "cannot start task %lld: %s", (long long)id, strerror(why));
}
