/* LD_PRELOAD fault injector for the faults suite: write-like calls and fsync on files under a
 * directory fail with an errno once a byte budget is spent, so disk faults can be tested
 * without root.
 *
 *   TSR_FAULT_DIR    absolute directory; only files whose path starts with it are affected
 *   TSR_FAULT_AFTER  bytes a process may write there before calls fail [default 0]
 *   TSR_FAULT_ERRNO  EIO or ENOSPC [default EIO]
 *   TSR_FAULT_RANK   only in the process whose OMPI_COMM_WORLD_RANK is this [default: all]
 *   TSR_FAULT_MATCH  only files whose path contains this string (".xmf") [default: all]
 *
 * write, pwrite, pwrite64, writev, pwritev, pwritev64, pwritev2 fail once the bytes written
 * under the directory would exceed TSR_FAULT_AFTER; fsync and fdatasync fail once they have
 * reached it (with the default 0: always). Bytes are counted per process. Writes that glibc
 * makes internally (stdio) are not seen, but the fsync that follows them is. */
/* Both pwrite and pwrite64 are defined here: no redirection of one name to the other. */
#undef _FILE_OFFSET_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static atomic_llong spent;

static int fault_errno(void) {
    const char *e = getenv("TSR_FAULT_ERRNO");
    return e && strcmp(e, "ENOSPC") == 0 ? ENOSPC : EIO;
}

static long long budget(void) {
    const char *a = getenv("TSR_FAULT_AFTER");
    return a ? atoll(a) : 0;
}

/* Whether fd is a file under TSR_FAULT_DIR. */
static int watched(int fd) {
    const char *dir = getenv("TSR_FAULT_DIR");
    if (!dir || !*dir || fd < 0)
        return 0;
    const char *only = getenv("TSR_FAULT_RANK");
    const char *rank = getenv("OMPI_COMM_WORLD_RANK");
    if (only && *only && (!rank || strcmp(only, rank) != 0))
        return 0;
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return 0;
    path[n] = '\0';
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    const char *match = getenv("TSR_FAULT_MATCH");
    if (match && *match && !strstr(path, match))
        return 0;
    return strncmp(path, dir, len) == 0 && (path[len] == '/' || path[len] == '\0');
}

/* 1 when a write of count bytes to fd must fail (errno set), else counts it and returns 0. */
static int refuse(int fd, size_t count) {
    if (!watched(fd))
        return 0;
    long long before = atomic_fetch_add(&spent, (long long)count);
    if (before + (long long)count > budget()) {
        atomic_fetch_sub(&spent, (long long)count);
        errno = fault_errno();
        return 1;
    }
    return 0;
}

static size_t iov_bytes(const struct iovec *iov, int n) {
    size_t s = 0;
    for (int i = 0; i < n; i++)
        s += iov[i].iov_len;
    return s;
}

#define REAL(name, type) ((type)dlsym(RTLD_NEXT, name))

ssize_t write(int fd, const void *buf, size_t count) {
    if (refuse(fd, count))
        return -1;
    return REAL("write", ssize_t(*)(int, const void *, size_t))(fd, buf, count);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t off) {
    if (refuse(fd, count))
        return -1;
    return REAL("pwrite", ssize_t(*)(int, const void *, size_t, off_t))(fd, buf, count, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t off) {
    if (refuse(fd, count))
        return -1;
    return REAL("pwrite64", ssize_t(*)(int, const void *, size_t, off_t))(fd, buf, count, off);
}

ssize_t writev(int fd, const struct iovec *iov, int n) {
    if (refuse(fd, iov_bytes(iov, n)))
        return -1;
    return REAL("writev", ssize_t(*)(int, const struct iovec *, int))(fd, iov, n);
}

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off) {
    if (refuse(fd, iov_bytes(iov, n)))
        return -1;
    return REAL("pwritev", ssize_t(*)(int, const struct iovec *, int, off_t))(fd, iov, n, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int n, off_t off) {
    if (refuse(fd, iov_bytes(iov, n)))
        return -1;
    return REAL("pwritev64", ssize_t(*)(int, const struct iovec *, int, off_t))(fd, iov, n, off);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int n, off_t off, int flags) {
    if (refuse(fd, iov_bytes(iov, n)))
        return -1;
    return REAL("pwritev2", ssize_t(*)(int, const struct iovec *, int, off_t, int))(fd, iov, n, off,
                                                                                    flags);
}

static int sync_refused(int fd) {
    if (watched(fd) && atomic_load(&spent) >= budget()) {
        errno = fault_errno();
        return 1;
    }
    return 0;
}

int fsync(int fd) {
    if (sync_refused(fd))
        return -1;
    return REAL("fsync", int (*)(int))(fd);
}

int fdatasync(int fd) {
    if (sync_refused(fd))
        return -1;
    return REAL("fdatasync", int (*)(int))(fd);
}
