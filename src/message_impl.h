/* Error messages that keep their reason: the pure text function behind tsr_error_set (no MPI, no
 * library symbol), which the unit tests include and call directly. */
#ifndef TESSERA_MESSAGE_IMPL_H
#define TESSERA_MESSAGE_IMPL_H

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Shortest run of non-space characters that tsr__msg_shorten still cuts: it keeps its head and
 * tail around "...". */
#define TSR_MSG_MIN_RUN 16

static inline int tsr__msg_is_space(char c) {
    return isspace((unsigned char)c);
}

/* Moves i back (dir < 0) or forward (dir > 0) onto the first byte of a UTF-8 character, by at
 * most 3 bytes (the continuation bytes of one character). */
static inline size_t tsr__msg_char_start(const char *s, size_t i, int dir) {
    for (int k = 0; k < 3 && ((unsigned char)s[i] & 0xC0) == 0x80 && (dir > 0 || i > 0); k++)
        i = dir < 0 ? i - 1 : i + 1;
    return i;
}

/* Shortens the string s in place until it fits in `cap` bytes (strlen(s) < cap): the longest run
 * of non-space characters (a path, a value) loses its middle, replaced by "...", again and again,
 * so the words of the message, which are short, stay whole; ties are shortened in turn. Only when
 * every run is shorter than TSR_MSG_MIN_RUN is the end cut, marked by "...". Cuts fall between
 * UTF-8 characters. Returns strlen(s). Not collective. */
static inline size_t tsr__msg_shorten(char *s, size_t cap) {
    size_t n = strlen(s);
    if (cap == 0)
        return n;
    while (n >= cap) {
        /* The longest run, how many runs share its length, and the next length down. */
        size_t start = 0, longest = 0, ties = 0, second = 0;
        for (size_t i = 0; i < n;) {
            if (tsr__msg_is_space(s[i])) {
                i++;
                continue;
            }
            size_t j = i;
            while (j < n && !tsr__msg_is_space(s[j]))
                j++;
            size_t len = j - i;
            if (len > longest) {
                second = longest;
                longest = len;
                start = i;
                ties = 1;
            } else if (len == longest) {
                ties++;
            } else if (len > second) {
                second = len;
            }
            i = j;
        }
        if (longest < TSR_MSG_MIN_RUN)
            break;
        size_t excess = n - (cap - 1);
        /* Ties share the cut; a single longest run is cut down no further than the next one. */
        size_t cut = ties > 1 ? (excess + ties - 1) / ties : excess;
        size_t target = longest > cut ? longest - cut : 0;
        if (ties == 1 && target < second)
            target = second;
        if (target < TSR_MSG_MIN_RUN)
            target = TSR_MSG_MIN_RUN;
        if (target >= longest)
            target = longest - 1;
        /* Keep the head and the (larger) tail of the run: a path's file name is at its end. */
        size_t keep = target - 3, head = keep / 2;
        size_t head_end = tsr__msg_char_start(s, start + head, -1);
        size_t tail_start = tsr__msg_char_start(s, start + longest - (keep - head), +1);
        memcpy(s + head_end, "...", 3);
        memmove(s + head_end + 3, s + tail_start, n - tail_start + 1);
        n = strlen(s);
    }
    if (n >= cap) {
        size_t end = cap > 4 ? tsr__msg_char_start(s, cap - 4, -1) : 0;
        snprintf(s + end, cap - end, "%s", cap > 4 ? "..." : "");
        n = strlen(s);
    }
    return n;
}

#endif
