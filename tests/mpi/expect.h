/* The check macro shared by the multi-rank tests in this directory. The including file defines
 * `static int passed, failed;` and ends with the plain closing line "N passed, N failed". A check
 * must be on a value every rank agrees on, so all ranks count alike; only rank 0 prints a failure,
 * with the context's last error message (empty when the check failed without an error). */
#ifndef TESSERA_TESTS_MPI_EXPECT_H
#define TESSERA_TESTS_MPI_EXPECT_H

#include <stdio.h>

#include <tessera.h>

#define EXPECT(ctx, cond, ...)                                                                     \
    do {                                                                                           \
        if (cond) {                                                                                \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            if (tsr_ctx_rank(ctx) == 0) {                                                          \
                fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                               \
                fprintf(stderr, __VA_ARGS__);                                                      \
                fprintf(stderr, " (%s)\n", tsr_ctx_error_message(ctx));                            \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#endif
