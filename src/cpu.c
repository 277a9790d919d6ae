/* Runtime CPU dispatch: which ISA level the TSR_CPU_DISPATCH functions run, and streaming stores
 * at that level's width. */
#include "tessera/cpu.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/error.h"

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define TSR_CPU_X86 1
#include <immintrin.h>
#else
#define TSR_CPU_X86 0
#endif

const char *const tsr_cpu_level_names[] = {"baseline", "avx2", "avx512", NULL};

/* -1 until selected; then a tsr_cpu_level. Selecting twice gives the same answer unless
 * tsr_cpu_select overrides it, so a relaxed race between first uses is harmless. */
static _Atomic int selected = -1;

static bool cpu_has(tsr_cpu_level level) {
#if TSR_CPU_X86
    __builtin_cpu_init();
    switch (level) {
    case TSR_CPU_BASELINE:
        return true;
    case TSR_CPU_AVX2:
        return __builtin_cpu_supports("avx2");
    case TSR_CPU_AVX512:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq");
    default:
        return false;
    }
#else
    return level == TSR_CPU_BASELINE;
#endif
}

static tsr_cpu_level best_level(void) {
    for (int l = TSR_CPU_NLEVELS - 1; l > 0; l--)
        if (cpu_has((tsr_cpu_level)l))
            return (tsr_cpu_level)l;
    return TSR_CPU_BASELINE;
}

/* The level TSR_CPU names, or -1 if it names none. */
static int env_level(const char *text) {
    for (int l = 0; tsr_cpu_level_names[l]; l++)
        if (!strcmp(text, tsr_cpu_level_names[l]))
            return l;
    return -1;
}

int tsr_cpu_has(tsr_cpu_level level, bool *has) {
    *has = level >= 0 && level < TSR_CPU_NLEVELS && cpu_has(level);
    return TSR_SUCCESS;
}

tsr_cpu_level tsr_cpu_path(void) {
    int l = atomic_load_explicit(&selected, memory_order_relaxed);
    if (l >= 0)
        return (tsr_cpu_level)l;
    const char *text = getenv("TSR_CPU");
    l = text && *text ? env_level(text) : -1;
    if (l < 0 || !cpu_has((tsr_cpu_level)l))
        l = best_level();
    atomic_store_explicit(&selected, l, memory_order_relaxed);
    return (tsr_cpu_level)l;
}

/* This rank's verdict on TSR_CPU. */
static int check_env(tsr_ctx ctx, int *level) {
    const char *text = getenv("TSR_CPU");
    if (!text || !*text) {
        *level = best_level();
        return TSR_SUCCESS;
    }
    *level = env_level(text);
    TSR_CHECK(ctx, *level >= 0, TSR_ERR_INPUT,
              "TSR_CPU '%s': unknown CPU path, expected baseline, avx2 or avx512", text);
    TSR_CHECK(ctx, cpu_has((tsr_cpu_level)*level), TSR_ERR_INPUT,
              "TSR_CPU '%s': this CPU (rank %d) lacks it; best available: %s", text,
              tsr_ctx_rank(ctx), tsr_cpu_level_names[best_level()]);
    return TSR_SUCCESS;
}

int tsr_cpu_select(tsr_ctx ctx) {
    int level = TSR_CPU_BASELINE;
    int err = tsr_ctx_agree(ctx, check_env(ctx, &level));
    if (err)
        return err;
    atomic_store_explicit(&selected, level, memory_order_relaxed);
    return TSR_SUCCESS;
}

int64_t tsr_stream_chunk(const double *dst, int64_t n, int64_t max) {
    if (n <= max)
        return n;
    /* End on a line boundary: drop the doubles past the last 64-byte address within max. */
    int64_t over = (int64_t)(((uintptr_t)(dst + max) & 63) / sizeof(double));
    return max - over > 0 ? max - over : max;
}

/* The plain copy of the head (until dst is `align`-aligned) and the tail: the same bits. */
#define STREAM_BODY(align, width, store, loadu)                                                    \
    do {                                                                                           \
        int64_t i = 0;                                                                             \
        for (; i < n && ((uintptr_t)(dst + i) & ((align)-1)); i++)                                 \
            dst[i] = src[i];                                                                       \
        for (; i + (width) <= n; i += (width))                                                     \
            store(dst + i, loadu(src + i));                                                        \
        for (; i < n; i++)                                                                         \
            dst[i] = src[i];                                                                       \
    } while (0)

#if TSR_CPU_X86
TSR_CPU_TARGET_AVX512 static void stream_avx512(double *restrict dst, const double *restrict src,
                                                int64_t n) {
    STREAM_BODY(64, 8, _mm512_stream_pd, _mm512_loadu_pd);
}

TSR_CPU_TARGET_AVX2 static void stream_avx2(double *restrict dst, const double *restrict src,
                                            int64_t n) {
    STREAM_BODY(32, 4, _mm256_stream_pd, _mm256_loadu_pd);
}

static void stream_sse2(double *restrict dst, const double *restrict src, int64_t n) {
    STREAM_BODY(16, 2, _mm_stream_pd, _mm_loadu_pd);
}
#endif

int tsr_stream_store(double *restrict dst, const double *restrict src, int64_t n) {
#if TSR_CPU_X86
    switch (tsr_cpu_path()) {
    case TSR_CPU_AVX512:
        stream_avx512(dst, src, n);
        break;
    case TSR_CPU_AVX2:
        stream_avx2(dst, src, n);
        break;
    default:
        stream_sse2(dst, src, n);
    }
#else
    if (n > 0)
        memcpy(dst, src, (size_t)n * sizeof *dst);
#endif
    return TSR_SUCCESS;
}

int tsr_stream_fence(void) {
#if TSR_CPU_X86
    _mm_sfence();
#endif
    return TSR_SUCCESS;
}
