/* Reductions and checksums whose results do not depend on ranks, threads, maps or blocks. */
#ifndef TESSERA_REDUCE_H
#define TESSERA_REDUCE_H

#include <stdint.h>

#include "field.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tsr_reduce_op {
    TSR_REDUCE_SUM,
    TSR_REDUCE_MIN,
    TSR_REDUCE_MAX,
    TSR_REDUCE_NORM2 /* sqrt of the sum of squares */
} tsr_reduce_op;

/* Reduces the owned cells of a field, every component of each (a vector field's sum is the sum
 * of all its components; its NORM2 the Euclidean norm of every value); every rank receives the
 * result. Sums are accumulated
 * exactly (a fixed-point accumulator wide enough for any double) and rounded once, so the
 * result is the same bits for any number of ranks, threads, blocks and any map. NaNs propagate.
 * Collective. */
int tsr_field_reduce(tsr_field f, tsr_reduce_op op, double *result);

/* How a cell value enters the checksum: its IEEE-754 bit pattern, or its value as an integer. */
typedef enum tsr_bits { TSR_BITS_DOUBLE, TSR_BITS_INTEGER } tsr_bits;

/* The checksum convention: sum over elements of splitmix64(splitmix64(e) ^ bits(v_e)) mod 2^64.
 * A field of ncomp components has ncomp elements per cell: e = i * ncomp + c for component c of
 * the cell of natural (x fastest) global index i: components fastest, the order of the field's
 * HDF5 dataset, and a scalar field's e is its cell index. Every rank receives it. Collective. */
int tsr_field_checksum(tsr_field f, tsr_bits bits, uint64_t *checksum);

/* Reduces n doubles given by each rank (any n, 0 included) over all ranks, with the same
 * exactness as tsr_field_reduce: the result does not depend on how the values are spread over
 * ranks or threads, nor on their order. Every rank receives it. Collective. */
int tsr_reduce_doubles(tsr_ctx ctx, const double *values, int64_t n, tsr_reduce_op op,
                       double *result);

/* The checksum convention over a distributed sequence: this rank holds elements first ..
 * first+n-1 (bit patterns of doubles); the sum over every rank's elements is returned on every
 * rank. Collective. */
int tsr_checksum_doubles(tsr_ctx ctx, const double *values, int64_t n, int64_t first,
                         uint64_t *checksum);

/* The splitmix64 finaliser used by the checksum convention. */
static inline uint64_t tsr_splitmix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* One cell's term of the checksum. */
static inline uint64_t tsr_checksum_term(uint64_t index, uint64_t bits) {
    return tsr_splitmix64(tsr_splitmix64(index) ^ bits);
}

#ifdef __cplusplus
}
#endif
#endif
