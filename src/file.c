/* Safe files: input and output paths checked up front, atomic publication, run locks. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "context_impl.h"
#include "file_impl.h"
#include "tessera/file.h"

static const char *kind_of(mode_t m) {
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISCHR(m) || S_ISBLK(m))
        return "a device";
    if (S_ISSOCK(m))
        return "a socket";
    return "not a regular file";
}

int tsr_file_check_input(tsr_ctx ctx, const char *what, const char *path) {
    TSR_CHECK(ctx, path && *path, TSR_ERR_INPUT, "%s: empty path", what);
    struct stat st;
    TSR_CHECK(ctx, stat(path, &st) == 0, TSR_ERR_INPUT, "%s: cannot read '%s': %s", what, path,
              strerror(errno));
    TSR_CHECK(ctx, S_ISREG(st.st_mode), TSR_ERR_INPUT,
              "%s: '%s' is %s; only regular files are read", what, path, kind_of(st.st_mode));
    TSR_CHECK(ctx, access(path, R_OK) == 0, TSR_ERR_INPUT, "%s: cannot read '%s': %s", what, path,
              strerror(errno));
    return TSR_SUCCESS;
}

/* The directory part of path ("." when there is none). */
static void dir_of(const char *path, char *dir, size_t len) {
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, len, ".");
    else if (slash == path)
        snprintf(dir, len, "/");
    else
        snprintf(dir, len, "%.*s", (int)(slash - path), path);
}

int tsr_dir_prepare(tsr_ctx ctx, const char *what, const char *dir) {
    TSR_CHECK(ctx, dir && *dir, TSR_ERR_INPUT, "%s: empty directory name", what);
    char buf[TSR_PATH_MAX];
    TSR_CHECK(ctx, strlen(dir) < sizeof buf, TSR_ERR_INPUT, "%s: path longer than %d characters",
              what, TSR_PATH_MAX - 1);
    snprintf(buf, sizeof buf, "%s", dir);
    /* Each prefix in turn, like mkdir -p; an existing one is fine if it is a directory. */
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char keep = *p;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            TSR_CHECK(ctx, 0, TSR_ERR_INPUT, "%s: cannot create directory '%s': %s", what, buf,
                      strerror(errno));
        *p = keep;
        if (keep == '\0')
            break;
    }
    struct stat st;
    TSR_CHECK(ctx, stat(dir, &st) == 0, TSR_ERR_INPUT, "%s: cannot use directory '%s': %s", what,
              dir, strerror(errno));
    TSR_CHECK(ctx, S_ISDIR(st.st_mode), TSR_ERR_INPUT, "%s: '%s' is not a directory", what, dir);
    TSR_CHECK(ctx, access(dir, W_OK | X_OK) == 0, TSR_ERR_INPUT,
              "%s: cannot write in directory '%s': %s", what, dir, strerror(errno));
    return TSR_SUCCESS;
}

int tsr_file_check_name(tsr_ctx ctx, const char *what, const char *path) {
    char dir[TSR_PATH_MAX];
    dir_of(path, dir, sizeof dir);
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    long max = pathconf(dir, _PC_NAME_MAX);
    size_t len = strlen(base), room = (size_t)(max > 0 ? max : 255) - strlen(TSR_FILE_TMP_SUFFIX);
    TSR_CHECK(ctx, len <= room, TSR_ERR_INPUT,
              "%s: the file name '%s' has %zu characters, at most %zu fit here (it is written as "
              "'<name>" TSR_FILE_TMP_SUFFIX "' first)",
              what, base, len, room);
    return TSR_SUCCESS;
}

int tsr_file_check_output(tsr_ctx ctx, const char *what, const char *path, bool force) {
    TSR_CHECK(ctx, path && *path, TSR_ERR_INPUT, "%s: empty path", what);
    TSR_CHECK(ctx, strlen(path) < TSR_PATH_MAX, TSR_ERR_INPUT, "%s: path longer than %d characters",
              what, TSR_PATH_MAX - 1);
    TSR_CHECK(ctx, path[strlen(path) - 1] != '/', TSR_ERR_INPUT,
              "%s: '%s' names a directory, not a file", what, path);
    char dir[TSR_PATH_MAX];
    dir_of(path, dir, sizeof dir);
    TSR_CALL(ctx, tsr_dir_prepare(ctx, what, dir));
    TSR_CALL(ctx, tsr_file_check_name(ctx, what, path));
    struct stat st;
    if (lstat(path, &st) == 0) {
        TSR_CHECK(ctx, S_ISREG(st.st_mode), TSR_ERR_INPUT, "%s: '%s' exists and is %s", what, path,
                  kind_of(st.st_mode));
        TSR_CHECK(ctx, force, TSR_ERR_INPUT, "%s: '%s' exists; not replacing it (use --force)",
                  what, path);
    }
    return TSR_SUCCESS;
}

/* The directory of path as it is or will be once made: its longest existing part resolved
 * (links, "..", "."), the rest applied to that by name. "d/new/.." is d, though d/new does not
 * exist yet: it will be made as a directory. */
static void resolved_dir(const char *path, char *out, size_t len) {
    char dir[TSR_PATH_MAX], head[TSR_PATH_MAX], real[PATH_MAX];
    dir_of(path, dir, sizeof dir);
    size_t cut = strlen(dir);
    for (;;) {
        snprintf(head, sizeof head, "%.*s", cut ? (int)cut : 1, cut ? dir : ".");
        if (realpath(head, real))
            break;
        if (cut == 0 || (cut == 1 && dir[0] == '/')) {
            snprintf(out, len, "%s", dir); /* nothing resolves: the text */
            return;
        }
        while (cut > 0 && dir[cut - 1] != '/') /* drop the last component */
            cut--;
        while (cut > 1 && dir[cut - 1] == '/')
            cut--;
    }
    snprintf(out, len, "%s", real);
    for (char *c = dir + cut, *next; *c; c = next) {
        while (*c == '/')
            c++;
        size_t n = strcspn(c, "/");
        next = c + n;
        if (n == 0 || (n == 1 && c[0] == '.'))
            continue;
        size_t at = strlen(out);
        if (n == 2 && c[0] == '.' && c[1] == '.') {
            while (at > 1 && out[at - 1] != '/')
                at--;
            out[at > 1 ? at - 1 : 1] = '\0';
        } else {
            snprintf(out + at, len - at, "%s%.*s", at > 1 ? "/" : "", (int)n, c);
        }
    }
}

bool tsr__file_same_dir(const char *a, const char *b) {
    char da[TSR_PATH_MAX], db[TSR_PATH_MAX];
    dir_of(a, da, sizeof da);
    dir_of(b, db, sizeof db);
    if (!strcmp(da, db))
        return true;
    resolved_dir(a, da, sizeof da);
    resolved_dir(b, db, sizeof db);
    return !strcmp(da, db);
}

/* Do two output paths name one file? The same text, or the same name in the same directory. */
static bool same_output(const char *a, const char *b) {
    if (!strcmp(a, b))
        return true;
    const char *fa = strrchr(a, '/'), *fb = strrchr(b, '/');
    fa = fa ? fa + 1 : a;
    fb = fb ? fb + 1 : b;
    return !strcmp(fa, fb) && tsr__file_same_dir(a, b);
}

int tsr_file_check_outputs(tsr_ctx ctx, int n, const char *const *whats, const char *const *paths,
                           bool force) {
    int err = TSR_SUCCESS;
    /* Two outputs on one file: one would replace the other after the run (quietly with force). */
    for (int i = 0; i < n && !err && ctx->rank == 0; i++)
        for (int j = i + 1; j < n && !err && paths[i] && paths[i][0]; j++)
            if (paths[j] && paths[j][0] && same_output(paths[i], paths[j]))
                err = tsr_error_set(ctx, TSR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                    "%s and %s name the same file '%s'", whats[i], whats[j],
                                    paths[j]);
    for (int i = 0; i < n && !err && ctx->rank == 0; i++)
        if (paths[i] && paths[i][0])
            err = tsr_file_check_output(ctx, whats[i], paths[i], force);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    return TSR_SUCCESS;
}

void tsr_file_tmp_name(const char *path, char *tmp, size_t len) {
    snprintf(tmp, len, "%s" TSR_FILE_TMP_SUFFIX, path);
}

int tsr__file_tmp_clear(const char *tmp) {
    return unlink(tmp) == 0 || errno == ENOENT ? 0 : errno;
}

/* Makes a rename durable: the directory entry reaches the disk too. */
static void sync_dir_of(const char *path) {
    char dir[TSR_PATH_MAX];
    dir_of(path, dir, sizeof dir);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int tsr_file_publish(tsr_ctx ctx, const char *tmp, const char *path, bool force) {
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        TSR_CHECK(ctx, 0, TSR_ERR_IO, "cannot write '%s': %s", path, strerror(e));
    }
    close(fd);
    int rc;
    if (force) {
        rc = rename(tmp, path);
    } else {
        /* Never replace: the kernel refuses atomically if the name appeared meanwhile. */
        rc = renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE);
        if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {
            rc = link(tmp, path); /* filesystems without RENAME_NOREPLACE */
            if (rc == 0)
                unlink(tmp);
        }
    }
    if (rc != 0) {
        int e = errno;
        unlink(tmp);
        TSR_CHECK(ctx, e != EEXIST, TSR_ERR_IO,
                  "'%s' appeared while it was being written; not replacing it (use --force)", path);
        TSR_CHECK(ctx, 0, TSR_ERR_IO, "cannot write '%s': %s", path, strerror(e));
    }
    sync_dir_of(path);
    return TSR_SUCCESS;
}

int tsr_file_open(tsr_ctx ctx, const char *path, bool force, tsr_file_out *out) {
    memset(out, 0, sizeof *out);
    TSR_CHECK(ctx, path && *path && strlen(path) < TSR_PATH_MAX, TSR_ERR_ARG,
              "an output file needs a path of 1 to %d characters", TSR_PATH_MAX - 1);
    snprintf(out->path, sizeof out->path, "%s", path);
    tsr_file_tmp_name(path, out->tmp, sizeof out->tmp);
    out->force = force;
    int e = tsr__file_tmp_clear(out->tmp);
    TSR_CHECK(ctx, e == 0, TSR_ERR_IO, "cannot write '%s': %s", out->tmp, strerror(e));
    int fd = open(out->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
    TSR_CHECK(ctx, fd >= 0, TSR_ERR_IO, "cannot write '%s': %s", out->tmp, strerror(errno));
    out->fp = fdopen(fd, "wb");
    if (!out->fp) {
        int e = errno;
        close(fd);
        unlink(out->tmp);
        TSR_CHECK(ctx, 0, TSR_ERR_IO, "cannot write '%s': %s", out->tmp, strerror(e));
    }
    return TSR_SUCCESS;
}

int tsr_file_commit(tsr_ctx ctx, tsr_file_out *out) {
    TSR_CHECK(ctx, out->fp, TSR_ERR_ARG, "'%s' is not open", out->path);
    errno = 0;
    bool ok = fflush(out->fp) == 0 && !ferror(out->fp);
    int e = errno;
    if (ok && fsync(fileno(out->fp)) != 0) {
        ok = false;
        e = errno;
    }
    if (fclose(out->fp) != 0 && ok) {
        ok = false;
        e = errno;
    }
    out->fp = NULL;
    if (!ok) {
        unlink(out->tmp);
        TSR_CHECK(ctx, 0, TSR_ERR_IO, "cannot write '%s': %s", out->path,
                  e ? strerror(e) : "write error");
    }
    TSR_CALL(ctx, tsr_file_publish(ctx, out->tmp, out->path, out->force));
    return TSR_SUCCESS;
}

void tsr_file_abandon(tsr_file_out *out) {
    if (out->fp) {
        fclose(out->fp);
        out->fp = NULL;
    }
    if (out->tmp[0])
        unlink(out->tmp);
}

int tsr_lock_acquire(tsr_ctx ctx, const char *what, const char *path, tsr_lock *lock) {
    lock->fd = -1;
    snprintf(lock->path, sizeof lock->path, "%s", path);
    /* The holder removes the file when it releases, so the file we locked may have been
     * unlinked meanwhile: lock again until the locked file is the one under the name. */
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        TSR_CHECK(ctx, fd >= 0, TSR_ERR_INPUT, "%s: cannot create lock file '%s': %s", what, path,
                  strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            char holder[256] = "";
            ssize_t got = pread(fd, holder, sizeof holder - 1, 0);
            close(fd);
            holder[got > 0 ? got : 0] = '\0';
            holder[strcspn(holder, "\n")] = '\0';
            TSR_CHECK(ctx, e != EWOULDBLOCK, TSR_ERR_INPUT,
                      "%s is in use by another run (lock '%s' held by %s)", what, path,
                      holder[0] ? holder : "another process");
            TSR_CHECK(ctx, 0, TSR_ERR_INPUT, "%s: cannot lock '%s': %s", what, path, strerror(e));
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev) {
            char me[320];
            int n = snprintf(me, sizeof me, "%s pid %ld\n", ctx->launch.host, (long)getpid());
            if (ftruncate(fd, 0) == 0 && pwrite(fd, me, (size_t)n, 0) < 0) {
                /* The lock holds without the note; the note only helps the message. */
            }
            lock->fd = fd;
            return TSR_SUCCESS;
        }
        close(fd);
    }
    TSR_CHECK(ctx, 0, TSR_ERR_IO, "%s: cannot lock '%s': it keeps changing", what, path);
}

void tsr_lock_release(tsr_lock *lock) {
    if (lock->fd < 0)
        return;
    unlink(lock->path); /* while still holding it: no one can lock the old file after this */
    close(lock->fd);
    lock->fd = -1;
}

static uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void tsr_run_id_new(char id[17]) {
    uint64_t v = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    bool ok = fd >= 0 && read(fd, &v, sizeof v) == (ssize_t)sizeof v;
    if (fd >= 0)
        close(fd);
    if (!ok) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)getpid());
    }
    snprintf(id, 17, "%016llx", (unsigned long long)v);
}
