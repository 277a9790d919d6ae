/* Pieces both serial references share. Deliberately no tessera code: the references define
 * the expected results independently of the library. Each program defines usage() and
 * fail() before including this file. */
#ifndef TESSERA_REF_COMMON_H
#define TESSERA_REF_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static _Noreturn void fail(const char *msg, const char *arg);

static uint64_t splitmix64(uint64_t z) {
    z += UINT64_C(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Parse a strictly positive decimal int64. */
static bool parse_pos_i64(const char *s, const char **end, int64_t *out) {
    if (*s < '0' || *s > '9') {
        return false;
    }
    errno = 0;
    char *e = NULL;
    long long v = strtoll(s, &e, 10);
    if (errno != 0 || e == s || v <= 0) {
        return false;
    }
    *end = e;
    *out = (int64_t)v;
    return true;
}

/* Parse "NX[xNY[xNZ]]"; returns number of dims (1..3) or 0 on error. */
static int parse_grid(const char *s, int64_t n[3]) {
    int nd = 0;
    const char *p = s;
    for (;;) {
        if (nd == 3) {
            return 0;
        }
        const char *e = NULL;
        if (!parse_pos_i64(p, &e, &n[nd])) {
            return 0;
        }
        nd++;
        if (*e == '\0') {
            break;
        }
        if (*e != 'x' && *e != 'X') {
            return 0;
        }
        p = e + 1;
    }
    return nd;
}

/* Option value: supports "--opt value" and "--opt=value". */
static const char *opt_value(int argc, char **argv, int *i, const char *name) {
    const char *a = argv[*i];
    size_t len = strlen(name);
    if (strncmp(a, name, len) != 0) {
        return NULL;
    }
    if (a[len] == '=') {
        return a + len + 1;
    }
    if (a[len] != '\0') {
        return NULL;
    }
    if (*i + 1 >= argc) {
        fail("missing value for option", name);
    }
    (*i)++;
    return argv[*i];
}

#endif
