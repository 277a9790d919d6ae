/* Runtime CPU dispatch and streaming stores.
 *
 * The default build targets the x86-64 baseline (SSE2), which every machine runs. A hot loop can
 * still use AVX2 or AVX-512 where the CPU has them: TSR_CPU_DISPATCH compiles one always-inline
 * body once per ISA level (__attribute__((target))) and calls the one the process selected.
 * Selection is the best level the CPU (and the OS) supports, or the one the environment variable
 * TSR_CPU names: baseline, avx2 or avx512. A forced level the CPU lacks, or an unknown value, is
 * refused by tsr_cpu_select.
 *
 * Every level runs the same C operations in the same order: vector lanes compute exactly what the
 * scalar loop computes, so the bits do not depend on the level, provided floating-point
 * contraction is off (compile with -ffp-contract=off, as tessera and its apps do; the AVX-512
 * level has FMA instructions that contraction would otherwise use, the others do not).
 *
 * Usage (see apps/heat/heat.c):
 *
 *     TSR_CPU_INLINE static int step_body(const tsr_block *f, int nf, const tsr_box *b, void *u)
 *     { ... plain C loops ... }
 *     TSR_CPU_DISPATCH(static, int, step_kernel, step_body,
 *                      (const tsr_block *f, int nf, const tsr_box *b, void *u), (f, nf, b, u))
 *
 * defines step_kernel, a function with the body's signature that runs the body compiled for the
 * selected level (the first argument, `static` or empty, is its linkage; the body returns a
 * value). The dispatch costs one load and one branch per call (call it per tile or per
 * row, not per cell). Functions the body calls are compiled for the level only if they are
 * inlined into it: mark them TSR_CPU_INLINE too. */
#ifndef TESSERA_CPU_H
#define TESSERA_CPU_H

#include <stdint.h>

#include "context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ISA levels, each a superset of the one before. */
typedef enum tsr_cpu_level {
    TSR_CPU_BASELINE, /* x86-64 baseline (SSE2), or any other architecture */
    TSR_CPU_AVX2,     /* AVX2 (256-bit vectors) */
    TSR_CPU_AVX512,   /* AVX-512 F, VL, BW, DQ (512-bit vectors) */
    TSR_CPU_NLEVELS
} tsr_cpu_level;

/* The names TSR_CPU accepts, indexed by level, NULL-terminated. */
extern const char *const tsr_cpu_level_names[];

/* Reads TSR_CPU and selects the level every TSR_CPU_DISPATCH function of this process runs: the
 * named one, or (unset or empty) the best one this rank's CPU supports. Each rank checks its own
 * CPU; a value that is unknown or names a level some rank's CPU lacks fails on every rank with
 * TSR_ERR_INPUT and one message. Call it once after the context exists and before any sweep.
 * Collective. */
int tsr_cpu_select(tsr_ctx ctx);

/* The selected level. Before tsr_cpu_select (or in a program that never calls it) it is chosen
 * on first use: TSR_CPU if it names a level the CPU has, else the best one. Thread-safe, not
 * collective. */
tsr_cpu_level tsr_cpu_path(void);

/* Whether this CPU (and the OS, for the wider registers) supports `level`. Not collective. */
int tsr_cpu_has(tsr_cpu_level level, bool *has);

/* Stores n doubles from src (a small buffer, e.g. one row of a tile in L1) to dst with
 * non-temporal stores at the selected level's vector width (16, 32 or 64 bytes; plain stores
 * before dst reaches that alignment and for the tail). The lines written bypass the cache: no
 * read-for-ownership of the data about to be overwritten, so a memory-bound sweep moves 16 bytes
 * per update instead of 24. Worth it only when the output does not fit in cache and is not read
 * again soon. The values stored are src's bits. Call tsr_stream_fence before other threads or
 * ranks read dst. Not collective; safe from concurrent threads on disjoint ranges. */
int tsr_stream_store(double *dst, const double *src, int64_t n);

/* How many doubles to compute into the buffer for the next tsr_stream_store to dst: at most
 * `max` (and at most n), ending where dst + result is aligned to 64 bytes unless it covers all
 * n, so that consecutive chunks of a row never share a cache line between a plain store and a
 * streaming one. `max` must be at least 8. Not collective. */
int64_t tsr_stream_chunk(const double *dst, int64_t n, int64_t max);

/* Orders this thread's streaming stores before its later stores (sfence); a kernel calls it once
 * after its last tsr_stream_store, before returning to the sweep. Not collective. */
int tsr_stream_fence(void);

/* Private: the dispatch reads the level through this call so that the first use selects. */
static inline tsr_cpu_level tsr__cpu_level(void) {
    return tsr_cpu_path();
}

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define TSR_CPU_INLINE inline __attribute__((always_inline))
#define TSR_CPU_TARGET_AVX2 __attribute__((target("avx2")))
#if defined(__clang__) /* clang's target attribute takes no tuning */
#define TSR_CPU_TARGET_AVX512 __attribute__((target("avx2,avx512f,avx512vl,avx512bw,avx512dq")))
#else
#define TSR_CPU_TARGET_AVX512                                                                      \
    __attribute__((target("avx2,avx512f,avx512vl,avx512bw,avx512dq,prefer-vector-width=512")))
#endif
/* Defines `qual ret name params` running `body args` compiled for the selected level; body is a
 * TSR_CPU_INLINE function with the same parameters returning ret. */
#define TSR_CPU_DISPATCH(qual, ret, name, body, params, args)                                      \
    TSR_CPU_TARGET_AVX512 static ret name##_tsr_avx512 params {                                    \
        return body args;                                                                          \
    }                                                                                              \
    TSR_CPU_TARGET_AVX2 static ret name##_tsr_avx2 params {                                        \
        return body args;                                                                          \
    }                                                                                              \
    static ret name##_tsr_baseline params {                                                        \
        return body args;                                                                          \
    }                                                                                              \
    qual ret name params {                                                                         \
        switch (tsr__cpu_level()) {                                                                \
        case TSR_CPU_AVX512:                                                                       \
            return name##_tsr_avx512 args;                                                         \
        case TSR_CPU_AVX2:                                                                         \
            return name##_tsr_avx2 args;                                                           \
        default:                                                                                   \
            return name##_tsr_baseline args;                                                       \
        }                                                                                          \
    }
#else
/* Other compilers and architectures: one version, the build's own target. */
#define TSR_CPU_INLINE inline
#define TSR_CPU_DISPATCH(qual, ret, name, body, params, args)                                      \
    qual ret name params {                                                                         \
        return body args;                                                                          \
    }
#endif

#ifdef __cplusplus
}
#endif

#endif
