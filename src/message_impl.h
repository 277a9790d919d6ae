/* Error messages that keep their reason: the pure text function behind tsr_error_set (no MPI),
 * which the unit tests call directly. */
#ifndef TESSERA_MESSAGE_IMPL_H
#define TESSERA_MESSAGE_IMPL_H

#include <stddef.h>

/* Shortest run of non-space characters that tsr__msg_shorten still cuts: it keeps its head and
 * tail around "...". */
#define TSR_MSG_MIN_RUN 16

/* Shortens the string s in place until it fits in `cap` bytes (strlen(s) < cap): the longest run
 * of non-space characters (a path, a value) loses its middle, replaced by "...", again and again,
 * so the words of the message, which are short, stay whole; ties are shortened in turn. Only when
 * every run is shorter than TSR_MSG_MIN_RUN is the end cut, marked by "...". Cuts fall between
 * UTF-8 characters. Returns strlen(s). Not collective. */
size_t tsr__msg_shorten(char *s, size_t cap);

#endif
