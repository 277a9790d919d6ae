/* Whether this translation unit is built with AddressSanitizer (GCC defines
 * __SANITIZE_ADDRESS__, clang answers __has_feature), and poisoning that compiles away
 * without it. One home so that library and tests agree on the answer. */
#ifndef TESSERA_SANITIZER_IMPL_H
#define TESSERA_SANITIZER_IMPL_H

#if defined(__SANITIZE_ADDRESS__)
#define TSR_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TSR_ASAN 1
#endif
#endif

#ifdef TSR_ASAN
#include <sanitizer/asan_interface.h>
#define TSR_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define TSR_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define TSR_POISON(p, n) ((void)(p), (void)(n))
#define TSR_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#endif
