/* Reductions a kernel contributes to as it computes (the norm of an update, the largest error),
 * with no field to hold the values: exact, so the result has the same bits for any ranks,
 * threads, tiles, blocks and map. */
#ifndef TESSERA_ACCUM_H
#define TESSERA_ACCUM_H

#include <stdint.h>

#include "reduce.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tsr_accum_s *tsr_accum;

/* Makes an empty accumulator of one operation: TSR_REDUCE_SUM (the exact sum, rounded once),
 * TSR_REDUCE_MIN, TSR_REDUCE_MAX (the extremes in the total order -0 < +0; a NaN wins), or
 * TSR_REDUCE_NORM2 (the square root of the exact sum of the squares v*v, each square rounded as
 * tsr_field_reduce rounds it, so a kernel's norm equals the norm of the same values in a field).
 * It holds one exact accumulator per OpenMP thread, padded against false sharing. The caller
 * owns it and frees it with tsr_accum_destroy. Not collective. */
int tsr_accum_create(tsr_ctx ctx, tsr_reduce_op op, tsr_accum *acc);
/* Frees the accumulator and sets *acc to NULL (NULL is ignored). Not collective. */
int tsr_accum_destroy(tsr_accum *acc);

/* Empties the accumulator (of this rank). Call it outside any sweep. Not collective. */
int tsr_accum_reset(tsr_accum acc);

/* Adds a value, or n values, to this rank's contribution. Thread-safe: kernels running on
 * several OpenMP threads of a sweep add to their own thread's accumulator, with no lock and no
 * atomic (a few nanoseconds per value); calls from a nested parallel region take a lock.
 * tsr_accum_add_n is cheaper per value for a row the kernel has computed. Not collective. */
int tsr_accum_add(tsr_accum acc, double value);
int tsr_accum_add_n(tsr_accum acc, const double *values, int64_t n);

/* Combines every thread's and every rank's contributions and gives the result to every rank:
 * the same bits whatever the order and the place of the additions. The contributions stay (add
 * more, or reset). The empty sum is 0, the empty min +inf and max -inf. Call it outside any
 * sweep. Collective. */
int tsr_accum_result(tsr_accum acc, double *result);

#ifdef __cplusplus
}
#endif
#endif
