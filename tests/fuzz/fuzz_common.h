/* What every tessera fuzz harness shares: MPI started once as a singleton (one rank), a context
 * on MPI_COMM_WORLD, rank 0's printing sent to /dev/null so --help does not slow the run. */
#ifndef TESSERA_FUZZ_COMMON_H
#define TESSERA_FUZZ_COMMON_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <mpi.h>

#include "tessera/context.h"

/* Stops the run where a harness's own check fails: libFuzzer records the input as a crash. */
#define FUZZ_REQUIRE(cond)                                                                         \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);         \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

static tsr_ctx fuzz_ctx;

/* Called from LLVMFuzzerInitialize: MPI, the context, stdout to /dev/null. */
static void fuzz_start(int *argc, char ***argv, const char *name) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized && MPI_Init(argc, argv) != MPI_SUCCESS) {
        fprintf(stderr, "%s: MPI_Init failed\n", name);
        exit(1);
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (tsr_ctx_create(MPI_COMM_WORLD, name, &fuzz_ctx) != TSR_SUCCESS) {
        fprintf(stderr, "%s: cannot create a context\n", name);
        exit(1);
    }
    fflush(stdout);
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
        dup2(null, STDOUT_FILENO);
        close(null);
    }
}

#endif
