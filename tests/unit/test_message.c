/* Unit tests of message shortening: a message too long for the error buffer keeps its words (the
 * reason) and loses the middle of its longest paths and values. No MPI is initialised. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "message_impl.h"
#include "ck_main.h"

static char *repeat(char c, size_t n) {
    char *s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static int ends_with(const char *s, const char *tail) {
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

START_TEST(test_fits_unchanged) {
    char s[64] = "--output: empty value";
    ck_assert_uint_eq(tsr__msg_shorten(s, 64), strlen("--output: empty value"));
    ck_assert_str_eq(s, "--output: empty value");
    char exact[8] = "1234567";
    tsr__msg_shorten(exact, 8);
    ck_assert_str_eq(exact, "1234567");
}
END_TEST

START_TEST(test_long_path_keeps_reason) {
    char *path = repeat('a', 3000);
    path[0] = '/';
    memcpy(path + 2992, "/file.h5", 8);
    char *s = malloc(4096);
    snprintf(s, 4096, "--output: cannot create directory '%s': File name too long", path);
    size_t n = tsr__msg_shorten(s, 1024);
    ck_assert_uint_eq(n, strlen(s));
    ck_assert_uint_eq(n, 1023);
    ck_assert(strncmp(s, "--output: cannot create directory '/aaa", 39) == 0);
    ck_assert(ends_with(s, "/file.h5': File name too long"));
    ck_assert_ptr_nonnull(strstr(s, "..."));
    free(s);
    free(path);
}
END_TEST

START_TEST(test_two_paths_share_the_cut) {
    char *a = repeat('x', 2000), *b = repeat('y', 2000);
    char *s = malloc(8192);
    snprintf(s, 8192, "cannot rename %s to %s: Permission denied", a, b);
    tsr__msg_shorten(s, 512);
    ck_assert_uint_lt(strlen(s), 512);
    ck_assert(strncmp(s, "cannot rename xxx", 17) == 0);
    ck_assert(ends_with(s, "yyy: Permission denied"));
    ck_assert_ptr_nonnull(strstr(s, "xxx to yyy"));
    /* Both lose about the same: neither is cut down to a stub while the other stays long. */
    const char *to = strstr(s, " to ");
    size_t first = (size_t)(to - (s + strlen("cannot rename ")));
    ck_assert_uint_gt(first, 150);
    free(s);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_words_only_cut_at_end) {
    /* No run long enough to shorten: the end goes, marked. */
    char s[256];
    snprintf(s, sizeof s, "%s", "one two three four five six seven eight nine ten eleven twelve");
    tsr__msg_shorten(s, 20);
    ck_assert_uint_eq(strlen(s), 19);
    ck_assert(ends_with(s, "..."));
    ck_assert(strncmp(s, "one two three fo", 16) == 0);
}
END_TEST

START_TEST(test_utf8_not_split) {
    /* A path of two-byte characters: no cut may leave half of one. */
    char s[4096] = "cannot open '";
    for (int i = 0; i < 1000; i++)
        strcat(s, "\xc3\xa9");
    strcat(s, "': No such file or directory");
    tsr__msg_shorten(s, 300);
    ck_assert_uint_lt(strlen(s), 300);
    ck_assert(ends_with(s, "': No such file or directory"));
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; u[i]; i++) {
        if (u[i] == 0xc3)
            ck_assert_uint_eq(u[i + 1], 0xa9);
        if (u[i] == 0xa9)
            ck_assert(i > 0 && u[i - 1] == 0xc3);
    }
}
END_TEST

START_TEST(test_every_capacity) {
    /* Whatever the capacity, the result fits and is a proper string. */
    char *path = repeat('p', 700);
    char src[1024];
    snprintf(src, sizeof src, "%s: %s is bad", "--input", path);
    for (size_t cap = 1; cap < 760; cap++) {
        char s[1024];
        memcpy(s, src, sizeof src);
        size_t n = tsr__msg_shorten(s, cap);
        ck_assert_uint_eq(n, strlen(s));
        ck_assert_uint_lt(n, cap);
        if (cap >= 40)
            ck_assert(ends_with(s, " is bad"));
    }
    free(path);
}
END_TEST

TSR_CK_MAIN("message", "shorten", test_fits_unchanged, test_long_path_keeps_reason,
            test_two_paths_share_the_cut, test_words_only_cut_at_end, test_utf8_not_split,
            test_every_capacity)
